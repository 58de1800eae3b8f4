import CSystem
import Glibc

// The packed node of a list and the elements in it: their codes (ListEntry as read, PackedElement as
// written), the node's block and its layout (ListNode), and the cursor that walks a node either way
// (NodeCursor). ListValue.swift describes the encoding and the layout; ListValue is the deque of nodes.

// MARK: - Elements

/// A stored element as commands see it: its code and its bytes, valid only for the duration of the call
/// that hands it out. An element of a prefixed node (see ListValue, "Prefixes") comes in two pieces: the
/// prefix its node stores once, and the rest; everywhere else `prefix` is empty and `suffix` is all of it.
struct ListEntry {
    /// The element's code (see ListValue), as a node without a prefix stores it: a string length up to 191,
    /// 0xC1...0xC8 for an integer, 0xF0 or 0xF1 for a long string.
    let head: UInt8
    /// The bytes the element shares with the rest of its node (a string's first bytes), or none.
    let prefix: UnsafeRawBufferPointer
    /// The element's other bytes: all of them outside prefixed nodes; an integer's little-endian bytes.
    let suffix: UnsafeRawBufferPointer

    @inline(__always) init(head: UInt8, data: UnsafeRawBufferPointer) {
        self.head = head
        prefix = UnsafeRawBufferPointer(start: nil, count: 0)
        suffix = data
    }

    @inline(__always) init(head: UInt8, prefix: UnsafeRawBufferPointer, suffix: UnsafeRawBufferPointer) {
        self.head = head
        self.prefix = prefix
        self.suffix = suffix
    }

    @inline(__always) var isInteger: Bool { head > 0xC0 && head <= 0xC8 }

    /// Bytes of data: a string's length, an integer's width.
    @inline(__always) var dataLength: Int { prefix.count + suffix.count }

    /// The integer an integer element holds.
    @inline(__always) var integer: Int64 { loadInteger(suffix.baseAddress!, width: suffix.count) }

    /// Calls `body` with the element's data in one piece: `suffix` itself, or prefix and suffix copied to
    /// the stack (a prefixed element is at most 191 bytes).
    @inline(__always) func withData<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if prefix.count == 0 { return try body(suffix) }
        precondition(dataLength <= 191, "a prefixed element of \(dataLength) bytes")
        return try withUnsafeTemporaryAllocation(byteCount: 192, alignment: 8) { raw in
            raw.baseAddress!.copyMemory(from: prefix.baseAddress!, byteCount: prefix.count)
            if suffix.count > 0 {
                (raw.baseAddress! + prefix.count).copyMemory(from: suffix.baseAddress!, byteCount: suffix.count)
            }
            return try body(UnsafeRawBufferPointer(start: raw.baseAddress!, count: dataLength))
        }
    }

    /// Copies the element's data (prefix, then suffix) to `p`.
    @inline(__always) func copyData(to p: UnsafeMutableRawPointer) {
        if prefix.count > 0 { p.copyMemory(from: prefix.baseAddress!, byteCount: prefix.count) }
        if suffix.count > 0 { (p + prefix.count).copyMemory(from: suffix.baseAddress!, byteCount: suffix.count) }
    }

    /// The element's bytes, as a client sent them.
    var byteString: ByteString {
        if isInteger {
            var digits = (UInt64(0), UInt64(0), UInt64(0))
            return withUnsafeMutableBytes(of: &digits) { raw in
                let n = writeInt64(integer, to: raw.baseAddress!)
                return ByteString(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
            }
        }
        return withData { ByteString($0) }
    }

    /// Whether the element's bytes are `other`'s (an argument packed once with `PackedElement`).
    @inline(__always) func equals(_ other: PackedElement) -> Bool {
        guard head == other.code && dataLength == other.dataLength else { return false }
        if isInteger { return integer == other.integer }
        if dataLength == 0 { return true }
        let p = prefix.count
        if p > 0 && memcmp(prefix.baseAddress!, other.bytes.baseAddress!, p) != 0 { return false }
        return suffix.count == 0 || memcmp(suffix.baseAddress!, other.bytes.baseAddress! + p, suffix.count) == 0
    }

    /// Bytes of its code: 1, or 4 / 6 for a long string.
    @inline(__always) var codeLength: Int { head == 0xF0 ? 4 : head == 0xF1 ? 6 : 1 }
}

