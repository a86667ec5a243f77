/*
 * ingest.c: the batch state machine of the writer thread.
 *
 * A batch is two round trips in libpq pipeline mode:
 *   1. BEGIN, one INSERT ... ON CONFLICT DO NOTHING RETURNING id per
 *      message (no id back = a duplicate), the batch's patients locked
 *      (an advisory lock each, in one order) and their versions bumped,
 *      the patients and enrollments the cache lacks or another writer
 *      changed, and fresh ids for observations and alerts;
 *   (1b. the stored history of enrolled patients seen for the first time;)
 *   2. the observation rows, verdicts, alerts and state updates the rules
 *      decide, then COMMIT.
 * Observation and alert ids come from their sequences in blocks, so rows
 * can refer to each other within round trip 2. A failed batch flushes the
 * patient cache: it always mirrors what is committed, by this writer;
 * what another labwatchd on the same database wrote is told by the
 * patient's version (patients.version, bumped under the patient's lock by
 * every batch that writes it): a patient whose version moved is loaded
 * again before the rules judge it.
 *
 * The session (pgpipe.c), the patient cache (pcache.c), the rows and
 * statements (rows.c), the words of alerts (alert_text.c) and what a
 * frame is before the database (triage.c) live in their own files. A
 * session's state changes in set_state() only.
 */
#include "store/ingest_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "hl7/ack.h"
#include "lib/hash.h"
#include "lib/json.h"
#include "lib/xmalloc.h"
#include "rules/rules.h"
#include "store/alert_text.h"
#include "store/batch_ids.h"
#include "store/db.h"
#include "store/migrate.h"
#include "store/obs.h"
#include "store/overlap.h"
#include "store/pcache.h"
#include "store/pgpipe.h"
#include "store/plock.h"
#include "store/rows.h"
#include "store/text.h"

/* How long a statement waits for a lock another writer holds. */
#define INGEST_LOCK_TIMEOUT "5s"

static const char *const side_state_names[] = {
	"idle",
	"started",
	"committing",
};

/* ---- the state of a session ---- */

/* An impossible state: said through the store's log, then stop. */
static void __attribute__((noreturn, format(printf, 2, 3)))
ingest_fatalx(const struct ingest *g, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (g->o.log != NULL)
		g->o.log(g->o.log_arg, 0, msg);
	else
		fprintf(stderr, "labwatch: %s\n", msg);
	abort();
}

/*
 * The one place a session's state changes: idle -> started ->
 * committing -> idle, or back to idle from started when its batch fails
 * or is aborted. Anything else is a bug of the caller's.
 */
static void
set_state(struct side *d, enum side_state to)
{
	bool legal;

	switch (to) {
	case SIDE_STARTED:
		legal = d->state == SIDE_IDLE;
		break;
	case SIDE_COMMITTING:
		legal = d->state == SIDE_STARTED;
		break;
	case SIDE_IDLE:
	default:
		legal = d->state != SIDE_IDLE;
		break;
	}
	if (!legal)
		ingest_fatalx(d->g,
		    "ingest: session %d cannot go from %s to %s", d->index,
		    side_state_names[d->state], side_state_names[to]);
	d->state = to;
}

/* The session whose batch was started and not committed, or NULL. */
static struct side *
started_side(struct ingest *g)
{
	if (g->sides[0].state == SIDE_STARTED)
		return &g->sides[0];
	return g->sides[1].state == SIDE_STARTED ? &g->sides[1] : NULL;
}

/* The session whose batch has been committing the longest, or NULL. */
static struct side *
oldest_committing(struct ingest *g)
{
	struct side *a = &g->sides[0], *b = &g->sides[1];

	if (a->state == SIDE_COMMITTING &&
	    (b->state != SIDE_COMMITTING || a->seq < b->seq))
		return a;
	return b->state == SIDE_COMMITTING ? b : NULL;
}

/* The session the next batch goes to: not the one committing. */
static struct side *
free_side(struct ingest *g)
{
	struct side *busy = oldest_committing(g);

	return busy == NULL ? &g->sides[0] : &g->sides[1 - busy->index];
}

