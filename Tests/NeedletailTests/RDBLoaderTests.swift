import XCTest
@testable import Needletail

/// RDBLoader on whole files: keys land in the database they were read for, with their TTLs, and a key that
/// repeats is refused with Redis's message (or replaces the earlier one for DEBUG RELOAD MERGE), wherever it
/// falls in the file.
final class RDBLoaderTests: XCTestCase {
    private let now: Int64 = 1_700_000_000_000

    /// An RDB of `records`: a SELECTDB for each database change, string keys with an optional TTL, then EOF and a
    /// zero checksum (not checked).
    private func rdb(_ records: [(db: Int, key: String, value: String, expire: Int64?)]) -> [UInt8] {
        func string(_ s: String) -> [UInt8] { precondition(s.utf8.count < 64); return [UInt8(s.utf8.count)] + Array(s.utf8) }
        var bytes = Array("REDIS0010".utf8)
        var db = -1
        for r in records {
            if r.db != db {
                bytes += [RDB.opSelectDB, UInt8(r.db)]
                db = r.db
            }
            if let expire = r.expire { bytes += [RDB.opExpireTimeMs] + withUnsafeBytes(of: expire.littleEndian) { Array($0) } }
            bytes += [RDB.typeString] + string(r.key) + string(r.value)
        }
        return bytes + [RDB.opEOF] + [UInt8](repeating: 0, count: 8)
    }

    private func load(_ bytes: [UInt8], replacing: Bool = false) throws -> ([Database], Int) {
        let databases = (0..<2).map { Database(index: $0, events: KeyspaceChanges()) }
        var loader = RDBLoader(limits: RDBLoadLimits(Config()), now: now)
        loader.replacesDuplicates = replacing
        let result = try bytes.withUnsafeBytes { try loader.load($0, into: databases) }
        return (databases, result.keysLoaded)
    }

    private func value(_ db: Database, _ key: String) -> String? {
        guard case .string(let s)? = db.lookup(ByteString(key), now: now) else { return nil }
        return s.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }

    func testKeysLandInTheirDatabasesWithTheirTTLs() throws {
        // 37 keys in db 0 (two full batches and a part), 5 in db 1, then 3 more in db 0.
        var records = (0..<37).map { (db: 0, key: "k\($0)", value: "v\($0)", expire: $0 % 7 == 0 ? now + Int64($0 + 1) * 1000 : nil) }
        records += (0..<5).map { (db: 1, key: "k\($0)", value: "one\($0)", expire: nil) }
        records += (37..<40).map { (db: 0, key: "k\($0)", value: "v\($0)", expire: nil) }
        let (databases, loaded) = try load(rdb(records))
        XCTAssertEqual(loaded, 45)
        XCTAssertEqual(databases[0].count, 40)
        XCTAssertEqual(databases[1].count, 5)
        for i in 0..<40 {
            XCTAssertEqual(value(databases[0], "k\(i)"), "v\(i)")
            XCTAssertEqual(databases[0].expireTime(ByteString("k\(i)")), i % 7 == 0 && i < 37 ? now + Int64(i + 1) * 1000 : nil)
        }
        for i in 0..<5 { XCTAssertEqual(value(databases[1], "k\(i)"), "one\(i)") }
        databases.forEach { $0.checkInvariants() }
    }

    func testARepeatedKeyIsRefusedOrReplaces() throws {
        // The repeat within the first batch, across batches, and right before EOF.
        for (first, repeatAt) in [(3, 10), (3, 20), (30, 39)] {
            var records = (0..<39).map { (db: 0, key: "k\($0)", value: "v\($0)", expire: Int64?.none) }
            records.insert((db: 0, key: "k\(first)", value: "again", expire: nil), at: repeatAt)
            XCTAssertThrowsError(try load(rdb(records))) { error in
                XCTAssertEqual((error as? RDBError)?.description, "RDB has duplicated key 'k\(first)' in DB 0")
            }
            let (databases, _) = try load(rdb(records), replacing: true)
            XCTAssertEqual(databases[0].count, 39)
            XCTAssertEqual(value(databases[0], "k\(first)"), "again")
        }
    }
}
