// Ziplist: the compact list of Redis before 7.0 (ziplist.c), still found in RDB files and DUMP payloads of
// older versions: RDB_TYPE_LIST_ZIPLIST, RDB_TYPE_HASH_ZIPLIST, RDB_TYPE_ZSET_ZIPLIST and the nodes of
// RDB_TYPE_LIST_QUICKLIST (version 1). Redis 7.0 loads them and converts them to listpacks; so do we, and
// this is the reader: it validates everything and never reads outside the blob.
//
// THE FORMAT
//
//     ┌zlbytes: UInt32 LE┬zltail: UInt32 LE┬zllen: UInt16 LE┬entry┬entry┬...┬0xFF┐
//
// zlbytes is the blob's size, zltail the offset of the last entry (10, the header size, when empty), zllen
// the entry count or 65535 when unknown. Each entry is
//
//     ┌prevlen┬encoding┬data┐
//
// - prevlen: the previous entry's total size (0 for the first): one byte when below 254, else 0xFE and a
//   UInt32 LE (Redis may keep the 5-byte form for a small value, which is legal). A 0xFF here is the end.
// - encoding, strings (length in the encoding, big-endian, bytes follow):
//       00LLLLLL                                   up to 63 bytes
//       01LLLLLL LLLLLLLL                          up to 16383 bytes
//       10______ <UInt32 BE length>                any length (the low 6 bits are ignored, as Redis does)
// - encoding, integers (little-endian, follow):
//       0xC0 Int16   0xD0 Int32   0xE0 Int64   0xF0 24-bit   0xFE Int8
//       0xF1...0xFD  no data: the value is (low 4 bits) - 1, i.e. 0...12
//   Any other byte 0xC1...0xFF is invalid.

enum Ziplist {
    static let headerSize = 10
    static let unknownCount = 65535
    static let end: UInt8 = 0xff

    /// Checks the whole ziplist and returns its number of entries.
    @discardableResult
    static func validate(_ blob: UnsafeRawBufferPointer) throws -> Int {
        try forEach(blob) { _ in }
    }

    /// Calls `body` with each entry in order, validating as it goes: zlbytes, the end marker, each entry's
    /// prevlen (it must equal the previous entry's size), encoding and length inside the blob, zltail and
    /// zllen (unless 65535). On a throw some entries may already have been delivered; the caller discards
    /// what it built. Returns the number of entries.
    @discardableResult
    static func forEach(_ blob: UnsafeRawBufferPointer, _ body: (ListpackElement) throws -> Void) throws -> Int {
        let size = blob.count
        guard size >= headerSize + 1 else { throw PersistenceFormatError("ziplist shorter than its header") }
        let zlbytes = Int(UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
        let zltail = Int(UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        let zllen = Int(UInt16(littleEndian: blob.loadUnaligned(fromByteOffset: 8, as: UInt16.self)))
        guard zlbytes == size else { throw PersistenceFormatError("ziplist header says \(zlbytes) bytes, blob has \(size)") }
        let last = size - 1
        guard blob[last] == end else { throw PersistenceFormatError("ziplist does not end with 0xFF") }

        var p = headerSize
        var previousSize = 0
        var lastEntry = headerSize
        var count = 0
        while blob[p] != end {
            let start = p
            @inline(__always) func need(_ n: Int) throws {
                guard n <= last - p else { throw PersistenceFormatError("ziplist entry at \(start) overruns the blob") }
            }
            // prevlen
            var prevlen = Int(blob[p])
            if prevlen == 0xfe {
                try need(5)
                prevlen = Int(UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: p + 1, as: UInt32.self)))
                p += 5
            } else {
                p += 1
            }
            guard prevlen == previousSize else {
                throw PersistenceFormatError("ziplist entry at \(start) has prevlen \(prevlen), previous entry is \(previousSize) bytes")
            }
            // encoding
            try need(1)
            let e = blob[p]
            switch e >> 6 {
            case 0, 1, 2:
                var length: Int
                if e >> 6 == 0 {
                    length = Int(e & 0x3f)
                    p += 1
                } else if e >> 6 == 1 {
                    try need(2)
                    length = Int(e & 0x3f) << 8 | Int(blob[p + 1])
                    p += 2
                } else {
                    try need(5)
                    length = Int(UInt32(bigEndian: blob.loadUnaligned(fromByteOffset: p + 1, as: UInt32.self)))
                    p += 5
                }
                try need(length)
                try body(.bytes(UnsafeRawBufferPointer(rebasing: blob[p..<(p + length)])))
                p += length
            default:
                let width: Int
                switch e {
                case 0xc0: width = 2
                case 0xd0: width = 4
                case 0xe0: width = 8
                case 0xf0: width = 3
                case 0xfe: width = 1
                case 0xf1...0xfd: width = 0
                default: throw PersistenceFormatError("ziplist entry at \(start) has invalid encoding 0x\(String(e, radix: 16))")
                }
                p += 1
                try need(width)
                let value: Int64
                if width == 0 {
                    value = Int64(e & 0x0f) - 1
                } else {
                    var u: UInt64 = 0
                    for i in 0..<width { u |= UInt64(blob[p + i]) << (8 * UInt64(i)) }
                    let unused = UInt64(64 - 8 * width)    // sign-extend from `width` bytes
                    value = Int64(bitPattern: u << unused) >> Int64(unused)
                }
                try body(.integer(value))
                p += width
            }
            previousSize = p - start
            lastEntry = start
            count += 1
        }
        guard p == last else { throw PersistenceFormatError("ziplist end marker at \(p) before the end") }
        guard zltail == lastEntry else { throw PersistenceFormatError("ziplist zltail \(zltail), last entry at \(lastEntry)") }
        guard zllen == unknownCount || zllen == count else {
            throw PersistenceFormatError("ziplist header says \(zllen) entries, found \(count)")
        }
        return count
    }
}
