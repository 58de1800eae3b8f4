import XCTest
@testable import Needletail
import TestSupport

/// The request parser is resumable: a request may arrive in any number of pieces, and the parser keeps
/// its progress between calls. So every corpus here is fed all at once, byte by byte and in every chunk
/// size, through an IOBuffer exactly as `Server.processInput` drives it, and every way must yield the same
/// argument lists (and the same protocol error, after the same requests). Expected error texts are
/// redis-server 7.0's, checked against it over a socket.
final class RequestParserTests: XCTestCase {
    static let maxBulk = 512 * 1024 * 1024

    // MARK: - Corpus: every way of cutting it gives the same requests

    func testMixedCorpusParsesIdenticallyInEveryChunkSize() {
        var rng = SeededRandom(seed: 0x6e65_6564_6c65)
        var random2000 = [UInt8](repeating: 0, count: 2000)
        for i in random2000.indices { random2000[i] = UInt8(truncatingIfNeeded: rng.next()) }
        let manyArgs = (0..<100).map { Array("arg\($0)".utf8) }

        // (bytes on the wire, the arguments they must parse to)
        let corpus: [([UInt8], [[UInt8]])] = [
            (multibulk("SET", "key", "value"), args("SET", "key", "value")),
            (bytes("PING\r\n"), args("PING")),
            (bytes("*0\r\n"), []),                          // an empty multibulk: a no-op request
            (bytes("\r\n"), []),                            // an empty inline line
            (bytes("\n"), []),
            (bytes("   \r\n"), []),
            (bytes("SET k v\n"), args("SET", "k", "v")),  // inline ended by a bare \n
            (bytes("*-1\r\n"), []),                         // Redis treats a negative count as empty
            (bytes("*-7\r\n"), []),
            (multibulk(bytes("ECHO"), [0x61, 0, 0x62, 13, 10, 0x63]), [bytes("ECHO"), [0x61, 0, 0x62, 13, 10, 0x63]]),
            (multibulk(bytes("ECHO"), bytes("\r\n")), [bytes("ECHO"), bytes("\r\n")]),
            (multibulk(bytes("ECHO"), bytes("*1\r\n$3\r\nfoo\r\n")), [bytes("ECHO"), bytes("*1\r\n$3\r\nfoo\r\n")]),
            (multibulk(bytes("ECHO"), []), [bytes("ECHO"), []]),
            (multibulk(bytes("SET"), bytes("blob"), random2000), [bytes("SET"), bytes("blob"), random2000]),
            (bytes("GET key\r\n"), args("GET", "key")),
            (multibulk(manyArgs), manyArgs),
            (bytes("  PING   x  \r\n"), args("PING", "x")),
            (multibulk("PING"), args("PING")),
            (bytes("*1\r\n$4\r\nQUIT\r\n"), args("QUIT")),
        ]
        let input = corpus.flatMap { $0.0 }
        let expected = ParseRun(requests: corpus.map { $0.1 })
        XCTAssertEqual(feed(input, chunkSize: input.count), expected, "all at once")
        for size in 1...input.count {
            let run = feed(input, chunkSize: size)
            if run != expected {
                XCTFail("chunk size \(size): \(run) != \(expected)")
                return
            }
        }
    }

    func testChunkBoundariesAtEveryPositionOfEverySmallRequest() {
        // Two-chunk splits at every offset, for requests where a split can fall inside "\r\n", a header,
        // or just after the '*' that selects the multibulk parser.
        let inputs: [([UInt8], [[[UInt8]]])] = [
            (bytes("*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nPING\r\n*1\r\n$4\r\nPING\r\n"),
             [args("ECHO", "hi"), args("PING"), args("PING")]),
            (bytes("*3\r\n$3\r\nSET\r\n$10\r\n0123456789\r\n$0\r\n\r\n"), [args("SET", "0123456789", "")]),
            (bytes("\r\n\n*0\r\nPING\r\n"), [[], [], [], args("PING")]),
        ]
        for (input, requests) in inputs {
            for cut in 0...input.count {
                let run = feed([Array(input[..<cut]), Array(input[cut...])])
                XCTAssertEqual(run, ParseRun(requests: requests), "cut at \(cut)")
            }
        }
    }

