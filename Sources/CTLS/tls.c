// TLS over OpenSSL for the server's epoll loop (see ctls.h). The contexts follow Redis 7.0's tlsConfigure:
// TLS 1.2 and 1.3 unless tls-protocols says otherwise, no compression, no client renegotiation, partial
// writes with a moving write buffer (the output buffer may be reallocated between a short SSL_write and
// its retry), peer verification against tls-ca-cert-file/-dir, Redis's server-side session cache.
//
// One difference from Redis: read-ahead. Without it, OpenSSL reads a record in two read() calls (its 5-byte
// header, then its body), so every request costs two reads; with it, one read() takes whatever the socket
// holds (up to the read buffer) and later records wait, still encrypted, in OpenSSL's buffer. SSL_pending
// does not count those, so `nt_tls_pending` asks SSL_has_pending: the loop reads such a client again before
// it sleeps (Server+TLS.swift), as for decrypted bytes.
//
// Every connection call clears OpenSSL's thread error queue first: SSL_get_error reads that queue, and a
// stale entry left by another connection would turn a WANT_READ into a fatal error.
#include "ctls.h"
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nt_tls_context {
    SSL_CTX *server;
    SSL_CTX *client;
};

struct nt_tls_conn {
    SSL *ssl;
    int handshake_done;
    char error[256];
};

static int password_callback(char *buf, int size, int rwflag, void *userdata) {
    (void)rwflag;
    const char *pass = userdata;
    if (pass == NULL) return -1;
    size_t len = strlen(pass);
    if ((int)len > size) return -1;
    memcpy(buf, pass, len);
    return (int)len;
}

static int is_set(const char *s) { return s != NULL && s[0] != '\0'; }

static void openssl_error(char *err, size_t err_len) {
    unsigned long e = ERR_peek_last_error();
    char text[256] = "";
    if (e != 0) ERR_error_string_n(e, text, sizeof(text));
    snprintf(err, err_len, "%s", text);
    ERR_clear_error();
}

/// tls-protocols: a space-separated subset of TLSv1 TLSv1.1 TLSv1.2 TLSv1.3 (default TLSv1.2 TLSv1.3).
/// Returns the SSL_OP_NO_* options that exclude the others, or -1.
static long protocol_options(const char *protocols) {
    if (!is_set(protocols)) return SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
    long allowed = 0;
    enum { V1 = 1, V11 = 2, V12 = 4, V13 = 8 };
    char *copy = strdup(protocols), *save = NULL;
    for (char *word = strtok_r(copy, " ", &save); word; word = strtok_r(NULL, " ", &save)) {
        if (!strcasecmp(word, "tlsv1")) allowed |= V1;
        else if (!strcasecmp(word, "tlsv1.1")) allowed |= V11;
        else if (!strcasecmp(word, "tlsv1.2")) allowed |= V12;
        else if (!strcasecmp(word, "tlsv1.3")) allowed |= V13;
        else { free(copy); return -1; }
    }
    free(copy);
    if (allowed == 0) return -1;
    long options = 0;
    if (!(allowed & V1)) options |= SSL_OP_NO_TLSv1;
    if (!(allowed & V11)) options |= SSL_OP_NO_TLSv1_1;
    if (!(allowed & V12)) options |= SSL_OP_NO_TLSv1_2;
    if (!(allowed & V13)) options |= SSL_OP_NO_TLSv1_3;
    return options;
}

