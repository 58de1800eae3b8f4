import Glibc
import XCTest
@testable import Needletail
import TestSupport

/// A seeded byte-mutation fuzzer for `RequestParser`, driven exactly as `Server.processInput` drives it
/// (reserve 16 KB, read a chunk, parse every complete request, advance `readIndex`, `reset()`).
///
/// Inputs: valid pipelines (multibulk with binary arguments, inline lines), the same mutated (bit flips,
/// interesting bytes, duplicated or deleted ranges, lengths replaced by boundary numbers), and random bytes
/// over a RESP-heavy alphabet. For every input, fed in random chunk sizes, the parser must:
/// - never crash, and make progress (a bounded number of parse calls; every request consumes bytes);
/// - keep memory bounded: the query buffer and inline storage stay within a constant factor of the bytes
///   fed plus the largest bulk it is allowed to pre-size for (`maxBulkLength`), args within the input size;
/// - produce only Redis's protocol error texts;
/// - on a valid pipeline, return exactly the arguments that were encoded;
/// - give the same requests and error whichever way a short input is cut into chunks.
///
/// CI runs ~3 s from seed 1; `FUZZ_SECONDS=600` runs longer from a random seed (printed; rerun one input
/// with `FUZZ_SEED=<seed>`).
final class ParserFuzzTests: XCTestCase {
    static let knownErrors: Set<String> = [
        "Protocol error: invalid multibulk length", "Protocol error: invalid bulk length",
        "Protocol error: too big mbulk count string", "Protocol error: too big bulk count string",
        "Protocol error: too big inline request", "Protocol error: unbalanced quotes in request",
        "Protocol error: unauthenticated multibulk length", "Protocol error: unauthenticated bulk length",
    ]

    func testFuzzRequestParser() {
        let seconds = env("FUZZ_SECONDS").flatMap { Double($0) } ?? 3
        let single = env("FUZZ_SEED").flatMap { UInt64($0) }
        var seed = single ?? (env("FUZZ_SECONDS") != nil ? randomSeed() : 1)
        let deadline = rawNow() + seconds
        var cases = 0
        var bytesFed = 0
        var requests = 0
        var errors = 0
        var stop = false
        while !stop {
            var rng = SeededRandom(seed: seed &* 0x2545_F491_4F6C_DD1D)  // scrambled: neighbouring seeds differ from the start
            let kind = rng.below(10)
            let maxBulk = rng.oneIn(50) ? 512 * 1024 * 1024 : rng.pick([16, 1024, 64 * 1024, 1024 * 1024])
            let authenticated = !rng.oneIn(10)
            var input: [UInt8]
            var expected: [[[UInt8]]]? = nil
            switch kind {
            case 0..<3:
                let (bytes, args) = validPipeline(&rng, bigArguments: maxBulk >= 64 * 1024 && authenticated)
                input = bytes
                if authenticated && args.allSatisfy({ $0.allSatisfy { $0.count <= maxBulk } }) { expected = args }
            case 3..<8:
                input = mutate(validPipeline(&rng, bigArguments: false).0, &rng)
            default:
                input = randomBytes(&rng)
            }
            let run = drive(input, &rng, maxBulk: maxBulk, authenticated: authenticated, seed: seed)
            cases += 1
            bytesFed += input.count
            requests += run.requests.count
            if run.error != nil { errors += 1 }
            if let expected, run.requests != expected || run.error != nil {
                XCTFail("seed \(seed): a valid pipeline parsed as \(run.requests.count) requests, error \(run.error ?? "none"); expected \(expected.count)")
            }
            if input.count < 60 * 1024 {
                // Same input, all at once: the same requests and error (long lines excepted, whose limits
                // depend on how much is buffered, in Redis too).
                let whole = drive(input, &rng, maxBulk: maxBulk, authenticated: authenticated, seed: seed, wholeInput: true)
                if whole.requests != run.requests || whole.error != run.error {
                    XCTFail("seed \(seed): chunked and whole parses differ: \(run.requests.count)/\(run.error ?? "-") vs \(whole.requests.count)/\(whole.error ?? "-")")
                }
            }
            seed &+= 1
            stop = single != nil || rawNow() >= deadline
        }
        print("parser fuzz: \(cases) inputs, \(bytesFed) bytes, \(requests) requests parsed, \(errors) protocol errors, last seed \(seed &- 1)")
    }

