// InlineIntSet: a small intset kept in the key's entry itself (`Value.inlineIntset`), with no allocation.
//
// WHY — a million sets of ten integers
//
// A set held by reference costs its keyspace entry (64 bytes and a 4-byte bucket link), the SetValue object
// (a 32-byte malloc chunk: Swift's 16-byte object header and the storage word) and the values' block (ten
// 4-byte values: a 48-byte chunk): 148 bytes, against redis-server's 131. The object cannot shrink (the
// header is Swift's, and an owner is what frees the block), so a small intset lives in the 23 bytes a value
// has in its entry, where a short string lives too, and costs the entry alone.
//
// LAYOUT — 23 bytes, frame of reference
//
//     byte 0     count (0...21)
//     byte 1     bits 0-1: the base's width, bits 2-3: the offsets' width (code c: 1 << c bytes),
//                bits 4-5: Redis's width for this intset (code c: 2 << c bytes; see below)
//     then       the first (smallest) value, little-endian, sign-extended from its width
//     then       count - 1 offsets: each later value minus the first, little-endian, unsigned, ascending
//     the rest   zero
//
// Both widths are the narrowest that hold the base and the largest offset (1, 2, 4 or 8 bytes), so a set
// of values close together packs tightly whatever their magnitude: ten consecutive 7-digit integers take 2
// + 4 + 9 bytes. A set that does not fit (too many values, or too far apart) is a SetValue in the intset
// form, as before; so is any set a command other than SADD or SREM changes (Commands/Sets.swift), and a
// set never comes back here from a SetValue except when it is built anew (a STORE result, an RDB or
// RESTORE payload: `Value.set(compacting:)`).
//
// Redis's width: an intset is as wide as the widest value it ever held (2, 4 or 8 bytes; it never narrows,
// intset.c), which DUMP, the RDB and DEBUG OBJECT's serializedlength show. The inline form keeps that width
// beside its own, so `makeIntSet()` gives back exactly the intset Redis would hold.
//
// Operations decode the values to the stack, change them and encode them again: O(n) with n <= 21.
// Lookups binary-search the offsets in place.

struct InlineIntSet {
    /// 23 bytes: with the enum tag beside them, `Value` stays 24 bytes (DatabaseTests checks it).
    private typealias Bytes = (UInt64, UInt64, UInt32, UInt16, UInt8)
    private var bytes: Bytes = (0, 0, 0, 0, 0)

    private static let byteCount = 23
    private static let headerSize = 2
    /// The most values that fit: a 1-byte base and 1-byte offsets.
    static let maxCount = byteCount - headerSize

    /// An empty set of Redis width 2 (as intsetNew). Only transient: an empty set is never stored.
    init() {}

    // MARK: - Reading

    private func withBytes<R>(_ body: (UnsafeRawPointer) -> R) -> R {
        withUnsafeBytes(of: bytes) { body($0.baseAddress!) }
    }

    var count: Int { Int(bytes.0 & 0xFF) }

    private var baseWidth: Int { 1 << Int((bytes.0 >> 8) & 3) }
    private var offsetWidth: Int { 1 << Int((bytes.0 >> 10) & 3) }

    /// The width Redis's intset of these values would have: 2, 4 or 8 bytes.
    var redisWidth: Int { 2 << Int((bytes.0 >> 12) & 3) }

    /// The value at `i` (0 ..< count), ascending.
    @inline(__always) func value(at i: Int) -> Int64 {
        withBytes { p in
            let base = Self.loadSigned(p + Self.headerSize, width: baseWidth)
            guard i > 0 else { return base }
            let offsets = p + Self.headerSize + baseWidth
            let w = offsetWidth
            return Int64(bitPattern: UInt64(bitPattern: base) &+ Self.load(offsets + (i - 1) * w, width: w))
        }
    }

    /// Binary search: whether `v` is a member, and where it is or would go.
    private func search(_ v: Int64) -> (found: Bool, position: Int) {
        let n = count
        guard n > 0 else { return (false, 0) }
        return withBytes { p in
            let base = Self.loadSigned(p + Self.headerSize, width: baseWidth)
            if v <= base { return (v == base, 0) }
            let target = UInt64(bitPattern: v) &- UInt64(bitPattern: base)
            let offsets = p + Self.headerSize + baseWidth
            let w = offsetWidth
            // Offsets 1 ..< n, ascending.
            var lo = 1, hi = n - 1
            while lo <= hi {
                let mid = (lo + hi) >> 1
                let current = Self.load(offsets + (mid - 1) * w, width: w)
                if current == target { return (true, mid) }
                if current < target { lo = mid + 1 } else { hi = mid - 1 }
            }
            return (false, lo)
        }
    }

    func contains(_ v: Int64) -> Bool { search(v).found }

