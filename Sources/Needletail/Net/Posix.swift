import CSystem
import Glibc

/// A failed system call: its name and errno, read immediately after the call.
public struct SystemError: Error, CustomStringConvertible {
    public let call: String
    public let errno: Int32
    public var description: String { "\(call): \(String(cString: strerror(errno)))" }
}

/// The result of a non-blocking I/O call: bytes moved, or "try again later".
enum IOResult: Equatable {
    case processed(Int)
    case wouldBlock
}

/// Runs a syscall returning -1 on error: retries EINTR, throws SystemError with errno otherwise.
@discardableResult
func syscall(_ name: @autoclosure () -> String, _ body: () -> Int32) throws -> Int32 {
    while true {
        let r = body()
        if r >= 0 { return r }
        let e = Glibc.errno
        if e == EINTR { continue }
        throw SystemError(call: name(), errno: e)
    }
}

/// Like `syscall` for read/write-style calls: EAGAIN becomes `.wouldBlock`, not an error.

func nonBlockingIO(_ name: @autoclosure () -> String, _ body: () -> Int) throws -> IOResult {
    while true {
        let r = body()
        if r >= 0 { return .processed(r) }
        let e = Glibc.errno
        if e == EINTR { continue }
        if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
        throw SystemError(call: name(), errno: e)
    }
}

/// Monotonic clock in milliseconds and microseconds (timers, latency); wall clock for TTLs and TIME.
@inline(__always) func monotonicMicros() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
}

/// The monotonic clock as of the kernel's last tick (CLOCK_MONOTONIC_COARSE: up to 1/HZ behind, and a
/// seventh of a precise reading's cost, which reads the counter), in milliseconds: for clients' interaction
/// stamps, which time out in seconds.
@inline(__always) func coarseMonotonicMillis() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

@inline(__always) func wallClockMicros() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
}

@inline(__always) func wallClockMillis() -> Int64 { wallClockMicros() / 1000 }
