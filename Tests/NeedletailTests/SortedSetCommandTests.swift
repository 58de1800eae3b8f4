import XCTest
@testable import Needletail

/// The pure parts of Commands/SortedSets.swift: range argument parsing, the ZADD/ZINCRBY write and the
/// bookkeeping of Redis's encodings. Replies themselves are compared with redis-server by the differential
/// cases (notes/zset-cases.txt).
final class SortedSetCommandTests: XCTestCase {
    private func bound(_ s: String) -> (value: Double, exclusive: Bool)? {
        ByteString(s).withUnsafeBytes { parseScoreBound($0) }
    }

    private func bound(bytes: [UInt8]) -> (value: Double, exclusive: Bool)? {
        bytes.withUnsafeBytes { parseScoreBound($0) }
    }

    func testScoreBoundsFollowStrtodLikeRedis() {
        XCTAssertEqual(bound("1")?.value, 1)
        XCTAssertEqual(bound("1")?.exclusive, false)
        XCTAssertEqual(bound("(1.5")?.value, 1.5)
        XCTAssertEqual(bound("(1.5")?.exclusive, true)
        XCTAssertEqual(bound("-inf")?.value, -.infinity)
        XCTAssertEqual(bound("+inf")?.value, .infinity)
        XCTAssertEqual(bound("(inf")?.value, .infinity)
        XCTAssertEqual(bound("1e999")?.value, .infinity)      // overflow is accepted as inf
        XCTAssertEqual(bound("0x10")?.value, 16)              // strtod reads hex
        XCTAssertEqual(bound(" 2")?.value, 2)                 // and skips leading space
        XCTAssertEqual(bound("")?.value, 0)                   // an empty string is 0
        XCTAssertEqual(bound("(")?.value, 0)
        XCTAssertEqual(bound("(")?.exclusive, true)
        XCTAssertEqual(bound(bytes: Array("3\0junk".utf8))?.value, 3)  // read as a C string
        XCTAssertEqual(bound("-5")?.value, -5)
        XCTAssertEqual(bound("9007199254740993")?.value, 9007199254740992)  // beyond 2^53: strtod rounding
        XCTAssertNil(bound("nan"))
        XCTAssertNil(bound("(nan"))
        XCTAssertNil(bound("abc"))
        XCTAssertNil(bound("1 "))
        XCTAssertNil(bound("[1"))
        XCTAssertNil(bound("((1"))
    }

    func testScoreRange() {
        let range = ByteString("(1").withUnsafeBytes { lo in ByteString("5").withUnsafeBytes { hi in
            parseScoreRange(min: lo, max: hi) } }
        XCTAssertEqual(range, SortedSet.ScoreRange(min: 1, minExclusive: true, max: 5, maxExclusive: false))
        let bad = ByteString("1").withUnsafeBytes { lo in ByteString("x").withUnsafeBytes { hi in
            parseScoreRange(min: lo, max: hi) } }
        XCTAssertNil(bad)
    }

    private func lex(_ min: [UInt8], _ max: [UInt8]) -> SortedSet.LexRange? {
        min.withUnsafeBytes { lo in max.withUnsafeBytes { hi in parseLexRange(min: lo, max: hi) } }
    }

    func testLexRanges() {
        XCTAssertEqual(lex(Array("-".utf8), Array("+".utf8)), SortedSet.LexRange(min: .minusInfinity, max: .plusInfinity))
        XCTAssertEqual(lex(Array("[a".utf8), Array("(b".utf8)),
                       SortedSet.LexRange(min: .inclusive("a"), max: .exclusive("b")))
        XCTAssertEqual(lex(Array("[".utf8), Array("(".utf8)),
                       SortedSet.LexRange(min: .inclusive(""), max: .exclusive("")))
        // `[` and `(` keep every byte after them, NULs included; `+` and `-` are read as C strings.
        XCTAssertEqual(lex([UInt8(ascii: "["), 0, 1], [UInt8(ascii: "+"), 0, UInt8(ascii: "x")]),
                       SortedSet.LexRange(min: .inclusive(ByteString([0, 1])), max: .plusInfinity))
        XCTAssertNil(lex(Array("a".utf8), Array("+".utf8)))
        XCTAssertNil(lex(Array("-".utf8), Array("".utf8)))
        XCTAssertNil(lex(Array("+x".utf8), Array("+".utf8)))
        XCTAssertNil(lex(Array("-".utf8), Array("--".utf8)))
    }