    func testBigBulksInAnyChunkSize() {
        var rng = SeededRandom(seed: 42)
        // 40 KB and 100 KB cross the 32 KB threshold where the parser reserves the whole argument at once.
        for size in [16 * 1024 - 1, 40 * 1024, 100 * 1024, 1024 * 1024] {
            var value = [UInt8](repeating: 0, count: size)
            for i in value.indices { value[i] = UInt8(truncatingIfNeeded: rng.next()) }
            // Sprinkle the bytes that matter to the protocol.
            for i in stride(from: 0, to: size, by: 997) { value[i] = [13, 10, 0, 36, 42][i % 5] }
            let input = multibulk(bytes("SET"), bytes("k"), value) + bytes("PING\r\n") + multibulk(bytes("GET"), bytes("k"))
            let expected = ParseRun(requests: [[bytes("SET"), bytes("k"), value], args("PING"), args("GET", "k")])
            var sizes = [2, 3, 7, 1000, 4096, 16 * 1024, 16 * 1024 + 1, 65536, input.count]
            if size <= 100 * 1024 { sizes.append(1) }
            for chunk in sizes {
                XCTAssertEqual(feed(input, chunkSize: chunk), expected, "value \(size) bytes, chunk size \(chunk)")
            }
        }
    }

    func testIncompleteRequestWaitsWithoutError() {
        for partial in ["*", "*3", "*3\r", "*3\r\n", "*3\r\n$3", "*3\r\n$3\r\nSE", "*3\r\n$3\r\nSET\r", "PING", "PING\r",
                        "*1\r\n$4\r\nPING", "*1\r\n$4\r\nPING\r"] {
            let input = bytes("PING\r\n" + partial)
            for chunk in 1...input.count {
                XCTAssertEqual(feed(input, chunkSize: chunk), ParseRun(requests: [args("PING")], pending: partial.utf8.count),
                               "\(partial.debugDescription) in chunks of \(chunk)")
            }
        }
    }

    /// Redis skips the two bytes after a bulk without checking that they are "\r\n"; so do we.
    func testBytesAfterABulkAreSkippedUnchecked() {
        let input = bytes("*1\r\n$4\r\nPINGXY*1\r\n$4\r\nPING\r\n")
        for chunk in 1...input.count {
            XCTAssertEqual(feed(input, chunkSize: chunk), ParseRun(requests: [args("PING"), args("PING")]))
        }
    }

    func testArgumentCountBoundary() {
        let input = bytes("*2147483647\r\n")
        XCTAssertEqual(feed(input, chunkSize: input.count), ParseRun(requests: [], pending: input.count))
    }

    // MARK: - Quoted inline arguments

    func testInlineQuotedArguments() {
        let input = bytes("SET \"a b\" 'c\\'d' \"\\x41\\n\"\r\nECHO \"\"\r\n")
        let expected = ParseRun(requests: [[bytes("SET"), bytes("a b"), bytes("c'd"), bytes("A\n")], [bytes("ECHO"), []]])
        for chunk in 1...input.count { XCTAssertEqual(feed(input, chunkSize: chunk), expected, "chunk size \(chunk)") }
    }

    func testUnbalancedQuotes() {
        for line in ["PING \"a\r\n", "PING 'a\r\n", "PING \"a\"b\r\n"] {
            assertError(bytes("PING\r\n" + line), "Protocol error: unbalanced quotes in request", after: [args("PING")])
        }
    }

    // MARK: - Protocol errors (redis-server 7.0's texts)

    func testMultibulkCountErrors() {
        for header in ["*abc", "*", "*2147483648", "*+1", "*01", "*1x", "*99999999999999999999999"] {
            assertError(bytes("PING\r\n\(header)\r\n"), "Protocol error: invalid multibulk length", after: [args("PING")])
        }
    }

