/*
 * tls.c: OpenSSL server context, subject allow-list, refusal reasons.
 */
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "lib/xmalloc.h"

/*
 * Mozilla's "intermediate" configuration (wiki.mozilla.org/Security/
 * Server_Side_TLS) without its finite-field DHE suites: TLS 1.2 and 1.3,
 * forward-secret ECDHE key exchange and AEAD ciphers only: no static RSA,
 * no CBC, no SHA-1 MACs, no DHE (tests/daemon_tls.sh offers each).
 */
#define TLS12_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
	"TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS "X25519:prime256v1:secp384r1"

/* SSL ex_data slot: the CN of a client certificate that failed verification (malloc'ed). */
static int tls_cn_index = -1;

static void
tls_cn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

/*
 * The subject CN of cert, printable ASCII only (it comes from the peer and
 * goes to the log and to the allow-list). Every byte OpenSSL copied counts:
 * a NUL inside ("lis01\0.evil") becomes '?', or the CN would read as the
 * allowed "lis01".
 */
static void
cert_cn(X509 *cert, char *cn, size_t len)
{
	int i, n;

	cn[0] = '\0';
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
	    NID_commonName, cn, (int)len);
	if (n < 0) {
		cn[0] = '\0';
		return;
	}
	for (i = 0; i < n && (size_t)i < len - 1; i++)
		if ((unsigned char)cn[i] < 0x20 || (unsigned char)cn[i] > 0x7e)
			cn[i] = '?';
}

/*
 * Verification as OpenSSL does it; on failure, remember the client
 * certificate's CN so the refusal can name it (the session does not keep
 * a certificate that failed).
 */
static int
tls_verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl;
	X509 *leaf;
	char cn[128];

	if (ok)
		return ok;
	ssl = X509_STORE_CTX_get_ex_data(x,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	leaf = X509_STORE_CTX_get0_cert(x);
	if (ssl != NULL && leaf != NULL && tls_cn_index != -1 &&
	    SSL_get_ex_data(ssl, tls_cn_index) == NULL) {
		cert_cn(leaf, cn, sizeof(cn));
		if (cn[0] != '\0')
			(void)SSL_set_ex_data(ssl, tls_cn_index, xstrdup(cn));
	}
	return ok;
}

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
	s = xasprintf("%s %s: %s", what, file, buf);
	return s;
}

