// A libFuzzer target for the RESP/inline request parser. Not part of any SwiftPM target (and not run in CI):
// it is compiled together with the parser's sources by swiftc, see README.md here.
//
// Each input is one connection's bytes, parsed the way Server.processInput does; the target checks that
// every request consumes bytes (no loop) and that the buffer never grows past what was fed plus one
// bulk of maxBulkLength. Crashes, hangs and leaks are libFuzzer's and ASan's to report.

let maxBulkLength = 1 << 20

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = IOBuffer(capacity: 16)
    var parser = RequestParser()
    buffer.reserve(size)
    (buffer.base + buffer.writeIndex).copyMemory(from: data, byteCount: size)
    buffer.writeIndex += size
    for _ in 0...(size + 1) {
        switch parser.parse(buffer, maxBulkLength: maxBulkLength, authenticated: true) {
        case .request(let consumed):
            precondition(consumed > 0 && consumed <= buffer.readableBytes, "a request consumed \(consumed) bytes")
            precondition(parser.args.count <= size, "more arguments than bytes")
            buffer.readIndex += consumed
            parser.reset()
        case .needMoreData, .protocolError:
            precondition(buffer.capacity <= 2 * (size + maxBulkLength + 2) + 65536, "buffer grew to \(buffer.capacity)")
            return 0
        }
    }
    preconditionFailure("the parser made no progress")
}
