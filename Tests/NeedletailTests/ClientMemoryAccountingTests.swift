import XCTest
@testable import Needletail

/// The arithmetic of Server/ClientMemory.swift: eviction buckets as Redis's getMemUsageBucket, CLIENT LIST's
/// mapping of one reply buffer onto Redis's 16 KB buffer and 16 KB blocks, the query buffer's unparsed bytes,
/// and the client's cost growing with its state. (The totals, buckets and eviction over TCP are in
/// IntegrationTests' ClientMemoryTests; debug servers check the index's invariants in their cron.)
final class ClientMemoryAccountingTests: XCTestCase {
    private var server: Server!
    private var client: Client!

    override func setUpWithError() throws {
        let config = Config()
        config.port = 0
        server = try Server(config: config, ephemeralPort: true)
        client = server.makeInternalClient()
    }

    func testBucketsArePowersOfTwoFrom32KBTo8GB() {
        XCTAssertEqual(ClientMemoryIndex.bucket(for: 0), 0)
        XCTAssertEqual(ClientMemoryIndex.bucket(for: 1), 0)
        XCTAssertEqual(ClientMemoryIndex.bucket(for: 32 * 1024 - 1), 0)
        XCTAssertEqual(ClientMemoryIndex.bucket(for: 32 * 1024), 1)
        XCTAssertEqual(ClientMemoryIndex.bucket(for: 64 * 1024 - 1), 1)
        XCTAssertEqual(ClientMemoryIndex.bucket(for: 64 * 1024), 2)
        XCTAssertEqual(ClientMemoryIndex.bucket(for: 3_000_000), 7)  // 2^21 <= 3 MB < 2^22
        XCTAssertEqual(ClientMemoryIndex.bucket(for: 1 << 33), 18)
        XCTAssertEqual(ClientMemoryIndex.bucket(for: Int.max), 18)
    }

    func testOutputFieldsMapTheFirst16KBAndBlocksBeyond() {
        let output = client.output
        func fields() -> [Int] { [client.outputBufferHead, client.outputBlocks, client.outputBufferMemory] }
        XCTAssertEqual(fields(), [0, 0, 0])
        [UInt8](repeating: 1, count: 100).withUnsafeBytes { output.append($0) }
        XCTAssertEqual(fields(), [100, 0, 0])
        let chunk = [UInt8](repeating: 2, count: 16 * 1024)
        chunk.withUnsafeBytes { output.append($0) }
        XCTAssertEqual(fields(), [16 * 1024, 1, 100], "100 bytes beyond the first 16 KB: one block")
        for _ in 0..<2 { chunk.withUnsafeBytes { output.append($0) } }
        XCTAssertEqual(fields(), [16 * 1024, 3, 100 + 32 * 1024])
        output.readIndex = output.writeIndex - 10  // all but 10 bytes written to the socket
        XCTAssertEqual(fields(), [10, 0, 0])
    }

    func testQueryBufferCountsWhatIsNotParsedYet() {
        let head = Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n".utf8) + [UInt8](repeating: 120, count: 500)
        head.withUnsafeBytes { client.input.append($0) }
        XCTAssertEqual(client.parser.parse(client.input, maxBulkLength: 1 << 29, authenticated: true), .needMoreData)
        XCTAssertEqual(client.queryBufferLength, 500, "the header, SET and k are parsed: only the value's bytes count")
        XCTAssertEqual(client.parser.argumentBytes, 4)
        XCTAssertTrue(client.parser.awaitsBigArgument)
        XCTAssertGreaterThanOrEqual(client.input.capacity, 100_000, "room for the whole argument")
        XCTAssertLessThan(client.input.capacity, 110_000, "and not the next power of two")
    }

    func testCostGrowsWithBuffersAndState() {
        let idle = client.memoryUsage
        XCTAssertGreaterThan(client.objectMemory, 0)
        XCTAssertEqual(idle, client.objectMemory + client.input.capacity + client.output.capacity + client.parser.allocatedBytes)
        client.output.reserve(1 << 20)
        XCTAssertEqual(client.memoryUsage - idle, client.output.capacity - 16 * 1024, "a grown reply buffer counts")
        XCTAssertEqual(server.run([ByteString("MULTI")], on: client), Array("+OK\r\n".utf8))
        let grown = client.memoryUsage  // after the reply was taken (which gives the reply buffer back)
        XCTAssertEqual(server.run(["SET", "a", String(repeating: "v", count: 1000)].map { ByteString($0) }, on: client),
                       Array("+QUEUED\r\n".utf8))
        XCTAssertGreaterThanOrEqual(client.memoryUsage - grown, 1005, "MULTI's queue counts")
    }
}
