import Glibc
import TestSupport

// Helpers shared by DumpRestoreTests and RDBInterchangeTests: an independent CRC64 (so a test can craft or
// mutate a payload and re-seal it without trusting the code under test), DUMP payload framing, temporary
// directories, and small reply accessors.

/// Redis's CRC64 (Jones polynomial, reflected, initial value 0, no final xor), bit by bit: slow and obvious.
func referenceCRC64(_ bytes: ArraySlice<UInt8>, _ start: UInt64 = 0) -> UInt64 {
    var crc = start
    for b in bytes {
        crc ^= UInt64(b)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x95AC_9329_AC4B_C9B5 : crc >> 1 }
    }
    return crc
}

func littleEndianBytes(_ v: UInt64, _ count: Int = 8) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

/// A DUMP payload around `body` (the type byte and the value): RDB version `version`, then the CRC64.
func sealedPayload(_ body: [UInt8], version: UInt16 = 10) -> [UInt8] {
    let framed = body + littleEndianBytes(UInt64(version), 2)
    return framed + littleEndianBytes(referenceCRC64(framed[...]))
}

/// An RDB file around `body` (everything after the 9-byte header and before EOF): header, body, EOF, CRC64.
func sealedRDBFile(version: Int, _ body: [UInt8]) -> [UInt8] {
    let framed = Array("REDIS\(String(repeating: "0", count: 4 - String(version).count))\(version)".utf8) + body + [0xFF]
    return framed + littleEndianBytes(referenceCRC64(framed[...]))
}

/// A fresh directory under /tmp, removed (with its files) by `remove()`.
final class TemporaryDirectory {
    let path: String

    init(_ tag: String) throws {
        var template = Array("/tmp/needletail-\(tag)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp: \(String(cString: strerror(errno)))") }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { path + "/" + name }

    var exists: Bool { access(path, F_OK) == 0 }

    /// The names of the files in it.
    var entries: [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        guard let f = fopen(file(name), "wb") else { throw HarnessError("fopen \(file(name)): \(errno)") }
        defer { fclose(f) }
        guard fwrite(bytes, 1, bytes.count, f) == bytes.count else { throw HarnessError("fwrite \(file(name))") }
    }

    func read(_ name: String) throws -> [UInt8] {
        guard let f = fopen(file(name), "rb") else { throw HarnessError("fopen \(file(name)): \(errno)") }
        defer { fclose(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        return out
    }

    func copy(_ from: String, to other: TemporaryDirectory, as name: String) throws {
        try other.write(name, try read(from))
    }

    /// Removes the files (the directories used here are flat) and the directory.
    func remove() {
        for name in entries { unlink(file(name)) }
        rmdir(path)
    }
}

/// Runs `command` to completion with stdout and stderr in one string; returns the exit status and the output.
func runProcess(_ command: [String]) throws -> (status: Int32, output: String) {
    let log = "/tmp/needletail-run-\(getpid())-\(rawMonotonicMillis()).log"
    defer { unlink(log) }
    let pid = try spawnServerProcess(command, output: log)
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    let exited = status & 0x7F == 0
    return (exited ? (status >> 8) & 0xFF : -1, rawTail(of: log, 100_000))
}

func replyText(_ reply: [UInt8]) -> String { String(decoding: reply, as: UTF8.self) }

/// The payload of a bulk-string reply (nil for a null or anything else).
func bulkPayload(_ reply: [UInt8]) -> [UInt8]? {
    if case .blob(_, let p?)? = try? RawReply.parse(reply) { return p }
    return nil
}

/// `name:value` out of a DEBUG OBJECT line.
func debugObjectField(_ reply: [UInt8], _ name: String) -> String? {
    let line = replyText(reply)
    for word in line.split(whereSeparator: { $0 == " " || $0 == "\r" || $0 == "\n" }) where word.hasPrefix(name + ":") {
        return String(word.dropFirst(name.count + 1))
    }
    return nil
}

extension RawClient {
    /// Sends `commands` in batches of 200 (each batch in one write, so up to 200 requests run back to back
    /// on the server) and reads every reply.
    func pipelined(_ commands: [[[UInt8]]]) throws -> [[UInt8]] {
        var replies: [[UInt8]] = []
        replies.reserveCapacity(commands.count)
        var i = 0
        while i < commands.count {
            let batch = commands[i..<min(i + 200, commands.count)]
            try send(batch.flatMap { RawClient.encode($0) })
            for _ in batch { replies.append(try readReply()) }
            i += batch.count
        }
        return replies
    }
}

func words(_ w: String...) -> [[UInt8]] { w.map { Array($0.utf8) } }
