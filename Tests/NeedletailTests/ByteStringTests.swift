import XCTest
@testable import Needletail

/// ByteString: inline/heap representation, equality and order, and in-place appending.
final class ByteStringTests: XCTestCase {
    private func bytes(_ n: Int, _ seed: UInt8 = 0) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &+ Int(seed)) } }

    private func isHeap(_ s: ByteString) -> Bool {
        if case .heap = s { return true }
        return false
    }

    private func storageAddress(_ s: ByteString) -> ObjectIdentifier? {
        if case .heap(let storage) = s { return ObjectIdentifier(storage) }
        return nil
    }

    func testInlineUpToTwentyTwoBytesThenHeap() {
        XCTAssertEqual(MemoryLayout<ByteString>.size, 24)
        for n in [0, 1, 21, 22] { XCTAssertFalse(isHeap(ByteString(bytes(n))), "\(n) bytes are stored inline") }
        for n in [23, 100, 70_000] { XCTAssertTrue(isHeap(ByteString(bytes(n))), "\(n) bytes are on the heap") }
        for n in [0, 1, 22, 23, 1000] { XCTAssertEqual(ByteString(bytes(n)).bytes, bytes(n)) }
    }

    /// Every inline length, with bytes of every value, comes back as given and equals the same bytes appended.
    func testInlineStringsOfEveryLengthKeepTheirBytes() {
        var generator = SystemRandomNumberGenerator()
        for n in 0...ByteString.inlineCapacity {
            for _ in 0..<20 {
                let model = (0..<n).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let s = ByteString(model)
                XCTAssertEqual(s.bytes, model)
                XCTAssertEqual(s.count, n)
                var appended = ByteString.empty
                model.withUnsafeBytes { appended.append($0) }
                XCTAssertEqual(s, appended)
            }
        }
    }

    /// equals(bytes), word by word for inline strings: true for the same bytes only, whatever byte differs,
    /// and never for a prefix or an extension (zero bytes included), for inline and heap strings alike.
    func testEqualsRawBytesAgainstModel() {
        var generator = SystemRandomNumberGenerator()
        for n in 0...(ByteString.inlineCapacity + 3) {
            for _ in 0..<20 {
                let model = (0..<n).map { _ in UInt8.random(in: 0...3, using: &generator) }
                let s = ByteString(model)
                XCTAssertTrue(model.withUnsafeBytes { s.equals($0) }, "\(model)")
                for i in 0..<n {
                    var other = model
                    other[i] ^= UInt8.random(in: 1...255, using: &generator)
                    XCTAssertFalse(other.withUnsafeBytes { s.equals($0) }, "\(model) vs \(other)")
                }
                for other in [model + [0], model + [1], Array(model.dropLast()), Array(model.dropFirst())] where other != model {
                    XCTAssertFalse(other.withUnsafeBytes { s.equals($0) }, "\(model) vs \(other)")
                }
            }
        }
    }

    /// loadWord: the first `count` bytes, little-endian, zero above; the bytes may end the allocation.
    func testLoadWordReadsExactlyTheGivenBytes() {
        var generator = SystemRandomNumberGenerator()
        for count in 0...8 {
            for _ in 0..<50 {
                let model = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 1)
                defer { buffer.deallocate() }
                model.withUnsafeBytes { if count > 0 { buffer.copyMemory(from: $0.baseAddress!, byteCount: count) } }
                let expected = model.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << UInt64(8 * $1.offset) }
                XCTAssertEqual(loadWord(buffer, count: count), expected, "\(count) bytes \(model)")
            }
        }
    }

    func testEqualityAndOrderAcrossRepresentations() {
        let a = ByteString(bytes(22))
        let b = ByteString(bytes(22))
        var grown = ByteString(bytes(10))
        bytes(12, 10).withUnsafeBytes { grown.append($0) }
        XCTAssertEqual(a, b)
        XCTAssertEqual(grown, a, "built by appending, same bytes")
        XCTAssertLessThan(ByteString("ab"), ByteString("abc"))
        XCTAssertLessThan(ByteString("abc"), ByteString("abd"))
        XCTAssertLessThan(ByteString([0x7F]), ByteString([0x80]), "bytes compare unsigned, as memcmp")
    }

    /// Appending matches a model in every length transition (inline -> inline, inline -> heap, heap -> heap).
    func testAppendAgainstModel() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var model: [UInt8] = []
            var s = ByteString.empty
            for _ in 0..<Int.random(in: 1...12, using: &generator) {
                let suffix = (0..<Int.random(in: 0...40, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                suffix.withUnsafeBytes { s.append($0) }
                model += suffix
                XCTAssertEqual(s.count, model.count)
                XCTAssertEqual(s.bytes, model)
            }
        }
    }

    func testUniqueHeapStringGrowsInPlace() {
        var s = ByteString(bytes(100))
        let chunk = bytes(100, 7)
        chunk.withUnsafeBytes { s.append($0) }  // reallocates with room to spare
        let storage = storageAddress(s)
        for _ in 0..<50 { chunk.withUnsafeBytes { s.append($0) } }
        XCTAssertNotNil(storage)
        XCTAssertEqual(s.count, 100 + 51 * 100)
        // Growth is geometric: 51 appends of 100 bytes reallocate a handful of times at most, and the bytes
        // written in place are intact.
        XCTAssertEqual(Array(s.bytes[100..<200]), chunk)
        XCTAssertEqual(Array(s.bytes[(s.count - 100)...]), chunk)
    }

    func testAppendingToASharedStringLeavesTheOtherCopyAlone() {
        var s = ByteString(bytes(100))
        bytes(100).withUnsafeBytes { s.append($0) }  // heap with spare capacity
        let copy = s
        bytes(10, 3).withUnsafeBytes { s.append($0) }
        XCTAssertEqual(copy.count, 200, "the copy keeps its length")
        XCTAssertEqual(copy.bytes, bytes(100) + bytes(100))
        XCTAssertEqual(s.count, 210)
        XCTAssertNotEqual(storageAddress(s), storageAddress(copy), "the shared storage was not written")
    }

    func testEmptySuffixChangesNothing() {
        var s = ByteString(bytes(30))
        let before = storageAddress(s)
        [UInt8]().withUnsafeBytes { s.append($0) }
        XCTAssertEqual(s.bytes, bytes(30))
        XCTAssertEqual(storageAddress(s), before)
    }
}