    func testBulkLengthErrors() {
        for header in ["$-1", "$x", "$", "$+4", "$04", "$4x", "$536870913", "$99999999999999999999"] {
            assertError(bytes("PING\r\n*2\r\n$4\r\nECHO\r\n\(header)\r\n"), "Protocol error: invalid bulk length", after: [args("PING")])
        }
    }

    func testBulkLengthLimitIsProtoMaxBulkLen() {
        assertError(bytes("*1\r\n$11\r\n"), "Protocol error: invalid bulk length", maxBulkLength: 10)
        let input = bytes("*1\r\n$10\r\n0123456789\r\n")
        XCTAssertEqual(feed(input, chunkSize: 1, maxBulkLength: 10), ParseRun(requests: [args("0123456789")]))
    }

    func testExpectedDollar() {
        assertError(bytes("*1\r\nx\r\n"), "Protocol error: expected '$', got 'x'")
        assertError(bytes("*2\r\n$3\r\nGET\r\n*1\r\n"), "Protocol error: expected '$', got '*'")
        assertError(bytes("*2\r\n$3\r\nGET\r\n:1\r\n"), "Protocol error: expected '$', got ':'")
    }

    func testTooLongHeaderLines() {
        let limit = RequestParser.inlineMaxSize
        // Errors only once more than 64 KB are waiting without a '\r'; exactly 64 KB still waits.
        assertError(bytes("*") + digits(limit), "Protocol error: too big mbulk count string", sampled: true)
        assertError(bytes("PING\r\n*1\r\n$") + digits(limit), "Protocol error: too big bulk count string",
                    after: [args("PING")], sampled: true)
        let waiting = bytes("*1\r\n$") + digits(limit - 1)
        XCTAssertEqual(feed(waiting, chunkSize: 4096), ParseRun(requests: [], pending: waiting.count))
    }

    func testTooBigInlineRequest() {
        let limit = RequestParser.inlineMaxSize
        let line = [UInt8](repeating: UInt8(ascii: "a"), count: limit + 1)
        assertError(bytes("PING\r\n") + line, "Protocol error: too big inline request", after: [args("PING")], sampled: true)
        let waiting = [UInt8](repeating: UInt8(ascii: "a"), count: limit)
        XCTAssertEqual(feed(waiting, chunkSize: 4096), ParseRun(requests: [], pending: limit))
        // A long inline line is fine once its newline is there.
        let long = bytes("ECHO ") + [UInt8](repeating: UInt8(ascii: "b"), count: limit - 10) + bytes("\r\n")
        XCTAssertEqual(feed(long, chunkSize: 4096),
                       ParseRun(requests: [[bytes("ECHO"), [UInt8](repeating: UInt8(ascii: "b"), count: limit - 10)]]))
    }

    func testUnauthenticatedLimits() {
        assertError(bytes("*11\r\n"), "Protocol error: unauthenticated multibulk length", authenticated: false)
        assertError(bytes("*1\r\n$16385\r\n"), "Protocol error: unauthenticated bulk length", authenticated: false)
        let ten = multibulk((0..<10).map { _ in bytes("x") })
        XCTAssertEqual(feed(ten, chunkSize: 3, authenticated: false), ParseRun(requests: [(0..<10).map { _ in bytes("x") }]))
        let big = [UInt8](repeating: 7, count: 16384)
        XCTAssertEqual(feed(multibulk(big), chunkSize: 1000, authenticated: false), ParseRun(requests: [[big]]))
    }

    // MARK: - Inline lines: the no-copy path splits as splitArgs does

