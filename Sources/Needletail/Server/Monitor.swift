/// MONITOR (Redis's replicationFeedMonitors): every command another client runs, as one simple-string
/// line per command, after it ran:
///
///     +1700000000.123456 [0 127.0.0.1:50000] "SET" "k" "v"
///
/// seconds.microseconds of the wall clock, the database the client is in after the command, its peer
/// address (`unix:<path>` for the Unix socket), then each argument quoted as sdscatrepr quotes. Commands
/// inside EXEC are listed as they run, EXEC after them; a blocked command once, when it first ran (not
/// when it is served); queued, rejected and unknown commands never; admin and skip_monitor commands
/// never (CONFIG, DEBUG, CLIENT LIST, ...), except the scripts (EVAL*, FCALL*), listed before they run so
/// that the commands a script runs (`[<db> lua]`) follow their script. AUTH's arguments and HELLO's AUTH
/// pair read "(redacted)" (`redactedArguments`, Server/Diagnostics.swift).
///
/// Zero cost without monitors: `call` takes its bookkeeping path only while `callNeedsBookkeeping` is set
/// (a propagation sink or a monitor), the same one check the fast path already paid.
///
/// A monitor is a replica to Redis: it may not run commands that read or write the keyspace ("Replica
/// can't interact with the keyspace"), MONITOR again is ignored, and RESET turns it back into a client.
extension Server {
    /// MONITOR: the client starts receiving every command. Not inside EXEC (Redis's deny-blocking rule).
    func startMonitoring(_ client: Client) {
        if client.executingTransaction { return client.reply.error("ERR MONITOR isn't allowed for DENY BLOCKING client") }
        if client.isMonitor { return }  // ignored, no reply, as Redis
        client.isMonitor = true
        client.updateRestricted()
        monitors.append(client)
        updateCallBookkeeping()
        client.reply.ok()
    }

    /// RESET or a closed connection: no more lines.
    func stopMonitoring(_ client: Client) {
        guard client.isMonitor else { return }
        client.isMonitor = false
        client.updateRestricted()
        monitors.removeAll { $0 === client }
        updateCallBookkeeping()
    }

    func updateCallBookkeeping() {
        callNeedsBookkeeping = propagationSink != nil || !monitors.isEmpty || trackingClients > 0
    }

    /// After `command` ran on `client`: one line to every monitor, of `arguments` when given (EXEC's own,
    /// saved before its queued commands replaced them), else of the client's current request.
    func feedMonitors(_ client: Client, _ command: Command, arguments: [ByteString]? = nil) {
        if !command.flags.isDisjoint(with: [.admin, .skipMonitor]) || client.reprocessingBlockedCommand { return }
        writeMonitorLine(client, command, arguments: arguments)
    }

    /// Before a script runs: the line of its EVAL, EVALSHA or FCALL (and _RO forms), so that the commands the
    /// script runs follow it, as Redis's evalCommand and fcallCommandGeneric feed it. These commands are
    /// skip_monitor: `call` does not list them again after they ran.
    func feedMonitorsBeforeScript(_ client: Client) {
        if monitors.isEmpty || client.reprocessingBlockedCommand { return }
        writeMonitorLine(client, nil, arguments: nil)
    }

    /// The line of the client's request (or of `arguments`), with AUTH's and HELLO's secrets redacted when
    /// `command` is one of them.
    private func writeMonitorLine(_ client: Client, _ command: Command?, arguments: [ByteString]?) {
        let micros = wallClockMicros()
        var line: [UInt8] = Array("+\(micros / 1_000_000).".utf8)
        let fraction = String(micros % 1_000_000)
        line += Array(String(repeating: "0", count: 6 - fraction.count).utf8) + Array(fraction.utf8)
        if client.kind == .internal {
            line += Array(" [\(client.db.index) lua] ".utf8)
        } else if client.isUnixSocket {
            line += Array(" [\(client.db.index) unix:\(config.unixsocket)] ".utf8)
        } else {
            line += Array(" [\(client.db.index) \(client.address)] ".utf8)
        }
        if let arguments {
            line += arguments.map { Config.representation($0.withUnsafeBytes { Array($0) }) }.joined(separator: [32])
        } else {
            let redacted = command.map { redactedArguments(client, $0) } ?? []
            for i in 0..<client.argc {
                if i > 0 { line.append(UInt8(ascii: " ")) }
                if redacted.contains(i) {
                    line += Array("\"(redacted)\"".utf8)
                } else {
                    line += Config.representation(Array(client.arg(i)))
                }
            }
        }
        line += [13, 10]
        for monitor in monitors where !monitor.isClosed {
            line.withUnsafeBytes { monitor.output.append($0) }
            scheduleWrite(monitor)
            if monitor.output.readableBytes > outputCheckBytes { checkOutputBuffer(monitor) }
        }
    }
}

extension Client {
    /// Subscribed or monitoring: `commandToRun` checks what such a client may run (one test for everyone).
    func updateRestricted() { restricted = subscriptions != nil || isMonitor }
}
