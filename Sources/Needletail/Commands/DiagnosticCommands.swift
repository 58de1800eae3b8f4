import Glibc

/// Operators' commands: SLOWLOG, LATENCY (the state they read is in Server/Diagnostics.swift), MODULE (no
/// module can be loaded: LIST is empty and LOAD fails as a failed load does in Redis, with the reason in the
/// log), and cluster mode's commands, which answer as redis-server with `cluster-enabled no` answers them.

let diagnosticsCommands: [Command] = [
    Command("slowlog", arity: -2, group: "server", since: "2.2.12",
            summary: "A container for slow log commands", complexity: "Depends on subcommand.", subcommands: [
        Command("get", arity: -2, flags: [.admin, .loading, .stale], group: "server", since: "2.2.12",
                summary: "Get the slow log's entries", complexity: "O(N) where N is the number of entries returned",
                handler: slowlogGet),
        Command("len", arity: 2, flags: [.admin, .loading, .stale], group: "server", since: "2.2.12",
                summary: "Get the slow log's length", complexity: "O(1)") { $0.reply.integer($0.server.slowLog.entries.count) },
        Command("reset", arity: 2, flags: [.admin, .loading, .stale], group: "server", since: "2.2.12",
                summary: "Clear all entries from the slow log",
                complexity: "O(N) where N is the number of entries in the slowlog") { c in
            c.server.slowLog.reset()
            c.reply.ok()
        },
        Command("help", arity: 2, flags: [.loading, .stale], group: "server", since: "6.2.0",
                summary: "Show helpful text about the different subcommands", complexity: "O(1)", handler: slowlogHelp),
    ]),
    Command("latency", arity: -2, group: "server", since: "2.8.13",
            summary: "A container for latency diagnostics commands", complexity: "Depends on subcommand.", subcommands: [
        Command("latest", arity: 2, flags: [.admin, .noscript, .loading, .stale], group: "server", since: "2.8.13",
                summary: "Return the latest latency samples for all events.", complexity: "O(1)", handler: latencyLatest),
        Command("history", arity: 3, flags: [.admin, .noscript, .loading, .stale], group: "server", since: "2.8.13",
                summary: "Return timestamp-latency samples for the event.", complexity: "O(1)", handler: latencyHistory),
        Command("reset", arity: -2, flags: [.admin, .noscript, .loading, .stale], group: "server", since: "2.8.13",
                summary: "Reset latency data for one or more events.", complexity: "O(1)", handler: latencyReset),
        Command("graph", arity: 3, flags: [.admin, .noscript, .loading, .stale], group: "server", since: "2.8.13",
                summary: "Return a latency graph for the event.", complexity: "O(1)", handler: latencyGraph),
        Command("doctor", arity: 2, flags: [.admin, .noscript, .loading, .stale], group: "server", since: "2.8.13",
                summary: "Return a human readable latency analysis report.", complexity: "O(1)") { c in
            c.reply.verbatim(latencyReport(c.server))
        },
        Command("histogram", arity: -2, flags: [.admin, .noscript, .loading, .stale], group: "server", since: "7.0.0",
                summary: "Return the cumulative distribution of latencies of a subset of commands or all.",
                complexity: "O(N) where N is the number of commands with latency information being retrieved.",
                handler: latencyHistogram),
        Command("help", arity: 2, flags: [.loading, .stale], group: "server", since: "2.8.13",
                summary: "Show helpful text about the different subcommands.", complexity: "O(1)", handler: latencyHelp),
    ]),
    Command("module", arity: -2, group: "server", since: "4.0.0",
            summary: "A container for module commands", complexity: "Depends on subcommand.", subcommands: [
        Command("list", arity: 2, flags: [.admin, .noscript], group: "server", since: "4.0.0",
                summary: "List all modules loaded by the server",
                complexity: "O(N) where N is the number of loaded modules.") { $0.reply.array(0) },
        Command("load", arity: -3, flags: [.admin, .noscript, .noAsyncLoading, .protected], group: "server",
                since: "4.0.0", summary: "Load a module", complexity: "O(1)", handler: moduleLoad),
        Command("loadex", arity: -3, flags: [.admin, .noscript, .noAsyncLoading, .protected], group: "server",
                since: "7.0.0", summary: "Load a module with extended parameters", complexity: "O(1)", handler: moduleLoad),
        Command("unload", arity: 3, flags: [.admin, .noscript, .noAsyncLoading, .protected], group: "server",
                since: "4.0.0", summary: "Unload a module", complexity: "O(1)") { c in
            c.reply.error("ERR Error unloading module: no such module with that name")
        },
        Command("help", arity: 2, flags: [.loading, .stale], group: "server", since: "5.0.0",
                summary: "Show helpful text about the different subcommands", complexity: "O(1)", handler: moduleHelp),
    ]),
    Command("cluster", arity: -2, group: "cluster", since: "3.0.0",
            summary: "A container for cluster commands", complexity: "Depends on subcommand.",
            subcommands: clusterSubcommands),
    Command("readonly", arity: 1, flags: [.loading, .stale, .fast], group: "cluster", since: "3.0.0",
            summary: "Enables read queries for a connection to a cluster replica node", complexity: "O(1)",
            handler: clusterDisabled),
    Command("readwrite", arity: 1, flags: [.loading, .stale, .fast], group: "cluster", since: "3.0.0",
            summary: "Disables read queries for a connection to a cluster replica node", complexity: "O(1)",
            handler: clusterDisabled),
    Command("asking", arity: 1, flags: [.fast], group: "cluster", since: "3.0.0",
            summary: "Sent by cluster clients after an -ASK redirect", complexity: "O(1)", handler: clusterDisabled),
]