    /// Plain inline lines are split in place (no copy); the rest go through `splitArgs`. Random lines over
    /// an alphabet of separators, quotes, backslashes and the bytes only `splitArgs` handles must parse to
    /// exactly what `splitArgs` (Redis's `sdssplitargs`) makes of them, whichever path takes them.
    func testInlineLinesSplitAsSplitArgsDoes() {
        var rng = SeededRandom(seed: 0x696e_6c69_6e65)
        let alphabet: [UInt8] = Array("ab1 \t\\:".utf8) + [13, 32, 32, 0x0B, 0x0C, 0, 34, 39]
        for _ in 0..<5000 {
            var line: [UInt8] = []
            for _ in 0..<Int.random(in: 0...12, using: &rng) { line.append(alphabet.randomElement(using: &rng)!) }
            let input = line + [10]
            let expected: ParseRun
            if let words = line.withUnsafeBytes({ splitArgs($0) }) {
                // The parser strips one \r before the \n first; splitArgs splits on it anyway.
                expected = ParseRun(requests: [words.map { $0.withUnsafeBytes { Array($0) } }])
            } else {
                expected = ParseRun(requests: [], error: "Protocol error: unbalanced quotes in request")
            }
            XCTAssertEqual(feed(input, chunkSize: input.count), expected, "\(line)")
            // And the lines without quotes, NUL, \v or \f really take the no-copy path.
            if !line.contains(where: { [34, 39, 0, 0x0B, 0x0C].contains($0) }) {
                var parser = RequestParser()
                let buffer = IOBuffer(capacity: input.count)
                input.withUnsafeBytes { buffer.append($0) }
                _ = parser.parse(buffer, maxBulkLength: Self.maxBulk, authenticated: true)
                XCTAssertEqual(parser.argsBase, .queryBuffer, "\(line)")
            }
        }
    }

    // MARK: - Look-ahead for prefetching agrees with the parser

    /// `RequestParser.keysAhead` must report, for any bytes a read could leave in the buffer, exactly the
    /// requests the parser would yield next, as long as they are complete multibulks of 2 to `maxArguments`
    /// arguments: the same argument 1 and the same bytes consumed. It must stop at the first request that
    /// is not one (or at its limit), and never read past the buffer.
    /// The one-pass header parser (`plainHeader`) against the general path it stands in front of
    /// (`findHeaderEnd` + `parseLength`): whatever it accepts, the general path reads as the same number with
    /// the CR at the same place; and it accepts every plain header of 1 to 9 digits.
    func testPlainHeaderAgreesWithTheGeneralPath() {
        var rng = SeededRandom(seed: 0x68_6561_6465_72)
        let alphabet = Array("0123456789".utf8) + Array("0000-+ $*\r\n\r\rx".utf8)
        var accepted = 0
        for round in 0..<100_000 {
            var line: [UInt8] = [round % 2 == 0 ? UInt8(ascii: "$") : UInt8(ascii: "*")]
            if round % 3 == 0 {  // a plain header, maybe cut short
                let digits = Int.random(in: 1...12, using: &rng)
                line += Array(String(Int.random(in: 0...Int(Int32.max), using: &rng)).utf8.prefix(digits)) + [13, 10]
                line = Array(line.prefix(Int.random(in: 1...line.count, using: &rng)))
            } else {
                for _ in 0..<Int.random(in: 0...13, using: &rng) { line.append(alphabet.randomElement(using: &rng)!) }
            }
            let type = round % 4 < 2 ? UInt8(ascii: "$") : UInt8(ascii: "*")  // sometimes the wrong type
            line.withUnsafeBytes { raw in
                let p = UnsafeMutableRawPointer(mutating: raw.baseAddress!)
                guard let (value, length) = plainHeader(type, p, raw.count) else {
                    // Plain and complete: must have been accepted.
                    let text = String(decoding: line.dropFirst(), as: UTF8.self)
                    if line[0] == type, let cr = line.firstIndex(of: 13), cr + 1 < line.count, (2...10).contains(cr),
                       line[1..<cr].allSatisfy({ (48...57).contains($0) }), cr == 2 || line[1] != 48 {
                        XCTFail("round \(round): plain header \(text.debugDescription) refused")
                    }
                    return
                }
                accepted += 1
                XCTAssertEqual(line[0], type)
                XCTAssertLessThanOrEqual(length, raw.count, "round \(round)")
                guard let cr = findHeaderEnd(p, raw.count) else { return XCTFail("round \(round): no CR for the general path") }
                XCTAssertEqual(cr - p, length - 2, "round \(round)")
                XCTAssertEqual(parseLength(p + 1, cr - p - 1), Int64(value), "round \(round)")
            }
        }
        XCTAssertGreaterThan(accepted, 3_000)  // the generator makes plain, complete headers of the right type often enough
    }

