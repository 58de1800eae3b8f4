/// The hash type's storage (placeholder while the hash family is being built: no command creates one yet).
final class HashValue {
    init() {}
    var count: Int { 0 }
    var encodingName: StaticString { "listpack" }
    func duplicate() -> HashValue { HashValue() }
    var freeEffort: Int { count }
    func checkInvariants() {}
}
