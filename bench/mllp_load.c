/*
 * mllp_load: the end-to-end load generator for labwatchd and its peers.
 *
 *	mllp_load -h HOST -p PORT -c CONNECTIONS [-n TOTAL | -d SECONDS]
 *	    [-r RATE_PER_S] [--tls [--ca FILE] [--cert FILE --key FILE]
 *	    [--servername NAME]] --template FILE [--run-id STR]
 *	    [--verify CONNINFO] [--timeout SECONDS] [--ack-log FILE]
 *	    [--reconnect-for SECONDS] [--json]
 *	mllp_load -h HOST -p PORT --idle N --pid PID [--idle-wait SECONDS]
 *	    [--template FILE] [--json]
 *
 * Load: one thread per connection, each with one blocking TCP connection
 * (TCP_NODELAY, optionally TLS). Without -r the loop is closed: send a
 * frame, wait for its ACK, send the next. With -r the offered rate is
 * paced across all connections: message k is due at start + k / RATE, the
 * next free connection sends it then (or at once when late), and its
 * latency is counted from the due time, so a slow server cannot hide its
 * queueing by slowing the sender (coordinated omission).
 *
 * Messages come from --template, a file written by bench/gen_oru (raw or
 * MLLP-framed); each is sent with MSH-10 replaced by RUNID-THREAD-SEQ, so
 * every control id of a run is unique. Each ACK's MSA-1 is counted (AA/CA
 * accepted, AE/CE errors, AR/CR rejects) and its MSA-2 must be the control
 * id sent. With --verify, every AA/CA-ACKed control id is then looked up in
 * labwatch.messages: each must be there exactly once. With --ack-log, each
 * ACK received is also written to FILE as one line "CONTROL_ID CODE" (the
 * id sent and MSA-1; code XX when MSA-2 named another message, ?? when the
 * ACK had no readable MSA), so a fault test can check every ACK against
 * the database after a run whose ACKed ids --verify cannot see (several
 * runs, or a daemon killed and restarted). A connection that fails is
 * opened again: RECONNECT_TRIES times 100 ms apart, or with
 * --reconnect-for for up to that many seconds (a daemon restarting).
 *
 * Idle: read the server's VmRSS (/proc/PID/status), open N plain idle
 * connections, wait, read it again: the growth per connection. With
 * --template, one message is sent first on a connection kept aside, so the
 * server's message path is warm before the baseline.
 *
 * SIGINT or SIGTERM ends a load early: the messages in flight get their
 * ACKs, then the report as at the end of a run.
 *
 * With --json the one-line JSON result goes to stdout and the table to
 * stderr. Exit status 0 only when every message was accepted, every ACK
 * matched and (with --verify) every accepted message is stored once.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "cli/mllp_client.h"

#define MLLP_SB 0x0b
#define MLLP_EB 0x1c
#define MLLP_CR 0x0d

#define CID_MAX 64	      /* longest control id we build */
#define ACK_MAX (1024 * 1024) /* an ACK larger than this is a broken peer */
#define VERIFY_CHUNK 5000     /* control ids per verification query */
#define RECONNECT_TRIES 3

static void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
fatalx(const char *fmt, ...)
{
	va_list ap;

	fputs("mllp_load: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		fatalx("out of memory");
	return p;
}

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n ? n : 1)) == NULL)
		fatalx("out of memory");
	return p;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
