import Glibc

/// A minimal RESP client over a blocking TCP socket, for the differential and hostile-client tests.
///
/// It sends requests as arbitrary bytes (usually multibulk-encoded argument lists) and reads back exactly
/// one complete reply as the raw bytes the server wrote, so tests compare replies byte for byte rather
/// than through a client library's interpretation. Every read waits at most `timeoutMillis`.
final class RawClient {
    let fd: Int32
    var timeoutMillis: Int32
    /// Bytes received and not yet returned as a reply; `start` is where the next reply begins.
    private var buffer: [UInt8] = []
    private var start = 0
    private(set) var isClosed = false

    init(port: Int, timeoutMillis: Int32 = 5000) throws {
        self.timeoutMillis = timeoutMillis
        let fd: Int32
        do {
            fd = try connectLoopback(port: port)
        } catch let error as SocketCallError {
            throw RawClientError.io(call: error.call, errno: error.errno)
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        self.fd = fd
    }

    deinit { close() }

    /// Closes the socket. With `reset`, SO_LINGER 0 makes the kernel send RST instead of FIN, as when a
    /// client process is killed with unsent or unread data.
    func close(reset: Bool = false) {
        if isClosed { return }
        isClosed = true
        if reset {
            var lin = linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, socklen_t(MemoryLayout<linger>.size))
        }
        Glibc.close(fd)
    }

    // MARK: - Sending

    /// Sends every byte (blocking until the kernel took them all).
    func send(_ bytes: [UInt8]) throws {
        if let error = rawSendAll(fd, bytes) { throw RawClientError.io(call: "send", errno: error) }
    }

    /// Sends what the socket accepts before `deadlineMillis` (monotonic) without ever blocking longer;
    /// returns the number of bytes sent. For clients that flood a server which stops reading.
    func send(_ bytes: [UInt8], until deadlineMillis: Int64) throws -> Int {
        var sent = 0
        while sent < bytes.count {
            let left = deadlineMillis - rawMonotonicMillis()
            if left <= 0 { break }
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let r = poll(&p, 1, Int32(min(left, 1000)))
            if r < 0 && errno != EINTR { throw RawClientError.io(call: "poll", errno: errno) }
            if r <= 0 { continue }
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK { continue }
                throw RawClientError.io(call: "send", errno: errno)
            }
            sent += n
        }
        return sent
    }

    func send(command args: [[UInt8]]) throws { try send(RawClient.encode(args)) }

    /// Sends one command and reads its reply.
    func call(_ args: [[UInt8]]) throws -> [UInt8] {
        try send(command: args)
        return try readReply()
    }

    func call(_ args: String...) throws -> [UInt8] { try call(args.map { Array($0.utf8) }) }

    /// The multibulk encoding of an argument list.
    static func encode(_ args: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = Array("*\(args.count)\r\n".utf8)
        for a in args {
            out += Array("$\(a.count)\r\n".utf8)
            out += a
            out += [13, 10]
        }
        return out
    }

    // MARK: - Receiving

    /// Reads until one complete reply is buffered and returns its bytes. An attribute `|` is returned
    /// together with the value it annotates, and out-of-band push messages (`>`) together with the reply
    /// that follows them, so a reply always answers exactly one request.
    func readReply() throws -> [UInt8] {
        let deadline = rawMonotonicMillis() + Int64(timeoutMillis)
        var pushes: [UInt8] = []
        while true {
            if let end = try RESPFrame.end(of: buffer, from: start) {
                if buffer[start] == UInt8(ascii: ">") {
                    pushes += buffer[start..<end]
                    start = end
                    continue
                }
                let reply = pushes + buffer[start..<end]
                start = end
                if start == buffer.count {
                    buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
                    start = 0
                } else if start > 1 << 16 && start > buffer.count / 2 {
                    buffer.removeSubrange(0..<start)
                    start = 0
                }
                return reply
            }
            try receive(deadline: deadline)
        }
    }

    /// Reads exactly one RESP value, a push frame (`>`) included: for connections whose replies are several
    /// frames (SUBSCRIBE a b) or frames without a request (pub/sub messages).
    func readFrame() throws -> [UInt8] {
        let deadline = rawMonotonicMillis() + Int64(timeoutMillis)
        while true {
            if let end = try RESPFrame.end(of: buffer, from: start) {
                let frame = Array(buffer[start..<end])
                start = end
                if start == buffer.count {
                    buffer.removeAll(keepingCapacity: true)
                    start = 0
                }
                return frame
            }
            try receive(deadline: deadline)
        }
    }

    /// Whether a complete reply is buffered, after waiting up to `timeoutMillis` for one; the reply stays
    /// for `readReply`.
    func hasReply() throws -> Bool {
        let deadline = rawMonotonicMillis() + Int64(timeoutMillis)
        while try RESPFrame.end(of: buffer, from: start) == nil {
            do { try receive(deadline: deadline) } catch RawClientError.timeout { return false }
        }
        return true
    }

    /// Reads until the server closes the connection (or the timeout) and returns what arrived after
    /// the replies already returned. Throws `.timeout` when the connection is still open at the deadline.
    func readUntilClosed() throws -> [UInt8] {
        let deadline = rawMonotonicMillis() + Int64(timeoutMillis)
        while true {
            do {
                try receive(deadline: deadline)
            } catch RawClientError.closed {
                return Array(buffer[start...])
            } catch RawClientError.io(_, let e) where e == ECONNRESET {
                return Array(buffer[start...])
            }
        }
    }

    /// Appends whatever the socket has (waiting up to the deadline); throws `.closed` at end of stream.
    private func receive(deadline: Int64) throws {
        while true {
            let left = deadline - rawMonotonicMillis()
            if left <= 0 { throw RawClientError.timeout(received: Array(buffer[start...])) }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, Int32(min(left, 1000)))
            if r < 0 && errno != EINTR { throw RawClientError.io(call: "poll", errno: errno) }
            if r > 0 { break }
        }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
        if n < 0 {
            if errno == EINTR || errno == EAGAIN { return }
            throw RawClientError.io(call: "recv", errno: errno)
        }
        if n == 0 { throw RawClientError.closed(received: Array(buffer[start...])) }
        buffer.append(contentsOf: chunk[0..<n])
    }
}

