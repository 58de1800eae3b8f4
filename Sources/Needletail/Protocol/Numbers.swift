import CSystem
import Glibc

/// Number parsing and formatting with Redis's exact acceptance rules and output bytes.
///
/// - Integers: `parseInt64` is Redis's `string2ll` (the parser behind INCR, EXPIRE, LRANGE indexes, ...):
///   an optional `-`, then either "0" alone or a digit 1-9 followed by digits; nothing else — no `+`, no
///   spaces, no leading zeros, no "-0", at most 20 bytes, and overflow is an error, not a clamp.
/// - Doubles: `parseDouble` is Redis's `string2d` (ZADD scores, ZINCRBY, INCRBYFLOAT's cousins): C `strtod`
///   over the whole argument, so "1e3", ".5", "+1", "0x1p3", "inf", "-Infinity" are accepted; a leading
///   space, trailing garbage, an embedded NUL, NaN, overflow to infinity and underflow to zero are not
///   (gradual underflow to a subnormal is accepted).
/// - Long doubles: `parseLongDouble` is `string2ld` (INCRBYFLOAT, HINCRBYFLOAT): the same with `strtold`
///   (x87 80-bit on x86_64) and a 5119-byte length limit.
/// - Output: RESP2 bulk and RESP3 `,` replies of a double use "%.17g" (Redis 7.0; 7.2 switched to the
///   shortest round-trip form); INCRBYFLOAT stores "%.17Lf" with trailing zeros and dot trimmed.
///
/// Everything takes raw bytes; the text never becomes a Swift `String`.

// MARK: - Integers

/// Longest decimal Int64: "-9223372036854775808".
let maxInt64Length = 20

/// Redis's LONG_STR_SIZE: strings this long or longer are never integers (even "000...1").
private let int64InputLimit = 21

/// Parses `bytes` exactly as Redis's `string2ll`; nil when Redis would answer
/// "value is not an integer or out of range".
func parseInt64(_ bytes: UnsafeRawBufferPointer) -> Int64? {
    let n = bytes.count
    if n == 0 || n >= int64InputLimit { return nil }
    if n == 1 && bytes[0] == UInt8(ascii: "0") { return 0 }
    var i = 0
    let negative = bytes[0] == UInt8(ascii: "-")
    if negative {
        i = 1
        if n == 1 { return nil }
    }
    let first = bytes[i] &- UInt8(ascii: "0")
    guard first >= 1 && first <= 9 else { return nil }   // no leading zero, no "-0"
    var magnitude = UInt64(first)
    i += 1
    while i < n {
        let d = bytes[i] &- UInt8(ascii: "0")
        guard d <= 9 else { return nil }
        let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times10.addingReportingOverflow(UInt64(d))
        if o1 || o2 { return nil }
        magnitude = sum
        i += 1
    }
    if negative {
        if magnitude > UInt64(Int64.max) + 1 { return nil }
        return Int64(bitPattern: 0 &- magnitude)
    }
    if magnitude > UInt64(Int64.max) { return nil }
    return Int64(magnitude)
}

/// "00" "01" ... "99": two digits per division halves the divisions when printing.
private let digitPairs: StaticString = """
    00010203040506070809101112131415161718192021222324252627282930313233343536373839\
    40414243444546474849505152535455565758596061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899
    """

/// Number of decimal digits of `v` (1 for 0).
@inline(__always)
private func decimalDigits(_ v: UInt64) -> Int {
    var n = 1
    var x = v
    while x >= 10_000 { x /= 10_000; n += 4 }
    if x >= 1000 { return n + 3 }
    if x >= 100 { return n + 2 }
    if x >= 10 { return n + 1 }
    return n
}

/// Writes `magnitude` in decimal ending just before `end`; returns nothing (the caller sized it).
@inline(__always)
private func writeDigits(_ magnitude: UInt64, endingAt end: UnsafeMutablePointer<UInt8>) {
    let pairs = digitPairs.utf8Start
    var v = magnitude
    var p = end
    while v >= 100 {
        let r = Int(v % 100)
        v /= 100
        p -= 2
        p[0] = pairs[2 * r]
        p[1] = pairs[2 * r + 1]
    }
    if v >= 10 {
        p -= 2
        p[0] = pairs[2 * Int(v)]
        p[1] = pairs[2 * Int(v) + 1]
    } else {
        p -= 1
        p[0] = UInt8(ascii: "0") + UInt8(v)
    }
}

