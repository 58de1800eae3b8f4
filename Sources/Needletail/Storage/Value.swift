/// A value stored under a key. Every command checks the type it needs and answers WRONGTYPE otherwise.
/// New types (sorted set, hash, list, set, stream) become new cases here.
enum Value {
    case string(ByteString)

    /// The name TYPE reports.
    var typeName: StaticString {
        switch self {
        case .string: return "string"
        }
    }
}
