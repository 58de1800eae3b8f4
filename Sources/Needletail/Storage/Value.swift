import CSystem

/// A value stored under a key, and the one home for what differs by type (Redis's per-type code spread
/// over object.c, db.c and lazyfree.c): the name TYPE reports, the encoding OBJECT ENCODING reports,
/// duplication (COPY), the cost of freeing (lazy free), the memory it holds (MEMORY USAGE) and the invariant
/// check. A new type (stream) is one case here, one case in `ValueType`, its storage class (with
/// `encodingName`, `duplicate()`, `freeEffort`, `memoryUsage(samples:)`, `count`, `checkInvariants()`) and its
/// commands; later the RDB codec and the DEBUG DIGEST of a value join this file, so SAVE, DUMP and
/// replication share them.
///
/// Every command checks the type it needs and answers WRONGTYPE otherwise.
enum Value {
    case string(ByteString)
    /// Collections are references: commands edit them in place through the key's entry and report the
    /// change with `Database.didModify`.
    case list(ListValue)
    case set(SetValue)
    /// A small set of integers held in the entry itself (Storage/InlineIntSet.swift): a set, encoding
    /// "intset", like a SetValue in that form. SADD and SREM store their edits with `Database.replaceValue`.
    case inlineIntset(InlineIntSet)
    case sortedSet(SortedSet)
    case hash(HashValue)
    case stream(StreamValue)

    var type: ValueType {
        switch self {
        case .string: return .string
        case .list: return .list
        case .set, .inlineIntset: return .set
        case .sortedSet: return .sortedSet
        case .hash: return .hash
        case .stream: return .stream
        }
    }

    /// The name TYPE reports.
    var typeName: StaticString { type.name }

    /// The encoding OBJECT ENCODING reports; `hint` is how the key's entry says a string was made.
    func encodingName(hint: Database.StringHint) -> StaticString {
        switch self {
        case .string(let s): return stringEncoding(s, hint).name
        case .list(let list): return list.encodingName
        case .set(let set): return set.encodingName
        case .inlineIntset: return "intset"
        case .sortedSet(let set): return set.skiplistEncoded ? "skiplist" : "listpack"
        case .hash(let hash): return hash.encodingName
        case .stream(let stream): return stream.encodingName
        }
    }

    /// A copy that shares nothing mutable with the original (COPY), in the same encoding (Redis's dup
    /// functions keep it).
    func duplicate() -> Value {
        switch self {
        case .string, .inlineIntset: return self  // values, not references: sharing is a copy
        case .list(let list): return .list(list.duplicate())
        case .set(let set): return .set(set.duplicate())
        case .hash(let hash): return .hash(hash.duplicate())
        case .stream(let stream): return .stream(stream.duplicate())
        case .sortedSet(let set): return .sortedSet(set.duplicate())
        }
    }

    /// Roughly how many allocations freeing the value takes (Redis's lazyfreeGetFreeEffort): big values
    /// are freed by a worker (Engine/LazyFree.swift), and only reference types can be handed over.
    var freeEffort: Int {
        switch self {
        case .string, .inlineIntset: return 1
        case .list(let list): return list.freeEffort
        case .set(let set): return set.freeEffort
        case .sortedSet(let set): return set.freeEffort
        case .hash(let hash): return hash.freeEffort
        case .stream(let stream): return stream.freeEffort
        }
    }

    /// Bytes the value holds outside its 24 bytes in the key's entry (MEMORY USAGE): what malloc gave each
    /// of its allocations (malloc_usable_size, as Redis's zmalloc_size on glibc) plus the arrays of its
    /// tables. Like Redis's objectComputeSize, a collection's fixed structure is counted whole and what its
    /// elements own (long strings' buffers, list nodes) is measured on the first `samples` elements (or
    /// nodes) and scaled to the count; `samples` >= 1 (MEMORY USAGE ... SAMPLES 0 passes Int.max: all).
    /// - Complexity: O(min(samples, n)).
    func memoryUsage(samples: Int) -> Int {
        switch self {
        case .string(let s): return s.allocatedBytes
        case .list(let list): return list.memoryUsage(samples: samples)
        case .set(let set): return set.memoryUsage(samples: samples)
        case .inlineIntset: return 0
        case .sortedSet(let set): return set.memoryUsage(samples: samples)
        case .hash(let hash): return hash.memoryUsage(samples: samples)
        case .stream(let stream): return stream.memoryUsage(samples: samples)
        }
    }