/// One SSL_CTX (Redis's createSSLContext): `client` selects the tls-client-* certificate.
static SSL_CTX *create_ssl_context(const nt_tls_config *c, long protocols, int client, char *err, size_t err_len) {
    const char *cert = client ? c->client_cert_file : c->cert_file;
    const char *key = client ? c->client_key_file : c->key_file;
    const char *pass = client ? c->client_key_file_pass : c->key_file_pass;
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (ctx == NULL) { snprintf(err, err_len, "Failed to create TLS context"); return NULL; }
    SSL_CTX_set_options(ctx, SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_COMPRESSION | protocols);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    // A peer that closes without close_notify (redis-cli, most clients) is an ordinary close, not an error.
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
#ifdef SSL_OP_NO_CLIENT_RENEGOTIATION
    SSL_CTX_set_options(ctx, SSL_OP_NO_CLIENT_RENEGOTIATION);
#endif
    if (c->prefer_server_ciphers) SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_ecdh_auto(ctx, 1);
    SSL_CTX_set_default_passwd_cb(ctx, password_callback);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)(is_set(pass) ? pass : NULL));
    char detail[256];
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) <= 0) {
        openssl_error(detail, sizeof(detail));
        snprintf(err, err_len, "Failed to load certificate: %s: %s", cert, detail);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) <= 0) {
        openssl_error(detail, sizeof(detail));
        snprintf(err, err_len, "Failed to load private key: %s: %s", key, detail);
        goto fail;
    }
    if ((is_set(c->ca_cert_file) || is_set(c->ca_cert_dir)) &&
        SSL_CTX_load_verify_locations(ctx, is_set(c->ca_cert_file) ? c->ca_cert_file : NULL,
                                      is_set(c->ca_cert_dir) ? c->ca_cert_dir : NULL) <= 0) {
        openssl_error(detail, sizeof(detail));
        snprintf(err, err_len, "Failed to configure CA certificate(s) file/directory: %s", detail);
        goto fail;
    }
    if (is_set(c->ciphers) && !SSL_CTX_set_cipher_list(ctx, c->ciphers)) {
        snprintf(err, err_len, "Failed to configure ciphers: %s", c->ciphers);
        goto fail;
    }
    if (is_set(c->ciphersuites) && !SSL_CTX_set_ciphersuites(ctx, c->ciphersuites)) {
        snprintf(err, err_len, "Failed to configure ciphersuites: %s", c->ciphersuites);
        goto fail;
    }
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);  // the key is loaded; `pass` is not kept
    ERR_clear_error();
    return ctx;
fail:
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return NULL;
}

