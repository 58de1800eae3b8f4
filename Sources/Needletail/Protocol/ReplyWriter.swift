/// Encodes replies into a connection's output buffer, in RESP2 or RESP3 as the connection negotiated
/// with HELLO. Commands speak in semantic terms (a map, a set, a double, a null) and the writer picks
/// the wire form, so no command has protocol-version branches of its own.
///
/// RESP2 forms of the RESP3-only types follow Redis: map -> flat array of 2n, set -> array,
/// double -> bulk string, null -> `$-1` (or `*-1` for a null array), boolean -> integer 1/0,
/// verbatim -> bulk string, push -> array.
struct ReplyWriter {
    let buffer: IOBuffer
    var resp3 = false
    /// Where error replies are counted (INFO errorstats: the server's statistics); nil in unit tests of the
    /// encoding. Unowned: the server owns the statistics and outlives its clients, and a strong reference
    /// would be retained with every copy of the writer.
    unowned(unsafe) let stats: ErrorReplyCounter?

    init(buffer: IOBuffer, stats: ErrorReplyCounter? = nil) {
        self.buffer = buffer
        self.stats = stats
    }

    // MARK: - Simple types

    @inline(__always) func ok() { buffer.append("+OK\r\n") }

    @inline(__always) func simple(_ text: StaticString) {
        buffer.append(UInt8(ascii: "+"))
        buffer.append(text)
        buffer.append("\r\n")
    }

    func simple(_ text: String) {
        var text = text
        buffer.append(UInt8(ascii: "+"))
        text.withUTF8 { buffer.append(UnsafeRawBufferPointer($0)) }
        buffer.append("\r\n")
    }

    /// An error reply. `message` starts with its code ("ERR ...", "WRONGTYPE ..."); newlines are
    /// replaced by spaces as Redis does, since they would break the protocol.
    func error(_ message: String) {
        var message = message
        message.withUTF8 { utf8 in
            stats?.countError(UnsafeRawBufferPointer(utf8))
            buffer.append(UInt8(ascii: "-"))
            for byte in utf8 { buffer.append(byte == 13 || byte == 10 ? 32 : byte) }
        }
        buffer.append("\r\n")
    }

    /// An error reply from raw bytes (texts that quote a client's arguments, which may not be UTF-8).
    /// As Redis's addReplyErrorFormat, CR/LF at either end are trimmed before the rest become spaces.
    /// `counted: false` for an error already counted where it happened (a script relaying a command's error).
    func error(bytes message: [UInt8], counted: Bool = true) {
        if counted { message.withUnsafeBytes { stats?.countError($0) } }
        buffer.append(UInt8(ascii: "-"))
        let isNewline = { (b: UInt8) in b == 13 || b == 10 }
        for byte in message.drop(while: isNewline).reversed().drop(while: isNewline).reversed() { buffer.append(isNewline(byte) ? 32 : byte) }
        buffer.append("\r\n")
    }

    @inline(__always) func error(_ message: StaticString) {
        stats?.countError(UnsafeRawBufferPointer(start: message.utf8Start, count: message.utf8CodeUnitCount))
        buffer.append(UInt8(ascii: "-"))
        buffer.append(message)
        buffer.append("\r\n")
    }

    @inline(__always) func integer(_ value: Int64) {
        header(UInt8(ascii: ":"), value)
    }

    @inline(__always) func integer(_ value: Int) { integer(Int64(value)) }

    func bool(_ value: Bool) {
        if resp3 { buffer.append(value ? "#t\r\n" : "#f\r\n") } else { buffer.append(value ? ":1\r\n" : ":0\r\n") }
    }