/// An element about to be stored (or compared): its code and data, computed once from the client's bytes.
struct PackedElement {
    let code: UInt8
    let codeLength: Int
    let dataLength: Int
    let integer: Int64
    let bytes: UnsafeRawBufferPointer

    @inline(__always) init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        if bytes.count <= 20, let v = parseInt64(bytes) {
            integer = v
            let width = integerWidth(v)
            code = 0xC0 + UInt8(width)
            codeLength = 1
            dataLength = width
        } else {
            integer = 0
            let n = bytes.count
            dataLength = n
            if n <= 0xBF {
                code = UInt8(n)
                codeLength = 1
            } else if n <= 0xFFFF {
                code = 0xF0
                codeLength = 4
            } else {
                precondition(n <= Int(UInt32.max) - 64, "list element too large")
                code = 0xF1
                codeLength = 6
            }
        }
    }

    /// An integer element (a listpack's integer entry).
    @inline(__always) init(integer v: Int64) {
        integer = v
        dataLength = integerWidth(v)
        code = 0xC0 + UInt8(dataLength)
        codeLength = 1
        bytes = UnsafeRawBufferPointer(start: nil, count: 0)
    }

    /// An element read from a list, to store in another one (not from a prefixed node: its data is in two
    /// pieces; see `ListEntry.withData`).
    @inline(__always) init(_ entry: ListEntry) {
        precondition(entry.prefix.count == 0, "a prefixed element has no contiguous bytes")
        code = entry.head
        codeLength = entry.codeLength
        dataLength = entry.suffix.count
        integer = entry.isInteger ? entry.integer : 0
        bytes = entry.suffix
    }

    /// The logical size: code plus data.
    @inline(__always) var size: Int { codeLength + dataLength }

    @inline(__always) func writeCode(to p: UnsafeMutableRawPointer) {
        writeListCode(code, dataLength: dataLength, to: p)
    }

    @inline(__always) func writeData(to p: UnsafeMutableRawPointer) {
        if code > 0xC0 && code <= 0xC8 {
            var v = integer.littleEndian
            withUnsafeBytes(of: &v) { p.copyMemory(from: $0.baseAddress!, byteCount: dataLength) }
        } else if dataLength > 0 {
            p.copyMemory(from: bytes.baseAddress!, byteCount: dataLength)
        }
    }
}

/// Writes the code `head` of an element of `dataLength` bytes (1, 4 or 6 bytes).
@inline(__always) func writeListCode(_ head: UInt8, dataLength: Int, to p: UnsafeMutableRawPointer) {
    p.storeBytes(of: head, as: UInt8.self)
    if head == 0xF0 {
        p.storeBytes(of: UInt16(dataLength).littleEndian, toByteOffset: 1, as: UInt16.self)
        p.storeBytes(of: head, toByteOffset: 3, as: UInt8.self)
    } else if head == 0xF1 {
        p.storeBytes(of: UInt32(dataLength).littleEndian, toByteOffset: 1, as: UInt32.self)
        p.storeBytes(of: head, toByteOffset: 5, as: UInt8.self)
    }
}

/// Bytes needed for `v` in two's complement: 1 to 8.
@inline(__always) func integerWidth(_ v: Int64) -> Int {
    let magnitude = UInt64(bitPattern: v ^ (v >> 63))
    let bits = 65 - magnitude.leadingZeroBitCount  // value bits plus the sign bit
    return (bits + 7) >> 3
}

/// Reads a `width`-byte little-endian two's complement integer.
@inline(__always) func loadInteger(_ p: UnsafeRawPointer, width: Int) -> Int64 {
    let shift = UInt64(64 - 8 * width)
    return Int64(bitPattern: loadWord(p, count: width) << shift) >> shift
}

