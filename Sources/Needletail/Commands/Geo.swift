import Glibc

/// Geo commands (Redis's geo.c) over sorted sets: a member's score is its 52-bit geohash (Storage/GeoHash.swift),
/// so a geo index is a plain sorted set that ZRANGE, ZREM, DUMP/RESTORE and RDB files carry unchanged.
///
/// - GEOADD is ZADD with computed scores (Redis rewrites it into ZADD and runs zaddCommand): the same
///   notification ("zadd"), and it is propagated as ZADD.
/// - `georadiusGeneric` serves GEOSEARCH, GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and the _RO forms, with
///   Redis's argument order and errors: the source key is looked up first, then every option is parsed in
///   order, then the combinations are checked. The search scans the centre cell and its neighbours in Redis's
///   order and keeps the points inside the shape; without ASC/DESC the reply is in that scan order, with them
///   it is sorted by distance (a stable sort, as glibc's qsort is for these sizes).
/// - Coordinates are printed as Redis's addReplyHumanLongDouble ("%.17Lf" trimmed; a RESP3 double), distances
///   as "%.4f" bulk strings, hashes as integers.
/// - A STORE / STOREDIST / GEOSEARCHSTORE destination gets the points (scores, or distances in the unit asked)
///   as a sorted set encoded as Redis would encode it, notified "georadiusstore" / "geosearchstore"; an empty
///   result deletes it.

let geoCommands: [Command] = [
    Command("geoadd", arity: -5, flags: [.write, .denyoom], keys: (1, 1, 1), group: "geo", since: "3.2.0",
            summary: "Add one or more geospatial items in the geospatial index represented using a sorted set",
            complexity: "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
            handler: geoadd),
    Command("geopos", arity: -2, flags: [.readonly], keys: (1, 1, 1), group: "geo", since: "3.2.0",
            summary: "Returns longitude and latitude of members of a geospatial index",
            complexity: "O(N) where N is the number of members requested.", handler: geopos),
    Command("geodist", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "geo", since: "3.2.0",
            summary: "Returns the distance between two members of a geospatial index", complexity: "O(log(N))",
            handler: geodist),
    Command("geohash", arity: -2, flags: [.readonly], keys: (1, 1, 1), group: "geo", since: "3.2.0",
            summary: "Returns members of a geospatial index as standard geohash strings",
            complexity: "O(log(N)) for each member requested, where N is the number of elements in the sorted set.",
            handler: geohash),
    Command("geosearch", arity: -7, flags: [.readonly], keys: (1, 1, 1), group: "geo", since: "6.2.0",
            summary: "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.",
            complexity: searchComplexity, handler: { georadiusGeneric($0, sourceIndex: 1, [.geosearch]) }),
    Command("geosearchstore", arity: -8, flags: [.write, .denyoom], keys: (1, 2, 1), group: "geo", since: "6.2.0",
            summary: "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.",
            complexity: searchComplexity, handler: { georadiusGeneric($0, sourceIndex: 2, [.geosearch, .geosearchStore]) }),
    Command("georadius", arity: -6, flags: [.write, .denyoom, .movableKeys], keys: (1, 1, 1), group: "geo",
            since: "3.2.0",
            summary: "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point",
            complexity: radiusComplexity, handler: { georadiusGeneric($0, sourceIndex: 1, [.coordinates]) }),
    Command("georadiusbymember", arity: -5, flags: [.write, .denyoom, .movableKeys], keys: (1, 1, 1), group: "geo",
            since: "3.2.0",
            summary: "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member",
            complexity: radiusComplexity, handler: { georadiusGeneric($0, sourceIndex: 1, [.member]) }),
    Command("georadius_ro", arity: -6, flags: [.readonly], keys: (1, 1, 1), group: "geo", since: "3.2.10",
            summary: "A read-only variant for GEORADIUS", complexity: radiusComplexity,
            handler: { georadiusGeneric($0, sourceIndex: 1, [.coordinates, .noStore]) }),
    Command("georadiusbymember_ro", arity: -5, flags: [.readonly], keys: (1, 1, 1), group: "geo", since: "3.2.10",
            summary: "A read-only variant for GEORADIUSBYMEMBER", complexity: radiusComplexity,
            handler: { georadiusGeneric($0, sourceIndex: 1, [.member, .noStore]) }),
]

private let searchComplexity = "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box "
    + "area around the shape provided as the filter and M is the number of items inside the shape"
