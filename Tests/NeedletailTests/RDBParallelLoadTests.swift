import XCTest
@testable import Needletail
import TestSupport

/// The loader decodes values on worker threads a batch of keys at a time and stores them in file order
/// (RDBLoader.load). Whatever the file, that must give what a one-pass load gives: the same keys, values and
/// TTLs, the same counts, and for a bad file the same error with the same keys stored before it. Each file
/// is loaded one value at a time (`decodingThreads` 0) and in batches of a few keys, and the two compared.
final class RDBParallelLoadTests: XCTestCase {
    private let now: Int64 = 1_700_000_000_000
    private let limits = RDBLoadLimits(Config())

    private struct Outcome: Equatable {
        var error: String?
        var keysLoaded = 0, keysExpired = 0, emptyKeysSkipped = 0, length = 0
        /// Each database's digest (DEBUG DIGEST's), expiries included, and its key count.
        var digests: [[UInt8]] = []
        var counts: [Int] = []
    }

    private func load(_ bytes: [UInt8], threads: Int, batchKeys: Int = 1024, batchBytes: Int = 128 << 10,
                      replacing: Bool = false, skippingChecksum: Bool = false) -> Outcome {
        loadCounting(bytes, threads: threads, batchKeys: batchKeys, batchBytes: batchBytes, replacing: replacing,
                     skippingChecksum: skippingChecksum).outcome
    }

    /// `load`, and how many values the decoding threads could not take.
    private func loadCounting(_ bytes: [UInt8], threads: Int, batchKeys: Int = 1024, batchBytes: Int = 128 << 10,
                              replacing: Bool = false, skippingChecksum: Bool = false) -> (outcome: Outcome, decodedInOrder: Int) {
        var decodedInOrder = 0
        let databases = (0..<3).map { Database(index: $0, events: KeyspaceChanges()) }
        var loader = RDBLoader(limits: limits, now: now)
        loader.decodingThreads = threads
        loader.batchKeys = batchKeys
        loader.batchBytes = batchBytes
        loader.replacesDuplicates = replacing
        loader.skipsChecksum = skippingChecksum
        var outcome = Outcome()
        do {
            let result = try bytes.withUnsafeBytes { try loader.load($0, into: databases) }
            outcome.keysLoaded = result.keysLoaded
            outcome.keysExpired = result.keysExpired
            outcome.emptyKeysSkipped = result.emptyKeysSkipped
            outcome.length = result.length
            decodedInOrder = result.valuesDecodedInOrder
        } catch {
            outcome.error = (error as? RDBError)?.description ?? "\(error)"
        }
        for db in databases {
            db.checkInvariants()
            outcome.digests.append(datasetDigest([db]).bytes)
            outcome.counts.append(db.count)
        }
        return (outcome, decodedInOrder)
    }

    private func randomBytes(_ r: inout SeededRandom) -> ByteString { RandomValues.bytes(&r) }

    /// A value of any type in any encoding the writer produces (with `big`, now and then past the packed
    /// encodings' limits).
    private func randomValue(_ r: inout SeededRandom, big: Bool) -> Value {
        let n = big && r.oneIn(10) ? r.between(130, 300) : r.between(1, 20)
        guard r.oneIn(6) else { return RandomValues.value(&r, count: n, limits: limits) }
        let stream = StreamValue()
        for i in 0..<r.between(1, 30) {
            withRawBuffers([ByteString("f"), randomBytes(&r)]) {
                stream.append(StreamID(ms: UInt64(i + 1), seq: 0), $0, limits: .init(maxBytes: 4096, maxEntries: 100))
            }
        }
        return .stream(stream)
    }

    /// An RDB of `keys` keys of every type (with `big`, a few past the packed encodings' limits), the old list
    /// and sorted set forms, and empty lists (which are skipped), in three databases, some with a TTL (past or
    /// future), an IDLE or a FREQ, RESIZEDB and AUX records between them; now and then a key repeats when
    /// `repeats`. The checksum is 0 (not checked).
    private func randomFile(_ r: inout SeededRandom, keys: Int, repeats: Bool = false, big: Bool = true) -> [UInt8] {
        randomFileCountingStreams(&r, keys: keys, repeats: repeats, big: big).bytes
    }