    func testKeysAheadAgreesWithTheParserOnEveryPrefix() {
        var rng = SeededRandom(seed: 0x70_7265_6665_7463)
        let pieces: [[UInt8]] = [
            multibulk("GET", "key:000000012345"), multibulk("SET", "k", "v"), multibulk("PING"),
            bytes("PING\r\n"), bytes("GET k\r\n"), bytes("*0\r\n"), bytes("*-1\r\n"), multibulk(bytes("ECHO"), bytes("\r\n$1\r\n")),
            multibulk(bytes("SET"), [], bytes("x")), multibulk("MSET", "a", "1", "b", "2", "c", "3"),
            bytes("*1\r\n$4\r\nPINGXY"), bytes("*2\r\n$3\r\nGET\r\n$01\r\nk\r\n"),  // what parseLength rejects
        ]
        let malformed: [[UInt8]] = [bytes("*2\r\n$3\r\nGET\r\n:1\r\n"), bytes("*2\r\n$x\r\n"), bytes("*2\r\n$-1\r\n")]
        for round in 0..<300 {
            var input: [UInt8] = []
            for _ in 0..<Int.random(in: 1...12, using: &rng) { input += pieces.randomElement(using: &rng)! }
            if round % 5 == 0 { input += malformed.randomElement(using: &rng)! }
            for cut in 0...input.count {
                for (limit, maxArguments) in [(1, 64), (3, 3), (16, 64)] {
                    assertKeysAheadAgree(Array(input[..<cut]), limit: limit, maxArguments: maxArguments, round: round)
                }
            }
        }
    }

    func assertKeysAheadAgree(_ input: [UInt8], limit: Int, maxArguments: Int, round: Int) {
        // The buffer holds exactly `input`, so reading past it is caught under ASan (scripts/sanitize.sh).
        let buffer = IOBuffer(capacity: max(input.count, 1))
        input.withUnsafeBytes { buffer.append($0) }
        let keys = UnsafeMutablePointer<ArgSpan>.allocate(capacity: limit)
        defer { keys.deallocate() }
        let (count, bytes) = RequestParser.keysAhead(buffer.base, input.count, into: keys, limit: limit,
                                                     maxArguments: maxArguments)

        var parser = RequestParser()
        var walked = 0
        for i in 0...count {
            let outcome = parser.parse(buffer, maxBulkLength: Self.maxBulk, authenticated: true)
            let argc = parser.args.count
            let multibulk = buffer.readableBytes > 0 && buffer.base.load(fromByteOffset: buffer.readIndex, as: UInt8.self) == 42
            let complete = { if case .request = outcome { return multibulk && argc >= 2 && argc <= maxArguments }; return false }()
            if i == count {  // where the look-ahead stopped, the parser has no request it should have reported
                XCTAssert(i == limit || !complete, "round \(round): stopped early at request \(i) of \(input.count) bytes")
                break
            }
            guard case .request(let consumed) = outcome, complete else {
                return XCTFail("round \(round): reported request \(i), the parser says \(outcome), \(argc) args")
            }
            let key = Array(buffer.bytes(at: buffer.readIndex + parser.args[1].offset, count: parser.args[1].count))
            let ahead = Array(buffer.bytes(at: keys[i].offset, count: keys[i].count))
            XCTAssertEqual(ahead, key, "round \(round): key of request \(i)")
            walked += consumed
            buffer.readIndex += consumed
            parser.reset()
        }
        XCTAssertEqual(bytes, walked, "round \(round): bytes of the \(count) requests")
    }

    // MARK: - Helpers

