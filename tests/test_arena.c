/*
 * test_arena.c: the bump allocator hands out consecutive bytes, keeps its
 * chunks across resets and gives large requests a chunk of their own.
 */
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "lib/arena.h"

Test(arena, alloc_and_reset)
{
	struct arena a = { 0 };
	char *p, *q, *big1, *r;

	p = arena_alloc(&a, 10);
	memcpy(p, "0123456789", 10);
	q = arena_alloc(&a, 5);
	cr_expect_eq(q, p + 10, "bump allocation");
	big1 = arena_alloc(&a, 200000); /* larger than a chunk */
	memset(big1, 'b', 200000);
	cr_expect(memcmp(p, "0123456789", 10) == 0, "earlier bytes kept");
	arena_reset(&a);
	r = arena_alloc(&a, 10);
	cr_expect_eq(r, p, "reset reuses the first chunk");
	r = arena_alloc(&a, 150000);
	cr_expect_eq(r, big1, "and the big chunk after it");
	arena_free(&a);
	cr_expect_null(a.first);
}

/* A freed arena is empty and may be used again. */
Test(arena, free_then_reuse)
{
	struct arena a = { 0 };
	char *p, *q;

	arena_free(&a);			/* an empty arena frees nothing */
	p = arena_alloc(&a, 64 * 1024); /* exactly one chunk */
	memset(p, 'x', 64 * 1024);
	q = arena_alloc(&a, 1); /* the chunk is full: a new one */
	cr_expect(q < p || q >= p + 64 * 1024, "a full chunk moves on");
	*q = 'y';
	cr_expect_eq(p[64 * 1024 - 1], 'x');
	arena_free(&a);
	cr_expect_null(a.first);
	cr_expect_null(a.cur);
	p = arena_alloc(&a, 3);
	cr_expect_not_null(p);
	memcpy(p, "abc", 3);
	arena_free(&a);
}

/* Aligned allocations are aligned, apart and kept, between byte ones. */
Test(arena, aligned)
{
	static const size_t aligns[] = { 1, 2, 8, 16, 64 };
	struct arena a = { 0 };
	char *prev = NULL, *p;
	size_t i, k;

	for (i = 0; i < 5000; i++) {
		k = aligns[i % 5];
		p = arena_alloc_aligned(&a, 24, k);
		cr_assert_eq((uintptr_t)p % k, 0,
		    "allocation %zu aligned to %zu", i, k);
		memset(p, (int)(i & 0x7f), 24);
		if (prev != NULL)
			cr_expect_eq(prev[23], (char)((i - 1) & 0x7f),
			    "allocation %zu left the one before alone", i);
		prev = p;
		(void)arena_alloc(&a, i % 7); /* unaligned bytes between */
	}
	arena_free(&a);
}

/*
 * A huge arena: 8 MiB mapped chunks, filled past one, reused after a
 * reset, a request larger than a chunk in a chunk of its own, freed and
 * usable again (and still huge).
 */
Test(arena, huge)
{
	struct arena a;
	char *first, *p, *big;
	size_t i, n = 0;

	arena_init_huge(&a);
	first = arena_alloc_aligned(&a, 1024, 16);
	memset(first, 1, 1024);
	for (i = 0; i < 12 * 1024; i++, n += 1024) {
		p = arena_alloc_aligned(&a, 1024, 64);
		cr_assert_eq((uintptr_t)p % 64, 0);
		memset(p, 2, 1024);
	}
	cr_expect_eq(first[0], 1, "the first allocation kept");
	cr_expect_not_null(a.first);
	cr_expect_neq(a.first, a.cur, "12 MiB took a second chunk");
	big = arena_alloc(&a, 20u << 20);
	memset(big, 3, 20u << 20);
	arena_reset(&a);
	p = arena_alloc_aligned(&a, 16, 16);
	cr_expect_eq(p, first, "a reset reuses the first chunk");
	arena_free(&a);
	cr_expect_null(a.first);
	cr_expect(a.huge, "a freed huge arena stays huge");
	p = arena_alloc(&a, 3);
	memcpy(p, "abc", 3);
	arena_free(&a);
}

/*
 * Aligned requests larger than a chunk, in a plain arena (malloc'd chunks,
 * 16-byte aligned at best) and a huge one: each gets room for all of its
 * bytes after the padding (a 64 KiB request at 64 once overran its chunk).
 */
Test(arena, aligned_larger_than_a_chunk)
{
	static const size_t sizes[] = { 65536, 65535, 65537, 200000, 64 };
	static const size_t aligns[] = { 64, 32, 16, 64, 64 };
	struct arena a[2];
	char *p;
	size_t i, k;

	memset(&a[0], 0, sizeof a[0]);
	arena_init_huge(&a[1]);
	for (k = 0; k < 2; k++) {
		for (i = 0; i < 5; i++) {
			(void)arena_alloc(&a[k], 3); /* unalign what follows */
			p = arena_alloc_aligned(&a[k], sizes[i], aligns[i]);
			cr_assert_eq((uintptr_t)p % aligns[i], 0);
			memset(p, 'z', sizes[i]); /* ASan: inside the chunk */
		}
		arena_free(&a[k]);
	}
}
