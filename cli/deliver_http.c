/*
 * deliver_http.c: POST an event to a webhook (see deliver.h).
 *
 * A small blocking client: labwatch notify delivers one event at a time
 * and waits for its answer before recording it, so an event loop buys
 * nothing here. One deadline covers the whole exchange: the connect is
 * non-blocking under poll(), then every read and write has the time left
 * as its socket timeout (OpenSSL reads and writes through the same
 * socket). HTTP/1.1 with Connection: close; only the status line of the
 * answer is read.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "cli/deliver.h"
#include "lib/buf.h"

/* A URL taken apart. */
struct url {
	bool tls;
	char host[256];
	char port[8];
	char path[2048];
};

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
url_parse(const char *s, struct url *u, const char **why)
{
	const char *h, *end, *colon, *slash;
	size_t n;

	memset(u, 0, sizeof(*u));
	if (strncmp(s, "http://", 7) == 0) {
		h = s + 7;
		strcpy(u->port, "80");
	} else if (strncmp(s, "https://", 8) == 0) {
		h = s + 8;
		u->tls = true;
		strcpy(u->port, "443");
	} else {
		*why = "the URL must start with http:// or https://";
		return -1;
	}
	slash = strchr(h, '/');
	end = slash != NULL ? slash : h + strlen(h);
	if (*h == '[') { /* [IPv6]:port */
		colon = memchr(h, ']', (size_t)(end - h));
		if (colon == NULL) {
			*why = "bad IPv6 address in the URL";
			return -1;
		}
		n = (size_t)(colon - h - 1);
		h++;
		colon = colon + 1 < end && colon[1] == ':' ? colon + 1 : NULL;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		n = (size_t)((colon != NULL ? colon : end) - h);
	}
	if (n == 0 || n >= sizeof(u->host)) {
		*why = "no host in the URL";
		return -1;
	}
	memcpy(u->host, h, n);
	if (colon != NULL) {
		n = (size_t)(end - colon - 1);
		if (n == 0 || n >= sizeof(u->port) ||
		    strspn(colon + 1, "0123456789") < n) {
			*why = "bad port in the URL";
			return -1;
		}
		memcpy(u->port, colon + 1, n);
		u->port[n] = '\0';
	}
	if (strlen(slash != NULL ? slash : "/") >= sizeof(u->path)) {
		*why = "the URL's path is too long";
		return -1;
	}
	strcpy(u->path, slash != NULL ? slash : "/");
	return 0;
}

int
deliver_http_url_ok(const char *url, const char **why)
{
	struct url u;

	return url_parse(url, &u, why) == 0;
}

/* Set the socket's read and write timeouts to what is left. */
static int
arm(int fd, double deadline)
{
	struct timeval tv;
	double left = deadline - now_mono();

	if (left <= 0)
		return -1;
	tv.tv_sec = (time_t)left;
	tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6) + 1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return 0;
}

/* Connect to one address within the deadline; the socket, or -1. */
static int
connect_one(const struct addrinfo *ai, double deadline, int *error)
{
	struct pollfd pfd;
	socklen_t sl = sizeof(*error);
	double left;
	int fd, fl;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
	    ai->ai_protocol);
	if (fd < 0) {
		*error = errno;
		return -1;
	}
	fl = fcntl(fd, F_GETFL);
	(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			*error = errno;
			close(fd);
			return -1;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		left = deadline - now_mono();
		if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0) {
			*error = ETIMEDOUT;
			close(fd);
			return -1;
		}
		getsockopt(fd, SOL_SOCKET, SO_ERROR, error, &sl);
		if (*error != 0) {
			close(fd);
			return -1;
		}
	}
	(void)fcntl(fd, F_SETFL, fl);
	return fd;
}

static int
dial(const struct url *u, double deadline, char *err, size_t cap)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1, rc, error = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(u->host, u->port, &hints, &res)) != 0) {
		snprintf(err, cap, "resolve: %s", gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
		fd = connect_one(ai, deadline, &error);
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, cap, "connect: %s", strerror(error));
	return fd;
}

