import XCTest
@testable import Needletail
import TestSupport

/// InlineIntSet (Storage/InlineIntSet.swift) against a model: a sorted array and Redis's width, widened as
/// intset.c widens it. Every change is followed by the structural check (canonical bytes, ascending,
/// within Redis's width) and a comparison with the model; when the set refuses a value as `.full`, an
/// independent size count must agree that it does not fit. The Redis intset it gives back (DUMP's and the
/// RDB's bytes) must equal that of a SetValue that saw the same additions.
final class InlineIntSetTests: XCTestCase {
    /// Redis's width for a value (intset.c's _intsetValueEncoding).
    private func redisWidth(_ v: Int64) -> Int {
        v < Int64(Int32.min) || v > Int64(Int32.max) ? 8 : v < Int64(Int16.min) || v > Int64(Int16.max) ? 4 : 2
    }

    /// The bytes the layout needs for `values` (sorted): 2 of header, the first value in 1, 2, 4 or 8 bytes
    /// (signed), each other as its distance from the first in 1, 2, 4 or 8 bytes (unsigned).
    private func encodedSize(_ values: [Int64]) -> Int {
        guard let first = values.first else { return 2 }
        let base = [1, 2, 4, 8].first { w in w == 8 || (first >= -(Int64(1) << (8 * w - 1)) && first < Int64(1) << (8 * w - 1)) }!
        let span = UInt64(bitPattern: values.last!) &- UInt64(bitPattern: first)
        let offset = [1, 2, 4, 8].first { w in w == 8 || span < UInt64(1) << (8 * w) }!
        return 2 + base + (values.count - 1) * offset
    }

    /// Values near every width's edges, clustered values, and anything.
    private func randomValue(_ r: inout SeededRandom, near anchor: Int64) -> Int64 {
        switch r.below(6) {
        case 0: return r.pick([0, 1, -1, 127, 128, -128, -129, 255, 256, 32767, 32768, -32768, -32769, 65535, 65536,
                               Int64(Int32.max), Int64(Int32.max) + 1, Int64(Int32.min), Int64(Int32.min) - 1,
                               Int64.max, Int64.min, Int64.max - 1, Int64.min + 1])
        case 1, 2: return anchor &+ Int64(r.between(-20, 20))
        case 3: return anchor &+ Int64(r.between(-70_000, 70_000))
        case 4: return Int64(r.between(-1000, 1000))
        default: return Int64(bitPattern: r.next())
        }
    }

    private func check(_ set: InlineIntSet, _ model: [Int64], _ width: Int, _ context: @autoclosure () -> String,
                       file: StaticString = #filePath, line: UInt = #line) {
        if let problem = set.invariantViolation() { return XCTFail("\(context()): \(problem)", file: file, line: line) }
        XCTAssertEqual(set.count, model.count, context(), file: file, line: line)
        var values: [Int64] = []
        set.forEach { values.append($0) }
        XCTAssertEqual(values, model, context(), file: file, line: line)
        XCTAssertEqual(set.redisWidth, width, context(), file: file, line: line)
    }

