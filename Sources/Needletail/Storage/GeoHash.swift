import Glibc

/// Redis's geohash arithmetic (geohash.c, geohash_helper.c), on which the GEO commands store and search
/// points in sorted sets. Replies must equal redis-server's to the last printed digit, so the computations are
/// Redis's own, in the same order, with the same libm calls:
/// - a point is a 52-bit score: the latitude's and longitude's offsets within their ranges (latitude limited
///   to +-85.05112878, the Web Mercator limit) as 26-bit integers, interleaved with the latitude's bits in
///   the even positions. Decoding gives the centre of the cell, clamped to the ranges;
/// - distances are the haversine great-circle distance on a sphere of radius 6372797.560856 m;
/// - a radius or box search computes a step (cell size) from the radius, the cell of the centre and its 8
///   neighbours (dropping those that cannot hold a match), and scans each cell's score range, keeping the
///   points inside the shape.
enum GeoHash {
    static let latitudeMin = -85.05112878
    static let latitudeMax = 85.05112878
    static let longitudeMin = -180.0
    static let longitudeMax = 180.0
    static let stepMax: UInt8 = 26
    static let earthRadius = 6372797.560856
    static let mercatorMax = 20037726.37
    static let degreesToRadians = Double.pi / 180.0

    struct Bits: Equatable {
        var bits: UInt64 = 0
        var step: UInt8 = 0
        var isZero: Bool { bits == 0 && step == 0 }
    }

    struct Range {
        var min: Double
        var max: Double
    }

    struct Area {
        var hash = Bits()
        var longitude = Range(min: 0, max: 0)
        var latitude = Range(min: 0, max: 0)
    }

    static let longitudeRange = Range(min: longitudeMin, max: longitudeMax)
    static let latitudeRange = Range(min: latitudeMin, max: latitudeMax)

    // MARK: - Interleaving

    /// The bits of `x` in the even positions and those of `y` in the odd ones.
    static func interleave(_ x: UInt32, _ y: UInt32) -> UInt64 {
        func spread(_ v: UInt32) -> UInt64 {
            var v = UInt64(v)
            v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF
            v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF
            v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F
            v = (v | (v << 2)) & 0x3333_3333_3333_3333
            v = (v | (v << 1)) & 0x5555_5555_5555_5555
            return v
        }
        return spread(x) | (spread(y) << 1)
    }

    /// The inverse: even bits in the low half, odd bits in the high half.
    static func deinterleave(_ v: UInt64) -> UInt64 {
        func squash(_ v: UInt64) -> UInt64 {
            var v = v & 0x5555_5555_5555_5555
            v = (v | (v >> 1)) & 0x3333_3333_3333_3333
            v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F
            v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF
            v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF
            v = (v | (v >> 16)) & 0x0000_0000_FFFF_FFFF
            return v
        }
        return squash(v) | (squash(v >> 1) << 32)
    }

    // MARK: - Encoding and decoding

    /// C's conversion of a double to uint32_t as x86-64 compilers emit it (through a 64-bit truncation).
    @inline(__always) static func cUInt32(_ d: Double) -> UInt32 {
        UInt32(truncatingIfNeeded: cInt64(d))
    }

    /// x86-64's cvttsd2si: truncation, and INT64_MIN for NaN and values out of range.
    @inline(__always) static func cInt64(_ d: Double) -> Int64 {
        guard d.isFinite, d > -9223372036854775809.0, d < 9223372036854775808.0 else { return .min }
        return Int64(d)
    }

    /// C's `(uint64_t)double` as x86-64 compilers emit it.
    @inline(__always) static func cUInt64(_ d: Double) -> UInt64 {
        if d < 9223372036854775808.0 { return UInt64(bitPattern: cInt64(d)) }
        return UInt64(bitPattern: cInt64(d - 9223372036854775808.0)) ^ (1 << 63)
    }

