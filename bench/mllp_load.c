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
#include "load_conn.h"
#include "load_hist.h"
#include "load_idle.h"
#include "load_tmpl.h"
#include "mllp_load.h"

#define VERIFY_CHUNK 5000 /* control ids per verification query */
#define RECONNECT_TRIES 3

void
load_fatalx(const char *fmt, ...)
{
	va_list ap;

	fputs("mllp_load: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

void *
load_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		load_fatalx("out of memory");
	return p;
}

void *
load_xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n ? n : 1)) == NULL)
		load_fatalx("out of memory");
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

/* Options, set once by main before any thread starts. */
struct load_opts opt = {
	.host = "127.0.0.1",
	.conns = 1,
	.timeout_s = 30,
	.idle_wait = 3,
};

SSL_CTX *ssl_ctx;
static FILE *ack_log; /* --ack-log, written under ack_log_mu */
static pthread_mutex_t ack_log_mu = PTHREAD_MUTEX_INITIALIZER;

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

int
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
		w->ok_seq = load_xrealloc(w->ok_seq,
		    w->capok * sizeof(*w->ok_seq));
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
		w->sbuf = load_xrealloc(w->sbuf, w->scap = need);
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
				arr = load_xrealloc(arr,
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
		load_fatalx("bad %s: %s", what, s);
	return v;
}

static void
tls_setup(void)
{
	if ((ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		load_fatalx("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
	if (opt.ca != NULL) {
		if (SSL_CTX_load_verify_locations(ssl_ctx, opt.ca, NULL) != 1)
			load_fatalx("%s: cannot load CA", opt.ca);
		SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, NULL);
	}
	if ((opt.cert == NULL) != (opt.key == NULL))
		load_fatalx("--cert and --key go together");
	if (opt.cert != NULL &&
	    (SSL_CTX_use_certificate_chain_file(ssl_ctx, opt.cert) != 1 ||
		SSL_CTX_use_PrivateKey_file(ssl_ctx, opt.key,
		    SSL_FILETYPE_PEM) != 1 ||
		SSL_CTX_check_private_key(ssl_ctx) != 1))
		load_fatalx("%s / %s: cannot load certificate and key",
		    opt.cert, opt.key);
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
				load_fatalx("run id: 1 to %zu characters",
				    sizeof(opt.run_id) - 1);
			for (s = optarg; *s != '\0'; s++)
				if (!(*s >= '0' && *s <= '9') &&
				    !(*s >= 'A' && *s <= 'Z') &&
				    !(*s >= 'a' && *s <= 'z') && *s != '_')
					load_fatalx(
					    "run id: letters, digits and "
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
		load_fatalx("--idle needs --pid");
	if (opt.idle == 0 && opt.template_path == NULL)
		load_fatalx("--template FILE is needed: a corpus from "
			    "`bench/gen_oru -n 2000 -f raw`");
	if (opt.tls && opt.idle > 0)
		load_fatalx("--idle measures plain connections");
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
		load_fatalx("%s: %s", opt.ack_log, strerror(errno));
	raise_nofile((rlim_t)opt.conns + 64);

	ws = calloc((size_t)opt.conns, sizeof(*ws));
	if (ws == NULL)
		load_fatalx("out of memory");
	if (pthread_barrier_init(&start_barrier, NULL,
		(unsigned)opt.conns + 1) != 0 ||
	    pthread_barrier_init(&go_barrier, NULL, (unsigned)opt.conns + 1) !=
		0)
		load_fatalx("pthread_barrier_init failed");
	for (i = 0; i < opt.conns; i++) {
		ws[i].idx = i;
		ws[i].c.fd = -1;
		if ((rc = pthread_create(&ws[i].tid, NULL, worker_main,
			 &ws[i])) != 0)
			load_fatalx("pthread_create: %s", strerror(rc));
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
		load_fatalx("%s: %s", opt.ack_log, strerror(errno));

	if (opt.verify != NULL) {
		uint64_t until = now_ns() + (uint64_t)(opt.verify_wait * 1e9);

		/*
		 * Spooled messages reach the database when the spool drains;
		 * a database just restarted refuses connections for a moment
		 * (an error is retried too, until the wait is over).
		 */
		for (;;) {
			verify_run(ws, opt.conns, &v);
			if ((v.done && v.missing == 0) || now_ns() >= until)
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
