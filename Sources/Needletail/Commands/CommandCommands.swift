import Glibc

/// COMMAND: the command table described to clients. redis-cli builds its hints from COMMAND DOCS, cluster
/// clients read key positions from COMMAND INFO and COMMAND GETKEYS. Replies as redis-server 7.0.
///
/// Two sources meet here. The table (CommandTable.swift and each family's list) says what we decide:
/// name, arity, flags, first/last/step key, group, since, summary, complexity. What is Redis's data rather
/// than our decision (COMMAND DOCS arguments and history, the ACL categories Redis declares explicitly,
/// COMMAND INFO tips and key specifications) is generated from a real redis-server by
/// tools/gen-command-docs.py into CommandDocs.swift. A command the generated data does not know yet still
/// answers, with key specs approximated from first/last/step and ACL categories derived from its group.
///
/// Commands are listed in name order; Redis lists them in its hash table's order, which changes from one
/// start to the next (its tips say `nondeterministic_output_order`).

let commandCommands: [Command] = [
    Command("command", arity: -1, flags: [.loading, .stale, .sentinel], group: "server", since: "2.8.13",
            summary: "Get array of Redis command details",
            complexity: "O(N) where N is the total number of Redis commands", subcommands: [
        Command("count", arity: 2, flags: [.loading, .stale, .sentinel], group: "server", since: "2.8.13",
                summary: "Get total number of Redis commands", complexity: "O(1)", handler: commandCount),
        Command("list", arity: -2, flags: [.loading, .stale, .sentinel], group: "server", since: "7.0.0",
                summary: "Get an array of Redis command names",
                complexity: "O(N) where N is the total number of Redis commands", handler: commandList),
        Command("info", arity: -2, flags: [.loading, .stale, .sentinel], group: "server", since: "2.8.13",
                summary: "Get array of specific Redis command details, or all when no argument is given.",
                complexity: "O(N) where N is the number of commands to look up", handler: commandInfo),
        Command("docs", arity: -2, flags: [.loading, .stale, .sentinel], group: "server", since: "7.0.0",
                summary: "Get array of specific Redis command documentation",
                complexity: "O(N) where N is the number of commands to look up", handler: commandDocs),
        Command("getkeys", arity: -4, flags: [.loading, .stale, .sentinel], group: "server", since: "2.8.13",
                summary: "Extract keys given a full Redis command",
                complexity: "O(N) where N is the number of arguments to the command", handler: commandGetKeys),
        Command("getkeysandflags", arity: -4, flags: [.loading, .stale, .sentinel], group: "server", since: "7.0.0",
                summary: "Extract keys and access flags given a full Redis command",
                complexity: "O(N) where N is the number of arguments to the command",
                handler: commandGetKeysAndFlags),
        Command("help", arity: 2, flags: [.loading, .stale, .sentinel], group: "server", since: "5.0.0",
                summary: "Show helpful text about the different subcommands", complexity: "O(1)",
                handler: commandHelp),
    ], handler: commandAll),
]

// MARK: - Handlers

private func commandAll(_ c: Client) {
    let all = c.server.commands.all
    c.reply.array(all.count)
    for command in all { replyCommandInfo(c, command) }
}

private func commandCount(_ c: Client) { c.reply.integer(c.server.commands.count) }

/// COMMAND INFO [name ...]: every command without names; a null for a name that is not a command.
private func commandInfo(_ c: Client) {
    if c.argc == 2 { return commandAll(c) }
    c.reply.array(c.argc - 2)
    for i in 2..<c.argc {
        if let command = c.server.commands.command(fullName: c.argBytes(i)) {
            replyCommandInfo(c, command)
        } else {
            c.reply.null()
        }
    }
}

