// IntSetBlob: reads Redis's intset layout (intset.c), the RDB_TYPE_SET_INTSET payload:
//
//     ┌encoding: UInt32 LE (2, 4 or 8)┬length: UInt32 LE┬length values of `encoding` bytes, LE, signed┐
//
// The values must be strictly ascending (no duplicates), and the blob exactly 8 + length * encoding bytes.
// A value need not require its encoding (a set never narrows after removals). Writing is IntSet.blob
// (Storage/IntSet.swift), which already builds this layout.

enum IntSetBlob {
    static let headerSize = 8

    /// The set a valid blob holds, its contents copied as they are (see `forEach` for what is checked).
    static func intset(_ blob: UnsafeRawBufferPointer) throws -> IntSet {
        let count = try forEach(blob) { _ in }
        let width = Int(UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
        return IntSet(copying: UnsafeRawBufferPointer(rebasing: blob[headerSize...]), width: width, count: count)
    }

    /// Calls `body` with each value in ascending order after validating the header and size; throws on an
    /// unknown encoding, a size mismatch or values out of order. Returns the number of values.
    @discardableResult
    static func forEach(_ blob: UnsafeRawBufferPointer, _ body: (Int64) throws -> Void) throws -> Int {
        guard blob.count >= headerSize else { throw PersistenceFormatError("intset shorter than its header") }
        let width = Int(UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
        let count = Int(UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        guard width == 2 || width == 4 || width == 8 else { throw PersistenceFormatError("intset encoding \(width)") }
        guard blob.count - headerSize == count * width else {
            throw PersistenceFormatError("intset of \(count) values of \(width) bytes in \(blob.count) bytes")
        }
        var previous = Int64.min
        for i in 0..<count {
            let offset = headerSize + i * width
            let value: Int64
            switch width {
            case 2: value = Int64(Int16(littleEndian: blob.loadUnaligned(fromByteOffset: offset, as: Int16.self)))
            case 4: value = Int64(Int32(littleEndian: blob.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
            default: value = Int64(littleEndian: blob.loadUnaligned(fromByteOffset: offset, as: Int64.self))
            }
            guard i == 0 || value > previous else { throw PersistenceFormatError("intset values not ascending at \(i)") }
            previous = value
            try body(value)
        }
        return count
    }
}
