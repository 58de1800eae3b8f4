import CScripting

/// FUNCTION libraries (Redis's functions.c and function_lua.c): `#!lua name=<library>` code that registers
/// functions with redis.register_function when FUNCTION LOAD runs it (in the functions' own Lua state,
/// with only the load API visible), called later by FCALL. Libraries are saved in RDB files (the FUNCTION2
/// opcode), travel in FUNCTION DUMP/RESTORE payloads, and reach the AOF as the FUNCTION commands.

/// One library: its code and the functions it registered.
final class FunctionLibrary {
    let name: String
    let code: [UInt8]
    var functions: [String: LuaFunction] = [:]

    init(name: String, code: [UInt8]) {
        self.name = name
        self.code = code
    }
}

/// A registered function: the Lua function sits in the functions state's registry under `ref`.
struct LuaFunction {
    let name: String
    let description: [UInt8]?
    let flags: ScriptFlags
    let ref: Int32
    let library: String
}

/// Whether a loaded library may replace one of the same name (FUNCTION LOAD REPLACE).
enum LibraryCollision { case refuse, replace }

extension ScriptEngine {
    /// FUNCTION LOAD [REPLACE] (Redis's functionsCreateWithLibraryCtx): returns the library's name.
    /// `timeoutMillis` bounds the run of its code (500 for FUNCTION LOAD, none when loading files).
    func loadLibrary(_ code: [UInt8], collision: LibraryCollision, timeoutMillis: Int32 = 500) -> Result<String, ScriptError> {
        let metadata: LibraryMetadata
        switch LibraryMetadata.parse(code) {
        case .failure(let error): return .failure(error)
        case .success(let parsed): metadata = parsed
        }
        guard isValidFunctionName(metadata.name) else {
            return .failure(ScriptError("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"))
        }
        guard metadata.engine.lowercased() == "lua" else {
            return .failure(ScriptError("ERR Engine '\(metadata.engine)' not found"))
        }
        let old = libraries[metadata.name]
        if old != nil && collision == .refuse {
            return .failure(ScriptError("ERR Library '\(metadata.name)' already exists"))
        }
        if let old { unlink(old) }
        let library = FunctionLibrary(name: metadata.name, code: code)
        loadingLibrary = library
        // The code after the shebang line, its newline kept so that line numbers are the library's.
        let status = code.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                nt_lua_load_library(functionsLua, $0 + metadata.shebangLength, buffer.count - metadata.shebangLength, timeoutMillis)
            }
        }
        loadingLibrary = nil
        func fail(_ error: ScriptError) -> Result<String, ScriptError> {
            discard(library)
            if let old { link(old) }
            return .failure(error)
        }
        if status != 0 {
            let message = luaString(functionsLua, at: -1) ?? []
            nt_lua_pop(functionsLua, 1)
            return fail(ScriptError(Array("ERR ".utf8) + message))
        }
        if library.functions.isEmpty { return fail(ScriptError("ERR No functions registered")) }
        if let taken = library.functions.keys.sorted().first(where: { functions[functionKey($0)] != nil }) {
            return fail(ScriptError("ERR Function \(taken) already exists"))
        }
        link(library)
        if let old { discard(old) }
        return .success(library.name)
    }

    /// redis.register_function while FUNCTION LOAD runs a library (nil message: no load is running).
    func register(name: [UInt8], description: [UInt8]?, flags: ScriptFlags, ref: Int32) -> Result<Void, RegistrationError> {
        guard let library = loadingLibrary else { return .failure(RegistrationError(message: nil)) }
        let name = String(decoding: name, as: UTF8.self)
        guard isValidFunctionName(name) else {
            return .failure(RegistrationError(message: Array("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".utf8)))
        }
        guard library.functions[name] == nil else {
            return .failure(RegistrationError(message: Array("Function already exists in the library".utf8)))
        }
        library.functions[name] = LuaFunction(name: name, description: description, flags: flags, ref: ref, library: library.name)
        return .success(())
    }

    /// FUNCTION DELETE.
    func deleteLibrary(_ name: String) -> Bool {
        guard let library = libraries[name] else { return false }
        unlink(library)
        discard(library)
        return true
    }

    /// FUNCTION FLUSH: no libraries, and a new state for the next ones.
    func flushFunctions() {
        libraries.removeAll()
        functions.removeAll()
        nt_lua_close(functionsLua)
        functionsLua = openState(mode: NT_LUA_FUNCTIONS)
    }

    /// Bytes the libraries' code and function names take (INFO `used_memory_functions`).
    var librariesMemory: Int {
        libraries.values.reduce(0) { sum, library in
            sum + library.code.count + library.functions.values.reduce(0) { $0 + $1.name.utf8.count + ($1.description?.count ?? 0) }
        }
    }

    /// Libraries in name order (FUNCTION LIST, DUMP, and the RDB).
    var sortedLibraries: [FunctionLibrary] { libraries.values.sorted { $0.name < $1.name } }

    /// What an RDB file holds: each library's code.
    var libraryCodes: [ByteString] { sortedLibraries.map { ByteString($0.code) } }

    /// Loads the libraries of an RDB file or AOF preamble, replacing the current ones; false (with the
    /// error logged) when one fails, as Redis fails the load.
    func restoreLibraries(_ codes: [ByteString]) -> Bool {
        flushFunctions()
        for code in codes {
            if case .failure(let error) = loadLibrary(code.withUnsafeBytes { Array($0) }, collision: .refuse, timeoutMillis: 0) {
                server.log.warning("Failed loading library: \(String(decoding: error.message, as: UTF8.self))")
                return false
            }
        }
        return true
    }

    /// Two functions of one library whose names differ only in case share one key: the first by name wins
    /// (in Redis the first in its dict's order, which varies from process to process).
    private func link(_ library: FunctionLibrary) {
        libraries[library.name] = library
        for name in library.functions.keys.sorted() where functions[functionKey(name)] == nil {
            functions[functionKey(name)] = library.functions[name]
        }
    }

    private func unlink(_ library: FunctionLibrary) {
        libraries[library.name] = nil
        for name in library.functions.keys where functions[functionKey(name)]?.library == library.name {
            functions[functionKey(name)] = nil
        }
    }

    /// Frees a library's Lua functions.
    private func discard(_ library: FunctionLibrary) {
        for function in library.functions.values { nt_lua_unref(functionsLua, function.ref) }
        library.functions.removeAll()
    }

    // MARK: - DUMP / RESTORE payloads

    /// FUNCTION DUMP: a FUNCTION2 record per library, the RDB version and the CRC64, as DUMP's payloads.
    func dumpLibraries() -> [UInt8] {
        let output = RDBOutput(compress: server.config.rdbcompression)
        for library in sortedLibraries {
            output.byte(RDB.opFunction2)
            library.code.withUnsafeBytes { output.string($0) }
        }
        output.littleEndian(UInt16(RDB.version))
        output.littleEndian(output.checksum)
        return Array(output.bytes)
    }

    /// One library's code from a FUNCTION RESTORE payload (Redis's rdbFunctionLoad): RDB_OPCODE_FUNCTION2 and
    /// the code; or the record of 7.0's release candidates, whose code had no metadata line: the library's name,
    /// engine and optional description come first, and redis-server 7.0 makes the line `#!<engine> name=<name>`
    /// from them (the description is dropped).
    private static func libraryRecord(_ input: inout RDBInput) -> Result<[UInt8], ScriptError> {
        let type = try? input.byte()
        guard type == RDB.opFunction2 || type == RDB.opFunctionPreGA else {
            return .failure(ScriptError("ERR given type is not a function"))
        }
        var metadata: [UInt8] = []
        if type == RDB.opFunctionPreGA {
            guard let name = try? input.string() else { return .failure(ScriptError("ERR Failed loading library name")) }
            guard let engine = try? input.string() else { return .failure(ScriptError("ERR Failed loading engine name")) }
            guard let hasDescription = try? input.length() else {
                return .failure(ScriptError("ERR Failed loading library description indicator"))
            }
            if hasDescription != 0 && (try? input.string()) == nil {
                return .failure(ScriptError("ERR Failed loading library description"))
            }
            metadata = Array("#!".utf8) + engine.withUnsafeBytes { Array($0) } + Array(" name=".utf8)
                + name.withUnsafeBytes { Array($0) } + [10]
        }
        guard let code = try? input.string() else { return .failure(ScriptError("ERR Failed loading library payload")) }
        return .success(metadata + code.withUnsafeBytes { Array($0) })
    }

    /// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE].
    func restoreLibraries(payload: UnsafeRawBufferPointer, policy: RestorePolicy) -> Result<Void, ScriptError> {
        guard let body = dumpPayloadBody(payload) else {
            return .failure(ScriptError("ERR DUMP payload version or checksum are wrong"))
        }
        // Each library is read and compiled in turn (as Redis does: the first problem in the payload is the one
        // reported), into a scratch set (a library twice in the payload fails there), then joined. As in Redis, a
        // record starts before the footer but may run into it.
        var input = RDBInput(payload)
        let saved = (libraries, functions)
        let keep: [FunctionLibrary] = policy == .flush ? [] : sortedLibraries
        libraries.removeAll()
        functions.removeAll()
        var restored: [FunctionLibrary] = []
        var failure: ScriptError?
        while failure == nil && input.offset < body.count {
            switch Self.libraryRecord(&input) {
            case .failure(let error): failure = error
            case .success(let code):
                switch loadLibrary(code, collision: .refuse, timeoutMillis: 0) {
                case .success(let name): restored.append(libraries[name]!)
                case .failure(let error): failure = error
                }
            }
        }
        // Joined as Redis's libraryJoin: first the libraries' names (APPEND refuses a restored library that
        // exists; with REPLACE the restored one wins), then the functions' names.
        if failure == nil && policy == .append, let taken = restored.first(where: { library in keep.contains { $0.name == library.name } }) {
            failure = ScriptError("ERR Library \(taken.name) already exists")
        }
        if failure == nil {
            for library in keep where libraries[library.name] == nil {
                if let clash = library.functions.keys.sorted().first(where: { functions[functionKey($0)] != nil }) {
                    failure = ScriptError("ERR Function \(clash) already exists")
                    break
                }
                link(library)
            }
        }
        if let failure {
            for library in restored { discard(library) }
            (libraries, functions) = saved
            return .failure(failure)
        }
        // Libraries replaced or flushed are freed.
        for library in saved.0.values where libraries[library.name] !== library { discard(library) }
        return .success(())
    }
}

