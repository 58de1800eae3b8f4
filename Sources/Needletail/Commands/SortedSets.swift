import Glibc

/// Sorted set commands (Redis's t_zset.c): every Z* command over `SortedSet` (Storage/SortedSet.swift).
///
/// Variants share one routine each, as in Redis, so they cannot drift apart:
/// - `zaddGeneric` is ZADD with every option and ZINCRBY (ZADD INCR), over `zsetAdd`, the one write that
///   applies NX/XX/GT/LT/INCR to a member;
/// - `zrangeGeneric` is ZRANGE (BYSCORE/BYLEX/REV/LIMIT/WITHSCORES), ZREVRANGE, Z[REV]RANGEBYSCORE,
///   Z[REV]RANGEBYLEX and ZRANGESTORE: options, then the range, then the key, turned into a window of ranks
///   that either the client or a destination set receives;
/// - `zremrangeGeneric` is ZREMRANGEBYRANK / BYSCORE / BYLEX;
/// - `zpopGeneric` is ZPOPMIN, ZPOPMAX and ZMPOP;
/// - `zsetOperation` is ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD.
///
/// The order of checks is Redis's, because it decides which error a bad request gets: options and numbers
/// are parsed before the key is looked up (so a syntax error wins over WRONGTYPE), except in the ZUNION
/// family, which checks the input keys' types first, and ZSCAN, which parses options after the lookup.
///
/// Replies: scores are doubles (`%.17g` bulk strings in RESP2, `,` doubles in RESP3). WITHSCORES answers
/// a flat member, score, ... array in RESP2 and an array of [member, score] pairs in RESP3 (`ScoredReply`).

let sortedSetCommands: [Command] = [
    Command("zadd", arity: -4, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "sorted_set",
            since: "1.2.0",
            summary: "Add one or more members to a sorted set, or update its score if it already exists",
            complexity: "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
            handler: { zaddGeneric($0, []) }),
    Command("zincrby", arity: 4, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "sorted_set",
            since: "1.2.0", summary: "Increment the score of a member in a sorted set",
            complexity: "O(log(N)) where N is the number of elements in the sorted set.",
            handler: { zaddGeneric($0, .incr) }),
    Command("zscore", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted_set", since: "1.2.0",
            summary: "Get the score associated with the given member in a sorted set", complexity: "O(1)",
            handler: zscore),
    Command("zmscore", arity: -3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted_set",
            since: "6.2.0", summary: "Get the score associated with the given members in a sorted set",
            complexity: "O(N) where N is the number of members being requested.", handler: zmscore),
    Command("zcard", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted_set", since: "1.2.0",
            summary: "Get the number of members in a sorted set", complexity: "O(1)", handler: zcard),
    Command("zcount", arity: 4, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted_set", since: "2.0.0",
            summary: "Count the members in a sorted set with scores within the given values",
            complexity: "O(log(N)) with N being the number of elements in the sorted set.", handler: zcount),
    Command("zlexcount", arity: 4, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted_set",
            since: "2.8.9",
            summary: "Count the number of members in a sorted set between a given lexicographical range",
            complexity: "O(log(N)) with N being the number of elements in the sorted set.", handler: zlexcount),
    Command("zrank", arity: -3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted_set", since: "2.0.0",
            summary: "Determine the index of a member in a sorted set", complexity: "O(log(N))",
            handler: { zrankGeneric($0, reverse: false) }),
    Command("zrevrank", arity: -3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted_set",
            since: "2.0.0",
            summary: "Determine the index of a member in a sorted set, with scores ordered from high to low",
            complexity: "O(log(N))", handler: { zrankGeneric($0, reverse: true) }),
    Command("zrange", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "sorted_set", since: "1.2.0",
            summary: "Return a range of members in a sorted set", complexity: rangeComplexity,
            handler: { zrangeGeneric($0, keyIndex: 1, store: false, kind: nil, reverse: nil) }),
    Command("zrangestore", arity: -5, flags: [.write, .denyoom], keys: (1, 2, 1), group: "sorted_set",
            since: "6.2.0", summary: "Store a range of members from sorted set into another key",
            complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of "
                + "elements stored into the destination key.",
            handler: { zrangeGeneric($0, keyIndex: 2, store: true, kind: nil, reverse: nil) }),
    Command("zrevrange", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "sorted_set", since: "1.2.0",
            summary: "Return a range of members in a sorted set, by index, with scores ordered from high to low",
            complexity: rangeComplexity,
            handler: { zrangeGeneric($0, keyIndex: 1, store: false, kind: .rank, reverse: true) }),
    Command("zrangebyscore", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "sorted_set",
            since: "1.0.5", summary: "Return a range of members in a sorted set, by score",
            complexity: limitedRangeComplexity,
            handler: { zrangeGeneric($0, keyIndex: 1, store: false, kind: .score, reverse: false) }),
    Command("zrevrangebyscore", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "sorted_set",
            since: "2.2.0",
            summary: "Return a range of members in a sorted set, by score, with scores ordered from high to low",
            complexity: limitedRangeComplexity,
            handler: { zrangeGeneric($0, keyIndex: 1, store: false, kind: .score, reverse: true) }),
    Command("zrangebylex", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "sorted_set",
            since: "2.8.9", summary: "Return a range of members in a sorted set, by lexicographical range",
            complexity: limitedRangeComplexity,
            handler: { zrangeGeneric($0, keyIndex: 1, store: false, kind: .lex, reverse: false) }),
    Command("zrevrangebylex", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "sorted_set",
            since: "2.8.9",
            summary: "Return a range of members in a sorted set, by lexicographical range, ordered from higher to "
                + "lower strings.",
            complexity: limitedRangeComplexity,
            handler: { zrangeGeneric($0, keyIndex: 1, store: false, kind: .lex, reverse: true) }),
    Command("zrem", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "sorted_set", since: "1.2.0",
            summary: "Remove one or more members from a sorted set",
            complexity: "O(M*log(N)) with N being the number of elements in the sorted set and M the number of "
                + "elements to be removed.",
            handler: zrem),
    Command("zremrangebyrank", arity: 4, flags: [.write], keys: (1, 1, 1), group: "sorted_set", since: "2.0.0",
            summary: "Remove all members in a sorted set within the given indexes", complexity: removeComplexity,
            handler: { zremrangeGeneric($0, .rank) }),
    Command("zremrangebyscore", arity: 4, flags: [.write], keys: (1, 1, 1), group: "sorted_set",
            since: "1.2.0", summary: "Remove all members in a sorted set within the given scores",
            complexity: removeComplexity, handler: { zremrangeGeneric($0, .score) }),
    Command("zremrangebylex", arity: 4, flags: [.write], keys: (1, 1, 1), group: "sorted_set", since: "2.8.9",
            summary: "Remove all members in a sorted set between the given lexicographical range",
            complexity: removeComplexity, handler: { zremrangeGeneric($0, .lex) }),
    Command("zpopmin", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: "sorted_set", since: "5.0.0",
            summary: "Remove and return members with the lowest scores in a sorted set", complexity: popComplexity,
            handler: { zpopMinMax($0, max: false) }),
    Command("zpopmax", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: "sorted_set", since: "5.0.0",
            summary: "Remove and return members with the highest scores in a sorted set",
            complexity: popComplexity, handler: { zpopMinMax($0, max: true) }),
    Command("bzpopmin", arity: -3, flags: [.write, .noscript, .blocking, .fast], keys: (1, -2, 1), group: "sorted_set",
            since: "5.0.0",
            summary: "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available",
            complexity: "O(log(N)) with N being the number of elements in the sorted set.",
            handler: { bzpopMinMax($0, max: false) }),
    Command("bzpopmax", arity: -3, flags: [.write, .noscript, .blocking, .fast], keys: (1, -2, 1), group: "sorted_set",
            since: "5.0.0",
            summary: "Remove and return the member with the highest score from one or more sorted sets, or block until one is available",
            complexity: "O(log(N)) with N being the number of elements in the sorted set.",
            handler: { bzpopMinMax($0, max: true) }),
    Command("bzmpop", arity: -5, flags: [.write, .blocking, .movableKeys], group: "sorted_set", since: "7.0.0",
            summary: "Remove and return members with scores in a sorted set or block until one is available",
            complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements "
                + "in the sorted set, and M being the number of elements popped.",
            handler: { zmpopGeneric($0, numkeysIndex: 2) }),
    Command("zmpop", arity: -4, flags: [.write, .movableKeys], group: "sorted_set", since: "7.0.0",
            summary: "Remove and return members with scores in a sorted set",
            complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements "
                + "in the sorted set, and M being the number of elements popped.",
            handler: { zmpopGeneric($0, numkeysIndex: 1) }),
    Command("zrandmember", arity: -2, flags: [.readonly], keys: (1, 1, 1), group: "sorted_set", since: "6.2.0",
            summary: "Get one or multiple random elements from a sorted set",
            complexity: "O(N) where N is the number of elements returned", handler: zrandmember),
    Command("zunion", arity: -3, flags: [.readonly, .movableKeys], group: "sorted_set", since: "6.2.0",
            summary: "Add multiple sorted sets", complexity: unionComplexity,
            handler: { zsetOperation($0, .union, store: false) }),
    Command("zinter", arity: -3, flags: [.readonly, .movableKeys], group: "sorted_set", since: "6.2.0",
            summary: "Intersect multiple sorted sets", complexity: interComplexity,
            handler: { zsetOperation($0, .inter, store: false) }),
    Command("zdiff", arity: -3, flags: [.readonly, .movableKeys], group: "sorted_set", since: "6.2.0",
            summary: "Subtract multiple sorted sets", complexity: diffComplexity,
            handler: { zsetOperation($0, .diff, store: false) }),
    Command("zunionstore", arity: -4, flags: [.write, .denyoom, .movableKeys], keys: (1, 1, 1),
            group: "sorted_set", since: "2.0.0",
            summary: "Add multiple sorted sets and store the resulting sorted set in a new key",
            complexity: "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being "
                + "the number of elements in the resulting sorted set.",
            handler: { zsetOperation($0, .union, store: true) }),
    Command("zinterstore", arity: -4, flags: [.write, .denyoom, .movableKeys], keys: (1, 1, 1),
            group: "sorted_set", since: "2.0.0",
            summary: "Intersect multiple sorted sets and store the resulting sorted set in a new key",
            complexity: interComplexity, handler: { zsetOperation($0, .inter, store: true) }),
    Command("zdiffstore", arity: -4, flags: [.write, .denyoom, .movableKeys], keys: (1, 1, 1),
            group: "sorted_set", since: "6.2.0",
            summary: "Subtract multiple sorted sets and store the resulting sorted set in a new key",
            complexity: diffComplexity, handler: { zsetOperation($0, .diff, store: true) }),
    Command("zintercard", arity: -3, flags: [.readonly, .movableKeys], group: "sorted_set", since: "7.0.0",
            summary: "Intersect multiple sorted sets and return the cardinality of the result",
            complexity: "O(N*K) worst case with N being the smallest input sorted set, K being the number of input "
                + "sorted sets.",
            handler: { zsetOperation($0, .inter, store: false, cardinalityOnly: true) }),
    Command("zscan", arity: -3, flags: [.readonly], keys: (1, 1, 1), group: "sorted_set", since: "2.8.0",
            summary: "Incrementally iterate sorted sets elements and associated scores",
            complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the "
                + "cursor to return back to 0. N is the number of elements inside the collection..",
            handler: zscan),
]

