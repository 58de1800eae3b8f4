import XCTest
@testable import Needletail
import TestSupport

/// The bit primitives behind SETBIT, GETBIT, BITCOUNT, BITPOS and BITFIELD against a trivial model (an array
/// of Bools, and 128-bit arithmetic for BITFIELD's overflow rules). Random tests are seeded; a failure names
/// its seed.
final class BitmapTests: XCTestCase {
    private func modelBit(_ bits: [Bool], _ i: Int) -> Int { i < bits.count && bits[i] ? 1 : 0 }

    func testSetGetCountAndPositionAgainstModel() {
        for seed: UInt64 in 1...40 {
            var rng = SeededRandom(seed: seed)
            let length = rng.between(0, 300)
            var bytes = [UInt8](repeating: 0, count: length)
            var model = [Bool](repeating: false, count: length * 8)
            for _ in 0..<rng.between(0, 400) where length > 0 {
                let offset = rng.below(length * 8)
                let on = rng.oneIn(3) ? false : true
                bytes.withUnsafeMutableBytes { setBitValue($0, offset, on) }
                model[offset] = on
                XCTAssertEqual(bytes.withUnsafeBytes { bitValue($0, offset) }, on ? 1 : 0, "seed \(seed)")
            }
            bytes.withUnsafeBytes { raw in
                for i in 0..<(length * 8 + 16) { XCTAssertEqual(bitValue(raw, i), modelBit(model, i), "seed \(seed) bit \(i)") }
                XCTAssertEqual(popcount(raw), model.filter { $0 }.count, "seed \(seed)")
                // popcount and firstBit over every sub-range starting at a few offsets
                for start in [0, 1, 7, 8, 9, length / 2].filter({ $0 <= length }) {
                    let sub = UnsafeRawBufferPointer(rebasing: raw[start...])
                    let subModel = Array(model[(start * 8)...])
                    XCTAssertEqual(popcount(sub), subModel.filter { $0 }.count, "seed \(seed) start \(start)")
                    let one = subModel.firstIndex(of: true) ?? -1
                    let zero = subModel.firstIndex(of: false) ?? subModel.count
                    XCTAssertEqual(firstBit(sub, 1), one, "seed \(seed) first 1 from byte \(start)")
                    XCTAssertEqual(firstBit(sub, 0), zero, "seed \(seed) first 0 from byte \(start)")
                }
            }
        }
    }

    func testPopcountOfLargeBuffersMatchesNaiveCount() {
        var rng = SeededRandom(seed: 7)
        for length in [0, 1, 7, 8, 31, 32, 33, 1000, 4096 + 5] {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let naive = bytes.reduce(0) { $0 + $1.nonzeroBitCount }
            XCTAssertEqual(bytes.withUnsafeBytes { popcount($0) }, naive, "length \(length)")
        }
    }

    func testBitfieldReadWriteAgainstModel() {
        for seed: UInt64 in 1...30 {
            var rng = SeededRandom(seed: seed)
            var bytes = [UInt8](repeating: 0, count: 40)
            var model = [Bool](repeating: false, count: 320)
            for _ in 0..<200 {
                let bits = rng.between(1, 64)
                let offset = rng.below(320 - bits)
                let value = rng.next()
                bytes.withUnsafeMutableBytes { setBitfield($0, offset: offset, bits: bits, value) }
                for j in 0..<bits { model[offset + j] = (value >> UInt64(bits - 1 - j)) & 1 == 1 }
                let readBits = rng.between(1, 64)
                let readOffset = rng.below(320 - readBits)
                var expected: UInt64 = 0
                for j in 0..<readBits { expected = expected << 1 | (model[readOffset + j] ? 1 : 0) }
                bytes.withUnsafeBytes { raw in
                    XCTAssertEqual(unsignedBitfield(raw, offset: readOffset, bits: readBits), expected, "seed \(seed)")
                    let signed = signedBitfield(raw, offset: readOffset, bits: readBits)
                    let modelSigned = readBits == 64 ? Int64(bitPattern: expected)
                        : (expected >> UInt64(readBits - 1)) & 1 == 1 ? Int64(bitPattern: expected | (~0 << UInt64(readBits))) : Int64(expected)
                    XCTAssertEqual(signed, modelSigned, "seed \(seed) i\(readBits)")
                }
            }
        }
    }