    // MARK: - Driving the parser like the server does

    struct Run {
        var requests: [[[UInt8]]] = []
        var error: String?
    }

    private func drive(_ input: [UInt8], _ rng: inout SeededRandom, maxBulk: Int, authenticated: Bool, seed: UInt64,
                       wholeInput: Bool = false) -> Run {
        let buffer = IOBuffer(capacity: 16 * 1024)
        var parser = RequestParser()
        var run = Run()
        var fed = 0
        var calls = 0
        var chunks = 0
        // What may be buffered at once: everything fed, or a bulk the parser pre-sized for, doubled by growth.
        let capacityBound = 2 * (input.count + maxBulk + 2) + 64 * 1024
        while true {
            if fed < input.count {
                buffer.reserve(wholeInput ? input.count - fed : 16 * 1024)
                let want = wholeInput ? input.count - fed : rng.pick([1, 2, 3, 7, 16, 100, 1000, 16384, 100_000])
                let n = min(want, input.count - fed, buffer.writableBytes)
                input.withUnsafeBytes { (buffer.base + buffer.writeIndex).copyMemory(from: $0.baseAddress! + fed, byteCount: n) }
                buffer.writeIndex += n
                fed += n
                chunks += 1
            }
            parsing: while true {
                calls += 1
                if calls > 4 * (input.count + chunks + 4) {
                    XCTFail("seed \(seed): the parser is not making progress (\(calls) calls for \(input.count) bytes)")
                    return run
                }
                switch parser.parse(buffer, maxBulkLength: maxBulk, authenticated: authenticated) {
                case .needMoreData:
                    if buffer.isEmpty { buffer.clear(shrinkTo: 1024 * 1024) }
                    break parsing
                case .protocolError(let message):
                    if !Self.knownErrors.contains(message) && !message.hasPrefix("Protocol error: expected '$', got '") {
                        XCTFail("seed \(seed): unexpected protocol error text \(message.debugDescription)")
                    }
                    run.error = message
                    return run
                case .request(let consumed):
                    guard consumed > 0 && consumed <= buffer.readableBytes else {
                        XCTFail("seed \(seed): a request consumed \(consumed) of \(buffer.readableBytes) bytes")
                        return run
                    }
                    if parser.args.count > input.count / 4 + 1 {
                        XCTFail("seed \(seed): \(parser.args.count) arguments from \(input.count) bytes")
                        return run
                    }
                    var args: [[UInt8]] = []
                    for span in parser.args {
                        switch parser.argsBase {
                        case .queryBuffer:
                            guard span.offset >= 0 && span.offset + span.count <= consumed else {
                                XCTFail("seed \(seed): argument span \(span) outside the request (\(consumed) bytes)")
                                return run
                            }
                            args.append(Array(buffer.bytes(at: buffer.readIndex + span.offset, count: span.count)))
                        case .inlineStorage:
                            guard span.offset >= 0 && span.offset + span.count <= parser.inlineStorage.writeIndex else {
                                XCTFail("seed \(seed): inline argument span \(span) outside its storage")
                                return run
                            }
                            args.append(Array(parser.inlineStorage.bytes(at: span.offset, count: span.count)))
                        }
                    }
                    if !args.isEmpty { run.requests.append(args) }
                    buffer.readIndex += consumed
                    parser.reset()
                }
            }
            if buffer.capacity > capacityBound || parser.inlineStorage.capacity > 2 * input.count + 128 * 1024 {
                XCTFail("seed \(seed): memory grew to query buffer \(buffer.capacity), inline \(parser.inlineStorage.capacity) for \(input.count) bytes")
                return run
            }
            if fed == input.count { return run }
        }
    }

    // MARK: - Inputs

