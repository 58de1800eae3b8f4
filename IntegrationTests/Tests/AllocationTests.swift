import CMallocCounter
import Glibc
import Needletail
import XCTest

/// Heap allocations per request on the hot path (read, parse, lookup, reply, write), issue 6.
///
/// The server runs in this process (the library's public API, its loop on a pthread of its own) so that
/// the malloc wrappers of CMallocCounter see its allocations. The client sends pipelined GET and SET requests
/// from a buffer built before counting starts and reads the replies into a buffer allocated before, through
/// raw socket calls: it allocates nothing itself, so every allocation counted belongs to the server.
/// Keys and values fit inline in a ByteString (<= 22 bytes), so storing them needs no allocation either.
///
/// Set NEEDLETAIL_ALLOC_TRACE=1 to print the call stacks of the allocations (raw addresses and symbols;
/// pipe through `swift demangle`).
final class AllocationTests: XCTestCase {
    /// Requests per pipelined batch: SET then GET of each of 10 keys, as redis-benchmark -P 16 sends bursts.
    static let keys = 10
    static let batches = 100  // 100 x 20 = 1,000 SET + 1,000 GET per measured pass

    func testGetAndSetAllocateNothingPerRequest() throws {
        let (best, requests) = try measure(label: "GET/SET") { port in try PipelineClient(port: port, keys: Self.keys) }

        // Measured (2,000 requests per pass): 0 in a release build: buffers are reused, arguments are spans
        // into the query buffer, inline values need no heap block. A debug build (CI's) makes 3,000 per pass,
        // all of them unoptimised-code artefacts in SET (building the `StringOptions` option set from an array
        // literal allocates the array: 3 per SET); release folds them away. (The loop's timer check allocated
        // once per loop iteration in debug builds, up to ~100 a pass depending on the host's speed, until
        // TimerQueue.runDue stopped using `heap.first`.) One new allocation per request adds 1,000-2,000.
        #if DEBUG
        let bound = 3_100
        #else
        let bound = 2  // room for one stray background allocation in a pass
        #endif
        XCTAssertLessThanOrEqual(best, bound,
                                 "the GET/SET hot path allocates: \(best) allocations for \(requests) requests; "
                                 + "run with NEEDLETAIL_ALLOC_TRACE=1 to see where")
    }

    /// HSET of an existing field (a value of the same length, rewritten in place) and HGET, in both
    /// encodings: the packed listpack and, with hash-max-listpack-entries 0, the table.
    func testHsetAndHgetAllocateNothingPerRequest() throws {
        for entries in [512, 0] {
            var setup: [[String]] = [["CONFIG", "SET", "hash-max-listpack-entries", String(entries)]]
            var batch: [[String]] = []
            var expected = ""
            for i in 0..<Self.keys {
                let key = "alloc:hash:\(i)"
                let value = "value:0123456789:\(i)"  // 19 bytes: inline in a table, rewritten in place when packed
                setup.append(["HSET", key, "other", "x", "field", value])
                batch.append(["HSET", key, "field", value])
                batch.append(["HGET", key, "field"])
                expected += ":0\r\n$\(value.utf8.count)\r\n\(value)\r\n"
            }
            let label = "HSET/HGET (\(entries == 0 ? "hashtable" : "listpack"))"
            let (best, requests) = try measure(label: label, setup: setup) { port in
                try PipelineClient(port: port, commands: batch, expected: expected)
            }
            // Measured: 0 per pass, debug build included; one new allocation per request would add 1,000.
            #if DEBUG
            let bound = 50
            #else
            let bound = 2
            #endif
            XCTAssertLessThanOrEqual(best, bound,
                                     "the \(label) hot path allocates: \(best) allocations for \(requests) requests; "
                                     + "run with NEEDLETAIL_ALLOC_TRACE=1 to see where")
        }
    }

