// SetValue: the set type's storage (Redis's t_set.c setType* layer over its encodings).
//
// ENCODINGS — Redis 7.0's two, converting one way only
//
// - "intset" (Storage/IntSet.swift): the members are 64-bit integers, sorted, packed at the narrowest width
//   in one allocation laid out exactly as Redis's intset. A set starts as an intset when its first member
//   reads as an integer by string2ll rules (Redis's setTypeCreate), and iterates in ascending order, which
//   is why SMEMBERS, SSCAN, SINTER over an intset... answer sorted in Redis and here.
// - "hashtable": every other set. Redis 7.0 holds it in a dict, whose order is arbitrary. Here it has two
//   forms that OBJECT ENCODING both names "hashtable":
//   - a `MemberList` (Storage/MemberList.swift) while it has at most 128 members of at most 64 bytes: the
//     members packed in one allocation, in insertion order (about a fifth of the memory of a dict for ten
//     short members);
//   - a value-less `HashTable<Void>` (Storage/HashTable.swift) beyond: 32 bytes per member in the pool when
//     it fits the 22-byte inline ByteString, plus a 4-byte bucket link; longer members add their heap bytes.
//     Only this form has a SCAN cursor; SSCAN returns the other two whole, as Redis does for its compact
//     encodings.
//
// An intset becomes a hashtable when a member that is not an integer arrives, or when it would hold more
// than `maxIntsetEntries` (set-max-intset-entries, capped at 2^30 as Redis caps it); a member list becomes
// a HashTable past its limits. Nothing converts back: SREM down to integers leaves a hashtable. (Redis 7.0
// has no set listpack; 7.2 added one.) The one place a hashtable set "becomes" an intset is SPOP with a
// count that keeps few members: Redis builds the remainder as a new set (`replaceContents(with:)`), which
// starts as an intset like any new set.
//
// LAYOUT — one stored word
//
// The object holds a single word: the intset's values block with its width and count (tag 0, see
// Storage/IntSet.swift); the member list's address with bit 1 set; or the HashTable object's address with
// bit 0 set (allocations are 16-byte aligned, so the low bits are free). The tag is checked on every access
// and the table is retained and released by hand (`Unmanaged`). Why not an enum of the forms: raw pointers
// have no spare bits, so the enum would take 9 bytes, the object 25, a 48-byte malloc chunk instead of 32:
// for a million small sets that is 16 MB. A small set costs this 32-byte object plus its block, besides the
// key's entry in the keyspace.
//
// INLINE SETS — a small intset whose values fit 23 bytes is not a SetValue at all but `Value.inlineIntset`
// (Storage/InlineIntSet.swift), held in the key's entry; it becomes a SetValue in the intset form when it
// outgrows the entry or a command other than SADD/SREM edits it (`init(_:)`), and a set built anew comes
// back inline when it fits (`Value.set(compacting:)`).
//
// MEASURED (RSS above an empty server, release build, redis-server 7.0.15 with jemalloc; README
// "Performance", `bench/memory_sets.py`): 1,000,000 sets of 10 integers 10N...10N+9: 68 bytes a set
// (inline: the keyspace entry alone), redis-server 130 (0.53x). The same sets with their values scattered
// below 2^31 do not fit the entry: 148 bytes, redis-server 130 (1.14x): the keyspace entry (64 + a 4-byte
// bucket link), this object (a 32-byte chunk: 16 of Swift's header, the word) and the values (40 bytes in a
// 48-byte chunk), against Redis's dictEntry 24, key sds 16, robj 16, the 48-byte intset and 8-16 of bucket
// array. What is left over Redis there is the Swift object header (16) and glibc's per-chunk header and
// rounding.

import Glibc

