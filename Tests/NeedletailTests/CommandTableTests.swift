import XCTest
@testable import Needletail

/// The command table's own consistency, and the generated command docs (CommandDocs.swift) it is joined to.
final class CommandTableTests: XCTestCase {
    private let table = CommandTable.standard()

    /// Every command and subcommand, parents first.
    private var everyCommand: [Command] {
        table.all.flatMap { [$0] + $0.sortedSubcommands }
    }

    func testNamesAreUniqueAndLowercase() {
        var seen = Set<String>()
        for command in everyCommand {
            XCTAssertEqual(command.name, command.name.lowercased(), "\(command.fullName) is not lowercase")
            XCTAssertFalse(command.name.isEmpty)
            XCTAssertFalse(command.name.contains(" ") || command.name.contains("|"), command.fullName)
            XCTAssertTrue(seen.insert(command.fullName).inserted, "duplicate \(command.fullName)")
        }
    }

    func testLookupIsCaseInsensitive() {
        for command in table.all {
            var upper = command.name.uppercased()
            let found = upper.withUTF8 { table.lookup(UnsafeRawBufferPointer($0)) }
            XCTAssertTrue(found === command, command.name)
            XCTAssertTrue(table.command(fullName: ByteString(command.name.uppercased())) === command)
            for sub in command.sortedSubcommands {
                XCTAssertTrue(table.command(fullName: ByteString(sub.fullName.uppercased())) === sub, sub.fullName)
            }
        }
        XCTAssertNil(table.command(fullName: "client|nosuch"))
        XCTAssertNil(table.command(fullName: "nosuch"))
    }

    /// The lookup cache (names up to 16 bytes loaded as two words): a name in any case finds its command on
    /// the miss that fills the slot and on the hits after it, and names a byte off find nothing.
    func testCachedLookupFindsEveryCaseAndNothingElse() {
        func find(_ name: String) -> Command? {
            var name = name
            return name.withUTF8 { table.lookupUnretained(UnsafeRawBufferPointer($0))?.takeUnretainedValue() }
        }
        for command in table.all {
            let mixed = String(command.name.enumerated().map { $0.offset % 2 == 0 ? Character($0.element.uppercased()) : $0.element })
            for name in [command.name, command.name.uppercased(), mixed, command.name] {
                XCTAssertTrue(find(name) === command, name)
            }
            for near in [String(command.name.dropLast()), command.name + "x", command.name + "\0", "x" + command.name.dropFirst()]
            where Array(near.utf8).withUnsafeBytes({ table.lookup($0) }) == nil {
                XCTAssertNil(find(near), near)
            }
        }
    }

    func testAritiesAreSane() {
        for command in everyCommand {
            XCTAssertNotEqual(command.arity, 0, "\(command.fullName): arity 0")
            // The name counts; a subcommand's arity counts the container's name too.
            let least = command.hasParent ? 2 : 1
            XCTAssertGreaterThanOrEqual(abs(command.arity), least, "\(command.fullName): arity \(command.arity)")
        }
        for command in table.all where command.hasSubcommands {
            // A container needs its subcommand name, except COMMAND, which answers alone too.
            XCTAssertEqual(command.arity, command.handler == nil ? -2 : -1, command.name)
        }
    }

    func testEveryCommandHasAHandlerOrSubcommands() {
        for command in everyCommand {
            XCTAssertTrue(command.handler != nil || command.hasSubcommands, "\(command.fullName) has nothing to run")
            XCTAssertFalse(command.hasParent && command.hasSubcommands, "\(command.fullName): one level only")
        }
    }