/// Writes `value` in decimal at `to` (room for `maxInt64Length` bytes needed); returns the byte count.
/// No allocation: the reply writer calls this straight into its output buffer (and it releases nothing,
/// so the writer's callers need not retain the buffer around it).
@_effects(releasenone)
func writeInt64(_ value: Int64, to: UnsafeMutableRawPointer) -> Int {
    let out = to.assumingMemoryBound(to: UInt8.self)
    let negative = value < 0
    let magnitude = negative ? 0 &- UInt64(bitPattern: value) : UInt64(value)
    let sign = negative ? 1 : 0
    let length = sign + decimalDigits(magnitude)
    if negative { out[0] = UInt8(ascii: "-") }
    writeDigits(magnitude, endingAt: out + length)
    return length
}

/// `value` in decimal as a byte string (inline, so no allocation).
func formatInt64(_ value: Int64) -> ByteString {
    var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)   // 24 bytes >= maxInt64Length
    return withUnsafeMutableBytes(of: &scratch) { buf in
        let n = writeInt64(value, to: buf.baseAddress!)
        return ByteString(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
    }
}

// MARK: - Doubles

/// Longest "%.17g" output: "-1.2345678901234567e-308".
let maxDoubleLength = 24

/// C-locale `isspace`, which is what Redis checks on the first byte.
@inline(__always)
private func isCSpace(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0D) }

/// Integers of up to 2^53 convert exactly, so short plain integers skip strtod.
private let exactIntegerLimit: Int64 = 1 << 53

/// Parses `bytes` exactly as Redis's `string2d`; nil when Redis would answer "value is not a valid float".
func parseDouble(_ bytes: UnsafeRawBufferPointer) -> Double? {
    let n = bytes.count
    if n == 0 || isCSpace(bytes[0]) { return nil }
    if n <= 16, let v = parseInt64(bytes), v.magnitude <= UInt64(exactIntegerLimit) { return Double(v) }
    if n <= 17, let v = parseShortDecimal(bytes) { return v }
    return withCString(bytes) { s -> Double? in
        var end: UnsafeMutablePointer<CChar>? = nil
        errno = 0
        let value = strtod(s, &end)
        if end! - s != n { return nil }          // trailing bytes, or an embedded NUL
        if errno == ERANGE && (value.isInfinite || value == 0) { return nil }
        if value.isNaN { return nil }
        return value
    }
}

/// A plain decimal such as a score "1.5": "-"? digits "." digits, 15 digits at most. The digits as an integer
/// and the power of ten are both exact doubles, so their one correctly rounded quotient is the correctly
/// rounded value strtod returns (Clinger's fast path). nil for any other form (strtod then decides).
@inline(__always)
func parseShortDecimal(_ bytes: UnsafeRawBufferPointer) -> Double? {
    let n = bytes.count
    guard n >= 3 && n <= 17 else { return nil }
    let negative = bytes[0] == UInt8(ascii: "-")
    var mantissa: UInt64 = 0
    var digits = 0
    var integerDigits = -1
    for i in (negative ? 1 : 0)..<n {
        let c = bytes[i]
        if c &- UInt8(ascii: "0") < 10 {
            mantissa = mantissa &* 10 &+ UInt64(c &- UInt8(ascii: "0"))
            digits += 1
        } else if c == UInt8(ascii: "."), integerDigits < 0, digits > 0 {
            integerDigits = digits
        } else {
            return nil
        }
    }
    guard integerDigits > 0, digits > integerDigits, digits <= 15 else { return nil }
    let value = Double(mantissa) / exactPowersOfTen[digits - integerDigits]
    return negative ? -value : value
}

/// 10^0 ... 10^15, each exactly representable.
private let exactPowersOfTen: [Double] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15]