    func testSeededAgainstModel() {
        for seed in UInt64(1)...400 {
            var r = SeededRandom(seed: seed)
            var set = InlineIntSet()
            var model: [Int64] = []
            var width = 2
            // What Redis's intset would be after the same changes: a SetValue that sees them all.
            var reference = SetValue()
            var anchor = randomValue(&r, near: 0)
            for step in 0..<120 {
                let context = "seed \(seed) step \(step)"
                if r.oneIn(15) { anchor = randomValue(&r, near: anchor) }
                let v = r.oneIn(3) && !model.isEmpty ? r.pick(model) : randomValue(&r, near: anchor)
                if r.below(3) < 2 {
                    let before = set
                    switch set.insert(v) {
                    case .present:
                        XCTAssertTrue(model.contains(v), context)
                    case .inserted:
                        XCTAssertFalse(model.contains(v), context)
                        model.append(v)
                        model.sort()
                        width = max(width, redisWidth(v))
                        reference.add(.integer(v), maxIntsetEntries: 512)
                    case .full:
                        XCTAssertFalse(model.contains(v), context)
                        let grown = (model + [v]).sorted()
                        XCTAssertTrue(grown.count > InlineIntSet.maxCount || encodedSize(grown) > 23,
                                      "\(context): \(v) refused though \(grown) takes \(encodedSize(grown)) bytes")
                        var unchanged: [Int64] = []
                        before.forEach { unchanged.append($0) }
                        check(set, unchanged, width, "\(context): changed by a refused value")
                        // Start again from a few values, as a set that moved to a SetValue would leave.
                        set = InlineIntSet()
                        model = []
                        width = 2
                        reference = SetValue()
                        continue
                    }
                } else {
                    switch set.remove(v) {
                    case .absent:
                        XCTAssertFalse(model.contains(v), context)
                    case .removed:
                        XCTAssertTrue(model.contains(v), context)
                        model.removeAll { $0 == v }
                        reference.remove(.integer(v))
                    case .full:
                        XCTAssertEqual(v, model.first, "\(context): only removing the first value can need more room")
                        let shrunk = Array(model.dropFirst())
                        XCTAssertTrue(encodedSize(shrunk) > 23, "\(context): removing \(v) refused though \(shrunk) fits")
                        check(set, model, width, "\(context): changed by a refused removal")
                        continue
                    }
                }
                check(set, model, width, context)
                XCTAssertEqual(set.contains(v), model.contains(v), context)
                XCTAssertEqual(SetValue(set).intsetBlob, reference.intsetBlob, context)
                set.withRedisBlob { XCTAssertEqual(Array($0), reference.intsetBlob, context) }
                if model.count <= InlineIntSet.maxCount {
                    XCTAssertEqual(encodedSize(model) <= 23, true, "\(context): the model outgrew the bytes")
                }
            }
        }
    }

    /// A SetValue's intset comes inline when it fits, values and Redis's width kept; not when it does not.
    func testFromIntSet() {
        let set = SetValue()
        for v in [5, 1, 100_000] { set.add(.integer(Int64(v)), maxIntsetEntries: 512) }
        set.remove(.integer(100_000))  // Redis's width stays 4
        guard let inline = set.inlineForm else { return XCTFail("three values did not fit") }
        check(inline, [1, 5], 4, "from a SetValue")
        XCTAssertEqual(SetValue(inline).intsetBlob, set.intsetBlob)

        let far = SetValue()
        for v: Int64 in [0, Int64.max, Int64.min, 1, 2, 3] { far.add(.integer(v), maxIntsetEntries: 512) }
        XCTAssertNil(far.inlineForm, "six 8-byte distances do not fit 23 bytes")
        let many = SetValue()
        for v in 0..<Int64(InlineIntSet.maxCount + 1) { many.add(.integer(v), maxIntsetEntries: 512) }
        XCTAssertNil(many.inlineForm)
        many.remove(.integer(0))
        XCTAssertNotNil(many.inlineForm, "21 values one apart fit")
        let strings = SetValue(hashtableCapacity: 0)
        strings.add(.integer(1), maxIntsetEntries: 512)
        XCTAssertNil(strings.inlineForm, "a hashtable is never inline")
    }

    /// Removing the first value makes the second the base, which can take a wider field than the distances
    /// give back: the set refuses (the caller moves it to a SetValue) and stays as it was.
    func testRemovingTheFirstValueCanNeedMoreRoom() {
        for values: [Int64] in [[0] + (0..<10).map { 40_000 + $0 * 1000 },
                                [2_147_483_600] + (0..<17).map { 2_147_483_648 + $0 }] {
            var set = InlineIntSet()
            for v in values { XCTAssertEqual(set.insert(v), .inserted, "\(values)") }
            XCTAssertEqual(encodedSize(values), 23)
            XCTAssertEqual(set.remove(values[0]), .full, "\(values)")
            check(set, values, values.contains { $0 > Int64(Int32.max) } ? 8 : 4, "after the refused removal")
            XCTAssertEqual(set.remove(values[1]), .removed, "any other value can go")
        }
    }

    /// The case the form is for: ten consecutive 7-digit integers, and the most values it holds.
    func testCapacity() {
        var set = InlineIntSet()
        for v in Int64(9_999_990)..<10_000_000 { XCTAssertEqual(set.insert(v), .inserted) }
        check(set, Array(9_999_990..<10_000_000), 4, "ten 7-digit values")
        var small = InlineIntSet()
        for v in Int64(0)..<Int64(InlineIntSet.maxCount) { XCTAssertEqual(small.insert(v), .inserted) }
        XCTAssertEqual(small.insert(100), .full)
        XCTAssertEqual(small.insert(5), .present)
        check(small, Array(0..<Int64(InlineIntSet.maxCount)), 2, "21 small values")
    }
}
