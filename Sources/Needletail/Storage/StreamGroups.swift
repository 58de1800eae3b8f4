// Consumer groups of a stream (Redis's streamCG, streamConsumer, streamNACK), as Redis 7.0 keeps them:
// - a group has a last-delivered id, an entries-read counter (-1 when unknown, SCG_INVALID_ENTRIES_READ) from
//   which XINFO computes the lag, its pending entries list (PEL: id -> delivery time, delivery count and
//   owner) and its consumers, in name order (Redis's rax order: bytes compared, then length);
// - each consumer has a seen time and its own PEL: the ids of the group's PEL it owns. A pending entry is one
//   object shared by the group's PEL and its owner's (as Redis shares the streamNACK).
//
// PELs are `IDMap`s: ids in a sorted array with their values beside them. Deliveries append in id order
// (O(1) amortised), acknowledgements of the oldest entries shift the arrays (memmove).

/// A map from stream ids to values, in id order: two arrays side by side past a `head` of removed slots, so
/// that the usual traffic is O(1) amortised (deliveries append, acknowledgements of the oldest entries
/// advance `head`, compacted once half the arrays are spent) and a lookup is a binary search.
struct IDMap<V> {
    private var keys: [StreamID] = []
    private var slots: [V?] = []
    private var head = 0

    var count: Int { keys.count - head }
    var isEmpty: Bool { keys.count == head }

    /// The id and value at position `i` (0 ..< count, in id order).
    @inline(__always) func id(at i: Int) -> StreamID { keys[head + i] }
    @inline(__always) func value(at i: Int) -> V { slots[head + i]! }

    var firstID: StreamID? { isEmpty ? nil : keys[head] }
    var lastID: StreamID? { isEmpty ? nil : keys[keys.count - 1] }

    /// Copies, for cold paths and tests.
    var ids: [StreamID] { Array(keys[head...]) }
    var values: [V] { slots[head...].map { $0! } }

    /// In id order.
    func forEach(_ body: (StreamID, V) -> Void) {
        for i in head..<keys.count { body(keys[i], slots[i]!) }
    }

    /// The position of the first id >= `id`.
    func lowerBound(_ id: StreamID) -> Int {
        if let last = keys.last, last < id { return count }
        var lo = head, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if keys[mid] < id { lo = mid + 1 } else { hi = mid }
        }
        return lo - head
    }

    subscript(id: StreamID) -> V? {
        let i = lowerBound(id)
        return i < count && keys[head + i] == id ? slots[head + i] : nil
    }

    /// Inserts or replaces.
    mutating func set(_ id: StreamID, _ value: V) {
        let i = lowerBound(id)
        if i < count && keys[head + i] == id {
            slots[head + i] = value
        } else if i == 0 && head > 0 {
            head -= 1
            keys[head] = id
            slots[head] = value
        } else {
            keys.insert(id, at: head + i)
            slots.insert(value, at: head + i)
        }
    }

    @discardableResult mutating func remove(_ id: StreamID) -> V? {
        let i = lowerBound(id)
        guard i < count && keys[head + i] == id else { return nil }
        let value = slots[head + i]
        if i == 0 {
            slots[head] = nil
            head += 1
            if head == keys.count {
                removeAll()
            } else if head >= 32 && head * 2 >= keys.count {
                keys.removeFirst(head)
                slots.removeFirst(head)
                head = 0
            }
        } else {
            keys.remove(at: head + i)
            slots.remove(at: head + i)
        }
        return value
    }

    mutating func removeAll() {
        keys.removeAll()
        slots.removeAll()
        head = 0
    }
}

/// A delivered, not yet acknowledged entry (Redis's streamNACK).
final class PendingEntry {
    /// Unix ms of the last delivery.
    var deliveryTime: Int64
    var deliveryCount: UInt64
    /// Its owner; the group keeps its consumers alive while they own entries.
    unowned(unsafe) var consumer: StreamConsumer

    init(deliveryTime: Int64, deliveryCount: UInt64, consumer: StreamConsumer) {
        self.deliveryTime = deliveryTime
        self.deliveryCount = deliveryCount
        self.consumer = consumer
    }
}

final class StreamConsumer {
    let name: ByteString
    /// Unix ms of its last attempted interaction (XREADGROUP, XCLAIM, XAUTOCLAIM).
    var seenTime: Int64
    /// Redis 7.2's active time: Unix ms of its last successful interaction (a read that delivered entries, a
    /// claim that claimed some); -1 until then. From an RDB of type 21, or the seen time from older types.
    var activeTime: Int64 = -1
    var pending = IDMap<PendingEntry>()

    init(name: ByteString, seenTime: Int64) {
        self.name = name
        self.seenTime = seenTime
    }
}

final class StreamGroup {
    let name: ByteString
    var lastID: StreamID
    /// Entries the group has read (7.0's entries_read), `StreamGroup.invalidEntriesRead` when unknown.
    var entriesRead: Int64
    var pending = IDMap<PendingEntry>()
    /// In name order.
    private(set) var consumers: [StreamConsumer] = []

    static let invalidEntriesRead: Int64 = -1

    init(name: ByteString, lastID: StreamID, entriesRead: Int64) {
        self.name = name
        self.lastID = lastID
        self.entriesRead = entriesRead
    }

