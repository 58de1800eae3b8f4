import Glibc

/// LOLWUT [VERSION v] [arguments...]: computer art and the version, as redis-server 7.0's lolwut*.c.
///
/// The version asked for is printed as "%u.0.0" (a C unsigned int, so VERSION 4294967301 is 5) and matched
/// on its first characters: 5 draws Georg Nees's *Schotter* (squares more and more rotated and shifted as
/// rows go down, drawn with Bresenham lines on a 1-bit canvas rendered as Braille characters, 2x4 pixels
/// each), 6 draws a city skyline (skyscrapers in three grays, windows lit at random, rendered with ANSI
/// color escapes, one character per pixel), anything else only says "Redis ver. <version>". Both drawings
/// use the C library's `rand()`, as Redis does, so they differ from run to run; their sizes do not.
/// The reply is a verbatim string (RESP3 `=...txt:`), a bulk string in RESP2.

let lolwutCommands: [Command] = [
    Command("lolwut", arity: -1, flags: [.readonly, .fast], group: "server", since: "5.0.0",
            summary: "Display some computer art and the Redis version", complexity: "", handler: lolwut),
]

/// The version LOLWUT prints (INFO's redis_version).
private let lolwutVersion = ConfigError.bannerVersion

private func lolwut(_ c: Client) {
    var first = 1
    var version: String?
    if c.argc >= 3 && c.argIs(1, "version") {
        guard let v = c.int64Arg(2) else { return }
        version = "\(UInt32(truncatingIfNeeded: v)).0.0"
        first = 3
    }
    let v = Array((version ?? lolwutVersion).utf8)
    func at(_ i: Int) -> UInt8 { i < v.count ? v[i] : 0 }
    let dot = UInt8(ascii: "."), nine = UInt8(ascii: "9")
    var arguments: [Int64] = []
    func numbers(_ count: Int) -> Bool {
        for i in first..<min(c.argc, first + count) {
            guard let n = c.int64Arg(i) else { return false }
            arguments.append(n)
        }
        return true
    }
    if (at(0) == UInt8(ascii: "5") && at(1) == dot && at(2) != nine) || (at(0) == UInt8(ascii: "4") && at(1) == dot && at(2) == nine) {
        guard numbers(3) else { return }
        func arg(_ i: Int, _ def: Int64) -> Int { Int(min(max(i < arguments.count ? arguments[i] : def, 1), i == 0 ? 1000 : 200)) }
        let canvas = LolwutCanvas.schotter(columns: arg(0, 66), squaresPerRow: arg(1, 8), squaresPerColumn: arg(2, 12))
        c.reply.verbatim(canvas.renderBraille() + "\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. \(lolwutVersion)\n")
    } else if (at(0) == UInt8(ascii: "6") && at(1) == dot && at(2) != nine) || (at(0) == UInt8(ascii: "5") && at(1) == dot && at(2) == nine) {
        guard numbers(2) else { return }
        func arg(_ i: Int, _ def: Int64) -> Int { Int(min(max(i < arguments.count ? arguments[i] : def, 1), 1000)) }
        var canvas = LolwutCanvas(width: arg(0, 80), height: arg(1, 20), background: 3)
        canvas.drawSkyline()
        c.reply.verbatim(canvas.renderGrays() + "\nDedicated to the 8 bit game developers of past and present.\n"
            + "Original 8 bit image from Plaguemon by hikikomori. Redis ver. \(lolwutVersion)\n")
    } else {
        c.reply.verbatim("Redis ver. \(lolwutVersion)\n")
    }
}

/// Redis's `lwCanvas`: one byte per pixel (a color), drawing outside it is ignored.
struct LolwutCanvas {
    let width: Int
    let height: Int
    private(set) var pixels: [UInt8]