/// COMMAND DOCS [name ...]: a map from name to docs; names that are not commands are left out.
private func commandDocs(_ c: Client) {
    var found: [Command] = []
    if c.argc == 2 {
        found = c.server.commands.all
    } else {
        for i in 2..<c.argc {
            if let command = c.server.commands.command(fullName: c.argBytes(i)) { found.append(command) }
        }
    }
    c.reply.map(found.count)
    for command in found {
        c.reply.bulk(command.fullName)
        replyCommandDocs(c, command)
    }
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]
private func commandList(_ c: Client) {
    var filter: (Command) -> Bool = { _ in true }
    if c.argc != 2 {
        guard c.argc == 5 && c.argIs(2, "filterby") else { return c.replySyntaxError() }
        let argument = c.argBytes(4)
        if c.argIs(3, "module") {
            filter = { _ in false }  // no modules can be loaded
        } else if c.argIs(3, "aclcat") {
            let category = "@" + argument.string.lowercased()
            filter = { aclCategories(of: $0).contains(category) }
        } else if c.argIs(3, "pattern") {
            filter = { command in
                var name = command.fullName
                return name.withUTF8 { n in
                    argument.withUnsafeBytes { globMatch(pattern: $0, string: UnsafeRawBufferPointer(n), caseInsensitive: true) }
                }
            }
        } else {
            return c.replySyntaxError()
        }
    }
    var names: [String] = []
    for command in c.server.commands.all {
        if filter(command) { names.append(command.fullName) }
        for sub in command.sortedSubcommands where filter(sub) { names.append(sub.fullName) }
    }
    c.reply.array(names.count)
    for name in names { c.reply.bulk(name) }
}

private func commandGetKeys(_ c: Client) {
    guard let keys = getKeysOrReplyError(c) else { return }
    c.reply.array(keys.count)
    for key in keys { c.reply.bulk(c.arg(key.position)) }
}

private func commandGetKeysAndFlags(_ c: Client) {
    guard let keys = getKeysOrReplyError(c) else { return }
    c.reply.array(keys.count)
    for key in keys {
        c.reply.array(2)
        c.reply.bulk(c.arg(key.position))
        c.reply.set(key.flags.count)
        for flag in key.flags { c.reply.simple(flag) }
    }
}

private func commandHelp(_ c: Client) {
    replyHelp(c, "COMMAND", [
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
    ])
}

// MARK: - COMMAND INFO

/// Flags Redis keeps out of COMMAND INFO on purpose.
private let hiddenFlags: CommandFlags = [.mayReplicate, .protected, .sentinel, .onlySentinel]

/// [name, arity, flags, first key, last key, step, ACL categories, tips, key specs, subcommands]
private func replyCommandInfo(_ c: Client, _ command: Command) {
    let metadata = generatedCommandMetadata[command.fullName]
    c.reply.array(10)
    c.reply.bulk(command.fullName)
    c.reply.integer(command.arity)
    let flags = CommandFlags.names.filter { command.flags.contains($0.0) && !hiddenFlags.contains($0.0) }
    c.reply.set(flags.count)
    for (_, name) in flags { c.reply.simple(name) }
    c.reply.integer(command.firstKey)
    c.reply.integer(command.lastKey)
    c.reply.integer(command.keyStep)
    let categories = aclCategories(of: command)
    c.reply.set(categories.count)
    for category in categories { c.reply.simple(category) }
    replyDocValue(c, .set(metadata?.tips ?? []))
    replyDocValue(c, .set(metadata?.keySpecs ?? approximateKeySpecs(command).map(\.docValue)))
    let subcommands = command.sortedSubcommands
    if subcommands.isEmpty {
        c.reply.set(0)  // sic: Redis answers an empty set here, an array when there are subcommands
    } else {
        c.reply.array(subcommands.count)
        for sub in subcommands { replyCommandInfo(c, sub) }
    }
}

