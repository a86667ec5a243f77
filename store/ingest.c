/*
 * ingest.c: frames to rows, in the writer thread.
 *
 * A batch is two round trips in libpq pipeline mode:
 *   1. BEGIN, one INSERT ... ON CONFLICT DO NOTHING RETURNING id per
 *      message (no id back = a duplicate), the patients and enrollments
 *      the cache lacks, and fresh ids for observations and alerts;
 *   (1b. the stored history of enrolled patients seen for the first time;)
 *   2. the observation rows, verdicts, alerts and state updates the rules
 *      decide, then COMMIT.
 * Observation and alert ids come from their sequences in blocks, so rows
 * can refer to each other within round trip 2. A failed batch flushes the
 * caches: they always mirror what is committed.
 */
#include "ingest.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "db.h"
#include "hl7/ack.h"
#include "lib/json.h"
#include "lib/xmalloc.h"
#include "migrate.h"
#include "obs.h"
#include "pgarr.h"
#include "rules/rules.h"
#include "alert_text.h"
#include "text.h"

#define ID_BLOCK 4096
#define OBS_COLS 29
#define MSG_COLS 16
/*
 * Observation rows per INSERT at most. Each statement reads row i as
 * ($k::t[])[i], which walks the array from its start (its elements vary
 * in length), so one INSERT of N rows costs N^2: 10,000 rows in one took
 * 5 s, in statements of 64 rows 0.2 s (unnest() in FROM, one pass but
 * a tuplestore copy of each column: 0.24 s, and slower from 100,000 on).
 */
#define OBS_INSERT_ROWS 64
/*
 * A batch written in one statement (ingest_send) has its observation rows
 * in that one INSERT: read by subscript up to this many (a 16-sender
 * batch holds about 100), by unnest() in FROM beyond (linear, but each
 * row copied once more, 20 % slower at 10,000 rows).
 */
#define OBS_ONE_STATEMENT_MAX 256

/* What the writer remembers of a patient; mirrors committed rows. */
struct pcache {
	char *pid;		/* PID-3.1; NULL: free slot */
	int64_t db_id;
	bool enrolled;		/* in this protocol, not off study */
	enum rules_phase phase;
	int64_t since;
	bool have_baseline[RULES_NANALYTES];
	double baseline[RULES_NANALYTES], baseline_uln[RULES_NANALYTES];
	char elig[16];		/* last eligibility status, "" for none */
	struct rules_hold_state hold[RULES_MAX_HOLD_RULES];
	struct rules_history *h;	/* NULL until loaded */
	struct rules_open_alert *open;	/* toxicity alerts open or acknowledged */
	int64_t *open_obs;	/* the observation each rests on */
	size_t nopen, capopen;
	bool pending;		/* asked for in this batch's round trip 1 */
	uint64_t seq;		/* the last batch that wrote it */
	bool fresh;		/* history being loaded in round trip 1b */
};

/* One query in flight in the pipeline, and what to do with its result. */
enum qtag {
	Q_IGNORE = 0, Q_MSGS, Q_MSG_IDS, Q_PATIENT, Q_ENROLL, Q_OBS_IDS, Q_ALERT_IDS,
	Q_HISTORY, Q_OPEN_ALERTS,
};

struct query {
	enum qtag tag;
	void *ctx;
};

/*
 * One of the two sessions. Batches alternate between them, so that one
 * batch's round trip 1 runs in one backend while the batch before it
 * writes and commits in the other.
 */
struct side {
	PGconn *conn;
	struct query *q;	/* queries of its pipeline not yet read */
	size_t nq, capq;
	struct ingest_work **batch;	/* its batch, for RETURNING ids */
	size_t nbatch;
	uint64_t seq;		/* its batch's number (batches land in order) */
	bool simple;		/* sent whole by ingest_send() */
};

enum side_state { SIDE_IDLE = 0, SIDE_STARTED, SIDE_COMMITTING };

struct ingest {
	struct ingest_opts o;
	struct rules *rules;
	struct side sides[2];
	enum side_state state[2];
	int cur;		/* the side statements go to */
	bool need_flush;	/* caches to forget once nothing is in flight */
	uint64_t seq, landed;	/* batches numbered; the last one finished */
	struct pcache **pc;	/* open-addressing table; entries never move */
	size_t npc, cappc;
	int64_t *obs_ids, *alert_ids, *msg_ids;	/* reserved, used from the end */
	size_t nobs_ids, nalert_ids, capobs_ids, capalert_ids;
	size_t nmsg_ids, capmsg_ids;
	struct pgarr msg_cols[MSG_COLS];	/* the batch's message rows */
	struct hl7_arena arena;	/* parameter strings of a batch */
	struct hl7_buf tmp, tmp2;
	/* Observation rows of the batch, column by column: one INSERT. */
	struct pgarr obs_cols[OBS_COLS];
	size_t obs_rows;
	uint64_t alerts;
	uint64_t ack_seq;
	char err[256];
	char sqlstate[6];	/* of the last failed statement, "" */
};

/* ---- small helpers ---- */

