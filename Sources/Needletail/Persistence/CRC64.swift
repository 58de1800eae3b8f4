// CRC64: the checksum at the end of every DUMP payload and RDB file (Redis's crc64.c).
//
// THE CODE — "CRC-64-Jones": polynomial 0xad93d23594c935a9, reflected (bits processed least-significant
// first, so the table uses the bit-reversed polynomial 0x95ac9329ac4bc9b5), initial value 0 and no final
// xor. Check value: crc64(0, "123456789") == 0xe9c6d914c4b8d9ca. The result is stored little-endian.
//
// THE ALGORITHM — slicing-by-8 (what Redis's crcspeed.c does too): eight 256-entry tables, where table k
// gives the effect of a byte followed by k zero bytes. Eight input bytes are folded into the CRC per step
// with eight independent lookups instead of a chain of eight dependent ones; the tail (and short input)
// goes byte by byte through table 0. The tables (16 KB) are built on first use. Inputs of 64 bytes or more
// are folded 16 bytes at a time by carry-less multiplication where the CPU has PCLMULQDQ
// (Sources/CSystem/crc64.c, which explains the algebra), their last 0-15 bytes by the tables: 16.6 GB/s against 2.35 (7x).

import CSystem

enum CRC64 {
    /// Bit-reversed Jones polynomial.
    private static let reflectedPolynomial: UInt64 = 0x95ac_9329_ac4b_c9b5

    /// tables[k * 256 + b]: the CRC contribution of byte b followed by k zero bytes.
    private static let tables: UnsafeMutablePointer<UInt64> = {
        let t = UnsafeMutablePointer<UInt64>.allocate(capacity: 8 * 256)
        for b in 0..<256 {
            var crc = UInt64(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ reflectedPolynomial : crc >> 1 }
            t[b] = crc
        }
        for k in 1..<8 {
            for b in 0..<256 {
                let previous = t[(k - 1) * 256 + b]
                t[k * 256 + b] = t[Int(previous & 0xff)] ^ (previous >> 8)
            }
        }
        return t
    }()

    /// Continues `crc` over `bytes` (start with 0). `update(update(0, a), b) == update(0, a + b)`.
    /// Inputs of 64 bytes or more go by carry-less multiplication where the CPU has it (Sources/CSystem/
    /// crc64.c: ~7x the tables' speed: 16.6 against 2.35 GB/s), all but their last few bytes.
    static func update(_ crc: UInt64, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        guard var p = bytes.baseAddress, bytes.count > 0 else { return crc }
        var crc = crc
        var n = bytes.count
        let done = cs_crc64_bulk(&crc, p, n)
        p += done
        n -= done
        return tableUpdate(crc, p, n)
    }

    /// The slicing-by-8 tables over `n` bytes at `p` (the whole input on CPUs without PCLMULQDQ; tests compare
    /// the two methods).
    static func tableUpdate(_ crc: UInt64, _ start: UnsafeRawPointer, _ count: Int) -> UInt64 {
        let t = tables
        var p = start
        var crc = crc
        var n = count
        while n >= 8 {
            let word = UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)) ^ crc
            crc = t[7 * 256 + Int(word & 0xff)] ^ t[6 * 256 + Int((word >> 8) & 0xff)]
                ^ t[5 * 256 + Int((word >> 16) & 0xff)] ^ t[4 * 256 + Int((word >> 24) & 0xff)]
                ^ t[3 * 256 + Int((word >> 32) & 0xff)] ^ t[2 * 256 + Int((word >> 40) & 0xff)]
                ^ t[1 * 256 + Int((word >> 48) & 0xff)] ^ t[Int(word >> 56)]
            p += 8
            n -= 8
        }
        while n > 0 {
            crc = t[Int((crc ^ UInt64(p.load(as: UInt8.self))) & 0xff)] ^ (crc >> 8)
            p += 1
            n -= 1
        }
        return crc
    }

    /// The CRC of `bytes` alone.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 { update(0, bytes) }
}