static enum ingest_rc
rc_of(enum db_rc rc)
{
	switch (rc) {
	case DB_OK:
		return INGEST_OK;
	case DB_DOWN:
		return INGEST_DOWN;
	case DB_REFUSED:
		return INGEST_REFUSED;
	case DB_ERROR:
	default:
		return INGEST_ERROR;
	}
}

/* ---- parameters and ids ---- */

const char *
ingest_pstr(struct ingest *g, const char *p, size_t len)
{
	char *out = arena_alloc(&g->arena, len * 3 + 1);

	out[text_sanitize(out, p, len)] = '\0';
	return out;
}

const char *
ingest_pint(struct ingest *g, int64_t v)
{
	char *out = arena_alloc(&g->arena, 24);

	snprintf(out, 24, "%lld", (long long)v);
	return out;
}

const char *
ingest_pbuf(struct ingest *g, const struct buf *b)
{
	return ingest_pstr(g, b->p ? b->p : "", b->len);
}

/* Send a prepared statement with text parameters. */
enum db_rc
ingest_send_stmt(struct side *d, const char *stmt, int n, const char *const *v,
    enum qtag tag, void *ctx)
{
	return pgpipe_send_prepared(&d->pipe, stmt, n, v, NULL, NULL, (int)tag,
	    ctx);
}

/* ---- sessions ---- */

struct ingest *
ingest_new(const struct ingest_opts *o, struct rules *r)
{
	struct ingest *g = xcalloc(1, sizeof(*g));
	int i;

	g->o = *o;
	g->rules = r;
	buf_init(&g->tmp);
	buf_init(&g->tmp2);
	rows_init(&g->rows);
	pgarr_init(&g->pids, PGARR_TEXT);
	for (i = 0; i < 2; i++) {
		g->sides[i].g = g;
		g->sides[i].index = i;
		pgpipe_init(&g->sides[i].pipe, &g->err, o->log, o->log_arg);
	}
	return g;
}

/* Close one session; whatever it had in flight is not committed. */
static void
disconnect_side(struct side *d)
{
	pgpipe_close(&d->pipe);
	if (d->state != SIDE_IDLE)
		set_state(d, SIDE_IDLE);
}

static void
disconnect(struct ingest *g)
{
	disconnect_side(&g->sides[0]);
	disconnect_side(&g->sides[1]);
	/* Reserved ids stay valid (sequences never give them again). */
	pcache_flush(&g->pc);
}

void
ingest_free(struct ingest *g)
{
	int k;

	if (g == NULL)
		return;
	disconnect(g);
	pgpipe_free(&g->sides[0].pipe);
	pgpipe_free(&g->sides[1].pipe);
	for (k = 0; k < IDPOOL_NKINDS; k++)
		idpool_free(&g->ids[k]);
	free(g->touch);
	free(g->touch_pat);
	pgarr_free(&g->pids);
	arena_free(&g->arena);
	buf_free(&g->tmp);
	buf_free(&g->tmp2);
	rows_free(&g->rows);
	free(g);
}

void
ingest_set_rules(struct ingest *g, struct rules *r)
{
	g->rules = r;
	/* Histories were evaluated with the old rules. */
	pcache_flush(&g->pc);
}

bool
ingest_connected(const struct ingest *g)
{
	return pgpipe_up(&g->sides[0].pipe) && pgpipe_up(&g->sides[1].pipe);
}