    /// Calls `body` with every value, ascending.
    func forEach(_ body: (Int64) -> Void) {
        for i in 0..<count { body(value(at: i)) }
    }

    // MARK: - Changing

    enum Insertion { case inserted, present, full }

    /// Adds `v`, unless it is there (`.present`) or the set with it would not fit these 23 bytes (`.full`,
    /// the set unchanged: the caller moves it to a SetValue).
    mutating func insert(_ v: Int64) -> Insertion {
        let (found, position) = search(v)
        if found { return .present }
        let n = count
        if n == Self.maxCount { return .full }
        let redis = Swift.max(redisWidth, IntSet.width(for: v))
        return withUnsafeTemporaryAllocation(of: Int64.self, capacity: Self.maxCount + 1) { values in
            for i in 0..<position { values[i] = value(at: i) }
            values[position] = v
            for i in position..<n { values[i + 1] = value(at: i) }
            guard let grown = Self(values: UnsafeBufferPointer(rebasing: values[0...n]), redisWidth: redis) else {
                return .full
            }
            self = grown
            return .inserted
        }
    }

    enum Removal { case removed, absent, full }

    /// Removes `v`, unless it is not there (`.absent`) or the set without it would not fit (`.full`, the set
    /// unchanged: the caller moves it to a SetValue). Removing the first value can need more room: the
    /// second becomes the base, which may take a wider field (0 and ten values from 40,000 on take 2 + 1 +
    /// 10 x 2 bytes; without the 0, 2 + 4 + 9 x 2). Redis's width stays (an intset never narrows).
    mutating func remove(_ v: Int64) -> Removal {
        let (found, position) = search(v)
        guard found else { return .absent }
        let n = count
        let redis = redisWidth
        return withUnsafeTemporaryAllocation(of: Int64.self, capacity: Self.maxCount) { values in
            var k = 0
            for i in 0..<n where i != position {
                values[k] = value(at: i)
                k += 1
            }
            guard let shrunk = Self(values: UnsafeBufferPointer(rebasing: values[0..<k]), redisWidth: redis) else {
                return .full
            }
            self = shrunk
            return .removed
        }
    }

    // MARK: - Encoding

    /// The set of `values` (strictly ascending) with Redis's width `redisWidth` (2, 4 or 8, wide enough for
    /// every value), or nil when it does not fit 23 bytes.
    init?(values: UnsafeBufferPointer<Int64>, redisWidth: Int) {
        let n = values.count
        guard n <= Self.maxCount else { return nil }
        let redisCode = redisWidth.trailingZeroBitCount - 1
        precondition((0...2).contains(redisCode) && 2 << redisCode == redisWidth, "InlineIntSet: bad Redis width")
        guard n > 0 else {
            bytes.0 = UInt64(redisCode) << 12
            return
        }
        let base = values[0]
        let baseCode = Self.widthCode(signed: base)
        let span = UInt64(bitPattern: values[n - 1]) &- UInt64(bitPattern: base)
        let offsetCode = Self.widthCode(unsigned: span)
        let baseWidth = 1 << baseCode, offsetWidth = 1 << offsetCode
        guard Self.headerSize + baseWidth + (n - 1) * offsetWidth <= Self.byteCount else { return nil }
        withUnsafeMutableBytes(of: &bytes) { raw in
            let p = raw.baseAddress!
            p.storeBytes(of: UInt8(n), as: UInt8.self)
            p.storeBytes(of: UInt8(baseCode | offsetCode << 2 | redisCode << 4), toByteOffset: 1, as: UInt8.self)
            Self.store(UInt64(bitPattern: base), width: baseWidth, at: p + Self.headerSize)
            let offsets = p + Self.headerSize + baseWidth
            for i in 1..<n {
                Self.store(UInt64(bitPattern: values[i]) &- UInt64(bitPattern: base), width: offsetWidth,
                           at: offsets + (i - 1) * offsetWidth)
            }
        }
    }

    /// The same set, or nil when it has more than `maxCount` values or they do not fit.
    init?(_ intset: IntSet) {
        let n = intset.count
        guard n <= Self.maxCount else { return nil }
        let made = withUnsafeTemporaryAllocation(of: Int64.self, capacity: Self.maxCount) { values in
            for i in 0..<n { values[i] = intset.value(at: i) }
            return Self(values: UnsafeBufferPointer(rebasing: values[0..<n]), redisWidth: intset.width)
        }
        guard let made else { return nil }
        self = made
    }

