import XCTest
@testable import Needletail
import TestSupport

/// HashValue against a Dictionary model, with `checkInvariants()` after every mutation, in both encodings
/// and across the one-way conversion.
final class HashValueTests: XCTestCase {
    private let defaults = HashValue.Limits(entries: 512, value: 64)

    private func set(_ h: HashValue, _ f: ByteString, _ v: ByteString, _ limits: HashValue.Limits) -> Bool {
        h.set(f, v, limits: limits)
    }

    private func remove(_ h: HashValue, _ f: ByteString) -> Bool { f.withUnsafeBytes { h.remove($0) } }

    private func assertMatches(_ h: HashValue, _ model: [ByteString: ByteString], order: [ByteString]? = nil,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(h.count, model.count, file: file, line: line)
        let pairs = h.pairs
        XCTAssertEqual(pairs.count, model.count, file: file, line: line)
        for (f, v) in pairs { XCTAssertEqual(model[f], v, "field \(f)", file: file, line: line) }
        if let order { XCTAssertEqual(pairs.map(\.field), order, "insertion order", file: file, line: line) }
    }

    func testEmptyAndBasics() {
        let h = HashValue()
        h.checkInvariants()
        XCTAssertEqual(h.count, 0)
        XCTAssertEqual("\(h.encodingName)", "listpack")
        XCTAssertNil(h.value(of: "a"))
        XCTAssertFalse(remove(h, "a"))
        XCTAssertTrue(set(h, "a", "1", defaults))
        XCTAssertFalse(set(h, "a", "22", defaults))
        XCTAssertTrue(set(h, "", "", defaults))
        XCTAssertTrue(set(h, "b\0c", "x", defaults))
        h.checkInvariants()
        XCTAssertEqual(h.value(of: "a"), "22")
        XCTAssertEqual(h.value(of: ""), "")
        XCTAssertEqual(h.value(of: "b\0c"), "x")
        XCTAssertEqual(h.pairs.map(\.field), ["a", "", "b\0c"])
        XCTAssertTrue(remove(h, ""))
        h.checkInvariants()
        XCTAssertEqual(h.pairs.map(\.field), ["a", "b\0c"])
    }

    /// Length prefixes of 1, 2 and 5 bytes, and values that grow and shrink across them in place.
    func testElementSizes() {
        let h = HashValue()
        let big = HashValue.Limits(entries: 512, value: 1 << 20)
        let lengths = [0, 1, 127, 128, 129, 16383, 16384, 70000]
        for (i, n) in lengths.enumerated() {
            XCTAssertTrue(set(h, ByteString("f\(i)"), ByteString([UInt8](repeating: UInt8(i), count: n)), big))
            h.checkInvariants()
        }
        for (i, n) in lengths.enumerated().reversed() {
            let m = lengths[(i + 3) % lengths.count]
            XCTAssertFalse(set(h, ByteString("f\(i)"), ByteString([UInt8](repeating: 7, count: m)), big))
            h.checkInvariants()
            XCTAssertEqual(h.value(of: ByteString("f\(i)"))?.count, m, "was \(n)")
        }
        XCTAssertTrue(h.isPacked)
        XCTAssertEqual(h.pairs.map(\.field), (0..<lengths.count).map { ByteString("f\($0)") })
    }