/* Set up one session: search path, LISTEN, statements, pipeline mode. */
static enum db_rc
setup_side(struct side *d, char **cause)
{
	PGconn *c = d->pipe.conn;
	enum db_rc rc;
	char sql[64];

	/*
	 * A wait for another writer's lock ends (INGEST_LOCK_TIMEOUT): two
	 * daemons' batches idle in their transactions while each writer
	 * waits for its other batch can wait on each other in a way
	 * PostgreSQL cannot see (overlap.c). The batch fails with 55P03 and
	 * goes again later (refusal.c): never a quarantine.
	 */
	if ((rc = db_set_search_path(c, cause)) != DB_OK ||
	    (rc = db_exec(c, "setting lock_timeout",
		 "SET lock_timeout = '" INGEST_LOCK_TIMEOUT "'", cause)) !=
		DB_OK ||
	    (rc = db_exec(c, "listening for enrollments",
		 "LISTEN labwatch_enrollment", cause)) != DB_OK ||
	    (rc = rows_prepare(c, cause)) != DB_OK)
		return rc;
	/* A writer beside another process's may want its own bound. */
	if (d->g->o.lock_timeout_ms > 0) {
		snprintf(sql, sizeof(sql), "SET lock_timeout = %d",
		    d->g->o.lock_timeout_ms);
		if ((rc = db_exec(c, "setting lock_timeout", sql, cause)) !=
		    DB_OK)
			return rc;
	}
	return pgpipe_start(&d->pipe, cause);
}

/*
 * Apply the migrations of sql_dir (when set), then refuse a schema that
 * is not the one schema_dir's migrations make (when set): missing or
 * older without migrating, or made by a newer labwatch, what we would
 * write is not what the tables expect.
 */
static enum db_rc
migrate_side(struct side *d, const char *sql_dir, const char *schema_dir,
    char **cause)
{
	struct store_schema_info si;
	enum db_rc rc;
	int applied;

	if (sql_dir != NULL &&
	    (rc = store_migrate(d->pipe.conn, sql_dir, &applied, cause)) !=
		DB_OK)
		return rc;
	if (schema_dir == NULL)
		return DB_OK;
	if ((rc = store_schema_check(d->pipe.conn, schema_dir, &si, cause)) !=
	    DB_OK)
		return rc;
	if ((*cause = store_schema_problem(&si, "labwatchd",
		 "labwatch migrate")) != NULL)
		return DB_ERROR;
	return DB_OK;
}

enum ingest_rc
ingest_connect(struct ingest *g, char **cause)
{
	struct side *d;
	enum ingest_rc rc = INGEST_DOWN;
	int i;

	if (ingest_connected(g))
		return INGEST_OK;
	disconnect(g);
	for (i = 0; i < 2; i++) {
		d = &g->sides[i];
		if (pgpipe_open(&d->pipe, g->o.conninfo, cause) != DB_OK)
			goto fail;
		if ((i == 0 &&
			migrate_side(d, g->o.sql_dir, g->o.schema_dir, cause) !=
			    DB_OK) ||
		    setup_side(d, cause) != DB_OK) {
			/* Reached, but our schema or statements are refused. */
			if (pgpipe_up(&d->pipe))
				rc = INGEST_ERROR;
			goto fail;
		}
	}
	g->need_flush = false;
	return INGEST_OK;
fail:
	disconnect(g);
	return rc;
}

/*
 * Enrollment changes made by people: forget what we cached. Both sessions
 * listen, and the one the next batch goes to is idle, so it has heard
 * every change committed before (the other's copy, read when it is idle
 * in turn, costs one more reload of the histories).
 */
static void
check_notifies(struct ingest *g)
{
	int i;

	for (i = 0; i < 2; i++)
		if (g->sides[i].state == SIDE_IDLE &&
		    pgpipe_notified(&g->sides[i].pipe))
			g->need_flush = true;
}

/* ---- before the database ---- */

void
ingest_prepare(struct ingest *g, struct ingest_work *w)
{
	triage_prepare(&g->o, w);
}

bool
ingest_ack(struct ingest *g, struct ingest_work *w, struct buf *out)
{
	return triage_ack(&g->o, ++g->ack_seq, w, out);
}

/* ---- round trip 1 ---- */

/* The batch's work whose row was offered with this id. */
static struct ingest_work *
work_by_reserved(const struct side *d, int64_t id)
{
	return batch_ids_find(d->batch, d->nbatch, d->ascending, id);
}

