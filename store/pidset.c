/*
 * pidset.c: a multiset of patient-id hashes, open addressing with
 * linear probing. Slots are never emptied one by one (a count drops to
 * zero and the key stays), so probing needs no tombstones; the set is
 * emptied whole when the spool is.
 */
#include "pidset.h"

#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
#include "lib/xmalloc.h"

/* The one string hash (lib/hash.h), never 0 (0 marks a free slot). */
static uint64_t
hash(const char *p, size_t len)
{
	uint64_t h = hash_bytes(p, len);

	return h != 0 ? h : 1;
}

void
pidset_init(struct pidset *ps)
{
	memset(ps, 0, sizeof(*ps));
}

void
pidset_free(struct pidset *ps)
{
	free(ps->keys);
	free(ps->counts);
	pidset_init(ps);
}

void
pidset_clear(struct pidset *ps)
{
	if (ps->cap > 0) {
		memset(ps->keys, 0, ps->cap * sizeof(*ps->keys));
		memset(ps->counts, 0, ps->cap * sizeof(*ps->counts));
	}
	ps->used = 0;
}

/* The slot of key, or the free slot where it would go. */
static size_t
slot(const struct pidset *ps, uint64_t key)
{
	size_t i = (size_t)key & (ps->cap - 1);

	while (ps->keys[i] != 0 && ps->keys[i] != key)
		i = (i + 1) & (ps->cap - 1);
	return i;
}

static void
grow(struct pidset *ps)
{
	struct pidset old = *ps;
	size_t i, j;

	ps->cap = old.cap ? old.cap * 2 : 1024;
	ps->keys = xcalloc(ps->cap, sizeof(*ps->keys));
	ps->counts = xcalloc(ps->cap, sizeof(*ps->counts));
	ps->used = 0;
	for (i = 0; i < old.cap; i++)
		if (old.keys[i] != 0 && old.counts[i] > 0) {
			j = slot(ps, old.keys[i]);
			ps->keys[j] = old.keys[i];
			ps->counts[j] = old.counts[i];
			ps->used++;
		}
	free(old.keys);
	free(old.counts);
}

void
pidset_add(struct pidset *ps, const char *pid, size_t len)
{
	uint64_t key = hash(pid, len);
	size_t i;

	if (ps->used * 2 >= ps->cap)
		grow(ps);
	i = slot(ps, key);
	if (ps->keys[i] == 0) {
		ps->keys[i] = key;
		ps->used++;
	}
	ps->counts[i]++;
}

void
pidset_remove(struct pidset *ps, const char *pid, size_t len)
{
	size_t i;

	if (ps->cap == 0)
		return;
	i = slot(ps, hash(pid, len));
	if (ps->keys[i] != 0 && ps->counts[i] > 0)
		ps->counts[i]--;
}

bool
pidset_has(const struct pidset *ps, const char *pid, size_t len)
{
	size_t i;

	if (ps->cap == 0)
		return false;
	i = slot(ps, hash(pid, len));
	return ps->keys[i] != 0 && ps->counts[i] > 0;
}
