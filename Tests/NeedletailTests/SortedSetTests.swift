import XCTest
@testable import Needletail
import TestSupport

private typealias ModelElement = (member: ByteString, score: Double)

/// The model: a dictionary, sorted on demand in Redis's order.
private func sortedModel(_ model: [ByteString: Double]) -> [ModelElement] {
    model.map { ($0.key, $0.value) }.sorted { $0.score != $1.score ? $0.score < $1.score : $0.member < $1.member }
}

private func withBytes<R>(_ s: String, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    ByteString(s).withUnsafeBytes(body)
}

private func members(_ elements: [SortedSet.Element]) -> [String] { elements.map { $0.member.string } }

private func collect(_ walk: ((ByteString, Double) -> Void) -> Void) -> [String] {
    var out: [String] = []
    walk { member, _ in out.append(member.string) }
    return out
}

final class SortedSetTests: XCTestCase {
    /// Every width of the packed form's score encoding: 0, -0 (a double), 1-, 2- and 4-byte integers, doubles.
    private let scorePool: [Double] = [-.infinity, -70_000, -2, -0.5, -0.0, 0, 1, 1, 1, 3, 7.25, 200, 3e9, .infinity]

    private func abcde() -> SortedSet {
        let set = SortedSet()
        for (i, m) in ["a", "b", "c", "d", "e"].enumerated() { set.set(member: ByteString(m), score: Double(i + 1)) }
        XCTAssertNil(set.invariantViolation())
        return set
    }

    func testEmptySet() {
        let set = SortedSet()
        XCTAssertEqual(set.count, 0)
        XCTAssertNil(set.invariantViolation())
        withBytes("x") { m in
            XCTAssertNil(set.score(of: m))
            XCTAssertNil(set.rank(of: m))
            XCTAssertFalse(set.remove(member: m))
        }
        XCTAssertNil(set.element(atRank: 0))
        XCTAssertNil(set.popMin())
        XCTAssertNil(set.popMax())
        XCTAssertEqual(set.rankRange(start: 0, end: -1), 0..<0)
        XCTAssertEqual(set.count(in: SortedSet.ScoreRange(min: -.infinity, max: .infinity)), 0)
        XCTAssertEqual(set.count(in: SortedSet.LexRange(min: .minusInfinity, max: .plusInfinity)), 0)
        XCTAssertEqual(set.removeElements(inRanks: 0..<10), 0)
        var rng = SeededRandom(seed: 1)
        XCTAssertNil(set.randomElement(using: &rng))
        XCTAssertTrue(set.randomDistinctElements(count: 3, using: &rng).isEmpty)
        var visited = 0
        XCTAssertEqual(set.scan(cursor: 0, count: 10) { _, _ in visited += 1 }, 0)
        XCTAssertEqual(visited, 0)
    }

    func testSingleElement() {
        let set = SortedSet()
        XCTAssertTrue(withBytes("only") { set.set(member: $0, score: 2) } == (true, false))
        XCTAssertTrue(withBytes("only") { set.set(member: $0, score: 2) } == (false, false), "same score: no change")
        XCTAssertTrue(withBytes("only") { set.set(member: $0, score: 3) } == (false, true))
        XCTAssertNil(set.invariantViolation())
        XCTAssertEqual(withBytes("only") { set.score(of: $0) }, 3)
        XCTAssertEqual(withBytes("only") { set.rank(of: $0) }, 0)
        XCTAssertEqual(withBytes("only") { set.rank(of: $0, reverse: true) }, 0)
        XCTAssertEqual(set.element(atRank: 0, reverse: true)?.member, "only")
        XCTAssertEqual(set.count(in: SortedSet.ScoreRange(min: 3, max: 3)), 1)
        XCTAssertEqual(set.count(in: SortedSet.ScoreRange(min: 3, minExclusive: true, max: 4)), 0)
        XCTAssertEqual(set.popMax()?.member, "only")
        XCTAssertTrue(set.isEmpty)
        XCTAssertNil(set.invariantViolation())
    }

