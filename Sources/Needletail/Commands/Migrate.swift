import CSystem
import Glibc

/// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password] [AUTH2 username password]
/// [KEYS key ...], as redis-server 7.0's migrateCommand: the keys' DUMP payloads are sent to the target as
/// RESTORE commands (after AUTH and SELECT as needed) over a connection kept for 10 seconds per host:port, and
/// the keys the target acknowledged are deleted here (propagated as DEL) unless COPY. Like Redis it talks to
/// the target synchronously, each read and write bounded by `timeout` ms: the loop waits for it.

let migrateCommands: [Command] = [
    Command("migrate", arity: -6, flags: [.write, .movableKeys], keys: (3, 3, 1), group: "generic", since: "2.6.0",
            summary: "Atomically transfer a key from a Redis instance to another one.",
            complexity: "This command actually executes a DUMP+DEL in the source instance, and a RESTORE in the target instance. See the pages of these commands for time complexity. Also an O(N) data transfer between the two instances is performed.",
            handler: migrate),
]

/// A connection to a MIGRATE target, kept between commands (Redis's migrateCachedSocket).
final class MigrateConnection {
    let fd: Int32
    /// The database selected on the target, -1 when unknown.
    var selectedDB = -1
    var lastUse: Int64
    private var pending: [UInt8] = []

    init(fd: Int32, now: Int64) {
        self.fd = fd
        lastUse = now
    }

    deinit { close(fd) }

    /// Writes all of `bytes` within `timeoutMillis` for each wait; false on an error or a timeout.
    func write(_ bytes: [UInt8], timeoutMillis: Int) -> Bool {
        var sent = 0
        while sent < bytes.count {
            guard wait(for: Int16(POLLOUT), timeoutMillis: timeoutMillis) else { return false }
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + sent, min(64 * 1024, bytes.count - sent)) }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    /// The next reply line (without CRLF), or nil on an error, a closed connection or a timeout.
    func readLine(timeoutMillis: Int) -> [UInt8]? {
        while true {
            if let end = pending.firstIndex(of: 10) {
                var line = Array(pending[..<end])
                if line.last == 13 { line.removeLast() }
                pending.removeSubrange(...end)
                return line
            }
            guard wait(for: Int16(POLLIN), timeoutMillis: timeoutMillis) else { return nil }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            if n <= 0 { return nil }
            pending += buffer[0..<n]
        }
    }

    private func wait(for events: Int16, timeoutMillis: Int) -> Bool {
        var descriptor = pollfd(fd: fd, events: events, revents: 0)
        let ready = poll(&descriptor, 1, Int32(clamping: timeoutMillis))
        if ready == 0 { errno = ETIMEDOUT }
        return ready > 0
    }
}

extension Server {
    /// The cached connection to `host:port`, or a new one (connected within `timeoutMillis`); nil after
    /// replying Redis's error.
    fileprivate func migrateConnection(_ c: Client, host: String, port: String, timeoutMillis: Int) -> MigrateConnection? {
        let name = host + ":" + port
        if let cached = migrateConnections[name] {
            cached.lastUse = monotonicMillis()
            return cached
        }
        // Too many cached connections: drop one at random, as Redis (MIGRATE_SOCKET_CACHE_ITEMS).
        if migrateConnections.count == 64, let victim = migrateConnections.keys.randomElement() { migrateConnections[victim] = nil }
        let fd = Int32(port).map { cs_tcp_connect(host, $0) } ?? -1
        var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        // As Redis's connBlockingConnect, a socket that becomes writable counts as connected: a refused
        // connection shows as a write error (and one retry), only a timeout fails here.
        guard fd >= 0, poll(&descriptor, 1, Int32(clamping: timeoutMillis)) == 1 else {
            if fd >= 0 { close(fd) }
            c.reply.error("IOERR error or timeout connecting to the client")
            return nil
        }
        let connection = MigrateConnection(fd: fd, now: monotonicMillis())
        migrateConnections[name] = connection
        return connection
    }

    /// From the cron: connections unused for 10 seconds are closed (migrateCloseTimedoutSockets).
    func closeIdleMigrateConnections() {
        guard !migrateConnections.isEmpty else { return }
        let now = monotonicMillis()
        for (name, connection) in migrateConnections where now - connection.lastUse > 10_000 { migrateConnections[name] = nil }
    }
}

