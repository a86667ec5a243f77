/*
 * overlap.h: what a batch has in common with the batch in flight, which
 * decides whether it may start beside it (ingest.c's must_wait) or be
 * sent whole in one round trip (simple_batch).
 */
#ifndef LW_STORE_OVERLAP_H
#define LW_STORE_OVERLAP_H

#include <stdbool.h>
#include <stddef.h>

struct ingest;
struct ingest_work;
struct side;

/* What the cache knows of the patients with results in a batch. */
struct batch_scan {
	size_t nobs;		/* their observations */
	bool unknown;		/* one not cached, or its row not yet known */
	bool enrolled;		/* one followed by the rules */
	bool unlanded;		/* one a batch not landed yet wrote */
	bool enrolled_unlanded; /* both at once */
};

/* The patients of ws's results as the writer's cache knows them. */
void overlap_scan(struct ingest *g, struct ingest_work **ws, size_t n,
    struct batch_scan *sc);

/* Whether a message of ws may insert the same key as one of busy's. */
bool overlap_shares_key(const struct side *busy, struct ingest_work **ws,
    size_t n);

#endif