    /// Redis's geohashEncode; nil where it fails (a coordinate out of the ranges).
    static func encode(longitudeRange: Range = longitudeRange, latitudeRange: Range = latitudeRange,
                       longitude: Double, latitude: Double, step: UInt8) -> Bits? {
        if step > 32 || step == 0 { return nil }
        if longitude > longitudeMax || longitude < longitudeMin || latitude > latitudeMax || latitude < latitudeMin {
            return nil
        }
        if latitude < latitudeRange.min || latitude > latitudeRange.max
            || longitude < longitudeRange.min || longitude > longitudeRange.max { return nil }
        var latOffset = (latitude - latitudeRange.min) / (latitudeRange.max - latitudeRange.min)
        var longOffset = (longitude - longitudeRange.min) / (longitudeRange.max - longitudeRange.min)
        latOffset *= Double(UInt64(1) << UInt64(step))
        longOffset *= Double(UInt64(1) << UInt64(step))
        return Bits(bits: interleave(cUInt32(latOffset), cUInt32(longOffset)), step: step)
    }

    /// The 52-bit score of a point (GEOADD), or nil when the point is out of range.
    static func score(longitude: Double, latitude: Double) -> UInt64? {
        encode(longitude: longitude, latitude: latitude, step: stepMax).map(align52)
    }

    static func align52(_ hash: Bits) -> UInt64 { hash.bits << UInt64(52 - Int(hash.step) * 2) }

    /// Redis's geohashDecode: the cell a hash names.
    static func decode(_ hash: Bits, longitudeRange: Range = longitudeRange, latitudeRange: Range = latitudeRange) -> Area? {
        if hash.isZero { return nil }
        let separated = deinterleave(hash.bits)
        let latScale = latitudeRange.max - latitudeRange.min
        let longScale = longitudeRange.max - longitudeRange.min
        let ilat = UInt32(truncatingIfNeeded: separated)
        let ilon = UInt32(truncatingIfNeeded: separated >> 32)
        let cells = Double(UInt64(1) << UInt64(hash.step))
        var area = Area(hash: hash)
        area.latitude.min = latitudeRange.min + (Double(ilat) * 1.0 / cells) * latScale
        area.latitude.max = latitudeRange.min + (Double(ilat &+ 1) * 1.0 / cells) * latScale
        area.longitude.min = longitudeRange.min + (Double(ilon) * 1.0 / cells) * longScale
        area.longitude.max = longitudeRange.min + (Double(ilon &+ 1) * 1.0 / cells) * longScale
        return area
    }

    /// The position a sorted-set score stands for (Redis's decodeGeohash): the centre of its cell, clamped.
    static func position(ofScore score: Double) -> (longitude: Double, latitude: Double)? {
        guard let area = decode(Bits(bits: cUInt64(score), step: stepMax)) else { return nil }
        var x = (area.longitude.min + area.longitude.max) / 2
        if x > longitudeMax { x = longitudeMax }
        if x < longitudeMin { x = longitudeMin }
        var y = (area.latitude.min + area.latitude.max) / 2
        if y > latitudeMax { y = latitudeMax }
        if y < latitudeMin { y = latitudeMin }
        return (x, y)
    }

    /// GEOHASH's 11-character standard geohash of a score (re-encoded on the +-90 latitude range).
    static func standardHash(ofScore score: Double) -> [UInt8]? {
        guard let (x, y) = position(ofScore: score) else { return nil }
        let alphabet = Array("0123456789bcdefghjkmnpqrstuvwxyz".utf8)
        let bits = encode(longitudeRange: Range(min: -180, max: 180), latitudeRange: Range(min: -90, max: 90),
                          longitude: x, latitude: y, step: 26)?.bits ?? 0
        var text = [UInt8](repeating: alphabet[0], count: 11)   // 52 bits: the 11th character is always '0'
        for i in 0..<10 {
            let shift = UInt64(52 - (i + 1) * 5)
            text[i] = alphabet[Int((bits >> shift) & 0x1F)]
        }
        return text
    }

    // MARK: - Distances