    /// `randomFile`, and how many streams it holds.
    private func randomFileCountingStreams(_ r: inout SeededRandom, keys: Int, repeats: Bool = false,
                                           big: Bool = true) -> (bytes: [UInt8], streams: Int) {
        var streams = 0
        let out = RDBOutput(compress: r.oneIn(3) ? false : true)
        out.raw("REDIS0010")
        out.byte(RDB.opAux)
        out.string("redis-ver" as StaticString)
        out.string("7.0.15" as StaticString)
        for i in 0..<keys {
            if r.oneIn(25) {
                out.byte(RDB.opSelectDB)
                out.length(r.below(3))
            }
            if r.oneIn(40) {
                out.byte(RDB.opResizeDB)
                out.length(r.below(100))
                out.length(r.below(10))
            }
            if r.oneIn(4) {
                out.byte(RDB.opExpireTimeMs)
                out.littleEndian(now + Int64(r.between(-5_000, 5_000)))
            }
            if r.oneIn(10) {
                if r.oneIn(2) {
                    out.byte(RDB.opIdle)
                    out.length(r.below(1000))
                } else {
                    out.byte(RDB.opFreq)
                    out.byte(UInt8(r.below(256)))
                }
            }
            let key = ByteString(Array("key:\(repeats && r.oneIn(60) ? r.below(i + 1) : i)".utf8))
            switch r.below(12) {
            case 0:
                out.byte(RDB.typeList)  // the old plain list
                out.string(key)
                let n = r.below(6)  // 0: an empty list, skipped
                out.length(n)
                for _ in 0..<n { out.string(randomBytes(&r)) }
            case 1:
                out.byte(RDB.typeZset)  // the old sorted set with text scores
                out.string(key)
                let n = r.between(1, 5)
                out.length(n)
                for m in 0..<n {
                    out.string(ByteString(Array("m\(m)".utf8)))
                    switch r.below(4) {
                    case 0: out.byte(r.pick([254, 255]))
                    default:
                        let text = Array("\(Double(r.between(-99, 99)) / 8)".utf8)
                        out.byte(UInt8(text.count))
                        out.raw(text)
                    }
                }
            default:
                let value = randomValue(&r, big: big)
                if case .stream = value { streams += 1 }
                out.byte(out.valueType(value))
                out.string(key)
                out.valuePayload(value)
            }
        }
        out.byte(RDB.opEOF)
        out.littleEndian(UInt64(0))
        return (Array(out.bytes), streams)
    }

    func testBatchesLoadWhatOneValueAtATimeLoads() {
        var r = SeededRandom(seed: 0xBA7C_4ED)
        for round in 0..<18 {
            let (file, streams) = randomFileCountingStreams(&r, keys: r.between(1, 300), repeats: round % 3 == 0)
            let expected = load(file, threads: 0)
            if round % 3 != 0 {
                XCTAssertNil(expected.error, "round \(round)")
                XCTAssertGreaterThan(expected.keysLoaded, 0)
            }
            for (threads, keys, bytes) in [(1, 1, 1 << 20), (2, 3, 1 << 20), (2, 1024, 64), (4, 7, 2_000)] {
                let (outcome, decodedInOrder) = loadCounting(file, threads: threads, batchKeys: keys, batchBytes: bytes)
                XCTAssertEqual(outcome, expected, "round \(round): \(threads) threads, batches of \(keys) keys / \(bytes) bytes")
                // Every value but a stream was stepped over and decoded on a thread.
                if round % 3 != 0 { XCTAssertEqual(decodedInOrder, streams, "round \(round)") }
            }
            if round % 3 == 0 {
                // DEBUG RELOAD MERGE's form: a repeat replaces.
                XCTAssertEqual(load(file, threads: 2, batchKeys: 5, replacing: true), load(file, threads: 0, replacing: true))
            }
        }
    }

