import XCTest
@testable import Needletail

/// The loop's spin policy (Net/BusyPoll.swift), driven with made-up clock readings.
final class BusyPollTests: XCTestCase {
    /// A policy that has been running for a second (full credit) and just saw a short gap.
    private func warmed(budget: Int64 = 20) -> BusyPoll {
        var poll = BusyPoll(budget: budget)
        XCTAssertNil(poll.spinDeadline(now: 1_000_000), "no short gap seen yet")
        poll.waited(from: 1_000_000, to: 2_000_000, found: true)  // a second asleep: not a short gap
        XCTAssertNil(poll.spinDeadline(now: 2_000_010))
        poll.waited(from: 2_000_010, to: 2_000_015, found: true)  // 5 us: short
        return poll
    }

    func testSpinsOnlyAfterAShortGapAndForAtMostTheBudget() {
        var poll = warmed()
        XCTAssertEqual(poll.credit, BusyPoll.maxCredit, "a second's credit, capped")
        XCTAssertEqual(poll.spinDeadline(now: 2_000_020), 2_000_040)
        poll.spun(from: 2_000_020, to: 2_000_023, found: true)
        XCTAssertEqual(poll.spinDeadline(now: 2_000_030), 2_000_050, "a spin that found events keeps spinning")
    }

    func testAnEmptySpinStopsSpinningUntilAShortGap() {
        var poll = warmed()
        let start: Int64 = 2_000_020
        XCTAssertNotNil(poll.spinDeadline(now: start))
        poll.spun(from: start, to: start + 20, found: false)
        XCTAssertNil(poll.spinDeadline(now: start + 20))
        poll.waited(from: start + 20, to: start + 60, found: true)  // 40 us asleep: longer than the budget
        XCTAssertNil(poll.spinDeadline(now: start + 70))
        poll.waited(from: start + 70, to: start + 300_000, found: false)  // a timer's timeout, no events
        XCTAssertNil(poll.spinDeadline(now: start + 300_010))
        poll.waited(from: start + 300_010, to: start + 300_030, found: true)  // exactly the budget: short
        XCTAssertNotNil(poll.spinDeadline(now: start + 300_040))
    }

    func testAContendedCPUStopsSpinningUntilAQuietPeriod() {
        var poll = warmed()
        poll.noteRunQueue(waited: 6_000_000, over: 100_000_000)  // 6% of a cron period waiting for a CPU
        XCTAssertTrue(poll.contended)
        XCTAssertNil(poll.spinDeadline(now: 2_000_020))
        poll.noteRunQueue(waited: 4_000_000, over: 100_000_000)
        XCTAssertFalse(poll.contended)
        XCTAssertNotNil(poll.spinDeadline(now: 2_000_030))
        poll.noteRunQueue(waited: 1, over: 0)  // no time passed: not contended
        XCTAssertFalse(poll.contended)
    }

    /// The loop thread's run-queue clock reads this thread's schedstat: nothing the first time, then the
    /// delay and the elapsed time since (skipped where the kernel keeps no sched_info).
    func testRunQueueClockReadsThisThread() throws {
        let clock = RunQueueClock()
        XCTAssertNil(clock.sample(), "the first reading only starts the period")
        var x: UInt64 = 1
        let start = monotonicMicros()
        while monotonicMicros() - start < 20_000 { x = x &* 6364136223846793005 &+ 1 }  // 20 ms on the CPU
        XCTAssertNotEqual(x, 0)
        let sample = try XCTUnwrap(clock.sample() ?? { throw XCTSkip("no /proc/thread-self/schedstat here") }())
        XCTAssertGreaterThanOrEqual(sample.interval, 20_000_000)
        XCTAssertGreaterThanOrEqual(sample.waited, 0)
        XCTAssertLessThanOrEqual(sample.waited, sample.interval + 10_000_000)
    }

    func testABudgetOfZeroNeverSpins() {
        var poll = BusyPoll(budget: 0)
        for step in 0..<100 {
            let now = Int64(step) * 10
            XCTAssertNil(poll.spinDeadline(now: now))
            poll.waited(from: now, to: now + 1, found: true)
        }
        XCTAssertEqual(BusyPoll(budget: -5).budget, 0)
    }