static uint64_t
hash_str(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static void
pcache_flush(struct ingest *g)
{
	struct pcache *p;
	size_t i;

	for (i = 0; i < g->cappc; i++) {
		if ((p = g->pc[i]) == NULL)
			continue;
		free(p->pid);
		rules_history_free(p->h);
		free(p->open);
		free(p->open_obs);
		free(p);
	}
	free(g->pc);
	g->pc = NULL;
	g->npc = g->cappc = 0;
}

/*
 * The patient with this id, created when asked. Entries are allocated one
 * by one: queries in flight point at them while the table grows.
 */
static struct pcache *
pcache_get(struct ingest *g, const char *pid, size_t len, bool create)
{
	struct pcache **old = g->pc, **slot, *p;
	size_t i, oldcap = g->cappc, mask;

	if (create && (g->npc + 1) * 2 > g->cappc) {
		g->cappc = g->cappc ? g->cappc * 2 : 1024;
		g->pc = xcalloc(g->cappc, sizeof(*g->pc));
		mask = g->cappc - 1;
		for (i = 0; i < oldcap; i++) {
			if (old[i] == NULL)
				continue;
			for (slot = &g->pc[hash_str(old[i]->pid,
			    strlen(old[i]->pid)) & mask]; *slot != NULL;
			    slot = &g->pc[(size_t)(slot - g->pc + 1) & mask])
				;
			*slot = old[i];
		}
		free(old);
	}
	if (g->cappc == 0)
		return NULL;
	mask = g->cappc - 1;
	for (i = hash_str(pid, len) & mask;; i = (i + 1) & mask) {
		p = g->pc[i];
		if (p == NULL)
			break;
		if (strlen(p->pid) == len && memcmp(p->pid, pid, len) == 0)
			return p;
	}
	if (!create)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->pid = xstrndup(pid, len);
	g->pc[i] = p;
	g->npc++;
	return p;
}

static const char *
pstr(struct ingest *g, const char *p, size_t len)
{
	char *out = hl7_arena_alloc(&g->arena, len * 3 + 1);

	out[text_sanitize(out, p, len)] = '\0';
	return out;
}

/* A text element of a column, made safe as pstr() makes parameters. */
static void
col_str(struct pgarr *a, const char *p, size_t len)
{
	pgarr_commit(a, text_sanitize(pgarr_reserve(a, len * 3), p, len));
}

/* As col_str(), NULL for an empty string. */
static void
col_opt(struct pgarr *a, const char *p, size_t len)
{
	if (len == 0)
		pgarr_null(a);
	else
		col_str(a, p, len);
}

/* A keyed value (text.h): as is, or its digest when longer than max. */
static void
col_key(struct pgarr *a, struct hl7_str v, size_t max)
{
	size_t cap = (v.len < max ? v.len : max) * 3 + 72;

	pgarr_commit(a, text_key_form(pgarr_reserve(a, cap), v.p, v.len, max));
}

/* A string of ours (ASCII), NULL for NULL. */
static void
col_strz(struct pgarr *a, const char *s)
{
	if (s == NULL)
		pgarr_null(a);
	else
		pgarr_bytes(a, s, strlen(s));
}

/*
 * The columns of the batch INSERTs, in parameter order: each is sent as
 * one binary array, and row i takes element i of every array (see
 * insert_sql()).
 */
struct column {
	const char *name;
	uint32_t oid;		/* element type (pgarr.h) */
	const char *type;	/* its SQL name */
	const char *wrap;	/* "f(%s)" around the element, or NULL */
};

static const struct column msg_columns[MSG_COLS] = {
	{ "id", PGARR_INT8, "bigint", NULL },
	{ "received_at", PGARR_FLOAT8, "float8", "to_timestamp(%s / 1e6)" },
	{ "peer", PGARR_TEXT, "text", NULL },
	{ "sending_application", PGARR_TEXT, "text", NULL },
	{ "sending_facility", PGARR_TEXT, "text", NULL },
	{ "control_id", PGARR_TEXT, "text", NULL },
	{ "message_type", PGARR_TEXT, "text", NULL },
	{ "version", PGARR_TEXT, "text", NULL },
	{ "outcome", PGARR_TEXT, "text", NULL },
	{ "reason", PGARR_TEXT, "text", NULL },
	{ "error_code", PGARR_INT4, "int", NULL },
	{ "ack_code", PGARR_TEXT, "text", NULL },
	{ "size", PGARR_INT8, "bigint", NULL },
	{ "raw", PGARR_BYTEA, "bytea", NULL },
	{ "sha256", PGARR_BYTEA, "bytea", NULL },
	{ "spool_ref", PGARR_TEXT, "text", NULL },
};

static const struct column obs_columns[OBS_COLS] = {
	{ "id", PGARR_INT8, "bigint", NULL },
	{ "message", PGARR_INT8, "bigint", NULL },
	{ "patient", PGARR_INT8, "bigint", NULL },
	{ "order_key", PGARR_TEXT, "text", NULL },
	{ "set_id", PGARR_TEXT, "text", NULL },
	{ "code", PGARR_TEXT, "text", NULL },
	{ "coding_system", PGARR_TEXT, "text", NULL },
	{ "alt_code", PGARR_TEXT, "text", NULL },
	{ "alt_coding_system", PGARR_TEXT, "text", NULL },
	{ "text", PGARR_TEXT, "text", NULL },
	{ "sub_id", PGARR_TEXT, "text", NULL },
	{ "analyte", PGARR_TEXT, "text", NULL },
	{ "value_type", PGARR_TEXT, "text", NULL },
	{ "value_raw", PGARR_TEXT, "text", NULL },
	{ "comparator", PGARR_TEXT, "text", NULL },
	{ "value", PGARR_FLOAT8, "float8", NULL },
	{ "unit", PGARR_TEXT, "text", NULL },
	{ "canonical_value", PGARR_FLOAT8, "float8", NULL },
	{ "canonical_unit", PGARR_TEXT, "text", NULL },
	{ "ref_range", PGARR_TEXT, "text", NULL },
	{ "lln", PGARR_FLOAT8, "float8", NULL },
	{ "uln", PGARR_FLOAT8, "float8", NULL },
	{ "range_source", PGARR_TEXT, "text", NULL },
	{ "flags", PGARR_TEXT, "text", NULL },
	{ "status", PGARR_TEXT, "text", NULL },
	{ "observed_at", PGARR_FLOAT8, "float8", "to_timestamp(%s)" },
	{ "grade", PGARR_INT4, "int", NULL },
	{ "problem", PGARR_TEXT, "text", NULL },
	{ "supersedes", PGARR_INT8, "bigint", NULL },
};

/* How a batch INSERT reads row i from its array parameters. */
enum rows_from {
	ROWS_SUBSCRIPT,	/* ($k::t[])[i] FROM generate_subscripts(...) AS i */
	ROWS_UNNEST,	/* t.ck FROM unnest($k::t[], ...) AS t(c0, c1, ...) */
};

/* How a statement names row i's element of array $param (column col). */
static void
row_elem(char *out, size_t len, enum rows_from from, int param, int col,
    const char *type)
{
	if (from == ROWS_SUBSCRIPT)
		snprintf(out, len, "($%d::%s[])[i]", param, type);
	else
		snprintf(out, len, "t.c%d", col);
}

/*
 * "INSERT INTO table (a, b, ...) SELECT ... FROM ...", parameters from
 * $first on, row i made of element i of every array.
 * ROWS_SUBSCRIPT copies nothing (unnest copies every row, raw bytes
 * included, into a tuplestore first: 10 % of the 16-sender throughput
 * when the message rows went so), but each row's subscript walks the
 * array from its start: a statement's cost grows with the square of its
 * rows, so few rows per statement (OBS_INSERT_ROWS). ROWS_UNNEST is one
 * pass over each array, for many rows in one statement.
 */
static void
insert_sql(struct hl7_buf *b, const char *table, const struct column *c,
    int n, int first, enum rows_from from)
{
	char elem[48];
	int i;

	hl7_buf_printf(b, "INSERT INTO %s (", table);
	for (i = 0; i < n; i++)
		hl7_buf_printf(b, "%s%s", i ? ", " : "", c[i].name);
	hl7_buf_adds(b, ") SELECT ");
	for (i = 0; i < n; i++) {
		row_elem(elem, sizeof(elem), from, first + i, i, c[i].type);
		if (i > 0)
			hl7_buf_adds(b, ", ");
		if (c[i].wrap != NULL) {
			/* Only our own format strings above. */
			const char *pct = strstr(c[i].wrap, "%s");

			hl7_buf_add(b, c[i].wrap, (size_t)(pct - c[i].wrap));
			hl7_buf_adds(b, elem);
			hl7_buf_adds(b, pct + 2);
		} else
			hl7_buf_adds(b, elem);
	}
	if (from == ROWS_SUBSCRIPT) {
		hl7_buf_printf(b, " FROM generate_subscripts($%d::%s[], 1) AS i",
		    first, c[0].type);
		return;
	}
	hl7_buf_adds(b, " FROM unnest(");
	for (i = 0; i < n; i++)
		hl7_buf_printf(b, "%s$%d::%s[]", i ? ", " : "", first + i,
		    c[i].type);
	hl7_buf_adds(b, ") AS t(");
	for (i = 0; i < n; i++)
		hl7_buf_printf(b, "%sc%d", i ? ", " : "", i);
	hl7_buf_adds(b, ")");
}

/* Send one batch INSERT: the columns of cols, then of more. */
static int send_columns(struct ingest *g, const char *stmt, struct pgarr *cols,
    int n, struct pgarr *more, int nmore, enum qtag tag);

static const char *
pint(struct ingest *g, int64_t v)
{
	char *out = hl7_arena_alloc(&g->arena, 24);

	snprintf(out, 24, "%lld", (long long)v);
	return out;
}

static const char *
pbuf(struct ingest *g, const struct hl7_buf *b)
{
	return pstr(g, b->p ? b->p : "", b->len);
}

/* ---- the pipeline ---- */

#define SD(g)	(&(g)->sides[(g)->cur])

static void
q_push(struct ingest *g, enum qtag tag, void *ctx)
{
	struct side *d = SD(g);

	if (d->nq == d->capq) {
		d->capq = d->capq ? d->capq * 2 : 1024;
		d->q = xreallocarray(d->q, d->capq, sizeof(*d->q));
	}
	d->q[d->nq].tag = tag;
	d->q[d->nq].ctx = ctx;
	d->nq++;
}

/* Send a prepared statement; text parameters unless formats says. */
static int
send_prep(struct ingest *g, const char *stmt, int n, const char *const *v,
    const int *lengths, const int *formats, enum qtag tag, void *ctx)
{
	if (!PQsendQueryPrepared(SD(g)->conn, stmt, n, v, lengths, formats,
	    0)) {
		snprintf(g->err, sizeof(g->err), "sending %s: %s", stmt,
		    PQerrorMessage(SD(g)->conn));
		return -1;
	}
	q_push(g, tag, ctx);
	return 0;
}

static int
send_sql(struct ingest *g, const char *sql, enum qtag tag)
{
	if (!PQsendQueryParams(SD(g)->conn, sql, 0, NULL, NULL, NULL, NULL,
	    0)) {
		snprintf(g->err, sizeof(g->err), "sending: %s",
		    PQerrorMessage(SD(g)->conn));
		return -1;
	}
	q_push(g, tag, NULL);
	return 0;
}

static const struct {
	const char *name, *sql;
} statements[] = {
	{ "ins_patient",
	  "WITH ins AS (INSERT INTO patients (patient_id, authority)"
	  " VALUES ($1, $2) ON CONFLICT (patient_id) DO NOTHING RETURNING id)"
	  " SELECT id FROM ins UNION ALL"
	  " SELECT id FROM patients WHERE patient_id = $1 LIMIT 1" },
	{ "ids_msg",
	  "SELECT nextval('labwatch.messages_id_seq')"
	  " FROM generate_series(1, $1::int)" },
	{ "sel_enroll",
	  "SELECT e.phase, extract(epoch FROM e.since)::float8,"
	  " coalesce(e.eligibility_status, ''),"
	  " coalesce((SELECT string_agg(key || '=' || value, ',')"
	  "   FROM jsonb_each_text(e.hold_state)), ''),"
	  " coalesce((SELECT string_agg(key || '=' || coalesce(value->>'value', '')"
	  "   || '/' || coalesce(value->>'uln', ''), ',')"
	  "   FROM jsonb_each(e.baseline)), '')"
	  " FROM enrollments e JOIN patients p ON p.id = e.patient"
	  " WHERE p.patient_id = $1 AND e.protocol = $2" },
	{ "sel_history",
	  "SELECT id, order_key, code, coding_system, alt_code,"
	  " alt_coding_system, value, coalesce(comparator, ''), unit,"
	  " ref_range, coalesce(status, ''),"
	  " coalesce(extract(epoch FROM observed_at)::float8, -1), value_raw"
	  " FROM observations WHERE patient = $1 AND analyte IS NOT NULL"
	  " ORDER BY id" },
	{ "sel_open_alerts",
	  "SELECT id, analyte, grade, coalesce(observation, 0) FROM alerts"
	  " WHERE patient = $1 AND protocol = $2 AND kind = 'toxicity'"
	  " AND state IN ('open', 'acknowledged') ORDER BY id" },
	{ "ids_obs",
	  "SELECT nextval('labwatch.observations_id_seq')"
	  " FROM generate_series(1, $1::int)" },
	{ "ids_alert",
	  "SELECT nextval('labwatch.alerts_id_seq')"
	  " FROM generate_series(1, $1::int)" },
	{ "ins_alert",
	  "INSERT INTO alerts (id, patient, protocol, kind, severity, analyte,"
	  " grade, observation, message, summary, details)"
	  " VALUES ($1, $2, $3, $4, $5, $6, $7::int, $8, $9, $10, $11::jsonb)" },
	{ "upd_escalated",
	  "UPDATE alerts SET state = 'resolved', resolved_at = now(),"
	  " superseded_by = $2 WHERE id = $1" },
	{ "upd_alerts_superseded",
	  "UPDATE alerts SET state = 'resolved', resolved_at = now()"
	  " WHERE observation = $1 AND state IN ('open', 'acknowledged')" },
	{ "upd_obs_retracted",
	  "UPDATE observations SET retracted = true WHERE id = $1" },
	{ "upd_alerts_retracted",
	  "UPDATE alerts SET state = 'retracted', resolved_at = now()"
	  " WHERE observation = $1 AND state IN ('open', 'acknowledged')" },
	{ "ins_elig",
	  "INSERT INTO eligibility (patient, protocol, status, message, criteria)"
	  " VALUES ($1, $2, $3, $4, $5::jsonb)" },
	{ "upd_enroll",
	  "UPDATE enrollments SET eligibility_status = $3, hold_state = $4::jsonb,"
	  " updated_at = now() WHERE patient = $1 AND protocol = $2" },
};

/* End the current side's pipeline with a sync. 0, or -1 connection lost. */
static int
pipe_sync(struct ingest *g)
{
	if (!PQpipelineSync(SD(g)->conn)) {
		snprintf(g->err, sizeof(g->err), "pipeline sync: %s",
		    PQerrorMessage(SD(g)->conn));
		return -1;
	}
	return 0;
}

/* Whether sqlstate starts with one of the prefixes. */
static bool
state_in(const char *sqlstate, const char *const *prefixes, size_t n)
{
	size_t i;

	if (sqlstate == NULL || strlen(sqlstate) != 5)
		return false;
	for (i = 0; i < n; i++)
		if (strncmp(sqlstate, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

#define STATE_IN(s, list) state_in(s, list, sizeof(list) / sizeof(list[0]))

enum ingest_rc
ingest_classify(const char *sqlstate)
{
	/* The session cannot be used, or the server takes no writes. */
	static const char *const down[] = {
		"08",		/* connection exception */
		"57P01", "57P02", "57P03",	/* shutdown, crash, starting */
		"53300",	/* too many connections */
		"25006",	/* read-only transaction: a standby */
	};
	/* What a message carried: our statements take values as parameters. */
	static const char *const refused[] = {
		"22",		/* data exception */
		"23",		/* integrity constraint violation */
		"54",		/* program limit exceeded (index row size) */
	};

	if (STATE_IN(sqlstate, down))
		return INGEST_DOWN;
	if (STATE_IN(sqlstate, refused))
		return INGEST_REFUSED;
	return INGEST_ERROR;
}

bool
ingest_db_fault(const char *sqlstate)
{
	static const char *const fault[] = {
		"08", "25", "40", "42", "53", "55", "57", "58", "F0",
		"XX001", "XX002",	/* data or index corrupted */
	};

	return STATE_IN(sqlstate, fault);
}

bool
ingest_transient(const char *sqlstate)
{
	static const char *const transient[] = {
		"40",		/* deadlock, serialization failure */
		"55P03",	/* lock not available */
	};

	return STATE_IN(sqlstate, transient);
}

/*
 * Keep a statement's error for the log: its SQLSTATE, and PostgreSQL's
 * words only where they speak of the database (a trigger or a constraint
 * may quote what a message held). Returns what it means for the batch.
 */
static enum ingest_rc
note_error(struct ingest *g, const PGresult *res)
{
	static const char *const words[] = {
		"08", "25", "42", "53", "57", "58", "F0",
	};
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	enum ingest_rc rc = ingest_classify(state);

	/* The first error of the batch is the one that tells. */
	if (g->sqlstate[0] == '\0')
		snprintf(g->sqlstate, sizeof(g->sqlstate), "%s",
		    state ? state : "");
	snprintf(g->err, sizeof(g->err), "%.160s (SQLSTATE %s)",
	    primary != NULL && STATE_IN(state, words) ? primary :
	    rc == INGEST_REFUSED ? "data refused" : "statement refused",
	    state ? state : "?");
	return rc;
}

/*
 * Read every result of the current side's synced pipeline in order,
 * handing rows to handle(). Returns INGEST_OK, INGEST_DOWN (connection
 * lost), or what the first failed statement's SQLSTATE means.
 */
static enum ingest_rc
pipe_read(struct ingest *g,
    void (*handle)(struct ingest *, const struct query *, PGresult *))
{
	struct side *d = SD(g);
	PGresult *res;
	ExecStatusType st;
	size_t i;
	enum ingest_rc rc = INGEST_OK;
	int nulls;

	for (i = 0; i < d->nq; i++) {
		res = PQgetResult(d->conn);
		if (res == NULL) {
			rc = PQstatus(d->conn) == CONNECTION_OK ?
			    INGEST_ERROR : INGEST_DOWN;
			snprintf(g->err, sizeof(g->err), "missing result (%s)",
			    rc == INGEST_DOWN ? "connection lost" :
			    "connection still up");
			break;
		}
		st = PQresultStatus(res);
		if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
			if (rc == 0 && handle != NULL)
				handle(g, &d->q[i], res);
		} else if (st != PGRES_PIPELINE_ABORTED && rc == INGEST_OK)
			rc = note_error(g, res);
		PQclear(res);
		/* Each query's results end with a NULL. */
		while ((res = PQgetResult(d->conn)) != NULL) {
			if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
				PQclear(res);
				break;
			}
			PQclear(res);
		}
	}
	/*
	 * Then the sync itself. An error before it is the implicit COMMIT's
	 * (a statement sent without BEGIN commits at the sync): that batch
	 * did not go in. Two NULLs in a row: nothing more is coming.
	 */
	for (nulls = 0; nulls < 2;) {
		if ((res = PQgetResult(d->conn)) == NULL) {
			nulls++;
			continue;
		}
		nulls = 0;
		st = PQresultStatus(res);
		if (st == PGRES_FATAL_ERROR && rc == INGEST_OK)
			rc = note_error(g, res);
		PQclear(res);
		if (st == PGRES_PIPELINE_SYNC)
			break;
	}
	d->nq = 0;
	if (PQstatus(d->conn) != CONNECTION_OK)
		rc = INGEST_DOWN;
	return rc;
}

/* Sync and read (pipe_sync, then pipe_read). */
static enum ingest_rc
pipe_run(struct ingest *g,
    void (*handle)(struct ingest *, const struct query *, PGresult *))
{
	if (pipe_sync(g) != 0)
		return INGEST_DOWN;
	return pipe_read(g, handle);
}

/* ---- connection ---- */

struct ingest *
ingest_new(const struct ingest_opts *o, struct rules *r)
{
	struct ingest *g = xcalloc(1, sizeof(*g));
	int i;

	g->o = *o;
	g->rules = r;
	hl7_buf_init(&g->tmp);
	hl7_buf_init(&g->tmp2);
	for (i = 0; i < MSG_COLS; i++)
		pgarr_init(&g->msg_cols[i], msg_columns[i].oid);
	for (i = 0; i < OBS_COLS; i++)
		pgarr_init(&g->obs_cols[i], obs_columns[i].oid);
	return g;
}

/* Close one session; whatever it had in flight is not committed. */
static void
disconnect_side(struct ingest *g, int i)
{
	if (g->sides[i].conn != NULL)
		PQfinish(g->sides[i].conn);
	g->sides[i].conn = NULL;
	g->sides[i].nq = 0;
	g->state[i] = SIDE_IDLE;
}

static void
disconnect(struct ingest *g)
{
	disconnect_side(g, 0);
	disconnect_side(g, 1);
	/* Reserved ids stay valid (sequences never give them again). */
	pcache_flush(g);
}

void
ingest_free(struct ingest *g)
{
	int i;

	if (g == NULL)
		return;
	disconnect(g);
	free(g->sides[0].q);
	free(g->sides[1].q);
	free(g->obs_ids);
	free(g->alert_ids);
	hl7_arena_free(&g->arena);
	hl7_buf_free(&g->tmp);
	hl7_buf_free(&g->tmp2);
	for (i = 0; i < OBS_COLS; i++)
		pgarr_free(&g->obs_cols[i]);
	for (i = 0; i < MSG_COLS; i++)
		pgarr_free(&g->msg_cols[i]);
	free(g->msg_ids);
	free(g);
}

void
ingest_set_rules(struct ingest *g, struct rules *r)
{
	g->rules = r;
	/* Histories were evaluated with the old rules. */
	pcache_flush(g);
}

bool
ingest_connected(const struct ingest *g)
{
	int i;

	for (i = 0; i < 2; i++)
		if (g->sides[i].conn == NULL ||
		    PQstatus(g->sides[i].conn) != CONNECTION_OK)
			return false;
	return true;
}

static int
prepare(PGconn *c, const char *name, const char *sql, char **cause)
{
	PGresult *res = PQprepare(c, name, sql, 0, NULL);
	char msg[512];

	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(msg, sizeof(msg), "preparing %s: %s", name,
		    PQresultErrorMessage(res));
		PQclear(res);
		*cause = xstrdup(msg);
		return -1;
	}
	PQclear(res);
	return 0;
}

/*
 * The batch INSERTs: messages (RETURNING the ids that went in: the others
 * were duplicates), observations, and both in one statement for
 * ingest_send(), where the observation rows of a duplicate are left out
 * by the statement itself (a data-modifying CTE: no scan of messages, so
 * no plan that was cheap on an empty table and is not any more).
 */
static int
prepare_inserts(struct ingest *g, PGconn *c, char **cause)
{
	static const struct {
		const char *name;
		enum rows_from obs;
	} one[] = {
		{ "ins_new", ROWS_SUBSCRIPT },
		/* more than OBS_ONE_STATEMENT_MAX observation rows */
		{ "ins_new_many", ROWS_UNNEST },
	};
	struct hl7_buf *b = &g->tmp;
	char message[48];
	size_t k;
	int rc = 0;

	hl7_buf_reset(b);
	insert_sql(b, "messages", msg_columns, MSG_COLS, 1, ROWS_SUBSCRIPT);
	hl7_buf_adds(b, " ON CONFLICT DO NOTHING RETURNING id");
	if (prepare(c, "ins_msgs", b->p, cause) != 0)
		return -1;
	hl7_buf_reset(b);
	insert_sql(b, "observations", obs_columns, OBS_COLS, 1, ROWS_SUBSCRIPT);
	if (prepare(c, "ins_obs", b->p, cause) != 0)
		return -1;
	for (k = 0; k < sizeof(one) / sizeof(one[0]) && rc == 0; k++) {
		hl7_buf_reset(b);
		hl7_buf_adds(b, "WITH ins AS (");
		insert_sql(b, "messages", msg_columns, MSG_COLS, 1,
		    ROWS_SUBSCRIPT);
		hl7_buf_adds(b, " ON CONFLICT DO NOTHING RETURNING id), o AS (");
		insert_sql(b, "observations", obs_columns, OBS_COLS,
		    MSG_COLS + 1, one[k].obs);
		/* observations.message is the second column. */
		row_elem(message, sizeof(message), one[k].obs, MSG_COLS + 2, 1,
		    "bigint");
		hl7_buf_printf(b, " WHERE %s IN (SELECT id FROM ins))"
		    " SELECT id FROM ins", message);
		rc = prepare(c, one[k].name, b->p, cause);
	}
	hl7_buf_reset(b);
	return rc;
}

/* Open one session: search path, LISTEN, statements, pipeline mode. */
static int
connect_side(struct ingest *g, PGconn *c, char **cause)
{
	size_t i;

	if (db_set_search_path(c, cause) != 0 ||
	    db_exec(c, "listening for enrollments",
	    "LISTEN labwatch_enrollment", cause) != 0)
		return -1;
	for (i = 0; i < sizeof(statements) / sizeof(statements[0]); i++)
		if (prepare(c, statements[i].name, statements[i].sql,
		    cause) != 0)
			return -1;
	if (prepare_inserts(g, c, cause) != 0)
		return -1;
	if (PQenterPipelineMode(c) != 1) {
		*cause = xstrdup("cannot enter pipeline mode");
		return -1;
	}
	return 0;
}

/* PostgreSQL's notices (migrations, triggers) into our log, one line each. */
static void
notice(void *arg, const PGresult *res)
{
	struct ingest *g = arg;
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	char msg[96];
	int level = 3;

	/* Our ROLLBACK after a failed COMMIT warns of no transaction. */
	if (sev != NULL && strcmp(sev, "WARNING") == 0 &&
	    (state == NULL || strncmp(state, "25", 2) != 0))
		level = 1;
	/* Not its words: a trigger's RAISE NOTICE may quote a value. */
	snprintf(msg, sizeof(msg), "PostgreSQL %s (SQLSTATE %s)",
	    sev ? sev : "notice", state ? state : "?");
	if (g->o.log != NULL)
		g->o.log(g->o.log_arg, level, msg);
}

enum ingest_rc
ingest_connect(struct ingest *g, char **cause)
{
	enum ingest_rc rc = INGEST_DOWN;
	int applied, i;

	if (ingest_connected(g))
		return INGEST_OK;
	disconnect(g);
	for (i = 0; i < 2; i++) {
		g->sides[i].conn = db_connect(g->o.conninfo, "labwatchd", cause);
		if (g->sides[i].conn == NULL)
			goto fail;
		PQsetNoticeReceiver(g->sides[i].conn, notice, g);
		if ((i == 0 && g->o.sql_dir != NULL &&
		    store_migrate(g->sides[i].conn, g->o.sql_dir, &applied,
		    cause) != 0) ||
		    connect_side(g, g->sides[i].conn, cause) != 0) {
			/* Reached, but our schema or statements are refused. */
			if (PQstatus(g->sides[i].conn) == CONNECTION_OK)
				rc = INGEST_ERROR;
			goto fail;
		}
	}
	g->cur = 0;
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
	PGnotify *n;
	int i;

	for (i = 0; i < 2; i++) {
		if (g->state[i] != SIDE_IDLE || g->sides[i].conn == NULL)
			continue;
		PQconsumeInput(g->sides[i].conn);
		while ((n = PQnotifies(g->sides[i].conn)) != NULL) {
			g->need_flush = true;
			PQfreemem(n);
		}
	}
}

/* ---- prepare and ACK ---- */

void
ingest_prepare(struct ingest *g, struct ingest_work *w)
{
	struct hl7_parse_opts popts = { g->o.default_charset };
	struct oru_opts oopts = { g->o.id_type };
	uint32_t i;

	w->parsed = w->quarantine = w->ignored = false;
	w->reason = NULL;
	w->err_code = 0;
	w->outcome = STORE_PROCESSED;
	w->message_id = 0;
	w->nalerts = 0;
	memcpy(w->ack_code, "AA", 3);
	if (w->kind == STORE_FRAME_OVERSIZE) {
		w->quarantine = true;
		w->reason = "message larger than max_message_size";
		w->err_code = HL7_ERR_INTERNAL;
		memcpy(w->ack_code, "AR", 3);
		hl7_parse(&w->msg, w->data, w->len, &popts);
		return;
	}
	if (w->kind == STORE_FRAME_ABANDONED) {
		w->quarantine = true;
		w->reason = "frame cut short (no end block)";
		w->err_code = HL7_ERR_SEGMENT_SEQUENCE;
		memcpy(w->ack_code, "AE", 3);
		hl7_parse(&w->msg, w->data, w->len, &popts);
		return;
	}
	if (hl7_parse(&w->msg, w->data, w->len, &popts) != 0 ||
	    oru_extract(&w->oru, &w->msg, &oopts) != 0) {
		w->quarantine = true;
		w->reason = w->msg.err.reason;
		w->err_code = (int)w->msg.err.code;
		/* MSH-level refusals are AR (resend later); content errors AE. */
		memcpy(w->ack_code, w->err_code == HL7_ERR_UNSUPPORTED_VERSION ?
		    "AR" : "AE", 3);
		return;
	}
	w->parsed = true;
	/* MSH-15/16 ask for enhanced mode: the sender will see CA, CE, CR. */
	if (w->oru.accept_ack.len > 0 || w->oru.app_ack.len > 0)
		w->ack_code[0] = 'C';
	if ((w->reason = text_check_keys(&w->oru, &w->msg.err)) != NULL) {
		/* Too long for its index, or bytes a sanitiser would change. */
		w->quarantine = true;
		w->err_code = HL7_ERR_DATA_TYPE;
		w->ack_code[1] = 'E';
		return;
	}
	if (!w->oru.is_oru) {
		if (g->o.refuse_other_types) {
			w->quarantine = true;
			w->reason = "message type not accepted (ORU^R01 only)";
			w->err_code = HL7_ERR_UNSUPPORTED_TYPE;
			w->ack_code[1] = 'R';
		} else
			w->ignored = true;
		return;
	}
	if (w->oru.nobs == 0 || w->oru.npatients == 0 ||
	    w->oru.patients[0].seg == UINT32_MAX) {
		/* Results with no one, or no results: not an ORU^R01. */
		w->quarantine = true;
		w->reason = w->oru.nobs == 0 ? "ORU^R01 without an OBX segment" :
		    "ORU^R01 with results before any PID segment";
		w->err_code = HL7_ERR_SEGMENT_SEQUENCE;
		w->ack_code[1] = 'E';
		return;
	}
	if (w->oru.nobs > g->o.max_observations) {
		/* Storing it would hold up every other sender's ACKs. */
		w->quarantine = true;
		w->reason = "more OBX segments than max_observations";
		w->err_code = HL7_ERR_INTERNAL;
		w->ack_code[1] = 'E';
		return;
	}
	for (i = 0; i < w->oru.npatients; i++)
		if (w->oru.patients[i].id.len == 0 &&
		    w->oru.patients[i].nobs > 0) {
			/* Results for nobody cannot be kept as results. */
			w->quarantine = true;
			w->reason = "PID-3 patient identifier missing";
			w->err_code = HL7_ERR_REQUIRED_FIELD;
			w->ack_code[1] = 'E';
			return;
		}
}

static enum hl7_ack_code
ack_code_of(const struct ingest_work *w)
{
	return w->ack_code[1] == 'A' ? HL7_ACK_ACCEPT :
	    w->ack_code[1] == 'E' ? HL7_ACK_ERROR : HL7_ACK_REJECT;
}

/* What the sender is told, as stored: "AA" .. "CR", or "none". */
static const char *
ack_stored(const struct ingest_work *w)
{
	const char *c = NULL;

	if (w->kind != STORE_FRAME_ABANDONED)
		c = hl7_ack_sent_code(&w->msg, ack_code_of(w));
	return c != NULL ? c : "none";
}

bool
ingest_ack(struct ingest *g, struct ingest_work *w, struct hl7_buf *out)
{
	struct hl7_ack_info info;
	char cid[40], ts[32], ref[HL7_ACK_CONTROL_ID_MAX + 1];
	time_t now = time(NULL);
	struct tm tm;

	memset(&info, 0, sizeof(info));
	if (w->kind == STORE_FRAME_ABANDONED)
		return false;	/* no whole message to answer */
	info.code = ack_code_of(w);
	info.err = (enum hl7_errcode)w->err_code;
	info.text = w->reason;
	if (w->quarantine && w->msg.err.seg_id[0] != '\0') {
		info.err_seg = w->msg.err.seg_id;
		info.err_seq = w->msg.err.seg_seq;
		info.err_field = w->msg.err.field;
	}
	snprintf(cid, sizeof(cid), "LW%lld%06llu", (long long)now,
	    (unsigned long long)(++g->ack_seq % 1000000));
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y%m%d%H%M%S+0000", &tm);
	info.control_id = cid;
	info.timestamp = ts;
	info.app = g->o.app ? g->o.app : "LABWATCH";
	info.facility = g->o.facility ? g->o.facility : "";
	if (hl7_ack_recover_control_id(w->data, w->len, ref, sizeof(ref)) > 0)
		info.ref_control_id = ref;
	if (hl7_ack_build(out, &w->msg, &info) == 0)
		return false;
	/* Remember which code the sender saw (CA and AA alike). */
	memcpy(w->ack_code, ack_stored(w), 3);
	return true;
}

/* ---- round trip 1 ---- */

static int64_t
take_id(int64_t *ids, size_t *n)
{
	return *n > 0 ? ids[--*n] : 0;
}

static void
sha256(const char *p, size_t len, unsigned char out[32])
{
	unsigned int n = 32;

	EVP_Digest(p, len, out, &n, EVP_sha256(), NULL);
}

/* Add w's row to the batch's message rows (one INSERT per batch). */
static void
queue_message_row(struct ingest *g, struct ingest_work *w)
{
	struct pgarr *c = g->msg_cols;
	unsigned char digest[32];
	char cid[201];
	const struct oru_msg *o = &w->oru;

	sha256(w->data, w->len, digest);
	w->reserved_id = take_id(g->msg_ids, &g->nmsg_ids);
	pgarr_int8(&c[0], w->reserved_id);
	pgarr_float8(&c[1], (double)w->received_at);
	col_str(&c[2], w->peer, strlen(w->peer));
	if (w->parsed) {
		col_key(&c[3], o->sending_app, TEXT_MAX_HD);
		col_key(&c[4], o->sending_facility, TEXT_MAX_HD);
		if (o->control_id.len == 0)
			pgarr_null(&c[5]);
		else
			col_key(&c[5], o->control_id, TEXT_MAX_ID);
		col_opt(&c[6], o->type, strlen(o->type));
		col_opt(&c[7], o->version.p, o->version.len);
	} else {
		pgarr_bytes(&c[3], "", 0);
		pgarr_bytes(&c[4], "", 0);
		/* Keep what can be read of MSH so an analyst can find it. */
		if (w->quarantine &&
		    hl7_ack_recover_control_id(w->data, w->len, cid, sizeof(cid)) > 0)
			col_key(&c[5], (struct hl7_str){ cid, strlen(cid) },
			    TEXT_MAX_ID);
		else
			pgarr_null(&c[5]);
		pgarr_null(&c[6]);
		pgarr_null(&c[7]);
	}
	col_strz(&c[8], w->quarantine ? "quarantined" : w->ignored ?
	    "ignored" : "processed");
	if (w->reason != NULL)
		col_str(&c[9], w->reason, strlen(w->reason));
	else
		pgarr_null(&c[9]);
	if (w->err_code)
		pgarr_int4(&c[10], (int32_t)w->err_code);
	else
		pgarr_null(&c[10]);
	col_strz(&c[11], ack_stored(w));
	pgarr_int8(&c[12], (int64_t)w->total);	/* bigint: a hostile total fits */
	pgarr_bytes(&c[13], w->data, w->len);
	pgarr_bytes(&c[14], digest, sizeof(digest));
	col_strz(&c[15], w->spool_ref);
}

static int
send_columns(struct ingest *g, const char *stmt, struct pgarr *cols, int n,
    struct pgarr *more, int nmore, enum qtag tag)
{
	enum { MAXC = OBS_COLS + MSG_COLS };
	const char *v[MAXC];
	int len[MAXC], binary[MAXC];
	int i;

	for (i = 0; i < n + nmore; i++) {
		v[i] = pgarr_finish(i < n ? &cols[i] : &more[i - n], &len[i]);
		binary[i] = 1;
	}
	if (send_prep(g, stmt, n + nmore, v, len, binary, tag, NULL))
		return -1;
	for (i = 0; i < n + nmore; i++)
		pgarr_reset(i < n ? &cols[i] : &more[i - n]);
	return 0;
}

static int
send_message_rows(struct ingest *g)
{
	return send_columns(g, "ins_msgs", g->msg_cols, MSG_COLS, NULL, 0,
	    Q_MSGS);
}

/* The batch's work whose row was offered with this id (ids ascend). */
static struct ingest_work *
work_by_reserved(struct ingest *g, int64_t id)
{
	const struct side *d = SD(g);
	size_t lo = 0, hi = d->nbatch, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (d->batch[mid]->reserved_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < d->nbatch && d->batch[lo]->reserved_id == id ?
	    d->batch[lo] : NULL;
}

static void
handle_rt1(struct ingest *g, const struct query *q, PGresult *res)
{
	struct ingest_work *w;
	struct pcache *p;
	size_t i, n = (size_t)PQntuples(res);
	char *save, *item, *eq, *slash;
	enum rules_analyte a;

	switch (q->tag) {
	case Q_MSGS:
		/* Rows not returned met a unique index: duplicates. */
		for (i = 0; i < n; i++) {
			w = work_by_reserved(g, strtoll(PQgetvalue(res, (int)i, 0),
			    NULL, 10));
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
		p = q->ctx;
		p->enrolled = false;
		if (n == 0)
			break;
		if (strcmp(PQgetvalue(res, 0, 0), "screening") == 0) {
			p->enrolled = true;
			p->phase = RULES_PHASE_SCREENING;
		} else if (strcmp(PQgetvalue(res, 0, 0), "off_study") != 0) {
			p->enrolled = true;
			p->phase = RULES_PHASE_TREATMENT;
		}
		p->since = (int64_t)strtod(PQgetvalue(res, 0, 1), NULL);
		snprintf(p->elig, sizeof(p->elig), "%s", PQgetvalue(res, 0, 2));
		/* hold_state: name=epoch,... */
		save = NULL;
		for (item = strtok_r(PQgetvalue(res, 0, 3), ",", &save); item;
		    item = strtok_r(NULL, ",", &save)) {
			eq = strchr(item, '=');
			if (eq == NULL)
				continue;
			*eq = '\0';
			for (i = 0; i < rules_hold_count(g->rules); i++)
				if (strcmp(rules_hold_name(g->rules, i), item) == 0) {
					p->hold[i].held = true;
					p->hold[i].since = strtoll(eq + 1, NULL, 10);
				}
		}
		/* baseline: analyte=value/uln,... */
		save = NULL;
		for (item = strtok_r(PQgetvalue(res, 0, 4), ",", &save); item;
		    item = strtok_r(NULL, ",", &save)) {
			eq = strchr(item, '=');
			if (eq == NULL)
				continue;
			*eq = '\0';
			slash = strchr(eq + 1, '/');
			a = rules_analyte_by_name(item);
			if (a == RULES_NONE || slash == NULL || eq[1] == '/')
				continue;
			p->have_baseline[a] = true;
			p->baseline[a] = strtod(eq + 1, NULL);
			p->baseline_uln[a] = slash[1] ? strtod(slash + 1, NULL) :
			    NAN;
		}
		break;
	case Q_OBS_IDS:
	case Q_ALERT_IDS:
	case Q_MSG_IDS: {
		int64_t **ids = q->tag == Q_OBS_IDS ? &g->obs_ids :
		    q->tag == Q_ALERT_IDS ? &g->alert_ids : &g->msg_ids;
		size_t *cnt = q->tag == Q_OBS_IDS ? &g->nobs_ids :
		    q->tag == Q_ALERT_IDS ? &g->nalert_ids : &g->nmsg_ids;
		size_t *cap = q->tag == Q_OBS_IDS ? &g->capobs_ids :
		    q->tag == Q_ALERT_IDS ? &g->capalert_ids : &g->capmsg_ids;

		if (*cnt + n > *cap) {
			*cap = *cnt + n;
			*ids = xreallocarray(*ids, *cap, sizeof(**ids));
		}
		/* Used from the end: store in reverse so ids ascend. */
		memmove(*ids + n, *ids, *cnt * sizeof(**ids));
		for (i = 0; i < n; i++)
			(*ids)[n - 1 - i] = strtoll(PQgetvalue(res, (int)i, 0),
			    NULL, 10);
		*cnt += n;
		break;
	}
	default:
		break;
	}
}

/* The patient's key for result history: order + code + sub-id. */
/* x's correction key (oru_result_key), in the batch's arena. */
static const char *
order_key(struct ingest *g, const struct oru_msg *o, const struct oru_obs *x,
    size_t *len)
{
	char *k = hl7_arena_alloc(&g->arena, oru_result_key_size(o, x));

	*len = oru_result_key(o, x, k);
	return k;
}

/* ---- history (round trip 1b) ---- */

static void
add_open(struct pcache *p, enum rules_analyte a, int grade, int64_t id,
    int64_t obs)
{
	if (p->nopen == p->capopen) {
		p->capopen = p->capopen ? p->capopen * 2 : 4;
		p->open = xreallocarray(p->open, p->capopen, sizeof(*p->open));
		p->open_obs = xreallocarray(p->open_obs, p->capopen,
		    sizeof(*p->open_obs));
	}
	p->open[p->nopen].analyte = a;
	p->open[p->nopen].grade = grade;
	p->open[p->nopen].id = (uint64_t)id;
	p->open_obs[p->nopen] = obs;
	p->nopen++;
}

static void
drop_open(struct pcache *p, size_t i)
{
	p->open[i] = p->open[p->nopen - 1];
	p->open_obs[i] = p->open_obs[p->nopen - 1];
	p->nopen--;
}

static void
handle_history(struct ingest *g, const struct query *q, PGresult *res)
{
	struct pcache *p = q->ctx;
	struct rules_result in;
	struct rules_update up;
	int i, n = PQntuples(res);
	const char *cmp, *status;

	(void)g;
	if (q->tag == Q_OPEN_ALERTS) {
		for (i = 0; i < n; i++)
			add_open(p, rules_analyte_by_name(PQgetvalue(res, i, 1)),
			    atoi(PQgetvalue(res, i, 2)),
			    strtoll(PQgetvalue(res, i, 0), NULL, 10),
			    strtoll(PQgetvalue(res, i, 3), NULL, 10));
		return;
	}
	if (q->tag != Q_HISTORY)
		return;
	for (i = 0; i < n; i++) {
		memset(&in, 0, sizeof(in));
		in.id = (uint64_t)strtoll(PQgetvalue(res, i, 0), NULL, 10);
		in.code = PQgetvalue(res, i, 2);
		in.code_len = (size_t)PQgetlength(res, i, 2);
		in.system = PQgetvalue(res, i, 3);
		in.system_len = (size_t)PQgetlength(res, i, 3);
		in.alt_code = PQgetvalue(res, i, 4);
		in.alt_code_len = (size_t)PQgetlength(res, i, 4);
		in.alt_system = PQgetvalue(res, i, 5);
		in.alt_system_len = (size_t)PQgetlength(res, i, 5);
		if (!PQgetisnull(res, i, 6)) {
			in.kind = RULES_VALUE_NUMBER;
			in.value = strtod(PQgetvalue(res, i, 6), NULL);
		} else
			in.kind = PQgetlength(res, i, 12) > 0 ?
			    RULES_VALUE_TEXT : RULES_VALUE_NONE;
		cmp = PQgetvalue(res, i, 7);
		snprintf(in.comparator, sizeof(in.comparator), "%s", cmp);
		in.unit = PQgetvalue(res, i, 8);
		in.unit_len = (size_t)PQgetlength(res, i, 8);
		in.range = PQgetvalue(res, i, 9);
		in.range_len = (size_t)PQgetlength(res, i, 9);
		status = PQgetvalue(res, i, 10);
		in.status = status[0];
		in.observed_at = (int64_t)strtod(PQgetvalue(res, i, 11), NULL);
		rules_history_add(p->h, &in, PQgetvalue(res, i, 1),
		    (size_t)PQgetlength(res, i, 1), &up);
	}
}

/* Make the patient's history: baselines, then stored results. */
static void
history_begin(struct ingest *g, struct pcache *p)
{
	int a;

	p->h = rules_history_new(g->rules, p->phase);
	p->fresh = true;
	for (a = 0; a < RULES_NANALYTES; a++)
		if (p->have_baseline[a])
			rules_history_set_baseline(p->h, (enum rules_analyte)a,
			    p->baseline[a], p->baseline_uln[a]);
}

static void
history_end(struct pcache *p)
{
	int a;
	bool any = false;

	for (a = 0; a < RULES_NANALYTES; a++)
		any = any || p->have_baseline[a];
	/* No baseline given at enrollment: the last results before it. */
	if (!any && p->phase == RULES_PHASE_TREATMENT)
		rules_history_baseline_from(p->h, p->since);
}

/* ---- round trip 2: rows the rules decide ---- */

static int
send_alert(struct ingest *g, struct ingest_work *w, struct pcache *p,
    int64_t id, const char *kind, const char *severity,
    enum rules_analyte a, int grade, int64_t obs, const struct hl7_buf *summary,
    const struct hl7_buf *details)
{
	const char *v[11];

	v[0] = pint(g, id);
	v[1] = pint(g, p->db_id);
	v[2] = rules_protocol_name(g->rules);
	v[3] = kind;
	v[4] = severity;
	v[5] = rules_analyte_name(a);
	v[6] = grade >= 0 ? pint(g, grade) : NULL;
	v[7] = obs > 0 ? pint(g, obs) : NULL;
	v[8] = pint(g, w->message_id);
	v[9] = pbuf(g, summary);
	v[10] = details && details->len ? pbuf(g, details) : "{}";
	w->nalerts++;	/* counted in g->alerts once committed */
	return send_prep(g, "ins_alert", 11, v, NULL, NULL, Q_IGNORE, NULL);
}

static int
send_id_param(struct ingest *g, const char *stmt, int64_t a, int64_t b)
{
	const char *v[2] = { pint(g, a), pint(g, b) };

	return send_prep(g, stmt, b != 0 ? 2 : 1, v, NULL, NULL, Q_IGNORE, NULL);
}

static int
toxicity_alert(struct ingest *g, struct ingest_work *w, struct pcache *p,
    const struct oru_obs *x, const struct rules_eval *ev, int64_t obs_id)
{
	struct rules_alert_decision d;
	struct alert_who who;
	int64_t id;

	rules_alert_decide(g->rules, ev, p->open, p->nopen, &d);
	if (d.kind == RULES_ALERT_NONE)
		return 0;
	if (d.kind != RULES_ALERT_DATA_QUALITY &&
	    p->phase != RULES_PHASE_TREATMENT)
		return 0;	/* screening: eligibility speaks instead */
	id = take_id(g->alert_ids, &g->nalert_ids);
	hl7_buf_reset(&g->tmp);
	hl7_buf_reset(&g->tmp2);
	who.pid = p->pid;
	who.protocol = rules_protocol_name(g->rules);
	if (d.kind == RULES_ALERT_DATA_QUALITY) {
		alert_text_data_quality(&g->tmp, &g->tmp2, ev, x, &who);
		return send_alert(g, w, p, id, "data_quality",
		    alert_text_severity(d.kind, -1), ev->analyte, -1, obs_id,
		    &g->tmp, &g->tmp2);
	}
	alert_text_toxicity(&g->tmp, &g->tmp2, ev, x,
	    d.kind == RULES_ALERT_ESCALATE ? p->open[d.replaces].grade : -1,
	    &who);
	if (send_alert(g, w, p, id, "toxicity",
	    alert_text_severity(d.kind, ev->grade), ev->analyte, ev->grade,
	    obs_id, &g->tmp, &g->tmp2) != 0)
		return -1;
	if (d.kind == RULES_ALERT_ESCALATE) {
		if (send_id_param(g, "upd_escalated",
		    (int64_t)p->open[d.replaces].id, id) != 0)
			return -1;
		drop_open(p, d.replaces);
	}
	add_open(p, ev->analyte, ev->grade, id, obs_id);
	return 0;
}

/* Send the batch's observation rows collected so far, in one statement. */
static int
flush_observations(struct ingest *g)
{
	if (g->obs_rows == 0)
		return 0;
	if (send_columns(g, "ins_obs", g->obs_cols, OBS_COLS, NULL, 0,
	    Q_IGNORE))
		return -1;
	g->obs_rows = 0;
	return 0;
}

static void
queue_observation(struct ingest *g, struct ingest_work *w, struct pcache *p,
    const struct oru_obs *x, const struct rules_eval *ev, int64_t id,
    const char *key, size_t klen, int64_t supersedes, const struct rules_result *in)
{
	struct pgarr *c = g->obs_cols;
	bool mapped = ev->analyte != RULES_NONE;

	pgarr_int8(&c[0], id);
	pgarr_int8(&c[1], w->message_id);
	pgarr_int8(&c[2], p->db_id);
	col_str(&c[3], key, klen);
	col_opt(&c[4], x->set_id.p, x->set_id.len);
	col_opt(&c[5], x->code.p, x->code.len);
	col_opt(&c[6], x->coding_system.p, x->coding_system.len);
	col_opt(&c[7], x->alt_code.p, x->alt_code.len);
	col_opt(&c[8], x->alt_system.p, x->alt_system.len);
	col_opt(&c[9], x->text.p, x->text.len);
	col_opt(&c[10], x->sub_id.p, x->sub_id.len);
	col_strz(&c[11], rules_analyte_name(ev->analyte));
	col_opt(&c[12], x->value_type.p, x->value_type.len);
	col_opt(&c[13], x->value_text.p, x->value_text.len);
	col_opt(&c[14], x->comparator, strlen(x->comparator));
	pgarr_float8(&c[15], in->kind == RULES_VALUE_NUMBER ? in->value : NAN);
	col_opt(&c[16], x->units.p, x->units.len);
	pgarr_float8(&c[17], ev->value);
	col_strz(&c[18], ev->unit);
	col_opt(&c[19], x->ref_range.p, x->ref_range.len);
	pgarr_float8(&c[20], ev->lln);
	pgarr_float8(&c[21], ev->uln);
	col_strz(&c[22], mapped ? rules_range_source_name(ev->range_source) :
	    NULL);
	col_opt(&c[23], x->flags.p, x->flags.len);
	col_opt(&c[24], x->status.p, x->status.len);
	pgarr_float8(&c[25], in->observed_at >= 0 ? (double)in->observed_at :
	    NAN);
	if (mapped && ev->grade >= 0)
		pgarr_int4(&c[26], ev->grade);
	else
		pgarr_null(&c[26]);
	col_strz(&c[27], mapped ? ev->problem : NULL);
	if (supersedes > 0)
		pgarr_int8(&c[28], supersedes);
	else
		pgarr_null(&c[28]);
	g->obs_rows++;
}

static int
eligibility_rows(struct ingest *g, struct ingest_work *w, struct pcache *p,
    int64_t at)
{
	struct rules_eligibility_result er;
	struct alert_who who;
	const char *status, *v[5];
	struct hl7_buf *d = &g->tmp2;
	bool changed;

	rules_eligibility(g->rules, p->h, at, &er);
	status = rules_eligibility_name(er.status);
	hl7_buf_reset(d);
	alert_text_criteria(d, &er);
	v[0] = pint(g, p->db_id);
	v[1] = rules_protocol_name(g->rules);
	v[2] = status;
	v[3] = pint(g, w->message_id);
	v[4] = pbuf(g, d);
	if (send_prep(g, "ins_elig", 5, v, NULL, NULL, Q_IGNORE, NULL) != 0)
		return -1;
	changed = strcmp(p->elig, status) != 0;
	if (!changed)
		return 0;
	snprintf(p->elig, sizeof(p->elig), "%s", status);
	hl7_buf_reset(&g->tmp);
	hl7_buf_reset(&g->tmp2);
	who.pid = p->pid;
	who.protocol = rules_protocol_name(g->rules);
	alert_text_eligibility(&g->tmp, &g->tmp2, &er, &who);
	return send_alert(g, w, p, take_id(g->alert_ids, &g->nalert_ids),
	    "eligibility", er.status == RULES_INELIGIBLE ? "warning" : "info",
	    RULES_NONE, -1, 0, &g->tmp, &g->tmp2);
}

static int
hold_rows(struct ingest *g, struct ingest_work *w, struct pcache *p,
    int64_t at, bool *state_changed)
{
	struct rules_hold_event ev[RULES_MAX_HOLD_RULES * 2];
	struct alert_who who = { p->pid, rules_protocol_name(g->rules) };
	size_t i, n;
	int64_t obs;

	n = rules_hold_step(g->rules, p->h, at, p->hold, ev,
	    sizeof(ev) / sizeof(ev[0]));
	for (i = 0; i < n; i++) {
		*state_changed = true;
		hl7_buf_reset(&g->tmp);
		hl7_buf_reset(&g->tmp2);
		obs = ev[i].kind == RULES_HOLD_STOP && ev[i].because != NULL ?
		    (int64_t)ev[i].because->ev.id : 0;
		alert_text_hold(&g->tmp, &g->tmp2, &ev[i], &who);
		if (send_alert(g, w, p, take_id(g->alert_ids, &g->nalert_ids),
		    ev[i].kind == RULES_HOLD_STOP ? "hold" : "resume",
		    ev[i].kind == RULES_HOLD_STOP ? "critical" : "info",
		    ev[i].because ? ev[i].because->ev.analyte : RULES_NONE, -1,
		    obs, &g->tmp, &g->tmp2) != 0)
			return -1;
	}
	return 0;
}

static int
update_enrollment(struct ingest *g, struct pcache *p)
{
	const char *v[4];
	struct hl7_buf *b = &g->tmp2;
	size_t i;
	bool first = true;

	hl7_buf_reset(b);
	hl7_buf_addc(b, '{');
	for (i = 0; i < rules_hold_count(g->rules); i++) {
		if (!p->hold[i].held)
			continue;
		hl7_buf_printf(b, "%s", first ? "" : ",");
		json_strz(b, rules_hold_name(g->rules, i));
		hl7_buf_printf(b, ":%lld", (long long)p->hold[i].since);
		first = false;
	}
	hl7_buf_addc(b, '}');
	v[0] = pint(g, p->db_id);
	v[1] = rules_protocol_name(g->rules);
	v[2] = p->elig[0] ? p->elig : NULL;
	v[3] = pbuf(g, b);
	return send_prep(g, "upd_enroll", 4, v, NULL, NULL, Q_IGNORE, NULL);
}

/* Everything round trip 2 sends for one patient group of one message. */
static int
patient_rows(struct ingest *g, struct ingest_work *w,
    const struct oru_patient *pat)
{
	const struct oru_msg *o = &w->oru;
	const struct oru_obs *x;
	struct pcache *p = pcache_get(g, pat->id.p, pat->id.len, false);
	struct rules_result in;
	struct rules_eval evbuf;
	const struct rules_eval *ev;
	struct rules_update up;
	const struct rules_baseline *bl = NULL;
	const char *key;
	size_t klen, k;
	int64_t id, sup, at = -1;
	uint32_t j;
	bool any = false, hold_changed = false, tracked;

	if (p == NULL || p->db_id == 0) {
		snprintf(g->err, sizeof(g->err), "patient row missing");
		return -1;
	}
	tracked = p->enrolled && p->h != NULL;
	if (tracked)
		bl = rules_history_baselines(p->h);
	for (j = 0; j < pat->nobs; j++) {
		x = &o->obs[pat->first_obs + j];
		store_obs_to_result(x, g->o.tz_offset_min, &in);
		/*
		 * Rows for the seven protocol analytes only: the rules read
		 * nothing else, and every OBX stays in messages.raw.
		 */
		if (rules_map(g->rules, &in, &(bool){ false },
		    &(bool){ false }) == RULES_NONE)
			continue;
		id = take_id(g->obs_ids, &g->nobs_ids);
		in.id = (uint64_t)id;
		key = order_key(g, o, x, &klen);
		sup = 0;
		ev = &evbuf;
		if (tracked) {
			rules_history_add(p->h, &in, key, klen, &up);
			ev = &up.entry->ev;
			if (up.nsuperseded > 0)
				sup = (int64_t)up.superseded[0];
		} else {
			rules_eval(g->rules, &in, bl, &evbuf);
			memset(&up, 0, sizeof(up));
		}
		queue_observation(g, w, p, x, ev, id, key, klen, sup, &in);
		/* A one-statement batch keeps its rows (ingest_send). */
		if (!SD(g)->simple && g->obs_rows >= OBS_INSERT_ROWS &&
		    flush_observations(g) != 0)
			return -1;
		if (!tracked || ev->analyte == RULES_NONE)
			continue;
		/* Updates below may touch rows still queued: send those first. */
		if ((up.nsuperseded > 0 || up.nretracted > 0) &&
		    flush_observations(g) != 0)
			return -1;
		any = true;
		if (in.observed_at > at)
			at = in.observed_at;
		/* A correction replaces, a deletion retracts, earlier alerts. */
		for (k = 0; k < up.nsuperseded; k++) {
			if (send_id_param(g, "upd_alerts_superseded",
			    (int64_t)up.superseded[k], 0))
				return -1;
		}
		for (k = 0; k < up.nretracted; k++) {
			if (send_id_param(g, "upd_obs_retracted",
			    (int64_t)up.retracted[k], 0) ||
			    send_id_param(g, "upd_alerts_retracted",
			    (int64_t)up.retracted[k], 0))
				return -1;
		}
		for (k = 0; k < p->nopen;) {
			size_t m;
			bool gone = false;

			for (m = 0; m < up.nsuperseded && !gone; m++)
				gone = p->open_obs[k] == (int64_t)up.superseded[m];
			for (m = 0; m < up.nretracted && !gone; m++)
				gone = p->open_obs[k] == (int64_t)up.retracted[m];
			if (gone)
				drop_open(p, k);
			else
				k++;
		}
		if (toxicity_alert(g, w, p, x, ev, id) != 0)
			return -1;
	}
	if (!any)
		return 0;
	if (at < 0)
		at = w->received_at / 1000000;
	if (p->phase == RULES_PHASE_SCREENING) {
		char before[16];

		memcpy(before, p->elig, sizeof(before));
		if (eligibility_rows(g, w, p, at) != 0)
			return -1;
		if (strcmp(before, p->elig) == 0)
			return 0;
	} else if (hold_rows(g, w, p, at, &hold_changed) != 0)
		return -1;
	else if (!hold_changed)
		return 0;
	return update_enrollment(g, p);
}

/* w's outcome once its message row went in (message_id) or not. */
static enum store_outcome
set_outcome(struct ingest_work *w)
{
	w->outcome = w->message_id < 0 ? STORE_DUPLICATE : w->quarantine ?
	    STORE_QUARANTINED : w->ignored ? STORE_IGNORED : STORE_PROCESSED;
	return w->outcome;
}

static void
reset_batch(struct ingest *g)
{
	int i;

	hl7_arena_reset(&g->arena);
	for (i = 0; i < OBS_COLS; i++)
		pgarr_reset(&g->obs_cols[i]);
	for (i = 0; i < MSG_COLS; i++)
		pgarr_reset(&g->msg_cols[i]);
	g->obs_rows = 0;
}

/*
 * The current side's batch failed: end its transaction (ROLLBACK in the
 * same pipeline, or drop the session if even that fails) and forget the
 * caches, which may hold what was never committed.
 */
static enum ingest_rc
fail_batch(struct ingest *g, enum ingest_rc rc, char **cause)
{
	struct side *d = SD(g);

	*cause = xstrdup(g->err);
	/* A one-statement batch has no transaction left to end. */
	if (rc != INGEST_DOWN && !d->simple && d->conn != NULL &&
	    PQstatus(d->conn) == CONNECTION_OK) {
		/* Queries sent before it are read back with it. */
		if (send_sql(g, "ROLLBACK", Q_IGNORE) != 0 ||
		    pipe_run(g, NULL) == INGEST_DOWN ||
		    PQtransactionStatus(d->conn) != PQTRANS_IDLE)
			rc = INGEST_DOWN;	/* not back to a clean session */
	}
	if (rc == INGEST_DOWN)
		disconnect_side(g, g->cur);
	g->state[g->cur] = SIDE_IDLE;
	pcache_flush(g);
	g->need_flush = false;
	reset_batch(g);
	return rc;
}

/* What the cache knows of the patients with results in a batch. */
struct batch_scan {
	size_t nobs;		/* their observations */
	bool unknown;		/* one not cached, or its row not yet known */
	bool enrolled;		/* one followed by the rules */
	bool unlanded;		/* one a batch not landed yet wrote */
	bool enrolled_unlanded;	/* both at once */
};

static void
scan_batch(struct ingest *g, struct ingest_work **ws, size_t n,
    struct batch_scan *sc)
{
	const struct oru_patient *pat;
	struct pcache *p;
	size_t i;
	uint32_t j;

	memset(sc, 0, sizeof(*sc));
	for (i = 0; i < n; i++) {
		if (ws[i]->quarantine || ws[i]->ignored || !ws[i]->parsed)
			continue;
		for (j = 0; j < ws[i]->oru.npatients; j++) {
			pat = &ws[i]->oru.patients[j];
			if (pat->nobs == 0)
				continue;
			sc->nobs += pat->nobs;
			p = pcache_get(g, pat->id.p, pat->id.len, false);
			if (p == NULL) {
				sc->unknown = true;
				continue;
			}
			sc->unknown |= p->db_id == 0 || p->pending;
			sc->enrolled |= p->enrolled;
			sc->unlanded |= p->seq > g->landed;
			sc->enrolled_unlanded |= p->enrolled &&
			    p->seq > g->landed;
		}
	}
}

/* The side whose batch has been committing the longest, or -1. */
static int
oldest_committing(const struct ingest *g)
{
	if (g->state[0] == SIDE_COMMITTING && (g->state[1] != SIDE_COMMITTING ||
	    g->sides[0].seq < g->sides[1].seq))
		return 0;
	return g->state[1] == SIDE_COMMITTING ? 1 : -1;
}

enum ingest_rc
ingest_start(struct ingest *g, struct ingest_work **ws, size_t n, char **cause)
{
	struct ingest_work *w;
	struct pcache *p;
	const struct oru_patient *pat;
	size_t i, nobs = 0, ngroups = 0;
	uint32_t j;
	enum ingest_rc rc;
	int other;
	const char *v[2];

	if (g->state[0] == SIDE_STARTED || g->state[1] == SIDE_STARTED)
		abort();	/* the caller commits or aborts first */
	g->sqlstate[0] = '\0';
	/* The side without a batch in flight. */
	other = oldest_committing(g);
	if (other >= 0)
		g->cur = 1 - other;
	if (!ingest_connected(g)) {
		snprintf(g->err, sizeof(g->err), "not connected");
		*cause = xstrdup(g->err);
		return INGEST_DOWN;
	}
	check_notifies(g);
	if (g->need_flush) {
		/*
		 * Histories reloaded now would miss the rows of the batch in
		 * flight: that one must be finished first.
		 */
		if (other >= 0)
			return INGEST_BUSY;
		pcache_flush(g);
		g->need_flush = false;
	}
	/*
	 * An enrolled patient the batch in flight wrote: our updates of its
	 * alerts, observations and enrollment would not see that batch's
	 * rows (nor wait for them), so it lands first.
	 */
	if (other >= 0) {
		struct batch_scan sc;

		scan_batch(g, ws, n, &sc);
		if (sc.enrolled_unlanded)
			return INGEST_BUSY;
	}
	reset_batch(g);

	/* Message ids first: the rows are offered with them. */
	if (g->nmsg_ids < n) {
		v[0] = pint(g, (int64_t)(n + ID_BLOCK));
		if (send_prep(g, "ids_msg", 1, v, NULL, NULL, Q_MSG_IDS, NULL))
			return fail_batch(g, INGEST_DOWN, cause);
		if ((rc = pipe_run(g, handle_rt1)) != INGEST_OK)
			return fail_batch(g, rc, cause);
	}

	/* Round trip 1. */
	g->state[g->cur] = SIDE_STARTED;
	SD(g)->simple = false;
	if (send_sql(g, "BEGIN", Q_IGNORE) != 0)
		return fail_batch(g, INGEST_DOWN, cause);
	SD(g)->batch = ws;
	SD(g)->nbatch = n;
	SD(g)->seq = ++g->seq;
	for (i = 0; i < n; i++) {
		ws[i]->message_id = -1;
		ws[i]->nalerts = 0;	/* a retry counts again */
		queue_message_row(g, ws[i]);
	}
	if (send_message_rows(g) != 0)
		return fail_batch(g, INGEST_DOWN, cause);
	for (i = 0; i < n; i++) {
		w = ws[i];
		if (w->quarantine || w->ignored || !w->parsed)
			continue;
		for (j = 0; j < w->oru.npatients; j++) {
			pat = &w->oru.patients[j];
			nobs += pat->nobs;
			ngroups++;
			if (pat->nobs == 0)
				continue;
			p = pcache_get(g, pat->id.p, pat->id.len, true);
			p->seq = SD(g)->seq;
			if (p->db_id != 0 || p->pending)
				continue;
			p->pending = true;
			v[0] = pstr(g, p->pid, strlen(p->pid));
			v[1] = pstr(g, pat->authority.p, pat->authority.len);
			if (send_prep(g, "ins_patient", 2, v, NULL, NULL,
			    Q_PATIENT, p) != 0)
				return fail_batch(g, INGEST_DOWN, cause);
			v[1] = rules_protocol_name(g->rules);
			if (send_prep(g, "sel_enroll", 2, v, NULL, NULL,
			    Q_ENROLL, p) != 0)
				return fail_batch(g, INGEST_DOWN, cause);
		}
	}
	if (g->nobs_ids < nobs) {
		v[0] = pint(g, (int64_t)(nobs + ID_BLOCK));
		if (send_prep(g, "ids_obs", 1, v, NULL, NULL, Q_OBS_IDS, NULL))
			return fail_batch(g, INGEST_DOWN, cause);
	}
	/* At most one alert per observation, plus verdicts per group. */
	if (g->nalert_ids < nobs + ngroups * (RULES_MAX_HOLD_RULES + 1)) {
		v[0] = pint(g, (int64_t)(nobs + ngroups *
		    (RULES_MAX_HOLD_RULES + 1) + ID_BLOCK));
		if (send_prep(g, "ids_alert", 1, v, NULL, NULL, Q_ALERT_IDS,
		    NULL))
			return fail_batch(g, INGEST_DOWN, cause);
	}
	if ((rc = pipe_run(g, handle_rt1)) != INGEST_OK)
		return fail_batch(g, rc, cause);

	/* Round trip 1b: histories of enrolled patients first seen now. */
	for (i = 0; i < g->cappc; i++) {
		p = g->pc[i];
		if (p == NULL || !p->pending)
			continue;
		p->pending = false;
		if (!p->enrolled)
			continue;
		history_begin(g, p);
		v[0] = pint(g, p->db_id);
		v[1] = rules_protocol_name(g->rules);
		if (send_prep(g, "sel_history", 1, v, NULL, NULL, Q_HISTORY, p) ||
		    send_prep(g, "sel_open_alerts", 2, v, NULL, NULL,
		    Q_OPEN_ALERTS, p))
			return fail_batch(g, INGEST_DOWN, cause);
	}
	if (SD(g)->nq > 0) {
		if ((rc = pipe_run(g, handle_history)) != INGEST_OK)
			return fail_batch(g, rc, cause);
		for (i = 0; i < g->cappc; i++)
			if (g->pc[i] != NULL && g->pc[i]->fresh) {
				g->pc[i]->fresh = false;
				history_end(g->pc[i]);
			}
	}

	/* Round trip 2. */
	for (i = 0; i < n; i++) {
		w = ws[i];
		if (set_outcome(w) != STORE_PROCESSED)
			continue;
		for (j = 0; j < w->oru.npatients; j++)
			if (w->oru.patients[j].nobs > 0 &&
			    patient_rows(g, w, &w->oru.patients[j]) != 0)
				return fail_batch(g, INGEST_ERROR, cause);
	}
	/* Sent now, so that the server works on it while we go on. */
	if (flush_observations(g) != 0)
		return fail_batch(g, INGEST_DOWN, cause);
	if (PQflush(SD(g)->conn) != 0) {
		snprintf(g->err, sizeof(g->err), "sending: %s",
		    PQerrorMessage(SD(g)->conn));
		return fail_batch(g, INGEST_DOWN, cause);
	}
	reset_batch(g);
	return INGEST_OK;
}

enum ingest_rc
ingest_commit(struct ingest *g, char **cause)
{
	if (g->state[g->cur] != SIDE_STARTED ||
	    g->state[1 - g->cur] == SIDE_COMMITTING)
		abort();	/* finish the batch in flight first */
	if (send_sql(g, "COMMIT", Q_IGNORE) != 0 || pipe_sync(g) != 0)
		return fail_batch(g, INGEST_DOWN, cause);
	g->state[g->cur] = SIDE_COMMITTING;
	return INGEST_OK;
}

enum ingest_rc
ingest_finish(struct ingest *g, char **cause)
{
	struct side *d;
	size_t i;
	enum ingest_rc rc;
	int keep = g->cur, side = oldest_committing(g);

	/* The older batch in flight: they land in order. */
	if (side < 0)
		return INGEST_OK;
	g->cur = side;
	d = SD(g);
	g->landed = d->seq;
	if (d->simple)
		for (i = 0; i < d->nbatch; i++)
			d->batch[i]->message_id = -1;
	rc = pipe_read(g, handle_rt1);
	if (rc != INGEST_OK) {
		rc = fail_batch(g, rc, cause);
		g->cur = keep;
		return rc;
	}
	for (i = 0; i < d->nbatch; i++) {
		if (d->simple)
			set_outcome(d->batch[i]);
		g->alerts += d->batch[i]->nalerts;
	}
	g->state[g->cur] = SIDE_IDLE;
	g->cur = keep;
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

	if (g->nmsg_ids < n)
		return false;
	scan_batch(g, ws, n, &sc);
	return !sc.unknown && !sc.enrolled && !sc.unlanded &&
	    g->nobs_ids >= sc.nobs;
}

enum ingest_rc
ingest_send(struct ingest *g, struct ingest_work **ws, size_t n, char **cause)
{
	const struct oru_patient *pat;
	struct ingest_work *w;
	size_t i;
	uint32_t j;
	int busy;

	if (g->state[0] == SIDE_STARTED || g->state[1] == SIDE_STARTED ||
	    (g->state[0] == SIDE_COMMITTING && g->state[1] == SIDE_COMMITTING))
		abort();	/* the caller lands a batch first */
	g->sqlstate[0] = '\0';
	busy = oldest_committing(g);
	if (busy >= 0)
		g->cur = 1 - busy;
	if (!ingest_connected(g))
		return INGEST_BUSY;
	check_notifies(g);
	if (g->need_flush || !simple_batch(g, ws, n))
		return INGEST_BUSY;
	reset_batch(g);
	SD(g)->batch = ws;
	SD(g)->nbatch = n;
	SD(g)->simple = true;
	SD(g)->seq = ++g->seq;
	g->state[g->cur] = SIDE_STARTED;
	for (i = 0; i < n; i++) {
		w = ws[i];
		queue_message_row(g, w);
		/* As if it went in; ins_new drops the rows if not. */
		w->message_id = w->reserved_id;
		w->nalerts = 0;
		if (w->quarantine || w->ignored || !w->parsed)
			continue;
		for (j = 0; j < w->oru.npatients; j++) {
			pat = &w->oru.patients[j];
			if (pat->nobs == 0)
				continue;
			pcache_get(g, pat->id.p, pat->id.len, false)->seq =
			    SD(g)->seq;
			if (patient_rows(g, w, pat) != 0)
				return fail_batch(g, INGEST_ERROR, cause);
		}
	}
	/*
	 * Untracked patients only: every row is still in the columns. One
	 * statement, so no BEGIN/COMMIT: the sync commits it.
	 */
	if (send_columns(g, g->obs_rows > OBS_ONE_STATEMENT_MAX ?
	    "ins_new_many" : "ins_new", g->msg_cols, MSG_COLS, g->obs_cols,
	    OBS_COLS, Q_MSGS) != 0 || pipe_sync(g) != 0)
		return fail_batch(g, INGEST_DOWN, cause);
	g->obs_rows = 0;
	g->state[g->cur] = SIDE_COMMITTING;
	reset_batch(g);
	return INGEST_OK;
}

void
ingest_abort(struct ingest *g)
{
	char *cause = NULL;
	int keep = g->cur;

	if (g->state[0] == SIDE_STARTED)
		g->cur = 0;
	else if (g->state[1] == SIDE_STARTED)
		g->cur = 1;
	else
		return;
	/* What was sent before may hold errors: they are not ours to report. */
	if (pipe_sync(g) != 0 || pipe_read(g, NULL) == INGEST_DOWN)
		(void)fail_batch(g, INGEST_DOWN, &cause);
	else
		(void)fail_batch(g, INGEST_ERROR, &cause);
	free(cause);
	g->cur = keep;
}

enum ingest_rc
ingest_batch(struct ingest *g, struct ingest_work **ws, size_t n, char **cause)
{
	enum ingest_rc rc;

	if (g->state[0] != SIDE_IDLE || g->state[1] != SIDE_IDLE)
		abort();	/* one batch at a time here */
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
	return g->sqlstate;
}

uint64_t
ingest_alerts(const struct ingest *g)
{
	return g->alerts;
}
