import Glibc

/// Where one argument of the current request lies, relative to the start of the request.
struct ArgSpan {
    var offset: Int
    var count: Int
}

/// The spans of the current request, in storage reused for every request: appending costs a store and an
/// increment (a Swift Array would check uniqueness and capacity on every append, and `removeAll` would
/// call `replaceSubrange`: a tenth of the parser's cost per request).
final class ArgSpanStorage {
    private(set) var base: UnsafeMutablePointer<ArgSpan>
    private(set) var count = 0
    private var capacity: Int
    private static let initialCapacity = 16
    /// Storage beyond this is returned after a request that needed it (a multibulk of many arguments).
    private static let keptCapacity = 1024

    init() {
        capacity = ArgSpanStorage.initialCapacity
        base = .allocate(capacity: capacity)
    }

    deinit { base.deallocate() }

    /// The bytes its span array takes (client memory accounting).
    var allocatedBytes: Int { capacity * MemoryLayout<ArgSpan>.stride }

    @inline(__always) func append(_ span: ArgSpan) {
        if count == capacity { grow(to: capacity * 2) }
        base[count] = span
        count += 1
    }

    /// Makes room for `n` spans at once (a multibulk header announces its count; at most 1024 are reserved
    /// ahead, so a header announcing 2^31 arguments cannot make us allocate for them).
    func reserve(_ n: Int) { if n > capacity { grow(to: n) } }

    func removeAll() {
        count = 0
        if capacity > ArgSpanStorage.keptCapacity {
            base.deallocate()
            capacity = ArgSpanStorage.initialCapacity
            base = .allocate(capacity: capacity)
        }
    }

    @inline(never) private func grow(to newCapacity: Int) {
        let newBase = UnsafeMutablePointer<ArgSpan>.allocate(capacity: newCapacity)
        newBase.moveInitialize(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }
}

/// A read-only view of the current request's spans.
struct ArgSpans: RandomAccessCollection {
    let base: UnsafeMutablePointer<ArgSpan>
    let count: Int
    var startIndex: Int { 0 }
    var endIndex: Int { count }
    @inline(__always) subscript(i: Int) -> ArgSpan {
        precondition(i >= 0 && i < count, "argument index out of range")
        return base[i]
    }
}

/// What `RequestParser.parse` found at the front of the query buffer.
enum ParseOutcome: Equatable {
    /// A complete request: `args` hold its arguments, `consumed` bytes make it up (possibly 0 args:
    /// an empty inline line or `*0`, which the caller skips).
    case request(consumed: Int)
    /// The request is incomplete; call again after more bytes arrive. Progress is kept.
    case needMoreData
    /// Redis's protocol error text (after "ERR "); the connection replies and closes.
    case protocolError(String)
}

/// A resumable parser for RESP multibulk requests and inline commands, as Redis's
/// `processMultibulkBuffer`/`processInlineBuffer`.
///
/// Zero-copy: multibulk arguments are spans into the query buffer, relative to its `readIndex`, so a
/// compaction of the buffer (which moves `readIndex` to 0 with the bytes) keeps them valid. Progress
/// through a partial request (`pending`, `bulkLength`, `position`) is kept between calls, so a request
/// that arrives in a thousand pieces is scanned once, not a thousand times. Inline lines with quotes
/// or other characters that need `splitArgs` are split into copies in `inlineStorage`; `argsBase` says which
/// buffer spans refer to.
struct RequestParser {
    /// Longest inline request or header line before a protocol error, as Redis's PROTO_INLINE_MAX_SIZE.
    static let inlineMaxSize = 64 * 1024

    enum ArgsBase { case queryBuffer, inlineStorage }

    private let spans = ArgSpanStorage()
    @inline(__always) var args: ArgSpans { ArgSpans(base: spans.base, count: spans.count) }
    private(set) var argsBase: ArgsBase = .queryBuffer
    let inlineStorage = IOBuffer(capacity: 64)

