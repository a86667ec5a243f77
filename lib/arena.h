/*
 * arena.h: a bump allocator for short-lived bytes (decoded HL7 text, the
 * parameter strings of a database batch) and for memory that lives as
 * long as its owner (the histories of a `labwatch check` run). The owner
 * embeds it zeroed, resets it per unit of work (the memory is kept) and
 * frees it once. arena_alloc() hands out bytes for strings, unaligned;
 * arena_alloc_aligned() memory for structs.
 */
#ifndef LABWATCH_ARENA_H
#define LABWATCH_ARENA_H

#include <stdbool.h>
#include <stddef.h>

struct arena_chunk;

/* Bump allocator; zero-initialised means empty, chunks of 64 KiB. */
struct arena {
	struct arena_chunk *first; /* all chunks, in order */
	struct arena_chunk *cur;   /* chunk being filled */
	bool huge;		   /* arena_init_huge() */
};

/*
 * An empty arena whose chunks are 8 MiB mappings that ask the kernel for
 * transparent huge pages (madvise; plain pages where it gives none): for
 * megabytes that grow over a run and are read at random (thousands of
 * patients' histories), where 4 KiB pages cost a fault each and a TLB
 * miss on most reads.
 */
void arena_init_huge(struct arena *a);
/* n bytes valid until the next reset or free; never NULL (xmalloc). */
char *arena_alloc(struct arena *a, size_t n);
/* arena_alloc, aligned to align (a power of two, at most 64). */
void *arena_alloc_aligned(struct arena *a, size_t n, size_t align);
/* Forget all allocations, keeping the memory for reuse. */
void arena_reset(struct arena *a);
/* Free all memory of the arena; it is empty (and reusable) afterwards. */
void arena_free(struct arena *a);

#endif
