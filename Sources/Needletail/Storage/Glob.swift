/// Glob-style matching with exactly the semantics of Redis's `stringmatchlen` (KEYS, SCAN MATCH,
/// PSUBSCRIBE, CONFIG GET, ACL key patterns). Patterns and subjects are raw bytes.
///
/// The language:
/// - `*` any run of bytes (consecutive stars collapse into one), `?` exactly one byte.
/// - `[...]` one byte from a class; `[^...]` negates it (`!` is an ordinary byte). Inside a class `\x` is
///   the literal byte x, `a-z` is a range, anything else is literal; `]` right after `[` closes an empty
///   class (`[]` matches nothing, `[^]` matches any byte).
/// - `\x` outside a class is the literal byte x; a trailing lone `\` is a literal backslash.
///
/// Redis's quirks, reproduced on purpose (clients and tests depend on them):
/// - Ranges compare bytes as *signed* chars (x86 `char`), so `[a-\xff]` means -1...97 and does not match `b`.
///   Reversed ranges are swapped: `[z-a]` is `[a-z]`. A range may end on the closing bracket: in `[a-]`
///   the class is `a` to `]` (swapped: `]^_\`a`), and the class is then unterminated.
/// - An unterminated class (`[abc`) takes everything up to the end of the pattern as members.
/// - With `caseInsensitive`, ranges are swapped first and lowered second (so `[Z-a]` matches nothing),
///   and an escaped byte inside a class still compares case-sensitively.
/// - The subject running out stops matching; only trailing stars may remain. Hence `*` does not match the
///   empty string (KEYS and SCAN special-case the pattern `*` before calling this), while `` matches ``.
///
/// Complexity: a naive backtracking matcher is exponential on `a*a*a*a*b`. Like Redis 7.0.9+, when the
/// rest of the pattern after a `*` fails at every remaining offset of the subject, no earlier `*` can do
/// better (a longer match for it only leaves a shorter suffix), so the whole match fails at once; that makes
/// the worst case O(pattern x subject). Recursion through stars is also capped at 1000 levels, beyond which
/// the branch fails (Redis does the same, so `"*a" x 1001` does not match `"a" x 1001`).
func globMatch(pattern: UnsafeRawBufferPointer, string: UnsafeRawBufferPointer,
               caseInsensitive: Bool = false) -> Bool {
    var gaveUp = false
    return globMatchFrom(pattern, 0, string, 0, caseInsensitive, depth: 0, gaveUp: &gaveUp)
}

/// Deepest `*` recursion Redis allows before treating the branch as a mismatch.
private let globMaxDepth = 1000

/// Byte at `i`, or 0 past the end: Redis reads patterns as NUL-terminated, and a few of its checks look one
/// byte ahead, so "past the end" must behave like a NUL byte.
@inline(__always)
private func byteAt(_ b: UnsafeRawBufferPointer, _ i: Int) -> UInt8 { i < b.count ? b[i] : 0 }

@inline(__always)
private func lowerASCII(_ c: Int) -> Int { (c >= 65 && c <= 90) ? c + 32 : c }

private func globMatchFrom(_ pattern: UnsafeRawBufferPointer, _ pStart: Int,
                           _ string: UnsafeRawBufferPointer, _ sStart: Int,
                           _ nocase: Bool, depth: Int, gaveUp: inout Bool) -> Bool {
    if depth > globMaxDepth { return false }
    let pEnd = pattern.count, sEnd = string.count
    var p = pStart, s = sStart
    while p < pEnd && s < sEnd {
        switch pattern[p] {
        case UInt8(ascii: "*"):
            while p + 1 < pEnd && pattern[p + 1] == UInt8(ascii: "*") { p += 1 }
            if p + 1 == pEnd { return true }
            while s < sEnd {
                if globMatchFrom(pattern, p + 1, string, s, nocase, depth: depth + 1, gaveUp: &gaveUp) {
                    return true
                }
                if gaveUp { return false }
                s += 1
            }
            gaveUp = true
            return false
        case UInt8(ascii: "?"):
            s += 1
        case UInt8(ascii: "["):
            if !matchClass(pattern, &p, string[s], nocase) { return false }
            s += 1
        default:
            if pattern[p] == UInt8(ascii: "\\") && p + 1 < pEnd { p += 1 }
            let a = pattern[p], b = string[s]
            if nocase ? lowerASCII(Int(a)) != lowerASCII(Int(b)) : a != b { return false }
            s += 1
        }
        p += 1
        if s == sEnd {
            while p < pEnd && pattern[p] == UInt8(ascii: "*") { p += 1 }
            break
        }
    }
    return p == pEnd && s == sEnd
}

/// Matches one subject byte against the class opening at `pattern[p]` (a `[`). Leaves `p` on the class's
/// last byte (its `]`, or the pattern's last byte when unterminated) so the caller's step moves past it.
@inline(__always)
private func matchClass(_ pattern: UnsafeRawBufferPointer, _ p: inout Int, _ c: UInt8, _ nocase: Bool) -> Bool {
    let pEnd = pattern.count
    p += 1
    let negate = byteAt(pattern, p) == UInt8(ascii: "^")
    if negate { p += 1 }
    var matched = false
    while true {
        let b = byteAt(pattern, p)
        if b == UInt8(ascii: "\\") && pEnd - p >= 2 {
            p += 1
            if pattern[p] == c { matched = true }   // case-sensitive even with nocase, as Redis
        } else if b == UInt8(ascii: "]") {
            break
        } else if p >= pEnd {
            p = pEnd - 1
            break
        } else if pEnd - p >= 3 && pattern[p + 1] == UInt8(ascii: "-") {
            var lo = Int(Int8(bitPattern: b)), hi = Int(Int8(bitPattern: pattern[p + 2]))
            var x = Int(Int8(bitPattern: c))
            if lo > hi { swap(&lo, &hi) }
            if nocase { lo = lowerASCII(lo); hi = lowerASCII(hi); x = lowerASCII(x) }
            p += 2
            if x >= lo && x <= hi { matched = true }
        } else if nocase ? lowerASCII(Int(b)) == lowerASCII(Int(c)) : b == c {
            matched = true
        }
        p += 1
    }
    return matched != negate
}