nt_tls_context *nt_tls_context_create(const nt_tls_config *c, int need_ca, char *err, size_t err_len) {
    if (!is_set(c->cert_file)) { snprintf(err, err_len, "No tls-cert-file configured!"); return NULL; }
    if (!is_set(c->key_file)) { snprintf(err, err_len, "No tls-key-file configured!"); return NULL; }
    if (need_ca && !is_set(c->ca_cert_file) && !is_set(c->ca_cert_dir)) {
        snprintf(err, err_len, "Either tls-ca-cert-file or tls-ca-cert-dir must be specified when tls-cluster, "
                 "tls-replication or tls-auth-clients are enabled!");
        return NULL;
    }
    long protocols = protocol_options(c->protocols);
    if (protocols == -1) {
        snprintf(err, err_len, "Invalid tls-protocols specified. Use a combination of 'TLSv1', 'TLSv1.1', "
                 "'TLSv1.2' and 'TLSv1.3'.");
        return NULL;
    }
    SSL_CTX *server = create_ssl_context(c, protocols, 0, err, err_len);
    if (server == NULL) return NULL;
    if (c->session_caching) {
        SSL_CTX_set_session_cache_mode(server, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_cache_size(server, c->session_cache_size);
        SSL_CTX_set_timeout(server, c->session_cache_timeout);
        SSL_CTX_set_session_id_context(server, (const unsigned char *)"redis", 5);
    } else {
        SSL_CTX_set_session_cache_mode(server, SSL_SESS_CACHE_OFF);
    }
    if (is_set(c->dh_params_file)) {
        BIO *bio = BIO_new_file(c->dh_params_file, "r");
        EVP_PKEY *params = bio ? PEM_read_bio_Parameters(bio, NULL) : NULL;
        if (bio) BIO_free(bio);
        if (params == NULL || !SSL_CTX_set0_tmp_dh_pkey(server, params)) {
            if (params) EVP_PKEY_free(params);
            char detail[256];
            openssl_error(detail, sizeof(detail));
            snprintf(err, err_len, "Failed to load %s: %s", c->dh_params_file, detail);
            SSL_CTX_free(server);
            return NULL;
        }
    } else {
        SSL_CTX_set_dh_auto(server, 1);
    }
    SSL_CTX *client = server;
    if (is_set(c->client_cert_file) && is_set(c->client_key_file)) {
        client = create_ssl_context(c, protocols, 1, err, err_len);
        if (client == NULL) { SSL_CTX_free(server); return NULL; }
    } else {
        SSL_CTX_up_ref(server);
    }
    nt_tls_context *context = malloc(sizeof(*context));
    context->server = server;
    context->client = client;
    return context;
}

void nt_tls_context_release(nt_tls_context *context) {
    if (context == NULL) return;
    SSL_CTX_free(context->server);
    SSL_CTX_free(context->client);
    free(context);
}

static nt_tls_conn *new_conn(SSL_CTX *ctx, int fd) {
    SSL *ssl = SSL_new(ctx);  // holds its own reference to ctx
    if (ssl == NULL) return NULL;
    if (!SSL_set_fd(ssl, fd)) { SSL_free(ssl); return NULL; }
    nt_tls_conn *conn = calloc(1, sizeof(*conn));
    conn->ssl = ssl;
    return conn;
}

nt_tls_conn *nt_tls_accept(nt_tls_context *context, int fd, int auth_clients) {
    nt_tls_conn *conn = new_conn(context->server, fd);
    if (conn == NULL) return NULL;
    switch (auth_clients) {
    case 0: SSL_set_verify(conn->ssl, SSL_VERIFY_NONE, NULL); break;
    case 2: SSL_set_verify(conn->ssl, SSL_VERIFY_PEER, NULL); break;
    default: SSL_set_verify(conn->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL); break;
    }
    SSL_set_accept_state(conn->ssl);
    return conn;
}

nt_tls_conn *nt_tls_connect(nt_tls_context *context, int fd) {
    nt_tls_conn *conn = new_conn(context->client, fd);
    if (conn == NULL) return NULL;
    SSL_set_connect_state(conn->ssl);
    return conn;
}

/// Maps a failed SSL call's result to NT_TLS_*, keeping the reason text for fatal ones.
static long failure(nt_tls_conn *conn, int ret) {
    int saved_errno = errno;
    switch (SSL_get_error(conn->ssl, ret)) {
    case SSL_ERROR_WANT_READ: return NT_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return NT_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: return NT_TLS_CLOSED;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            if (ret == 0 || saved_errno == 0) return NT_TLS_CLOSED;
            if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == EINTR) return NT_TLS_WANT_READ;
            snprintf(conn->error, sizeof(conn->error), "%s", strerror(saved_errno));
            return NT_TLS_ERROR;
        }
        /* fallthrough */
    default:
        openssl_error(conn->error, sizeof(conn->error));
        if (conn->error[0] == '\0') snprintf(conn->error, sizeof(conn->error), "TLS error");
        return NT_TLS_ERROR;
    }
}

long nt_tls_handshake(nt_tls_conn *conn) {
    ERR_clear_error();
    int ret = SSL_do_handshake(conn->ssl);
    if (ret == 1) { conn->handshake_done = 1; return 1; }
    long r = failure(conn, ret);
    // The peer going away mid-handshake is an error of the handshake, not an orderly close.
    if (r == NT_TLS_CLOSED) { snprintf(conn->error, sizeof(conn->error), "Connection closed"); r = NT_TLS_ERROR; }
    return r;
}

long nt_tls_read(nt_tls_conn *conn, void *buffer, size_t count) {
    ERR_clear_error();
    int ret = SSL_read(conn->ssl, buffer, count > INT32_MAX ? INT32_MAX : (int)count);
    return ret > 0 ? ret : failure(conn, ret);
}

long nt_tls_write(nt_tls_conn *conn, const void *buffer, size_t count) {
    ERR_clear_error();
    int ret = SSL_write(conn->ssl, buffer, count > INT32_MAX ? INT32_MAX : (int)count);
    return ret > 0 ? ret : failure(conn, ret);
}

int nt_tls_pending(const nt_tls_conn *conn) { return SSL_has_pending(conn->ssl); }

const char *nt_tls_error_text(const nt_tls_conn *conn) { return conn->error; }

void nt_tls_free(nt_tls_conn *conn) {
    if (conn == NULL) return;
    if (conn->handshake_done) {
        ERR_clear_error();
        (void)SSL_shutdown(conn->ssl);  // one non-blocking attempt at close_notify
        ERR_clear_error();
    }
    SSL_free(conn->ssl);
    free(conn);
}
