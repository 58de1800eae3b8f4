import XCTest
@testable import Needletail
import TestSupport

/// StreamValue and its consumer groups against a trivial model (a sorted array of entries plus groups with
/// their PELs), seeded, with `checkInvariants()` after every mutation; and the RDB form round-tripping.
final class StreamValueTests: XCTestCase {
    private struct ModelEntry: Equatable {
        var id: StreamID
        var fields: [ByteString]
    }

    private struct ModelGroup {
        var lastID: StreamID
        /// id -> (consumer, delivery count)
        var pending: [StreamID: (ByteString, UInt64)] = [:]
        var consumers: Set<ByteString> = []
    }

    private func append(_ s: StreamValue, _ id: StreamID, _ fields: [ByteString], _ limits: StreamValue.Limits) {
        withRawBuffers(fields) { s.append(id, $0, limits: limits) }
    }

    private func entries(_ s: StreamValue, from: StreamID = .zero, to: StreamID = .max, reverse: Bool = false,
                         count: Int = 0) -> [ModelEntry] {
        var out: [ModelEntry] = []
        s.forEach(from: from, to: to, reverse: reverse) { node, cursor in
            var fields: [ByteString] = []
            node.forEachPair(cursor) { f, v in
                fields.append(ByteString(f))
                fields.append(ByteString(v))
            }
            out.append(ModelEntry(id: cursor.id, fields: fields))
            return count == 0 || out.count < count
        }
        return out
    }

    private func randomFields(_ r: inout SeededRandom, shared: [ByteString]) -> [ByteString] {
        if r.oneIn(2) {
            // The master's fields (same-fields entries), new values.
            var out: [ByteString] = []
            for f in shared {
                out.append(f)
                out.append(ByteString(r.oneIn(3) ? "\(r.below(100_000))" : String(repeating: "v", count: r.below(40))))
            }
            return out
        }
        let n = 1 + r.below(4)
        var out: [ByteString] = []
        for _ in 0..<n {
            out.append(ByteString(r.oneIn(4) ? "" : "f\(r.below(6))"))
            out.append(ByteString(r.oneIn(20) ? String(repeating: "x", count: 300 + r.below(5000)) : "\(r.below(1000))"))
        }
        return out
    }