/// Redis's ACL categories, in the order Redis lists them.
private let aclCategoryOrder = ["@keyspace", "@read", "@write", "@set", "@sortedset", "@list", "@hash", "@string",
                                "@bitmap", "@hyperloglog", "@geo", "@stream", "@pubsub", "@admin", "@fast", "@slow",
                                "@blocking", "@dangerous", "@connection", "@transaction", "@scripting"]

/// The categories a command's group implies, for commands the generated data does not know.
private let groupCategories = ["generic": "@keyspace", "string": "@string", "sorted-set": "@sortedset",
                               "list": "@list", "hash": "@hash", "set": "@set", "bitmap": "@bitmap",
                               "hyperloglog": "@hyperloglog", "geo": "@geo", "stream": "@stream",
                               "pubsub": "@pubsub", "connection": "@connection", "transactions": "@transaction",
                               "scripting": "@scripting"]

/// The group as COMMAND DOCS names it: Redis's JSON files say "sorted_set", its replies "sorted-set".
func replyGroupName(_ group: String) -> String { String(group.map { $0 == "_" ? "-" : $0 }) }

/// As Redis computes them: those declared for the command (generated data, else implied by its group),
/// plus those its flags imply (setImplicitACLCategories).
func aclCategories(of command: Command) -> [String] {
    var set = Set<String>()
    if let declared = generatedCommandMetadata[command.fullName]?.acl {
        set.formUnion(declared)
    } else if !command.hasSubcommands, let category = groupCategories[replyGroupName(command.group)] {
        set.insert(category)
    }
    let flags = command.flags
    if flags.contains(.write) { set.insert("@write") }
    if flags.contains(.readonly) && !set.contains("@scripting") { set.insert("@read") }
    if flags.contains(.admin) { set.formUnion(["@admin", "@dangerous"]) }
    if flags.contains(.pubsub) { set.insert("@pubsub") }
    if flags.contains(.fast) { set.insert("@fast") }
    if flags.contains(.blocking) { set.insert("@blocking") }
    if !set.contains("@fast") { set.insert("@slow") }
    return aclCategoryOrder.filter { set.contains($0) }
}

// MARK: - COMMAND DOCS

/// summary, since, group, complexity from the table, then the generated fields (doc_flags, deprecated_since,
/// replaced_by, history, arguments), then subcommands: Redis's order.
private func replyCommandDocs(_ c: Client, _ command: Command) {
    var fields: [(String, DocValue)] = []
    if !command.summary.isEmpty { fields.append(("summary", .bulk(command.summary))) }
    if !command.since.isEmpty { fields.append(("since", .bulk(command.since))) }
    fields.append(("group", .bulk(replyGroupName(command.group))))
    if !command.complexity.isEmpty { fields.append(("complexity", .bulk(command.complexity))) }
    fields += generatedCommandMetadata[command.fullName]?.doc ?? []
    let subcommands = command.sortedSubcommands
    c.reply.map(fields.count + (subcommands.isEmpty ? 0 : 1))
    for (key, value) in fields {
        c.reply.bulk(key)
        replyDocValue(c, value)
    }
    if !subcommands.isEmpty {
        c.reply.bulk("subcommands")
        c.reply.map(subcommands.count)
        for sub in subcommands {
            c.reply.bulk(sub.fullName)
            replyCommandDocs(c, sub)
        }
    }
}

private func replyDocValue(_ c: Client, _ value: DocValue) {
    switch value {
    case .map(let pairs):
        c.reply.map(pairs.count)
        for (key, value) in pairs {
            c.reply.bulk(key)
            replyDocValue(c, value)
        }
    case .array(let items):
        c.reply.array(items.count)
        for item in items { replyDocValue(c, item) }
    case .set(let items):
        c.reply.set(items.count)
        for item in items { replyDocValue(c, item) }
    case .bulk(let text): c.reply.bulk(text)
    case .simple(let text): c.reply.simple(text)
    case .integer(let n): c.reply.integer(n)
    }
}

// MARK: - Key extraction (COMMAND GETKEYS)

