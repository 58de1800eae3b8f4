import XCTest
@testable import Needletail
import TestSupport

/// The RDB value codec (Persistence/RDBValue.swift) on seeded random values of every type and encoding:
/// each value written and read back holds the same contents, gets the encoding redis-server would give it
/// after loading, and passes its invariant checks; DUMP payloads survive the round trip; and hostile
/// payloads (every byte flipped, truncated, random) are refused without a crash.
final class RDBCodecTests: XCTestCase {
    private let limits: RDBLoadLimits = {
        var l = RDBLoadLimits(Config())
        l.hash = HashValue.Limits(entries: 512, value: 64)
        l.zsetEntries = 128
        l.zsetValue = 64
        l.setIntsetEntries = 512
        l.listFill = -2
        return l
    }()

    /// Contents in a form that compares equal exactly when the values hold the same data.
    private func contents(_ value: Value) -> [String] {
        func text(_ b: UnsafeRawBufferPointer) -> String { b.map { String($0) }.joined(separator: ",") }
        func text(_ s: ByteString) -> String { s.withUnsafeBytes { text($0) } }
        switch value {
        case .string(let s): return ["string", text(s)]
        case .list(let list):
            var out = ["list"]
            list.forEach { out.append(text($0.byteString)) }
            return out
        case .set, .inlineIntset:
            let set = value.setForReading!
            var out: [String] = []
            set.forEach { m in m.withUnsafeBytes { out.append(text($0)) } }
            return ["set"] + out.sorted()
        case .sortedSet(let zset):
            var out = ["zset"]
            zset.forEach { m, s in out.append(text(m) + "=" + String(s.bitPattern)) }
            return out
        case .hash(let hash):
            var out: [String] = []
            hash.forEach { f, v in out.append(text(f) + "=" + text(v)) }
            return ["hash"] + out.sorted()
        case .stream(let stream):
            var out = ["stream"]
            stream.forEach(from: .zero, to: .max) { node, cursor in
                out.append(cursor.id.text.string)
                node.forEachPair(cursor) { f, v in out.append(text(f) + "=" + text(v)) }
                return true
            }
            return out
        }
    }

    private func randomBytes(_ r: inout SeededRandom) -> ByteString { RandomValues.bytes(&r) }

    private func randomValue(_ r: inout SeededRandom) -> Value {
        let big = r.oneIn(4)
        return RandomValues.value(&r, count: big ? r.between(100, 2_000) : r.between(1, 20), limits: limits)
    }

    func testEveryTypeRoundTripsWithItsEncoding() throws {
        var r = SeededRandom(seed: 0x5EED_0DB)
        for round in 0..<400 {
            let value = randomValue(&r)
            for compress in [false, true] {
                let out = RDBOutput(compress: compress)
                out.value(value)
                var input = RDBInput(out.bytes)
                let type = try input.byte()
                guard let back = try input.value(type: type, limits: limits) else { return XCTFail("round \(round): empty") }
                XCTAssertTrue(input.isAtEnd, "round \(round): trailing bytes")
                back.checkInvariants()
                XCTAssertEqual(contents(back), contents(value), "round \(round)")
                if case .string = value { continue }
                XCTAssertEqual(back.encodingName(hint: .likeSet).description, value.encodingName(hint: .likeSet).description,
                               "round \(round) \(contents(value).first!)")
            }
        }
    }

