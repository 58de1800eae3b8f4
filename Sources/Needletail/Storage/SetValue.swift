// SetValue: the set type's storage (Redis's t_set.c setType* layer over its two encodings).
//
// ENCODINGS — Redis 7.0's two, converting one way only
//
// - "intset" (Storage/IntSet.swift): the members are 64-bit integers, sorted, packed at the narrowest width
//   in one allocation laid out exactly as Redis's intset. A set starts as an intset when its first member
//   reads as an integer by string2ll rules (Redis's setTypeCreate), and iterates in ascending order, which
//   is why SMEMBERS, SSCAN, SINTER over an intset... answer sorted in Redis and here.
// - "hashtable": the members as byte strings in a value-less `HashTable<Void>` (Storage/HashTable.swift:
//   32 bytes per member in the pool when it fits the 22-byte inline ByteString, plus a 4-byte bucket link;
//   longer members add their heap bytes). Iteration follows the table's pool, which is as arbitrary as
//   Redis's dict order.
//
// An intset becomes a hashtable when a member that is not an integer arrives, or when it would hold more
// than `maxIntsetEntries` (set-max-intset-entries, capped at 2^30 as Redis caps it). Nothing converts back:
// SREM down to integers leaves a hashtable. (Redis 7.0 has no set listpack; 7.2 added one.) The one place
// a hashtable set "becomes" an intset is SPOP with a count that keeps few members: Redis builds the
// remainder as a new set (`replaceContents(with:)`), which starts as an intset like any new set.
//
// LAYOUT — one stored word
//
// The object holds a single word: the intset blob's address, or the hashtable's object address with bit 0
// set (allocations are 16-byte aligned, so bit 0 of either is free). The tag is checked on every access and
// the table is retained and released by hand (`Unmanaged`). Why not an enum of the two: an enum whose
// payloads are a raw pointer and a class reference takes 9 bytes (a raw pointer has no spare bits), which
// makes the object 25 bytes, a 48-byte malloc chunk instead of 32: for a million small sets that is 16 MB.
// A small intset set costs this 32-byte object plus its blob (8 + n * width bytes, in a 32- or 48-byte
// chunk for 10 members), besides the key's entry in the keyspace.

import Glibc

/// A member as the set hands it out: an intset yields integers, a hashtable yields the stored bytes.
enum SetMember: Hashable {
    case integer(Int64)
    case bytes(ByteString)

    /// Calls `body` with the member's bytes (an integer in its decimal form, as Redis's sdsfromlonglong).
    @inline(__always) func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch self {
        case .bytes(let s): return try s.withUnsafeBytes(body)
        case .integer(let v):
            return try withUnsafeTemporaryAllocation(byteCount: maxInt64Length, alignment: 1) { buffer in
                let n = writeInt64(v, to: buffer.baseAddress!)
                return try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            }
        }
    }

    /// The member as a stored byte string (an integer formatted as decimal).
    var byteString: ByteString {
        switch self {
        case .bytes(let s): return s
        case .integer(let v): return formatInt64(v)
        }
    }
}

final class SetValue {
    /// The intset blob's address, or the hashtable's address | 1 (see the file header).
    @exclusivity(unchecked) private var word: UInt

    /// An empty set in the intset encoding (Redis's createIntsetObject).
    init() {
        word = UInt(bitPattern: IntSet().blob)
    }

    /// An empty set in the hashtable encoding (Redis's createSetObject), sized for `capacity` members.
    init(hashtableCapacity capacity: Int) {
        word = 0
        let table = HashTable<Void>()
        if capacity > 0 { table.reserveCapacity(capacity) }
        adopt(table)
    }

    /// An empty set that can hold `member`: an intset when it reads as an integer, a hashtable otherwise
    /// (Redis's setTypeCreate).
    static func makeFor(_ member: UnsafeRawBufferPointer) -> SetValue {
        parseInt64(member) != nil ? SetValue() : SetValue(hashtableCapacity: 0)
    }

    static func makeFor(_ member: SetMember) -> SetValue {
        switch member {
        case .integer: return SetValue()
        case .bytes(let s): return s.withUnsafeBytes { makeFor($0) }
        }
    }

    deinit {
        if word & 1 != 0 {
            Unmanaged<HashTable<Void>>.fromOpaque(UnsafeRawPointer(bitPattern: word & ~1)!).release()
        } else {
            intset.free()
        }
    }

    // MARK: - The two encodings

    /// Whether the set is in the intset encoding.
    @inline(__always) var isIntset: Bool { word & 1 == 0 }

    /// The intset. Only when `isIntset`; a mutation stores the (possibly reallocated) blob back.
    @inline(__always) private var intset: IntSet {
        get { IntSet(blob: UnsafeMutableRawPointer(bitPattern: word)!) }
        set { word = UInt(bitPattern: newValue.blob) }
    }

