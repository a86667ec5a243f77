/*
 * load_conn.c: mllp_load's client connections (see load_conn.h).
 */
#include "load_conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "cli/mllp_client.h"
#include "mllp_load.h"

void
conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->rlen = 0;
}

static void
ssl_errstr(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[160];

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(err, errlen, "%s: %s", what, buf);
	} else {
		snprintf(err, errlen, "%s: %s", what,
		    errno ? strerror(errno) : "connection closed");
	}
	ERR_clear_error();
}

/* Connect (and handshake); on failure, fill err and return -1. */
int
conn_open(struct conn *c, bool nodelay, bool tls, char *err, size_t errlen)
{
	char *cause;
	int zero = 0, fd;

	c->fd = -1;
	c->ssl = NULL;
	c->rlen = 0;
	if ((fd = mllp_client_tcp(opt.host, opt.port, opt.timeout_s, &cause)) <
	    0) {
		snprintf(err, errlen, "%s", cause);
		free(cause);
		return -1;
	}
	if (!nodelay)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &zero, sizeof(zero));
	c->fd = fd;
	if (!tls)
		return 0;

	if ((c->ssl = SSL_new(ssl_ctx)) == NULL ||
	    SSL_set_fd(c->ssl, fd) != 1) {
		ssl_errstr(err, errlen, "SSL_new");
		conn_close(c);
		return -1;
	}
	if (opt.servername != NULL &&
	    (SSL_set_tlsext_host_name(c->ssl, opt.servername) != 1 ||
		SSL_set1_host(c->ssl, opt.servername) != 1)) {
		ssl_errstr(err, errlen, "servername");
		conn_close(c);
		return -1;
	}
	errno = 0;
	if (SSL_connect(c->ssl) != 1) {
		ssl_errstr(err, errlen, "TLS handshake");
		conn_close(c);
		return -1;
	}
	return 0;
}

int
conn_write(struct conn *c, const char *p, size_t len, char *err, size_t errlen)
{
	ssize_t n;
	int w;

	while (len > 0) {
		if (c->ssl != NULL) {
			errno = 0;
			if ((w = SSL_write(c->ssl, p,
				 (int)(len > INT_MAX ? INT_MAX : len))) <= 0) {
				ssl_errstr(err, errlen, "SSL_write");
				return -1;
			}
			n = w;
		} else if ((n = send(c->fd, p, len, MSG_NOSIGNAL)) < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "send: %s", strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read one MLLP frame: its payload is (*frame, *len), valid until the next
 * read; *used is what to drop from the buffer afterwards.
 */
int
conn_read_frame(struct conn *c, const char **frame, size_t *len, size_t *used,
    char *err, size_t errlen)
{
	size_t i, sb;
	ssize_t n;
	int r;

	for (;;) {
		for (i = 1; i < c->rlen; i++) {
			if (c->rbuf[i - 1] != MLLP_EB || c->rbuf[i] != MLLP_CR)
				continue;
			for (sb = 0; sb < i - 1 && c->rbuf[sb] != MLLP_SB; sb++)
				;
			sb = sb < i - 1 ? sb + 1 : 0;
			*frame = c->rbuf + sb;
			*len = i - 1 - sb;
			*used = i + 1;
			return 0;
		}
		if (c->rlen == c->rcap) {
			if (c->rcap >= ACK_MAX) {
				snprintf(err, errlen, "ACK frame over %d bytes",
				    ACK_MAX);
				return -1;
			}
			c->rcap = c->rcap ? c->rcap * 2 : 4096;
			c->rbuf = load_xrealloc(c->rbuf, c->rcap);
		}
		if (c->ssl != NULL) {
			errno = 0;
			if ((r = SSL_read(c->ssl, c->rbuf + c->rlen,
				 (int)(c->rcap - c->rlen))) <= 0) {
				ssl_errstr(err, errlen, "SSL_read");
				return -1;
			}
			n = r;
		} else {
			n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen,
			    0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				snprintf(err, errlen, "recv: %s",
				    n == 0 ? "connection closed by server" :
					errno == EAGAIN ?
					     "timed out waiting for ACK" :
					     strerror(errno));
				return -1;
			}
		}
		c->rlen += (size_t)n;
	}
}

void
conn_consume(struct conn *c, size_t used)
{
	memmove(c->rbuf, c->rbuf + used, c->rlen - used);
	c->rlen -= used;
}

/* Find MSA-1 and MSA-2 in an ACK; ACK_BAD when there is no readable MSA. */
enum ack_kind
ack_parse(const char *p, size_t len, const char **cid, size_t *cidlen,
    char code[3])
{
	size_t i, f1, f1len, f2;
	char sep;

	for (i = 0; i + 4 <= len; i++) {
		if ((i == 0 || p[i - 1] == '\r' || p[i - 1] == '\n') &&
		    memcmp(p + i, "MSA", 3) == 0)
			break;
	}
	if (i + 4 > len)
		return ACK_BAD;
	sep = p[i + 3];
	f1 = i + 4;
	for (i = f1; i < len && p[i] != sep && p[i] != '\r' && p[i] != '\n';
	     i++)
		;
	f1len = i - f1;
	*cid = p + i;
	*cidlen = 0;
	if (i < len && p[i] == sep) {
		f2 = i + 1;
		for (i = f2;
		     i < len && p[i] != sep && p[i] != '\r' && p[i] != '\n';
		     i++)
			;
		*cid = p + f2;
		*cidlen = i - f2;
	}
	if (f1len != 2 || (p[f1] != 'A' && p[f1] != 'C'))
		return ACK_BAD;
	code[0] = p[f1];
	code[1] = p[f1 + 1];
	code[2] = '\0';
	switch (p[f1 + 1]) {
	case 'A':
		return ACK_ACCEPT;
	case 'E':
		return ACK_ERROR;
	case 'R':
		return ACK_REJECT;
	default:
		return ACK_BAD;
	}
}