private let rangeComplexity = "O(log(N)+M) with N being the number of elements in the sorted set and M the number "
    + "of elements returned."
private let limitedRangeComplexity = "O(log(N)+M) with N being the number of elements in the sorted set and M the "
    + "number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with "
    + "LIMIT), you can consider it O(log(N))."
private let removeComplexity = "O(log(N)+M) with N being the number of elements in the sorted set and M the number "
    + "of elements removed by the operation."
private let popComplexity = "O(log(N)*M) with N being the number of elements in the sorted set, and M being the "
    + "number of elements popped."
private let unionComplexity = "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M "
    + "being the number of elements in the resulting sorted set."
private let interComplexity = "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being "
    + "the number of input sorted sets and M being the number of elements in the resulting sorted set."
private let diffComplexity = "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the "
    + "sets, N is the size of the first set, and K is the size of the result set."

// MARK: - Redis's encodings

/// Redis keeps a small sorted set in a compact "listpack" (at most zset-max-listpack-entries members, none
/// longer than zset-max-listpack-value bytes) and converts it, one way, to a "skiplist" when an addition
/// breaks either limit. Needletail does the same with its own two forms (Storage/SortedSet.swift: packed pairs,
/// or a tree and an index), and `SortedSet.skiplistEncoded` says which one a set is in; setting it converts.
/// The commands set it following Redis 7.0's rules, which matter beyond memory and speed:
/// - OBJECT ENCODING names it (clients and test suites check it);
/// - a listpack stores scores as text and -0 reads back as 0, while a skiplist keeps -0: scores written
///   while a set is "listpack" are stored with -0 turned into 0 (`storable`). A reply computed before
///   storing (ZINCRBY's, ZUNION's) still shows -0, as in Redis.
/// Where Redis decides: a key created by ZADD/ZINCRBY starts as listpack; ZRANGESTORE's destination starts
/// as skiplist when its rank range holds more than 128 elements and as listpack otherwise (BYSCORE/BYLEX
/// ranges have no length up front); the ZUNIONSTORE family is listpack exactly when the whole result fits.
/// Nothing converts back (ZREM never does). The limits are Redis's defaults (no CONFIG for them yet).
let zsetMaxListpackEntries = 128
let zsetMaxListpackValue = 64

