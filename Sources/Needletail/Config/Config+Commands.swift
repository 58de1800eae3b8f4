/// CONFIG GET and CONFIG SET, and the one routine both they and the loader use to parse and store a value.
///
/// CONFIG SET follows Redis 7.0's `configSetCommand`: every name is checked first (unknown, immutable,
/// protected, loading, duplicate; the first problem found is reported), then all values are parsed and
/// stored in order, restoring the earlier ones if one fails, and only then applied (`onChange`); a
/// failed apply restores everything. So a multi-parameter CONFIG SET is all or nothing.
extension Config {
    // MARK: - Parsing and storing one value

    /// Parses `args` for entry `index` and stores the canonical result. `fromFile` selects redis.conf
    /// semantics for `save` (see `Config+Loading.swift`). Returns Redis's error text, or nil.
    func assign(_ index: Int, _ args: [String], fromFile: Bool) -> ConfigValueError? {
        let p = ConfigParameter.all[index]
        let new: String
        switch p.kind {
        case .bool:
            let v = args[0].lowercased()
            guard v == "yes" || v == "no" else { return "argument must be 'yes' or 'no'" }
            if let validate = p.validate, let e = validate(v) { return ConfigValueError(e) }
            new = v
        case .number(let format):
            switch format.parse(args[0]) {
            case .failure(let e): return e
            case .success(var v):
                if let e = format.check(v) { return e }
                if p.name == "hz" { v = min(max(v, 1), 500) }      // Redis's updateHZ / load-time clamp
                new = format.format(v)
            }
        case .enumeration(let choices):
            guard let hit = choices.first(where: { $0.name == args[0].lowercased() }) else {
                return ConfigValueError("argument(s) must be one of the following: "
                    + choices.map { $0.name }.joined(separator: ", "))
            }
            new = choices.first { $0.value == hit.value }!.name
        case .flags(let choices):
            var bits = 0
            for a in args {
                guard let hit = choices.first(where: { $0.name == a.lowercased() }) else { bits = -1; break }
                bits |= hit.value
            }
            if args.isEmpty || bits < 0 {
                return ConfigValueError("argument(s) must be one of the following: "
                    + choices.map { $0.name }.joined(separator: ", "))
            }
            if bits & 1 != 0 && bits & 2 != 0 {
                return "shutdown options SAVE and NOSAVE can't be used simultaneously"
            }
            new = bits == 0 ? choices.first { $0.value == 0 }!.name
                : choices.filter { $0.value != 0 && bits & $0.value != 0 }.map { $0.name }.joined(separator: " ")
        case .string:
            if let validate = p.validate, let e = validate(args[0]) { return ConfigValueError(e) }
            new = args[0]
        case .special(let special):
            switch assignSpecial(special, index, args, fromFile: fromFile) {
            case .failure(let e): return e
            case .success(let v): new = v
            }
        case .directive:
            preconditionFailure("directives are handled by the loader")
        }
        store(index, new)
        return nil
    }

    private func assignSpecial(_ special: ConfigParameter.Special, _ index: Int, _ args: [String], fromFile: Bool)
        -> Result<String, ConfigValueError> {
        switch special {
        case .dir:
            if args.count != 1 { return .failure("wrong number of arguments") }
            return ConfigSyntax.directory(args[0], relativeTo: values[index])
        case .save:
            // An empty `save ""` always clears. Otherwise, while reading a config file only the first
            // `save` line replaces the defaults and later ones add points (so that a file without `save`
            // keeps the defaults); anywhere else a new value replaces the old one.
            return ConfigSyntax.save(args).map { points in
                let text = ConfigSyntax.formatSave(points)
                if args.count == 1 && args[0].isEmpty { return "" }
                if fromFile && readingConfigFile {
                    if !saveLoaded { saveLoaded = true; return text }
                    return [values[index], text].filter { !$0.isEmpty }.joined(separator: " ")
                }
                return text
            }
        case .clientOutputBufferLimit:
            return ConfigSyntax.clientOutputBufferLimit(args, current: clientOutputBufferLimit)
                .map(ConfigSyntax.formatClientOutputBufferLimit)
        case .oomScoreAdjValues:
            return ConfigSyntax.oomScoreAdjValues(args)
        case .notifyKeyspaceEvents:
            if args.count != 1 { return .failure("wrong number of arguments") }
            let parsed = ConfigSyntax.keyspaceEvents(args[0])
            // Redis's string drops "n" after "A" (CONFIG GET KEAn says "AKE") but keeps publishing `new`:
            // the store that follows keeps the class the string cannot show.
            if case .success(let f) = parsed { newKeyEventsBeyondString = f.isSuperset(of: [.all, .newKey]) }
            return parsed.map(ConfigSyntax.formatKeyspaceEvents)
        case .bind:
            return ConfigSyntax.bind(args).map { $0.joined(separator: " ") }
        case .replicaof:
            return ConfigSyntax.replicaof(args).map { r in r.map { "\($0.host) \($0.port)" } ?? "" }
        case .latencyTrackingInfoPercentiles:
            return ConfigSyntax.latencyPercentiles(args).map(ConfigSyntax.formatPercentiles)
        }
    }

    // MARK: - CONFIG GET