// MARK: - SLOWLOG

/// SLOWLOG GET [count]: the newest `count` entries (10; -1 = all), newest first.
private func slowlogGet(_ c: Client) {
    if c.argc > 3 { return replySubcommandSyntaxError(c, "SLOWLOG") }
    let entries = c.server.slowLog.entries
    var count = 10
    if c.argc == 3 {
        guard let n = parseInt64(c.arg(2)), n >= -1 else {
            return c.reply.error("ERR count should be greater than or equal to -1")
        }
        count = n == -1 ? entries.count : Int(clamping: n)
    }
    let shown = entries.suffix(min(count, entries.count)).reversed()
    c.reply.array(shown.count)
    for entry in shown {
        c.reply.array(6)
        c.reply.integer(entry.id)
        c.reply.integer(entry.time)
        c.reply.integer(entry.micros)
        c.reply.array(entry.arguments.count)
        for argument in entry.arguments { c.reply.bulk(argument) }
        c.reply.bulk(entry.peer)
        c.reply.bulk(entry.name)
    }
}

private func slowlogHelp(_ c: Client) {
    replyHelp(c, "SLOWLOG", [
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
    ])
}

// MARK: - LATENCY

private func latencyLatest(_ c: Client) {
    let events = c.server.latencyMonitor.events
    c.reply.array(events.count)
    for (name, series) in events {
        c.reply.array(4)
        c.reply.bulk(name)
        c.reply.integer(series.latest.time)
        c.reply.integer(series.latest.latency)
        c.reply.integer(series.max)
    }
}

private func latencyHistory(_ c: Client) {
    let samples = c.server.latencyMonitor.series(c.argString(2))?.history ?? []
    c.reply.array(samples.count)
    for sample in samples {
        c.reply.array(2)
        c.reply.integer(sample.time)
        c.reply.integer(sample.latency)
    }
}

private func latencyReset(_ c: Client) {
    if c.argc == 2 { return c.reply.integer(c.server.latencyMonitor.reset(nil)) }
    var resets = 0
    for j in 2..<c.argc { resets += c.server.latencyMonitor.reset(c.argString(j)) }
    c.reply.integer(resets)
}

