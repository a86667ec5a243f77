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
