/*
 * notify_db.c: labwatch notify's statements (see notify_db.h): the
 * session, the catch-up, escalation, claims and what records each
 * delivery. The tables and the claim's reasoning are in
 * sql/008_alert_events.sql.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "cli/cmd.h"
#include "cli/notify.h"
#include "cli/notify_db.h"
#include "cli/notify_metrics.h"
#include "cli/notify_pool.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "store/db.h"

/* What the claimer is called in deliveries.claimed_by. */
static char me[300];

void
notify_db_claimer_init(void)
{
	char host[256];

	if (gethostname(host, sizeof(host)) != 0)
		strcpy(host, "?");
	host[sizeof(host) - 1] = '\0';
	snprintf(me, sizeof(me), "%s:%ld", host, (long)getpid());
}

/* The session, listening, with both targets registered; or NULL. */
PGconn *
notify_db_session(struct notify_opts *o, char **cause)
{
	struct notify_target *t[2] = { &o->main, &o->esc };
	const char *p[1];
	PGresult *r;
	PGconn *c;
	bool ready;
	int i;

	if ((c = db_connect(db_conninfo(o->db), "labwatch notify", cause)) ==
	    NULL)
		return NULL;
	if (db_schema_ready(c, &ready, cause) != DB_OK)
		goto fail;
	if (!ready) {
		*cause = xstrdup("the database has no labwatch schema: run "
				 "labwatch migrate");
		goto fail;
	}
	/*
	 * Claims, collected rows and escalate events need not survive a
	 * crash of PostgreSQL (they are made again); what records a delivery
	 * does: its statement turns synchronous_commit on for its own
	 * transaction (SYNC_COMMIT). One fsync per event, not two. A
	 * statement that hangs (a lock, a server in trouble) ends after a
	 * minute, under the unit's watchdog.
	 */
	if (db_set_search_path(c, cause) != DB_OK ||
	    db_exec(c, "listen",
		"SET synchronous_commit = off; SET statement_timeout = '60s'; "
		"LISTEN labwatch_alert",
		cause) != DB_OK)
		goto fail;
	for (i = 0; i < 2; i++) {
		if (t[i]->name == NULL)
			continue;
		p[0] = t[i]->name;
		r = db_query(c, "register the target",
		    "SELECT notify_register($1)", 1, p, cause);
		if (r == NULL)
			goto fail;
		t[i]->since = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		t[i]->horizon[0] = '\0'; /* a new session: a full scan */
		PQclear(r);
	}
	return c;
fail:
	PQfinish(c);
	return NULL;
}

/*
 * The first CTE of a statement that must be durable in a session that
 * commits asynchronously: set_config(..., true) lasts until the commit of
 * the statement's own transaction, and the commit reads it. The statement
 * joins s so that it is evaluated.
 */
#define SYNC_COMMIT \
	"WITH s AS MATERIALIZED (SELECT set_config('synchronous_commit', " \
	"'on', true)) "

/*
 * Give each critical alert left open past our deadline its escalate event
 * for our escalation target (notify_escalate() locks the alert and reads
 * its state again).
 */
bool
notify_db_escalate(PGconn *c, const struct notify_opts *o)
{
	char after[32], since[32], note[64], *cause = NULL;
	const char *p[6];
	PGresult *r;

	snprintf(after, sizeof(after), "%.3f", o->escalate_after);
	snprintf(since, sizeof(since), "%lld", o->esc.since);
	snprintf(note, sizeof(note), "not acknowledged within %g s",
	    o->escalate_after);
	p[0] = after;
	p[1] = since;
	p[2] = note;
	p[3] = o->kinds;
	p[4] = o->protocol;
	p[5] = o->esc.name;
	r = db_query(c, "escalate",
	    "SELECT notify_escalate($6, $1::float8, $2::bigint, $3, "
	    "$4::text[], $5)",
	    6, p, &cause);
	if (r == NULL) {
		notify_log("%s", cause);
		free(cause);
		return false;
	}
	/* How many escalate events it wrote. */
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		notify_metrics_escalated(
		    strtoull(PQgetvalue(r, 0, 0), NULL, 10));
	PQclear(r);
	return true;
}