/// LATENCY GRAPH event: the samples as an ASCII sparkline 4 rows high, labelled with how long ago each was.
private func latencyGraph(_ c: Client) {
    let event = c.argString(2)
    guard let series = c.server.latencyMonitor.series(event) else {
        return c.reply.error("ERR No samples available for event '\(event)'")
    }
    let now = Int64(Glibc.time(nil))
    var sparkline = Sparkline()
    var low: Int64 = 0, high: Int64 = 0
    for (i, sample) in series.history.enumerated() {
        if i == 0 { (low, high) = (sample.latency, sample.latency) }
        high = max(high, sample.latency)
        low = min(low, sample.latency)
        let elapsed = now - sample.time
        let label = elapsed < 60 ? "\(elapsed)s" : elapsed < 3600 ? "\(elapsed / 60)m"
            : elapsed < 86400 ? "\(elapsed / 3600)h" : "\(elapsed / 86400)d"
        sparkline.add(Double(sample.latency), label: label)
    }
    var graph = "\(event) - high \(high) ms, low \(low) ms (all time high \(series.max) ms)\n"
    graph += String(repeating: "-", count: 80) + "\n"
    graph += sparkline.render(columns: 80, rows: 4)
    c.reply.verbatim(graph)
}

/// LATENCY HISTOGRAM [command ...]: per command (all that ran, or those named; a container also lists its
/// subcommands), its calls and the cumulative counts at power-of-two microsecond buckets.
private func latencyHistogram(_ c: Client) {
    var listed: [Command] = []
    if c.argc == 2 {
        for command in c.server.commands.all { collectHistograms(command, into: &listed) }
    } else {
        for j in 2..<c.argc {
            guard let command = c.server.commands.command(fullName: ByteString(c.arg(j))) else { continue }
            if command.latencyHistogram != nil { listed.append(command) }
            for sub in command.sortedSubcommands where sub.latencyHistogram != nil { listed.append(sub) }
        }
    }
    c.reply.map(listed.count)
    for command in listed {
        let histogram = command.latencyHistogram!
        c.reply.bulk(command.fullName)
        c.reply.map(2)
        c.reply.bulk("calls")
        c.reply.integer(histogram.totalCount)
        c.reply.bulk("histogram_usec")
        let buckets = histogram.cumulativeBuckets()
        c.reply.map(buckets.count)
        for bucket in buckets {
            c.reply.integer(bucket.micros)
            c.reply.integer(bucket.count)
        }
    }
}

private func collectHistograms(_ command: Command, into listed: inout [Command]) {
    if command.latencyHistogram != nil { listed.append(command) }
    for sub in command.sortedSubcommands { collectHistograms(sub, into: &listed) }
}

private func latencyHelp(_ c: Client) {
    replyHelp(c, "LATENCY", [
        "DOCTOR",
        "    Return a human readable latency analysis report.",
        "GRAPH <event>",
        "    Return an ASCII latency graph for the <event> class.",
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
        "    If no commands are specified then all histograms are replied.",
    ])
}