extension SortedSet {
    /// The name OBJECT ENCODING reports.
    var encodingName: String { skiplistEncoded ? "skiplist" : "listpack" }

    /// Redis's check before adding a member of `length` bytes: a listpack that would break a limit is
    /// converted first (so the new member is stored as the skiplist stores it).
    @inline(__always) func willAddMember(length: Int) {
        if !skiplistEncoded && (count + 1 > zsetMaxListpackEntries || length > zsetMaxListpackValue) {
            skiplistEncoded = true
        }
    }

    /// `score` as this set stores it: a listpack reads -0 back as 0.
    @inline(__always) func storable(_ score: Double) -> Double {
        !skiplistEncoded && score == 0 ? 0 : score
    }

    /// Adds a member known to be absent, as Redis's zsetAdd does (conversion check, then -0 rule).
    func addNew(_ member: ByteString, score: Double) {
        willAddMember(length: member.count)
        set(member: member, score: storable(score))
    }
}

// MARK: - Shared helpers

/// The sorted set at argument `i`, or nil after replying: `missing` (a reply chosen by the caller) when
/// there is no such key, WRONGTYPE when it holds another type. A read counts a keyspace hit or miss; a
/// write does not, as Redis's lookupKeyRead / lookupKeyWrite.
private func sortedSet(_ c: Client, _ i: Int, forWrite: Bool, orReply missing: (Client) -> Void) -> SortedSet? {
    let key = c.arg(i)
    let now = c.now
    guard let value = forWrite ? c.db.lookup(key, now: now, .write) : c.db.lookup(key, now: now) else {
        missing(c)
        return nil
    }
    guard case .sortedSet(let set) = value else {
        c.replyWrongType()
        return nil
    }
    return set
}

private func readSet(_ c: Client, _ i: Int, orReply missing: (Client) -> Void) -> SortedSet? {
    sortedSet(c, i, forWrite: false, orReply: missing)
}

private func writeSet(_ c: Client, _ i: Int, orReply missing: (Client) -> Void) -> SortedSet? {
    sortedSet(c, i, forWrite: true, orReply: missing)
}

private func replyZero(_ c: Client) { c.reply.integer(0) }
private func replyEmptyArray(_ c: Client) { c.reply.array(0) }

/// Reports `changes` to the set at argument `key` (nothing when 0), then deletes the key when the set became
/// empty (Redis never keeps an empty sorted set): the command's event, then "del", as Redis notifies them,
/// and the deletion counts no change of its own.
@inline(__always) private func didModify(_ c: Client, _ set: SortedSet, key: Int, _ event: KeyspaceEvent,
                                         changes: Int) {
    guard changes > 0 else { return }
    c.db.didModify(c.arg(key), event, changes: changes)
    if set.isEmpty { c.db.remove(c.arg(key), changes: 0) }
}

/// Elements with or without scores, shaped as Redis shapes them: with scores, a flat member, score, ...
/// array in RESP2, and [member, score] pairs in RESP3 when `nested` (not a map: the order matters).
/// Redis itself branches on the protocol here (and in ZPOPMIN/ZPOPMAX's choice of `nested`); no other Z*
/// reply depends on it beyond what ReplyWriter encodes.
private struct ScoredReply {
    let reply: ReplyWriter
    let withScores: Bool
    let nested: Bool

    init(_ c: Client, withScores: Bool) {
        self.init(c, withScores: withScores, nested: withScores && c.reply.resp3)
    }

    init(_ c: Client, withScores: Bool, nested: Bool) {
        reply = c.reply
        self.withScores = withScores
        self.nested = nested
    }

    @inline(__always) func header(_ count: Int) { reply.array(withScores && !nested ? count * 2 : count) }

    @inline(__always) func element(_ member: ByteString, _ score: Double) {
        if nested { reply.array(2) }
        reply.bulk(member)
        if withScores { reply.double(score) }
    }
}

// MARK: - Argument parsing

/// One end of a BYSCORE range as Redis's zslParseRange reads it: an optional `(` (exclusive), then what C's
/// strtod accepts up to the end of the C string. So, as in Redis, "", " 1", "0x10", "1e999" (inf) and
/// "1\0junk" are valid, and NaN is not. (This is laxer than ZADD's scores, which follow string2d.)
func parseScoreBound(_ bytes: UnsafeRawBufferPointer) -> (value: Double, exclusive: Bool)? {
    var text = cStringPrefix(bytes)
    let exclusive = text.first == UInt8(ascii: "(")
    if exclusive { text = UnsafeRawBufferPointer(rebasing: text.dropFirst()) }
    if !text.isEmpty && text.count <= 16, let v = parseInt64(text), v.magnitude <= 1 << 53 {
        return (Double(v), exclusive)
    }
    return withUnsafeTemporaryAllocation(of: CChar.self, capacity: text.count + 1) { buf in
        let s = buf.baseAddress!
        if !text.isEmpty { UnsafeMutableRawPointer(s).copyMemory(from: text.baseAddress!, byteCount: text.count) }
        s[text.count] = 0
        var end: UnsafeMutablePointer<CChar>? = nil
        let value = strtod(s, &end)
        guard end!.pointee == 0, !value.isNaN else { return nil }
        return (value, exclusive)
    }
}

/// A BYSCORE interval from two arguments; nil means Redis's "min or max is not a float".
func parseScoreRange(min: UnsafeRawBufferPointer, max: UnsafeRawBufferPointer) -> SortedSet.ScoreRange? {
    guard let lo = parseScoreBound(min), let hi = parseScoreBound(max) else { return nil }
    return SortedSet.ScoreRange(min: lo.value, minExclusive: lo.exclusive, max: hi.value, maxExclusive: hi.exclusive)
}

/// A BYLEX interval from two arguments; nil means "min or max not valid string range item". Redis tests
/// `+` and `-` as C strings, so "+\0x" is `+`; `[` and `(` take every byte after them.
func parseLexRange(min: UnsafeRawBufferPointer, max: UnsafeRawBufferPointer) -> SortedSet.LexRange? {
    func bound(_ bytes: UnsafeRawBufferPointer) -> SortedSet.LexBound? {
        if bytes.count > 1 && bytes[1] == 0 && (bytes[0] == UInt8(ascii: "+") || bytes[0] == UInt8(ascii: "-")) {
            return SortedSet.LexBound(parsing: UnsafeRawBufferPointer(rebasing: bytes[0..<1]))
        }
        return SortedSet.LexBound(parsing: bytes)
    }
    guard let lo = bound(min), let hi = bound(max) else { return nil }
    return SortedSet.LexRange(min: lo, max: hi)
}

/// Redis's getRangeLongFromObjectOrReply with a message: `message` answers both a non-integer and a value
/// out of `range`.
private func int64Arg(_ c: Client, _ i: Int, in range: ClosedRange<Int64>, orError message: StaticString) -> Int? {
    guard let v = parseInt64(c.arg(i)), range.contains(v) else {
        c.reply.error(message)
        return nil
    }
    return Int(v)
}

