/*
 * mllp_client.c: one blocking MLLP client connection, plain or TLS.
 *
 * Blocking sockets with SO_RCVTIMEO/SO_SNDTIMEO: each connection has its
 * own thread and waits for one ACK at a time, so a timeout on the socket
 * is the ACK timeout.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "cli/mllp_client.h"
#include "hl7/mllp.h"
#include "lib/xmalloc.h"

#define ACK_MAX (1u << 20) /* an ACK larger than this is not an ACK */

static const char *const ack_names[MLLP_ACK_NCODES] = {
	"AA",
	"AE",
	"AR",
	"CA",
	"CE",
	"CR",
	"bad",
};

const char *
mllp_ack_name(enum mllp_ack_code code)
{
	return ack_names[code];
}

static char *
ssl_cause(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[160];

	ERR_clear_error();
	if (e == 0)
		return xasprintf("%s: %s", what,
		    errno == EAGAIN ? "timed out" :
			errno != 0  ? strerror(errno) :
				      "connection closed");
	ERR_error_string_n(e, buf, sizeof(buf));
	return xasprintf("%s: %s", what, buf);
}

struct ssl_ctx_st *
mllp_client_tls(const char *ca, const char *cert, const char *key, char **cause)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		*cause = ssl_cause("SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* The server is always verified: by --ca, else the system's CAs. */
	if (ca != NULL ? SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 :
			 SSL_CTX_set_default_verify_paths(ctx) != 1) {
		*cause = ssl_cause(ca != NULL ? ca : "default CA paths");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (cert != NULL &&
	    (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
		SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
		SSL_CTX_check_private_key(ctx) != 1)) {
		*cause = ssl_cause(cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

void
mllp_client_init(struct mllp_client *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

void
mllp_client_close(struct mllp_client *c)
{
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	free(c->rbuf);
	free(c->wbuf);
	mllp_client_init(c);
}

int
mllp_client_tcp(const char *host, const char *port, int timeout_s, char **cause)
{
	struct addrinfo hints, *res, *ai;
	struct timeval tv = { timeout_s, 0 };
	int rc, one = 1, fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		*cause = xasprintf("%s: %s", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		rc = errno;
		close(fd);
		fd = -1;
		errno = rc;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		*cause = xasprintf("connect %s:%s: %s", host, port,
		    strerror(errno));
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/*
 * The certificate must name host: an IP address must be in its IP
 * subjectAltNames, a name match a DNS one (or the CN without any); a
 * name is also sent as SNI.
 */
static int
tls_peer_name(SSL *ssl, const char *host)
{
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	unsigned char a[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, host, a) == 1 ||
	    inet_pton(AF_INET6, host, a) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1)
			return -1;
		return 0;
	}
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set1_host(ssl, host) != 1 ||
	    SSL_set_tlsext_host_name(ssl, host) != 1)
		return -1;
	return 0;
}

enum mllp_io
mllp_client_open(struct mllp_client *c, const struct mllp_client_conf *conf,
    char **cause)
{
	SSL *ssl;

	mllp_client_close(c);
	if ((c->fd = mllp_client_tcp(conf->host, conf->port, conf->timeout_s,
		 cause)) < 0)
		return MLLP_IO_ERROR;
	if (conf->tls == NULL)
		return MLLP_IO_OK;
	if ((ssl = SSL_new(conf->tls)) == NULL) {
		*cause = ssl_cause("SSL_new");
		mllp_client_close(c);
		return MLLP_IO_ERROR;
	}
	c->ssl = ssl;
	errno = 0;
	if (SSL_set_fd(ssl, c->fd) != 1 ||
	    tls_peer_name(ssl, conf->host) != 0 || SSL_connect(ssl) != 1) {
		*cause = ssl_cause("TLS handshake");
		mllp_client_close(c);
		return MLLP_IO_ERROR;
	}
	return MLLP_IO_OK;
}

static enum mllp_io
client_write(struct mllp_client *c, const char *p, size_t len, char **cause)
{
	ssize_t n;
	int w;

	while (len > 0) {
		errno = 0;
		if (c->ssl != NULL) {
			if ((w = SSL_write(c->ssl, p,
				 (int)(len > INT_MAX ? INT_MAX : len))) <= 0) {
				*cause = ssl_cause("send");
				return MLLP_IO_ERROR;
			}
			n = w;
		} else if ((n = send(c->fd, p, len, MSG_NOSIGNAL)) < 0) {
			if (errno == EINTR)
				continue;
			*cause = xasprintf("send: %s", strerror(errno));
			return MLLP_IO_ERROR;
		}
		p += n;
		len -= (size_t)n;
	}
	return MLLP_IO_OK;
}

static enum mllp_io
client_read(struct mllp_client *c, char **cause)
{
	ssize_t n;
	int r;

	if (c->rlen == c->rcap) {
		if (c->rcap >= ACK_MAX) {
			*cause = xasprintf("ACK over %u bytes", ACK_MAX);
			return MLLP_IO_ERROR;
		}
		c->rcap = c->rcap ? c->rcap * 2 : 4096;
		c->rbuf = xreallocarray(c->rbuf, c->rcap, 1);
	}
	for (;;) {
		errno = 0;
		if (c->ssl != NULL) {
			r = SSL_read(c->ssl, c->rbuf + c->rlen,
			    (int)(c->rcap - c->rlen));
			n = r;
			if (r <= 0 && errno == EINTR &&
			    SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ)
				continue; /* Ctrl-C: the ACK is still awaited */
			if (r <= 0) {
				if (errno == EAGAIN) {
					*cause = xstrdup("no ACK in time");
					return MLLP_IO_TIMEOUT;
				}
				*cause = ssl_cause("receive");
				return MLLP_IO_ERROR;
			}
		} else {
			n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen,
			    0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 &&
			    (errno == EAGAIN || errno == EWOULDBLOCK)) {
				*cause = xstrdup("no ACK in time");
				return MLLP_IO_TIMEOUT;
			}
			if (n <= 0) {
				*cause = xasprintf("receive: %s",
				    n == 0 ? "connection closed by server" :
					     strerror(errno));
				return MLLP_IO_ERROR;
			}
		}
		c->rlen += (size_t)n;
		return MLLP_IO_OK;
	}
}

enum mllp_io
mllp_client_exchange(struct mllp_client *c, const char *msg, size_t len,
    enum mllp_ack_code *code, char **cause)
{
	enum mllp_io io;
	size_t i, sb;

	if (c->wcap < len + 3) {
		c->wcap = len + 3;
		c->wbuf = xreallocarray(c->wbuf, c->wcap, 1);
	}
	c->rlen = 0; /* one ACK per message: nothing else is pending */
	if ((io = client_write(c, c->wbuf, mllp_wrap(msg, len, c->wbuf),
		 cause)) != MLLP_IO_OK)
		return io;
	for (i = 1;; i++) {
		while (i >= c->rlen)
			if ((io = client_read(c, cause)) != MLLP_IO_OK)
				return io;
		if (c->rbuf[i - 1] != MLLP_EB || c->rbuf[i] != MLLP_CR)
			continue;
		for (sb = 0; sb < i - 1 && c->rbuf[sb] != MLLP_SB; sb++)
			;
		sb = sb < i - 1 ? sb + 1 : 0;
		*code = mllp_ack_code(c->rbuf + sb, i - 1 - sb);
		return MLLP_IO_OK;
	}
}

enum mllp_ack_code
mllp_ack_code(const char *p, size_t len)
{
	size_t i;
	int k;

	for (i = 0; i + 6 <= len; i++) {
		if ((i > 0 && p[i - 1] != '\r' && p[i - 1] != '\n') ||
		    memcmp(p + i, "MSA", 3) != 0)
			continue;
		if (i + 7 <= len && p[i + 6] != p[i + 3] && p[i + 6] != '\r')
			return MLLP_ACK_BAD;
		for (k = 0; k < MLLP_ACK_BAD; k++)
			if (memcmp(p + i + 4, ack_names[k], 2) == 0)
				return (enum mllp_ack_code)k;
		return MLLP_ACK_BAD;
	}
	return MLLP_ACK_BAD;
}
