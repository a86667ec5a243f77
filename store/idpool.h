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
 * Unless count ids are left: count and a block more asked of the
 * sequence (stmt, its answer tagged tag) on d. Sent, not run.
 */
LW_MUSTCHECK enum db_rc idpool_reserve(struct ingest *g, struct side *d,
    struct idpool *pool, size_t count, const char *stmt, int tag);
void idpool_free(struct idpool *pool);

#endif
