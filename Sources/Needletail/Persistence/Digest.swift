/// DEBUG DIGEST and DEBUG DIGEST-VALUE: a 20-byte SHA-1 signature of the dataset, or of one value, computed
/// exactly as redis-server 7.0 does (debug.c: xorDigest, mixDigest, xorObjectDigest, computeDatasetDigest),
/// so the same data loaded into both servers gives the same 40 hex digits whatever the encodings.
///
/// Two ways to add bytes to a running digest `d`:
/// - xor:  d ^= SHA1(bytes). Commutative, so it is used for unordered things (keys, set members, hash
///   pairs, sorted-set elements).
/// - mix:  d = SHA1(d ^ SHA1(bytes)). Order matters, and mix("foo"), mix("bar") differs from mix("fo"),
///   mix("obar"): used for sequences (a list's elements, a key then its value).
///
/// A value's digest (`valueDigest`), starting from zeros:
///   mix(type as a big-endian UInt32: string 0, list 1, set 2, zset 3, hash 4), then
///   - string: mix(bytes)
///   - list: mix(element) for each, head to tail
///   - set: xor(member) for each (an intset's integers in decimal)
///   - sorted set: for each element, e = mix(mix(zeros, member), score as "%.17g"); xor(e)
///   - hash: for each pair, e = mix(mix(zeros, field), value); xor(e)
///   then, when the key has a TTL, xor("!!expire!!"): only whether there is one, never the time.
/// The dataset digest, from zeros: for each database holding any stored key, mix(its index as a big-endian
/// UInt32), then for each stored key (past their time included: Redis walks the dict) xor(k), where
/// k = mix(zeros, key) followed by the value's steps above. An empty dataset is 20 zero bytes.
/// Note that xor(e) of a 20-byte digest e XORs in SHA1(e), not e itself: that is Redis's xorDigest.
///
/// Scores: Redis 7.0 prints them with snprintf "%.17g" here (7.2 switched to fpconv_dtoa's shortest form),
/// so 0.1 is hashed as "0.10000000000000001" and infinities as "inf" / "-inf". A -0 score hashes as "-0";
/// it only exists in a skiplist-encoded set (a listpack stores -0 as 0), which SortedSets.swift mirrors.
///
/// Every element is two SHA-1 runs over at most 64 bytes plus its own length: DEBUG DIGEST is O(dataset)
/// and blocks the loop for its whole run, as in Redis (a debugging and test tool).

// MARK: - Redis's two digest steps

extension SHA1.Digest {
    /// Redis's xorDigest: XORs in SHA1(`bytes`).
    mutating func xorHash(of bytes: UnsafeRawBufferPointer) {
        self ^= SHA1.hash(bytes)
    }

    /// Redis's mixDigest: self = SHA1(self ^ SHA1(`bytes`)).
    mutating func mix(_ bytes: UnsafeRawBufferPointer) {
        xorHash(of: bytes)
        self = withUnsafeBytes { SHA1.hash($0) }
    }

    mutating func mix(_ bytes: ByteString) { bytes.withUnsafeBytes { mix($0) } }

    /// xorDigest of another digest's 20 bytes: XORs in SHA1(`other`).
    mutating func xor(_ other: SHA1.Digest) { other.withUnsafeBytes { xorHash(of: $0) } }

    /// Mixes in a 32-bit number as 4 big-endian bytes (Redis's htonl; the type and the database index).
    mutating func mix(bigEndian value: UInt32) {
        var be = value.bigEndian
        Swift.withUnsafeBytes(of: &be) { mix($0) }
    }
}

// MARK: - Digests

/// The digest of every database (DEBUG DIGEST), 20 bytes.
func datasetDigest(_ server: Server) -> [UInt8] { datasetDigest(server.databases).bytes }

func datasetDigest(_ databases: [Database]) -> SHA1.Digest {
    var final = SHA1.Digest.zero
    for db in databases where db.count > 0 {
        final.mix(bigEndian: UInt32(db.index))
        db.forEachStored { key, value, expireTime in
            var digest = SHA1.Digest.zero
            digest.mix(key)
            mixValue(value, hasExpire: expireTime != nil, into: &digest)
            final.xor(digest)
        }
    }
    return final
}

/// The digest of one value (DEBUG DIGEST-VALUE), 20 bytes; `hasExpire` is whether its key has a TTL.
func valueDigest(_ value: Value, hasExpire: Bool) -> [UInt8] {
    var digest = SHA1.Digest.zero
    mixValue(value, hasExpire: hasExpire, into: &digest)
    return digest.bytes
}

/// Redis's xorObjectDigest: adds the value's steps to `digest` (see the file header).
func mixValue(_ value: Value, hasExpire: Bool, into digest: inout SHA1.Digest) {
    digest.mix(bigEndian: redisTypeCode(value.type))
    switch value {
    case .string(let s):
        digest.mix(s)
    case .list(let list):
        list.forEach { entry in
            if entry.isInteger { digest.mix(entry.byteString) } else { entry.withData { digest.mix($0) } }
        }
    case .set(let set):
        set.forEach { member in member.withUnsafeBytes { digest.xorHash(of: $0) } }
    case .inlineIntset(let set):
        set.forEach { v in SetMember.integer(v).withUnsafeBytes { digest.xorHash(of: $0) } }
    case .sortedSet(let set):
        withUnsafeTemporaryAllocation(byteCount: maxDoubleLength, alignment: 1) { scoreText in
            set.forEach { member, score in
                var element = SHA1.Digest.zero
                element.mix(member)
                let n = writeDouble(score, to: scoreText.baseAddress!)  // "%.17g", as Redis 7.0 here
                element.mix(UnsafeRawBufferPointer(rebasing: scoreText[0..<n]))
                digest.xor(element)
            }
        }
    case .hash(let hash):
        hash.forEach { field, value in
            var element = SHA1.Digest.zero
            element.mix(field)
            element.mix(value)
            digest.xor(element)
        }
    case .stream(let stream):
        // Entries only, each id as "ms.seq" then its fields and values (groups are not mixed in).
        stream.forEach(from: .zero, to: .max) { node, cursor in
            formatStreamIDForDigest(cursor.id).withUnsafeBytes { digest.mix($0) }
            node.forEachPair(cursor) { field, value in
                digest.mix(field)
                digest.mix(value)
            }
            return true
        }
    }
    if hasExpire {
        let marker: StaticString = "!!expire!!"
        digest.xorHash(of: UnsafeRawBufferPointer(start: marker.utf8Start, count: marker.utf8CodeUnitCount))
    }
}

/// Redis's OBJ_* type numbers, which the digest mixes in.
private func redisTypeCode(_ type: ValueType) -> UInt32 {
    switch type {
    case .string: return 0
    case .list: return 1
    case .set: return 2
    case .sortedSet: return 3
    case .hash: return 4
    case .stream: return 6
    }
}

/// "ms.seq" (Redis's digest of a stream id).
private func formatStreamIDForDigest(_ id: StreamID) -> [UInt8] {
    Array("\(id.ms).\(id.seq)".utf8)
}