/* Results of round trip 1 (and of a batch landing: its message ids). */
static void
handle_rt1(void *arg, const struct pgpipe_query *q, PGresult *res)
{
	struct side *d = arg;
	struct ingest *g = d->g;
	struct ingest_work *w;
	struct pcache *p;
	int i, n = PQntuples(res);

	switch ((enum qtag)q->tag) {
	case Q_MSGS:
		/* Rows not returned met a unique index: duplicates. */
		for (i = 0; i < n; i++) {
			w = work_by_reserved(d,
			    strtoll(PQgetvalue(res, i, 0), NULL, 10));
			if (w != NULL)
				w->message_id = w->reserved_id;
		}
		break;
	case Q_PATIENT:
		p = q->ctx;
		if (n > 0)
			p->db_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		break;
	case Q_ENROLL:
		pcache_load_enrollment(q->ctx, g->rules, res);
		break;
	case Q_IDS:
		idpool_add(q->ctx, res);
		break;
	case Q_VERSION:
		plock_versions(g, res);
		break;
	default:
		break;
	}
}

/* Results of round trip 1b: histories and open alerts. */
static void
handle_history(void *arg, const struct pgpipe_query *q, PGresult *res)
{
	(void)arg;
	if (q->tag == Q_OPEN_ALERTS)
		pcache_load_open(q->ctx, res);
	else if (q->tag == Q_HISTORY)
		pcache_load_history(q->ctx, res);
}

/*
 * x's correction key (oru_result_key), in the batch's arena, sanitised as
 * its row's order_key is: the history re-read from the rows must match a
 * later C, D or W by the same key as the live one did.
 */
const char *
ingest_order_key(struct ingest *g, const struct oru_msg *o,
    const struct oru_obs *x, size_t *len)
{
	char *k = arena_alloc(&g->arena, oru_result_key_size(o, x));
	char *out;
	size_t n = oru_result_key(o, x, k);

	out = arena_alloc(&g->arena, n * 3 + 1);
	*len = text_sanitize(out, k, n);
	out[*len] = '\0';
	return out;
}

/*
 * Queue w's message row, offered with the next reserved id, or with the
 * one it was offered with before (spooled_id: a COMMIT whose answer was
 * lost), so that a row stored then meets its own id and is not added
 * again. Such an id is older than the pool's: d's ids may then not
 * ascend (batch_ids_ascend(), once the batch is queued).
 */
static void
queue_message(struct ingest *g, struct side *d, struct ingest_work *w)
{
	w->reserved_id = w->spooled_id > 0 ? w->spooled_id :
					     idpool_take(&g->ids[IDPOOL_MSGS]);
	d->nqueued++;
	rows_add_message(&g->rows, w);
}

/*
 * Round trip 1: BEGIN, the message rows, the patients and enrollments
 * the cache lacks, and the observation and alert ids the batch needs
 * (need[], per enum idpool_kind).
 */
static enum db_rc
round_trip_1(struct ingest *g, struct side *d, struct ingest_work **ws,
    size_t n, size_t *need)
{
	size_t i, ngroups = 0;
	enum db_rc rc;

	if ((rc = pgpipe_send_sql(&d->pipe, "BEGIN", Q_IGNORE)) != DB_OK)
		return rc;
	for (i = 0; i < n; i++) {
		ws[i]->message_id = -1;
		ws[i]->nalerts = 0; /* a retry counts again */
		memset(ws[i]->alerts_by, 0, sizeof(ws[i]->alerts_by));
		queue_message(g, d, ws[i]);
	}
	d->ascending = batch_ids_ascend(ws, n);
	if ((rc = rows_send_messages(&g->rows, &d->pipe, Q_MSGS)) != DB_OK ||
	    (rc = plock_send(g, d, ws, n, &need[IDPOOL_OBS], &ngroups)) !=
		DB_OK)
		return rc;
	/*
	 * Per observation at most: an alert and a data-quality line; a
	 * recovery line moved and a reopened or new alert should it take
	 * out a result that ended an episode; per hold rule a withdrawn
	 * line and a hold on another result should it take out a hold's
	 * result (verdict.c). Per group: an eligibility line and per hold
	 * rule a hold or resume. Ids are cheap; an empty pool is not.
	 */
	need[IDPOOL_ALERTS] = need[IDPOOL_OBS] *
		(4 + 2 * rules_hold_count(g->rules)) +
	    ngroups * (RULES_MAX_HOLD_RULES + 1);
	if ((rc = idpool_reserve(g, d, IDPOOL_OBS, need[IDPOOL_OBS])) !=
		DB_OK ||
	    (rc = idpool_reserve(g, d, IDPOOL_ALERTS, need[IDPOOL_ALERTS])) !=
		DB_OK ||
	    (rc = pgpipe_run(&d->pipe, handle_rt1, d)) != DB_OK ||
	    (rc = plock_send_stale(g, d)) != DB_OK ||
	    pgpipe_pending(&d->pipe) == 0)
		return rc;
	return pgpipe_run(&d->pipe, handle_rt1, d);
}

