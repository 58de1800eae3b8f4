import XCTest
@testable import Needletail
import TestSupport

/// The timer engine on a manual clock: nothing here sleeps. Every mutation of a queue or idle list is
/// followed by its invariant check.
final class TimerTests: XCTestCase {
    private func queue(at micros: Int64 = 0) -> (TimerQueue<String, ManualClock>, ManualClock) {
        let clock = ManualClock(micros: micros)
        return (TimerQueue<String, ManualClock>(clock: clock), clock)
    }

    private func fired(_ q: TimerQueue<String, ManualClock>) -> [String] {
        var names: [String] = []
        q.runDue { name, _ in names.append(name) }
        q.checkInvariants()
        return names
    }

    // MARK: - TimerQueue

    func testFiresInDeadlineOrderAndEqualDeadlinesInSchedulingOrder() {
        let (q, clock) = queue()
        for (name, at) in [("c", 300), ("a", 100), ("b2", 200), ("d", 400), ("b1", 200)] as [(String, Int64)] {
            q.schedule(at: at, name)
            q.checkInvariants()
        }
        // b2 was scheduled before b1 for the same deadline, so it fires first.
        clock.micros = 1000
        XCTAssertEqual(fired(q), ["a", "b2", "b1", "c", "d"])
        XCTAssertTrue(q.isEmpty)
    }

    func testFiresExactlyAtItsDeadlineAndNotBefore() {
        let (q, clock) = queue(at: 1_000)
        q.schedule(after: 250, "t")
        clock.micros = 1_249
        XCTAssertEqual(fired(q), [], "one microsecond early")
        clock.micros = 1_250
        XCTAssertEqual(fired(q), ["t"], "at the deadline")
        XCTAssertEqual(fired(q), [], "once")
    }

    func testHandlerGetsTheDeadlineItWasSetFor() {
        let (q, clock) = queue()
        q.schedule(at: 70, "x")
        clock.micros = 95
        var deadlines: [Int64] = []
        q.runDue { _, deadline in deadlines.append(deadline) }
        XCTAssertEqual(deadlines, [70])
    }

    func testCancellation() {
        let (q, clock) = queue()
        let a = q.schedule(at: 10, "a")
        let b = q.schedule(at: 20, "b")
        let c = q.schedule(at: 30, "c")
        XCTAssertTrue(q.cancel(b))
        q.checkInvariants()
        XCTAssertFalse(q.cancel(b), "already cancelled")
        XCTAssertFalse(q.isScheduled(b))
        XCTAssertTrue(q.isScheduled(a) && q.isScheduled(c))
        XCTAssertTrue(q.cancel(a), "cancelling the earliest")
        q.checkInvariants()
        XCTAssertEqual(q.nextDeadline, 30)
        clock.micros = 100
        XCTAssertEqual(fired(q), ["c"])
        XCTAssertFalse(q.cancel(c), "a fired timer cannot be cancelled")
    }

    func testStaleHandleDoesNotCancelTheTimerThatReusedItsSlot() {
        let (q, _) = queue()
        let old = q.schedule(at: 10, "old")
        q.cancel(old)
        let new = q.schedule(at: 20, "new")  // takes the freed slot
        XCTAssertFalse(q.cancel(old))
        XCTAssertTrue(q.isScheduled(new))
        XCTAssertEqual(q.deadline(of: new), 20)
        XCTAssertNil(q.deadline(of: old))
        q.checkInvariants()
    }

    func testRescheduling() {
        let (q, clock) = queue()
        let a = q.schedule(at: 10, "a")
        q.schedule(at: 20, "b")
        let c = q.schedule(at: 30, "c")
        XCTAssertTrue(q.reschedule(a, at: 40), "later")
        q.checkInvariants()
        XCTAssertTrue(q.reschedule(c, at: 5), "earlier")
        q.checkInvariants()
        XCTAssertEqual(q.nextDeadline, 5)
        XCTAssertEqual(q.deadline(of: a), 40)
        clock.micros = 25
        XCTAssertEqual(fired(q), ["c", "b"])
        clock.micros = 40
        XCTAssertEqual(fired(q), ["a"])
        XCTAssertFalse(q.reschedule(a, at: 50), "a fired timer cannot be moved")
    }

