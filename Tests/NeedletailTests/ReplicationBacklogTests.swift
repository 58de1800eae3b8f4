import TestSupport
import XCTest
@testable import Needletail

/// The backlog ring against a model (every byte of the stream kept): after each append or resize, what it
/// holds is the model's last `historyLength` bytes, every offset in its range reads back the model's bytes
/// from there, and offsets outside it are refused.
final class ReplicationBacklogTests: XCTestCase {
    func testMatchesTheStreamItHolds() {
        var rng = SeededRandom(seed: 42)
        for round in 0..<20 {
            var capacity = 16 * 1024 + rng.below(3) * 1000
            let startOffset = Int64(rng.below(1_000_000))
            let backlog = ReplicationBacklog(capacity: capacity, offset: startOffset)
            var stream: [UInt8] = []  // the model: every byte since the backlog began
            for step in 0..<300 {
                if rng.oneIn(40) {
                    capacity = 16 * 1024 + rng.below(40_000)
                    backlog.resize(to: capacity)
                } else {
                    // Mostly small writes, some bigger than the ring (only their tail can be kept).
                    let count = rng.oneIn(30) ? rng.below(3 * capacity) : rng.below(2000)
                    let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                    stream += bytes
                    bytes.withUnsafeBytes { backlog.append($0) }
                }
                let end = startOffset + 1 + Int64(stream.count)
                XCTAssertEqual(backlog.endOffset, end, "round \(round) step \(step)")
                XCTAssertLessThanOrEqual(backlog.historyLength, capacity)
                XCTAssertEqual(backlog.firstByteOffset, end - Int64(backlog.historyLength))
                // Every byte it claims matches the stream (read from a few offsets, the oldest included).
                for offset in [backlog.firstByteOffset, end - Int64(rng.below(backlog.historyLength + 1)), end] {
                    var read: [UInt8] = []
                    backlog.forEachChunk(from: offset) { read += $0 }
                    let from = Int(offset - startOffset - 1)
                    XCTAssertEqual(read, Array(stream[from...]), "round \(round) step \(step) offset \(offset)")
                }
                XCTAssertFalse(backlog.holds(from: backlog.firstByteOffset - 1))
                XCTAssertFalse(backlog.holds(from: end + 1))
            }
        }
    }
}
