import Glibc

/// What the server remembers about its own speed, for operators (Redis's slowlog.c, latency.c and the
/// per-command histograms of server.c):
///
/// - the slow log: the last `slowlog-max-len` commands that took `slowlog-log-slower-than` µs or more;
/// - the latency monitor: per event class ("command", "fast-command", "expire-cycle", "eviction-cycle",
///   "aof-write", ...), one sample per second of the worst latency at or above `latency-monitor-threshold`
///   ms, the last 160 of them, and the all-time maximum;
/// - with `latency-tracking`, a histogram of every command's durations (Engine/LatencyHistogram.swift) for
///   INFO latencystats and LATENCY HISTOGRAM.
///
/// All three are fed by `call` after each command (`recordCommand`), which costs one comparison against the
/// lowest threshold plus, with latency-tracking on (Redis's default), one histogram increment.

/// One slow log entry, as SLOWLOG GET lists it.
struct SlowLogEntry {
    let id: Int64
    /// Unix seconds when it was logged.
    let time: Int64
    let micros: Int64
    /// At most 32 arguments (the last then says how many more there were), each cut to 128 bytes.
    let arguments: [ByteString]
    let peer: String
    let name: ByteString
}

/// The slow log: newest last.
struct SlowLog {
    static let maxArguments = 32
    static let maxArgumentBytes = 128

    private(set) var entries: [SlowLogEntry] = []
    private var nextID: Int64 = 0

    mutating func push(_ arguments: [ByteString], micros: Int64, peer: String, name: ByteString, maxLength: Int) {
        entries.append(SlowLogEntry(id: nextID, time: Int64(Glibc.time(nil)), micros: micros,
                                    arguments: SlowLog.truncated(arguments), peer: peer, name: name))
        nextID += 1
        trim(to: maxLength)
    }

    mutating func trim(to maxLength: Int) {
        if entries.count > maxLength { entries.removeFirst(entries.count - max(0, maxLength)) }
    }

    mutating func reset() { entries.removeAll() }

    /// Redis's slowlogCreateEntry: arguments past the 32nd are replaced by "... (N more arguments)" in the
    /// 32nd place, and each longer than 128 bytes is cut with "... (N more bytes)".
    static func truncated(_ arguments: [ByteString]) -> [ByteString] {
        let kept = min(arguments.count, maxArguments)
        var result: [ByteString] = []
        result.reserveCapacity(kept)
        for j in 0..<kept {
            if kept != arguments.count && j == kept - 1 {
                result.append(ByteString("... (\(arguments.count - kept + 1) more arguments)"))
            } else if arguments[j].count > maxArgumentBytes {
                let bytes = arguments[j].withUnsafeBytes { Array($0.prefix(maxArgumentBytes)) }
                result.append(ByteString(bytes + Array("... (\(arguments[j].count - maxArgumentBytes) more bytes)".utf8)))
            } else {
                result.append(arguments[j])
            }
        }
        return result
    }
}

/// The latency monitor's time series for one event (Redis's latencyTimeSeries).
struct LatencySeries {
    static let length = 160

    struct Sample {
        var time: Int64 = 0  // Unix seconds; 0 = unused slot
        var latency: Int64 = 0  // ms
    }

    var samples = [Sample](repeating: Sample(), count: LatencySeries.length)
    /// Where the next sample goes.
    var next = 0
    /// The all-time maximum, in ms.
    var max: Int64 = 0

    /// Adds a sample; within the same second only the worst one is kept (latencyAddSample).
    mutating func add(_ latency: Int64, now: Int64) {
        if latency > max { max = latency }
        let previous = (next + LatencySeries.length - 1) % LatencySeries.length
        if samples[previous].time == now {
            if latency > samples[previous].latency { samples[previous].latency = latency }
            return
        }
        samples[next] = Sample(time: now, latency: latency)
        next = (next + 1) % LatencySeries.length
    }

    var latest: Sample { samples[(next + LatencySeries.length - 1) % LatencySeries.length] }

    /// The used samples, oldest first.
    var history: [Sample] {
        (0..<LatencySeries.length).map { samples[(next + $0) % LatencySeries.length] }.filter { $0.time != 0 }
    }
}

/// Every event's series, in the order the events first happened.
struct LatencyMonitor {
    private(set) var events: [(name: String, series: LatencySeries)] = []

    mutating func add(_ event: String, milliseconds: Int64) {
        let now = Int64(Glibc.time(nil))
        if let i = events.firstIndex(where: { $0.name == event }) {
            events[i].series.add(milliseconds, now: now)
        } else {
            var series = LatencySeries()
            series.add(milliseconds, now: now)
            events.append((event, series))
        }
    }

    func series(_ event: String) -> LatencySeries? { events.first { $0.name == event }?.series }