    /// The hashtable, nil while the set is an intset.
    @inline(__always) private var table: HashTable<Void>? {
        guard word & 1 != 0 else { return nil }
        return Unmanaged<HashTable<Void>>.fromOpaque(UnsafeRawPointer(bitPattern: word & ~1)!).takeUnretainedValue()
    }

    /// Takes ownership of `table` as the storage; whatever was stored must have been released already.
    private func adopt(_ table: HashTable<Void>) {
        word = UInt(bitPattern: Unmanaged.passRetained(table).toOpaque()) | 1
    }

    /// The name OBJECT ENCODING reports.
    var encodingName: StaticString { isIntset ? "intset" : "hashtable" }

    /// - Complexity: O(1)
    var count: Int { table?.count ?? intset.count }
    var isEmpty: Bool { count == 0 }

    /// Converts an intset to a hashtable holding the same members (Redis's setTypeConvert), presized so the
    /// conversion never rehashes.
    /// - Complexity: O(n)
    func convertToHashtable() {
        guard isIntset else { return }
        let ints = intset
        let table = HashTable<Void>()
        table.reserveCapacity(ints.count)
        for i in 0..<ints.count { table.updateValue((), forKey: formatInt64(ints.value(at: i))) }
        ints.free()
        adopt(table)
    }

    /// Takes `other`'s members and encoding, leaving `other` empty (an intset). SPOP's "keep the rest"
    /// strategy builds the remainder as a new set and stores it under the key, as Redis's dbOverwrite.
    func replaceContents(with other: SetValue) {
        swap(&word, &other.word)
    }

    /// A copy in the same encoding (COPY; Redis's setTypeDup).
    func duplicate() -> SetValue {
        let copy = SetValue()
        if let table {
            let new = HashTable<Void>()
            new.reserveCapacity(table.count)
            for (member, _) in table { new.updateValue((), forKey: member) }
            copy.intset.free()
            copy.adopt(new)
        } else {
            copy.intset.free()
            copy.intset = intset.copy()
        }
        return copy
    }

    /// Redis's lazyfreeGetFreeEffort: an intset is one allocation, a hashtable one per member.
    var freeEffort: Int { table?.count ?? 1 }
}

// MARK: - Members

extension SetValue {
    /// SISMEMBER. An intset holds only integers, so bytes that are not one are not a member.
    /// - Complexity: O(1) for a hashtable, O(log n) for an intset
    func contains(_ member: UnsafeRawBufferPointer) -> Bool {
        if let table { return table.contains(member) }
        guard let v = parseInt64(member) else { return false }
        return intset.contains(v)
    }

    func contains(_ member: SetMember) -> Bool {
        if case .integer(let v) = member, isIntset { return intset.contains(v) }
        return member.withUnsafeBytes { contains($0) }
    }

    /// Adds `member`; false if it was already there (Redis's setTypeAdd). Converts an intset to a hashtable
    /// first for a member that is not an integer, and after adding when it holds more than
    /// `maxIntsetEntries` members.
    /// - Complexity: O(1) for a hashtable, O(n) for an intset (n <= maxIntsetEntries)
    @discardableResult
    func add(_ member: UnsafeRawBufferPointer, maxIntsetEntries: Int) -> Bool {
        if isIntset {
            guard let v = parseInt64(member) else {
                convertToHashtable()
                return table!.updateValue((), forKey: member) == nil
            }
            return addToIntset(v, maxIntsetEntries: maxIntsetEntries)
        }
        return table!.updateValue((), forKey: member) == nil
    }

    @discardableResult
    func add(_ member: SetMember, maxIntsetEntries: Int) -> Bool {
        switch member {
        case .integer(let v) where isIntset:
            return addToIntset(v, maxIntsetEntries: maxIntsetEntries)
        case .bytes(let s) where !isIntset:
            return table!.updateValue((), forKey: s) == nil
        default:
            return member.withUnsafeBytes { add($0, maxIntsetEntries: maxIntsetEntries) }
        }
    }

    private func addToIntset(_ v: Int64, maxIntsetEntries: Int) -> Bool {
        var ints = intset
        let added = ints.insert(v)
        intset = ints
        if added && ints.count > Swift.min(maxIntsetEntries, 1 << 30) { convertToHashtable() }
        return added
    }

    /// Removes `member`; false if it was not there (Redis's setTypeRemove). Never converts.
    /// - Complexity: O(1) for a hashtable, O(n) for an intset
    @discardableResult
    func remove(_ member: UnsafeRawBufferPointer) -> Bool {
        if let table { return table.removeValue(forKey: member) != nil }
        guard let v = parseInt64(member) else { return false }
        return removeFromIntset(v)
    }

