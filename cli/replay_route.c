/*
 * replay_route.c: a patient's messages on one connection while any is
 * outstanding, else the least loaded one. Binding by a hash of PID-3 for
 * the whole run left the connection with the largest share of the
 * archive setting the pace; this keeps every queue level.
 */
#include "cli/replay_route.h"

#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"

void
replay_route_init(struct replay_route *rt, int nconn)
{
	hash_init(&rt->patients);
	rt->load = xcalloc((size_t)nconn + 1, sizeof(*rt->load));
	rt->nconn = nconn;
	rt->next_pick = 0;
}

void
replay_route_free(struct replay_route *rt)
{
	struct replay_binding *b;
	size_t k;

	for (k = 0; (b = hash_next(&rt->patients, &k)) != NULL;)
		free(b);
	hash_free(&rt->patients);
	free(rt->load);
	rt->load = NULL;
}

/* The connection with the fewest messages queued or in flight. */
static int
least_loaded(const struct replay_route *rt)
{
	int i, k, best = -1, n = rt->nconn;

	/* ties go round, so a slow (--rate) run uses every connection */
	for (i = 0; i < n; i++) {
		k = (rt->next_pick + i) % n;
		if (best < 0 || rt->load[k] < rt->load[best])
			best = k;
	}
	return best;
}

int
replay_route_pick(const struct replay_route *rt, const char *patient,
    size_t plen, struct replay_binding **b)
{
	*b = hash_get(&rt->patients, patient, plen);
	return *b != NULL ? (*b)->conn : least_loaded(rt);
}

struct replay_binding *
replay_route_bind(struct replay_route *rt, struct replay_binding *b, int conn,
    const char *patient, size_t plen)
{
	if (b == NULL) {
		b = xmalloc(sizeof(*b) + plen + 1);
		b->conn = conn;
		b->outstanding = 0;
		b->len = plen;
		memcpy(b->key, patient, plen);
		b->key[plen] = '\0';
		(void)hash_put(&rt->patients, b->key, plen, b);
		rt->next_pick = (conn + 1) % rt->nconn;
	}
	b->outstanding++;
	rt->load[conn]++;
	return b;
}

void
replay_route_done(struct replay_route *rt, struct replay_binding *b)
{
	rt->load[b->conn]--;
	if (--b->outstanding > 0)
		return;
	/* nothing outstanding: its next message may go anywhere */
	(void)hash_del(&rt->patients, b->key, b->len);
	free(b);
}