    func testSeededOperationsAgainstModel() {
        for seed in 1...30 {
            var r = SeededRandom(seed: UInt64(seed) &* 0x9E37_79B9)
            let limits = StreamValue.Limits(maxBytes: r.oneIn(3) ? 0 : 64 + r.below(2000),
                                            maxEntries: r.oneIn(4) ? 0 : 1 + r.below(12))
            let s = StreamValue()
            var model: [ModelEntry] = []
            var lastID = StreamID.zero
            var maxDeleted = StreamID.zero
            var added: UInt64 = 0
            let shared: [ByteString] = ["a", "b", "c"]
            for step in 0..<600 {
                let op = r.below(10)
                if op < 6 {
                    // Ids near the 64-bit edges, with sequence overflow into the next ms.
                    var id: StreamID
                    switch r.below(4) {
                    case 0: id = StreamID(ms: lastID.ms, seq: lastID.seq &+ 1 &+ UInt64(r.below(3)))
                    case 1: id = StreamID(ms: lastID.ms &+ 1 &+ UInt64(r.below(1000)), seq: UInt64(r.below(3)))
                    case 2: id = lastID.incremented ?? lastID
                    default: id = StreamID(ms: lastID.ms, seq: UInt64.max - UInt64(r.below(3)))
                    }
                    if seed % 5 == 0 && step == 0 { id = StreamID(ms: UInt64.max - 2, seq: UInt64.max - 3) }
                    guard id > lastID else { continue }
                    let fields = randomFields(&r, shared: shared)
                    append(s, id, fields, limits)
                    model.append(ModelEntry(id: id, fields: fields))
                    lastID = id
                    added += 1
                } else if op == 6, !model.isEmpty || r.oneIn(2) {
                    let id = model.isEmpty || r.oneIn(4) ? StreamID(ms: UInt64(r.below(100)), seq: 0) : r.pick(model).id
                    let expected = model.contains { $0.id == id }
                    XCTAssertEqual(s.delete(id), expected, "seed \(seed) step \(step)")
                    if expected {
                        model.removeAll { $0.id == id }
                        if id > maxDeleted { maxDeleted = id }
                    }
                } else if op == 7 {
                    let approximate = r.oneIn(2)
                    let limit = approximate && r.oneIn(2) ? 1 + r.below(20) : 0
                    let before = model.count
                    let deleted: Int
                    if r.oneIn(2) {
                        let maxlen = r.below(max(model.count + 1, 1))
                        deleted = s.trim(.maxLength(maxlen), approximate: approximate, limit: limit)
                        if !approximate { XCTAssertEqual(deleted, max(0, before - maxlen), "seed \(seed) step \(step)") }
                        XCTAssertGreaterThanOrEqual(before - deleted, min(before, maxlen))
                    } else {
                        let minid = model.isEmpty ? StreamID(ms: 5, seq: 0) : r.pick(model).id
                        deleted = s.trim(.minID(minid), approximate: approximate, limit: limit)
                        let below = model.filter { $0.id < minid }.count
                        if !approximate { XCTAssertEqual(deleted, below, "seed \(seed) step \(step)") }
                        XCTAssertLessThanOrEqual(deleted, below)
                    }
                    if limit > 0 { XCTAssertLessThanOrEqual(deleted, limit) }
                    model.removeFirst(deleted)  // trimming removes from the front only
                } else {
                    // Reads: ranges both ways, with counts.
                    if !model.isEmpty {
                        let a = r.pick(model).id, b = r.pick(model).id
                        let lo = min(a, b), hi = max(a, b)
                        let count = r.oneIn(2) ? 0 : 1 + r.below(5)
                        var want = model.filter { $0.id >= lo && $0.id <= hi }
                        if r.oneIn(2) {
                            want.reverse()
                            if count > 0 { want = Array(want.prefix(count)) }
                            XCTAssertEqual(entries(s, from: lo, to: hi, reverse: true, count: count), want)
                        } else {
                            if count > 0 { want = Array(want.prefix(count)) }
                            XCTAssertEqual(entries(s, from: lo, to: hi, count: count), want)
                        }
                    }
                }
                s.checkInvariants()
                XCTAssertEqual(s.count, model.count, "seed \(seed) step \(step)")
                XCTAssertEqual(s.lastID, lastID)
                XCTAssertEqual(s.maxDeletedID, maxDeleted)
                XCTAssertEqual(s.entriesAdded, added)
                XCTAssertEqual(s.firstID, model.first?.id ?? .zero)
                if let maxEntries = Optional(limits.maxEntries), maxEntries > 0 {
                    for node in s.nodes { XCTAssertLessThanOrEqual(node.entryCount, maxEntries) }
                }
            }
            XCTAssertEqual(entries(s), model, "seed \(seed)")
            // COPY and the RDB form keep everything.
            let copy = s.duplicate()
            copy.checkInvariants()
            XCTAssertEqual(entries(copy), model)
            assertRoundTrips(s, seed: seed)
        }
    }

