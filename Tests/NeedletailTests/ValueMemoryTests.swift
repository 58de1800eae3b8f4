import XCTest
@testable import Needletail

/// `Value.memoryUsage(samples:)` (MEMORY USAGE) for every type and form: what each allocation holds, growth with
/// the contents, and sampling that matches the exact sum when every element is measured or alike.
final class ValueMemoryTests: XCTestCase {
    func testStrings() {
        XCTAssertEqual(Value.string(ByteString("short")).memoryUsage(samples: 5), 0, "lives in the entry")
        let long = Value.string(ByteString(String(repeating: "x", count: 1000)))
        XCTAssertGreaterThanOrEqual(long.memoryUsage(samples: 5), 1000)
        XCTAssertLessThan(long.memoryUsage(samples: 5), 1100)
    }

    func testListNodesAreSampled() {
        let list = ListValue.make(fill: 4)  // 4 elements per node: many nodes
        var previous = Value.list(list).memoryUsage(samples: .max)
        for i in 0..<400 {
            list.append(ByteString("element-\(i)"))
            if i % 40 == 39 {
                let now = Value.list(list).memoryUsage(samples: .max)
                XCTAssertGreaterThan(now, previous, "at \(i + 1) elements")
                previous = now
            }
        }
        XCTAssertEqual(list.nodes, 100)
        let exact = list.memoryUsage(samples: .max)
        XCTAssertEqual(list.memoryUsage(samples: 100), exact, "every node measured")
        // Five nodes estimate the rest (the end nodes keep room to grow, sealed middle ones do not).
        XCTAssertLessThan(abs(list.memoryUsage(samples: 5) - exact), exact / 4)
        XCTAssertGreaterThan(list.memoryUsage(samples: 1), 0)
    }

    func testSetForms() {
        let ints = SetValue()
        let before = ints.memoryUsage(samples: 5)
        for i in 0..<100 { _ = ByteString("\(i)").withUnsafeBytes { ints.add($0, maxIntsetEntries: 512) } }
        XCTAssertTrue(ints.isIntset)
        XCTAssertGreaterThanOrEqual(ints.memoryUsage(samples: 5) - before, 100 * 2 - 24, "2-byte integers")

        let strings = SetValue(hashtableCapacity: 0)
        for i in 0..<50 { _ = ByteString("m\(i)").withUnsafeBytes { strings.add($0, maxIntsetEntries: 512) } }
        let packed = strings.memoryUsage(samples: 5)
        for i in 50..<1000 {
            _ = ByteString("a-long-member-that-has-its-own-buffer-\(i)").withUnsafeBytes { strings.add($0, maxIntsetEntries: 512) }
        }
        XCTAssertTrue(strings.hasScanCursor, "a HashTable by now")
        let exact = strings.memoryUsage(samples: .max)
        XCTAssertGreaterThan(exact, packed + 950 * 40)
        // The first members in the pool are the short ones (no buffer): a sample of 5 underestimates, and
        // says so by being smaller, never larger, than the exact sum.
        XCTAssertLessThanOrEqual(strings.memoryUsage(samples: 5), exact)
    }

    func testHashForms() {
        let hash = HashValue()
        let limits = HashValue.Limits(entries: 128, value: 64)
        var previous = hash.memoryUsage(samples: 5)
        // The packed buffer grows with every field; the table by its pool chunk and bucket array, which
        // double (so between two doublings it may not change).
        for i in 0..<1000 {
            _ = hash.set(ByteString("field-\(i)"), ByteString("value-\(i)"), limits: limits)
            if [10, 50, 100, 127, 128, 500, 999].contains(i) {
                let now = hash.memoryUsage(samples: 5)
                XCTAssertGreaterThan(now, previous, "at \(i + 1) fields (\(hash.encodingName))")
                previous = now
            }
        }
        XCTAssertEqual(String(describing: hash.encodingName), "hashtable")
        _ = hash.set(ByteString("long"), ByteString(String(repeating: "v", count: 5000)), limits: limits)
        XCTAssertGreaterThanOrEqual(hash.memoryUsage(samples: .max) - previous, 5000)
    }

    func testSortedSetCountsLongMembersOnce() {
        let set = SortedSet()
        for i in 0..<200 { set.set(member: ByteString("member-\(i)"), score: Double(i)) }
        let short = set.memoryUsage(samples: .max)
        let long = ByteString(String(repeating: "m", count: 10_000))
        set.set(member: long, score: -1)
        let grown = set.memoryUsage(samples: .max) - short
        XCTAssertGreaterThanOrEqual(grown, 10_000)
        XCTAssertLessThan(grown, 20_000, "tree and index share the member's buffer")
    }
}