/// A key specification, as Redis 7 describes where a command's keys are: where the search begins (an
/// argument index, or after a keyword) and how keys are found from there (a range, or a count argument).
struct KeySpec {
    enum BeginSearch {
        case index(Int)
        case keyword(String, startFrom: Int)
        /// Keys only the command's own routine finds (SORT's BY/GET patterns and STORE).
        case unknown
    }
    enum FindKeys {
        /// `lastKey` relative to the first key (negative: from the end); `limit` > 1 divides the rest.
        case range(lastKey: Int, step: Int, limit: Int)
        /// The argument at `countIndex` (relative to the begin) holds the number of keys, which start at
        /// `firstKey` (relative too).
        case keyNumber(countIndex: Int, firstKey: Int, step: Int)
        case unknown
    }
    var flags: [String]
    var begin: BeginSearch
    var find: FindKeys

    init(flags: [String], begin: BeginSearch, find: FindKeys) {
        self.flags = flags
        self.begin = begin
        self.find = find
    }

    /// From the generated data; nil when the spec has a shape we do not know.
    init?(_ value: DocValue) {
        guard let begin = value["begin_search"], let find = value["find_keys"],
              let beginSpec = begin["spec"], let findSpec = find["spec"] else { return nil }
        flags = value["flags"]?.items.compactMap(\.text) ?? []
        switch begin["type"]?.text {
        case "index":
            guard let index = beginSpec["index"]?.integer else { return nil }
            self.begin = .index(index)
        case "keyword":
            guard let keyword = beginSpec["keyword"]?.text, let from = beginSpec["startfrom"]?.integer else { return nil }
            self.begin = .keyword(keyword, startFrom: from)
        case "unknown":
            self.begin = .unknown
        default:
            return nil
        }
        switch find["type"]?.text {
        case "range":
            guard let last = findSpec["lastkey"]?.integer, let step = findSpec["keystep"]?.integer,
                  let limit = findSpec["limit"]?.integer else { return nil }
            self.find = .range(lastKey: last, step: step, limit: limit)
        case "keynum":
            guard let countIndex = findSpec["keynumidx"]?.integer, let first = findSpec["firstkey"]?.integer,
                  let step = findSpec["keystep"]?.integer else { return nil }
            self.find = .keyNumber(countIndex: countIndex, firstKey: first, step: step)
        case "unknown":
            self.find = .unknown
        default:
            return nil
        }
    }

    var docValue: DocValue {
        let beginValue: DocValue
        switch begin {
        case .index(let index):
            beginValue = .map([("type", .bulk("index")), ("spec", .map([("index", .integer(index))]))])
        case .keyword(let keyword, let from):
            beginValue = .map([("type", .bulk("keyword")),
                               ("spec", .map([("keyword", .bulk(keyword)), ("startfrom", .integer(from))]))])
        case .unknown:
            beginValue = .map([("type", .bulk("unknown")), ("spec", .map([]))])
        }
        let findValue: DocValue
        switch find {
        case .range(let last, let step, let limit):
            findValue = .map([("type", .bulk("range")), ("spec", .map([("lastkey", .integer(last)),
                              ("keystep", .integer(step)), ("limit", .integer(limit))]))])
        case .keyNumber(let countIndex, let first, let step):
            findValue = .map([("type", .bulk("keynum")), ("spec", .map([("keynumidx", .integer(countIndex)),
                              ("firstkey", .integer(first)), ("keystep", .integer(step))]))])
        case .unknown:
            findValue = .map([("type", .bulk("unknown")), ("spec", .map([]))])
        }
        return .map([("flags", .set(flags.map { .simple($0) })), ("begin_search", beginValue), ("find_keys", findValue)])
    }
}

/// The command's key specs: generated from Redis, else one range spec from the table's first/last/step
/// (flags guessed from readonly/write).
func keySpecs(of command: Command) -> [KeySpec] {
    if let generated = generatedCommandMetadata[command.fullName]?.keySpecs {
        return generated.compactMap(KeySpec.init)
    }
    return approximateKeySpecs(command)
}

