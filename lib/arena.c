/*
 * arena.c: chunks of 64 KiB (or one larger chunk for a larger request),
 * kept across resets so a steady workload stops allocating; an arena made
 * by arena_init_huge() maps chunks of 8 MiB instead and asks for huge
 * pages.
 */
#include "lib/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lib/xmalloc.h"

#define ARENA_CHUNK (64 * 1024)
#define ARENA_HUGE_CHUNK (8 * 1024 * 1024)
#define HUGE_PAGE ((size_t)2 * 1024 * 1024)

struct arena_chunk {
	struct arena_chunk *next;
	size_t cap, used;
	bool mapped; /* munmap(), not free() */
	char data[]; /* no alignment promised: pad() finds it */
};

void
arena_init_huge(struct arena *a)
{
	memset(a, 0, sizeof(*a));
	a->huge = true;
}

/*
 * total bytes mapped at a huge page's boundary (what THP backs is the
 * aligned 2 MiB inside a mapping), NULL when mmap fails: one mapping of
 * HUGE_PAGE more, its ends unmapped.
 */
static void *
map_aligned(size_t total)
{
	char *p = mmap(NULL, total + HUGE_PAGE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t head;

	if (p == MAP_FAILED)
		return NULL;
	head = (size_t)(-(uintptr_t)p & (HUGE_PAGE - 1));
	if (head > 0)
		munmap(p, head);
	munmap(p + head + total, HUGE_PAGE - head);
	return p + head;
}

/*
 * A new chunk of at least n bytes of data: 64 KiB malloc'd, or whole huge
 * pages (8 MiB, more for a larger request) mapped when the arena is huge.
 */
static struct arena_chunk *
chunk_new(const struct arena *a, size_t n)
{
	size_t hdr = sizeof(struct arena_chunk), total;
	struct arena_chunk *c;

	if (a->huge) {
		total = n + hdr > ARENA_HUGE_CHUNK ? n + hdr : ARENA_HUGE_CHUNK;
		total = (total + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
		c = map_aligned(total);
		if (c != NULL) {
			/* Advice only: without THP the chunk is plain pages. */
			(void)madvise(c, total, MADV_HUGEPAGE);
			c->mapped = true;
			goto made;
		}
	}
	total = hdr + (n > ARENA_CHUNK ? n : ARENA_CHUNK);
	c = xmalloc(total);
	c->mapped = false;
made:
	c->next = NULL;
	c->cap = total - hdr;
	c->used = 0;
	return c;
}

/* Bytes to skip in c so that the next allocation is aligned to align. */
static size_t
pad(const struct arena_chunk *c, size_t align)
{
	uintptr_t at = (uintptr_t)(c->data + c->used);

	return (size_t)(-at & (uintptr_t)(align - 1));
}

/* The chunk with room for n bytes at alignment align, made current. */
static struct arena_chunk *
room(struct arena *a, size_t n, size_t align)
{
	struct arena_chunk *c, *last;

	while (a->cur != NULL &&
	    a->cur->cap - a->cur->used < n + pad(a->cur, align) &&
	    a->cur->next != NULL) {
		a->cur = a->cur->next;
		a->cur->used = 0;
	}
	if (a->cur == NULL ||
	    a->cur->cap - a->cur->used < n + pad(a->cur, align)) {
		/* Room for n bytes wherever data[] starts. */
		c = chunk_new(a, n + align - 1);
		if (a->first == NULL)
			a->first = c;
		else {
			for (last = a->first; last->next != NULL;
			     last = last->next)
				;
			last->next = c;
		}
		a->cur = c;
	}
	return a->cur;
}

char *
arena_alloc(struct arena *a, size_t n)
{
	struct arena_chunk *c = room(a, n, 1);

	c->used += n;
	return c->data + c->used - n;
}

void *
arena_alloc_aligned(struct arena *a, size_t n, size_t align)
{
	struct arena_chunk *c = room(a, n, align);

	c->used += pad(c, align) + n;
	return c->data + c->used - n;
}

void
arena_reset(struct arena *a)
{
	a->cur = a->first;
	if (a->cur != NULL)
		a->cur->used = 0;
}

void
arena_free(struct arena *a)
{
	struct arena_chunk *c, *next;

	for (c = a->first; c != NULL; c = next) {
		next = c->next;
		if (c->mapped)
			munmap(c, sizeof(*c) + c->cap);
		else
			free(c);
	}
	a->first = a->cur = NULL;
}
