import CTLS
import Glibc

/// The server's TLS context (Sources/CTLS over OpenSSL), built from the tls-* parameters as Redis's
/// tlsConfigure: one for the connections accepted on `tls-port` and one for our master link. Connections
/// hold their own reference, so a new context (CONFIG SET tls-cert-file ...) serves new connections while
/// open ones continue with the old one.
final class TLSContext {
    fileprivate let raw: OpaquePointer

    /// The context for `config`'s tls-* values, or Redis's log text explaining why it cannot be built.
    static func make(_ config: Config) -> Result<TLSContext, TLSConfigurationError> {
        func value(_ name: String) -> String { config.value(of: name) ?? "" }
        func number(_ name: String) -> Int32 { Int32(clamping: Int(value(name)) ?? 0) }
        let strings = ["tls-cert-file", "tls-key-file", "tls-key-file-pass", "tls-client-cert-file",
                       "tls-client-key-file", "tls-client-key-file-pass", "tls-dh-params-file", "tls-ca-cert-file",
                       "tls-ca-cert-dir", "tls-protocols", "tls-ciphers", "tls-ciphersuites"].map { value($0) }
        let needCA = value("tls-auth-clients") != "no" || value("tls-replication") == "yes" || value("tls-cluster") == "yes"
        var error = [CChar](repeating: 0, count: 512)
        // The C strings live for the duration of the call (withCString nesting over the twelve values).
        let context: OpaquePointer? = withCStrings(strings) { p in
            var options = nt_tls_config(
                cert_file: p[0], key_file: p[1], key_file_pass: p[2], client_cert_file: p[3], client_key_file: p[4],
                client_key_file_pass: p[5], dh_params_file: p[6], ca_cert_file: p[7], ca_cert_dir: p[8],
                protocols: p[9], ciphers: p[10], ciphersuites: p[11],
                prefer_server_ciphers: value("tls-prefer-server-ciphers") == "yes" ? 1 : 0,
                session_caching: value("tls-session-caching") == "yes" ? 1 : 0,
                session_cache_size: number("tls-session-cache-size"),
                session_cache_timeout: number("tls-session-cache-timeout"))
            return nt_tls_context_create(&options, needCA ? 1 : 0, &error, error.count)
        }
        guard let context else { return .failure(TLSConfigurationError(message: String(cString: error))) }
        return .success(TLSContext(raw: context))
    }

    private init(raw: OpaquePointer) { self.raw = raw }
    deinit { nt_tls_context_release(raw) }
}

struct TLSConfigurationError: Error {
    let message: String
}

/// `tls-auth-clients`: whether a client must (yes), may (optional) or need not (no) present a certificate.
enum TLSClientAuth: Int32 {
    case no = 0, yes = 1, optional = 2

    init(_ value: String?) {
        switch value {
        case "no": self = .no
        case "optional": self = .optional
        default: self = .yes
        }
    }
}

/// One connection's TLS session and what it waits for. OpenSSL's calls may need the other direction than
/// the one asked (a write that must first read a handshake record, a read that must write one): the flags
/// say so, and `Server.updateInterest` asks epoll for that direction instead.
final class TLSConnection {
    private var raw: OpaquePointer?
    /// Until the handshake completes, every event continues it (`Server.continueHandshake`).
    var handshaking = true
    /// The handshake waits for the socket to be writable (otherwise readable).
    var handshakeWantsWrite = false
    /// The last SSL_read wants the socket writable before it can go on.
    var readWantsWrite = false
    /// The last SSL_write wants the socket readable before it can go on.
    var writeWantsRead = false
    /// In the server's list of connections with decrypted bytes the socket will not announce.
    var listedPending = false

    enum Outcome {
        case bytes(Int)
        case wantRead
        case wantWrite
        case closed
        case failed(String)
    }

    /// A server-side session over an accepted socket.
    init?(accepting fd: Int32, context: TLSContext, auth: TLSClientAuth) {
        guard let conn = nt_tls_accept(context.raw, fd, auth.rawValue) else { return nil }
        raw = conn
    }

    /// A client-side session over a connecting socket (our master link).
    init?(connecting fd: Int32, context: TLSContext) {
        guard let conn = nt_tls_connect(context.raw, fd) else { return nil }
        raw = conn
    }

    deinit { if let raw { nt_tls_free(raw) } }

    /// Sends close_notify (once, without waiting) and frees the session; call before closing the socket.
    func shutdown() {
        if let raw { nt_tls_free(raw) }
        raw = nil
    }

    func handshake() -> Outcome { outcome(nt_tls_handshake(raw)) }

    @inline(__always) func read(into buffer: UnsafeMutableRawPointer, count: Int) -> Outcome {
        outcome(nt_tls_read(raw, buffer, count))
    }

    @inline(__always) func write(_ buffer: UnsafeRawPointer, count: Int) -> Outcome {
        outcome(nt_tls_write(raw, buffer, count))
    }

    /// Input held by OpenSSL (decrypted bytes, or records read ahead): epoll will not report it, so it is read
    /// before the loop sleeps.
    var hasPending: Bool { raw.map { nt_tls_pending($0) > 0 } ?? false }

    @inline(__always) private func outcome(_ r: Int) -> Outcome {
        if r >= 0 { return .bytes(r) }
        switch r {
        case Int(NT_TLS_WANT_READ): return .wantRead
        case Int(NT_TLS_WANT_WRITE): return .wantWrite
        case Int(NT_TLS_CLOSED): return .closed
        default: return .failed(raw.map { String(cString: nt_tls_error_text($0)) } ?? "closed")
        }
    }
}

/// Calls `body` with C strings for `strings`, all valid during the call.
private func withCStrings<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>]) -> R) -> R {
    let copies = strings.map { strdup($0)! }
    defer { copies.forEach { free($0) } }
    return body(copies.map { UnsafePointer($0) })
}
