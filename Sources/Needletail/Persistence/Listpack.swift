// Listpack: Redis 7.0's compact sequence of strings and integers (listpack.c), the RDB form of small hashes
// (RDB_TYPE_HASH_LISTPACK), small sorted sets (RDB_TYPE_ZSET_LISTPACK) and the nodes of lists
// (RDB_TYPE_LIST_QUICKLIST_2). `ListpackWriter` builds one byte for byte as Redis's lpAppend does;
// `Listpack.forEach` reads and validates one.
//
// THE FORMAT
//
//     ┌total bytes: UInt32 LE┬count: UInt16 LE┬entry┬entry┬...┬0xFF┐
//
// `count` is the number of entries, or 65535 when there are 65535 or more (then only a scan counts them).
// Each entry is an encoding (which for integers holds the value), the string's bytes, then "backlen": the
// length of encoding + data, written so it can be read right to left (for walking backwards):
//
//     0xxxxxxx                      7-bit unsigned integer 0...127
//     10LLLLLL  <L bytes>           string of up to 63 bytes
//     110xxxxx  yyyyyyyy            13-bit signed integer (-4096...4095), two's complement, high bits first
//     1110LLLL  LLLLLLLL  <bytes>   string of up to 4095 bytes (length high bits first)
//     0xF0  <UInt32 LE length>  <bytes>     string of any length
//     0xF1 / 0xF2 / 0xF3 / 0xF4  <2 / 3 / 4 / 8 bytes LE>     16 / 24 / 32 / 64-bit signed integer
//     0xFF                          the end (not an entry)
//
// backlen is 1 to 5 bytes of 7 bits each, most significant group first; every byte but the first has its
// high bit set, so reading right to left a clear high bit marks the last byte. A length up to 127 takes 1
// byte, below 16383 two, below 2097151 three, below 268435455 four, else five (Redis's thresholds; note the
// `<`, so 16383 already takes three bytes).
//
// INTEGERS: lpAppend stores an element as an integer exactly when Redis's lpStringToInt64 accepts its bytes:
// "-"? then "0" alone or a nonzero digit and digits, within Int64 (no "+1", "01", "-0", spaces). That is our
// `parseInt64` (string2ll) rule; then the narrowest encoding that holds the value is used.

/// One entry of a listpack or ziplist: an integer or bytes pointing into the blob.
enum ListpackElement {
    case integer(Int64)
    case bytes(UnsafeRawBufferPointer)
}

/// Builds a listpack blob as a sequence of Redis lpAppend calls would. Reusable (`reset`) so a SAVE can
/// encode node after node into one growing buffer.
struct ListpackWriter {
    /// Header placeholder and entries; the terminator is added by `finish`. A growable raw buffer (an
    /// Array's `append(contentsOf:)` cost 11% of a SAVE of mixed types even through a typed pointer).
    /// Copies of a writer share it: use one writer at a time.
    private let storage: IOBuffer
    /// Entries appended so far.
    private(set) var count = 0

    init(reservingCapacity capacity: Int = 64) {
        storage = IOBuffer(capacity: Swift.max(capacity, 64))
        for _ in 0..<Listpack.headerSize { storage.append(UInt8(0)) }
    }

    /// The size of the finished blob (what Redis's lpBytes would answer).
    var byteCount: Int { storage.writeIndex + 1 }

    /// Starts again, empty, keeping the buffer's capacity.
    mutating func reset() {
        storage.writeIndex = Listpack.headerSize
        count = 0
    }

    /// Appends an element given as bytes: stored as an integer when Redis would (see the header).
    mutating func append(_ element: UnsafeRawBufferPointer) {
        // Most elements are words: their first byte (not a digit nor '-') settles it without parsing.
        if element.count <= maxInt64Length, element.count > 0,
           case let first = element.load(as: UInt8.self), first &- UInt8(ascii: "0") < 10 || first == UInt8(ascii: "-"),
           let value = parseInt64(element) {
            append(integer: value)
        } else {
            append(string: element)
        }
    }

