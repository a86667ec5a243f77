/*
 * test_arena.c: the bump allocator hands out consecutive bytes, keeps its
 * chunks across resets and gives large requests a chunk of their own.
 */
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