    private func add(_ set: SortedSet, _ member: String, _ score: Double, _ flags: ZaddFlags = []) -> ZaddOutcome {
        ByteString(member).withUnsafeBytes { zsetAdd(set, member: $0, score: score, flags: flags) }
    }

    func testZaddOutcomes() {
        let set = SortedSet()
        XCTAssertEqual(add(set, "a", 1), .added(score: 1))
        XCTAssertEqual(add(set, "a", 1), .unchanged(score: 1))
        XCTAssertEqual(add(set, "a", 2), .updated(score: 2))
        XCTAssertEqual(add(set, "a", 5, .nx), .skipped)
        XCTAssertEqual(add(set, "b", 5, .xx), .skipped)
        XCTAssertEqual(add(set, "a", 1, .gt), .skipped)
        XCTAssertEqual(add(set, "a", 3, .gt), .updated(score: 3))
        XCTAssertEqual(add(set, "a", 3, .lt), .skipped)
        XCTAssertEqual(add(set, "new", 3, .gt), .added(score: 3))     // GT/LT only restrict updates
        XCTAssertEqual(add(set, "a", 4, .incr), .updated(score: 7))
        XCTAssertEqual(add(set, "a", -1, [.incr, .gt]), .skipped)
        XCTAssertEqual(add(set, "a", 0, .incr), .unchanged(score: 7))
        XCTAssertEqual(add(set, "inf", .infinity, []), .added(score: .infinity))
        XCTAssertEqual(add(set, "inf", -.infinity, .incr), .nan)
        XCTAssertEqual(set.score(of: ByteString("inf")), .infinity)
        XCTAssertEqual(set.count, 3)
        set.checkInvariants()
    }

    func testNegativeZeroFollowsTheEncodingRedisWouldUse() {
        // A listpack reads -0 back as 0; the INCR reply still shows the computed -0.
        let small = SortedSet()
        XCTAssertEqual(add(small, "z", -0.0, .incr), .added(score: -0.0))
        XCTAssertEqual(small.score(of: ByteString("z"))?.sign, .plus)
        XCTAssertEqual(small.encodingName, "listpack")

        // A member longer than 64 bytes converts the set first, and a skiplist keeps -0 from then on.
        _ = add(small, String(repeating: "L", count: zsetMaxListpackValue + 1), 1)
        XCTAssertEqual(small.encodingName, "skiplist")
        _ = add(small, "y", -0.0)
        XCTAssertEqual(small.score(of: ByteString("y"))?.sign, .minus)

        // The conversion is one way.
        _ = ByteString(String(repeating: "L", count: zsetMaxListpackValue + 1)).withUnsafeBytes { small.remove(member: $0) }
        XCTAssertEqual(small.encodingName, "skiplist")
    }

    func testTheListpackLimitIsCountedBeforeTheAddition() {
        let set = SortedSet()
        for i in 0..<zsetMaxListpackEntries { _ = add(set, "m\(i)", 0) }
        XCTAssertEqual(set.encodingName, "listpack")
        _ = add(set, "m0", 5)       // updates never convert
        XCTAssertEqual(set.encodingName, "listpack")
        _ = add(set, "one-more", -0.0)
        XCTAssertEqual(set.encodingName, "skiplist")
        XCTAssertEqual(set.score(of: ByteString("one-more"))?.sign, .minus)
        set.checkInvariants()
    }

    func testAggregate() {
        var x = Double.infinity
        aggregate(&x, -.infinity, .sum)
        XCTAssertEqual(x, 0)                    // Redis's convention for inf + -inf
        x = 1
        aggregate(&x, .nan, .min)
        XCTAssertEqual(x, 1)
        aggregate(&x, 0.5, .min)
        XCTAssertEqual(x, 0.5)
        aggregate(&x, 2, .max)
        XCTAssertEqual(x, 2)
    }
}