    /// Appends an integer with its narrowest encoding (lpAppendInteger).
    mutating func append(integer v: Int64) {
        // Encoding bytes, then a one-byte backlen (entries of up to 127 bytes): at most 9 + 1 bytes, written in
        // place (a closure over the buffer cost a retain and a release per entry).
        storage.append(upTo: 10) { out in
            let u = UInt64(bitPattern: v)
            var n: Int
            if v >= 0 && v <= 127 {
                out.storeBytes(of: UInt8(v), as: UInt8.self)
                n = 1
            } else if v >= -4096 && v <= 4095 {
                let t = u & 0x1fff
                out.storeBytes(of: UInt8(t >> 8) | 0xc0, as: UInt8.self)
                out.storeBytes(of: UInt8(t & 0xff), toByteOffset: 1, as: UInt8.self)
                n = 2
            } else {
                let width: Int
                let code: UInt8
                if v >= Int64(Int16.min) && v <= Int64(Int16.max) { (code, width) = (0xf1, 2) }
                else if v >= -8_388_608 && v <= 8_388_607 { (code, width) = (0xf2, 3) }
                else if v >= Int64(Int32.min) && v <= Int64(Int32.max) { (code, width) = (0xf3, 4) }
                else { (code, width) = (0xf4, 8) }
                out.storeBytes(of: code, as: UInt8.self)
                (out + 1).storeBytes(of: u.littleEndian, as: UInt64.self)  // the bytes past `width` are overwritten
                n = 1 + width
            }
            out.storeBytes(of: UInt8(n), toByteOffset: n, as: UInt8.self)
            return n + 1
        }
        count += 1
    }

    /// Appends bytes as a string entry, whatever they look like (the caller already knows they are not an
    /// integer, or must keep them as a string).
    mutating func append(string element: UnsafeRawBufferPointer) {
        let length = element.count
        precondition(length <= Int(UInt32.max), "listpack string too long")
        storage.append(upTo: length + 10) { out in
            let headerLength: Int
            if length < 64 {
                out.storeBytes(of: 0x80 | UInt8(length), as: UInt8.self)
                headerLength = 1
            } else if length < 4096 {
                out.storeBytes(of: 0xe0 | UInt8(length >> 8), as: UInt8.self)
                out.storeBytes(of: UInt8(length & 0xff), toByteOffset: 1, as: UInt8.self)
                headerLength = 2
            } else {
                out.storeBytes(of: 0xf0, as: UInt8.self)
                (out + 1).storeBytes(of: UInt32(length).littleEndian, as: UInt32.self)
                headerLength = 5
            }
            if length > 0 { (out + headerLength).copyMemory(from: element.baseAddress!, byteCount: length) }
            let entry = headerLength + length
            return entry + Listpack.encodeBacklen(entry, into: out + entry)
        }
        count += 1
    }

    /// Calls `body` with the finished blob (header filled in, terminator added) without copying it out.
    mutating func withFinishedBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        storage.append(UInt8(0xff))
        defer { storage.writeIndex -= 1 }
        let total = UInt32(truncatingIfNeeded: storage.writeIndex)
        let header = UInt16(Swift.min(count, Listpack.unknownCount))
        storage.base.storeBytes(of: total.littleEndian, toByteOffset: 0, as: UInt32.self)
        storage.base.storeBytes(of: header.littleEndian, toByteOffset: 4, as: UInt16.self)
        return try body(UnsafeRawBufferPointer(start: storage.base, count: storage.writeIndex))
    }

    /// The finished blob.
    func finish() -> [UInt8] {
        var copy = self
        return copy.withFinishedBytes { Array($0) }
    }
}

enum Listpack {
    static let headerSize = 6
    static let unknownCount = 65535
    static let terminator: UInt8 = 0xff

    /// Writes the backlen of an entry of `length` bytes at `out`; returns its size (1...5).
    @inline(__always) static func encodeBacklen(_ length: Int, into out: UnsafeMutableRawPointer) -> Int {
        let size = backlenSize(length)
        for i in 0..<size {
            // Byte i holds bits 7*(size-1-i) ..< 7*(size-i); all but the first are flagged.
            let group = UInt8(truncatingIfNeeded: length >> (7 * (size - 1 - i))) & 0x7f
            out.storeBytes(of: i == 0 ? group : group | 0x80, toByteOffset: i, as: UInt8.self)
        }
        return size
    }

    /// Bytes of the backlen of an entry of `length` bytes (lpEncodeBacklen's thresholds).
    @inline(__always) static func backlenSize(_ length: Int) -> Int {
        if length <= 127 { return 1 }
        if length < 16383 { return 2 }
        if length < 2_097_151 { return 3 }
        if length < 268_435_455 { return 4 }
        return 5
    }

    /// What the entries of a (not yet validated) listpack take without their encodings' and backlens'
    /// second byte: exactly the bytes of its strings plus one byte each when all are shorter than 64 bytes,
    /// a size to reserve before copying them out (0 when the header's count is unknown or implausible).
    static func stringBytesEstimate(_ blob: UnsafeRawBufferPointer) -> Int {
        guard blob.count > headerSize else { return 0 }
        let count = Int(UInt16(littleEndian: blob.loadUnaligned(fromByteOffset: 4, as: UInt16.self)))
        guard count != unknownCount else { return 0 }
        return max(0, blob.count - headerSize - 1 - count)
    }