    func testKeyPositionsAreValid() {
        for command in everyCommand {
            let (first, last, step) = (command.firstKey, command.lastKey, command.keyStep)
            // SUNSUBSCRIBE's shard channels (key specs for cluster routing, flagged not_key) are optional, as
            // in Redis's table: arity -1 with its first "key" at 1.
            if command.fullName == "sunsubscribe" { continue }
            if first == 0 {
                XCTAssertEqual(last, 0, command.fullName)
                XCTAssertEqual(step, 0, command.fullName)
                continue
            }
            XCTAssertGreaterThan(first, 0, command.fullName)
            XCTAssertGreaterThanOrEqual(step, 1, command.fullName)
            if last >= 0 {
                XCTAssertGreaterThanOrEqual(last, first, command.fullName)
                // A fixed last key must exist in every call the arity accepts.
                XCTAssertLessThan(last, abs(command.arity), command.fullName)
            }
            XCTAssertLessThan(first, abs(command.arity), "\(command.fullName): first key beyond the arity")
            // The keys of the smallest accepted call are all found.
            let positions = command.keyIndexes(argc: abs(command.arity))
            XCTAssertFalse(positions.isEmpty, command.fullName)
            XCTAssertTrue(positions.allSatisfy { $0 >= 1 && $0 < abs(command.arity) }, command.fullName)
        }
    }

    func testFlagsAreConsistent() {
        for command in everyCommand {
            let f = command.flags
            XCTAssertFalse(f.contains(.write) && f.contains(.readonly), "\(command.fullName) is write and readonly")
            // WATCH is Redis's one exception: a key command (RO key spec) flagged neither write nor readonly.
            // Shard channels (SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH) are key specs flagged not_key, for cluster routing.
            if command.firstKey > 0 && !f.contains(.movableKeys) && command.fullName != "watch" && !f.contains(.pubsub) {
                XCTAssertTrue(f.contains(.write) || f.contains(.readonly),
                              "\(command.fullName) has keys but is neither write nor readonly")
            }
            if f.contains(.denyoom) { XCTAssertTrue(f.contains(.write), "\(command.fullName): denyoom without write") }
            if command.hasSubcommands { XCTAssertEqual(command.firstKey, 0, command.fullName) }
        }
    }

    func testGroupsAndSinceAreFilledIn() {
        let groups: Set<String> = ["generic", "string", "list", "set", "sorted-set", "hash", "pubsub", "transactions",
                                   "connection", "server", "scripting", "hyperloglog", "cluster", "sentinel", "geo",
                                   "stream", "bitmap"]
        for command in everyCommand {
            XCTAssertTrue(groups.contains(replyGroupName(command.group)), "\(command.fullName): group \(command.group)")
            XCTAssertFalse(command.since.isEmpty, command.fullName)
        }
    }

    // MARK: - Generated docs

    func testEveryGeneratedLineParses() {
        let lines = commandDocsData.split(separator: "\n").filter { !$0.isEmpty }
        XCTAssertEqual(generatedCommandMetadata.count, lines.count, "a line of CommandDocs.swift does not parse")
        for line in lines {
            let name = String(line.prefix { $0 != " " })
            XCTAssertNotNil(generatedCommandMetadata[name], "\(name) does not parse")
        }
    }

    func testGeneratedKeySpecsAgreeWithTheTable() {
        for command in everyCommand {
            guard let metadata = generatedCommandMetadata[command.fullName] else { continue }
            for spec in metadata.keySpecs { XCTAssertNotNil(KeySpec(spec), "\(command.fullName): unknown key spec shape") }
            // The legacy first/last/step that Redis derives from the specs.
            if command.firstKey > 0, !command.flags.contains(.movableKeys), let spec = keySpecs(of: command).first,
               case .index(let begin) = spec.begin {
                XCTAssertEqual(begin, command.firstKey, "\(command.fullName): first key differs from Redis's key spec")
            }
            if command.firstKey == 0 && !command.flags.contains(.movableKeys) {
                XCTAssertTrue(metadata.keySpecs.isEmpty, "\(command.fullName): Redis has keys, the table none")
            }
        }
    }