/*
 * The catch-up: a deliveries row for every event after the target's
 * start that it takes and has none yet. An escalation target takes its
 * own escalate events, and the acknowledge, resolve and reopen events
 * of the escalated alert and of the alerts that supersede it (the rest
 * of its episode) written after the escalate event, so that the
 * escalation page is closed, and opened again should the episode be
 * reopened (sql/019; not the resolve and reopen of an alert reopened
 * before it was escalated);
 * the main target all the events but escalate events.
 *
 * The main target's scan starts at its horizon: every event written by a
 * transaction older than the oldest one running at the last scan
 * (pg_snapshot_xmin) was visible to it and judged then (on the event and
 * its alert's kind, severity and protocol, which never change). The
 * horizon is 0 at start and after a reconnect: a full scan. An escalation
 * target judges events by others (an escalate before them), so it scans
 * the events of escalated alerts, which are few, every time.
 */
bool
notify_db_collect(PGconn *c, const struct notify_opts *o,
    struct notify_target *t)
{
	char since[32], sev[8], *cause = NULL;
	const char *p[7];
	PGresult *r;

	snprintf(since, sizeof(since), "%lld", t->since);
	snprintf(sev, sizeof(sev), "%d", o->min_severity);
	p[0] = t->name;
	p[1] = since;
	p[2] = t->escalation ? "t" : "f";
	p[3] = sev;
	p[4] = o->kinds;
	p[5] = o->protocol;
	p[6] = t->horizon[0] != '\0' ? t->horizon : "0";
	r = db_query(c, "collect the events",
	    "WITH snap AS MATERIALIZED (SELECT "
	    "pg_snapshot_xmin(pg_current_snapshot())::text AS x), "
	    "esc AS MATERIALIZED (SELECT x.id, x.alert FROM alert_events x "
	    "WHERE $3::bool AND x.event = 'escalate' AND x.target = $1 "
	    "AND x.id > $2::bigint), "
	    "ep AS MATERIALIZED (SELECT f AS alert, min(esc.id) AS after "
	    "FROM esc, alert_episode_from(esc.alert) f GROUP BY f), "
	    "ins AS (INSERT INTO deliveries (event, target) "
	    "SELECT e.id, $1 FROM alert_events e JOIN alerts a "
	    "ON a.id = e.alert WHERE e.id > $2::bigint "
	    "AND CASE WHEN $3::bool THEN e.id IN (SELECT id FROM esc) OR "
	    "(e.event IN ('acknowledge', 'resolve', 'reopen') AND EXISTS "
	    "(SELECT 1 FROM ep WHERE ep.alert = e.alert AND e.id > ep.after)) "
	    "ELSE e.event <> 'escalate' AND e.xid >= $7::xid8 END "
	    "AND CASE a.severity WHEN 'info' THEN 0 WHEN 'warning' THEN 1 "
	    "ELSE 2 END >= $4::int "
	    "AND ($5::text[] IS NULL OR a.kind = ANY ($5)) "
	    "AND ($6::text IS NULL OR a.protocol = $6) "
	    "AND NOT EXISTS (SELECT 1 FROM deliveries d "
	    "WHERE d.event = e.id AND d.target = $1) "
	    "ORDER BY e.id ON CONFLICT DO NOTHING RETURNING 1) "
	    "SELECT x FROM snap",
	    7, p, &cause);
	if (r == NULL) {
		notify_log("%s", cause);
		free(cause);
		return false;
	}
	if (!t->escalation)
		snprintf(t->horizon, sizeof(t->horizon), "%s",
		    PQgetvalue(r, 0, 0));
	PQclear(r);
	return true;
}

