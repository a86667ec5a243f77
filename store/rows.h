/*
 * rows.h: the SQL of the writer. Every statement it prepares, and the
 * batch INSERTs of messages and observations, built from one table of
 * columns each: a batch's rows are kept column by column (one binary
 * array per column, pgarr.h) and sent as one statement.
 */
#ifndef LABWATCH_ROWS_H
#define LABWATCH_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store/db.h"
#include "store/pgarr.h"
#include "store/pgpipe.h"

#define ROWS_MSG_COLS 16
#define ROWS_OBS_COLS 31
/*
 * Observation rows queued before they are sent, at most. A statement
 * reads row i of its arrays as ($k::t[])[i] up to ROWS_SUBSCRIPT_MAX rows
 * (labwatchd's small batches: nothing copied), by unnest() in FROM above
 * (one pass over each array): a subscript walks the array from its start
 * (its elements vary in length), so N rows that way cost N^2. 10,000 rows
 * in one subscripted INSERT took 5 s; 140,000 rows (20,000 messages of
 * bench/gen_oru) cost 4.5-6.8 s of server CPU in subscripted statements
 * of 64 and 3.1 s in unnest() statements of 1,024 (BENCHMARKS.md).
 */
#define ROWS_OBS_PER_INSERT 1024
#define ROWS_SUBSCRIPT_MAX 64

/*
 * The columns of a patient's enrollment as pcache_load_enrollment() reads
 * them (enrollments e; sel_enroll, and reeval.c for many patients).
 * hold_state: whole numbers only (a fractional one truncated); 'x' for a
 * since that is not a number, which the reader skips.
 */
/* clang-format off */
#define ROWS_ENROLL_COLS \
	"e.phase, extract(epoch FROM e.since)::float8," \
	" coalesce(e.eligibility_status, '')," \
	" coalesce((SELECT string_agg(key || '=' || CASE jsonb_typeof(value)" \
	"   WHEN 'object' THEN CASE WHEN NOT value ? 'since' THEN ''" \
	"   WHEN jsonb_typeof(value->'since') = 'number'" \
	"   AND abs((value->>'since')::numeric) < 1e15" \
	"   THEN trunc((value->>'since')::numeric)::bigint::text ELSE 'x' END" \
	"   || '/' || CASE WHEN jsonb_typeof(value->'obs') = 'number'" \
	"   AND (value->>'obs')::numeric BETWEEN 0 AND 1e15" \
	"   THEN trunc((value->>'obs')::numeric)::bigint::text ELSE '0' END" \
	"   || '/' || CASE WHEN jsonb_typeof(value->'stops') = 'number'" \
	"   AND (value->>'stops')::numeric BETWEEN 0 AND 1e6" \
	"   THEN trunc((value->>'stops')::numeric)::bigint::text ELSE '1' END" \
	"   || '/' || CASE WHEN jsonb_typeof(value->'restart_dose_mg')" \
	"   = 'number' THEN value->>'restart_dose_mg' ELSE '' END" \
	"   WHEN 'number' THEN CASE WHEN abs((value #>> '{}')::numeric) < 1e15" \
	"   THEN trunc((value #>> '{}')::numeric)::bigint::text ELSE 'x' END" \
	"   ELSE 'x' END, ',')" \
	"   FROM jsonb_each(e.hold_state)), '')," \
	" coalesce((SELECT string_agg(key || '=' || coalesce(value->>'value', '')" \
	"   || '/' || coalesce(value->>'uln', ''), ',')" \
	"   FROM jsonb_each(e.baseline)), '')"
/* clang-format on */

/*
 * The columns of a stored result as pcache_history_row() reads them (the
 * rows the rules read again: sel_history, and reeval.c for many
 * patients), and which rows those are. A row keeps the problem it was
 * stored with: rows written before control bytes were marked (sql/007
 * and before) dropped the byte (OBX-7 '10-<0x01>40' stored as '10-40'),
 * so a range, unit or status the live path could not read is marked here
 * (U+FFFD, as text_sanitize_marked marks a byte) and reads unreadable
 * again; a row already marked is left alone. The time by date_part(),
 * a float8 as it is: extract() gives a numeric since PostgreSQL 14, and
 * its cast to float8 goes through text (float8in and strtod were 2-3 %
 * of the server's samples in a whole `labwatch reevaluate`).
 */
