/// The list type's storage (placeholder while the list family is being built: no command creates one yet).
final class ListValue {
    init() {}
    var count: Int { 0 }
    var encodingName: StaticString { "quicklist" }
    func duplicate() -> ListValue { ListValue() }
    var freeEffort: Int { count }
    func checkInvariants() {}
}