enum RawClientError: Error, CustomStringConvertible {
    case io(call: String, errno: Int32)
    case timeout(received: [UInt8])
    case closed(received: [UInt8])
    case malformed(String)

    var description: String {
        switch self {
        case .io(let call, let e): return "\(call): \(String(cString: strerror(e)))"
        case .timeout(let r): return "timed out waiting for a reply (partial: \(rawEscaped(r)))"
        case .closed(let r): return "connection closed by the server (partial: \(rawEscaped(r)))"
        case .malformed(let m): return "malformed reply: \(m)"
        }
    }
}

// MARK: - RESP framing

/// Finds where a RESP2/RESP3 value ends, without interpreting it.
enum RESPFrame {
    /// The index just past the value starting at `from`, nil when more bytes are needed; throws on bytes
    /// that cannot be RESP.
    static func end(of b: [UInt8], from: Int) throws -> Int? {
        try b.withUnsafeBufferPointer { try end(of: $0, from: from) }
    }

    /// Iterative (a count of values still owed), so a deeply nested reply cannot overflow the test's stack.
    static func end(of b: UnsafeBufferPointer<UInt8>, from i: Int) throws -> Int? {
        var j = i
        var owed = 1
        while owed > 0 {
            guard j < b.count else { return nil }
            let type = b[j]
            guard let cr = lineEnd(b, j + 1) else { return nil }
            let next = cr + 2
            owed -= 1
            switch type {
            case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "_"), UInt8(ascii: ","),
                 UInt8(ascii: "#"), UInt8(ascii: "("):
                j = next
            case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
                let n = try length(b, j + 1, cr)
                if n < 0 { j = next; continue }
                if next + n + 2 > b.count { return nil }
                guard b[next + n] == 13 && b[next + n + 1] == 10 else { throw RawClientError.malformed("bulk not followed by CRLF") }
                j = next + n + 2
            case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
                let n = try length(b, j + 1, cr)
                j = next
                if n < 0 { continue }
                owed += type == UInt8(ascii: "%") || type == UInt8(ascii: "|") ? 2 * n : n
                // An attribute annotates the value that follows it: both make one reply.
                if type == UInt8(ascii: "|") { owed += 1 }
            default:
                throw RawClientError.malformed("unknown type byte \(rawEscaped([type]))")
            }
        }
        return j
    }

    private static func lineEnd(_ b: UnsafeBufferPointer<UInt8>, _ from: Int) -> Int? {
        var j = from
        while j + 1 < b.count {
            if b[j] == 13 && b[j + 1] == 10 { return j }
            j += 1
        }
        return nil
    }

    private static func length(_ b: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) throws -> Int {
        var n = 0
        var negative = false
        var j = from
        if j < to && b[j] == UInt8(ascii: "-") { negative = true; j += 1 }
        if j == to { throw RawClientError.malformed("empty length") }
        while j < to {
            let d = b[j]
            guard d >= 48 && d <= 57, n < 1 << 40 else { throw RawClientError.malformed("bad length") }
            n = n * 10 + Int(d - 48)
            j += 1
        }
        if negative {
            guard n == 1 else { throw RawClientError.malformed("negative length other than -1") }
            return -1
        }
        return n
    }
}

