import XCTest
@testable import Needletail
import TestSupport

/// The HyperLogLog representation against a trivial model (16384 registers in an array, each the maximum of
/// the patterns added to it), across the sparse/dense boundary, with the invariant check after every edit;
/// hashes and positions checked against values redis-server 7.0.15 gave; and fuzzing of damaged strings
/// through every reader (no crash, no read or write out of bounds: debug builds bounds-check raw buffers).
/// Random tests are seeded; a failure names its seed.
final class HyperLogLogTests: XCTestCase {
    private func registers(_ s: ByteString) -> [UInt8] {
        let max = UnsafeMutablePointer<UInt8>.allocate(capacity: HyperLogLog.registerCount)
        defer { max.deallocate() }
        max.initialize(repeating: 0, count: HyperLogLog.registerCount)
        XCTAssertTrue(s.withUnsafeBytes { HyperLogLog.merge(into: max, $0) })
        return Array(UnsafeBufferPointer(start: max, count: HyperLogLog.registerCount))
    }

    private func check(_ s: ByteString, _ model: [UInt8], _ context: String, file: StaticString = #filePath, line: UInt = #line) {
        if let problem = s.withUnsafeBytes({ HyperLogLog.invariantViolation($0) }) {
            return XCTFail("\(context): \(problem)", file: file, line: line)
        }
        XCTAssertEqual(registers(s), model, context, file: file, line: line)
    }

    /// Where redis-server 7.0.15 puts these elements (PFDEBUG DECODE after one PFADD: "Z:index v:count,1 ...").
    func testPatternsMatchRedis() {
        let expected: [(String, Int, UInt8)] = [
            ("a", 12711, 2), ("hello", 9216, 1), ("", 5938, 2), ("foobar", 1910, 4), ("123456789", 9293, 2),
            ("exactly8", 75, 4), ("sixteen-bytes-xx", 5761, 3), ("seventeen-bytes-x", 9307, 1),
        ]
        for (element, index, count) in expected {
            let p = ByteString(element).withUnsafeBytes { HyperLogLog.pattern($0) }
            XCTAssertEqual(p.index, index, element)
            XCTAssertEqual(p.count, count, element)
        }
    }

    func testAddAgainstModelAcrossSparseAndDense() {
        for seed: UInt64 in 1...12 {
            var rng = SeededRandom(seed: seed)
            let maxBytes = rng.pick([0, 50, 300, 3000, 20000])
            var s = HyperLogLog.empty()
            var model = [UInt8](repeating: 0, count: HyperLogLog.registerCount)
            check(s, model, "seed \(seed) empty")
            let total = rng.pick([10, 500, 3000, 12000])
            var wasSparse = true
            for n in 0..<total {
                let element = ByteString("el:\(seed):\(rng.below(total * 2))")
                let (index, count) = element.withUnsafeBytes { HyperLogLog.pattern($0) }
                let changed = element.withUnsafeBytes { HyperLogLog.add(&s, $0, sparseMaxBytes: { maxBytes }) }
                XCTAssertEqual(changed, count > model[index] ? 1 : 0, "seed \(seed) element \(n)")
                model[index] = max(model[index], count)
                let sparse = s.withUnsafeBytes { $0[4] == HyperLogLog.sparse }
                XCTAssertTrue(wasSparse || !sparse, "seed \(seed): dense never goes back to sparse")
                if sparse { XCTAssertLessThanOrEqual(s.count, max(maxBytes, HyperLogLog.headerSize + 2), "seed \(seed)") }
                wasSparse = sparse
                if n % 97 == 0 || n == total - 1 { check(s, model, "seed \(seed) after \(n)") }
            }
            // Both encodings count the same, and the cache round-trips.
            var dense = s
            XCTAssertTrue(HyperLogLog.sparseToDense(&dense))
            check(dense, model, "seed \(seed) converted")
            let a = s.withUnsafeBytes { HyperLogLog.count($0) }
            let b = dense.withUnsafeBytes { HyperLogLog.count($0) }
            XCTAssertNotNil(a)
            XCTAssertEqual(a, b, "seed \(seed)")
            var histogram = [Int](repeating: 0, count: 64)
            for r in model { histogram[Int(r)] += 1 }
            XCTAssertEqual(a, HyperLogLog.estimate(histogram), "seed \(seed)")
            HyperLogLog.storeCardinality(&s, a!)
            XCTAssertEqual(s.withUnsafeBytes { HyperLogLog.cachedCardinality($0) }, a)
            HyperLogLog.invalidateCache(&s)
            XCTAssertNil(s.withUnsafeBytes { HyperLogLog.cachedCardinality($0) })
        }
    }

