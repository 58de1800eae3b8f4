/// The command table: one declarative entry per command (and per subcommand of container commands such as
/// CLIENT or CONFIG). It drives dispatch, the arity and unknown-command errors, COMMAND / COMMAND INFO /
/// COMMAND DOCS / COMMAND GETKEYS, and key extraction. Each command family contributes its entries from its
/// own file (`Strings.swift` defines `stringCommands`, and so on); `CommandTable.standard` gathers them.

struct CommandFlags: OptionSet {
    let rawValue: UInt32
    static let write = CommandFlags(rawValue: 1 << 0)
    static let readonly = CommandFlags(rawValue: 1 << 1)
    static let denyoom = CommandFlags(rawValue: 1 << 2)
    static let admin = CommandFlags(rawValue: 1 << 3)
    static let pubsub = CommandFlags(rawValue: 1 << 4)
    static let noscript = CommandFlags(rawValue: 1 << 5)
    static let blocking = CommandFlags(rawValue: 1 << 6)
    static let loading = CommandFlags(rawValue: 1 << 7)
    static let stale = CommandFlags(rawValue: 1 << 8)
    static let skipMonitor = CommandFlags(rawValue: 1 << 9)
    static let skipSlowlog = CommandFlags(rawValue: 1 << 10)
    static let fast = CommandFlags(rawValue: 1 << 11)
    static let noAuth = CommandFlags(rawValue: 1 << 12)
    static let mayReplicate = CommandFlags(rawValue: 1 << 13)
    static let sentinel = CommandFlags(rawValue: 1 << 14)
    static let onlySentinel = CommandFlags(rawValue: 1 << 15)
    static let noMandatoryKeys = CommandFlags(rawValue: 1 << 16)
    static let protected = CommandFlags(rawValue: 1 << 17)
    static let noAsyncLoading = CommandFlags(rawValue: 1 << 18)
    static let noMulti = CommandFlags(rawValue: 1 << 19)
    static let movableKeys = CommandFlags(rawValue: 1 << 20)
    static let allowBusy = CommandFlags(rawValue: 1 << 21)
    static let asking = CommandFlags(rawValue: 1 << 22)
    /// Ours, not reported: runs in RESP2's subscribed state ((P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT,
    /// RESET), as Redis's processCommand lists them.
    static let allowedWhileSubscribed = CommandFlags(rawValue: 1 << 30)

    /// The names COMMAND INFO reports, in Redis's order.
    static let names: [(CommandFlags, String)] = [
        (.write, "write"), (.readonly, "readonly"), (.denyoom, "denyoom"), (.admin, "admin"),
        (.pubsub, "pubsub"), (.noscript, "noscript"), (.blocking, "blocking"), (.loading, "loading"),
        (.stale, "stale"), (.skipMonitor, "skip_monitor"), (.skipSlowlog, "skip_slowlog"), (.asking, "asking"), (.fast, "fast"),
        (.noAuth, "no_auth"), (.mayReplicate, "may_replicate"), (.noMandatoryKeys, "no_mandatory_keys"),
        (.protected, "protected"), (.noAsyncLoading, "no_async_loading"), (.noMulti, "no_multi"),
        (.movableKeys, "movablekeys"), (.allowBusy, "allow_busy"),
    ]
}

typealias CommandHandler = (Client) -> Void

/// What a command does while its client is in MULTI (Server/Transaction.swift).
enum TransactionRole {
    /// Queued, run by EXEC (almost every command).
    case queued
    /// Runs at once: DISCARD, MULTI, WATCH, QUIT, RESET (as Redis's processCommand exempts them).
    case immediate
    /// EXEC: runs at once, and a rejected EXEC ends the transaction.
    case exec
}

/// One command or subcommand. A class so the table, the dispatcher and per-command statistics share
/// one instance; it is created once at start-up.
final class Command {
    /// Lowercase name ("get"; "setname" for CLIENT SETNAME).
    let name: String
    /// Redis arity: positive = exactly, negative = at least |arity|; counts the command (and subcommand) names.
    let arity: Int
    let flags: CommandFlags
    /// Key positions (1-based argument index; last may be negative, counting from the end; 0 = no keys).
    let firstKey: Int
    let lastKey: Int
    let keyStep: Int
    let group: String
    let since: String
    let summary: String
    let complexity: String
    let handler: CommandHandler?
    let transactionRole: TransactionRole
    private let subcommands = HashTable<Command>()
    private(set) weak var parent: Command?

    // ACL (Security/): the command's bit in selectors, its categories, its subcommands' bits, how its keys
    // are found; set once when the server builds its ACL registry.
    @exclusivity(unchecked) var aclID = 0
    @exclusivity(unchecked) var aclCategoryMask: UInt32 = 0
    @exclusivity(unchecked) var aclSubcommandIDs: [Int] = []
    @exclusivity(unchecked) var aclKeys = ACLKeyPlan.empty
    /// PUBLISH/SPUBLISH (first argument), SUBSCRIBE/SSUBSCRIBE (every argument), PSUBSCRIBE (patterns).
    @exclusivity(unchecked) var aclChannels = ACLChannelUse.none

