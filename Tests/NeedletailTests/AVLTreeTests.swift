import XCTest
@testable import Needletail
import TestSupport

/// The model: a sorted array of (score, member) in the tree's order.
private struct SortedModel {
    var elements: [(score: Double, member: [UInt8])] = []

    static func less(_ a: (score: Double, member: [UInt8]), _ b: (score: Double, member: [UInt8])) -> Bool {
        if a.score != b.score { return a.score < b.score }
        return a.member.lexicographicallyPrecedes(b.member)
    }

    func position(_ e: (score: Double, member: [UInt8])) -> Int {
        var lo = 0, hi = elements.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if SortedModel.less(elements[mid], e) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    mutating func insert(_ e: (score: Double, member: [UInt8])) { elements.insert(e, at: position(e)) }

    /// Index of the first element for which `isBefore` is false (the predicate holds on a prefix).
    func partition(_ isBefore: ((score: Double, member: [UInt8])) -> Bool) -> Int {
        elements.firstIndex { !isBefore($0) } ?? elements.count
    }
}

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

final class AVLTreeTests: XCTestCase {
    private let scorePool: [Double] = [-.infinity, -3.5, -1, 0, 0, 1, 2, 2, 2.5, 10, 1e300, .infinity]

    private func randomMember(_ rng: inout SeededRandom) -> [UInt8] {
        // Short (inline) and long (heap) members, many sharing prefixes.
        let n = Int.random(in: 0..<300, using: &rng)
        switch n % 4 {
        case 0: return bytes("m\(n)")
        case 1: return bytes("member:\(String(repeating: "x", count: n % 30))\(n)")
        case 2: return bytes("\(n)")
        default: return n % 8 == 3 ? [] : [UInt8(n % 256), 0, UInt8(n % 7)]
        }
    }

    private func assertMatches(_ tree: AVLTree, _ model: SortedModel, _ context: String,
                               file: StaticString = #filePath, line: UInt = #line) -> Bool {
        if let problem = tree.invariantViolation() {
            XCTFail("\(context): invariant: \(problem)", file: file, line: line)
            return false
        }
        guard tree.count == model.elements.count else {
            XCTFail("\(context): count \(tree.count) vs model \(model.elements.count)", file: file, line: line)
            return false
        }
        return true
    }

    func testEmptyTree() {
        let tree = AVLTree()
        XCTAssertEqual(tree.count, 0)
        XCTAssertTrue(tree.isEmpty)
        XCTAssertNil(tree.invariantViolation())
        XCTAssertNil(tree.first(scoreAtLeast: -.infinity))
        XCTAssertNil(tree.last(scoreAtMost: .infinity))
        XCTAssertEqual(tree.ranks(scoreFrom: -.infinity, to: .infinity), 0..<0)
        XCTAssertEqual(tree.ranks(memberFrom: nil, to: nil), 0..<0)
        bytes("a").withUnsafeBytes { m in
            XCTAssertNil(tree.rank(member: m, score: 0))
            XCTAssertNil(tree.find(member: m, score: 0))
            XCTAssertNil(tree.first(memberAtLeast: m))
        }
        var visited = 0
        tree.forEach(fromRank: 0) { _ in visited += 1; return true }
        XCTAssertEqual(visited, 0)
        var copy = tree
        bytes("a").withUnsafeBytes { XCTAssertFalse(copy.remove(member: $0, score: 0)) }
        XCTAssertNil(copy.invariantViolation())
    }