/// The data width of a one-byte code.
@inline(__always) func listCodeWidth(_ head: UInt8) -> Int {
    head < 0xC0 ? Int(head) : Int(head &- 0xC0)
}

// MARK: - Nodes

/// One node: its block and where its codes and data lie in it (see ListValue). 32-bit offsets keep the
/// directory entry at 40 bytes; an element is at most 4 GB.
struct ListNode {
    var base: UnsafeMutableRawPointer
    private var _capacity: UInt32
    private var _count: UInt32
    private var _codeStart: UInt32
    private var _codeEnd: UInt32
    private var _dataStart: UInt32
    private var _dataEnd: UInt32
    /// The code every element has when the node stores no codes, `ListNode.mixed` otherwise. In a prefixed
    /// node, codes (and this one) count the bytes after the prefix.
    var uniform: UInt8
    /// Bytes every element starts with, stored once at the start of the block (ListValue, "Prefixes").
    private var _prefix: UInt8 = 0

    static let mixed: UInt8 = 0xFF

    @inline(__always) var capacity: Int { get { Int(_capacity) } set { _capacity = UInt32(newValue) } }
    @inline(__always) var count: UInt32 { get { _count } set { _count = newValue } }
    @inline(__always) var codeStart: Int { get { Int(_codeStart) } set { _codeStart = UInt32(newValue) } }
    @inline(__always) var codeEnd: Int { get { Int(_codeEnd) } set { _codeEnd = UInt32(newValue) } }
    @inline(__always) var dataStart: Int { get { Int(_dataStart) } set { _dataStart = UInt32(newValue) } }
    @inline(__always) var dataEnd: Int { get { Int(_dataEnd) } set { _dataEnd = UInt32(newValue) } }

    @inline(__always) var isUniform: Bool { uniform != ListNode.mixed }
    @inline(__always) var prefixLength: Int { Int(_prefix) }
    @inline(__always) var codeBytes: Int { codeEnd - codeStart }
    @inline(__always) var dataBytes: Int { dataEnd - dataStart }
    /// What the node's bound counts: data (with the prefix of each element), plus one code byte per
    /// element, plus long-string code bytes.
    @inline(__always) var logicalSize: Int {
        (isUniform ? Int(count) : codeBytes) + dataBytes + prefixLength * Int(count)
    }
    /// Bytes in use in the block.
    @inline(__always) var usedBytes: Int { prefixLength + codeBytes + dataBytes }

    /// A node holding one element, with room to grow toward the end it was pushed at.
    init(_ e: PackedElement, atHead: Bool, room slack: Int) {
        let mixed = e.codeLength != 1
        let codeLength = mixed ? e.codeLength : 0
        let codeSlack = mixed ? 8 : 0
        uniform = mixed ? ListNode.mixed : e.code
        _count = 1
        _codeStart = UInt32(atHead ? codeSlack : 0)
        _codeEnd = _codeStart + UInt32(codeLength)
        _dataStart = _codeEnd + UInt32(atHead ? slack : codeSlack)
        _dataEnd = _dataStart + UInt32(e.dataLength)
        _capacity = _dataEnd + UInt32(atHead ? 0 : slack)
        base = malloc(Int(_capacity))!
        if !atHead { _capacity = UInt32(min(cs_malloc_usable_size(base), Int(UInt32.max))) }
        if mixed { e.writeCode(to: base + Int(_codeStart)) }
        e.writeData(to: base + Int(_dataStart))
    }

    /// A sealed node from codes (nil for a uniform node with code `uniform`) and data, copied.
    init(count: Int, uniform: UInt8, codes: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer) {
        let codeLength = uniform == ListNode.mixed ? codes.count : 0
        let capacity = max(1, codeLength + data.count)
        base = malloc(capacity)!
        _capacity = UInt32(capacity)
        _count = UInt32(count)
        self.uniform = uniform
        _codeStart = 0
        _codeEnd = UInt32(codeLength)
        _dataStart = _codeEnd
        _dataEnd = _dataStart + UInt32(data.count)
        if codeLength > 0 { base.copyMemory(from: codes.baseAddress!, byteCount: codeLength) }
        if data.count > 0 { (base + codeLength).copyMemory(from: data.baseAddress!, byteCount: data.count) }
    }

