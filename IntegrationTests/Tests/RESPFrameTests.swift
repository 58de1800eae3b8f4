import XCTest

/// The harness's reply framing (`RESPFrame.end`, Support/RawClient.swift), which every integration test reads
/// replies through: complete values end where they should, incomplete ones ask for more bytes, and a reply
/// nested 100,000 deep (a hostile script's) is framed without recursion (it overflowed the stack of an
/// AddressSanitizer build when framing recursed).
final class RESPFrameTests: XCTestCase {
    private func end(_ s: String) throws -> Int? { try RESPFrame.end(of: Array(s.utf8), from: 0) }

    func testValuesEndWhereTheyShould() throws {
        XCTAssertEqual(try end("+OK\r\n"), 5)
        XCTAssertEqual(try end("$3\r\nabc\r\n+next\r\n"), 9)
        XCTAssertEqual(try end("$-1\r\n"), 5)
        XCTAssertEqual(try end("*-1\r\n"), 5)
        XCTAssertEqual(try end("*0\r\n:1\r\n"), 4)
        XCTAssertEqual(try end("*2\r\n:1\r\n*1\r\n$1\r\nx\r\n"), 19)
        XCTAssertEqual(try end("%1\r\n+k\r\n+v\r\n"), 12)
        // An attribute and the value it annotates are one reply.
        XCTAssertEqual(try end("|1\r\n+a\r\n+b\r\n:7\r\n"), 16)
        XCTAssertEqual(try end(">2\r\n+message\r\n$0\r\n\r\n"), 20)
    }

    func testIncompleteValuesNeedMoreBytes() throws {
        for partial in ["", "+OK", "+OK\r", "$3\r\nab", "$3\r\nabc\r", "*2\r\n:1\r\n", "%1\r\n+k\r\n", "|1\r\n+a\r\n+b\r\n"] {
            XCTAssertNil(try end(partial), partial.debugDescription)
        }
    }

    func testMalformedBytesThrow() {
        XCTAssertThrowsError(try end("?\r\n"))
        XCTAssertThrowsError(try end("$3\r\nabcd\r\n"))
        XCTAssertThrowsError(try end("*x\r\n"))
    }

    func testDeepNestingIsFramedIteratively() throws {
        let depth = 100_000
        var bytes = [UInt8]()
        for _ in 0..<depth { bytes += Array("*1\r\n".utf8) }
        bytes += Array(":1\r\n".utf8)
        XCTAssertEqual(try RESPFrame.end(of: bytes, from: 0), bytes.count)
        XCTAssertNil(try RESPFrame.end(of: Array(bytes.dropLast()), from: 0))
    }
}
