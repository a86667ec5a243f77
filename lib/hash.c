/*
 * hash.c: FNV-1a and the table of keys to pointers (see hash.h).
 */
#include "lib/hash.h"

#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"

uint64_t
hash_bytes(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

void
hash_init(struct hash_table *t)
{
	memset(t, 0, sizeof(*t));
}

void
hash_free(struct hash_table *t)
{
	free(t->e);
	hash_init(t);
}

/* The slot of key, or the free slot where it would go (cap > 0). */
static struct hash_entry *
slot(const struct hash_table *t, const char *key, size_t len, uint64_t h)
{
	size_t mask = t->cap - 1, i;
	struct hash_entry *e;

	for (i = (size_t)h & mask;; i = (i + 1) & mask) {
		e = &t->e[i];
		if (e->key == NULL ||
		    (e->hash == h && e->len == len &&
			memcmp(e->key, key, len) == 0))
			return e;
	}
}

static void
grow(struct hash_table *t)
{
	struct hash_table old = *t;
	size_t i;

	t->cap = old.cap ? old.cap * 2 : 64;
	t->e = xcalloc(t->cap, sizeof(*t->e));
	for (i = 0; i < old.cap; i++)
		if (old.e[i].key != NULL)
			*slot(t, old.e[i].key, old.e[i].len,
			    old.e[i].hash) = old.e[i];
	free(old.e);
}

void *
hash_get(const struct hash_table *t, const char *key, size_t len)
{
	struct hash_entry *e;

	if (t->cap == 0)
		return NULL;
	e = slot(t, key, len, hash_bytes(key, len));
	return e->key != NULL ? e->val : NULL;
}

void *
hash_put(struct hash_table *t, const char *key, size_t len, void *val)
{
	uint64_t h = hash_bytes(key, len);
	struct hash_entry *e;
	void *old;

	if ((t->n + 1) * 2 > t->cap)
		grow(t);
	e = slot(t, key, len, h);
	if (e->key != NULL) {
		old = e->val;
		e->key = key; /* the new owner's copy */
		e->val = val;
		return old;
	}
	e->key = key;
	e->len = len;
	e->hash = h;
	e->val = val;
	t->n++;
	return NULL;
}

/* True when slot k lies in the cyclic range (i, j]. */
static bool
between(size_t i, size_t k, size_t j)
{
	return i <= j ? i < k && k <= j : i < k || k <= j;
}

void *
hash_del(struct hash_table *t, const char *key, size_t len)
{
	size_t mask = t->cap - 1, i, j;
	struct hash_entry *e;
	void *val;

	if (t->cap == 0)
		return NULL;
	e = slot(t, key, len, hash_bytes(key, len));
	if (e->key == NULL)
		return NULL;
	val = e->val;
	/* linear probing: pull back the entries whose probe passed i */
	i = (size_t)(e - t->e);
	for (j = (i + 1) & mask; t->e[j].key != NULL; j = (j + 1) & mask) {
		if (between(i, (size_t)t->e[j].hash & mask, j))
			continue; /* its home is after the hole: it stays */
		t->e[i] = t->e[j];
		i = j;
	}
	memset(&t->e[i], 0, sizeof(t->e[i]));
	t->n--;
	return val;
}

void *
hash_next(const struct hash_table *t, size_t *i)
{
	while (*i < t->cap) {
		struct hash_entry *e = &t->e[(*i)++];

		if (e->key != NULL)
			return e->val;
	}
	return NULL;
}