    private var inMultibulk = false
    private var pending = 0          // bulk arguments still expected in the current multibulk request
    private var bulkLength = -1      // length of the bulk being read, or -1 while its header is awaited
    private var position = 0         // parse position relative to the buffer's readIndex

    init() {}

    /// Whether no part of a request has been parsed yet: the buffer's next byte starts a request.
    var isAtRequestStart: Bool { position == 0 && !inMultibulk }

    /// The bytes at the front of the query buffer that a request still arriving has already been parsed
    /// into arguments (its header and complete bulks, and the header of the bulk being read); 0 between
    /// requests and while a complete request runs. Redis keeps parsed arguments out of its query buffer
    /// (argv), so what it calls the query buffer (`qbuf`, `client-query-buffer-limit`) is the rest.
    var parsedBytesOfPartialRequest: Int { inMultibulk && pending > 0 ? position : 0 }

    /// Reading a bulk of 32 KB or more, for which `parse` made exactly enough room: the next read should fill
    /// that room rather than reserve more (Redis reads just the rest of such an argument).
    var awaitsBigArgument: Bool { inMultibulk && bulkLength >= 32 * 1024 }

    /// The sum of the current (or partially received) request's argument lengths (CLIENT LIST `argv-mem`).
    var argumentBytes: Int {
        var total = 0
        for i in 0..<spans.count { total += spans.base[i].count }
        return total
    }

    /// What the parser holds beyond the query buffer: its span array and the inline storage.
    var allocatedBytes: Int { spans.allocatedBytes + inlineStorage.capacity }

    /// What the parser's own objects (span storage, inline buffer) take, as `size` measures an object.
    func objectBytes(_ size: (AnyObject) -> Int) -> Int { size(spans) + size(inlineStorage) }

    /// Makes `argv` the current request, copied into `inlineStorage` (arguments owned by the request, not
    /// spans of a query buffer): how a request that did not arrive on this connection runs (an internal
    /// client's command, a blocked client's command run again, later MULTI's queue and AOF replay).
    mutating func load(_ argv: [ByteString]) {
        load(count: argv.count) { i, append in argv[i].withUnsafeBytes { append($0) } }
    }

    /// Makes `count` arguments the current request, each handed to `append` by `argument(i, append)` (a
    /// script's redis.call passes its arguments where Lua keeps them: one copy, no intermediate strings).
    mutating func load(count: Int, _ argument: (Int, (UnsafeRawBufferPointer) -> Void) -> Void) {
        reset()
        argsBase = .inlineStorage
        inlineStorage.clear(shrinkTo: 64 * 1024)
        let storage = inlineStorage
        for i in 0..<count {
            argument(i) { bytes in
                let offset = storage.writeIndex
                storage.append(bytes)
                spans.append(ArgSpan(offset: offset, count: bytes.count))
            }
        }
    }

    /// Makes a packed request the current one: `bytes` holds its arguments back to back and `spans` their
    /// places in it (MULTI's queue stores requests this way, Server/Transaction.swift). One copy.
    mutating func load(packed bytes: UnsafeRawBufferPointer, spans packed: ArraySlice<ArgSpan>) {
        reset()
        argsBase = .inlineStorage
        inlineStorage.clear(shrinkTo: 64 * 1024)
        inlineStorage.append(bytes)
        for span in packed { spans.append(span) }
    }

    /// Forgets the current request after it ran (or was skipped).
    mutating func reset() {
        spans.removeAll()
        inMultibulk = false
        pending = 0
        bulkLength = -1
        position = 0
    }