/*
 * Observation and alert ids above the batch's patients' stored ones
 * (plock.h): a pool behind dropped and reserved again, under the
 * patients' locks; one round trip for both, only when one is behind.
 */
static enum db_rc
ids_above_stored(struct ingest *g, struct side *d, const size_t *need)
{
	enum idpool_kind k;
	enum db_rc rc;

	for (k = 0; k < IDPOOL_NPATIENT; k++)
		if (need[k] > 0 && plock_drop_ids_behind(g, k) &&
		    (rc = idpool_reserve(g, d, k, need[k])) != DB_OK)
			return rc;
	if (pgpipe_pending(&d->pipe) == 0)
		return DB_OK;
	return pgpipe_run(&d->pipe, handle_rt1, d);
}

/* Round trip 1b: histories of enrolled patients first seen now. */
static enum db_rc
round_trip_1b(struct ingest *g, struct side *d)
{
	struct pcache *p;
	const char *v[2];
	size_t i;
	enum db_rc rc;

	for (i = 0; (p = hash_next(&g->pc, &i)) != NULL;) {
		if (!p->pending)
			continue;
		p->pending = false;
		if (!p->enrolled)
			continue;
		pcache_history_begin(p, g->rules);
		v[0] = ingest_pint(g, p->db_id);
		v[1] = rules_protocol_name(g->rules);
		if ((rc = ingest_send_stmt(d, "sel_history", 1, v, Q_HISTORY,
			 p)) != DB_OK ||
		    (rc = ingest_send_stmt(d, "sel_open_alerts", 2, v,
			 Q_OPEN_ALERTS, p)) != DB_OK)
			return rc;
	}
	if (pgpipe_pending(&d->pipe) == 0)
		return DB_OK;
	if ((rc = pgpipe_run(&d->pipe, handle_history, d)) != DB_OK)
		return rc;
	for (i = 0; (p = hash_next(&g->pc, &i)) != NULL;)
		if (p->fresh) {
			p->fresh = false;
			pcache_history_end(p);
		}
	return DB_OK;
}

/* ---- the batch ---- */

/* w's outcome once its message row went in (message_id) or not. */
static enum store_outcome
set_outcome(struct ingest_work *w)
{
	w->outcome = w->message_id < 0 ? STORE_DUPLICATE :
	    w->quarantine	       ? STORE_QUARANTINED :
	    w->ignored		       ? STORE_IGNORED :
					 STORE_PROCESSED;
	return w->outcome;
}

static void
reset_batch(struct ingest *g)
{
	arena_reset(&g->arena);
	rows_reset(&g->rows);
}

/*
 * Whether the COMMIT of d's batch may have happened out of our sight:
 * true from when it is handed to libpq (part of it may leave even when
 * the send fails) until its answer is read.
 */
static void
mark_unknown(struct side *d, bool unknown)
{
	size_t i;

	for (i = 0; i < d->nbatch; i++)
		d->batch[i]->commit_unknown = unknown;
}

/*
 * d's batch failed: end its transaction (ROLLBACK in the same pipeline,
 * or drop the session if even that fails) and forget the caches, which
 * may hold what was never committed.
 */