/// A member as the set hands it out: an intset yields integers, the other forms the stored bytes.
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
    /// The storage, tagged by its low bits (see the file header).
    @exclusivity(unchecked) private var word: UInt

    private enum Form { case intset, list, table }

    private static let tableTag: UInt = 1
    private static let listTag: UInt = 2

    @inline(__always) private var form: Form {
        word & SetValue.tableTag != 0 ? .table : word & SetValue.listTag != 0 ? .list : .intset
    }

    /// An empty set in the intset encoding (Redis's createIntsetObject).
    init() {
        word = IntSet().word
    }

    /// A set in the intset encoding holding `intset` (which it then owns).
    init(intset: IntSet) {
        word = intset.word
    }

    /// An empty set in the hashtable encoding (Redis's createSetObject) with room for `capacity` members:
    /// a member list when they fit one, else a HashTable presized for them.
    init(hashtableCapacity capacity: Int) {
        if capacity <= MemberList.maxEntries {
            word = UInt(bitPattern: MemberList().blob) | SetValue.listTag
        } else {
            word = 0
            let table = HashTable<Void>()
            table.reserveCapacity(capacity)
            adopt(table)
        }
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
        switch form {
        case .intset: intset.free()
        case .list: list.free()
        case .table: Unmanaged<HashTable<Void>>.fromOpaque(UnsafeRawPointer(bitPattern: word & ~SetValue.tableTag)!).release()
        }
    }

    // MARK: - The forms

    /// Whether the set is in the intset encoding.
    @inline(__always) var isIntset: Bool { form == .intset }

    /// Whether the set is a HashTable, the one form SSCAN walks with a cursor.
    @inline(__always) var hasScanCursor: Bool { form == .table }

    /// The intset. Only in that form; a mutation stores the word (block, width, count) back.
    @inline(__always) private var intset: IntSet {
        get { IntSet(word: word) }
        set { word = newValue.word }
    }

    /// The member list. Only in that form; a mutation stores the blob back.
    @inline(__always) private var list: MemberList {
        get { MemberList(blob: UnsafeMutableRawPointer(bitPattern: word & ~SetValue.listTag)!) }
        set { word = UInt(bitPattern: newValue.blob) | SetValue.listTag }
    }

    /// The HashTable, nil in the other forms.
    @inline(__always) private var table: HashTable<Void>? {
        guard word & SetValue.tableTag != 0 else { return nil }
        return Unmanaged<HashTable<Void>>.fromOpaque(UnsafeRawPointer(bitPattern: word & ~SetValue.tableTag)!)
            .takeUnretainedValue()
    }

    /// Takes ownership of `table` as the storage; whatever was stored must have been released already.
    private func adopt(_ table: HashTable<Void>) {
        word = UInt(bitPattern: Unmanaged.passRetained(table).toOpaque()) | SetValue.tableTag
    }

    /// The name OBJECT ENCODING reports.
    var encodingName: StaticString { isIntset ? "intset" : "hashtable" }

    /// - Complexity: O(1)
    var count: Int {
        switch form {
        case .intset: return intset.count
        case .list: return list.count
        case .table: return table!.count
        }
    }

    var isEmpty: Bool { count == 0 }

    /// Converts an intset to the hashtable encoding (Redis's setTypeConvert), leaving room for `room` more
    /// members: a member list when they all fit one, else a HashTable presized so it never rehashes.
    /// - Complexity: O(n)
    func convertToHashtable(room: Int = 0) {
        guard isIntset else { return }
        let ints = intset
        let n = ints.count
        if n + room <= MemberList.maxEntries {
            var new = MemberList()
            for i in 0..<n { SetMember.integer(ints.value(at: i)).withUnsafeBytes { new.append($0) } }
            ints.free()
            list = new
        } else {
            let table = HashTable<Void>()
            table.reserveCapacity(n)
            for i in 0..<n { table.updateValue((), forKey: formatInt64(ints.value(at: i))) }
            ints.free()
            adopt(table)
        }
    }

    /// Moves a member list's members to a HashTable (past the list's limits).
    private func convertListToTable() {
        let old = list
        let table = HashTable<Void>()
        table.reserveCapacity(old.count + 1)
        old.walk { member in
            table.updateValue((), forKey: member)
            return true
        }
        old.free()
        adopt(table)
    }

    /// Exchanges members and form with `other`. SPOP's "keep the rest" strategy builds the remainder as a new
    /// set and stores it under the key, as Redis's dbOverwrite: the key's set takes the new storage, and
    /// `other`, holding the popped members, is dropped.
    func replaceContents(with other: SetValue) {
        swap(&word, &other.word)
    }

    /// A copy in the same encoding and form (COPY; Redis's setTypeDup).
    func duplicate() -> SetValue {
        let copy = SetValue()
        copy.intset.free()
        switch form {
        case .intset: copy.intset = intset.copy()
        case .list: copy.list = list.copy()
        case .table:
            let new = HashTable<Void>()
            new.reserveCapacity(table!.count)
            for (member, _) in table! { new.updateValue((), forKey: member) }
            copy.adopt(new)
        }
        return copy
    }

    /// Redis's lazyfreeGetFreeEffort: a HashTable costs one free per member, the packed forms one.
    var freeEffort: Int { table?.count ?? 1 }

    /// MEMORY USAGE (`Value.memoryUsage`): this object and its blob, or its table with the long members'
    /// buffers sampled.
    func memoryUsage(samples: Int) -> Int {
        let own = allocationSize(of: self)
        switch form {
        case .intset: return own + allocationSize(UnsafeRawPointer(intset.block))  // the values' block
        case .list: return own + allocationSize(list.blob)
        case .table: return own + table!.memoryUsage(samples: samples) { member, _ in member.allocatedBytes }
        }
    }
}