    /// - Parameters:
    ///   - maxBulkLength: `proto-max-bulk-len`.
    ///   - authenticated: unauthenticated clients are limited as in Redis (10 args, 16 KB bulks).
    ///   - bigArgument: called with the total bytes a large bulk needs, so the caller can size the buffer once.
    mutating func parse(_ buffer: IOBuffer, maxBulkLength: Int, authenticated: Bool) -> ParseOutcome {
        let start = buffer.base + buffer.readIndex
        let available = buffer.readableBytes
        if position == 0 && !inMultibulk {
            if available == 0 { return .needMoreData }
            if start.load(as: UInt8.self) != UInt8(ascii: "*") {
                return parseInline(start, available)
            }
        }
        return parseMultibulk(start, available, buffer, maxBulkLength: maxBulkLength, authenticated: authenticated)
    }

    // MARK: - Multibulk

    private mutating func parseMultibulk(_ start: UnsafeMutableRawPointer, _ available: Int, _ buffer: IOBuffer,
                                         maxBulkLength: Int, authenticated: Bool) -> ParseOutcome {
        if !inMultibulk {
            let count: Int64
            if let (value, lineLength) = plainHeader(UInt8(ascii: "*"), start + position, available - position) {
                count = Int64(value)
                position += lineLength
            } else {
                guard let cr = findHeaderEnd(start + position, available - position) else {
                    return available > Self.inlineMaxSize ? .protocolError("Protocol error: too big mbulk count string") : .needMoreData
                }
                let lineEnd = cr - start
                if lineEnd + 2 > available { return .needMoreData }  // the '\n' is not here yet
                let number = parseLength(start + 1, lineEnd - 1)
                guard let parsed = number, parsed <= Int64(Int32.max) else {
                    return .protocolError("Protocol error: invalid multibulk length")
                }
                count = parsed
                position = lineEnd + 2
            }
            if count > 10 && !authenticated { return .protocolError("Protocol error: unauthenticated multibulk length") }
            argsBase = .queryBuffer
            if count <= 0 { return .request(consumed: position) }
            inMultibulk = true
            pending = Int(count)
            spans.reserve(min(pending, 1024))
        }
        while pending > 0 {
            // The common header in one pass; anything else (and every error) goes the general way below.
            if bulkLength == -1, let (value, lineLength) = plainHeader(UInt8(ascii: "$"), start + position, available - position),
               value <= maxBulkLength && (value <= 16384 || authenticated) {
                position += lineLength
                bulkLength = value
            }
            if bulkLength == -1 {
                let here = start + position
                guard let cr = findHeaderEnd(here, available - position) else {
                    return available - position > Self.inlineMaxSize
                        ? .protocolError("Protocol error: too big bulk count string") : .needMoreData
                }
                let lineLength = cr - here
                if position + lineLength + 2 > available { return .needMoreData }
                let first = here.load(as: UInt8.self)
                if first != UInt8(ascii: "$") {
                    return .protocolError("Protocol error: expected '$', got '\(Character(Unicode.Scalar(first)))'")
                }
                let number = parseLength(here + 1, lineLength - 1)
                guard let length = number, length >= 0, length <= Int64(maxBulkLength) else {
                    return .protocolError("Protocol error: invalid bulk length")
                }
                if length > 16384 && !authenticated { return .protocolError("Protocol error: unauthenticated bulk length") }
                position += lineLength + 2
                bulkLength = Int(length)
            }
            if available - position < bulkLength + 2 {
                // A big argument: make room for all of it now, and no more, so it is read in few large reads
                // instead of many doublings, into a buffer its size (as Redis does for PROTO_MBULK_BIG_ARG).
                // Reserving may move the bytes; positions are relative to readIndex, so they stay valid.
                if bulkLength >= 32 * 1024 { buffer.reserveExactly(position + bulkLength + 2 - available) }
                return .needMoreData
            }
            spans.append(ArgSpan(offset: position, count: bulkLength))
            position += bulkLength + 2
            bulkLength = -1
            pending -= 1
        }
        return .request(consumed: position)
    }

    // MARK: - Inline

