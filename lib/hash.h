/*
 * hash.h: the one string hash of labwatch (FNV-1a, 64 bits), and a table
 * of byte-string keys to pointers built on it, for the patients of the
 * writer (store/pcache.c) and of `labwatch check`, and the analyte codes
 * of the rules.
 */
#ifndef LABWATCH_HASH_H
#define LABWATCH_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* FNV-1a of p[0..len). */
uint64_t hash_bytes(const void *p, size_t len);

/*
 * Keys to pointers, open addressing. The table does not copy keys: each
 * entry's key must stay valid while it is in the table (the value
 * usually owns it). Slots are found again after the table grows, so keep
 * values, not slot addresses. Owned by whoever embeds it.
 */
struct hash_table {
	struct hash_entry *e; /* cap slots; key NULL: free */
	size_t n, cap;
};

struct hash_entry {
	const char *key;
	size_t len;
	uint64_t hash;
	void *val;
};

/* An empty table (no allocation until the first put). */
void hash_init(struct hash_table *t);
/* Free the slots (not the keys or values). */
void hash_free(struct hash_table *t);
/* The value of key, or NULL. */
void *hash_get(const struct hash_table *t, const char *key, size_t len);
/*
 * Set key (which must stay valid) to val, replacing any value it had;
 * returns the value replaced, or NULL.
 */
void *hash_put(struct hash_table *t, const char *key, size_t len, void *val);
/*
 * Remove key; returns its value, or NULL when it was not there. Slots
 * after it move back (no tombstones), so a table that keys come and go
 * in stays as small as the keys it holds; hash_next's order changes.
 */
void *hash_del(struct hash_table *t, const char *key, size_t len);
/*
 * The values in slot order: start with *i = 0; NULL when there are no
 * more.
 */
void *hash_next(const struct hash_table *t, size_t *i);

#endif