    /// One sealed node holding `a`'s elements then `b`'s (neither prefixed: see `restorePrefix`).
    init(concatenating a: ListNode, _ b: ListNode) {
        precondition(a._prefix == 0 && b._prefix == 0, "concatenating a prefixed node")
        let uniform = a.uniform == b.uniform ? a.uniform : ListNode.mixed
        let codesA = uniform == ListNode.mixed ? (a.isUniform ? Int(a.count) : a.codeBytes) : 0
        let codesB = uniform == ListNode.mixed ? (b.isUniform ? Int(b.count) : b.codeBytes) : 0
        let capacity = max(1, codesA + codesB + a.dataBytes + b.dataBytes)
        base = malloc(capacity)!
        _capacity = UInt32(capacity)
        _count = a._count + b._count
        self.uniform = uniform
        _codeStart = 0
        _codeEnd = UInt32(codesA + codesB)
        _dataStart = _codeEnd
        _dataEnd = _dataStart + UInt32(a.dataBytes + b.dataBytes)
        if uniform == ListNode.mixed {
            a.copyCodes(to: base)
            b.copyCodes(to: base + codesA)
        }
        let d = base + codesA + codesB
        if a.dataBytes > 0 { d.copyMemory(from: a.base + a.dataStart, byteCount: a.dataBytes) }
        if b.dataBytes > 0 { (d + a.dataBytes).copyMemory(from: b.base + b.dataStart, byteCount: b.dataBytes) }
    }

    /// Writes the node's codes (materialised when it is uniform) at `p`.
    func copyCodes(to p: UnsafeMutableRawPointer) {
        if isUniform {
            memset(p, Int32(uniform), Int(count))
        } else if codeBytes > 0 {
            p.copyMemory(from: base + codeStart, byteCount: codeBytes)
        }
    }

    // MARK: Pushes

    @inline(__always) mutating func append(_ e: PackedElement, bound: Int, eager: Bool) {
        if _prefix != 0 { restorePrefix() }
        if isUniform && e.code == uniform && e.codeLength == 1 {
            if capacity - dataEnd < e.dataLength { relayout(back: (0, e.dataLength), bound: bound, eager: eager) }
        } else {
            if isUniform || dataStart - codeEnd < e.codeLength || capacity - dataEnd < e.dataLength {
                relayout(back: (e.codeLength, e.dataLength), materialize: true, bound: bound, eager: eager)
            }
            e.writeCode(to: base + codeEnd)
            codeEnd += e.codeLength
        }
        e.writeData(to: base + dataEnd)
        dataEnd += e.dataLength
        count += 1
    }

    @inline(__always) mutating func prepend(_ e: PackedElement, bound: Int, eager: Bool) {
        if _prefix != 0 { restorePrefix() }
        if isUniform && e.code == uniform && e.codeLength == 1 {
            if dataStart - codeEnd < e.dataLength { relayout(front: (0, e.dataLength), bound: bound, eager: eager) }
        } else {
            if isUniform || codeStart < e.codeLength || dataStart - codeEnd < e.dataLength {
                relayout(front: (e.codeLength, e.dataLength), materialize: true, bound: bound, eager: eager)
            }
            codeStart -= e.codeLength
            e.writeCode(to: base + codeStart)
        }
        dataStart -= e.dataLength
        e.writeData(to: base + dataStart)
        count += 1
    }

