import Glibc

// LZF: the compression of RDB / DUMP strings (Redis's lzf_c.c and lzf_d.c, liblzf 3.6 with Redis's lzfP.h).
//
// THE FORMAT — a sequence of runs, each starting with a control byte:
//
//     000LLLLL  <L+1 literal bytes>             copy L+1 (1...32) bytes from the input
//     LLLooooo  oooooooo                        back-reference, L in 1...6: copy L+2 bytes from
//     111ooooo  LLLLLLLL  oooooooo              back-reference: copy L+9 bytes (9...264) from
//                                               `output position - (o + 1)` (o is 13 bits: up to 8 KB
//                                               back); source and destination may overlap (a run of one
//                                               byte repeated is a back-reference of offset 1).
//
// THE COMPRESSOR must give exactly Redis's bytes, so that our DUMP and SAVE output is byte-identical to
// redis-server's. Redis 7.0 ships liblzf 3.6 built with HLOG 16, VERY_FAST 1, ULTRA_FAST 0, INIT_HTAB 0,
// and this is the same greedy algorithm with the same decisions (checked against redis-server 7.0 DUMP
// payloads, RDBPrimitivesTests; note 3.6 dropped older liblzf's "ip + 4 < in_end" test, which changes the
// output of some inputs near their end):
//
// - A hash table of 2^16 slots maps a hash of the 3 bytes at a position to the last position hashed there.
//   The hash is liblzf's IDX for VERY_FAST: with h the bytes at p (h = p[0]<<16 | p[1]<<8 | p[2], rolled in
//   a 32-bit word), slot = ((h >> 8) - h * 5) & 0xffff. Only those 3 bytes affect the slot.
// - At each position the slot's previous position `ref` is a match when it is before this one, at most 8 KB
//   back, strictly after the input's first byte (liblzf's `ref > in_data`: offset 0 never matches), and
//   the 3 bytes there are equal. The match is then extended (up to 264 bytes, as liblzf's 16-byte unrolled
//   step does, which can run a byte or two past `maxlen` near the end; that is reproduced) and emitted; the
//   table then learns only the match's last two positions (VERY_FAST). Otherwise the byte joins the current
//   literal run (32 at most).
// - The last two bytes are always literals. Compression gives up (returns 0) as soon as the output would
//   not fit `capacity`: Redis calls it with capacity = length - 4 and stores the string raw on 0.
//
// INIT_HTAB 0 means liblzf leaves its table (on the stack) uninitialized: on 64-bit, liblzf 3.6 stores
// 32-bit offsets from the input's start (LZF_HSLOT_BIAS), so it starts with offsets left by earlier calls.
// The output is nevertheless deterministic, the same as with a zeroed table, because a leftover can never
// pass the match test. For a leftover r to be used at position ip, the 3 bytes X at ip must also be at
// r < ip, and the slot of X must not have been written yet by this call. But the first occurrence of X in
// the input is always hashed: every position is either visited by the main loop (literals and match
// starts), or one of a match's last two positions (hashed after the match), or the start of 3 bytes lying
// wholly inside a match, which are a copy of the same 3 bytes earlier. So X's slot was written at or
// before r, and from then on holds a position of this call (or of a colliding triple of this call), never
// the leftover. Our table is zeroed once when created and then reused across calls as is, with the same
// guarantee (RDBPrimitivesTests compares a reused table with a fresh one); slot value 0 is position 0,
// which never matches.
//
// THE DECOMPRESSOR checks every run against both buffers (a truncated literal, a reference before the
// output's start, output overflow): hostile input yields nil, never an out-of-bounds access.

enum LZF {
    static let hashLog = 16
    static let hashSize = 1 << hashLog
    static let maxLiteral = 32              // 1 << 5
    static let maxOffset = 8192             // 1 << 13
    static let maxReference = 264           // (1 << 8) + (1 << 3)

    /// The hash slot of the 3 bytes held in the low 24 bits of `h` (liblzf's IDX, VERY_FAST variant).
    @inline(__always) static func slot(_ h: UInt32) -> Int {
        Int(((h >> UInt32(24 - hashLog)) &- h &* 5) & UInt32(hashSize - 1))
    }

