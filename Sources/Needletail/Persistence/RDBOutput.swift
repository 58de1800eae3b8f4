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
final class RDBOutput {
    private(set) var buffer: UnsafeMutableRawPointer
    private(set) var count = 0
    private var capacity: Int
    /// Bytes already handed to the sink.
    private(set) var flushed = 0
    private(set) var crc: UInt64 = 0
    /// Whether strings longer than 20 bytes are LZF-compressed (rdbcompression).
    var compress: Bool
    private var scratch: UnsafeMutableRawPointer?
    private var scratchCapacity = 0
    let sink: ((UnsafeRawBufferPointer) throws -> Void)?
    let flushThreshold: Int

    init(compress: Bool, capacity: Int = 4096, flushThreshold: Int = 1 << 20,
         sink: ((UnsafeRawBufferPointer) throws -> Void)? = nil) {
        self.compress = compress
        self.capacity = max(capacity, 64)
        self.buffer = malloc(self.capacity)!
        self.sink = sink
        self.flushThreshold = flushThreshold
    }

    deinit {
        free(buffer)
        free(scratch)
    }

    /// Total bytes produced so far.
    var totalBytes: Int { flushed + count }

    /// The buffered bytes (all of them when there is no sink).
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: buffer, count: count) }

    /// Hands the buffered bytes to the sink once enough accumulated (call between records).
    @inline(__always) func flushIfNeeded() throws {
        if count >= flushThreshold, sink != nil { try flush() }
    }

    /// Hands every buffered byte to the sink, updating the checksum.
    func flush() throws {
        guard let sink, count > 0 else { return }
        crc = CRC64.update(crc, bytes)
        try sink(bytes)
        flushed += count
        count = 0
    }

    /// The CRC64 of every byte produced so far (flushed or buffered).
    var checksum: UInt64 { CRC64.update(crc, bytes) }

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
        if n < 1 << 6 {
            byte(UInt8(n))
        } else if n < 1 << 14 {
            byte(UInt8(0x40 | (n >> 8)))
            byte(UInt8(n & 0xFF))
        } else if n <= Int(UInt32.max) {
            byte(0x80)
            littleEndian(UInt32(n).byteSwapped)
        } else {
            byte(0x81)
            littleEndian(UInt64(n).byteSwapped)
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
    private func lzf(_ s: UnsafeRawBufferPointer) -> Bool {
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
