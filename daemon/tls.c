/*
 * tls.c: OpenSSL server context and subject allow-list.
 */
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "hl7/xmalloc.h"

/* The oldest queued OpenSSL error, for a cause line. */
static char *
ssl_cause(const char *what, const char *file)
{
	char buf[256], *s;
	unsigned long e = ERR_get_error();

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "unknown error");
	ERR_clear_error();
	if (asprintf(&s, "%s %s: %s", what, file, buf) == -1)
		abort();
	return s;
}

SSL_CTX *
tls_ctx_new(const struct config *cfg, char **cause)
{
	static const unsigned char sid_ctx[] = "labwatchd";
	STACK_OF(X509_NAME) *names;
	SSL_CTX *ctx;
	int mode;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		*cause = ssl_cause("SSL_CTX_new", "");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	/* Idle TLS connections give their read/write buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* Resumed sessions must be tied to this service when clients are verified. */
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		*cause = ssl_cause("tls_cert", cfg->tls_cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
		*cause = ssl_cause("tls_key", cfg->tls_key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*cause = ssl_cause("tls_key does not match tls_cert", cfg->tls_key);
		goto fail;
	}
	if (cfg->tls_ca[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1) {
			*cause = ssl_cause("tls_ca", cfg->tls_ca);
			goto fail;
		}
		/* Tell clients which CAs we accept, so they pick the right certificate. */
		if ((names = SSL_load_client_CA_file(cfg->tls_ca)) != NULL)
			SSL_CTX_set_client_CA_list(ctx, names);
	}
	switch (cfg->tls_verify_client) {
	case TLS_VERIFY_REQUIRE:
		mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		break;
	case TLS_VERIFY_OPTIONAL:
		mode = SSL_VERIFY_PEER;
		break;
	default:
		mode = SSL_VERIFY_NONE;
		break;
	}
	SSL_CTX_set_verify(ctx, mode, NULL);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int
tls_check_peer(SSL *ssl, const struct config *cfg, char *who, size_t len,
    const char **why)
{
	X509 *cert = SSL_get1_peer_certificate(ssl);
	X509_NAME *subj;
	char cn[128], line[512];
	size_t i;
	int ok = 0;

	snprintf(who, len, "-");
	if (cert == NULL) {
		if (cfg->tls_verify_client == TLS_VERIFY_REQUIRE || cfg->nsubjects > 0) {
			*why = "no client certificate";
			return -1;
		}
		return 0;
	}
	if (SSL_get_verify_result(ssl) != X509_V_OK) {
		*why = "client certificate not verified";
		X509_free(cert);
		return -1;
	}
	subj = X509_get_subject_name(cert);
	cn[0] = '\0';
	if (X509_NAME_get_text_by_NID(subj, NID_commonName, cn, sizeof(cn)) < 0)
		cn[0] = '\0';
	X509_NAME_oneline(subj, line, sizeof(line));
	snprintf(who, len, "CN=%s", cn);
	if (cfg->nsubjects == 0)
		ok = 1;
	for (i = 0; i < cfg->nsubjects && !ok; i++) {
		if (strncmp(cfg->subjects[i], "CN=", 3) == 0)
			ok = cn[0] != '\0' && strcmp(cfg->subjects[i] + 3, cn) == 0;
		else
			ok = strcmp(cfg->subjects[i], line) == 0;
	}
	X509_free(cert);
	if (!ok) {
		*why = "client certificate subject not in tls_allowed_subjects";
		return -1;
	}
	return 0;
}
