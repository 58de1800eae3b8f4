@testable import Needletail
import TestSupport

/// Seeded random values of every type but streams, in every encoding the RDB writer produces, for the RDB
/// tests (RDBCodecTests, RDBParallelLoadTests).
enum RandomValues {
    /// Integers (small and full-width), runs of a repeated letter (LZF-compressible), binary bytes, "01" (not
    /// an integer for Redis) and short words.
    static func bytes(_ r: inout SeededRandom) -> ByteString {
        switch r.below(6) {
        case 0: return formatInt64(Int64(r.between(-100_000, 100_000)))
        case 1: return formatInt64(Int64(bitPattern: r.next()))
        case 2: return ByteString(Array(repeating: UInt8(ascii: "a") + UInt8(r.below(3)), count: r.between(0, 300)))
        case 3: return ByteString((0..<r.between(0, 30)).map { _ in UInt8(r.below(256)) })
        case 4: return ByteString(Array("01".utf8))  // not an integer for Redis
        default: return ByteString((0..<r.between(1, 12)).map { _ in UInt8(ascii: "a") + UInt8(r.below(26)) })
        }
    }

    /// A string, or a list, set, sorted set or hash of `n` elements, in the encoding `limits` give that size.
    static func value(_ r: inout SeededRandom, count n: Int, limits: RDBLoadLimits) -> Value {
        switch r.below(5) {
        case 0:
            return .string(bytes(&r))
        case 1:
            let list = ListValue.make(fill: r.pick([-2, -1, 4, 128]))
            for _ in 0..<n { list.append(bytes(&r)) }
            return .list(list)
        case 2:
            let integers = r.oneIn(2)
            let set = SetValue()
            if !integers { set.convertToHashtable() }
            for _ in 0..<n {
                let member = integers ? formatInt64(Int64(r.between(-1 << 40, 1 << 40))) : bytes(&r)
                _ = member.withUnsafeBytes { set.add($0, maxIntsetEntries: limits.setIntsetEntries) }
            }
            return .set(set)
        case 3:
            let zset = SortedSet()
            for _ in 0..<n {
                let score = r.pick([Double(r.between(-1000, 1000)), Double(r.between(0, 1 << 20)) / 7, .infinity, -.infinity, 1e300])
                _ = zset.set(member: bytes(&r), score: score)
            }
            zset.skiplistEncoded = zset.count > limits.zsetEntries
            return .sortedSet(zset)
        default:
            let hash = HashValue()
            for _ in 0..<n { _ = hash.set(bytes(&r), bytes(&r), limits: limits.hash) }
            if hash.count > limits.hash.entries { hash.convertToTable() }
            return .hash(hash)
        }
    }
}