private let radiusComplexity = "O(N+log(M)) where N is the number of elements inside the bounding box of the "
    + "circular area delimited by center and radius and M is the number of items inside the index."

extension KeyspaceEvent {
    static let georadiusstore = KeyspaceEvent("georadiusstore", .zset)
    static let geosearchstore = KeyspaceEvent("geosearchstore", .zset)
}

// MARK: - Formatting

/// C's "%f" (any magnitude: 1e300 prints its 301 digits).
private func formatFixed6(_ value: Double) -> String {
    withVaList([value]) { va -> String in
        var buffer = [CChar](repeating: 0, count: 400)
        let n = Int(vsnprintf(&buffer, buffer.count, "%f", va))
        return String(decoding: buffer[0..<max(0, min(n, buffer.count - 1))].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Redis's addReplyDoubleDistance: "%.4f" as a bulk string in both protocols.
private func replyDistance(_ c: Client, _ d: Double) {
    var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    withUnsafeMutableBytes(of: &buffer) { raw in
        let n = withVaList([d]) { vsnprintf(raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count, "%.4f", $0) }
        if n >= 0 && Int(n) < raw.count {
            c.reply.bulk(UnsafeRawBufferPointer(rebasing: raw[0..<Int(n)]))
        } else {
            c.reply.bulk(formatFixed6(d))  // unreachable: 64 bytes hold any distance on Earth
        }
    }
}

/// Redis's addReplyHumanLongDouble: "%.17Lf" trimmed, a bulk string in RESP2 and a double in RESP3.
private func replyHumanDouble(_ c: Client, _ value: Double) {
    let text = formatLongDouble(LongDouble(value))
    if c.reply.resp3 {
        c.reply.buffer.append(UInt8(ascii: ","))
        text.withUnsafeBytes { c.reply.buffer.append($0) }
        c.reply.buffer.append("\r\n")
    } else {
        c.reply.bulk(text)
    }
}

/// Redis's extractUnitOrReply: meters per unit, or nil after the error.
private func unit(_ c: Client, _ i: Int) -> Double? {
    if argOptionIs(c, i, "m") { return 1 }
    if argOptionIs(c, i, "km") { return 1000 }
    if argOptionIs(c, i, "ft") { return 0.3048 }
    if argOptionIs(c, i, "mi") { return 1609.34 }
    c.reply.error("ERR unsupported unit provided. please use M, KM, FT, MI")
    return nil
}

/// Redis's extractLongLatOrReply.
private func longitudeLatitude(_ c: Client, _ i: Int) -> (Double, Double)? {
    guard let x = c.doubleArg(i), let y = c.doubleArg(i + 1) else { return nil }
    if x < GeoHash.longitudeMin || x > GeoHash.longitudeMax || y < GeoHash.latitudeMin || y > GeoHash.latitudeMax {
        c.reply.error("ERR invalid longitude,latitude pair \(formatFixed6(x)),\(formatFixed6(y))")
        return nil
    }
    return (x, y)
}

/// The zset at argument `i` for a read: nil (no error) when missing; `.failure` after WRONGTYPE.
private func readGeoSet(_ c: Client, _ i: Int) -> Result<SortedSet?, Never>? {
    guard let value = c.db.lookup(c.arg(i), now: c.now) else { return .success(nil) }
    guard case .sortedSet(let set) = value else {
        c.replyWrongType()
        return nil
    }
    return .success(set)
}

// MARK: - GEOADD

private func geoadd(_ c: Client) {
    var flags: ZaddFlags = []
    var longitudeIndex = 2
    while longitudeIndex < c.argc {
        if argOptionIs(c, longitudeIndex, "nx") { flags.insert(.nx) }
        else if argOptionIs(c, longitudeIndex, "xx") { flags.insert(.xx) }
        else if argOptionIs(c, longitudeIndex, "ch") { flags.insert(.ch) }
        else { break }
        longitudeIndex += 1
    }
    if (c.argc - longitudeIndex) % 3 != 0 || flags.isSuperset(of: [.nx, .xx]) { return c.replySyntaxError() }
    let elements = (c.argc - longitudeIndex) / 3
    var scores: [UInt64] = []
    scores.reserveCapacity(elements)
    for i in 0..<elements {
        guard let (x, y) = longitudeLatitude(c, longitudeIndex + i * 3) else { return }
        scores.append(GeoHash.score(longitude: x, latitude: y) ?? 0)
    }
    // From here on this is ZADD key [NX|XX] [CH] score member ...
    if elements == 0 { return c.replySyntaxError() }
    let set: SortedSet
    if let value = c.db.lookup(c.arg(1), now: c.now, .write) {
        guard case .sortedSet(let existing) = value else { return c.replyWrongType() }
        set = existing
    } else {
        if flags.contains(.xx) { return c.reply.integer(0) }
        set = SortedSet()
        c.db.add(c.argBytes(1), .sortedSet(set), event: .none, changes: 0)
    }
    var added = 0, updated = 0
    for i in 0..<elements {
        switch zsetAdd(set, member: c.arg(longitudeIndex + i * 3 + 2), score: Double(scores[i]), flags: flags) {
        case .added: added += 1
        case .updated: updated += 1
        default: break
        }
    }
    if added + updated > 0 { c.db.didModify(c.arg(1), .zadd, changes: added + updated) }
    c.propagateAs({
        var argv: [ByteString] = ["zadd"]
        for i in 1..<longitudeIndex { argv.append(c.argBytes(i)) }
        for i in 0..<elements {
            argv.append(formatInt64(Int64(scores[i])))
            argv.append(c.argBytes(longitudeIndex + i * 3 + 2))
        }
        return argv
    }())
    c.reply.integer(flags.contains(.ch) ? added + updated : added)
}

// MARK: - GEOPOS, GEODIST, GEOHASH

private func geopos(_ c: Client) {
    guard case .success(let set)? = readGeoSet(c, 1) else { return }
    c.reply.array(c.argc - 2)
    for j in 2..<c.argc {
        guard let score = set?.score(of: c.arg(j)), let (x, y) = GeoHash.position(ofScore: score) else {
            c.reply.nullArray()
            continue
        }
        c.reply.array(2)
        replyHumanDouble(c, x)
        replyHumanDouble(c, y)
    }
}

private func geodist(_ c: Client) {
    var toMeters = 1.0
    if c.argc == 5 {
        guard let u = unit(c, 4) else { return }
        toMeters = u
    } else if c.argc > 5 {
        return c.replySyntaxError()
    }
    guard case .success(let found)? = readGeoSet(c, 1) else { return }
    guard let set = found else { return c.reply.null() }
    guard let s1 = set.score(of: c.arg(2)), let s2 = set.score(of: c.arg(3)),
          let a = GeoHash.position(ofScore: s1), let b = GeoHash.position(ofScore: s2) else { return c.reply.null() }
    replyDistance(c, GeoHash.distance(a.longitude, a.latitude, b.longitude, b.latitude) / toMeters)
}

private func geohash(_ c: Client) {
    guard case .success(let set)? = readGeoSet(c, 1) else { return }
    c.reply.array(c.argc - 2)
    for j in 2..<c.argc {
        guard let score = set?.score(of: c.arg(j)), let text = GeoHash.standardHash(ofScore: score) else {
            c.reply.null()
            continue
        }
        text.withUnsafeBytes { c.reply.bulk($0) }
    }
}

// MARK: - GEOSEARCH and GEORADIUS

struct GeoSearchFlags: OptionSet {
    let rawValue: UInt8
    static let coordinates = GeoSearchFlags(rawValue: 1 << 0)    // GEORADIUS: centre from arguments
    static let member = GeoSearchFlags(rawValue: 1 << 1)         // GEORADIUSBYMEMBER: centre from a member
    static let noStore = GeoSearchFlags(rawValue: 1 << 2)        // the _RO forms
    static let geosearch = GeoSearchFlags(rawValue: 1 << 3)      // GEOSEARCH's arguments
    static let geosearchStore = GeoSearchFlags(rawValue: 1 << 4) // GEOSEARCHSTORE
}

/// A point found by a search (Redis's geoPoint).
struct GeoPoint {
    var longitude: Double
    var latitude: Double
    var distance: Double
    var score: Double
    var member: ByteString
}

/// Redis's georadiusGeneric.
private func georadiusGeneric(_ c: Client, sourceIndex: Int, _ flags: GeoSearchFlags) {
    guard case .success(let set)? = readGeoSet(c, sourceIndex) else { return }
    var shape = GeoHash.Shape()
    var baseArgs: Int
    var storeKey: Int?   // argument index of the destination
    var storeDistance = false
    if flags.contains(.coordinates) {
        baseArgs = 6
        guard let (x, y) = longitudeLatitude(c, 2) else { return }
        (shape.longitude, shape.latitude) = (x, y)
        guard let (conversion, radius) = distanceArguments(c, baseArgs - 2) else { return }
        (shape.conversion, shape.radius) = (conversion, radius)
    } else if flags.contains(.member) && set == nil {
        baseArgs = 5
    } else if flags.contains(.member) {
        baseArgs = 5
        guard let score = set!.score(of: c.arg(2)), let (x, y) = GeoHash.position(ofScore: score) else {
            return c.reply.error("ERR could not decode requested zset member")
        }
        (shape.longitude, shape.latitude) = (x, y)
        guard let (conversion, radius) = distanceArguments(c, baseArgs - 2) else { return }
        (shape.conversion, shape.radius) = (conversion, radius)
    } else {
        baseArgs = 2
        if flags.contains(.geosearchStore) {
            baseArgs = 3
            storeKey = 1
        }
    }

    var withDistance = false, withHash = false, withCoordinates = false
    var fromMember = false, fromLocation = false, byRadius = false, byBox = false
    enum Sort { case none, ascending, descending }
    var sort = Sort.none
    var any = false
    var count: Int64 = 0
    let remaining = c.argc - baseArgs
    var i = 0
    while i < remaining {
        let a = baseArgs + i
        if argOptionIs(c, a, "withdist") { withDistance = true }
        else if argOptionIs(c, a, "withhash") { withHash = true }
        else if argOptionIs(c, a, "withcoord") { withCoordinates = true }
        else if argOptionIs(c, a, "any") { any = true }
        else if argOptionIs(c, a, "asc") { sort = .ascending }
        else if argOptionIs(c, a, "desc") { sort = .descending }
        else if argOptionIs(c, a, "count") && i + 1 < remaining {
            guard let n = c.int64Arg(a + 1) else { return }
            if n <= 0 { return c.reply.error("ERR COUNT must be > 0") }
            count = n
            i += 1
        } else if argOptionIs(c, a, "store") && i + 1 < remaining && !flags.contains(.noStore) && !flags.contains(.geosearch) {
            storeKey = a + 1
            storeDistance = false
            i += 1
        } else if argOptionIs(c, a, "storedist") && i + 1 < remaining && !flags.contains(.noStore) && !flags.contains(.geosearch) {
            storeKey = a + 1
            storeDistance = true
            i += 1
        } else if argOptionIs(c, a, "storedist") && flags.contains(.geosearch) && flags.contains(.geosearchStore) {
            storeDistance = true
        } else if argOptionIs(c, a, "frommember") && i + 1 < remaining && flags.contains(.geosearch) && !fromLocation {
            if let set {
                guard let score = set.score(of: c.arg(a + 1)), let (x, y) = GeoHash.position(ofScore: score) else {
                    return c.reply.error("ERR could not decode requested zset member")
                }
                (shape.longitude, shape.latitude) = (x, y)
            }
            fromMember = true
            i += 1
        } else if argOptionIs(c, a, "fromlonlat") && i + 2 < remaining && flags.contains(.geosearch) && !fromMember {
            guard let (x, y) = longitudeLatitude(c, a + 1) else { return }
            (shape.longitude, shape.latitude) = (x, y)
            fromLocation = true
            i += 2
        } else if argOptionIs(c, a, "byradius") && i + 2 < remaining && flags.contains(.geosearch) && !byBox {
            guard let (conversion, radius) = distanceArguments(c, a + 1) else { return }
            (shape.conversion, shape.radius) = (conversion, radius)
            shape.isBox = false
            byRadius = true
            i += 2
        } else if argOptionIs(c, a, "bybox") && i + 3 < remaining && flags.contains(.geosearch) && !byRadius {
            guard let width = parseDouble(c.arg(a + 1)) else { c.reply.error("ERR need numeric width"); return }
            guard let height = parseDouble(c.arg(a + 2)) else { c.reply.error("ERR need numeric height"); return }
            if height < 0 || width < 0 { return c.reply.error("ERR height or width cannot be negative") }
            guard let conversion = unit(c, a + 3) else { return }
            (shape.width, shape.height, shape.conversion) = (width, height, conversion)
            shape.isBox = true
            byBox = true
            i += 3
        } else {
            return c.replySyntaxError()
        }
        i += 1
    }

    if storeKey != nil && (withDistance || withHash || withCoordinates) {
        let what = flags.contains(.geosearchStore) ? "GEOSEARCHSTORE" : "STORE option in GEORADIUS"
        return c.reply.error("ERR \(what) is not compatible with WITHDIST, WITHHASH and WITHCOORD options")
    }
    if flags.contains(.geosearch) && !(fromMember || fromLocation) {
        return c.reply.error("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for \(String(decoding: cStringPrefix(c.arg(0)), as: UTF8.self))")
    }
    if flags.contains(.geosearch) && !(byRadius || byBox) {
        return c.reply.error("ERR exactly one of BYRADIUS and BYBOX can be specified for \(String(decoding: cStringPrefix(c.arg(0)), as: UTF8.self))")
    }
    if any && count == 0 { return c.reply.error("ERR the ANY argument requires COUNT argument") }

    guard let set else {
        if let storeKey {
            c.db.remove(c.argBytes(storeKey))
            return c.reply.integer(0)
        }
        return c.reply.array(0)
    }
    if count != 0 && sort == .none && !any { sort = .ascending }

    var points = geoSearch(set, &shape, limit: any ? Int(count) : 0)
    if points.isEmpty && storeKey == nil { return c.reply.array(0) }
    let returned = count == 0 || Int64(points.count) < count ? points.count : Int(count)
    switch sort {
    case .none: break
    case .ascending: points.sort { $0.distance < $1.distance }
    case .descending: points.sort { $0.distance > $1.distance }
    }

    guard let storeKey else {
        let options = (withDistance ? 1 : 0) + (withCoordinates ? 1 : 0) + (withHash ? 1 : 0)
        c.reply.array(returned)
        for point in points.prefix(returned) {
            if options > 0 { c.reply.array(options + 1) }
            c.reply.bulk(point.member)
            if withDistance { replyDistance(c, point.distance / shape.conversion) }
            if withHash { c.reply.integer(GeoHash.cInt64(point.score)) }
            if withCoordinates {
                c.reply.array(2)
                replyHumanDouble(c, point.longitude)
                replyHumanDouble(c, point.latitude)
            }
        }
        return
    }
    let destination = c.argBytes(storeKey)
    guard returned > 0 else {
        c.db.remove(destination)
        return c.reply.integer(0)
    }
    let result = SortedSet()
    var longest = 0
    for point in points.prefix(returned) { longest = max(longest, point.member.count) }
    result.skiplistEncoded = returned > zsetMaxListpackEntries || longest > zsetMaxListpackValue
    for point in points.prefix(returned) {
        let score = storeDistance ? point.distance / shape.conversion : point.score
        result.set(member: point.member, score: result.storable(score))
    }
    c.db.set(destination, .sortedSet(result), event: flags.contains(.geosearch) ? .geosearchstore : .georadiusstore,
             changes: returned)
    c.reply.integer(returned)
}

/// Redis's extractDistanceOrReply: a non-negative radius and its unit.
private func distanceArguments(_ c: Client, _ i: Int) -> (conversion: Double, radius: Double)? {
    guard let radius = parseDouble(c.arg(i)) else {
        c.reply.error("ERR need numeric radius")
        return nil
    }
    if radius < 0 {
        c.reply.error("ERR radius cannot be negative")
        return nil
    }
    guard let conversion = unit(c, i + 1) else { return nil }
    return (conversion, radius)
}

/// Redis's membersOfAllNeighbors: the points of `set` inside `shape`, cell after cell in Redis's order
/// (a cell equal to the one scanned just before it is skipped), each cell's points in score order; at most
/// `limit` when not 0 (COUNT ... ANY).
func geoSearch(_ set: SortedSet, _ shape: inout GeoHash.Shape, limit: Int) -> [GeoPoint] {
    let cells = GeoHash.searchAreas(&shape)
    var points: [GeoPoint] = []
    // As Redis: the index of the last cell scanned, where 0 (the centre) also means "none yet", so a
    // neighbour equal to the centre cell is scanned again.
    var lastProcessed = 0
    for (i, cell) in cells.enumerated() {
        if cell.isZero { continue }
        if lastProcessed > 0 && cell == cells[lastProcessed] { continue }
        if !points.isEmpty && limit > 0 && points.count >= limit { break }
        let (min, max) = GeoHash.scoreRange(of: cell)
        set.forEach(scoreFrom: Double(min), below: Double(max)) { member, score in
            guard let (x, y) = GeoHash.position(ofScore: score), let d = shape.contains(x, y) else { return true }
            points.append(GeoPoint(longitude: x, latitude: y, distance: d, score: score, member: member))
            return limit == 0 || points.count < limit
        }
        lastProcessed = i
    }
    return points
}