/*
 * Claim the oldest due deliveries of t, at most n: pending and due, or
 * delivering under a lease that ran out (its claimer died) with attempts
 * left (see notify_db_expire()). A row waits while an earlier event of its chain
 * (alert_chain_root: an episode, or a hold and the resume that answered
 * it) is pending or delivering for t, in flight here or elsewhere: one
 * chain's events reach a target in order, one at a time, whatever
 * retries, backoffs, workers and other claimers do (an acknowledge before
 * its trigger is dropped by a paging service, and the incident the
 * trigger then opens stays open). Only the first unfinished row of each
 * chain may be claimed (u and f: one alert_chain_root() per unfinished
 * row, not one per pair of them, which made a claim in a backlog of 400
 * take seconds). The lease outlasts the
 * command's timeout. The rows (event, attempt, then the event's columns,
 * EV_*), or NULL after an error.
 */
PGresult *
notify_db_claim(PGconn *c, const struct notify_opts *o,
    const struct notify_target *t, int n)
{
	char lease[32], max[16], lim[16], *cause = NULL;
	const char *p[5];
	PGresult *r;

	snprintf(lease, sizeof(lease), "%.3f", o->timeout + 5);
	snprintf(max, sizeof(max), "%d", o->max_attempts);
	snprintf(lim, sizeof(lim), "%d", n);
	p[0] = t->name;
	p[1] = lease;
	p[2] = me;
	p[3] = max;
	p[4] = lim;
	r = db_query(c, "claim deliveries",
	    "WITH u AS MATERIALIZED (SELECT d.event, "
	    "alert_chain_root(ue.alert) AS root FROM deliveries d "
	    "JOIN alert_events ue ON ue.id = d.event WHERE d.target = $1 "
	    "AND d.state IN ('pending', 'delivering')), "
	    "f AS (SELECT min(event) AS event FROM u GROUP BY root), "
	    "c AS (SELECT d.event FROM deliveries d JOIN f ON f.event = d.event "
	    "WHERE d.target = $1 "
	    "AND ((d.state = 'pending' AND d.next_attempt_at <= now()) OR "
	    "(d.state = 'delivering' AND d.lease_until <= now() "
	    "AND d.attempts < $4::int)) "
	    "ORDER BY d.event LIMIT $5::int FOR UPDATE OF d SKIP LOCKED) "
	    "UPDATE deliveries d SET state = 'delivering', "
	    "attempts = d.attempts + 1, claimed_by = $3, "
	    "lease_until = now() + make_interval(secs => $2::float8) "
	    "FROM c, alert_events e WHERE d.event = c.event "
	    "AND d.target = $1 AND e.id = c.event "
	    "RETURNING d.event, d.attempts, e.event, "
	    "coalesce(e.dedup_key, alert_dedup_key(e.alert)), e.id, " DB_ISO(
		"e.at") ", e.by, e.note, e.alert",
	    5, p, &cause);
	if (r == NULL) {
		notify_log("%s", cause);
		free(cause);
	}
	return r;
}

/*
 * The alerts of the events notify_db_claim() returned in e, in one query (one
 * round trip per claim, not one per event); NULL after an error.
 */
PGresult *
notify_db_read_alerts(PGconn *c, const PGresult *e)
{
	struct buf ids;
	char *sql, *cause = NULL;
	const char *p[1];
	PGresult *a;
	int i;

	buf_init(&ids);
	for (i = 0; i < PQntuples(e); i++)
		buf_printf(&ids, "%c%s", i == 0 ? '{' : ',',
		    PQgetvalue(e, i, EV_ALERT));
	buf_addc(&ids, '}');
	p[0] = ids.p;
	sql = xasprintf("SELECT %s FROM alerts a JOIN patients p "
			"ON p.id = a.patient WHERE a.id = ANY ($1::bigint[])",
	    cli_alert_columns);
	a = db_query(c, "read the alerts", sql, 1, p, &cause);
	free(sql);
	buf_free(&ids);
	if (a == NULL) {
		notify_log("%s", cause);
		free(cause);
	}
	return a;
}

/*
 * Record the deliveries of t in jobs (a list, each done) as delivered,
 * under our own claims only, in one statement: one synchronous commit for
 * all the deliveries the workers finished while the last was recorded
 * (one each made a burst wait on the disk, 15-30 ms per event). false
 * after an error (then none is recorded).
 */