    func testSetOfEveryValueInSparseThenDense() {
        var rng = SeededRandom(seed: 5)
        var s = HyperLogLog.empty()
        var model = [UInt8](repeating: 0, count: HyperLogLog.registerCount)
        for n in 0..<3000 {
            let index = rng.pick([0, 1, 2, 63, 64, 65, 16383, 16382, rng.below(16384)])
            let value = UInt8(rng.between(1, n < 2000 ? 32 : 51))
            let changed = HyperLogLog.set(&s, index, value, sparseMaxBytes: { 3000 })
            XCTAssertEqual(changed, value > model[index] ? 1 : 0, "step \(n)")
            model[index] = max(model[index], value)
            if n % 50 == 0 { check(s, model, "step \(n)") }
        }
        check(s, model, "end")
    }

    func testSelfTestPasses() {
        XCTAssertNil(hyperLogLogSelfTest())
    }

    /// Damaged HLLs (random bytes over sparse and dense ones, truncated and extended strings) go through every
    /// reader and writer: nothing traps, and a result is either a count or "corrupted".
    func testDamagedStringsNeverCrash() {
        for seed: UInt64 in 1...300 {
            var rng = SeededRandom(seed: seed)
            var s = HyperLogLog.empty()
            for i in 0..<rng.pick([0, 5, 100, 2000]) {
                _ = ByteString("x\(i)").withUnsafeBytes { HyperLogLog.add(&s, $0, sparseMaxBytes: { 3000 }) }
            }
            var bytes = s.bytes
            for _ in 0..<rng.between(1, 6) {
                switch rng.below(4) {
                case 0 where bytes.count > 16: bytes[rng.between(16, bytes.count - 1)] = UInt8(truncatingIfNeeded: rng.next())
                case 1 where bytes.count > 17: bytes.removeLast(rng.between(1, min(3, bytes.count - 16)))
                case 2: bytes.append(UInt8(truncatingIfNeeded: rng.next()))
                default: bytes[4] = rng.pick([0, 1, 2])
                }
            }
            var damaged = ByteString(bytes)
            let valid = damaged.withUnsafeBytes { HyperLogLog.isValid($0) }
            guard valid else { continue }
            _ = damaged.withUnsafeBytes { HyperLogLog.count($0) }
            _ = damaged.withUnsafeBytes { HyperLogLog.decode($0) }
            let max = UnsafeMutablePointer<UInt8>.allocate(capacity: HyperLogLog.registerCount)
            max.initialize(repeating: 0, count: HyperLogLog.registerCount)
            _ = damaged.withUnsafeBytes { HyperLogLog.merge(into: max, $0) }
            max.deallocate()
            for i in 0..<20 {
                let r = ByteString("y\(seed):\(i)").withUnsafeBytes { HyperLogLog.add(&damaged, $0, sparseMaxBytes: { 3000 }) }
                XCTAssertTrue([-1, 0, 1].contains(r))
                if r == -1 { break }
            }
            var copy = damaged
            _ = HyperLogLog.sparseToDense(&copy)
        }
    }
}

/// The geohash arithmetic against values redis-server 7.0.15 gave.
final class GeoHashTests: XCTestCase {
    func testScoreAndPositionMatchRedis() {
        XCTAssertEqual(GeoHash.score(longitude: 13.361389, latitude: 38.115556), 3479099956230698)
        let position = GeoHash.position(ofScore: 3479099956230698)!
        XCTAssertEqual(formatLongDouble(LongDouble(position.longitude)).string, "13.36138933897018433")
        XCTAssertEqual(formatLongDouble(LongDouble(position.latitude)).string, "38.11555639549629859")
        XCTAssertEqual(GeoHash.standardHash(ofScore: 3479099956230698).map { String(decoding: $0, as: UTF8.self) }, "sqc8b49rny0")
        XCTAssertNil(GeoHash.score(longitude: 180.1, latitude: 0))
        XCTAssertNil(GeoHash.score(longitude: 0, latitude: 85.06))
    }

    func testInterleaveRoundTrips() {
        var rng = SeededRandom(seed: 3)
        for _ in 0..<10_000 {
            let x = UInt32(truncatingIfNeeded: rng.next()), y = UInt32(truncatingIfNeeded: rng.next())
            let v = GeoHash.deinterleave(GeoHash.interleave(x, y))
            XCTAssertEqual(UInt32(truncatingIfNeeded: v), x)
            XCTAssertEqual(UInt32(truncatingIfNeeded: v >> 32), y)
        }
    }

    func testEncodeDecodeStaysInTheCell() {
        var rng = SeededRandom(seed: 4)
        for _ in 0..<10_000 {
            let lon = Double(rng.between(-180_000_000, 180_000_000)) / 1e6
            let lat = Double(rng.between(-85_051_128, 85_051_128)) / 1e6
            let score = GeoHash.score(longitude: lon, latitude: lat)!
            let p = GeoHash.position(ofScore: Double(score))!
            XCTAssertLessThan(abs(p.longitude - lon), 1e-5)
            XCTAssertLessThan(abs(p.latitude - lat), 1e-5)
            XCTAssertEqual(GeoHash.score(longitude: p.longitude, latitude: p.latitude), score)
        }
    }
}
