/*
 * arena.h: a bump allocator for short-lived bytes (decoded HL7 text, the
 * parameter strings of a database batch). The owner embeds it zeroed,
 * resets it per unit of work (the memory is kept) and frees it once.
 * Allocations are not aligned: it hands out bytes for strings.
 */
#ifndef LABWATCH_ARENA_H
#define LABWATCH_ARENA_H

#include <stddef.h>

struct arena_chunk;

/* Bump allocator; zero-initialised means empty. */
struct arena {
	struct arena_chunk *first; /* all chunks, in order */
	struct arena_chunk *cur;   /* chunk being filled */
};

/* n bytes valid until the next reset or free; never NULL (xmalloc). */
char *arena_alloc(struct arena *a, size_t n);
/* Forget all allocations, keeping the memory for reuse. */
void arena_reset(struct arena *a);
/* Free all memory of the arena; it is empty (and reusable) afterwards. */
void arena_free(struct arena *a);

#endif