    /// A pipeline of valid requests and the arguments each must parse to (empty inline lines parse to none).
    private func validPipeline(_ rng: inout SeededRandom, bigArguments: Bool) -> ([UInt8], [[[UInt8]]]) {
        var bytes: [UInt8] = []
        var requests: [[[UInt8]]] = []
        for _ in 0..<rng.between(1, 8) {
            if rng.oneIn(4) {
                // Inline: plain words (quoting has its own tests), separated by spaces or tabs.
                let words = (0..<rng.between(0, 5)).map { _ in
                    (0..<rng.between(1, 12)).map { _ in rng.pick(Array("abcXYZ019_-:{}".utf8)) }
                }
                for (i, w) in words.enumerated() {
                    if i > 0 || rng.oneIn(3) { bytes += rng.pick([[32], [32, 32], [9]]) }
                    bytes += w
                }
                bytes += rng.oneIn(3) ? [10] : [13, 10]
                if !words.isEmpty { requests.append(words) }
            } else {
                let args = (0..<rng.between(1, 6)).map { _ -> [UInt8] in
                    if bigArguments && rng.oneIn(40) { return [UInt8](repeating: UInt8(ascii: "b"), count: rng.between(32 * 1024, 80 * 1024)) }
                    return (0..<rng.pick([0, 1, 3, 10, 50, 300])).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                }
                bytes += Array("*\(args.count)\r\n".utf8)
                for a in args { bytes += Array("$\(a.count)\r\n".utf8) + a + [13, 10] }
                requests.append(args)
            }
        }
        // An inline request must not start with '*' (it would be read as multibulk); words never do.
        return (bytes, requests)
    }

    static let interesting: [UInt8] = Array("*$\r\n-+:0123456789 \"'\\x\t".utf8) + [0, 0xff, 0x7f]
    static let interestingNumbers = ["-1", "0", "1", "-0", "2147483647", "2147483648", "-2147483648", "4294967296",
                                     "536870912", "536870913", "9223372036854775807", "9223372036854775808",
                                     "99999999999999999999", "", "+5", " 5", "1e3", "0x10", "16385", "11"]

    private func mutate(_ original: [UInt8], _ rng: inout SeededRandom) -> [UInt8] {
        var b = original
        for _ in 0..<rng.between(1, 6) {
            if b.isEmpty { b = [rng.pick(Self.interesting)] }
            let i = rng.below(b.count)
            switch rng.below(9) {
            case 0: b[i] ^= UInt8(1 << rng.below(8))
            case 1: b[i] = rng.pick(Self.interesting)
            case 2: b.insert(rng.pick(Self.interesting), at: i)
            case 3: b.remove(at: i)
            case 4:
                let n = min(rng.between(1, 40), b.count - i)
                b.insert(contentsOf: Array(b[i..<i + n]), at: rng.below(b.count))
            case 5: b.removeSubrange(i..<min(b.count, i + rng.between(1, 20)))
            case 6:
                // A length or count replaced by a boundary number: the digits after a '*' or '$'.
                if let at = b[i...].firstIndex(where: { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "$") }) {
                    var end = at + 1
                    while end < b.count && b[end] != 13 { end += 1 }
                    b.replaceSubrange((at + 1)..<end, with: Array(rng.pick(Self.interestingNumbers).utf8))
                }
            case 7: b = Array(b[0..<i])
            default:
                // A huge announced length with nothing after it.
                b += Array(rng.pick(["*2147483647\r\n", "$536870912\r\n", "*1\r\n$1073741824\r\n", "*3\r\n$3\r\nSET\r\n$9999999\r\n"]).utf8)
            }
        }
        return b
    }

    private func randomBytes(_ rng: inout SeededRandom) -> [UInt8] {
        let n = rng.pick([0, 1, 5, 20, 100, 1000, 70_000])
        let alphabet = rng.oneIn(2) ? Self.interesting : Array(0...255)
        return (0..<n).map { _ in rng.pick(alphabet) }
    }

    // MARK: - Helpers

    private func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

    private func rawNow() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    private func randomSeed() -> UInt64 {
        var s: UInt64 = 0
        let fd = open("/dev/urandom", O_RDONLY)
        if fd < 0 || read(fd, &s, 8) != 8 { s = UInt64(rawNow() * 1e6) }
        if fd >= 0 { close(fd) }
        print("parser fuzz: starting at seed \(s % 1_000_000_000_000)")
        return s % 1_000_000_000_000
    }
}