enum RestorePolicy { case flush, append, replace }

struct RegistrationError: Error {
    let message: [UInt8]?
}

/// The key of a function name in `ScriptEngine.functions`: lower case, ASCII only (Redis's strcasecmp).
func functionKey(_ name: String) -> String { String(decoding: name.utf8.map(asciiLower), as: UTF8.self) }

/// Letters, digits and underscores, at least one (Redis's functionsVerifyName).
func isValidFunctionName(_ name: String) -> Bool {
    !name.isEmpty && name.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 }
}

/// A library's first line, `#!<engine> name=<library>` (Redis's functionExtractLibMetaData).
struct LibraryMetadata {
    let engine: String
    let name: String
    /// Bytes of the shebang line, without its newline.
    let shebangLength: Int

    static func parse(_ code: [UInt8]) -> Result<LibraryMetadata, ScriptError> {
        guard code.starts(with: Array("#!".utf8)) else { return .failure(ScriptError("ERR Missing library metadata")) }
        // Redis looks for the newline with strchr: not past a NUL.
        guard let newline = code.prefix(while: { $0 != 0 }).firstIndex(of: 10) else {
            return .failure(ScriptError("ERR Invalid library metadata"))
        }
        let line = code[0..<newline].withUnsafeBytes { splitArgs($0) }
        guard let parts = line?.map({ $0.withUnsafeBytes { Array($0) } }), !parts.isEmpty else {
            return .failure(ScriptError("ERR Invalid library metadata"))
        }
        var name: [UInt8]?
        for part in parts.dropFirst() {
            if part.count >= 5 && String(decoding: part.prefix(5), as: UTF8.self).lowercased() == "name=" {
                if name != nil {
                    return .failure(ScriptError("ERR Invalid metadata value, name argument was given multiple times"))
                }
                name = Array(part.dropFirst(5))
                continue
            }
            return .failure(ScriptError(Array("ERR Invalid metadata value given: ".utf8) + part))
        }
        guard let name else { return .failure(ScriptError("ERR Library name was not given")) }
        return .success(LibraryMetadata(engine: String(decoding: parts[0].dropFirst(2), as: UTF8.self),
                                        name: String(decoding: name, as: UTF8.self), shebangLength: newline))
    }
}