    private func assertRoundTrips(_ s: StreamValue, seed: Int, file: StaticString = #filePath, line: UInt = #line) {
        for compress in [false, true] {
            let out = RDBOutput(compress: compress)
            out.value(.stream(s))
            var input = RDBInput(out.bytes)
            do {
                let type = try input.byte()
                XCTAssertEqual(type, RDB.typeStreamListpacks2, file: file, line: line)
                guard case .stream(let back)? = try input.value(type: type, limits: RDBLoadLimits(Config())) else {
                    return XCTFail("seed \(seed): not a stream", file: file, line: line)
                }
                XCTAssertTrue(input.isAtEnd, file: file, line: line)
                back.checkInvariants()
                XCTAssertEqual(entries(back), entries(s), "seed \(seed)", file: file, line: line)
                XCTAssertEqual(back.lastID, s.lastID, file: file, line: line)
                XCTAssertEqual(back.firstID, s.firstID, file: file, line: line)
                XCTAssertEqual(back.maxDeletedID, s.maxDeletedID, file: file, line: line)
                XCTAssertEqual(back.entriesAdded, s.entriesAdded, file: file, line: line)
                XCTAssertEqual(back.nodes.map(\.masterID), s.nodes.map(\.masterID), file: file, line: line)
                XCTAssertEqual(back.nodes.map(\.listpackBytes), s.nodes.map(\.listpackBytes), file: file, line: line)
                XCTAssertEqual(back.groups.map(\.name), s.groups.map(\.name), file: file, line: line)
                for (g, h) in zip(back.groups, s.groups) {
                    XCTAssertEqual(g.lastID, h.lastID, file: file, line: line)
                    XCTAssertEqual(g.entriesRead, h.entriesRead, file: file, line: line)
                    XCTAssertEqual(g.pending.ids, h.pending.ids, file: file, line: line)
                    XCTAssertEqual(g.pending.values.map(\.consumer.name), h.pending.values.map(\.consumer.name), file: file, line: line)
                    XCTAssertEqual(g.pending.values.map(\.deliveryCount), h.pending.values.map(\.deliveryCount), file: file, line: line)
                    XCTAssertEqual(g.consumers.map(\.name), h.consumers.map(\.name), file: file, line: line)
                }
            } catch {
                XCTFail("seed \(seed): \(error)", file: file, line: line)
            }
        }
    }

    /// The listpack size we track equals the size of the listpack the RDB writer builds (Redis's lpBytes),
    /// which is what cuts nodes where redis-server cuts them.
    func testTrackedListpackSizeIsTheWrittenListpack() throws {
        var r = SeededRandom(seed: 77)
        let s = StreamValue()
        var id = StreamID(ms: 1, seq: 0)
        for _ in 0..<500 {
            id = StreamID(ms: id.ms + UInt64(r.below(200)), seq: id.seq + 1)
            append(s, id, randomFields(&r, shared: ["a", "b", "c"]), StreamValue.Limits(maxBytes: 4096, maxEntries: 100))
            if r.oneIn(10) { _ = s.delete(id) }
        }
        for node in s.nodes {
            let out = RDBOutput(compress: false)
            let single = StreamValue()
            single.appendLoadedNode(node)
            out.stream(single)
            var input = RDBInput(out.bytes)
            _ = try input.length()            // node count
            _ = try input.string()            // master id
            let blob = try input.string()
            XCTAssertEqual(blob.count, node.listpackBytes)
        }
    }

