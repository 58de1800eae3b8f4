import XCTest
@testable import Needletail

/// Every row below was checked against redis-server 7.0.15: `FLUSHALL`, `SET <string> 1`, `KEYS <pattern>`,
/// expecting the key back exactly when the row says `true`. Strings are Latin-1: "\u{FF}" is the byte 0xFF.
final class GlobTests: XCTestCase {
    static let oracleTable: [(String, String, Bool)] = [
        ("hello", "hello", true),
        ("hello", "hell", false),
        ("hello", "helloo", false),
        ("", "a", false),
        ("h*o", "hello", true),
        ("h*o", "ho", true),
        ("h*o", "hellox", false),
        ("*", "a", true),
        ("**", "abc", true),
        ("*o", "hello", true),
        ("h*", "h", true),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "abcx", false),
        ("a**", "a", true),
        ("a***b", "ab", true),
        ("*a", "bbb", false),
        ("h?llo", "hello", true),
        ("h?llo", "hllo", false),
        ("???", "abc", true),
        ("???", "ab", false),
        ("?", "", false),
        ("?*", "a", true),
        ("*?", "a", true),
        ("*?", "ab", true),
        ("a?", "a", false),
        ("h[ae]llo", "hello", true),
        ("h[ae]llo", "hallo", true),
        ("h[ae]llo", "hillo", false),
        ("h[^e]llo", "hallo", true),
        ("h[^e]llo", "hello", false),
        ("h[a-b]llo", "hbllo", true),
        ("h[a-b]llo", "hcllo", false),
        ("[z-a]", "m", true),
        ("[z-a]", "A", false),
        ("[a-z]", "-", false),
        ("[-a]", "-", true),
        ("[a-]", "-", false),
        ("[a-]", "]", true),
        ("[a-]", "_", true),
        ("[a-]", "a", true),
        ("[a-]", "b", false),
        ("[]", "]", false),
        ("[]]", "]", false),
        ("[]a]", "a", false),
        ("[]a]", "]a]", false),
        ("[^]", "a", true),
        ("[^]a]", "a", false),
        ("[^]a]", "b", false),
        ("[!a]", "!", true),
        ("[!a]", "b", false),
        ("[^a-c]", "b", false),
        ("[^a-c]", "d", true),
        ("[abc", "a", true),
        ("[abc", "d", false),
        ("[", "a", false),
        ("a[", "ab", false),
        ("[^", "a", true),
        ("[a-", "a", true),
        ("[a-", "-", true),
        ("[a-", "b", false),
        ("x[a", "xa", true),
        ("[a", "ab", false),
        ("[ab*", "a", true),
        ("[*]", "*", true),
        ("[*]", "a", false),
        ("[?]", "?", true),
        ("[?]", "x", false),
        ("[[]", "[", true),
        ("[a-c-e]", "d", false),
        ("[a-c-e]", "-", true),
        ("[a-c-e]", "e", true),
        ("[a--]", "b", false),
        ("[---]", "-", true),
        ("[a-c]x", "bx", true),
        ("[]-a]", "^", false),
        ("[^-]", "-", false),
        ("\\*", "*", true),
        ("\\*", "a", false),
        ("\\?", "?", true),
        ("\\?", "a", false),
        ("\\[a]", "[a]", true),
        ("\\a", "a", true),
        ("a\\", "a\\", true),
        ("a\\", "a", false),
        ("\\", "\\", true),
        ("\\\\", "\\", true),
        ("[\\]]", "]", true),
        ("[\\]]", "\\", false),
        ("[\\", "\\", true),
        ("[\\", "a", false),
        ("[a\\", "\\", true),
        ("[\\-]", "-", true),
        ("[\\-]", "\\", false),
        ("[a\\-c]", "b", false),
        ("[a\\-c]", "-", true),
        ("[\\a-c]", "b", false),
        ("[a-\\c]", "b", false),
        ("[a-\\c]", "\\", true),
        ("[a-\\c]", "c", true),
        ("[\\^a]", "^", true),
        ("[^\\]]", "]", false),
        ("[^\\]]", "x", true),
        ("h\\*llo", "h*llo", true),
        ("*\\", "ab\\", true),
        ("*\\", "ab", false),
        ("[\\]", "\\", false),
        ("[\\]", "]", true),
        ("HELLO", "hello", false),
        ("[A-Z]", "q", false),
        ("[a-\u{FF}]", "b", false),
        ("[a-\u{FF}]", "\u{FF}", true),
        ("[a-\u{FF}]", "\u{80}", false),
        ("[a-\u{FF}]", "0", true),
        ("[\u{80}-\u{FF}]", "\u{90}", true),
        ("[\u{80}-\u{FF}]", "a", false),
        ("[\0-a]", "\u{90}", false),
        ("[\u{1}-\u{7F}]", "\u{C3}", false),
        ("\u{C3}*", "\u{C3}\u{A9}", true),
        ("?", "\u{C3}\u{A9}", false),
        ("??", "\u{C3}\u{A9}", true),
        ("a\0b", "a\0b", true),
        ("a?b", "a\0b", true),
        ("a*\0", "abc\0", true),
        ("*[0-9]", "abc7", true),
        ("*[0-9]*", "abc", false),
        ("*a*b", "aaab", true),
        ("a*a*a*a*a*a*a*a*a*a*a*a*b", String(repeating: "a", count: 60), false),
        ("a*a*a*a*a*a*a*a*a*a*a*a*a", String(repeating: "a", count: 60), true),
        ("*a*?", "xa", false),
        ("*a*?", "xay", true),
        ("*[ab]*[ab]", "xaxb", true),
        ("*?*?*?", "ab", false),
        ("*.txt", "file.txt", true),
        ("user:*:name", "user:1000:name", true),
        ("*:*", "nocolon", false),
        ("[a-z]*[0-9]", "key1", true),
        ("*ab", "aab", true),
        ("*ab*", "xaaby", true),
        ("a*?c", "abc", true),
        ("a*?c", "ac", false),
        (String(repeating: "*a", count: 1001), String(repeating: "a", count: 1001), false),
        (String(repeating: "*a", count: 999), String(repeating: "a", count: 999), true),
        (String(repeating: "*a", count: 1000), String(repeating: "a", count: 1000), true),
        (String(repeating: "*a", count: 1000), String(repeating: "a", count: 1001), true),
        (String(repeating: "*", count: 2000) + "a", "a", true),
    ]

    func testOracleTable() {
        XCTAssertGreaterThanOrEqual(Self.oracleTable.count, 60)
        for (pattern, string, expected) in Self.oracleTable {
            XCTAssertEqual(match(pattern, string), expected,
                           "pattern \(pattern.debugDescription) string \(string.debugDescription)")
        }
    }

    /// `*` does not match the empty string in `stringmatchlen` (KEYS and SCAN special-case the lone `*`).
    /// Verified with PSUBSCRIBE `*`, `` and `[z-a]*`, then PUBLISH to the empty channel: one receiver.
    func testEmptySubject() {
        XCTAssertFalse(match("*", ""))
        XCTAssertFalse(match("**", ""))   // KEYS ** does not return the empty key
        XCTAssertFalse(match("?", ""))
        XCTAssertFalse(match("[z-a]*", ""))
        XCTAssertTrue(match("", ""))       // KEYS "" returns the empty key
        XCTAssertTrue(match("[z-a]*", "m"))
    }

    /// Verified with CONFIG GET, which matches case-insensitively.
    func testCaseInsensitive() {
        let rows: [(String, Bool)] = [
            ("MAXMEMORY", true), ("[L-M]axmemory", true), ("[Z-a]axmemory", false), ("[M-m]axmemory", true),
            ("[\\M]axmemory", false), ("[\\m]axmemory", true), ("[^M]axmemory", false), ("MAXMEM?RY", true),
            ("[a-Z]axmemory", false), ("maxmemory-[P]olicy", false),
        ]
        for (pattern, expected) in rows {
            XCTAssertEqual(match(pattern, "maxmemory", nocase: true), expected, pattern)
        }
        XCTAssertTrue(match("maxmemory-[P]olicy", "maxmemory-policy", nocase: true))
        XCTAssertFalse(match("maxmemory-[P]olicy", "maxmemory-policy"))
    }

    /// Without the early exit these take exponential time.
    func testPathologicalPatternsAreFast() {
        let subject = String(repeating: "a", count: 20_000)
        let stars = String(repeating: "a*", count: 40) + "b"
        XCTAssertFalse(match(stars, subject))
        XCTAssertTrue(match(String(repeating: "*a", count: 40), subject))
        XCTAssertFalse(match(String(repeating: "*?", count: 30) + "b", subject))
        XCTAssertFalse(match("*[a-z]*[a-z]*[a-z]*[a-z]*[a-z]*[0-9]", subject))
    }

    private func match(_ pattern: String, _ string: String, nocase: Bool = false) -> Bool {
        let p = latin1(pattern), s = latin1(string)
        return p.withUnsafeBytes { pb in
            s.withUnsafeBytes { sb in globMatch(pattern: pb, string: sb, caseInsensitive: nocase) }
        }
    }

    private func latin1(_ s: String) -> [UInt8] {
        s.unicodeScalars.map { scalar in
            precondition(scalar.value < 256, "test strings are Latin-1")
            return UInt8(scalar.value)
        }
    }
}