    /// Index normalization and LIMIT as redis-server 7.0 answers them on {a:1 b:2 c:3 d:4 e:5}.
    func testRankRangesAndLimitsMatchRedis() {
        let set = abcde()
        func zrange(_ start: Int, _ end: Int, rev: Bool = false) -> [String] {
            members(set.elements(inRanks: set.rankRange(start: start, end: end, reverse: rev), reverse: rev))
        }
        XCTAssertEqual(zrange(0, -1), ["a", "b", "c", "d", "e"])
        XCTAssertEqual(zrange(0, -1, rev: true), ["e", "d", "c", "b", "a"])
        XCTAssertEqual(zrange(-100, 100), ["a", "b", "c", "d", "e"])
        XCTAssertEqual(zrange(3, 1), [])
        XCTAssertEqual(zrange(5, 10), [])
        XCTAssertEqual(zrange(-2, -1), ["d", "e"])
        XCTAssertEqual(zrange(0, 0, rev: true), ["e"])
        XCTAssertEqual(zrange(1, 2, rev: true), ["d", "c"])
        XCTAssertEqual(zrange(-1, -1, rev: true), ["a"])

        let all = SortedSet.ScoreRange(min: -.infinity, max: .infinity)
        func byScore(_ r: SortedSet.ScoreRange, rev: Bool = false, _ offset: Int = 0, _ limit: Int = -1) -> [String] {
            collect { set.forEach(in: r, reverse: rev, offset: offset, limit: limit, $0) }
        }
        XCTAssertEqual(byScore(all, 0, 0), [])
        XCTAssertEqual(byScore(all, -1, 2), [])
        XCTAssertEqual(byScore(all, 1, -5), ["b", "c", "d", "e"])
        XCTAssertEqual(byScore(all, rev: true, 1, 2), ["d", "c"])
        XCTAssertEqual(byScore(all, 4, 10), ["e"])
        XCTAssertEqual(byScore(all, 5, 10), [])
        XCTAssertEqual(byScore(SortedSet.ScoreRange(min: 1, minExclusive: true, max: 1)), [])
        XCTAssertEqual(byScore(SortedSet.ScoreRange(min: 2, minExclusive: true, max: 4, maxExclusive: true)), ["c"])
        XCTAssertEqual(byScore(SortedSet.ScoreRange(min: 2, max: 4), rev: true), ["d", "c", "b"])
        XCTAssertEqual(byScore(SortedSet.ScoreRange(min: 4, max: 2)), [])
        XCTAssertTrue(SortedSet.ScoreRange(min: 3, max: 3, maxExclusive: true).isEmpty)

        func lex(_ min: String, _ max: String, rev: Bool = false, _ offset: Int = 0, _ limit: Int = -1) -> [String]? {
            guard let lo = withBytes(min, { SortedSet.LexBound(parsing: $0) }),
                  let hi = withBytes(max, { SortedSet.LexBound(parsing: $0) }) else { return nil }
            return collect { set.forEach(in: SortedSet.LexRange(min: lo, max: hi), reverse: rev, offset: offset,
                                         limit: limit, $0) }
        }
        XCTAssertEqual(lex("-", "+", 4, 10), ["e"])
        XCTAssertEqual(lex("+", "-"), [])
        XCTAssertEqual(lex("[b", "(b"), [])
        XCTAssertEqual(lex("[b", "[b"), ["b"])
        XCTAssertEqual(lex("(a", "[c"), ["b", "c"])
        XCTAssertEqual(lex("+", "[c", rev: true), [])
        XCTAssertEqual(lex("[d", "-", rev: true), [])
        XCTAssertEqual(lex("(b", "+", rev: true, 1, 1), ["d"])
        XCTAssertEqual(lex("[bb", "(d"), ["c"])
        XCTAssertNil(lex("a", "+"), "a bound must start with [ or (, or be - or +")
    }