    func testGroupsAndPendingEntriesAgainstModel() {
        var r = SeededRandom(seed: 4242)
        let s = StreamValue()
        for i in 1...50 { append(s, StreamID(ms: UInt64(i), seq: 0), ["f", ByteString("\(i)")], StreamValue.Limits(maxBytes: 4096, maxEntries: 7)) }
        var model: [ByteString: ModelGroup] = [:]
        for step in 0..<2000 {
            let name = ByteString("g\(r.below(4))")
            switch r.below(8) {
            case 0:
                let created = s.createGroup(name, lastID: .zero, entriesRead: -1) != nil
                XCTAssertEqual(created, model[name] == nil)
                if created { model[name] = ModelGroup(lastID: .zero) }
            case 1:
                XCTAssertEqual(s.destroyGroup(name), model[name] != nil)
                model[name] = nil
            case 2, 3, 4:
                guard let g = s.group(named: name) else { continue }
                let consumerName = ByteString("c\(r.below(3))")
                let consumer = g.consumer(named: consumerName) ?? g.createConsumer(consumerName, seenTime: 0)!
                model[name]!.consumers.insert(consumerName)
                let id = StreamID(ms: UInt64(1 + r.below(50)), seq: 0)
                if let existing = g.pending[id] {
                    existing.consumer.pending.remove(id)
                    existing.consumer = consumer
                    existing.deliveryCount += 1
                    consumer.pending.set(id, existing)
                    model[name]!.pending[id] = (consumerName, model[name]!.pending[id]!.1 + 1)
                } else {
                    let entry = PendingEntry(deliveryTime: 0, deliveryCount: 1, consumer: consumer)
                    g.pending.set(id, entry)
                    consumer.pending.set(id, entry)
                    model[name]!.pending[id] = (consumerName, 1)
                }
            case 5:
                guard let g = s.group(named: name) else { continue }
                let id = StreamID(ms: UInt64(1 + r.below(50)), seq: 0)
                if let entry = g.pending.remove(id) { entry.consumer.pending.remove(id) }
                model[name]!.pending[id] = nil
            case 6:
                guard let g = s.group(named: name) else { continue }
                let consumerName = ByteString("c\(r.below(3))")
                let owned = model[name]!.pending.filter { $0.value.0 == consumerName }.count
                let result = g.deleteConsumer(consumerName)
                XCTAssertEqual(result, model[name]!.consumers.contains(consumerName) ? owned : nil, "step \(step)")
                model[name]!.consumers.remove(consumerName)
                model[name]!.pending = model[name]!.pending.filter { $0.value.0 != consumerName }
            default:
                _ = s.delete(StreamID(ms: UInt64(1 + r.below(50)), seq: 0))
            }
            s.checkInvariants()
            XCTAssertEqual(Set(s.groups.map(\.name)), Set(model.keys))
            for g in s.groups {
                let m = model[g.name]!
                XCTAssertEqual(Set(g.pending.ids), Set(m.pending.keys))
                for (i, id) in g.pending.ids.enumerated() {
                    XCTAssertEqual(g.pending.values[i].consumer.name, m.pending[id]!.0)
                    XCTAssertEqual(g.pending.values[i].deliveryCount, m.pending[id]!.1)
                }
                XCTAssertEqual(Set(g.consumers.map(\.name)), m.consumers)
            }
        }
        let copy = s.duplicate()
        copy.checkInvariants()
        assertRoundTrips(s, seed: 4242)
    }

    /// STREAM_LISTPACKS (type 15, Redis 5/6) has no first id, max deleted id, entries added nor groups'
    /// entries read: they are derived as Redis's loader derives them.
    func testReadsTheVersion1Form() throws {
        let s = StreamValue()
        let limits = StreamValue.Limits(maxBytes: 4096, maxEntries: 3)
        for i in 1...8 { append(s, StreamID(ms: UInt64(i), seq: 0), ["f", ByteString("\(i)")], limits) }
        _ = s.delete(StreamID(ms: 2, seq: 0))
        let group = s.createGroup("g", lastID: StreamID(ms: 4, seq: 0), entriesRead: 4)!
        let consumer = group.createConsumer("alice", seenTime: 1234)!
        let entry = PendingEntry(deliveryTime: 99, deliveryCount: 2, consumer: consumer)
        group.pending.set(StreamID(ms: 3, seq: 0), entry)
        consumer.pending.set(StreamID(ms: 3, seq: 0), entry)
        // The v2 form, then the same without the fields v1 lacks.
        let out = RDBOutput(compress: false)
        out.length(s.nodes.count)
        let v2 = RDBOutput(compress: false)
        v2.stream(s)
        var full = RDBInput(v2.bytes)
        _ = try full.length()
        for _ in s.nodes {
            try full.withString { out.string($0) }
            try full.withString { out.string($0) }
        }
        out.length(s.count)
        out.length(Int(s.lastID.ms))
        out.length(Int(s.lastID.seq))
        out.length(1)
        out.string(ByteString("g"))
        out.length(4)
        out.length(0)
        out.length(1)
        out.raw(StreamID(ms: 3, seq: 0).bigEndianBytes)
        out.littleEndian(UInt64(99))
        out.length(2)
        out.length(1)
        out.string(ByteString("alice"))
        out.littleEndian(UInt64(1234))
        out.length(1)
        out.raw(StreamID(ms: 3, seq: 0).bigEndianBytes)
        var input = RDBInput(out.bytes)
        guard case .stream(let back)? = try input.value(type: RDB.typeStreamListpacks, limits: RDBLoadLimits(Config())) else {
            return XCTFail("not a stream")
        }
        XCTAssertTrue(input.isAtEnd)
        back.checkInvariants()
        XCTAssertEqual(entries(back), entries(s))
        XCTAssertEqual(back.entriesAdded, 7)              // the length
        XCTAssertEqual(back.maxDeletedID, .zero)
        XCTAssertEqual(back.firstID, StreamID(ms: 1, seq: 0))
        let g = try XCTUnwrap(back.group(named: "g"))
        XCTAssertEqual(g.entriesRead, -1)                  // 4-0 is past a tombstone Redis cannot see: unknown
        XCTAssertEqual(g.pending[StreamID(ms: 3, seq: 0)]?.deliveryCount, 2)
        XCTAssertEqual(g.consumer(named: "alice")?.seenTime, 1234)
    }

