import Glibc

/// Value syntax of configuration parameters, reproducing Redis 7.0's parsers byte for byte: which inputs
/// are accepted, the value CONFIG GET shows afterwards, and the error text otherwise. Redis mixes two
/// integer parsers: `string2ll` (strict: no sign but '-', no spaces, no leading zeros) for numeric configs,
/// and C `strtoll` (leading spaces and '+' allowed, only the end is checked) inside `save`,
/// `client-output-buffer-limit`, `oom-score-adj-values` and `replicaof`. Both are kept as they are.

// MARK: - Numbers

/// Redis's parsers and formatters for configuration values (a namespace).
enum ConfigSyntax {
    /// Redis's `memtoull`: digits with an optional unit (b, k=1000, kb=1024, m, mb, g, gb; any case).
    /// Quirks kept: "" and "kb" are 0, overflowing digits saturate, and the unit multiply wraps around.
    static func memToULL(_ text: String) -> UInt64? {
        let bytes = Array(text.utf8)
        if bytes.first == UInt8(ascii: "-") { return nil }
        var digits = 0
        while digits < bytes.count && bytes[digits] >= 48 && bytes[digits] <= 57 { digits += 1 }
        let unit = String(decoding: bytes[digits...], as: UTF8.self).lowercased()
        let multiplier: UInt64
        switch unit {
        case "", "b": multiplier = 1
        case "k": multiplier = 1000
        case "kb": multiplier = 1024
        case "m": multiplier = 1000 * 1000
        case "mb": multiplier = 1024 * 1024
        case "g": multiplier = 1000 * 1000 * 1000
        case "gb": multiplier = 1024 * 1024 * 1024
        default: return nil
        }
        if digits >= 128 { return nil }
        var value: UInt64 = 0
        for c in bytes[0..<digits] {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = times10.addingReportingOverflow(UInt64(c - 48))
            if o1 || o2 { value = UInt64.max; break }     // strtoull saturates; Redis ignores ERANGE
            value = next
        }
        return value &* multiplier
    }

    /// Redis's `string2ll` over a Swift string's bytes.
    static func strictInt64(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { parseInt64(UnsafeRawBufferPointer($0)) }
    }

    /// C `strtoll`: the value and whether the whole string was consumed (`*endptr == '\0'`).
    static func cStrtoll(_ text: String, base: Int32 = 10) -> (value: Int64, complete: Bool, overflow: Bool) {
        text.withCString { s in
            var end: UnsafeMutablePointer<CChar>? = nil
            errno = 0
            let v = strtoll(s, &end, base)
            return (Int64(v), end!.pointee == 0, errno != 0)
        }
    }
}

extension ConfigParameter.NumberFormat {
    /// Redis's `numericParseString`: the value (a bit pattern for unsigned types) or the error text.
    func parse(_ text: String) -> Result<Int64, ConfigValueError> {
        if memory, let v = ConfigSyntax.memToULL(text) { return .success(Int64(bitPattern: v)) }
        if percent, text.utf8.count > 1, text.utf8.last == UInt8(ascii: "%"),
           let v = ConfigSyntax.strictInt64(String(text.dropLast())), v >= 0 {
            return .success(-v)          // percentages are stored negative
        }
        if octal {
            let r = ConfigSyntax.cStrtoll(text, base: 8)
            if !r.overflow && r.complete { return .success(r.value) }
        }
        if !memory && !percent && !octal, let v = ConfigSyntax.strictInt64(text) { return .success(v) }
        if memory && percent { return .failure("argument must be a memory or percent value") }
        if memory { return .failure("argument must be a memory value") }
        if octal { return .failure("argument couldn't be parsed as an octal number") }
        return .failure("argument couldn't be parsed into an integer")
    }

    /// Redis's `numericBoundaryCheck`.
    func check(_ v: Int64) -> ConfigValueError? {
        if unsignedBounds {
            let u = UInt64(bitPattern: v), lo = UInt64(bitPattern: min), hi = UInt64(bitPattern: max)
            if u > hi || u < lo {
                return octal ? "argument must be between \(String(lo, radix: 8)) and \(String(hi, radix: 8)) inclusive"
                    : "argument must be between \(lo) and \(hi) inclusive"
            }
        } else if percent && v < 0 {
            if v < min { return "percentage argument must be less or equal to \(-min)" }
        } else if v > max || v < min {
            return "argument must be between \(min) and \(max) inclusive"
        }
        return nil
    }

