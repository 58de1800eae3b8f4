import XCTest
@testable import Needletail
import TestSupport

/// The latency histogram's bucket arithmetic against values redis-server 7.0 printed for single samples
/// (INFO latencystats: a 166 µs call reads p50=166.911, 6 µs 6.015, 10 µs 10.047, 43 µs 43.007, 339 µs 339.967;
/// LATENCY HISTOGRAM: a 21 µs call sits in bucket 33), and its invariants under seeded random samples
/// against a sorted-array model.
final class LatencyHistogramTests: XCTestCase {
    func testSingleSamplesMatchRedis() {
        for (micros, expected) in [(166, 166_911), (6, 6015), (10, 10_047), (43, 43_007), (339, 339_967), (0, 1)] as [(Int64, Int64)] {
            let h = LatencyHistogram()
            h.record(nanoseconds: micros * 1000)
            for p in [50.0, 99.0, 99.9, 100.0] { XCTAssertEqual(h.value(atPercentile: p), expected, "\(micros) µs at p\(p)") }
        }
        let h = LatencyHistogram()
        h.record(nanoseconds: 21_000)
        XCTAssertEqual(h.cumulativeBuckets().map { [$0.micros, $0.count] }, [[33, 1]])
    }

    func testClampsToTrackableRange() {
        let h = LatencyHistogram()
        h.record(nanoseconds: -5)
        h.record(nanoseconds: 5_000_000_000)
        XCTAssertEqual(h.totalCount, 2)
        XCTAssertEqual(h.value(atPercentile: 50), 1)
        XCTAssertGreaterThanOrEqual(h.value(atPercentile: 100), LatencyHistogram.highestValue)
    }

    /// Percentiles are within the histogram's 2-significant-digit resolution (<1% above, never below) of the
    /// exact ones, and the cumulative buckets grow to the total at power-of-two edges.
    func testRandomSamplesAgainstSortedModel() {
        var rng = SeededRandom(seed: 42)
        for round in 0..<20 {
            let h = LatencyHistogram()
            var model: [Int64] = []
            let n = Int(rng.below(2000)) + 1
            for _ in 0..<n {
                let micros = Int64(rng.below(1 << Int(rng.below(20) + 1)))
                h.record(nanoseconds: micros * 1000)
                model.append(min(max(1, micros * 1000), LatencyHistogram.highestValue))  // clamped as recorded
            }
            model.sort()
            XCTAssertEqual(h.totalCount, Int64(n))
            for p in [1.0, 50.0, 90.0, 99.0, 99.9, 100.0] {
                // hdr_value_at_percentile's rank; rank 0 reads the empty first sub-bucket (0), as in Redis.
                let rank = Int((p / 100 * Double(n)) + 0.5)
                let got = h.value(atPercentile: p)
                if rank == 0 {
                    XCTAssertEqual(got, 0)
                    continue
                }
                let exact = model[min(rank, n) - 1]
                XCTAssertGreaterThanOrEqual(got, exact, "round \(round) p\(p)")
                XCTAssertLessThanOrEqual(Double(got), Double(exact) * 1.01 + 1, "round \(round) p\(p)")
            }
            let buckets = h.cumulativeBuckets()
            XCTAssertEqual(buckets.last?.count, Int64(n))
            for (a, b) in zip(buckets, buckets.dropFirst()) {
                XCTAssertLessThan(a.micros, b.micros)
                XCTAssertLessThan(a.count, b.count)
            }
            // Each bucket counts exactly the samples at or below its edge's sub-bucket.
            for bucket in buckets {
                let below = model.filter { $0 / 1000 <= bucket.micros }.count
                XCTAssertEqual(Int64(below), bucket.count, "round \(round) bucket \(bucket.micros)")
            }
        }
    }
}
