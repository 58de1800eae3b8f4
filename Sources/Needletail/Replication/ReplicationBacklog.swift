import Glibc

/// The replication backlog (Redis's repl_backlog): the last `repl-backlog-size` bytes of the replication
/// stream, so a replica that lost its link for a moment continues from its offset (PSYNC -> +CONTINUE)
/// instead of loading a whole new snapshot.
///
/// A ring of `capacity` bytes. Offsets are the stream's (master_repl_offset counts every byte ever sent,
/// starting at 1 for the first byte): the backlog holds the `historyLength` bytes that end at the stream's
/// current offset, i.e. offsets `firstByteOffset ..< firstByteOffset + historyLength`.
final class ReplicationBacklog {
    private(set) var capacity: Int
    private var buffer: UnsafeMutableRawPointer
    /// Where the next byte goes.
    private var writePosition = 0
    /// Bytes of history held (at most `capacity`).
    private(set) var historyLength = 0
    /// The stream offset of the oldest byte held (Redis's repl_backlog->offset): 1 + the master offset
    /// when the backlog was created or reset.
    private(set) var firstByteOffset: Int64

    /// A backlog that begins after `offset` (the stream's current offset).
    init(capacity: Int, offset: Int64) {
        self.capacity = max(capacity, 16 * 1024)
        buffer = malloc(self.capacity)!
        firstByteOffset = offset + 1
    }

    deinit { free(buffer) }

    /// Appends bytes of the stream.
    func append(_ bytes: UnsafeRawBufferPointer) {
        guard var source = bytes.baseAddress, bytes.count > 0 else { return }
        var left = bytes.count
        // More than the ring holds: only the last `capacity` bytes matter.
        if left > capacity {
            source += left - capacity
            firstByteOffset += Int64(historyLength + left - capacity)
            historyLength = 0
            left = capacity
        }
        while left > 0 {
            let n = min(left, capacity - writePosition)
            memcpy(buffer + writePosition, source, n)
            writePosition = (writePosition + n) % capacity
            source += n
            left -= n
            historyLength += n
        }
        if historyLength > capacity {
            firstByteOffset += Int64(historyLength - capacity)
            historyLength = capacity
        }
    }

    /// The stream offset just past the last byte held.
    var endOffset: Int64 { firstByteOffset + Int64(historyLength) }

    /// Whether a replica that processed everything before `offset` can continue from here: the bytes from
    /// `offset` on are all held (`offset == endOffset`: nothing is missing).
    func holds(from offset: Int64) -> Bool { offset >= firstByteOffset && offset <= endOffset }

    /// Calls `body` with the bytes from `offset` to the end, in at most two pieces.
    func forEachChunk(from offset: Int64, _ body: (UnsafeRawBufferPointer) -> Void) {
        precondition(holds(from: offset))
        let skip = Int(offset - firstByteOffset)
        var left = historyLength - skip
        let start = (writePosition - historyLength + capacity) % capacity
        var position = (start + skip) % capacity
        while left > 0 {
            let n = min(left, capacity - position)
            body(UnsafeRawBufferPointer(start: buffer + position, count: n))
            position = (position + n) % capacity
            left -= n
        }
    }

    /// CONFIG SET repl-backlog-size: a new ring, keeping the newest history that fits (Redis 7.0 keeps what
    /// it can too; a smaller backlog just remembers less).
    func resize(to newCapacity: Int) {
        let newCapacity = max(newCapacity, 16 * 1024)
        guard newCapacity != capacity else { return }
        let keep = min(historyLength, newCapacity)
        let from = endOffset - Int64(keep)
        let fresh = malloc(newCapacity)!
        var written = 0
        if keep > 0 {
            forEachChunk(from: from) { chunk in
                memcpy(fresh + written, chunk.baseAddress!, chunk.count)
                written += chunk.count
            }
        }
        free(buffer)
        buffer = fresh
        capacity = newCapacity
        writePosition = written % newCapacity
        historyLength = keep
        firstByteOffset = from
    }

    /// Memory it holds (INFO mem_replication_backlog).
    var memory: Int { capacity }
}