/* clang-format off */
#define ROWS_HISTORY_COLS \
	"id, order_key, code, coding_system, alt_code," \
	" alt_coding_system, value, coalesce(comparator, '')," \
	" CASE WHEN problem = 'unit_unknown' AND unit IS NOT NULL" \
	" AND strpos(unit, U&'\\FFFD') = 0 THEN unit || U&'\\FFFD'" \
	" ELSE unit END," \
	" CASE WHEN problem = 'range_unreadable' AND ref_range IS NOT NULL" \
	" AND strpos(ref_range, U&'\\FFFD') = 0" \
	" THEN ref_range || U&'\\FFFD' ELSE ref_range END," \
	" CASE WHEN problem = 'status_unknown' AND status IS NOT NULL" \
	" AND status <> '' THEN U&'\\FFFD' ELSE coalesce(status, '') END," \
	" coalesce(date_part('epoch', observed_at), -1), value_raw," \
	" coalesce(patient_sex, ''), message"
#define ROWS_HISTORY_FILTER "(analyte IS NOT NULL OR problem = 'code_conflict')"
/* clang-format on */
/*
 * sel_open_alerts' last column, the highest id of the patient's toxicity
 * alerts (pcache_load_open reads it by this name).
 */
#define ROWS_OPEN_TOP "top"

/*
 * A toxicity alert a person resolved (labwatch resolve) is still its
 * episode's alert for labwatchd while the episode goes on (CLINICAL.md,
 * "Alert episodes": an episode runs from the first result at or above
 * the alert grade to the first final result below it; a resolution by
 * a person ends neither): the same grade adds nothing, a higher grade
 * supersedes it, a recovery ends it (resolved_by_observation). Its state
 * stays resolved, with their name: labwatch never opens it again nor
 * pages it again. Before, a daemon whose cache had been reloaded since
 * (a restart, any enrollment change, a failed batch) took the episode
 * for ended and raised a second alert of the same grade, which one that
 * had not reloaded did not raise and labwatch reevaluate retracted
 * (tests/person_resolved_db.sh). A, the alias of alerts in the SQL.
 */
#define ROWS_PERSON_GOES_ON(a) \
	a ".state = 'resolved' AND " a ".resolved_by IS NOT NULL AND " a \
	  ".superseded_by IS NULL AND " a ".resolved_by_observation IS NULL"

/*
 * An alert opened again (its episode stands again): open, acknowledged
 * if it had been; one a person resolved stays resolved by them.
 */
#define ROWS_REOPENED_STATE \
	"state = CASE WHEN resolved_by IS NOT NULL THEN state" \
	" WHEN acknowledged_at IS NULL THEN 'open' ELSE 'acknowledged' END," \
	" resolved_at = CASE WHEN resolved_by IS NOT NULL THEN resolved_at END"

struct ingest_work;
struct oru_obs;
struct rules_eval;
struct rules_result;

/* A batch's rows, column by column. Owned by the ingest. */
struct rows {
	struct pgarr msg[ROWS_MSG_COLS];
	struct pgarr obs[ROWS_OBS_COLS];
	size_t nobs; /* observation rows queued */
};

/* One observation row: what the rules made of one OBX. */
struct rows_obs {
	int64_t id, message, patient;
	int64_t supersedes; /* the row it corrects, 0 for none */
	const char *key;    /* its correction key (oru_result_key) */
	size_t klen;
	const struct oru_obs *x;
	const struct rules_result *in;
	const struct rules_eval *ev;
};

void rows_init(struct rows *r);
void rows_free(struct rows *r);
/* Forget the rows queued. */
void rows_reset(struct rows *r);

/* Prepare every statement of the writer in session c. */
LW_MUSTCHECK enum db_rc rows_prepare(PGconn *c, char **cause);

/* Add w's message row, offered with id w->reserved_id. */
void rows_add_message(struct rows *r, const struct ingest_work *w);
/*
 * The columns of sel_stored: w's row id (reserved_id), sending
 * application, facility and control id as its row holds them (no
 * control id for a quarantined row: it has no identity).
 */
#define ROWS_ID_COLS 4
void rows_init_identity(struct pgarr q[ROWS_ID_COLS]);
void rows_add_identity(struct pgarr q[ROWS_ID_COLS],
    const struct ingest_work *w);
/* Add one observation row. */
void rows_add_observation(struct rows *r, const struct rows_obs *o);

/* Send the message rows: their RETURNING ids come back under tag. */
LW_MUSTCHECK enum db_rc rows_send_messages(struct rows *r, struct pgpipe *p,
    int tag);
/* Send the observation rows queued so far, if any. */
LW_MUSTCHECK enum db_rc rows_send_observations(struct rows *r,
    struct pgpipe *p);
/*
 * Send message and observation rows as one statement (no transaction:
 * the sync commits it); a duplicate's observation rows are left out by
 * the statement itself. The ids of the messages that went in: tag.
 */
LW_MUSTCHECK enum db_rc rows_send_all(struct rows *r, struct pgpipe *p,
    int tag);

#endif
