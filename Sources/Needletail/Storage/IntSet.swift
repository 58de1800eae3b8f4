import Glibc

// IntSet: Redis's intset.c, the compact form of a set whose members are all integers.
//
// THE VALUES are Redis's intset contents: `count` values of `width` bytes each (2, 4 or 8: the narrowest
// that fits the widest value ever added), little-endian, ascending. Adding a value that needs more width
// "upgrades" the whole set (every value rewritten wider, from the end backwards so nothing is overwritten
// before it is read); as in Redis, removing values never downgrades it. Lookups are binary searches
// (O(log n)); insertions and removals move the tail (O(n)): intsets are only used up to
// set-max-intset-entries (512 by default) members.
//
// LAYOUT — the header in the owner's word, the values alone in one malloc'ed block
//
// Redis's intset starts with an 8-byte header (encoding: UInt32, length: UInt32). Here the width and the
// count travel in the one word the owner (SetValue) keeps, next to the block's address, and the block
// holds the values only:
//
//     word:  ┌count: 16 bits (0xFFFF: in the block)┬block address: bits 4...47┬width code: 2 bits┬tag: 2 bits (0)┐
//     block: ┌values: count × width bytes┐   or, from 0xFFFF values on:   ┌count: UInt64┬values┐
//
// Why: glibc's malloc adds 8 bytes to a request and rounds it up to 16, so 10 four-byte values cost a
// 48-byte chunk where the same values behind Redis's header cost 64: 16 bytes less for each small set, one
// in two sizes (1,000,000 sets of 10: 164 -> 148 bytes a set). Decoding and re-encoding the word costs an
// SADD to an intset about 47 instructions of ~2,880 (callgrind). Addresses fit 48 bits (x86-64 and AArch64
// user space) and malloc aligns them to 16, which frees the low 4 bits for the tag and the width code. A set
// of 65,535 or more values (possible with a raised set-max-intset-entries) keeps its count in front of the
// values instead. The block is resized to its exact length on every insertion and removal (Redis's
// zrealloc). `blob` rebuilds Redis's layout for whoever needs the bytes (tests, later the RDB's
// RDB_TYPE_SET_INTSET payload).
//
// `IntSet` is a value decoded from the word: a mutation may reallocate the block, so the owner stores the
// word back after mutating. It never frees itself.

struct IntSet {
    /// The malloc'ed block: the values, after the count when `countInBlock`.
    private(set) var block: UnsafeMutableRawPointer
    /// Bytes per value: 2, 4 or 8.
    private(set) var width: Int
    private(set) var count: Int

    /// From this many values on, the count is stored in front of the values (the word's 16 bits say 0xFFFF).
    static let countInWordLimit = 0xFFFF
    private static let addressMask: UInt = 0x0000_FFFF_FFFF_FFF0

    /// An empty intset of 16-bit values (Redis's intsetNew).
    init() {
        block = IntSet.allocate(1)
        width = 2
        count = 0
    }

    /// An intset of `count` values of `width` bytes (2, 4 or 8) copied from `values`, which must be strictly
    /// ascending, little-endian, each fitting the width: Redis's intset contents as an RDB holds them, kept
    /// at their width (a wider one than the values need is allowed, as in Redis, so a DUMP gives its bytes back).
    init(copying values: UnsafeRawBufferPointer, width: Int, count: Int) {
        precondition((width == 2 || width == 4 || width == 8) && values.count == width * count, "IntSet: bad contents")
        let prefix = Self.prefix(count)
        block = IntSet.allocate(Swift.max(1, prefix + values.count))
        if prefix > 0 { block.storeBytes(of: UInt64(count), as: UInt64.self) }
        if count > 0 { (block + prefix).copyMemory(from: values.baseAddress!, byteCount: values.count) }
        self.width = width
        self.count = count
    }

    /// The intset a word made by `word` describes.
    @inline(__always) init(word: UInt) {
        block = UnsafeMutableRawPointer(bitPattern: word & IntSet.addressMask)!
        width = 2 << Int((word >> 2) & 3)
        let small = Int(word >> 48)
        count = small == IntSet.countInWordLimit ? Int(block.load(as: UInt64.self)) : small
    }

    /// The word to store: the block's address, the width code (0, 1, 2 for 2, 4, 8 bytes) at bit 2, and the
    /// count (or 0xFFFF) at bit 48. Bits 0-1, the owner's tag, are 0.
    @inline(__always) var word: UInt {
        UInt(bitPattern: block) | UInt(width.trailingZeroBitCount - 1) << 2
            | UInt(Swift.min(count, IntSet.countInWordLimit)) << 48
    }