    func testLexBoundParsing() {
        XCTAssertEqual(withBytes("-") { SortedSet.LexBound(parsing: $0) }, .minusInfinity)
        XCTAssertEqual(withBytes("+") { SortedSet.LexBound(parsing: $0) }, .plusInfinity)
        XCTAssertEqual(withBytes("[abc") { SortedSet.LexBound(parsing: $0) }, .inclusive("abc"))
        XCTAssertEqual(withBytes("(abc") { SortedSet.LexBound(parsing: $0) }, .exclusive("abc"))
        XCTAssertEqual(withBytes("[") { SortedSet.LexBound(parsing: $0) }, .inclusive(""))
        XCTAssertEqual(withBytes("(") { SortedSet.LexBound(parsing: $0) }, .exclusive(""))
        for bad in ["", "abc", "-a", "+a", "--"] {
            XCTAssertNil(withBytes(bad) { SortedSet.LexBound(parsing: $0) }, bad)
        }
    }

    /// Equal scores sort by member bytes; infinities sort at the ends; ties and bounds at infinity.
    func testDuplicateScoresAndInfinities() {
        let set = SortedSet()
        let long = String(repeating: "z", count: 40)
        for m in ["b", "a", "c", long, "ab", ""] { set.set(member: ByteString(m), score: 1) }
        set.set(member: "top", score: .infinity)
        set.set(member: "bottom", score: -.infinity)
        XCTAssertNil(set.invariantViolation())
        XCTAssertEqual(members(set.elements(inRanks: 0..<set.count)), ["bottom", "", "a", "ab", "b", "c", long, "top"])
        XCTAssertEqual(withBytes("ab") { set.rank(of: $0) }, 3)
        XCTAssertEqual(withBytes("ab") { set.rank(of: $0, reverse: true) }, 4)
        XCTAssertEqual(set.count(in: SortedSet.ScoreRange(min: -.infinity, max: .infinity)), 8)
        XCTAssertEqual(set.count(in: SortedSet.ScoreRange(min: -.infinity, minExclusive: true, max: .infinity)), 7)
        XCTAssertEqual(set.count(in: SortedSet.ScoreRange(min: 1, max: .infinity, maxExclusive: true)), 6)
        XCTAssertEqual(set.count(in: SortedSet.ScoreRange(min: .infinity, max: .infinity)), 1)
        XCTAssertEqual(set.popMin()?.member, "bottom")
        XCTAssertEqual(set.popMax()?.member, "top")
        XCTAssertEqual(set.count(in: SortedSet.LexRange(min: .exclusive(""), max: .inclusive("b"))), 3)
        XCTAssertEqual(set.removeElements(in: SortedSet.LexRange(min: .inclusive("a"), max: .exclusive("c"))), 3)
        XCTAssertEqual(members(set.elements(inRanks: 0..<set.count)), ["", "c", long])
        XCTAssertNil(set.invariantViolation())
        XCTAssertTrue(ByteString(long).withUnsafeBytes { set.remove(member: $0) })
        XCTAssertNil(set.invariantViolation(), "heap bytes of long members are accounted on removal")
    }

    func testUpsertIsTheGenericWrite() {
        let set = abcde()
        // GT: only raise.
        let gt = withBytes("c") { m in set.upsert(member: m) { current in current.map { Swift.max($0, 2) } } }
        XCTAssertTrue(gt == (false, false, 3))
        // INCR on a missing member with XX: nothing happens.
        let xx = withBytes("zz") { m in set.upsert(member: m) { current in current.map { $0 + 1 } } }
        XCTAssertTrue(xx == (false, false, nil))
        // INCR.
        let incr = withBytes("a") { m in set.upsert(member: m) { ($0 ?? 0) + 10 } }
        XCTAssertTrue(incr == (false, true, 11))
        let add = withBytes("new") { m in set.upsert(member: m) { ($0 ?? 0) + 2.5 } }
        XCTAssertTrue(add == (true, false, 2.5))
        XCTAssertEqual(members(set.elements(inRanks: 0..<set.count)), ["b", "new", "c", "d", "e", "a"])
        XCTAssertNil(set.invariantViolation())
    }