sleep_until_ns(uint64_t t)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(t / 1000000000u);
	ts.tv_nsec = (long)(t % 1000000000u);
	while (
	    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/*
 * Latency histogram, log-linear in microseconds: values below 128 have a
 * bucket each, above that every power of two is split in 64 buckets, so a
 * reported percentile is within 1/64 (1.6 %) of the true value.
 */

#define HIST_SUB 64
#define HIST_BUCKETS (HIST_SUB * 2 + HIST_SUB * 40)

struct hist {
	uint64_t count[HIST_BUCKETS];
	uint64_t n, max, sum;
};

static unsigned
hist_index(uint64_t v)
{
	unsigned e;

	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	e = (unsigned)(63 - __builtin_clzll(v)) - 6; /* v >> e in [64, 128) */
	if (e * HIST_SUB + (v >> e) >= HIST_BUCKETS)
		return HIST_BUCKETS - 1;
	return e * HIST_SUB + (unsigned)(v >> e);
}

/* Highest value that falls in bucket i. */
static uint64_t
hist_bucket_top(unsigned i)
{
	unsigned e;

	if (i < 2 * HIST_SUB)
		return i;
	e = i / HIST_SUB - 1;
	return (((uint64_t)(i - e * HIST_SUB) + 1) << e) - 1;
}

static void
hist_record(struct hist *h, uint64_t us)
{
	h->count[hist_index(us)]++;
	h->n++;
	h->sum += us;
	if (us > h->max)
		h->max = us;
}

static void
hist_merge(struct hist *into, const struct hist *h)
{
	unsigned i;

	for (i = 0; i < HIST_BUCKETS; i++)
		into->count[i] += h->count[i];
	into->n += h->n;
	into->sum += h->sum;
	if (h->max > into->max)
		into->max = h->max;
}

/* The value at quantile q (0 < q <= 1): the top of its bucket, capped at max. */
static uint64_t
hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, cum = 0, top;
	unsigned i;

	if (h->n == 0)
		return 0;
	rank = (uint64_t)(q * (double)h->n);
	if ((double)rank < q * (double)h->n)
		rank++;
	if (rank == 0)
		rank = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		cum += h->count[i];
		if (cum >= rank) {
			top = hist_bucket_top(i);
			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}

/* Options, set once by main before any thread starts. */

static struct {
	const char *host, *port;
	int conns;
	uint64_t total; /* 0: no limit */
	double seconds; /* 0: no limit */
	double rate;	/* 0: closed loop */
	bool tls;
	const char *ca, *cert, *key, *servername;
	const char *template_path;
	char run_id[CID_MAX / 2];
	const char *verify;
	bool json;
	int timeout_s;
	double verify_wait;  /* retry verification this long (a spool drains) */
	const char *ack_log; /* each ACK: "CONTROL_ID CODE" */
	double reconnect_for; /* keep reconnecting this long (0: a few tries) */
	long idle;
	long pid;
	double idle_wait;
} opt = {
	.host = "127.0.0.1",
	.conns = 1,
	.timeout_s = 30,
	.idle_wait = 3,
};

static SSL_CTX *ssl_ctx;
static FILE *ack_log; /* --ack-log, written under ack_log_mu */
static pthread_mutex_t ack_log_mu = PTHREAD_MUTEX_INITIALIZER;

/*
 * Templates: each message split around its MSH-10, the MLLP framing bytes
 * already in place, so a frame is pre + control id + post.
 */

struct tmpl {
	char *pre, *post;
	size_t prelen, postlen;
};

static struct tmpl *tmpls;
static size_t ntmpl;
static uint64_t
    tmpl_bytes; /* payload bytes of all templates, old MSH-10s excluded */

static void
tmpl_add(const char *msg, size_t len)
{
	char *m;
	size_t i, n = 0, start = 0, end;
	int seps = 0;
	char sep;
	struct tmpl *t;

	/* Segments end with CR alone, as MLLP senders send them. */
	m = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		if (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n')
			continue;
		m[n++] = msg[i] == '\n' ? '\r' : msg[i];
	}
	while (
	    n > 0 && (m[n - 1] == '\r' || m[n - 1] == ' ' || m[n - 1] == '\t'))
		n--;
	if (n < 8 || memcmp(m, "MSH", 3) != 0) {
		free(m);
		return;
	}
	m[n++] = '\r';
	sep = m[3];
	/* MSH-1 is the separator itself: MSH-10 follows the ninth one. */
	for (i = 3; i < n && m[i] != '\r'; i++) {
		if (m[i] == sep && ++seps == 9) {
			start = i + 1;
			break;
		}
	}
	if (start == 0)
		fatalx("template message %zu has no MSH-10", ntmpl + 1);
	for (end = start; end < n && m[end] != sep && m[end] != '\r'; end++)
		;

	tmpls = xrealloc(tmpls, (ntmpl + 1) * sizeof(*tmpls));
	t = &tmpls[ntmpl++];
	t->prelen = start + 1;
	t->pre = xmalloc(t->prelen);
	t->pre[0] = MLLP_SB;
	memcpy(t->pre + 1, m, start);
	t->postlen = n - end + 2;
	t->post = xmalloc(t->postlen);
	memcpy(t->post, m + end, n - end);
	t->post[n - end] = MLLP_EB;
	t->post[n - end + 1] = MLLP_CR;
	tmpl_bytes += start + (n - end);
	free(m);
}

/* A message starts at "MSH" plus a separator at the start of a segment. */
static bool
msh_at(const char *p, size_t i, size_t len)
{
	return i + 4 <= len && memcmp(p + i, "MSH", 3) == 0 &&
	    (i == 0 || p[i - 1] == '\r' || p[i - 1] == '\n');
}

static void
tmpl_load(const char *path)
{
	FILE *f;
	char *p = NULL;
	size_t len = 0, cap = 0, n, i, s;

	if ((f = fopen(path, "rb")) == NULL)
		fatalx("%s: %s", path, strerror(errno));
	for (;;) {
		if (cap - len < 65536)
			p = xrealloc(p, cap = cap ? cap * 2 : 1 << 20);
		if ((n = fread(p + len, 1, cap - len, f)) == 0)
			break;
		len += n;
	}
	if (ferror(f))
		fatalx("%s: read error", path);
	fclose(f);

	if (memchr(p, MLLP_SB, len) != NULL) {
		/* MLLP-framed: the payload between each 0x0B and 0x1C. */
		for (i = 0; i < len; i++) {
			if (p[i] != MLLP_SB)
				continue;
			for (s = ++i; i < len && p[i] != MLLP_EB; i++)
				;
			tmpl_add(p + s, i - s);
		}
	} else {
		for (s = 0, i = 1; i <= len; i++) {
			if (i == len || msh_at(p, i, len)) {
				tmpl_add(p + s, i - s);
				s = i;
			}
		}
	}
	free(p);
	if (ntmpl == 0)
		fatalx("%s: no HL7 message found", path);
}

/* One connection; owned by its worker thread (or by the idle run). */

struct conn {
	int fd;
	SSL *ssl;
	char *rbuf;
	size_t rlen, rcap;
};

static void
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
static int
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

static int
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
static int
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
			c->rbuf = xrealloc(c->rbuf, c->rcap);
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

static void
conn_consume(struct conn *c, size_t used)
{
	memmove(c->rbuf, c->rbuf + used, c->rlen - used);
	c->rlen -= used;
}

/* What an ACK said. */
enum ack_kind { ACK_ACCEPT, ACK_ERROR, ACK_REJECT, ACK_BAD };

/* Find MSA-1 and MSA-2 in an ACK; ACK_BAD when there is no readable MSA. */
static enum ack_kind
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

/* One sender thread; main owns the array and reads it after the join. */

struct worker {
	pthread_t tid;
	int idx;
	struct conn c;
	struct hist lat; /* from the due time (open loop) or the send */
	struct hist svc; /* from the send */
	uint64_t sent, accepted, ack_error, ack_reject, ack_bad, mismatch;
	uint64_t io_errors, bytes;
	uint64_t *ok_seq; /* accepted sequence numbers, for --verify */
	size_t nok, capok;
	bool connect_failed;
	char err[256];
	char *sbuf;
	size_t scap;
};

static pthread_barrier_t start_barrier, go_barrier;
static uint64_t start_ns, end_ns; /* written by main between barriers */
static atomic_uint_fast64_t claimed;
/* SIGINT or SIGTERM: send nothing more, finish and report (a run of
 * unknown length, stopped by a script). */
static volatile sig_atomic_t stopping;

static void
on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

static int
cid_format(char *out, size_t len, int thread, uint64_t seq)
{
	return snprintf(out, len, "%s-%d-%" PRIu64, opt.run_id, thread, seq);
}

/* The next message: false when the run is over; *due is 0 in closed loop. */
static bool
claim_next(uint64_t *due)
{
	uint64_t k;

	*due = 0;
	if (stopping)
		return false;
	if (opt.rate > 0) {
		k = atomic_fetch_add(&claimed, 1);
		if (opt.total != 0 && k >= opt.total)
			return false;
		*due = start_ns + (uint64_t)((double)k * 1e9 / opt.rate);
		return end_ns == 0 || *due < end_ns;
	}
	if (opt.total != 0 && atomic_fetch_add(&claimed, 1) >= opt.total)
		return false;
	return end_ns == 0 || now_ns() < end_ns;
}

static void
worker_note_ok(struct worker *w, uint64_t seq)
{
	if (opt.verify == NULL)
		return;
	if (w->nok == w->capok) {
		w->capok = w->capok ? w->capok * 2 : 1024;
		w->ok_seq = xrealloc(w->ok_seq, w->capok * sizeof(*w->ok_seq));
	}
	w->ok_seq[w->nok++] = seq;
}

/* --ack-log: one line per ACK received, whole lines from any thread. */
static void
ack_log_write(const char *cid, const char *code)
{
	pthread_mutex_lock(&ack_log_mu);
	fprintf(ack_log, "%s %s\n", cid, code);
	pthread_mutex_unlock(&ack_log_mu);
}

/* Send one message and wait for its ACK; -1 on a connection failure. */
static int
worker_send_one(struct worker *w, uint64_t seq, uint64_t due)
{
	const struct tmpl *t;
	char cid[CID_MAX];
	const char *frame, *acid = "";
	size_t flen, used, acidlen = 0, need;
	uint64_t t0, t1;
	enum ack_kind kind;
	bool same;
	int cidlen;
	char code[3] = "??";

	t = &tmpls[((uint64_t)w->idx * 7919u + seq) % ntmpl];
	cidlen = cid_format(cid, sizeof(cid), w->idx, seq);
	need = t->prelen + (size_t)cidlen + t->postlen;
	if (need > w->scap)
		w->sbuf = xrealloc(w->sbuf, w->scap = need);
	memcpy(w->sbuf, t->pre, t->prelen);
	memcpy(w->sbuf + t->prelen, cid, (size_t)cidlen);
	memcpy(w->sbuf + t->prelen + cidlen, t->post, t->postlen);

	t0 = now_ns();
	w->sent++;
	if (conn_write(&w->c, w->sbuf, need, w->err, sizeof(w->err)) < 0 ||
	    conn_read_frame(&w->c, &frame, &flen, &used, w->err,
		sizeof(w->err)) < 0)
		return -1;
	t1 = now_ns();
	hist_record(&w->svc, (t1 - t0 + 500) / 1000);
	hist_record(&w->lat, (t1 - (due ? due : t0) + 500) / 1000);
	w->bytes += need - 3;

	kind = ack_parse(frame, flen, &acid, &acidlen, code);
	same = acidlen == (size_t)cidlen && memcmp(acid, cid, acidlen) == 0;
	/* An ACK naming another message is an error, whatever it says. */
	if (kind != ACK_BAD && !same)
		w->mismatch++;
	if (ack_log != NULL)
		ack_log_write(cid,
		    kind == ACK_BAD ? "??" :
			!same	    ? "XX" :
				      code);
	switch (kind) {
	case ACK_BAD:
		w->ack_bad++;
		break;
	case ACK_ERROR:
		w->ack_error++;
		break;
	case ACK_REJECT:
		w->ack_reject++;
		break;
	case ACK_ACCEPT:
		if (same) {
			w->accepted++;
			worker_note_ok(w, seq);
		}
		break;
	}
	conn_consume(&w->c, used);
	return 0;
}

/*
 * Open the connection again: RECONNECT_TRIES times, or for up to
 * --reconnect-for seconds (not after SIGTERM); false when it stays shut.
 */
static bool
worker_reconnect(struct worker *w)
{
	uint64_t until = now_ns() + (uint64_t)(opt.reconnect_for * 1e9);
	int tries;

	for (tries = 0;; tries++) {
		if (conn_open(&w->c, true, opt.tls, w->err, sizeof(w->err)) ==
		    0)
			return true;
		if (opt.reconnect_for > 0 ? (stopping || now_ns() >= until) :
					    tries + 1 >= RECONNECT_TRIES)
			return false;
		usleep(100000);
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t seq = 0, due;

	if (conn_open(&w->c, true, opt.tls, w->err, sizeof(w->err)) < 0)
		w->connect_failed = true;
	pthread_barrier_wait(&start_barrier);
	pthread_barrier_wait(&go_barrier);
	if (w->connect_failed)
		return NULL;

	while (claim_next(&due)) {
		if (due != 0)
			sleep_until_ns(due);
		if (worker_send_one(w, seq++, due) == 0)
			continue;
		/* The message in flight is lost to us: count it, reconnect. */
		if (w->io_errors++ < 3)
			fprintf(stderr, "mllp_load: connection %d: %s%s\n",
			    w->idx, w->err,
			    w->io_errors == 3 ? " (further errors not shown)" :
						"");
		conn_close(&w->c);
		if (!worker_reconnect(w)) {
			fprintf(stderr,
			    "mllp_load: connection %d: giving up: "
			    "%s\n",
			    w->idx, w->err);
			break;
		}
	}
	conn_close(&w->c);
	return NULL;
}

/* Verification against labwatch.messages. */

struct verify_result {
	bool done;
	uint64_t checked, once, missing, duplicated;
	uint64_t run_rows, run_distinct; /* rows of this run, ACKed or not */
	char err[512];
};

/* The libpq error without its trailing newline. */
static void
pq_err(char *out, size_t len, const char *what, PGconn *db)
{
	size_t n;

	snprintf(out, len, "%s: %s", what, PQerrorMessage(db));
	n = strlen(out);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
}

static int
verify_chunk(PGconn *db, const char *arr, uint64_t n, struct verify_result *v)
{
	const char *params[1] = { arr };
	PGresult *res;
	int i, rows;
	uint64_t cnt;

	res = PQexecParams(db,
	    "SELECT control_id, count(*) FROM labwatch.messages "
	    "WHERE control_id = ANY($1::text[]) GROUP BY control_id",
	    1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pq_err(v->err, sizeof(v->err), "query", db);
		PQclear(res);
		return -1;
	}
	rows = PQntuples(res);
	for (i = 0; i < rows; i++) {
		cnt = strtoull(PQgetvalue(res, i, 1), NULL, 10);
		if (cnt == 1)
			v->once++;
		else
			v->duplicated++;
	}
	v->checked += n;
	v->missing += n - (uint64_t)rows;
	PQclear(res);
	return 0;
}

static void
verify_run(struct worker *ws, int nw, struct verify_result *v)
{
	PGconn *db;
	PGresult *res;
	char *arr = NULL, cid[CID_MAX], prefix[CID_MAX];
	const char *params[1];
	size_t alen = 0, acap = 0;
	uint64_t inchunk = 0;
	size_t k;
	int i, n;

	memset(v, 0, sizeof(*v));
	db = PQconnectdb(opt.verify);
	if (PQstatus(db) != CONNECTION_OK) {
		pq_err(v->err, sizeof(v->err), "connect", db);
		PQfinish(db);
		return;
	}
	for (i = 0; i < nw; i++) {
		for (k = 0; k < ws[i].nok; k++) {
			n = cid_format(cid, sizeof(cid), ws[i].idx,
			    ws[i].ok_seq[k]);
			if (acap - alen < (size_t)n + 8)
				arr = xrealloc(arr,
				    acap = acap ? acap * 2 : 65536);
			/* Control ids are [A-Za-z0-9_-]: quoting is enough. */
			alen += (size_t)snprintf(arr + alen, acap - alen,
			    "%c\"%s\"", inchunk ? ',' : '{', cid);
			if (++inchunk == VERIFY_CHUNK) {
				snprintf(arr + alen, acap - alen, "}");
				if (verify_chunk(db, arr, inchunk, v) < 0)
					goto out;
				alen = 0;
				inchunk = 0;
			}
		}
	}
	if (inchunk > 0) {
		snprintf(arr + alen, acap - alen, "}");
		if (verify_chunk(db, arr, inchunk, v) < 0)
			goto out;
	}

	snprintf(prefix, sizeof(prefix), "%s-", opt.run_id);
	params[0] = prefix;
	res = PQexecParams(db,
	    "SELECT count(*), count(DISTINCT control_id) FROM labwatch.messages "
	    "WHERE starts_with(control_id, $1)",
	    1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pq_err(v->err, sizeof(v->err), "query", db);
		PQclear(res);
		goto out;
	}
	v->run_rows = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	v->run_distinct = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	v->done = true;
out:
	free(arr);
	PQfinish(db);
}

/* Idle connections: the server's resident memory per connection. */

static long
rss_kib(long pid)
{
	char path[64], line[256];
	FILE *f;
	long kib = -1;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		fatalx("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kib = strtol(line + 6, NULL, 10);
			break;
		}
	}
	fclose(f);
	if (kib < 0)
		fatalx("%s: no VmRSS", path);
	return kib;
}

static void
raise_nofile(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
		rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
idle_run(void)
{
	struct conn warm, *cs;
	char err[256], cid[CID_MAX];
	const char *frame;
	size_t flen, used;
	long before, after, i, closed = 0;
	double per;
	struct pollfd pfd;
	int n;

	raise_nofile((rlim_t)opt.idle + 64);
	memset(&warm, 0, sizeof(warm));
	warm.fd = -1;
	if (ntmpl > 0) {
		/* Warm the server's message path before the baseline. */
		if (conn_open(&warm, true, false, err, sizeof(err)) < 0)
			fatalx("%s", err);
		n = cid_format(cid, sizeof(cid), 0, 0);
		if (conn_write(&warm, tmpls[0].pre, tmpls[0].prelen, err,
			sizeof(err)) < 0 ||
		    conn_write(&warm, cid, (size_t)n, err, sizeof(err)) < 0 ||
		    conn_write(&warm, tmpls[0].post, tmpls[0].postlen, err,
			sizeof(err)) < 0 ||
		    conn_read_frame(&warm, &frame, &flen, &used, err,
			sizeof(err)) < 0)
			fatalx("warm-up: %s", err);
		usleep(200000);
	}

	before = rss_kib(opt.pid);
	cs = xmalloc((size_t)opt.idle * sizeof(*cs));
	for (i = 0; i < opt.idle; i++) {
		memset(&cs[i], 0, sizeof(cs[i]));
		if (conn_open(&cs[i], false, false, err, sizeof(err)) < 0)
			fatalx("idle connection %ld: %s", i + 1, err);
	}
	usleep((useconds_t)(opt.idle_wait * 1e6));
	after = rss_kib(opt.pid);

	/* A server that dropped idle connections did not hold them. */
	for (i = 0; i < opt.idle; i++) {
		pfd.fd = cs[i].fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 0) > 0)
			closed++;
		conn_close(&cs[i]);
		free(cs[i].rbuf);
	}
	free(cs);
	conn_close(&warm);
	free(warm.rbuf);

	per = (double)(after - before) * 1024.0 / (double)opt.idle;
	fprintf(opt.json ? stderr : stdout,
	    "idle: pid %ld, %ld plain connections held %.1f s: VmRSS %ld -> "
	    "%ld KiB, %.0f bytes (%.1f KiB) per connection; %ld closed by the "
	    "server\n",
	    opt.pid, opt.idle, opt.idle_wait, before, after, per, per / 1024.0,
	    closed);
	if (opt.json)
		printf("{\"mode\":\"idle\",\"pid\":%ld,\"connections\":%ld,"
		       "\"wait_s\":%.1f,\"rss_before_kib\":%ld,"
		       "\"rss_after_kib\":%ld,\"bytes_per_conn\":%.0f,"
		       "\"closed_by_server\":%ld}\n",
		    opt.pid, opt.idle, opt.idle_wait, before, after, per,
		    closed);
	return closed == 0 ? 0 : 1;
}

