/// A value stored under a key. Every command checks the type it needs and answers WRONGTYPE otherwise.
/// New types (hash, list, set, stream) become new cases here.
enum Value {
    case string(ByteString)
    /// A sorted set is a reference: commands mutate it in place through the key's entry.
    case sortedSet(SortedSet)

    /// The name TYPE reports.
    var typeName: StaticString {
        switch self {
        case .string: return "string"
        case .sortedSet: return "zset"
        }
    }
}
