/*
 * tls.h: the server's TLS context, the client-certificate policy, and why
 * a handshake was refused, in words.
 */
#ifndef LABWATCH_TLS_H
#define LABWATCH_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "conf.h"

/* Why a TLS client was refused; TLS_ACCEPTED when it was not. */
enum tls_refusal {
	TLS_ACCEPTED = 0,
	TLS_REFUSED_NO_CERT,	   /* no client certificate */
	TLS_REFUSED_EXPIRED,	   /* client certificate expired */
	TLS_REFUSED_NOT_YET_VALID, /* client certificate not yet valid */
	TLS_REFUSED_UNKNOWN_CA,	   /* not signed by tls_ca */
	TLS_REFUSED_CERT_INVALID,  /* any other verification failure */
	TLS_REFUSED_SUBJECT,	   /* valid, but not in tls_allowed_subjects */
	TLS_REFUSED_OLD_PROTOCOL,  /* below TLS 1.2 */
	TLS_REFUSED_NO_SHARED_CIPHER, /* only suites outside the profile */
	TLS_REFUSED_NOT_TLS,	      /* plain MLLP, HTTP... on the TLS port */
	TLS_REFUSED_CLIENT_ALERT, /* the client gave up (did not trust us...) */
	TLS_REFUSED_CLOSED,	  /* the client closed during the handshake */
	TLS_REFUSED_OTHER,
	TLS_REFUSAL_COUNT
};

/*
 * A server context from cfg: Mozilla's "intermediate" profile (TLS 1.2 and
 * 1.3; ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 only; no
 * session tickets), tls_cert/tls_key, tls_ca and tls_verify_client. NULL
 * and *cause (malloc'ed) when a file is missing or does not match. New
 * connections use the newest context; connections already open keep
 * theirs (each SSL holds a reference).
 */
SSL_CTX *tls_ctx_new(const struct config *cfg, char **cause);

/*
 * What makes ctx's own certificate (tls_cert) fail with every client that
 * verifies it: "tls_cert expired on ..." or "tls_cert is not valid before
 * ...", written to buf; false (buf untouched) when it is valid now.
 */
bool tls_ctx_cert_problem(SSL_CTX *ctx, char *buf, size_t len);

/*
 * After the handshake: is this client allowed (a valid certificate when
 * required, a subject on tls_allowed_subjects when the list is set)?
 * Writes "CN=name" (or "-" without a certificate) to who. Returns
 * TLS_ACCEPTED, or the refusal with its reason in words in why.
 */
enum tls_refusal tls_check_peer(SSL *ssl, const struct config *cfg, char *who,
    size_t wholen, char *why, size_t whylen);

/*
 * A failed handshake: errs are the OpenSSL error codes the connection
 * collected (libevent's list, any order; SSL_get_error() values mixed in
 * are skipped). Returns the refusal and writes the reason in words to why,
 * with the client certificate's CN when one was sent.
 */
enum tls_refusal tls_refusal_of(SSL *ssl, const unsigned long *errs, size_t n,
    char *why, size_t whylen);

#endif
