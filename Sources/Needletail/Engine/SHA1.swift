import CSystem

/// SHA-1 (FIPS 180-4), for DEBUG DIGEST (Persistence/Digest.swift) and, later, script SHAs and redis.sha1hex.
///
/// The message is cut into 64-byte blocks; each block is expanded to 80 words (w[i] = rotl1(w[i-3] ^ w[i-8]
/// ^ w[i-14] ^ w[i-16])) and folded into the five-word state by 80 rounds in four groups of 20, each group
/// with its own boolean function and constant. The last block carries a 0x80 byte, zeros, and the message
/// length in bits as a big-endian UInt64 in its last 8 bytes (a second block when fewer than 9 bytes are
/// left). Whole blocks are read straight from the caller's buffer; only a partial block is copied.
///
/// Nothing allocates except `finish()`'s array: DEBUG DIGEST hashes every element of every value twice
/// (`SHA1.Digest` keeps the results inline).
struct SHA1 {
    private var h0: UInt32 = 0x6745_2301
    private var h1: UInt32 = 0xEFCD_AB89
    private var h2: UInt32 = 0x98BA_DCFE
    private var h3: UInt32 = 0x1032_5476
    private var h4: UInt32 = 0xC3D2_E1F0
    /// The bytes of an incomplete block, `pending` of them.
    private var block: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    private var pending = 0
    /// Message length so far, in bytes.
    private var length: UInt64 = 0

    init() {}

    /// Adds `bytes` to the message.
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var p = bytes.baseAddress, bytes.count > 0 else { return }
        var n = bytes.count
        length &+= UInt64(n)
        if pending > 0 {
            let take = min(64 - pending, n)
            let offset = pending
            withUnsafeMutableBytes(of: &block) { $0.baseAddress!.advanced(by: offset).copyMemory(from: p, byteCount: take) }
            pending += take
            p += take
            n -= take
            if pending < 64 { return }
            compressBlock()
        }
        while n >= 64 {
            compress(p)
            p += 64
            n -= 64
        }
        if n > 0 {
            withUnsafeMutableBytes(of: &block) { $0.baseAddress!.copyMemory(from: p, byteCount: n) }
            pending = n
        }
    }

    mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Pads the message and returns its hash. The hasher is spent: start a new one for another message.
    mutating func finishDigest() -> Digest {
        let bitLength = length &* 8
        let used = pending
        withUnsafeMutableBytes(of: &block) { b in
            b[used] = 0x80
            for i in (used + 1)..<64 { b[i] = 0 }
        }
        if used >= 56 {  // no room for the length: it goes in a block of its own
            compressBlock()
            block = (0, 0, 0, 0, 0, 0, 0, 0)
        }
        block.7 = bitLength.bigEndian
        compressBlock()
        return Digest(words: (h0.bigEndian, h1.bigEndian, h2.bigEndian, h3.bigEndian, h4.bigEndian))
    }

    /// Pads the message and returns its 20-byte hash (see `finishDigest`).
    mutating func finish() -> [UInt8] { finishDigest().bytes }

    /// The hash of `bytes`.
    static func hash(_ bytes: UnsafeRawBufferPointer) -> Digest {
        var sha = SHA1()
        sha.update(bytes)
        return sha.finishDigest()
    }

    static func hash(_ bytes: [UInt8]) -> Digest {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// `bytes` in lowercase hexadecimal, two digits a byte (how Redis prints a digest or a script SHA).
    static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: - Compression

    private mutating func compressBlock() {
        let copy = block  // compress(_:) mutates the state: hash a copy rather than overlap the accesses
        withUnsafeBytes(of: copy) { compress($0.baseAddress!) }
        pending = 0
    }

    /// Folds the 64 bytes at `p` into the state (the compression function is C: csystem.c).
    private mutating func compress(_ p: UnsafeRawPointer) {
        var state = (h0, h1, h2, h3, h4)
        withUnsafeMutableBytes(of: &state) { cs_sha1_compress($0.baseAddress!.assumingMemoryBound(to: UInt32.self),
                                                             p.assumingMemoryBound(to: UInt8.self)) }
        (h0, h1, h2, h3, h4) = state
    }
}


extension SHA1 {
    /// A 20-byte SHA-1 hash held inline: its words are stored big-endian, so their memory is the hash's bytes
    /// in order, and XOR can go a word at a time.
    struct Digest: Equatable {
        fileprivate var words: (UInt32, UInt32, UInt32, UInt32, UInt32)

        /// Twenty zero bytes: where Redis's digests start.
        static let zero = Digest(words: (0, 0, 0, 0, 0))

        var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

        /// Lowercase hexadecimal, 40 digits.
        var hex: String { SHA1.hex(bytes) }

        func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            var copy = words
            return try Swift.withUnsafeBytes(of: &copy, body)
        }

        static func ^= (lhs: inout Digest, rhs: Digest) {
            lhs.words.0 ^= rhs.words.0
            lhs.words.1 ^= rhs.words.1
            lhs.words.2 ^= rhs.words.2
            lhs.words.3 ^= rhs.words.3
            lhs.words.4 ^= rhs.words.4
        }

        static func == (lhs: Digest, rhs: Digest) -> Bool {
            lhs.words == rhs.words
        }
    }
}
