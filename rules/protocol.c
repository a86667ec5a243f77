/*
 * protocol.c: a patient's results over time: corrections and retractions,
 * baselines, screening eligibility and toxicity alert decisions (the
 * imatinib hold / restart state machine: hold.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/hash.h"
#include "lib/xmalloc.h"
#include "rules/history.h"
#include "rules/rules_int.h"

#define KEY_NONE SIZE_MAX
/* The first key block, and the size past which blocks stop doubling. */
#define KEY_BLOCK_MIN 256
#define KEY_BLOCK_MAX (64 * 1024)

/*
 * The keys' bytes, in blocks that never move (entries point into them),
 * each block twice the size of the one before: a history's keys cost a
 * few allocations, not one each. Newest block first.
 */
struct key_block {
	struct key_block *next;
	size_t cap;
	char data[];
};

/* A caller broke a contract rules.h states: say which, then abort. */
static void
broken_contract(const char *what)
{
	fprintf(stderr, "labwatch rules: %s (rules.h)\n", what);
	abort();
}

/* How many entries chunk k holds so far. */
static inline size_t
chunk_used(const struct rules_history *h, size_t k)
{
	size_t first = k * HISTORY_CHUNK;

	return h->n <= first		 ? 0 :
	    h->n - first < HISTORY_CHUNK ? h->n - first :
					   HISTORY_CHUNK;
}

const char *
rules_eligibility_name(enum rules_eligibility e)
{
	switch (e) {
	case RULES_ELIGIBLE:
		return "eligible";
	case RULES_INELIGIBLE:
		return "ineligible";
	default:
		return "incomplete";
	}
}

/* A history in h's memory (zeroed), of r in phase, from arena (or none). */
static struct rules_history *
history_init(struct rules_history *h, const struct rules *r,
    enum rules_phase phase, struct arena *arena)
{
	int a;

	memset(h, 0, sizeof *h);
	h->arena = arena;
	h->r = r;
	h->phase = phase;
	h->chunk = h->chunk0;
	h->chunk_slots = HISTORY_CHUNK0;
	for (a = 0; a < RULES_NANALYTES; a++)
		h->base[a].uln = NAN;
	return h;
}

struct rules_history *
rules_history_new(const struct rules *r, enum rules_phase phase)
{
	return history_init(xmalloc(sizeof(struct rules_history)), r, phase,
	    NULL);
}

struct rules_history *
rules_history_new_in(const struct rules *r, enum rules_phase phase,
    struct arena *a)
{
	return history_init(arena_alloc_aligned(a, sizeof(struct rules_history),
				_Alignof(struct rules_history)),
	    r, phase, a);
}

