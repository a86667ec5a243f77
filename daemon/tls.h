/*
 * tls.h: the server's TLS context and the client-certificate policy.
 */
#ifndef LABWATCH_TLS_H
#define LABWATCH_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "conf.h"

/*
 * A server context from cfg: TLS 1.2 minimum, tls_cert/tls_key, tls_ca and
 * tls_verify_client. NULL and *cause (malloc'ed) when a file is missing or
 * does not match. New connections use the newest context; connections
 * already open keep theirs (each SSL holds a reference).
 */
SSL_CTX *tls_ctx_new(const struct config *cfg, char **cause);

/*
 * After the handshake: is this client allowed (a valid certificate when
 * required, a subject on tls_allowed_subjects when the list is set)?
 * Writes "CN=name" (or "-" without a certificate) to who. Returns 0, or -1
 * and a static reason.
 */
int tls_check_peer(SSL *ssl, const struct config *cfg, char *who, size_t len,
    const char **why);

#endif