    // Statistics for INFO commandstats.
    @exclusivity(unchecked) var calls = 0
    @exclusivity(unchecked) var microseconds = 0
    @exclusivity(unchecked) var rejectedCalls = 0
    @exclusivity(unchecked) var failedCalls = 0
    /// Durations for INFO latencystats and LATENCY HISTOGRAM, from the first call (Server/Diagnostics.swift).
    @exclusivity(unchecked) var latencyHistogram: LatencyHistogram?

    init(_ name: String, arity: Int, flags: CommandFlags = [], keys: (Int, Int, Int) = (0, 0, 0),
         group: String, since: String = "1.0.0", summary: String = "", complexity: String = "",
         subcommands: [Command] = [], transactionRole: TransactionRole = .queued, handler: CommandHandler? = nil) {
        self.name = name
        self.arity = arity
        self.flags = flags
        (firstKey, lastKey, keyStep) = keys
        self.group = group
        self.since = since
        self.summary = summary
        self.complexity = complexity
        self.handler = handler
        self.transactionRole = transactionRole
        for sub in subcommands {
            sub.parent = self
            self.subcommands.updateValue(sub, forKey: ByteString(sub.name))
        }
    }

    /// "client|setname" for a subcommand, the name otherwise: the name Redis uses in errors and stats.
    var fullName: String { parent.map { "\($0.name)|\(name)" } ?? name }

    var hasSubcommands: Bool { !subcommands.isEmpty }

    func subcommand(named name: UnsafeRawBufferPointer) -> Command? { lookupFolded(subcommands, name) }
    func subcommand(named name: ByteString) -> Command? { name.withUnsafeBytes { subcommand(named: $0) } }

    var sortedSubcommands: [Command] { subcommands.values.map { $0 }.sorted { $0.name < $1.name } }

    /// Whether `argc` arguments satisfy the arity.
    @inline(__always) func acceptsArgumentCount(_ argc: Int) -> Bool {
        arity >= 0 ? argc == arity : argc >= -arity
    }

    /// Argument indexes of the keys in a request of `argc` arguments, from first/last/step.
    func keyIndexes(argc: Int) -> [Int] {
        guard firstKey > 0 else { return [] }
        let last = lastKey >= 0 ? lastKey : argc + lastKey
        guard last < argc, firstKey <= last else { return [] }
        return Array(stride(from: firstKey, through: last, by: max(keyStep, 1)))
    }
}

/// Every command the server knows, keyed by lowercase name.
struct CommandTable {
    private let commands = HashTable<Command>()
    private let cache = CommandCache()

    init(_ list: [Command]) {
        for command in list {
            let previous = commands.updateValue(command, forKey: ByteString(command.name))
            precondition(previous == nil, "duplicate command \(command.name)")
        }
    }

    /// The standard table: every family's commands.
    static func standard() -> CommandTable {
        CommandTable(connectionCommands + clientCommands + serverCommands + commandCommands + stringCommands + keyCommands
            + expiryCommands + sortedSetCommands + listCommands + setCommands + hashCommands + sortCommands
            + transactionCommands + memoryCommands + pubsubCommands + persistenceCommands + scriptingCommands
            + replicationCommands + bitmapCommands + hyperLogLogCommands + geoCommands + streamCommands
            + diagnosticsCommands + migrateCommands + aclCommands + lolwutCommands)
    }

    /// Looks up a command by name, case-insensitively, without allocating.
    @inline(__always) func lookup(_ name: UnsafeRawBufferPointer) -> Command? {
        lookupUnretained(name)?.takeUnretainedValue()
    }

    /// `lookup` for the request path: commands live as long as the server, so the one found is handed over
    /// unretained, and the caller borrows it (`_withUnsafeGuaranteedRef`) without a retain and a release.
    @inline(__always) func lookupUnretained(_ name: UnsafeRawBufferPointer) -> Unmanaged<Command>? {
        if let hit = cache.find(name) { return hit }
        guard let command = lookupFolded(commands, name) else { return nil }
        cache.insert(name, command)
        return Unmanaged.passUnretained(command)
    }

    var count: Int { commands.count }
    /// The commands (each once, renamed ones under their own name), by name.
    var all: [Command] { commands.values.map { $0 }.sorted { $0.name < $1.name } }

