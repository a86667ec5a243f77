/*
 * arena.c: chunks of 64 KiB (or one larger chunk for a larger request),
 * kept across resets so a steady workload stops allocating.
 */
#include "lib/arena.h"

#include <stdlib.h>

#include "lib/xmalloc.h"

#define ARENA_CHUNK (64 * 1024)

struct arena_chunk {
	struct arena_chunk *next;
	size_t cap, used;
	char data[];
};

char *
arena_alloc(struct arena *a, size_t n)
{
	struct arena_chunk *c, *last;
	size_t cap;

	while (a->cur != NULL && a->cur->cap - a->cur->used < n &&
	    a->cur->next != NULL) {
		a->cur = a->cur->next;
		a->cur->used = 0;
	}
	if (a->cur == NULL || a->cur->cap - a->cur->used < n) {
		cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
		c = xmalloc(sizeof(*c) + cap);
		c->next = NULL;
		c->cap = cap;
		c->used = 0;
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
	c = a->cur;
	c->used += n;
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
		free(c);
	}
	a->first = a->cur = NULL;
}