    /// Every operation against the dictionary model, invariants checked after every mutation.
    /// Which of the two forms a random run uses: either one throughout, or both, converting at random steps
    /// (as the commands convert packed -> tree and a stored result tree -> packed).
    private enum Forms { case packed, tree, converting }

    func testRandomOperationsAgainstModel() {
        for (seed, forms) in [(11, Forms.packed), (12, .packed), (13, .tree), (14, .tree), (15, .converting), (16, .converting)] {
            if !runRandom(seed: UInt64(seed), operations: 1500, forms: forms) {
                print("SortedSetTests failing seed: \(seed) \(forms)")
                return
            }
        }
    }

    private func randomMember(_ rng: inout SeededRandom) -> ByteString {
        let n = Int.random(in: 0..<250, using: &rng)
        return n % 5 == 0 ? ByteString("a-long-member-name-beyond-the-inline-capacity:\(n)") : ByteString("m\(n)")
    }

    private func runRandom(seed: UInt64, operations: Int, forms: Forms) -> Bool {
        var rng = SeededRandom(seed: seed)
        let set = SortedSet()
        set.skiplistEncoded = forms == .tree
        var model: [ByteString: Double] = [:]
        for step in 0..<operations {
            let context = "seed \(seed) step \(step) \(set.skiplistEncoded ? "tree" : "packed")"
            if forms == .converting && Int.random(in: 0..<40, using: &rng) == 0 { set.skiplistEncoded.toggle() }
            let failures = testRun?.failureCount ?? 0
            let op = Int.random(in: 0..<20, using: &rng)
            let member = randomMember(&rng)
            let score = scorePool.randomElement(using: &rng)!
            switch op {
            case 0..<8:
                let expected = (added: model[member] == nil, updated: model[member].map { $0 != score } ?? false)
                let got = Bool.random(using: &rng) ? set.set(member: member, score: score)
                                                   : member.withUnsafeBytes { set.set(member: $0, score: score) }
                XCTAssertTrue(got == expected, context)
                model[member] = score
            case 8..<12:
                XCTAssertEqual(member.withUnsafeBytes { set.remove(member: $0) }, model.removeValue(forKey: member) != nil, context)
            case 12:
                let sorted = sortedModel(model)
                let start = Int.random(in: -8...8, using: &rng), end = Int.random(in: -8...8, using: &rng)
                let ranks = set.rankRange(start: start, end: end)
                for e in sorted[ranks] { model[e.member] = nil }
                XCTAssertEqual(set.removeElements(inRanks: ranks), ranks.count, context)
            case 13:
                let range = SortedSet.ScoreRange(min: score, minExclusive: Bool.random(using: &rng),
                                                 max: score + 1, maxExclusive: Bool.random(using: &rng))
                let doomed = model.filter { range.contains($0.value) }
                for m in doomed.keys { model[m] = nil }
                XCTAssertEqual(set.removeElements(in: range), doomed.count, context)
            case 14:
                let expected = sortedModel(model).first
                let got = set.popMin()
                XCTAssertEqual(got?.member, expected?.member, context)
                if let m = expected?.member { model[m] = nil }
            case 15:
                let expected = sortedModel(model).last
                let got = set.popMax()
                XCTAssertEqual(got?.member, expected?.member, context)
                if let m = expected?.member { model[m] = nil }
            default:
                break  // query-only step
            }
            if let problem = set.invariantViolation() { XCTFail("\(context): \(problem)"); return false }
            XCTAssertEqual(set.count, model.count, context)
            checkQueries(set, model, &rng, context)
            if (testRun?.failureCount ?? 0) != failures { return false }
        }
        return true
    }