    /// Forgets one event (case-insensitively, as Redis's strcasecmp), or all of them: how many were reset.
    mutating func reset(_ event: String?) -> Int {
        let before = events.count
        if let event {
            let lowered = event.lowercased()
            events.removeAll { $0.name.lowercased() == lowered }
        } else {
            events.removeAll()
        }
        return before - events.count
    }
}

extension Server {
    /// After each command `call` ran (also commands inside EXEC and scripts): the slow log, the latency
    /// monitor's "command"/"fast-command" events and the command's histogram. Not for commands replayed from
    /// the AOF while loading, nor for a command that left its client blocked (it is recorded when served).
    @inline(__always)
    func recordCommand(_ client: Client, _ command: Command, micros: Int64) {
        let tracking = latencyTrackingOn
        if !tracking && micros < diagnosticsThreshold { return }
        if client.blocked != nil && (!client.reprocessingBlockedCommand || client.stillBlocked) { return }
        if client.kind == .internal && rdb.loading { return }
        if tracking {
            if command.latencyHistogram == nil { command.latencyHistogram = LatencyHistogram() }
            command.latencyHistogram!.record(nanoseconds: micros &* 1000)
        }
        if micros >= diagnosticsThreshold { recordSlowCommand(client, command, micros: micros) }
    }

    /// Caches what `recordCommand` reads on every command (the config's properties cost an access check each):
    /// latency-tracking, and the lower of the slow log's and the latency monitor's thresholds in µs.
    func updateDiagnosticsSettings() {
        latencyTrackingOn = config.latencyTracking
        let slowlog = config.slowlogLogSlowerThan < 0 ? Int64.max : Int64(config.slowlogLogSlowerThan)
        let monitor = config.latencyMonitorThreshold <= 0 ? Int64.max : Int64(config.latencyMonitorThreshold) &* 1000
        diagnosticsThreshold = min(slowlog, monitor)
    }

    private func recordSlowCommand(_ client: Client, _ command: Command, micros: Int64) {
        addLatencySample(command.flags.contains(.fast) ? "fast-command" : "command", milliseconds: micros / 1000)
        let threshold = config.slowlogLogSlowerThan
        guard threshold >= 0 && micros >= Int64(threshold) && !command.flags.contains(.skipSlowlog) else { return }
        var arguments = client.ownedArguments()
        for i in redactedArguments(client, command) where i < arguments.count { arguments[i] = ByteString("(redacted)") }
        let peer = client.kind == .internal ? "?:0" : client.address
        slowLog.push(arguments, micros: micros, peer: peer, name: client.kind == .internal ? ByteString.empty : (client.name ?? ByteString.empty),
                     maxLength: config.slowlogMaxLen)
    }

    /// Redis's latencyAddSampleIfNeeded: a sample of `milliseconds` for `event` when the latency monitor is on
    /// and it reaches the threshold.
    func addLatencySample(_ event: String, milliseconds: Int64) {
        let threshold = config.latencyMonitorThreshold
        guard threshold > 0 && milliseconds >= Int64(threshold) else { return }
        latencyMonitor.add(event, milliseconds: milliseconds)
    }

    /// The arguments Redis shows as "(redacted)" in MONITOR and SLOWLOG (its redactClientCommandArgument):
    /// AUTH's, the user and password after HELLO's AUTH (once HELLO's version parsed, option by option, as
    /// helloCommand redacts them while parsing), the values of sensitive parameters in CONFIG SET (requirepass,
    /// masterauth, ...), everything after ACL SETUSER, and MIGRATE's AUTH / AUTH2 credentials.
    func redactedArguments(_ client: Client, _ command: Command) -> [Int] {
        switch command.fullName {
        case "auth":
            return Array(1..<client.argc)
        case "hello":
            guard client.argc >= 2, let v = parseInt64(client.arg(1)), v == 2 || v == 3 else { return [] }
            var i = 2
            while i < client.argc {
                let more = client.argc - i - 1
                if client.argIs(i, "AUTH") && more >= 2 { return [i + 1, i + 2] }
                if client.argIs(i, "SETNAME") && more >= 1 { i += 2; continue }
                break
            }
            return []
        case "config|set":
            return stride(from: 2, to: client.argc - 1, by: 2).compactMap { i in
                guard let hit = Config.lookup[client.argString(i).lowercased()],
                      ConfigParameter.all[hit.index].flags.contains(.sensitive) else { return nil }
                return i + 1
            }
        case "acl|setuser":
            return client.argc > 2 ? Array(2..<client.argc) : []
        case "migrate":
            var redacted: [Int] = []
            var i = 6
            while i < client.argc {
                if client.argIs(i, "AUTH") && i + 1 < client.argc {
                    redacted.append(i + 1); i += 2
                } else if client.argIs(i, "AUTH2") && i + 2 < client.argc {
                    redacted += [i + 1, i + 2]; i += 3
                } else if client.argIs(i, "KEYS") {
                    break
                } else {
                    i += 1
                }
            }
            return redacted
        default:
            return []
        }
    }
}