    /// Makes room for `front` (code, data) bytes before the codes and data and `back` after them, plus slack
    /// for later pushes: 1/8 more below 1 KB (small lists stay small), 1/2 more above and in `eager` mode
    /// (an end node of a list of several nodes, which will fill up), never beyond the node's size bound. The side that asked gets the new slack; the other
    /// keeps what it had (up to half of it), so pushes at one end grow the block with realloc, and pushes
    /// at both ends still find room on each side. With `materialize`, a uniform node's codes are written
    /// out.
    mutating func relayout(front: (Int, Int) = (0, 0), back: (Int, Int) = (0, 0), materialize: Bool = false,
                           bound: Int, eager: Bool = false) {
        precondition(_prefix == 0, "relayout of a prefixed node")
        let writesCodes = !isUniform || materialize
        let codes = isUniform ? (writesCodes ? Int(count) : 0) : codeBytes
        let data = dataBytes
        let needed = codes + data + front.0 + front.1 + back.0 + back.1
        let growth = needed < 1024 && !eager ? max(16, needed / 8) : needed / 2
        let newCapacity = min(needed + growth, max(needed, bound))
        let extra = newCapacity - needed
        let askedFront = front.0 + front.1 > 0, askedBack = back.0 + back.1 > 0
        let frontFree = isUniform && !writesCodes ? dataStart - codeEnd : codeStart
        let backFree = capacity - dataEnd
        let frontExtra: Int
        if askedFront && askedBack { frontExtra = extra / 2 }
        else if askedBack { frontExtra = min(frontFree, extra / 2) }
        else { frontExtra = extra - min(backFree, extra / 2) }
        let backExtra = extra - frontExtra
        let used = max(1, codes + data)
        let frontCodeExtra = writesCodes ? frontExtra * codes / used : 0
        let backCodeExtra = writesCodes ? backExtra * codes / used : 0

        let newCodeStart = front.0 + frontCodeExtra
        let newCodeEnd = newCodeStart + codes
        let newDataStart = newCodeEnd + back.0 + backCodeExtra + front.1 + (frontExtra - frontCodeExtra)
        let newDataEnd = newDataStart + data
        precondition(newDataEnd + back.1 + (backExtra - backCodeExtra) == newCapacity)
        let block: UnsafeMutableRawPointer
        if newCodeStart == codeStart && (newCodeEnd == codeEnd || !writesCodes) && isUniform == !writesCodes {
            // The codes stay where they are: resize in place when malloc can, and slide the data (before
            // shrinking, after growing).
            if newCapacity >= capacity {
                block = realloc(base, max(1, newCapacity))!
                if newDataStart != dataStart && data > 0 { memmove(block + newDataStart, block + dataStart, data) }
            } else {
                if newDataStart != dataStart && data > 0 { memmove(base + newDataStart, base + dataStart, data) }
                block = realloc(base, max(1, newCapacity))!
            }
        } else {
            block = malloc(max(1, newCapacity))!
            if writesCodes { copyCodes(to: block + newCodeStart) }
            if data > 0 { (block + newDataStart).copyMemory(from: base + dataStart, byteCount: data) }
            free(base)
        }
        base = block
        capacity = min(cs_malloc_usable_size(block), Int(UInt32.max))
        codeStart = newCodeStart
        codeEnd = newCodeEnd
        dataStart = newDataStart
        dataEnd = newDataEnd
        if writesCodes { uniform = ListNode.mixed }
    }

    /// Gives back the slack: the node becomes an inner node, or was left mostly empty. `moving` copies the
    /// node to an exact new block and frees the old one whole rather than shrinking it in place: the tail a
    /// shrink cuts off stays behind as a small free fragment that the next small lists do not fit in
    /// (100,000 one-node lists: 15 bytes a list). A node whose elements share a prefix worth storing once
    /// is rewritten with it instead (`stripPrefix`), which also leaves it exactly sized.
    mutating func seal(moving: Bool = false) {
        if _prefix == 0, case let shared = sharedPrefix(), shared > 0 { return stripPrefix(shared) }
        guard capacity > usedBytes else { return }
        if _prefix == 0 && codeStart == 0 && codeEnd == dataStart && !moving {
            base = realloc(base, max(1, dataEnd))!
            capacity = dataEnd
            return
        }
        let exact = copied()
        free(base)
        self = exact
    }

    // MARK: Prefixes

    /// Bytes a prefix must save before a node stores one: below this, sealing leaves the node as it is.
    static let prefixMinimumSaving = 16