bool
notify_db_record_ok(PGconn *c, const struct notify_target *t,
    struct pool_job *jobs)
{
	struct buf ev, at;
	struct pool_job *j;
	const struct notify_claim *cl;
	char *cause = NULL;
	const char *p[4];
	PGresult *r;
	bool mine;
	int i;

	buf_init(&ev);
	buf_init(&at);
	for (j = jobs; j != NULL; j = j->next) {
		cl = j->owner;
		buf_printf(&ev, "%c%lld", ev.len == 0 ? '{' : ',', cl->event);
		buf_printf(&at, "%c%d", at.len == 0 ? '{' : ',', cl->attempt);
	}
	buf_addc(&ev, '}');
	buf_addc(&at, '}');
	p[0] = ev.p;
	p[1] = at.p;
	p[2] = t->name;
	p[3] = me;
	r = db_query(c, "record the deliveries",
	    SYNC_COMMIT ", v AS (SELECT * FROM unnest($1::bigint[], "
			"$2::int[]) AS v(event, attempt)) "
			"UPDATE deliveries d SET state = 'delivered', "
			"delivered_at = now(), lease_until = NULL, "
			"last_error = NULL FROM s, v WHERE d.event = v.event "
			"AND d.attempts = v.attempt AND d.target = $3 "
			"AND d.state = 'delivering' AND d.claimed_by = $4 "
			"RETURNING d.event",
	    4, p, &cause);
	buf_free(&ev);
	buf_free(&at);
	for (j = jobs; j != NULL; j = j->next) {
		cl = j->owner;
		if (r == NULL) {
			if (PQstatus(c) == CONNECTION_OK)
				notify_log(
				    "event %lld was delivered to %s but not "
				    "recorded: %s",
				    cl->event, t->name, cause);
			continue;
		}
		for (i = 0, mine = false; i < PQntuples(r) && !mine; i++)
			mine = strtoll(PQgetvalue(r, i, 0), NULL, 10) ==
			    cl->event;
		if (mine)
			notify_log("event %lld delivered to %s (attempt %d)",
			    cl->event, t->name, cl->attempt);
		else
			notify_log(
			    "event %lld: the lease ran out before it was "
			    "recorded (raise --timeout?)",
			    cl->event);
	}
	free(cause);
	PQclear(r);
	return r != NULL;
}

/*
 * The CTE "op" of a statement whose CTE "d" returns the deliveries of
 * target $2 that failed (event, state, attempts, last_error): a critical
 * operational alert for each (not for an operational alert's own events:
 * paging cannot page about itself).
 */
#define OP_ALERT \
	"op AS (INSERT INTO alerts (patient, protocol, kind, severity, " \
	"summary, details) SELECT a.patient, a.protocol, 'data_quality', " \
	"'critical', format('Paging failed: alert #%s (%s %s) could not " \
	"be delivered to %s after %s attempts (%s): see that it reaches " \
	"someone', a.id, a.severity, a.kind, $2, d.attempts, " \
	"d.last_error), jsonb_build_object('operational', " \
	"'paging_failed', 'alert', a.id, 'event', e.id, 'target', " \
	"$2::text, 'attempts', d.attempts, 'last_error', d.last_error) " \
	"FROM d JOIN alert_events e ON e.id = d.event JOIN alerts a " \
	"ON a.id = e.alert WHERE d.state = 'failed' AND " \
	"coalesce(a.details->>'operational', '') <> 'paging_failed' " \
	"RETURNING id) "

/*
 * A delivery whose lease ran out at its last attempt (its claimer died
 * while running it, --max-attempts times: a crash loop) is not run again:
 * it is failed, with its operational alert. false after an error.
 */
