import Glibc

// RDB: the format of redis-server's dump.rdb, DUMP payloads, the RDB preamble of the AOF and full syncs.
// This file holds its vocabulary (opcodes, type bytes) and the encoder of its primitives; RDBValue.swift
// encodes and decodes values with them, Snapshot.swift writes whole files and RDBLoader.swift reads them.
//
// PRIMITIVES (all multi-byte numbers little-endian unless said otherwise)
//
//   length     00xxxxxx                     6-bit length
//              01xxxxxx xxxxxxxx            14-bit length, big-endian
//              0x80 + 4 bytes               32-bit length, big-endian
//              0x81 + 8 bytes               64-bit length, big-endian
//              11xxxxxx                     an encoded string follows (below), never a plain length
//   string     length + bytes               plain
//              0xC0 int8 / 0xC1 int16 / 0xC2 int32     a string that reads as a small integer (Redis writes
//                                           this form for strings of at most 11 bytes that round-trip)
//              0xC3 clen ulen + LZF data    compressed (rdbcompression yes, strings longer than 20 bytes
//                                           that compress to fewer than len - 4 bytes)
//   double     8 bytes IEEE 754             scores of RDB_TYPE_ZSET_2
//   ms time    8 bytes                      EXPIRETIME_MS
//
// A file is "REDIS" + 4 version digits, AUX fields, then per database SELECTDB and RESIZEDB and its keys
// (each optionally preceded by EXPIRETIME_MS, IDLE or FREQ), EOF, and the CRC64 of everything before it
// (0 when rdbchecksum is off). SELECTDB may appear again later (a fork-less snapshot writes a key saved
// early under its database's SELECTDB): loaders simply switch database, as redis-server's does.

/// Opcodes and value types of the RDB format (Redis's rdb.h).
enum RDB {
    /// The version written (redis-server 7.0's RDB_VERSION); versions up to `maxReadableVersion` are read.
    static let version = 10
    static let maxReadableVersion = 11

    static let opFunction2: UInt8 = 245
    static let opFunctionPreGA: UInt8 = 246
    static let opModuleAux: UInt8 = 247
    static let opIdle: UInt8 = 248
    static let opFreq: UInt8 = 249
    static let opAux: UInt8 = 250
    static let opResizeDB: UInt8 = 251
    static let opExpireTimeMs: UInt8 = 252
    static let opExpireTime: UInt8 = 253
    static let opSelectDB: UInt8 = 254
    static let opEOF: UInt8 = 255

    static let typeString: UInt8 = 0
    static let typeList: UInt8 = 1
    static let typeSet: UInt8 = 2
    static let typeZset: UInt8 = 3
    static let typeHash: UInt8 = 4
    static let typeZset2: UInt8 = 5
    static let typeModule: UInt8 = 6
    static let typeModule2: UInt8 = 7
    static let typeHashZipmap: UInt8 = 9
    static let typeListZiplist: UInt8 = 10
    static let typeSetIntset: UInt8 = 11
    static let typeZsetZiplist: UInt8 = 12
    static let typeHashZiplist: UInt8 = 13
    static let typeListQuicklist: UInt8 = 14
    static let typeStreamListpacks: UInt8 = 15
    static let typeHashListpack: UInt8 = 16
    static let typeZsetListpack: UInt8 = 17
    static let typeListQuicklist2: UInt8 = 18
    static let typeStreamListpacks2: UInt8 = 19
    static let typeSetListpack: UInt8 = 20
    static let typeStreamListpacks3: UInt8 = 21

    /// Quicklist 2 node containers.
    static let containerPlain = 1
    static let containerPacked = 2

    static let encInt8: UInt8 = 0
    static let encInt16: UInt8 = 1
    static let encInt32: UInt8 = 2
    static let encLZF: UInt8 = 3
}