    func testSingleElement() {
        var tree = AVLTree()
        tree.insert(member: "solo", score: 5)
        XCTAssertNil(tree.invariantViolation())
        XCTAssertEqual(tree.count, 1)
        XCTAssertEqual(tree.member(tree.node(atRank: 0)), "solo")
        XCTAssertEqual(tree.first(scoreAtLeast: 5)?.rank, 0)
        XCTAssertNil(tree.first(scoreAtLeast: 5, exclusive: true))
        XCTAssertEqual(tree.last(scoreAtMost: 5)?.rank, 0)
        XCTAssertNil(tree.last(scoreAtMost: 5, exclusive: true))
        XCTAssertEqual(tree.ranks(scoreFrom: 5, to: 5), 0..<1)
        XCTAssertEqual(tree.ranks(scoreFrom: 5, minExclusive: true, to: 6), 0..<0)
        bytes("solo").withUnsafeBytes { m in
            XCTAssertEqual(tree.rank(member: m, score: 5), 0)
            XCTAssertNil(tree.rank(member: m, score: 4))
            XCTAssertFalse(tree.remove(member: m, score: 4))
            XCTAssertTrue(tree.remove(member: m, score: 5))
        }
        XCTAssertNil(tree.invariantViolation())
        XCTAssertTrue(tree.isEmpty)
        tree.insert(member: "again", score: -1)
        XCTAssertEqual(tree.nodes.count, 1, "the freed slot is reused")
        XCTAssertNil(tree.invariantViolation())
    }

    /// Insert, remove, remove(atRank:), updateScore, and every query, against a sorted array.
    func testRandomOperationsAgainstSortedArray() {
        for seed: UInt64 in [1, 2, 3, 0xDEAD_BEEF] {
            if !runRandom(seed: seed, operations: 2500) { print("AVLTreeTests failing seed: \(seed)"); return }
        }
    }

    private func runRandom(seed: UInt64, operations: Int) -> Bool {
        var rng = SeededRandom(seed: seed)
        var tree = AVLTree()
        var model = SortedModel()
        var present: [[UInt8]: Double] = [:]
        for step in 0..<operations {
            let context = "seed \(seed) step \(step)"
            let op = Int.random(in: 0..<10, using: &rng)
            let growing = step < operations / 2
            if op < (growing ? 5 : 3) {
                let member = randomMember(&rng)
                let score = scorePool.randomElement(using: &rng)!
                if present[member] == nil {
                    present[member] = score
                    model.insert((score, member))
                    tree.insert(member: ByteString(member), score: score)
                }
            } else if op < 7, let (member, score) = present.randomElement(using: &rng) {
                present[member] = nil
                model.elements.remove(at: model.position((score, member)))
                let removed = member.withUnsafeBytes { tree.remove(member: $0, score: score) }
                XCTAssertTrue(removed, context)
                // Removing again, or with the wrong score, finds nothing.
                XCTAssertFalse(member.withUnsafeBytes { tree.remove(member: $0, score: score) }, context)
            } else if op == 7, !model.elements.isEmpty {
                let rank = Int.random(in: 0..<model.elements.count, using: &rng)
                let expected = model.elements.remove(at: rank)
                present[expected.member] = nil
                let got = tree.remove(atRank: rank)
                XCTAssertEqual(got.member.bytes, expected.member, context)
                XCTAssertEqual(got.score, expected.score, context)
            } else if let (member, old) = present.randomElement(using: &rng) {
                let new = scorePool.randomElement(using: &rng)!
                present[member] = new
                model.elements.remove(at: model.position((old, member)))
                model.insert((new, member))
                member.withUnsafeBytes { tree.updateScore(member: $0, from: old, to: new) }
            }
            guard assertMatches(tree, model, context) else { return false }
            if !checkQueries(tree, model, &rng, context) { return false }
        }
        // Drain completely.
        while let (member, score) = present.popFirst() {
            XCTAssertTrue(member.withUnsafeBytes { tree.remove(member: $0, score: score) })
        }
        XCTAssertNil(tree.invariantViolation())
        XCTAssertEqual(tree.count, 0)
        return true
    }

