import XCTest
@testable import Needletail
import TestSupport

/// SHA-256 against FIPS 180-4's vectors, constant-time comparison, and ACL rule parsing details that need no
/// server (ACLTests compares the rest with redis-server).
final class ACLUnitTests: XCTestCase {
    private func sha(_ s: String) -> String { Array(s.utf8).withUnsafeBytes { SHA256.hexDigest($0) } }

    func testSHA256Vectors() {
        XCTAssertEqual(sha(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(sha("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // 55, 56 and 64 bytes: the padding's edge cases (one block, two blocks).
        XCTAssertEqual(sha(String(repeating: "a", count: 55)), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")
        XCTAssertEqual(sha(String(repeating: "a", count: 56)), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a")
        XCTAssertEqual(sha(String(repeating: "a", count: 64)), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
        // Redis stores `>p1` as this hash (ACL GETUSER on redis-server 7.0).
        XCTAssertEqual(sha("p1"), "f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a")
    }

    func testConstantTimeEqual() {
        XCTAssertTrue(constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        XCTAssertFalse(constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        XCTAssertFalse(constantTimeEqual(Array("abc".utf8), Array("ab".utf8)))
    }

    func testSelectorArgumentsMerge() {
        func merged(_ args: [String]) -> [String]? {
            if case .merged(let m) = mergeSelectorArguments(args.map { Array($0.utf8) }) {
                return m.map { String(decoding: $0, as: UTF8.self) }
            }
            return nil
        }
        XCTAssertEqual(merged(["on", "(~a", "+get)", "off"]), ["on", "(~a +get)", "off"])
        XCTAssertEqual(merged(["(~a +get)"]), ["(~a +get)"])
        XCTAssertNil(merged(["(~a", "+get"]))
        if case .unclosed(let i) = mergeSelectorArguments([Array("(~a".utf8), Array("(".utf8)]) {
            XCTAssertEqual(i, 1)  // a new opening restarts the selector, as Redis 7.0 reports it
        } else {
            XCTFail("merged an unclosed selector")
        }
    }

    /// The key matcher (the literal prefix's first 8 bytes as a word, the rest by memcmp, then the glob)
    /// answers exactly as the glob does: seeded patterns and keys of 0-20 bytes from a small alphabet with
    /// every metacharacter (keys often built from a pattern's literal part, so prefixes longer than 8 bytes
    /// match too), 1-4 patterns at a time with their read/write permissions.
    func testKeyMatcherAgreesWithGlob() {
        var rng = SeededRandom(seed: 7)
        let literal = Array("ab:".utf8)
        let meta = Array("*?[]\\^-".utf8)
        func pattern() -> [UInt8] {
            (0..<rng.between(0, 20)).map { _ in rng.below(5) == 0 ? meta[rng.below(meta.count)] : literal[rng.below(literal.count)] }
        }
        for _ in 0..<20_000 {
            let patterns = (0..<rng.between(1, 4)).map { _ in
                ACLSelector.KeyPattern(pattern: pattern(), permissions: UInt8(rng.between(1, 3)))
            }
            let matcher = ACLSelector.KeyMatcher(patterns)
            var key: [UInt8]
            if rng.below(2) == 0 {
                let base = patterns[rng.below(patterns.count)].pattern.filter { literal.contains($0) }
                key = Array(base.prefix(rng.between(0, base.count))) + (0..<rng.between(0, 4)).map { _ in literal[rng.below(3)] }
            } else {
                key = (0..<rng.between(0, 20)).map { _ in literal[rng.below(3)] }
            }
            for permissions in [ACLSelector.readPermission, ACLSelector.writePermission, ACLSelector.allPermissions] {
                let expected = patterns.contains { p in
                    p.permissions & permissions == permissions
                        && p.pattern.withUnsafeBytes { pb in key.withUnsafeBytes { globMatch(pattern: pb, string: $0) } }
                }
                let got = key.withUnsafeBytes { matcher.allows($0, permissions: permissions) }
                XCTAssertEqual(got, expected, "\(patterns.map { String(decoding: $0.pattern, as: UTF8.self) }) vs \(String(decoding: key, as: UTF8.self)) for \(permissions)")
            }
        }
    }
}
