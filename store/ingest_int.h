/*
 * ingest_int.h: what the parts of the ingest share, inside libstore only:
 * the ingest itself, its two sessions, and the helpers that make a
 * batch's statement parameters. The batch state machine is ingest.c;
 * the rows the rules decide for a patient are verdict.c.
 */
#ifndef LABWATCH_INGEST_INT_H
#define LABWATCH_INGEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "hl7/hl7.h"
#include "store/db.h"
#include "store/idpool.h"
#include "store/ingest.h"
#include "store/pcache.h"
#include "store/pgarr.h"
#include "store/pgpipe.h"
#include "store/rows.h"

/* What a query's result is for (struct pgpipe_query's tag). */
enum qtag {
	Q_IGNORE = 0,
	Q_MSGS,
	Q_IDS, /* ids reserved (idpool_reserve): ctx, their pool */
	Q_PATIENT,
	Q_ENROLL,
	Q_HISTORY,
	Q_OPEN_ALERTS,
	Q_VERSION,
	Q_STORED, /* limbo.c's sel_stored */
};

/* Where a session is in a batch; the legal order is set_state()'s. */
enum side_state { SIDE_IDLE = 0, SIDE_STARTED, SIDE_COMMITTING };

/*
 * One of the two sessions. Batches alternate between them, so that one
 * batch's round trip 1 runs in one backend while the batch before it
 * writes and commits in the other.
 */
struct side {
	struct ingest *g;
	int index;
	struct pgpipe pipe;
	enum side_state state;	    /* set_state() only */
	struct ingest_work **batch; /* its batch, for RETURNING ids */
	size_t nbatch;
	size_t nqueued; /* of batch, message rows queued */
	bool ascending; /* their ids ascend (batch_ids_ascend) */
	uint64_t seq;	/* its batch's number (batches land in order) */
	bool simple;	/* sent whole by ingest_send() */
};

struct ingest {
	struct ingest_opts o;
	struct rules *rules;
	struct side sides[2];
	struct pgpipe_error err; /* of the last failed batch */
	bool need_flush;      /* caches to forget once nothing is in flight */
	uint64_t seq, landed; /* batches numbered; the last one finished */
	struct hash_table pc; /* struct pcache by PID-3.1 */
	/*
	 * The patients with results of the batch being started, once each
	 * (touch_patient), with the group each was first seen in, and their
	 * ids as the rows hold them (pids): locked and their versions bumped
	 * in round trip 1, so that several daemons can share the database.
	 */
	struct pcache **touch;
	const struct oru_patient **touch_pat;
	size_t ntouch, captouch;
	struct pgarr pids;
	uint64_t reloads; /* patients another writer wrote: reloaded */
	struct idpool ids[IDPOOL_NKINDS];
	struct rows rows;   /* the batch's message and observation rows */
	struct arena arena; /* parameter strings of a batch */
	struct buf tmp, tmp2;
	uint64_t alerts;
	uint64_t ack_seq;
};

/* A parameter: p[0..len) made safe (text_sanitize), in the batch arena. */
const char *ingest_pstr(struct ingest *g, const char *p, size_t len);
/* A number as a parameter, in the batch arena. */
const char *ingest_pint(struct ingest *g, int64_t v);
/* A buffer's text as a parameter, in the batch arena. */
const char *ingest_pbuf(struct ingest *g, const struct buf *b);
/* x's correction key (oru_result_key), sanitised, in the batch arena. */
const char *ingest_order_key(struct ingest *g, const struct oru_msg *o,
    const struct oru_obs *x, size_t *len);
/* Send a prepared statement with text parameters on d. */
LW_MUSTCHECK enum db_rc ingest_send_stmt(struct side *d, const char *stmt,
    int n, const char *const *v, enum qtag tag, void *ctx);

/*
 * Round trip 2 for one patient group of one message (w went in): its
 * observation rows, and the alerts, verdicts and state updates the rules
 * decide, sent on d. DB_ERROR when the patient's row is missing.
 */
LW_MUSTCHECK enum db_rc verdict_rows(struct ingest *g, struct side *d,
    struct ingest_work *w, const struct oru_patient *pat);

#endif
