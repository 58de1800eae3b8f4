// Zipmap: the string -> string map of Redis 2.x (zipmap.c), found in old RDB files as RDB_TYPE_HASH_ZIPMAP.
// Redis 7.0 still loads it (converting it to a listpack or a hash table); this is the reader, validating
// everything and never reading outside the blob.
//
// THE FORMAT
//
//     ┌zmlen: UInt8┬len┬key┬len┬free: UInt8┬value┬<free unused bytes>┬len┬key┬...┬0xFF┐
//
// zmlen is the number of pairs when below 254, else 254 ("count them"). A len is one byte when below 254,
// else 0xFE and a UInt32 in host order (little-endian on every machine Redis ran on); 0xFF where a key's
// len would be is the end. `free` counts unused bytes after the value (left by an in-place update).

enum Zipmap {
    static let unknownCount = 254
    static let end: UInt8 = 0xff

    /// Calls `body` with each (key, value) in order, validating the whole zipmap: every length inside the
    /// blob, the end marker as the last byte, and zmlen (unless 254). Returns the number of pairs.
    @discardableResult
    static func forEachPair(_ blob: UnsafeRawBufferPointer,
                            _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        let size = blob.count
        guard size >= 2 else { throw PersistenceFormatError("zipmap shorter than 2 bytes") }
        let zmlen = Int(blob[0])
        let last = size - 1
        guard blob[last] == end else { throw PersistenceFormatError("zipmap does not end with 0xFF") }

        var p = 1
        var count = 0
        /// Reads a len at p (p < last guaranteed by the caller) and moves past it.
        func readLength() throws -> Int {
            let b = blob[p]
            switch b {
            case 0..<254:
                p += 1
                return Int(b)
            case 254:
                guard 5 <= last - p else { throw PersistenceFormatError("zipmap length at \(p) overruns the blob") }
                let length = Int(UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: p + 1, as: UInt32.self)))
                p += 5
                return length
            default:
                throw PersistenceFormatError("zipmap entry at \(p) has length byte 0xFF")
            }
        }
        func take(_ n: Int) throws -> UnsafeRawBufferPointer {
            guard n <= last - p else { throw PersistenceFormatError("zipmap entry at \(p) overruns the blob") }
            defer { p += n }
            return UnsafeRawBufferPointer(rebasing: blob[p..<(p + n)])
        }

        while blob[p] != end {
            let key = try take(try readLength())
            guard p < last else { throw PersistenceFormatError("zipmap key without a value") }
            let valueLength = try readLength()
            guard p < last else { throw PersistenceFormatError("zipmap value without its free byte") }
            let free = Int(blob[p])
            p += 1
            let value = try take(valueLength)
            _ = try take(free)
            try body(key, value)
            count += 1
        }
        guard p == last else { throw PersistenceFormatError("zipmap end marker at \(p) before the end") }
        guard zmlen == unknownCount || zmlen == count else {
            throw PersistenceFormatError("zipmap header says \(zmlen) pairs, found \(count)")
        }
        return count
    }
}
