/*
 * rows.c: the writer's statements and its batch INSERTs (see rows.h).
 */
#include "store/rows.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "hl7/ack.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "rules/rules.h"
#include "store/ingest.h"
#include "store/text.h"
#include "store/triage.h"

/*
 * A batch written in one statement (rows_send_all) has its observation
 * rows in that one INSERT: read by subscript up to this many (a 16-sender
 * batch holds about 100), by unnest() in FROM beyond (linear, but each
 * row copied once more, 20 % slower at 10,000 rows).
 */
#define ONE_STATEMENT_MAX 256

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

/*
 * A column the rules read again (sel_history), NULL for an empty string:
 * a control byte marked, not dropped (text_sanitize_marked).
 */
static void
col_read(struct pgarr *a, const char *p, size_t len)
{
	if (len == 0)
		pgarr_null(a);
	else
		pgarr_commit(a,
		    text_sanitize_marked(pgarr_reserve(a, len * 3), p, len));
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
	uint32_t oid;	  /* element type (pgarr.h) */
	const char *type; /* its SQL name */
	const char *wrap; /* "f(%s)" around the element, or NULL */
};

static const struct column msg_columns[ROWS_MSG_COLS] = {
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

static const struct column obs_columns[ROWS_OBS_COLS] = {
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
	{ "patient_sex", PGARR_TEXT, "text", NULL },
	{ "grade_is_minimum", PGARR_BOOL, "boolean", NULL },
};

/* How a batch INSERT reads row i from its array parameters. */
enum rows_from {
	ROWS_SUBSCRIPT, /* ($k::t[])[i] FROM generate_subscripts(...) AS i */
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
 * rows, so few rows per statement (ROWS_SUBSCRIPT_MAX). ROWS_UNNEST is one
 * pass over each array, for many rows in one statement.
 */
static void
insert_sql(struct buf *b, const char *table, const struct column *c, int n,
    int first, enum rows_from from)
{
	char elem[48];
	int i;

	buf_printf(b, "INSERT INTO %s (", table);
	for (i = 0; i < n; i++)
		buf_printf(b, "%s%s", i ? ", " : "", c[i].name);
	buf_adds(b, ") SELECT ");
	for (i = 0; i < n; i++) {
		row_elem(elem, sizeof(elem), from, first + i, i, c[i].type);
		if (i > 0)
			buf_adds(b, ", ");
		if (c[i].wrap != NULL) {
			/* Only our own format strings above. */
			const char *pct = strstr(c[i].wrap, "%s");

			buf_add(b, c[i].wrap, (size_t)(pct - c[i].wrap));
			buf_adds(b, elem);
			buf_adds(b, pct + 2);
		} else
			buf_adds(b, elem);
	}
	if (from == ROWS_SUBSCRIPT) {
		buf_printf(b, " FROM generate_subscripts($%d::%s[], 1) AS i",
		    first, c[0].type);
		return;
	}
	buf_adds(b, " FROM unnest(");
	for (i = 0; i < n; i++)
		buf_printf(b, "%s$%d::%s[]", i ? ", " : "", first + i,
		    c[i].type);
	buf_adds(b, ") AS t(");
	for (i = 0; i < n; i++)
		buf_printf(b, "%sc%d", i ? ", " : "", i);
	buf_adds(b, ")");
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
	/*
	 * After a COMMIT whose answer was lost (limbo.c): for each message
	 * (rows_add_identity), in order, whether the row offered with its id
	 * is there, and whether a row of its identity is (a duplicate).
	 */
	{ "sel_stored",
	    "SELECT EXISTS (SELECT 1 FROM messages m WHERE m.id = k.id),"
	    " k.cid IS NOT NULL AND EXISTS (SELECT 1 FROM messages m"
	    "   WHERE m.sending_application = k.app"
	    "   AND m.sending_facility = k.fac AND m.control_id = k.cid"
	    "   AND m.outcome <> 'quarantined')"
	    " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])"
	    " WITH ORDINALITY AS k(id, app, fac, cid, i) ORDER BY k.i" },
	{ "sel_enroll",
	    "SELECT " ROWS_ENROLL_COLS
	    " FROM enrollments e JOIN patients p ON p.id = e.patient"
	    " WHERE p.patient_id = $1 AND e.protocol = $2" },
	{ "sel_history",
	    "SELECT " ROWS_HISTORY_COLS " FROM observations WHERE patient = $1"
	    " AND " ROWS_HISTORY_FILTER " ORDER BY id" },
	/*
	 * The patient's toxicity alerts open or acknowledged (or resolved by
	 * a person in an episode that goes on: ROWS_PERSON_GOES_ON), and those
	 * resolved (by a result or a higher grade) whose own result stands:
	 * past, the episode standing results may reopen (episode_standing);
	 * ended, of the latest episode of the analyte, reopened should the
	 * result that ended it be withdrawn: no other alert of it is open,
	 * rests on a result stored after the one that ended it, or was ended
	 * by one stored after, retracted since with its result or not, as
	 * labwatchd's cache forgets an ended episode when an alert opens or
	 * another episode ends (episode.c): a daemon restarted between two
	 * results judges as one that ran throughout
	 * (tests/episode_reload_db.sh). An alert labwatch reevaluate
	 * retracted (with a resolve_note, where labwatchd's retractions, its
	 * result withdrawn, have none) does not count, even once its result
	 * is withdrawn too: it never was, under the protocol that judges now,
	 * and the cache reloaded after reevaluate never saw it. By the
	 * results' ids, which follow the order labwatchd judged them in
	 * (also across daemons: ingest.c keeps ids above what the patient
	 * holds, plock_drop_ids_behind), not by the alerts' ids: labwatch
	 * reevaluate writes an earlier episode's alert after the later ones,
	 * and taken for the latest it was reopened beside the open alert and
	 * the withdrawal refused (alerts_one_open_episode;
	 * tests/reevaluate_order_db.sh).
	 * alerts_toxicity_patient (sql/009). Last, on every row (one of NULLs
	 * but it when none is read), the highest id of the patient's toxicity
	 * alerts: ingest.c keeps its alert ids above it.
	 */
	/* clang-format off */
	{ "sel_open_alerts",
	    "SELECT t.*, m." ROWS_OPEN_TOP " FROM (SELECT coalesce(max(id), 0)"
	    " AS " ROWS_OPEN_TOP
	    " FROM alerts WHERE patient = $1 AND protocol = $2"
	    " AND kind = 'toxicity') AS m LEFT JOIN ("
	    "SELECT a.id, a.analyte, a.grade, coalesce(a.observation, 0),"
	    " coalesce(extract(epoch FROM o.observed_at)::float8, -1),"
	    " coalesce(a.resolved_by_observation, 0),"
	    " coalesce(o.grade_is_minimum, false), a.state = 'resolved'"
	    " AND NOT (" ROWS_PERSON_GOES_ON("a") "),"
	    " a.resolved_by_observation IS NOT NULL"
	    " AND NOT EXISTS (SELECT 1 FROM alerts b WHERE b.patient = a.patient"
	    "   AND b.protocol = a.protocol AND b.kind = 'toxicity'"
	    "   AND b.analyte = a.analyte AND b.id <> a.id"
	    "   AND (b.state <> 'retracted' OR b.resolve_note IS NULL)"
	    "   AND (b.state IN ('open', 'acknowledged')"
	    "   OR b.observation > a.resolved_by_observation"
	    "   OR b.resolved_by_observation > a.resolved_by_observation))"
	    " FROM alerts a LEFT JOIN observations o ON o.id = a.observation"
	    " WHERE a.patient = $1 AND a.protocol = $2 AND a.kind = 'toxicity'"
	    " AND (a.state IN ('open', 'acknowledged')"
	    " OR (a.state = 'resolved' AND NOT o.retracted"
	    " AND NOT EXISTS (SELECT 1 FROM observations s"
	    "   WHERE s.patient = a.patient AND s.supersedes = a.observation)))"
	    ") AS t ON true ORDER BY t.id" },
	/* clang-format on */
	/* A past alert reopened: its episode stands again. */
	{ "upd_past_reopened",
	    "UPDATE alerts SET " ROWS_REOPENED_STATE ","
	    " resolved_by_observation = NULL, superseded_by = NULL"
	    " WHERE id = $1 AND state = 'resolved'" },
	{ "ids_obs",
	    "SELECT nextval('labwatch.observations_id_seq')"
	    " FROM generate_series(1, $1::int)" },
	{ "ids_alert",
	    "SELECT nextval('labwatch.alerts_id_seq')"
	    " FROM generate_series(1, $1::int)" },
	/*
	 * Several daemons on one database (ingest.c lock_patients): the
	 * patients of a batch locked for its transaction, in one order
	 * (their keys sorted) so that two writers never wait on each other
	 * in a cycle; then their versions bumped, each with its place in $1.
	 */
	{ "lock_patients",
	    "SELECT pg_catalog.pg_advisory_xact_lock(15, s.k) FROM"
	    " (SELECT DISTINCT pg_catalog.hashtext(x) AS k"
	    " FROM unnest($1::text[]) AS x ORDER BY 1) AS s" },
	{ "bump_patients",
	    "UPDATE patients AS p SET version = p.version + 1"
	    " FROM unnest($1::text[]) WITH ORDINALITY AS u(pid, i)"
	    " WHERE p.patient_id = u.pid RETURNING u.i, p.version" },
	{ "ins_alert",
	    "INSERT INTO alerts (id, patient, protocol, kind, severity, analyte,"
	    " grade, observation, message, summary, details)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7::int, $8, $9, $10, $11::jsonb)" },
	/*
	 * Superseded by a higher grade ($2). An alert a person resolved
	 * meanwhile (labwatch resolve; labwatchd's cache still has it open)
	 * keeps the time they resolved it.
	 */
	{ "upd_escalated",
	    "UPDATE alerts SET state = 'resolved',"
	    " resolved_at = coalesce(resolved_at, now()),"
	    " superseded_by = $2 WHERE id = $1" },
	/*
	 * The episode ended: resolved by the system, on observation $2; one
	 * a person resolved keeps their resolution, and rests on $2 too (its
	 * episode ended: ROWS_PERSON_GOES_ON).
	 */
	{ "upd_recovered",
	    "UPDATE alerts SET state = 'resolved',"
	    " resolved_at = coalesce(resolved_at, now()),"
	    " resolved_by_observation = $2"
	    " WHERE id = $1 AND (state IN ('open', 'acknowledged')"
	    " OR (" ROWS_PERSON_GOES_ON("alerts") "))" },
	/*
	 * The result that ended the episode is withdrawn and nothing that
	 * stands ends it: the alert as it was (acknowledged if it had been;
	 * resolved by the person who resolved it: ROWS_REOPENED_STATE).
	 */
	{ "upd_reopened",
	    "UPDATE alerts SET " ROWS_REOPENED_STATE ","
	    " resolved_by_observation = NULL"
	    " WHERE id = $1 AND state = 'resolved'"
	    " AND resolved_by_observation = $2" },
	/* ... or a later result that stands ends it: it rests on that one. */
	{ "upd_recovered_moved",
	    "UPDATE alerts SET resolved_by_observation = $2"
	    " WHERE id = $1 AND state = 'resolved'" },
	/* The recovery line of a withdrawn result is withdrawn with it. */
	{ "upd_recovery_retracted",
	    "UPDATE alerts SET state = 'retracted', resolved_at = now()"
	    " WHERE observation = $1 AND kind = 'recovery'"
	    " AND state <> 'retracted'" },
	{ "upd_alerts_superseded",
	    "UPDATE alerts SET state = 'resolved', resolved_at = now()"
	    " WHERE observation = $1 AND state IN ('open', 'acknowledged')" },
	{ "upd_obs_retracted",
	    "UPDATE observations SET retracted = true WHERE id = $1" },
	{ "upd_alerts_retracted",
	    "UPDATE alerts SET state = 'retracted', resolved_at = now()"
	    " WHERE observation = $1 AND state IN ('open', 'acknowledged')" },
	/*
	 * A resume ($4, inserted next) answers the rule's hold alerts (kind
	 * hold, event stop): resolved by labwatch first, so that their
	 * 'resolve' event comes before the resume's 'trigger' and closes
	 * their pages (sql/010), then linked to the resume.
	 */
	{ "upd_hold_answered",
	    "UPDATE alerts SET state = 'resolved', resolved_at = now(),"
	    " resolved_by = 'labwatch',"
	    " resolve_note = 'restart allowed: alert ' || $4::bigint"
	    " WHERE patient = $1 AND protocol = $2"
	    " AND kind = 'hold' AND details->>'rule' = $3"
	    " AND coalesce(details->>'event', 'stop') = 'stop'"
	    " AND state IN ('open', 'acknowledged')" },
	{ "upd_hold_linked",
	    "UPDATE alerts SET superseded_by = $2 WHERE patient = $1"
	    " AND kind = 'hold' AND state = 'resolved' AND superseded_by IS NULL"
	    " AND resolve_note = 'restart allowed: alert ' || $2::bigint" },
	/* The result a hold rested on was taken out: so is its hold alert. */
	{ "upd_hold_withdrawn",
	    "UPDATE alerts SET state = 'retracted',"
	    " resolved_at = coalesce(resolved_at, now())"
	    " WHERE observation = $1 AND kind = 'hold'"
	    " AND coalesce(details->>'event', 'stop') = 'stop'"
	    " AND state <> 'retracted'" },
	/*
	 * The result of a hold of rule $8 that a resume answered was taken
	 * out ($7): the hold alert and that resume (even resolved) are
	 * retracted, and when the resume was still open or acknowledged one
	 * withdrawn line ($1..$6) says so. Nothing is inserted when no resume
	 * answered it.
	 */
	{ "upd_hold_resume_withdrawn",
	    "WITH h AS (UPDATE alerts SET state = 'retracted',"
	    " resolved_at = coalesce(resolved_at, now())"
	    " WHERE observation = $7 AND kind = 'hold' AND details->>'rule' = $8"
	    " AND coalesce(details->>'event', 'stop') = 'stop'"
	    " AND state <> 'retracted' RETURNING superseded_by),"
	    " r0 AS (SELECT r.id, r.state IN ('open', 'acknowledged') AS live"
	    " FROM alerts r JOIN h ON r.id = h.superseded_by"
	    " WHERE r.kind = 'resume' AND r.state <> 'retracted'),"
	    " r AS (UPDATE alerts SET state = 'retracted',"
	    " resolved_at = coalesce(resolved_at, now())"
	    " WHERE id IN (SELECT id FROM r0) RETURNING id)"
	    " INSERT INTO alerts (id, patient, protocol, kind, severity, message,"
	    " summary, details) SELECT $1::bigint, $2::bigint, $3::text, 'hold',"
	    " 'info', $4::bigint, $5::text, $6::jsonb"
	    " WHERE EXISTS (SELECT 1 FROM r JOIN r0 USING (id) WHERE r0.live)" },
	/*
	 * Held again on the result of a hold a resume answered: the result
	 * the resume rested on no longer stands, nor does the resume.
	 */
	{ "upd_resume_undone",
	    "UPDATE alerts r SET state = 'retracted', resolved_at = now()"
	    " FROM alerts h WHERE h.observation = $1 AND h.kind = 'hold'"
	    " AND h.superseded_by = r.id AND r.kind = 'resume'"
	    " AND r.state IN ('open', 'acknowledged')" },
	/*
	 * `labwatch reevaluate`: a toxicity or recovery alert the results
	 * no longer support under the protocol now, retracted with why ($2),
	 * by labwatch (resolved_by NULL: not under the name of a person who
	 * had resolved it, whose own resolve stays in its history).
	 */
	{ "upd_alert_reevaluated",
	    "UPDATE alerts SET state = 'retracted',"
	    " resolved_at = coalesce(resolved_at, now()), resolved_by = NULL,"
	    " resolve_note = $2 WHERE id = $1 AND state <> 'retracted'" },
	/*
	 * reevaluate: hold $1 answered by resume $2 as upd_hold_answered
	 * answers them (resolved first, its 'resolve' event before the
	 * resume's 'trigger'), then linked; a hold whose resume the results
	 * no longer imply open again; the announced holds as judged.
	 */
	{ "upd_hold_answered_one",
	    "UPDATE alerts SET state = 'resolved',"
	    " resolved_at = coalesce(resolved_at, now()),"
	    " resolved_by = 'labwatch',"
	    " resolve_note = 'restart allowed: alert ' || $2::bigint,"
	    " superseded_by = NULL WHERE id = $1 AND state <> 'retracted'" },
	{ "upd_hold_linked_one",
	    "UPDATE alerts SET superseded_by = $2 WHERE id = $1"
	    " AND state = 'resolved'" },
	{ "upd_hold_reopened",
	    "UPDATE alerts SET state = CASE WHEN acknowledged_at IS NULL"
	    " THEN 'open' ELSE 'acknowledged' END, resolved_at = NULL,"
	    " resolved_by = NULL, resolve_note = NULL, superseded_by = NULL"
	    " WHERE id = $1 AND state = 'resolved'" },
	{ "upd_hold_state",
	    "UPDATE enrollments SET hold_state = $3::jsonb, updated_at = now()"
	    " WHERE patient = $1 AND protocol = $2" },
	/*
	 * reevaluate: the screening status as judged again (the daemon's
	 * own column: no enrollment event).
	 */
	{ "upd_elig_status",
	    "UPDATE enrollments SET eligibility_status = $3, updated_at = now()"
	    " WHERE patient = $1 AND protocol = $2" },
	/*
	 * Stamped when written, under the patient's lock: now() is the
	 * transaction's start, before the lock was waited for, and a verdict
	 * another writer judged meanwhile would read as the later one.
	 */
	{ "ins_elig",
	    "INSERT INTO eligibility (patient, protocol, status, message,"
	    " criteria, evaluated_at)"
	    " VALUES ($1, $2, $3, $4, $5::jsonb, clock_timestamp())" },
	{ "upd_enroll",
	    "UPDATE enrollments SET eligibility_status = $3, hold_state = $4::jsonb,"
	    " updated_at = now() WHERE patient = $1 AND protocol = $2" },
};

static enum db_rc
prepare(PGconn *c, const char *name, const char *sql, char **cause)
{
	PGresult *res = PQprepare(c, name, sql, 0, NULL);
	char msg[512];

	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(msg, sizeof(msg), "preparing %s: %s", name,
		    PQresultErrorMessage(res));
		PQclear(res);
		*cause = xstrdup(msg);
		return PQstatus(c) == CONNECTION_OK ? DB_ERROR : DB_DOWN;
	}
	PQclear(res);
	return DB_OK;
}

/*
 * The batch INSERTs: messages (RETURNING the ids that went in: the others
 * were duplicates), observations, and both in one statement for
 * ingest_send(), where the observation rows of a duplicate are left out
 * by the statement itself (a data-modifying CTE: no scan of messages, so
 * no plan that was cheap on an empty table and is not any more).
 */
static enum db_rc
prepare_inserts(PGconn *c, struct buf *b, char **cause)
{
	static const struct {
		const char *name;
		enum rows_from obs;
	} one[] = {
		{ "ins_new", ROWS_SUBSCRIPT },
		/* more than ONE_STATEMENT_MAX observation rows */
		{ "ins_new_many", ROWS_UNNEST },
	};
	char message[48];
	size_t k;
	enum db_rc rc = DB_OK;

	for (k = 0; k < 2; k++) {
		/* k = 1: more than ROWS_SUBSCRIPT_MAX rows (rows.h) */
		buf_reset(b);
		insert_sql(b, "messages", msg_columns, ROWS_MSG_COLS, 1,
		    k ? ROWS_UNNEST : ROWS_SUBSCRIPT);
		buf_adds(b, " ON CONFLICT DO NOTHING RETURNING id");
		if ((rc = prepare(c, k ? "ins_msgs_many" : "ins_msgs", b->p,
			 cause)) != DB_OK)
			return rc;
		buf_reset(b);
		insert_sql(b, "observations", obs_columns, ROWS_OBS_COLS, 1,
		    k ? ROWS_UNNEST : ROWS_SUBSCRIPT);
		if ((rc = prepare(c, k ? "ins_obs_many" : "ins_obs", b->p,
			 cause)) != DB_OK)
			return rc;
	}
	for (k = 0; k < sizeof(one) / sizeof(one[0]) && rc == DB_OK; k++) {
		buf_reset(b);
		buf_adds(b, "WITH ins AS (");
		insert_sql(b, "messages", msg_columns, ROWS_MSG_COLS, 1,
		    ROWS_SUBSCRIPT);
		buf_adds(b, " ON CONFLICT DO NOTHING RETURNING id), o AS (");
		insert_sql(b, "observations", obs_columns, ROWS_OBS_COLS,
		    ROWS_MSG_COLS + 1, one[k].obs);
		/* observations.message is the second column. */
		row_elem(message, sizeof(message), one[k].obs,
		    ROWS_MSG_COLS + 2, 1, "bigint");
		buf_printf(b,
		    " WHERE %s IN (SELECT id FROM ins))"
		    " SELECT id FROM ins",
		    message);
		rc = prepare(c, one[k].name, b->p, cause);
	}
	return rc;
}

enum db_rc
rows_prepare(PGconn *c, char **cause)
{
	struct buf b;
	size_t i;
	enum db_rc rc = DB_OK;

	for (i = 0;
	     i < sizeof(statements) / sizeof(statements[0]) && rc == DB_OK; i++)
		rc = prepare(c, statements[i].name, statements[i].sql, cause);
	if (rc != DB_OK)
		return rc;
	buf_init(&b);
	rc = prepare_inserts(c, &b, cause);
	buf_free(&b);
	return rc;
}

void
rows_init(struct rows *r)
{
	int i;

	for (i = 0; i < ROWS_MSG_COLS; i++)
		pgarr_init(&r->msg[i], msg_columns[i].oid);
	for (i = 0; i < ROWS_OBS_COLS; i++)
		pgarr_init(&r->obs[i], obs_columns[i].oid);
	r->nobs = 0;
}

void
rows_free(struct rows *r)
{
	int i;

	for (i = 0; i < ROWS_MSG_COLS; i++)
		pgarr_free(&r->msg[i]);
	for (i = 0; i < ROWS_OBS_COLS; i++)
		pgarr_free(&r->obs[i]);
}

void
rows_reset(struct rows *r)
{
	int i;

	for (i = 0; i < ROWS_MSG_COLS; i++)
		pgarr_reset(&r->msg[i]);
	for (i = 0; i < ROWS_OBS_COLS; i++)
		pgarr_reset(&r->obs[i]);
	r->nobs = 0;
}

static void
sha256(const char *p, size_t len, unsigned char out[32])
{
	unsigned int n = 32;

	EVP_Digest(p, len, out, &n, EVP_sha256(), NULL);
}

/* A message's identity: sending application, facility, control id. */
static void
col_identity(struct pgarr *c, const struct oru_msg *o)
{
	col_key(&c[0], o->sending_app, TEXT_MAX_HD);
	col_key(&c[1], o->sending_facility, TEXT_MAX_HD);
	if (o->control_id.len == 0)
		pgarr_null(&c[2]);
	else
		col_key(&c[2], o->control_id, TEXT_MAX_ID);
}

void
rows_add_identity(struct pgarr q[ROWS_ID_COLS], const struct ingest_work *w)
{
	pgarr_int8(&q[0], w->reserved_id);
	if (w->parsed && !w->quarantine) {
		col_identity(&q[1], &w->oru);
		return;
	}
	/* A quarantined row has no identity (messages_identity). */
	pgarr_bytes(&q[1], "", 0);
	pgarr_bytes(&q[2], "", 0);
	pgarr_null(&q[3]);
}

void
rows_init_identity(struct pgarr q[ROWS_ID_COLS])
{
	pgarr_init(&q[0], PGARR_INT8);
	pgarr_init(&q[1], PGARR_TEXT);
	pgarr_init(&q[2], PGARR_TEXT);
	pgarr_init(&q[3], PGARR_TEXT);
}

void
rows_add_message(struct rows *r, const struct ingest_work *w)
{
	struct pgarr *c = r->msg;
	unsigned char digest[32];
	char cid[201];
	const struct oru_msg *o = &w->oru;

	sha256(w->data, w->len, digest);
	pgarr_int8(&c[0], w->reserved_id);
	pgarr_float8(&c[1], (double)w->received_at);
	col_str(&c[2], w->peer, strlen(w->peer));
	if (w->parsed) {
		col_identity(&c[3], o);
		col_opt(&c[6], o->type, strlen(o->type));
		col_opt(&c[7], o->version.p, o->version.len);
	} else {
		pgarr_bytes(&c[3], "", 0);
		pgarr_bytes(&c[4], "", 0);
		/* Keep what can be read of MSH so an analyst can find it. */
		if (w->quarantine &&
		    hl7_ack_recover_control_id(w->data, w->len, cid,
			sizeof(cid)) > 0)
			col_key(&c[5], (struct hl7_str){ cid, strlen(cid) },
			    TEXT_MAX_ID);
		else
			pgarr_null(&c[5]);
		pgarr_null(&c[6]);
		pgarr_null(&c[7]);
	}
	col_strz(&c[8],
	    w->quarantine  ? "quarantined" :
		w->ignored ? "ignored" :
			     "processed");
	if (w->reason != NULL)
		col_str(&c[9], w->reason, strlen(w->reason));
	else
		pgarr_null(&c[9]);
	if (w->err_code)
		pgarr_int4(&c[10], (int32_t)w->err_code);
	else
		pgarr_null(&c[10]);
	col_strz(&c[11], triage_ack_stored(w));
	pgarr_int8(&c[12],
	    (int64_t)w->total); /* bigint: a hostile total fits */
	pgarr_bytes(&c[13], w->data, w->len);
	pgarr_bytes(&c[14], digest, sizeof(digest));
	col_strz(&c[15], w->spool_ref);
}

void
rows_add_observation(struct rows *r, const struct rows_obs *o)
{
	struct pgarr *c = r->obs;
	const struct oru_obs *x = o->x;
	const struct rules_eval *ev = o->ev;
	const struct rules_result *in = o->in;
	bool mapped = ev->analyte != RULES_NONE;

	pgarr_int8(&c[0], o->id);
	pgarr_int8(&c[1], o->message);
	pgarr_int8(&c[2], o->patient);
	col_str(&c[3], o->key, o->klen);
	col_opt(&c[4], x->set_id.p, x->set_id.len);
	col_read(&c[5], x->code.p, x->code.len);
	col_read(&c[6], x->coding_system.p, x->coding_system.len);
	col_read(&c[7], x->alt_code.p, x->alt_code.len);
	col_read(&c[8], x->alt_system.p, x->alt_system.len);
	col_opt(&c[9], x->text.p, x->text.len);
	col_opt(&c[10], x->sub_id.p, x->sub_id.len);
	col_strz(&c[11], rules_analyte_name(ev->analyte));
	col_opt(&c[12], x->value_type.p, x->value_type.len);
	col_read(&c[13], x->value_text.p, x->value_text.len);
	col_opt(&c[14], x->comparator, strlen(x->comparator));
	pgarr_float8(&c[15], in->kind == RULES_VALUE_NUMBER ? in->value : NAN);
	col_read(&c[16], x->units.p, x->units.len);
	pgarr_float8(&c[17], ev->value);
	col_strz(&c[18], ev->unit);
	col_read(&c[19], x->ref_range.p, x->ref_range.len);
	pgarr_float8(&c[20], ev->lln);
	pgarr_float8(&c[21], ev->uln);
	col_strz(&c[22],
	    mapped ? rules_range_source_name(ev->range_source) : NULL);
	col_opt(&c[23], x->flags.p, x->flags.len);
	col_read(&c[24], x->status.p, x->status.len);
	pgarr_float8(&c[25],
	    in->observed_at >= 0 ? (double)in->observed_at : NAN);
	if (mapped && ev->grade >= 0)
		pgarr_int4(&c[26], ev->grade);
	else
		pgarr_null(&c[26]);
	/* A code conflict has no analyte, and its problem says why. */
	col_strz(&c[27], mapped || ev->conflict != 0 ? ev->problem : NULL);
	if (o->supersedes > 0)
		pgarr_int8(&c[28], o->supersedes);
	else
		pgarr_null(&c[28]);
	col_opt(&c[29], &in->sex, in->sex != '\0' ? 1 : 0);
	/* `<75` platelets: grade 2 is what it reaches, not what it is. */
	pgarr_bool(&c[30], mapped && ev->grade >= 0 && ev->grade_is_minimum);
	r->nobs++;
}

/* Send one batch INSERT: the columns of cols, then of more. */
static enum db_rc
send_columns(struct pgpipe *p, const char *stmt, struct pgarr *cols, int n,
    struct pgarr *more, int nmore, int tag)
{
	enum { MAXC = ROWS_OBS_COLS + ROWS_MSG_COLS };
	const char *v[MAXC];
	int len[MAXC], binary[MAXC];
	int i;
	enum db_rc rc;

	for (i = 0; i < n + nmore; i++) {
		v[i] = pgarr_finish(i < n ? &cols[i] : &more[i - n], &len[i]);
		binary[i] = 1;
	}
	rc = pgpipe_send_prepared(p, stmt, n + nmore, v, len, binary, tag,
	    NULL);
	if (rc != DB_OK)
		return rc;
	for (i = 0; i < n + nmore; i++)
		pgarr_reset(i < n ? &cols[i] : &more[i - n]);
	return DB_OK;
}

enum db_rc
rows_send_messages(struct rows *r, struct pgpipe *p, int tag)
{
	return send_columns(p,
	    r->msg[0].n > ROWS_SUBSCRIPT_MAX ? "ins_msgs_many" : "ins_msgs",
	    r->msg, ROWS_MSG_COLS, NULL, 0, tag);
}

enum db_rc
rows_send_observations(struct rows *r, struct pgpipe *p)
{
	enum db_rc rc;

	if (r->nobs == 0)
		return DB_OK;
	rc = send_columns(p,
	    r->nobs > ROWS_SUBSCRIPT_MAX ? "ins_obs_many" : "ins_obs", r->obs,
	    ROWS_OBS_COLS, NULL, 0, 0);
	if (rc == DB_OK)
		r->nobs = 0;
	return rc;
}

enum db_rc
rows_send_all(struct rows *r, struct pgpipe *p, int tag)
{
	enum db_rc rc;

	rc = send_columns(p,
	    r->nobs > ONE_STATEMENT_MAX ? "ins_new_many" : "ins_new", r->msg,
	    ROWS_MSG_COLS, r->obs, ROWS_OBS_COLS, tag);
	if (rc == DB_OK)
		r->nobs = 0;
	return rc;
}