    /// The worst case for the cap: every spin runs to its deadline (events arrive just as it ends), with
    /// some work between spins. Over 10 simulated seconds spinning takes a quarter of the time,
    /// plus at most the saved-up credit and one spin's overrun.
    func testSpinningTakesAtMostAQuarterOfTheTime() {
        for (work, budget) in [(Int64(1), Int64(20)), (5, 1000), (200, 20), (0, 50)] {
            var poll = warmed(budget: budget)
            var now: Int64 = 2_000_020
            let end = now + 10_000_000
            var spinning: Int64 = 0
            while now < end {
                now += work
                if let deadline = poll.spinDeadline(now: now) {
                    XCTAssertLessThanOrEqual(deadline - now, budget)
                    poll.spun(from: now, to: deadline, found: true)
                    spinning += deadline - now
                    now = max(deadline, now + 1)
                } else {
                    // Asleep for a microsecond: a short gap, so the next wait may spin again.
                    poll.waited(from: now, to: now + 1, found: true)
                    now += 1
                }
            }
            let wall: Int64 = 10_000_000
            XCTAssertLessThanOrEqual(spinning, wall / BusyPoll.shareDivisor + BusyPoll.maxCredit + budget,
                                     "work \(work) budget \(budget)")
            // Where the budget is small against the work, it is the limit instead of the cap.
            let expected = min(wall / BusyPoll.shareDivisor, wall * budget / (work + budget))
            XCTAssertGreaterThan(spinning, expected * 9 / 10, "the cap is not overly strict: work \(work) budget \(budget)")
        }
    }

    /// The event loop with a warmed policy: it spins (up to 1 ms), then blocks until the timeout (a bound
    /// loose enough for a loaded machine: the loop returns, no earlier than asked); a wake-up is delivered.
    func testTheLoopSpinsThenStillKeepsTheTimeout() throws {
        let loop = try EventLoop()
        var policy = BusyPoll(budget: 1000)
        _ = policy.spinDeadline(now: monotonicMicros() - 1_000_000)  // a second ago: full credit by now
        policy.waited(from: 0, to: 1, found: true)
        loop.busyPoll = policy
        var tokens: [UInt64] = []
        let start = monotonicMicros()
        loop.poll(timeoutMillis: 5) { token, _, _ in tokens.append(token) }
        let elapsed = monotonicMicros() - start
        XCTAssertTrue(tokens.isEmpty)
        XCTAssertGreaterThanOrEqual(elapsed, 4_900, "the timeout is kept")
        XCTAssertLessThan(elapsed, 1_000_000, "and not extended without bound")
        XCTAssertLessThan(loop.busyPoll.credit, BusyPoll.maxCredit, "it did spin")
        loop.wake()
        loop.poll(timeoutMillis: -1) { token, _, _ in tokens.append(token) }
        XCTAssertEqual(tokens, [EventLoop.wakeToken])
    }

    func testCPUQuotaDetection() {
        func quota(_ cgroups: String, _ files: [String: String]) -> Bool {
            BusyPoll.hasCPUQuota(cgroups: cgroups, read: { files[$0] })
        }
        // cgroup v2, the process's own group and a namespace's root
        XCTAssertFalse(quota("0::/user.slice/a\n", ["/sys/fs/cgroup/user.slice/a/cpu.max": "max 100000\n"]))
        XCTAssertTrue(quota("0::/user.slice/a\n", ["/sys/fs/cgroup/user.slice/a/cpu.max": "50000 100000\n"]))
        XCTAssertTrue(quota("0::/\n", ["/sys/fs/cgroup/cpu.max": "200000 100000\n"]))
        XCTAssertFalse(quota("0::/\n", [:]), "no cpu controller: no quota")
        // cgroup v1: cpu alone or with cpuacct
        XCTAssertFalse(quota("4:cpu,cpuacct:/docker/x\n", ["/sys/fs/cgroup/cpu/docker/x/cpu.cfs_quota_us": "-1\n"]))
        XCTAssertTrue(quota("4:cpu,cpuacct:/docker/x\n", ["/sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_quota_us": "150000\n"]))
        XCTAssertTrue(quota("3:cpu:/\n", ["/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "100000"]))
        XCTAssertFalse(quota("4:memory:/docker/x\n", ["/sys/fs/cgroup/cpu/docker/x/cpu.cfs_quota_us": "100000\n"]),
                       "another controller's path is not the cpu controller's")
        // a parent's quota (a systemd slice with CPUQuota= above the service's group)
        XCTAssertTrue(quota("0::/limited.slice/redis.service\n",
                            ["/sys/fs/cgroup/limited.slice/redis.service/cpu.max": "max 100000\n",
                             "/sys/fs/cgroup/limited.slice/cpu.max": "100000 100000\n"]))
        XCTAssertTrue(quota("5:cpuacct,cpu:/a/b/c\n", ["/sys/fs/cgroup/cpu/a/cpu.cfs_quota_us": "20000\n"]))
        XCTAssertFalse(quota("0::/a/b\n", ["/sys/fs/cgroup/a/b/cpu.max": "max 100000\n", "/sys/fs/cgroup/a/cpu.max": "max 100000\n"]))
        // This machine: the check runs without trapping, whatever it finds.
        _ = BusyPoll.machineAllowsSpinning()
    }
}
