import Glibc

/// Why an RDB file or DUMP payload could not be read. Loading at start-up logs `description` and exits;
/// RESTORE answers Redis's "Bad data format".
struct RDBError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A bounds-checked reader of RDB primitives over bytes in memory (a DUMP payload, or a whole file mapped
/// read-only). Every length is checked against what is left before anything is allocated, so a lying
/// length fails cleanly instead of asking malloc for terabytes.
struct RDBInput {
    let base: UnsafeRawPointer
    let end: Int
    private(set) var offset: Int
    /// Buffers reused from value to value by a thread decoding many (a load's decoding threads).
    var scratch: DecodeScratch?

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        base = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        end = bytes.count
        self.offset = offset
    }

    var remaining: Int { end - offset }
    var isAtEnd: Bool { offset >= end }

    @inline(__always) mutating func byte() throws -> UInt8 {
        guard offset < end else { throw RDBError("Unexpected EOF reading RDB file") }
        let b = base.load(fromByteOffset: offset, as: UInt8.self)
        offset += 1
        return b
    }

    @inline(__always) mutating func bytes(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= end - offset else { throw RDBError("Unexpected EOF reading RDB file") }
        let slice = UnsafeRawBufferPointer(start: base + offset, count: n)
        offset += n
        return slice
    }

    mutating func littleEndian<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let raw = try bytes(MemoryLayout<T>.size)
        return T(littleEndian: raw.loadUnaligned(as: T.self))
    }

    /// A length, or (for an encoded string) its encoding (rdbLoadLenByRef).
    mutating func lengthOrEncoding() throws -> (value: UInt64, encoded: Bool) {
        let first = try byte()
        switch first >> 6 {
        case 0: return (UInt64(first & 0x3F), false)
        case 1: return (UInt64(first & 0x3F) << 8 | UInt64(try byte()), false)
        case 2:
            if first == 0x80 { return (UInt64(try littleEndian(UInt32.self).byteSwapped), false) }
            if first == 0x81 { return (try littleEndian(UInt64.self).byteSwapped, false) }
            throw RDBError("Unknown length encoding \(first) in rdbLoadLen()")
        default: return (UInt64(first & 0x3F), true)
        }
    }

    /// A plain length that must fit what a count or size can be.
    mutating func length() throws -> Int {
        let (value, encoded) = try lengthOrEncoding()
        guard !encoded, value <= UInt64(Int.max) else { throw RDBError("Invalid length") }
        return Int(value)
    }

    /// A count of items each taking at least `minimumBytes` bytes: rejected when what is left cannot hold
    /// them, so no loop or reservation trusts a lying count.
    mutating func count(minimumBytes: Int = 1) throws -> Int {
        let n = try length()
        guard n <= remaining / max(minimumBytes, 1) else { throw RDBError("Invalid length") }
        return n
    }

    /// A string as the file holds it: plain bytes, an integer, or LZF-compressed bytes and their length.
    private enum StoredString {
        case bytes(UnsafeRawBufferPointer)
        case integer(Int64)
        case compressed(UnsafeRawBufferPointer, length: Int)
    }

    /// Reads a string's encoding and steps over the bytes it takes, decoding nothing: what `withString` and
    /// `skipString` both read.
    @inline(__always) private mutating func storedString() throws -> StoredString {
        let (value, encoded) = try lengthOrEncoding()
        if !encoded {
            guard value <= UInt64(remaining) else { throw RDBError("Unexpected EOF reading RDB file") }
            return .bytes(try bytes(Int(value)))
        }
        switch UInt8(value) {
        case RDB.encInt8: return .integer(Int64(Int8(bitPattern: try byte())))
        case RDB.encInt16: return .integer(Int64(try littleEndian(Int16.self)))
        case RDB.encInt32: return .integer(Int64(try littleEndian(Int32.self)))
        case RDB.encLZF:
            let compressedLength = try length()
            let length = try self.length()
            return .compressed(try bytes(compressedLength), length: length)
        default:
            throw RDBError("Unknown RDB string encoding type \(value)")
        }
    }

    /// Calls `body` with a string's bytes, decoding the integer and LZF forms (in a temporary buffer).
    @discardableResult mutating func withString<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        switch try storedString() {
        case .bytes(let bytes): return try body(bytes)
        case .integer(let v): return try withDigits(v, body)
        case .compressed(let compressed, let length):
            // LZF expands at most ~88-fold (a 3-byte back reference yields 264 bytes): a larger claim lies.
            guard length > 0, length <= compressed.count * 90 + 64 else { throw RDBError("Invalid LZF compressed string") }
            // malloc, not allocate(): a claim the machine cannot hold is refused, not a trap.
            let reused = scratch?.buffer(.lzf, bytes: length)
            guard let block = reused ?? malloc(length) else { throw RDBError("Invalid LZF compressed string") }
            defer { if reused == nil { free(block) } }
            let out = UnsafeMutableRawBufferPointer(start: block, count: length)
            guard LZF.decompress(compressed, into: out) == length else { throw RDBError("Invalid LZF compressed string") }
            return try body(UnsafeRawBufferPointer(out))
        }
    }

    private func withDigits<R>(_ v: Int64, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var digits = (UInt64(0), UInt64(0), UInt64(0))
        return try withUnsafeMutableBytes(of: &digits) { buf in
            let n = writeInt64(v, to: buf.baseAddress!)
            return try body(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
        }
    }

    mutating func string() throws -> ByteString { try withString { ByteString($0) } }

    /// Whether the string that follows is LZF-compressed (without reading it).
    var compressedStringFollows: Bool {
        offset < end && base.load(fromByteOffset: offset, as: UInt8.self) == 0xC0 | RDB.encLZF
    }

    /// Steps over a string without decoding it (no LZF decompression, no copy).
    mutating func skipString() throws { _ = try storedString() }

    /// Steps over a value of RDB type `type`, reading exactly the bytes `value(type:limits:)` reads when it
    /// succeeds, so the value can be decoded later (on another thread) from where it starts. Returns false,
    /// having read an unspecified part of it, for types that are only read by decoding them (streams,
    /// modules, unknown types); throws where the value's framing is malformed.
    mutating func skipValue(type: UInt8) throws -> Bool {
        switch type {
        case RDB.typeString, RDB.typeListZiplist, RDB.typeSetIntset, RDB.typeSetListpack, RDB.typeZsetZiplist,
             RDB.typeZsetListpack, RDB.typeHashZipmap, RDB.typeHashZiplist, RDB.typeHashListpack:
            try skipString()
        case RDB.typeList, RDB.typeSet, RDB.typeListQuicklist:
            for _ in 0..<(try count()) { try skipString() }
        case RDB.typeListQuicklist2:
            for _ in 0..<(try count()) {
                _ = try length()
                try skipString()
            }
        case RDB.typeHash:
            for _ in 0..<(try count(minimumBytes: 2)) {
                try skipString()
                try skipString()
            }
        case RDB.typeZset:
            for _ in 0..<(try count()) {
                try skipString()
                let n = try byte()
                if n < 253 { _ = try bytes(Int(n)) }
            }
        case RDB.typeZset2:
            for _ in 0..<(try count()) {
                try skipString()
                _ = try bytes(8)
            }
        default:
            return false
        }
        return true
    }

    /// Moves to `offset` (at most `end`), where the caller knows a value starts.
    mutating func seek(to offset: Int) {
        precondition(offset >= 0 && offset <= end)
        self.offset = offset
    }

    /// A score of the old RDB_TYPE_ZSET: a length byte and its text, 253 NaN, 254 +inf, 255 -inf.
    mutating func stringDouble() throws -> Double {
        let n = try byte()
        switch n {
        case 253: return .nan
        case 254: return .infinity
        case 255: return -.infinity
        default:
            let text = try bytes(Int(n))
            guard let v = withCString(text, { s -> Double? in
                var end: UnsafeMutablePointer<CChar>? = nil
                let v = strtod(s, &end)
                return end! - s == Int(n) ? v : nil
            }) else { throw RDBError("Invalid double value") }
            return v
        }
    }

    mutating func binaryDouble() throws -> Double {
        Double(bitPattern: try littleEndian(UInt64.self))
    }
}