    /// What CONFIG GET shows.
    func format(_ v: Int64) -> String {
        if percent && v < 0 { return "\(-v)%" }
        if memory { return String(UInt64(bitPattern: v)) }
        if octal { return String(UInt64(bitPattern: v), radix: 8) }
        return String(v)
    }
}

/// An error text exactly as Redis words it (it follows "CONFIG SET failed (...) - " or a config file line).
struct ConfigValueError: Error, ExpressibleByStringInterpolation {
    let text: String
    init(_ text: String) { self.text = text }
    init(stringLiteral value: String) { text = value }
    init(stringInterpolation: DefaultStringInterpolation) { text = String(stringInterpolation: stringInterpolation) }
}

// MARK: - Special parameters

/// A `save <seconds> <changes>` point.
public struct SavePoint: Equatable {
    public var seconds: Int
    public var changes: Int
    public init(seconds: Int, changes: Int) { self.seconds = seconds; self.changes = changes }
}

/// Output buffer limits of one client class (`client-output-buffer-limit <class> <hard> <soft> <seconds>`).
/// 0 means no limit. A client is closed at once past `hardBytes`, or past `softBytes` for `softSeconds`.
public struct OutputBufferLimit: Equatable {
    /// Bytes, unsigned as Redis's `unsigned long long` (`99999999999999999999` saturates to 2^64-1 and shows so).
    public var hardBytes: UInt64
    public var softBytes: UInt64
    public var softSeconds: Int
    public init(hardBytes: UInt64, softBytes: UInt64, softSeconds: Int) {
        self.hardBytes = hardBytes; self.softBytes = softBytes; self.softSeconds = softSeconds
    }
}

public struct ClientOutputBufferLimits: Equatable {
    public var normal = OutputBufferLimit(hardBytes: 0, softBytes: 0, softSeconds: 0)
    public var replica = OutputBufferLimit(hardBytes: 256 << 20, softBytes: 64 << 20, softSeconds: 60)
    public var pubsub = OutputBufferLimit(hardBytes: 32 << 20, softBytes: 8 << 20, softSeconds: 60)
    public init() {}
}

/// `notify-keyspace-events` classes, with Redis's bit values.
public struct KeyspaceEvents: OptionSet, Equatable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let keyspace = KeyspaceEvents(rawValue: 1 << 0)    // K
    public static let keyevent = KeyspaceEvents(rawValue: 1 << 1)    // E
    public static let generic = KeyspaceEvents(rawValue: 1 << 2)     // g
    public static let string = KeyspaceEvents(rawValue: 1 << 3)      // $
    public static let list = KeyspaceEvents(rawValue: 1 << 4)        // l
    public static let set = KeyspaceEvents(rawValue: 1 << 5)         // s
    public static let hash = KeyspaceEvents(rawValue: 1 << 6)        // h
    public static let zset = KeyspaceEvents(rawValue: 1 << 7)        // z
    public static let expired = KeyspaceEvents(rawValue: 1 << 8)     // x
    public static let evicted = KeyspaceEvents(rawValue: 1 << 9)     // e
    public static let stream = KeyspaceEvents(rawValue: 1 << 10)     // t
    public static let keyMiss = KeyspaceEvents(rawValue: 1 << 11)    // m (not part of A)
    public static let loaded = KeyspaceEvents(rawValue: 1 << 12)     // modules only
    public static let module = KeyspaceEvents(rawValue: 1 << 13)     // d
    public static let newKey = KeyspaceEvents(rawValue: 1 << 14)     // n (not part of A)
    /// `A`: every type class plus expired and evicted.
    public static let all: KeyspaceEvents = [.generic, .string, .list, .set, .hash, .zset, .expired, .evicted,
                                             .stream, .module]
}

