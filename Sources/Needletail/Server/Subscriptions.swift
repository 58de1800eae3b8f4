import Glibc

/// Publish/subscribe (Redis's pubsub.c) and keyspace notifications (notify.c), on the core seams.
///
///     normal ──(P|S)SUBSCRIBE──▶ subscribed ──last (P|S)UNSUBSCRIBE / RESET──▶ normal
///
/// CHANNELS. The server indexes subscribers by channel name (`PubSubRegistry.channels`: a hash from channel
/// to its clients, in subscription order), so PUBLISH costs one lookup plus one frame per subscriber, not
/// a walk over every channel. Patterns are kept the same way (pattern -> clients) and walked once per
/// publish, each matched with our glob matcher (Storage/Glob.swift), as Redis does. Shard channels
/// (SSUBSCRIBE/SPUBLISH) are a third index; in standalone mode they behave as channels of their own that
/// patterns never see.
///
/// A client's own subscriptions (`Client.subscriptions`) are nil while it has none: the hot path pays one
/// nil check in `commandToRun`, and nothing else. A client with any subscription is in the subscribed
/// state: in RESP2 it may only run (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING (answered with a `pong` frame),
/// QUIT and RESET, with Redis's error for anything else; in RESP3 it runs anything, and messages arrive as
/// `>` push frames interleaved with its replies. Its output buffer is in the `pubsub` class of
/// `client-output-buffer-limit` (32mb hard, 8mb for 60 s by default): a subscriber that does not read is
/// closed once it falls that far behind, so a publisher cannot grow the server without bound.
///
/// Frames (both protocols; `*` in RESP2, `>` in RESP3):
///   [subscribe|psubscribe|ssubscribe, name, count]     count = channels + patterns (shard: shard channels)
///   [unsubscribe|..., name or null, count]              null when UNSUBSCRIBE without arguments had none
///   [message, channel, payload]   [pmessage, pattern, channel, payload]   [smessage, channel, payload]
///
/// KEYSPACE NOTIFICATIONS. With `notify-keyspace-events` naming a class and K and/or E, every key change the
/// keyspace reports (Server.keyChanged: the one stream of changes, with Redis's event name and class) is
/// published to `__keyspace@<db>__:<key>` (message: the event) and then `__keyevent@<db>__:<event>`
/// (message: the key), as Redis's notifyKeyspaceEvent; a key's creation also publishes `new` (class n)
/// before the command's own event, as Redis's dbAdd.

/// The server's subscriptions: channel, pattern and shard channel -> subscribed clients, in order. Our
/// HashTable, so PUBLISH looks the channel up straight from the request's bytes (no copy, our hash).
final class PubSubRegistry {
    let channels = HashTable<SubscriberList>()
    let patterns = HashTable<SubscriberList>()
    let shardChannels = HashTable<SubscriberList>()
    /// The patterns' lists again, in an array: what PUBLISH walks (an array walk, and each pattern's literal
    /// prefix compared before the glob matcher runs).
    @exclusivity(unchecked) var patternWalk: [SubscriberList] = []
}

/// The clients subscribed to one channel or pattern, in the order they subscribed.
final class SubscriberList {
    @exclusivity(unchecked) var clients: [Client]
    /// The pattern (pattern lists only) and how many of its first bytes are literal (before `*`, `?`, `[`
    /// or `\`): a channel that does not start with them cannot match.
    let pattern: ByteString
    let literalPrefix: Int

    init(_ client: Client, pattern: ByteString = .empty) {
        clients = [client]
        self.pattern = pattern
        literalPrefix = pattern.withUnsafeBytes { bytes in
            bytes.firstIndex { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "[")
                || $0 == UInt8(ascii: "\\") } ?? bytes.count
        }
    }

    /// Whether `channel` matches the pattern (Redis's stringmatchlen, after the literal prefix check).
    @inline(__always) func patternMatches(_ channel: UnsafeRawBufferPointer) -> Bool {
        pattern.withUnsafeBytes { p in
            let n = literalPrefix
            if channel.count < n || (n > 0 && memcmp(p.baseAddress!, channel.baseAddress!, n) != 0) { return false }
            return globMatch(pattern: p, string: channel)
        }
    }
}

