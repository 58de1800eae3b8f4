/// HyperLogLog in Redis's exact byte format (hyperloglog.c), so an HLL written by either server is read by the
/// other through GET/SET, DUMP/RESTORE, RDB and replication, and the same elements give the same bytes and
/// the same cardinalities.
///
/// Layout of the string value:
///
///     +------+---+-----+----------+
///     | HYLL | E | N/U | Cardin.  |   16-byte header
///     +------+---+-----+----------+
///
/// "HYLL", the encoding E (0 dense, 1 sparse), three unused bytes, and the cached cardinality, 8 bytes little
/// endian; the most significant bit of its last byte set means the cache is stale. 16384 registers (P = 14)
/// of 6 bits follow:
/// - dense: 12288 bytes, register i at bit 6i, least significant bits first (a register may straddle two
///   bytes);
/// - sparse: run-length opcodes. ZERO `00xxxxxx` = 1..64 zero registers; XZERO `01xxxxxx yyyyyyyy` =
///   1..16384 zero registers; VAL `1vvvvvxx` = 1..4 registers of value 1..32. An empty HLL is one XZERO
///   covering everything (18 bytes). A sparse HLL becomes dense when a register needs a value above 32 or when
///   an edit would grow it past `hll-sparse-max-bytes` (3000 by default); dense never goes back.
///
/// An element goes to register `h & 16383`, where h is MurmurHash64A(element, seed 0xadc83b19), and the
/// register keeps the maximum over its elements of the position of the first set bit of `h >> 14` (1-based,
/// at most Q + 1 = 51). The cardinality is Otmar Ertl's improved estimator over the histogram of register
/// values (arXiv:1702.01284), as Redis computes it, rounded with llroundl.
///
/// Every reader checks what it walks: a corrupted string (bad opcodes, runs past 16384 registers, a dense
/// string of the wrong length) answers `-INVALIDOBJ Corrupted HLL object detected` or is reported invalid,
/// and no input reads or writes out of bounds (Redis leans on the sds terminator in places; here a byte past
/// the end reads 0).
enum HyperLogLog {
    static let p = 14
    static let registerCount = 1 << p           // 16384
    static let q = 64 - p                       // 50
    static let registerBits = 6
    static let registerMax: UInt8 = 63
    static let headerSize = 16
    static let denseSize = headerSize + (registerCount * registerBits + 7) / 8   // 12304
    static let sparseValueMax = 32
    static let sparseValueMaxLength = 4
    static let sparseZeroMaxLength = 64
    static let sparseXZeroMaxLength = 16384
    static let dense: UInt8 = 0
    static let sparse: UInt8 = 1

    /// A new, empty HLL: sparse, one XZERO opcode, cached cardinality 0 (valid).
    static func empty() -> ByteString {
        ByteString(count: headerSize + 2) { out in
            out.initializeMemory(as: UInt8.self, repeating: 0)
            out[0] = UInt8(ascii: "H"); out[1] = UInt8(ascii: "Y"); out[2] = UInt8(ascii: "L"); out[3] = UInt8(ascii: "L")
            out[4] = sparse
            let run = registerCount - 1
            out[headerSize] = UInt8(run >> 8) | 0x40
            out[headerSize + 1] = UInt8(run & 0xFF)
        }
    }

