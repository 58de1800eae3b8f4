import CSystem

/// Bitmap commands (Redis's bitops.c): SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO over
/// plain string values. A bitmap is a string read most-significant bit first: bit `n` is bit `7 - n % 8` of
/// byte `n / 8`, so the bytes are exactly redis-server's and move between the servers by GET/SET, DUMP/RESTORE
/// or RDB unchanged.
///
/// Writes edit the stored string in place (`ByteString.withMutableBytes` inside `Database.modify`): SETBIT on
/// a 64 MB bitmap touches one byte, and growing a bitmap zero-fills the new bytes with sds's greedy room. Reads
/// count bits a word at a time (`cs_popcount`: POPCNT when the CPU has it) and scan for BITPOS word by word.
///
/// Order of checks is Redis 7.0's, for identical errors: arguments that do not depend on the value (offsets,
/// bit values, BITFIELD's whole list of operations) first, then the key's type; BITCOUNT and BITPOS look the
/// key up before parsing their range, so a missing key answers 0 / -1 whatever the range says.
/// Offsets are limited as Redis limits them: `offset / 8 < proto-max-bulk-len` (512 MB by default).

let bitmapCommands: [Command] = [
    Command("setbit", arity: 4, flags: [.write, .denyoom], keys: (1, 1, 1), group: "bitmap", since: "2.2.0",
            summary: "Sets or clears the bit at offset in the string value stored at key", complexity: "O(1)",
            handler: setbit),
    Command("getbit", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "bitmap", since: "2.2.0",
            summary: "Returns the bit value at offset in the string value stored at key", complexity: "O(1)",
            handler: getbit),
    Command("bitcount", arity: -2, flags: [.readonly], keys: (1, 1, 1), group: "bitmap", since: "2.6.0",
            summary: "Count set bits in a string", complexity: "O(N)", handler: bitcount),
    Command("bitpos", arity: -3, flags: [.readonly], keys: (1, 1, 1), group: "bitmap", since: "2.8.7",
            summary: "Find first bit set or clear in a string", complexity: "O(N)", handler: bitpos),
    Command("bitop", arity: -4, flags: [.write, .denyoom], keys: (2, -1, 1), group: "bitmap", since: "2.6.0",
            summary: "Perform bitwise operations between strings", complexity: "O(N)", handler: bitop),
    Command("bitfield", arity: -2, flags: [.write, .denyoom], keys: (1, 1, 1), group: "bitmap", since: "3.2.0",
            summary: "Perform arbitrary bitfield integer operations on strings",
            complexity: "O(1) for each subcommand specified", handler: bitfield),
    Command("bitfield_ro", arity: -2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "bitmap", since: "6.0.0",
            summary: "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
            complexity: "O(1) for each subcommand specified", handler: bitfieldRO),
]

extension KeyspaceEvent {
    static let setbit = KeyspaceEvent("setbit", .string)
}

// MARK: - Bit primitives (shared with the unit tests)

