/// An ACL user (Redis 7.0's `user`, acl.c): flags, password hashes and selectors. Clients point at their
/// user, so a change made by ACL SETUSER is seen by every connection authenticated as it; SETUSER applies
/// the rules to a copy of `rules` and stores it only when every rule was valid, as Redis stages changes on
/// an unlinked user.
final class ACLUser {
    enum Sanitize { case unset, sanitize, skip }

    struct Rules {
        var enabled = false
        var nopass = false
        var sanitize = Sanitize.unset
        /// SHA-256 hex digests, in the order they were added.
        var passwords: [[UInt8]] = []
        /// The root selector first.
        var selectors: [ACLSelector]

        /// Redis's ACLSetUser: one rule (a selector in parentheses counts as one).
        mutating func apply(_ op: [UInt8], registry: ACLCommandRegistry, pubsubDefault: Bool) -> ACLRuleError? {
            if op.isEmpty { return nil }
            let lower = op.map(asciiLower)
            switch String(decoding: lower, as: UTF8.self) {
            case "on": enabled = true
            case "off": enabled = false
            case "skip-sanitize-payload": sanitize = .skip
            case "sanitize-payload": sanitize = .sanitize
            case "nopass":
                nopass = true
                passwords.removeAll()
            case "resetpass":
                nopass = false
                passwords.removeAll()
            case "clearselectors":
                selectors.removeSubrange(1...)
            case "reset":
                nopass = false
                passwords.removeAll()
                for rule in ["resetkeys", "resetchannels"] { _ = selectors[0].apply(Array(rule.utf8), registry: registry) }
                if pubsubDefault { _ = selectors[0].apply(Array("allchannels".utf8), registry: registry) }
                enabled = false
                sanitize = .sanitize
                selectors.removeSubrange(1...)
                _ = selectors[0].apply(Array("-@all".utf8), registry: registry)
            default:
                switch op[0] {
                case UInt8(ascii: ">"), UInt8(ascii: "#"):
                    let hash: [UInt8]
                    if op[0] == UInt8(ascii: ">") {
                        hash = Array(Array(op.dropFirst()).withUnsafeBytes { SHA256.hexDigest($0) }.utf8)
                    } else {
                        hash = Array(op.dropFirst())
                        guard isPasswordHash(hash) else { return .badHash }
                    }
                    if !passwords.contains(hash) { passwords.append(hash) }
                    nopass = false
                case UInt8(ascii: "<"), UInt8(ascii: "!"):
                    let hash: [UInt8]
                    if op[0] == UInt8(ascii: "<") {
                        hash = Array(Array(op.dropFirst()).withUnsafeBytes { SHA256.hexDigest($0) }.utf8)
                    } else {
                        hash = Array(op.dropFirst())
                        guard isPasswordHash(hash) else { return .badHash }
                    }
                    guard let i = passwords.firstIndex(of: hash) else { return .noSuchPassword }
                    passwords.remove(at: i)
                case UInt8(ascii: "(") where op.last == UInt8(ascii: ")"):
                    var selector = ACLSelector(root: false, registry: registry, allChannels: pubsubDefault)
                    let inside = Array(op[1..<(op.count - 1)])
                    for word in inside.withUnsafeBytes({ splitArgs($0) }) ?? [] {
                        if let error = selector.apply(word.bytes, registry: registry) { return error }
                    }
                    selectors.append(selector)
                default:
                    return selectors[0].apply(op, registry: registry)
                }
            }
            return nil
        }

        /// Nothing to check for its commands: the root selector allows every command, key and channel.
        var unrestricted: Bool {
            let root = selectors[0]
            return root.allCommands && root.allKeys && root.allChannels
        }
    }

    let name: [UInt8]
    @exclusivity(unchecked) var rules: Rules { didSet { unrestricted = rules.unrestricted } }
    /// Cached `rules.unrestricted`: the one test the command path makes for such users (the default user).
    @exclusivity(unchecked) private(set) var unrestricted: Bool

    init(name: [UInt8], registry: ACLCommandRegistry, pubsubDefault: Bool) {
        self.name = name
        rules = Rules(selectors: [ACLSelector(root: true, registry: registry, allChannels: pubsubDefault)])
        unrestricted = rules.unrestricted
    }

    var nameString: String { String(decoding: name, as: UTF8.self) }

    /// Redis's ACLDescribeUser: flags, `#hash`es, the root selector, then `(selector)`s.
    func describe(registry: ACLCommandRegistry) -> String {
        var words: [String] = [rules.enabled ? "on" : "off"]
        if rules.nopass { words.append("nopass") }
        if rules.sanitize == .skip { words.append("skip-sanitize-payload") }
        if rules.sanitize == .sanitize { words.append("sanitize-payload") }
        for hash in rules.passwords { words.append("#" + String(decoding: hash, as: UTF8.self)) }
        words.append(rules.selectors[0].describe(registry: registry))
        for selector in rules.selectors.dropFirst() { words.append("(" + selector.describe(registry: registry) + ")") }
        return words.joined(separator: " ")
    }

    /// The flags ACL GETUSER lists, in Redis's order.
    var flagNames: [String] {
        var flags = [rules.enabled ? "on" : "off"]
        if rules.nopass { flags.append("nopass") }
        if rules.sanitize == .skip { flags.append("skip-sanitize-payload") }
        if rules.sanitize == .sanitize { flags.append("sanitize-payload") }
        return flags
    }

    /// Redis's ACLCheckUserCredentials: enabled, and nopass or one of its hashes equal to the password's.
    func accepts(password: UnsafeRawBufferPointer) -> Bool {
        guard rules.enabled else { return false }
        if rules.nopass { return true }
        let hash = Array(SHA256.hexDigest(password).utf8)
        var matched = false
        for stored in rules.passwords where constantTimeEqual(stored, hash) { matched = true }
        return matched
    }
}

/// 64 lowercase hex digits (Redis's ACLCheckPasswordHash).
func isPasswordHash(_ hash: [UInt8]) -> Bool {
    hash.count == 64 && hash.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
}

/// ACL SETUSER's arguments with selectors joined: `(~a:*` `+get)` becomes one `(~a:* +get)` argument
/// (Redis's ACLMergeSelectorArguments). Returns the index of an unclosed selector's start on failure.
enum MergedRules {
    case merged([[UInt8]])
    /// The index of the argument opening a selector that no argument closes.
    case unclosed(Int)
}

func mergeSelectorArguments(_ args: [[UInt8]]) -> MergedRules {
    var merged: [[UInt8]] = []
    var openAt = -1
    var selector: [UInt8] = []
    for (j, op) in args.enumerated() {
        // A new opening restarts the selector, even inside an unclosed one (as Redis 7.0).
        if op.first == UInt8(ascii: "(") && op.last != UInt8(ascii: ")") {
            selector = op
            openAt = j
            continue
        }
        if openAt != -1 {
            selector += [UInt8(ascii: " ")] + op
            if op.last == UInt8(ascii: ")") {
                openAt = -1
                merged.append(selector)
            }
            continue
        }
        merged.append(op)
    }
    return openAt == -1 ? .merged(merged) : .unclosed(openAt)
}
