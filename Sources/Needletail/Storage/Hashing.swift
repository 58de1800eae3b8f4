/// Keyspace hashing: SipHash-1-3 keyed with a per-process random seed.
///
/// Why SipHash: keys come from clients. With an unkeyed or weakly keyed hash (FNV, murmur with a fixed
/// seed) an attacker can precompute thousands of keys that land in one bucket and turn every lookup into a
/// linear scan (hash flooding). SipHash is a PRF: without the 128-bit seed the bucket of a key cannot be
/// predicted, so crafted keys spread like random ones. Redis uses SipHash for the same reason.
///
/// Why 1-3 rounds (one compression round per 8-byte word, three finalisation rounds) rather than the
/// cryptographic 2-4: the hashtable needs flood resistance, not a MAC; 1-3 is what Rust's `HashMap` and
/// Python use, and it is roughly twice as fast on short keys, which is the common case here.
///
/// The seed is random per process (`HashSeed.process`, drawn from the system RNG on first use, i.e. at
/// server start); tests inject a fixed `HashSeed` through `HashTable(seed:)` for reproducibility.

/// The 128-bit SipHash key.
public struct HashSeed: Equatable, Sendable {
    public var k0: UInt64
    public var k1: UInt64

    @inlinable public init(k0: UInt64, k1: UInt64) {
        self.k0 = k0
        self.k1 = k1
    }

    /// A seed from the system's cryptographic random source (getrandom on Linux).
    public static func random() -> HashSeed {
        var rng = SystemRandomNumberGenerator()
        return HashSeed(k0: rng.next(), k1: rng.next())
    }

    /// The process-wide seed every keyspace table uses unless told otherwise.
    public static let process: HashSeed = .random()
}

/// SipHash-1-3 of `bytes` keyed by `seed`.
@inlinable @_effects(readonly)
public func hashBytes(_ bytes: UnsafeRawBufferPointer, seed: HashSeed) -> UInt64 {
    sipHash(bytes, seed: seed, compressionRounds: 1, finalizationRounds: 3)
}

/// SipHash-2-4 (the reference variant), for the test vectors of the published specification.
@inlinable
public func sipHash24(_ bytes: UnsafeRawBufferPointer, seed: HashSeed) -> UInt64 {
    sipHash(bytes, seed: seed, compressionRounds: 2, finalizationRounds: 4)
}

/// SipHash-c-d over little-endian 64-bit words; the last word carries the remaining 0-7 bytes and the
/// length modulo 256 in its top byte. The round counts are constants at every call site, so after
/// inlining the round loops unroll.
@inlinable @inline(__always)
func sipHash(_ bytes: UnsafeRawBufferPointer, seed: HashSeed, compressionRounds: Int,
             finalizationRounds: Int) -> UInt64 {
    var state = SipState(seed: seed)
    let count = bytes.count
    var tail: UInt64 = UInt64(truncatingIfNeeded: count) << 56
    if count > 0 {
        let base = bytes.baseAddress!
        let wholeWords = count & ~7
        var offset = 0
        while offset < wholeWords {
            let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            state.absorb(word, rounds: compressionRounds)
            offset += 8
        }
        tail |= loadWord(base + offset, count: count - offset)  // the last 0-7 bytes
    }
    state.absorb(tail, rounds: compressionRounds)
    return state.finalize(rounds: finalizationRounds)
}

@usableFromInline
struct SipState {
    @usableFromInline var v0: UInt64
    @usableFromInline var v1: UInt64
    @usableFromInline var v2: UInt64
    @usableFromInline var v3: UInt64

    @inlinable @inline(__always)
    init(seed: HashSeed) {
        // "somepseudorandomlygeneratedbytes", the constants of the specification.
        v0 = seed.k0 ^ 0x736f_6d65_7073_6575
        v1 = seed.k1 ^ 0x646f_7261_6e64_6f6d
        v2 = seed.k0 ^ 0x6c79_6765_6e65_7261
        v3 = seed.k1 ^ 0x7465_6462_7974_6573
    }

    @inlinable @inline(__always)
    mutating func round() {
        v0 = v0 &+ v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
        v2 = v2 &+ v3; v3 = rotl(v3, 16); v3 ^= v2
        v0 = v0 &+ v3; v3 = rotl(v3, 21); v3 ^= v0
        v2 = v2 &+ v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
    }

    @inlinable @inline(__always)
    mutating func absorb(_ word: UInt64, rounds: Int) {
        v3 ^= word
        for _ in 0..<rounds { round() }
        v0 ^= word
    }

    @inlinable @inline(__always)
    mutating func finalize(rounds: Int) -> UInt64 {
        v2 ^= 0xff
        for _ in 0..<rounds { round() }
        return v0 ^ v1 ^ v2 ^ v3
    }

    @inlinable @inline(__always)
    func rotl(_ x: UInt64, _ n: UInt64) -> UInt64 { (x << n) | (x >> (64 - n)) }
}