/* Report. */

struct totals {
	struct hist lat, svc;
	uint64_t sent, acked, accepted, ack_error, ack_reject, ack_bad;
	uint64_t mismatch, io_errors, bytes;
	int connect_failed;
	double elapsed;
};

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void
report(const struct totals *t, const struct verify_result *v)
{
	FILE *f = opt.json ? stderr : stdout;
	const struct hist *h = &t->lat;
	double rate = t->elapsed > 0 ? (double)t->acked / t->elapsed : 0;
	double mbs = t->elapsed > 0 ? (double)t->bytes / t->elapsed / 1e6 : 0;

	fprintf(f, "mllp_load: %s:%s %s, %d connection%s, ", opt.host, opt.port,
	    opt.tls ? "TLS" : "plain", opt.conns, opt.conns == 1 ? "" : "s");
	if (opt.rate > 0)
		fprintf(f, "open loop at %.0f msg/s", opt.rate);
	else
		fprintf(f, "closed loop");
	fprintf(f, ", %.2f s, run id %s, %zu templates (avg %.0f bytes)\n",
	    t->elapsed, opt.run_id, ntmpl, (double)tmpl_bytes / (double)ntmpl);
	fprintf(f, "  %-12s %10s %10s %8s %8s %8s %10s %9s\n", "", "sent",
	    "ACKed", "AA/CA", "AE/CE", "AR/CR", "bad ACK", "mismatch");
	fprintf(f,
	    "  %-12s %10" PRIu64 " %10" PRIu64 " %8" PRIu64 " %8" PRIu64
	    " %8" PRIu64 " %10" PRIu64 " %9" PRIu64 "\n",
	    "messages", t->sent, t->acked, t->accepted, t->ack_error,
	    t->ack_reject, t->ack_bad, t->mismatch);
	if (t->io_errors || t->connect_failed)
		fprintf(f,
		    "  %-12s %" PRIu64 " lost to connection errors, %d "
		    "connection%s never opened\n",
		    "errors", t->io_errors, t->connect_failed,
		    t->connect_failed == 1 ? "" : "s");
	fprintf(f, "  %-12s %10.0f msg/s %8.1f MB/s\n", "throughput", rate,
	    mbs);
	fprintf(f, "  %-12s %8s %8s %8s %8s %8s %8s\n", "latency us", "p50",
	    "p90", "p99", "p99.9", "max", "mean");
	fprintf(f,
	    "  %-12s %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64
	    " %8" PRIu64 " %8.0f\n",
	    opt.rate > 0 ? "from due" : "send-ACK", hist_quantile(h, 0.5),
	    hist_quantile(h, 0.9), hist_quantile(h, 0.99),
	    hist_quantile(h, 0.999), h->max,
	    h->n ? (double)h->sum / (double)h->n : 0);
	if (opt.rate > 0)
		fprintf(f,
		    "  %-12s %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64
		    " %8" PRIu64 " %8.0f\n",
		    "send-ACK", hist_quantile(&t->svc, 0.5),
		    hist_quantile(&t->svc, 0.9), hist_quantile(&t->svc, 0.99),
		    hist_quantile(&t->svc, 0.999), t->svc.max,
		    t->svc.n ? (double)t->svc.sum / (double)t->svc.n : 0);
	if (v != NULL && v->done)
		fprintf(f,
		    "  %-12s %" PRIu64 " AA-ACKed ids: %" PRIu64
		    " stored once, %" PRIu64 " missing, %" PRIu64
		    " duplicated; this run has %" PRIu64 " rows, %" PRIu64
		    " ids in labwatch.messages (%" PRIu64
		    " ids not AA-ACKed)\n",
		    "verify", v->checked, v->once, v->missing, v->duplicated,
		    v->run_rows, v->run_distinct,
		    v->run_distinct - (v->once + v->duplicated));
	else if (v != NULL)
		fprintf(f, "  %-12s FAILED: %s\n", "verify", v->err);

	if (!opt.json)
		return;
	printf("{\"mode\":\"load\",\"host\":");
	json_str(stdout, opt.host);
	printf(",\"port\":");
	json_str(stdout, opt.port);
	printf(",\"tls\":%s,\"connections\":%d,\"loop\":\"%s\",\"rate\":%.0f,"
	       "\"run_id\":",
	    opt.tls ? "true" : "false", opt.conns,
	    opt.rate > 0 ? "open" : "closed", opt.rate);
	json_str(stdout, opt.run_id);
	printf(",\"elapsed_s\":%.3f,\"sent\":%" PRIu64 ",\"acked\":%" PRIu64
	       ",\"accepted\":%" PRIu64 ",\"ack_error\":%" PRIu64
	       ",\"ack_reject\":%" PRIu64 ",\"ack_bad\":%" PRIu64
	       ",\"mismatch\":%" PRIu64 ",\"io_errors\":%" PRIu64
	       ",\"connect_failed\":%d,\"msg_per_s\":%.1f,\"mb_per_s\":%.2f",
	    t->elapsed, t->sent, t->acked, t->accepted, t->ack_error,
	    t->ack_reject, t->ack_bad, t->mismatch, t->io_errors,
	    t->connect_failed, rate, mbs);
	printf(",\"latency_us\":{\"p50\":%" PRIu64 ",\"p90\":%" PRIu64
	       ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64 ",\"max\":%" PRIu64
	       ",\"mean\":%.1f}",
	    hist_quantile(h, 0.5), hist_quantile(h, 0.9),
	    hist_quantile(h, 0.99), hist_quantile(h, 0.999), h->max,
	    h->n ? (double)h->sum / (double)h->n : 0);
	printf(",\"service_us\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64
	       ",\"max\":%" PRIu64 "}",
	    hist_quantile(&t->svc, 0.5), hist_quantile(&t->svc, 0.99),
	    t->svc.max);
	if (v != NULL && v->done)
		printf(",\"verify\":{\"checked\":%" PRIu64 ",\"once\":%" PRIu64
		       ",\"missing\":%" PRIu64 ",\"duplicated\":%" PRIu64
		       ",\"run_rows\":%" PRIu64 ",\"run_ids\":%" PRIu64 "}",
		    v->checked, v->once, v->missing, v->duplicated, v->run_rows,
		    v->run_distinct);
	else if (v != NULL) {
		printf(",\"verify\":{\"error\":");
		json_str(stdout, v->err);
		printf("}");
	}
	printf("}\n");
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: mllp_load -h HOST -p PORT -c CONNECTIONS [-n TOTAL | -d SECONDS]\n"
	    "           [-r RATE_PER_S] --template FILE [--run-id STR]\n"
	    "           [--tls [--ca FILE] [--cert FILE --key FILE] [--servername NAME]]\n"
	    "           [--verify CONNINFO [--verify-wait SECONDS]] [--timeout SECONDS]\n"
	    "           [--ack-log FILE] [--reconnect-for SECONDS] [--json]\n"
	    "       mllp_load -h HOST -p PORT --idle N --pid PID [--idle-wait SECONDS]\n"
	    "           [--template FILE] [--json]\n");
	exit(2);
}