/// A parsed reply, for the few comparisons that must look inside one (sorting KEYS, masking HELLO's id).
indirect enum RawReply: Equatable {
    /// + - : _ , # ( : the type byte and the line.
    case line(UInt8, [UInt8])
    /// $ ! = : the type byte and the payload, nil for a null (`$-1`).
    case blob(UInt8, [UInt8]?)
    /// * ~ > % : the type byte and the elements (a map's keys and values alternate), nil for `*-1`.
    case aggregate(UInt8, [RawReply]?)
    /// | : attribute pairs, then the value they annotate.
    case attributed([RawReply], RawReply)

    static func parse(_ bytes: [UInt8]) throws -> RawReply {
        var i = 0
        let v = try parse(bytes, &i)
        guard i == bytes.count else { throw RawClientError.malformed("trailing bytes after a reply") }
        return v
    }

    private static func parse(_ b: [UInt8], _ i: inout Int) throws -> RawReply {
        guard let end = try RESPFrame.end(of: b, from: i) else { throw RawClientError.malformed("incomplete reply") }
        let type = b[i]
        var cr = i + 1
        while b[cr] != 13 || b[cr + 1] != 10 { cr += 1 }
        let line = Array(b[(i + 1)..<cr])
        switch type {
        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            i = end
            return line == Array("-1".utf8) ? .blob(type, nil) : .blob(type, Array(b[(cr + 2)..<(end - 2)]))
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
            i = cr + 2
            if line == Array("-1".utf8) { return .aggregate(type, nil) }
            let n = Int(String(decoding: line, as: UTF8.self))!
            let count = type == UInt8(ascii: "%") || type == UInt8(ascii: "|") ? 2 * n : n
            var elements: [RawReply] = []
            for _ in 0..<count { elements.append(try parse(b, &i)) }
            if type == UInt8(ascii: "|") { return .attributed(elements, try parse(b, &i)) }
            return .aggregate(type, elements)
        default:
            i = end
            return .line(type, line)
        }
    }

    var encoded: [UInt8] {
        switch self {
        case .line(let t, let l): return [t] + l + [13, 10]
        case .blob(let t, nil): return [t] + Array("-1\r\n".utf8)
        case .blob(let t, let p?): return [t] + Array("\(p.count)\r\n".utf8) + p + [13, 10]
        case .aggregate(let t, nil): return [t] + Array("-1\r\n".utf8)
        case .aggregate(let t, let e?):
            let n = t == UInt8(ascii: "%") ? e.count / 2 : e.count
            return [t] + Array("\(n)\r\n".utf8) + e.flatMap { $0.encoded }
        case .attributed(let a, let v):
            return [UInt8(ascii: "|")] + Array("\(a.count / 2)\r\n".utf8) + a.flatMap { $0.encoded } + v.encoded
        }
    }

    /// This reply without the fields Redis 7.2 added to stream consumers' maps (XINFO CONSUMERS' "inactive",
    /// XINFO STREAM FULL's "active-time"), which needletail gives and a 7.0 oracle does not: a map's key and
    /// its value are dropped wherever they appear.
    var withoutRedis72ConsumerFields: RawReply {
        guard case .aggregate(let t, let e?) = self else { return self }
        var kept: [RawReply] = []
        var i = 0
        while i < e.count {
            if case .blob(_, let key?) = e[i], i + 1 < e.count,
               key == Array("inactive".utf8) || key == Array("active-time".utf8) {
                i += 2
                continue
            }
            kept.append(e[i].withoutRedis72ConsumerFields)
            i += 1
        }
        return .aggregate(t, kept)
    }

    /// The integer of a `:` reply.
    var integer: Int64? {
        if case .line(UInt8(ascii: ":"), let l) = self { return Int64(String(decoding: l, as: UTF8.self)) }
        return nil
    }
}

// MARK: - Helpers

/// Bytes as a readable, unambiguous string in redis-cli's quoting style: printable ASCII as is,
/// `\r \n \t \" \\`, everything else as `\xHH`.
func rawEscaped(_ bytes: [UInt8], limit: Int = 400) -> String {
    var s = "\""
    for (n, b) in bytes.enumerated() {
        if n == limit {
            s += "...(\(bytes.count) bytes)"
            break
        }
        switch b {
        case 13: s += "\\r"
        case 10: s += "\\n"
        case 9: s += "\\t"
        case 34: s += "\\\""
        case 92: s += "\\\\"
        case 32...126: s.unicodeScalars.append(Unicode.Scalar(b))
        default:
            let hex = Array("0123456789abcdef".utf8)
            s += "\\x" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 15)]], as: UTF8.self)
        }
    }
    return s + "\""
}

func rawMonotonicMillis() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

func rawSleepMillis(_ ms: Int) { usleep(UInt32(ms * 1000)) }

/// Sends every byte of `bytes` on a blocking socket (retrying after signals); the errno of a failure, or nil.
func rawSendAll(_ fd: Int32, _ bytes: [UInt8]) -> Int32? {
    var sent = 0
    while sent < bytes.count {
        let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
        if n < 0 {
            if errno == EINTR { continue }
            return errno
        }
        sent += n
    }
    return nil
}