    private mutating func parseInline(_ start: UnsafeMutableRawPointer, _ available: Int) -> ParseOutcome {
        guard let nl = findByte(10, start, available) else {
            return available > Self.inlineMaxSize ? .protocolError("Protocol error: too big inline request") : .needMoreData
        }
        var lineLength = nl - start
        let consumed = lineLength + 1
        if lineLength > 0 && (start + lineLength - 1).load(as: UInt8.self) == 13 { lineLength -= 1 }
        if splitPlainInline(start, lineLength) { return .request(consumed: consumed) }
        guard let words = splitArgs(UnsafeRawBufferPointer(start: start, count: lineLength)) else {
            return .protocolError("Protocol error: unbalanced quotes in request")
        }
        argsBase = .inlineStorage
        inlineStorage.clear(shrinkTo: 64 * 1024)
        for word in words {
            let offset = inlineStorage.writeIndex
            word.withUnsafeBytes { inlineStorage.append($0) }
            spans.append(ArgSpan(offset: offset, count: word.count))
        }
        return .request(consumed: consumed)
    }

    /// The common inline line (`PING`, `GET key`: no quotes, backslashes are literal, no NUL, \v or \f)
    /// splits where `splitArgs` ends an unquoted argument (space, \t, \r, \n) into spans of the query
    /// buffer, as multibulk arguments are: no copy, no allocation. Returns false, having stored nothing, for
    /// a line that needs `splitArgs`.
    private mutating func splitPlainInline(_ start: UnsafeMutableRawPointer, _ length: Int) -> Bool {
        for i in 0..<length {
            switch start.load(fromByteOffset: i, as: UInt8.self) {
            case UInt8(ascii: "\""), UInt8(ascii: "'"), 0, 0x0B, 0x0C: return false
            default: continue
            }
        }
        argsBase = .queryBuffer
        var i = 0
        while i < length {
            let byte = start.load(fromByteOffset: i, as: UInt8.self)
            if byte == 32 || byte == 9 || byte == 10 || byte == 13 { i += 1; continue }
            let first = i
            while i < length, case let b = start.load(fromByteOffset: i, as: UInt8.self), b != 32 && b != 9 && b != 10 && b != 13 {
                i += 1
            }
            spans.append(ArgSpan(offset: first, count: i - first))
        }
        return true
    }
}

/// A whole header line of `type` (`*3\r\n`, `$16\r\n`) with a plain number (1 to 9 digits, no leading zero)
/// in one pass: the number and the line's length with its CR and the byte after it. Nil for anything else,
/// which the general path (`findHeaderEnd`, `parseLength`) then parses to the same value or rejects. As that
/// path and Redis, the byte after the CR is required but not checked.
@inline(__always) func plainHeader(_ type: UInt8, _ p: UnsafeMutableRawPointer, _ available: Int) -> (value: Int, length: Int)? {
    guard available >= 4, p.load(as: UInt8.self) == type else { return nil }
    // One digit, the most common header ("*3\r\n", "$5\r\n"): the digit and the CR checked at once.
    let first = Int(p.load(fromByteOffset: 1, as: UInt8.self)) &- 48
    if first >= 0 && first <= 9 && p.load(fromByteOffset: 2, as: UInt8.self) == 13 { return (first, 4) }
    let limit = min(available - 1, 11)  // a CR at 2...10 with its next byte available
    var value = 0
    var i = 1
    while i < limit {
        let byte = p.load(fromByteOffset: i, as: UInt8.self)
        let digit = Int(byte) &- 48
        if digit >= 0 && digit <= 9 {
            value = value &* 10 &+ digit
            i += 1
            continue
        }
        guard byte == 13 && i >= 2 && (i == 2 || p.load(fromByteOffset: 1, as: UInt8.self) != 48) else { return nil }
        return (value, i + 2)
    }
    return nil
}

/// A length header's number: the common case (1 to 9 digits, no leading zero) in a tight loop; anything
/// else (signs, zeros, overflow, junk) goes through Redis's full string2ll rules.
@inline(__always) func parseLength(_ start: UnsafeMutableRawPointer, _ count: Int) -> Int64? {
    if count >= 1 && count <= 9 {
        var value: Int64 = 0
        var i = 0
        while i < count {
            let digit = Int64(start.load(fromByteOffset: i, as: UInt8.self)) &- 48
            if digit < 0 || digit > 9 { break }
            value = value &* 10 &+ digit
            i += 1
        }
        if i == count && (count == 1 || start.load(as: UInt8.self) != 48) { return value }
    }
    return parseInt64(UnsafeRawBufferPointer(start: start, count: count))
}

@inline(__always) func findByte(_ byte: UInt8, _ from: UnsafeMutableRawPointer, _ count: Int) -> UnsafeMutableRawPointer? {
    guard count > 0, let p = memchr(from, Int32(byte), count) else { return nil }
    return p
}

/// The CR that ends a header line (`*3`, `$16`). Such lines are a few bytes long, so the first 16 are
/// looked at inline; a call to memchr costs more than that (it was 3.5 calls per request).
@inline(__always) func findHeaderEnd(_ from: UnsafeMutableRawPointer, _ count: Int) -> UnsafeMutableRawPointer? {
    let inline = min(count, 16)
    var i = 0
    while i < inline {
        if from.load(fromByteOffset: i, as: UInt8.self) == 13 { return from + i }
        i += 1
    }
    return count > inline ? findByte(13, from + inline, count - inline) : nil
}

// MARK: - Look-ahead

extension RequestParser {
    /// The second argument (for most commands, the key) of each complete multibulk request at `start`, up to
    /// `limit` requests, for prefetching their lookups (see `PipelinePrefetcher`). A hint, not a parse: it
    /// stops at the first request that is not a complete, plainly formed multibulk of 2 to `maxArguments`
    /// arguments (inline, partial, malformed, `*1`, a long MSET), which the real parser then handles as
    /// usual. So one call reads at most `limit` × `maxArguments` header lines, however big the request
    /// arriving piece by piece (the caller looks ahead only at a request boundary, not on every read).
    /// - Returns: how many key spans (relative to `start`) it stored in `keys`, and the bytes of the
    ///   requests they belong to.
    static func keysAhead(_ start: UnsafeMutableRawPointer, _ available: Int,
                          into keys: UnsafeMutablePointer<ArgSpan>, limit: Int,
                          maxArguments: Int = 64) -> (count: Int, bytes: Int) {
        /// The number in the `*<n>\r\n` or `$<n>\r\n` line at `position`, and the position after the line:
        /// one pass over its bytes, for plain numbers of 1 to 9 digits (the real parser's fast path).
        @inline(__always) func header(_ marker: UInt8, at position: Int) -> (value: Int, next: Int)? {
            guard position < available, start.load(fromByteOffset: position, as: UInt8.self) == marker else { return nil }
            let digits = position + 1
            var i = digits
            var value = 0
            while i < available && i - digits < 10 {
                let digit = Int(start.load(fromByteOffset: i, as: UInt8.self) &- 48)  // wraps below '0'
                if digit > 9 { break }
                value = value &* 10 &+ digit
                i += 1
            }
            let length = i - digits
            guard length >= 1 && length <= 9, i + 2 <= available, start.load(fromByteOffset: i, as: UInt8.self) == 13,
                  length == 1 || start.load(fromByteOffset: digits, as: UInt8.self) != 48 else { return nil }
            return (value, i + 2)
        }
        var count = 0
        var walked = 0
        requests: while count < limit, case let (argc, afterCount)? = header(42, at: walked),
                      argc >= 2 && argc <= maxArguments {
            var position = afterCount
            for i in 0..<argc {
                guard case let (length, body)? = header(36, at: position), length <= available - body - 2 else {
                    break requests
                }
                if i == 1 { keys[count] = ArgSpan(offset: body, count: length) }
                position = body + length + 2
            }
            count += 1
            walked = position
        }
        return (count, walked)
    }
}