/// LATENCY DOCTOR's report (Redis's createLatencyReport): each event's statistics, then the advice its
/// events call for.
func latencyReport(_ server: Server) -> String {
    let monitor = server.latencyMonitor
    let config = server.config
    if monitor.events.isEmpty && config.latencyMonitorThreshold == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n"
    }
    enum Advice: CaseIterable {
        case slowlogEnabled, slowlogTuning, slowlogInspect, scheduler, localDisk, ssd, dataWriteback,
             diskContention, noAppendfsync, relaxFsync, writeLoadInfo, hz, largeObjects, massEviction, disableTHP
    }
    var advices = Set<Advice>()
    var adviceCount = 0
    var report = ""
    let now = Int64(Glibc.time(nil))
    for (number, (event, series)) in monitor.events.enumerated() {
        if number == 0 {
            report += "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n"
        }
        let samples = series.history
        let count = Int64(samples.count)
        let sum = samples.reduce(Int64(0)) { $0 + $1.latency }
        let average = count > 0 ? sum / count : 0
        let deviation = count > 0 ? samples.reduce(Int64(0)) { $0 + abs(average - $1.latency) } / count : 0
        var period = count > 0 ? now - (samples.map(\.time).min() ?? now) : 0
        if count > 0 && period == 0 { period = 1 }
        report += "\(number + 1). \(event): \(count) latency spikes (average \(average)ms, mean deviation \(deviation)ms, period "
            + cFormat("%.2f", count > 0 ? Double(period) / Double(count) : .nan) + " sec). Worst all time event \(series.max)ms."
        func advise(_ list: Advice...) {
            for advice in list { advices.insert(advice) }
            adviceCount += list.count
        }
        switch event.lowercased() {
        case "command":
            if config.slowlogLogSlowerThan < 0 {
                advise(.slowlogEnabled)
            } else if config.slowlogLogSlowerThan / 1000 > config.latencyMonitorThreshold {
                advise(.slowlogTuning)
            }
            advise(.slowlogInspect, .largeObjects)
        case "fast-command": advise(.scheduler)
        case "aof-write-pending-fsync": advise(.localDisk, .diskContention, .ssd, .dataWriteback)
        case "aof-write-active-child": advise(.noAppendfsync, .dataWriteback, .ssd)
        case "aof-write-alone": advise(.localDisk, .dataWriteback, .ssd)
        case "aof-fsync-always": advise(.relaxFsync)
        case "aof-fstat", "rdb-unlink-temp-file": advise(.diskContention, .localDisk)
        case "aof-rewrite-diff-write", "aof-rename": advise(.writeLoadInfo, .dataWriteback, .ssd, .localDisk)
        case "expire-cycle": advise(.hz, .largeObjects)
        case "eviction-del": advise(.largeObjects)
        case "eviction-cycle": advise(.massEviction)
        default: break
        }
        report += "\n"
    }
    if anonymousHugePagesInUse() {
        advices.insert(.disableTHP)
        adviceCount += 1
    }
    if monitor.events.isEmpty && adviceCount == 0 {
        return report + "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n"
    }
    if !monitor.events.isEmpty && adviceCount == 0 {
        return report + "\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n"
    }
    report += "\nI have a few advices for you:\n\n"
    let threshold = config.latencyMonitorThreshold * 1000
    for advice in Advice.allCases where advices.contains(advice) {
        switch advice {
        case .slowlogEnabled:
            report += "- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than \(threshold)'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n"
        case .slowlogTuning:
            report += "- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than \(threshold)'.\n"
        case .slowlogInspect:
            report += "- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n"
        case .scheduler:
            report += "- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n"
                + "  1) Lower the system load.\n"
                + "  2) Use a computer / VM just for Redis if you are running other software in the same system.\n"
                + "  3) Check if you have a \"noisy neighbour\" problem.\n"
                + "  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n"
                + "  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n"
        case .localDisk:
            report += "- It is strongly advised to use local disks for persistence, especially if you are using AOF. Remote disks provided by platform-as-a-service providers are known to be slow.\n"
        case .ssd:
            report += "- SSD disks are able to reduce fsync latency, and total time needed for snapshotting and AOF log rewriting (resulting in smaller memory usage). With extremely high write load SSD disks can be a good option. However Redis should perform reasonably with high load using normal disks. Use this advice as a last resort.\n"
        case .dataWriteback:
            report += "- Mounting ext3/4 filesystems with data=writeback can provide a performance boost compared to data=ordered, however this mode of operation provides less guarantees, and sometimes it can happen that after a hard crash the AOF file will have a half-written command at the end and will require to be repaired before Redis restarts.\n"
        case .diskContention:
            report += "- Try to lower the disk contention. This is often caused by other disk intensive processes running in the same computer (including other Redis instances).\n"
        case .noAppendfsync:
            report += "- Assuming from the point of view of data safety this is viable in your environment, you could try to enable the 'no-appendfsync-on-rewrite' option, so that fsync will not be performed while there is a child rewriting the AOF file or producing an RDB file (the moment where there is high disk contention).\n"
        case .relaxFsync:
            if config.value(of: "appendfsync") == "always" {
                report += "- Your fsync policy is set to 'always'. It is very hard to get good performances with such a setup, if possible try to relax the fsync policy to 'onesec'.\n"
            }
        case .writeLoadInfo:
            report += "- Latency during the AOF atomic rename operation or when the final difference is flushed to the AOF file at the end of the rewrite, sometimes is caused by very high write load, causing the AOF buffer to get very large. If possible try to send less commands to accomplish the same work, or use Lua scripts to group multiple operations into a single EVALSHA call.\n"
        case .hz:
            if config.hz < 100 {
                report += "- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n"
            }
        case .largeObjects:
            report += "- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n"
        case .massEviction:
            report += "- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of large objects via sets or sorted sets intersections, STORE option of SORT, Redis Cluster large keys migrations (RESTORE command), may create sudden memory pressure forcing the server to block trying to evict keys. \n"
        case .disableTHP:
            report += "- I detected a non zero amount of anonymous huge pages used by your process. This creates very serious latency events in different conditions, especially when Redis is persisting on disk. To disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. Note that even if you have already disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n"
        }
    }
    return report
}