    /// SADD of members already there and SISMEMBER, on a set in each form (intset, packed member list,
    /// HashTable): nothing is stored, so nothing may be allocated. (Adding a member grows the stored set, as
    /// Redis's zrealloc of an intset does: that is stored data, not per-request overhead.)
    func testSetMembershipAllocatesNothingPerRequest() throws {
        let keys = ["alloc:intset", "alloc:list", "alloc:table"]
        let members = [(0..<20).map { String($0 * 1000) }, (0..<20).map { "m:\($0)" }, (0..<200).map { "member:\($0)" }]
        var setup: [[String]] = []
        for (key, m) in zip(keys, members) { setup.append(["SADD", key] + m) }
        var batch: [[String]] = []
        var expected = ""
        for round in 0..<4 {
            for (key, m) in zip(keys, members) {
                let member = m[(round * 7) % m.count]
                batch.append(["SADD", key, member])
                batch.append(["SISMEMBER", key, member])
                batch.append(["SISMEMBER", key, "absent:\(round)"])
                expected += ":0\r\n:1\r\n:0\r\n"
            }
        }
        let (best, requests) = try measure(label: "SADD/SISMEMBER", setup: setup) { port in
            try PipelineClient(port: port, commands: batch, expected: expected)
        }
        #if DEBUG
        let bound = 50  // measured 0 per pass, debug build included
        #else
        let bound = 2
        #endif
        XCTAssertLessThanOrEqual(best, bound,
                                 "the SADD/SISMEMBER hot path allocates: \(best) allocations for \(requests) requests; "
                                 + "run with NEEDLETAIL_ALLOC_TRACE=1 to see where")
    }

    /// Starts a server in this process, runs `setup` on it, and counts the allocations of `batches` round
    /// trips of the client's batch, five times; returns the best pass and the requests in one pass.
    private func measure(label: String, setup: [[String]] = [],
                         client makeClient: (Int) throws -> PipelineClient) throws -> (best: Int, requests: Int) {
        guard mc_available() != 0 else {
            throw XCTSkip("malloc counting is compiled out under sanitizers (they replace malloc)")
        }
        let config = Config()
        config.port = 0
        config.bind = ["127.0.0.1"]
        config.loglevel = "warning"
        // The cron runs once a second rather than ten times: a debug build's cron allocates ~100 times (its
        // checks walk collections through unspecialised generics), and on a slow host every 100 ms pass could
        // hold one or two runs. Per-request allocations are what is measured (see the best-of-passes below).
        config.hz = 1
        let server = try Server(config: config, ephemeralPort: true)
        #if DEBUG
        server.checksInvariants = false  // the debug build's invariant checks are not the hot path
        #endif
        try server.listen()
        let loop = try startServerLoop(server)
        defer {
            server.stop()
            pthread_join(loop, nil)
        }
        if !setup.isEmpty {
            let raw = try RawClient(port: server.port)
            defer { raw.close() }
            for command in setup { _ = try raw.call(command.map { Array($0.utf8) }) }
        }
        let client = try makeClient(server.port)

        // The counter must see this process's allocations (the wrappers interpose malloc): one canary.
        let canary = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 1)
        defer { canary.deallocate() }
        mc_start(0)
        canary.pointee = malloc(24)
        let canaryCount = mc_stop()
        free(canary.pointee)
        // At least 1: the counter counts every thread, and the server's loop may allocate in the same instant.
        XCTAssertGreaterThanOrEqual(canaryCount, 1, "the malloc wrappers do not see this process's allocations")

        // Warm-up: creates the keys, grows the buffers to their working size, fills the runtime's caches.
        for _ in 0..<50 { XCTAssertTrue(client.roundTrip(), "reply mismatch during warm-up") }

        // The cron (hz times a second) may allocate now and then; it is not per request. Take the best of
        // a few passes so that one cron run inside a pass does not fail the test.
        var counts = [Int](repeating: 0, count: 5)
        var frees = counts
        var repliesOK = true
        for pass in counts.indices {
            mc_start(0)
            for _ in 0..<Self.batches where repliesOK { repliesOK = client.roundTrip() }
            counts[pass] = mc_stop()
            frees[pass] = mc_frees()
        }
        XCTAssertTrue(repliesOK, "a reply differed from the expected bytes")
        let requests = Self.batches * client.requestCount
        let best = counts.min()!
        let perRequest = Double(best) / Double(requests)
        print("AllocationTests: allocations per \(requests) \(label) requests, per pass: \(counts) "
              + "(frees \(frees)); best \(best) = \(perRequest) per request")