    private func checkQueries(_ set: SortedSet, _ model: [ByteString: Double], _ rng: inout SeededRandom,
                              _ context: String) {
        let sorted = sortedModel(model)
        let n = sorted.count
        // Point lookups, present and absent.
        let probe = randomMember(&rng)
        probe.withUnsafeBytes { m in
            XCTAssertEqual(set.score(of: m), model[probe], context)
            let rank = sorted.firstIndex { $0.member == probe }
            XCTAssertEqual(set.rank(of: m), rank, context)
            XCTAssertEqual(set.rank(of: m, reverse: true), rank.map { n - 1 - $0 }, context)
        }
        if n > 0 {
            let r = Int.random(in: 0..<n, using: &rng)
            XCTAssertEqual(set.element(atRank: r)?.member, sorted[r].member, context)
            XCTAssertEqual(set.element(atRank: r, reverse: true)?.member, sorted[n - 1 - r].member, context)
        }
        // ZRANGE start end [REV].
        let start = Int.random(in: -10...10, using: &rng), end = Int.random(in: -10...10, using: &rng)
        let reverse = Bool.random(using: &rng)
        let walked = sorted.reversed().map { $0 } 
        let source = reverse ? walked : sorted
        var s = start < 0 ? n + start : start, e = end < 0 ? n + end : end
        if s < 0 { s = 0 }
        if e >= n { e = n - 1 }
        let expected = (s > e || s >= n) ? [] : source[s...e].map { $0.member.string }
        let ranks = set.rankRange(start: start, end: end, reverse: reverse)
        XCTAssertEqual(members(set.elements(inRanks: ranks, reverse: reverse)), expected,
                       "\(context) ZRANGE \(start) \(end) rev=\(reverse)")
        // ZRANGEBYSCORE with LIMIT, both directions.
        var a = scorePool.randomElement(using: &rng)!, b = scorePool.randomElement(using: &rng)!
        if Bool.random(using: &rng) && a > b { swap(&a, &b) }
        let range = SortedSet.ScoreRange(min: a, minExclusive: Bool.random(using: &rng),
                                         max: b, maxExclusive: Bool.random(using: &rng))
        let offset = Int.random(in: -1...4, using: &rng), limit = Int.random(in: -1...6, using: &rng)
        let inRange = source.filter { range.contains($0.score) }
        var expectedWindow: [String] = []
        if offset >= 0 && !range.isEmpty {
            let rest = inRange.dropFirst(offset)
            expectedWindow = (limit < 0 ? Array(rest) : Array(rest.prefix(limit))).map { $0.member.string }
        }
        XCTAssertEqual(collect { set.forEach(in: range, reverse: reverse, offset: offset, limit: limit, $0) },
                       expectedWindow, "\(context) BYSCORE \(range) rev=\(reverse) limit \(offset) \(limit)")
        XCTAssertEqual(set.count(in: range), range.isEmpty ? 0 : inRange.count, "\(context) ZCOUNT \(range)")
    }

    /// ZRANGEBYLEX / ZLEXCOUNT against the model on a set whose scores are all equal, in both forms.
    func testRandomLexRangesAgainstModel() {
        randomLexRanges(skiplist: false)
        randomLexRanges(skiplist: true)
    }

