import Glibc

/// The manifest of Redis 7's multi-part AOF (aof.c `aofManifest`): which files in `appenddirname` make up
/// the dataset, in loading order. On disk, `<appendfilename>.manifest`, one line per file:
///
///     file appendonly.aof.2.base.rdb seq 2 type b
///     file appendonly.aof.1.incr.aof seq 1 type h
///     file appendonly.aof.2.incr.aof seq 2 type i
///
/// At most one base (`b`, an RDB or a RESP file holding the whole dataset when it was written), then history
/// files (`h`, replaced by a rewrite and deleted as soon as the manifest that says so is on disk), then the
/// incremental files (`i`, commands appended since the base, sequence numbers strictly increasing). Keys may
/// come in any order and unknown pairs are ignored (forward compatibility); `#` starts a comment line. The
/// manifest is only ever replaced whole: written to `temp-<name>`, fsynced, renamed, and the directory
/// fsynced, so a crash leaves the old manifest or the new one.
struct AOFManifest: Equatable {
    enum FileType: Character {
        case base = "b"
        case history = "h"
        case incr = "i"
    }

    struct FileInfo: Equatable {
        var name: String
        var seq: Int64
        var type: FileType
    }

    var base: FileInfo?
    var history: [FileInfo] = []
    var incr: [FileInfo] = []
    /// The sequence numbers the next base and incr files take, plus one (Redis's curr_*_file_seq).
    var currentBaseSeq: Int64 = 0
    var currentIncrSeq: Int64 = 0

    var isEmpty: Bool { base == nil && incr.isEmpty }

    /// The manifest's text, as Redis's getAofManifestAsString: the base, the history, the incr files.
    var text: String {
        var s = ""
        for info in (base.map { [$0] } ?? []) + history + incr {
            s += "file \(quotedIfNeeded(info.name)) seq \(info.seq) type \(info.type.rawValue)\n"
        }
        return s
    }

    // MARK: - Naming (aof.c getNewBaseFileNameAndMarkPreAsHistory, getNewIncrAofName)

    /// Adds a new base `<prefix>.<seq>.base.rdb|aof`; the old base becomes history. Returns its name.
    mutating func newBase(prefix: String, rdb: Bool) -> String {
        if var old = base {
            old.type = .history
            history.append(old)
        }
        currentBaseSeq += 1
        let name = "\(prefix).\(currentBaseSeq).base.\(rdb ? "rdb" : "aof")"
        base = FileInfo(name: name, seq: currentBaseSeq, type: .base)
        return name
    }

    /// Adds a new incremental file `<prefix>.<seq>.incr.aof` and returns its name.
    mutating func newIncr(prefix: String) -> String {
        currentIncrSeq += 1
        let name = "\(prefix).\(currentIncrSeq).incr.aof"
        incr.append(FileInfo(name: name, seq: currentIncrSeq, type: .incr))
        return name
    }

    /// After a rewrite, every incr file but the one being written (`keepLast`) is covered by the new base
    /// (Redis's markRewrittenIncrAofAsHistory).
    mutating func markRewrittenIncrAsHistory(keepLast: Bool) {
        let covered = keepLast ? incr.dropLast() : incr[...]
        history += covered.map { FileInfo(name: $0.name, seq: $0.seq, type: .history) }
        incr = keepLast ? Array(incr.suffix(1)) : []
    }

    // MARK: - Parsing (aof.c aofLoadManifestFromFile)

    struct ParseError: Error {
        let message: String
        /// The offending line (1-based) and its text, when the error is about one line.
        let line: (number: Int, text: String)?
    }

    /// Parses a manifest's bytes with Redis's rules and error texts.
    static func parse(_ bytes: [UInt8]) throws -> AOFManifest {
        var manifest = AOFManifest()
        var maxIncrSeq: Int64 = 0
        var lines = 0
        var start = 0
        while start < bytes.count {
            // fgets with a 1025-byte buffer: a line longer than 1024 bytes has no newline in the chunk.
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: "\n") && end - start < 1024 { end += 1 }
            let hasNewline = end < bytes.count && bytes[end] == UInt8(ascii: "\n")
            let raw = Array(bytes[start..<end])
            start = hasNewline ? end + 1 : end
            lines += 1
            if raw.first == UInt8(ascii: "#") { continue }
            if !hasNewline {
                throw ParseError(message: "The AOF manifest file contains too long line", line: nil)
            }
            let trimmed = raw.drop { isManifestSpace($0) }.reversed().drop { isManifestSpace($0) }.reversed()
            let line = String(decoding: trimmed, as: UTF8.self)
            func fail(_ message: String) -> ParseError { ParseError(message: message, line: (lines, line)) }
            if line.isEmpty { throw fail("Invalid AOF manifest file format") }
            guard let argv = Array(trimmed).withUnsafeBytes({ splitArgs($0) }), argv.count >= 6, argv.count % 2 == 0 else {
                throw fail("Invalid AOF manifest file format")
            }
            var name: String?
            var seq: Int64 = 0
            var type: Character?
            for i in stride(from: 0, to: argv.count, by: 2) {
                let key = argv[i].string.lowercased()
                let value = argv[i + 1].string
                switch key {
                case "file":
                    guard !value.contains("/") else { throw fail("File can't be a path, just a filename") }
                    name = value
                case "seq": seq = atoll(value)
                case "type": type = value.first ?? "\0"
                default: break
                }
            }
            guard let name, !name.isEmpty, seq != 0, let type else { throw fail("Invalid AOF manifest file format") }
            switch FileType(rawValue: type) {
            case .base:
                if manifest.base != nil { throw fail("Found duplicate base file information") }
                manifest.base = FileInfo(name: name, seq: seq, type: .base)
                manifest.currentBaseSeq = seq
            case .history:
                manifest.history.append(FileInfo(name: name, seq: seq, type: .history))
            case .incr:
                if seq <= maxIncrSeq { throw fail("Found a non-monotonic sequence number") }
                manifest.incr.append(FileInfo(name: name, seq: seq, type: .incr))
                manifest.currentIncrSeq = seq
                maxIncrSeq = seq
            case nil:
                throw fail("Unknown AOF file type")
            }
        }
        if lines == 0 { throw ParseError(message: "Found an empty AOF manifest", line: nil) }
        return manifest
    }
}

/// A file name as the manifest writes it: quoted and escaped as Redis's sdscatrepr when it holds spaces,
/// quotes or unprintable bytes (sdsneedsrepr), as is otherwise.
private func quotedIfNeeded(_ name: String) -> String {
    let bytes = Array(name.utf8)
    let needs = bytes.isEmpty || bytes.contains { b in
        b == UInt8(ascii: "\\") || b == UInt8(ascii: "\"") || b == UInt8(ascii: " ") || b < 0x21 || b > 0x7e
    }
    guard needs else { return name }
    var out = "\""
    for b in bytes {
        switch b {
        case UInt8(ascii: "\\"): out += "\\\\"
        case UInt8(ascii: "\""): out += "\\\""
        case 10: out += "\\n"
        case 13: out += "\\r"
        case 9: out += "\\t"
        case 7: out += "\\a"
        case 8: out += "\\b"
        case 0x20...0x7e: out.unicodeScalars.append(Unicode.Scalar(b))
        default:
            let hex = String(b, radix: 16)
            out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
        }
    }
    return out + "\""
}

/// The bytes Redis's `sdstrim(line, " \t\r\n")` removes.
private func isManifestSpace(_ b: UInt8) -> Bool { b == 32 || b == 9 || b == 13 || b == 10 }
