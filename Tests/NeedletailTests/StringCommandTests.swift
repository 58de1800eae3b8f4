import XCTest
@testable import Needletail

/// The string commands through the server's call path: what a client cannot see. Replies are checked against
/// redis-server by the differential test.
final class StringCommandTests: XCTestCase {
    private var process: InProcessServer!

    override func setUpWithError() throws { process = try InProcessServer() }

    @discardableResult
    private func run(_ words: String...) -> String { process.run(words) }

    private func storage(_ s: ByteString?) -> ObjectIdentifier? {
        if case .heap(let storage)? = s { return ObjectIdentifier(storage) }
        return nil
    }

    /// A key too long to be stored inline is allocated once: the keyspace and the expires share its bytes
    /// (as MEMORY USAGE and INFO memory count it), whichever command sets the value with its TTL.
    func testAKeyWithATTLIsStoredOnce() {
        let db = process.client.db
        for (i, command) in [["SET", "EX", "100"], ["SET", "PX", "100000"], ["SET", "EXAT", "99999999999"],
                             ["SETEX", "100"], ["PSETEX", "100000"]].enumerated() {
            let key = "a-key-longer-than-twenty-two-bytes:\(i)"
            let request = command[0] == "SET" ? [command[0], key, "v", command[1], command[2]] : [command[0], key, command[1], "v"]
            XCTAssertEqual(process.run(request), "+OK\r\n", command[0])
            let (stored, deadline) = key.utf8CString.dropLast().withUnsafeBytes { bytes in
                (db.keys.findEntry(bytes)?.key, db.expires.findEntry(bytes)?.key)
            }
            XCTAssertNotNil(storage(stored), "\(command): the key is on the heap")
            XCTAssertEqual(storage(stored), storage(deadline), "\(command): one allocation for both tables")
        }
        XCTAssertEqual(run("DBSIZE"), ":5\r\n")
    }
}