// MARK: - ZADD, ZINCRBY

/// ZADD's options (Redis's ZADD_IN_* flags, plus CH).
struct ZaddFlags: OptionSet {
    let rawValue: UInt8
    static let nx = ZaddFlags(rawValue: 1 << 0)
    static let xx = ZaddFlags(rawValue: 1 << 1)
    static let gt = ZaddFlags(rawValue: 1 << 2)
    static let lt = ZaddFlags(rawValue: 1 << 3)
    static let incr = ZaddFlags(rawValue: 1 << 4)
    static let ch = ZaddFlags(rawValue: 1 << 5)
}

/// What `zsetAdd` did (Redis's ZADD_OUT_* flags). `score` is the score computed for the member, which the
/// INCR reply shows even when the set stores it differently (-0) or did not need to change.
enum ZaddOutcome: Equatable {
    case added(score: Double)
    case updated(score: Double)
    /// Processed, but the score was already that.
    case unchanged(score: Double)
    /// Skipped by NX / XX / GT / LT.
    case skipped
    /// INCR produced NaN (inf + -inf); nothing changed.
    case nan
}

/// Redis's zsetAdd: applies `score` to `member` under `flags`. The one write behind ZADD and ZINCRBY.
func zsetAdd(_ set: SortedSet, member: UnsafeRawBufferPointer, score: Double, flags: ZaddFlags) -> ZaddOutcome {
    var outcome = ZaddOutcome.skipped
    // The closure reaches the set through `lent`: capturing `set` itself costs a retain and a release per call.
    let lent = Unmanaged.passUnretained(set)
    set.upsert(member: member) { current in
        guard let current else {
            if flags.contains(.xx) { return nil }
            lent._withUnsafeGuaranteedRef { $0.willAddMember(length: member.count) }
            outcome = .added(score: score)
            return lent._withUnsafeGuaranteedRef { $0.storable(score) }
        }
        if flags.contains(.nx) { return nil }
        var new = score
        if flags.contains(.incr) {
            new += current
            if new.isNaN {
                outcome = .nan
                return nil
            }
        }
        if (flags.contains(.lt) && new >= current) || (flags.contains(.gt) && new <= current) { return nil }
        outcome = new != current ? .updated(score: new) : .unchanged(score: new)
        return lent._withUnsafeGuaranteedRef { $0.storable(new) }
    }
    return outcome
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...], and ZINCRBY key increment member
/// (`flags` = INCR). Like Redis, ZINCRBY goes through the same option parser, so `ZINCRBY k nx m` is a
/// syntax error. Every score is validated before the set is touched: the command applies fully or not at all.
private func zaddGeneric(_ c: Client, _ initial: ZaddFlags) {
    var flags = initial
    var scoreIndex = 2
    while scoreIndex < c.argc {
        let option = c.arg(scoreIndex)
        if cStringEqualsIgnoringCase(option, "nx") { flags.insert(.nx) }
        else if cStringEqualsIgnoringCase(option, "xx") { flags.insert(.xx) }
        else if cStringEqualsIgnoringCase(option, "ch") { flags.insert(.ch) }
        else if cStringEqualsIgnoringCase(option, "incr") { flags.insert(.incr) }
        else if cStringEqualsIgnoringCase(option, "gt") { flags.insert(.gt) }
        else if cStringEqualsIgnoringCase(option, "lt") { flags.insert(.lt) }
        else { break }
        scoreIndex += 1
    }
    let pairArgs = c.argc - scoreIndex
    if pairArgs == 0 || pairArgs % 2 != 0 { return c.replySyntaxError() }
    let elements = pairArgs / 2
    if flags.isSuperset(of: [.nx, .xx]) {
        return c.reply.error("ERR XX and NX options at the same time are not compatible")
    }
    if flags.contains(.nx) && (flags.contains(.gt) || flags.contains(.lt)) || flags.isSuperset(of: [.gt, .lt]) {
        return c.reply.error("ERR GT, LT, and/or NX options at the same time are not compatible")
    }
    let incr = flags.contains(.incr)
    if incr && elements > 1 { return c.reply.error("ERR INCR option supports a single increment-element pair") }
    // Validate every score first; they are parsed again below rather than kept in an allocated array.
    for j in 0..<elements where parseDouble(c.arg(scoreIndex + 2 * j)) == nil { return c.replyNotFloat() }

    c.withDatabase { db in  // borrowed, as the stored set (`Database.StoredValue`): no retain per request
        guard let set = objectForWrite(c, in: db, \.sortedSet, orCreate: {
            if flags.contains(.xx) {
                if incr { c.reply.null() } else { c.reply.integer(0) }
                return nil
            }
            let created = SortedSet()
            // Created empty: the change counted and notified is the command's, below.
            db.add(c.argBytes(1), .sortedSet(created), event: .none, changes: 0)
            return created
        }) else { return }
        var added = 0, updated = 0, processed = 0
        var lastScore = 0.0
        let scoreIsNaN = set._withUnsafeGuaranteedRef { set in
            for j in 0..<elements {
                let score = parseDouble(c.arg(scoreIndex + 2 * j))!
                switch zsetAdd(set, member: c.arg(scoreIndex + 2 * j + 1), score: score, flags: flags) {
                case .added(let s): added += 1; processed += 1; lastScore = s
                case .updated(let s): updated += 1; processed += 1; lastScore = s
                case .unchanged(let s): processed += 1; lastScore = s
                case .skipped: break
                case .nan: return true
                }
            }
            return false
        }
        if scoreIsNaN { return c.reply.error("ERR resulting score is not a number (NaN)") }
        if added + updated > 0 { db.didModify(c.arg(1), incr ? .zincr : .zadd, changes: added + updated) }
        if incr {
            if processed > 0 { c.reply.double(lastScore) } else { c.reply.null() }
        } else {
            c.reply.integer(flags.contains(.ch) ? added + updated : added)
        }
    }
}

// MARK: - ZSCORE, ZMSCORE, ZCARD, ZCOUNT, ZLEXCOUNT, ZRANK

private func zscore(_ c: Client) {
    guard let set = readSet(c, 1, orReply: replyNull) else { return }
    if let score = set.score(of: c.arg(2)) { c.reply.double(score) } else { c.reply.null() }
}

/// A missing key reads as an empty set: one null per member.
private func zmscore(_ c: Client) {
    var set: SortedSet?
    if let value = c.db.lookup(c.arg(1), now: c.now) {
        guard case .sortedSet(let s) = value else { return c.replyWrongType() }
        set = s
    }
    c.reply.array(c.argc - 2)
    for i in 2..<c.argc {
        if let score = set?.score(of: c.arg(i)) { c.reply.double(score) } else { c.reply.null() }
    }
}

private func zcard(_ c: Client) {
    guard let set = readSet(c, 1, orReply: replyZero) else { return }
    c.reply.integer(set.count)
}