    @discardableResult
    func remove(_ member: SetMember) -> Bool {
        if case .integer(let v) = member, isIntset { return removeFromIntset(v) }
        return member.withUnsafeBytes { remove($0) }
    }

    private func removeFromIntset(_ v: Int64) -> Bool {
        var ints = intset
        let removed = ints.remove(v)
        intset = ints
        return removed
    }
}

// MARK: - Walks, random members, SSCAN

extension SetValue {
    /// Calls `body` with every member: ascending for an intset, the table's pool order for a hashtable.
    /// `body` must not change this set.
    /// - Complexity: O(n)
    func forEach(_ body: (SetMember) -> Void) {
        if let table {
            for (member, _) in table { body(.bytes(member)) }
        } else {
            let ints = intset
            for i in 0..<ints.count { body(.integer(ints.value(at: i))) }
        }
    }

    /// The members in iteration order (tests, and SPOP's copy of what it pops).
    var members: [SetMember] {
        var out: [SetMember] = []
        out.reserveCapacity(count)
        forEach { out.append($0) }
        return out
    }

    /// A random member, nil when empty (Redis's setTypeRandomElement). For an intset, exactly uniform (a
    /// random position). For a hashtable, the table's sampling: uniform over pool slots (rejection of free
    /// slots), falling back to a random bucket only when the pool is very sparse after many removals.
    func randomMember<G: RandomNumberGenerator>(using generator: inout G) -> SetMember? {
        if let table { return table.randomElement(using: &generator).map { .bytes($0.key) } }
        let ints = intset
        guard ints.count > 0 else { return nil }
        return .integer(ints.value(at: Int.random(in: 0..<ints.count, using: &generator)))
    }

    /// Removes and returns a random member (SPOP), nil when empty.
    func popRandom<G: RandomNumberGenerator>(using generator: inout G) -> SetMember? {
        guard let member = randomMember(using: &generator) else { return nil }
        let removed = remove(member)
        precondition(removed, "SetValue: a random member could not be removed")
        return member
    }

    /// `k` distinct random members, 0 < k < count (SRANDMEMBER with a positive count smaller than the set),
    /// each k-subset equally likely, by Redis's two strategies: when k is more than a third of the set
    /// ("CASE 3"), take every member and drop random ones until k remain; otherwise ("CASE 4") draw random
    /// members until k distinct ones were seen. The order is the sampling's, as arbitrary as Redis's.
    /// - Complexity: O(n) for CASE 3, O(k) expected for CASE 4
    func randomDistinctMembers<G: RandomNumberGenerator>(count k: Int, using generator: inout G) -> [SetMember] {
        let n = count
        precondition(k > 0 && k < n, "SetValue.randomDistinctMembers: 0 < k < count")
        if k * 3 > n {
            var all = members
            while all.count > k {
                all.swapAt(Int.random(in: 0..<all.count, using: &generator), all.count - 1)
                all.removeLast()
            }
            return all
        }
        var seen = Set<SetMember>(minimumCapacity: k)
        var out: [SetMember] = []
        out.reserveCapacity(k)
        while out.count < k {
            let member = randomMember(using: &generator)!
            if seen.insert(member).inserted { out.append(member) }
        }
        return out
    }

    /// One SSCAN step over a hashtable set: visits buckets from `cursor` until about `count` members were
    /// emitted or `count * 10` buckets were visited (Redis's bound), and returns the next cursor, 0 when
    /// the scan is complete. Every member present for the whole scan is returned at least once, across
    /// rehashing (see HashTable.scan). An intset has no cursor: SSCAN returns it whole.
    func scan(cursor: UInt64, count: Int, _ body: (ByteString) -> Void) -> UInt64 {
        guard let table else { preconditionFailure("SetValue.scan: an intset is returned whole") }
        var cursor = cursor
        var emitted = 0
        var budget = count.multipliedReportingOverflow(by: 10).overflow ? Int.max : Swift.max(1, count * 10)
        repeat {
            cursor = table.scan(cursor: cursor) { member, _ in
                body(member)
                emitted += 1
            }
            budget -= 1
        } while cursor != 0 && budget > 0 && emitted < count
        return cursor
    }
}

// MARK: - Invariants

extension SetValue {
    /// The encoding's structure: an intset's order and widths, or the hashtable's invariants; O(n).
    func invariantViolation() -> String? {
        if word == 0 || word & 0xE != 0 { return "set storage word \(String(word, radix: 16)) misaligned" }
        if let table {
            table.checkInvariants()
            return nil
        }
        return intset.invariantViolation()
    }

    func checkInvariants() {
        if let problem = invariantViolation() { preconditionFailure("SetValue invariant: \(problem)") }
    }
}
