import Glibc
import XCTest

/// LOLWUT's drawings that use `rand()` (VERSION 5 with more than two rows of squares, VERSION 6) cannot be
/// compared pixel for pixel with redis-server 7.0; their shape can: the same number of lines, the same number
/// of characters (Braille cells, or colored cells) on each line, only Braille characters or the four gray
/// escapes, the same footer. The deterministic forms are in the differential generator ("operations2").
final class LolwutTests: XCTestCase {
    private var oracle: RawRedisServer?
    private var server: ServerUnderTest?

    override func setUpWithError() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed") }
        oracle = try RawRedisServer()
        server = try ServerUnderTest.start()
    }

    override func tearDown() {
        server?.stop()
        oracle?.stop()
    }

    /// The reply's text, its lines, with the version in the footer blanked.
    private func lines(_ port: Int, _ args: [String], resp3: Bool, timeoutMillis: Int32 = 5000) throws -> [String] {
        let c = try RawClient(port: port, timeoutMillis: timeoutMillis)
        if resp3 { _ = try c.call("HELLO", "3") }
        let reply = try RawReply.parse(c.call((["LOLWUT"] + args).map { Array($0.utf8) }))
        guard case .blob(let type, var payload?) = reply else { XCTFail("not a string: \(reply)"); return [] }
        XCTAssertEqual(type, resp3 ? UInt8(ascii: "=") : UInt8(ascii: "$"))
        if resp3 {
            XCTAssertEqual(Array(payload.prefix(4)), Array("txt:".utf8))
            payload.removeFirst(4)
        }
        return String(decoding: payload, as: UTF8.self)
            .replacingOccurrences(of: "Redis ver. 7.0.15", with: "Redis ver. V")
            .replacingOccurrences(of: "Redis ver. 7.2.4", with: "Redis ver. V")
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    private func cells(_ line: String, version6: Bool) -> Int? {
        if !version6 {
            guard line.unicodeScalars.allSatisfy({ (0x2800...0x28FF).contains($0.value) }) else { return nil }
            return line.unicodeScalars.count
        }
        let grays = ["0;30;40m", "0;90;100m", "0;37;47m", "0;97;107m"]
        var rest = Substring(line), n = 0
        while !rest.isEmpty {
            guard rest.hasPrefix("\u{1B}["), let gray = grays.first(where: { rest.dropFirst(2).hasPrefix($0) }) else { return nil }
            rest = rest.dropFirst(2 + gray.count)
            guard rest.hasPrefix(" \u{1B}[0m") else { return nil }
            rest = rest.dropFirst(5)
            n += 1
        }
        return n
    }

    func testRandomDrawingsHaveRedisShape() throws {
        let cases: [[String]] = [["VERSION", "5"], ["VERSION", "5", "20", "4", "6"], ["VERSION", "5", "1", "1", "3"],
                                 ["VERSION", "5", "1000", "200", "3"], ["VERSION", "5", "7", "3", "200"],
                                 ["VERSION", "6"], ["VERSION", "6", "1", "1"], ["VERSION", "6", "33", "7"],
                                 ["VERSION", "6", "1000", "3"], ["VERSION", "6", "12", "0"], ["version", "4294967302", "9", "9"]]
        for args in cases {
            let version6 = args[1] != "5"
            for resp3 in [false, true] {
                let r = try lines(oracle!.port, args, resp3: resp3), n = try lines(server!.port, args, resp3: resp3)
                XCTAssertEqual(r.count, n.count, "\(args): line count")
                let footer = version6 ? 3 : 2
                XCTAssertEqual(Array(r.suffix(footer)), Array(n.suffix(footer)), "\(args): footer")
                for (i, (a, b)) in zip(r.dropLast(footer), n.dropLast(footer)).enumerated() {
                    // The line before the footer may be the empty line Redis leaves after the last row.
                    if a.isEmpty && b.isEmpty { continue }
                    let ca = cells(a, version6: version6), cb = cells(b, version6: version6)
                    XCTAssertNotNil(cb, "\(args): line \(i) is not a drawing: \(b.debugDescription)")
                    XCTAssertEqual(ca, cb, "\(args): line \(i) width")
                }
            }
        }
    }

    /// A big drawing stays cheap (Redis bounds the sizes for that reason): 1000x1000 cells of VERSION 6.
    func testBiggestDrawingIsBounded() throws {
        let started = clockMillis()
        let n = try lines(server!.port, ["VERSION", "6", "100000", "100000"], resp3: false, timeoutMillis: 20_000)
        XCTAssertEqual(n.count, 1000 + 3)
        XCTAssertEqual(cells(n[0], version6: true), 1000)
        XCTAssertLessThan(clockMillis() - started, 20_000)
    }
}
