import Glibc

/// A growable byte buffer with a read index and a write index, used for a connection's query buffer and
/// its reply buffer. Memory is malloc'd once and reused; bytes before `readIndex` are reclaimed by
/// `compact()` (a memmove of the unread tail) rather than on every read.
final class IOBuffer {
    @exclusivity(unchecked) private(set) var base: UnsafeMutableRawPointer
    @exclusivity(unchecked) private(set) var capacity: Int
    @exclusivity(unchecked) var readIndex = 0
    @exclusivity(unchecked) var writeIndex = 0

    init(capacity: Int) {
        self.capacity = capacity
        base = malloc(capacity)!
    }

    deinit { free(base) }

    @inline(__always) var readableBytes: Int { writeIndex - readIndex }
    @inline(__always) var writableBytes: Int { capacity - writeIndex }
    @inline(__always) var isEmpty: Bool { readIndex == writeIndex }

    /// Ensures room for `count` more bytes after `writeIndex`, compacting first, growing if needed.
    @inline(__always) func reserve(_ count: Int) {
        if capacity - writeIndex >= count { return }
        grow(count)
    }

    @inline(never) private func grow(_ count: Int) {
        compact()
        if capacity - writeIndex >= count { return }
        var newCapacity = capacity * 2
        while newCapacity - writeIndex < count { newCapacity *= 2 }
        base = realloc(base, newCapacity)!
        capacity = newCapacity
    }

    /// Ensures room for exactly `count` more bytes after `writeIndex` (compacting first), growing to no
    /// more than that: a big argument is read into a buffer its size, not the next power of two (Redis's
    /// sdsMakeRoomForNonGreedy for PROTO_MBULK_BIG_ARG).
    func reserveExactly(_ count: Int) {
        if capacity - writeIndex >= count { return }
        compact()
        if capacity - writeIndex >= count { return }
        capacity = writeIndex + count
        base = realloc(base, capacity)!
    }

    /// Moves the unread bytes to the start of the buffer.
    func compact() {
        if readIndex == 0 { return }
        let n = readableBytes
        if n > 0 { memmove(base, base + readIndex, n) }
        readIndex = 0
        writeIndex = n
    }

    /// Forgets all bytes; shrinks a buffer that grew large for one big request or reply.
    func clear(shrinkTo limit: Int = .max) {
        readIndex = 0
        writeIndex = 0
        if capacity > limit {
            base = realloc(base, limit)!
            capacity = limit
        }
    }

    @inline(__always) func append(_ byte: UInt8) {
        reserve(1)
        base.storeBytes(of: byte, toByteOffset: writeIndex, as: UInt8.self)
        writeIndex += 1
    }

    @inline(__always) func append(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        if n == 0 { return }
        reserve(n)
        (base + writeIndex).copyMemory(from: bytes.baseAddress!, byteCount: n)
        writeIndex += n
    }

    @inline(__always) func append(_ s: StaticString) {
        append(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    /// Appends `count` bytes produced in place by `fill`, which returns how many it wrote.
    @inline(__always) func append(upTo count: Int, _ fill: (UnsafeMutableRawPointer) -> Int) {
        reserve(count)
        writeIndex += fill(base + writeIndex)
    }

    @inline(__always) func bytes(at offset: Int, count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + offset, count: count)
    }
}
