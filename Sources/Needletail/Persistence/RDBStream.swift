// The RDB form of streams (Redis's rdbSaveObject / rdbLoadObject for OBJ_STREAM), part of the one value
// codec (RDBValue.swift):
//
//   node count, then per node: its master id (16 bytes, big-endian ms and seq) as a string and its listpack
//   length, last id (ms, seq), [first id, max deleted id, entries added]        (STREAM_LISTPACKS_2 and 3)
//   group count, then per group: name, last id, [entries read], its PEL: count, then per entry the raw
//   16-byte id, the delivery time (ms, 8 bytes LE) and count; its consumers: count, then per consumer name,
//   seen time (8 bytes LE), [active time (7.2, type 21)], and its PEL as raw ids (count first)
//
// A node's listpack is Redis's: the master entry (count, deleted, number of master fields, the fields, 0),
// then per entry flags, ms and seq deltas from the master id, [field count, fields and values | values when
// the fields are the master's], and lp-count. We write STREAM_LISTPACKS_2 as redis-server 7.0 does and read
// types 15, 19 and 21 (7.2 adds the consumers' active time).

extension RDBOutput {
    /// A stream as RDB_TYPE_STREAM_LISTPACKS_2.
    func stream(_ stream: StreamValue) {
        length(stream.nodes.count)
        var writer = ListpackWriter(reservingCapacity: 4096)
        for node in stream.nodes {
            node.masterID.bigEndianBytes.withUnsafeBytes { string($0) }
            writer.reset()
            writer.append(integer: Int64(node.liveCount))
            writer.append(integer: Int64(node.deletedCount))
            let master = node.masterFields
            writer.append(integer: Int64(master.count))
            for field in master { writer.append(field) }
            writer.append(integer: 0)
            node.forEachEntry { cursor in
                writer.append(integer: Int64(cursor.flags))
                writer.append(integer: Int64(bitPattern: cursor.id.ms &- node.masterID.ms))
                writer.append(integer: Int64(bitPattern: cursor.id.seq &- node.masterID.seq))
                let n = cursor.fieldCount
                if !cursor.sameFields { writer.append(integer: Int64(n)) }
                node.forEachPair(cursor) { field, value in
                    if !cursor.sameFields { writer.append(field) }
                    writer.append(value)
                }
                writer.append(integer: Int64(cursor.sameFields ? n + 3 : 2 * n + 4))
                return true
            }
            writer.withFinishedBytes { string($0) }
        }
        length(stream.count)
        streamID(stream.lastID)
        streamID(stream.firstID)
        streamID(stream.maxDeletedID)
        rawLength(stream.entriesAdded)
        length(stream.groups.count)
        for group in stream.groups {
            string(group.name)
            streamID(group.lastID)
            rawLength(UInt64(bitPattern: group.entriesRead))
            length(group.pending.count)
            group.pending.forEach { id, entry in
                raw(id.bigEndianBytes)
                littleEndian(UInt64(bitPattern: entry.deliveryTime))
                rawLength(entry.deliveryCount)
            }
            length(group.consumers.count)
            for consumer in group.consumers {
                string(consumer.name)
                littleEndian(UInt64(bitPattern: consumer.seenTime))
                length(consumer.pending.count)
                consumer.pending.forEach { id, _ in raw(id.bigEndianBytes) }
            }
        }
    }

    private func streamID(_ id: StreamID) {
        rawLength(id.ms)
        rawLength(id.seq)
    }

    /// rdbSaveLen of a full 64-bit value.
    private func rawLength(_ v: UInt64) {
        if v <= UInt64(Int.max) {
            length(Int(v))
        } else {
            byte(0x81)
            littleEndian(v.byteSwapped)
        }
    }
}