private func zcount(_ c: Client) {
    guard let range = parseScoreRange(min: c.arg(2), max: c.arg(3)) else {
        return c.reply.error("ERR min or max is not a float")
    }
    guard let set = readSet(c, 1, orReply: replyZero) else { return }
    c.reply.integer(set.count(in: range))
}

private func zlexcount(_ c: Client) {
    guard let range = parseLexRange(min: c.arg(2), max: c.arg(3)) else {
        return c.reply.error("ERR min or max not valid string range item")
    }
    guard let set = readSet(c, 1, orReply: replyZero) else { return }
    c.reply.integer(set.count(in: range))
}

/// ZRANK / ZREVRANK key member [WITHSCORE], as redis-server 7.2 (which INFO's version promises; 7.0's
/// arity of 3 refused WITHSCORE). The option is checked before the key: more than one extra argument is
/// an arity error, another word a syntax error. With WITHSCORE the reply is [rank, score], and a missing
/// key or member a null array instead of a null.
private func zrankGeneric(_ c: Client, reverse: Bool) {
    if c.argc > 4 { return c.reply.error("ERR wrong number of arguments for '\(reverse ? "zrevrank" : "zrank")' command") }
    let withScore = c.argc == 4
    if withScore && !argOptionIs(c, 3, "withscore") { return c.replySyntaxError() }
    guard let set = readSet(c, 1, orReply: withScore ? replyNullArray : replyNull) else { return }
    guard let (rank, score) = set.rankAndScore(of: c.arg(2), reverse: reverse) else {
        return withScore ? c.reply.nullArray() : c.reply.null()
    }
    if withScore {
        c.reply.array(2)
        c.reply.integer(rank)
        c.reply.double(score)
    } else {
        c.reply.integer(rank)
    }
}

// MARK: - The ZRANGE family

enum RangeKind { case rank, score, lex }