SSL_CTX *
tls_ctx_new(const struct config *cfg, char **cause)
{
	static const unsigned char sid_ctx[] = "labwatchd";
	STACK_OF(X509_NAME) * names;
	SSL_CTX *ctx;
	int mode;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		*cause = ssl_cause("SSL_CTX_new", "");
		return NULL;
	}
	if (tls_cn_index == -1)
		tls_cn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
		    tls_cn_free);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1) {
		*cause = ssl_cause("the TLS profile", "(intermediate)");
		goto fail;
	}
	/*
	 * No session tickets (TLS 1.2 or 1.3): a ticket key that never
	 * rotates would undo forward secrecy, and an MLLP connection lives
	 * long enough that resuming saves nothing. A peer's close without
	 * close_notify is an end of stream, not an error: MLLP's own framing
	 * shows a frame cut short.
	 */
	SSL_CTX_set_options(ctx,
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET |
		SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_num_tickets(ctx, 0);
	/* Idle TLS connections give their read/write buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* Resumed sessions must be tied to this service when clients are verified. */
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		*cause = ssl_cause("tls_cert", cfg->tls_cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) !=
	    1) {
		*cause = ssl_cause("tls_key", cfg->tls_key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*cause = ssl_cause("tls_key does not match tls_cert",
		    cfg->tls_key);
		goto fail;
	}
	if (cfg->tls_ca[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) !=
		    1) {
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
	SSL_CTX_set_verify(ctx, mode, tls_verify_cb);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* t as "2020-02-01 00:00:00 UTC" (OpenSSL's own form when it cannot). */
static void
asn1_time_str(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
	else
		snprintf(buf, len, "an unreadable date");
}

bool
tls_ctx_cert_problem(SSL_CTX *ctx, char *buf, size_t len)
{
	X509 *cert = SSL_CTX_get0_certificate(ctx);
	char when[64];

	if (cert == NULL)
		return false;
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
		asn1_time_str(X509_get0_notAfter(cert), when, sizeof(when));
		snprintf(buf, len,
		    "tls_cert expired on %s: clients that verify it will "
		    "refuse every handshake",
		    when);
		return true;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0) {
		asn1_time_str(X509_get0_notBefore(cert), when, sizeof(when));
		snprintf(buf, len,
		    "tls_cert is not valid before %s: clients that verify "
		    "it will refuse every handshake",
		    when);
		return true;
	}
	return false;
}

/* The words for a failed certificate verification. */
static enum tls_refusal
verify_refusal(long vr, const char *cn, char *why, size_t len)
{
	enum tls_refusal r;
	const char *what;
	char detail[160];

	switch (vr) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		r = TLS_REFUSED_EXPIRED;
		what = "client certificate expired";
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		r = TLS_REFUSED_NOT_YET_VALID;
		what = "client certificate not yet valid";
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		r = TLS_REFUSED_UNKNOWN_CA;
		what = "client certificate from an unknown CA (not tls_ca)";
		break;
	default:
		r = TLS_REFUSED_CERT_INVALID;
		snprintf(detail, sizeof(detail),
		    "client certificate not valid: %s",
		    X509_verify_cert_error_string(vr));
		what = detail;
		break;
	}
	if (cn != NULL && cn[0] != '\0')
		snprintf(why, len, "%s (CN=%s)", what, cn);
	else
		snprintf(why, len, "%s", what);
	return r;
}

/*
 * Does name hold two CNs or more (CN=lis01/CN=evil)? Which one a CA
 * checked is anyone's guess, so such a subject matches no CN= entry (a
 * whole-subject entry names them all).
 */
static bool
several_cns(const X509_NAME *name)
{
	int first = X509_NAME_get_index_by_NID(name, NID_commonName, -1);

	return first >= 0 &&
	    X509_NAME_get_index_by_NID(name, NID_commonName, first) >= 0;
}

/*
 * Is the one CN of name exactly want, byte for byte and by its whole
 * length? The raw value, never a copy cut to a buffer: "lis01" + 200
 * bytes is not "lis01".
 */
static bool
cn_is(const X509_NAME *name, const char *want)
{
	const ASN1_STRING *v;
	X509_NAME_ENTRY *e;
	size_t len = strlen(want);
	int i;

	if ((i = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) < 0)
		return false;
	if ((e = X509_NAME_get_entry(name, i)) == NULL ||
	    (v = X509_NAME_ENTRY_get_data(e)) == NULL)
		return false;
	return len != 0 && (size_t)ASN1_STRING_length(v) == len &&
	    memcmp(ASN1_STRING_get0_data(v), want, len) == 0;
}

enum tls_refusal
tls_check_peer(SSL *ssl, const struct config *cfg, char *who, size_t wholen,
    char *why, size_t whylen)
{
	X509 *cert = SSL_get1_peer_certificate(ssl);
	const X509_NAME *name;
	char cn[128], *line;
	size_t i;
	long vr;
	int ok = 0;
	bool several;

	snprintf(who, wholen, "-");
	if (cert == NULL) {
		if (cfg->tls_verify_client == TLS_VERIFY_REQUIRE ||
		    cfg->nsubjects > 0) {
			snprintf(why, whylen, "no client certificate");
			return TLS_REFUSED_NO_CERT;
		}
		return TLS_ACCEPTED;
	}
	cert_cn(cert, cn, sizeof(cn));
	if ((vr = SSL_get_verify_result(ssl)) != X509_V_OK) {
		X509_free(cert);
		return verify_refusal(vr, cn, why, whylen);
	}
	/* The whole one-line subject (a fixed buffer stops at the last entry that fits). */
	name = X509_get_subject_name(cert);
	line = X509_NAME_oneline(name, NULL, 0);
	several = several_cns(name);
	snprintf(who, wholen, "CN=%s", cn);
	if (cfg->nsubjects == 0)
		ok = 1;
	for (i = 0; i < cfg->nsubjects && !ok; i++) {
		if (strncmp(cfg->subjects[i], "CN=", 3) == 0)
			ok = !several && cn_is(name, cfg->subjects[i] + 3);
		else
			ok = line != NULL &&
			    strcmp(cfg->subjects[i], line) == 0;
	}
	OPENSSL_free(line);
	X509_free(cert);
	if (!ok) {
		snprintf(why, whylen,
		    "client certificate subject not in "
		    "tls_allowed_subjects (CN=%s%s)",
		    cn, several ? " and another CN" : "");
		return TLS_REFUSED_SUBJECT;
	}
	return TLS_ACCEPTED;
}

/* "TLS 1.1" for what the client offered at most. */
static const char *
client_version_name(SSL *ssl)
{
	switch (ssl != NULL ? SSL_client_version(ssl) : 0) {
	case SSL3_VERSION:
		return "SSL 3";
	case TLS1_VERSION:
		return "TLS 1.0";
	case TLS1_1_VERSION:
		return "TLS 1.1";
	default:
		return "an old version";
	}
}

enum tls_refusal
tls_refusal_of(SSL *ssl, const unsigned long *errs, size_t n, char *why,
    size_t len)
{
	const char *cn = ssl != NULL && tls_cn_index != -1 ?
	    SSL_get_ex_data(ssl, tls_cn_index) :
	    NULL;
	const char *rs;
	unsigned long e, first = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		e = errs[i];
		/* libevent mixes SSL_get_error() values (1, 5...) in: no library, no reason. */
		if (ERR_GET_LIB(e) == 0)
			continue;
		if (first == 0)
			first = e;
		if (ERR_GET_LIB(e) != ERR_LIB_SSL)
			continue;
		switch (ERR_GET_REASON(e)) {
		case SSL_R_CERTIFICATE_VERIFY_FAILED:
			return verify_refusal(ssl != NULL ?
				SSL_get_verify_result(ssl) :
				X509_V_ERR_UNSPECIFIED,
			    cn, why, len);
		case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
			snprintf(why, len, "no client certificate");
			return TLS_REFUSED_NO_CERT;
		case SSL_R_UNSUPPORTED_PROTOCOL:
		case SSL_R_VERSION_TOO_LOW:
			snprintf(why, len,
			    "protocol version too old (%s; TLS 1.2 is "
			    "the minimum)",
			    client_version_name(ssl));
			return TLS_REFUSED_OLD_PROTOCOL;
		case SSL_R_NO_SHARED_CIPHER:
			snprintf(why, len,
			    "no cipher suite in common (ECDHE with "
			    "AES-GCM or ChaCha20 only: no static RSA, no CBC)");
			return TLS_REFUSED_NO_SHARED_CIPHER;
		case SSL_R_WRONG_VERSION_NUMBER:
		case SSL_R_HTTP_REQUEST:
		case SSL_R_HTTPS_PROXY_REQUEST:
		case SSL_R_UNKNOWN_PROTOCOL:
		case SSL_R_PACKET_LENGTH_TOO_LONG:
			snprintf(why, len,
			    "not TLS (plain MLLP or another protocol "
			    "on the TLS port)");
			return TLS_REFUSED_NOT_TLS;
		case SSL_R_UNEXPECTED_EOF_WHILE_READING:
			snprintf(why, len, "closed during the TLS handshake");
			return TLS_REFUSED_CLOSED;
		default:
			/* Alerts the client sent: reasons from SSL_AD_REASON_OFFSET on. */
			if (ERR_GET_REASON(e) >= SSL_AD_REASON_OFFSET &&
			    (rs = ERR_reason_error_string(e)) != NULL) {
				snprintf(why, len,
				    "the client ended the handshake "
				    "(%s)",
				    rs);
				return TLS_REFUSED_CLIENT_ALERT;
			}
			break;
		}
	}
	if (first == 0) {
		snprintf(why, len, "closed during the TLS handshake");
		return TLS_REFUSED_CLOSED;
	}
	if ((rs = ERR_reason_error_string(first)) != NULL)
		snprintf(why, len, "TLS handshake failed: %s", rs);
	else
		snprintf(why, len, "TLS handshake failed: OpenSSL error %lx",
		    first);
	return TLS_REFUSED_OTHER;
}