/// Calls `body` with a NUL-terminated copy of `bytes` (on the stack when small).
@inline(__always)
func withCString<R>(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeMutablePointer<CChar>) -> R) -> R {
    withUnsafeTemporaryAllocation(of: CChar.self, capacity: bytes.count + 1) { buf in
        let base = buf.baseAddress!
        if bytes.count > 0 { UnsafeMutableRawPointer(base).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        base[bytes.count] = 0
        return body(base)
    }
}

/// Writes `value` as Redis 7.0 replies a double (`%.17g`, with "inf" / "-inf"): the payload of a RESP2
/// bulk string and of a RESP3 `,` double alike. Needs room for `maxDoubleLength` bytes; returns the count.
func writeDouble(_ value: Double, to: UnsafeMutableRawPointer) -> Int {
    let out = to.assumingMemoryBound(to: UInt8.self)
    if value.isInfinite {
        let sign = value < 0 ? 1 : 0
        if sign == 1 { out[0] = UInt8(ascii: "-") }
        out[sign] = UInt8(ascii: "i"); out[sign + 1] = UInt8(ascii: "n"); out[sign + 2] = UInt8(ascii: "f")
        return sign + 3
    }
    // Integral values below 1e17 print all their digits under %.17g: the common scores skip printf.
    if value.magnitude < 1e17 && value == value.rounded(.towardZero) {
        if value == 0 && value.sign == .minus {
            out[0] = UInt8(ascii: "-"); out[1] = UInt8(ascii: "0")
            return 2
        }
        return writeInt64(Int64(value), to: to)
    }
    if let n = writeExactDecimal(value, to: out) { return n }
    var scratch: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)   // 32 bytes
    return withUnsafeMutableBytes(of: &scratch) { buf -> Int in
        let c = buf.baseAddress!.assumingMemoryBound(to: CChar.self)
        let n = Int(cs_format_double_g17(value, c, 32))
        to.copyMemory(from: c, byteCount: n)
        return n
    }
}

/// Writes a non-integral `value` as %.17g does when its exact decimal expansion is short (1.5, 0.375,
/// -12.0625: 17 significant digits at most) and %g prints it without an exponent (1e-4 <= |value|): then
/// printf prints that expansion, every digit and no trailing zero. Returns nil for any other value.
///
/// A double is an integer times a power of two: |value| = odd * 2^-shift with `odd` odd, so its expansion
/// has `shift` decimals and its digits are odd * 5^shift, which ends in 5 (no trailing zero).
@inline(__always)
func writeExactDecimal(_ value: Double, to out: UnsafeMutablePointer<UInt8>) -> Int? {
    let magnitude = value.magnitude
    guard magnitude >= 1e-4 && magnitude < 1e15 else { return nil }
    let significand = magnitude.significandBitPattern | (1 << 52)     // a normal number: |value| = s * 2^(e - 52)
    let zeros = significand.trailingZeroBitCount
    let shift = 52 - Int(magnitude.exponent) - zeros
    guard shift > 0 && shift <= 24 else { return nil }                 // 5^24 < 2^56
    var digits = significand >> UInt64(zeros)
    for _ in 0..<shift {
        let (product, overflow) = digits.multipliedReportingOverflow(by: 5)
        guard !overflow else { return nil }
        digits = product
    }
    guard digits < 100_000_000_000_000_000 else { return nil }         // 17 significant digits at most
    var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)
    return withUnsafeMutableBytes(of: &scratch) { buf -> Int in
        let text = buf.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let count = writeInt64(Int64(digits), to: buf.baseAddress!)
        var n = 0
        if value < 0 { out[0] = UInt8(ascii: "-"); n = 1 }
        if count <= shift {
            out[n] = UInt8(ascii: "0"); out[n + 1] = UInt8(ascii: ".")
            n += 2
            for _ in 0..<(shift - count) { out[n] = UInt8(ascii: "0"); n += 1 }
            for i in 0..<count { out[n] = text[i]; n += 1 }
        } else {
            for i in 0..<(count - shift) { out[n] = text[i]; n += 1 }
            out[n] = UInt8(ascii: ".")
            n += 1
            for i in (count - shift)..<count { out[n] = text[i]; n += 1 }
        }
        return n
    }
}

