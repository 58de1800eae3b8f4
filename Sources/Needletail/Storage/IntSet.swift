import Glibc

// IntSet: Redis's intset.c, the compact form of a set whose members are all integers.
//
// LAYOUT — one malloc'ed blob, byte for byte Redis's intset (and so the RDB's RDB_TYPE_SET_INTSET payload):
//
//     ┌encoding: UInt32 LE┬length: UInt32 LE┬contents: length values of `encoding` bytes each, LE, ascending┐
//
// `encoding` is the width of every value, 2, 4 or 8 bytes: the narrowest that fits the widest value ever
// added. Adding a value that needs more width "upgrades" the whole blob (every value rewritten wider, from
// the end backwards so nothing is overwritten before it is read); as in Redis, removing values never
// downgrades it. The blob is resized to its exact length on every insertion and removal (Redis's
// zrealloc), so a set of 10 values under 32768 costs 8 + 20 bytes. The contents start 8 bytes into a
// 16-byte-aligned allocation, so every value is naturally aligned.
//
// Lookups are binary searches (O(log n)); insertions and removals move the tail (O(n)): intsets are only
// used up to set-max-intset-entries (512 by default) members.
//
// `IntSet` is a value wrapping the blob's address: a mutation may reallocate it, so the owner stores the
// wrapper back after mutating (SetValue keeps the address in its one stored word). It never frees itself.

struct IntSet {
    private(set) var blob: UnsafeMutableRawPointer

    static let headerSize = 8

    /// An empty intset of 16-bit values (Redis's intsetNew).
    init() {
        blob = malloc(IntSet.headerSize)!
        blob.storeBytes(of: UInt32(2).littleEndian, as: UInt32.self)
        blob.storeBytes(of: UInt32(0).littleEndian, toByteOffset: 4, as: UInt32.self)
    }

    init(blob: UnsafeMutableRawPointer) {
        self.blob = blob
    }

    /// Bytes per value: 2, 4 or 8.
    @inline(__always) var width: Int { Int(UInt32(littleEndian: blob.load(as: UInt32.self))) }

    @inline(__always) var count: Int { Int(UInt32(littleEndian: blob.load(fromByteOffset: 4, as: UInt32.self))) }

    /// The size of the blob: what Redis's intsetBlobLen answers, and what is allocated.
    var byteCount: Int { IntSet.headerSize + count * width }

    func free() { Glibc.free(blob) }

    /// A copy in its own allocation (COPY keeps the encoding, width included).
    func copy() -> IntSet {
        let bytes = byteCount
        let new = malloc(bytes)!
        new.copyMemory(from: blob, byteCount: bytes)
        return IntSet(blob: new)
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
        Self.load(blob + IntSet.headerSize, position, width: width)
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
        let contents = blob + IntSet.headerSize
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
        resize(n + 1)
        let contents = blob + IntSet.headerSize
        if position < n { (contents + (position + 1) * w).copyMemory(from: contents + position * w, byteCount: (n - position) * w) }
        Self.store(value, contents, position, width: w)
        setCount(n + 1)
        return true
    }

    /// Removes `value`; false if it was not there (Redis's intsetRemove).
    /// - Complexity: O(n)
    mutating func remove(_ value: Int64) -> Bool {
        guard Self.width(for: value) <= width else { return false }
        let (found, position) = search(value)
        if !found { return false }
        let n = count, w = width
        let contents = blob + IntSet.headerSize
        if position < n - 1 { (contents + position * w).copyMemory(from: contents + (position + 1) * w, byteCount: (n - 1 - position) * w) }
        setCount(n - 1)
        resize(n - 1)
        return true
    }

    /// A value wider than every stored one is either below all of them (negative) or above all of them:
    /// widen in place from the last value down, then put the new one at the start or the end.
    private mutating func upgradeAndAdd(_ value: Int64) {
        let oldWidth = width, newWidth = Self.width(for: value)
        let n = count
        let prepend = value < 0 ? 1 : 0
        blob.storeBytes(of: UInt32(newWidth).littleEndian, as: UInt32.self)
        resize(n + 1)
        let contents = blob + IntSet.headerSize
        var i = n - 1
        while i >= 0 {
            Self.store(Self.load(contents, i, width: oldWidth), contents, i + prepend, width: newWidth)
            i -= 1
        }
        Self.store(value, contents, prepend == 1 ? 0 : n, width: newWidth)
        setCount(n + 1)
    }

    /// Reallocates the blob for `length` values of the current width.
    private mutating func resize(_ length: Int) {
        precondition(length < 1 << 30, "IntSet: too many values")
        blob = realloc(blob, IntSet.headerSize + length * width)!
    }

    @inline(__always) private func setCount(_ n: Int) {
        blob.storeBytes(of: UInt32(n).littleEndian, toByteOffset: 4, as: UInt32.self)
    }

    // MARK: - Invariants

    /// A valid width, strictly ascending values, each fitting the width; O(n).
    func invariantViolation() -> String? {
        let w = width
        guard w == 2 || w == 4 || w == 8 else { return "intset width \(w)" }
        let n = count
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
