import Glibc

/// A binary-safe, immutable byte string: the type of every key, string value and member.
///
/// Layout (24 bytes, no heap allocation for short strings):
/// - `.inline`: up to `ByteString.inlineCapacity` (22) bytes stored in the value itself, with the length
///   in the last payload byte. Most keys ("user:1000", "key:000000012345") and small values never allocate.
/// - `.heap`: a reference to a tail-allocated `ByteStorage` (one malloc: object header, count, bytes).
///
/// Redis stores an sds key plus a robj per value; keeping short strings inline is how a key and its small
/// value cost less than in redis-server (see Storage/HashTable.swift for the entry layout).
public enum ByteString: @unchecked Sendable {
    /// 22 data bytes + 1 length byte; with the enum tag the whole value is exactly 24 bytes.
    public typealias InlineBytes = (UInt64, UInt64, UInt32, UInt16, UInt8)
    case inline(InlineBytes)
    case heap(ByteStorage)

    public static let inlineCapacity = 22

    @inlinable public static var empty: ByteString { .inline((0, 0, 0, 0, 0)) }
}

/// Heap storage for strings longer than the inline capacity. Immutable after creation.
public final class ByteStorage: ManagedBuffer<Int, UInt8>, @unchecked Sendable {
    @inlinable static func make(count: Int, _ fill: (UnsafeMutablePointer<UInt8>) -> Void) -> ByteStorage {
        let buffer = ByteStorage.create(minimumCapacity: count) { _ in count }
        buffer.withUnsafeMutablePointerToElements { fill($0) }
        return unsafeDowncast(buffer, to: ByteStorage.self)
    }
}

extension ByteString {
    /// Copies `bytes` into a new byte string.
    @inlinable public init(_ bytes: UnsafeRawBufferPointer) {
        let count = bytes.count
        if count <= ByteString.inlineCapacity {
            // Loaded as words (`loadWord`), not copied into the tuple's bytes: a copy's narrow stores stall
            // the wide loads that move the new string right after.
            guard let p = bytes.baseAddress, count > 0 else { self = .empty; return }
            let w0 = loadWord(p, count: min(count, 8))
            let w1 = count > 8 ? loadWord(p + 8, count: min(count - 8, 8)) : 0
            let w2 = count > 16 ? loadWord(p + 16, count: count - 16) : 0
            self = .inline((w0, w1, UInt32(truncatingIfNeeded: w2), UInt16(truncatingIfNeeded: w2 >> 32),
                            UInt8(truncatingIfNeeded: count)))
        } else {
            self = .heap(ByteStorage.make(count: count) { dst in
                UnsafeMutableRawPointer(dst).copyMemory(from: bytes.baseAddress!, byteCount: count)
            })
        }
    }

    /// Builds a string of `count` bytes written by `fill` (which must initialise all of them).
    @inlinable public init(count: Int, fill: (UnsafeMutableRawBufferPointer) -> Void) {
        if count <= ByteString.inlineCapacity {
            var raw: InlineBytes = (0, 0, 0, 0, 0)
            withUnsafeMutableBytes(of: &raw) { dst in
                fill(UnsafeMutableRawBufferPointer(rebasing: dst[0..<count]))
                dst[ByteString.inlineCapacity] = UInt8(truncatingIfNeeded: count)
            }
            self = .inline(raw)
        } else {
            self = .heap(ByteStorage.make(count: count) { dst in
                fill(UnsafeMutableRawBufferPointer(start: dst, count: count))
            })
        }
    }

    @inlinable public init<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        let array = Array(bytes)
        self = array.withUnsafeBytes { ByteString($0) }
    }

    /// UTF-8 bytes of a Swift string. For constants, configuration and tests, never on the request path.
    @inlinable public init(_ string: String) {
        var s = string
        self = s.withUTF8 { ByteString(UnsafeRawBufferPointer($0)) }
    }

    @inlinable public var count: Int {
        switch self {
        case .inline(let raw): return Int(raw.4)
        case .heap(let storage): return storage.header
        }
    }

    @inlinable public var isEmpty: Bool { count == 0 }

    /// Calls `body` with the bytes. The pointer is valid only inside `body`.
    @inlinable public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch self {
        case .inline(var raw):
            let count = Int(raw.4)
            return try Swift.withUnsafeBytes(of: &raw) { try body(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        case .heap(let storage):
            return try storage.withUnsafeMutablePointers { header, elements in
                try body(UnsafeRawBufferPointer(start: elements, count: header.pointee))
            }
        }
    }

    @inlinable public subscript(index: Int) -> UInt8 {
        precondition(index >= 0 && index < count, "ByteString index out of range")
        return withUnsafeBytes { $0[index] }
    }

    @inlinable public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// The bytes decoded as UTF-8 (invalid sequences repaired). For logs, config and error texts only.
    public var string: String { withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }

    /// A new string made of this one followed by `other`.
    public func appending(_ other: UnsafeRawBufferPointer) -> ByteString {
        withUnsafeBytes { mine in
            ByteString(count: mine.count + other.count) { dst in
                if mine.count > 0 { dst.baseAddress!.copyMemory(from: mine.baseAddress!, byteCount: mine.count) }
                if other.count > 0 {
                    (dst.baseAddress! + mine.count).copyMemory(from: other.baseAddress!, byteCount: other.count)
                }
            }
        }
    }

    /// Appends `suffix` in place. A heap string that is uniquely referenced grows into its spare capacity,
    /// and a new heap storage is allocated with room to spare as Redis's sds does (double the length up to
    /// 1 MB, then 1 MB more), so repeated appends cost amortized O(length of the suffix).
    public mutating func append(_ suffix: UnsafeRawBufferPointer) {
        let n = suffix.count
        if n == 0 { return }
        let oldCount = count
        let newCount = oldCount + n
        if case .heap(var storage) = self {
            self = .empty  // drop our reference, so `storage` is unique if nobody else holds the bytes
            if isKnownUniquelyReferenced(&storage) && storage.capacity >= newCount {
                storage.withUnsafeMutablePointers { header, elements in
                    UnsafeMutableRawPointer(elements + oldCount).copyMemory(from: suffix.baseAddress!, byteCount: n)
                    header.pointee = newCount
                }
                self = .heap(storage)
                return
            }
            self = .heap(storage)
        }
        if newCount <= ByteString.inlineCapacity { return self = appending(suffix) }
        let room = newCount < 1 << 20 ? newCount * 2 : newCount + 1 << 20
        let grown = ByteStorage.create(minimumCapacity: room) { _ in newCount }
        withUnsafeBytes { mine in
            grown.withUnsafeMutablePointerToElements { dst in
                if oldCount > 0 { UnsafeMutableRawPointer(dst).copyMemory(from: mine.baseAddress!, byteCount: oldCount) }
                UnsafeMutableRawPointer(dst + oldCount).copyMemory(from: suffix.baseAddress!, byteCount: n)
            }
        }
        self = .heap(unsafeDowncast(grown, to: ByteStorage.self))
    }

    /// ASCII-lowercased copy (command and option names).
    public func lowercased() -> ByteString {
        withUnsafeBytes { src in
            ByteString(count: src.count) { dst in
                for i in 0..<src.count { dst[i] = asciiLower(src[i]) }
            }
        }
    }

    /// Bytes actually allocated for this value beyond its 24 inline bytes (for MEMORY USAGE / INFO).
    public var heapBytes: Int {
        switch self {
        case .inline: return 0
        case .heap(let storage): return mallocSize(32 + storage.header)
        }
    }
}

