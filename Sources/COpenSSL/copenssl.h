// OpenSSL as Debian ships it (libssl-dev): the TLS library Redis links. Only Sources/CTLS includes it; the
// server sees TLS through CTLS's small API (OpenSSL's many macros do not import into Swift).
#ifndef NEEDLETAIL_COPENSSL_H
#define NEEDLETAIL_COPENSSL_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#endif
