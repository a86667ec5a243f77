/*
 * overlap.c: what a batch has in common with the batch in flight.
 */
#include "store/overlap.h"

#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
#include "lib/xmalloc.h"
#include "store/ingest_int.h"
#include "store/pcache.h"
#include "store/text.h"

void
overlap_scan(struct ingest *g, struct ingest_work **ws, size_t n,
    struct batch_scan *sc)
{
	const struct oru_patient *pat;
	struct pcache *p;
	size_t i;
	uint32_t j;

	memset(sc, 0, sizeof(*sc));
	for (i = 0; i < n; i++) {
		if (ws[i]->quarantine || ws[i]->ignored || !ws[i]->parsed)
			continue;
		for (j = 0; j < ws[i]->oru.npatients; j++) {
			pat = &ws[i]->oru.patients[j];
			if (pat->nobs == 0)
				continue;
			sc->nobs += pat->nobs;
			p = pcache_get(&g->pc, pat->id.p, pat->id.len, false);
			if (p == NULL) {
				sc->unknown = true;
				continue;
			}
			sc->unknown |= p->db_id == 0 || p->pending;
			sc->enrolled |= p->enrolled;
			sc->unlanded |= p->seq > g->landed;
			sc->enrolled_unlanded |= p->enrolled &&
			    p->seq > g->landed;
		}
	}
}

/*
 * w's key in the unique index messages_identity, as its row will hold it
 * (text_key_form) into out, or NULL when its row cannot meet that index
 * (quarantined rows are not in it; a NULL control id meets nothing).
 * Only MSH-10 is taken: two keys that differ in it never conflict, and
 * holding back a batch for a lookalike costs only overlap.
 */
static const char *
message_key(const struct ingest_work *w, char *out)
{
	const struct hl7_str *c = &w->oru.control_id;

	if (w->quarantine || !w->parsed || c->len == 0)
		return NULL;
	out[text_key_form(out, c->p, c->len, TEXT_MAX_ID)] = '\0';
	return out;
}

/*
 * Whether a message of ws may insert the same key as one of busy's batch.
 *
 * A batch started with a batch in flight (busy) holds its message rows
 * uncommitted, idle in its transaction, until the writer has finished
 * busy and sent its COMMIT. Busy's statements are all sent, but the
 * server may not have run them yet: a batch sent in one round trip
 * (ingest_send) inserts its message rows only when its backend gets to
 * them. Were the same message (a resend on another connection while the
 * first copy is in flight) in both, the started batch could take the key
 * first; busy's INSERT would then wait on it, the writer on busy, and the
 * started batch on the writer: a wait PostgreSQL cannot see (one side is
 * idle, not waiting on a lock), so every write stops for good. The batch
 * waits for busy to land instead; its copy is then a plain duplicate.
 */
bool
overlap_shares_key(const struct side *busy, struct ingest_work **ws, size_t n)
{
	char a[3 * TEXT_MAX_ID + 72], *k;
	struct hash_table keys;
	size_t i;
	bool shared = false;

	/* busy's keys in a table once: linear, not n x m compares. */
	hash_init(&keys);
	for (i = 0; i < busy->nbatch; i++)
		if (message_key(busy->batch[i], a) != NULL &&
		    hash_get(&keys, a, strlen(a)) == NULL) {
			k = xstrdup(a);
			hash_put(&keys, k, strlen(k), k);
		}
	for (i = 0; i < n && !shared; i++)
		shared = message_key(ws[i], a) != NULL &&
		    hash_get(&keys, a, strlen(a)) != NULL;
	i = 0;
	while ((k = hash_next(&keys, &i)) != NULL)
		free(k);
	hash_free(&keys);
	return shared;
}