private func approximateKeySpecs(_ command: Command) -> [KeySpec] {
    guard command.firstKey > 0 else { return [] }
    let last = command.lastKey >= 0 ? command.lastKey - command.firstKey : command.lastKey
    let flags = command.flags.contains(.write) ? ["RW", "access", "update"] : ["RO", "access"]
    return [KeySpec(flags: flags, begin: .index(command.firstKey),
                    find: .range(lastKey: last, step: max(1, command.keyStep), limit: 0))]
}

/// Key positions in `args` (args[0] is the command name), as Redis's getKeysUsingKeySpecs; nil when the
/// arguments do not fit the specs. Specs marked not_key are skipped. Where Redis would fall back to a
/// command-specific routine (incomplete or variable-flags specs), the keys the specs find are returned,
/// with the spec's flags minus `variable_flags` (see `argumentDependentKeyFlags` for the exceptions).
func keyPositions(_ command: Command, _ args: [ByteString]) -> [(position: Int, flags: [String])]? {
    if let routine = commandKeyRoutines[command.fullName] { return routine(args) }
    let keys = keyPositions(keySpecs(of: command), args)
    if keys == nil, let layout = genericKeyLayouts[command.fullName] { return genericGetKeys(layout, args) }
    guard let flagsOf = argumentDependentKeyFlags[command.fullName] else { return keys }
    return keys?.map { ($0.position, flagsOf(args)) }
}

/// Redis's getkeys procedures for commands whose specs cannot say where their keys are.
private let commandKeyRoutines: [String: ([ByteString]) -> [(position: Int, flags: [String])]] = [
    // sortGetKeys: the sorted key, and the destination of the last STORE. Options are skipped with their
    // arguments (LIMIT 2, GET and BY 1); any other word is taken as an option without arguments.
    "sort": { args in
        var keys: [(position: Int, flags: [String])] = [(1, ["RO", "access"])]
        var store: Int?
        var i = 2
        while i < args.count {
            let word = args[i].lowercased()
            if word == ByteString("limit") { i += 2 }
            else if word == ByteString("get") || word == ByteString("by") { i += 1 }
            else if word == ByteString("store") && i + 1 < args.count { store = i + 1 }
            i += 1
        }
        if let store { keys.append((store, ["OW", "update"])) }
        return keys
    },
    // sortROGetKeys: only the sorted key.
    "sort_ro": { _ in [(1, ["RO", "access"])] },
]

/// Where Redis's genericGetKeys finds the keys of the commands with a key count (EVAL's numkeys, ZUNIONSTORE's
/// numkeys...): the store key's position (0: none), the count's, the first key's. Redis asks it when the
/// key specs reject the count (`1.5`, `01`, `+1`, ` 1` are not integers to the specs but are 1 to atoi).
private let genericKeyLayouts: [String: (store: Int, count: Int, first: Int)] = [
    "zunionstore": (1, 2, 3), "zinterstore": (1, 2, 3), "zdiffstore": (1, 2, 3),
    "zunion": (0, 1, 2), "zinter": (0, 1, 2), "zdiff": (0, 1, 2),
    "eval": (0, 2, 3), "evalsha": (0, 2, 3), "eval_ro": (0, 2, 3), "evalsha_ro": (0, 2, 3),
    "fcall": (0, 2, 3), "fcall_ro": (0, 2, 3),
    "lmpop": (0, 1, 2), "blmpop": (0, 2, 3), "zmpop": (0, 1, 2), "bzmpop": (0, 2, 3),
    "sintercard": (0, 1, 2), "zintercard": (0, 1, 2),
]