    private func randomLexRanges(skiplist: Bool) {
        var rng = SeededRandom(seed: 21)
        let set = SortedSet()
        set.skiplistEncoded = skiplist
        var model: [String] = []
        for _ in 0..<150 {
            let m = randomMember(&rng)
            if set.set(member: m, score: 0).added { model.append(m.string) }
        }
        model.sort { ByteString($0) < ByteString($1) }
        XCTAssertNil(set.invariantViolation())
        func randomBound() -> SortedSet.LexBound {
            let m = randomMember(&rng)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: return .minusInfinity
            case 1: return .plusInfinity
            case 2, 3: return .inclusive(m)
            default: return .exclusive(m)
            }
        }
        func above(_ s: String, _ bound: SortedSet.LexBound) -> Bool {
            switch bound {
            case .minusInfinity: return true
            case .plusInfinity: return false
            case .inclusive(let m): return !(ByteString(s) < m)
            case .exclusive(let m): return m < ByteString(s)
            }
        }
        func below(_ s: String, _ bound: SortedSet.LexBound) -> Bool {
            switch bound {
            case .minusInfinity: return false
            case .plusInfinity: return true
            case .inclusive(let m): return !(m < ByteString(s))
            case .exclusive(let m): return ByteString(s) < m
            }
        }
        for i in 0..<400 {
            let range = SortedSet.LexRange(min: randomBound(), max: randomBound())
            let reverse = Bool.random(using: &rng)
            let offset = Int.random(in: -1...3, using: &rng), limit = Int.random(in: -1...5, using: &rng)
            var expected = model.filter { above($0, range.min) && below($0, range.max) }
            XCTAssertEqual(set.count(in: range), expected.count, "lex \(i) \(range)")
            if reverse { expected.reverse() }
            let window = offset < 0 ? [] : Array(limit < 0 ? expected.dropFirst(offset) : expected.dropFirst(offset).prefix(limit))
            XCTAssertEqual(collect { set.forEach(in: range, reverse: reverse, offset: offset, limit: limit, $0) }, window,
                           "lex \(i) \(range) rev=\(reverse) limit \(offset) \(limit)")
        }
        let removed = set.removeElements(in: SortedSet.LexRange(min: .exclusive("m1"), max: .inclusive("m5")))
        XCTAssertEqual(removed, model.filter { ByteString("m1") < ByteString($0) && !(ByteString("m5") < ByteString($0)) }.count)
        XCTAssertNil(set.invariantViolation())
    }

    func testScanVisitsEveryMember() {
        let set = SortedSet()
        for i in 0..<300 { set.set(member: ByteString("member:\(i)"), score: Double(i % 7)) }
        var seen: [ByteString: Double] = [:]
        var cursor: UInt64 = 0
        var calls = 0
        repeat {
            cursor = set.scan(cursor: cursor, count: 10) { m, s in seen[m] = s }
            calls += 1
        } while cursor != 0 && calls < 10_000
        XCTAssertEqual(seen.count, 300)
        for (m, s) in seen { XCTAssertEqual(set.score(of: m), s) }
        var all = 0
        XCTAssertEqual(set.scan(cursor: 0, count: 1000) { _, _ in all += 1 }, 0, "a big COUNT finishes in one call")
        XCTAssertEqual(all, 300)
    }

    func testRandomMembers() {
        var rng = SeededRandom(seed: 5)
        let set = abcde()
        var histogram: [String: Int] = [:]
        for _ in 0..<5000 { histogram[set.randomElement(using: &rng)!.member.string, default: 0] += 1 }
        XCTAssertEqual(histogram.count, 5)
        for (_, hits) in histogram { XCTAssertGreaterThan(hits, 850); XCTAssertLessThan(hits, 1150) }
        for k in [1, 3, 4, 5, 9] {
            let picked = set.randomDistinctElements(count: k, using: &rng)
            XCTAssertEqual(picked.count, min(k, 5))
            XCTAssertEqual(Set(picked.map { $0.member }).count, picked.count, "distinct")
            for e in picked { XCTAssertEqual(set.score(of: e.member), e.score) }
        }
    }

    /// fillAscending (an RDB's elements) in both forms: elements in order fill the set; out-of-order ones, or a
    /// member repeated with another score (anywhere among 2, 100 or 200 elements: both hashes of the packed
    /// form's repeat check), leave it empty and return false.
    func testFillAscendingRefusesDisorderAndRepeats() {
        for skiplist in [false, true] {
            for n in [2, 100, 200] {
                let good: [SortedSet.Element] = (0..<n).map { (ByteString("m\($0)"), Double($0) * 1.5) }
                let set = SortedSet()
                set.skiplistEncoded = skiplist
                XCTAssertTrue(set.fillAscending(good))
                XCTAssertEqual(set.elements(inRanks: 0..<n).map { $0.member }, good.map { $0.member })
                XCTAssertNil(set.invariantViolation())
                for at in [0, n / 2, n - 1] {
                    var repeated = good
                    repeated[at].member = good[(at + 1) % n].member
                    let other = SortedSet()
                    other.skiplistEncoded = skiplist
                    XCTAssertFalse(other.fillAscending(repeated), "\(n) elements, repeat at \(at)")
                    XCTAssertTrue(other.isEmpty)
                    XCTAssertNil(other.invariantViolation())
                }
                let other = SortedSet()
                other.skiplistEncoded = skiplist
                XCTAssertFalse(other.fillAscending(good.reversed()))
                XCTAssertTrue(other.isEmpty)
            }
        }
    }

    /// A packed set past the small header's limits (16,384 pairs, 131,072 bytes: raised
    /// zset-max-listpack-* settings) moves to the big header, whether grown pair by pair, converted from the
    /// tree in one go, or copied.
    func testPackedSetsPastTheSmallHeader() {
        let z = SortedSet()
        for i in 0..<20000 { _ = z.set(member: ByteString("m\(i)"), score: Double(i % 997)) }
        z.checkInvariants()
        XCTAssertFalse(z.skiplistEncoded)
        XCTAssertEqual(z.count, 20000)
        XCTAssertEqual(z.score(of: ByteString("m19999")), Double(19999 % 997))
        XCTAssertTrue(z.remove(member: ByteString("m5")))
        XCTAssertEqual(z.count, 19999)
        let copy = z.duplicate()
        copy.checkInvariants()
        XCTAssertEqual(copy.elements(inRanks: 0..<copy.count).map(\.member), z.elements(inRanks: 0..<z.count).map(\.member))
        z.skiplistEncoded = true
        z.skiplistEncoded = false
        z.checkInvariants()
        XCTAssertEqual(z.count, 19999)
        ByteString("m19999").withUnsafeBytes { m in XCTAssertEqual(z.rank(of: m), copy.rank(of: m)) }

        let long = SortedSet()
        for i in 0..<5 { _ = long.set(member: ByteString([UInt8](repeating: UInt8(65 + i), count: 40000)), score: Double(i)) }
        long.checkInvariants()
        XCTAssertFalse(long.skiplistEncoded)
        XCTAssertEqual(long.element(atRank: 4)?.member.count, 40000)
    }

    /// The packed form: one buffer, about the encoded pairs' size (a 1-byte length, `member:N`, a score of 1
    /// to 5 bytes), freed in one step; converting to the tree costs what the tree costs.
    func testPackedMemoryAccounting() {
        let set = SortedSet()
        let empty = set.memoryUsage(samples: .max)
        for i in 0..<100 { set.set(member: ByteString("member:\(i)"), score: Double(i * 1000)) }
        let packed = set.memoryUsage(samples: .max)
        XCTAssertGreaterThan(packed, empty + 100 * 10)
        XCTAssertLessThan(packed, empty + 100 * 20 + 64)
        XCTAssertEqual(set.freeEffort, 1)
        set.skiplistEncoded = true
        XCTAssertGreaterThan(set.memoryUsage(samples: .max), packed + 100 * 48)
        XCTAssertEqual(set.freeEffort, 100)
        XCTAssertNil(set.invariantViolation())
    }

    func testMemoryAccounting() {
        let set = SortedSet()
        set.skiplistEncoded = true
        let empty = set.memoryUsage(samples: .max)
        for i in 0..<1000 { set.set(member: ByteString("member:\(i)"), score: Double(i)) }
        let small = set.memoryUsage(samples: .max)
        XCTAssertGreaterThan(small, empty + 1000 * 48)
        XCTAssertLessThan(small, empty + 1000 * 200)
        let long = String(repeating: "x", count: 100)
        set.set(member: ByteString(long), score: 0)
        XCTAssertGreaterThanOrEqual(set.memoryUsage(samples: .max) - small, 100)
        XCTAssertEqual(set.freeEffort, 1001)
        XCTAssertNil(set.invariantViolation())
        set.removeAll()
        XCTAssertEqual(set.count, 0)
        XCTAssertNil(set.invariantViolation())
    }
}
