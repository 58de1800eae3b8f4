import CSystem

/// The clock that times commands: wall-clock microseconds, read from the system at the start of a batch of
/// requests when the last reading is over a millisecond old (`batchStart`), and derived from the CPU's
/// timestamp counter otherwise (`estimate`, once per command).
///
/// WHY — a command's end is the next one's start and its commandstats duration (Server/Call.swift), so the
/// clock is read once per request: at `-P 16` a vDSO `clock_gettime` was 5-6% of the server's CPU time
/// (bench/FINDINGS.md). RDTSC costs a third of that. Redis reads the clock twice per command (`ustime()`).
///
/// HOW — `read()` anchors: the wall clock and the counter, together. `estimate()` adds the ticks since the
/// anchor at the calibrated rate, in 32.32 fixed point (Double conversions both ways, with Swift's range
/// checks, were a fifth of `Server.call`'s time). The rate comes from the monotonic clock against the
/// counter, measured by `calibrate()` (the cron) over at least 200 ms and renewed every such window, so a
/// changed frequency or a stepped wall clock cannot skew it for long (the wall clock only anchors). An
/// estimate never strays: past 10 ms since the anchor, or with the counter behind it, `estimate()` reads the
/// clock instead.
///
/// Used only where the kernel itself keeps time with the counter (current clocksource `tsc`: invariant and
/// synchronized across CPUs); elsewhere, and before the first calibration, `estimate()` is `read()`.
struct TickClock {
    /// Estimates go back to the system clock after this long without an anchor.
    static let maxEstimateMicros: Double = 10_000
    /// A batch starts with a reading when the anchor is older than this (so a stepped wall clock shows
    /// within a millisecond).
    static let reanchorMicros: Double = 1_000
    /// Shortest window the rate is measured over.
    static let calibrationWindowMicros: Int64 = 200_000
    /// Most ticks between the two counter reads around a calibration's clock read (a few microseconds at
    /// any plausible rate: the read itself takes well under one).
    static let maxPairTicks: UInt64 = 20_000

    private let usable: Bool
    private var anchorMicros: Int64 = 0
    private var anchorTicks: UInt64 = 0
    /// Ticks between the counter reads around the last anchor's clock reading.
    private(set) var anchorSpreadTicks: UInt64 = 0
    /// 0 until calibrated.
    private(set) var microsPerTick: Double = 0
    /// `microsPerTick` * 2^32 (0 until calibrated): at most 0.1 * 2^32, times at most `maxTicks`
    /// (10 ms of ticks) stays far below 2^64.
    private var scaledMicrosPerTick: UInt64 = 0
    private var maxTicks: UInt64 = 0
    private var reanchorTicks: UInt64 = 0
    private var windowStartMicros: Int64 = 0
    private var windowStartTicks: UInt64 = 0

    init(usable: Bool = TickClock.kernelKeepsTimeWithTheCounter()) {
        self.usable = usable && cs_ticks() != 0
    }

    /// Whether estimates come from the counter (calibrated, and usable here).
    var isCounting: Bool { microsPerTick > 0 }

    /// The wall clock, now; later estimates count from here (from the counter's midpoint around the reading,
    /// so a reading that took long, the thread preempted, is off by at most half of `anchorSpreadTicks`).
    @inline(__always) mutating func read() -> Int64 {
        let before = cs_ticks()
        let micros = wallClockMicros()
        let after = cs_ticks()
        anchorSpreadTicks = after &- before
        anchorTicks = before &+ anchorSpreadTicks / 2
        anchorMicros = micros
        return micros
    }

    /// The wall clock, estimated from the counter since the last `read()` (or read, see the type's comment).
    @inline(__always) mutating func estimate() -> Int64 { estimate(within: maxTicks) }

    /// The time a batch of requests starts at: `estimate()` while the anchor is recent and was taken in one
    /// piece, a `read()` otherwise (an anchor whose reading was interrupted, the thread preempted between its
    /// counter reads, may be off by half that spread: it serves no further batch). Under load that saves a
    /// clock reading and two counter reads per batch.
    @inline(__always) mutating func batchStart() -> Int64 {
        anchorSpreadTicks > TickClock.maxPairTicks ? read() : estimate(within: reanchorTicks)
    }

    @inline(__always) private mutating func estimate(within limit: UInt64) -> Int64 {
        guard scaledMicrosPerTick > 0 else { return read() }
        let elapsed = cs_ticks() &- anchorTicks  // wraps to a huge value if the counter is behind the anchor
        guard elapsed <= limit else { return read() }
        return anchorMicros &+ Int64(truncatingIfNeeded: (elapsed &* scaledMicrosPerTick) >> 32)
    }

    /// Measures the counter's rate against the monotonic clock (call it periodically: the cron).
    mutating func calibrate() {
        guard usable else { return }
        // The clock read between two counter reads; a pair taken apart (the thread preempted in between) would
        // skew the rate, so it is skipped: the window just runs on to the next call.
        let before = cs_ticks()
        let micros = monotonicMicros()
        let after = cs_ticks()
        guard after >= before && after - before <= TickClock.maxPairTicks else { return }
        let ticks = before + (after - before) / 2
        if windowStartTicks == 0 {
            (windowStartTicks, windowStartMicros) = (ticks, micros)
            return
        }
        let spent = micros - windowStartMicros
        guard spent >= TickClock.calibrationWindowMicros else { return }
        if ticks > windowStartTicks {
            let rate = Double(spent) / Double(ticks - windowStartTicks)
            // Counters run at 10 MHz to 100 GHz; anything else is a broken reading, ignored.
            if rate >= 1e-5 && rate <= 0.1 {
                microsPerTick = rate
                scaledMicrosPerTick = UInt64(rate * 4_294_967_296.0)
                maxTicks = UInt64(TickClock.maxEstimateMicros / rate)
                reanchorTicks = UInt64(TickClock.reanchorMicros / rate)
            }
        }
        (windowStartTicks, windowStartMicros) = (ticks, micros)
    }

    /// Linux's current clocksource is the timestamp counter.
    static func kernelKeepsTimeWithTheCounter() -> Bool {
        guard let bytes = readWholeFile("/sys/devices/system/clocksource/clocksource0/current_clocksource") else {
            return false
        }
        return bytes.prefix { $0 != UInt8(ascii: "\n") } == Array("tsc".utf8)[...]
    }
}