    private func checkQueries(_ tree: AVLTree, _ model: SortedModel, _ rng: inout SeededRandom,
                              _ context: String) -> Bool {
        let n = model.elements.count
        let failuresBefore = testRun?.failureCount ?? 0
        if n > 0 {
            let rank = Int.random(in: 0..<n, using: &rng)
            let e = model.elements[rank]
            let node = tree.node(atRank: rank)
            XCTAssertEqual(tree.member(node).bytes, e.member, context)
            XCTAssertEqual(tree.score(node), e.score, context)
            e.member.withUnsafeBytes { m in
                XCTAssertEqual(tree.rank(member: m, score: e.score), rank, context)
                XCTAssertEqual(tree.find(member: m, score: e.score), node, context)
            }
            // Walks from a random rank, both ways, compared element by element.
            let reverse = Bool.random(using: &rng)
            var expectedRank = rank
            var steps = 0
            tree.forEach(fromRank: rank, reverse: reverse) { node in
                XCTAssertEqual(tree.member(node).bytes, model.elements[expectedRank].member, context)
                expectedRank += reverse ? -1 : 1
                steps += 1
                return steps < 40
            }
            XCTAssertEqual(steps, min(40, reverse ? rank + 1 : n - rank), context)
        }
        // Score bounds at a random pool score or between scores.
        let x = Bool.random(using: &rng) ? scorePool.randomElement(using: &rng)! : Double.random(in: -5...15, using: &rng)
        for exclusive in [false, true] {
            let firstRank = model.partition { exclusive ? $0.score <= x : $0.score < x }
            XCTAssertEqual(tree.first(scoreAtLeast: x, exclusive: exclusive)?.rank, firstRank < n ? firstRank : nil,
                           "\(context) first x=\(x) exclusive=\(exclusive)")
            if let p = tree.first(scoreAtLeast: x, exclusive: exclusive) { XCTAssertEqual(p.node, tree.node(atRank: p.rank)) }
            let afterLast = model.partition { exclusive ? $0.score < x : $0.score <= x }
            XCTAssertEqual(tree.last(scoreAtMost: x, exclusive: exclusive)?.rank, afterLast > 0 ? afterLast - 1 : nil,
                           "\(context) last x=\(x) exclusive=\(exclusive)")
            if let p = tree.last(scoreAtMost: x, exclusive: exclusive) { XCTAssertEqual(p.node, tree.node(atRank: p.rank)) }
        }
        // Counts in a random score interval.
        let a = scorePool.randomElement(using: &rng)!, b = scorePool.randomElement(using: &rng)!
        let minEx = Bool.random(using: &rng), maxEx = Bool.random(using: &rng)
        let expectedCount = model.elements.filter {
            (minEx ? $0.score > a : $0.score >= a) && (maxEx ? $0.score < b : $0.score <= b)
        }.count
        XCTAssertEqual(tree.ranks(scoreFrom: a, minExclusive: minEx, to: b, maxExclusive: maxEx).count, expectedCount,
                       "\(context) count [\(a) \(minEx), \(b) \(maxEx)]")
        return (testRun?.failureCount ?? 0) == failuresBefore
    }

    /// With all scores equal the order is the member order, which the lex bounds search.
    func testLexBoundsWithEqualScores() {
        for seed: UInt64 in [7, 8, 9] {
            var rng = SeededRandom(seed: seed)
            var tree = AVLTree()
            var model = SortedModel()
            var members = Set<[UInt8]>()
            for _ in 0..<200 {
                let m = randomMember(&rng)
                if members.insert(m).inserted {
                    tree.insert(member: ByteString(m), score: 0)
                    model.insert((0, m))
                }
            }
            XCTAssertNil(tree.invariantViolation())
            let n = model.elements.count
            for _ in 0..<300 {
                let probe = randomMember(&rng) + (Bool.random(using: &rng) ? [] : [0])
                let context = "seed \(seed) probe \(probe)"
                probe.withUnsafeBytes { m in
                    for exclusive in [false, true] {
                        let lt: ((score: Double, member: [UInt8])) -> Bool = { $0.member.lexicographicallyPrecedes(probe) }
                        let le: ((score: Double, member: [UInt8])) -> Bool = { !probe.lexicographicallyPrecedes($0.member) }
                        let first = model.partition(exclusive ? le : lt)
                        XCTAssertEqual(tree.first(memberAtLeast: m, exclusive: exclusive)?.rank, first < n ? first : nil, context)
                        let afterLast = model.partition(exclusive ? lt : le)
                        XCTAssertEqual(tree.last(memberAtMost: m, exclusive: exclusive)?.rank, afterLast > 0 ? afterLast - 1 : nil, context)
                    }
                    let expected = model.elements.filter { !$0.member.lexicographicallyPrecedes(probe) }.count
                    XCTAssertEqual(tree.ranks(memberFrom: m, to: nil).count, expected, context)
                    XCTAssertEqual(tree.ranks(memberFrom: nil, to: m, maxExclusive: true).count, n - expected, context)
                }
            }
            XCTAssertEqual(tree.ranks(memberFrom: nil, to: nil), 0..<n)
        }
    }