/// Whether /proc/self/smaps reports AnonHugePages in use (Redis's THPGetAnonHugePagesSize > 0).
private func anonymousHugePagesInUse() -> Bool {
    guard let file = fopen("/proc/self/smaps_rollup", "r") ?? fopen("/proc/self/smaps", "r") else { return false }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 512)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = String(cString: line)
        if text.hasPrefix("AnonHugePages:") {
            let kb = text.dropFirst("AnonHugePages:".count).split(separator: " ").first.flatMap { Int($0) } ?? 0
            if kb > 0 { return true }
        }
    }
    return false
}

/// Redis's sparkline.c rendering, as LATENCY GRAPH draws it (filled, linear scale): `rows` rows of "_o#"
/// and "|" per column, one blank line, then each label written vertically under its column.
struct Sparkline {
    private var samples: [(value: Double, label: String)] = []
    private var low = 0.0, high = 0.0
    private static let fill: [UInt8] = Array("_o#".utf8)

    mutating func add(_ value: Double, label: String) {
        if samples.isEmpty {
            (low, high) = (value, value)
        } else if value < low {
            low = value
        } else if value > high {
            high = value
        }
        samples.append((value, label))
    }

    func render(columns: Int, rows: Int) -> String {
        var output = ""
        var start = 0
        while start < samples.count {
            if start != 0 { output += "\n" }
            output += renderRange(rows: rows, offset: start, length: min(columns, samples.count - start))
            start += columns
        }
        return output
    }

    private func renderRange(rows: Int, offset: Int, length: Int) -> String {
        let relativeMax = high - low == 0 ? 1 : high - low
        let steps = Sparkline.fill.count * rows
        let hasLabels = samples.contains { !$0.label.isEmpty }
        var output: [UInt8] = []
        var row = 0
        var again = true
        while again {
            again = false
            var chars = [UInt8](repeating: UInt8(ascii: " "), count: length)
            for j in 0..<length {
                let sample = samples[j + offset]
                let relative = sample.value - low
                var step = Int(Double(Int(relative * Double(steps))) / relativeMax)
                step = min(max(step, 0), steps - 1)
                if row < rows {
                    let index = step - (rows - row - 1) * Sparkline.fill.count
                    again = true
                    if index >= 0 && index < Sparkline.fill.count {
                        chars[j] = Sparkline.fill[index]
                    } else if index >= Sparkline.fill.count {
                        chars[j] = UInt8(ascii: "|")
                    }
                } else {
                    if hasLabels && row - rows < 1 {  // one blank line between the graph and the labels
                        again = true
                        break
                    }
                    let label = Array(sample.label.utf8)
                    let position = row - rows - 1
                    if label.count > position {
                        again = true
                        chars[j] = label[position]
                    }
                }
            }
            if again {
                row += 1
                output += chars + [10]
            }
        }
        return String(decoding: output, as: UTF8.self)
    }
}

// MARK: - MODULE

/// MODULE LOAD / LOADEX: Needletail has no module API, so every load fails as a failed load does in Redis.
private func moduleLoad(_ c: Client) {
    c.server.log.warning("Module \(c.argString(2)) failed to load: Needletail does not support Redis modules")
    c.reply.error("ERR Error loading the extension. Please check the server logs.")
}

private func moduleHelp(_ c: Client) {
    replyHelp(c, "MODULE", [
        "LIST",
        "    Return a list of loaded modules.",
        "LOAD <path> [<arg> ...]",
        "    Load a module library from <path>, passing to it any optional arguments.",
        "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
        "    Load a module library from <path>, while passing it module configurations and optional arguments.",
        "UNLOAD <name>",
        "    Unload a module.",
    ])
}

// MARK: - Cluster mode (disabled)

private func clusterDisabled(_ c: Client) { c.reply.error("ERR This instance has cluster support disabled") }

