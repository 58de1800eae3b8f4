import Glibc

/// Busy polling (beyond redis-server): while requests keep arriving close together, the loop polls
/// without sleeping for up to `budget` microseconds before it blocks in epoll_wait.
///
/// WHY. A loop that sleeps between requests is woken by the kernel when the next one arrives, and the
/// wake-up is paid twice: by the client, whose send() runs the scheduler's wake-up of the server thread
/// (try_to_wake_up, the run queue, on a VM a halt-poll exit), and by the server, switched back in. With
/// one request in flight per connection (`redis-benchmark -P 1`) that is most of a request's cost: on the
/// 2-core VM of 2026-12-05, a 20-microsecond spin made SET/GET at -P 1 11-15% faster in plain TCP and 12%
/// over TLS (client CPU per request down from 12.0 to 10.8 us), p50 latency 0.31 -> 0.26 ms (see the
/// README's "Busy polling").
///
/// WHAT IT COSTS, and the four limits on it. Spinning is CPU time the process shows while it has nothing
/// to do, so it is only spent where it pays:
/// - only after a short gap: the loop spins when its previous wait found events within the budget (a spin
///   that succeeded, or a blocking wait that returned that soon); a spin that ends empty-handed stops the
///   spinning until a short gap is seen again. A server whose requests come further apart than the budget
///   never spins; one under load spins in the gaps between batches;
/// - at most a quarter of the wall-clock time (a token bucket: spinning accrues a quarter of the elapsed time
///   as credit, up to `maxCredit`, and spends what it spins), so a loop busy 40% of the time shows at most
///   65%, never 100%;
/// - not while the CPU is contended: the cron reads the loop thread's run-queue delay (time runnable but
///   kept off the CPU by other tasks, /proc/thread-self/schedstat) and `noteRunQueue` stops spinning for the
///   next period when it was over 1/20 of the last one. A master, its replica and a client sharing two
///   cores lost 3-10% of their `-P 1` throughput to spinning (once 28%); with the guard they keep it;
/// - not at all where spinning takes CPU from someone (`machineAllowsSpinning`): a single online CPU, or a
///   cgroup CPU quota on the process's group or a parent (a container's CPU limit, which spinning would
///   spend and then be throttled for). A process pinned to one CPU of several (taskset, a cpuset) does
///   spin: that is how a core is dedicated to a server; its own helper threads (the AOF's fsync, lazy
///   free), woken on that core, preempt the spinning loop, and the cap bounds what they share.
/// `busy-poll-us` (a hidden parameter of ours, 0 to turn it off) sets the budget; 20 by default.
struct BusyPoll {
    /// The longest spin before blocking, in microseconds; 0 = never spin.
    var budget: Int64

    /// Spinning may take this fraction of wall-clock time: credit accrues at 1/`shareDivisor` of it.
    static let shareDivisor: Int64 = 4
    /// The most credit saved up (microseconds of spinning).
    static let maxCredit: Int64 = 5_000

    /// Spinning allowed now, in 1/`shareDivisor` microseconds (so accruing over a few microseconds loses
    /// nothing to rounding); negative by the last spin's overrun.
    private var scaledCredit: Int64 = 0
    /// Microseconds of spinning allowed now.
    var credit: Int64 { scaledCredit / Self.shareDivisor }
    /// When credit last accrued (monotonic microseconds; 0: never).
    private var accruedAt: Int64 = 0
    /// Whether the last wait found events within the budget.
    private(set) var recentShortGap = false
    /// Whether other tasks kept the loop waiting for a CPU in the last cron period (`noteRunQueue`).
    private(set) var contended = false

    init(budget: Int64) { self.budget = max(0, budget) }

    /// Called before a wait that may block, at `now`: whether to spin first, and until when.
    mutating func spinDeadline(now: Int64) -> Int64? {
        if accruedAt != 0 { scaledCredit = min(Self.maxCredit * Self.shareDivisor, scaledCredit + now - accruedAt) }
        accruedAt = now
        guard budget > 0, recentShortGap, !contended, credit > 0 else { return nil }
        return now + min(budget, credit)
    }