/// What one client is subscribed to. Patterns are a list, as in Redis 7.0 (PUNSUBSCRIBE without arguments
/// answers in subscription order); channels are sets, whose order (like Redis's dict) is unspecified.
final class ClientSubscriptions {
    var channels = Set<ByteString>()
    var patterns: [ByteString] = []
    var shardChannels = Set<ByteString>()

    /// The count subscribe/unsubscribe frames report (Redis's clientSubscriptionsCount).
    var count: Int { channels.count + patterns.count }
    var total: Int { count + shardChannels.count }
}

/// Which of the three kinds of subscription a command works on.
enum SubscriptionKind {
    case channel, pattern, shard

    var subscribeName: StaticString {
        switch self {
        case .channel: return "subscribe"
        case .pattern: return "psubscribe"
        case .shard: return "ssubscribe"
        }
    }

    var unsubscribeName: StaticString {
        switch self {
        case .channel: return "unsubscribe"
        case .pattern: return "punsubscribe"
        case .shard: return "sunsubscribe"
        }
    }
}

extension Client {
    /// In the subscribed state (Redis's CLIENT_PUBSUB flag): any subscription of any kind.
    @inline(__always) var isSubscribed: Bool { subscriptions != nil }
}

extension Server {
    // MARK: - Subscribing

    /// Subscribes the client to `name` and answers the confirmation frame (Redis's pubsubSubscribeChannel /
    /// pubsubSubscribePattern / pubsubSubscribeShardChannel).
    func subscribe(_ client: Client, _ kind: SubscriptionKind, _ name: ByteString) {
        let subs = client.subscriptions ?? ClientSubscriptions()
        client.subscriptions = subs
        switch kind {
        case .channel:
            if subs.channels.insert(name).inserted { add(client, to: pubsub.channels, name) }
        case .pattern:
            if !subs.patterns.contains(name) {
                subs.patterns.append(name)
                add(client, to: pubsub.patterns, name)
            }
        case .shard:
            if subs.shardChannels.insert(name).inserted { add(client, to: pubsub.shardChannels, name) }
        }
        client.reply.push(3)
        client.reply.bulk(kind.subscribeName)
        client.reply.bulk(name)
        client.reply.integer(kind == .shard ? subs.shardChannels.count : subs.count)
    }

    /// Unsubscribes the client from `name` (nil: from nothing, the reply of an UNSUBSCRIBE without arguments
    /// when there was nothing to leave); answers the frame when `notify`.
    func unsubscribe(_ client: Client, _ kind: SubscriptionKind, _ name: ByteString?, notify: Bool) {
        if let name, let subs = client.subscriptions {
            switch kind {
            case .channel:
                if subs.channels.remove(name) != nil { remove(client, from: pubsub.channels, name) }
            case .pattern:
                if let i = subs.patterns.firstIndex(of: name) {
                    subs.patterns.remove(at: i)
                    remove(client, from: pubsub.patterns, name)
                }
            case .shard:
                if subs.shardChannels.remove(name) != nil { remove(client, from: pubsub.shardChannels, name) }
            }
        }
        if notify {
            let subs = client.subscriptions
            client.reply.push(3)
            client.reply.bulk(kind.unsubscribeName)
            if let name { client.reply.bulk(name) } else { client.reply.null() }
            client.reply.integer(kind == .shard ? subs?.shardChannels.count ?? 0 : subs?.count ?? 0)
        }
    }

    /// UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE without arguments: every subscription of that kind, one
    /// frame each (or one frame with a null name when there were none).
    func unsubscribeAll(_ client: Client, _ kind: SubscriptionKind, notify: Bool) {
        let names: [ByteString]
        switch kind {
        case .channel: names = client.subscriptions.map { Array($0.channels) } ?? []
        case .pattern: names = client.subscriptions?.patterns ?? []
        case .shard: names = client.subscriptions.map { Array($0.shardChannels) } ?? []
        }
        if names.isEmpty && notify { unsubscribe(client, kind, nil, notify: true) }
        for name in names { unsubscribe(client, kind, name, notify: notify) }
    }