    func testRescheduledToAnOccupiedDeadlineGoesAfterTheTimersAlreadyThere() {
        let (q, clock) = queue()
        let a = q.schedule(at: 10, "a")
        q.schedule(at: 20, "b")
        q.reschedule(a, at: 20)
        clock.micros = 20
        XCTAssertEqual(fired(q), ["b", "a"])
    }

    func testHandlersMayScheduleAndCancel() {
        let (q, clock) = queue()
        var victim: TimerHandle?
        q.schedule(at: 10, "first")
        victim = q.schedule(at: 12, "victim")
        q.schedule(at: 15, "later")
        clock.micros = 20
        var names: [String] = []
        q.runDue { name, _ in
            names.append(name)
            if name == "first" {
                q.cancel(victim!)
                q.schedule(at: 100, "added")
            }
        }
        q.checkInvariants()
        XCTAssertEqual(names, ["first", "later"])
        XCTAssertEqual(q.count, 1)
        XCTAssertEqual(q.nextDeadline, 100)
    }

    /// A handler that sets its timer again for "now" (an expire slice) must not keep runDue from returning:
    /// the loop polls for events before the timer fires again.
    func testTimerSetDuringRunDueWaitsForTheNextPass() {
        let (q, clock) = queue(at: 50)
        q.schedule(at: 50, "slice")
        var runs = 0
        for pass in 1...3 {
            q.runDue { _, _ in
                runs += 1
                q.schedule(at: clock.micros, "slice")
            }
            XCTAssertEqual(runs, pass, "one run per pass")
            XCTAssertEqual(q.pollTimeoutMillis(), 0, "and the loop must not sleep before the next")
        }
    }

    func testPollTimeoutComesFromTheNearestTimerRoundedUp() {
        let (q, clock) = queue(at: 10_000)
        XCTAssertEqual(q.pollTimeoutMillis(), -1, "nothing scheduled: sleep until an event")
        let far = q.schedule(at: 10_000 + 100_000, "cron")
        XCTAssertEqual(q.pollTimeoutMillis(), 100)
        q.schedule(at: 10_000 + 2_500, "slice")
        XCTAssertEqual(q.pollTimeoutMillis(), 3, "2.5 ms rounds up: waking early would spin")
        clock.micros += 1_500
        XCTAssertEqual(q.pollTimeoutMillis(), 1)
        clock.micros += 999
        XCTAssertEqual(q.pollTimeoutMillis(), 1, "1 µs left is still a millisecond's sleep")
        clock.micros += 1
        XCTAssertEqual(q.pollTimeoutMillis(), 0, "due now")
        clock.micros += 7_000
        XCTAssertEqual(q.pollTimeoutMillis(), 0, "overdue")
        XCTAssertEqual(fired(q), ["slice"])
        XCTAssertEqual(q.pollTimeoutMillis(), 91, "next: the cron at 110 ms, now 19.5 ms")
        q.cancel(far)
        XCTAssertEqual(q.pollTimeoutMillis(), -1)
        q.schedule(at: Int64.max, "never")
        XCTAssertEqual(q.pollTimeoutMillis(), Int32.max, "clamped")
        XCTAssertEqual(q.pollTimeoutMillis(now: 0), Int32.max)
    }