    func testInfiniteScoresAndNegativeZero() {
        var tree = AVLTree()
        tree.insert(member: "pinf", score: .infinity)
        tree.insert(member: "ninf", score: -.infinity)
        tree.insert(member: "zero", score: -0.0)
        tree.insert(member: "also-zero", score: 0.0)
        XCTAssertNil(tree.invariantViolation())
        XCTAssertEqual((0..<4).map { tree.member(tree.node(atRank: $0)).string }, ["ninf", "also-zero", "zero", "pinf"])
        XCTAssertEqual(tree.ranks(scoreFrom: -.infinity, to: .infinity), 0..<4)
        XCTAssertEqual(tree.ranks(scoreFrom: -.infinity, minExclusive: true, to: .infinity, maxExclusive: true), 1..<3)
        XCTAssertEqual(tree.ranks(scoreFrom: 0, to: 0), 1..<3, "-0 and 0 are the same score")
        XCTAssertEqual(tree.first(scoreAtLeast: .infinity)?.rank, 3)
        XCTAssertNil(tree.first(scoreAtLeast: .infinity, exclusive: true))
        XCTAssertEqual(tree.last(scoreAtMost: -.infinity)?.rank, 0)
        XCTAssertNil(tree.last(scoreAtMost: -.infinity, exclusive: true))
        bytes("zero").withUnsafeBytes { XCTAssertTrue(tree.remove(member: $0, score: 0.0)) }
        XCTAssertNil(tree.invariantViolation())
    }

    func testSortedInsertionStaysBalancedAndFreeSlotsAreReused() {
        var tree = AVLTree()
        for i in 0..<5000 { tree.insert(member: ByteString("k\(i)"), score: Double(i)) }
        XCTAssertNil(tree.invariantViolation())
        XCTAssertLessThanOrEqual(Int(tree.nodes[Int(tree.root)].height), 16, "AVL height bound for 5000 nodes")
        for _ in 0..<100 { tree.remove(atRank: 0) }
        XCTAssertEqual(tree.freeCount, 100)
        for i in 0..<100 { tree.insert(member: ByteString("n\(i)"), score: -Double(i)) }
        XCTAssertEqual(tree.nodes.count, 5000, "inserts reuse freed slots before growing the pool")
        XCTAssertEqual(tree.freeCount, 0)
        XCTAssertNil(tree.invariantViolation())
    }

    func testSparsePoolIsCompacted() {
        var tree = AVLTree()
        for i in 0..<4096 { tree.insert(member: ByteString("member:\(i)"), score: Double(i % 17)) }
        // Remove from the middle so compaction has to preserve order across the gap.
        var removed = 0
        while tree.count > 1000 {
            tree.remove(atRank: tree.count / 2)
            removed += 1
            if removed % 97 == 0 { XCTAssertNil(tree.invariantViolation()) }
        }
        XCTAssertNil(tree.invariantViolation())
        XCTAssertLessThan(tree.nodes.count, 4096, "a pool three quarters free was compacted")
        XCTAssertGreaterThanOrEqual(tree.nodes.count, tree.count)
        var previous: (Double, ByteString)? = nil
        tree.forEach(fromRank: 0) { node in
            let current = (tree.score(node), tree.member(node))
            if let p = previous { XCTAssertTrue(p.0 < current.0 || (p.0 == current.0 && p.1 < current.1)) }
            previous = current
            return true
        }
        while !tree.isEmpty { tree.remove(atRank: tree.count - 1) }
        XCTAssertNil(tree.invariantViolation())
    }
}