void
rules_history_free(struct rules_history *h)
{
	struct key_block *b, *next;
	size_t i;

	if (h == NULL)
		return;
	for (b = h->keys; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	for (i = 0; i < h->nchunks && h->arena == NULL; i++)
		free(h->chunk[i]);
	if (h->chunk != h->chunk0)
		free(h->chunk);
	free(h->ids);
	free(h->head);
	free(h->tail);
	free(h->link);
	free(h->memo);
	if (h->arena == NULL)
		free(h);
}

void
rules_history_set_phase(struct rules_history *h, enum rules_phase phase)
{
	h->phase = phase;
	h->gen++;
}

enum rules_phase
rules_history_phase(const struct rules_history *h)
{
	return h->phase;
}

void
rules_history_set_baseline(struct rules_history *h, enum rules_analyte a,
    double value, double uln)
{
	int i;

	if (a < 0 || a >= RULES_NANALYTES)
		return;
	h->base[a].known = !isnan(value);
	h->base[a].value = value;
	h->base[a].uln = uln;
	h->gen++;
	h->have_base = false;
	for (i = 0; i < RULES_NANALYTES; i++)
		h->have_base = h->have_base || h->base[i].known;
}

const struct rules_baseline *
rules_history_baselines(const struct rules_history *h)
{
	return h->base;
}

size_t
rules_history_count(const struct rules_history *h)
{
	return h->n;
}

const struct rules_entry *
rules_history_entry(const struct rules_history *h, size_t i)
{
	return i < h->n ? entry_at(h, i) : NULL;
}

/* A final, still valid result, evaluable or not, known no later than at. */
static bool
final_in(const struct rules_entry *e, int64_t at)
{
	return e->final && !e->superseded && !e->retracted &&
	    e->observed_at >= 0 && e->observed_at <= at;
}

/* Is e a result of analyte a, or a code conflict naming it? */
static bool
names(const struct rules_entry *e, enum rules_analyte a)
{
	return e->analyte == a ||
	    (e->analyte == RULES_NONE && (e->conflict >> a & 1u));
}

/* The criteria rules_eligibility() judges. */
static size_t
elig_ncriteria(const struct rules *r)
{
	return r->ncriteria < RULES_MAX_CRITERIA ? r->ncriteria :
						   RULES_MAX_CRITERIA;
}

/* Does e, as it stands, count for rules_eligibility() at now? */
static bool
elig_counts(const struct rules *r, const struct rules_entry *e, int64_t now)
{
	if (!final_in(e, now) || e->observed_at < now - r->window)
		return false;
	/* Only F and C count (a U promoted to F too). */
	return e->status == 'F' || e->status == 'C' || e->status == 'U';
}

/*
 * May rules_eligibility() at now (with rules r) ever rest on e (just
 * added, its flags set), or a later U promote it? Only a U changes an
 * entry's status and final, and only of one not final in P, R or S (a
 * U's own entry is superseded when it promoted one: kept, those decide
 * it); anything else later only supersedes or retracts.
 */
static bool
elig_keeps(const struct rules *r, int64_t now, const struct rules_entry *e)
{
	size_t i, nc = elig_ncriteria(r);

	if (e->superseded || e->retracted)
		return false;
	if (!e->final &&
	    (e->status == 'P' || e->status == 'R' || e->status == 'S'))
		return true;
	if (!elig_counts(r, e, now))
		return false;
	for (i = 0; i < nc; i++)
		if (names(e, r->criteria[i].analyte))
			return true;
	return false;
}

void
rules_history_keep_for_eligibility(struct rules_history *h, int64_t now)
{
	h->elig_only = true;
	h->elig_now = now;
}

const struct rules_entry *
rules_history_latest(const struct rules_history *h, enum rules_analyte a,
    int64_t at)
{
	const struct rules_entry *best = NULL, *e;
	size_t k, j, m;

	for (k = 0; k < h->nchunks; k++) {
		for (j = 0, m = chunk_used(h, k); j < m; j++) {
			e = &h->chunk[k][j];
			if (e->analyte != a || !history_usable(e, at))
				continue;
			/* Ties go to the later arrival. */
			if (best == NULL || e->observed_at >= best->observed_at)
				best = e;
		}
	}
	return best;
}

size_t
rules_history_since(const struct rules_history *h, enum rules_analyte a,
    int64_t from, const struct rules_entry **out, size_t cap)
{
	const struct rules_entry *e;
	size_t k, j, m, n = 0, i;

	for (k = 0; k < h->nchunks; k++) {
		for (j = 0, m = chunk_used(h, k); j < m; j++) {
			e = &h->chunk[k][j];
			if (e->analyte != a || !history_usable(e, INT64_MAX) ||
			    e->observed_at < from)
				continue;
			/* Into place by time; after the equal ones (stable). */
			if (n < cap) {
				for (i = n; i > 0 &&
				     out[i - 1]->observed_at > e->observed_at;
				     i--)
					out[i] = out[i - 1];
				out[i] = e;
			}
			n++;
		}
	}
	return n;
}

int
rules_history_baseline_from(struct rules_history *h, int64_t t)
{
	const struct rules_entry *e;
	int a, n = 0;

	for (a = 0; a < RULES_NANALYTES; a++) {
		e = rules_history_latest(h, a, t - 1);
		/* No baseline judged against a range nobody could read. */
		if (e == NULL ||
		    entry_problem(e) == rules_problem_range_unreadable)
			continue;
		rules_history_set_baseline(h, a, e->value, e->uln);
		n++;
	}
	return n;
}

/* A copy of key (NUL-terminated) in the history's key blocks. */
static char *
key_store(struct rules_history *h, const char *key, size_t len)
{
	struct key_block *b = h->keys;
	size_t cap;
	char *p;

	if (h->arena != NULL) {
		/* The arena's owner frees it: no block to chain. */
		h->key_at = arena_alloc(h->arena, len + 1);
		h->key_left = len + 1;
	} else if (h->key_left < len + 1) {
		if (b == NULL)
			cap = KEY_BLOCK_MIN;
		else
			cap = b->cap < KEY_BLOCK_MAX ? b->cap * 2 : b->cap;
		if (cap < len + 1)
			cap = len + 1;
		b = xmalloc(sizeof *b + cap);
		b->next = h->keys;
		b->cap = cap;
		h->keys = b;
		h->key_at = b->data;
		h->key_left = cap;
	}
	p = h->key_at;
	if (len > 0)
		memcpy(p, key, len);
	p[len] = '\0';
	h->key_at += len + 1;
	h->key_left -= len + 1;
	return p;
}

/* Append entry i, whose key hashes to hash, to its bucket's chain. */
static void
key_link(struct rules_history *h, size_t i, uint64_t hash)
{
	size_t b = (size_t)hash & (h->nbuckets - 1);

	h->link[i].hash = hash;
	h->link[i].next = KEY_NONE;
	if (h->head[b] == KEY_NONE)
		h->head[b] = i;
	else
		h->link[h->tail[b]].next = i;
	h->tail[b] = i;
}

/* Every entry so far on its key's chain, in order. */
static void
key_index(struct rules_history *h)
{
	size_t i;

	if (h->link == NULL) {
		h->link_cap = h->cap;
		h->link = xreallocarray(NULL, h->link_cap, sizeof *h->link);
	}
	if (h->nbuckets == 0) {
		/* A power of 2 above cap, at most twice it. */
		for (h->nbuckets = HISTORY_CHUNK; h->nbuckets <= h->cap;)
			h->nbuckets *= 2;
		h->head = xreallocarray(NULL, h->nbuckets, sizeof *h->head);
		h->tail = xreallocarray(NULL, h->nbuckets, sizeof *h->tail);
		for (i = 0; i < h->nbuckets; i++)
			h->head[i] = KEY_NONE;
		for (i = 0; i < h->nindexed; i++)
			key_link(h, i, h->link[i].hash);
	}
	for (i = h->nindexed; i < h->n; i++)
		key_link(h, i,
		    hash_bytes(entry_at(h, i)->key, entry_at(h, i)->key_len));
	h->nindexed = h->n;
}

/*
 * Room for entry n: one more chunk (the links, if any, grow to match,
 * doubling); when the entries reach the buckets' count, the buckets go,
 * to be rebuilt by key_index() for the new capacity.
 */
static void
history_grow(struct rules_history *h)
{
	if (h->n < h->cap)
		return;
	if (h->nchunks == h->chunk_slots) {
		h->chunk_slots *= 2;
		if (h->chunk == h->chunk0) {
			h->chunk = xreallocarray(NULL, h->chunk_slots,
			    sizeof *h->chunk);
			memcpy(h->chunk, h->chunk0, sizeof h->chunk0);
		} else
			h->chunk = xreallocarray(h->chunk, h->chunk_slots,
			    sizeof *h->chunk);
	}
	h->chunk[h->nchunks++] = h->arena != NULL ?
	    arena_alloc_aligned(h->arena, HISTORY_CHUNK * sizeof **h->chunk,
		_Alignof(struct rules_entry)) :
	    xreallocarray(NULL, HISTORY_CHUNK, sizeof **h->chunk);
	h->cap += HISTORY_CHUNK;
	if (h->link != NULL && h->link_cap < h->cap) {
		h->link_cap = h->link_cap * 2 > h->cap ? h->link_cap * 2 :
							 h->cap;
		h->link = xreallocarray(h->link, h->link_cap, sizeof *h->link);
	}
	if (h->cap >= h->nbuckets) {
		free(h->head);
		free(h->tail);
		h->head = h->tail = NULL;
		h->nbuckets = 0;
	}
}

/* Add id to the lists of this update (nids so far). */
static void
ids_push(struct rules_history *h, size_t *nids, uint64_t id)
{
	if (*nids == h->ids_cap) {
		h->ids_cap = h->ids_cap ? h->ids_cap * 2 : 16;
		h->ids = xreallocarray(h->ids, h->ids_cap, sizeof *h->ids);
	}
	h->ids[(*nids)++] = id;
}

void
rules_history_add(struct rules_history *h, const struct rules_result *in,
    const char *key, size_t key_len, struct rules_update *up)
{
	struct rules_mapping m;

	rules_map_result(h->r, in, &m);
	rules_history_add_mapped(h, in, &m, key, key_len, up);
}

/* The id lists of an update that changed nothing. */
static const uint64_t no_ids[1];

/*
 * Add in, evaluated in up->ev (its term's index: term), under key: the
 * rest of rules_history_add_mapped(). packed: the entry already packed
 * from them, or NULL.
 */
static void
history_add_evaluated(struct rules_history *h, const struct rules_result *in,
    int term, const char *key, size_t key_len, struct rules_update *up,
    const struct rules_entry *packed)
{
	struct rules_entry *e, *old;
	const uint64_t *ids;
	uint64_t hash;
	size_t i, nids = 0, nsup = 0, nret = 0, npro = 0;
	char st = in->status;

	history_grow(h);
	e = entry_at(h, h->n);
	/*
	 * Packed from the evaluation where it is cached (the caller's): a
	 * history keeps 64 bytes a result, not the 96 of the evaluation and
	 * its own.
	 */
	if (packed != NULL)
		*e = *packed;
	else
		entry_pack(e, &up->ev, term, st, in->observed_at);

	/*
	 * Only C, D, W and U change earlier entries, each its own way, so one
	 * walk of the key's chain (earlier entries of the bucket, in order)
	 * fills one of the lists: superseded, retracted or promoted.
	 */
	if (st == 'C' || st == 'D' || st == 'W' || st == 'U') {
		key_index(h);
		hash = hash_bytes(key, key_len);
		for (i = h->head[(size_t)hash & (h->nbuckets - 1)];
		     i != KEY_NONE; i = h->link[i].next) {
			old = entry_at(h, i);
			if (h->link[i].hash != hash ||
			    old->key_len != key_len ||
			    memcmp(old->key, key, key_len) != 0 ||
			    old->retracted)
				continue;
			if (st == 'C') {
				if (old->superseded)
					continue;
				old->superseded = true;
				ids_push(h, &nids, old->id);
				nsup++;
			} else if (st == 'D' || st == 'W') {
				old->retracted = true;
				ids_push(h, &nids, old->id);
				nret++;
			} else {
				if (old->superseded || old->final)
					continue;
				if (old->status != 'P' && old->status != 'R' &&
				    old->status != 'S')
					continue;
				old->status = 'F';
				old->final = true;
				if (entry_problem(old) ==
				    rules_problem_not_final)
					entry_set_problem(old, NULL);
				ids_push(h, &nids, old->id);
				npro++;
			}
		}
	}
	/* Earlier entries changed: no derivation carries forward over it. */
	if (nids > 0)
		h->gen++;
	/* A U that promoted something stands for it; it is not a result itself. */
	if (npro > 0)
		e->superseded = true;
	if (st == 'D' || st == 'W')
		e->retracted = true;
	ids = h->ids != NULL ? h->ids : no_ids;
	up->superseded = ids;
	up->nsuperseded = nsup;
	up->retracted = ids + nsup;
	up->nretracted = nret;
	up->promoted = ids + nsup + nret;
	up->npromoted = npro;
	if (h->elig_only && !elig_keeps(h->r, h->elig_now, e)) {
		/* Its slot and no key: the next add takes them. */
		up->entry = NULL;
		return;
	}
	e->key = key_store(h, key, key_len);
	e->key_len = key_len;
	up->entry = e;
	h->n++;
	/*
	 * A patient's results come in runs (one message, one panel): ask for
	 * the next entry's cache lines now, so that writing it does not wait
	 * for memory (the histories of thousands of patients are not cached).
	 */
	if (h->n < h->cap) {
		const char *next = (const char *)entry_at(h, h->n);

		__builtin_prefetch(next, 1);
		__builtin_prefetch(next + sizeof *e - 1, 1);
	}
}

void
rules_history_add_mapped(struct rules_history *h, const struct rules_result *in,
    const struct rules_mapping *m, const char *key, size_t key_len,
    struct rules_update *up)
{
	int term;

	/* An unknown baseline counts as none: skip reading them. */
	rules_eval_term(h->r, in, m, h->have_base ? h->base : NULL, &up->ev,
	    &term);
	history_add_evaluated(h, in, term, key, key_len, up, NULL);
}

void
rules_history_add_for_eligibility(struct rules_history *h,
    const struct rules *r, int64_t now, const struct rules_result *in,
    const struct rules_mapping *m, const char *key, size_t key_len,
    struct rules_update *up)
{
	struct rules_entry probe;
	const struct rules_entry *packed = NULL;
	char st = in->status;
	int term;

	rules_eval_term(r, in, m, NULL, &up->ev, &term);
	/*
	 * What the history would drop at once and that changes no earlier
	 * entry (only C, D, W and U do) leaves it as it was: not read.
	 */
	if (st != 'C' && st != 'D' && st != 'W' && st != 'U') {
		entry_pack(&probe, &up->ev, term, st, in->observed_at);
		if (!elig_keeps(r, now, &probe)) {
			up->entry = NULL;
			up->superseded = up->retracted = up->promoted = no_ids;
			up->nsuperseded = up->nretracted = up->npromoted = 0;
			return;
		}
		packed = &probe;
	}
	if (!h->elig_only || h->elig_now != now || h->r != r || h->have_base)
		broken_contract(
		    "rules_history_add_for_eligibility: the history "
		    "is not kept for eligibility at this time with these rules");
	history_add_evaluated(h, in, term, key, key_len, up, packed);
}

void
rules_eligibility(const struct rules *r, const struct rules_history *h,
    int64_t now, struct rules_eligibility_result *out)
{
	const struct rules_entry *best[RULES_MAX_CRITERIA] = { NULL }, *e;
	struct rules_criterion_verdict *v;
	bool fail = false, missing = false;
	size_t i, k, j, m, nc = elig_ncriteria(r);

	if (h->elig_only && h->elig_now != now)
		broken_contract("rules_eligibility: the history is kept for "
				"eligibility at another time");

	/*
	 * Per criterion the latest final result of its analyte in the
	 * window (ties to the later arrival), evaluable or not: an older
	 * result never stands in for a newer one that cannot be read (issue
	 * 11). A code conflict is the latest of both analytes it names. One
	 * pass over the history for all criteria, since a long history does
	 * not stay in the cache.
	 */
	for (k = 0; k < h->nchunks; k++) {
		for (j = 0, m = chunk_used(h, k); j < m; j++) {
			e = &h->chunk[k][j];
			if (!elig_counts(r, e, now))
				continue;
			for (i = 0; i < nc; i++)
				if (names(e, r->criteria[i].analyte) &&
				    (best[i] == NULL ||
					e->observed_at >= best[i]->observed_at))
					best[i] = e;
		}
	}
	out->ncriteria = nc;
	for (i = 0; i < nc; i++) {
		v = &out->criteria[i];
		v->analyte = r->criteria[i].analyte;
		v->text = r->criteria[i].text;
		v->verdict = RULES_VERDICT_NONE;
		v->rests_on = best[i];
		if (best[i] != NULL)
			v->verdict = best[i]->eligibility;
		if (v->verdict == RULES_VERDICT_FAIL)
			fail = true;
		else if (v->verdict == RULES_VERDICT_NONE)
			missing = true;
	}
	out->status = fail ? RULES_INELIGIBLE :
	    missing	   ? RULES_INCOMPLETE :
			     RULES_ELIGIBLE;
}

void
rules_alert_decide(const struct rules *r, const struct rules_eval *ev,
    int64_t observed_at, const struct rules_open_alert *open, size_t nopen,
    struct rules_alert_decision *out)
{
	size_t i, top = 0;
	int max = -1;
	bool may_alert;

	out->kind = RULES_ALERT_NONE;
	out->analyte = ev->analyte;
	out->grade = ev->grade;
	out->replaces = 0;
	if (ev->analyte == RULES_NONE)
		return;
	may_alert = ev->final ||
	    (r->alert_preliminary &&
		ev->problem != rules_problem_not_evaluated &&
		ev->problem != rules_problem_retracted &&
		ev->problem != rules_problem_status_unknown);
	if (!may_alert)
		return;
	for (i = 0; i < nopen; i++) {
		if (open[i].analyte == ev->analyte && open[i].grade > max) {
			max = open[i].grade;
			top = i;
		}
	}
	/*
	 * A final result known to be below the alert grade ends the episode
	 * (CLINICAL.md "Alert episodes"); a preliminary one never does, nor
	 * one whose grade is open upward (`<75` platelets may be grade 3-4),
	 * nor one that arrives late, observed before the alert's own result,
	 * nor one whose time is unknown: it cannot be placed after the
	 * alert's result. When the alert's own time is unknown, a result of
	 * known time arriving after it ends it: else nothing ever would (no
	 * command resolves an alert) and the next episode went unalerted.
	 * One that does not end it may still have a problem to report.
	 */
	if (max >= 0 && ev->final && ev->grade >= 0 &&
	    ev->grade < r->alert_grade && !ev->grade_is_minimum) {
		if (observed_at >= 0 &&
		    (open[top].observed_at < 0 ||
			observed_at >= open[top].observed_at)) {
			out->kind = RULES_ALERT_RECOVERED;
			out->replaces = top;
			return;
		}
	} else if (ev->grade >= r->alert_grade) {
		if (max < 0)
			out->kind = RULES_ALERT_TOXICITY;
		else if (ev->grade > max) {
			out->kind = RULES_ALERT_ESCALATE;
			out->replaces = top;
		}
		return;
	}
	/*
	 * A grade known only as a minimum below the alert grade, that may
	 * reach it (`<75` platelets: grade 2, 3-4 not excluded; CLINICAL.md
	 * "Comparators that leave the grade open"): a warning opens an
	 * episode at the known grade, so that an exact grade 3 escalates it
	 * and a result known below the alert grade ends it. Within an episode
	 * at that grade or above it adds nothing. A result that also cannot
	 * be evaluated (no range) keeps its data-quality alert.
	 */
	if (ev->grade_is_minimum && ev->grade >= 0 &&
	    ev->grade_max >= r->alert_grade &&
	    (ev->problem == NULL || ev->problem == rules_problem_not_final)) {
		if (max < 0)
			out->kind = RULES_ALERT_POSSIBLE;
		else if (ev->grade > max) {
			out->kind = RULES_ALERT_ESCALATE;
			out->replaces = top;
		}
		return;
	}
	if (ev->problem != NULL && ev->problem != rules_problem_not_final)
		out->kind = RULES_ALERT_DATA_QUALITY;
}