/* The TLS session over fd, verified against ca (or the system's). */
static SSL *
tls_start(int fd, const struct url *u, const char *ca, double deadline,
    SSL_CTX **ctxp, char *err, size_t cap)
{
	unsigned char ip[16];
	SSL_CTX *ctx;
	SSL *ssl;
	long v;

	*ctxp = ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		snprintf(err, cap, "TLS: cannot create a context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if ((ca != NULL ? SSL_CTX_load_verify_locations(ctx, ca, NULL) :
			  SSL_CTX_set_default_verify_paths(ctx)) != 1) {
		snprintf(err, cap, "TLS: cannot load the CA file");
		return NULL;
	}
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	/* A name is checked against the certificate's names, an address
	 * against its IP addresses; SNI is for names only. */
	if (inet_pton(AF_INET, u->host, ip) == 1 ||
	    inet_pton(AF_INET6, u->host, ip) == 1)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), u->host);
	else {
		SSL_set_tlsext_host_name(ssl, u->host);
		SSL_set1_host(ssl, u->host);
	}
	if (arm(fd, deadline) < 0 || SSL_connect(ssl) != 1) {
		v = SSL_get_verify_result(ssl);
		if (v != X509_V_OK)
			snprintf(err, cap, "TLS: %s",
			    X509_verify_cert_error_string(v));
		else if (now_mono() >= deadline)
			snprintf(err, cap, "timed out");
		else
			snprintf(err, cap, "TLS: handshake failed");
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

/*
 * Read more of the answer into ans (cap bytes, *got used): 1, 0 at its
 * end (or when ans is full), -1 at the deadline.
 */
static int
more(int fd, SSL *ssl, char *ans, size_t cap, size_t *got, double deadline)
{
	ssize_t n;

	if (*got >= cap - 1)
		return 0;
	if (arm(fd, deadline) < 0)
		return -1;
	n = ssl != NULL ? SSL_read(ssl, ans + *got, (int)(cap - 1 - *got)) :
			  read(fd, ans + *got, cap - 1 - *got);
	if (n <= 0)
		return now_mono() >= deadline ? -1 : 0;
	*got += (size_t)n;
	ans[*got] = '\0';
	return 1;
}

/*
 * Send the request and read the final status line; the status, or -1.
 * Interim answers (1xx but 101: 100 Continue, 103 Early Hints) are read to
 * their blank line and skipped.
 */
static int
exchange(int fd, SSL *ssl, const struct buf *req, double deadline, char *err,
    size_t cap)
{
	char ans[4096], *end;
	size_t off = 0, got = 0, skip;
	ssize_t n;
	int status, interim, rc = 0;

	while (off < req->len) {
		if (arm(fd, deadline) < 0)
			goto timeout;
		n = ssl != NULL ?
		    SSL_write(ssl, req->p + off, (int)(req->len - off)) :
		    write(fd, req->p + off, req->len - off);
		if (n <= 0) {
			if (now_mono() >= deadline)
				goto timeout;
			snprintf(err, cap, "write: %s",
			    ssl != NULL ? "TLS error" : strerror(errno));
			return -1;
		}
		off += (size_t)n;
	}
	ans[0] = '\0';
	for (interim = 0;; interim++) {
		while (memchr(ans, '\n', got) == NULL &&
		    (rc = more(fd, ssl, ans, sizeof(ans), &got, deadline)) > 0)
			;
		if (memchr(ans, '\n', got) == NULL && rc < 0)
			goto timeout;
		if (sscanf(ans, "HTTP/%*d.%*d %d", &status) != 1) {
			snprintf(err, cap, "no HTTP answer");
			return -1;
		}
		if (status < 100 || status > 199 || status == 101 ||
		    interim == 10)
			return status;
		/* An interim answer: drop it, up to its blank line. */
		for (;;) {
			if ((end = strstr(ans, "\r\n\r\n")) != NULL) {
				skip = (size_t)(end - ans) + 4;
				break;
			}
			if ((end = strstr(ans, "\n\n")) != NULL) {
				skip = (size_t)(end - ans) + 2;
				break;
			}
			if (got >= sizeof(ans) - 1) {
				/* Its headers fill ans: keep the tail. */
				memmove(ans, ans + got - 3, 4);
				got = 3;
			}
			if ((rc = more(fd, ssl, ans, sizeof(ans), &got,
				 deadline)) < 0)
				goto timeout;
			if (rc == 0) {
				snprintf(err, cap,
				    "no HTTP answer after HTTP %d", status);
				return -1;
			}
		}
		memmove(ans, ans + skip, got - skip + 1);
		got -= skip;
	}
timeout:
	snprintf(err, cap, "timed out");
	return -1;
}

enum deliver_rc
deliver_http(const char *url, const char *ca, const char *body, size_t len,
    double timeout, char *err, size_t cap)
{
	double deadline = now_mono() + timeout;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	const char *why;
	struct url u;
	struct buf req;
	int fd, status = -1;

	if (url_parse(url, &u, &why) < 0) {
		snprintf(err, cap, "%s", why);
		return DELIVER_FAILED;
	}
	if ((fd = dial(&u, deadline, err, cap)) < 0)
		return DELIVER_FAILED;
	if (u.tls &&
	    (ssl = tls_start(fd, &u, ca, deadline, &ctx, err, cap)) == NULL)
		goto out;
	buf_init(&req);
	buf_printf(&req,
	    "POST %s HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
	    "User-Agent: labwatch-notify/" PACKAGE_VERSION "\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n",
	    u.path, strchr(u.host, ':') != NULL ? "[" : "", u.host,
	    strchr(u.host, ':') != NULL ? "]" : "", u.port, len);
	buf_add(&req, body, len);
	status = exchange(fd, ssl, &req, deadline, err, cap);
	buf_free(&req);
	if (status >= 0 && (status < 200 || status > 299))
		snprintf(err, cap, "HTTP %d", status);
	if (ssl != NULL)
		SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	close(fd);
	return status >= 200 && status <= 299 ? DELIVER_OK : DELIVER_FAILED;
}