    /// `rename-command from to` (Redis's loadServerConfig): the command is found only under its new name, or
    /// not at all when `to` is empty, but keeps its own name wherever it is shown (COMMAND INFO and DOCS,
    /// commandstats, CLIENT LIST `cmd=`), as Redis re-adds the same redisCommand under another dict key. The
    /// config loader has checked that `from` exists and `to` does not.
    func rename(_ from: String, to: String) {
        guard let (_, command) = commands.removeValue(forKey: ByteString(from.lowercased())) else { return }
        if !to.isEmpty { _ = commands.updateValue(command, forKey: ByteString(to.lowercased())) }
        cache.removeAll()
    }
}

extension Server {
    /// Whether a command (not a subcommand) has this lowercase name: how the executable checks
    /// `rename-command` while loading redis.conf (`Config.commandExists`).
    public static func isCommandName(_ name: String) -> Bool { standardCommandNames.contains(name) }
    private static let standardCommandNames = Set(CommandTable.standard().all.map { $0.name })
}

/// Finds `name` in a table of lowercase names, ASCII-case-insensitively: names are folded into a stack
/// buffer first (no standard command name is longer than 32 bytes; a longer one can only be a name given by
/// `rename-command`, folded on the heap).
@inline(__always) private func lookupFolded(_ table: HashTable<Command>, _ name: UnsafeRawBufferPointer) -> Command? {
    guard name.count <= 32 else { return name.map { asciiLower($0) }.withUnsafeBytes { table.find($0) } }
    var folded: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    return withUnsafeMutableBytes(of: &folded) { buffer in
        for i in 0..<name.count { buffer[i] = asciiLower(name[i]) }
        return table.find(UnsafeRawBufferPointer(rebasing: buffer[0..<name.count]))
    }
}

/// A direct-mapped cache in front of the command table for names up to 16 bytes (all but a few): the name
/// is loaded into two words and ASCII-lowercased with word arithmetic, then compared with one slot, which
/// costs a fraction of a SipHash and a table probe. Commands live as long as the server, so slots hold them
/// unretained.
final class CommandCache {
    private struct Slot {
        var word0: UInt64 = 0
        var word1: UInt64 = 0
        var length = -1
        var command: Unmanaged<Command>?
    }
    private static let slotCount = 64
    private let slots = UnsafeMutablePointer<Slot>.allocate(capacity: CommandCache.slotCount)

    init() { slots.initialize(repeating: Slot(), count: CommandCache.slotCount) }
    deinit { slots.deallocate() }

    @inline(__always) func find(_ name: UnsafeRawBufferPointer) -> Unmanaged<Command>? {
        guard name.count <= 16 else { return nil }
        let (w0, w1) = CommandCache.foldedWords(name)
        let slot = slots + CommandCache.slotIndex(w0, w1, name.count)
        guard slot.pointee.length == name.count && slot.pointee.word0 == w0 && slot.pointee.word1 == w1 else { return nil }
        return slot.pointee.command
    }

    func removeAll() {
        for i in 0..<CommandCache.slotCount { slots[i] = Slot() }
    }

    func insert(_ name: UnsafeRawBufferPointer, _ command: Command) {
        guard name.count <= 16 else { return }
        let (w0, w1) = CommandCache.foldedWords(name)
        slots[CommandCache.slotIndex(w0, w1, name.count)] =
            Slot(word0: w0, word1: w1, length: name.count, command: Unmanaged.passUnretained(command))
    }

    @inline(__always) private static func slotIndex(_ w0: UInt64, _ w1: UInt64, _ length: Int) -> Int {
        Int(truncatingIfNeeded: ((w0 ^ (w1 &* 31) ^ UInt64(length)) &* 0x9E37_79B9_7F4A_7C15) >> 58)
    }

    /// The name's bytes (zero-padded to 16) as two little-endian words, ASCII letters lowercased.
    @inline(__always) private static func foldedWords(_ name: UnsafeRawBufferPointer) -> (UInt64, UInt64) {
        guard let p = name.baseAddress else { return (0, 0) }
        let n = name.count
        let words = n <= 8 ? (loadWord(p, count: n), 0) : (loadWord(p, count: 8), loadWord(p + 8, count: n - 8))
        return (lowercase(words.0), lowercase(words.1))
    }

    /// Adds 0x20 to every byte in 'A'...'Z' at once: per byte, bit 7 of (b + 0x3F) says b >= 'A' and bit 7
    /// of (b + 0x25) says b > 'Z' (on the low 7 bits, so no carry crosses bytes); bytes >= 0x80 are left alone.
    @inline(__always) private static func lowercase(_ x: UInt64) -> UInt64 {
        let low7 = x & 0x7F7F_7F7F_7F7F_7F7F
        let atLeastA = low7 &+ 0x3F3F_3F3F_3F3F_3F3F
        let aboveZ = low7 &+ 0x2525_2525_2525_2525
        let upper = atLeastA & ~aboveZ & ~x & 0x8080_8080_8080_8080
        return x | (upper >> 2)
    }
}