    /// Damaged files (bytes changed, cut short, a lying length inserted): the same error, after the same keys.
    func testADamagedFileFailsAsInOnePass() {
        var r = SeededRandom(seed: 0xDA3A6E)
        var failed = 0, loaded = 0
        for round in 0..<200 {
            var file = randomFile(&r, keys: r.between(1, 60), big: false)
            switch r.below(3) {
            case 0: for _ in 0..<r.between(1, 3) { file[r.between(9, file.count - 1)] = UInt8(r.below(256)) }
            case 1: file = Array(file.prefix(r.between(9, file.count - 1)))
            default: file.insert(contentsOf: [0x80, 0x7F, 0xFF, 0xFF, 0xFF], at: r.between(9, file.count - 1))
            }
            let expected = load(file, threads: 0)
            if expected.error == nil { loaded += 1 } else { failed += 1 }
            XCTAssertEqual(load(file, threads: 2, batchKeys: r.between(1, 6), batchBytes: r.pick([100, 1 << 20])), expected,
                           "round \(round)")
        }
        XCTAssertGreaterThan(failed, 100)
        XCTAssertGreaterThan(loaded, 5)
    }

    /// The CRC64 at the end is checked (on a thread of its own) unless it is 0 or DEBUG
    /// SET-SKIP-CHECKSUM-VALIDATION is on: a changed byte inside a string's data fails only the checksum.
    func testTheChecksumIsCheckedUnlessZeroOrSkipped() {
        let out = RDBOutput(compress: false)
        out.raw("REDIS0010")
        for i in 0..<3_000 {  // over 2 MB, so the checksum thread takes it in several ranges
            out.byte(RDB.typeString)
            out.string(ByteString(Array("key:\(i)".utf8)))
            out.string(ByteString(Array(repeating: UInt8(ascii: "a") + UInt8(i % 26), count: 800)))
        }
        out.byte(RDB.opEOF)
        let body = Array(out.bytes)
        let crc = body.withUnsafeBytes { CRC64.update(0, $0) }
        let file = body + withUnsafeBytes(of: crc.littleEndian) { Array($0) }
        var damaged = file
        // A letter of key:1500's value: after its key ("key:1500", 8 bytes) and the value's 2-byte length.
        let keyBytes = Array("key:1500".utf8)
        let at = (0..<body.count - 8).first { Array(body[$0..<$0 + 8]) == keyBytes }!
        damaged[at + 8 + 2 + 100] ^= 1
        let damagedCRC = damaged.prefix(body.count).withUnsafeBytes { CRC64.update(0, $0) }
        let hex = { (v: UInt64) in String(v, radix: 16) }
        for threads in [0, 2] {
            XCTAssertNil(load(file, threads: threads).error)
            XCTAssertEqual(load(file, threads: threads).keysLoaded, 3_000)
            XCTAssertEqual(load(damaged, threads: threads).error,
                           "Wrong RDB checksum expected: (\(hex(crc))) got: (\(hex(damagedCRC))). Aborting now.")
            XCTAssertNil(load(damaged, threads: threads, skippingChecksum: true).error)
            XCTAssertNil(load(Array(damaged.prefix(body.count)) + [UInt8](repeating: 0, count: 8), threads: threads).error)
        }
    }

    /// A bad value early in a batch still fails first when the file is also cut short later, and the keys
    /// before it, and only those, are stored.
    func testABadValueFailsBeforeALaterTruncation() {
        let out = RDBOutput(compress: false)
        out.raw("REDIS0010")
        for i in 0..<10 {
            out.byte(RDB.typeSetIntset)  // intsets, decoded on the threads
            out.string(ByteString(Array("good:\(i)".utf8)))
            let set = SetValue()
            for m in ["1", "2", "\(i + 3)"] { _ = ByteString(Array(m.utf8)).withUnsafeBytes { set.add($0, maxIntsetEntries: 512) } }
            out.valuePayload(.set(set))
        }
        out.byte(RDB.typeSetIntset)
        out.string("bad" as StaticString)
        out.string("not an intset" as StaticString)
        for i in 0..<10 {
            out.byte(RDB.typeString)
            out.string(ByteString(Array("after:\(i)".utf8)))
            out.string("v" as StaticString)
        }
        let file = Array(out.bytes.dropLast(1))  // the last string cut short
        let expected = load(file, threads: 0)
        XCTAssertEqual(expected.error, "Intset integrity check failed.")
        XCTAssertEqual(expected.counts[0], 10)
        XCTAssertEqual(load(file, threads: 2, batchKeys: 4), expected)
        XCTAssertEqual(load(file, threads: 2), expected)
    }
}