    struct ParseRun: Equatable, CustomStringConvertible {
        var requests: [[[UInt8]]]
        var error: String? = nil
        /// Bytes left in the buffer at the end (an incomplete request).
        var pending = 0

        var description: String {
            let shown = requests.map { $0.map { $0.count > 40 ? "<\($0.count) bytes>" : String(decoding: $0, as: UTF8.self).debugDescription } }
            return "ParseRun(requests: \(shown), error: \(error ?? "nil"), pending: \(pending))"
        }
    }

    func feed(_ input: [UInt8], chunkSize: Int, maxBulkLength: Int = maxBulk, authenticated: Bool = true) -> ParseRun {
        let chunks = stride(from: 0, to: input.count, by: chunkSize).map { Array(input[$0..<min($0 + chunkSize, input.count)]) }
        return feed(chunks, maxBulkLength: maxBulkLength, authenticated: authenticated)
    }

    /// Drives the parser as `Server.readFromClient`/`processInput` do: reserve read room, append what one
    /// read() returned, parse until more data is needed, advance `readIndex` past each request, reset.
    func feed(_ chunks: [[UInt8]], maxBulkLength: Int = maxBulk, authenticated: Bool = true) -> ParseRun {
        var parser = RequestParser()
        let buffer = IOBuffer(capacity: 16 * 1024)
        var run = ParseRun(requests: [])
        reading: for chunk in chunks {
            buffer.reserve(16 * 1024)
            chunk.withUnsafeBytes { buffer.append($0) }
            while true {
                switch parser.parse(buffer, maxBulkLength: maxBulkLength, authenticated: authenticated) {
                case .needMoreData:
                    if buffer.isEmpty { buffer.clear(shrinkTo: 1024 * 1024) }
                    continue reading
                case .protocolError(let message):
                    run.error = message
                    break reading
                case .request(let consumed):
                    run.requests.append(parser.args.map { span in
                        switch parser.argsBase {
                        case .queryBuffer: return Array(buffer.bytes(at: buffer.readIndex + span.offset, count: span.count))
                        case .inlineStorage: return Array(parser.inlineStorage.bytes(at: span.offset, count: span.count))
                        }
                    })
                    buffer.readIndex += consumed
                    parser.reset()
                }
            }
        }
        if run.error == nil { run.pending = buffer.readableBytes }
        return run
    }

    /// Asserts that `input` yields `requests` and then `message`, in every chunk size (or, for inputs of
    /// tens of kilobytes, in a sample of chunk sizes including byte by byte).
    func assertError(_ input: [UInt8], _ message: String, after requests: [[[UInt8]]] = [], sampled: Bool = false,
                     maxBulkLength: Int = maxBulk, authenticated: Bool = true, line: UInt = #line) {
        let expected = ParseRun(requests: requests, error: message)
        let sizes = sampled ? [1, 2, 3, 7, 13, 1000, 4096, 16 * 1024, 65535, input.count] : Array(1...input.count)
        for size in sizes {
            let run = feed(input, chunkSize: size, maxBulkLength: maxBulkLength, authenticated: authenticated)
            if run != expected {
                XCTFail("\(String(decoding: input.prefix(40), as: UTF8.self).debugDescription) in chunks of \(size): \(run)", line: line)
                return
            }
        }
    }
}

// MARK: - Building requests

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

private func args(_ words: String...) -> [[UInt8]] { words.map { Array($0.utf8) } }

private func multibulk(_ words: String...) -> [UInt8] { multibulk(words.map { Array($0.utf8) }) }

private func multibulk(_ words: [UInt8]...) -> [UInt8] { multibulk(words) }

private func multibulk(_ words: [[UInt8]]) -> [UInt8] {
    var out = bytes("*\(words.count)\r\n")
    for w in words { out += bytes("$\(w.count)\r\n") + w + bytes("\r\n") }
    return out
}

private func digits(_ n: Int) -> [UInt8] { [UInt8](repeating: UInt8(ascii: "1"), count: n) }