    static func latitudeDistance(_ lat1: Double, _ lat2: Double) -> Double {
        earthRadius * fabs(lat2 * degreesToRadians - lat1 * degreesToRadians)
    }

    /// Redis's geohashGetDistance (haversine).
    static func distance(_ lon1: Double, _ lat1: Double, _ lon2: Double, _ lat2: Double) -> Double {
        let lat1r = lat1 * degreesToRadians
        let lon1r = lon1 * degreesToRadians
        let lat2r = lat2 * degreesToRadians
        let lon2r = lon2 * degreesToRadians
        let u = sin((lat2r - lat1r) / 2)
        let v = sin((lon2r - lon1r) / 2)
        return 2.0 * earthRadius * asin(sqrt(u * u + cos(lat1r) * cos(lat2r) * v * v))
    }

    // MARK: - Search areas

    /// A search shape: a circle of `radius`, or a box of `width` x `height`, in the unit `conversion` converts
    /// to meters, around (longitude, latitude).
    struct Shape {
        var longitude = 0.0
        var latitude = 0.0
        var conversion = 1.0
        var isBox = false
        var radius = 0.0
        var width = 0.0
        var height = 0.0
        /// min longitude, min latitude, max longitude, max latitude.
        var bounds = (0.0, 0.0, 0.0, 0.0)

        /// Whether a point lies inside, and its distance from the centre in meters (Redis's
        /// geoAppendIfWithinShape tests).
        func contains(_ x: Double, _ y: Double) -> Double? {
            if !isBox {
                let limit = radius * conversion
                // The great-circle distance is never shorter than the distance along the meridian, so a point
                // the latitude alone puts out of reach (with a margin for rounding) skips the haversine.
                if latitudeDistance(latitude, y) > limit * (1 + 1e-9) + 1e-3 { return nil }
                let d = GeoHash.distance(longitude, latitude, x, y)
                return d > limit ? nil : d
            }
            let lonDistance = GeoHash.distance(x, y, longitude, y)
            let latDistance = GeoHash.distance(x, y, x, latitude)
            if lonDistance > width * conversion / 2 || latDistance > height * conversion / 2 { return nil }
            return GeoHash.distance(longitude, latitude, x, y)
        }
    }

    static func estimateSteps(radius: Double, latitude: Double) -> UInt8 {
        if radius == 0 { return 26 }
        var range = radius
        var step = 1
        while range < mercatorMax {
            range *= 2
            step += 1
        }
        step -= 2
        if latitude > 66 || latitude < -66 {
            step -= 1
            if latitude > 80 || latitude < -80 { step -= 1 }
        }
        if step < 1 { step = 1 }
        if step > 26 { step = 26 }
        return UInt8(step)
    }

    static func boundingBox(_ shape: inout Shape) {
        let height = shape.conversion * (shape.isBox ? shape.height / 2 : shape.radius)
        let width = shape.conversion * (shape.isBox ? shape.width / 2 : shape.radius)
        let latDelta = height / earthRadius / degreesToRadians
        let longDeltaTop = width / earthRadius / cos((shape.latitude + latDelta) * degreesToRadians) / degreesToRadians
        let longDeltaBottom = width / earthRadius / cos((shape.latitude - latDelta) * degreesToRadians) / degreesToRadians
        let southern = shape.latitude < 0
        shape.bounds.0 = southern ? shape.longitude - longDeltaBottom : shape.longitude - longDeltaTop
        shape.bounds.2 = southern ? shape.longitude + longDeltaBottom : shape.longitude + longDeltaTop
        shape.bounds.1 = shape.latitude - latDelta
        shape.bounds.3 = shape.latitude + latDelta
    }

    private static func moveX(_ hash: inout Bits, _ d: Int) {
        if d == 0 { return }
        var x = hash.bits & 0xAAAA_AAAA_AAAA_AAAA
        let y = hash.bits & 0x5555_5555_5555_5555
        let shift = UInt64(64 - Int(hash.step) * 2)
        let zz: UInt64 = shift >= 64 ? 0 : 0x5555_5555_5555_5555 >> shift
        if d > 0 {
            x = x &+ (zz &+ 1)
        } else {
            x = x | zz
            x = x &- (zz &+ 1)
        }
        x &= shift >= 64 ? 0 : 0xAAAA_AAAA_AAAA_AAAA >> shift
        hash.bits = x | y
    }

