import Glibc

/// Small file-system helpers for the persistence files, each a thin wrapper over one POSIX call that
/// retries EINTR and reports errno, as the rest of the platform layer (Net/Posix.swift).

/// Writes every byte, looping over short writes and EINTR (Redis's aofWrite). Returns the bytes written,
/// and errno when fewer than `count` were.
func writeFully(_ fd: Int32, _ base: UnsafeRawPointer, _ count: Int) -> (written: Int, errno: Int32) {
    var done = 0
    while done < count {
        let n = Glibc.write(fd, base + done, count - done)
        if n < 0 {
            if errno == EINTR { continue }
            return (done, errno)
        }
        if n == 0 { return (done, ENOSPC) }
        done += n
    }
    return (done, 0)
}

/// fdatasync, as Redis's redis_fsync on Linux.
@discardableResult func dataSync(_ fd: Int32) -> Bool {
    while fdatasync(fd) != 0 {
        if errno != EINTR { return false }
    }
    return true
}

func fileExists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
}

func directoryExists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

/// The size of a file in bytes, nil when it cannot be stat'ed.
func storedFileSize(_ path: String) -> Int64? {
    var st = stat()
    return stat(path, &st) == 0 ? Int64(st.st_size) : nil
}

/// Redis's dirCreateIfMissing: mkdir, an existing directory being fine.
func createDirectoryIfMissing(_ path: String) -> Bool {
    mkdir(path, 0o755) == 0 || errno == EEXIST
}

/// fsyncs the directory holding `path`, so a rename or creation in it is durable (Redis's fsyncFileDir).
@discardableResult func syncDirectory(of path: String) -> Bool {
    let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
    let fd = open(dir.isEmpty ? "/" : dir, O_RDONLY)
    if fd < 0 { return false }
    defer { close(fd) }
    // Some file systems refuse to fsync a directory (EINVAL/EBADF): nothing more can be done there.
    return fsync(fd) == 0 || errno == EINVAL || errno == EBADF
}

/// The whole content of a file, nil when it cannot be read.
func readWholeFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY)
    if fd < 0 { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            return nil
        }
        if n == 0 { return out }
        out += chunk[0..<n]
    }
}

func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }

/// Buffered writing of a persistence file (a base, a manifest): appends go to memory and reach the file in
/// 64 KB writes; with `autoSyncBytes`, the file is fsynced each time that much was written (Redis's
/// rioSetAutoSync, so the kernel does not hold one huge dirty file for the final fsync). The first failure
/// sticks in `errno` and later calls do nothing.
struct FileWriter {
    let fd: Int32
    var autoSyncBytes = 0
    private(set) var errno: Int32 = 0
    private(set) var written = 0
    private var buffer: [UInt8] = []
    private var unsynced = 0

    init(fd: Int32, autoSyncBytes: Int = 0) {
        self.fd = fd
        self.autoSyncBytes = autoSyncBytes
        buffer.reserveCapacity(64 * 1024 + 1024)
    }

    var failed: Bool { errno != 0 }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 64 * 1024 { flush() }
    }

    mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// A RESP bulk string: `$<len>\r\n<bytes>\r\n`.
    mutating func bulk(_ bytes: UnsafeRawBufferPointer) {
        append("$\(bytes.count)\r\n")
        append(bytes)
        append("\r\n")
    }

    mutating func bulk(_ s: ByteString) { s.withUnsafeBytes { bulk($0) } }

    mutating func bulk(_ n: Int64) { bulk(ByteString(String(n))) }

    /// Writes what is buffered.
    mutating func flush() {
        guard !failed, !buffer.isEmpty else { return }
        let result = buffer.withUnsafeBytes { writeFully(fd, $0.baseAddress!, $0.count) }
        buffer.removeAll(keepingCapacity: true)
        written += result.written
        if result.errno != 0 {
            errno = result.errno
            return
        }
        unsynced += result.written
        if autoSyncBytes > 0 && unsynced >= autoSyncBytes {
            unsynced = 0
            if !dataSync(fd) { errno = Glibc.errno }
        }
    }

    /// Flushes and fsyncs; false if anything failed.
    mutating func finish() -> Bool {
        flush()
        if !failed && fsync(fd) != 0 { errno = Glibc.errno }
        return !failed
    }
}