// MARK: - Members

extension SetValue {
    /// SISMEMBER. An intset holds only integers, so bytes that are not one are not a member.
    /// - Complexity: O(1) for a HashTable, O(log n) for an intset, O(n) for a member list (n <= 128)
    func contains(_ member: UnsafeRawBufferPointer) -> Bool {
        switch form {
        case .intset:
            guard let v = parseInt64(member) else { return false }
            return intset.contains(v)
        case .list: return list.contains(member)
        case .table: return table!.contains(member)
        }
    }

    func contains(_ member: SetMember) -> Bool {
        if case .integer(let v) = member, isIntset { return intset.contains(v) }
        return member.withUnsafeBytes { contains($0) }
    }

    /// Adds `member`; false if it was already there (Redis's setTypeAdd). Converts an intset to the hashtable
    /// encoding first for a member that is not an integer, and after adding when it holds more than
    /// `maxIntsetEntries` members.
    /// - Complexity: O(1) for a HashTable, O(n) for the packed forms
    @discardableResult
    func add(_ member: UnsafeRawBufferPointer, maxIntsetEntries: Int) -> Bool {
        switch form {
        case .intset:
            if let v = parseInt64(member) { return addToIntset(v, maxIntsetEntries: maxIntsetEntries) }
            convertToHashtable(room: 1)
            return add(member, maxIntsetEntries: maxIntsetEntries)
        case .list:
            var members = list
            if members.contains(member) { return false }
            if members.count >= MemberList.maxEntries || !MemberList.fits(member) {
                convertListToTable()
                return table!.updateValue((), forKey: member) == nil
            }
            members.append(member)
            list = members
            return true
        case .table:
            return table!.updateValue((), forKey: member) == nil
        }
    }

