import XCTest
@testable import Needletail
import Glibc

/// The command clock (Engine/TickClock.swift) against the system's wall clock. The bounds are loose (tens of
/// milliseconds on a busy machine would still pass): what fails is a wrong rate, a stale anchor or an
/// estimate that wanders, which are off by far more.
final class TickClockTests: XCTestCase {
    private func sleepMillis(_ ms: Int) { usleep(useconds_t(ms * 1000)) }

    func testWithoutTheCounterEveryEstimateReadsTheClock() {
        var clock = TickClock(usable: false)
        for _ in 0..<3 {
            clock.calibrate()
            sleepMillis(120)
        }
        clock.calibrate()
        XCTAssertFalse(clock.isCounting)
        _ = clock.read()
        sleepMillis(30)
        // Not the anchor's time: a fresh reading.
        XCTAssertLessThan(abs(clock.estimate() - wallClockMicros()), 10_000)
    }

    func testBeforeTheFirstWindowEstimatesReadTheClock() {
        var clock = TickClock(usable: true)
        clock.calibrate()  // opens the window; no rate yet
        XCTAssertFalse(clock.isCounting)
        _ = clock.read()
        sleepMillis(30)
        XCTAssertLessThan(abs(clock.estimate() - wallClockMicros()), 10_000)
    }

    func testCalibratedEstimatesFollowTheWallClock() throws {
        guard TickClock.kernelKeepsTimeWithTheCounter() else {
            throw XCTSkip("the kernel's clocksource is not the timestamp counter here")
        }
        var clock = TickClock()
        clock.calibrate()
        sleepMillis(Int(TickClock.calibrationWindowMicros / 1000) + 20)
        clock.calibrate()
        XCTAssertTrue(clock.isCounting)
        // A plausible counter: 10 MHz to 100 GHz.
        XCTAssertGreaterThan(clock.microsPerTick, 1e-5)
        XCTAssertLessThan(clock.microsPerTick, 0.1)

        // Within an anchor's 10 ms: estimates advance with the wall clock and never go back.
        let anchor = clock.read()
        var last = anchor
        let spinUntil = monotonicMicros() + 5_000
        while monotonicMicros() < spinUntil {
            let estimate = clock.estimate()
            XCTAssertGreaterThanOrEqual(estimate, last)
            XCTAssertLessThan(abs(estimate - wallClockMicros()), 2_000)
            last = estimate
        }
        XCTAssertGreaterThan(last - anchor, 3_000, "5 ms of spinning moved the estimate by \(last - anchor) us")

        // Past 10 ms since the anchor an estimate is a reading, and anchors the next ones.
        sleepMillis(40)
        let reread = clock.estimate()
        XCTAssertLessThan(abs(reread - wallClockMicros()), 5_000)
        XCTAssertGreaterThanOrEqual(reread - anchor, 40_000)
    }
}