    /// A compact hash past the small header's limits (131,072 bytes of pairs, 16,384 pairs, as only raised
    /// hash-max-listpack-* settings allow) moves to the big header and keeps working, both ways it gets there.
    func testPastTheSmallHeader() {
        let wide = HashValue.Limits(entries: 40000, value: 1 << 20)
        let long = HashValue()
        var model: [ByteString: ByteString] = [:]
        for i in 0..<6 {
            let value = ByteString([UInt8](repeating: UInt8(i), count: 30000))
            XCTAssertTrue(long.set(ByteString("f\(i)"), value, limits: wide))
            model[ByteString("f\(i)")] = value
            long.checkInvariants()
        }
        XCTAssertFalse(long.set("f2", "short now", limits: wide))
        model["f2"] = "short now"
        XCTAssertTrue(long.isPacked)
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: long.pairs.map { ($0.field, $0.value) }), model)

        let many = HashValue()
        for i in 0..<20000 { XCTAssertTrue(many.set(ByteString("\(i)"), "v", limits: wide)) }
        many.checkInvariants()
        XCTAssertTrue(many.isPacked)
        XCTAssertEqual(many.count, 20000)
        XCTAssertEqual(many.value(of: "19999"), "v")
        XCTAssertTrue(ByteString("0").withUnsafeBytes { many.remove($0) })
        XCTAssertEqual(many.count, 19999)
        let copy = many.duplicate()
        copy.checkInvariants()
        XCTAssertEqual(copy.pairs.map(\.field), many.pairs.map(\.field))
        // Sized for the pairs with the small header, then moved to the big one mid-fill (the loader's path).
        let reserved = HashValue()
        reserved.reserve(encodedBytes: 17000 * 4)
        for i in 0..<17000 {
            let added = ByteString("\(i)").withUnsafeBytes { f in ByteString("v").withUnsafeBytes { reserved.setNew(f, $0, limits: wide) } }
            XCTAssertTrue(added)
        }
        reserved.shrinkToFit()
        reserved.checkInvariants()
        XCTAssertEqual(reserved.count, 17000)
        XCTAssertEqual(reserved.value(of: "16999"), "v")
    }

    func testConversionPoints() {
        let limits = HashValue.Limits(entries: 4, value: 8)
        let h = HashValue()
        for i in 0..<4 { XCTAssertTrue(set(h, ByteString("f\(i)"), "v", limits)) }
        XCTAssertTrue(h.isPacked)
        XCTAssertFalse(set(h, "f0", "12345678", limits))  // exactly the limit: stays
        XCTAssertTrue(h.isPacked)
        XCTAssertTrue(set(h, "f4", "v", limits))  // 5 > 4 entries
        XCTAssertFalse(h.isPacked)
        XCTAssertEqual("\(h.encodingName)", "hashtable")
        h.checkInvariants()
        XCTAssertTrue(remove(h, "f4"))
        XCTAssertFalse(h.isPacked, "never converts back")

        let long = HashValue()
        XCTAssertTrue(set(long, "a", "b", limits))
        XCTAssertTrue(set(long, "123456789", "b", limits))  // field of 9 > 8
        XCTAssertFalse(long.isPacked)
        let longValue = HashValue()
        XCTAssertTrue(set(longValue, "a", "123456789", limits))
        XCTAssertFalse(longValue.isPacked)

        // hashTypeTryConversion: the longest argument decides before anything is inserted.
        let pre = HashValue()
        pre.convertIfNeeded(longestArgument: 8, totalArgumentBytes: 16, limits: limits)
        XCTAssertTrue(pre.isPacked)
        pre.convertIfNeeded(longestArgument: 9, totalArgumentBytes: 16, limits: limits)
        XCTAssertFalse(pre.isPacked)
        pre.checkInvariants()

        // A lowered entries limit converts on the next set, even an update (as Redis's hashTypeSet).
        let lowered = HashValue()
        for i in 0..<3 { _ = set(lowered, ByteString("f\(i)"), "v", defaults) }
        XCTAssertFalse(set(lowered, "f0", "w", HashValue.Limits(entries: 2, value: 64)))
        XCTAssertFalse(lowered.isPacked)
        XCTAssertEqual(lowered.value(of: "f0"), "w")
    }

    func testDuplicateKeepsEncodingAndSharesNothing() {
        for limits in [defaults, HashValue.Limits(entries: 2, value: 64)] {
            let h = HashValue()
            for i in 0..<5 { _ = set(h, ByteString("f\(i)"), ByteString("v\(i)"), limits) }
            let copy = h.duplicate()
            copy.checkInvariants()
            XCTAssertEqual(copy.isPacked, h.isPacked)
            XCTAssertEqual(copy.pairs.map(\.field), h.pairs.map(\.field))
            _ = set(copy, "f0", "changed", limits)
            XCTAssertEqual(h.value(of: "f0"), "v0")
            XCTAssertEqual(h.freeEffort, h.isPacked ? 1 : 5)
        }
    }

    /// Seeded random operations against a Dictionary (plus an insertion-order array while packed), with
    /// thresholds low enough that many hashes convert midway.
    func testRandomAgainstModel() {
        for seed in UInt64(1)...40 {
            var rng = SeededRandom(seed: seed)
            let limits = HashValue.Limits(entries: rng.between(1, 40), value: rng.between(0, 200))
            let h = HashValue()
            var model: [ByteString: ByteString] = [:]
            var order: [ByteString] = []
            let fieldPool = (0..<60).map { i -> ByteString in
                i % 7 == 0 ? ByteString([UInt8](repeating: UInt8(i), count: rng.between(0, 300))) : ByteString("field:\(i)")
            }
            for step in 0..<600 {
                let field = rng.pick(fieldPool)
                switch rng.below(10) {
                case 0...5:
                    let value = ByteString([UInt8](repeating: UInt8(step & 0xFF), count: rng.pick([0, 1, 5, 60, 130, 250])))
                    let wasPacked = h.isPacked
                    let inserted = set(h, field, value, limits)
                    XCTAssertEqual(inserted, model[field] == nil, "seed \(seed) step \(step)")
                    if model[field] == nil { order.append(field) }
                    model[field] = value
                    if wasPacked {
                        let shouldConvert = field.count > limits.value || value.count > limits.value
                            || model.count > limits.entries
                        XCTAssertEqual(h.isPacked, !shouldConvert, "seed \(seed) step \(step)")
                    } else {
                        XCTAssertFalse(h.isPacked)
                    }
                case 6...8:
                    let removed = remove(h, field)
                    XCTAssertEqual(removed, model.removeValue(forKey: field) != nil, "seed \(seed) step \(step)")
                    order.removeAll { $0 == field }
                default:
                    XCTAssertEqual(h.value(of: field), model[field])
                    XCTAssertEqual(field.withUnsafeBytes { h.contains($0) }, model[field] != nil)
                }
                h.checkInvariants()
                if step % 50 == 0 { assertMatches(h, model, order: h.isPacked ? order : nil) }
            }
            assertMatches(h, model, order: h.isPacked ? order : nil)
        }
    }

    private func randomShapes(_ h: HashValue, count: Int, distinct: Bool, seed: UInt64) -> [ByteString] {
        var rng = SeededRandom(seed: seed)
        var out: [ByteString] = []
        h.forEachRandomPair(count: count, distinct: distinct, using: &rng) { f, v in
            XCTAssertEqual(h.value(of: ByteString(f)), ByteString(v))
            out.append(ByteString(f))
        }
        return out
    }

    /// HRANDFIELD's cases: sizes of the answers, distinctness, and the order Redis gives where it is fixed.
    func testRandomPairCases() {
        for limits in [defaults, HashValue.Limits(entries: 1, value: 64)] {
            let h = HashValue()
            let fields = (0..<30).map { ByteString("f\($0)") }
            for f in fields { _ = set(h, f, f, limits) }
            // Case 1: repeats allowed, exactly |count|.
            XCTAssertEqual(randomShapes(h, count: 100, distinct: false, seed: 1).count, 100)
            // Case 2: the whole hash, in insertion order when packed.
            let whole = randomShapes(h, count: 31, distinct: true, seed: 2)
            if h.isPacked { XCTAssertEqual(whole, fields) } else { XCTAssertEqual(Set(whole), Set(fields)) }
            // Case 3 (count * 3 > size) and case 4: distinct, and in order for case 4 when packed.
            for count in [11, 25, 9, 2] {
                let picked = randomShapes(h, count: count, distinct: true, seed: UInt64(count))
                XCTAssertEqual(picked.count, count)
                XCTAssertEqual(Set(picked).count, count)
                if h.isPacked && count * 3 <= 30 {
                    XCTAssertEqual(picked, fields.filter { picked.contains($0) }, "case 4 keeps listpack order")
                }
            }
        }
    }

    /// Every field turns up about equally often in every case (chi-square, as Redis's tests check).
    func testRandomPairUniformity() {
        for limits in [defaults, HashValue.Limits(entries: 1, value: 64)] {
            let h = HashValue()
            for i in 0..<10 { _ = set(h, ByteString("f\(i)"), "v", limits) }
            var rng = SeededRandom(seed: 7)
            var single: [ByteString: Int] = [:]
            for _ in 0..<4000 { h.withRandomPair(using: &rng) { f, _ in single[ByteString(f), default: 0] += 1 } }
            let chiSingle = single.values.reduce(0.0) { $0 + pow(Double($1) - 400, 2) / 400 }
            XCTAssertEqual(single.count, 10)
            XCTAssertLessThan(chiSingle, 40, "withRandomPair, packed \(h.isPacked)")
            for (count, distinct) in [(1, true), (-1, false), (5, true), (3, true)] {
                var rng = SeededRandom(seed: 99)
                var hits: [ByteString: Int] = [:]
                var draws = 0
                for _ in 0..<4000 {
                    h.forEachRandomPair(count: abs(count), distinct: distinct, using: &rng) { f, _ in
                        hits[ByteString(f), default: 0] += 1
                        draws += 1
                    }
                }
                let expected = Double(draws) / 10
                let chi = hits.values.reduce(0.0) { $0 + pow(Double($1) - expected, 2) / expected }
                XCTAssertEqual(hits.count, 10)
                XCTAssertLessThan(chi, 40, "count \(count) packed \(h.isPacked)")  // df 9: p < 1e-5
            }
        }
    }

    func testScan() {
        let packed = HashValue()
        for i in 0..<20 { _ = set(packed, ByteString("f\(i)"), "v", defaults) }
        var seen: [ByteString] = []
        XCTAssertEqual(packed.scan(cursor: 12345) { f, _ in seen.append(f) }, 0)
        XCTAssertEqual(seen, (0..<20).map { ByteString("f\($0)") })

        let table = HashValue()
        for i in 0..<1000 { _ = set(table, ByteString("f\(i)"), "v", HashValue.Limits(entries: 10, value: 64)) }
        var all = Set<ByteString>()
        var cursor: UInt64 = 0
        repeat { cursor = table.scan(cursor: cursor) { f, _ in all.insert(f) } } while cursor != 0
        XCTAssertEqual(all.count, 1000)
    }
}

