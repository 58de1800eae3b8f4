import Glibc

// MemberList: the packed form of a small set of byte strings (SetValue's third form, which OBJECT ENCODING
// reports as "hashtable", the encoding Redis 7.0 gives such a set).
//
// WHY: Redis 7.0 keeps every set that has a non-integer member in a dict, which for 10 short members costs
// about 800 bytes (dict, bucket array, a dictEntry and an sds per member). A client cannot tell how a set is
// stored beyond OBJECT ENCODING and the order of replies, which for a Redis hashtable is arbitrary anyway, so
// small sets of strings are kept packed like Redis 7.2's set listpack: one allocation of
//
//     ┌count: UInt32┬bytes: UInt32 (of the entries)┬entries: [length: UInt8][member bytes] ...┐
//
// with members in insertion order, no separator or terminator. Lookups compare lengths and then bytes, in
// a linear walk: the list is limited to `maxEntries` members of at most `maxMemberLength` bytes (Redis 7.2's
// set-max-listpack-entries / -value defaults), i.e. a walk of at most ~8 KB. Past either limit SetValue moves
// the members to a HashTable, for good. The blob is resized to its exact length on each insertion and
// removal, as the intset's is. 10 members of 14 bytes cost 8 + 150 bytes (a 176-byte malloc chunk).
//
// Like IntSet, a value wrapping the blob's address; a mutation may reallocate it and the owner stores the
// wrapper back. It never frees itself.

struct MemberList {
    private(set) var blob: UnsafeMutableRawPointer

    static let headerSize = 8
    /// Members beyond this go to a HashTable (Redis 7.2's set-max-listpack-entries default).
    static let maxEntries = 128
    /// A member longer than this goes to a HashTable (Redis 7.2's set-max-listpack-value default).
    static let maxMemberLength = 64

    init() {
        blob = malloc(MemberList.headerSize)!
        blob.storeBytes(of: UInt64(0), as: UInt64.self)
    }

    init(blob: UnsafeMutableRawPointer) {
        self.blob = blob
    }

    @inline(__always) var count: Int { Int(blob.load(as: UInt32.self)) }
    /// Bytes of the entries (lengths included).
    @inline(__always) var entryBytes: Int { Int(blob.load(fromByteOffset: 4, as: UInt32.self)) }
    @inline(__always) private var entries: UnsafeMutableRawPointer { blob + MemberList.headerSize }

    var byteCount: Int { MemberList.headerSize + entryBytes }

    func free() { Glibc.free(blob) }

    func copy() -> MemberList {
        let bytes = byteCount
        let new = malloc(bytes)!
        new.copyMemory(from: blob, byteCount: bytes)
        return MemberList(blob: new)
    }

    /// Whether `member` can be stored here at all (its length).
    @inline(__always) static func fits(_ member: UnsafeRawBufferPointer) -> Bool { member.count <= maxMemberLength }

    // MARK: - Reading

    /// Calls `body` with each member's bytes, in insertion order, until it returns false.
    @inline(__always) func walk(_ body: (UnsafeRawBufferPointer) -> Bool) {
        var offset = 0
        let end = entryBytes
        let base = entries
        while offset < end {
            let length = Int(base.load(fromByteOffset: offset, as: UInt8.self))
            if !body(UnsafeRawBufferPointer(start: base + offset + 1, count: length)) { return }
            offset += 1 + length
        }
    }

    /// The offset of `member`'s entry, nil when absent.
    /// - Complexity: O(n)
    func offset(of member: UnsafeRawBufferPointer) -> Int? {
        let wanted = member.count
        guard wanted <= MemberList.maxMemberLength else { return nil }
        var offset = 0
        let end = entryBytes
        let base = entries
        while offset < end {
            let length = Int(base.load(fromByteOffset: offset, as: UInt8.self))
            if length == wanted && (length == 0 || memcmp(base + offset + 1, member.baseAddress!, length) == 0) {
                return offset
            }
            offset += 1 + length
        }
        return nil
    }

    func contains(_ member: UnsafeRawBufferPointer) -> Bool { offset(of: member) != nil }

    /// The member at `index` (insertion order).
    /// - Complexity: O(n)
    func member(at index: Int) -> ByteString {
        precondition(index >= 0 && index < count, "MemberList: index out of range")
        var offset = 0
        let base = entries
        for _ in 0..<index { offset += 1 + Int(base.load(fromByteOffset: offset, as: UInt8.self)) }
        let length = Int(base.load(fromByteOffset: offset, as: UInt8.self))
        return ByteString(UnsafeRawBufferPointer(start: base + offset + 1, count: length))
    }

    // MARK: - Writing

    /// Appends a member known to be absent and to fit (`fits`), with room for it (count < maxEntries).
    mutating func append(_ member: UnsafeRawBufferPointer) {
        precondition(member.count <= MemberList.maxMemberLength && count < MemberList.maxEntries)
        let used = entryBytes
        let newUsed = used + 1 + member.count
        blob = realloc(blob, MemberList.headerSize + newUsed)!
        let at = entries + used
        at.storeBytes(of: UInt8(member.count), as: UInt8.self)
        if member.count > 0 { (at + 1).copyMemory(from: member.baseAddress!, byteCount: member.count) }
        setHeader(count: count + 1, entryBytes: newUsed)
    }

    /// Removes `member`; false if it was not there.
    /// - Complexity: O(n)
    mutating func remove(_ member: UnsafeRawBufferPointer) -> Bool {
        guard let offset = offset(of: member) else { return false }
        let size = 1 + member.count
        let used = entryBytes
        let tail = used - offset - size
        if tail > 0 { (entries + offset).copyMemory(from: entries + offset + size, byteCount: tail) }
        setHeader(count: count - 1, entryBytes: used - size)
        blob = realloc(blob, MemberList.headerSize + used - size)!
        return true
    }

    @inline(__always) private func setHeader(count: Int, entryBytes: Int) {
        blob.storeBytes(of: UInt32(count), as: UInt32.self)
        blob.storeBytes(of: UInt32(entryBytes), toByteOffset: 4, as: UInt32.self)
    }

    // MARK: - Invariants

    /// Entries that add up to the header's byte count and member count, within the limits, no duplicates.
    func invariantViolation() -> String? {
        var seen = Set<ByteString>()
        var walked = 0
        var problem: String?
        walk { member in
            walked += 1
            if member.count > MemberList.maxMemberLength { problem = "member list entry of \(member.count) bytes" }
            if !seen.insert(ByteString(member)).inserted { problem = "member list holds \(ByteString(member)) twice" }
            return problem == nil
        }
        if let problem { return problem }
        if walked != count { return "member list walks \(walked) entries, header says \(count)" }
        if count > MemberList.maxEntries { return "member list of \(count) entries" }
        var bytes = 0
        walk { bytes += 1 + $0.count; return true }
        if bytes != entryBytes { return "member list entries take \(bytes) bytes, header says \(entryBytes)" }
        return nil
    }
}