    /// After an unsubscribing command: a client left with no subscription leaves the subscribed state.
    func leaveSubscribedStateIfEmpty(_ client: Client) {
        if let subs = client.subscriptions, subs.total == 0 { client.subscriptions = nil }
    }

    /// Every subscription of every kind, silently (RESET, a closed connection).
    func unsubscribeEverything(_ client: Client) {
        guard client.subscriptions != nil else { return }
        unsubscribeAll(client, .channel, notify: false)
        unsubscribeAll(client, .pattern, notify: false)
        unsubscribeAll(client, .shard, notify: false)
        client.subscriptions = nil
    }

    private func add(_ client: Client, to index: HashTable<SubscriberList>, _ name: ByteString) {
        if let list = name.withUnsafeBytes({ index.find($0) }) {
            list.clients.append(client)
        } else if index === pubsub.patterns {
            let list = SubscriberList(client, pattern: name)
            _ = index.updateValue(list, forKey: name)
            pubsub.patternWalk.append(list)
        } else {
            _ = index.updateValue(SubscriberList(client), forKey: name)
        }
    }

    private func remove(_ client: Client, from index: HashTable<SubscriberList>, _ name: ByteString) {
        guard let list = name.withUnsafeBytes({ index.find($0) }) else { return }
        if let i = list.clients.firstIndex(where: { $0 === client }) { list.clients.remove(at: i) }
        if list.clients.isEmpty {
            _ = index.removeValue(forKey: name)
            if index === pubsub.patterns { pubsub.patternWalk.removeAll { $0 === list } }
        }
    }

    // MARK: - Publishing

    /// Delivers a message to the channel's subscribers, then to the clients of every matching pattern
    /// (Redis's pubsubPublishMessage); returns how many received it. Each frame is encoded once and copied
    /// to every subscriber (only its first byte differs: `*` in RESP2, `>` in RESP3), as Redis shares one
    /// reply object among them.
    @discardableResult
    func publish(channel: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) -> Int {
        var receivers = 0
        if let list = pubsub.channels.find(channel) {
            encodeFrame("message", pattern: nil, channel, message)
            receivers += deliverFrame(to: list)
        }
        if !pubsub.patternWalk.isEmpty {
            for list in pubsub.patternWalk where list.patternMatches(channel) {
                list.pattern.withUnsafeBytes { encodeFrame("pmessage", pattern: $0, channel, message) }
                receivers += deliverFrame(to: list)
            }
        }
        return receivers
    }

    /// SPUBLISH: the shard channel's subscribers only.
    func publishShard(channel: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) -> Int {
        guard let list = pubsub.shardChannels.find(channel) else { return 0 }
        encodeFrame("smessage", pattern: nil, channel, message)
        return deliverFrame(to: list)
    }

    /// [kind, (pattern,) channel, message] into `frameScratch`, with a RESP2 array header.
    private func encodeFrame(_ kind: StaticString, pattern: UnsafeRawBufferPointer?, _ channel: UnsafeRawBufferPointer,
                             _ message: UnsafeRawBufferPointer) {
        let frame = frameScratch
        frame.clear(shrinkTo: 64 * 1024)  // a huge message once does not keep its buffer
        var writer = ReplyWriter(buffer: frame)
        writer.resp3 = false
        writer.array(pattern == nil ? 3 : 4)
        writer.bulk(kind)
        if let pattern { writer.bulk(pattern) }
        writer.bulk(channel)
        writer.bulk(message)
    }

    /// Copies the encoded frame to every live client of `list`; the number of clients it went to.
    private func deliverFrame(to list: SubscriberList) -> Int {
        let frame = frameScratch
        let bytes = UnsafeRawBufferPointer(start: frame.base + frame.readIndex + 1, count: frame.readableBytes - 1)
        var receivers = 0
        for client in list.clients where !client.isClosed {
            let output = client.output
            output.append(client.protocolVersion == 3 ? UInt8(ascii: ">") : UInt8(ascii: "*"))
            output.append(bytes)
            if client.heldPushes != nil { keepHeldPush(client, bytes) }
            delivered(to: client)
            receivers += 1
        }
        return receivers
    }