    /// A reusable compression state: the hash table of positions (leftovers from earlier calls are harmless,
    /// see above). Not thread-safe; `LZF.compress` keeps one per thread.
    final class Compressor {
        private let table: UnsafeMutablePointer<UInt32>

        init() {
            table = .allocate(capacity: LZF.hashSize)
            table.initialize(repeating: 0, count: LZF.hashSize)
        }

        deinit { table.deallocate() }

        /// Compresses `input` into `output`; the compressed length, or 0 when it would exceed `capacity`
        /// (also for empty input or capacity 0, as liblzf).
        func compress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer, capacity: Int) -> Int {
            let n = input.count
            guard n > 0, capacity > 0, n < Int(UInt32.max) else { return 0 }
            let bytes = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
            return run(bytes, n, output.assumingMemoryBound(to: UInt8.self), capacity)
        }

        /// liblzf's lzf_compress, with positions instead of pointers.
        private func run(_ input: UnsafePointer<UInt8>, _ n: Int, _ out: UnsafeMutablePointer<UInt8>, _ outEnd: Int) -> Int {
            let table = self.table
            var ip = 0
            var op = 1              // out[op - lit - 1] is the open literal run's control byte
            var lit = 0
            var hval: UInt32 = n >= 2 ? UInt32(input[0]) << 8 | UInt32(input[1]) : 0

            while ip < n - 2 {
                hval = hval << 8 | UInt32(input[ip + 2])
                let s = LZF.slot(hval)
                let ref = Int(table[s])
                table[s] = UInt32(ip)
                let off = ip - ref - 1
                if ref < ip && off < LZF.maxOffset && ref > 0
                    && input[ref] == input[ip] && input[ref + 1] == input[ip + 1] && input[ref + 2] == input[ip + 2] {
                    var len = 2
                    let maxlen = Swift.min(n - ip - len, LZF.maxReference)
                    out[op - lit - 1] = UInt8(truncatingIfNeeded: lit - 1)      // close the literal run
                    if lit == 0 { op -= 1 }                                     // (or drop it when empty)
                    if op + 3 + 1 >= outEnd { return 0 }

                    // Extend the match. liblzf first takes up to 16 steps without the maxlen test when
                    // maxlen > 16 (it can end at maxlen + 1 or + 2, still inside the input), then steps on.
                    var mismatched = false
                    if maxlen > 16 {
                        for _ in 0..<16 {
                            len += 1
                            if input[ref + len] != input[ip + len] { mismatched = true; break }
                        }
                    }
                    if !mismatched {
                        repeat { len += 1 } while len < maxlen && input[ref + len] == input[ip + len]
                    }

                    len -= 2            // the encoded length: bytes - 2... after the first byte below
                    ip += 1
                    if len < 7 {
                        out[op] = UInt8(truncatingIfNeeded: (off >> 8) + (len << 5))
                        op += 1
                    } else {
                        out[op] = UInt8(truncatingIfNeeded: (off >> 8) + (7 << 5))
                        out[op + 1] = UInt8(truncatingIfNeeded: len - 7)
                        op += 2
                    }
                    out[op] = UInt8(truncatingIfNeeded: off)
                    op += 2             // the reference's last byte, then a new literal run's control byte
                    lit = 0
                    ip += len + 1
                    if ip >= n - 2 { break }

                    // VERY_FAST: hash only the match's last two positions.
                    ip -= 2
                    hval = UInt32(input[ip]) << 8 | UInt32(input[ip + 1])
                    hval = hval << 8 | UInt32(input[ip + 2])
                    table[LZF.slot(hval)] = UInt32(ip)
                    ip += 1
                    hval = hval << 8 | UInt32(input[ip + 2])
                    table[LZF.slot(hval)] = UInt32(ip)
                    ip += 1
                } else {
                    if op >= outEnd { return 0 }
                    lit += 1
                    out[op] = input[ip]
                    op += 1
                    ip += 1
                    if lit == LZF.maxLiteral {
                        out[op - lit - 1] = UInt8(lit - 1)
                        lit = 0
                        op += 1
                    }
                }
            }

            if op + 3 > outEnd { return 0 }     // at most 3 more bytes: two literals and a control byte
            while ip < n {
                lit += 1
                out[op] = input[ip]
                op += 1
                ip += 1
                if lit == LZF.maxLiteral {
                    out[op - lit - 1] = UInt8(lit - 1)
                    lit = 0
                    op += 1
                }
            }
            out[op - lit - 1] = UInt8(truncatingIfNeeded: lit - 1)
            if lit == 0 { op -= 1 }
            return op
        }
    }

    /// Compresses `input` into `output` exactly as Redis's lzf_compress; the compressed length, or 0 when
    /// it does not fit `capacity` bytes (the caller then stores the input uncompressed). Thread-safe: each
    /// thread uses its own table.
    static func compress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer, capacity: Int) -> Int {
        threadCompressor().compress(input, into: output, capacity: capacity)
    }

    /// The calling thread's compressor (a pthread key; freed when the thread exits).
    private static func threadCompressor() -> Compressor {
        let key = compressorKey
        if let existing = pthread_getspecific(key) {
            return Unmanaged<Compressor>.fromOpaque(existing).takeUnretainedValue()
        }
        let compressor = Compressor()
        pthread_setspecific(key, Unmanaged.passRetained(compressor).toOpaque())
        return compressor
    }

    private static let compressorKey: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { pointer in
            if let pointer { Unmanaged<Compressor>.fromOpaque(pointer).release() }
        }
        precondition(status == 0, "pthread_key_create failed")
        return key
    }()

    /// Decompresses `input` into `output`; the decompressed length, or nil when the input is malformed
    /// (a truncated run, a reference before the start of the output) or does not fit `output`.
    static func decompress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        let inEnd = input.count
        let outEnd = output.count
        guard inEnd > 0 else { return 0 }
        let ip0 = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let out = output.baseAddress?.assumingMemoryBound(to: UInt8.self)
        var ip = 0
        var op = 0
        while ip < inEnd {
            let ctrl = Int(ip0[ip])
            ip += 1
            if ctrl < 32 {
                let length = ctrl + 1
                guard op + length <= outEnd, ip + length <= inEnd, let out else { return nil }
                if op + length + 8 <= outEnd && ip + length + 8 <= inEnd {
                    // Whole words, the last one past the run: both buffers have room, and what lands after the
                    // run is rewritten by what follows.
                    var i = 0
                    while i < length { copyWord(out + op + i, ip0 + ip + i); i += 8 }
                } else {
                    (out + op).update(from: ip0 + ip, count: length)
                }
                op += length
                ip += length
            } else {
                var length = ctrl >> 5
                guard ip < inEnd else { return nil }
                if length == 7 {
                    length += Int(ip0[ip])
                    ip += 1
                    guard ip < inEnd else { return nil }
                }
                let ref = op - ((ctrl & 0x1f) << 8) - 1 - Int(ip0[ip])
                ip += 1
                length += 2
                guard op + length <= outEnd, ref >= 0, let out else { return nil }
                if op - ref >= 8 && op + length + 8 <= outEnd {
                    // Words: each one is read from bytes already written (the reference is at least a word
                    // back), and the last may run past the match into room the output has.
                    var i = 0
                    while i < length { copyWord(out + op + i, out + ref + i); i += 8 }
                } else {
                    // Byte by byte: the source overlaps what this run writes.
                    for i in 0..<length { out[op + i] = out[ref + i] }
                }
                op += length
            }
        }
        return op
    }
}

/// Copies 8 bytes from `source` to `target` (any alignment).
@inline(__always) private func copyWord(_ target: UnsafeMutablePointer<UInt8>, _ source: UnsafePointer<UInt8>) {
    UnsafeMutableRawPointer(target).storeBytes(of: UnsafeRawPointer(source).loadUnaligned(as: UInt64.self), as: UInt64.self)
}

@inline(__always) private func copyWord(_ target: UnsafeMutablePointer<UInt8>, _ source: UnsafeMutablePointer<UInt8>) {
    copyWord(target, UnsafePointer(source))
}