    /// IDMap (the PELs) against a dictionary: appends, acknowledgements from the front (its `head`), inserts
    /// and removals anywhere, with the positions, bounds and order checked after every step.
    func testIDMapAgainstModel() {
        var r = SeededRandom(seed: 99)
        var map = IDMap<Int>()
        var model: [StreamID: Int] = [:]
        var next: UInt64 = 1
        for step in 0..<20_000 {
            switch r.below(6) {
            case 0, 1:  // a delivery: the next id
                map.set(StreamID(ms: next, seq: 0), step)
                model[StreamID(ms: next, seq: 0)] = step
                next += 1
            case 2, 3:  // an acknowledgement of the oldest
                if let first = model.keys.min() {
                    XCTAssertEqual(map.remove(first), model.removeValue(forKey: first))
                }
            case 4:  // anywhere
                let id = StreamID(ms: UInt64(r.below(Int(next) + 1)), seq: 0)
                if r.oneIn(2) {
                    map.set(id, -step)
                    model[id] = -step
                } else {
                    XCTAssertEqual(map.remove(id), model.removeValue(forKey: id))
                }
            default:
                let id = StreamID(ms: UInt64(r.below(Int(next) + 1)), seq: 0)
                XCTAssertEqual(map[id], model[id])
                XCTAssertEqual(map.lowerBound(id), model.keys.filter { $0 < id }.count)
            }
            if step % 97 == 0 || map.count < 5 {
                let sorted = model.keys.sorted()
                XCTAssertEqual(map.count, sorted.count)
                XCTAssertEqual(map.ids, sorted, "step \(step)")
                XCTAssertEqual(map.values, sorted.map { model[$0]! })
                XCTAssertEqual(map.firstID, sorted.first)
                XCTAssertEqual(map.lastID, sorted.last)
                for (i, id) in sorted.enumerated() where i % 13 == 0 { XCTAssertEqual(map.id(at: i), id) }
            }
        }
    }