    /// CONFIG GET: every parameter matching one of `patterns` (glob, case-insensitive, over names and
    /// aliases; hidden parameters only by exact name), each once. An exact name is echoed as given.
    public func get(_ patterns: [String]) -> [(name: String, value: String)] {
        var result: [(name: String, value: String)] = []
        var seen: Set<String> = []
        for pattern in patterns {
            let isGlob = pattern.utf8.contains { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "[") }
            if !isGlob {
                let key = pattern.lowercased()
                if seen.contains(key) { continue }
                if let v = value(of: pattern) {
                    seen.insert(key)
                    result.append((pattern, v))
                }
                continue
            }
            var pat = pattern
            pat.withUTF8 { pbuf in
                let patBytes = UnsafeRawBufferPointer(pbuf)
                for (i, p) in ConfigParameter.all.enumerated() where !p.isDirective && !p.flags.contains(.hidden) {
                    for var name in [p.name, p.alias].compactMap({ $0 }) where !seen.contains(name) {
                        let hit = name.withUTF8 {
                            globMatch(pattern: patBytes, string: UnsafeRawBufferPointer($0), caseInsensitive: true)
                        }
                        if hit {
                            seen.insert(name)
                            result.append((name, values[i]))
                        }
                    }
                }
            }
        }
        return result
    }

    /// All parameters (CONFIG GET *), aliases included, hidden ones excluded.
    public var allValues: [(name: String, value: String)] { self.get(["*"]) }

    // MARK: - CONFIG SET

    /// CONFIG SET with the arguments after `SET` (name value [name value ...]). Returns nil on success
    /// (reply +OK) or the error reply without its '-', e.g. "ERR Unknown option or number of arguments for
    /// CONFIG SET - 'foo'". `clientIsLocal` matters for `enable-protected-configs local`; `loading` for the
    /// parameters Redis refuses to change while a dataset loads.
    public func set(arguments: [String], clientIsLocal: Bool = false, loading: Bool = false) -> String? {
        if arguments.isEmpty { return "ERR wrong number of arguments for 'config|set' command" }
        if arguments.count % 2 != 0 { return "ERR syntax error" }

        // 1. Resolve every name; remember the first problem.
        struct Entry { let index: Int; let isAlias: Bool; let name: String; let value: String }
        var entries: [Entry] = []
        var unknown: String?
        var problem: (name: String, text: String?)?
        var loadingError = false
        for pair in stride(from: 0, to: arguments.count, by: 2) {
            let given = arguments[pair]
            guard let hit = Config.lookup[given.lowercased()], !ConfigParameter.all[hit.index].isDirective else {
                if unknown == nil && problem == nil && !loadingError { unknown = given }
                continue
            }
            if unknown != nil || problem != nil || loadingError { continue }
            let p = ConfigParameter.all[hit.index]
            if p.flags.contains(.immutable) {
                problem = (given, "can't set immutable config")
                continue
            }
            if p.flags.contains(.protected) && !allowsProtectedAction(enableProtectedConfigs, clientIsLocal: clientIsLocal) {
                problem = (given, "can't set protected config")
                continue
            }
            if loading && p.flags.contains(.denyLoading) {
                loadingError = true
                continue
            }
            if entries.contains(where: { $0.index == hit.index && $0.isAlias == hit.isAlias }) {
                problem = (given, "duplicate parameter")
                continue
            }
            let registered = hit.isAlias ? p.alias! : p.name
            entries.append(Entry(index: hit.index, isAlias: hit.isAlias, name: registered, value: arguments[pair + 1]))
        }
        if loadingError { return "LOADING Redis is loading the dataset in memory" }
        if let unknown { return "ERR Unknown option or number of arguments for CONFIG SET - '\(unknown)'" }
        if let problem { return Config.setFailure(problem.name, problem.text) }

        // 2. Store all new values; on a parse error restore the ones already stored.
        let old = entries.map { values[$0.index] }
        var changed: [Int] = []           // entry positions whose value changed, first per parameter
        for (k, e) in entries.enumerated() {
            let p = ConfigParameter.all[e.index]
            let args = p.flags.contains(.multiArg) ? Config.splitOnSpaces(e.value) : [e.value]
            let before = values[e.index]
            if let error = assign(e.index, args, fromFile: false) {
                restore(entries.prefix(k + 1).map { $0.index }, old)
                return Config.setFailure(e.name, error.text)
            }
            if values[e.index] != before && !changed.contains(where: { entries[$0].index == e.index }) {
                changed.append(k)
            }
        }

        // 3. Apply; a refusal undoes the whole command.
        if let onChange {
            for k in changed {
                if let error = onChange(ConfigParameter.all[entries[k].index].name) {
                    restore(entries.map { $0.index }, old)
                    for j in changed { _ = onChange(ConfigParameter.all[entries[j].index].name) }
                    return Config.setFailure(entries[k].name, error)
                }
            }
        }
        return nil
    }

    /// Restores saved values, last first (so an entry given twice gets its original value back).
    private func restore(_ indexes: [Int], _ old: [String]) {
        for k in indexes.indices.reversed() { store(indexes[k], old[k]) }
    }

    private static func setFailure(_ name: String, _ text: String?) -> String {
        guard let text else { return "ERR CONFIG SET failed (possibly related to argument '\(name)')" }
        return "ERR CONFIG SET failed (possibly related to argument '\(name)') - \(text)"
    }

    /// Redis's `sdssplitlen(value, " ")`: single spaces separate, so "a  b" has an empty middle argument,
    /// and "" has no arguments at all.
    static func splitOnSpaces(_ value: String) -> [String] {
        if value.isEmpty { return [] }
        return value.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
    }

    /// Redis's `allowProtectedAction` for `enable-protected-configs`, `enable-debug-command` and
    /// `enable-module-command`.
    public func allowsProtectedAction(_ setting: String, clientIsLocal: Bool) -> Bool {
        setting == "yes" || (setting == "local" && clientIsLocal)
    }
}