extension RDBInput {
    /// A stream of RDB type 15, 19 or 21. Checks what Redis's loader checks (deep integrity of listpacks,
    /// ids in order, PEL entries owned by a consumer).
    mutating func stream(type: UInt8) throws -> Value {
        let stream = StreamValue()
        let nodeCount = try count(minimumBytes: 2)
        var previous: StreamID?
        for _ in 0..<nodeCount {
            let master = try withString { key -> StreamID in
                guard let id = StreamID(bigEndian: key) else { throw RDBError("Stream node key entry is not the size of a stream ID") }
                return id
            }
            let node = try withString { blob in try RDBInput.streamNode(blob, master: master) }
            guard node.entryCount > 0 else { throw RDBError("Empty listpack inside stream") }
            if let previous { guard previous < node.masterID else { throw RDBError("Stream nodes out of order") } }
            previous = node.lastID
            stream.appendLoadedNode(node)
        }
        let length = try self.length()
        let lastID = try streamID()
        var maxDeleted = StreamID.zero
        var entriesAdded = UInt64(length)
        if type != RDB.typeStreamListpacks {
            _ = try streamID()  // the first id: recomputed from the entries
            maxDeleted = try streamID()
            entriesAdded = try rawLength()
        }
        guard length == stream.countedEntries else { throw RDBError("Stream length does not match its entries") }
        stream.setLoaded(count: length, lastID: lastID, maxDeletedID: maxDeleted, entriesAdded: entriesAdded)
        if let last = stream.nodes.last, last.lastID > lastID { throw RDBError("Stream entry past the last id") }
        let groupCount = try count(minimumBytes: 3)
        for _ in 0..<groupCount {
            let name = try string()
            let groupLast = try streamID()
            var entriesRead: Int64
            if type != RDB.typeStreamListpacks {
                entriesRead = Int64(bitPattern: try rawLength())
            } else {
                entriesRead = stream.estimateDistanceFromFirstEverEntry(groupLast)
            }
            guard let group = stream.createGroup(name, lastID: groupLast, entriesRead: entriesRead) else {
                throw RDBError("Duplicated consumer group name \(name)")
            }
            let pelCount = try count(minimumBytes: 16 + 8 + 1)
            var unowned: [StreamID: (Int64, UInt64)] = [:]
            for _ in 0..<pelCount {
                let id = try rawStreamID()
                let time = Int64(bitPattern: try littleEndian(UInt64.self))
                let deliveries = try rawLength()
                guard unowned[id] == nil else { throw RDBError("Duplicated global PEL entry loading stream consumer group") }
                unowned[id] = (time, deliveries)
            }
            let consumerCount = try count(minimumBytes: 10)
            for _ in 0..<consumerCount {
                let cname = try string()
                let seen = Int64(bitPattern: try littleEndian(UInt64.self))
                // Older types have no active time: 7.2 takes the seen time as its best estimate.
                var active = seen
                if type == RDB.typeStreamListpacks3 { active = Int64(bitPattern: try littleEndian(UInt64.self)) }
                guard let consumer = group.createConsumer(cname, seenTime: seen) else {
                    throw RDBError("Duplicate stream consumer detected.")
                }
                consumer.activeTime = active
                let owned = try count(minimumBytes: 16)
                for _ in 0..<owned {
                    let id = try rawStreamID()
                    guard let (time, deliveries) = unowned.removeValue(forKey: id) else {
                        throw RDBError("Consumer entry not found in group global PEL")
                    }
                    let entry = PendingEntry(deliveryTime: time, deliveryCount: deliveries, consumer: consumer)
                    consumer.pending.set(id, entry)
                    group.pending.set(id, entry)
                }
            }
            guard unowned.isEmpty else { throw RDBError("Stream CG PEL entry without consumer") }
        }
        return .stream(stream)
    }

    private mutating func streamID() throws -> StreamID {
        StreamID(ms: try rawLength(), seq: try rawLength())
    }

    private mutating func rawLength() throws -> UInt64 {
        let (value, encoded) = try lengthOrEncoding()
        guard !encoded else { throw RDBError("Invalid length") }
        return value
    }