    private static func moveY(_ hash: inout Bits, _ d: Int) {
        if d == 0 { return }
        let x = hash.bits & 0xAAAA_AAAA_AAAA_AAAA
        var y = hash.bits & 0x5555_5555_5555_5555
        let shift = UInt64(64 - Int(hash.step) * 2)
        let zz: UInt64 = shift >= 64 ? 0 : 0xAAAA_AAAA_AAAA_AAAA >> shift
        if d > 0 {
            y = y &+ (zz &+ 1)
        } else {
            y = y | zz
            y = y &- (zz &+ 1)
        }
        y &= shift >= 64 ? 0 : 0x5555_5555_5555_5555 >> shift
        hash.bits = x | y
    }

    private static func moved(_ hash: Bits, _ dx: Int, _ dy: Int) -> Bits {
        var h = hash
        moveX(&h, dx)
        moveY(&h, dy)
        return h
    }

    /// Redis's geohashCalculateAreasByShapeWGS84: the cells to scan, in Redis's order (centre, north, south,
    /// east, west, north-east, north-west, south-east, south-west), zero where a cell is excluded. Also sets
    /// the shape's bounding box.
    static func searchAreas(_ shape: inout Shape) -> [Bits] {
        boundingBox(&shape)
        let (minLon, minLat, maxLon, maxLat) = shape.bounds
        var radius = shape.isBox
            ? sqrt((shape.width / 2) * (shape.width / 2) + (shape.height / 2) * (shape.height / 2)) : shape.radius
        radius *= shape.conversion
        var steps = estimateSteps(radius: radius, latitude: shape.latitude)

        func cells(_ steps: UInt8) -> (Bits, [Bits], Area) {
            let hash = encode(longitude: shape.longitude, latitude: shape.latitude, step: steps)
                ?? Bits(bits: 0, step: steps)
            let neighbours = [moved(hash, 0, 1), moved(hash, 0, -1), moved(hash, 1, 0), moved(hash, -1, 0),
                              moved(hash, 1, 1), moved(hash, -1, 1), moved(hash, 1, -1), moved(hash, -1, -1)]
            let area = decode(hash) ?? Area(hash: hash)
            return (hash, neighbours, area)
        }
        var (hash, n, area) = cells(steps)
        // north 0, south 1, east 2, west 3, north-east 4, north-west 5, south-east 6, south-west 7
        var decrease = false
        let zeroArea = Area()
        if (decode(n[0]) ?? zeroArea).latitude.max < maxLat { decrease = true }
        if (decode(n[1]) ?? zeroArea).latitude.min > minLat { decrease = true }
        if (decode(n[2]) ?? zeroArea).longitude.max < maxLon { decrease = true }
        if (decode(n[3]) ?? zeroArea).longitude.min > minLon { decrease = true }
        if steps > 1 && decrease {
            steps -= 1
            (hash, n, area) = cells(steps)
        }
        if steps >= 2 {
            if area.latitude.min < minLat { n[1] = Bits(); n[7] = Bits(); n[6] = Bits() }
            if area.latitude.max > maxLat { n[0] = Bits(); n[4] = Bits(); n[5] = Bits() }
            if area.longitude.min < minLon { n[3] = Bits(); n[7] = Bits(); n[5] = Bits() }
            if area.longitude.max > maxLon { n[2] = Bits(); n[6] = Bits(); n[4] = Bits() }
        }
        return [hash] + n
    }

    /// The score range [min, max) of the points inside a cell.
    static func scoreRange(of hash: Bits) -> (min: UInt64, max: UInt64) {
        var next = hash
        next.bits &+= 1
        return (align52(hash), align52(next))
    }
}