/// An append-only byte buffer that encodes RDB primitives, keeps the CRC64 of everything it produced,
/// and hands its bytes to `sink` whenever more than `flushThreshold` are buffered (a file, a snapshot's
/// writer thread) or keeps them all (`sink` nil: DUMP payloads, tests).
///
/// With `finishingThread` (a SAVE, whose caller waits for the whole file anyway), the LZF compression, the
/// checksum and the sink run on a thread of their own while serialization goes on: a string to compress
/// is buffered as it is and noted (`deferred`); each flushed buffer goes to the thread, which writes the
/// final bytes (each noted string compressed, or given its plain length when that does not pay, exactly
/// as `string` decides) and hands them to the sink. The bytes are the same either way.
final class RDBOutput {
    private(set) var buffer: UnsafeMutableRawPointer
    private(set) var count = 0
    private var capacity: Int
    private let initialCapacity: Int
    /// Bytes already handed to the sink (without a finishing thread).
    private(set) var flushed = 0
    private(set) var crc: UInt64 = 0
    /// Whether strings longer than 20 bytes are LZF-compressed (rdbcompression).
    var compress: Bool
    private var scratch: UnsafeMutableRawPointer?
    private var scratchCapacity = 0
    let sink: ((UnsafeRawBufferPointer) throws -> Void)?
    let flushThreshold: Int
    /// The thread that finishes flushed buffers, and what it shares with this side.
    private let finisher: ThreadPool?
    private let finishing = FinishingState()
    /// The strings of `buffer` still to compress: where each starts and its length.
    private var deferred: [(offset: Int, count: Int)] = []
    /// Flushed buffers the finishing thread may hold before serialization waits (memory stays bounded).
    private static let buffersInFlight = 3
    /// Scratch of the value encoders (RDBValue.swift), reused from value to value: a listpack being built,
    /// and a list's finished nodes with their places in `nodeScratch`.
    private let listpackScratch = ListpackWriter(reservingCapacity: 4096)
    let nodeScratch = IOBuffer(capacity: 4096)
    var nodeSpans: [(offset: Int, count: Int, plain: Bool)] = []

    /// The scratch listpack writer, emptied (one value at a time: copies of a writer share its buffer).
    func listpackWriter() -> ListpackWriter {
        var writer = listpackScratch
        writer.reset()
        return writer
    }

    init(compress: Bool, capacity: Int = 4096, flushThreshold: Int = 1 << 20,
         sink: ((UnsafeRawBufferPointer) throws -> Void)? = nil, finishingThread: Bool = false) {
        self.compress = compress
        self.capacity = max(capacity, 64)
        initialCapacity = self.capacity
        self.buffer = malloc(self.capacity)!
        self.sink = sink
        self.flushThreshold = flushThreshold
        finisher = finishingThread && sink != nil ? ThreadPool(threads: 1) : nil
    }

    deinit {
        finisher?.shutdown()  // (after a failure its queued jobs write nothing)
        free(buffer)
        free(scratch)
    }

    /// Total bytes produced so far (the final count once `finishWrites` returned, with a finishing thread).
    var totalBytes: Int { flushed + count }