static enum ingest_rc
fail_batch(struct ingest *g, struct side *d, enum ingest_rc rc, char **cause)
{
	*cause = xstrdup(g->err.msg);
	/*
	 * A statement refused before the COMMIT: nothing of the batch went
	 * in. The connection lost after it was sent: it may have.
	 */
	if (rc != INGEST_DOWN && d->state == SIDE_COMMITTING)
		mark_unknown(d, false);
	/* A one-statement batch has no transaction left to end. */
	if (rc != INGEST_DOWN && !d->simple && pgpipe_up(&d->pipe)) {
		/* Queries sent before it are read back with it. */
		if (pgpipe_send_sql(&d->pipe, "ROLLBACK", Q_IGNORE) != DB_OK ||
		    pgpipe_run(&d->pipe, NULL, NULL) == DB_DOWN ||
		    !pgpipe_clean(&d->pipe))
			rc = INGEST_DOWN; /* not back to a clean session */
	}
	if (rc == INGEST_DOWN)
		disconnect_side(d);
	else if (d->state != SIDE_IDLE)
		set_state(d, SIDE_IDLE);
	pcache_flush(&g->pc);
	g->need_flush = false;
	reset_batch(g);
	return rc;
}

/*
 * Round trip 2, sent and not read: the rows the rules decide for each
 * message that went in. The server works on them while we go on.
 */
static enum ingest_rc
round_trip_2(struct ingest *g, struct side *d, struct ingest_work **ws,
    size_t n)
{
	struct ingest_work *w;
	size_t i;
	uint32_t j;

	for (i = 0; i < n; i++) {
		w = ws[i];
		if (set_outcome(w) != STORE_PROCESSED)
			continue;
		for (j = 0; j < w->oru.npatients; j++)
			if (w->oru.patients[j].nobs > 0 &&
			    verdict_rows(g, d, w, &w->oru.patients[j]) != DB_OK)
				return INGEST_ERROR;
	}
	if (rows_send_observations(&g->rows, &d->pipe) != DB_OK ||
	    pgpipe_flush(&d->pipe) != DB_OK)
		return INGEST_DOWN;
	return INGEST_OK;
}

/*
 * Whether the batch must wait (INGEST_BUSY) for the one in flight, busy:
 * the caches are to be reloaded, and histories reloaded now would miss
 * its rows; or an enrolled patient it wrote is in this batch too, and
 * our updates of that patient's alerts, observations and enrollment
 * would not see its rows (nor wait for them); or a message of it is one
 * of busy's (overlap_shares_key).
 */
static enum ingest_rc
must_wait(struct ingest *g, const struct side *busy, struct ingest_work **ws,
    size_t n)
{
	struct batch_scan sc;

	check_notifies(g);
	if (g->need_flush) {
		if (busy != NULL)
			return INGEST_BUSY;
		pcache_flush(&g->pc);
		g->need_flush = false;
	}
	if (busy != NULL) {
		overlap_scan(g, ws, n, &sc);
		if (sc.enrolled_unlanded || overlap_shares_key(busy, ws, n))
			return INGEST_BUSY;
	}
	return INGEST_OK;
}

enum ingest_rc
ingest_start(struct ingest *g, struct ingest_work **ws, size_t n, char **cause)
{
	struct side *busy = oldest_committing(g), *d;
	size_t need[IDPOOL_NPATIENT] = { 0 };
	enum ingest_rc rc;

	if (started_side(g) != NULL)
		ingest_fatalx(g,
		    "ingest_start: a batch is started and not "
		    "committed");
	d = free_side(g);
	if (d->state != SIDE_IDLE)
		ingest_fatalx(g, "ingest_start: two batches in flight");
	g->err.sqlstate[0] = '\0';
	if (!ingest_connected(g)) {
		snprintf(g->err.msg, sizeof(g->err.msg), "not connected");
		*cause = xstrdup(g->err.msg);
		return INGEST_DOWN;
	}
	if ((rc = must_wait(g, busy, ws, n)) != INGEST_OK)
		return rc;
	reset_batch(g);
	/* Message ids first: the rows are offered with them. */
	if (g->ids[IDPOOL_MSGS].n < n) {
		if (idpool_reserve(g, d, IDPOOL_MSGS, n) != DB_OK)
			return fail_batch(g, d, INGEST_DOWN, cause);
		if ((rc = rc_of(pgpipe_run(&d->pipe, handle_rt1, d))) !=
		    INGEST_OK)
			return fail_batch(g, d, rc, cause);
	}
	set_state(d, SIDE_STARTED);
	d->simple = false;
	d->batch = ws;
	d->nbatch = n;
	d->nqueued = 0;
	d->seq = ++g->seq;
	if ((rc = rc_of(round_trip_1(g, d, ws, n, need))) != INGEST_OK ||
	    (rc = rc_of(round_trip_1b(g, d))) != INGEST_OK ||
	    (rc = rc_of(ids_above_stored(g, d, need))) != INGEST_OK ||
	    (rc = round_trip_2(g, d, ws, n)) != INGEST_OK)
		return fail_batch(g, d, rc, cause);
	reset_batch(g);
	return INGEST_OK;
}

