/// The set type's storage (placeholder while the set family is being built: no command creates one yet).
final class SetValue {
    init() {}
    var count: Int { 0 }
    var encodingName: StaticString { "intset" }
    func duplicate() -> SetValue { SetValue() }
    var freeEffort: Int { count }
    func checkInvariants() {}
}
