/*
 * notify.c: labwatch notify's delivery loop (see notify.h).
 *
 * One PostgreSQL session, LISTEN labwatch_alert, in the main thread;
 * the deliveries themselves run in --parallel worker threads
 * (notify_pool.c). Each turn of the loop: record what the workers
 * finished (all of a target's successes in one statement); on a NOTIFY,
 * at start and at least once a second, add a deliveries row for each new
 * event a target takes (the catch-up: it runs at start, after every
 * reconnect and on every wake, so nothing committed while we were away
 * is missed), and once a second (escalation deadlines need a clock, not a
 * NOTIFY) escalate the critical alerts nobody answered in time (when
 * asked to) and fail expired leases; then claim as many due rows as there
 * are free workers, in one statement, read their alerts in another, and
 * hand them over. Then wait on the socket for a NOTIFY and on the
 * workers, at most until the next retry is due or a second has passed.
 * The statements themselves are in notify_db.c.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "cli/cmd.h"
#include "cli/deliver.h"
#include "cli/notify.h"
#include "cli/notify_db.h"
#include "cli/notify_metrics.h"
#include "cli/notify_pool.h"
#include "daemon/notify.h"
#include "lib/buf.h"
#include "lib/json.h"
#include "lib/xmalloc.h"
#include "store/db.h"

static volatile sig_atomic_t stopping;

void
notify_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("labwatch notify: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int
notify_parse_duration(const char *s, double *secs)
{
	static const struct {
		const char *unit;
		double mult;
	} units[] = { { "", 1 }, { "ms", 0.001 }, { "s", 1 }, { "m", 60 },
		{ "h", 3600 } };
	char *end;
	double v;
	size_t i;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || !isfinite(v))
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			*secs = v * units[i].mult;
			return 0;
		}
	}
	return -1;
}

double
notify_backoff(int n, double base, double max)
{
	double d = base;

	while (--n > 0 && d < max)
		d *= 2;
	return d < max ? d : max;
}

int
notify_severity_rank(const char *s)
{
	static const char *const sev[] = { "info", "warning", "critical" };
	int i;

	for (i = 0; i < 3; i++)
		if (strcmp(s, sev[i]) == 0)
			return i;
	return -1;
}

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* sent_at: now, ISO 8601 UTC with milliseconds. */
static void
iso_now(char *out, size_t cap)
{
	struct timeval tv;
	struct tm tm;
	char s[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, cap, "%.19s.%03dZ", s, (int)(tv.tv_usec / 1000) % 1000);
}

/* A column of r's row k by name, "" when NULL. */
static const char *
col(const PGresult *r, int k, const char *name)
{
	int i = PQfnumber(r, name);

	return i < 0 || PQgetisnull(r, k, i) ? "" : PQgetvalue(r, k, i);
}

/* Append "NAME=value" to env[*n]. */
static void
env_add(char **env, int *n, const char *name, const char *value)
{
	env[(*n)++] = xasprintf("%s=%s", name, value);
	env[*n] = NULL;
}

/*
 * The event of row i of notify_db_claim()'s answer e, its alert in a (notify_db_read_alerts(),
 * or NULL): its JSON into b and its environment into env (10 slots);
 * false when its alert could not be read.
 */
static bool
event_json(const struct notify_claim *cl, const PGresult *e, int i,
    const PGresult *a, struct buf *b, char **env)
{
	const char *id = PQgetvalue(e, i, EV_ALERT);
	char sent[40];
	int n = 0, k;

	for (k = 0; a != NULL && k < PQntuples(a); k++)
		if (strcmp(col(a, k, "id"), id) == 0)
			break;
	if (a == NULL || k == PQntuples(a)) {
		notify_log("event %lld: its alert could not be read",
		    cl->event);
		return false;
	}
	iso_now(sent, sizeof(sent));
	buf_adds(b, "{\"event\":");
	json_strz(b, PQgetvalue(e, i, EV_EVENT));
	buf_adds(b, ",\"dedup_key\":");
	json_strz(b, PQgetvalue(e, i, EV_DEDUP));
	buf_printf(b,
	    ",\"attempt\":%d,\"sent_at\":\"%s\",\"target\":", cl->attempt,
	    sent);
	json_strz(b, cl->t->name);
	buf_printf(b, ",\"event_id\":%s,\"event_at\":\"%s\",\"by\":",
	    PQgetvalue(e, i, EV_ID), PQgetvalue(e, i, EV_AT));
	json_strz(b, PQgetisnull(e, i, EV_BY) ? NULL : PQgetvalue(e, i, EV_BY));
	buf_adds(b, ",\"note\":");
	json_strz(b,
	    PQgetisnull(e, i, EV_NOTE) ? NULL : PQgetvalue(e, i, EV_NOTE));
	buf_adds(b, ",\"alert\":");
	cli_json_row(b, a, k);
	buf_adds(b, "}\n");
	env_add(env, &n, "LABWATCH_ALERT_ID", col(a, k, "id"));
	env_add(env, &n, "LABWATCH_ALERT_PATIENT", col(a, k, "patient_id"));
	env_add(env, &n, "LABWATCH_ALERT_SEVERITY", col(a, k, "severity"));
	env_add(env, &n, "LABWATCH_ALERT_KIND", col(a, k, "kind"));
	env_add(env, &n, "LABWATCH_ALERT_SUMMARY", col(a, k, "summary"));
	env_add(env, &n, "LABWATCH_ALERT_DEDUP_KEY",
	    PQgetvalue(e, i, EV_DEDUP));
	env_add(env, &n, "LABWATCH_ALERT_EVENT", PQgetvalue(e, i, EV_EVENT));
	return true;
}

