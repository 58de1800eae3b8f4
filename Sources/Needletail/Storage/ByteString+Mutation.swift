/// Editing a string value's bytes in place: what SETBIT, BITFIELD, PFADD and PFMERGE do to a stored string
/// (Redis's dbUnshareStringValue + sdsgrowzero). A `ByteString` is immutable to everyone who shares it, so the
/// edit happens in place only when the caller holds the one reference to a heap storage with room enough;
/// otherwise the bytes are copied first (copy on write). A snapshot or a client still holding the old value
/// keeps seeing the old bytes.
///
/// Growth follows sds's greedy rule (double up to 1 MB, then 1 MB more), so SETBIT walking upwards through a
/// bitmap costs amortized O(1) per call rather than a copy of the whole bitmap each time.
extension ByteString {
    /// Runs `body` over this string's bytes, made at least `minimumCount` long (new bytes are zero), and
    /// mutable. The caller must hold the only copy it means to change (e.g. the value taken out of its entry).
    /// - Complexity: O(1) for a uniquely referenced heap string with room; O(n) when it must be copied.
    @inlinable public mutating func withMutableBytes<R>(growingTo minimumCount: Int = 0,
                                                        _ body: (UnsafeMutableRawBufferPointer) -> R) -> R {
        let oldCount = count
        let newCount = Swift.max(oldCount, minimumCount)
        if newCount <= ByteString.inlineCapacity {
            // Short strings live inline: edit a copy and store it back.
            var raw: InlineBytes = (0, 0, 0, 0, 0)
            let result = Swift.withUnsafeMutableBytes(of: &raw) { dst -> R in
                withUnsafeBytes { src in
                    if oldCount > 0 { dst.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: oldCount) }
                }
                dst[ByteString.inlineCapacity] = UInt8(truncatingIfNeeded: newCount)
                return body(UnsafeMutableRawBufferPointer(rebasing: dst[0..<newCount]))
            }
            self = .inline(raw)
            return result
        }
        if case .heap(var storage) = self {
            self = .empty  // drop our reference, so `storage` is unique if nobody else holds the bytes
            if isKnownUniquelyReferenced(&storage) && storage.capacity >= newCount {
                let result = storage.withUnsafeMutablePointers { header, elements -> R in
                    if newCount > oldCount {
                        UnsafeMutableRawPointer(elements + oldCount).initializeMemory(as: UInt8.self, repeating: 0,
                                                                                     count: newCount - oldCount)
                    }
                    header.pointee = newCount
                    return body(UnsafeMutableRawBufferPointer(start: elements, count: newCount))
                }
                self = .heap(storage)
                return result
            }
            self = .heap(storage)
        }
        // Copy: exact size when only unsharing, sds's greedy room when growing.
        let room = newCount == oldCount ? newCount : (newCount < 1 << 20 ? newCount * 2 : newCount + 1 << 20)
        let grown = unsafeDowncast(ByteStorage.create(minimumCapacity: room) { _ in newCount }, to: ByteStorage.self)
        let result = grown.withUnsafeMutablePointerToElements { dst -> R in
            withUnsafeBytes { src in
                if oldCount > 0 { UnsafeMutableRawPointer(dst).copyMemory(from: src.baseAddress!, byteCount: oldCount) }
            }
            if newCount > oldCount {
                UnsafeMutableRawPointer(dst + oldCount).initializeMemory(as: UInt8.self, repeating: 0,
                                                                        count: newCount - oldCount)
            }
            return body(UnsafeMutableRawBufferPointer(start: dst, count: newCount))
        }
        self = .heap(grown)
        return result
    }

    /// Shrinks the string to `newCount` bytes (a sparse HyperLogLog merging two opcodes), in place when it
    /// is uniquely referenced on the heap.
    public mutating func truncate(to newCount: Int) {
        precondition(newCount >= 0 && newCount <= count)
        if newCount == count { return }
        if case .heap(var storage) = self, newCount > ByteString.inlineCapacity {
            self = .empty
            if isKnownUniquelyReferenced(&storage) {
                storage.withUnsafeMutablePointers { header, _ in header.pointee = newCount }
                self = .heap(storage)
                return
            }
            self = .heap(storage)
        }
        self = withUnsafeBytes { ByteString(UnsafeRawBufferPointer(rebasing: $0[0..<newCount])) }
    }
}