    /// The length of the prefix all elements share, when the node may store one and it saves at least
    /// `prefixMinimumSaving` bytes; else 0. Only a node of strings of at most 191 bytes qualifies (its
    /// codes are then one byte each, and an element, prefix included, still fits a one-byte code).
    func sharedPrefix() -> Int {
        let n = Int(count)
        guard n > 1, _prefix == 0 else { return 0 }
        if isUniform {
            guard uniform < 0xC0 else { return 0 }
        } else {
            guard codeBytes == n else { return 0 }  // a long string's code is 4 or 6 bytes
            for k in 0..<n where base.load(fromByteOffset: codeStart + k, as: UInt8.self) >= 0xC0 { return 0 }
        }
        var cursor = NodeCursor(self, fromStart: true)
        let first = cursor.next().suffix
        var shared = first.count
        for _ in 1..<n {
            let e = cursor.next().suffix
            var k = 0
            let limit = min(shared, e.count)
            while k < limit && e[k] == first[k] { k += 1 }
            shared = k
            if shared == 0 { return 0 }
        }
        return shared * (n - 1) >= ListNode.prefixMinimumSaving ? shared : 0
    }

    /// Rewrites the node to an exact block holding the first `length` bytes of its elements once, then their
    /// codes and data without them. `length` is `sharedPrefix()`.
    private mutating func stripPrefix(_ length: Int) {
        let n = Int(count)
        let codes = isUniform ? 0 : n
        let size = length + codes + dataBytes - length * n
        let block = malloc(max(1, size))!
        block.copyMemory(from: base + dataStart, byteCount: length)  // the first element's first bytes
        var cursor = NodeCursor(self, fromStart: true)
        var code = block + length, data = block + length + codes
        for _ in 0..<n {
            let e = cursor.next()
            let rest = e.suffix.count - length
            if codes > 0 {
                code.storeBytes(of: UInt8(rest), as: UInt8.self)
                code += 1
            }
            if rest > 0 { data.copyMemory(from: e.suffix.baseAddress! + length, byteCount: rest) }
            data += rest
        }
        free(base)
        base = block
        capacity = size
        _prefix = UInt8(length)
        if isUniform { uniform -= UInt8(length) }
        codeStart = length
        codeEnd = length + codes
        dataStart = length + codes
        dataEnd = size
    }

    /// Writes the prefix back into each element (before the node changes other than at its ends).
    mutating func restorePrefix() {
        guard _prefix != 0 else { return }
        let n = Int(count), length = prefixLength
        let codes = isUniform ? 0 : n
        let size = max(1, codes + dataBytes + length * n)
        let block = malloc(size)!
        var cursor = NodeCursor(self, fromStart: true)
        var code = block, data = block + codes
        for _ in 0..<n {
            let e = cursor.next()
            if codes > 0 {
                code.storeBytes(of: e.head, as: UInt8.self)
                code += 1
            }
            e.copyData(to: data)
            data += e.dataLength
        }
        free(base)
        base = block
        capacity = size
        _prefix = 0
        if isUniform { uniform += UInt8(length) }
        codeStart = 0
        codeEnd = codes
        dataStart = codes
        dataEnd = data - block
    }

    /// A copy of the node in an exact block of its own (COPY, and `seal`).
    func copied() -> ListNode {
        var copy = self
        let used = usedBytes
        let block = malloc(max(1, used))!
        let prefix = prefixLength
        if prefix > 0 { block.copyMemory(from: base, byteCount: prefix) }
        if codeBytes > 0 { (block + prefix).copyMemory(from: base + codeStart, byteCount: codeBytes) }
        if dataBytes > 0 { (block + prefix + codeBytes).copyMemory(from: base + dataStart, byteCount: dataBytes) }
        copy.base = block
        copy.capacity = max(1, used)
        copy.codeStart = prefix
        copy.codeEnd = prefix + codeBytes
        copy.dataStart = prefix + codeBytes
        copy.dataEnd = used
        return copy
    }