extension ConfigSyntax {
    static func save(_ args: [String]) -> Result<[SavePoint], ConfigValueError> {
        let args = (args.count == 1 && args[0].isEmpty) ? [] : args
        if args.count % 2 != 0 { return .failure("Invalid save parameters") }
        var points: [SavePoint] = []
        var j = 0
        while j < args.count {
            let s = cStrtoll(args[j]), c = cStrtoll(args[j + 1])
            if !s.complete || s.value < 1 || !c.complete || c.value < 0 { return .failure("Invalid save parameters") }
            points.append(SavePoint(seconds: Int(s.value), changes: Int(Int32(truncatingIfNeeded: c.value))))
            j += 2
        }
        return .success(points)
    }

    static func formatSave(_ points: [SavePoint]) -> String {
        points.map { "\($0.seconds) \($0.changes)" }.joined(separator: " ")
    }

    /// Redis's `getClientTypeByName` for the classes that have limits.
    private static func outputBufferClass(_ name: String) -> WritableKeyPath<ClientOutputBufferLimits, OutputBufferLimit>? {
        switch name.lowercased() {
        case "normal": return \.normal
        case "slave", "replica": return \.replica
        case "pubsub": return \.pubsub
        default: return nil          // includes "master", which has no limits
        }
    }

    static func clientOutputBufferLimit(_ args: [String], current: ClientOutputBufferLimits)
        -> Result<ClientOutputBufferLimits, ConfigValueError> {
        if args.count % 4 != 0 { return .failure("Wrong number of arguments in buffer limit configuration.") }
        var result = current
        var j = 0
        while j < args.count {
            guard let cls = outputBufferClass(args[j]) else {
                return .failure("Invalid client class specified in buffer limit configuration.")
            }
            let hard = memToULL(args[j + 1]), soft = memToULL(args[j + 2])
            let seconds = cStrtoll(args[j + 3])
            let secs32 = Int32(truncatingIfNeeded: seconds.value)    // Redis stores it in an int
            guard let hard, let soft, secs32 >= 0, seconds.complete else {
                return .failure("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
            }
            result[keyPath: cls] = OutputBufferLimit(hardBytes: hard, softBytes: soft, softSeconds: Int(secs32))
            j += 4
        }
        return .success(result)
    }

    static func formatClientOutputBufferLimit(_ l: ClientOutputBufferLimits) -> String {
        func f(_ name: String, _ o: OutputBufferLimit) -> String { "\(name) \(o.hardBytes) \(o.softBytes) \(o.softSeconds)" }
        return "\(f("normal", l.normal)) \(f("slave", l.replica)) \(f("pubsub", l.pubsub))"
    }

    static func oomScoreAdjValues(_ args: [String]) -> Result<String, ConfigValueError> {
        if args.count != 3 { return .failure("wrong number of arguments") }
        var values: [Int64] = []
        for a in args {
            let r = cStrtoll(a)
            if !r.complete || r.value < -2000 || r.value > 2000 {
                return .failure("Invalid oom-score-adj-values, elements must be between -2000 and 2000.")
            }
            values.append(r.value)
        }
        return .success(values.map(String.init).joined(separator: " "))
    }

    private static let eventLetters: [(UInt8, KeyspaceEvents)] = [
        (UInt8(ascii: "g"), .generic), (UInt8(ascii: "$"), .string), (UInt8(ascii: "l"), .list),
        (UInt8(ascii: "s"), .set), (UInt8(ascii: "h"), .hash), (UInt8(ascii: "z"), .zset),
        (UInt8(ascii: "x"), .expired), (UInt8(ascii: "e"), .evicted), (UInt8(ascii: "t"), .stream),
        (UInt8(ascii: "d"), .module), (UInt8(ascii: "n"), .newKey),
    ]

    /// Redis's `keyspaceEventsStringToFlags`.
    static func keyspaceEvents(_ text: String) -> Result<KeyspaceEvents, ConfigValueError> {
        var flags: KeyspaceEvents = []
        for c in text.utf8 {
            switch c {
            case UInt8(ascii: "A"): flags.formUnion(.all)
            case UInt8(ascii: "K"): flags.insert(.keyspace)
            case UInt8(ascii: "E"): flags.insert(.keyevent)
            case UInt8(ascii: "m"): flags.insert(.keyMiss)
            default:
                guard let e = eventLetters.first(where: { $0.0 == c }) else {
                    return .failure("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
                }
                flags.insert(e.1)
            }
        }
        return .success(flags)
    }

    /// Redis's `keyspaceEventsFlagsToString` (with every type class set, just "A" — and then no "n").
    static func formatKeyspaceEvents(_ flags: KeyspaceEvents) -> String {
        var out: [UInt8] = []
        if flags.isSuperset(of: .all) {
            out.append(UInt8(ascii: "A"))
        } else {
            for (c, f) in eventLetters where flags.contains(f) { out.append(c) }
        }
        if flags.contains(.keyspace) { out.append(UInt8(ascii: "K")) }
        if flags.contains(.keyevent) { out.append(UInt8(ascii: "E")) }
        if flags.contains(.keyMiss) { out.append(UInt8(ascii: "m")) }
        return String(decoding: out, as: UTF8.self)
    }

    static func bind(_ args: [String]) -> Result<[String], ConfigValueError> {
        if args.count > 16 { return .failure("Too many bind addresses specified.") }
        if args.count == 1 && args[0].isEmpty { return .success([]) }
        return .success(args)
    }

    static func replicaof(_ args: [String]) -> Result<(host: String, port: Int)?, ConfigValueError> {
        if args.count != 2 { return .failure("wrong number of arguments") }
        if args[0].lowercased() == "no" && args[1].lowercased() == "one" { return .success(nil) }
        let r = cStrtoll(args[1])
        let port = Int32(truncatingIfNeeded: r.value)
        if port < 0 || port > 65535 || !r.complete { return .failure("Invalid master port") }
        return .success((args[0], Int(port)))
    }

    static func latencyPercentiles(_ args: [String]) -> Result<[Double], ConfigValueError> {
        if args.count == 1 && args[0].isEmpty { return .success([]) }
        var out: [Double] = []
        for a in args {
            var a = a
            guard let d = a.withUTF8({ parseDouble(UnsafeRawBufferPointer($0)) }) else {
                return .failure("Invalid latency-tracking-info-percentiles parameters")
            }
            if d > 100.0 || d < 0.0 {
                return .failure("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]")
            }
            out.append(d)
        }
        return .success(out)
    }

    /// "%f" with trailing zeros (and a trailing dot) removed, as Redis's `trimDoubleString`.
    static func formatPercentile(_ d: Double) -> String {
        var buf = [CChar](repeating: 0, count: 400)
        let n = withVaList([d]) { vsnprintf(&buf, buf.count, "%f", $0) }
        var text = Array(buf[0..<Int(min(n, Int32(buf.count - 1)))].map { UInt8(bitPattern: $0) })
        if text.contains(UInt8(ascii: ".")) {
            while text.last == UInt8(ascii: "0") { text.removeLast() }
            if text.last == UInt8(ascii: ".") { text.removeLast() }
        }
        return String(decoding: text, as: UTF8.self)
    }

    static func formatPercentiles(_ values: [Double]) -> String {
        values.map(formatPercentile).joined(separator: " ")
    }

    /// Resolves `path` (relative to `base`) to an existing, searchable directory, or the errno text
    /// `chdir` would give. Redis changes its working directory here; Needletail keeps the absolute path.
    static func directory(_ path: String, relativeTo base: String) -> Result<String, ConfigValueError> {
        let full = path.hasPrefix("/") || base.isEmpty ? path : base + "/" + path
        guard let resolved = realpath(full, nil) else { return .failure(ConfigValueError(String(cString: strerror(errno)))) }
        defer { free(resolved) }
        var st = stat()
        if stat(resolved, &st) != 0 { return .failure(ConfigValueError(String(cString: strerror(errno)))) }
        if st.st_mode & S_IFMT != S_IFDIR { return .failure(ConfigValueError(String(cString: strerror(ENOTDIR)))) }
        if access(resolved, X_OK) != 0 { return .failure(ConfigValueError(String(cString: strerror(errno)))) }
        return .success(String(cString: resolved))
    }
}

extension ConfigSyntax {
    static func clampToInt(_ v: UInt64) -> Int { v > UInt64(Int.max) ? Int.max : Int(v) }

    /// The working directory, as CONFIG GET dir shows it by default.
    static func currentDirectory() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buf, buf.count) != nil else { return "" }
        return String(cString: buf)
    }
}
