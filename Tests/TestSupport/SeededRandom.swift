/// SplitMix64: small and seedable, so a failing random test can be replayed from the seed it prints.
/// Every seeded test draws from it: unit tests, the parser fuzzer and the differential generator.
public struct SeededRandom: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<n.
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    public mutating func oneIn(_ n: Int) -> Bool { below(n) == 0 }
    public mutating func pick<T>(_ a: [T]) -> T { a[below(a.count)] }
    public mutating func between(_ lo: Int, _ hi: Int) -> Int { lo + below(hi - lo + 1) }
}