    /// Redis's isHLLObjectOrReply check: the header's magic, a known encoding, and a dense HLL's exact length.
    static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= headerSize else { return false }
        guard bytes[0] == UInt8(ascii: "H"), bytes[1] == UInt8(ascii: "Y"), bytes[2] == UInt8(ascii: "L"),
              bytes[3] == UInt8(ascii: "L") else { return false }
        guard bytes[4] <= sparse else { return false }
        return bytes[4] != dense || bytes.count == denseSize
    }

    // MARK: - Hashing

    /// MurmurHash64A by Austin Appleby, as Redis uses it (8-byte blocks read little endian).
    static func murmurHash64A(_ key: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        let m: UInt64 = 0xc6a4_a793_5bd1_e995
        let r: UInt64 = 47
        let length = key.count
        var h = seed ^ (UInt64(length) &* m)
        let blocks = length / 8
        for i in 0..<blocks {
            var k = UInt64(littleEndian: key.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
            k = k &* m
            k ^= k >> r
            k = k &* m
            h ^= k
            h = h &* m
        }
        let tail = blocks * 8
        let rest = length & 7
        if rest > 0 {
            for i in stride(from: rest - 1, through: 0, by: -1) {
                h ^= UInt64(key[tail + i]) << UInt64(8 * i)
            }
            h = h &* m
        }
        h ^= h >> r
        h = h &* m
        h ^= h >> r
        return h
    }

    /// Redis's hllPatLen: the register an element goes to and the value it offers (1...Q + 1).
    @inline(__always) static func pattern(_ element: UnsafeRawBufferPointer) -> (index: Int, count: UInt8) {
        var hash = murmurHash64A(element, seed: 0xadc8_3b19)
        let index = Int(hash & UInt64(registerCount - 1))
        hash >>= UInt64(p)
        hash |= 1 << UInt64(q)
        return (index, UInt8(hash.trailingZeroBitCount + 1))
    }

    // MARK: - Dense registers

    /// Register `i` of a dense HLL; `registers` starts after the header.
    @inline(__always) static func denseRegister(_ registers: UnsafeRawBufferPointer, _ i: Int) -> UInt8 {
        let byte = i * registerBits / 8
        let shift = (i * registerBits) & 7
        let b0 = UInt(registers[byte])
        let b1 = byte + 1 < registers.count ? UInt(registers[byte + 1]) : 0
        return UInt8(truncatingIfNeeded: (b0 >> shift) | (b1 << (8 - shift))) & registerMax
    }

    @inline(__always) static func setDenseRegister(_ registers: UnsafeMutableRawBufferPointer, _ i: Int, _ value: UInt8) {
        let byte = i * registerBits / 8
        let shift = (i * registerBits) & 7
        let v = UInt(value)
        registers[byte] &= ~UInt8(truncatingIfNeeded: UInt(registerMax) << shift)
        registers[byte] |= UInt8(truncatingIfNeeded: v << shift)
        if byte + 1 < registers.count {
            registers[byte + 1] &= ~UInt8(truncatingIfNeeded: UInt(registerMax) >> (8 - shift))
            registers[byte + 1] |= UInt8(truncatingIfNeeded: v >> (8 - shift))
        }
    }

    /// Redis's hllDenseSet: raises register `i` to `count`; whether it changed.
    @inline(__always) static func denseSet(_ registers: UnsafeMutableRawBufferPointer, _ i: Int, _ count: UInt8) -> Bool {
        guard count > denseRegister(UnsafeRawBufferPointer(registers), i) else { return false }
        setDenseRegister(registers, i, count)
        return true
    }

    // MARK: - Sparse opcodes

    @inline(__always) static func isZero(_ b: UInt8) -> Bool { b & 0xC0 == 0 }
    @inline(__always) static func isXZero(_ b: UInt8) -> Bool { b & 0xC0 == 0x40 }
    @inline(__always) static func isVal(_ b: UInt8) -> Bool { b & 0x80 != 0 }
    @inline(__always) static func zeroLength(_ b: UInt8) -> Int { Int(b & 0x3F) + 1 }
    @inline(__always) static func xzeroLength(_ b: UInt8, _ next: UInt8) -> Int { (Int(b & 0x3F) << 8 | Int(next)) + 1 }
    @inline(__always) static func valValue(_ b: UInt8) -> Int { Int((b >> 2) & 0x1F) + 1 }
    @inline(__always) static func valLength(_ b: UInt8) -> Int { Int(b & 0x3) + 1 }
    @inline(__always) static func valOpcode(_ value: Int, _ length: Int) -> UInt8 { UInt8(((value - 1) << 2) | (length - 1)) | 0x80 }

    /// Walks the opcodes of a sparse HLL: `body(value, run)` for each (value 0 for ZERO and XZERO). Returns the
    /// number of registers covered, or -1 when a run would cross register 16384 (as redis-server 7.0.15 checks
    /// every opcode since the CVE-2025-32023 fix) or `body` stops the walk. A truncated XZERO reads its missing
    /// byte as 0.
    @inline(__always) static func walkSparse(_ bytes: UnsafeRawBufferPointer,
                                             _ body: (_ value: Int, _ run: Int) -> Bool) -> Int {
        var i = headerSize
        var index = 0
        let end = bytes.count
        while i < end {
            let b = bytes[i]
            let run: Int
            var value = 0
            if isZero(b) {
                run = zeroLength(b)
                i += 1
            } else if isXZero(b) {
                run = xzeroLength(b, i + 1 < end ? bytes[i + 1] : 0)
                i += 2
            } else {
                run = valLength(b)
                value = valValue(b)
                i += 1
            }
            if index + run > registerCount || !body(value, run) { return -1 }
            index += run
        }
        return index
    }

    // MARK: - Adding

    /// Redis's hllAdd: 1 when a register changed, 0 when not, -1 for a corrupted HLL. `s` must be valid
    /// (`isValid`) and owned by the caller (it is edited in place).
    static func add(_ s: inout ByteString, _ element: UnsafeRawBufferPointer, sparseMaxBytes: () -> Int) -> Int {
        let (index, count) = pattern(element)
        return set(&s, index, count, sparseMaxBytes: sparseMaxBytes)
    }

    /// Raises register `index` to `count` in either encoding (Redis's hllDenseSet / hllSparseSet), promoting a
    /// sparse HLL to dense when needed. 1 changed, 0 unchanged, -1 corrupted.
    static func set(_ s: inout ByteString, _ index: Int, _ count: UInt8, sparseMaxBytes: () -> Int) -> Int {
        let encoding = s.withUnsafeBytes { $0[4] }
        if encoding == dense {
            return s.withMutableBytes { bytes in
                denseSet(UnsafeMutableRawBufferPointer(rebasing: bytes[headerSize...]), index, count) ? 1 : 0
            }
        }
        if Int(count) <= sparseValueMax {
            let oldLength = s.count
            let outcome = s.withMutableBytes(growingTo: oldLength + 3) { bytes -> SparseOutcome in
                sparseSet(bytes, length: oldLength, index, Int(count), maxBytes: sparseMaxBytes)
            }
            switch outcome {
            case .unchanged:
                s.truncate(to: oldLength)
                return 0
            case .invalid:
                s.truncate(to: oldLength)
                return -1
            case .changed(let newLength):
                s.truncate(to: newLength)
                invalidateCache(&s)
                return 1
            case .promote:
                s.truncate(to: oldLength)
            }
        }
        // Promote: the register needs a value the sparse form cannot hold, or the edit outgrew the limit.
        guard sparseToDense(&s) else { return -1 }
        return s.withMutableBytes { bytes in
            denseSet(UnsafeMutableRawBufferPointer(rebasing: bytes[headerSize...]), index, count) ? 1 : 0
        }
    }

    enum SparseOutcome { case unchanged, invalid, promote, changed(newLength: Int) }

    /// Redis's hllSparseSet on `bytes`, whose first `length` bytes are the HLL, with 3 spare bytes after them
    /// (an XZERO split in the middle becomes XZERO VAL XZERO: 2 bytes become 5).
    private static func sparseSet(_ bytes: UnsafeMutableRawBufferPointer, length: Int, _ index: Int, _ count: Int,
                                  maxBytes: () -> Int) -> SparseOutcome {
        // Step 1: the opcode covering register `index`, and the one before it.
        var p = headerSize
        var end = length
        var first = 0
        var prev = -1
        var span = 0
        while p < end {
            let b = bytes[p]
            var opLength = 1
            if isZero(b) { span = zeroLength(b) }
            else if isVal(b) { span = valLength(b) }
            else { span = xzeroLength(b, p + 1 < end ? bytes[p + 1] : 0); opLength = 2 }
            if index <= first + span - 1 { break }
            prev = p
            p += opLength
            first += span
        }
        if span == 0 || p >= end { return .invalid }
        let opcode = bytes[p]
        let zero = isZero(opcode), xzero = isXZero(opcode), val = isVal(opcode)
        if xzero && p + 1 >= end { return .invalid }
        let next = p + (xzero ? 2 : 1)
        let run = zero ? zeroLength(opcode) : val ? valLength(opcode) : xzeroLength(opcode, bytes[p + 1])

        // Step 2: the cheap cases, in place.
        var changed = false
        if val {
            let old = valValue(opcode)
            if old >= count { return .unchanged }                                    // A
            if run == 1 { bytes[p] = valOpcode(count, 1); changed = true }           // B
        }
        if !changed && zero && run == 1 { bytes[p] = valOpcode(count, 1); changed = true }   // C

        if !changed {
            // D: split the opcode into up to three.
            var sequence: (UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0)
            let sequenceLength = withUnsafeMutableBytes(of: &sequence) { seq -> Int in
                var n = 0
                let last = first + span - 1
                func zeros(_ length: Int) {
                    if length > sparseZeroMaxLength {
                        seq[n] = UInt8((length - 1) >> 8) | 0x40
                        seq[n + 1] = UInt8((length - 1) & 0xFF)
                        n += 2
                    } else {
                        seq[n] = UInt8(length - 1)
                        n += 1
                    }
                }
                if zero || xzero {
                    if index != first { zeros(index - first) }
                    seq[n] = valOpcode(count, 1); n += 1
                    if index != last { zeros(last - index) }
                } else {
                    let current = valValue(opcode)
                    if index != first { seq[n] = valOpcode(current, index - first); n += 1 }
                    seq[n] = valOpcode(count, 1); n += 1
                    if index != last { seq[n] = valOpcode(current, last - index); n += 1 }
                }
                return n
            }
            // Step 3: put the new sequence in place of the old opcode.
            let oldOpLength = xzero ? 2 : 1
            let delta = sequenceLength - oldOpLength
            if delta > 0 && end + delta > maxBytes() { return .promote }
            if delta != 0 && next < end {
                (bytes.baseAddress! + next + delta).copyMemory(from: bytes.baseAddress! + next, byteCount: end - next)
            }
            withUnsafeBytes(of: &sequence) { seq in
                (bytes.baseAddress! + p).copyMemory(from: seq.baseAddress!, byteCount: sequenceLength)
            }
            end += delta
        }

        // Step 4: merge adjacent VAL opcodes of equal value, scanning up to 5 opcodes from the previous one.
        var q = prev >= 0 ? prev : headerSize
        var scan = 5
        while q < end && scan > 0 {
            scan -= 1
            let b = bytes[q]
            if isXZero(b) { q += 2; continue }
            if isZero(b) { q += 1; continue }
            if q + 1 < end && isVal(bytes[q + 1]) {
                let v1 = valValue(b), v2 = valValue(bytes[q + 1])
                if v1 == v2 {
                    let merged = valLength(b) + valLength(bytes[q + 1])
                    if merged <= sparseValueMaxLength {
                        bytes[q + 1] = valOpcode(v1, merged)
                        (bytes.baseAddress! + q).copyMemory(from: bytes.baseAddress! + q + 1, byteCount: end - q - 1)
                        end -= 1
                        continue
                    }
                }
            }
            q += 1
        }
        return .changed(newLength: end)
    }

    /// Redis's hllSparseToDense: false (and `s` unchanged) when the sparse opcodes do not cover exactly 16384
    /// registers. The header (magic, unused bytes, cached cardinality and its flag) is kept.
    @discardableResult static func sparseToDense(_ s: inout ByteString) -> Bool {
        let converted: ByteString? = s.withUnsafeBytes { old -> ByteString? in
            if old[4] == dense { return nil }
            var ok = true
            let result = ByteString(count: denseSize) { out in
                out.initializeMemory(as: UInt8.self, repeating: 0)
                out.baseAddress!.copyMemory(from: old.baseAddress!, byteCount: headerSize)
                out[4] = dense
                let registers = UnsafeMutableRawBufferPointer(rebasing: out[headerSize...])
                var index = 0
                let covered = walkSparse(old) { value, run in
                    if value > 0 {
                        for i in index..<(index + run) { setDenseRegister(registers, i, UInt8(value)) }
                    }
                    index += run
                    return true
                }
                ok = covered == registerCount
            }
            return ok ? result : .empty
        }
        guard let converted else { return true }   // already dense
        if converted.isEmpty { return false }
        s = converted
        return true
    }

    // MARK: - Cached cardinality

    static func invalidateCache(_ s: inout ByteString) {
        s.withMutableBytes { $0[15] |= 0x80 }
    }

    static func cachedCardinality(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard bytes[15] & 0x80 == 0 else { return nil }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }

    static func storeCardinality(_ s: inout ByteString, _ value: UInt64) {
        s.withMutableBytes { $0.storeBytes(of: value.littleEndian, toByteOffset: 8, as: UInt64.self) }
    }

    // MARK: - Merging and counting

    /// Redis's hllMerge: raises each of `max`'s 16384 registers to this HLL's; false for a corrupted sparse HLL.
    static func merge(into max: UnsafeMutablePointer<UInt8>, _ bytes: UnsafeRawBufferPointer) -> Bool {
        if bytes[4] == dense {
            // 4 registers in every 3 bytes (isValid checked the length).
            var r = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + headerSize
            var m = max
            for _ in 0..<(registerCount / 4) {
                let b0 = r[0], b1 = r[1], b2 = r[2]
                let v0 = b0 & 63
                let v1 = (b0 >> 6 | b1 << 2) & 63
                let v2 = (b1 >> 4 | b2 << 4) & 63
                let v3 = b2 >> 2
                if v0 > m[0] { m[0] = v0 }
                if v1 > m[1] { m[1] = v1 }
                if v2 > m[2] { m[2] = v2 }
                if v3 > m[3] { m[3] = v3 }
                r += 3
                m += 4
            }
            return true
        }
        var index = 0
        let covered = walkSparse(bytes) { value, run in
            if value > 0 {
                let v = UInt8(value)
                for i in index..<(index + run) where v > max[i] { max[i] = v }
            }
            index += run
            return true
        }
        return covered == registerCount
    }

    /// The histogram of register values (64 buckets, as Redis sizes it) of a dense or sparse HLL; `invalid` is
    /// set when a sparse HLL does not cover exactly 16384 registers.
    static func histogram(_ bytes: UnsafeRawBufferPointer, invalid: inout Bool) -> [Int] {
        var histogram = [Int](repeating: 0, count: 64)
        if bytes[4] == dense {
            let registers = UnsafeRawBufferPointer(rebasing: bytes[headerSize...])
            // 4 registers in every 3 bytes.
            var i = 0
            var r = 0
            while r < registerCount {
                let b0 = Int(registers[i]), b1 = Int(registers[i + 1]), b2 = Int(registers[i + 2])
                histogram[b0 & 63] += 1
                histogram[(b0 >> 6 | b1 << 2) & 63] += 1
                histogram[(b1 >> 4 | b2 << 4) & 63] += 1
                histogram[b2 >> 2] += 1
                i += 3
                r += 4
            }
        } else {
            let covered = walkSparse(bytes) { value, run in
                histogram[value] += run
                return true
            }
            if covered != registerCount { invalid = true }
        }
        return histogram
    }

    static func histogram(rawRegisters max: UnsafePointer<UInt8>) -> [Int] {
        var histogram = [Int](repeating: 0, count: 64)
        histogram.withUnsafeMutableBufferPointer { h in
            for i in 0..<registerCount { h[Int(max[i] & 63)] += 1 }
        }
        return histogram
    }

    /// Redis's hllCount over a register histogram (Ertl's estimator), rounded as llroundl.
    static func estimate(_ histogram: [Int]) -> UInt64 {
        let m = Double(registerCount)
        var z = m * tau((m - Double(histogram[q + 1])) / m)
        for j in stride(from: q, through: 1, by: -1) {
            z += Double(histogram[j])
            z *= 0.5
        }
        z += m * sigma(Double(histogram[0]) / m)
        let e = (0.721347520444481703680 * m * m / z).rounded(.toNearestOrAwayFromZero)
        return e.isFinite && e >= 0 && e < 1.8e19 ? UInt64(e) : 0
    }

    private static func sigma(_ value: Double) -> Double {
        if value == 1 { return .infinity }
        var x = value
        var y = 1.0
        var z = x
        var previous: Double
        repeat {
            x *= x
            previous = z
            z += x * y
            y += y
        } while previous != z
        return z
    }

    private static func tau(_ value: Double) -> Double {
        if value == 0 || value == 1 { return 0 }
        var x = value
        var y = 1.0
        var z = 1 - x
        var previous: Double
        repeat {
            x = x.squareRoot()
            previous = z
            y *= 0.5
            z -= (1 - x) * (1 - x) * y
        } while previous != z
        return z / 3
    }

    /// The cardinality of one HLL (ignoring its cache); nil when it is corrupted.
    static func count(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        var invalid = false
        let h = histogram(bytes, invalid: &invalid)
        return invalid ? nil : estimate(h)
    }

    // MARK: - Invariants

    /// What is wrong with a stored HLL, nil when it is well formed: a valid header, and for the sparse
    /// encoding opcodes covering exactly the 16384 registers (tests call it after every edit).
    static func invariantViolation(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard isValid(bytes) else { return "bad header or dense length \(bytes.count)" }
        if bytes[4] == dense { return nil }
        if bytes.count > headerSize, isXZero(bytes[bytes.count - 1]) {
            // A final XZERO's second byte would be missing (unless that byte is itself the second byte).
            var i = headerSize
            while i < bytes.count { i += isXZero(bytes[i]) ? 2 : 1 }
            if i != bytes.count { return "truncated XZERO opcode" }
        }
        let covered = walkSparse(bytes) { _, _ in true }
        return covered == registerCount ? nil : "sparse opcodes cover \(covered) registers"
    }

    // MARK: - PFDEBUG DECODE

    /// The opcodes of a sparse HLL as PFDEBUG DECODE lists them: "z:len", "Z:len", "v:value,len".
    static func decode(_ bytes: UnsafeRawBufferPointer) -> String {
        var parts: [String] = []
        var i = headerSize
        let end = bytes.count
        while i < end {
            let b = bytes[i]
            if isZero(b) {
                parts.append("z:\(zeroLength(b))")
                i += 1
            } else if isXZero(b) {
                parts.append("Z:\(xzeroLength(b, i + 1 < end ? bytes[i + 1] : 0))")
                i += 2
            } else {
                parts.append("v:\(valValue(b)),\(valLength(b))")
                i += 1
            }
        }
        return parts.joined(separator: " ")
    }
}