    /// The buffered bytes (all of them when there is no sink).
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: buffer, count: count) }

    /// Hands the buffered bytes to the sink once enough accumulated (call between records).
    @inline(__always) func flushIfNeeded() throws {
        if count >= flushThreshold, sink != nil { try flush() }
    }

    /// Hands every buffered byte to the sink, updating the checksum (with a finishing thread: queues them
    /// for it, after waiting while it holds `buffersInFlight`; throws what the sink threw before).
    func flush() throws {
        guard let sink, count > 0 else { return }
        guard let finisher else {
            crc = CRC64.update(crc, bytes)
            try sink(bytes)
            flushed += count
            count = 0
            return
        }
        finisher.waitUntil(pendingAtMost: RDBOutput.buffersInFlight - 1)
        if let error = finishing.error { throw error }
        let chunk = buffer, length = count, strings = deferred, state = finishing
        capacity = initialCapacity  // (the chunk may have grown for a big value)
        buffer = malloc(capacity)!
        count = 0
        deferred.removeAll()
        finisher.submit {
            defer { free(chunk) }
            guard state.error == nil else { return }
            let final = state.finish(UnsafeRawBufferPointer(start: chunk, count: length), strings)
            state.crc = CRC64.update(state.crc, final)
            do { try sink(final) } catch { state.fail(error) }
            state.written += final.count
        }
    }

    /// Waits until the finishing thread wrote everything flushed so far; throws what the sink threw.
    func finishWrites() throws {
        guard let finisher else { return }
        finisher.waitUntilIdle()
        flushed = finishing.written
        crc = finishing.crc
        if let error = finishing.error { throw error }
    }

    /// The CRC64 of every byte produced so far (flushed or buffered). With a finishing thread this waits
    /// for it and finishes the buffered bytes here first.
    var checksum: UInt64 {
        if finisher != nil {
            try? finishWrites()  // (a failure is thrown again by the next flush or finishWrites)
            if !deferred.isEmpty {
                let final = finishing.finish(bytes, deferred)
                reserve(max(0, final.count - count))
                buffer.copyMemory(from: final.baseAddress!, byteCount: final.count)
                count = final.count
                deferred.removeAll()
            }
        }
        return CRC64.update(crc, bytes)
    }

    // MARK: - Raw bytes

    @inline(__always) private func reserve(_ n: Int) {
        if count + n > capacity {
            var newCapacity = capacity * 2
            while count + n > newCapacity { newCapacity *= 2 }
            buffer = realloc(buffer, newCapacity)!
            capacity = newCapacity
        }
    }

    @inline(__always) func byte(_ b: UInt8) {
        reserve(1)
        buffer.storeBytes(of: b, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    func raw(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        reserve(bytes.count)
        (buffer + count).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        count += bytes.count
    }

    func raw(_ bytes: [UInt8]) { bytes.withUnsafeBytes { raw($0) } }

    func raw(_ text: StaticString) {
        raw(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inline(__always) func littleEndian<T: FixedWidthInteger>(_ value: T) {
        reserve(MemoryLayout<T>.size)
        (buffer + count).storeBytes(of: value.littleEndian, as: T.self)
        count += MemoryLayout<T>.size
    }

    // MARK: - RDB primitives

    /// A length (rdbSaveLen).
    func length(_ n: Int) {
        reserve(9)
        count += RDBOutput.writeLength(n, to: buffer + count)
    }

    /// Writes a length's encoding (at most 9 bytes) at `p`; returns how many bytes it took.
    @inline(__always) static func writeLength(_ n: Int, to p: UnsafeMutableRawPointer) -> Int {
        if n < 1 << 6 {
            p.storeBytes(of: UInt8(n), as: UInt8.self)
            return 1
        } else if n < 1 << 14 {
            p.storeBytes(of: UInt8(0x40 | (n >> 8)), as: UInt8.self)
            p.storeBytes(of: UInt8(n & 0xFF), toByteOffset: 1, as: UInt8.self)
            return 2
        } else if n <= Int(UInt32.max) {
            p.storeBytes(of: UInt8(0x80), as: UInt8.self)
            p.storeBytes(of: UInt32(n).bigEndian, toByteOffset: 1, as: UInt32.self)
            return 5
        } else {
            p.storeBytes(of: UInt8(0x81), as: UInt8.self)
            p.storeBytes(of: UInt64(n).bigEndian, toByteOffset: 1, as: UInt64.self)
            return 9
        }
    }

    /// An integer as an int8/16/32-encoded string when it fits (rdbEncodeInteger); false otherwise.
    private func encodedInteger(_ v: Int64) -> Bool {
        if v >= -(1 << 7) && v <= (1 << 7) - 1 {
            byte(0xC0 | RDB.encInt8)
            byte(UInt8(truncatingIfNeeded: v))
        } else if v >= -(1 << 15) && v <= (1 << 15) - 1 {
            byte(0xC0 | RDB.encInt16)
            littleEndian(Int16(v))
        } else if v >= -(1 << 31) && v <= (1 << 31) - 1 {
            byte(0xC0 | RDB.encInt32)
            littleEndian(Int32(v))
        } else {
            return false
        }
        return true
    }

    /// A string as Redis's rdbSaveRawString writes it: integer-encoded when at most 11 bytes that read
    /// as a 32-bit integer, LZF-compressed when longer than 20 bytes and worth it, plain otherwise.
    func string(_ s: UnsafeRawBufferPointer) {
        let n = s.count
        if n <= 11, n > 0, let v = parseInt64(s), encodedInteger(v) { return }
        if compress && n > 20 && lzf(s) { return }
        length(n)
        raw(s)
    }

    func string(_ s: ByteString) { s.withUnsafeBytes { string($0) } }

    func string(_ s: StaticString) {
        string(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    /// An integer's decimal form as a string (rdbSaveLongLongAsStringObject).
    func string(integer v: Int64) {
        if encodedInteger(v) { return }
        var digits = (UInt64(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &digits) { buf in
            let n = writeInt64(v, to: buf.baseAddress!)
            length(n)
            raw(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
        }
    }

    /// The LZF form (rdbSaveLzfStringObject); false when compression would not save more than 4 bytes.
    /// With a finishing thread the string is buffered as it is, for that thread to decide.
    private func lzf(_ s: UnsafeRawBufferPointer) -> Bool {
        if finisher != nil {
            deferred.append((count, s.count))
            raw(s)
            return true
        }
        let limit = s.count - 4
        if scratchCapacity < limit {
            free(scratch)
            scratchCapacity = max(limit, 256)
            scratch = malloc(scratchCapacity)!
        }
        let compressed = LZF.compress(s, into: scratch!, capacity: limit)
        if compressed == 0 { return false }
        byte(0xC0 | RDB.encLZF)
        length(compressed)
        length(s.count)
        raw(UnsafeRawBufferPointer(start: scratch, count: compressed))
        return true
    }

    /// A double as 8 bytes (RDB_TYPE_ZSET_2 scores, rdbSaveBinaryDoubleValue).
    func binaryDouble(_ d: Double) { littleEndian(d.bitPattern) }
}

/// What an RDBOutput's finishing thread owns (its output buffer, the checksum and the count of bytes it
/// wrote) and shares (the first error, under a mutex). The owner reads `crc` and `written` only after
/// waiting for the thread (ThreadPool's mutex orders the accesses).
private final class FinishingState {
    var crc: UInt64 = 0
    var written = 0
    private var output: UnsafeMutableRawPointer?
    private var outputCapacity = 0
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var firstError: Error?

    init() { pthread_mutex_init(mutex, nil) }
    deinit {
        free(output)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    var error: Error? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return firstError
    }

    func fail(_ error: Error) {
        pthread_mutex_lock(mutex)
        if firstError == nil { firstError = error }
        pthread_mutex_unlock(mutex)
    }

    /// The final form of `chunk`, whose `strings` are still raw: each becomes its LZF form when that saves
    /// more than 4 bytes, else its plain length and bytes (RDBOutput.string's rule). Valid until the next call.
    func finish(_ chunk: UnsafeRawBufferPointer, _ strings: [(offset: Int, count: Int)]) -> UnsafeRawBufferPointer {
        guard !strings.isEmpty else { return chunk }
        // A string grows by at most 7 bytes: a 1-byte marker and two lengths of up to 5 bytes, less the at
        // least 4 bytes compression saved (also the room compressing in place takes); or a plain length of
        // up to 5.
        let needed = chunk.count + strings.count * 7
        if outputCapacity < needed {
            free(output)
            outputCapacity = max(needed, 1 << 20)
            output = malloc(outputCapacity)!
        }
        let out = output!, source = chunk.baseAddress!
        var from = 0, to = 0
        for string in strings {
            let before = string.offset - from
            (out + to).copyMemory(from: source + from, byteCount: before)
            to += before
            let bytes = UnsafeRawBufferPointer(start: source + string.offset, count: string.count)
            // Compressed straight into place after the longest header, then moved up to its real header.
            let header = 11
            let compressed = LZF.compress(bytes, into: out + to + header, capacity: string.count - 4)
            if compressed > 0 {
                var h = 0
                (out + to).storeBytes(of: 0xC0 | RDB.encLZF, as: UInt8.self)
                h += 1
                h += RDBOutput.writeLength(compressed, to: out + to + h)
                h += RDBOutput.writeLength(string.count, to: out + to + h)
                if h != header { memmove(out + to + h, out + to + header, compressed) }
                to += h + compressed
            } else {
                to += RDBOutput.writeLength(string.count, to: out + to)
                (out + to).copyMemory(from: bytes.baseAddress!, byteCount: string.count)
                to += string.count
            }
            from = string.offset + string.count
        }
        (out + to).copyMemory(from: source + from, byteCount: chunk.count - from)
        to += chunk.count - from
        return UnsafeRawBufferPointer(start: out, count: to)
    }
}
