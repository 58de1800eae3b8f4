import Glibc
import TestSupport

// Helpers shared by the persistence tests (DumpRestoreTests, RDBInterchangeTests, SnapshotTests,
// PersistenceLifecycleTests, DiskFullTests, AOFTests): an independent CRC64 (so a test can craft or mutate a
// payload and re-seal it without trusting the code under test), DUMP payload framing, temporary directories,
// reading and writing whole files, running a program to its end, and small reply accessors.

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

/// A fresh directory under /tmp, removed (with everything in it) by `remove()`.
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
    var entries: [String] { directoryEntries(path) }

    func write(_ name: String, _ bytes: [UInt8]) throws { try writeFileBytes(file(name), bytes) }

    func read(_ name: String) throws -> [UInt8] {
        guard let bytes = readFileBytes(file(name)) else { throw HarnessError("cannot read \(file(name)): \(errno)") }
        return bytes
    }

    func copy(_ from: String, to other: TemporaryDirectory, as name: String) throws {
        try other.write(name, try read(from))
    }

    /// Removes the directory and everything in it (appendonlydir included).
    func remove() { removeTree(path) }
}

/// The names in directory `path` (without . and ..); [] when it cannot be read.
private func directoryEntries(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// `rm -rf path` (symbolic links are removed, not followed).
func removeTree(_ path: String) {
    var st = stat()
    if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
        for name in directoryEntries(path) { removeTree(path + "/" + name) }
        rmdir(path)
    } else {
        unlink(path)
    }
}

/// A whole file's bytes, nil when it cannot be opened.
func readFileBytes(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
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

/// Replaces (or creates) `path` with `bytes`.
func writeFileBytes(_ path: String, _ bytes: [UInt8]) throws {
    guard let f = fopen(path, "wb") else { throw HarnessError("fopen \(path): \(String(cString: strerror(errno)))") }
    defer { fclose(f) }
    guard fwrite(bytes, 1, bytes.count, f) == bytes.count else { throw HarnessError("fwrite \(path)") }
}

/// Runs a program to its end; returns its wait status (see `exitedNormally`, `exitCode`) and the end of
/// what it printed on stdout and stderr.
func runProgram(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let log = "/tmp/needletail-run-\(getpid())-\(clockMillis()).out"
    defer { unlink(log) }
    let pid = try spawnServerProcess(arguments, output: log)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    return (status, rawTail(of: log, 100_000))
}

/// WIFEXITED / WEXITSTATUS / WIFSIGNALED, which Glibc's Swift overlay does not import (macros).
func exitedNormally(_ status: Int32) -> Bool { status & 0x7f == 0 }
func exitCode(_ status: Int32) -> Int32 { (status >> 8) & 0xff }
func killedBySignal(_ status: Int32) -> Int32? { exitedNormally(status) || status & 0x7f == 0x7f ? nil : status & 0x7f }

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
