/*
 * history.h: the inside of a patient's history (struct rules_history),
 * shared by protocol.c (the history, eligibility, alert decisions) and
 * hold.c (the imatinib hold / restart state machine). Not for callers
 * outside rules/.
 */
#ifndef LABWATCH_RULES_HISTORY_H
#define LABWATCH_RULES_HISTORY_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/rules_int.h"

/*
 * Entries of a chunk (1 KiB): what a history holds and does not use is
 * less than one. Chunks that doubled left a 56-result history room for
 * 112: over thousands of patients, memory touched for nothing.
 */
#define HISTORY_CHUNK 16
/* The chunks whose pointers the history holds itself (up to 64 results). */
#define HISTORY_CHUNK0 4
struct key_block;

/*
 * A hold derivation carried forward (rules_hold_derive_incr): what it was
 * derived from and the state after its last step. Entries never move (the
 * chunks stay where they are while the history lives), so latest[] and
 * out[].because are pointers into it.
 */
struct hold_memo {
	bool valid;
	const struct rules *r;
	uint64_t gen;  /* the history's gen it was derived at */
	size_t n;      /* the entries it covers, [0, n) */
	int64_t start; /* its start and now */
	int64_t now;
	int64_t last; /* the time of its last step, INT64_MIN: none */
	struct rules_hold_state seed[RULES_MAX_HOLD_RULES];
	const struct rules_entry *latest[RULES_NANALYTES];
	struct rules_hold_derived out[RULES_MAX_HOLD_RULES];
};

/* One memo for the unseeded derivation, one for a seeded (held) one. */
#define HOLD_MEMO_SLOTS 2

/* Per entry: its key's hash and the next entry of its bucket. */
struct key_link {
	uint64_t hash;
	size_t next;
};

struct rules_history {
	/*
	 * What every add reads, first and together: with thousands of
	 * patients, a patient's history is out of the cache when its next
	 * message comes, and each line touched is a wait for memory.
	 */
	size_t n, cap; /* cap: the entries of the chunks so far */
	char *key_at;  /* the free bytes of the newest key block */
	size_t key_left;
	const struct rules *r;
	bool have_base; /* some base[a].known (else eval without) */
	/*
	 * rules_history_keep_for_eligibility(): only entries that
	 * rules_eligibility() at elig_now may use are kept.
	 */
	bool elig_only;
	enum rules_phase phase;
	/*
	 * The entries, in chunks of HISTORY_CHUNK that never move, so a
	 * history grows without copying them (entry_at() finds entry i).
	 * The first chunks' pointers live here (chunk0): one allocation
	 * less a patient, and a cache line the add reads anyway.
	 */
	struct rules_entry **chunk;
	int64_t elig_now;
	size_t nchunks, chunk_slots;
	struct rules_entry *chunk0[HISTORY_CHUNK0];
	struct key_block *keys;
	struct arena *arena; /* rules_history_new_in(): its and keys' memory */
	uint64_t *ids;	     /* the id lists of the last update */
	size_t ids_cap;
	/*
	 * The entries by key, so that a C, D, W or U looks at those of its
	 * key only (a scan of the whole history made one message of N
	 * results cost N^2): per bucket of key hashes the first and last
	 * entry, per entry its hash and the next one in its bucket, in
	 * order; KEY_NONE ends a chain. Built when the first such status
	 * comes (most histories never see one), then extended to the entries
	 * added since at each; the buckets go when the entries outgrow
	 * them and are relinked from the stored hashes.
	 */
	size_t *head, *tail, nbuckets; /* 0 buckets: none yet */
	struct key_link *link;	       /* link_cap >= cap entries, or NULL */
	size_t link_cap;
	size_t nindexed; /* entries [0, nindexed) are linked */
	struct rules_baseline base[RULES_NANALYTES];
	/*
	 * Bumped by every change other than an append (an earlier entry
	 * corrected, retracted or promoted; the phase or a baseline set):
	 * a hold derivation carried forward from before it is void.
	 */
	uint64_t gen;
	struct hold_memo *memo; /* HOLD_MEMO_SLOTS, NULL until the first */
	uint64_t carried, full; /* rules_hold_incr_counts() */
};

/* Entry i (< cap). */
static inline struct rules_entry *
entry_at(const struct rules_history *h, size_t i)
{
	return &h->chunk[i / HISTORY_CHUNK][i % HISTORY_CHUNK];
}

/* A final, numeric, still valid result with a known time no later than at. */
static inline bool
history_usable(const struct rules_entry *e, int64_t at)
{
	return e->final && !e->superseded && !e->retracted &&
	    !isnan(e->value) && e->observed_at >= 0 && e->observed_at <= at;
}

/*
 * Entry e made from ev, whose term (rules_eval_term()) has index term,
 * -1 for none; the key and the flags of later changes are the caller's.
 */
void entry_pack(struct rules_entry *e, const struct rules_eval *ev, int term,
    char status, int64_t observed_at);
/* e's problem (rules_problem_*), NULL for none. */
const char *entry_problem(const struct rules_entry *e);
/* Set e's problem to one of rules_problem_* or NULL. */
void entry_set_problem(struct rules_entry *e, const char *problem);
/* e's comparator as rules_cmp_char() gives it ('=' for none). */
char entry_cmp_char(const struct rules_entry *e);

#endif
