/// Client-side caching: CLIENT TRACKING (Redis's tracking.c), on the keyspace's change stream.
///
/// DEFAULT MODE. After a read-only command of a tracking client, its keys are remembered in the tracking
/// table (key name -> ids of the clients that may cache it; keys without their database, as Redis). When a
/// key changes (any change the keyspace reports: writes, TTL changes, deletions, expiry, flushes), every
/// client that read it is sent one invalidation, and the key is forgotten until read again. OPTIN clients
/// are tracked only for the command after CLIENT CACHING YES, OPTOUT clients except after CLIENT CACHING NO.
///
/// BCAST MODE. The client registers prefixes (none: every key) in the prefix table; changed keys matching a
/// prefix are collected (with the client that changed them last) and sent, per prefix, before the loop
/// sleeps, as one array.
///
/// DELIVERY. RESP3 clients get `>2 invalidate [keys]` push frames (a null instead of the keys for a
/// flush); with REDIRECT the frames go to the other client: as pushes when it speaks RESP3, or as messages of
/// the `__redis__:invalidate` channel when it speaks RESP2 and is subscribed; a RESP2 client without a
/// redirect gets nothing. A redirect to a client that is gone marks the tracker broken (CLIENT LIST flag R,
/// a `tracking-redir-broken` push in RESP3). NOLOOP skips changes the client made itself. Invalidations for
/// the client whose command is running are held until its reply is written (`trackingPendingKeys`), as
/// Redis 7.0 holds them.
///
/// COST. While no client tracks and the table is empty, nothing here runs: the keyspace's listener and
/// `call`'s bookkeeping path are off (`updateKeyspaceListener`, `updateCallBookkeeping`).

struct TrackingOptions: OptionSet {
    let rawValue: UInt8
    static let bcast = TrackingOptions(rawValue: 1 << 0)
    static let optin = TrackingOptions(rawValue: 1 << 1)
    static let optout = TrackingOptions(rawValue: 1 << 2)
    static let noloop = TrackingOptions(rawValue: 1 << 3)
}

/// One client's tracking state (nil on the client while tracking is off).
final class ClientTracking {
    var options: TrackingOptions
    /// The client id invalidations go to, 0 for none.
    var redirect: Int64
    var brokenRedirect = false
    /// CLIENT CACHING YES (OPTIN) or NO (OPTOUT) was given for the next command (Redis's CLIENT_TRACKING_CACHING).
    var caching = false
    /// BCAST prefixes, sorted (CLIENT TRACKINGINFO lists them in order).
    var prefixes: [ByteString] = []

    init(options: TrackingOptions, redirect: Int64) {
        self.options = options
        self.redirect = redirect
    }
}

/// A BCAST prefix: its clients, and the keys changed since the last broadcast with who changed each last.
final class BroadcastState {
    var clients: [Client] = []
    var keys: [ByteString: Int64] = [:]
}

extension Server {
    // MARK: - Turning tracking on and off

