import CSystem
import Glibc

/// A level-triggered epoll loop, in the manner of Redis's `ae_epoll.c`.
///
/// Each registration carries a 64-bit token chosen by the owner (the server packs an fd and a generation
/// number into it, so events for a closed-and-reused fd can be told apart). The event array is allocated
/// once. Other threads wake the loop through an eventfd (`wake()`), whose token is `EventLoop.wakeToken`.
final class EventLoop {
    static let wakeToken: UInt64 = .max

    private let epfd: Int32
    let wakeFD: Int32
    private let capacity: Int
    private let events: UnsafeMutableRawPointer
    private let eventSize = cs_epoll_event_size()
    /// Spinning before blocking (Net/BusyPoll.swift); the server sets the budget from `busy-poll-us`.
    var busyPoll = BusyPoll(budget: 0)

    init(capacity: Int = 1024) throws {
        epfd = try syscall("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        wakeFD = try syscall("eventfd") { eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)) }
        self.capacity = capacity
        events = UnsafeMutableRawPointer.allocate(byteCount: capacity * cs_epoll_event_size(), alignment: 8)
        try add(fd: wakeFD, readable: true, writable: false, token: EventLoop.wakeToken)
    }

    deinit {
        events.deallocate()
        close(wakeFD)
        close(epfd)
    }

    private static func mask(readable: Bool, writable: Bool) -> UInt32 {
        (readable ? EPOLLIN.rawValue : 0) | (writable ? EPOLLOUT.rawValue : 0)
    }

    func add(fd: Int32, readable: Bool, writable: Bool, token: UInt64) throws {
        try syscall("epoll_ctl(ADD)") { cs_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, Self.mask(readable: readable, writable: writable), token) }
    }

    func modify(fd: Int32, readable: Bool, writable: Bool, token: UInt64) throws {
        try syscall("epoll_ctl(MOD)") { cs_epoll_ctl(epfd, EPOLL_CTL_MOD, fd, Self.mask(readable: readable, writable: writable), token) }
    }

    func remove(fd: Int32) {
        _ = cs_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Wakes a loop blocked in `poll` (safe from any thread or a signal handler).
    func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    func drainWakeups() {
        var value: UInt64 = 0
        _ = read(wakeFD, &value, 8)
    }

    /// Waits up to `timeoutMillis` (-1 = forever), spinning first as `busyPoll` allows, and calls
    /// `body(token, readable, writable)` per event.
    /// Errors and hang-ups are reported as readable so the owner's read finds them.
    @inline(__always)
    func poll(timeoutMillis: Int32, _ body: (UInt64, Bool, Bool) -> Void) {
        let events = self.events.assumingMemoryBound(to: epoll_event.self)
        var n: Int32 = 0
        if timeoutMillis != 0 && busyPoll.budget > 0 {
            // Spin first while requests come close together (Net/BusyPoll.swift), then block for what is
            // left of the timeout (a timer is not made later by the spin).
            let start = monotonicMicros()
            let timerDue = timeoutMillis > 0 ? start + Int64(timeoutMillis) * 1000 : Int64.max
            var now = start
            if let deadline = busyPoll.spinDeadline(now: start) {
                repeat {
                    n = epoll_wait(epfd, events, Int32(capacity), 0)
                    now = monotonicMicros()
                } while n == 0 && now < min(deadline, timerDue)
                busyPoll.spun(from: start, to: now, found: n > 0)
            }
            if n == 0 {
                let left = timeoutMillis < 0 ? -1 : Int32(clamping: max(0, (timerDue - now + 999) / 1000))
                n = epoll_wait(epfd, events, Int32(capacity), left)
                busyPoll.waited(from: now, to: monotonicMicros(), found: n > 0)
            }
        } else {
            n = epoll_wait(epfd, events, Int32(capacity), timeoutMillis)
        }
        guard n > 0 else { return }
        for i in 0..<Int(n) {
            let ev = (self.events + i * eventSize).assumingMemoryBound(to: epoll_event.self)
            let mask = cs_epoll_event_events(ev)
            let readable = mask & (EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0
            let writable = mask & (EPOLLOUT.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0
            body(cs_epoll_event_data(ev), readable, writable)
        }
    }
}
