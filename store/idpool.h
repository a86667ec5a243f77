/*
 * idpool.h: ids taken from a sequence ahead of need (a block at a time),
 * so that a batch's rows can refer to each other within one round trip
 * (ingest.c). Writer thread only.
 */
#ifndef LABWATCH_IDPOOL_H
#define LABWATCH_IDPOOL_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store/db.h"

struct ingest;
struct side;

/*
 * The kinds of ids reserved ahead, one pool each (struct ingest's ids[]).
 * The first IDPOOL_NPATIENT are of a patient's rows, whose order labwatch
 * reads: its results (replayed by reevaluate in id order) and its toxicity
 * alerts (the latest episode: sel_open_alerts, episode_standing); the
 * patient cache keeps the highest stored id of each (pcache.last_id).
 */
enum idpool_kind {
	IDPOOL_OBS = 0,
	IDPOOL_ALERTS,
	IDPOOL_NPATIENT,
	IDPOOL_MSGS = IDPOOL_NPATIENT,
	IDPOOL_NKINDS
};

/* Ids reserved from a sequence, used from the end (they ascend). */
struct idpool {
	int64_t *ids;
	size_t n, cap;
};

/* The next reserved id (0 when none is left). */
int64_t idpool_take(struct idpool *pool);
/* The ids the sequence gave (the rows of res) kept, after those left. */
void idpool_add(struct idpool *pool, const PGresult *res);
/*
 * Unless count ids of kind are left in g's pool: count and a block more
 * asked of kind's sequence on d, the answer (Q_IDS) for that pool. Sent,
 * not run.
 */
LW_MUSTCHECK enum db_rc idpool_reserve(struct ingest *g, struct side *d,
    enum idpool_kind kind, size_t count);
void idpool_free(struct idpool *pool);

#endif