/// Redis's zrangeGenericCommand. `kind` and `reverse` are fixed by the legacy commands (ZREVRANGE,
/// ZRANGEBYSCORE, ...) and nil for ZRANGE / ZRANGESTORE, whose BYSCORE / BYLEX / REV options set them.
/// `keyIndex` is the source key (2 for ZRANGESTORE, whose destination is argument 1); the range follows it.
///
/// Every variant becomes a window of ascending ranks walked upward or downward, so one walk serves all:
/// a rank range is normalised as Redis does, a score or lex range is turned into ranks in O(log n) and
/// LIMIT offset count cuts the window (`SortedSet.window`).
private func zrangeGeneric(_ c: Client, keyIndex: Int, store: Bool, kind fixedKind: RangeKind?, reverse fixedReverse: Bool?) {
    var kind = fixedKind
    var reverse = fixedReverse
    var withScores = false
    var offset = 0
    var limit = -1
    var j = keyIndex + 3
    while j < c.argc {
        let remaining = c.argc - j - 1
        if !store && argOptionIs(c, j, "withscores") {
            withScores = true
        } else if argOptionIs(c, j, "limit") && remaining >= 2 {
            guard let o = c.int64Arg(j + 1), let l = c.int64Arg(j + 2) else { return }
            offset = Int(o)
            limit = Int(l)
            j += 2
        } else if fixedReverse == nil && reverse == nil && argOptionIs(c, j, "rev") {
            reverse = true
        } else if fixedKind == nil && kind == nil && argOptionIs(c, j, "bylex") {
            kind = .lex
        } else if fixedKind == nil && kind == nil && argOptionIs(c, j, "byscore") {
            kind = .score
        } else {
            return c.replySyntaxError()
        }
        j += 1
    }
    let rangeKind = kind ?? .rank
    let isReverse = reverse ?? false
    // Redis compares with -1, the "no LIMIT" value, so `ZRANGE k 0 1 LIMIT 0 -1` is accepted.
    if limit != -1 && rangeKind == .rank {
        return c.reply.error("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
    }
    if withScores && rangeKind == .lex {
        return c.reply.error("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    }
    // Reverse score and lex ranges are given as max, min.
    let (minIndex, maxIndex) = isReverse && rangeKind != .rank ? (keyIndex + 2, keyIndex + 1)
                                                               : (keyIndex + 1, keyIndex + 2)
    var start = 0, end = 0
    var scoreRange: SortedSet.ScoreRange?
    var lexRange: SortedSet.LexRange?
    switch rangeKind {
    case .rank:
        guard let s = c.int64Arg(minIndex), let e = c.int64Arg(maxIndex) else { return }
        start = Int(s)
        end = Int(e)
    case .score:
        scoreRange = parseScoreRange(min: c.arg(minIndex), max: c.arg(maxIndex))
        if scoreRange == nil { return c.reply.error("ERR min or max is not a float") }
    case .lex:
        lexRange = parseLexRange(min: c.arg(minIndex), max: c.arg(maxIndex))
        if lexRange == nil { return c.reply.error("ERR min or max not valid string range item") }
    }

    guard let value = c.db.lookup(c.arg(keyIndex), now: c.now) else {
        return store ? storeRange(c, nil) : c.reply.array(0)
    }
    guard case .sortedSet(let set) = value else { return c.replyWrongType() }

    let ranks: Range<Int>
    switch rangeKind {
    case .rank:
        ranks = set.rankRange(start: start, end: end, reverse: isReverse)
    case .score:
        ranks = SortedSet.window(set.rankRange(in: scoreRange!), reverse: isReverse, offset: offset, limit: limit)
    case .lex:
        ranks = SortedSet.window(set.rankRange(in: lexRange!, reverse: isReverse), reverse: isReverse,
                                 offset: offset, limit: limit)
    }
    if store {
        return storeRange(c, (set, ranks, isReverse, knownLength: rangeKind == .rank))
    }
    let out = ScoredReply(c, withScores: withScores)
    out.header(ranks.count)
    set.forEach(inRanks: ranks, reverse: isReverse) { member, score in out.element(member, score) }
}

/// ZRANGESTORE's ending: the destination (argument 1) gets the elements, or is deleted when there are none.
/// The destination is built as Redis builds it (see "Redis's encodings"): it starts as a skiplist only for
/// a rank range longer than the listpack limit, and otherwise converts once it outgrows it.
private func storeRange(_ c: Client, _ source: (set: SortedSet, ranks: Range<Int>, reverse: Bool, knownLength: Bool)?) {
    let destination = c.argBytes(1)
    guard let source, !source.ranks.isEmpty else {
        c.db.remove(destination)
        return c.reply.integer(0)
    }
    let result = SortedSet()
    result.skiplistEncoded = source.knownLength && source.ranks.count > zsetMaxListpackEntries
    source.set.forEach(inRanks: source.ranks, reverse: source.reverse) { member, score in
        result.addNew(member, score: score)
    }
    c.db.set(destination, .sortedSet(result), event: .zrangestore)
    c.reply.integer(result.count)
}

// MARK: - ZREM, ZREMRANGEBY*

private func zrem(_ c: Client) {
    guard let set = writeSet(c, 1, orReply: replyZero) else { return }
    var deleted = 0
    for i in 2..<c.argc {
        if set.remove(member: c.arg(i)) { deleted += 1 }
        if set.isEmpty { break }
    }
    didModify(c, set, key: 1, .zrem, changes: deleted)
    c.reply.integer(deleted)
}

/// Redis's zremrangeGenericCommand: the range is parsed before the key is looked up.
private func zremrangeGeneric(_ c: Client, _ kind: RangeKind) {
    var start = 0, end = 0
    var scoreRange: SortedSet.ScoreRange?
    var lexRange: SortedSet.LexRange?
    switch kind {
    case .rank:
        guard let s = c.int64Arg(2), let e = c.int64Arg(3) else { return }
        start = Int(s)
        end = Int(e)
    case .score:
        scoreRange = parseScoreRange(min: c.arg(2), max: c.arg(3))
        if scoreRange == nil { return c.reply.error("ERR min or max is not a float") }
    case .lex:
        lexRange = parseLexRange(min: c.arg(2), max: c.arg(3))
        if lexRange == nil { return c.reply.error("ERR min or max not valid string range item") }
    }
    guard let set = writeSet(c, 1, orReply: replyZero) else { return }
    let ranks: Range<Int>
    switch kind {
    case .rank: ranks = set.rankRange(start: start, end: end)
    case .score: ranks = set.rankRange(in: scoreRange!)
    case .lex: ranks = set.rankRange(in: lexRange!)
    }
    let deleted = set.removeElements(inRanks: ranks)
    let event: KeyspaceEvent = switch kind {
    case .rank: .zremrangebyrank
    case .score: .zremrangebyscore
    case .lex: .zremrangebylex
    }
    didModify(c, set, key: 1, event, changes: deleted)
    c.reply.integer(deleted)
}

// MARK: - ZPOPMIN, ZPOPMAX, ZMPOP

/// ZPOPMIN / ZPOPMAX key [count]. Without a count the reply is one flat [member, score]; with one it is the
/// scored-elements shape (pairs in RESP3), as Redis's use_nested_array.
private func zpopMinMax(_ c: Client, max: Bool) {
    if c.argc > 3 { return c.replySyntaxError() }
    var count: Int?
    if c.argc == 3 {
        // Redis answers a non-integer count with this message too.
        guard let n = int64Arg(c, 2, in: 0...Int64.max, orError: "ERR value is out of range, must be positive") else {
            return
        }
        count = n
    }
    zpopGeneric(c, keys: 1..<2, max: max, emitKey: false, count: count,
                nested: c.reply.resp3 && count != nil, nullWhenEmpty: false)
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count] (`numkeysIndex` 1), and BZMPOP timeout numkeys ...
/// (`numkeysIndex` 2), whose timeout is parsed after the rest, as Redis's zmpopGenericCommand does.
private func zmpopGeneric(_ c: Client, numkeysIndex: Int) {
    guard let numkeys = int64Arg(c, numkeysIndex, in: 1...Int64.max, orError: "ERR numkeys should be greater than 0") else {
        return
    }
    // Compared without computing numkeysIndex + numkeys + 1, which could overflow.
    guard numkeys < c.argc - numkeysIndex - 1 else { return c.replySyntaxError() }
    let whereIndex = numkeysIndex + 1 + numkeys
    let max: Bool
    if argOptionIs(c, whereIndex, "min") { max = false }
    else if argOptionIs(c, whereIndex, "max") { max = true }
    else { return c.replySyntaxError() }
    var count: Int?
    var j = whereIndex + 1
    while j < c.argc {
        guard count == nil && argOptionIs(c, j, "count") && j + 1 < c.argc else { return c.replySyntaxError() }
        guard let n = int64Arg(c, j + 1, in: 1...Int64.max, orError: "ERR count should be greater than 0") else {
            return
        }
        count = n
        j += 2
    }
    var keys = (numkeysIndex + 1)..<whereIndex
    if numkeysIndex == 2 {  // BZMPOP
        guard let deadline = timeoutArgument(c, 1, now: c.now) else { return }
        guard let keyIndex = firstNonEmptySet(c, keys) else { return }
        if keyIndex < 0 { return c.server.block(c, keys: keys.map { c.argBytes($0) }, wants: .sortedSet, deadline: deadline) }
        keys = keyIndex..<(keyIndex + 1)  // the key found (the ready one, when run again), not the first non-empty
    }
    zpopGeneric(c, keys: keys, max: max, emitKey: true, count: count ?? 1, nested: true, nullWhenEmpty: true)
}

/// The index of the first of `keys` holding a non-empty sorted set, -1 when none does, or nil after a
/// WRONGTYPE error (the blocking pops' scan, as Redis's blockingGenericZpopCommand). A blocked client run
/// again for a key that became ready is served from that key, as Redis 7.0 serves it.
private func firstNonEmptySet(_ c: Client, _ keys: Range<Int>) -> Int? {
    let now = c.now
    if let i = c.servingKeyIndex(in: keys), case .sortedSet(let set)? = c.db.lookup(c.arg(i), now: now, .write),
       !set.isEmpty {
        return i
    }
    for i in keys {
        guard let value = c.db.lookup(c.arg(i), now: now, .write) else { continue }
        guard case .sortedSet(let set) = value else {
            c.replyWrongType()
            return nil
        }
        if !set.isEmpty { return i }
    }
    return -1
}

/// BZPOPMIN / BZPOPMAX key [key ...] timeout: pops one element of the first non-empty set, replying the flat
/// [key, member, score], or blocks until one of the keys has one. Served, it is propagated as ZPOPMIN /
/// ZPOPMAX of that key.
private func bzpopMinMax(_ c: Client, max: Bool) {
    guard let deadline = timeoutArgument(c, c.argc - 1, now: c.now) else { return }
    let keys = 1..<(c.argc - 1)
    guard let keyIndex = firstNonEmptySet(c, keys) else { return }
    if keyIndex < 0 { return c.server.block(c, keys: keys.map { c.argBytes($0) }, wants: .sortedSet, deadline: deadline) }
    guard case .sortedSet(let set)? = c.db.lookup(c.arg(keyIndex), now: c.now, .write),
          let (member, score) = max ? set.popMax() : set.popMin() else { preconditionFailure("checked above") }
    c.reply.array(3)
    c.reply.bulk(c.arg(keyIndex))
    c.reply.bulk(member)
    c.reply.double(score)
    didModify(c, set, key: keyIndex, max ? .zpopmax : .zpopmin, changes: 1)
    c.propagateAs([max ? "ZPOPMAX" : "ZPOPMIN", c.argBytes(keyIndex)])
}

/// Redis's genericZpopCommand: pops from the first key (of `keys`) holding a set. `count` nil means a single
/// pop without COUNT. With `emitKey` (ZMPOP) the reply is [key, [[member, score], ...]].
private func zpopGeneric(_ c: Client, keys: Range<Int>, max: Bool, emitKey: Bool, count: Int?, nested: Bool,
                         nullWhenEmpty: Bool) {
    let now = c.now
    var found: (set: SortedSet, index: Int)?
    for i in keys {
        guard let value = c.db.lookup(c.arg(i), now: now, .write) else { continue }
        guard case .sortedSet(let set) = value else { return c.replyWrongType() }
        found = (set, i)
        break
    }
    guard let (set, keyIndex) = found else { return nullWhenEmpty ? c.reply.nullArray() : c.reply.array(0) }
    if count == 0 { return c.reply.array(0) }
    let popped = Swift.min(count ?? 1, set.count)
    let out = ScoredReply(c, withScores: true, nested: nested)
    if emitKey {
        c.reply.array(2)
        c.reply.bulk(c.arg(keyIndex))
    }
    out.header(popped)
    for _ in 0..<popped {
        let (member, score) = (max ? set.popMax() : set.popMin())!
        out.element(member, score)
    }
    didModify(c, set, key: keyIndex, max ? .zpopmax : .zpopmin, changes: popped)
    // ZMPOP and BZMPOP reach replicas as the pop they did: ZPOPMIN|ZPOPMAX key count (Redis 7.0).
    if emitKey { c.propagateAs([max ? "ZPOPMAX" : "ZPOPMIN", c.argBytes(keyIndex), formatInt64(Int64(popped))]) }
}

// MARK: - ZRANDMEMBER

/// ZRANDMEMBER key [count [WITHSCORES]]. A negative count allows repeats and returns exactly |count|
/// elements; a positive one returns distinct elements, the whole set (in order, as Redis) when it asks for
/// at least as many as there are.
private func zrandmember(_ c: Client) {
    var random = FastRandom()
    guard c.argc >= 3 else {
        guard let set = readSet(c, 1, orReply: replyNull) else { return }
        return c.reply.bulk(set.randomElement(using: &random)!.member)
    }
    guard let l = c.int64Arg(2) else { return }
    if l == Int64.min {
        return c.reply.error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    }
    var withScores = false
    if c.argc > 4 || (c.argc == 4 && !argOptionIs(c, 3, "withscores")) { return c.replySyntaxError() }
    if c.argc == 4 {
        withScores = true
        // Redis keeps count * 2 (the RESP2 reply length) from overflowing.
        if l < -(Int64.max / 2) || l > Int64.max / 2 { return c.reply.error("ERR value is out of range") }
    }
    guard let set = readSet(c, 1, orReply: replyEmptyArray) else { return }
    if l == 0 { return c.reply.array(0) }
    let out = ScoredReply(c, withScores: withScores)
    let count = Int(l.magnitude)
    if l < 0 || count == 1 {
        out.header(count)
        for _ in 0..<count {
            let (member, score) = set.randomElement(using: &random)!
            out.element(member, score)
        }
    } else if count >= set.count {
        out.header(set.count)
        set.forEach { member, score in out.element(member, score) }
    } else {
        let picked = set.randomDistinctElements(count: count, using: &random)
        out.header(picked.count)
        for (member, score) in picked { out.element(member, score) }
    }
}

// MARK: - ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD

enum SetOperation { case union, inter, diff }

enum Aggregate { case sum, min, max }

/// Redis's zunionInterAggregate; a SUM of inf and -inf is 0 by Redis's convention, not NaN.
@inline(__always) func aggregate(_ target: inout Double, _ value: Double, _ how: Aggregate) {
    switch how {
    case .sum:
        target += value
        if target.isNaN { target = 0 }
    case .min: if value < target { target = value }
    case .max: if value > target { target = value }
    }
}

/// Redis's zunionInterDiffGenericCommand for ZUNION / ZINTER / ZDIFF [numkeys key ... options],
/// their STORE forms (destination first) and ZINTERCARD.
///
/// Floating-point sums depend on their order, so the order is Redis's: inputs sorted (stably) by size for
/// union and intersection (ZDIFF keeps the first key first), a missing key counting as an empty set;
/// an intersection starts from the smallest input and aggregates the others in that order.
/// An input may also be a plain set, whose members all score 1 (`ZSetOperand`), as in Redis.
private func zsetOperation(_ c: Client, _ op: SetOperation, store: Bool, cardinalityOnly: Bool = false) {
    let numkeysIndex = store ? 2 : 1
    guard let setCount = c.int64Arg(numkeysIndex) else { return }
    if setCount < 1 {
        return c.reply.error("ERR at least 1 input key is needed for '\(c.argString(0).lowercased())' command")
    }
    if setCount > Int64(c.argc - numkeysIndex - 1) { return c.replySyntaxError() }
    let n = Int(setCount)

    // Types are checked before the options are parsed (so WRONGTYPE wins over a bad option), as in Redis;
    // the inputs are reads (keyspace hits and misses) for the STORE forms too.
    let now = c.now
    var inputs: [(set: ZSetOperand?, weight: Double)] = []
    inputs.reserveCapacity(n)
    for i in 0..<n {
        let key = c.arg(numkeysIndex + 1 + i)
        let value = c.db.lookup(key, now: now)
        switch value {
        case nil: inputs.append((nil, 1))
        case .sortedSet(let set)?: inputs.append((.sorted(set), 1))
        case .set?, .inlineIntset?: inputs.append((.plain(value!.setForReading!), 1))
        default: return c.replyWrongType()
        }
    }

    var how = Aggregate.sum
    var withScores = false
    var limit = 0
    var j = numkeysIndex + 1 + n
    while j < c.argc {
        let remaining = c.argc - j
        if op != .diff && !cardinalityOnly && remaining >= n + 1 && argOptionIs(c, j, "weights") {
            for i in 0..<n {
                guard let w = parseDouble(c.arg(j + 1 + i)) else {
                    return c.reply.error("ERR weight value is not a float")
                }
                inputs[i].weight = w
            }
            j += n + 1
        } else if op != .diff && !cardinalityOnly && remaining >= 2 && argOptionIs(c, j, "aggregate") {
            if argOptionIs(c, j + 1, "sum") { how = .sum }
            else if argOptionIs(c, j + 1, "min") { how = .min }
            else if argOptionIs(c, j + 1, "max") { how = .max }
            else { return c.replySyntaxError() }
            j += 2
        } else if !store && !cardinalityOnly && argOptionIs(c, j, "withscores") {
            withScores = true
            j += 1
        } else if cardinalityOnly && remaining >= 2 && argOptionIs(c, j, "limit") {
            guard let l = int64Arg(c, j + 1, in: 0...Int64.max, orError: "ERR LIMIT can't be negative") else {
                return
            }
            limit = l
            j += 2
        } else {
            return c.replySyntaxError()
        }
    }

    if op != .diff {
        // Swift's sort is stable, like glibc's qsort (a merge sort) on these small arrays.
        inputs.sort { ($0.set?.count ?? 0) < ($1.set?.count ?? 0) }
    }

    if cardinalityOnly {
        return c.reply.integer(intersectionCount(inputs, limit: limit))
    }
    var result: [SortedSet.Element]
    switch op {
    case .union: result = union(inputs, how)
    case .inter: result = intersection(inputs, how)
    case .diff: result = difference(inputs)
    }

    if store {
        let destination = c.argBytes(1)
        if result.isEmpty {
            c.db.remove(destination)
            return c.reply.integer(0)
        }
        let event: KeyspaceEvent = switch op {
        case .union: .zunionstore
        case .inter: .zinterstore
        case .diff: .zdiffstore
        }
        c.db.set(destination, .sortedSet(makeStoredSet(result)), event: event)
        return c.reply.integer(result.count)
    }
    result.sort { $0.score < $1.score || ($0.score == $1.score && $0.member < $1.member) }
    let out = ScoredReply(c, withScores: withScores)
    out.header(result.count)
    for (member, score) in result { out.element(member, score) }
}

/// An input of the ZUNION family (Redis's zsetopsrc): a sorted set, or a plain set whose members all have
/// score 1 (Redis's zuiNext / zuiFind give a set member the score 1.0; weights apply as to any score).
enum ZSetOperand {
    case sorted(SortedSet)
    case plain(SetValue)

    var count: Int {
        switch self {
        case .sorted(let set): return set.count
        case .plain(let set): return set.count
        }
    }

    var isEmpty: Bool { count == 0 }

    /// Every member with its score: a sorted set in score order, a plain set in its own order.
    func forEach(_ body: (ByteString, Double) -> Void) {
        switch self {
        case .sorted(let set): set.forEach(body)
        case .plain(let set): set.forEach { body($0.byteString, 1) }
        }
    }

    func score(of member: ByteString) -> Double? {
        switch self {
        case .sorted(let set): return set.score(of: member)
        case .plain(let set): return member.withUnsafeBytes { set.contains($0) } ? 1 : nil
        }
    }
}

/// The weighted score Redis starts from; 0 * inf is NaN, which Redis turns into 0.
@inline(__always) private func weighted(_ score: Double, _ weight: Double) -> Double {
    let s = score * weight
    return s.isNaN ? 0 : s
}

private func union(_ inputs: [(set: ZSetOperand?, weight: Double)], _ how: Aggregate) -> [SortedSet.Element] {
    var scores: [ByteString: Double] = [:]
    if let largest = inputs.last?.set?.count { scores.reserveCapacity(largest) }
    for input in inputs {
        input.set?.forEach { member, score in
            let value = weighted(score, input.weight)
            if let index = scores.index(forKey: member) {
                aggregate(&scores.values[index], value, how)
            } else {
                scores[member] = value
            }
        }
    }
    return scores.map { ($0.key, $0.value) }
}

private func intersection(_ inputs: [(set: ZSetOperand?, weight: Double)], _ how: Aggregate) -> [SortedSet.Element] {
    var result: [SortedSet.Element] = []
    forEachInIntersection(inputs, how) { member, score in
        result.append((member, score))
        return true
    }
    return result
}

/// ZINTERCARD: stops at `limit` when it is not 0.
private func intersectionCount(_ inputs: [(set: ZSetOperand?, weight: Double)], limit: Int) -> Int {
    var count = 0
    forEachInIntersection(inputs, .sum) { _, _ in
        count += 1
        return limit == 0 || count < limit
    }
    return count
}

/// Calls `body` with each element of the intersection and its aggregated score, walking the smallest
/// input (the first: inputs are sorted by size) in order, until `body` returns false.
private func forEachInIntersection(_ inputs: [(set: ZSetOperand?, weight: Double)], _ how: Aggregate,
                                   _ body: (ByteString, Double) -> Bool) {
    guard let first = inputs[0].set, !first.isEmpty else { return }
    var going = true
    first.forEach { member, score in
        guard going else { return }
        var total = weighted(score, inputs[0].weight)
        for input in inputs.dropFirst() {
            guard let other = input.set?.score(of: member) else { return }
            aggregate(&total, other * input.weight, how)
        }
        going = body(member, total)
    }
}

/// The first input's elements that no other input holds, with the first input's scores.
private func difference(_ inputs: [(set: ZSetOperand?, weight: Double)]) -> [SortedSet.Element] {
    guard let first = inputs[0].set else { return [] }
    let others = inputs.dropFirst().compactMap { $0.set }
    var result: [SortedSet.Element] = []
    first.forEach { member, score in
        if !others.contains(where: { $0.score(of: member) != nil }) { result.append((member, score)) }
    }
    return result
}

/// A *STORE result as Redis leaves it: built as a skiplist, then converted to a listpack when it fits
/// (zsetConvertToListpackIfNeeded), which turns -0 scores into 0.
private func makeStoredSet(_ elements: [SortedSet.Element]) -> SortedSet {
    let set = SortedSet()
    set.skiplistEncoded = elements.count > zsetMaxListpackEntries
        || elements.contains { $0.member.count > zsetMaxListpackValue }
    for (member, score) in elements { set.set(member: member, score: set.storable(score)) }
    return set
}

// MARK: - ZSCAN

/// ZSCAN key cursor [MATCH pattern] [COUNT count]. As in Redis, the cursor is parsed first, then the key is
/// looked up, then the options. A set Redis would hold as a listpack is returned whole with cursor 0
/// (whatever the cursor), as Redis does; a larger one is walked with `SortedSet.scan`'s cursor. MATCH
/// filters members after collecting, so a call may return fewer elements than COUNT.
private func zscan(_ c: Client) {
    guard let cursor = parseScanCursor(c.arg(2)) else { return c.reply.error("ERR invalid cursor") }
    guard let set = readSet(c, 1, orReply: replyEmptyScan) else { return }
    guard let (count, pattern) = collectionScanOptions(c) else { return }
    var batch: [SortedSet.Element] = []
    let next: UInt64
    if set.skiplistEncoded {
        next = set.scan(cursor: cursor, count: count) { member, score in batch.append((member, score)) }
    } else {
        next = 0
        set.forEach { member, score in batch.append((member, score)) }
    }
    if let pattern {
        batch.removeAll { element in
            !element.member.withUnsafeBytes { globMatch(pattern: pattern, string: $0) }
        }
    }
    c.reply.array(2)
    c.reply.bulk(formatUInt64(next))
    c.reply.array(batch.count * 2)
    for (member, score) in batch {
        c.reply.bulk(member)
        c.reply.bulk(formatDouble(score))
    }
}

private func replyEmptyScan(_ c: Client) {
    c.reply.array(2)
    c.reply.bulk("0")
    c.reply.array(0)
}

private func formatUInt64(_ value: UInt64) -> String { String(value) }