        if getenv("NEEDLETAIL_ALLOC_TRACE") != nil { traceAllocations(client) }
        return (best, requests)
    }

    /// LPUSH and RPOP on a list of 1,000 elements, 10 pairs per batch as redis-benchmark -P 16 sends them:
    /// the list stays the same length, so the pushes fill a head node while the pops drain a tail node.
    /// Elements are stored packed in the nodes and read back into the reply buffer: the only allocations
    /// are the nodes' own (a relayout as the head node grows, a new node every ~480 pushes, a merge as the
    /// tail node empties), a few per thousand requests.
    func testLpushAndRpopAllocateOnlyStoredData() throws {
        let value = "value:0123456789"
        let setup = (0..<1000).map { _ in ["LPUSH", "alloc:list", value] }
        let batch = (0..<Self.keys).flatMap { _ in [["LPUSH", "alloc:list", value], ["RPOP", "alloc:list"]] }
        let expected = String(repeating: ":1001\r\n$16\r\n\(value)\r\n", count: Self.keys)
        let (best, requests) = try measure(label: "LPUSH/RPOP", setup: setup) { port in
            try PipelineClient(port: port, commands: batch, expected: expected)
        }
        // Measured (2,000 requests per pass), debug build: 20-21, all of them the list's nodes: a new head node
        // every ~480 pushes, its few reallocs while it grows to 8 KB (by half, an eighth of the bound at first),
        // the full node's seal, the tail node's merge and free. One allocation per request would add 1,000-2,000.
        #if DEBUG
        let bound = 60
        #else
        let bound = 40
        #endif
        XCTAssertLessThanOrEqual(best, bound, "the LPUSH/RPOP hot path allocates: \(best) allocations for "
                                 + "\(requests) requests; run with NEEDLETAIL_ALLOC_TRACE=1 to see where")
    }

    /// Records the call stacks of one pass's allocations (the first 512) and prints them.
    private func traceAllocations(_ client: PipelineClient) {
        mc_start(1)
        for _ in 0..<Self.batches { _ = client.roundTrip() }
        _ = mc_stop()
        let n = Int(mc_recorded())
        print("AllocationTests: \(n) allocation call stacks recorded")
        for i in 0..<n {
            print("--- allocation \(i)")
            fflush(stdout)
            mc_print_record(Int32(i), 1)
        }
    }

}

/// A blocking client that writes one prebuilt batch of requests and reads its replies into a preallocated
/// buffer, with raw syscalls only, so that it makes no heap allocation per round trip.
private final class PipelineClient {
    private let fd: Int32
    private let request: [UInt8]
    private let expected: [UInt8]
    private let replies: UnsafeMutableRawPointer
    /// Requests in one batch.
    let requestCount: Int

    convenience init(port: Int, keys: Int) throws {
        var request: [UInt8] = []
        var expected: [UInt8] = []
        for i in 0..<keys {
            let key = "alloc:key:\(i)"
            let value = "value:0123456789:\(i)"  // 19 bytes: stored inline
            request += Array("*3\r\n$3\r\nSET\r\n$\(key.utf8.count)\r\n\(key)\r\n$\(value.utf8.count)\r\n\(value)\r\n".utf8)
            request += Array("*2\r\n$3\r\nGET\r\n$\(key.utf8.count)\r\n\(key)\r\n".utf8)
            expected += Array("+OK\r\n$\(value.utf8.count)\r\n\(value)\r\n".utf8)
        }
        try self.init(port: port, request: request, requests: keys * 2, expected: expected)
    }

    /// A client sending `commands` as one pipelined batch, whose replies must be `expected`.
    convenience init(port: Int, commands: [[String]], expected: String) throws {
        var request: [UInt8] = []
        for command in commands {
            request += Array("*\(command.count)\r\n".utf8)
            for arg in command { request += Array("$\(arg.utf8.count)\r\n\(arg)\r\n".utf8) }
        }
        try self.init(port: port, request: request, requests: commands.count, expected: Array(expected.utf8))
    }

    init(port: Int, request: [UInt8], requests: Int, expected: [UInt8]) throws {
        requestCount = requests
        self.request = request
        self.expected = expected
        replies = UnsafeMutableRawPointer.allocate(byteCount: expected.count, alignment: 8)

        do {
            fd = try connectLoopback(port: port)
        } catch {
            replies.deallocate()
            throw error
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit {
        close(fd)
        replies.deallocate()
    }

    /// Sends the batch and reads its replies; false on an error or when they differ from the expected bytes.
    func roundTrip() -> Bool {
        let sent = request.withUnsafeBytes { bytes -> Bool in
            var offset = 0
            while offset < bytes.count {
                let n = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
        guard sent else { return false }
        var received = 0
        while received < expected.count {
            let n = recv(fd, replies + received, expected.count - received, 0)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            received += n
        }
        return expected.withUnsafeBytes { memcmp($0.baseAddress!, replies, $0.count) == 0 }
    }
}