private func migrate(_ c: Client) {
    var copy = false, replace = false
    var username: [UInt8]?, password: [UInt8]?
    var firstKey = 3, keyCount = 1
    var j = 6
    while j < c.argc {
        let more = c.argc - 1 - j
        if c.argIs(j, "copy") {
            copy = true
        } else if c.argIs(j, "replace") {
            replace = true
        } else if c.argIs(j, "auth") {
            guard more >= 1 else { return c.replySyntaxError() }
            j += 1
            password = Array(c.arg(j))
        } else if c.argIs(j, "auth2") {
            guard more >= 2 else { return c.replySyntaxError() }
            username = Array(c.arg(j + 1))
            password = Array(c.arg(j + 2))
            j += 2
        } else if c.argIs(j, "keys") {
            guard c.arg(3).isEmpty else {
                return c.reply.error("ERR When using MIGRATE KEYS option, the key argument must be set to the empty string")
            }
            firstKey = j + 1
            keyCount = c.argc - j - 1
            break
        } else {
            return c.replySyntaxError()
        }
        j += 1
    }
    guard var timeout = parseInt64(c.arg(5)), let db = parseInt64(c.arg(4)) else {
        return c.reply.error("ERR value is not an integer or out of range")
    }
    if timeout <= 0 { timeout = 1000 }
    let timeoutMillis = Int(clamping: timeout)
    let server = c.server
    let keys = (0..<keyCount).map { c.argBytes(firstKey + $0) }.filter { c.db.lookup($0, now: server.now) != nil }
    if keys.isEmpty { return c.reply.raw("+NOKEY\r\n") }

    var mayRetry = true
    while true {
        guard let connection = server.migrateConnection(c, host: c.argString(1), port: c.argString(2),
                                                        timeoutMillis: timeoutMillis) else { return }
        // AUTH, SELECT when the target is in another database, then one RESTORE per key still alive.
        let request = IOBuffer(capacity: 1024)
        defer { request.clear() }
        var unchanged = -1
        if let password {
            request.appendCommand(username.map { [ByteString("AUTH"), ByteString($0), ByteString(password)] }
                                  ?? [ByteString("AUTH"), ByteString(password)], db: -1, selected: &unchanged)
        }
        let select = connection.selectedDB != Int(db)
        if select { request.appendCommand([ByteString("SELECT"), ByteString(String(db))], db: -1, selected: &unchanged) }
        var sentKeys: [ByteString] = []
        for key in keys {
            guard let value = c.db.lookup(key, now: server.now, [.noTouch, .noNotify]) else { continue }
            var ttl: Int64 = 0
            if let at = c.db.expireTime(key) {
                ttl = at - server.now
                if ttl < 0 { continue }
                if ttl < 1 { ttl = 1 }
            }
            var argv = [ByteString("RESTORE"), key, ByteString(String(ttl)),
                        ByteString(dumpPayload(value, compress: server.config.rdbcompression))]
            if replace { argv.append(ByteString("REPLACE")) }
            request.appendCommand(argv, db: -1, selected: &unchanged)
            sentKeys.append(key)
        }
        let bytes = Array(UnsafeRawBufferPointer(start: request.base + request.readIndex, count: request.readableBytes))
        var writeError = false
        var errorFromTarget = false
        var socketError = false
        var acknowledged: [ByteString] = []
        var repliesRead = 0
        connection.lastUse = monotonicMillis()
        if !connection.write(bytes, timeoutMillis: timeoutMillis) {
            writeError = true
            socketError = true
        }
        var authReply: [UInt8] = [], selectReply: [UInt8] = []
        if !socketError, password != nil {
            if let line = connection.readLine(timeoutMillis: timeoutMillis) { authReply = line } else { socketError = true }
        }
        if !socketError, select {
            if let line = connection.readLine(timeoutMillis: timeoutMillis) { selectReply = line } else { socketError = true }
        }
        if socketError {
            // Nothing was processed: a cached connection that died is retried once (not after a timeout).
            server.migrateConnections[c.argString(1) + ":" + c.argString(2)] = nil
            if errno != ETIMEDOUT && mayRetry {
                mayRetry = false
                continue
            }
            return c.reply.error("IOERR error or timeout \(writeError ? "writing" : "reading") to target instance")
        }
        for key in sentKeys {
            guard let line = connection.readLine(timeoutMillis: timeoutMillis) else {
                socketError = true
                break
            }
            repliesRead += 1
            if authReply.first == UInt8(ascii: "-") || selectReply.first == UInt8(ascii: "-") || line.first == UInt8(ascii: "-") {
                if !errorFromTarget {
                    connection.selectedDB = -1
                    errorFromTarget = true
                    let message = authReply.first == UInt8(ascii: "-") ? authReply
                        : selectReply.first == UInt8(ascii: "-") ? selectReply : line
                    c.reply.error(bytes: Array("ERR Target instance replied with error: ".utf8) + message.dropFirst())
                }
            } else if !copy {
                c.db.remove(key)
                acknowledged.append(key)
            }
        }
        if !errorFromTarget && socketError && repliesRead == 0 && mayRetry && errno != ETIMEDOUT {
            server.migrateConnections[c.argString(1) + ":" + c.argString(2)] = nil
            mayRetry = false
            continue
        }
        if socketError { server.migrateConnections[c.argString(1) + ":" + c.argString(2)] = nil }
        // Propagated as DEL of the keys the target took (nothing when none was).
        if !copy && !acknowledged.isEmpty { c.propagateAs([ByteString("DEL")] + acknowledged) }
        if !errorFromTarget && socketError {
            return c.reply.error("IOERR error or timeout reading to target instance")
        }
        if !errorFromTarget {
            connection.selectedDB = Int(db)
            c.reply.ok()
        }
        return
    }
}