    /// Random schedules, cancels and moves against a sorted-array model. Prints the seed on failure.
    func testRandomOperationsAgainstAModel() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededRandom(seed: seed)
        let (q, clock) = queue()
        var model: [(handle: TimerHandle, deadline: Int64, order: Int, name: String)] = []
        var order = 0
        for step in 0..<4000 {
            let choice = rng.next() % 10
            if choice < 5 || model.isEmpty {
                let at = clock.micros + Int64(rng.next() % 1000)
                let name = "t\(step)"
                model.append((q.schedule(at: at, name), at, order, name))
                order += 1
            } else if choice < 7 {
                let i = Int(rng.next() % UInt64(model.count))
                XCTAssertTrue(q.cancel(model[i].handle), "seed \(seed)")
                model.remove(at: i)
            } else if choice < 9 {
                let i = Int(rng.next() % UInt64(model.count))
                let at = clock.micros + Int64(rng.next() % 1000)
                XCTAssertTrue(q.reschedule(model[i].handle, at: at), "seed \(seed)")
                model[i].deadline = at
                model[i].order = order
                order += 1
            } else {
                clock.micros += Int64(rng.next() % 300)
                let due = model.filter { $0.deadline <= clock.micros }
                    .sorted { ($0.deadline, $0.order) < ($1.deadline, $1.order) }
                XCTAssertEqual(fired(q), due.map { $0.name }, "seed \(seed) step \(step)")
                model.removeAll { $0.deadline <= clock.micros }
            }
            q.checkInvariants()
            XCTAssertEqual(q.count, model.count, "seed \(seed)")
            XCTAssertEqual(q.nextDeadline, model.map { $0.deadline }.min(), "seed \(seed)")
        }
    }

    // MARK: - Cron period

    func testCronPeriodFromHz() {
        XCTAssertEqual(cronPeriodMicros(hz: 10), 100_000, "the default")
        XCTAssertEqual(cronPeriodMicros(hz: 1), 1_000_000)
        XCTAssertEqual(cronPeriodMicros(hz: 100), 10_000)
        XCTAssertEqual(cronPeriodMicros(hz: 500), 2_000)
        XCTAssertEqual(cronPeriodMicros(hz: 3), 333_000, "Redis's 1000/hz ms, in whole milliseconds")
        XCTAssertEqual(cronPeriodMicros(hz: 0), 1_000_000, "clamped to 1...500 as Redis")
        XCTAssertEqual(cronPeriodMicros(hz: 100_000), 2_000)
    }

    /// The cron as the server runs it: a one-shot timer set again from its deadline, reading hz each time.
    func testCronTicksAtHzWithoutDriftAndFollowsAChangedHz() {
        let (q, clock) = queue()
        var hz = 10
        var ticks: [Int64] = []
        func runCron() {
            q.runDue { _, deadline in
                ticks.append(clock.micros)
                q.schedule(at: nextPeriodicDeadline(after: deadline, period: cronPeriodMicros(hz: hz), now: clock.micros), "cron")
            }
        }
        q.schedule(after: cronPeriodMicros(hz: hz), "cron")
        // The loop wakes a little late each time (0.3 ms): the ticks stay on the grid.
        for _ in 0..<5 {
            clock.micros = q.nextDeadline! + 300
            runCron()
        }
        XCTAssertEqual(ticks, [100_300, 200_300, 300_300, 400_300, 500_300])
        XCTAssertEqual(q.nextDeadline, 600_000)

        hz = 100  // CONFIG SET hz 100: from the next tick on
        clock.micros = 600_000
        runCron()
        XCTAssertEqual(q.nextDeadline, 610_000)
        clock.micros = 610_000
        runCron()
        XCTAssertEqual(q.nextDeadline, 620_000)

        // A loop held up for several periods runs one tick, not the missed ones back to back.
        clock.micros = 655_000
        runCron()
        XCTAssertEqual(q.nextDeadline, 665_000)
        XCTAssertEqual(ticks.count, 8)
    }

    // MARK: - Idle clients

    func testIdleListKeepsLeastRecentlyActiveFirst() {
        var list = IdleList()
        for (slot, at) in [(5, 100), (3, 110), (9, 120), (4, 130)] as [(Int, Int64)] {
            list.touch(slot, at: at)
            list.checkInvariants()
        }
        XCTAssertEqual(list.slotsInOrder, [5, 3, 9, 4])
        XCTAssertEqual(list.oldest?.slot, 5)
        list.touch(5, at: 140)  // the head moves to the tail
        list.checkInvariants()
        XCTAssertEqual(list.slotsInOrder, [3, 9, 4, 5])
        list.touch(9, at: 150)  // a middle one
        list.checkInvariants()
        XCTAssertEqual(list.slotsInOrder, [3, 4, 5, 9])
        list.touch(9, at: 160)  // the tail stays
        XCTAssertEqual(list.slotsInOrder, [3, 4, 5, 9])
        XCTAssertEqual(list.stamp(of: 9), 160)
        list.remove(4)
        list.checkInvariants()
        list.remove(3)
        list.checkInvariants()
        list.remove(9)
        list.checkInvariants()
        list.remove(9)  // absent: nothing
        list.remove(1000)
        XCTAssertEqual(list.slotsInOrder, [5])
        XCTAssertEqual(list.oldest?.stamp, 140)
        list.remove(5)
        list.checkInvariants()
        XCTAssertNil(list.oldest)
        XCTAssertEqual(list.count, 0)
        list.touch(5, at: 200)  // a reused fd
        XCTAssertEqual(list.slotsInOrder, [5])
        list.touch(2, at: 150)  // a stamp from the past is raised, keeping the order
        list.checkInvariants()
        XCTAssertEqual(list.stamp(of: 2), 200)
    }

    /// Touches within one clock tick leave a slot already carrying the newest stamp in place; against a model
    /// (slot -> stamp), in seeded random runs with few distinct stamps, the list stays sorted by stamp, holds
    /// exactly the model's slots with their stamps, and its head is always a least recent one.
    func testIdleListAgainstModelWithRepeatedStamps() {
        var fixed = IdleList()
        for (slot, at) in [(1, 100), (2, 100), (1, 100)] as [(Int, Int64)] { fixed.touch(slot, at: at) }
        XCTAssertEqual(fixed.slotsInOrder, [1, 2], "1 already had the newest stamp: not moved")
        fixed.touch(1, at: 101)
        XCTAssertEqual(fixed.slotsInOrder, [2, 1])

        for seed in 1...20 as ClosedRange<UInt64> {
            var rng = SeededRandom(seed: seed)
            var list = IdleList()
            var model: [Int: Int64] = [:]
            var clock: Int64 = 1000
            for _ in 0..<2000 {
                let slot = Int(rng.next() % 40)
                switch rng.next() % 10 {
                case 0:
                    list.remove(slot)
                    model[slot] = nil
                default:
                    if rng.next() % 4 == 0 { clock += Int64(rng.next() % 3) }
                    list.touch(slot, at: clock)
                    model[slot] = max(clock, model.values.max() ?? clock)
                }
                list.checkInvariants()
                let order = list.slotsInOrder
                XCTAssertEqual(Set(order), Set(model.keys), "seed \(seed)")
                XCTAssertEqual(order.map { list.stamp(of: $0)! }, order.map { model[$0]! }, "seed \(seed)")
                XCTAssertEqual(order.map { model[$0]! }, order.map { model[$0]! }.sorted(), "seed \(seed)")
                if let oldest = list.oldest { XCTAssertEqual(oldest.stamp, model.values.min(), "seed \(seed)") }
            }
        }
    }

    func testIdleDeadlineIsTheFirstMillisecondPastTheTimeout() {
        XCTAssertNil(idleDeadlineMicros(lastInteractionMillis: 5_000, timeoutSeconds: 0), "0 = never")
        XCTAssertEqual(idleDeadlineMicros(lastInteractionMillis: 5_000, timeoutSeconds: 1), 6_001_000)
        XCTAssertEqual(idleDeadlineMicros(lastInteractionMillis: 5_000, timeoutSeconds: Int(Int32.max)),
                       (5_000 + Int64(Int32.max) * 1000 + 1) * 1000)
        XCTAssertEqual(idleDeadlineMicros(lastInteractionMillis: 5_000, timeoutSeconds: Int.max), Int64.max)
    }

    /// A small fake of the server's side: clients by fd, the same IdleClientTimeout, a manual clock.
    private final class FakeServer {
        let clock = ManualClock(micros: 1_000_000)
        lazy var timers = TimerQueue<String, ManualClock>(clock: clock)
        var idle = IdleClientTimeout()
        var timeout = 1
        var open: Set<Int> = []
        var closed: [(fd: Int, atMillis: Int64)] = []
        var nowMillis: Int64 { clock.micros / 1000 }

        func connect(_ fd: Int, check checking: Bool = true) {
            open.insert(fd)
            idle.list.touch(fd, at: nowMillis)
            if idle.timer == nil { idle.arm(timeout: timeout, in: timers, event: "idle") }
            if checking { check() }
        }
        func request(_ fd: Int) {
            idle.list.touch(fd, at: nowMillis)
            check()
        }
        func disconnect(_ fd: Int) {
            open.remove(fd)
            idle.list.remove(fd)
        }
        func configSetTimeout(_ seconds: Int) {
            timeout = seconds
            if timeout != idle.armedTimeout { idle.arm(timeout: timeout, in: timers, event: "idle") }  // the cron's check
        }
        /// The loop: sleep as told (at most `millis`), run what is due.
        func run(forMillis millis: Int64) {
            let end = clock.micros + millis * 1000
            while true {
                let wait = timers.pollTimeoutMillis()
                let next = wait < 0 ? end : min(end, clock.micros + Int64(wait) * 1000)
                if next > end { break }
                clock.micros = next
                timers.runDue { _, _ in
                    idle.timerFired()
                    while let fd = idle.nextDue(nowMillis: nowMillis, timeout: timeout) {
                        closed.append((fd, nowMillis))
                        disconnect(fd)
                    }
                    idle.arm(timeout: timeout, in: timers, event: "idle")
                }
                if clock.micros == end { break }
            }
            check()
        }
        func check() {
            idle.list.checkInvariants()
            timers.checkInvariants()
            XCTAssertEqual(Set(idle.list.slotsInOrder), open)
        }
    }

    func testIdleClientsAreClosedOnTimeInOrderOfLastInteraction() {
        let s = FakeServer()
        s.connect(7)              // t = 1000 ms
        s.clock.advance(millis: 200)
        s.connect(8)              // t = 1200
        s.clock.advance(millis: 300)
        s.request(7)              // t = 1500: 7 is now the most recent
        XCTAssertEqual(s.idle.list.slotsInOrder, [8, 7])
        XCTAssertEqual(s.timers.count, 1, "one timer, whatever the number of clients")

        s.run(forMillis: 2000)    // to t = 3500
        XCTAssertEqual(s.closed.map { $0.fd }, [8, 7])
        XCTAssertEqual(s.closed.map { $0.atMillis }, [2201, 2501], "closed the first millisecond past 1 s idle")
        XCTAssertTrue(s.open.isEmpty)
        XCTAssertNil(s.idle.timer, "no client, no timer")
        XCTAssertEqual(s.timers.count, 0)
    }

    func testActiveClientsAreNeverClosed() {
        let s = FakeServer()
        s.connect(3)
        s.connect(4)
        for _ in 0..<20 {
            s.run(forMillis: 600)
            s.request(3)
        }
        XCTAssertEqual(s.closed.map { $0.fd }, [4])
        XCTAssertEqual(s.open, [3])
        s.disconnect(3)
        s.run(forMillis: 5000)
        XCTAssertEqual(s.closed.count, 1, "a disconnected client is not closed again")
    }

    func testTimeoutZeroNeverClosesAndConfigSetTimeoutTakesEffect() {
        let s = FakeServer()
        s.timeout = 0
        s.connect(5)
        s.connect(6)
        s.run(forMillis: 10_000)
        XCTAssertTrue(s.closed.isEmpty)
        XCTAssertEqual(s.timers.count, 0, "timeout 0: no timer at all")

        s.request(6)
        s.configSetTimeout(2)     // 5 has been idle 10 s: closed at once
        s.run(forMillis: 1)
        XCTAssertEqual(s.closed.map { $0.fd }, [5])
        s.run(forMillis: 3000)
        XCTAssertEqual(s.closed.map { $0.fd }, [5, 6])
        XCTAssertEqual(s.closed.map { $0.atMillis }, [11_000, 13_001])

        s.connect(9)
        s.configSetTimeout(0)
        XCTAssertNil(s.idle.timer)
        s.run(forMillis: 10_000)
        XCTAssertEqual(s.closed.count, 2)
    }

    func testManyIdleClientsCostOnlyTheDueOnes() {
        let s = FakeServer()
        for fd in 0..<10_000 {
            s.connect(fd, check: false)  // checked at the end: the check is O(clients)
            if fd % 1000 == 999 { s.clock.advance(millis: 100) }
        }
        // Wake up exactly when the first thousand are due: only they are looked at and closed.
        XCTAssertEqual(s.nowMillis, 2000)
        s.run(forMillis: 1)
        XCTAssertEqual(s.closed.count, 1000)
        XCTAssertEqual(Set(s.closed.map { $0.fd }), Set(0..<1000))
        XCTAssertEqual(s.idle.list.count, 9000)
    }

    // MARK: - Active expire plan

    func testSlowCycleSpendsItsQuarterOfThePeriodInOneMillisecondSlices() {
        var plan = ExpireCyclePlan()
        XCTAssertNil(plan.nextRun(now: 0), "nothing to do before the first cron tick")
        plan.cronTick(hz: 10)
        XCTAssertEqual(plan.slowBudget, 25_000, "25% of 100 ms")
        var now: Int64 = 0
        var slices = 0
        while let at = plan.nextRun(now: now), plan.slowBudget > 0 {
            XCTAssertEqual(at, now, "slices follow each other, the loop polling in between")
            let (kind, limit) = plan.beginSlice(now: now)!
            XCTAssertEqual(kind, .slow)
            XCTAssertEqual(limit, 1000)
            now += limit
            plan.endSlice(kind, elapsed: limit, hitTimeLimit: true)
            slices += 1
        }
        XCTAssertEqual(slices, 25)
        XCTAssertTrue(plan.timeLimitExit)
        XCTAssertEqual(plan.nextRun(now: now), now, "a backlog: a fast cycle follows")
    }

    func testFastCyclesRunOnlyWhileTheLastCycleRanOutOfTimeAndAtMostEveryTwoMilliseconds() {
        var plan = ExpireCyclePlan()
        XCTAssertNil(plan.beginSlice(now: 0), "no backlog, no fast cycle")
        plan.cronTick(hz: 10)
        let slow = plan.beginSlice(now: 0)!
        plan.endSlice(slow.kind, elapsed: 400, hitTimeLimit: false)
        XCTAssertEqual(plan.slowBudget, 0, "the cycle finished: the rest of the budget is not used")
        XCTAssertNil(plan.nextRun(now: 400))
        XCTAssertNil(plan.beginSlice(now: 400))

        plan.cronTick(hz: 10)
        var now: Int64 = 100_000
        while plan.slowBudget > 0 {
            let s = plan.beginSlice(now: now)!
            now += s.limit
            plan.endSlice(s.kind, elapsed: s.limit, hitTimeLimit: true)
        }
        let fast = plan.beginSlice(now: now)!
        XCTAssertEqual(fast.kind, .fast)
        XCTAssertEqual(fast.limit, 1000)
        now += 1000
        plan.endSlice(.fast, elapsed: 1000, hitTimeLimit: true)
        XCTAssertNil(plan.beginSlice(now: now), "not within 2 ms of the last fast start")
        XCTAssertEqual(plan.nextRun(now: now), now + 1000, "the timer waits for it")
        now += 1000
        XCTAssertEqual(plan.beginSlice(now: now)?.kind, .fast)
        plan.endSlice(.fast, elapsed: 300, hitTimeLimit: false)
        XCTAssertNil(plan.nextRun(now: now + 300), "backlog gone")
    }

    func testSlowBudgetFollowsHz() {
        var plan = ExpireCyclePlan()
        plan.cronTick(hz: 100)
        XCTAssertEqual(plan.slowBudget, 2_500)
        plan.cronTick(hz: 1)
        XCTAssertEqual(plan.slowBudget, 250_000)
        plan.reset()
        XCTAssertNil(plan.nextRun(now: 0))
    }
}

