import Glibc

/// The replication backlog (Redis's repl_backlog): the last `repl-backlog-size` bytes of the replication
/// stream, so a replica that lost its link for a moment continues from its offset (PSYNC -> +CONTINUE)
/// instead of loading a whole new snapshot.
///
/// A ring of `capacity` bytes. Offsets are the stream's (master_repl_offset counts every byte ever sent,
/// starting at 1 for the first byte): the backlog holds the `historyLength` bytes that end at the stream's
/// current offset, i.e. offsets `firstByteOffset ..< firstByteOffset + historyLength`.
final class ReplicationBacklog {
    /// `repl-backlog-size`: the most history kept.
    private(set) var capacity: Int
    /// The ring's allocation: it grows with the history up to `capacity` (a backlog of 1 GB configured on a
    /// server that wrote 1 MB holds 1 MB), and the history wraps only once it is that big. A failed growth
    /// makes the ring wrap at the size it has.
    private var allocated: Int
    private var buffer: UnsafeMutableRawPointer
    /// Where the next byte goes.
    private var writePosition = 0
    /// Bytes of history held (at most `allocated`).
    private(set) var historyLength = 0
    /// The stream offset of the oldest byte held (Redis's repl_backlog->offset): 1 + the master offset
    /// when the backlog was created or reset.
    private(set) var firstByteOffset: Int64

    /// A backlog that begins after `offset` (the stream's current offset).
    init(capacity: Int, offset: Int64) {
        self.capacity = max(capacity, 16 * 1024)
        allocated = 16 * 1024
        buffer = malloc(allocated)!
        firstByteOffset = offset + 1
    }

    deinit { free(buffer) }

    /// Appends bytes of the stream.
    func append(_ bytes: UnsafeRawBufferPointer) {
        guard var source = bytes.baseAddress, bytes.count > 0 else { return }
        var left = bytes.count
        // Before the history first wraps it is contiguous from 0: grow the ring to hold it, up to `capacity`.
        let contiguous = writePosition == historyLength || (writePosition == 0 && historyLength == allocated)
        if allocated < capacity && historyLength + left > allocated && contiguous {
            grow(toHold: historyLength + left)
            writePosition = historyLength % allocated
        }
        // More than the ring holds: only its last `allocated` bytes matter.
        if left > allocated {
            source += left - allocated
            firstByteOffset += Int64(historyLength + left - allocated)
            historyLength = 0
            writePosition = 0
            left = allocated
        }
        while left > 0 {
            let n = min(left, allocated - writePosition)
            memcpy(buffer + writePosition, source, n)
            writePosition = (writePosition + n) % allocated
            source += n
            left -= n
            historyLength += n
        }
        if historyLength > allocated {
            firstByteOffset += Int64(historyLength - allocated)
            historyLength = allocated
        }
    }

    private func grow(toHold needed: Int) {
        var size = allocated
        while size < needed && size < capacity { size = min(capacity, size * 2) }
        guard let grown = realloc(buffer, size) else {
            capacity = allocated  // no memory for more history: wrap at this size
            return
        }
        buffer = grown
        allocated = size
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
        let start = (writePosition - historyLength + allocated) % allocated
        var position = (start + skip) % allocated
        while left > 0 {
            let n = min(left, allocated - position)
            body(UnsafeRawBufferPointer(start: buffer + position, count: n))
            position = (position + n) % allocated
            left -= n
        }
    }

    /// CONFIG SET repl-backlog-size: the newest history that fits the new size is kept, in a fresh ring
    /// that grows again from there.
    func resize(to newCapacity: Int) {
        let newCapacity = max(newCapacity, 16 * 1024)
        guard newCapacity != capacity else { return }
        let keep = min(historyLength, newCapacity)
        let from = endOffset - Int64(keep)
        let size = max(keep, 16 * 1024)
        guard let fresh = malloc(size) else { return }
        var written = 0
        if keep > 0 {
            forEachChunk(from: from) { chunk in  // exactly `keep` bytes
                memcpy(fresh + written, chunk.baseAddress!, chunk.count)
                written += chunk.count
            }
        }
        free(buffer)
        buffer = fresh
        allocated = size
        capacity = newCapacity
        writePosition = written % size
        historyLength = keep
        firstByteOffset = from
    }

    /// Memory it holds (INFO mem_replication_backlog).
    var memory: Int { allocated }
}