bool
notify_db_expire(PGconn *c, const struct notify_opts *o,
    const struct notify_target *t)
{
	char max[16], *cause = NULL;
	const char *p[2];
	PGresult *r;
	int i;

	snprintf(max, sizeof(max), "%d", o->max_attempts);
	p[0] = max;
	p[1] = t->name;
	r = db_query(c, "fail the expired deliveries",
	    SYNC_COMMIT
	    ", d AS (UPDATE deliveries SET state = 'failed', failed_at = now(), "
	    "lease_until = NULL, last_error = format('the lease ran out at "
	    "attempt %s (its claimer died?)', attempts) FROM s "
	    "WHERE target = $2 AND state = 'delivering' "
	    "AND lease_until <= now() AND attempts >= $1::int "
	    "RETURNING event, state, attempts, last_error), " OP_ALERT
	    "SELECT d.event, d.attempts, (SELECT count(*) FROM op) FROM d",
	    2, p, &cause);
	if (r == NULL) {
		notify_log("%s", cause);
		free(cause);
		return false;
	}
	for (i = 0; i < PQntuples(r); i++)
		notify_log(
		    "event %s: delivery to %s failed after %s attempts (the "
		    "lease ran out: not run again)%s",
		    PQgetvalue(r, i, 0), t->name, PQgetvalue(r, i, 1),
		    strcmp(PQgetvalue(r, i, 2), "0") != 0 ?
			"; operational alert raised" :
			"");
	PQclear(r);
	return true;
}

/*
 * Record a failed attempt: pending again after the backoff, or failed
 * after the last one, with a critical operational alert (not for an
 * operational alert's own events: paging cannot page about itself).
 */
bool
notify_db_record_fail(PGconn *c, const struct notify_opts *o,
    const struct notify_claim *cl, const char *err, uint64_t usec)
{
	const struct notify_target *t = cl->t;
	char ev[32], at[16], max[16], wait[32], *cause = NULL;
	const char *p[7];
	PGresult *r;

	snprintf(ev, sizeof(ev), "%lld", cl->event);
	snprintf(at, sizeof(at), "%d", cl->attempt);
	snprintf(max, sizeof(max), "%d", o->max_attempts);
	snprintf(wait, sizeof(wait), "%.3f",
	    notify_backoff(cl->attempt, o->retry_base, o->retry_max));
	p[0] = ev;
	p[1] = t->name;
	p[2] = me;
	p[3] = at;
	p[4] = max;
	p[5] = err;
	p[6] = wait;
	r = db_query(c, "record the failed attempt",
	    SYNC_COMMIT
	    ", d AS (UPDATE deliveries SET state = CASE WHEN attempts >= "
	    "$5::int THEN 'failed' ELSE 'pending' END, last_error = $6, "
	    "lease_until = NULL, failed_at = CASE WHEN attempts >= $5::int "
	    "THEN now() END, next_attempt_at = now() + "
	    "make_interval(secs => $7::float8) FROM s WHERE event = $1 "
	    "AND target = $2 AND state = 'delivering' AND claimed_by = $3 "
	    "AND attempts = $4::int "
	    "RETURNING event, state, attempts, last_error), " OP_ALERT
	    "SELECT (SELECT state FROM d), (SELECT id FROM op)",
	    7, p, &cause);
	if (r == NULL) {
		notify_log("%s", cause);
		free(cause);
		return false;
	}
	if (!PQgetisnull(r, 0, 0))
		notify_metrics_delivery(strcmp(PQgetvalue(r, 0, 0), "failed") ==
			    0 ?
			NOTIFY_FAILED :
			NOTIFY_RETRY,
		    usec);
	if (PQgetisnull(r, 0, 0))
		notify_log(
		    "event %lld: the lease ran out before the failed attempt "
		    "was recorded (raise --timeout?)",
		    cl->event);
	else if (strcmp(PQgetvalue(r, 0, 0), "failed") == 0)
		notify_log(
		    "event %lld: delivery to %s failed after %d attempts "
		    "(%s)%s%s",
		    cl->event, t->name, cl->attempt, err,
		    PQgetisnull(r, 0, 1) ? "" : "; operational alert ",
		    PQgetisnull(r, 0, 1) ? "" : PQgetvalue(r, 0, 1));
	else
		notify_log(
		    "event %lld: attempt %d to %s failed (%s); retry in %s s",
		    cl->event, cl->attempt, t->name, err, wait);
	PQclear(r);
	return true;
}
