// Argument parsing and reply helpers shared by several command families: SCAN cursors, option names
// compared as Redis's strcasecmp compares them, the per-command random generator, the HELP and
// subcommand-syntax-error replies, the replies to a missing key, and the families' lookup-or-create for writes.

// MARK: - Replies to a missing key (the `orReply` of the families' lookups)

func replyNull(_ c: Client) { c.reply.null() }
func replyNullArray(_ c: Client) { c.reply.nullArray() }

// MARK: - The object at a key, for a write (Redis's *TypeLookupWriteOrCreate)

/// The object stored under argument 1, lent (`Database.StoredValue`: not retained, the keyspace holds it),
/// or, for a missing key, the one `create` made and added (nil when `create` replied instead, as XX or
/// LPUSHX do). Nil after WRONGTYPE. The hot writes (LPUSH, HSET, ZADD) edit what it returns in place.
@inline(__always) func objectForWrite<T: AnyObject>(_ c: Client, in db: Database,
                                                    _ stored: (Database.StoredValue) -> Unmanaged<T>?,
                                                    orCreate create: () -> T?) -> Unmanaged<T>? {
    if let found = db.lookupStored(c.arg(1), now: c.now, .write) {
        guard let object = stored(found) else {
            c.replyWrongType()
            return nil
        }
        return object
    }
    return create().map { Unmanaged.passUnretained($0) }
}

// MARK: - SCAN cursor

/// Parses a SCAN cursor as Redis does with strtoul: the text up to the first NUL, no leading space, an
/// optional sign (a minus wraps around, so "-1" is the largest cursor), decimal digits, no overflow, no
/// trailing bytes; the empty string is cursor 0.
func parseScanCursor(_ arg: UnsafeRawBufferPointer) -> UInt64? {
    let text = cStringPrefix(arg)
    if text.isEmpty { return 0 }
    let first = text[0]
    if first == 32 || (first >= 9 && first <= 13) { return nil }
    var i = 0
    let negative = first == UInt8(ascii: "-")
    if negative || first == UInt8(ascii: "+") { i = 1 }
    if i == text.count { return nil }
    var value: UInt64 = 0
    while i < text.count {
        let digit = text[i] &- UInt8(ascii: "0")
        guard digit <= 9 else { return nil }
        let (times10, o1) = value.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times10.addingReportingOverflow(UInt64(digit))
        if o1 || o2 { return nil }
        value = sum
        i += 1
    }
    return negative ? 0 &- value : value
}

/// The COUNT and MATCH options of HSCAN, SSCAN and ZSCAN, from argument 3 on, as Redis's scanGenericCommand
/// parses them: COUNT must be a positive integer, MATCH "*" matches everything (nil pattern), anything else is
/// a syntax error. nil after replying the error.
func collectionScanOptions(_ c: Client) -> (count: Int, pattern: UnsafeRawBufferPointer?)? {
    var count = 10
    var pattern: UnsafeRawBufferPointer?
    var i = 3
    while i < c.argc {
        let remaining = c.argc - i
        if argOptionIs(c, i, "count") && remaining >= 2 {
            guard let n = c.int64Arg(i + 1) else { return nil }
            if n < 1 {
                c.replySyntaxError()
                return nil
            }
            count = Int(n)
        } else if argOptionIs(c, i, "match") && remaining >= 2 {
            let p = c.arg(i + 1)
            pattern = p.count == 1 && p[0] == UInt8(ascii: "*") ? nil : p
        } else {
            c.replySyntaxError()
            return nil
        }
        i += 2
    }
    return (count, pattern)
}

// MARK: - Random replies

/// SplitMix64 seeded once per command from the system's generator: ZRANDMEMBER, SRANDMEMBER or HRANDFIELD
/// -1000000 must not make a million getrandom() calls.
struct FastRandom: RandomNumberGenerator {
    var state: UInt64
    init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: - C-string helpers

/// Redis reads option names and some arguments as C strings: only the bytes before the first NUL count.
func cStringPrefix(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
    guard let nul = bytes.firstIndex(of: 0) else { return bytes }
    return UnsafeRawBufferPointer(rebasing: bytes[0..<nul])
}

/// Whether argument `i` is the option `word`, compared as Redis's strcasecmp does.
func argOptionIs(_ c: Client, _ i: Int, _ word: StaticString) -> Bool { cStringEqualsIgnoringCase(c.arg(i), word) }

/// strcasecmp(argument, word): ASCII case-insensitive, the argument read up to its first NUL.
func cStringEqualsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ word: StaticString) -> Bool {
    let a = cStringPrefix(bytes)
    guard a.count == word.utf8CodeUnitCount else { return false }
    let w = word.utf8Start
    for j in 0..<a.count where asciiLower(a[j]) != asciiLower(w[j]) { return false }
    return true
}

// MARK: - Help replies

/// Redis's addReplyHelp: a header, the lines, then HELP, each a simple string.
func replyHelp(_ c: Client, _ command: String, _ lines: [String]) {
    c.reply.array(lines.count + 3)
    c.reply.simple("\(command) <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
    for line in lines { c.reply.simple(line) }
    c.reply.simple("HELP")
    c.reply.simple("    Prints this help.")
}

/// Redis's addReplySubcommandSyntaxError, for commands that parse their own subcommands.
func replySubcommandSyntaxError(_ c: Client, _ command: String) {
    c.reply.error(bytes: Array("ERR unknown subcommand or wrong number of arguments for '".utf8)
        + Array(c.arg(1).prefix(128)) + Array("'. Try \(command) HELP.".utf8))
}
