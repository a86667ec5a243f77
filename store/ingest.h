/*
 * ingest.h: the ingest pipeline of the writer thread: a frame becomes a
 * message row, observation rows, verdicts and alerts. Internal to libstore.
 *
 * ingest_prepare() reads a frame (no database): what it is, the ACK it
 * earns. ingest_batch() then writes a batch of prepared frames in one
 * transaction, pipelined: one round trip for the message rows (which tells
 * duplicates apart), patients and enrollments, one for everything else and
 * the COMMIT. The rules run in between, against each enrolled patient's
 * history, cached in the writer and loaded from the database on first use.
 */
#ifndef LABWATCH_INGEST_H
#define LABWATCH_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/buf.h"
#include "store/db.h"
#include "store/store.h"
#include "store/triage.h"

struct rules;

struct ingest;

/*
 * What a batch call came to. A failed batch committed nothing, and *cause
 * (malloc'ed) says why, with no patient data in it.
 */
enum ingest_rc {
	INGEST_OK = 0,	/* committed (or sent), each w has its outcome */
	INGEST_BUSY,	/* not now: see ingest_start() and ingest_send() */
	INGEST_DOWN,	/* the database cannot be used now (DB_DOWN):
			   spool and retry later */
	INGEST_REFUSED, /* a statement was refused for the data it carried
			   (DB_REFUSED): one message is at fault */
	INGEST_ERROR,	/* refused for another reason (DB_ERROR: a trigger,
			   a timeout, a deadlock, permissions): retried one
			   by one to find out whose fault it is */
};

/* Options the pipeline needs from the configuration. */
struct ingest_opts {
	const char *conninfo;
	const char *sql_dir;	/* NULL: no migration at connect */
	const char *schema_dir; /* the schema must match these migrations
				   (missing, older, newer: refused); NULL or
				   not there: not checked */
	const char *app, *facility;
	const char *id_type;
	const char *default_charset;
	bool refuse_other_types;
	int tz_offset_min;
	/* Where PostgreSQL's notices go (level 0 error .. 3 debug). */
	void (*log)(void *arg, int level, const char *msg);
	void *log_arg;
	uint32_t max_observations; /* OBX per message; more: AE, quarantined */
	/*
	 * lock_timeout of the sessions, 0: INGEST_LOCK_TIMEOUT. A writer beside
	 * another process's (labwatch replay --direct beside labwatchd)
	 * sets it, so that a statement waiting on the other's rows fails
	 * (55P03, retried) instead of waiting forever.
	 */
	int lock_timeout_ms;
	/* Alerts committed by kind and severity (store_alert_index()), or NULL. */
	struct metric *alert_counts;
};

struct ingest *ingest_new(const struct ingest_opts *o, struct rules *r);
void ingest_free(struct ingest *g);
/* Use these rules from the next batch on (the caller frees the old ones). */
void ingest_set_rules(struct ingest *g, struct rules *r);

/*
 * Connect (and migrate) unless connected: INGEST_OK; INGEST_DOWN when the
 * database cannot be reached, INGEST_ERROR when it refuses our schema or
 * statements; *cause (malloc'ed) then says why.
 */
LW_MUSTCHECK enum ingest_rc ingest_connect(struct ingest *g, char **cause);
bool ingest_connected(const struct ingest *g);

/* Read the frame of w (no database); fills the prepare fields. */
void ingest_prepare(struct ingest *g, struct ingest_work *w);
/* Build w's ACK into out; false when the sender asked for none. */
bool ingest_ack(struct ingest *g, struct ingest_work *w, struct buf *out);

/* The SQLSTATE of the last failed statement, "" when none. */
const char *ingest_sqlstate(const struct ingest *g);

/*
 * Write the prepared frames in one transaction. Nothing may be in flight
 * (ingest_start/commit/finish below).
 */
LW_MUSTCHECK enum ingest_rc ingest_batch(struct ingest *g,
    struct ingest_work **w, size_t n, char **cause);

/*
 * The same in three steps, so that two batches overlap: the ingest has two
 * sessions, and while batch A's writes and COMMIT run in one, batch B's
 * round trip 1 runs in the other. The order is always
 *
 *	ingest_start(B);	// round trips 1 and 1b; B's writes sent
 *	ingest_finish();	// A: committed, or failed as ingest_batch
 *	ingest_commit();	// B's COMMIT sent (A must be finished)
 *
 * and B is only committed after A is: if A failed, the caller calls
 * ingest_abort() (B rolled back, nothing of it stays) and writes A and B
 * again one batch at a time. ingest_start returns as ingest_batch does,
 * or INGEST_BUSY when the batch in flight must be finished first (nothing
 * sent: the caches are to be reloaded, and B would read them without A's
 * rows). ingest_finish returns INGEST_OK when nothing is in flight.
 */
LW_MUSTCHECK enum ingest_rc ingest_start(struct ingest *g,
    struct ingest_work **w, size_t n, char **cause);
/*
 * The common case in one round trip: when every patient of the batch with
 * results is known and not enrolled (nothing the database answers but
 * duplicates changes what is written), send the whole transaction, COMMIT
 * included; ingest_finish() lands it like any other. Such a batch depends
 * on no batch in flight, so it may be sent while the one before it
 * commits. INGEST_BUSY: not that case, nothing sent (use ingest_start).
 */
LW_MUSTCHECK enum ingest_rc ingest_send(struct ingest *g,
    struct ingest_work **w, size_t n, char **cause);
LW_MUSTCHECK enum ingest_rc ingest_commit(struct ingest *g, char **cause);
LW_MUSTCHECK enum ingest_rc ingest_finish(struct ingest *g, char **cause);
void ingest_abort(struct ingest *g);

/*
 * Store w alone as quarantined with the given reason (static text), AE
 * (CE), after the database refused it with its batch.
 */
LW_MUSTCHECK enum ingest_rc ingest_quarantine(struct ingest *g,
    struct ingest_work *w, const char *reason, char **cause);

/* Alerts committed since start (not those of batches rolled back). */
uint64_t ingest_alerts(const struct ingest *g);

#endif
