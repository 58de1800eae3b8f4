// TEMPORARY (core branch only): stand-ins until Numbers.swift / SplitArgs.swift land on main.
import Glibc
func parseInt64(_ b: UnsafeRawBufferPointer) -> Int64? {
    if b.isEmpty || b.count > 20 { return nil }
    var neg = false; var i = 0
    if b[0] == UInt8(ascii: "-") { neg = true; i = 1; if b.count == 1 { return nil } }
    if b[i] == UInt8(ascii: "0") && b.count > i + 1 { return nil }
    var v: Int64 = 0
    while i < b.count {
        let d = Int64(b[i]) - 48; if d < 0 || d > 9 { return nil }
        let (m, o1) = v.multipliedReportingOverflow(by: 10); if o1 { return nil }
        let (s, o2) = neg ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d); if o2 { return nil }
        v = s; i += 1
    }
    if neg && v == 0 { return nil }
    return v
}
func parseDouble(_ b: UnsafeRawBufferPointer) -> Double? { Double(String(decoding: b, as: UTF8.self)) }
func writeInt64(_ v: Int64, to p: UnsafeMutableRawPointer) -> Int {
    let s = String(v); var n = 0
    for c in s.utf8 { p.storeBytes(of: c, toByteOffset: n, as: UInt8.self); n += 1 }
    return n
}
func formatDouble(_ d: Double) -> ByteString { ByteString(String(d)) }
func splitArgs(_ line: UnsafeRawBufferPointer) -> [ByteString]? {
    line.split(separator: 32).map { ByteString(UnsafeRawBufferPointer(rebasing: $0)) }
}