    /// BITFIELD's overflow rules against exact arithmetic: WRAP is modulo 2^bits, SAT clamps, and overflow is
    /// reported exactly when the true result leaves the type's range.
    func testOverflowRulesAgainstExactArithmetic() {
        var rng = SeededRandom(seed: 99)
        for _ in 0..<20_000 {
            let signed = rng.oneIn(2)
            let bits = signed ? rng.between(1, 64) : rng.between(1, 63)
            let increment = rng.oneIn(3) ? Int64(bitPattern: rng.next()) : Int64(rng.between(-300, 300))
            if signed {
                let maxValue = bits == 64 ? Int128(Int64.max) : (Int128(1) << (bits - 1)) - 1
                let minValue = -maxValue - 1
                let value = Int64(minValue + Int128(rng.next()) % (maxValue - minValue + 1))
                let exact = Int128(value) + Int128(increment)
                let overflows = exact > maxValue || exact < minValue
                let wrap = signedOverflow(value, increment, bits: bits, .wrap)
                let sat = signedOverflow(value, increment, bits: bits, .sat)
                XCTAssertEqual(wrap.overflow, overflows, "i\(bits) \(value)+\(increment)")
                if overflows {
                    let modulus = Int128(1) << bits
                    var wrapped = ((exact - minValue) % modulus + modulus) % modulus + minValue
                    if bits == 64 { wrapped = Int128(Int64(truncatingIfNeeded: exact)) }
                    XCTAssertEqual(Int128(wrap.limit), wrapped, "wrap i\(bits) \(value)+\(increment)")
                    XCTAssertEqual(Int128(sat.limit), exact > maxValue ? maxValue : minValue, "sat i\(bits)")
                }
            } else {
                let maxValue = (UInt64(1) << UInt64(bits)) - 1
                let value = rng.next() & maxValue
                let exact = Int128(value) + Int128(increment)
                let overflows = exact > Int128(maxValue) || exact < 0
                let wrap = unsignedOverflow(value, increment, bits: bits, .wrap)
                let sat = unsignedOverflow(value, increment, bits: bits, .sat)
                XCTAssertEqual(wrap.overflow, overflows, "u\(bits) \(value)+\(increment)")
                if overflows {
                    let modulus = Int128(1) << bits
                    XCTAssertEqual(Int128(wrap.limit), (exact % modulus + modulus) % modulus, "wrap u\(bits)")
                    XCTAssertEqual(sat.limit, exact < 0 ? 0 : maxValue, "sat u\(bits)")
                }
            }
        }
    }

    func testInPlaceEditsCopyOnlyWhenShared() {
        var s = ByteString([UInt8](repeating: 1, count: 100))
        let shared = s
        s.withMutableBytes(growingTo: 200) { $0[0] = 9 }
        XCTAssertEqual(shared.count, 100)
        XCTAssertEqual(shared[0], 1, "the other holder's bytes must not change")
        XCTAssertEqual(s.count, 200)
        XCTAssertEqual(s[0], 9)
        XCTAssertEqual(s[150], 0, "grown bytes are zero")
        var small = ByteString("abc")
        small.withMutableBytes(growingTo: 5) { $0[4] = 0x41 }
        XCTAssertEqual(small.bytes, [0x61, 0x62, 0x63, 0, 0x41])
        s.truncate(to: 10)
        XCTAssertEqual(s.count, 10)
        XCTAssertEqual(s[0], 9)
    }
}
