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

    // (releasenone: only malloc'd memory changes hands here, so a caller holding the buffer through a
    // property need not retain it around the call, which the reply writer's callers otherwise would.)
    @inline(never) @_effects(releasenone) private func grow(_ count: Int) {
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

// MARK: - Commands as RESP multibulk (the AOF and the replication stream)

extension IOBuffer {
    /// Text (status lines of the replication handshake; not for hot paths).
    func appendText(_ text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// `*<count>\r\n` for a command of `count` arguments, preceded by `SELECT <db>` when `db` differs from
    /// `selected` (which it then becomes): the form Redis's feedAppendOnlyFile and replicationFeedSlaves
    /// write, so the AOF and the replication stream encode commands with this one function.
    @inline(__always) func appendCommandHeader(count: Int, db: Int, selected: inout Int) {
        selectDatabase(db, selected: &selected)
        appendRESPHeader(UInt8(ascii: "*"), count)
    }

    /// `SELECT <db>` when `db` differs from `selected` (which it then becomes).
    @inline(__always) func selectDatabase(_ db: Int, selected: inout Int) {
        guard db != selected else { return }
        append("*2\r\n$6\r\nSELECT\r\n")
        var number = String(db)
        number.withUTF8 { appendBulkArgument(UnsafeRawBufferPointer($0)) }
        selected = db
    }

    /// One argument: `$<length>\r\n<bytes>\r\n`.
    @inline(__always) func appendBulkArgument(_ bytes: UnsafeRawBufferPointer) {
        appendRESPHeader(UInt8(ascii: "$"), bytes.count)
        append(bytes)
        append("\r\n")
    }

    /// `*<count>\r\n` then `$<length>\r\n<bytes>\r\n` for each argument (`spans` over `bytes`: a client's
    /// request, `Client.argumentSpans`), with one capacity check for all of it (rather than one per header,
    /// argument and CRLF): the AOF's and the replication stream's form of a client's command, written once
    /// per write command.
    @inline(__always) func appendArguments(_ spans: ArgSpans, in bytes: UnsafeRawPointer) {
        var total = 3 + maxInt64Length
        for i in 0..<spans.count { total &+= spans.base[i].count &+ 5 &+ maxInt64Length }
        reserve(total)
        var p = base + writeIndex
        p += writeRESPHeader(UInt8(ascii: "*"), spans.count, to: p)
        for i in 0..<spans.count {
            let span = spans.base[i]
            p += writeRESPHeader(UInt8(ascii: "$"), span.count, to: p)
            p.copyMemory(from: bytes + span.offset, byteCount: span.count)
            p += span.count
            p.storeBytes(of: UInt16(0x0A0D).littleEndian, as: UInt16.self)
            p += 2
        }
        writeIndex = p - base
    }

    /// Writes `*<n>\r\n` or `$<n>\r\n` at `p` (room for `maxInt64Length` + 3 bytes); returns its length.
    /// Counts and lengths under 100 (nearly all of them) are written without the general conversion.
    @inline(__always) private func writeRESPHeader(_ kind: UInt8, _ n: Int, to p: UnsafeMutableRawPointer) -> Int {
        p.storeBytes(of: kind, as: UInt8.self)
        if n >= 0 && n < 10 {
            p.storeBytes(of: UInt8(truncatingIfNeeded: 48 &+ n), toByteOffset: 1, as: UInt8.self)
            p.storeBytes(of: UInt16(0x0A0D).littleEndian, toByteOffset: 2, as: UInt16.self)
            return 4
        }
        if n >= 10 && n < 100 {
            p.storeBytes(of: UInt8(truncatingIfNeeded: 48 &+ n / 10), toByteOffset: 1, as: UInt8.self)
            p.storeBytes(of: UInt8(truncatingIfNeeded: 48 &+ n % 10), toByteOffset: 2, as: UInt8.self)
            p.storeBytes(of: UInt16(0x0A0D).littleEndian, toByteOffset: 3, as: UInt16.self)
            return 5
        }
        let digits = writeInt64(Int64(n), to: p + 1)
        p.storeBytes(of: UInt16(0x0A0D).littleEndian, toByteOffset: digits + 1, as: UInt16.self)
        return digits + 3
    }

    /// A whole command, SELECT included when needed.
    func appendCommand(_ argv: [ByteString], db: Int, selected: inout Int) {
        appendCommandHeader(count: argv.count, db: db, selected: &selected)
        for arg in argv { arg.withUnsafeBytes { appendBulkArgument($0) } }
    }

    /// `*<n>\r\n` or `$<n>\r\n`.
    @inline(__always) func appendRESPHeader(_ kind: UInt8, _ n: Int) {
        append(upTo: maxInt64Length + 3) { p in writeRESPHeader(kind, n, to: p) }
    }
}