    /// Hostile stream payloads with a valid checksum (mutated bytes, truncation, lying lengths): each is
    /// refused or loads into a stream that passes its checks; none crashes.
    func testHostileStreamPayloadsNeverCrash() {
        var r = SeededRandom(seed: 17)
        var refused = 0, accepted = 0
        for round in 0..<2_000 {
            let s = StreamValue()
            let limits = StreamValue.Limits(maxBytes: r.oneIn(2) ? 4096 : 120, maxEntries: r.pick([2, 5, 100]))
            let n = r.between(1, 40)
            for i in 0..<n {
                let value = ByteString(r.oneIn(3) ? "\(Int64(bitPattern: r.next()))" : String(repeating: "v", count: r.below(30)))
                append(s, StreamID(ms: UInt64(i / 3 + 1), seq: UInt64(i % 3)), r.oneIn(2) ? ["f", value] : ["x", value, "y", "1"], limits)
            }
            for _ in 0..<r.below(n / 2 + 1) { _ = s.delete(StreamID(ms: UInt64(r.below(n / 3 + 2)), seq: UInt64(r.below(3)))) }
            if r.oneIn(2), let group = s.createGroup("g", lastID: StreamID(ms: 2, seq: 0), entriesRead: Int64(r.below(5)) - 1) {
                let consumer = group.createConsumer("c", seenTime: Int64(bitPattern: r.next()))!
                for i in 0..<r.below(6) {
                    let entry = PendingEntry(deliveryTime: Int64(bitPattern: r.next()), deliveryCount: r.next(), consumer: consumer)
                    group.pending.set(StreamID(ms: UInt64(i + 1), seq: 0), entry)
                    consumer.pending.set(StreamID(ms: UInt64(i + 1), seq: 0), entry)
                }
                group.createConsumer("idle", seenTime: 0)
            }
            let out = RDBOutput(compress: r.oneIn(2))
            out.value(.stream(s))
            var body = Array(out.bytes)
            switch r.below(4) {
            case 0: for _ in 0..<r.between(1, 4) { body[r.below(body.count)] = UInt8(r.below(256)) }
            case 1: body = Array(body.prefix(r.below(body.count)))
            case 2: body.insert(contentsOf: [0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], at: min(1 + r.below(4), body.count))
            default: body[r.below(body.count)] ^= UInt8(1 << r.below(8))
            }
            body += [UInt8(RDB.version), 0]
            let crc = body.withUnsafeBytes { CRC64.update(0, $0) }
            body += withUnsafeBytes(of: crc.littleEndian) { Array($0) }
            switch body.withUnsafeBytes({ valueFromDumpPayload($0, limits: RDBLoadLimits(Config())) }) {
            case .success(let v):
                v.checkInvariants()
                if case .stream(let back) = v {
                    // Whatever was accepted answers reads and takes writes.
                    _ = entries(back)
                    _ = entries(back, reverse: true)
                    for g in back.groups { _ = back.lag(of: g) }
                    if let next = back.lastID.incremented { append(back, next, ["a", "b"], limits) }
                    _ = back.trim(.maxLength(1), approximate: r.oneIn(2), limit: 0)
                    back.checkInvariants()
                }
                accepted += 1
            case .failure(let error):
                XCTAssertEqual(error.description, "ERR Bad data format", "round \(round)")
                refused += 1
            }
        }
        XCTAssertGreaterThan(refused, 500)
        XCTAssertGreaterThan(accepted, 10)
    }

    func testIDParsingAsRedis() {
        func parse(_ text: String, strict: Bool = true, auto: Bool = false) -> (StreamID, Bool)? {
            let b = ByteString(text)
            return b.withUnsafeBytes { parseID($0, missingSeq: 7, strict: strict, allowAutoSeq: auto) }.map { ($0.id, $0.seqGiven) }
        }
        XCTAssertEqual(parse("1-2")?.0, StreamID(ms: 1, seq: 2))
        XCTAssertEqual(parse("5")?.0, StreamID(ms: 5, seq: 7))
        XCTAssertNil(parse("-"))
        XCTAssertEqual(parse("-", strict: false)?.0, .zero)
        XCTAssertEqual(parse("+", strict: false)?.0, .max)
        XCTAssertEqual(parse("18446744073709551615-18446744073709551615")?.0, .max)
        // The longest text, 41 bytes (it once overflowed a 40-byte buffer: scripts/sanitize.sh found it).
        XCTAssertEqual(StreamID.max.text, ByteString("18446744073709551615-18446744073709551615"))
        XCTAssertEqual(StreamID.zero.text, ByteString("0-0"))
        XCTAssertNil(parse("18446744073709551616-0"))
        XCTAssertNil(parse("-1"))
        XCTAssertNil(parse("1--1"))
        XCTAssertEqual(parse("+5")?.0, StreamID(ms: 5, seq: 7))       // strtoull's sign
        XCTAssertEqual(parse(" 5-01")?.0, StreamID(ms: 5, seq: 1))    // spaces and leading zeros
        XCTAssertEqual(parse("1-*", auto: true)?.1, false)
        XCTAssertNil(parse("1-*"))
        XCTAssertNil(parse(""))
        XCTAssertNil(parse(String(repeating: "1", count: 128)))
        XCTAssertEqual(StreamID(ms: 1, seq: .max).incremented, StreamID(ms: 2, seq: 0))
        XCTAssertNil(StreamID.max.incremented)
        XCTAssertNil(StreamID.zero.decremented)
        XCTAssertEqual(StreamID(ms: 18446744073709551615, seq: 3).text, "18446744073709551615-3")
    }
}