/// Redis's genericGetKeys: the count read by C's atoi (as Redis reads it), the keys after it and then the
/// store key, without flags (so any key pattern of an ACL user admits them, as in Redis); nil when the
/// count is below 1 or more keys than there are arguments.
private func genericGetKeys(_ layout: (store: Int, count: Int, first: Int), _ args: [ByteString]) -> [(position: Int, flags: [String])]? {
    guard layout.count < args.count else { return nil }
    let count = Int((args[layout.count].bytes + [0]).withUnsafeBufferPointer { buffer in
        buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { atoi($0) }
    })
    guard count >= 1 && count <= args.count - layout.first else { return nil }
    var keys = (0..<count).map { (position: layout.first + $0, flags: [String]()) }
    if layout.store != 0 { keys.append((layout.store, [])) }
    return keys
}

/// Redis's own key routines for commands whose key flags depend on their arguments (specs marked
/// variable_flags); other such commands get their spec's flags.
private let argumentDependentKeyFlags: [String: ([ByteString]) -> [String]] = [
    // SET ... GET reads the old value; a plain SET overwrites it.
    "set": { args in args.dropFirst(3).contains { $0.lowercased() == "get" } ? ["RW", "access", "update"] : ["OW", "update"] },
    // bitfieldGetKeys: read-only while every operation is a complete GET (or OVERFLOW); a SET, an INCRBY
    // or anything Redis cannot parse makes it a write.
    "bitfield": { args in bitfieldIsReadOnly(args) ? ["RO", "access"] : ["RW", "access", "update"] },
]

/// Whether a BITFIELD's operations only read (Redis's bitfieldGetKeys walk).
func bitfieldIsReadOnly(_ args: [ByteString]) -> Bool {
    var i = 2
    while i < args.count {
        let left = args.count - i - 1
        let word = args[i].lowercased()
        if word == "get" && left >= 2 {
            i += 2
        } else if word == "overflow" && left >= 1 {
            i += 1
        } else {
            return false  // SET, INCRBY, or a syntax error: safer to assume a write, as Redis
        }
        i += 1
    }
    return true
}

/// Whether a command's key flags depend on its arguments beyond what `ACLKeyPlan` handles itself (SET's GET).
func hasArgumentDependentKeyFlags(_ command: Command) -> Bool {
    command.fullName != "set" && argumentDependentKeyFlags[command.fullName] != nil
}

func keyPositions(_ specs: [KeySpec], _ args: [ByteString]) -> [(position: Int, flags: [String])]? {
    var keys: [(position: Int, flags: [String])] = []
    let argc = args.count
    for spec in specs where !spec.flags.contains("not_key") {
        var first = 0
        switch spec.begin {
        case .index(let index):
            first = index
        case .keyword(let keyword, let startFrom):
            let start = startFrom > 0 ? startFrom : argc + startFrom
            // Forwards up to the one-but-last argument (a keyword needs a key after it), or backwards.
            let indexes = startFrom > 0 ? Array(stride(from: start, to: argc - 1, by: 1))
                                        : Array(stride(from: start, to: 0, by: -1))
            let word = ByteString(keyword).lowercased()
            for i in indexes where i >= 1 && i < argc && args[i].lowercased() == word {
                first = i + 1
                break
            }
            if first == 0 { continue }  // keyword absent: no keys from this spec
        case .unknown:
            continue  // only the command's own routine (commandKeyRoutines) finds these
        }
        var last: Int
        var step: Int
        switch spec.find {
        case .range(let lastKey, let keyStep, let limit):
            step = keyStep
            if lastKey >= 0 {
                last = first + lastKey
            } else if limit == 0 {
                last = argc + lastKey
            } else {
                last = first + ((argc - first) / limit + lastKey)
            }
        case .keyNumber(let countIndex, let firstKey, let keyStep):
            step = keyStep
            guard first + countIndex < argc,
                  let count = args[first + countIndex].withUnsafeBytes({ parseInt64($0) }), count >= 0,
                  count < Int64(argc) else { return nil }
            first += firstKey
            last = first + Int(count) - 1
        case .unknown:
            continue
        }
        if last >= argc || last < first || first >= argc {
            if spec.flags.contains("incomplete") { continue }
            return nil
        }
        let flags = spec.flags.filter { $0 != "variable_flags" && $0 != "incomplete" }
        for i in stride(from: first, through: last, by: max(1, step)) { keys.append((i, flags)) }
    }
    return keys
}