    @discardableResult
    func add(_ member: SetMember, maxIntsetEntries: Int) -> Bool {
        switch member {
        case .integer(let v) where isIntset:
            return addToIntset(v, maxIntsetEntries: maxIntsetEntries)
        case .bytes(let s) where form == .table:
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
    /// - Complexity: O(1) for a HashTable, O(n) for the packed forms
    @discardableResult
    func remove(_ member: UnsafeRawBufferPointer) -> Bool {
        switch form {
        case .intset:
            guard let v = parseInt64(member) else { return false }
            return removeFromIntset(v)
        case .list:
            var members = list
            let removed = members.remove(member)
            list = members
            return removed
        case .table:
            return table!.removeValue(forKey: member) != nil
        }
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
    /// Calls `body` with every member: ascending for an intset, insertion order for a member list, the
    /// pool's order for a HashTable. `body` must not change this set.
    /// - Complexity: O(n)
    func forEach(_ body: (SetMember) -> Void) {
        switch form {
        case .intset:
            let ints = intset
            for i in 0..<ints.count { body(.integer(ints.value(at: i))) }
        case .list:
            list.walk { member in
                body(.bytes(ByteString(member)))
                return true
            }
        case .table:
            for (member, _) in table! { body(.bytes(member)) }
        }
    }

    /// The members in iteration order (tests, SSCAN of the packed forms, SRANDMEMBER's CASE 3).
    var members: [SetMember] {
        var out: [SetMember] = []
        out.reserveCapacity(count)
        forEach { out.append($0) }
        return out
    }

    /// A random member, nil when empty (Redis's setTypeRandomElement), exactly uniform in every form: a random
    /// position in the packed forms, `HashTable.randomElement` (exactly uniform) in a table.
    func randomMember<G: RandomNumberGenerator>(using generator: inout G) -> SetMember? {
        switch form {
        case .intset:
            let ints = intset
            guard ints.count > 0 else { return nil }
            return .integer(ints.value(at: Int.random(in: 0..<ints.count, using: &generator)))
        case .list:
            let members = list
            guard members.count > 0 else { return nil }
            return .bytes(members.member(at: Int.random(in: 0..<members.count, using: &generator)))
        case .table:
            return table!.randomElement(using: &generator).map { .bytes($0.key) }
        }
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
    /// rehashing (see HashTable.scan). Only a HashTable has a cursor (`hasScanCursor`): SSCAN returns the
    /// packed forms whole.
    func scan(cursor: UInt64, count: Int, _ body: (ByteString) -> Void) -> UInt64 {
        guard let table else { preconditionFailure("SetValue.scan: the packed forms are returned whole") }
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

// MARK: - Invariants and test hooks

extension SetValue {
    /// The intset's width in bytes (2, 4 or 8), nil in the hashtable encoding.
    var intsetWidth: Int? { isIntset ? intset.width : nil }

    /// The intset blob's bytes, Redis's layout (tests, and later the RDB's intset payload).
    var intsetBlob: [UInt8]? {
        isIntset ? intset.blob : nil
    }

    /// The form's structure: an intset's order and widths, a member list's entries and limits, or the
    /// HashTable's invariants; O(n).
    func invariantViolation() -> String? {
        let malformed: Bool
        switch form {
        case .intset: malformed = word & 0x0000_FFFF_FFFF_FFF0 == 0 || (word >> 2) & 3 == 3
        case .list, .table: malformed = word & ~UInt(3) == 0 || word & 3 == 3 || word & ~UInt(0x0000_FFFF_FFFF_FFF3) != 0
        }
        if malformed { return "set storage word \(String(word, radix: 16)) malformed" }
        switch form {
        case .intset: return intset.invariantViolation()
        case .list: return list.invariantViolation()
        case .table:
            table!.checkInvariants()
            return nil
        }
    }

    func checkInvariants() {
        if let problem = invariantViolation() { preconditionFailure("SetValue invariant: \(problem)") }
    }
}

// MARK: - The inline form (Storage/InlineIntSet.swift)

extension SetValue {
    /// A set in the intset encoding holding `inline`'s values at its Redis width.
    convenience init(_ inline: InlineIntSet) {
        self.init(intset: inline.makeIntSet())
    }

    /// The same set held inline, when it is an intset that fits; nil otherwise.
    var inlineForm: InlineIntSet? {
        isIntset ? InlineIntSet(intset) : nil
    }
}

extension Value {
    /// A set built anew (a STORE result, a loaded payload) as the keyspace keeps it: inline when it is an
    /// intset that fits, by reference otherwise.
    static func set(compacting set: SetValue) -> Value {
        if let inline = set.inlineForm { return .inlineIntset(inline) }
        return .set(set)
    }

    /// The set a read works on: the stored SetValue, or for an inline set a SetValue made from it (which
    /// changing would not change the key). Nil for the other types.
    var setForReading: SetValue? {
        switch self {
        case .set(let set): return set
        case .inlineIntset(let inline): return SetValue(inline)
        default: return nil
        }
    }
}
