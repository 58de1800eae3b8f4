/// A value stored under a key, and the one home for what differs by type (Redis's per-type code spread
/// over object.c, db.c and lazyfree.c): the name TYPE reports, the encoding OBJECT ENCODING reports,
/// duplication (COPY), and the cost of freeing (lazy free). A new type (hash, list, set, stream) is one
/// case here, one case in `ValueType`, and its commands; later the RDB codec and the DEBUG DIGEST of a
/// value join this file, so SAVE, DUMP and replication share them.
///
/// Every command checks the type it needs and answers WRONGTYPE otherwise.
enum Value {
    case string(ByteString)
    /// A sorted set is a reference: commands edit it in place through the key's entry and report the
    /// change with `Database.didModify`.
    case sortedSet(SortedSet)

    var type: ValueType {
        switch self {
        case .string: return .string
        case .sortedSet: return .sortedSet
        }
    }

    /// The name TYPE reports.
    var typeName: StaticString { type.name }

    /// The encoding OBJECT ENCODING reports; `hint` is how the key's entry says a string was made.
    func encodingName(hint: Database.StringHint) -> StaticString {
        switch self {
        case .string(let s): return stringEncoding(s, hint).name
        case .sortedSet(let set): return set.skiplistEncoded ? "skiplist" : "listpack"
        }
    }

    /// A copy that shares nothing mutable with the original (COPY), in the same encoding (Redis's dup
    /// functions keep it).
    func duplicate() -> Value {
        switch self {
        case .string: return self  // ByteString is immutable: sharing is a copy
        case .sortedSet(let set):
            let copy = SortedSet()
            copy.skiplistEncoded = set.skiplistEncoded
            set.forEach { member, score in _ = copy.set(member: member, score: score) }
            return .sortedSet(copy)
        }
    }

    /// Roughly how many allocations freeing the value takes (Redis's lazyfreeGetFreeEffort): big values
    /// are freed by a worker (Engine/LazyFree.swift), and only reference types can be handed over.
    var freeEffort: Int {
        switch self {
        case .string: return 1
        case .sortedSet(let set): return set.freeEffort
        }
    }

    /// Redis's LAZYFREE_THRESHOLD: values whose freeing takes more allocations than this go to a worker.
    static let lazyFreeThreshold = 64

    /// The object a worker can release off the loop, for types held by reference.
    var reference: AnyObject? {
        switch self {
        case .string: return nil
        case .sortedSet(let set): return set
        }
    }
}

/// The types of values, with Redis's names.
enum ValueType: UInt8 {
    case string
    case sortedSet

    var name: StaticString {
        switch self {
        case .string: return "string"
        case .sortedSet: return "zset"
        }
    }
}

/// A string's encoding as Redis would report it.
enum StringEncoding {
    case int, embstr, raw

    var name: StaticString {
        switch self {
        case .int: return "int"
        case .embstr: return "embstr"
        case .raw: return "raw"
        }
    }
}

/// The encoding Redis would report: for a value stored like SET stores it, tryObjectEncoding's choice ("int"
/// when it reads as a 64-bit integer by string2ll rules, "embstr" up to 44 bytes, "raw" beyond); other
/// commands leave what Database.StringHint records.
func stringEncoding(_ s: ByteString, _ hint: Database.StringHint = .likeSet) -> StringEncoding {
    switch hint {
    case .raw: return .raw
    case .notInteger: return s.count <= 44 ? .embstr : .raw
    case .likeSet, .unshared:
        return s.withUnsafeBytes { bytes in
            if bytes.count <= 20 && parseInt64(bytes) != nil { return .int }
            return bytes.count <= 44 ? .embstr : .raw
        }
    }
}

/// Takes objects the keyspace let go of (big values, whole tables after FLUSHALL), so that the last
/// release (millions of frees) happens off the loop: the server's LazyFree (Engine/LazyFree.swift).
protocol ObjectDisposer: AnyObject {
    func release(_ object: AnyObject)
}

/// Drops what it is given at once, on the calling thread (unit tests of the keyspace).
final class ImmediateDisposer: ObjectDisposer {
    static let shared = ImmediateDisposer()
    func release(_ object: AnyObject) {}
}