    private mutating func rawStreamID() throws -> StreamID {
        StreamID(bigEndian: try bytes(16))!
    }

    /// Decodes one node's listpack into a node, validating its structure as Redis's
    /// streamValidateListpackIntegrity does.
    static func streamNode(_ blob: UnsafeRawBufferPointer, master: StreamID) throws -> StreamNode {
        var elements: [ListpackElement] = []
        _ = try Listpack.forEach(blob) { elements.append($0) }
        var i = 0
        func next() throws -> ListpackElement {
            guard i < elements.count else { throw RDBError("Stream listpack integrity check failed.") }
            defer { i += 1 }
            return elements[i]
        }
        func integer() throws -> Int64 {
            guard case .integer(let v) = try next() else { throw RDBError("Stream listpack integrity check failed.") }
            return v
        }
        func bytes() throws -> ByteString { try next().byteString }
        guard !elements.isEmpty else { return StreamNode(masterID: master, masterFields: []) }
        let live = try integer()
        let deleted = try integer()
        let masterCount = try integer()
        guard live >= 0, deleted >= 0, masterCount >= 0, masterCount < 1 << 20 else {
            throw RDBError("Stream listpack integrity check failed.")
        }
        var masterFields: [ByteString] = []
        for _ in 0..<masterCount { masterFields.append(try bytes()) }
        guard try integer() == 0 else { throw RDBError("Stream listpack integrity check failed.") }
        let node = StreamNode(masterID: master, masterFields: masterFields)
        var seenLive = 0, seenDeleted = 0
        var previous: StreamID?
        while i < elements.count {
            let flags = try integer()
            let msDelta = UInt64(bitPattern: try integer())
            let seqDelta = UInt64(bitPattern: try integer())
            let id = StreamID(ms: master.ms &+ msDelta, seq: master.seq &+ seqDelta)
            if let previous { guard previous < id else { throw RDBError("Stream listpack integrity check failed.") } }
            else { guard id == master else { throw RDBError("Stream listpack integrity check failed.") } }
            previous = id
            var fields: [ByteString] = []
            if flags & Int64(StreamNode.flagSameFields) != 0 {
                for f in masterFields {
                    fields.append(f)
                    fields.append(try bytes())
                }
            } else {
                let n = try integer()
                guard n >= 0, n < 1 << 20 else { throw RDBError("Stream listpack integrity check failed.") }
                for _ in 0..<(2 * n) { fields.append(try bytes()) }
            }
            let lpCount = try integer()
            let n = Int64(fields.count / 2)
            let expected = flags & Int64(StreamNode.flagSameFields) != 0 ? n + 3 : 2 * n + 4
            guard lpCount == expected else { throw RDBError("Stream listpack integrity check failed.") }
            let isDeleted = flags & Int64(StreamNode.flagDeleted) != 0
            if isDeleted { seenDeleted += 1 } else { seenLive += 1 }
            withRawBuffers(fields) { node.appendLoaded(id, $0, deleted: isDeleted) }
        }
        guard seenLive == live, seenDeleted == deleted else { throw RDBError("Stream listpack integrity check failed.") }
        return node
    }
}

/// Calls `body` with the strings' bytes as raw buffers (copied once into one contiguous block, since an
/// inline ByteString has no stable address outside its own `withUnsafeBytes`).
func withRawBuffers<R>(_ strings: [ByteString], _ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
    var block: [UInt8] = []
    block.reserveCapacity(strings.reduce(0) { $0 + $1.count })
    for s in strings { s.withUnsafeBytes { block.append(contentsOf: $0) } }
    return try block.withUnsafeBytes { raw in
        var pointers: [UnsafeRawBufferPointer] = []
        pointers.reserveCapacity(strings.count)
        var offset = 0
        for s in strings {
            pointers.append(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + s.count)]))
            offset += s.count
        }
        return try body(pointers)
    }
}