    func testDocParserReadsEveryType() {
        var parser = DocParser(Array(#"{a:[1,-2,"x\"y\\z"],b:<+RO,+access>,"c d":{}}"#.utf8))
        let value = parser.parse()
        XCTAssertEqual(value, .map([
            ("a", .array([.integer(1), .integer(-2), .bulk("x\"y\\z")])),
            ("b", .set([.simple("RO"), .simple("access")])),
            ("c d", .map([])),
        ]))
        for bad in ["{a:1", "[1,]", "\"open", "{a 1}", "<+x", "[1]x", ""] {
            var p = DocParser(Array(bad.utf8))
            XCTAssertNil(p.parse(), bad)
        }
    }

    func testKeyPositionsFollowKeySpecs() {
        func keys(_ words: [String]) -> [String]? {
            guard let command = table.command(fullName: ByteString(words[0])) else { return nil }
            let args = words.map { ByteString($0) }
            return keyPositions(command, args)?.map { words[$0.position] }
        }
        XCTAssertEqual(keys(["get", "k"]), ["k"])
        XCTAssertEqual(keys(["mset", "a", "1", "b", "2"]), ["a", "b"])
        XCTAssertEqual(keys(["ping"]), [])

        // ZUNIONSTORE's specs: the destination, then `numkeys` keys after the count argument.
        let zunionstore = [
            KeySpec(flags: ["OW", "update"], begin: .index(1), find: .range(lastKey: 0, step: 1, limit: 0)),
            KeySpec(flags: ["RO", "access"], begin: .index(2), find: .keyNumber(countIndex: 0, firstKey: 1, step: 1)),
        ]
        func positions(_ specs: [KeySpec], _ words: [String]) -> [Int]? {
            keyPositions(specs, words.map { ByteString($0) })?.map(\.position)
        }
        XCTAssertEqual(positions(zunionstore, ["zunionstore", "d", "2", "a", "b", "WEIGHTS", "1", "2"]), [1, 3, 4])
        XCTAssertNil(positions(zunionstore, ["zunionstore", "d", "3", "a", "b"]))     // more keys than arguments
        XCTAssertNil(positions(zunionstore, ["zunionstore", "d", "x", "a"]))          // count not a number
        XCTAssertNil(positions(zunionstore, ["zunionstore", "d", "0", "a"]))          // as Redis: no keys is invalid
        // A keyword spec (SORT ... STORE dest): found after the keyword, skipped when it is absent.
        let sort = [
            KeySpec(flags: ["RO", "access"], begin: .index(1), find: .range(lastKey: 0, step: 1, limit: 0)),
            KeySpec(flags: ["OW", "update"], begin: .keyword("STORE", startFrom: 1), find: .range(lastKey: 0, step: 1, limit: 0)),
        ]
        XCTAssertEqual(positions(sort, ["sort", "k", "LIMIT", "0", "1", "store", "d"]), [1, 6])
        XCTAssertEqual(positions(sort, ["sort", "k"]), [1])
        XCTAssertEqual(positions(sort, ["sort", "k", "STORE"]), [1])                  // the keyword needs a key after it
        // A range to the end with a limit (XREAD-like: half the remaining arguments).
        let streams = [KeySpec(flags: ["RO"], begin: .keyword("STREAMS", startFrom: 1), find: .range(lastKey: -1, step: 1, limit: 2))]
        XCTAssertEqual(positions(streams, ["xread", "STREAMS", "a", "b", "0", "0"]), [2, 3])
        // Specs marked not_key are not keys.
        let notKey = [KeySpec(flags: ["not_key"], begin: .index(1), find: .range(lastKey: 0, step: 1, limit: 0))]
        XCTAssertEqual(positions(notKey, ["x", "y"]), [])
    }

    func testAclCategoriesFollowFlags() {
        let get = table.command(fullName: "get")!
        XCTAssertEqual(aclCategories(of: get), ["@read", "@string", "@fast"])
        let kill = table.command(fullName: "client|kill")!
        XCTAssertEqual(aclCategories(of: kill), ["@admin", "@slow", "@dangerous", "@connection"])
        let client = table.command(fullName: "client")!
        XCTAssertEqual(aclCategories(of: client), ["@slow"])
    }
}

private extension Command {
    var hasParent: Bool { fullName.contains("|") }
}
