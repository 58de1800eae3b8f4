import Glibc
import XCTest
@testable import Needletail

final class ThreadPoolTests: XCTestCase {
    /// A counter safe to bump from several threads (the test's own lock, not the pool's).
    final class Counter {
        private var lock = pthread_mutex_t()
        private var value = 0
        init() { pthread_mutex_init(&lock, nil) }
        func bump() { pthread_mutex_lock(&lock); value += 1; pthread_mutex_unlock(&lock) }
        var current: Int { pthread_mutex_lock(&lock); defer { pthread_mutex_unlock(&lock) }; return value }
    }

    func testRunsEveryJobExactlyOnce() {
        let pool = ThreadPool(threads: 3)
        let counter = Counter()
        for _ in 0..<10_000 { pool.submit { counter.bump() } }
        pool.waitUntilIdle()
        XCTAssertEqual(counter.current, 10_000)
        XCTAssertEqual(pool.pendingJobs, 0)
        pool.shutdown()
    }

    func testShutdownFinishesQueuedJobs() {
        let pool = ThreadPool(threads: 1)
        let counter = Counter()
        for _ in 0..<100 { pool.submit { usleep(100); counter.bump() } }
        pool.shutdown()
        XCTAssertEqual(counter.current, 100)
    }

    final class Tracked {
        let onDeinit: () -> Void
        init(_ onDeinit: @escaping () -> Void) { self.onDeinit = onDeinit }
        deinit { onDeinit() }
    }

    /// The lazyfree pattern: the loop unlinks a value and hands the last reference to a worker, which
    /// releases it (and frees it) off the loop thread.
    func testLastReleaseHappensOnAWorker() {
        let pool = ThreadPool(threads: 1)
        let mainThread = pthread_self()
        var freedOnWorker = false
        // Hold the only worker until the submitting function has returned and dropped its references.
        var gate = pthread_mutex_t()
        pthread_mutex_init(&gate, nil)
        pthread_mutex_lock(&gate)
        pool.submit { pthread_mutex_lock(&gate); pthread_mutex_unlock(&gate) }
        func handOver() {
            let value = Tracked { freedOnWorker = pthread_equal(pthread_self(), mainThread) == 0 }
            pool.submit { withExtendedLifetime(value) {} }
        }
        handOver()
        pthread_mutex_unlock(&gate)
        pool.waitUntilIdle()
        pool.shutdown()
        XCTAssertTrue(freedOnWorker)
    }
}
