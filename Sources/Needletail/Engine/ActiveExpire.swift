/// The active expire cycle (Redis's expire.c activeExpireCycle): keys past their time that nobody reads are
/// found and deleted in the background, under a time budget, so memory comes back without any command
/// scanning the keyspace. Three parts, one per layer:
/// - `ExpireCyclePlan` (here): when a slice runs and for how long (Redis's slow and fast cycles);
/// - `Server.activeExpireSlice` (here): runs a slice over the databases in turn, from the timer engine;
/// - `Database.activeExpireCycle` (Storage/Database.swift): one database's walk of its `expires` table,
///   deleting through the keyspace's write path (each deletion is a `.deleted(.expired)` change, propagated
///   as DEL).

// MARK: - The cycle

/// When it runs is ExpireCyclePlan's business (below): Redis's slow cycle from the cron
/// (25% of the period, here in slices of at most 1 ms) and its fast 1 ms cycle while a backlog remains.
extension Server {
    /// The cron ticked: the slow cycle gets its share of the period, starting on the next timer pass.
    func startSlowExpireCycle() {
        expirePlan.cronTick(hz: config.hz)
        scheduleExpireSlice(now: timers.now)
    }

    /// The expire timer fired: runs the slice the plan allows now, then sets the timer for the next one.
    func activeExpireSlice() {
        let start = timers.now
        guard activeExpireEnabled && !keyspace.expiryPaused else { return expirePlan.reset() }  // CLIENT PAUSE
        guard let (kind, limit) = expirePlan.beginSlice(now: start) else { return scheduleExpireSlice(now: start) }
        let hitTimeLimit = activeExpireCycle(deadline: start + limit)
        let end = timers.now
        addLatencySample("expire-cycle", milliseconds: (end - start) / 1000)
        expirePlan.endSlice(kind, elapsed: end - start, hitTimeLimit: hitTimeLimit)
        scheduleExpireSlice(now: end)
    }

    private func scheduleExpireSlice(now: Int64) {
        guard let at = expirePlan.nextRun(now: now) else { return }
        if let t = expireTimer, let current = timers.deadline(of: t) {
            if at < current { timers.reschedule(t, at: at) }
        } else {
            expireTimer = timers.schedule(at: at, .activeExpire)
        }
    }

    /// Redis's activeExpireCycle body: the databases in turn, resuming after the one visited last (so none
    /// is starved when time runs out), each walked until few of its keys turn out expired or `deadline`
    /// (monotonic µs) passes. Returns whether it stopped because time ran out.
    func activeExpireCycle(deadline: Int64) -> Bool {
        let now = self.now
        let n = databases.count
        for _ in 0..<n {
            let db = databases[expireNextDB % n]
            expireNextDB = (expireNextDB + 1) % n
            if db.expiresCount == 0 && db.avgTTL == 0 { continue }
            if !db.activeExpireCycle(now: now, deadline: deadline) { return true }
        }
        return false
    }
}

// MARK: - The plan

/// When the active expire cycle runs and for how long; the server does the expiring (Server.activeExpire).
///
/// Redis's policy: a "slow" cycle from the cron, allowed 25% of the cron period
/// (ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC), and, when the last cycle stopped because its time ran out (so
/// expired keys are piling up), a "fast" cycle of 1 ms (ACTIVE_EXPIRE_CYCLE_FAST_DURATION) before the loop
/// sleeps, never starting within 2 ms of the previous fast one: at most half the time goes to a backlog.
///
/// Two departures, both about latency. The slow cycle's share is spent in slices of at most 1 ms with
/// the loop polling for events between them, so a backlog of a million keys delays a PING by about a
/// millisecond, not by the 25 ms Redis's slow cycle blocks. And the fast cycle is a timer, so it also
/// runs while no client traffic wakes the loop (Redis then runs it only once per cron tick): memory
/// comes back sooner, with the same bound on the share of time spent.
struct ExpireCyclePlan {
    enum Kind: Equatable { case slow, fast }

    static let slowTimePercent: Int64 = 25
    static let fastDurationMicros: Int64 = 1000
    static let sliceMicros: Int64 = 1000

    /// Time left to the slow cycle of the current cron period, µs.
    private(set) var slowBudget: Int64 = 0
    private(set) var lastFastStart: Int64 = .min / 2
    /// Whether the last slice stopped because its time ran out (Redis's `timelimit_exit`).
    private(set) var timeLimitExit = false

    /// The cron ticked: the slow cycle gets its share of this period.
    mutating func cronTick(hz: Int) {
        slowBudget = cronPeriodMicros(hz: hz) * ExpireCyclePlan.slowTimePercent / 100
    }

    /// When the next slice should start; nil when there is nothing to do until the next cron tick.
    func nextRun(now: Int64) -> Int64? {
        if slowBudget > 0 { return now }
        if timeLimitExit { return max(now, lastFastStart + 2 * ExpireCyclePlan.fastDurationMicros) }
        return nil
    }

    /// Starts a slice at `now`: its kind and how long it may run (µs); nil when none is due.
    mutating func beginSlice(now: Int64) -> (kind: Kind, limit: Int64)? {
        if slowBudget > 0 { return (.slow, min(slowBudget, ExpireCyclePlan.sliceMicros)) }
        guard timeLimitExit && now >= lastFastStart + 2 * ExpireCyclePlan.fastDurationMicros else { return nil }
        lastFastStart = now
        return (.fast, ExpireCyclePlan.fastDurationMicros)
    }

    /// Records how a slice went: `elapsed` µs, stopped by its time limit or because nothing was left.
    mutating func endSlice(_ kind: Kind, elapsed: Int64, hitTimeLimit: Bool) {
        timeLimitExit = hitTimeLimit
        guard kind == .slow else { return }
        slowBudget = hitTimeLimit ? max(0, slowBudget - max(elapsed, 1)) : 0
    }

    /// DEBUG SET-ACTIVE-EXPIRE 0 (or an empty keyspace): forget any backlog.
    mutating func reset() {
        slowBudget = 0
        timeLimitExit = false
    }
}
