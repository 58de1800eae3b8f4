// TLS for the server's own event loop: contexts built from the tls-* parameters as Redis's tlsConfigure
// builds them, and non-blocking connections whose every call says what it waits for (read or write) instead
// of blocking. Implemented over OpenSSL in tls.c; no OpenSSL type appears here.
#ifndef NEEDLETAIL_CTLS_H
#define NEEDLETAIL_CTLS_H
#include <stddef.h>

/// The tls-* parameters a context is built from (NULL or "" = not set).
typedef struct nt_tls_config {
    const char *cert_file, *key_file, *key_file_pass;
    const char *client_cert_file, *client_key_file, *client_key_file_pass;
    const char *dh_params_file, *ca_cert_file, *ca_cert_dir;
    const char *protocols, *ciphers, *ciphersuites;
    int prefer_server_ciphers, session_caching, session_cache_size, session_cache_timeout;
} nt_tls_config;

/// A server context and a client context (the latter for our master link; the same object unless
/// tls-client-cert-file/-key-file are set). Connections keep their own reference: releasing a context
/// (CONFIG SET of a tls-* parameter builds a new one) leaves open connections working.
typedef struct nt_tls_context nt_tls_context;

/// Builds a context; NULL with Redis's log text in `err` when the configuration is unusable.
/// `need_ca`: tls-auth-clients is not `no`, or tls-replication / tls-cluster is on.
nt_tls_context *nt_tls_context_create(const nt_tls_config *config, int need_ca, char *err, size_t err_len);
void nt_tls_context_release(nt_tls_context *context);

/// Results of the connection calls below: >= 0 is success (bytes moved, or 1 for a finished handshake).
enum {
    NT_TLS_ERROR = -1,       // fatal; nt_tls_error_text says why
    NT_TLS_WANT_READ = -2,   // try again when the socket is readable
    NT_TLS_WANT_WRITE = -3,  // try again when the socket is writable
    NT_TLS_CLOSED = -4,      // the peer closed the connection (close_notify or EOF)
};

typedef struct nt_tls_conn nt_tls_conn;

/// A server-side connection over an accepted socket. `auth_clients`: 0 no, 1 yes, 2 optional.
nt_tls_conn *nt_tls_accept(nt_tls_context *context, int fd, int auth_clients);
/// A client-side connection over a connecting socket (our master link).
nt_tls_conn *nt_tls_connect(nt_tls_context *context, int fd);
/// One step of the handshake: 1 when done, else one of the NT_TLS_* codes.
long nt_tls_handshake(nt_tls_conn *conn);
long nt_tls_read(nt_tls_conn *conn, void *buffer, size_t count);
long nt_tls_write(nt_tls_conn *conn, const void *buffer, size_t count);
/// Whether OpenSSL holds input the socket will not announce again, decrypted or still a record in its
/// read-ahead buffer (SSL_has_pending): read such a connection again before sleeping.
int nt_tls_pending(const nt_tls_conn *conn);
/// Why the last call failed (OpenSSL's error queue, or errno).
const char *nt_tls_error_text(const nt_tls_conn *conn);
/// Sends close_notify when the handshake finished (without waiting for the peer's), then frees the
/// connection; the caller closes the socket.
void nt_tls_free(nt_tls_conn *conn);

#endif
