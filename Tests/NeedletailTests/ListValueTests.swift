import CSystem
import XCTest
@testable import Needletail
import TestSupport

/// ListValue (Storage/ListValue.swift) against a model Array: seeded random operations at both ends and in
/// the middle, on lists with small and default node bounds, with `invariantViolation()` checked after every
/// mutation (bounded non-empty nodes, no adjacent pair that fits in one, codes and data that walk the same
/// both ways, integers stored canonically) and the contents compared with the model.
final class ListValueTests: XCTestCase {
    private func elements(_ list: ListValue) -> [ByteString] {
        var out: [ByteString] = []
        list.forEach { out.append($0.byteString) }
        return out
    }

    private func reversed(_ list: ListValue) -> [ByteString] {
        var out: [ByteString] = []
        list.forEach(from: list.count - 1, length: list.count, reverse: true) { out.append($0.byteString); return true }
        return out
    }

    private func check(_ list: ListValue, _ model: [ByteString], _ context: @autoclosure () -> String,
                       file: StaticString = #filePath, line: UInt = #line) -> Bool {
        if let problem = list.invariantViolation() {
            XCTFail("\(context()): \(problem)", file: file, line: line)
            return false
        }
        guard list.count == model.count, elements(list) == model else {
            XCTFail("\(context()): contents differ (\(list.count) vs \(model.count) elements)", file: file, line: line)
            return false
        }
        return true
    }

    private static let pool: [ByteString] = {
        var p: [ByteString] = ["xxx", "xxx", "xxx", "xxx", "a", "", "hello", "0", "1", "-1", "127", "128", "-128", "-129",
                               "32767", "32768", "-32768", "8388607", "8388608", "2147483648", "9223372036854775807",
                               "-9223372036854775808", "9223372036854775808", "01", "+1", "-0", " 1", "1 ", "1.5",
                               "12345678", "00000000001"]
        p.append(ByteString([UInt8](repeating: 0, count: 3)))
        p.append(ByteString([UInt8](repeating: 0xF0, count: 7)))
        p.append(ByteString([UInt8](repeating: 0x61, count: 191)))
        p.append(ByteString([UInt8](repeating: 0x62, count: 192)))
        p.append(ByteString([UInt8](repeating: 0xF1, count: 300)))
        p.append(ByteString([UInt8](repeating: 0x63, count: 5000)))
        return p
    }()

