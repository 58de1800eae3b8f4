import XCTest
@testable import Needletail
import Glibc

/// The command clock (Engine/TickClock.swift) against the system's wall clock. Each estimate is checked
/// against clock readings taken just before and just after it, so a test thread preempted in between (the
/// suite runs in parallel) widens the bracket instead of failing; what fails is a wrong rate, a stale anchor or
/// an estimate that wanders, which land outside it.
final class TickClockTests: XCTestCase {
    private func sleepMillis(_ ms: Int) { usleep(useconds_t(ms * 1000)) }

    /// `estimate` lies within [before - slack, after + slack] of the wall clock read around it.
    private func assertBracketed(_ clock: inout TickClock, slack: Int64, _ message: String = "",
                                 file: StaticString = #filePath, line: UInt = #line) -> Int64 {
        let before = wallClockMicros()
        let estimate = clock.estimate()
        let after = wallClockMicros()
        XCTAssert(estimate >= before - slack && estimate <= after + slack,
                  "\(message) estimate \(estimate) outside [\(before), \(after)] +- \(slack) us", file: file, line: line)
        return estimate
    }

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
        _ = assertBracketed(&clock, slack: 0)
    }

    func testBeforeTheFirstWindowEstimatesReadTheClock() {
        var clock = TickClock(usable: true)
        clock.calibrate()  // opens the window; no rate yet
        XCTAssertFalse(clock.isCounting)
        _ = clock.read()
        sleepMillis(30)
        _ = assertBracketed(&clock, slack: 0)
    }

    func testCalibratedEstimatesFollowTheWallClock() throws {
        guard TickClock.kernelKeepsTimeWithTheCounter() else {
            throw XCTSkip("the kernel's clocksource is not the timestamp counter here")
        }
        var clock = TickClock()
        clock.calibrate()
        // Calibrated once a window has passed (a call whose readings were interrupted is skipped, so keep calling).
        let calibrationStarted = monotonicMicros()
        while !clock.isCounting && monotonicMicros() - calibrationStarted < 3_000_000 {
            sleepMillis(20)
            clock.calibrate()
        }
        XCTAssertTrue(clock.isCounting)
        XCTAssertGreaterThanOrEqual(monotonicMicros() - calibrationStarted, TickClock.calibrationWindowMicros)
        // A plausible counter: 10 MHz to 100 GHz.
        XCTAssertGreaterThan(clock.microsPerTick, 1e-5)
        XCTAssertLessThan(clock.microsPerTick, 0.1)

        // Within an anchor's 10 ms: estimates advance with the wall clock and never go back.
        let anchor = clock.read()
        var last = anchor
        let spinUntil = monotonicMicros() + 5_000
        while monotonicMicros() < spinUntil {
            // The rate's error over 5 ms is far below a microsecond; the anchor's reading may have been
            // interrupted, which its spread says.
            let spread = Int64(Double(clock.anchorSpreadTicks) * clock.microsPerTick) + 1
            let estimate = assertBracketed(&clock, slack: 50 + spread)
            XCTAssertGreaterThanOrEqual(estimate, last)
            last = estimate
        }
        XCTAssertGreaterThan(last - anchor, 3_000, "5 ms of spinning moved the estimate by \(last - anchor) us")

        // Past 10 ms since the anchor an estimate is a reading, and anchors the next ones.
        sleepMillis(40)
        let reread = assertBracketed(&clock, slack: 0)
        XCTAssertGreaterThanOrEqual(reread - anchor, 40_000)

        // A batch starts from the anchor while it is under a millisecond old, and with a reading after that.
        let anchored = clock.read()
        let before = wallClockMicros()
        let start = clock.batchStart()
        let after = wallClockMicros()
        let spread = Int64(Double(clock.anchorSpreadTicks) * clock.microsPerTick) + 1
        XCTAssert(start >= anchored && start >= before - 50 - spread && start <= after + 50 + spread,
                  "batch start \(start) outside [\(before), \(after)]")
        sleepMillis(3)
        let before2 = wallClockMicros()
        let start2 = clock.batchStart()
        let after2 = wallClockMicros()
        XCTAssert(start2 >= before2 && start2 <= after2, "a stale anchor's batch starts with a reading: \(start2) outside [\(before2), \(after2)]")
    }
}