@inlinable func asciiLower(_ c: UInt8) -> UInt8 { (c >= 65 && c <= 90) ? c | 0x20 : c }

/// The `count` (0...8) bytes at `p` as a little-endian word, zero above them: two overlapping loads, none past
/// `p + count`. Copying a few bytes into a zeroed local and loading it as a word instead makes the load wait
/// for the copy's narrow stores, which the CPU cannot forward to it (a store-forwarding stall, 10-20 cycles:
/// 40% of the command lookup's time at -P 16 before this).
@inlinable @inline(__always) func loadWord(_ p: UnsafeRawPointer, count: Int) -> UInt64 {
    switch count {
    case 8...:
        return UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
    case 4...:
        let low = UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
        let high = UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)))
        return low | high << UInt64(8 * (count - 4))  // the overlapping bytes are the same in both
    case 2...:
        let low = UInt64(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
        let high = UInt64(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: count - 2, as: UInt16.self)))
        return low | high << UInt64(8 * (count - 2))
    case 1:
        return UInt64(p.load(as: UInt8.self))
    default:
        return 0
    }
}

/// glibc malloc rounds requests up to 16-byte chunks with an 8-byte header (minimum 32).
@inlinable func mallocSize(_ n: Int) -> Int { max(32, (n + 8 + 15) & ~15) }

extension ByteString: Equatable {
    @inlinable public static func == (lhs: ByteString, rhs: ByteString) -> Bool {
        if case .inline(let a) = lhs, case .inline(let b) = rhs {
            return a.0 == b.0 && a.1 == b.1 && a.2 == b.2 && a.3 == b.3 && a.4 == b.4
        }
        return lhs.withUnsafeBytes { a in rhs.withUnsafeBytes { b in bytesEqual(a, b) } }
    }

    /// Compares with raw bytes (e.g. an argument still in the read buffer) without copying. An inline string
    /// (every short key, field and member) is compared word by word with the bytes loaded as words, which
    /// its zero padding makes exact: no call to memcmp (1.5% of a request's time at -P 16).
    @inlinable @inline(__always) public func equals(_ other: UnsafeRawBufferPointer) -> Bool {
        guard case .inline(let raw) = self else { return withUnsafeBytes { bytesEqual($0, other) } }
        let n = other.count
        guard Int(raw.4) == n else { return false }
        guard let p = other.baseAddress else { return true }
        if raw.0 != loadWord(p, count: min(n, 8)) { return false }
        if n <= 8 { return true }
        if raw.1 != loadWord(p + 8, count: min(n - 8, 8)) { return false }
        if n <= 16 { return true }
        let tail = loadWord(p + 16, count: n - 16)
        return raw.2 == UInt32(truncatingIfNeeded: tail) && raw.3 == UInt16(truncatingIfNeeded: tail >> 32)
    }
}

@inlinable func bytesEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
}

extension ByteString: Comparable {
    /// Byte-wise (memcmp) order, as Redis compares keys and members.
    @inlinable public static func < (lhs: ByteString, rhs: ByteString) -> Bool {
        lhs.withUnsafeBytes { a in rhs.withUnsafeBytes { b in compareBytes(a, b) < 0 } }
    }
}

/// memcmp order, shorter first on a common prefix. Returns <0, 0 or >0.
@inlinable public func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let n = min(a.count, b.count)
    if n > 0 {
        let c = memcmp(a.baseAddress!, b.baseAddress!, n)
        if c != 0 { return Int(c) }
    }
    return a.count - b.count
}

extension ByteString: Hashable {
    /// Swift hashing, for tests and models only; the keyspace uses its own seeded hash (Storage/Hashing).
    public func hash(into hasher: inout Hasher) {
        withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}

extension ByteString: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self.init(value) }
}

extension ByteString: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String { string }
    public var debugDescription: String { "ByteString(\(string.debugDescription))" }
}