    /// With `prefixed`, nearly all values share a prefix ("job:" and digits, "job:" alone, or a 150-byte run and a
    /// tail), so sealed nodes store prefixes (ListValue, "Prefixes"); the rest come from the usual mix.
    private func value(_ rng: inout SeededRandom, prefixed: Bool = false) -> ByteString {
        if prefixed && !rng.oneIn(300) {
            switch rng.below(10) {
            case 0: return "job:"
            case 1: return ByteString([UInt8](repeating: 0x61, count: 150) + Array("\(rng.below(100_000))".utf8))
            case 2: return ByteString("job:\(rng.below(10))")
            default: return ByteString("job:\(rng.between(100_000, 100_999))")
            }
        }
        switch rng.below(20) {
        case 0: return ByteString(String(rng.between(-100_000, 100_000)))
        case 1: return ByteString((0..<rng.below(30)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        case 2 where rng.oneIn(40): return ByteString([UInt8](repeating: 0x64, count: rng.pick([65535, 65536, 70000])))
        default: return rng.pick(Self.pool)
        }
    }

    /// Random operations against the model, `steps` of them, on a list with `fill`.
    private func runModel(seed: UInt64, fill: Int, steps: Int, bias: Int, prefixed: Bool = false) {
        var rng = SeededRandom(seed: seed)
        let list = ListValue.make(fill: fill)
        var model: [ByteString] = []
        var mostNodes = 0
        defer { XCTAssertGreaterThan(mostNodes, bias > 0 && !prefixed ? 20 : 3, "seed \(seed) fill \(fill): the list spans nodes") }
        var prefixedNodes = 0
        defer {
            if prefixed { XCTAssertGreaterThan(prefixedNodes, 0, "seed \(seed) fill \(fill): prefixed nodes") }
        }
        for step in 0..<steps {
            mostNodes = max(mostNodes, list.nodes)
            prefixedNodes = max(prefixedNodes, (0..<list.nodes).filter { list.node($0).pointee.prefixLength > 0 }.count)
            let context = "seed \(seed) fill \(fill) step \(step)"
            // `bias` tilts toward pushes, so the list grows through many nodes before the removals.
            let op = rng.below(100)
            switch op {
            case 0..<(25 + bias):
                for _ in 0..<(rng.oneIn(4) ? rng.between(1, 40) : 1) {
                    let v = value(&rng, prefixed: prefixed)
                    v.withUnsafeBytes { list.append($0) }
                    model.append(v)
                }
            case (25 + bias)..<(45 + bias):
                for _ in 0..<(rng.oneIn(4) ? rng.between(1, 40) : 1) {
                    let v = value(&rng, prefixed: prefixed)
                    v.withUnsafeBytes { list.prepend($0) }
                    model.insert(v, at: 0)
                }
            case (45 + bias)..<(55 + bias):
                let head = rng.oneIn(2)
                let popped = list.pop(fromHead: head) { $0.byteString }
                XCTAssertEqual(popped, model.isEmpty ? nil : (head ? model.removeFirst() : model.removeLast()), context)
            case (55 + bias)..<(60 + bias):
                let n = model.isEmpty ? 0 : rng.between(0, min(model.count, rng.oneIn(10) ? 2000 : 20))
                if rng.oneIn(2) {
                    list.removeFirst(n)
                    model.removeFirst(n)
                } else {
                    list.removeLast(n)
                    model.removeLast(n)
                }
            case (60 + bias)..<(68 + bias):
                guard !model.isEmpty else { continue }
                let i = rng.below(model.count)
                let v = value(&rng, prefixed: prefixed)
                v.withUnsafeBytes { list.replace(at: i, with: PackedElement($0)) }
                model[i] = v
            case (68 + bias)..<(76 + bias):
                let i = rng.between(0, model.count)
                let v = value(&rng, prefixed: prefixed)
                v.withUnsafeBytes { list.insert(PackedElement($0), at: i) }
                model.insert(v, at: i)
            case (76 + bias)..<(82 + bias):
                let v = model.isEmpty || rng.oneIn(4) ? value(&rng, prefixed: prefixed) : rng.pick(model)
                let limit = rng.pick([0, 0, 1, 2, 5, 1000])
                let fromTail = rng.oneIn(2)
                let removed = v.withUnsafeBytes { list.removeAll(equalTo: PackedElement($0), limit: limit, fromTail: fromTail) }
                var expected = 0
                if fromTail {
                    var i = model.count - 1
                    while i >= 0 && (limit == 0 || expected < limit) {
                        if model[i] == v { model.remove(at: i); expected += 1 }
                        i -= 1
                    }
                } else {
                    var i = 0
                    while i < model.count && (limit == 0 || expected < limit) {
                        if model[i] == v { model.remove(at: i); expected += 1 } else { i += 1 }
                    }
                }
                XCTAssertEqual(removed, expected, context)
            case (82 + bias)..<(88 + bias):
                guard !model.isEmpty else { continue }
                let i = rng.below(model.count)
                XCTAssertEqual(list.withElement(at: i) { $0.byteString }, model[i], context)
                let v = rng.oneIn(2) ? model[i] : value(&rng, prefixed: prefixed)
                XCTAssertEqual(v.withUnsafeBytes { list.firstIndex(of: PackedElement($0)) }, model.firstIndex(of: v), context)
                continue
            case (88 + bias)..<(94 + bias):
                guard !model.isEmpty else { continue }
                let start = rng.below(model.count)
                if rng.oneIn(2) {
                    let length = rng.between(1, model.count - start)
                    var got: [ByteString] = []
                    list.forEach(from: start, length: length) { got.append($0.byteString); return true }
                    XCTAssertEqual(got, Array(model[start..<(start + length)]), context)
                } else {
                    let length = rng.between(1, start + 1)
                    var got: [ByteString] = []
                    list.forEach(from: start, length: length, reverse: true) { got.append($0.byteString); return true }
                    XCTAssertEqual(got, Array(model[(start - length + 1)...start].reversed()), context)
                }
                continue
            default:
                let copy = list.duplicate()
                if !check(copy, model, context + " (duplicate)") { return }
                XCTAssertEqual(reversed(copy), model.reversed(), context)
                continue
            }
            if !check(list, model, context) { return }
        }
        XCTAssertEqual(reversed(list), model.reversed(), "seed \(seed) fill \(fill): backward walk")
    }

    func testRandomOperationsAgainstAModelArray() {
        for (seed, fill) in [(1, -2), (2, -1), (3, 2), (4, 3), (5, 7), (6, 1), (7, 0), (8, -5), (9, 16), (10, -2)] {
            runModel(seed: UInt64(seed), fill: fill, steps: 1000, bias: 0)
        }
    }

    /// The same with values that share prefixes: nodes store them once, and every operation reads, edits,
    /// merges and re-packs them.
    func testRandomOperationsOnPrefixedNodes() {
        for (seed, fill) in [(21, -2), (22, -1), (23, 8), (24, 32), (25, -2)] {
            runModel(seed: UInt64(seed), fill: fill, steps: 1500, bias: 10, prefixed: true)
        }
    }

    /// A list of "v:%08d" (the memory benchmark's 10-byte strings): sealed nodes keep "v:0000" and the like
    /// once, and an element costs the bytes after it; every read gives the whole element back.
    func testSealedNodesStoreASharedPrefixOnce() {
        let list = ListValue.make()
        var model: [ByteString] = []
        for i in 0..<20_000 {
            let v = ByteString("v:\(String(repeating: "0", count: 8 - String(i).count))\(i)")
            v.withUnsafeBytes { list.append($0) }
            model.append(v)
        }
        XCTAssertNil(list.invariantViolation())
        let inner = (0..<(list.nodes - 1)).map { list.node($0).pointee }
        XCTAssertFalse(inner.isEmpty)
        for n in inner { XCTAssertGreaterThanOrEqual(n.prefixLength, 5, "every inner node shares at least v:000") }
        let innerBytes = inner.reduce(0) { $0 + $1.usedBytes }
        let innerCount = inner.reduce(0) { $0 + Int($1.count) }
        XCTAssertLessThan(Double(innerBytes) / Double(innerCount), 5.1, "bytes an element in inner nodes (10 without)")
        XCTAssertEqual(elements(list), model)
        XCTAssertEqual(reversed(list), model.reversed())
        XCTAssertEqual(list.withElement(at: 12_345) { $0.byteString }, model[12_345])
        XCTAssertEqual(model[777].withUnsafeBytes { list.firstIndex(of: PackedElement($0)) }, 777)
        // An edit in a prefixed node, one that breaks the prefix, and pops down into prefixed nodes.
        ByteString("v:x").withUnsafeBytes { list.replace(at: 5_000, with: PackedElement($0)) }
        model[5_000] = "v:x"
        ByteString("42").withUnsafeBytes { list.insert(PackedElement($0), at: 7_000) }
        model.insert("42", at: 7_000)
        for _ in 0..<3_000 { XCTAssertEqual(list.pop(fromHead: true) { $0.byteString }, model.removeFirst()) }
        list.prepend(ByteString("head"))
        model.insert("head", at: 0)
        XCTAssertNil(list.invariantViolation())
        XCTAssertEqual(elements(list), model)
        XCTAssertEqual(elements(list.duplicate()), model)
    }

    /// Nodes of one repeated element keep it once: no data at all per element.
    func testIdenticalElementsCostNoDataInSealedNodes() {
        let list = ListValue.make()
        for _ in 0..<10_000 { list.append(ByteString("xxx")) }
        XCTAssertNil(list.invariantViolation())
        let first = list.node(0).pointee
        XCTAssertEqual(first.prefixLength, 3)
        XCTAssertEqual(first.dataBytes, 0)
        XCTAssertEqual(list.count, 10_000)
        var all = true
        list.forEach { all = all && $0.byteString == "xxx" }
        XCTAssertTrue(all)
        XCTAssertEqual(list.pop(fromHead: false) { $0.byteString }, "xxx")
        XCTAssertNil(list.invariantViolation())
    }

    func testGrowingListsThroughManyNodes() {
        for (seed, fill) in [(11, -1), (12, 5), (13, -2), (14, 2)] {
            runModel(seed: UInt64(seed), fill: fill, steps: 1500, bias: 10)
        }
    }

    /// A long list of redis-benchmark's "xxx": uniform nodes (3 bytes an element, no codes), full to the
    /// bound; then other codes turn some nodes mixed.
    func testUniformNodes() {
        let list = ListValue.make()
        for _ in 0..<10_000 { list.append(ByteString("xxx")) }
        XCTAssertNil(list.invariantViolation())
        for i in 0..<list.nodes {
            XCTAssertTrue(list.node(i).pointee.isUniform)
            XCTAssertEqual(list.node(i).pointee.codeBytes, 0)
        }
        XCTAssertEqual(list.node(0).pointee.count, 8192 / 4, "the bound counts one code byte an element")
        list.prepend(ByteString("12345"))  // the head node is full: a new node, uniform in its own code
        XCTAssertEqual(list.nodes, 6)
        XCTAssertTrue(list.node(0).pointee.isUniform)
        ByteString("y").withUnsafeBytes { list.insert(PackedElement($0), at: 100) }
        XCTAssertNil(list.invariantViolation())
        XCTAssertFalse(list.node(1).pointee.isUniform, "another code in a uniform node writes its codes out")
        XCTAssertEqual(list.withElement(at: 0) { $0.byteString }, "12345")
        XCTAssertEqual(list.withElement(at: 0) { $0.isInteger }, true)
        XCTAssertEqual(list.withElement(at: 100) { $0.byteString }, "y")
        XCTAssertEqual(list.withElement(at: 5000) { $0.byteString }, "xxx")
    }

    /// Integers take the fewest bytes that hold them, and come back as the same text.
    func testIntegerWidths() {
        let cases: [(String, Int)] = [("0", 1), ("127", 1), ("-128", 1), ("128", 2), ("-129", 2), ("32767", 2),
                                      ("32768", 3), ("8388607", 3), ("8388608", 4), ("2147483647", 4),
                                      ("2147483648", 5), ("9223372036854775807", 8), ("-9223372036854775808", 8)]
        for (text, width) in cases {
            let list = ListValue.make()
            list.append(ByteString(text))
            XCTAssertEqual(list.withElement(at: 0) { $0.dataLength }, width, text)
            XCTAssertEqual(list.withElement(at: 0) { $0.byteString }, ByteString(text))
        }
        for text in ["01", "+1", "-0", " 1", "9223372036854775808", "1.0", ""] {
            let list = ListValue.make()
            list.append(ByteString(text))
            XCTAssertEqual(list.withElement(at: 0) { $0.isInteger }, false, text)
            XCTAssertEqual(list.withElement(at: 0) { $0.byteString }, ByteString(text))
        }
    }

    /// Draining a queue (RPUSH, LPOP) merges the head into its neighbour when they fit, so nodes stay full.
    func testQueueKeepsNodesFull() {
        let list = ListValue.make(fill: -1)
        var rng = SeededRandom(seed: 99)
        var model: [ByteString] = []
        for step in 0..<40_000 {
            if rng.below(100) < 55 {
                let v = ByteString(String(rng.between(0, 1 << 40)) + "-" + String(step))
                list.append(v)
                model.append(v)
            } else if !model.isEmpty {
                XCTAssertEqual(list.pop(fromHead: true) { $0.byteString }, model.removeFirst())
            }
            if step % 997 == 0 { XCTAssertNil(list.invariantViolation()) }
        }
        XCTAssertNil(list.invariantViolation())
        XCTAssertEqual(elements(list), model)
    }

    func testEmptyList() {
        let list = ListValue.make()
        XCTAssertEqual(list.count, 0)
        XCTAssertNil(list.pop(fromHead: true) { $0.byteString })
        XCTAssertNil(list.pop(fromHead: false) { $0.byteString })
        XCTAssertNil(ByteString("x").withUnsafeBytes { list.firstIndex(of: PackedElement($0)) })
        XCTAssertEqual(ByteString("x").withUnsafeBytes { list.removeAll(equalTo: PackedElement($0), limit: 0, fromTail: false) }, 0)
        list.removeFirst(0)
        list.removeLast(0)
        XCTAssertNil(list.invariantViolation())
        XCTAssertEqual(list.encodingName.description, "quicklist")
        list.append(ByteString("a"))
        XCTAssertEqual(list.pop(fromHead: false) { $0.byteString }, "a")
        XCTAssertNil(list.invariantViolation())
        XCTAssertEqual(list.nodes, 0)
    }

    /// A list that has never had two nodes keeps its node in the object's slot, and the object is 72 bytes
    /// (an 80-byte malloc chunk, where a 64-byte object and a 48-byte ring were); the second node moves the
    /// ring out for good, and a copy of a one-node list is back in its slot.
    func testSmallListKeepsItsNodeInTheObject() {
        let list = ListValue.make(fill: 4)
        XCTAssertEqual(cs_malloc_usable_size(Unmanaged.passUnretained(list).toOpaque()), 72)
        var model: [ByteString] = []
        for i in 0..<4 {
            list.append(ByteString("e\(i)"))
            model.append(ByteString("e\(i)"))
            XCTAssertFalse(list.hasExternalRing)
            XCTAssertTrue(check(list, model, "push \(i)"))
        }
        list.prepend(ByteString("head"))
        model.insert(ByteString("head"), at: 0)
        XCTAssertTrue(list.hasExternalRing)
        XCTAssertEqual(list.nodes, 2)
        XCTAssertTrue(check(list, model, "second node"))
        for _ in 0..<3 {
            XCTAssertEqual(list.pop(fromHead: false) { $0.byteString }, model.removeLast())
            XCTAssertTrue(check(list, model, "pop"))
        }
        XCTAssertEqual(list.nodes, 1)
        XCTAssertTrue(list.hasExternalRing)
        let copy = list.duplicate()
        XCTAssertFalse(copy.hasExternalRing)
        XCTAssertTrue(check(copy, model, "copy"))
        while list.count > 0 { _ = list.pop(fromHead: true) { _ in () } }
        XCTAssertTrue(check(list, [], "emptied"))
        XCTAssertEqual(ListValue.make(fill: 100_000).fill, 32767)
        XCTAssertEqual(ListValue.make(fill: -100).fill, -5)
    }

    func testSizeLimits() {
        XCTAssertEqual(ListValue.make(fill: -1).sizeLimit, 4096)
        XCTAssertEqual(ListValue.make(fill: -2).sizeLimit, 8192)
        XCTAssertEqual(ListValue.make(fill: -5).sizeLimit, 65536)
        XCTAssertEqual(ListValue.make(fill: -100).sizeLimit, 65536)
        XCTAssertEqual(ListValue.make(fill: 128).sizeLimit, 8192)
        let counted = ListValue.make(fill: 3)
        for i in 0..<10 { counted.append(ByteString(String(i))) }
        XCTAssertEqual((0..<counted.nodes).map { counted.node($0).pointee.count }, [3, 3, 3, 1])
    }
}