/*
 * Hand row i of notify_db_claim()'s answer r (a delivery of t; a: the alerts) to a
 * worker; an event whose alert cannot be read is a failed attempt. false
 * after an error.
 */
static bool
start(PGconn *c, const struct notify_opts *o, const struct notify_target *t,
    const PGresult *r, int i, const PGresult *a, struct notify_pool *pool)
{
	struct notify_claim *cl = xmalloc(sizeof(*cl));
	struct pool_job *j = pool_job_new();
	bool ok;

	cl->t = t;
	cl->event = strtoll(PQgetvalue(r, i, 0), NULL, 10);
	cl->attempt = atoi(PQgetvalue(r, i, 1));
	if (!event_json(cl, r, i, a, &j->body, j->env)) {
		ok = notify_db_record_fail(c, o, cl,
		    "the event could not be read", 0);
		free(cl);
		pool_job_free(j);
		return ok;
	}
	j->exec = t->exec;
	j->url = t->url;
	j->owner = cl;
	pool_submit(pool, j);
	return true;
}

/* Free a finished delivery and its claim. */
static void
job_free(struct pool_job *j)
{
	free(j->owner);
	pool_job_free(j);
}

/* Move the deliveries the workers finished to *held. */
static void
hold_done(struct notify_pool *pool, struct pool_job **held)
{
	struct pool_job *j;

	while ((j = pool_collect(pool)) != NULL) {
		j->next = *held;
		*held = j;
	}
}

/* Put list back in front of *held. */
static void
hold_again(struct pool_job *list, struct pool_job **held)
{
	struct pool_job *j;

	while ((j = list) != NULL) {
		list = j->next;
		j->next = *held;
		*held = j;
	}
}

/*
 * Record the deliveries the workers finished, and those held from a
 * broken session: the successes of each target in one statement, each
 * failed attempt on its own (record_fail). false when the session broke
 * (what was not recorded stays held for the next: its lease has time).
 */
static bool
record_done(PGconn *c, const struct notify_opts *o, struct notify_pool *pool,
    struct pool_job **held)
{
	const struct notify_target *t[2] = { &o->main, &o->esc };
	struct pool_job *ok[2] = { NULL, NULL }, *bad = NULL, *j;
	const struct notify_claim *cl;
	bool recorded;
	int i;

	hold_done(pool, held);
	while ((j = *held) != NULL) {
		*held = j->next;
		cl = j->owner;
		i = cl->t == t[0] ? 0 : 1;
		if (j->rc == DELIVER_OK) {
			j->next = ok[i];
			ok[i] = j;
		} else {
			j->next = bad;
			bad = j;
		}
	}
	for (i = 0; i < 2; i++) {
		recorded = ok[i] != NULL && notify_db_record_ok(c, t[i], ok[i]);
		if (ok[i] != NULL && !recorded &&
		    PQstatus(c) != CONNECTION_OK) {
			for (; i < 2; i++)
				hold_again(ok[i], held);
			hold_again(bad, held);
			return false;
		}
		while ((j = ok[i]) != NULL) {
			ok[i] = j->next;
			if (recorded)
				notify_metrics_delivery(NOTIFY_DELIVERED,
				    j->usec);
			job_free(j);
		}
	}
	while ((j = bad) != NULL) {
		if (!notify_db_record_fail(c, o, j->owner, j->err, j->usec) &&
		    PQstatus(c) != CONNECTION_OK) {
			hold_again(bad, held);
			return false;
		}
		bad = j->next;
		job_free(j);
	}
	return true;
}

/*
 * Whether SIGINT or SIGTERM waits (they are blocked outside ppoll()): then
 * stopping, so that only the deliveries under way are finished, not the
 * whole backlog.
 */
static bool
stop_pending(void)
{
	sigset_t set;

	if (!stopping && sigpending(&set) == 0 &&
	    (sigismember(&set, SIGINT) == 1 || sigismember(&set, SIGTERM) == 1))
		stopping = 1;
	return stopping;
}