    /// A double: RESP3 `,<%.17g>`, or a bulk string of the same text in RESP2. Formatted straight into
    /// the buffer (RESP3) or a stack scratch (RESP2, whose length header comes first).
    func double(_ value: Double) {
        if resp3 {
            buffer.append(UInt8(ascii: ","))
            buffer.append(upTo: maxDoubleLength) { writeDouble(value, to: $0) }
            buffer.append("\r\n")
        } else {
            var scratch: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            withUnsafeMutableBytes(of: &scratch) { raw in
                let n = writeDouble(value, to: raw.baseAddress!)
                bulk(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
            }
        }
    }

    // MARK: - Bulk strings

    @inline(__always) func bulk(_ bytes: UnsafeRawBufferPointer) {
        header(UInt8(ascii: "$"), Int64(bytes.count))
        buffer.append(bytes)
        buffer.append("\r\n")
    }

    @inline(__always) func bulk(_ value: ByteString) {
        value.withUnsafeBytes { bulk($0) }
    }

    func bulk(_ text: StaticString) {
        bulk(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    func bulk(_ text: String) {
        var text = text
        text.withUTF8 { bulk(UnsafeRawBufferPointer($0)) }
    }

    func bulk(_ value: Int64) {
        var digits = (UInt64(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &digits) { raw in
            let n = writeInt64(value, to: raw.baseAddress!)
            bulk(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
        }
    }

    /// RESP3 verbatim string (`=len\r\ntxt:...`); a plain bulk string in RESP2.
    func verbatim(_ text: String, format: StaticString = "txt") {
        guard resp3 else { return bulk(text) }
        var text = text
        text.withUTF8 { utf8 in
            header(UInt8(ascii: "="), Int64(utf8.count + 4))
            buffer.append(format)
            buffer.append(UInt8(ascii: ":"))
            buffer.append(UnsafeRawBufferPointer(utf8))
            buffer.append("\r\n")
        }
    }

    /// A verbatim string with a format of three bytes; a plain bulk string in RESP2.
    func verbatim(bytes: UnsafeRawBufferPointer, format: UnsafeRawBufferPointer) {
        guard resp3 else { return bulk(bytes) }
        header(UInt8(ascii: "="), Int64(bytes.count + 4))
        buffer.append(format)
        buffer.append(UInt8(ascii: ":"))
        buffer.append(bytes)
        buffer.append("\r\n")
    }

    /// A big number (`(digits`); a bulk string in RESP2.
    func bigNumber(_ digits: UnsafeRawBufferPointer) {
        guard resp3 else { return bulk(digits) }
        buffer.append(UInt8(ascii: "("))
        buffer.append(digits)
        buffer.append("\r\n")
    }

    // MARK: - Nulls

    /// The null bulk string: `$-1` in RESP2, `_` in RESP3.
    @inline(__always) func null() { buffer.append(resp3 ? "_\r\n" : "$-1\r\n") }

    /// The null array: `*-1` in RESP2, `_` in RESP3.
    @inline(__always) func nullArray() { buffer.append(resp3 ? "_\r\n" : "*-1\r\n") }

    // MARK: - Aggregates (headers; the caller writes the elements)

    @inline(__always) func array(_ count: Int) { header(UInt8(ascii: "*"), Int64(count)) }

    /// A map of `count` pairs: `%count` in RESP3, an array of `2 * count` elements in RESP2.
    func map(_ count: Int) {
        if resp3 { header(UInt8(ascii: "%"), Int64(count)) } else { array(count * 2) }
    }

    func set(_ count: Int) {
        if resp3 { header(UInt8(ascii: "~"), Int64(count)) } else { array(count) }
    }

    func push(_ count: Int) {
        if resp3 { header(UInt8(ascii: ">"), Int64(count)) } else { array(count) }
    }

    /// Appends bytes already in wire format (shared, precomputed replies).
    @inline(__always) func raw(_ bytes: StaticString) { buffer.append(bytes) }

    /// `<type><number>\r\n`, the shape of integer replies and of every length header.
    @inline(__always) private func header(_ type: UInt8, _ value: Int64) {
        buffer.append(upTo: 24) { p in
            p.storeBytes(of: type, as: UInt8.self)
            let n = writeInt64(value, to: p + 1)
            (p + 1 + n).storeBytes(of: 0x0A0D, as: UInt16.self)  // "\r\n", little-endian
            return n + 3
        }
    }
}

/// Counts error replies by their code (Redis's afterErrorReply); the protocol layer knows only this of the
/// server's statistics.
protocol ErrorReplyCounter: AnyObject {
    func countError(_ message: UnsafeRawBufferPointer)
}
