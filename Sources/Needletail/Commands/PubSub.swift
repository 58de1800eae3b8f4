/// Pub/sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, SSUBSCRIBE, SUNSUBSCRIBE, PUBLISH,
/// SPUBLISH and PUBSUB's introspection. The index of subscriptions, delivery and keyspace notifications
/// live in Server/Subscriptions.swift.

private let subscribeFlags: CommandFlags = [.pubsub, .noscript, .loading, .stale, .allowedWhileSubscribed]
private let introspectionFlags: CommandFlags = [.pubsub, .loading, .stale]

let pubsubCommands: [Command] = [
    Command("subscribe", arity: -2, flags: subscribeFlags, group: "pubsub", since: "2.0.0",
            summary: "Listen for messages published to the given channels",
            complexity: "O(N) where N is the number of channels to subscribe to.") { subscribeGeneric($0, .channel) },
    Command("unsubscribe", arity: -1, flags: subscribeFlags, group: "pubsub", since: "2.0.0",
            summary: "Stop listening for messages posted to the given channels",
            complexity: "O(N) where N is the number of clients already subscribed to a channel.") {
        unsubscribeGeneric($0, .channel)
    },
    Command("psubscribe", arity: -2, flags: subscribeFlags, group: "pubsub", since: "2.0.0",
            summary: "Listen for messages published to channels matching the given patterns",
            complexity: "O(N) where N is the number of patterns the client is already subscribed to.") {
        subscribeGeneric($0, .pattern)
    },
    Command("punsubscribe", arity: -1, flags: subscribeFlags, group: "pubsub", since: "2.0.0",
            summary: "Stop listening for messages posted to channels matching the given patterns",
            complexity: "O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client).") {
        unsubscribeGeneric($0, .pattern)
    },
    Command("ssubscribe", arity: -2, flags: subscribeFlags, keys: (1, -1, 1), group: "pubsub", since: "7.0.0",
            summary: "Listen for messages published to the given shard channels",
            complexity: "O(N) where N is the number of shard channels to subscribe to.") { subscribeGeneric($0, .shard) },
    Command("sunsubscribe", arity: -1, flags: subscribeFlags, keys: (1, -1, 1), group: "pubsub", since: "7.0.0",
            summary: "Stop listening for messages posted to the given shard channels",
            complexity: "O(N) where N is the number of clients already subscribed to a shard channel.") {
        unsubscribeGeneric($0, .shard)
    },
    Command("publish", arity: 3, flags: [.pubsub, .loading, .stale, .fast, .mayReplicate], group: "pubsub",
            since: "2.0.0", summary: "Post a message to a channel",
            complexity: "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).") { c in
        c.reply.integer(c.server.publish(channel: c.arg(1), message: c.arg(2)))
    },
    Command("spublish", arity: 3, flags: [.pubsub, .loading, .stale, .fast, .mayReplicate], keys: (1, 1, 1),
            group: "pubsub", since: "7.0.0", summary: "Post a message to a shard channel",
            complexity: "O(N) where N is the number of clients subscribed to the receiving shard channel.") { c in
        c.reply.integer(c.server.publishShard(channel: c.arg(1), message: c.arg(2)))
    },
    Command("pubsub", arity: -2, group: "pubsub", since: "2.8.0", summary: "A container for Pub/Sub commands",
            complexity: "Depends on subcommand.", subcommands: [
        Command("channels", arity: -2, flags: introspectionFlags, group: "pubsub", since: "2.8.0",
                summary: "List active channels",
                complexity: "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)") {
            pubsubChannels($0, $0.server.pubsub.channels, "CHANNELS")
        },
        Command("numsub", arity: -2, flags: introspectionFlags, group: "pubsub", since: "2.8.0",
                summary: "Get the count of subscribers for channels",
                complexity: "O(N) for the NUMSUB subcommand, where N is the number of requested channels") {
            pubsubNumsub($0, $0.server.pubsub.channels)
        },
        Command("numpat", arity: 2, flags: introspectionFlags, group: "pubsub", since: "2.8.0",
                summary: "Get the count of unique patterns pattern subscriptions", complexity: "O(1)") {
            $0.reply.integer($0.server.pubsub.patterns.count)
        },
        Command("shardchannels", arity: -2, flags: introspectionFlags, group: "pubsub", since: "7.0.0",
                summary: "List active shard channels",
                complexity: "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).") {
            pubsubChannels($0, $0.server.pubsub.shardChannels, "SHARDCHANNELS")
        },
        Command("shardnumsub", arity: -2, flags: introspectionFlags, group: "pubsub", since: "7.0.0",
                summary: "Get the count of subscribers for shard channels",
                complexity: "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels") {
            pubsubNumsub($0, $0.server.pubsub.shardChannels)
        },
        Command("help", arity: 2, flags: [.loading, .stale], group: "pubsub", since: "6.2.0",
                summary: "Show helpful text about the different subcommands", complexity: "O(1)", handler: pubsubHelp),
    ]),
]

/// (P|S)SUBSCRIBE name [name ...]: one confirmation frame per name, repeated names included. A client that
/// may not block (inside EXEC, later scripts) expects one reply per command and may not subscribe, as in
/// Redis 7.0: except SUBSCRIBE and PSUBSCRIBE inside EXEC, which Redis keeps for backward compatibility.
private func subscribeGeneric(_ c: Client, _ kind: SubscriptionKind) {
    if !c.canBlock && (kind == .shard || !c.executingTransaction) {
        return c.reply.error("ERR \(kind.subscribeName.description.uppercased()) isn't allowed for a DENY BLOCKING client")
    }
    for i in 1..<c.argc { c.server.subscribe(c, kind, c.argBytes(i)) }
}

/// (P|S)UNSUBSCRIBE [name ...]: every subscription of the kind without names.
private func unsubscribeGeneric(_ c: Client, _ kind: SubscriptionKind) {
    if c.argc == 1 {
        c.server.unsubscribeAll(c, kind, notify: true)
    } else {
        for i in 1..<c.argc { c.server.unsubscribe(c, kind, c.argBytes(i), notify: true) }
    }
    c.server.leaveSubscribedStateIfEmpty(c)
}

/// PUBSUB CHANNELS / SHARDCHANNELS [pattern]: the channels with subscribers (matching the pattern).
private func pubsubChannels(_ c: Client, _ index: HashTable<SubscriberList>, _ name: String) {
    guard c.argc <= 3 else { return replySubcommandSyntaxError(c, "PUBSUB") }
    var names: [ByteString] = []
    for (channel, _) in index {
        if c.argc == 3 {
            let pattern = c.arg(2)
            guard channel.withUnsafeBytes({ globMatch(pattern: pattern, string: $0) }) else { continue }
        }
        names.append(channel)
    }
    c.reply.array(names.count)
    for channel in names { c.reply.bulk(channel) }
}

/// PUBSUB NUMSUB / SHARDNUMSUB [channel ...]: each channel and its number of subscribers, as a flat array
/// in both protocols (as Redis 7.0).
private func pubsubNumsub(_ c: Client, _ index: HashTable<SubscriberList>) {
    c.reply.array((c.argc - 2) * 2)
    for i in 2..<c.argc {
        c.reply.bulk(c.arg(i))
        c.reply.integer(index.find(c.arg(i))?.clients.count ?? 0)
    }
}

private func pubsubHelp(_ c: Client) {
    replyHelp(c, "PUBSUB", [
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
    ])
}