    /// Loading takes shortcuts (a sorted set linked from its ordered elements, hash fields appended without a
    /// walk, a list node packed in one go) that must still refuse a repeated field or member, load elements
    /// out of order, and tell apart fields that only look alike.
    func testLoadingRefusesRepeatsAndAcceptsAnyOrder() throws {
        func load(_ type: UInt8, _ elements: [String]) throws -> Value? {
            var writer = ListpackWriter()
            for e in elements { e.utf8CString.dropLast().withUnsafeBytes { writer.append($0) } }
            let out = RDBOutput(compress: false)
            writer.withFinishedBytes { out.string($0) }
            var input = RDBInput(out.bytes)
            let value = try input.value(type: type, limits: limits)
            value?.checkInvariants()
            return value
        }
        func refuses(_ type: UInt8, _ elements: [String], _ message: String) {
            XCTAssertThrowsError(try load(type, elements), "\(elements)") { error in
                XCTAssertEqual((error as? RDBError)?.description, message)
            }
        }
        refuses(RDB.typeHashListpack, ["a", "1", "b", "2", "a", "3"], "Duplicate hash fields detected")
        refuses(RDB.typeHashListpack, ["17", "1", "x", "2", "17", "3"], "Duplicate hash fields detected")  // integers
        refuses(RDB.typeZsetListpack, ["m", "1", "n", "2", "m", "3"], "Duplicate zset fields detected")
        refuses(RDB.typeZsetListpack, ["m", "1", "m", "1"], "Duplicate zset fields detected")
        // Fields of 17 bytes whose first and last 8 bytes agree share a fingerprint: both load.
        let alike = ["aaaaaaaaXaaaaaaaa", "1", "aaaaaaaaYaaaaaaaa", "2"]
        guard case .hash(let hash) = try load(RDB.typeHashListpack, alike) else { return XCTFail("not a hash") }
        XCTAssertEqual(hash.count, 2)
        XCTAssertEqual(hash.value(of: ByteString("aaaaaaaaYaaaaaaaa")), ByteString("2"))
        // Descending, and equal scores out of member order: loaded one by one, in the right order.
        for elements in [["c", "3", "b", "2", "a", "1"], ["b", "1", "a", "1", "c", "0.5"]] {
            guard case .sortedSet(let zset) = try load(RDB.typeZsetListpack, elements) else { return XCTFail("not a zset") }
            var order: [String] = []
            zset.forEach { m, _ in order.append(m.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }) }
            XCTAssertEqual(order, elements == ["c", "3", "b", "2", "a", "1"] ? ["a", "b", "c"] : ["c", "a", "b"])
        }
        // In order, straight into the packed form: integer members (integer listpack entries), and scores that
        // take more room packed than as text ("12.5": 4 bytes there, 9 here), so the buffer outgrows the
        // listpack's size; one pair more than the packed limit loads as a skiplist.
        for n in [50, limits.zsetEntries + 1] {
            let elements = (0..<n).flatMap { ["\($0)", "\($0).5"] }
            guard case .sortedSet(let zset) = try load(RDB.typeZsetListpack, elements) else { return XCTFail("not a zset") }
            XCTAssertEqual(zset.skiplistEncoded, n > limits.zsetEntries)
            XCTAssertEqual(zset.count, n)
            var read: [String] = []
            zset.forEach { m, score in read += [m.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }, "\(score)"] }
            XCTAssertEqual(read, elements)
        }
        // An intset is copied as it is, at its width (Redis's, wider than 1, 2, 3 need), and refused when its
        // values are not strictly ascending.
        func intset(_ values: [Int32]) throws -> Value? {
            let blob = [UInt32(4), UInt32(values.count)].flatMap { withUnsafeBytes(of: $0.littleEndian) { Array($0) } }
                + values.flatMap { withUnsafeBytes(of: $0.littleEndian) { Array($0) } }
            let out = RDBOutput(compress: false)
            blob.withUnsafeBytes { out.string($0) }
            var input = RDBInput(out.bytes)
            let value = try input.value(type: RDB.typeSetIntset, limits: limits)
            if let set = value?.setForReading {
                value!.checkInvariants()
                XCTAssertEqual(set.intsetBlob, blob)
            }
            return value
        }
        // A small one is kept in the entry (Storage/InlineIntSet.swift), still 4 bytes wide to Redis.
        let loaded = try intset([1, 2, 3])
        guard case .inlineIntset(let inline) = loaded else { return XCTFail("not an inline set: \(String(describing: loaded))") }
        XCTAssertEqual(inline.redisWidth, 4)
        let small = loaded!.setForReading!
        XCTAssertEqual(small.count, 3)
        XCTAssertTrue(small.isIntset)
        guard case .set(let big) = try intset(Array(0..<30)) else { return XCTFail("30 values inline") }
        XCTAssertEqual(big.count, 30)
        for bad: [Int32] in [[1, 1], [2, 1]] {
            XCTAssertThrowsError(try intset(bad)) { XCTAssertEqual(($0 as? RDBError)?.description, "Intset integrity check failed.") }
        }

        // A quicklist node of strings and integers of every width, packed in one go, reads back as written.
        let mixed = ["x", "0", "-1", "127", "4095", "-4096", "32767", "8388607", "2147483647", "9223372036854775807",
                     String(repeating: "y", count: 300), "", "12a"]
        let out = RDBOutput(compress: false)
        out.length(1)
        out.length(RDB.containerPacked)
        var writer = ListpackWriter()
        for e in mixed { e.utf8CString.dropLast().withUnsafeBytes { writer.append($0) } }
        writer.withFinishedBytes { out.string($0) }
        var input = RDBInput(out.bytes)
        guard case .list(let list) = try input.value(type: RDB.typeListQuicklist2, limits: limits) else { return XCTFail("not a list") }
        list.checkInvariants()
        var read: [String] = []
        list.forEach { read.append($0.byteString.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }) }
        XCTAssertEqual(read, mixed)
    }

    func testDumpPayloadRoundTripAndChecksum() throws {
        var r = SeededRandom(seed: 42)
        for _ in 0..<100 {
            let value = randomValue(&r)
            var payload = dumpPayload(value, compress: true)
            guard case .success(let back) = payload.withUnsafeBytes({ valueFromDumpPayload($0, limits: limits) }) else {
                return XCTFail("valid payload refused")
            }
            XCTAssertEqual(contents(back), contents(value))
            payload[payload.count / 2] ^= 0x40
            guard case .failure(let error) = payload.withUnsafeBytes({ valueFromDumpPayload($0, limits: limits) }) else {
                return XCTFail("corrupt payload accepted")
            }
            XCTAssertEqual(error.description, "ERR DUMP payload version or checksum are wrong")
        }
    }

    /// Hostile payloads with a valid checksum (so the decoder itself is exercised): mutated bytes, lying
    /// lengths, truncation. Each is refused or yields a value that passes its checks; none crashes.
    func testHostilePayloadsNeverCrash() {
        var r = SeededRandom(seed: 7)
        var refused = 0, accepted = 0
        for _ in 0..<3_000 {
            let value = randomValue(&r)
            let out = RDBOutput(compress: r.oneIn(2))
            out.value(value)
            var body = Array(out.bytes)
            switch r.below(4) {
            case 0: for _ in 0..<r.between(1, 4) { body[r.below(body.count)] = UInt8(r.below(256)) }
            case 1: body = Array(body.prefix(r.below(body.count)))
            case 2: body.insert(contentsOf: [0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], at: min(1, body.count))
            default: body = (0..<r.between(1, 64)).map { _ in UInt8(r.below(256)) }
            }
            body += [UInt8(RDB.version), 0]
            let crc = body.withUnsafeBytes { CRC64.update(0, $0) }
            body += withUnsafeBytes(of: crc.littleEndian) { Array($0) }
            switch body.withUnsafeBytes({ valueFromDumpPayload($0, limits: limits) }) {
            case .success(let v):
                v.checkInvariants()
                accepted += 1
            case .failure(let error):
                XCTAssertEqual(error.description, "ERR Bad data format")
                refused += 1
            }
        }
        XCTAssertGreaterThan(refused, 1_000)
        XCTAssertGreaterThan(accepted, 10)
    }

    /// The cut of a list into quicklist nodes follows redis-server 7.0's rule for 8 KB nodes (fill -2):
    /// 2,000 10-byte strings (12 bytes each in a listpack) fill nodes of at most 8 KB.
    func testQuicklistCutKeepsNodesWithinTheFill() {
        let list = ListValue.make(fill: -2)
        for i in 0..<2_000 { list.append(ByteString(Array(String(format: "%010d", i).replacingOccurrences(of: "0", with: "x").utf8))) }
        let nodes = quicklistNodes(list)
        XCTAssertEqual(nodes.reduce(0) { $0 + $1.count }, 2_000)
        for node in nodes { XCTAssertLessThanOrEqual(node.bytes, 8192) }
        XCTAssertGreaterThan(nodes[0].bytes, 8192 - 14)
    }
}
