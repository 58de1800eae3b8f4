import CSystem

// HashTable: exactly uniform random sampling (RANDOMKEY, SRANDMEMBER/SPOP, HRANDFIELD, ZRANDMEMBER).
//
// First, up to 16 draws of a pool slot: live entries are packed low, so one almost always hits. Redis's
// fallback (dictGetRandomKey: a random non-empty bucket, then a random entry of its chain) under-samples
// entries in long chains (one alone in its bucket is drawn twice as often as one sharing it), which shows in
// a chi-square test of SRANDMEMBER on a sparse pool (a set of 5,000 members SREM'd down to 50). Ours is a
// selection by rank instead: draw k in 0..<count and walk the chunks, skipping whole chunks by their live
// counters, to the k-th live slot. Both steps are uniform, so the result is exactly uniform; the walk costs
// O(chunks + 4096) and runs only when 16 draws missed.

extension HashTable {
    /// A uniformly random entry (every live entry with probability 1/count), nil when empty.
    /// - Complexity: O(1) expected while at least 1/16 of the pool's slots are live, else
    ///   O(chunks + chunk size).
    public func randomElement<G: RandomNumberGenerator>(using generator: inout G) -> Element? {
        guard _count > 0 else { return nil }
        let last = chunkCount - 1
        let limit = last << HashTableLayout.chunkShift + chunks![last].used
        for _ in 0..<16 {
            let index = Int.random(in: 0..<limit, using: &generator)
            let chunk = chunks![index >> HashTableLayout.chunkShift]
            let offset = index & HashTableLayout.chunkMask
            guard let base = chunk.base, offset < chunk.used else { continue }
            if Self.isLive(base + offset) { return ((base + offset).pointee.key, (base + offset).pointee.value) }
        }
        var rank = Int.random(in: 0..<_count, using: &generator)
        for k in 0..<chunkCount {
            let chunk = chunks![k]
            guard let base = chunk.base else { continue }
            if rank >= chunk.live {
                rank -= chunk.live
                continue
            }
            for offset in 0..<chunk.used where Self.isLive(base + offset) {
                if rank == 0 { return ((base + offset).pointee.key, (base + offset).pointee.value) }
                rank -= 1
            }
        }
        preconditionFailure("HashTable: the chunks' live counters disagree with the count")
    }
}

extension HashTable {
    /// Calls `body` with up to `count` random live entries, drawn independently (the same entry may come
    /// twice), for eviction's sampling. The slots are drawn first and their cache lines requested together,
    /// so the misses of a sample overlap instead of being paid one after another; a draw that lands on a
    /// free slot is redrawn (at most 16 times per entry, as `randomElement`).
    public func forEachSample<G: RandomNumberGenerator>(count: Int, using generator: inout G,
                                                        _ body: (ByteString, Value) -> Void) {
        guard _count > 0, count > 0 else { return }
        let last = chunkCount - 1
        let limit = last << HashTableLayout.chunkShift + chunks![last].used
        let batch = Swift.min(count, 16)
        var slots: (Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var remaining = count
        while remaining > 0 {
            let n = Swift.min(batch, remaining)
            withUnsafeMutableBytes(of: &slots) { raw in
                let drawn = raw.bindMemory(to: Int.self)
                for i in 0..<n {
                    drawn[i] = Int.random(in: 0..<limit, using: &generator)
                    if let entry = slotPointer(drawn[i]) { cs_prefetch(entry) }
                }
                for i in 0..<n {
                    var index = drawn[i]
                    for _ in 0..<16 {
                        if let entry = slotPointer(index), Self.isLive(entry) {
                            body(entry.pointee.key, entry.pointee.value)
                            break
                        }
                        index = Int.random(in: 0..<limit, using: &generator)
                    }
                }
            }
            remaining -= n
        }
    }

    /// The slot at pool index `index`, nil when its chunk is not allocated or the slot was never used.
    @inline(__always)
    private func slotPointer(_ index: Int) -> UnsafeMutablePointer<Entry>? {
        let chunk = chunks![index >> HashTableLayout.chunkShift]
        let offset = index & HashTableLayout.chunkMask
        guard let base = chunk.base, offset < chunk.used else { return nil }
        return base + offset
    }
}