    /// The client is running a command with its replies off: the message survives their removal.
    private func keepHeldPush(_ client: Client, _ bytes: UnsafeRawBufferPointer) {
        client.heldPushes!.append(client.protocolVersion == 3 ? UInt8(ascii: ">") : UInt8(ascii: "*"))
        client.heldPushes!.append(contentsOf: bytes)
    }

    /// A frame was appended to a subscriber's output: write it before sleeping, and enforce the pubsub
    /// class's output limits (a subscriber past them is closed).
    @inline(__always) private func delivered(to client: Client) {
        scheduleWrite(client)
        if client.output.readableBytes > outputCheckBytes { checkOutputBuffer(client) }
    }

    // MARK: - Keyspace notifications

    /// Publishes what a key change notifies: `new` when it created the key, then its event. RENAME and MOVE
    /// report the source's deletion before the destination's creation, but Redis creates the destination
    /// first (dbAdd publishes `new`) and then notifies rename_from/move_from and rename_to/move_to: the
    /// source's event waits for the next change that notifies anything.
    func keyChangeNotified(_ change: KeyChange, key: UnsafeRawBufferPointer, db: Int, event: KeyspaceEvent) {
        if let held = heldNotification {
            if change != .added && event.isNone { return }
            heldNotification = nil
            if change == .added { notifyKeyspaceEvent(.new, key: key, db: db) }
            held.key.withUnsafeBytes { notifyKeyspaceEvent(held.event, key: $0, db: held.db) }
            if !event.isNone { notifyKeyspaceEvent(event, key: key, db: db) }
            return
        }
        if event == .renameFrom || event == .moveFrom {
            heldNotification = (ByteString(key), db, event)
            return
        }
        if change == .added { notifyKeyspaceEvent(.new, key: key, db: db) }
        if !event.isNone { notifyKeyspaceEvent(event, key: key, db: db) }
    }

    /// Redis's notifyKeyspaceEvent: publishes `event` for `key` if its class is enabled.
    func notifyKeyspaceEvent(_ event: KeyspaceEvent, key: UnsafeRawBufferPointer, db: Int) {
        let enabled = keyspaceNotifications
        guard !event.type.isDisjoint(with: enabled) else { return }
        guard pubsub.channels.count > 0 || pubsub.patterns.count > 0 else { return }
        let eventBytes = UnsafeRawBufferPointer(start: event.name.utf8Start, count: event.name.utf8CodeUnitCount)
        var channel: [UInt8] = []
        channel.reserveCapacity(24 + max(key.count, eventBytes.count))
        if enabled.contains(.keyspace) {
            channel.append(contentsOf: "__keyspace@\(db)__:".utf8)
            channel.append(contentsOf: key)
            channel.withUnsafeBytes { publish(channel: $0, message: eventBytes) }
        }
        if enabled.contains(.keyevent) {
            channel.removeAll(keepingCapacity: true)
            channel.append(contentsOf: "__keyevent@\(db)__:".utf8)
            channel.append(contentsOf: eventBytes)
            channel.withUnsafeBytes { publish(channel: $0, message: key) }
        }
    }

    /// The classes to publish, or none: nothing is published unless K or E and some class are set.
    func updateKeyspaceNotifications() {
        let flags = config.notifyKeyspaceEvents
        let published = flags.subtracting([.keyspace, .keyevent])
        keyspaceNotifications = flags.isDisjoint(with: [.keyspace, .keyevent]) || published.isEmpty ? [] : flags
        keyspace.notifiesKeyMiss = keyspaceNotifications.contains(.keyMiss)
    }

    /// A read found no key: `keymiss` (class m), as Redis's lookupKey.
    func keyMissed(_ key: UnsafeRawBufferPointer, db: Int) { notifyKeyspaceEvent(.keymiss, key: key, db: db) }
}

extension KeyspaceEvent {
    /// A key was created (class n), published before the creating command's own event, as Redis's dbAdd.
    static let new = KeyspaceEvent("new", .newKey)
    /// A read found no key (class m, not part of A).
    static let keymiss = KeyspaceEvent("keymiss", .keyMiss)
}