/*
 * Claim what is due for each target, as many rows as there are free
 * workers, and start them. false after an error.
 */
static bool
fill(PGconn *c, const struct notify_opts *o, struct notify_pool *pool)
{
	const struct notify_target *t[2] = { &o->main, &o->esc };
	PGresult *r, *a;
	int i, k, n, room;
	bool ok = true;

	for (i = 0; i < 2 && ok; i++) {
		if (t[i]->name == NULL)
			continue;
		while (ok && (room = pool_free_slots(pool)) > 0 &&
		    !stop_pending()) {
			if ((r = notify_db_claim(c, o, t[i], room)) == NULL)
				return false;
			n = PQntuples(r);
			a = n > 0 ? notify_db_read_alerts(c, r) : NULL;
			for (k = 0; k < n; k++)
				if (!start(c, o, t[i], r, k, a, pool))
					ok = false;
			PQclear(a);
			PQclear(r);
			if (n < room)
				break;
		}
	}
	return ok;
}

/* Seconds until the next retry of either target is due (at most 1). */
static double
next_due(PGconn *c, const struct notify_opts *o)
{
	const char *p[2] = { o->main.name, o->esc.name };
	char *cause = NULL;
	PGresult *r;
	double s = 1;

	r = db_query(c, "find the next retry",
	    "SELECT extract(epoch FROM min(CASE WHEN state = 'pending' "
	    "THEN next_attempt_at ELSE lease_until END) - now()) "
	    "FROM deliveries WHERE target IN ($1, $2) "
	    "AND state IN ('pending', 'delivering')",
	    2, p, &cause);
	if (r == NULL) {
		free(cause);
		return s;
	}
	if (!PQgetisnull(r, 0, 0))
		s = strtod(PQgetvalue(r, 0, 0), NULL);
	PQclear(r);
	return s < 0 ? 0 : s > 1 ? 1 : s;
}

/* Sleep secs, or until SIGINT or SIGTERM. */
static void
wait_for_signal(double secs, const sigset_t *waitmask)
{
	struct timespec ts;

	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	(void)ppoll(NULL, 0, &ts, waitmask);
}

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Wait for a NOTIFY (then *woken), a delivery finished or the timeout;
 * false when the session broke.
 */
static bool
wait_for(PGconn *c, struct notify_pool *pool, double secs,
    const sigset_t *waitmask, bool *woken)
{
	struct timespec ts;
	struct pollfd pfd[2];
	PGnotify *n;

	/*
	 * A NOTIFY that came in with the answer to a query of the last turn
	 * is already in libpq's queue, not on the socket: go round at once.
	 */
	while ((n = PQnotifies(c)) != NULL) {
		PQfreemem(n);
		*woken = true;
	}
	if (*woken)
		return true;
	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	pfd[0].fd = PQsocket(c);
	pfd[0].events = POLLIN;
	pfd[1].fd = pool_fd(pool);
	pfd[1].events = POLLIN;
	if (pfd[0].fd < 0)
		return false;
	if (ppoll(pfd, 2, &ts, waitmask) < 0 && errno != EINTR)
		return false;
	if (PQconsumeInput(c) == 0)
		return false;
	while ((n = PQnotifies(c)) != NULL) {
		PQfreemem(n);
		*woken = true;
	}
	return true;
}

/* The delivery loop's state. */
struct loop {
	struct notify_opts *o;
	struct notify_pool *pool;
	struct pool_job *held; /* finished, to record once connected */
	PGconn *c;
	double pause;	/* before the next connection attempt (s) */
	double scanned; /* when the last scan ran (now_mono()) */
	bool woken;	/* a NOTIFY came, or a new session: scan */
	sigset_t waitmask;
};

/*
 * Collect; on the clock's turn (tick) escalate first and expire after.
 * false after an error.
 */
static bool
scan(PGconn *c, struct notify_opts *o, bool tick)
{
	struct notify_target *t[2] = { &o->main, &o->esc };
	int i;

	if (tick && o->escalate_after > 0 && !notify_db_escalate(c, o))
		return false;
	for (i = 0; i < 2; i++)
		if (t[i]->name != NULL && !notify_db_collect(c, o, t[i]))
			return false;
	for (i = 0; tick && i < 2; i++)
		if (t[i]->name != NULL && !notify_db_expire(c, o, t[i]))
			return false;
	return true;
}

/*
 * One turn: record, collect (on a NOTIFY, and a second after the last
 * full scan: then escalate and expire too), claim and start, wait. false
 * when the session broke.
 */