/// Shared by GETKEYS and GETKEYSANDFLAGS: positions are in the client's arguments.
private func getKeysOrReplyError(_ c: Client) -> [(position: Int, flags: [String])]? {
    var command = c.server.commands.lookup(c.arg(2))
    if let container = command, container.hasSubcommands, c.argc > 3 {
        command = container.subcommand(named: c.argBytes(3).lowercased())
    }
    guard let command else {
        c.reply.error("ERR Invalid command specified")
        return nil
    }
    guard !keySpecs(of: command).isEmpty || command.flags.contains(.movableKeys) else {
        c.reply.error("ERR The command has no key arguments")
        return nil
    }
    guard command.acceptsArgumentCount(c.argc - 2) else {
        c.reply.error("ERR Invalid number of arguments specified for command")
        return nil
    }
    let args = (2..<c.argc).map { c.argBytes($0) }
    guard let keys = keyPositions(command, args) else {
        if command.flags.contains(.noMandatoryKeys) {
            c.reply.array(0)
        } else {
            c.reply.error("ERR Invalid arguments specified for command")
        }
        return nil
    }
    return keys.map { ($0.position + 2, $0.flags) }
}

extension CommandTable {
    /// A command by its full name, "get" or "client|kill", case-insensitively (COMMAND INFO, COMMAND DOCS).
    func command(fullName: ByteString) -> Command? {
        let parts = fullName.bytes.split(separator: UInt8(ascii: "|"), maxSplits: 1, omittingEmptySubsequences: false)
        guard let base = parts.first.flatMap({ part in part.withUnsafeBytes { lookup($0) } }) else { return nil }
        guard parts.count == 2 else { return base }
        return base.subcommand(named: ByteString(parts[1]).lowercased())
    }
}

// MARK: - Generated metadata