enum ingest_rc
ingest_commit(struct ingest *g, char **cause)
{
	struct side *d = started_side(g);

	if (d == NULL || g->sides[1 - d->index].state == SIDE_COMMITTING)
		ingest_fatalx(g, "ingest_commit: %s",
		    d == NULL ? "no batch started" :
				"the batch in flight is not finished");
	mark_unknown(d, true);
	if (pgpipe_send_sql(&d->pipe, "COMMIT", Q_IGNORE) != DB_OK ||
	    pgpipe_sync(&d->pipe) != DB_OK)
		return fail_batch(g, d, INGEST_DOWN, cause);
	set_state(d, SIDE_COMMITTING);
	return INGEST_OK;
}

/* w's alerts, committed, into the metrics (the writer's counters). */
static void
count_alerts(struct ingest *g, const struct ingest_work *w)
{
	size_t k;

	if (g->o.alert_counts == NULL || w->nalerts == 0)
		return;
	for (k = 0; k < STORE_ALERT_KINDS * STORE_ALERT_SEVERITIES; k++)
		if (w->alerts_by[k] > 0)
			metric_add(&g->o.alert_counts[k], w->alerts_by[k]);
}

enum ingest_rc
ingest_finish(struct ingest *g, char **cause)
{
	/* The older batch in flight: they land in order. */
	struct side *d = oldest_committing(g);
	size_t i;
	enum ingest_rc rc;

	if (d == NULL)
		return INGEST_OK;
	g->landed = d->seq;
	if (d->simple)
		for (i = 0; i < d->nbatch; i++)
			d->batch[i]->message_id = -1;
	rc = rc_of(pgpipe_read(&d->pipe, handle_rt1, d));
	if (rc != INGEST_OK)
		return fail_batch(g, d, rc, cause);
	mark_unknown(d, false);
	for (i = 0; i < d->nbatch; i++) {
		if (d->simple)
			set_outcome(d->batch[i]);
		g->alerts += d->batch[i]->nalerts;
		count_alerts(g, d->batch[i]);
	}
	set_state(d, SIDE_IDLE);
	return INGEST_OK;
}

/*
 * Whether ws can go in one round trip: every patient with results is
 * known (row committed by a batch that landed) and followed by no rules
 * history (not enrolled), and the ids it needs are reserved. Then nothing
 * the database answers changes what is written but duplicates, whose
 * observations the statement itself leaves out.
 */
static bool
simple_batch(struct ingest *g, struct ingest_work **ws, size_t n)
{
	struct batch_scan sc;

	if (g->ids[IDPOOL_MSGS].n < n)
		return false;
	overlap_scan(g, ws, n, &sc);
	return !sc.unknown && !sc.enrolled && !sc.unlanded &&
	    g->ids[IDPOOL_OBS].n >= sc.nobs;
}