    /// Checks the whole listpack and returns its number of entries.
    @discardableResult
    static func validate(_ blob: UnsafeRawBufferPointer) throws -> Int {
        try forEach(blob) { _ in }
    }

    /// Calls `body` with each entry in order, validating as it goes: the header's total size, the
    /// terminator, every entry's encoding and length inside the blob, every backlen, and the header's count
    /// (unless 65535). On a throw some entries may already have been delivered; the caller discards what it
    /// built. Returns the number of entries.
    @discardableResult
    static func forEach(_ blob: UnsafeRawBufferPointer, _ body: (ListpackElement) throws -> Void) throws -> Int {
        let size = blob.count
        guard size >= headerSize + 1 else { throw PersistenceFormatError("listpack shorter than its header") }
        let total = Int(UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
        guard total == size else { throw PersistenceFormatError("listpack header says \(total) bytes, blob has \(size)") }
        let headerCount = Int(UInt16(littleEndian: blob.loadUnaligned(fromByteOffset: 4, as: UInt16.self)))
        let end = size - 1      // the terminator's offset: entries must end before it
        guard blob[end] == terminator else { throw PersistenceFormatError("listpack does not end with 0xFF") }

        var p = headerSize
        var count = 0
        while p < end {
            let e = blob[p]
            var headerLength = 1
            var dataLength = 0
            var integer: Int64 = 0      // when not a string
            var isString = false
            @inline(__always) func need(_ n: Int) throws {
                guard n <= end - p else { throw PersistenceFormatError("listpack entry at \(p) overruns the blob") }
            }
            switch e {
            case 0x00...0x7f:
                integer = Int64(e)
            case 0x80...0xbf:
                dataLength = Int(e & 0x3f)
                isString = true
            case 0xc0...0xdf:
                try need(2)
                headerLength = 2
                let raw = Int64(e & 0x1f) << 8 | Int64(blob[p + 1])
                integer = raw >= 4096 ? raw - 8192 : raw
            case 0xe0...0xef:
                try need(2)
                headerLength = 2
                dataLength = Int(e & 0x0f) << 8 | Int(blob[p + 1])
                isString = true
            case 0xf0:
                try need(5)
                headerLength = 5
                dataLength = Int(UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: p + 1, as: UInt32.self)))
                isString = true
            case 0xf1, 0xf2, 0xf3, 0xf4:
                let width = e == 0xf1 ? 2 : e == 0xf2 ? 3 : e == 0xf3 ? 4 : 8
                try need(1 + width)
                headerLength = 1 + width
                var u: UInt64 = 0
                for i in 0..<width { u |= UInt64(blob[p + 1 + i]) << (8 * UInt64(i)) }
                let unused = UInt64(64 - 8 * width)        // sign-extend from `width` bytes
                integer = Int64(bitPattern: u << unused) >> Int64(unused)
            case 0xff:
                throw PersistenceFormatError("listpack terminator at \(p) before the end")
            default:
                throw PersistenceFormatError("listpack entry at \(p) has invalid encoding 0x\(String(e, radix: 16))")
            }

            let entryLength = headerLength + dataLength
            let backlenLength = backlenSize(entryLength)
            try need(entryLength + backlenLength)
            // The common entry (up to 127 bytes) has a 1-byte backlen: its length.
            let backlenMatches = backlenLength == 1 ? blob[p + entryLength] == UInt8(entryLength)
                : withUnsafeTemporaryAllocation(byteCount: 8, alignment: 8) { buf -> Bool in
                    _ = encodeBacklen(entryLength, into: buf.baseAddress!)
                    for i in 0..<backlenLength where blob[p + entryLength + i] != buf[i] { return false }
                    return true
                }
            guard backlenMatches else { throw PersistenceFormatError("listpack entry at \(p) has a wrong backlen") }

            if isString {
                try body(.bytes(UnsafeRawBufferPointer(rebasing: blob[(p + headerLength)..<(p + entryLength)])))
            } else {
                try body(.integer(integer))
            }
            count += 1
            p += entryLength + backlenLength
        }
        guard headerCount == unknownCount || headerCount == count else {
            throw PersistenceFormatError("listpack header says \(headerCount) entries, found \(count)")
        }
        return count
    }
}