    /// A spin from `start` to `end` ended; `found`: it found events.
    mutating func spun(from start: Int64, to end: Int64, found: Bool) {
        scaledCredit -= (end - start) * Self.shareDivisor
        recentShortGap = found
    }

    /// A blocking wait from `start` to `end` returned; `found`: with events.
    mutating func waited(from start: Int64, to end: Int64, found: Bool) {
        recentShortGap = found && end - start <= budget
    }

    /// From the cron: the loop thread spent `waited` ns of the last `interval` ns runnable but not running.
    /// Over 1/20 of it, other tasks want this CPU: no spinning until a period below that.
    mutating func noteRunQueue(waited: Int64, over interval: Int64) {
        contended = interval > 0 && waited > interval / 20
    }

    /// Whether spinning takes CPU from no one here: false with one online CPU, or a cgroup CPU quota (v2
    /// `cpu.max` other than "max", v1 `cpu.cfs_quota_us` other than -1) on this process's cgroup or a parent.
    static func machineAllowsSpinning() -> Bool {
        if sysconf(Int32(_SC_NPROCESSORS_ONLN)) < 2 { return false }
        return !hasCPUQuota(cgroups: readSmallFile("/proc/self/cgroup") ?? "", read: readSmallFile)
    }

    /// Whether one of the cgroups `/proc/self/cgroup` lists, one of their parents (a systemd slice's
    /// CPUQuota= above the service's own group) or the root of a mounted namespace caps CPU.
    static func hasCPUQuota(cgroups: String, read: (String) -> String?) -> Bool {
        var candidates = ["/sys/fs/cgroup/cpu.max", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
                          "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us"]
        for line in cgroups.split(separator: "\n") {
            // "hierarchy-ID:controller-list:cgroup-path"; v2's line is "0::/path".
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, parts[2].hasPrefix("/") else { continue }
            let v2 = parts[0] == "0" && parts[1].isEmpty
            guard v2 || parts[1].split(separator: ",").contains("cpu") else { continue }
            // The group and each of its parents: "/a/b/c", "/a/b", "/a".
            let names = parts[2].split(separator: "/")
            for depth in stride(from: names.count, to: 0, by: -1) {
                let path = "/" + names[0..<depth].joined(separator: "/")
                if v2 {
                    candidates.append("/sys/fs/cgroup" + path + "/cpu.max")
                } else {
                    candidates.append("/sys/fs/cgroup/cpu" + path + "/cpu.cfs_quota_us")
                    candidates.append("/sys/fs/cgroup/cpu,cpuacct" + path + "/cpu.cfs_quota_us")
                }
            }
        }
        for file in candidates {
            guard let text = read(file) else { continue }
            let first = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).first.map(String.init) ?? ""
            if file.hasSuffix("cpu.max") ? first != "max" && !first.isEmpty : Int(first).map { $0 >= 0 } ?? false {
                return true
            }
        }
        return false
    }

    /// A small file's text (nil if it cannot be read).
    private static func readSmallFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = fread(&buffer, 1, buffer.count, file)
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}

/// The loop thread's run-queue delay (Linux's /proc/thread-self/schedstat: time on the CPU, time waiting for
/// one, in ns): opened by the thread it describes, at its first reading, and re-read in place.
final class RunQueueClock {
    private var fd: Int32 = -2
    private var lastDelay: Int64 = 0
    private var lastTime: Int64 = 0

    deinit { if fd >= 0 { close(fd) } }

    /// The delay and the monotonic time elapsed since the previous call (nil the first time, or without
    /// schedstat: the kernel's sched_info off).
    func sample() -> (waited: Int64, interval: Int64)? {
        if fd == -2 { fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { return nil }
        var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let n = withUnsafeMutableBytes(of: &buffer) { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        let fields = withUnsafeBytes(of: &buffer) { bytes in
            String(decoding: bytes[0..<n], as: UTF8.self).split(separator: " ")
        }
        guard fields.count >= 2, let delay = Int64(fields[1]) else { return nil }
        let now = monotonicMicros() * 1000
        defer { (lastDelay, lastTime) = (delay, now) }
        return lastTime == 0 ? nil : (delay - lastDelay, now - lastTime)
    }
}
