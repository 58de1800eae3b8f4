import Glibc

/// A blocking TCP connection that sends arbitrary bytes and reads replies back as the exact bytes the
/// server wrote: for what a client library would hide or refuse (protocol errors, half requests, RESP3
/// with a hiredis that predates it, inline commands). Reads wait at most `timeoutMillis`.
final class WireSocket {
    private(set) var fd: Int32
    private var input: [UInt8] = []
    private var position = 0

    init(port: Int, timeoutMillis: Int = 10_000) throws {
        fd = try connectLoopback(port: port)
        var timeout = timeval(tv_sec: timeoutMillis / 1000, tv_usec: (timeoutMillis % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    // MARK: - Sending

    func send(_ bytes: [UInt8]) throws {
        if let error = rawSendAll(fd, bytes) { throw HarnessError("send: \(String(cString: strerror(error)))") }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Sends one multibulk request and returns its reply's bytes.
    func request(_ arguments: [String]) throws -> [UInt8] {
        try send(multibulkRequest(arguments.map { Array($0.utf8) }))
        return try readReply().raw
    }

    // MARK: - Receiving

    /// Reads one complete RESP2/RESP3 reply: its decoded value and its exact bytes.
    func readReply() throws -> (value: RESPValue, raw: [UInt8]) {
        let start = position
        let value = try parseValue()
        let raw = Array(input[start..<position])
        input.removeFirst(position)
        position = 0
        return (value, raw)
    }

    /// Reads exactly `count` bytes (fewer only if the connection ends first).
    func read(count: Int) -> [UInt8] {
        while input.count - position < count {
            if (try? fill()) == nil { break }
        }
        let n = min(count, input.count - position)
        defer { position += n }
        return Array(input[position..<position + n])
    }

    /// Everything until the server closes the connection; `closed` is false if it did not within the timeout.
    func readUntilClosed() -> (bytes: [UInt8], closed: Bool) {
        while true {
            do {
                try fill()
            } catch let error as HarnessError {
                let rest = Array(input[position...])
                position = input.count
                return (rest, error.description == WireSocket.closedByPeer)
            } catch {
                return ([], false)
            }
        }
    }

    static let closedByPeer = "connection closed by the server"

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n > 0 {
                input += chunk[0..<n]
                return
            }
            if n == 0 { throw HarnessError(WireSocket.closedByPeer) }
            let e = errno
            if e == EINTR { continue }
            // A reset after the server wrote its last reply and closed: the data before it was delivered.
            if e == ECONNRESET { throw HarnessError(WireSocket.closedByPeer) }
            throw HarnessError(e == EAGAIN ? "read timed out" : "recv: \(String(cString: strerror(e)))")
        }
    }

    private func byte() throws -> UInt8 {
        while position >= input.count { try fill() }
        defer { position += 1 }
        return input[position]
    }

    private func line() throws -> [UInt8] {
        var bytes: [UInt8] = []
        while true {
            let b = try byte()
            if b == 13 {
                guard try byte() == 10 else { throw HarnessError("malformed reply: \\r without \\n") }
                return bytes
            }
            bytes.append(b)
        }
    }

    private func bytes(_ count: Int) throws -> [UInt8] {
        while input.count - position < count { try fill() }
        defer { position += count }
        return Array(input[position..<position + count])
    }

    private func number() throws -> Int {
        let text = String(decoding: try line(), as: UTF8.self)
        guard let n = Int(text) else { throw HarnessError("malformed length \(text.debugDescription)") }
        return n
    }

    private func parseValue() throws -> RESPValue {
        let type = try byte()
        switch type {
        case UInt8(ascii: "+"): return .simple(String(decoding: try line(), as: UTF8.self))
        case UInt8(ascii: "-"): return .error(String(decoding: try line(), as: UTF8.self))
        case UInt8(ascii: ":"): return .integer(Int64(try number()))
        case UInt8(ascii: ","): return .double(String(decoding: try line(), as: UTF8.self))
        case UInt8(ascii: "("): return .bigNumber(String(decoding: try line(), as: UTF8.self))
        case UInt8(ascii: "#"): return .boolean(try line() == [UInt8(ascii: "t")])
        case UInt8(ascii: "_"): _ = try line(); return .null
        case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"):
            let length = try number()
            if length < 0 { return .null }
            let body = try bytes(length)
            guard try bytes(2) == [13, 10] else { throw HarnessError("bulk not followed by \\r\\n") }
            return type == UInt8(ascii: "$") ? .bulk(body) : type == UInt8(ascii: "=") ? .verbatim(body) : .blobError(body)
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"):
            let count = try number()
            if count < 0 { return .null }
            let elements = try (0..<(type == UInt8(ascii: "%") ? 2 * count : count)).map { _ in try parseValue() }
            switch type {
            case UInt8(ascii: "~"): return .set(elements)
            case UInt8(ascii: ">"): return .push(elements)
            case UInt8(ascii: "%"): return .map(elements)
            default: return .array(elements)
            }
        default:
            throw HarnessError("unknown reply type byte \(type)")
        }
    }
}

/// A decoded reply. Maps keep their keys and values in wire order, flattened (k1, v1, k2, v2, ...).
indirect enum RESPValue: Equatable {
    case simple(String), error(String), integer(Int64), bulk([UInt8]), null
    case double(String), bigNumber(String), boolean(Bool), verbatim([UInt8]), blobError([UInt8])
    case array([RESPValue]), set([RESPValue]), push([RESPValue]), map([RESPValue])
}

func multibulkRequest(_ arguments: [[UInt8]]) -> [UInt8] {
    var out = Array("*\(arguments.count)\r\n".utf8)
    for a in arguments { out += Array("$\(a.count)\r\n".utf8) + a + [13, 10] }
    return out
}

/// Bytes as text for failure messages, every byte visible.
func printable(_ bytes: [UInt8], limit: Int = 300) -> String {
    var s = ""
    for b in bytes.prefix(limit) {
        switch b {
        case 13: s += "\\r"
        case 10: s += "\\n"
        case 32...126: s.append(Character(UnicodeScalar(b)))
        default: s += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
        }
    }
    return bytes.count > limit ? s + "...(\(bytes.count) bytes)" : s
}