static double
parse_num(const char *s, const char *what, double min)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < min)
		fatalx("bad %s: %s", what, s);
	return v;
}

static void
tls_setup(void)
{
	if ((ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		fatalx("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
	if (opt.ca != NULL) {
		if (SSL_CTX_load_verify_locations(ssl_ctx, opt.ca, NULL) != 1)
			fatalx("%s: cannot load CA", opt.ca);
		SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, NULL);
	}
	if ((opt.cert == NULL) != (opt.key == NULL))
		fatalx("--cert and --key go together");
	if (opt.cert != NULL &&
	    (SSL_CTX_use_certificate_chain_file(ssl_ctx, opt.cert) != 1 ||
		SSL_CTX_use_PrivateKey_file(ssl_ctx, opt.key,
		    SSL_FILETYPE_PEM) != 1 ||
		SSL_CTX_check_private_key(ssl_ctx) != 1))
		fatalx("%s / %s: cannot load certificate and key", opt.cert,
		    opt.key);
}

enum {
	OPT_TLS = 256,
	OPT_CA,
	OPT_CERT,
	OPT_KEY,
	OPT_SERVERNAME,
	OPT_TEMPLATE,
	OPT_RUNID,
	OPT_VERIFY,
	OPT_VERIFY_WAIT,
	OPT_JSON,
	OPT_IDLE,
	OPT_PID,
	OPT_IDLEWAIT,
	OPT_TIMEOUT,
	OPT_ACKLOG,
	OPT_RECONNECT,
	OPT_HELP,
};

static const struct option longopts[] = {
	{ "tls", no_argument, NULL, OPT_TLS },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "servername", required_argument, NULL, OPT_SERVERNAME },
	{ "template", required_argument, NULL, OPT_TEMPLATE },
	{ "run-id", required_argument, NULL, OPT_RUNID },
	{ "verify", required_argument, NULL, OPT_VERIFY },
	{ "verify-wait", required_argument, NULL, OPT_VERIFY_WAIT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "idle", required_argument, NULL, OPT_IDLE },
	{ "pid", required_argument, NULL, OPT_PID },
	{ "idle-wait", required_argument, NULL, OPT_IDLEWAIT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "ack-log", required_argument, NULL, OPT_ACKLOG },
	{ "reconnect-for", required_argument, NULL, OPT_RECONNECT },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

/* A default run id: short (MSH-10 is 20 characters in v2.5), base 36. */
static void
default_run_id(void)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	struct timespec ts;
	uint64_t v;
	int i;

	clock_gettime(CLOCK_REALTIME, &ts);
	v = ((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u) ^
	    ((uint64_t)getpid() << 40);
	for (i = 0; i < 7; i++, v /= 36)
		opt.run_id[i] = digits[v % 36];
	opt.run_id[7] = '\0';
}

static void
parse_args(int argc, char **argv)
{
	const char *s;
	int ch;

	while ((ch = getopt_long(argc, argv, "h:p:c:n:d:r:", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'h':
			opt.host = optarg;
			break;
		case 'p':
			opt.port = optarg;
			break;
		case 'c':
			opt.conns = (int)parse_num(optarg, "connections", 1);
			break;
		case 'n':
			opt.total = (uint64_t)parse_num(optarg, "total", 1);
			break;
		case 'd':
			opt.seconds = parse_num(optarg, "seconds", 0.001);
			break;
		case 'r':
			opt.rate = parse_num(optarg, "rate", 0.001);
			break;
		case OPT_TLS:
			opt.tls = true;
			break;
		case OPT_CA:
			opt.ca = optarg;
			break;
		case OPT_CERT:
			opt.cert = optarg;
			break;
		case OPT_KEY:
			opt.key = optarg;
			break;
		case OPT_SERVERNAME:
			opt.servername = optarg;
			break;
		case OPT_TEMPLATE:
			opt.template_path = optarg;
			break;
		case OPT_RUNID:
			if (strlen(optarg) == 0 ||
			    strlen(optarg) >= sizeof(opt.run_id))
				fatalx("run id: 1 to %zu characters",
				    sizeof(opt.run_id) - 1);
			for (s = optarg; *s != '\0'; s++)
				if (!(*s >= '0' && *s <= '9') &&
				    !(*s >= 'A' && *s <= 'Z') &&
				    !(*s >= 'a' && *s <= 'z') && *s != '_')
					fatalx("run id: letters, digits and "
					       "_ only");
			strcpy(opt.run_id, optarg);
			break;
		case OPT_VERIFY_WAIT:
			opt.verify_wait = atof(optarg);
			break;
		case OPT_VERIFY:
			opt.verify = optarg;
			break;
		case OPT_JSON:
			opt.json = true;
			break;
		case OPT_IDLE:
			opt.idle = (long)parse_num(optarg, "idle count", 1);
			break;
		case OPT_PID:
			opt.pid = (long)parse_num(optarg, "pid", 1);
			break;
		case OPT_IDLEWAIT:
			opt.idle_wait = parse_num(optarg, "idle wait", 0);
			break;
		case OPT_TIMEOUT:
			opt.timeout_s = (int)parse_num(optarg, "timeout", 1);
			break;
		case OPT_ACKLOG:
			opt.ack_log = optarg;
			break;
		case OPT_RECONNECT:
			opt.reconnect_for = parse_num(optarg, "reconnect-for",
			    0);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || opt.port == NULL)
		usage();
	if (opt.idle > 0 && opt.pid == 0)
		fatalx("--idle needs --pid");
	if (opt.idle == 0 && opt.template_path == NULL)
		fatalx("--template FILE is needed: a corpus from "
		       "`bench/gen_oru -n 2000 -f raw`");
	if (opt.tls && opt.idle > 0)
		fatalx("--idle measures plain connections");
	if (opt.total == 0 && opt.seconds == 0)
		opt.seconds = 10;
	if (opt.run_id[0] == '\0')
		default_run_id();
}

int
main(int argc, char **argv)
{
	struct worker *ws;
	struct totals t;
	struct verify_result v;
	uint64_t done_ns;
	int i, rc;

	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	if (opt.template_path != NULL)
		tmpl_load(opt.template_path);
	if (opt.idle > 0)
		return idle_run();
	if (opt.tls)
		tls_setup();
	if (opt.ack_log != NULL && (ack_log = fopen(opt.ack_log, "w")) == NULL)
		fatalx("%s: %s", opt.ack_log, strerror(errno));
	raise_nofile((rlim_t)opt.conns + 64);

	ws = calloc((size_t)opt.conns, sizeof(*ws));
	if (ws == NULL)
		fatalx("out of memory");
	if (pthread_barrier_init(&start_barrier, NULL,
		(unsigned)opt.conns + 1) != 0 ||
	    pthread_barrier_init(&go_barrier, NULL, (unsigned)opt.conns + 1) !=
		0)
		fatalx("pthread_barrier_init failed");
	for (i = 0; i < opt.conns; i++) {
		ws[i].idx = i;
		ws[i].c.fd = -1;
		if ((rc = pthread_create(&ws[i].tid, NULL, worker_main,
			 &ws[i])) != 0)
			fatalx("pthread_create: %s", strerror(rc));
	}
	/* Every connection is open (and TLS done) before the clock starts. */
	pthread_barrier_wait(&start_barrier);
	start_ns = now_ns();
	if (opt.seconds > 0)
		end_ns = start_ns + (uint64_t)(opt.seconds * 1e9);
	pthread_barrier_wait(&go_barrier);

	memset(&t, 0, sizeof(t));
	for (i = 0; i < opt.conns; i++) {
		pthread_join(ws[i].tid, NULL);
		if (ws[i].connect_failed) {
			t.connect_failed++;
			fprintf(stderr, "mllp_load: connection %d: %s\n", i,
			    ws[i].err);
		}
	}
	done_ns = now_ns();
	t.elapsed = (double)(done_ns - start_ns) / 1e9;
	for (i = 0; i < opt.conns; i++) {
		hist_merge(&t.lat, &ws[i].lat);
		hist_merge(&t.svc, &ws[i].svc);
		t.sent += ws[i].sent;
		t.accepted += ws[i].accepted;
		t.ack_error += ws[i].ack_error;
		t.ack_reject += ws[i].ack_reject;
		t.ack_bad += ws[i].ack_bad;
		t.mismatch += ws[i].mismatch;
		t.io_errors += ws[i].io_errors;
		t.bytes += ws[i].bytes;
	}
	t.acked = t.lat.n;
	if (ack_log != NULL && fclose(ack_log) != 0)
		fatalx("%s: %s", opt.ack_log, strerror(errno));

	if (opt.verify != NULL) {
		uint64_t until = now_ns() + (uint64_t)(opt.verify_wait * 1e9);

		/* Spooled messages reach the database when the spool drains. */
		for (;;) {
			verify_run(ws, opt.conns, &v);
			if (!v.done || v.missing == 0 || now_ns() >= until)
				break;
			usleep(250000);
		}
	}
	report(&t, opt.verify != NULL ? &v : NULL);

	rc = t.connect_failed == 0 && t.io_errors == 0 && t.mismatch == 0 &&
		t.ack_bad == 0 && t.ack_error == 0 && t.ack_reject == 0 &&
		t.acked > 0 &&
		(opt.verify == NULL ||
		    (v.done && v.missing == 0 && v.duplicated == 0)) ?
	    0 :
	    1;
	for (i = 0; i < opt.conns; i++) {
		free(ws[i].ok_seq);
		free(ws[i].sbuf);
		free(ws[i].c.rbuf);
	}
	free(ws);
	if (ssl_ctx != NULL)
		SSL_CTX_free(ssl_ctx);
	return rc;
}