    /// Bytes in front of the values: 8 when the count is stored there.
    @inline(__always) private static func prefix(_ count: Int) -> Int { count >= countInWordLimit ? 8 : 0 }

    @inline(__always) private var contents: UnsafeMutableRawPointer { block + Self.prefix(count) }

    /// The size of Redis's intset for these values (its intsetBlobLen): 8 bytes of header and the values.
    var byteCount: Int { 8 + count * width }

    /// Redis's intset, byte for byte: encoding and length as little-endian UInt32, then the values.
    var blob: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: byteCount)
        bytes.withUnsafeMutableBytes { out in
            out.storeBytes(of: UInt32(width).littleEndian, as: UInt32.self)
            out.storeBytes(of: UInt32(count).littleEndian, toByteOffset: 4, as: UInt32.self)
            if count > 0 { (out.baseAddress! + 8).copyMemory(from: contents, byteCount: count * width) }
        }
        return bytes
    }

    func free() { Glibc.free(block) }

    /// A copy in its own allocation (COPY keeps the encoding, width included).
    func copy() -> IntSet {
        var new = self
        let bytes = Swift.max(1, Self.prefix(count) + count * width)
        new.block = Self.allocate(bytes)
        new.block.copyMemory(from: block, byteCount: bytes)
        return new
    }

    /// The narrowest width that holds `value` (Redis's _intsetValueEncoding).
    @inline(__always) static func width(for value: Int64) -> Int {
        if value < Int64(Int32.min) || value > Int64(Int32.max) { return 8 }
        if value < Int64(Int16.min) || value > Int64(Int16.max) { return 4 }
        return 2
    }

    // MARK: - Reading

    /// The value at `position` (0-based, ascending).
    @inline(__always) func value(at position: Int) -> Int64 {
        Self.load(contents, position, width: width)
    }

    @inline(__always) private static func load(_ contents: UnsafeMutableRawPointer, _ i: Int, width: Int) -> Int64 {
        switch width {
        case 2: return Int64(Int16(littleEndian: contents.load(fromByteOffset: i &* 2, as: Int16.self)))
        case 4: return Int64(Int32(littleEndian: contents.load(fromByteOffset: i &* 4, as: Int32.self)))
        default: return Int64(littleEndian: contents.load(fromByteOffset: i &* 8, as: Int64.self))
        }
    }

    @inline(__always) private static func store(_ value: Int64, _ contents: UnsafeMutableRawPointer, _ i: Int, width: Int) {
        switch width {
        case 2: contents.storeBytes(of: Int16(truncatingIfNeeded: value).littleEndian, toByteOffset: i &* 2, as: Int16.self)
        case 4: contents.storeBytes(of: Int32(truncatingIfNeeded: value).littleEndian, toByteOffset: i &* 4, as: Int32.self)
        default: contents.storeBytes(of: value.littleEndian, toByteOffset: i &* 8, as: Int64.self)
        }
    }

    /// Redis's intsetSearch: whether `value` is present, and its position, or the position it would be
    /// inserted at. The ends are checked first, so appending in ascending order costs no search.
    func search(_ value: Int64) -> (found: Bool, position: Int) {
        let n = count
        if n == 0 { return (false, 0) }
        let w = width
        let contents = self.contents
        if value > Self.load(contents, n - 1, width: w) { return (false, n) }
        if value < Self.load(contents, 0, width: w) { return (false, 0) }
        var lo = 0, hi = n - 1
        while lo <= hi {
            let mid = (lo + hi) >> 1
            let current = Self.load(contents, mid, width: w)
            if value > current { lo = mid + 1 } else if value < current { hi = mid - 1 } else { return (true, mid) }
        }
        return (false, lo)
    }

    /// - Complexity: O(log n)
    func contains(_ value: Int64) -> Bool {
        Self.width(for: value) <= width && search(value).found
    }

    // MARK: - Writing

    /// Adds `value`; false if it was already there (Redis's intsetAdd).
    /// - Complexity: O(n) (the tail moves, or every value is widened)
    mutating func insert(_ value: Int64) -> Bool {
        if Self.width(for: value) > width {
            upgradeAndAdd(value)
            return true
        }
        let (found, position) = search(value)
        if found { return false }
        let n = count, w = width
        resize(to: n + 1, width: w)
        let contents = self.contents
        if position < n { (contents + (position + 1) * w).copyMemory(from: contents + position * w, byteCount: (n - position) * w) }
        Self.store(value, contents, position, width: w)
        return true
    }

    /// Removes `value`; false if it was not there (Redis's intsetRemove).
    /// - Complexity: O(n)
    mutating func remove(_ value: Int64) -> Bool {
        guard Self.width(for: value) <= width else { return false }
        let (found, position) = search(value)
        if !found { return false }
        let n = count, w = width
        let contents = self.contents
        if position < n - 1 { (contents + position * w).copyMemory(from: contents + (position + 1) * w, byteCount: (n - 1 - position) * w) }
        resize(to: n - 1, width: w)
        return true
    }

    /// A value wider than every stored one is either below all of them (negative) or above all of them:
    /// widen in place from the last value down, then put the new one at the start or the end.
    private mutating func upgradeAndAdd(_ value: Int64) {
        let oldWidth = width, newWidth = Self.width(for: value)
        let n = count
        let prepend = value < 0 ? 1 : 0
        resize(to: n + 1, width: newWidth)
        let contents = self.contents
        var i = n - 1
        while i >= 0 {
            Self.store(Self.load(contents, i, width: oldWidth), contents, i + prepend, width: newWidth)
            i -= 1
        }
        Self.store(value, contents, prepend == 1 ? 0 : n, width: newWidth)
    }

    /// Reallocates the block for `newCount` values of `newWidth` bytes and sets both. The first
    /// min(count, newCount) values keep their bytes at the old width; the count moves into or out of the
    /// block when it crosses `countInWordLimit`.
    @inline(__always) private mutating func resize(to newCount: Int, width newWidth: Int) {
        if count < IntSet.countInWordLimit && newCount < IntSet.countInWordLimit {
            block = Self.reallocate(block, Swift.max(1, newCount * newWidth))
            count = newCount
            width = newWidth
        } else {
            resizeWithCountInBlock(to: newCount, width: newWidth)
        }
    }

    private mutating func resizeWithCountInBlock(to newCount: Int, width newWidth: Int) {
        precondition(newCount < 1 << 30, "IntSet: too many values")
        let oldPrefix = Self.prefix(count), newPrefix = Self.prefix(newCount)
        let kept = Swift.min(count, newCount) * width
        let bytes = Swift.max(1, newPrefix + newCount * newWidth)
        if newPrefix > oldPrefix {
            block = Self.reallocate(block, bytes)
            if kept > 0 { (block + newPrefix).copyMemory(from: block + oldPrefix, byteCount: kept) }
        } else if newPrefix < oldPrefix {
            if kept > 0 { block.copyMemory(from: block + oldPrefix, byteCount: kept) }
            block = Self.reallocate(block, bytes)
        } else {
            block = Self.reallocate(block, bytes)
        }
        count = newCount
        width = newWidth
        if newPrefix > 0 { block.storeBytes(of: UInt64(newCount), as: UInt64.self) }
    }

    /// malloc and realloc, checking that the address fits the word (see the header).
    @inline(__always) private static func allocate(_ bytes: Int) -> UnsafeMutableRawPointer {
        let p = malloc(bytes)!
        precondition(UInt(bitPattern: p) & ~addressMask == 0, "IntSet: block address does not fit the word")
        return p
    }

    @inline(__always) private static func reallocate(_ p: UnsafeMutableRawPointer, _ bytes: Int) -> UnsafeMutableRawPointer {
        let q = realloc(p, bytes)!
        precondition(UInt(bitPattern: q) & ~addressMask == 0, "IntSet: block address does not fit the word")
        return q
    }

    // MARK: - Invariants

    /// A valid width, strictly ascending values, each fitting the width, the count where the word says; O(n).
    func invariantViolation() -> String? {
        let w = width
        guard w == 2 || w == 4 || w == 8 else { return "intset width \(w)" }
        let n = count
        if n >= IntSet.countInWordLimit && Int(block.load(as: UInt64.self)) != n { return "intset count in block" }
        var previous = Int64.min
        for i in 0..<n {
            let v = value(at: i)
            if i > 0 && v <= previous { return "intset not strictly ascending at \(i): \(previous), \(v)" }
            if Self.width(for: v) > w { return "intset value \(v) wider than \(w) bytes" }
            previous = v
        }
        return nil
    }
}
