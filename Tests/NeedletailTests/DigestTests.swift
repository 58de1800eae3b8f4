import XCTest
@testable import Needletail
import TestSupport

/// SHA1 against the standard vectors (FIPS 180 / RFC 3174) and hashlib at the padding boundaries, fed in
/// one piece and in every chunking; then DEBUG DIGEST-VALUE / DIGEST on small values whose digests were
/// taken from redis-server 7.0.15 (the integration test compares random datasets with a live one).
final class DigestTests: XCTestCase {
    private func hex(_ text: String) -> String { SHA1.hash(Array(text.utf8)).hex }

    // MARK: - SHA1

    func testStandardVectors() {
        XCTAssertEqual(hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        XCTAssertEqual(hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d")
        XCTAssertEqual(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        XCTAssertEqual(hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
                       "a49b2446a02c645bf419f995b67091253a04a259")
        XCTAssertEqual(hex("The quick brown fox jumps over the lazy dog"), "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12")
    }

    func testMillionA() {
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        var sha = SHA1()
        for _ in 0..<1000 { sha.update(chunk) }
        XCTAssertEqual(SHA1.hex(sha.finish()), "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
        XCTAssertEqual(SHA1.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)).hex,
                       "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    /// Lengths around the padding boundaries (55 fits the length in the last block, 56 needs another).
    private let boundaryVectors: [(Int, String)] = [
        (55, "8ae2d46729cfe68ff927af5eec9c7d1b66d65ac2"),
        (56, "636e2ec698dac903498e648bd2f3af641d3c88cb"),
        (63, "6d942da0c4392b123528f2905c713a3ce28364bd"),
        (64, "c6138d514ffa2135bfce0ed0b8fac65669917ec7"),
        (65, "69bd728ad6e13cd76ff19751fde427b00e395746"),
        (119, "41c89d06001bab4ab78736b44efe7ce18ce6ae08"),
        (120, "d3dbd653bd8597b7475321b60a36891278e6a04a"),
        (128, "e6434bc401f98603d7eda504790c98c67385d535"),
        (1000, "c9c960a0b925474fab83942cc27d504fc24ac37b"),
    ]

    private func message(_ n: Int) -> [UInt8] { (0..<n).map { UInt8($0 % 251) } }

    func testPaddingBoundaries() {
        for (n, expected) in boundaryVectors {
            XCTAssertEqual(SHA1.hash(message(n)).hex, expected, "length \(n)")
        }
    }

    /// Every fixed chunk size, and seeded random chunkings, give the one-shot hash.
    func testChunkedUpdates() {
        let bytes = message(1000)
        let expected = "c9c960a0b925474fab83942cc27d504fc24ac37b"
        for size in 1...130 {
            var sha = SHA1()
            var i = 0
            while i < bytes.count {
                sha.update(Array(bytes[i..<min(i + size, bytes.count)]))
                i += size
            }
            XCTAssertEqual(SHA1.hex(sha.finish()), expected, "chunks of \(size)")
        }
        let seed = UInt64.random(in: 1...UInt64.max)
        var rng = SeededRandom(seed: seed)
        for _ in 0..<50 {
            var sha = SHA1()
            var i = 0
            while i < bytes.count {
                let size = Int(rng.next() % 150)  // empty updates included
                sha.update(Array(bytes[i..<min(i + size, bytes.count)]))
                i += size
            }
            XCTAssertEqual(SHA1.hex(sha.finish()), expected, "seed \(seed)")
        }
    }

    func testHexHelper() {
        XCTAssertEqual(SHA1.hex([0x00, 0x0f, 0xa0, 0xff]), "000fa0ff")
        XCTAssertEqual(SHA1.Digest.zero.hex, String(repeating: "0", count: 40))
        XCTAssertEqual(SHA1.hash(Array("abc".utf8)).bytes.count, 20)
    }

    // MARK: - DEBUG DIGEST, against redis-server 7.0.15's answers

    private var process: InProcessServer!

    override func setUpWithError() throws { process = try InProcessServer { $0.enableDebugCommand = "yes" } }

    @discardableResult
    private func run(_ words: String...) -> String { process.run(words) }

    private func digestValue(_ key: String) -> String { run("DEBUG", "DIGEST-VALUE", key) }

    private func status(_ hex: String) -> String { "*1\r\n+\(hex)\r\n" }

    func testValueDigestsMatchRedis() {
        run("SET", "s", "hello")
        run("RPUSH", "l", "a", "b", "12")
        run("SADD", "st", "1", "x", "300")
        run("ZADD", "z", "0.1", "a", "1.5", "b", "-inf", "c", "1e300", "d", "3", "e")
        run("HSET", "h", "f", "v", "n", "5")
        run("SET", "e", "x")
        run("PEXPIREAT", "e", "99999999999999")
        XCTAssertEqual(digestValue("s"), status("36b23a1456b2dce2c3ed252c456761301dba8060"))
        XCTAssertEqual(digestValue("l"), status("4fddf5ecfb89aa53ce571890ffcd91dc9c8824bf"))
        XCTAssertEqual(digestValue("st"), status("744c0eba2c15a58b73255a84b10cc69d340c7fc0"))
        XCTAssertEqual(digestValue("z"), status("f0f09f093d99312af597ec70019e9de4e56b01f2"))  // "%.17g" scores
        XCTAssertEqual(digestValue("h"), status("cb57dbe608c2b2a06dad28cc683f351c38cd44cf"))
        XCTAssertEqual(digestValue("e"), status("0745672cb1bf060476eedeb8a28f5ffe1ff5a2be"))
        XCTAssertEqual(digestValue("missing"), status(String(repeating: "0", count: 40)))
        XCTAssertEqual(run("DEBUG", "DIGEST-VALUE"), "*0\r\n")
    }

    func testEmptyDatasetIsZeros() {
        XCTAssertEqual(run("DEBUG", "DIGEST"), "+" + String(repeating: "0", count: 40) + "\r\n")
        XCTAssertEqual(datasetDigest(process.server), [UInt8](repeating: 0, count: 20))
    }

    /// The expiry adds only a marker: two different times give the same digest.
    func testExpireTimeIsNotHashed() {
        run("SET", "a", "v")
        run("PEXPIREAT", "a", "99999999999999")
        let first = run("DEBUG", "DIGEST")
        run("PEXPIREAT", "a", "88888888888888")
        XCTAssertEqual(run("DEBUG", "DIGEST"), first)
        run("PERSIST", "a")
        XCTAssertNotEqual(run("DEBUG", "DIGEST"), first)
    }
}
