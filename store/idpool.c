/*
 * idpool.c: ids reserved ahead from a sequence (see idpool.h).
 */
#include "store/idpool.h"

#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "store/ingest_int.h"

#define ID_BLOCK 4096

/* The statement (rows.c) that reserves ids of each kind. */
static const char *const reserve_stmt[IDPOOL_NKINDS] = {
	[IDPOOL_OBS] = "ids_obs",
	[IDPOOL_ALERTS] = "ids_alert",
	[IDPOOL_MSGS] = "ids_msg",
};

int64_t
idpool_take(struct idpool *pool)
{
	return pool->n > 0 ? pool->ids[--pool->n] : 0;
}

void
idpool_add(struct idpool *pool, const PGresult *res)
{
	size_t i, n = (size_t)PQntuples(res);

	if (pool->n + n > pool->cap) {
		pool->cap = pool->n + n;
		pool->ids = xreallocarray(pool->ids, pool->cap,
		    sizeof(*pool->ids));
	}
	/* Used from the end: store in reverse so ids ascend. */
	memmove(pool->ids + n, pool->ids, pool->n * sizeof(*pool->ids));
	for (i = 0; i < n; i++)
		pool->ids[n - 1 - i] = strtoll(PQgetvalue(res, (int)i, 0), NULL,
		    10);
	pool->n += n;
}

enum db_rc
idpool_reserve(struct ingest *g, struct side *d, enum idpool_kind kind,
    size_t count)
{
	struct idpool *pool = &g->ids[kind];
	const char *v[1];

	if (pool->n >= count)
		return DB_OK;
	v[0] = ingest_pint(g, (int64_t)(count + ID_BLOCK));
	return ingest_send_stmt(d, reserve_stmt[kind], 1, v, Q_IDS, pool);
}

void
idpool_free(struct idpool *pool)
{
	free(pool->ids);
	pool->ids = NULL;
	pool->n = pool->cap = 0;
}