/// A reply value replayed from the generated data, keeping RESP3's types (map, set, simple string) so it
/// can be written in either protocol.
indirect enum DocValue: Equatable {
    case map([(String, DocValue)])
    case array([DocValue])
    case set([DocValue])
    case bulk(String)
    case simple(String)
    case integer(Int)

    subscript(key: String) -> DocValue? {
        guard case .map(let pairs) = self else { return nil }
        return pairs.first { $0.0 == key }?.1
    }

    var items: [DocValue] {
        switch self {
        case .array(let items), .set(let items): return items
        default: return []
        }
    }

    var text: String? {
        switch self {
        case .bulk(let s), .simple(let s): return s
        default: return nil
        }
    }

    var integer: Int? {
        if case .integer(let n) = self { return n }
        return nil
    }

    static func == (a: DocValue, b: DocValue) -> Bool {
        switch (a, b) {
        case (.map(let x), .map(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.array(let x), .array(let y)), (.set(let x), .set(let y)): return x == y
        case (.bulk(let x), .bulk(let y)), (.simple(let x), .simple(let y)): return x == y
        case (.integer(let x), .integer(let y)): return x == y
        default: return false
        }
    }
}

/// What the generated data says of one command (see tools/gen-command-docs.py).
struct CommandMetadata {
    /// COMMAND DOCS fields beyond the table's: doc_flags, deprecated_since, replaced_by, history, arguments.
    var doc: [(String, DocValue)]
    /// ACL categories Redis declares explicitly ("@keyspace"); those implied by flags are derived.
    var acl: [String]
    var tips: [DocValue]
    var keySpecs: [DocValue]
}

/// Parsed on first use. Lines that do not parse are left out (the command then falls back to the table),
/// and CommandTableTests checks that every line parses.
let generatedCommandMetadata: [String: CommandMetadata] = parseCommandDocs(commandDocsData)

func parseCommandDocs(_ data: String) -> [String: CommandMetadata] {
    var result: [String: CommandMetadata] = [:]
    for line in data.split(separator: "\n") {
        guard let space = line.firstIndex(of: " ") else { continue }
        var parser = DocParser(Array(line[line.index(after: space)...].utf8))
        guard let value = parser.parse(), case .map = value else { continue }
        guard case .map(let doc)? = value["doc"] else { continue }
        result[String(line[..<space])] = CommandMetadata(
            doc: doc, acl: value["acl"]?.items.compactMap(\.text) ?? [],
            tips: value["tips"]?.items ?? [], keySpecs: value["key_specs"]?.items ?? [])
    }
    return result
}

/// Reads the notation tools/gen-command-docs.py writes: {key:value,...} map, [...] array, <...> set,
/// "..." bulk string (\\ and \" escaped), +word simple string, 123 integer.
struct DocParser {
    private let bytes: [UInt8]
    private var i = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The whole input as one value, or nil if it is malformed.
    mutating func parse() -> DocValue? {
        guard let value = value(), i == bytes.count else { return nil }
        return value
    }

    private mutating func value() -> DocValue? {
        guard i < bytes.count else { return nil }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var pairs: [(String, DocValue)] = []
            if take(UInt8(ascii: "}")) { return .map(pairs) }
            repeat {
                guard let key = key(), take(UInt8(ascii: ":")), let v = value() else { return nil }
                pairs.append((key, v))
            } while take(UInt8(ascii: ","))
            return take(UInt8(ascii: "}")) ? .map(pairs) : nil
        case UInt8(ascii: "["):
            i += 1
            return list(until: UInt8(ascii: "]")).map { .array($0) }
        case UInt8(ascii: "<"):
            i += 1
            return list(until: UInt8(ascii: ">")).map { .set($0) }
        case UInt8(ascii: "\""):
            return quoted().map { .bulk($0) }
        case UInt8(ascii: "+"):
            i += 1
            let start = i
            while i < bytes.count && !",]}>".utf8.contains(bytes[i]) { i += 1 }
            return .simple(String(decoding: bytes[start..<i], as: UTF8.self))
        default:
            let start = i
            if bytes[i] == UInt8(ascii: "-") { i += 1 }
            while i < bytes.count && bytes[i] >= UInt8(ascii: "0") && bytes[i] <= UInt8(ascii: "9") { i += 1 }
            return Int(String(decoding: bytes[start..<i], as: UTF8.self)).map { .integer($0) }
        }
    }

    private mutating func list(until close: UInt8) -> [DocValue]? {
        var items: [DocValue] = []
        if take(close) { return items }
        repeat {
            guard let v = value() else { return nil }
            items.append(v)
        } while take(UInt8(ascii: ","))
        return take(close) ? items : nil
    }

    private mutating func key() -> String? {
        if i < bytes.count && bytes[i] == UInt8(ascii: "\"") { return quoted() }
        let start = i
        while i < bytes.count && bytes[i] != UInt8(ascii: ":") { i += 1 }
        return i > start ? String(decoding: bytes[start..<i], as: UTF8.self) : nil
    }

    private mutating func quoted() -> String? {
        i += 1
        var out: [UInt8] = []
        while i < bytes.count {
            let b = bytes[i]
            i += 1
            if b == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            if b == UInt8(ascii: "\\") {
                guard i < bytes.count else { return nil }
                out.append(bytes[i])
                i += 1
            } else {
                out.append(b)
            }
        }
        return nil
    }

    private mutating func take(_ byte: UInt8) -> Bool {
        guard i < bytes.count && bytes[i] == byte else { return false }
        i += 1
        return true
    }
}