    /// Redis's LAZYFREE_THRESHOLD: values whose freeing takes more allocations than this go to a worker.
    static let lazyFreeThreshold = 64

    /// The object a worker can release off the loop, for types held by reference.
    var reference: AnyObject? {
        switch self {
        case .string, .inlineIntset: return nil
        case .list(let list): return list
        case .set(let set): return set
        case .sortedSet(let set): return set
        case .hash(let hash): return hash
        case .stream(let stream): return stream
        }
    }

    /// Checks the value's structure (tests, and debug builds after every write command); O(n).
    func checkInvariants() {
        switch self {
        case .string: break
        case .list(let list): list.checkInvariants()
        case .set(let set): set.checkInvariants()
        case .inlineIntset(let set): set.checkInvariants()
        case .sortedSet(let set): set.checkInvariants()
        case .hash(let hash): hash.checkInvariants()
        case .stream(let stream): stream.checkInvariants()
        }
    }

    /// Elements of a collection (1 for a string): what the debug build's checks and lazy free size by.
    var elementCount: Int {
        switch self {
        case .string: return 1
        case .list(let list): return list.count
        case .set(let set): return set.count
        case .inlineIntset(let set): return set.count
        case .sortedSet(let set): return set.count
        case .hash(let hash): return hash.count
        case .stream(let stream): return stream.count
        }
    }
}

/// The types of values, with Redis's names.
enum ValueType: UInt8 {
    case string
    case list
    case set
    case sortedSet
    case hash
    case stream

    var name: StaticString {
        switch self {
        case .string: return "string"
        case .list: return "list"
        case .set: return "set"
        case .sortedSet: return "zset"
        case .hash: return "hash"
        case .stream: return "stream"
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

// MARK: - Memory accounting (MEMORY USAGE)

/// What malloc reserved for a block it returned (its usable size; the 8-byte chunk header not included, as
/// Redis's zmalloc_size on glibc).
@inline(__always) func allocationSize(_ block: UnsafeRawPointer?) -> Int {
    block.map { cs_malloc_usable_size(UnsafeMutableRawPointer(mutating: $0)) } ?? 0
}

/// The block of a Swift object (swift_allocObject takes its memory from malloc on Linux).
@inline(__always) func allocationSize(of object: AnyObject) -> Int {
    allocationSize(UnsafeRawPointer(Unmanaged.passUnretained(object).toOpaque()))
}

extension ByteString {
    /// The block holding a long string's bytes; 0 for a short one, which lives inline wherever it is stored.
    var allocatedBytes: Int {
        switch self {
        case .inline: return 0
        case .heap(let storage): return allocationSize(of: storage)
        }
    }
}

/// Takes objects the keyspace let go of (big values, whole tables after FLUSHALL), so that the last
/// release (millions of frees) happens off the loop: the server's LazyFree (Engine/LazyFree.swift).
protocol ObjectDisposer: AnyObject {
    func release(_ object: AnyObject)
    /// As `release`, for a value of about `bytes` (its MEMORY USAGE estimate): what eviction counts as
    /// freed while it waits for a worker.
    func release(_ object: AnyObject, bytes: Int)
}

extension ObjectDisposer {
    func release(_ object: AnyObject, bytes: Int) { release(object) }
}

/// Drops what it is given at once, on the calling thread (unit tests of the keyspace).
final class ImmediateDisposer: ObjectDisposer {
    static let shared = ImmediateDisposer()
    func release(_ object: AnyObject) {}
}