/* The rows of a one-statement batch: messages, and observations. */
static enum ingest_rc
queue_simple(struct ingest *g, struct side *d, struct ingest_work **ws,
    size_t n)
{
	const struct oru_patient *pat;
	struct ingest_work *w;
	size_t i;
	uint32_t j;

	for (i = 0; i < n; i++) {
		w = ws[i];
		queue_message(g, d, w);
		/* As if it went in; ins_new drops the rows if not. */
		w->message_id = w->reserved_id;
		w->nalerts = 0;
		memset(w->alerts_by, 0, sizeof(w->alerts_by));
		if (w->quarantine || w->ignored || !w->parsed)
			continue;
		for (j = 0; j < w->oru.npatients; j++) {
			pat = &w->oru.patients[j];
			if (pat->nobs == 0)
				continue;
			pcache_get(&g->pc, pat->id.p, pat->id.len, false)
			    ->seq = d->seq;
			if (verdict_rows(g, d, w, pat) != DB_OK)
				return INGEST_ERROR;
		}
	}
	return INGEST_OK;
}

enum ingest_rc
ingest_send(struct ingest *g, struct ingest_work **ws, size_t n, char **cause)
{
	struct side *d;
	enum ingest_rc rc;

	if (started_side(g) != NULL ||
	    (g->sides[0].state == SIDE_COMMITTING &&
		g->sides[1].state == SIDE_COMMITTING))
		ingest_fatalx(g, "ingest_send: a batch must land first");
	g->err.sqlstate[0] = '\0';
	d = free_side(g);
	if (!ingest_connected(g))
		return INGEST_BUSY;
	check_notifies(g);
	if (g->need_flush || !simple_batch(g, ws, n))
		return INGEST_BUSY;
	reset_batch(g);
	d->batch = ws;
	d->nbatch = n;
	d->nqueued = 0;
	d->simple = true;
	d->seq = ++g->seq;
	set_state(d, SIDE_STARTED);
	if ((rc = queue_simple(g, d, ws, n)) != INGEST_OK)
		return fail_batch(g, d, rc, cause);
	d->ascending = batch_ids_ascend(ws, n);
	/*
	 * Untracked patients only: every row is still in the columns. One
	 * statement, so no BEGIN/COMMIT: the sync commits it.
	 */
	mark_unknown(d, true);
	if (rows_send_all(&g->rows, &d->pipe, Q_MSGS) != DB_OK ||
	    pgpipe_sync(&d->pipe) != DB_OK)
		return fail_batch(g, d, INGEST_DOWN, cause);
	set_state(d, SIDE_COMMITTING);
	reset_batch(g);
	return INGEST_OK;
}

void
ingest_abort(struct ingest *g)
{
	struct side *d = started_side(g);
	char *cause = NULL;

	if (d == NULL)
		return;
	/* What was sent before may hold errors: they are not ours to report. */
	if (pgpipe_sync(&d->pipe) != DB_OK ||
	    pgpipe_read(&d->pipe, NULL, NULL) == DB_DOWN)
		(void)fail_batch(g, d, INGEST_DOWN, &cause);
	else
		(void)fail_batch(g, d, INGEST_ERROR, &cause);
	free(cause);
}

enum ingest_rc
ingest_batch(struct ingest *g, struct ingest_work **ws, size_t n, char **cause)
{
	enum ingest_rc rc;

	if (g->sides[0].state != SIDE_IDLE || g->sides[1].state != SIDE_IDLE)
		ingest_fatalx(g, "ingest_batch: a batch is in flight");
	if ((rc = ingest_start(g, ws, n, cause)) != INGEST_OK)
		return rc;
	if ((rc = ingest_commit(g, cause)) != INGEST_OK)
		return rc;
	return ingest_finish(g, cause);
}

enum ingest_rc
ingest_quarantine(struct ingest *g, struct ingest_work *w, const char *reason,
    char **cause)
{
	w->quarantine = true;
	w->ignored = false;
	w->reason = reason;
	w->err_code = HL7_ERR_INTERNAL;
	/* The content was refused: do not send it again as it is. */
	w->ack_code[1] = 'E';
	return ingest_batch(g, &w, 1, cause);
}

const char *
ingest_sqlstate(const struct ingest *g)
{
	return g->err.sqlstate;
}

uint64_t
ingest_alerts(const struct ingest *g)
{
	return g->alerts;
}