    private func consumerIndex(_ name: ByteString) -> (found: Bool, index: Int) {
        var lo = 0, hi = consumers.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if consumers[mid].name < name { lo = mid + 1 } else { hi = mid }
        }
        return (lo < consumers.count && consumers[lo].name == name, lo)
    }

    func consumer(named name: ByteString) -> StreamConsumer? {
        let (found, i) = consumerIndex(name)
        return found ? consumers[i] : nil
    }

    /// Creates a consumer; nil if it exists.
    @discardableResult func createConsumer(_ name: ByteString, seenTime: Int64) -> StreamConsumer? {
        let (found, i) = consumerIndex(name)
        if found { return nil }
        let consumer = StreamConsumer(name: name, seenTime: seenTime)
        consumers.insert(consumer, at: i)
        return consumer
    }

    /// Deletes a consumer and its pending entries; returns how many it had, or nil if there is none.
    func deleteConsumer(_ name: ByteString) -> Int? {
        let (found, i) = consumerIndex(name)
        guard found else { return nil }
        let consumer = consumers[i]
        for id in consumer.pending.ids { pending.remove(id) }
        consumers.remove(at: i)
        return consumer.pending.count
    }

    /// Allocations held (MEMORY USAGE).
    var memoryUsage: Int {
        // Each pending entry: its id and reference in the group's arrays and its owner's, and its object.
        let entryBytes = pending.isEmpty ? 48 : allocationSize(of: pending.value(at: 0))
        var bytes = allocationSize(of: self) + name.allocatedBytes + pending.count * (24 + entryBytes)
        for c in consumers { bytes += allocationSize(of: c) + c.pending.count * 24 + c.name.allocatedBytes }
        return bytes
    }

    func duplicate() -> StreamGroup {
        let copy = StreamGroup(name: name, lastID: lastID, entriesRead: entriesRead)
        for c in consumers {
            let d = StreamConsumer(name: c.name, seenTime: c.seenTime)
            d.activeTime = c.activeTime
            copy.consumers.append(d)
            c.pending.forEach { id, e in
                let entry = PendingEntry(deliveryTime: e.deliveryTime, deliveryCount: e.deliveryCount, consumer: d)
                d.pending.set(id, entry)
                copy.pending.set(id, entry)
            }
        }
        return copy
    }

    func checkInvariants() {
        var owned = 0
        for (i, c) in consumers.enumerated() {
            if i > 0 { precondition(consumers[i - 1].name < c.name, "stream group: consumers out of order") }
            for j in 0..<c.pending.count {
                let id = c.pending.id(at: j)
                if j > 0 { precondition(c.pending.id(at: j - 1) < id, "consumer PEL out of order") }
                guard let entry = pending[id] else { preconditionFailure("consumer PEL entry missing from the group PEL") }
                precondition(entry === c.pending.value(at: j) && entry.consumer === c, "PEL entry owner")
            }
            owned += c.pending.count
        }
        for j in 0..<pending.count where j > 0 { precondition(pending.id(at: j - 1) < pending.id(at: j), "group PEL out of order") }
        precondition(owned == pending.count, "group PEL entries without an owner")
    }
}

extension StreamValue {
    private func groupIndex(_ name: ByteString) -> (found: Bool, index: Int) {
        var lo = 0, hi = groups.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if groups[mid].name < name { lo = mid + 1 } else { hi = mid }
        }
        return (lo < groups.count && groups[lo].name == name, lo)
    }

    func group(named name: ByteString) -> StreamGroup? {
        let (found, i) = groupIndex(name)
        return found ? groups[i] : nil
    }

    /// Creates a group; nil if one has that name.
    @discardableResult func createGroup(_ name: ByteString, lastID: StreamID, entriesRead: Int64) -> StreamGroup? {
        let (found, i) = groupIndex(name)
        if found { return nil }
        let group = StreamGroup(name: name, lastID: lastID, entriesRead: entriesRead)
        groups.insert(group, at: i)
        return group
    }

    @discardableResult func destroyGroup(_ name: ByteString) -> Bool {
        let (found, i) = groupIndex(name)
        if found { groups.remove(at: i) }
        return found
    }

    // MARK: Counters of 7.0 (entries read, lag)

    /// Redis's streamRangeHasTombstones: whether an XDEL'd id may lie in start...end (nil = open).
    func rangeHasTombstones(from start: StreamID?, to end: StreamID?) -> Bool {
        if count == 0 || maxDeletedID.isZero { return false }
        if firstID > maxDeletedID { return false }
        let s = start ?? .zero, e = end ?? .max
        return s <= maxDeletedID && maxDeletedID <= e
    }

    /// Redis's streamEstimateDistanceFromFirstEverEntry: the entries-read counter of `id`, or -1 if unknown.
    func estimateDistanceFromFirstEverEntry(_ id: StreamID) -> Int64 {
        if entriesAdded == 0 { return 0 }
        if count == 0 && id <= lastID { return Int64(bitPattern: entriesAdded) }
        if id == lastID { return Int64(bitPattern: entriesAdded) }
        if id > lastID { return StreamGroup.invalidEntriesRead }
        if maxDeletedID.isZero || maxDeletedID < firstID {
            if id < firstID { return Int64(bitPattern: entriesAdded) &- Int64(count) }
            if id == firstID { return Int64(bitPattern: entriesAdded) &- Int64(count) &+ 1 }
        }
        return StreamGroup.invalidEntriesRead
    }

    /// The group's lag as XINFO reports it (nil: unknown, a null reply).
    func lag(of group: StreamGroup) -> Int64? {
        if entriesAdded == 0 { return 0 }
        if group.entriesRead != StreamGroup.invalidEntriesRead && !rangeHasTombstones(from: group.lastID, to: nil) {
            return Int64(bitPattern: entriesAdded) &- group.entriesRead
        }
        let read = estimateDistanceFromFirstEverEntry(group.lastID)
        return read == StreamGroup.invalidEntriesRead ? nil : Int64(bitPattern: entriesAdded) &- read
    }
}