    init(width: Int, height: Int, background: UInt8) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: background, count: width * height)
    }

    mutating func draw(_ x: Int, _ y: Int, _ color: UInt8) {
        if x < 0 || x >= width || y < 0 || y >= height { return }
        pixels[x + y * width] = color
    }

    func pixel(_ x: Int, _ y: Int) -> UInt8 {
        if x < 0 || x >= width || y < 0 || y >= height { return 0 }
        return pixels[x + y * width]
    }

    /// Bresenham, as `lwDrawLine`.
    mutating func line(_ x1: Int, _ y1: Int, _ x2: Int, _ y2: Int, _ color: UInt8) {
        var x = x1, y = y1
        let dx = abs(x2 - x1), dy = abs(y2 - y1)
        let sx = x1 < x2 ? 1 : -1, sy = y1 < y2 ? 1 : -1
        var err = dx - dy
        while true {
            draw(x, y, color)
            if x == x2 && y == y2 { break }
            let e2 = err * 2
            if e2 > -dy { err -= dy; x += sx }
            if e2 < dx { err += dx; y += sy }
        }
    }

    /// `lwDrawSquare`: the four corners on a circle, starting at 45 degrees plus `angle` (C float and
    /// double arithmetic kept, so the corners land on the same pixels).
    mutating func square(_ x: Int, _ y: Int, size: Float, angle: Float, _ color: UInt8) {
        let shrunk = Float(Double(size) / 1.4142135623)
        let side = Float(Double(shrunk).rounded())
        var px = [Int](repeating: 0, count: 4), py = [Int](repeating: 0, count: 4)
        var k = Float(Double.pi / 4 + Double(angle))
        for j in 0..<4 {
            px[j] = Int((sin(Double(k)) * Double(side) + Double(x)).rounded())
            py[j] = Int((cos(Double(k)) * Double(side) + Double(y)).rounded())
            k = Float(Double(k) + Double.pi / 2)
        }
        for j in 0..<4 { line(px[j], py[j], px[(j + 1) % 4], py[(j + 1) % 4], color) }
    }

    /// `rand() / RAND_MAX` as a C float.
    private static func unitRandom() -> Float { Float(rand()) / Float(RAND_MAX) }

    /// `lwDrawSchotter`.
    static func schotter(columns: Int, squaresPerRow: Int, squaresPerColumn: Int) -> LolwutCanvas {
        let canvasWidth = columns * 2
        let padding = canvasWidth > 4 ? 2 : 0
        let side = Float(canvasWidth - padding * 2) / Float(squaresPerRow)
        let canvasHeight = Int(side * Float(squaresPerColumn) + Float(padding * 2))
        var canvas = LolwutCanvas(width: canvasWidth, height: canvasHeight, background: 0)
        for y in 0..<squaresPerColumn {
            for x in 0..<squaresPerRow {
                var sx = Int(Float(x) * side + side / 2 + Float(padding))
                var sy = Int(Float(y) * side + side / 2 + Float(padding))
                var angle: Float = 0
                if y > 1 {
                    var r1 = unitRandom() / Float(squaresPerColumn) * Float(y)
                    var r2 = unitRandom() / Float(squaresPerColumn) * Float(y)
                    var r3 = unitRandom() / Float(squaresPerColumn) * Float(y)
                    if rand() % 2 != 0 { r1 = -r1 }
                    if rand() % 2 != 0 { r2 = -r2 }
                    if rand() % 2 != 0 { r3 = -r3 }
                    angle = r1
                    sx = Int(Float(sx) + r2 * side / 3)
                    sy = Int(Float(sy) + r3 * side / 3)
                }
                canvas.square(sx, sy, size: side, angle: angle, 1)
            }
        }
        return canvas
    }

    /// LOLWUT 5's rendering: a Braille character per 2x4 pixels (dots 0-2 and 6 in the left column, 3-5 and
    /// 7 in the right). A newline follows each row of characters except when the canvas height is one more
    /// than a multiple of four (Redis's `y != height-1` test), so most drawings end with an empty line.
    private static let brailleDots: [(dx: Int, dy: Int)] = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (0, 3), (1, 3)]

    func renderBraille() -> String {
        var out: [UInt8] = []
        var y = 0
        while y < height {
            var x = 0
            while x < width {
                var byte = 0
                for bit in 0..<8 where pixel(x + LolwutCanvas.brailleDots[bit].dx, y + LolwutCanvas.brailleDots[bit].dy) != 0 {
                    byte |= 1 << bit
                }
                let code = 0x2800 + byte
                out += [UInt8(0xE0 | (code >> 12)), UInt8(0x80 | ((code >> 6) & 0x3F)), UInt8(0x80 | (code & 0x3F))]
                x += 2
            }
            if y != height - 1 { out.append(0x0A) }
            y += 4
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// LOLWUT 6's rendering: each pixel a space with the foreground and background of its gray.
    func renderGrays() -> String {
        let cellsByColor = ["0;30;40m", "0;90;100m", "0;37;47m", "0;97;107m"].map { Array("\u{1B}[\($0) \u{1B}[0m".utf8) }
        var out: [UInt8] = []
        out.reserveCapacity(width * height * 16)
        for y in 0..<height {
            for x in 0..<width {
                let color = Int(pixels[x + y * width])
                out.append(contentsOf: cellsByColor[color < 4 ? color : 0])
            }
            if y != height - 1 { out.append(0x0A) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `generateSkyscraper`: a building standing on the bottom row; windows (two pixels wide, one tall)
    /// in one of the two grays other than the building's.
    private mutating func skyscraper(xoff: Int, width w: Int, height h: Int, windows: Bool, color: UInt8) {
        let startY = height - 1
        let endY = startY - h + 1
        var y = startY
        while y >= endY {
            for x in xoff..<max(xoff, xoff + w) {
                if y == endY && (x <= xoff + 1 || x >= xoff + w - 2) { continue }     // the narrower roof
                var c = color
                if windows && x > xoff + 1 && x < xoff + w - 2 && y > endY + 1 && y < startY - 1 {
                    let relx = x - (xoff + 1), rely = y - (endY + 1)
                    if (relx / 2) % 2 != 0 && rely % 2 != 0 {
                        repeat { c = UInt8(1 + rand() % 2) } while c == color
                        if relx % 2 != 0 { c = pixel(x - 1, y) }
                    }
                }
                draw(x, y, c)
            }
            y -= 1
        }
    }

    /// `generateSkyline`: two rows of plain buildings (the lighter behind), then dark ones with windows.
    /// C's precedence is kept: `rand() % height / 2` is `(rand() % height) / 2`.
    mutating func drawSkyline() {
        for color in stride(from: 2, through: 1, by: -1) {
            var offset = -10
            while offset < width {
                offset += Int(rand() % 8)
                let w = 10 + Int(rand() % 9)
                let h = color == 2 ? height / 2 + Int(rand() % Int32(height)) / 2
                    : height / 2 + Int(rand() % Int32(height)) / 3
                skyscraper(xoff: offset, width: w, height: h, windows: false, color: UInt8(color))
                offset += color == 2 ? w / 2 : w + 1
            }
        }
        var offset = -10
        while offset < width {
            offset += Int(rand() % 8)
            var w = 5 + Int(rand() % 14)
            if w % 4 != 0 { w += w % 3 }
            let h = height / 3 + Int(rand() % Int32(height)) / 2
            skyscraper(xoff: offset, width: w, height: h, windows: true, color: 0)
            offset += w + 5
        }
    }
}
