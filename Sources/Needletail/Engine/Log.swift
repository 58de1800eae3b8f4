import Glibc

/// Redis-style log lines: `pid:M 21 Nov 2026 18:22:08.123 * message`, filtered by `loglevel`,
/// written to `logfile` (empty = standard output).
final class Logger {
    enum Level: Int, Comparable {
        case debug, verbose, notice, warning, nothing
        static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }

        init?(name: String) {
            switch name.lowercased() {
            case "debug": self = .debug
            case "verbose": self = .verbose
            case "notice": self = .notice
            case "warning": self = .warning
            case "nothing": self = .nothing
            default: return nil
            }
        }

        var mark: String { ["." , "-", "*", "#", " "][rawValue] }
    }

    /// The start of a Redis log line: "pid:role 21 Nov 2026 18:22:08.123 " (role M for the server, C for
    /// messages written before the server exists, as redis-server's).
    static func linePrefix(role: Character) -> String {
        var tv = timeval()
        gettimeofday(&tv, nil)
        var t = tv.tv_sec
        var tmv = tm()
        localtime_r(&t, &tmv)
        var stamp = [CChar](repeating: 0, count: 64)
        strftime(&stamp, 64, "%d %b %Y %H:%M:%S", &tmv)
        let millis = Int(tv.tv_usec / 1000)
        let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(getpid()):\(role) \(String(cString: stamp)).\(ms) "
    }

    var level: Level = .notice
    private var file: UnsafeMutablePointer<FILE>?
    private var path = ""

    func open(path: String) {
        if file != nil && path == self.path { return }
        if let f = file, f != stdout { fclose(f) }
        self.path = path
        file = path.isEmpty ? stdout : fopen(path, "a")
    }

    deinit { if let f = file, f != stdout { fclose(f) } }

    func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    func verbose(_ message: @autoclosure () -> String) { log(.verbose, message()) }
    func notice(_ message: @autoclosure () -> String) { log(.notice, message()) }
    func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }

    func log(_ at: Level, _ message: @autoclosure () -> String) {
        guard at >= level, level != .nothing else { return }
        if file == nil { open(path: path) }
        guard let f = file else { return }
        fputs(Logger.linePrefix(role: "M") + "\(at.mark) \(message())\n", f)
        fflush(f)
    }
}
