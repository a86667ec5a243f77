/*
 * arena.h: a bump allocator for short-lived bytes (decoded HL7 text, the
 * parameter strings of a database batch). The owner embeds it zeroed,
 * resets it per unit of work (the memory is kept) and frees it once.
 * Allocations are not aligned: it hands out bytes for strings.
 */
#ifndef LABWATCH_ARENA_H
#define LABWATCH_ARENA_H

#include <stddef.h>

struct hl7_arena_chunk;

/* Bump allocator; zero-initialised means empty. */
struct hl7_arena {
	struct hl7_arena_chunk *first;	/* all chunks, in order */
	struct hl7_arena_chunk *cur;	/* chunk being filled */
};

/* n bytes valid until the next reset or free; never NULL (xmalloc). */
char *hl7_arena_alloc(struct hl7_arena *a, size_t n);
/* Forget all allocations, keeping the memory for reuse. */
void hl7_arena_reset(struct hl7_arena *a);
/* Free all memory of the arena; it is empty (and reusable) afterwards. */
void hl7_arena_free(struct hl7_arena *a);

#endif