    /// A block at most a quarter used (and worth the copy) shrinks to what it holds.
    @inline(__always) mutating func shrinkIfMostlyEmpty() {
        if capacity > 256 && usedBytes * 4 < capacity { seal() }
    }

    // MARK: Removals at the ends

    /// Removes the elements before `cursor` (which walked forward from the start).
    @inline(__always) mutating func dropFirst(upTo cursor: NodeCursor) {
        count -= UInt32(cursor.index)
        if !isUniform { codeStart = cursor.code }
        dataStart = cursor.data
    }

    /// Removes the elements from `cursor` on (which walked backward from the end).
    @inline(__always) mutating func dropLast(from cursor: NodeCursor) {
        count = UInt32(cursor.index)
        if !isUniform { codeEnd = cursor.code }
        dataEnd = cursor.data
    }
}

/// A position between two elements of a node (before element `index`), which reads the element after it
/// (`next`) or before it (`previous`) and moves past it.
struct NodeCursor {
    let base: UnsafeMutableRawPointer
    let uniform: UInt8
    let width: Int
    /// The node's prefix length (its bytes are at `base`).
    let prefix: Int
    /// Offsets in the block of the next element's code (mixed nodes) and data.
    var code: Int
    var data: Int
    var index: Int

    @inline(__always) init(_ node: ListNode, fromStart: Bool) {
        base = node.base
        uniform = node.uniform
        width = node.isUniform ? listCodeWidth(node.uniform) : 0
        prefix = node.prefixLength
        if fromStart {
            code = node.codeStart
            data = node.dataStart
            index = 0
        } else {
            code = node.codeEnd
            data = node.dataEnd
            index = Int(node.count)
        }
    }

    /// Before element `index`, reached from the nearer end of the node.
    @inline(__always) init(_ node: ListNode, at index: Int) {
        let total = Int(node.count)
        if node.isUniform {
            self.init(node, fromStart: true)
            data += index * width
            self.index = index
        } else if index <= total - index {
            self.init(node, fromStart: true)
            for _ in 0..<index { skipForward() }
        } else {
            self.init(node, fromStart: false)
            for _ in 0..<(total - index) { skipBackward() }
        }
    }

    /// The entry whose code is `head` and whose stored bytes are `length` at `offset`, with the prefix.
    @inline(__always) private func makeEntry(_ head: UInt8, at offset: Int, _ length: Int) -> ListEntry {
        let stored = UnsafeRawBufferPointer(start: base + offset, count: length)
        if prefix == 0 { return ListEntry(head: head, data: stored) }
        return ListEntry(head: head + UInt8(prefix), prefix: UnsafeRawBufferPointer(start: base, count: prefix),
                         suffix: stored)
    }

    @inline(__always) mutating func next() -> ListEntry {
        if uniform != ListNode.mixed {
            let entry = makeEntry(uniform, at: data, width)
            data += width
            index += 1
            return entry
        }
        let head = base.load(fromByteOffset: code, as: UInt8.self)
        let length: Int
        switch head {
        case 0xF0:
            length = Int(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: code + 1, as: UInt16.self)))
            code += 4
        case 0xF1:
            length = Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: code + 1, as: UInt32.self)))
            code += 6
        default:
            length = listCodeWidth(head)
            code += 1
        }
        let entry = makeEntry(head, at: data, length)
        data += length
        index += 1
        return entry
    }

    @inline(__always) mutating func previous() -> ListEntry {
        if uniform != ListNode.mixed {
            data -= width
            index -= 1
            return makeEntry(uniform, at: data, width)
        }
        let last = base.load(fromByteOffset: code - 1, as: UInt8.self)
        let length: Int
        switch last {
        case 0xF0:
            code -= 4
            length = Int(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: code + 1, as: UInt16.self)))
        case 0xF1:
            code -= 6
            length = Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: code + 1, as: UInt32.self)))
        default:
            code -= 1
            length = listCodeWidth(last)
        }
        data -= length
        index -= 1
        return makeEntry(last, at: data, length)
    }

    @inline(__always) mutating func skipForward() { _ = next() }
    @inline(__always) mutating func skipBackward() { _ = previous() }
}