/// FieldNames (hash field names stored once) on its own, and in the hashes that use it.
final class FieldNamesTests: XCTestCase {
    private let defaults = HashValue.Limits(entries: 512, value: 64)

    /// Names unique to this run, so other tests' names in the shared table do not matter.
    private func freshNames(_ count: Int, length: Int = 12) -> [ByteString] {
        let run = UInt64.random(in: 0..<UInt64.max)
        return (0..<count).map { i in
            let name = "n\(i)-\(run)"
            return ByteString(String(name.prefix(length)).padding(toLength: length, withPad: "x", startingAt: 0))
        }
    }

    private func interning(_ names: FieldNames, _ name: ByteString) -> Int? { name.withUnsafeBytes { names.idForStoring($0) } }

    func testNamesAreInternedAtTheThresholdWithOneAndThreeByteCodes() {
        let names = FieldNames()
        let fields = (0..<100).map { ByteString("field-\($0)") }
        for f in fields {
            for _ in 1..<FieldNames.threshold { XCTAssertNil(interning(names, f), "not yet seen in enough hashes") }
            XCTAssertNotNil(interning(names, f))
        }
        XCTAssertEqual(names.count, 100)
        for (i, f) in fields.enumerated() {
            let id = f.withUnsafeBytes { names.id(of: $0) }
            XCTAssertEqual(id, i, "ids in the order names were interned")
            XCTAssertEqual(ByteString(names.name(i)), f)
            XCTAssertEqual(FieldNames.codeSize(i), i < 62 ? 1 : 3)
        }
        // Too short to gain, or longer than a compact hash holds: never interned.
        for f in [ByteString("a"), ByteString([UInt8](repeating: 7, count: 65))] {
            for _ in 0..<20 { XCTAssertNil(interning(names, f)) }
        }
        // Past the one-byte codes a 2-byte name is not interned: its 3-byte code would be no shorter than the
        // literal.
        let two = ByteString("zz")
        for _ in 0..<20 { XCTAssertNil(interning(names, two)) }
        XCTAssertNil(two.withUnsafeBytes { names.id(of: $0) })
        XCTAssertEqual(names.count, 100)
        // While one-byte codes remain, it is.
        let fresh = FieldNames()
        for _ in 1..<FieldNames.threshold { XCTAssertNil(interning(fresh, two)) }
        XCTAssertEqual(interning(fresh, two), 0)
    }