/// `value` as Redis 7.0 replies a double (see `writeDouble`).
func formatDouble(_ value: Double) -> ByteString {
    var scratch: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    return withUnsafeMutableBytes(of: &scratch) { buf in
        let n = writeDouble(value, to: buf.baseAddress!)
        return ByteString(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
    }
}

/// The whole RESP3 double frame, ",<%.17g>\r\n" (",inf\r\n" and ",-inf\r\n" for infinities).
func formatResp3Double(_ value: Double) -> ByteString {
    var scratch: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    return withUnsafeMutableBytes(of: &scratch) { buf in
        let p = buf.baseAddress!
        p.storeBytes(of: UInt8(ascii: ","), as: UInt8.self)
        let n = writeDouble(value, to: p + 1)
        p.storeBytes(of: UInt8(ascii: "\r"), toByteOffset: n + 1, as: UInt8.self)
        p.storeBytes(of: UInt8(ascii: "\n"), toByteOffset: n + 2, as: UInt8.self)
        return ByteString(UnsafeRawBufferPointer(rebasing: buf[0..<(n + 3)]))
    }
}

// MARK: - Long doubles (INCRBYFLOAT)

/// C `long double` on x86_64 Linux: the x87 80-bit format, which INCRBYFLOAT computes in.
typealias LongDouble = Float80

/// Redis's MAX_LONG_DOUBLE_CHARS: INCRBYFLOAT refuses operands (and stored values) this long or longer.
let longDoubleInputLimit = 5 * 1024

/// Parses `bytes` exactly as Redis's `string2ld`; nil when Redis would answer "value is not a valid float".
/// The caller still rejects a NaN or infinite *result* ("increment would produce NaN or Infinity"):
/// "inf" itself parses.
func parseLongDouble(_ bytes: UnsafeRawBufferPointer) -> LongDouble? {
    let n = bytes.count
    if n == 0 || n >= longDoubleInputLimit || isCSpace(bytes[0]) { return nil }
    if n <= 16, let v = parseInt64(bytes) { return LongDouble(v) }   // exact: 64-bit mantissa
    return withCString(bytes) { s -> LongDouble? in
        var end: UnsafeMutablePointer<CChar>? = nil
        errno = 0
        let value = strtold(s, &end)
        if end! - s != n { return nil }
        if errno == ERANGE && (value.isInfinite || value == 0) { return nil }
        if errno == EINVAL || value.isNaN { return nil }
        return value
    }
}

/// `value` as INCRBYFLOAT stores and replies it (Redis's `ld2string` human-friendly mode): "%.17Lf" with
/// trailing zeros and then a trailing dot removed, "-0" turned into "0"; so 0.1+0.2 gives "0.3",
/// 3.0e3 gives "3000", 1e-18 gives "0", and 1.5e300 prints all of its 301 integer digits.
func formatLongDouble(_ value: LongDouble) -> ByteString {
    if value.isInfinite { return value < 0 ? "-inf" : "inf" }
    if value.isNaN { return "nan" }   // never stored: INCRBYFLOAT refuses NaN results
    // Integral values in Int64 range print exactly their digits (and -0 becomes "0", as Redis does).
    if value.magnitude < 9.2e18 && value == value.rounded(.towardZero) { return formatInt64(Int64(value)) }
    let small = 64
    return withUnsafeTemporaryAllocation(of: CChar.self, capacity: small) { buf -> ByteString in
        let n = Int(cs_format_long_double_f17(value, buf.baseAddress!, small))
        if n < small { return trimmedFixed(UnsafeRawBufferPointer(start: buf.baseAddress!, count: n)) }
        // Huge magnitudes (up to ~4950 digits): measure once, print into a buffer of the exact size.
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: n + 1) { big -> ByteString in
            _ = cs_format_long_double_f17(value, big.baseAddress!, n + 1)
            return trimmedFixed(UnsafeRawBufferPointer(start: big.baseAddress!, count: n))
        }
    }
}

/// Trims "%.17Lf" output: trailing zeros, then a trailing dot; "-0" becomes "0".
private func trimmedFixed(_ text: UnsafeRawBufferPointer) -> ByteString {
    var n = text.count
    // "%.17Lf" always prints a dot, so trimming stops at it at the latest.
    while n > 0 && text[n - 1] == UInt8(ascii: "0") { n -= 1 }
    if n > 0 && text[n - 1] == UInt8(ascii: ".") { n -= 1 }
    if n == 2 && text[0] == UInt8(ascii: "-") && text[1] == UInt8(ascii: "0") { return "0" }
    return ByteString(UnsafeRawBufferPointer(rebasing: text[0..<n]))
}