    /// Calls `body` with Redis's intset of these values, byte for byte (`IntSet.blob`: encoding and length as
    /// little-endian UInt32, then the values at Redis's width), built on the stack: the RDB's and DUMP's
    /// RDB_TYPE_SET_INTSET payload.
    func withRedisBlob<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let n = count, width = redisWidth
        return try withUnsafeTemporaryAllocation(byteCount: 8 + Self.maxCount * 8, alignment: 8) { buffer in
            let p = buffer.baseAddress!
            p.storeBytes(of: UInt32(width).littleEndian, as: UInt32.self)
            p.storeBytes(of: UInt32(n).littleEndian, toByteOffset: 4, as: UInt32.self)
            for i in 0..<n { Self.store(UInt64(bitPattern: value(at: i)), width: width, at: p + 8 + i * width) }
            return try body(UnsafeRawBufferPointer(rebasing: buffer[0..<(8 + n * width)]))
        }
    }

    /// The intset Redis would hold: these values at Redis's width, in a new block the caller owns.
    func makeIntSet() -> IntSet {
        withRedisBlob { blob in IntSet(copying: UnsafeRawBufferPointer(rebasing: blob[8...]), width: redisWidth, count: count) }
    }

    // MARK: - Widths and bytes

    /// log2 of the narrowest of 1, 2, 4, 8 bytes holding `v` sign-extended.
    private static func widthCode(signed v: Int64) -> Int {
        if Int64(Int8(truncatingIfNeeded: v)) == v { return 0 }
        if Int64(Int16(truncatingIfNeeded: v)) == v { return 1 }
        if Int64(Int32(truncatingIfNeeded: v)) == v { return 2 }
        return 3
    }

    /// log2 of the narrowest of 1, 2, 4, 8 bytes holding `v`.
    private static func widthCode(unsigned v: UInt64) -> Int {
        v <= 0xFF ? 0 : v <= 0xFFFF ? 1 : v <= 0xFFFF_FFFF ? 2 : 3
    }

    @inline(__always) private static func load(_ p: UnsafeRawPointer, width: Int) -> UInt64 {
        switch width {
        case 1: return UInt64(p.load(as: UInt8.self))
        case 2: return UInt64(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
        case 4: return UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
        default: return UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
        }
    }

    @inline(__always) private static func loadSigned(_ p: UnsafeRawPointer, width: Int) -> Int64 {
        switch width {
        case 1: return Int64(p.load(as: Int8.self))
        case 2: return Int64(Int16(littleEndian: p.loadUnaligned(as: Int16.self)))
        case 4: return Int64(Int32(littleEndian: p.loadUnaligned(as: Int32.self)))
        default: return Int64(littleEndian: p.loadUnaligned(as: Int64.self))
        }
    }

    @inline(__always) private static func store(_ v: UInt64, width: Int, at p: UnsafeMutableRawPointer) {
        switch width {
        case 1: p.storeBytes(of: UInt8(truncatingIfNeeded: v), as: UInt8.self)
        case 2: p.storeBytes(of: UInt16(truncatingIfNeeded: v).littleEndian, as: UInt16.self)
        case 4: p.storeBytes(of: UInt32(truncatingIfNeeded: v).littleEndian, as: UInt32.self)
        default: p.storeBytes(of: v.littleEndian, as: UInt64.self)
        }
    }

    // MARK: - Invariants

    /// What is wrong with the bytes, nil when nothing: a count that fits, valid width codes, the values
    /// strictly ascending and within Redis's width, the encoding the narrowest one (encoding the values
    /// again gives the same bytes, zeros after them included); O(n).
    func invariantViolation() -> String? {
        let n = count
        if n > Self.maxCount { return "count \(n) over \(Self.maxCount)" }
        if (bytes.0 >> 12) & 3 == 3 { return "Redis width code 3" }
        if bytes.0 & 0xC000 != 0 { return "header bits 14-15 set" }
        if n > 0 && Self.headerSize + baseWidth + (n - 1) * offsetWidth > Self.byteCount { return "values past the end" }
        let limit = Int64.max >> (64 - 8 * redisWidth)
        var previous: Int64?
        for i in 0..<n {
            let v = value(at: i)
            if let previous, v <= previous { return "value \(i) (\(v)) not above \(previous)" }
            if v > limit || v < -limit - 1 { return "value \(v) wider than Redis's width \(redisWidth)" }
            previous = v
        }
        let again = withUnsafeTemporaryAllocation(of: Int64.self, capacity: Self.maxCount) { values in
            for i in 0..<n { values[i] = value(at: i) }
            return Self(values: UnsafeBufferPointer(rebasing: values[0..<n]), redisWidth: redisWidth)
        }
        guard let again else { return "the values do not encode again" }
        let same = withUnsafeBytes(of: bytes) { a in withUnsafeBytes(of: again.bytes) { b in a.elementsEqual(b) } }
        return same ? nil : "not the canonical encoding"
    }

    func checkInvariants() {
        if let problem = invariantViolation() { preconditionFailure("InlineIntSet invariant: \(problem)") }
    }
}