    /// Hashes built after a name's threshold store its code; hashes built before keep the literal; both read
    /// back the same pairs, find, update and delete the field whichever way it is stored.
    func testHashesStoreCodesForRepeatedNames() {
        let fields = freshNames(80)
        var hashes: [HashValue] = []
        for n in 0..<Int(FieldNames.threshold) + 3 {
            let h = HashValue()
            for (i, f) in fields.enumerated() { XCTAssertTrue(h.set(f, ByteString("v\(n)-\(i)"), limits: defaults)) }
            h.checkInvariants()
            hashes.append(h)
        }
        let ids = fields.map { f in f.withUnsafeBytes { FieldNames.shared.id(of: $0) } }
        XCTAssertFalse(ids.contains(nil), "every name seen in enough hashes is interned")
        let valueBytes = { (h: HashValue) in h.pairs.reduce(0) { $0 + 1 + $1.value.count } }
        XCTAssertEqual(hashes[0].packedBytes, valueBytes(hashes[0]) + fields.count * 13, "the first hashes: literal names")
        let last = hashes.last!
        XCTAssertEqual(last.packedBytes, valueBytes(last) + ids.reduce(0) { $0 + FieldNames.codeSize($1!) }, "later hashes: codes")
        for (n, h) in hashes.enumerated() {
            XCTAssertEqual(h.pairs.map(\.field), fields)
            XCTAssertEqual(h.value(of: fields[17]), ByteString("v\(n)-17"))
            XCTAssertFalse(h.set(fields[3], "updated", limits: defaults), "found whether coded or literal")
            XCTAssertTrue(fields[5].withUnsafeBytes { h.remove($0) })
            XCTAssertTrue(h.set(fields[5], "back", limits: defaults))
            h.checkInvariants()
            XCTAssertEqual(h.value(of: fields[3]), "updated")
            XCTAssertEqual(h.pairs.last?.field, fields[5])
            let copy = h.duplicate()
            copy.convertToTable()
            copy.checkInvariants()
            XCTAssertEqual(Dictionary(uniqueKeysWithValues: copy.pairs.map { ($0.field, $0.value) }),
                           Dictionary(uniqueKeysWithValues: h.pairs.map { ($0.field, $0.value) }))
        }
    }

    /// The RDB loader builds hashes on several threads at once: interning and lookups race there (run under
    /// ThreadSanitizer by scripts/sanitize.sh).
    func testConcurrentInterning() {
        let fields = freshNames(70, length: 20)
        let limits = defaults
        let results = UnsafeMutablePointer<Bool>.allocate(capacity: 4)
        results.initialize(repeating: false, count: 4)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            var ok = true
            for n in 0..<40 {
                let h = HashValue()
                for (i, f) in fields.enumerated() { _ = h.set(f, ByteString("\(t)/\(n)/\(i)"), limits: limits) }
                h.checkInvariants()
                ok = ok && h.pairs.map(\.field) == fields && h.value(of: fields[69]) == ByteString("\(t)/\(n)/69")
            }
            results[t] = ok
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: results, count: 4)), [true, true, true, true])
        XCTAssertFalse(fields.contains { f in f.withUnsafeBytes { FieldNames.shared.id(of: $0) } == nil })
    }
}