/// CLUSTER's subcommands with redis-server 7.0's arities and flags (COMMAND INFO and DOCS list them); each
/// answers that cluster support is disabled, as redis-server with `cluster-enabled no`.
private let clusterSubcommands: [Command] = {
    let admin: CommandFlags = [.admin, .stale, .noAsyncLoading]
    let entries: [(String, Int, CommandFlags, String, String, String)] = [
        ("addslots", -3, admin, "3.0.0", "Assign new hash slots to receiving node", "O(N) where N is the total number of hash slot arguments"),
        ("addslotsrange", -4, admin, "7.0.0", "Assign new hash slots to receiving node", "O(N) where N is the total number of the slots between the start slot and end slot arguments."),
        ("bumpepoch", 2, admin, "3.0.0", "Advance the cluster config epoch", "O(1)"),
        ("count-failure-reports", 3, [.admin, .stale], "3.0.0", "Return the number of failure reports active for a given node", "O(N) where N is the number of failure reports"),
        ("countkeysinslot", 3, [.stale], "3.0.0", "Return the number of local keys in the specified hash slot", "O(1)"),
        ("delslots", -3, admin, "3.0.0", "Set hash slots as unbound in receiving node", "O(N) where N is the total number of hash slot arguments"),
        ("delslotsrange", -4, admin, "7.0.0", "Set hash slots as unbound in receiving node", "O(N) where N is the total number of the slots between the start slot and end slot arguments."),
        ("failover", -2, admin, "3.0.0", "Forces a replica to perform a manual failover of its master.", "O(1)"),
        ("flushslots", 2, admin, "3.0.0", "Delete a node's own slots information", "O(1)"),
        ("forget", 3, admin, "3.0.0", "Remove a node from the nodes table", "O(1)"),
        ("getkeysinslot", 4, [.stale], "3.0.0", "Return local key names in the specified hash slot", "O(log(N)) where N is the number of requested keys"),
        ("help", 2, [.loading, .stale], "5.0.0", "Show helpful text about the different subcommands", "O(1)"),
        ("info", 2, [.stale], "3.0.0", "Provides info about Redis Cluster node state", "O(1)"),
        ("keyslot", 3, [.stale], "3.0.0", "Returns the hash slot of the specified key", "O(N) where N is the number of bytes in the key"),
        ("links", 2, [.stale], "7.0.0", "Returns a list of all TCP links to and from peer nodes in cluster", "O(N) where N is the total number of Cluster nodes"),
        ("meet", -4, admin, "3.0.0", "Force a node cluster to handshake with another node", "O(1)"),
        ("myid", 2, [.stale], "3.0.0", "Return the node id", "O(1)"),
        ("nodes", 2, [.stale], "3.0.0", "Get Cluster config for the node", "O(N) where N is the total number of Cluster nodes"),
        ("replicas", 3, [.admin, .stale], "5.0.0", "List replica nodes of the specified master node", "O(1)"),
        ("replicate", 3, admin, "3.0.0", "Reconfigure a node as a replica of the specified master node", "O(1)"),
        ("reset", -2, [.admin, .noscript, .stale], "3.0.0", "Reset a Redis Cluster node", "O(N) where N is the number of known nodes. The command may execute a FLUSHALL as a side effect."),
        ("saveconfig", 2, admin, "3.0.0", "Forces the node to save cluster state on disk", "O(1)"),
        ("set-config-epoch", 3, admin, "3.0.0", "Set the configuration epoch in a new node", "O(1)"),
        ("setslot", -4, admin, "3.0.0", "Bind a hash slot to a specific node", "O(1)"),
        ("shards", 2, [.stale], "7.0.0", "Get array of cluster slots to node mappings", "O(N) where N is the total number of cluster nodes"),
        ("slaves", 3, [.admin, .stale], "3.0.0", "List replica nodes of the specified master node", "O(1)"),
        ("slots", 2, [.stale], "3.0.0", "Get array of Cluster slot to node mappings", "O(N) where N is the total number of Cluster nodes"),
    ]
    return entries.map { name, arity, flags, since, summary, complexity in
        Command(name, arity: arity, flags: flags, group: "cluster", since: since, summary: summary,
                complexity: complexity, handler: clusterDisabled)
    }
}()