    /// Redis's enableTracking (the caller checked the options).
    func enableTracking(_ client: Client, redirect: Int64, options: TrackingOptions, prefixes: [ByteString]) {
        let tracking: ClientTracking
        if let existing = client.tracking {
            tracking = existing
            tracking.options = []
            tracking.brokenRedirect = false
            tracking.redirect = redirect
        } else {
            tracking = ClientTracking(options: [], redirect: redirect)
            client.tracking = tracking
            trackingClients += 1
        }
        if options.contains(.bcast) {
            tracking.options.insert(.bcast)
            for prefix in prefixes.isEmpty ? [ByteString.empty] : prefixes where !tracking.prefixes.contains(prefix) {
                let state = prefixTable[prefix] ?? BroadcastState()
                prefixTable[prefix] = state
                state.clients.append(client)
                tracking.prefixes.append(prefix)
            }
            tracking.prefixes.sort { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        }
        tracking.options.formUnion(options.intersection([.optin, .optout, .noloop]))
        trackingStateChanged()
    }

    /// Redis's disableTracking: leaves its prefixes; keys it read stay in the table (skipped when changed).
    func disableTracking(_ client: Client) {
        guard let tracking = client.tracking else { return }
        for prefix in tracking.prefixes {
            guard let state = prefixTable[prefix] else { continue }
            state.clients.removeAll { $0 === client }
            if state.clients.isEmpty { prefixTable[prefix] = nil }
        }
        client.tracking = nil
        trackingClients -= 1
        trackingStateChanged()
    }

    func trackingStateChanged() {
        updateCallBookkeeping()
        updateKeyspaceListener()
    }

    /// Whether key changes must be looked at: clients track, or the table still holds keys.
    var trackingActive: Bool { trackingClients > 0 || !trackingTable.isEmpty }

    // MARK: - Remembering keys

    /// After a read-only command of a default-mode tracker: its keys may now be cached (trackingRememberKeys).
    func trackingRememberKeys(_ client: Client, _ command: Command) {
        guard let tracking = client.tracking, !tracking.options.contains(.bcast) else { return }
        let optin = tracking.options.contains(.optin), optout = tracking.options.contains(.optout)
        if (optin && !tracking.caching) || (optout && tracking.caching) { return }
        if command.flags.contains(.pubsub) { return }  // shard channels are not keys to cache
        let positions: [Int]
        if command.flags.contains(.movableKeys) {
            let args = client.ownedArguments()
            positions = keyPositions(command, args)?.map { $0.position } ?? []
        } else {
            positions = command.keyIndexes(argc: client.argc)
        }
        for i in positions where i < client.argc {
            let key = client.argBytes(i)
            if trackingTable[key, default: []].insert(client.id).inserted { trackingItems += 1 }
        }
    }

    /// `tracking-table-max-keys`: past it, keys are forgotten (and invalidated) at random, as Redis's
    /// trackingLimitUsedSlots, a bounded number at a time; before each command (`commandToRun`) and from the
    /// cron (a CONFIG SET that lowered the limit takes effect on an idle server too), as Redis.
    func enforceTrackingTableLimit() {
        let limit = config.trackingTableMaxKeys
        guard limit > 0, trackingTable.count > limit else { return }
        var effort = 100
        while trackingTable.count > limit && effort > 0, let key = trackingTable.keys.randomElement() {
            key.withUnsafeBytes { trackingInvalidateKey($0, broadcast: false, evicting: true) }
            effort -= 1
        }
    }

    // MARK: - Invalidating

    /// A key changed (Redis's trackingInvalidateKey, from signalModifiedKey).
    func trackingInvalidateKey(_ key: UnsafeRawBufferPointer, broadcast: Bool, evicting: Bool = false) {
        if broadcast && !prefixTable.isEmpty { rememberKeyToBroadcast(key) }
        guard !trackingTable.isEmpty, let ids = trackingTable.removeValue(forKey: ByteString(key)) else { return }
        trackingItems -= ids.count
        for id in ids {
            guard let target = clientsByID[id], let tracking = target.tracking, !tracking.options.contains(.bcast) else { continue }
            if tracking.options.contains(.noloop) && id == currentClientID && !evicting { continue }
            if id == currentClientID && callDepth > 0 {
                trackingPendingKeys.append(ByteString(key))
            } else {
                sendInvalidation(to: target) { $0.array(1); $0.bulk(key) }
            }
        }
    }

    private func rememberKeyToBroadcast(_ key: UnsafeRawBufferPointer) {
        for (prefix, state) in prefixTable {
            let matches = prefix.withUnsafeBytes { p in p.count <= key.count && bytesEqual(p, UnsafeRawBufferPointer(rebasing: key[0..<p.count])) }
            if matches { state.keys[ByteString(key)] = currentClientID }
        }
    }

    /// FLUSHDB/FLUSHALL: every tracking client is told to drop everything (a null), once per command; the
    /// table is emptied.
    func trackingInvalidateOnFlush() {
        if trackingClients > 0 && !trackingFlushSent {
            trackingFlushSent = callDepth > 0
            for client in clientsByID.values where client.tracking != nil {
                if client.id == currentClientID && callDepth > 0 {
                    trackingPendingKeys.append(nil)
                } else {
                    sendInvalidation(to: client, flush: true) { _ in }
                }
            }
        }
        trackingTable.removeAll()
        trackingItems = 0
    }

    /// After the outermost command of the running client: its own invalidations, after its reply.
    func sendPendingInvalidations(_ client: Client) {
        let pending = trackingPendingKeys
        trackingPendingKeys.removeAll()
        guard client.tracking != nil else { return }
        for key in pending {
            if let key {
                sendInvalidation(to: client) { w in w.array(1); w.bulk(key) }
            } else {
                sendInvalidation(to: client, flush: true) { _ in }
            }
        }
    }

    /// Before sleeping (Redis's trackingBroadcastInvalidationMessages): each prefix's changed keys, sorted,
    /// to each of its clients (without the keys a NOLOOP client changed itself).
    func broadcastInvalidations() {
        guard trackingClients > 0, !prefixTable.isEmpty else { return }
        for prefix in prefixTable.keys.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }) {
            guard let state = prefixTable[prefix], !state.keys.isEmpty else { continue }
            let keys = state.keys.sorted { $0.key.bytes.lexicographicallyPrecedes($1.key.bytes) }
            state.keys.removeAll()
            for client in state.clients {
                let noloop = client.tracking?.options.contains(.noloop) ?? false
                let sent = noloop ? keys.filter { $0.value != client.id } : keys
                if sent.isEmpty { continue }
                sendInvalidation(to: client) { w in
                    w.array(sent.count)
                    for (key, _) in sent { w.bulk(key) }
                }
            }
        }
    }

    /// Redis's sendTrackingMessage: to the client, or to its redirect; `value` writes the keys (nothing for a
    /// flush, whose null is in the tracking client's protocol).
    private func sendInvalidation(to client: Client, flush: Bool = false, _ value: (ReplyWriter) -> Void) {
        var target = client
        var redirected = false
        if let tracking = client.tracking, tracking.redirect != 0 {
            guard let other = clientsByID[tracking.redirect] else {
                tracking.brokenRedirect = true
                if client.protocolVersion == 3 {
                    client.reply.push(2)
                    client.reply.bulk("tracking-redir-broken")
                    client.reply.integer(tracking.redirect)
                    scheduleWrite(client)
                }
                return
            }
            target = other
            redirected = true
        }
        let w = target.reply
        if target.protocolVersion == 3 {
            w.push(2)
            w.bulk("invalidate")
        } else if redirected && target.isSubscribed {
            w.array(3)
            w.bulk("message")
            w.bulk("__redis__:invalidate")
        } else {
            return  // RESP2 without a redirect: nowhere to say it
        }
        if flush { w.raw(client.protocolVersion == 3 ? "_\r\n" : "$-1\r\n") } else { value(w) }
        scheduleWrite(target)
        if target.output.readableBytes > outputCheckBytes { checkOutputBuffer(target) }
    }
}