/// Bit `offset` of `bytes`, most significant bit of each byte first; bits past the end read 0.
@inline(__always) func bitValue(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> Int {
    let byte = offset >> 3
    guard byte < bytes.count else { return 0 }
    return Int(bytes[byte] >> (7 - UInt8(offset & 7))) & 1
}

@inline(__always) func setBitValue(_ bytes: UnsafeMutableRawBufferPointer, _ offset: Int, _ on: Bool) {
    let byte = offset >> 3
    let mask = UInt8(1) << (7 - UInt8(offset & 7))
    if on { bytes[byte] |= mask } else { bytes[byte] &= ~mask }
}

/// The set bits in `bytes` (Redis's redisPopcount).
@inline(__always) func popcount(_ bytes: UnsafeRawBufferPointer) -> Int {
    bytes.isEmpty ? 0 : Int(cs_popcount(bytes.baseAddress!, bytes.count))
}

/// Redis's redisBitpos: the position of the first bit equal to `bit` in `bytes`; -1 when looking for a 1 that
/// is not there, and `bytes.count * 8` (the first bit past the end, as if the string went on with zeros) when
/// looking for a 0 that is not there. Scans a word at a time.
func firstBit(_ bytes: UnsafeRawBufferPointer, _ bit: Int) -> Int {
    let skip: UInt64 = bit == 1 ? 0 : ~0
    var i = 0
    let n = bytes.count
    while i + 8 <= n {
        let word = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        if word != skip {
            let probe = bit == 1 ? word : ~word
            return i * 8 + probe.leadingZeroBitCount
        }
        i += 8
    }
    while i < n {
        let b = bit == 1 ? bytes[i] : ~bytes[i]
        if b != 0 { return i * 8 + b.leadingZeroBitCount }
        i += 1
    }
    return bit == 1 ? -1 : n * 8
}

/// BITFIELD's unsigned read of `bits` (1...64) bits at bit `offset`, most significant first.
func unsignedBitfield(_ bytes: UnsafeRawBufferPointer, offset: Int, bits: Int) -> UInt64 {
    var value: UInt64 = 0
    for j in 0..<bits { value = (value << 1) | UInt64(bitValue(bytes, offset + j)) }
    return value
}

func signedBitfield(_ bytes: UnsafeRawBufferPointer, offset: Int, bits: Int) -> Int64 {
    var value = unsignedBitfield(bytes, offset: offset, bits: bits)
    if bits < 64 && value & (1 << UInt64(bits - 1)) != 0 { value |= ~0 << UInt64(bits) }
    return Int64(bitPattern: value)
}

func setBitfield(_ bytes: UnsafeMutableRawBufferPointer, offset: Int, bits: Int, _ value: UInt64) {
    for j in 0..<bits {
        setBitValue(bytes, offset + j, value & (1 << UInt64(bits - 1 - j)) != 0)
    }
}

/// BITFIELD's OVERFLOW modes.
enum BitfieldOverflow { case wrap, sat, fail }

/// Redis's checkUnsignedBitfieldOverflow: whether `value + increment` leaves the range of a `bits`-bit
/// unsigned field, and the value to store then (wrapped or saturated; unused for FAIL).
func unsignedOverflow(_ value: UInt64, _ increment: Int64, bits: Int, _ mode: BitfieldOverflow) -> (overflow: Bool, limit: UInt64) {
    let max: UInt64 = bits == 64 ? .max : (1 << UInt64(bits)) - 1
    let maxIncrement = Int64(bitPattern: max &- value)
    let minIncrement = Int64(bitPattern: 0 &- value)
    func wrapped() -> UInt64 { (value &+ UInt64(bitPattern: increment)) & ~(bits == 64 ? 0 : ~0 << UInt64(bits)) }
    if value > max || (increment > 0 && increment > maxIncrement) {
        return (true, mode == .wrap ? wrapped() : max)
    }
    if increment < 0 && increment < minIncrement {
        return (true, mode == .wrap ? wrapped() : 0)
    }
    return (false, 0)
}

/// Redis's checkSignedBitfieldOverflow, for a `bits`-bit two's-complement field.
func signedOverflow(_ value: Int64, _ increment: Int64, bits: Int, _ mode: BitfieldOverflow) -> (overflow: Bool, limit: Int64) {
    let max: Int64 = bits == 64 ? .max : (1 << Int64(bits - 1)) - 1
    let min = -max - 1
    let maxIncrement = Int64(bitPattern: UInt64(bitPattern: max) &- UInt64(bitPattern: value))
    let minIncrement = min &- value
    func wrapped() -> Int64 {
        var c = UInt64(bitPattern: value) &+ UInt64(bitPattern: increment)
        if bits < 64 {
            let mask: UInt64 = ~0 << UInt64(bits)
            if c & (1 << UInt64(bits - 1)) != 0 { c |= mask } else { c &= ~mask }
        }
        return Int64(bitPattern: c)
    }
    if value > max || (bits != 64 && increment > maxIncrement) || (value >= 0 && increment > 0 && increment > maxIncrement) {
        return (true, mode == .wrap ? wrapped() : max)
    }
    if value < min || (bits != 64 && increment < minIncrement) || (value < 0 && increment < 0 && increment < minIncrement) {
        return (true, mode == .wrap ? wrapped() : min)
    }
    return (false, 0)
}

// MARK: - Arguments

/// Redis's getBitOffsetFromArgument: a non-negative integer whose byte lies within proto-max-bulk-len; with
/// `hashBits` (BITFIELD), "#n" means n * bits.
private func bitOffset(_ c: Client, _ i: Int, hashBits: Int? = nil) -> Int? {
    var bytes = c.arg(i)
    var multiply = false
    if hashBits != nil, bytes.first == UInt8(ascii: "#") {
        bytes = UnsafeRawBufferPointer(rebasing: bytes[1...])
        multiply = true
    }
    guard var offset = parseInt64(bytes) else {
        c.reply.error("ERR bit offset is not an integer or out of range")
        return nil
    }
    if multiply { offset = offset &* Int64(hashBits!) }
    guard offset >= 0, offset >> 3 < Int64(c.server.config.protoMaxBulkLen) else {
        c.reply.error("ERR bit offset is not an integer or out of range")
        return nil
    }
    return Int(offset)
}

/// Redis's getBitfieldTypeFromArgument: i1..i64 or u1..u63 (the digits read as a C string).
private func bitfieldType(_ c: Client, _ i: Int) -> (signed: Bool, bits: Int)? {
    let arg = cStringPrefix(c.arg(i))
    let error: StaticString = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
    guard let first = arg.first, first == UInt8(ascii: "i") || first == UInt8(ascii: "u") else {  // lowercase only
        c.reply.error(error)
        return nil
    }
    let signed = first == UInt8(ascii: "i")
    guard let bits = parseInt64(UnsafeRawBufferPointer(rebasing: arg[1...])), bits >= 1, bits <= (signed ? 64 : 63) else {
        c.reply.error(error)
        return nil
    }
    return (signed, Int(bits))
}

// MARK: - SETBIT, GETBIT

private enum BitmapEdit<R> { case wrongType, done(R, Bool) }

/// The string value at argument 1 made at least `length` bytes long and edited by `body` in place, or created
/// (zero bytes, "raw") when missing (Redis's lookupStringForBitCommand). Returns nil after a WRONGTYPE reply;
/// otherwise `body`'s result and whether the key was created or grown.
private func editBitmap<R>(_ c: Client, length: Int, _ body: (UnsafeMutableRawBufferPointer) -> R) -> (R, grown: Bool)? {
    let key = c.arg(1)
    let outcome = c.db.modify(key, now: c.now) { value, hint -> BitmapEdit<R> in
        guard case .string(var s) = value else { return .wrongType }
        value = .string(.empty)  // the entry lets go, so `s` can be edited in place
        let before = s.count
        let result = s.withMutableBytes(growingTo: length, body)
        let grown = s.count != before
        value = .string(s)
        hint = .raw
        return .done(result, grown)
    }
    switch outcome {
    case .some(.wrongType):
        c.replyWrongType()
        return nil
    case .some(.done(let result, let grown)):
        return (result, grown)
    case nil:
        var s = ByteString.empty
        let result = s.withMutableBytes(growingTo: length, body)
        c.db.add(ByteString(key), .string(s), hint: .raw, event: .none, changes: 0)
        return (result, true)
    }
}

private func setbit(_ c: Client) {
    guard let offset = bitOffset(c, 2) else { return }
    let on = c.arg(3)
    guard let bit = parseInt64(on), bit & ~1 == 0 else {
        return c.reply.error("ERR bit is not an integer or out of range")
    }
    guard let (old, grown) = editBitmap(c, length: offset >> 3 + 1, { bytes -> Int in
        let old = bitValue(UnsafeRawBufferPointer(bytes), offset)
        setBitValue(bytes, offset, bit == 1)
        return old
    }) else { return }
    // A change only when the key was created or grown, or the bit flipped (Redis 7.0.15: no notification,
    // dirty count or propagation for a SETBIT that changes nothing).
    if grown || old != Int(bit) { c.db.didModify(c.arg(1), .setbit) }
    c.reply.integer(old)
}

private func getbit(_ c: Client) {
    guard let offset = bitOffset(c, 2) else { return }
    guard let value = c.db.lookup(c.arg(1), now: c.now) else { return c.reply.integer(0) }
    guard case .string(let s) = value else { return c.replyWrongType() }
    c.reply.integer(s.withUnsafeBytes { bitValue($0, offset) })
}

// MARK: - BITCOUNT, BITPOS

/// The string at argument 1 for a read; nil after replying `missing` or WRONGTYPE.
private func readBitmap(_ c: Client, missing: (Client) -> Void) -> ByteString? {
    guard let value = c.db.lookup(c.arg(1), now: c.now) else {
        missing(c)
        return nil
    }
    guard case .string(let s) = value else {
        c.replyWrongType()
        return nil
    }
    return s
}

/// Whether argument `i` is BIT (true) or BYTE (false); nil after a syntax error.
private func bitUnit(_ c: Client, _ i: Int) -> Bool? {
    if argOptionIs(c, i, "bit") { return true }
    if argOptionIs(c, i, "byte") { return false }
    c.replySyntaxError()
    return nil
}

/// A range normalised as Redis does (negative indexes from the end, clamped), in bytes, with the masks of the
/// bits to leave out of the first and last bytes for a BIT range.
private struct BitRange {
    var start: Int64
    var end: Int64
    var firstMask: UInt8 = 0
    var lastMask: UInt8 = 0

    init(start: Int64, end: Int64, length: Int64, isBit: Bool) {
        let total = isBit ? length << 3 : length
        var s = start, e = end
        if s < 0 { s = total + s }
        if e < 0 { e = total + e }
        if s < 0 { s = 0 }
        if e < 0 { e = 0 }
        if e >= total { e = total - 1 }
        if isBit && s <= e {
            firstMask = ~UInt8(truncatingIfNeeded: (1 << (8 - (s & 7))) - 1)
            lastMask = UInt8(truncatingIfNeeded: (1 << (7 - (e & 7))) - 1)
            s >>= 3
            e >>= 3
        }
        self.start = s
        self.end = e
    }
}

private func bitcount(_ c: Client) {
    guard let s = readBitmap(c, missing: { $0.reply.integer(0) }) else { return }
    let length = Int64(s.count)
    var range: BitRange
    if c.argc == 4 || c.argc == 5 {
        guard let start = c.int64Arg(2), let end = c.int64Arg(3) else { return }
        if start < 0 && end < 0 && start > end { return c.reply.integer(0) }  // before the unit, as 7.0
        var isBit = false
        if c.argc == 5 {
            guard let unit = bitUnit(c, 4) else { return }
            isBit = unit
        }
        range = BitRange(start: start, end: end, length: length, isBit: isBit)
    } else if c.argc == 2 {
        range = BitRange(start: 0, end: length - 1, length: length, isBit: false)
    } else {
        return c.replySyntaxError()
    }
    if range.start > range.end { return c.reply.integer(0) }
    let count = s.withUnsafeBytes { bytes -> Int in
        let start = Int(range.start), end = Int(range.end)
        var n = popcount(UnsafeRawBufferPointer(rebasing: bytes[start...end]))
        if range.firstMask != 0 { n -= (bytes[start] & range.firstMask).nonzeroBitCount }
        if range.lastMask != 0 { n -= (bytes[end] & range.lastMask).nonzeroBitCount }
        return n
    }
    c.reply.integer(count)
}

private func bitpos(_ c: Client) {
    guard let bitArg = c.int64Arg(2) else { return }
    guard bitArg == 0 || bitArg == 1 else { return c.reply.error("ERR The bit argument must be 1 or 0.") }
    let bit = Int(bitArg)
    guard let s = readBitmap(c, missing: { $0.reply.integer(bit == 1 ? -1 : 0) }) else { return }
    let length = Int64(s.count)
    var range: BitRange
    var endGiven = false
    if c.argc >= 4 && c.argc <= 6 {
        guard let start = c.int64Arg(3) else { return }
        var isBit = false
        if c.argc == 6 {
            guard let unit = bitUnit(c, 5) else { return }
            isBit = unit
        }
        var end: Int64
        if c.argc >= 5 {
            guard let e = c.int64Arg(4) else { return }
            end = e
            endGiven = true
        } else {
            end = isBit ? (length << 3) + 7 : length - 1
        }
        range = BitRange(start: start, end: end, length: length, isBit: isBit)
    } else if c.argc == 3 {
        range = BitRange(start: 0, end: length - 1, length: length, isBit: false)
    } else {
        return c.replySyntaxError()
    }
    if range.start > range.end { return c.reply.integer(-1) }
    let position = s.withUnsafeBytes { p -> Int64 in
        var start = Int(range.start)
        let end = Int(range.end)
        var bytes = end - start + 1
        var pos: Int
        func finish(_ pos: Int) -> Int64 {
            if endGiven && bit == 0 && pos == bytes << 3 { return -1 }
            return pos == -1 ? -1 : Int64(pos + start << 3)
        }
        if range.firstMask != 0 {
            var b = bit == 1 ? p[start] & ~range.firstMask : p[start] | range.firstMask
            if range.lastMask != 0 && bytes == 1 {
                b = bit == 1 ? b & ~range.lastMask : b | range.lastMask
            }
            pos = withUnsafeBytes(of: &b) { firstBit($0, bit) }
            if bytes == 1 || (pos != -1 && pos != 8) { return finish(pos) }
            start += 1
            bytes -= 1
        }
        let whole = bytes - (range.lastMask != 0 ? 1 : 0)
        if whole > 0 {
            pos = firstBit(UnsafeRawBufferPointer(rebasing: p[start..<(start + whole)]), bit)
            if bytes == whole || (pos != -1 && pos != whole << 3) { return finish(pos) }
            start += whole
            bytes -= whole
        }
        var b = bit == 1 ? p[end] & ~range.lastMask : p[end] | range.lastMask
        pos = withUnsafeBytes(of: &b) { firstBit($0, bit) }
        return finish(pos)
    }
    c.reply.integer(position)
}

// MARK: - BITOP

private func bitop(_ c: Client) {
    enum Op { case and, or, xor, not }
    let op: Op
    if argOptionIs(c, 1, "and") { op = .and }
    else if argOptionIs(c, 1, "or") { op = .or }
    else if argOptionIs(c, 1, "xor") { op = .xor }
    else if argOptionIs(c, 1, "not") { op = .not }
    else { return c.replySyntaxError() }
    if op == .not && c.argc != 4 {
        return c.reply.error("ERR BITOP NOT must be called with a single source key.")
    }
    var sources: [ByteString] = []
    sources.reserveCapacity(c.argc - 3)
    let now = c.now
    for i in 3..<c.argc {
        if let value = c.db.lookup(c.arg(i), now: now) {
            guard case .string(let s) = value else { return c.replyWrongType() }
            sources.append(s)
        } else {
            sources.append(.empty)
        }
    }
    let maxLength = sources.reduce(0) { max($0, $1.count) }
    let destination = c.argBytes(2)
    guard maxLength > 0 else {
        c.db.remove(destination)
        return c.reply.integer(0)
    }
    let result = ByteString(count: maxLength) { out in
        let words = maxLength / 8
        sources[0].withUnsafeBytes { first in
            out.initializeMemory(as: UInt8.self, repeating: 0)
            if !first.isEmpty { out.baseAddress!.copyMemory(from: first.baseAddress!, byteCount: first.count) }
        }
        if op == .not {
            for w in 0..<words {
                out.storeBytes(of: ~out.loadUnaligned(fromByteOffset: w * 8, as: UInt64.self), toByteOffset: w * 8, as: UInt64.self)
            }
            for i in (words * 8)..<maxLength { out[i] = ~out[i] }
            return
        }
        for source in sources.dropFirst() {
            source.withUnsafeBytes { src in
                // Bytes past a source's end read as zero: AND clears them, OR and XOR leave them.
                let common = src.count
                let commonWords = common / 8
                for w in 0..<commonWords {
                    let a = out.loadUnaligned(fromByteOffset: w * 8, as: UInt64.self)
                    let b = src.loadUnaligned(fromByteOffset: w * 8, as: UInt64.self)
                    let r: UInt64 = op == .and ? a & b : op == .or ? a | b : a ^ b
                    out.storeBytes(of: r, toByteOffset: w * 8, as: UInt64.self)
                }
                for i in (commonWords * 8)..<common {
                    out[i] = op == .and ? out[i] & src[i] : op == .or ? out[i] | src[i] : out[i] ^ src[i]
                }
                if op == .and && common < maxLength {
                    (out.baseAddress! + common).initializeMemory(as: UInt8.self, repeating: 0, count: maxLength - common)
                }
            }
        }
    }
    c.db.set(destination, .string(result), hint: .raw, event: .set)
    c.reply.integer(maxLength)
}

// MARK: - BITFIELD

private struct BitfieldOp {
    enum Kind { case get, set, incrby }
    var kind: Kind
    var offset: Int
    var bits: Int
    var signed: Bool
    var value: Int64
    var overflow: BitfieldOverflow
}

private func bitfield(_ c: Client) { bitfieldGeneric(c, readOnly: false) }
private func bitfieldRO(_ c: Client) { bitfieldGeneric(c, readOnly: true) }

/// Redis's bitfieldGeneric: every operation is parsed (and every error reported) before the key is touched;
/// OVERFLOW applies to the SET and INCRBY operations after it.
private func bitfieldGeneric(_ c: Client, readOnly: Bool) {
    var ops: [BitfieldOp] = []
    var overflow = BitfieldOverflow.wrap
    var writes = false
    var highestWrite = 0
    var j = 2
    while j < c.argc {
        let remaining = c.argc - j - 1
        let kind: BitfieldOp.Kind
        if argOptionIs(c, j, "get") && remaining >= 2 { kind = .get }
        else if argOptionIs(c, j, "set") && remaining >= 3 { kind = .set }
        else if argOptionIs(c, j, "incrby") && remaining >= 3 { kind = .incrby }
        else if argOptionIs(c, j, "overflow") && remaining >= 1 {
            if argOptionIs(c, j + 1, "wrap") { overflow = .wrap }
            else if argOptionIs(c, j + 1, "sat") { overflow = .sat }
            else if argOptionIs(c, j + 1, "fail") { overflow = .fail }
            else { return c.reply.error("ERR Invalid OVERFLOW type specified") }
            j += 2
            continue
        } else {
            return c.replySyntaxError()
        }
        guard let (signed, bits) = bitfieldType(c, j + 1) else { return }
        guard let offset = bitOffset(c, j + 2, hashBits: bits) else { return }
        var value: Int64 = 0
        if kind != .get {
            writes = true
            highestWrite = max(highestWrite, offset + bits - 1)
            guard let v = c.int64Arg(j + 3) else { return }
            value = v
        }
        ops.append(BitfieldOp(kind: kind, offset: offset, bits: bits, signed: signed, value: value, overflow: overflow))
        j += kind == .get ? 3 : 4
    }

    if !writes {
        var s = ByteString.empty
        if let value = c.db.lookup(c.arg(1), now: c.now) {
            guard case .string(let stored) = value else { return c.replyWrongType() }
            s = stored
        }
        c.reply.array(ops.count)
        s.withUnsafeBytes { bytes in
            for op in ops { replyBitfieldGet(c, bytes, op) }
        }
        return
    }
    if readOnly { return c.reply.error("ERR BITFIELD_RO only supports the GET subcommand") }

    // Replies are computed while the string is edited, then written out.
    enum Answer { case integer(Int64), null }
    // Redis 7.0.15 counts a write that changed a value, or any write when the key was created or grown.
    var changed = 0, written = 0
    guard let (answers, grown) = editBitmap(c, length: highestWrite >> 3 + 1, { bytes -> [Answer] in
        var answers: [Answer] = []
        answers.reserveCapacity(ops.count)
        let view = UnsafeRawBufferPointer(bytes)
        for op in ops {
            switch op.kind {
            case .get:
                answers.append(.integer(op.signed ? signedBitfield(view, offset: op.offset, bits: op.bits)
                                                  : Int64(bitPattern: unsignedBitfield(view, offset: op.offset, bits: op.bits))))
            case .set, .incrby:
                if op.signed {
                    let old = signedBitfield(view, offset: op.offset, bits: op.bits)
                    var new: Int64, reply: Int64
                    let check: (overflow: Bool, limit: Int64)
                    if op.kind == .incrby {
                        check = signedOverflow(old, op.value, bits: op.bits, op.overflow)
                        new = check.overflow ? check.limit : old &+ op.value
                        reply = new
                    } else {
                        check = signedOverflow(op.value, 0, bits: op.bits, op.overflow)
                        new = check.overflow ? check.limit : op.value
                        reply = old
                    }
                    if check.overflow && op.overflow == .fail {
                        answers.append(.null)
                    } else {
                        answers.append(.integer(reply))
                        written += 1
                        if new != old { changed += 1 }
                        setBitfield(bytes, offset: op.offset, bits: op.bits, UInt64(bitPattern: new))
                    }
                } else {
                    let old = unsignedBitfield(view, offset: op.offset, bits: op.bits)
                    var new: UInt64, reply: UInt64
                    let check: (overflow: Bool, limit: UInt64)
                    if op.kind == .incrby {
                        check = unsignedOverflow(old, op.value, bits: op.bits, op.overflow)
                        new = check.overflow ? check.limit : old &+ UInt64(bitPattern: op.value)
                        reply = new
                    } else {
                        check = unsignedOverflow(UInt64(bitPattern: op.value), 0, bits: op.bits, op.overflow)
                        new = check.overflow ? check.limit : UInt64(bitPattern: op.value)
                        reply = old
                    }
                    if check.overflow && op.overflow == .fail {
                        answers.append(.null)
                    } else {
                        answers.append(.integer(Int64(bitPattern: reply)))
                        written += 1
                        if new != old { changed += 1 }
                        setBitfield(bytes, offset: op.offset, bits: op.bits, new)
                    }
                }
            }
        }
        return answers
    }) else { return }
    let changes = grown ? written : changed
    if changes > 0 { c.db.didModify(c.arg(1), .setbit, changes: changes) }
    c.reply.array(answers.count)
    for answer in answers {
        switch answer {
        case .integer(let v): c.reply.integer(v)
        case .null: c.reply.null()
        }
    }
}

/// BITFIELD GET: bits past the end of the string read as zeros.
private func replyBitfieldGet(_ c: Client, _ bytes: UnsafeRawBufferPointer, _ op: BitfieldOp) {
    if op.signed {
        c.reply.integer(signedBitfield(bytes, offset: op.offset, bits: op.bits))
    } else {
        c.reply.integer(Int64(bitPattern: unsignedBitfield(bytes, offset: op.offset, bits: op.bits)))
    }
}
