/*
 * test_hash.c: the one string hash (FNV-1a, published test vectors) and
 * the table of keys to pointers: growth, keys that differ in one byte or
 * only in length, the empty key, replacement, and a walk of all values;
 * deletion (the entries after a hole still found, the table bounded when
 * keys come and go).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "lib/hash.h"

Test(hash, fnv1a_vectors)
{
	/* From the FNV reference test suite (64-bit FNV-1a). */
	cr_expect_eq(hash_bytes("", 0), 0xcbf29ce484222325ull);
	cr_expect_eq(hash_bytes("a", 1), 0xaf63dc4c8601ec8cull);
	cr_expect_eq(hash_bytes("foobar", 6), 0x85944171f73967e8ull);
}

Test(hash, table)
{
	enum { N = 10000 };
	static char keys[N][16];
	struct hash_table t;
	size_t i, walked = 0;
	void *v;

	hash_init(&t);
	cr_expect_null(hash_get(&t, "x", 1), "empty table");
	for (i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "MRN%05zu", i);
		cr_expect_null(hash_put(&t, keys[i], strlen(keys[i]), keys[i]));
	}
	cr_expect_eq(t.n, N);
	for (i = 0; i < N; i++)
		cr_expect_eq(hash_get(&t, keys[i], strlen(keys[i])), keys[i],
		    "%s", keys[i]);
	/* A prefix, a longer key, one byte off: not there. */
	cr_expect_null(hash_get(&t, "MRN0000", 7));
	cr_expect_null(hash_get(&t, "MRN000000", 9));
	cr_expect_null(hash_get(&t, "MRN0000/", 8));
	/* Keys are bytes: a NUL inside is part of the key. */
	cr_expect_null(hash_put(&t, "A\0B", 3, keys[1]));
	cr_expect_null(hash_get(&t, "A", 1));
	cr_expect_eq(hash_get(&t, "A\0B", 3), keys[1]);
	/* The empty key is a key. */
	cr_expect_null(hash_put(&t, "", 0, keys[2]));
	cr_expect_eq(hash_get(&t, "", 0), keys[2]);
	/* Replacing returns the value replaced, and counts once. */
	cr_expect_eq(hash_put(&t, keys[5], strlen(keys[5]), keys[6]), keys[5]);
	cr_expect_eq(hash_get(&t, keys[5], strlen(keys[5])), keys[6]);
	cr_expect_eq(t.n, N + 2);
	for (i = 0; (v = hash_next(&t, &i)) != NULL;)
		walked++;
	cr_expect_eq(walked, N + 2);
	hash_free(&t);
	cr_expect_null(hash_get(&t, keys[0], strlen(keys[0])), "freed");
}

Test(hash, del)
{
	enum { N = 5000 };
	static char keys[N][16];
	struct hash_table t;
	size_t i, walked = 0, cap;
	void *v;

	hash_init(&t);
	cr_expect_null(hash_del(&t, "x", 1), "empty table");
	for (i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "P%zu", i);
		hash_put(&t, keys[i], strlen(keys[i]), keys[i]);
	}
	/* Every other key out: the rest still found, the removed not. */
	for (i = 0; i < N; i += 2)
		cr_expect_eq(hash_del(&t, keys[i], strlen(keys[i])), keys[i]);
	cr_expect_null(hash_del(&t, keys[0], strlen(keys[0])), "twice");
	cr_expect_null(hash_del(&t, "P", 1), "never there");
	cr_expect_eq(t.n, N / 2);
	for (i = 0; i < N; i++)
		cr_expect_eq(hash_get(&t, keys[i], strlen(keys[i])),
		    i % 2 ? keys[i] : NULL, "%s", keys[i]);
	for (i = 0; (v = hash_next(&t, &i)) != NULL;)
		walked++;
	cr_expect_eq(walked, N / 2);
	/* Keys coming and going (a replay's patients): the table stays. */
	cap = t.cap;
	for (i = 0; i < 20 * N; i++) {
		size_t k = (i * 7919) % N;

		if (k % 2 == 0) {
			hash_put(&t, keys[k], strlen(keys[k]), keys[k]);
			cr_assert_eq(hash_del(&t, keys[k], strlen(keys[k])),
			    keys[k]);
		}
	}
	cr_expect_eq(t.cap, cap, "no growth: %zu -> %zu", cap, t.cap);
	cr_expect_eq(t.n, N / 2);
	for (i = 1; i < N; i += 2)
		cr_expect_eq(hash_del(&t, keys[i], strlen(keys[i])), keys[i]);
	cr_expect_eq(t.n, 0);
	for (i = 0; i < t.cap; i++)
		cr_expect_null(t.e[i].key, "slot %zu left", i);
	hash_free(&t);
}
