/// A per-command latency histogram with the bucket layout of the HdrHistogram that redis-server 7.0 keeps
/// for `latency-tracking` (hdr_init(1, 1_000_000_000, 2)): values in nanoseconds from 1 ns to 1 s, two
/// significant digits. Recording costs a count-leading-zeros, a shift and an increment; INFO latencystats'
/// percentiles and LATENCY HISTOGRAM's power-of-two buckets are computed as hdr_histogram computes them, so
/// the numbers we print fall on the same bucket edges as Redis's (p50=6.015, histogram_usec 33, ...).
///
/// Layout (HdrHistogram's): 23 buckets, each of 128 sub-buckets after the first (256 in the first); bucket b
/// covers values with sub-bucket index s in [128, 256) as s << b, so each sub-bucket spans 2^b ns. The counts
/// are allocated on the first sample (24 KB), as Redis allocates a command's histogram on its first call.
final class LatencyHistogram {
    static let lowestValue: Int64 = 1
    static let highestValue: Int64 = 1_000_000_000
    private static let subBucketHalfCountMagnitude = 7
    private static let subBucketHalfCount = 128
    private static let subBucketCount = 256
    private static let subBucketMask: Int64 = 255
    private static let countsLength = 3072  // (bucket_count 23 + 1) * 128

    private let counts: UnsafeMutablePointer<Int64>
    @exclusivity(unchecked) private(set) var totalCount: Int64 = 0

    init() {
        counts = .allocate(capacity: LatencyHistogram.countsLength)
        counts.initialize(repeating: 0, count: LatencyHistogram.countsLength)
    }

    deinit { counts.deallocate() }

    /// Bytes held (MEMORY STATS-style accounting).
    static var byteSize: Int { countsLength * 8 + 48 }

    /// Records one sample of `nanoseconds`, clamped to [1 ns, 1 s] as Redis's updateCommandLatencyHistogram.
    @inline(__always) func record(nanoseconds: Int64) {
        let value = min(max(nanoseconds, LatencyHistogram.lowestValue), LatencyHistogram.highestValue)
        counts[LatencyHistogram.countsIndex(value)] += 1
        totalCount += 1
    }

    // MARK: - Bucket arithmetic (hdr_histogram.c)

    @inline(__always) private static func bucketIndex(_ value: Int64) -> Int {
        let pow2Ceiling = 64 - (value | subBucketMask).leadingZeroBitCount
        return pow2Ceiling - (subBucketHalfCountMagnitude + 1)
    }

    @inline(__always) private static func countsIndex(_ value: Int64) -> Int {
        let bucket = bucketIndex(value)
        let subBucket = Int(value >> Int64(bucket))
        return ((bucket + 1) << subBucketHalfCountMagnitude) + subBucket - subBucketHalfCount
    }

    /// hdr_value_at_index.
    private static func value(atIndex index: Int) -> Int64 {
        var bucket = (index >> subBucketHalfCountMagnitude) - 1
        var subBucket = (index & (subBucketHalfCount - 1)) + subBucketHalfCount
        if bucket < 0 {
            subBucket -= subBucketHalfCount
            bucket = 0
        }
        return Int64(subBucket) << Int64(bucket)
    }

    private static func lowestEquivalent(_ value: Int64) -> Int64 {
        let bucket = bucketIndex(value)
        return (value >> Int64(bucket)) << Int64(bucket)
    }

    private static func rangeSize(_ value: Int64) -> Int64 {
        let bucket = bucketIndex(value)
        let subBucket = value >> Int64(bucket)
        return Int64(1) << Int64(subBucket >= Int64(subBucketCount) ? bucket + 1 : bucket)
    }

    private static func highestEquivalent(_ value: Int64) -> Int64 {
        lowestEquivalent(value) + rangeSize(value) - 1
    }

    // MARK: - Reading

    /// hdr_value_at_percentile: the highest value equivalent to the sample at `percentile` (0...100).
    func value(atPercentile percentile: Double) -> Int64 {
        let requested = min(percentile, 100.0)
        var countAtPercentile = Int64((requested / 100) * Double(totalCount) + 0.5)
        countAtPercentile = min(countAtPercentile, totalCount)
        var seen: Int64 = 0
        var valueFromIndex: Int64 = 0
        var index = 0
        // hdr walks (bucket, sub-bucket) pairs; in counts-index order that is every index, then the value
        // of the index. Index 0 holds value 0, which this histogram never records.
        while seen < countAtPercentile && index < LatencyHistogram.countsLength {
            seen += counts[index]
            valueFromIndex = LatencyHistogram.value(atIndex: index)
            index += 1
        }
        return percentile == 0 ? LatencyHistogram.lowestEquivalent(valueFromIndex)
            : LatencyHistogram.highestEquivalent(valueFromIndex)
    }

    /// LATENCY HISTOGRAM's buckets (hdr_iter_log_init(1024, 2) as Redis's fillCommandCDF walks it): at each
    /// power of two from 1024 ns, the highest value of the sub-bucket reached (in µs) and the cumulative count
    /// so far, listed only where the count grew since the previous step.
    func cumulativeBuckets() -> [(micros: Int64, count: Int64)] {
        let length = LatencyHistogram.countsLength
        var result: [(Int64, Int64)] = []
        var index = -1
        var cumulative: Int64 = 0
        var value: Int64 = 0
        var highest: Int64 = 0
        var level: Int64 = 1024
        var levelLowest = LatencyHistogram.lowestEquivalent(level)
        // log_iter_next: true while samples remain or the next index's value passes the reporting level.
        func next() -> Bool {
            guard cumulative < totalCount || (index < length && LatencyHistogram.value(atIndex: index + 1) > levelLowest)
            else { return false }
            while true {
                if value >= levelLowest {
                    level *= 2
                    levelLowest = LatencyHistogram.lowestEquivalent(level)
                    return true
                }
                index += 1
                if index >= length { return true }
                cumulative += counts[index]
                value = LatencyHistogram.value(atIndex: index)
                highest = LatencyHistogram.highestEquivalent(value)
            }
        }
        var previous: Int64 = 0
        while next() {
            if cumulative > previous { result.append((highest / 1000, cumulative)) }
            previous = cumulative
        }
        return result
    }
}
