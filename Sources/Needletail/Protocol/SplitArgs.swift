/// Splits a line into arguments exactly as Redis's `sdssplitargs`, which both the inline command parser
/// (`SET "a b" 'c'` typed into telnet) and the redis.conf reader use. Returns nil for unbalanced quotes
/// (the inline parser then answers "ERR Protocol error: unbalanced quotes in request"); an empty or blank
/// line gives an empty array.
///
/// The grammar, Redis's quirks included:
/// - Arguments are separated by runs of C `isspace` bytes (space, \t, \n, \v, \f, \r) — but inside an
///   unquoted argument only space, \t, \n, \r end it: `a\vb` is one argument, while a leading \v is skipped.
/// - `"..."` understands `\n \r \t \b \a`, `\xHH` (two hex digits, either case; otherwise `\x` is just
///   `x`), and `\<any other byte>` as that byte. `'...'` understands only `\'`; other backslashes stay.
/// - A quote may open in the middle of an argument (`a"b c"` is `ab c`), but a closing quote must be
///   followed by whitespace or the end of the line (`"a"b` and `"a""b"` are unbalanced).
/// - The line is a C string to Redis: a NUL byte ends it (outside quotes: the line ends there; inside
///   quotes: unbalanced). `"\x00"` is how a NUL gets into an argument.
func splitArgs(_ line: UnsafeRawBufferPointer) -> [ByteString]? {
    // Past the end reads as NUL, as in the C string Redis scans.
    let end = line.count
    @inline(__always) func at(_ i: Int) -> UInt8 { i < end ? line[i] : 0 }

    var args: [ByteString] = []
    var current: [UInt8] = []
    var i = 0
    while true {
        while at(i) != 0 && isBlank(at(i)) { i += 1 }
        if at(i) == 0 { return args }

        var inDouble = false, inSingle = false, done = false
        current.removeAll(keepingCapacity: true)
        while !done {
            let c = at(i)
            if inDouble {
                if c == UInt8(ascii: "\\") && at(i + 1) == UInt8(ascii: "x"),
                   let hi = hexValue(at(i + 2)), let lo = hexValue(at(i + 3)) {
                    current.append(hi << 4 | lo)
                    i += 3
                } else if c == UInt8(ascii: "\\") && at(i + 1) != 0 {
                    i += 1
                    current.append(unescaped(at(i)))
                } else if c == UInt8(ascii: "\"") {
                    if at(i + 1) != 0 && !isBlank(at(i + 1)) { return nil }
                    done = true
                } else if c == 0 {
                    return nil
                } else {
                    current.append(c)
                }
            } else if inSingle {
                if c == UInt8(ascii: "\\") && at(i + 1) == UInt8(ascii: "'") {
                    i += 1
                    current.append(UInt8(ascii: "'"))
                } else if c == UInt8(ascii: "'") {
                    if at(i + 1) != 0 && !isBlank(at(i + 1)) { return nil }
                    done = true
                } else if c == 0 {
                    return nil
                } else {
                    current.append(c)
                }
            } else {
                switch c {
                case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"), 0:
                    done = true
                case UInt8(ascii: "\""):
                    inDouble = true
                case UInt8(ascii: "'"):
                    inSingle = true
                default:
                    current.append(c)
                }
            }
            if at(i) != 0 { i += 1 }
        }
        args.append(current.withUnsafeBytes { ByteString($0) })
    }
}

/// C-locale `isspace`.
@inline(__always)
private func isBlank(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0D) }

@inline(__always)
private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
}

/// The byte a backslash escape inside double quotes stands for.
@inline(__always)
private func unescaped(_ c: UInt8) -> UInt8 {
    switch c {
    case UInt8(ascii: "n"): return 0x0A
    case UInt8(ascii: "r"): return 0x0D
    case UInt8(ascii: "t"): return 0x09
    case UInt8(ascii: "b"): return 0x08
    case UInt8(ascii: "a"): return 0x07
    default: return c
    }
}