static bool
turn(struct loop *l)
{
	PGconn *c = l->c;
	double secs, due;
	bool tick;

	notify_send("WATCHDOG=1");
	if (!record_done(c, l->o, l->pool, &l->held))
		return false;
	if (!stop_pending()) {
		tick = now_mono() - l->scanned >= 1;
		if (l->woken || tick) {
			l->woken = false;
			if (tick)
				l->scanned = now_mono();
			if (!scan(c, l->o, tick) &&
			    PQstatus(c) != CONNECTION_OK)
				return false;
		}
		if (!fill(c, l->o, l->pool) && PQstatus(c) != CONNECTION_OK)
			return false;
	}
	if (stopping) {
		if (pool_busy(l->pool) == 0)
			return true;
		l->woken = false; /* no more scans: wait for the workers */
		secs = 1;
	} else {
		/*
		 * Idle after fill(): a delivery due now waits for an earlier
		 * event of its chain; not less than 50 ms then (no spinning).
		 */
		secs = 1 - (now_mono() - l->scanned);
		if (pool_busy(l->pool) == 0 && (due = next_due(c, l->o)) < secs)
			secs = due > 0.05 ? due : 0.05;
	}
	return wait_for(c, l->pool, secs < 0 ? 0 : secs, &l->waitmask,
	    &l->woken);
}

/* Connect, or wait before the next try; false: not connected. */
static bool
connect_once(struct loop *l)
{
	struct notify_opts *o = l->o;
	char *cause = NULL;

	if ((l->c = notify_db_session(o, &cause)) == NULL) {
		notify_log("%s; again in %g s", cause, l->pause);
		notify_send("STATUS=waiting for the database\nWATCHDOG=1");
		free(cause);
		wait_for_signal(l->pause, &l->waitmask);
		l->pause = l->pause < 30 ? l->pause * 2 : 30;
		return false;
	}
	notify_log("listening; delivering to %s%s%s (%d at once)", o->main.name,
	    o->esc.name != NULL ? ", escalating to " : "",
	    o->esc.name != NULL ? o->esc.name : "", o->parallel);
	notify_send("READY=1\nSTATUS=listening");
	l->pause = 1;
	l->woken = true;
	l->scanned = 0; /* a full scan at once */
	return true;
}

/*
 * Stopping without a session: wait for the workers, then say which
 * deliveries were not recorded (each runs again once its lease ends).
 */
static void
give_up(struct loop *l)
{
	struct pool_job *j;
	struct pollfd pfd;

	while (pool_busy(l->pool) > 0) {
		pfd.fd = pool_fd(l->pool);
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, 1000);
		hold_done(l->pool, &l->held);
	}
	while ((j = l->held) != NULL) {
		l->held = j->next;
		notify_log(
		    "event %lld: attempt %d to %s not recorded (no database): "
		    "it runs again when its lease ends",
		    ((struct notify_claim *)j->owner)->event,
		    ((struct notify_claim *)j->owner)->attempt,
		    ((struct notify_claim *)j->owner)->t->name);
		job_free(j);
	}
}

int
notify_run(struct notify_opts *o)
{
	struct loop l;
	struct sigaction sa;
	sigset_t block;
	char *cause = NULL;

	memset(&l, 0, sizeof(l));
	l.o = o;
	l.pause = 1;
	notify_db_claimer_init();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (notify_init(&cause) != 0) {
		notify_log("%s", cause);
		free(cause);
		cause = NULL;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &l.waitmask);
	sigdelset(&l.waitmask, SIGINT);
	sigdelset(&l.waitmask, SIGTERM);
	if ((l.pool = pool_new(o->parallel, o->ca, o->timeout, &cause)) ==
	    NULL) {
		notify_log("%s", cause);
		free(cause);
		notify_close();
		return 1;
	}
	/* Started with SIGINT and SIGTERM blocked: they stay the loop's. */
	if (o->metrics_listen != NULL) {
		if (notify_metrics_start(o->metrics_listen, &cause) != 0) {
			notify_log("%s", cause);
			free(cause);
			pool_free(l.pool);
			notify_close();
			return 1;
		}
		notify_log("metrics on http://%.*s:%u/metrics",
		    (int)(strrchr(o->metrics_listen, ':') - o->metrics_listen),
		    o->metrics_listen, notify_metrics_port());
	}
	while (!stop_pending() || pool_busy(l.pool) > 0 || l.held != NULL) {
		if (l.c == NULL) {
			if (stopping) {
				give_up(&l);
				break;
			}
			hold_done(l.pool, &l.held);
			if (!connect_once(&l))
				continue;
		}
		if (!turn(&l)) {
			notify_log(
			    "lost the database connection; reconnecting");
			PQfinish(l.c);
			l.c = NULL;
		}
	}
	notify_send("STOPPING=1");
	PQfinish(l.c);
	pool_free(l.pool);
	notify_metrics_stop();
	notify_close();
	notify_log("stopped");
	return 0;
}
