import CHiredis
import Glibc

/// A reply as hiredis decoded it.
indirect enum HiredisReply: Equatable, CustomStringConvertible {
    case status(String), error(String), integer(Int64), string([UInt8]), null, array([HiredisReply])

    static func string(_ text: String) -> HiredisReply { .string(Array(text.utf8)) }
    static let ok = HiredisReply.status("OK")

    var description: String {
        switch self {
        case .status(let s): return "+\(s)"
        case .error(let s): return "-\(s)"
        case .integer(let n): return ":\(n)"
        case .string(let b): return "\"\(printable(b, limit: 80))\""
        case .null: return "(nil)"
        case .array(let a): return "[\(a.map(\.description).joined(separator: ", "))]"
        }
    }
}

/// One hiredis connection (blocking API). Arguments are passed with explicit lengths, so keys and values
/// are binary-safe. Not shared between threads.
final class HiredisConnection {
    let context: UnsafeMutablePointer<redisContext>

    init(port: Int, timeoutSeconds: Int = 30) throws {
        let timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        guard let context = redisConnectWithTimeout("127.0.0.1", Int32(port), timeout) else {
            throw HarnessError("redisConnect: out of memory")
        }
        if context.pointee.err != 0 {
            let message = HiredisConnection.errorText(context)
            redisFree(context)
            throw HarnessError("redisConnect 127.0.0.1:\(port): \(message)")
        }
        redisSetTimeout(context, timeout)
        self.context = context
    }

    deinit { redisFree(context) }

    func command(_ arguments: [[UInt8]]) throws -> HiredisReply {
        let reply = withArgv(arguments) { argc, argv, lengths in redisCommandArgv(context, argc, argv, lengths) }
        return try take(reply)
    }

    func command(_ arguments: String...) throws -> HiredisReply { try command(arguments.map { Array($0.utf8) }) }

    /// Queues a command in hiredis's output buffer (nothing is sent until `flush` or `reply`).
    func append(_ arguments: [[UInt8]]) throws {
        let rc = withArgv(arguments) { argc, argv, lengths in redisAppendCommandArgv(context, argc, argv, lengths) }
        if rc != REDIS_OK { throw HarnessError("redisAppendCommandArgv: \(HiredisConnection.errorText(context))") }
    }

    /// Writes everything queued by `append`.
    func flush() throws {
        var done: Int32 = 0
        while done == 0 {
            if redisBufferWrite(context, &done) != REDIS_OK {
                throw HarnessError("redisBufferWrite: \(HiredisConnection.errorText(context))")
            }
        }
    }

    /// The next reply (sending whatever is queued first).
    func reply() throws -> HiredisReply {
        var raw: UnsafeMutableRawPointer?
        if redisGetReply(context, &raw) != REDIS_OK {
            throw HarnessError("redisGetReply: \(HiredisConnection.errorText(context))")
        }
        return try take(raw)
    }

    private func take(_ raw: UnsafeMutableRawPointer?) throws -> HiredisReply {
        guard let raw else { throw HarnessError("hiredis: \(HiredisConnection.errorText(context))") }
        defer { freeReplyObject(raw) }
        return HiredisConnection.convert(raw.assumingMemoryBound(to: redisReply.self))
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> HiredisReply {
        let r = reply.pointee
        func bytes() -> [UInt8] {
            r.str == nil ? [] : Array(UnsafeRawBufferPointer(start: r.str, count: Int(r.len)))
        }
        switch r.type {
        case REDIS_REPLY_STATUS: return .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(Int64(r.integer))
        case REDIS_REPLY_STRING: return .string(bytes())
        case REDIS_REPLY_NIL: return .null
        case REDIS_REPLY_ARRAY: return .array((0..<Int(r.elements)).map { convert(r.element[$0]!) })
        default: return .error("unexpected hiredis reply type \(r.type)")
        }
    }

    private func withArgv<R>(_ arguments: [[UInt8]],
                             _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
        var pointers: [UnsafePointer<CChar>?] = []
        var lengths: [Int] = []
        for a in arguments {
            let copy = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, a.count))
            a.withUnsafeBytes { if a.count > 0 { UnsafeMutableRawPointer(copy).copyMemory(from: $0.baseAddress!, byteCount: a.count) } }
            pointers.append(UnsafePointer(copy))
            lengths.append(a.count)
        }
        defer { for p in pointers { UnsafeMutablePointer(mutating: p!).deallocate() } }
        return pointers.withUnsafeMutableBufferPointer { argv in
            lengths.withUnsafeBufferPointer { body(Int32(arguments.count), argv.baseAddress!, $0.baseAddress!) }
        }
    }

    static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
