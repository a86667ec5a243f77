/*
 * protocol.c: a patient's results over time: corrections and retractions,
 * baselines, screening eligibility, toxicity alert decisions and the
 * imatinib hold / restart state machine.
 */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
#include "lib/xmalloc.h"
#include "rules/rules_int.h"

#define KEY_NONE SIZE_MAX
/* Entries of a history's first chunk; chunk k holds HISTORY_CAP0 << k. */
#define HISTORY_CAP0 16
/* Memory runs out long before: chunk 40 alone would be 2^44 entries. */
#define HISTORY_MAX_CHUNKS 48
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
	enum rules_phase phase;
	/*
	 * The entries, in chunks that never move: chunk k holds
	 * HISTORY_CAP0 << k of them, so a history grows without copying
	 * (entry_at() finds entry i).
	 */
	struct rules_entry *chunk[HISTORY_MAX_CHUNKS];
	size_t nchunks;
	struct key_block *keys;
	uint64_t *ids; /* the id lists of the last update */
	size_t ids_cap;
	/*
	 * The entries by key, so that a C, D, W or U looks at those of its
	 * key only (a scan of the whole history made one message of N
	 * results cost N^2): per bucket of key hashes the first and last
	 * entry, per entry its hash and the next one in its bucket, in
	 * order; KEY_NONE ends a chain. Built when the first such status
	 * comes (most histories never see one), then extended to the entries
	 * added since at each; the buckets go when the entries grow and are
	 * relinked from the stored hashes.
	 */
	size_t *head, *tail, nbuckets; /* 0 buckets: none yet */
	struct key_link *link;	       /* cap entries, or NULL */
	size_t nindexed;	       /* entries [0, nindexed) are linked */
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

/* Entry i (< cap): chunk k holds entries from HISTORY_CAP0 * (2^k - 1). */
static inline struct rules_entry *
entry_at(const struct rules_history *h, size_t i)
{
	/* k = floor(log2(i / HISTORY_CAP0 + 1)) */
	unsigned k = 63 -
	    (unsigned)__builtin_clzll(
		(unsigned long long)(i / HISTORY_CAP0 + 1));

	return &h->chunk[k][i - HISTORY_CAP0 * (((size_t)1 << k) - 1)];
}

/* How many entries chunk k holds so far. */
static inline size_t
chunk_used(const struct rules_history *h, size_t k)
{
	size_t first = HISTORY_CAP0 * (((size_t)1 << k) - 1);
	size_t size = (size_t)HISTORY_CAP0 << k;

	return h->n <= first ? 0 : h->n - first < size ? h->n - first : size;
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

struct rules_history *
rules_history_new(const struct rules *r, enum rules_phase phase)
{
	struct rules_history *h = xcalloc(1, sizeof *h);
	int a;

	h->r = r;
	h->phase = phase;
	for (a = 0; a < RULES_NANALYTES; a++)
		h->base[a].uln = NAN;
	return h;
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
	for (i = 0; i < h->nchunks; i++)
		free(h->chunk[i]);
	free(h->ids);
	free(h->head);
	free(h->tail);
	free(h->link);
	free(h->memo);
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

/* A final, numeric, still valid result with a known time no later than at. */
static bool
usable(const struct rules_entry *e, int64_t at)
{
	return e->ev.final && !e->superseded && !e->retracted &&
	    !isnan(e->ev.value) && e->observed_at >= 0 && e->observed_at <= at;
}

/* A final, still valid result, evaluable or not, known no later than at. */
static bool
final_in(const struct rules_entry *e, int64_t at)
{
	return e->ev.final && !e->superseded && !e->retracted &&
	    e->observed_at >= 0 && e->observed_at <= at;
}

/* Is e a result of analyte a, or a code conflict naming it? */
static bool
names(const struct rules_entry *e, enum rules_analyte a)
{
	return e->ev.analyte == a ||
	    (e->ev.analyte == RULES_NONE && (e->ev.conflict >> a & 1u));
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
			if (e->ev.analyte != a || !usable(e, at))
				continue;
			/* Ties go to the later arrival. */
			if (best == NULL || e->observed_at >= best->observed_at)
				best = e;
		}
	}
	return best;
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
		    e->ev.problem == rules_problem_range_unreadable)
			continue;
		rules_history_set_baseline(h, a, e->ev.value, e->ev.uln);
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

	if (h->key_left < len + 1) {
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

	if (h->link == NULL)
		h->link = xreallocarray(NULL, h->cap, sizeof *h->link);
	if (h->nbuckets == 0) {
		/* A power of 2 above cap, HISTORY_CAP0 * (2^nchunks - 1). */
		h->nbuckets = (size_t)HISTORY_CAP0 << h->nchunks;
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
 * Room for entry n: a new chunk as large as all before and 16 more (the
 * links, if any, grow to match); the buckets go, to be rebuilt by
 * key_index() for the new capacity.
 */
static void
history_grow(struct rules_history *h)
{
	size_t size;

	if (h->n < h->cap)
		return;
	size = (size_t)HISTORY_CAP0 << h->nchunks;
	h->chunk[h->nchunks++] = xreallocarray(NULL, size, sizeof **h->chunk);
	h->cap += size;
	if (h->link != NULL)
		h->link = xreallocarray(h->link, h->cap, sizeof *h->link);
	free(h->head);
	free(h->tail);
	h->head = h->tail = NULL;
	h->nbuckets = 0;
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

void
rules_history_add_mapped(struct rules_history *h, const struct rules_result *in,
    const struct rules_mapping *m, const char *key, size_t key_len,
    struct rules_update *up)
{
	static const uint64_t no_ids[1];
	struct rules_entry *e, *old;
	const uint64_t *ids;
	uint64_t hash;
	size_t i, nids = 0, nsup = 0, nret = 0, npro = 0;
	char st = in->status;

	history_grow(h);
	e = entry_at(h, h->n);
	memset(e, 0, sizeof *e);
	/* An unknown baseline counts as none: skip reading them. */
	rules_eval_mapped(h->r, in, m, h->have_base ? h->base : NULL, &e->ev);
	e->status = st;
	e->observed_at = in->observed_at;
	e->key = key_store(h, key, key_len);
	e->key_len = key_len;

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
				ids_push(h, &nids, old->ev.id);
				nsup++;
			} else if (st == 'D' || st == 'W') {
				old->retracted = true;
				ids_push(h, &nids, old->ev.id);
				nret++;
			} else {
				if (old->superseded || old->ev.final)
					continue;
				if (old->status != 'P' && old->status != 'R' &&
				    old->status != 'S')
					continue;
				old->status = 'F';
				old->ev.final = true;
				if (old->ev.problem == rules_problem_not_final)
					old->ev.problem = NULL;
				ids_push(h, &nids, old->ev.id);
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
	h->n++;
	/*
	 * A patient's results come in runs (one message, one panel): ask for
	 * the next entry's cache lines now, so that writing it does not wait
	 * for memory (the histories of thousands of patients are not cached).
	 */
	if (h->n < h->cap) {
		const char *next = (const char *)entry_at(h, h->n);

		__builtin_prefetch(next, 1);
		__builtin_prefetch(next + 64, 1);
		__builtin_prefetch(next + sizeof *e - 1, 1);
	}

	ids = h->ids != NULL ? h->ids : no_ids;
	up->entry = e;
	up->superseded = ids;
	up->nsuperseded = nsup;
	up->retracted = ids + nsup;
	up->nretracted = nret;
	up->promoted = ids + nsup + nret;
	up->npromoted = npro;
}

void
rules_eligibility(const struct rules *r, const struct rules_history *h,
    int64_t now, struct rules_eligibility_result *out)
{
	const struct rules_entry *best[RULES_MAX_CRITERIA] = { NULL }, *e;
	struct rules_criterion_verdict *v;
	bool fail = false, missing = false;
	size_t i, k, j, m,
	    nc = r->ncriteria < RULES_MAX_CRITERIA ? r->ncriteria :
						     RULES_MAX_CRITERIA;

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
			if (!final_in(e, now) ||
			    e->observed_at < now - r->window)
				continue;
			/* Only F and C count (a U promoted to F too). */
			if (e->status != 'F' && e->status != 'C' &&
			    e->status != 'U')
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
			v->verdict = best[i]->ev.eligibility;
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

size_t
rules_hold_count(const struct rules *r)
{
	return r->nholds;
}

const char *
rules_hold_name(const struct rules *r, size_t i)
{
	return i < r->nholds ? r->holds[i].name : NULL;
}

void
rules_hold_restart_text(const struct rules *r, size_t i, char *out, size_t cap)
{
	const struct rules_hold_cond *hc;
	const char *op, *ref;
	size_t k, len = 0;
	int n;

	if (cap > 0)
		out[0] = '\0';
	if (i >= r->nholds)
		return;
	for (k = 0; k < r->holds[i].nrestart && len < cap; k++) {
		hc = &r->holds[i].restart[k];
		op = hc->cond.op == 'l' ? "<=" :
		    hc->cond.op == 'g'	? ">=" :
		    hc->cond.op == '<'	? "<" :
					  ">";
		ref = hc->cond.ref == REF_ULN ? "x ULN" :
		    hc->cond.ref == REF_LLN   ? "x LLN" :
		    hc->cond.ref == REF_BASE  ? "x baseline" :
						rules_canonical_unit(r,
						    hc->analyte);
		n = snprintf(out + len, cap - len, "%s%s %s %g %s",
		    k > 0 ? ", " : "", rules_analyte_name(hc->analyte), op,
		    hc->cond.mult, ref != NULL ? ref : "");
		if (n < 0)
			break;
		len += (size_t)n;
	}
}

static enum rules_tri
entry_cond(const struct rules_entry *e, const struct rules_cond *c)
{
	struct rules_val x;

	x.v = e->ev.value;
	x.cmp = rules_cmp_char(e->ev.comparator);
	x.lln = e->ev.lln;
	x.uln = e->ev.uln;
	x.base = NULL;
	return rules_cond_eval(c, &x);
}

double
rules_hold_restart_dose(const struct rules *r, size_t i, unsigned stops)
{
	if (i >= r->nholds)
		return NAN;
	if (stops > 1 && !isnan(r->holds[i].recurrence_mg))
		return r->holds[i].recurrence_mg;
	return r->holds[i].restart_mg;
}

double
rules_hold_resume_dose(const struct rules *r, size_t i, unsigned stops,
    const struct rules_hold_derived *dv)
{
	double mg = rules_hold_restart_dose(r, i, stops), other;
	size_t j;

	for (j = 0; j < r->nholds && i < r->nholds; j++) {
		if (j == i || dv[j].resumed_at < 0 ||
		    (dv[i].resumed_at >= 0 &&
			dv[j].resumed_at > dv[i].resumed_at))
			continue;
		other = rules_hold_restart_dose(r, j, dv[j].stops);
		if (!isnan(other) && (isnan(mg) || other < mg))
			mg = other;
	}
	return mg;
}

/* The stop line of rule crossed by the latest results, NULL when none. */
static const struct rules_entry *
hold_crossed(const struct rules_hold_rule *rule,
    const struct rules_entry *const *latest)
{
	const struct rules_entry *e;
	size_t j;

	for (j = 0; j < rule->nstop; j++) {
		e = latest[rule->stop[j].analyte];
		if (e != NULL && entry_cond(e, &rule->stop[j].cond) == TRI_TRUE)
			return e;
	}
	return NULL;
}

/*
 * Every analyte of the restart row, re-measured after the hold, is back.
 * "After" is observed strictly after the stop's time: a value taken at
 * the stop's instant (the AST of the message whose ALT stops) was
 * measured with the stop, not back since (CLINICAL.md "A restart needs
 * every value of its row to be back"); keeping the hold is the safe side.
 */
static bool
hold_back(const struct rules_hold_rule *rule,
    const struct rules_entry *const *latest, int64_t since)
{
	const struct rules_entry *e;
	size_t j;

	for (j = 0; j < rule->nrestart; j++) {
		e = latest[rule->restart[j].analyte];
		/*
		 * Never back on a result whose lab range cannot be read
		 * (CLINICAL.md). A stop on one is kept: the label's counts
		 * (ANC < 1.0, platelets < 50) are absolute, and stopping is
		 * the safe side.
		 */
		if (e == NULL || e->observed_at <= since ||
		    e->ev.problem == rules_problem_range_unreadable ||
		    entry_cond(e, &rule->restart[j].cond) != TRI_TRUE)
			return false;
	}
	return true;
}

size_t
rules_hold_step(const struct rules *r, const struct rules_history *h,
    int64_t now, struct rules_hold_state *state, struct rules_hold_event *ev,
    size_t cap)
{
	const struct rules_entry *latest[RULES_NANALYTES], *e;
	size_t i, n = 0;
	int a;

	if (h->phase != RULES_PHASE_TREATMENT)
		return 0;
	for (a = 0; a < RULES_NANALYTES; a++)
		latest[a] = rules_history_latest(h, a, now);
	for (i = 0; i < r->nholds; i++) {
		e = NULL;
		if (!state[i].held) {
			if ((e = hold_crossed(&r->holds[i], latest)) == NULL)
				continue;
			state[i].held = true;
			state[i].since = e->observed_at;
		} else if (hold_back(&r->holds[i], latest, state[i].since))
			state[i].held = false;
		else
			continue;
		if (n < cap) {
			ev[n].kind = state[i].held ? RULES_HOLD_STOP :
						     RULES_HOLD_RESUME;
			ev[n].rule = i;
			ev[n].rule_name = r->holds[i].name;
			ev[n].because = state[i].held ? e : NULL;
		}
		n++;
	}
	return n < cap ? n : cap;
}

/* A result to replay: its time, then its place in the history. */
struct replay_at {
	int64_t t;
	size_t i;
};

static int
replay_cmp(const void *a, const void *b)
{
	const struct replay_at *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * Sort by replay_cmp: a message's few results by insertion (in order
 * already, most often: one pass), qsort beyond.
 */
static void
replay_sort(struct replay_at *at, size_t m)
{
	struct replay_at x;
	size_t i, j;

	if (m > 16) {
		qsort(at, m, sizeof *at, replay_cmp);
		return;
	}
	for (i = 1; i < m; i++) {
		x = at[i];
		for (j = i; j > 0 && replay_cmp(&at[j - 1], &x) > 0; j--)
			at[j] = at[j - 1];
		at[j] = x;
	}
}

/* Step rule i of the derived state over the latest results at time t. */
static void
derive_step(const struct rules_hold_rule *rule,
    const struct rules_entry *const *latest, int64_t t,
    struct rules_hold_derived *d)
{
	const struct rules_entry *e;

	if (!d->held) {
		if ((e = hold_crossed(rule, latest)) == NULL)
			return;
		d->held = true;
		d->since = e->observed_at;
		d->because = e;
		d->stops++;
	} else if (hold_back(rule, latest, d->since)) {
		d->held = false;
		d->because = NULL;
		d->resumed_at = t;
	}
}

void
rules_hold_derive(const struct rules *r, const struct rules_history *h,
    int64_t start, int64_t now, struct rules_hold_derived *out)
{
	rules_hold_derive_held(r, h, start, now, NULL, out);
}

/* The derived state before any step: nothing held, or the seed's holds. */
static void
derive_init(const struct rules *r, const struct rules_history *h,
    const struct rules_hold_state *held, struct rules_hold_derived *out)
{
	size_t i;

	for (i = 0; i < r->nholds; i++) {
		memset(&out[i], 0, sizeof out[i]);
		out[i].since = -1;
		out[i].resumed_at = -1;
		if (held != NULL && held[i].held &&
		    h->phase == RULES_PHASE_TREATMENT) {
			out[i].held = true;
			out[i].since = held[i].since;
			out[i].stops = 1;
		}
	}
}

/* Results replayed without allocating: a message's worth and more. */
#define REPLAY_SMALL 64

/*
 * Replay the usable results of entries [from, h->n) observed in
 * [start, now] in (observed time, arrival) order over latest[] and out[],
 * one step at each new time; *last is the time of the last step
 * (INT64_MIN before any). False, and nothing changed, when one of them is
 * observed at or before *last: the step at that time would change, and
 * only a replay from the start gives the same result.
 */
static bool
derive_replay(const struct rules *r, const struct rules_history *h, size_t from,
    int64_t start, int64_t now, const struct rules_entry **latest,
    int64_t *last, struct rules_hold_derived *out)
{
	struct replay_at small[REPLAY_SMALL], *at = small;
	const struct rules_entry *e;
	size_t i, k, m = 0;
	bool ok = true;

	if (h->n - from > REPLAY_SMALL)
		at = xreallocarray(NULL, h->n - from, sizeof *at);
	for (i = from; i < h->n && ok; i++) {
		e = entry_at(h, i);
		if (e->ev.analyte == RULES_NONE || !usable(e, now) ||
		    e->observed_at < start)
			continue;
		ok = e->observed_at > *last;
		at[m].t = e->observed_at;
		at[m++].i = i;
	}
	if (ok && m > 0) {
		replay_sort(at, m);
		/* All results of one time, then one step: as rules_hold_step. */
		for (k = 0; k < m;) {
			do {
				e = entry_at(h, at[k].i);
				latest[e->ev.analyte] = e;
			} while (++k < m && at[k].t == at[k - 1].t);
			for (i = 0; i < r->nholds; i++)
				derive_step(&r->holds[i], latest, at[k - 1].t,
				    &out[i]);
		}
		*last = at[m - 1].t;
	}
	if (at != small)
		free(at);
	return ok;
}

void
rules_hold_derive_held(const struct rules *r, const struct rules_history *h,
    int64_t start, int64_t now, const struct rules_hold_state *held,
    struct rules_hold_derived *out)
{
	const struct rules_entry *latest[RULES_NANALYTES] = { NULL };
	int64_t last = INT64_MIN;

	derive_init(r, h, held, out);
	if (h->phase != RULES_PHASE_TREATMENT || h->n == 0)
		return;
	/* From the first entry nothing is at or before INT64_MIN. */
	(void)derive_replay(r, h, 0, start, now, latest, &last, out);
}

/*
 * Was m derived from r, start, now and held over h as it stands, but for
 * the entries appended since?
 */
static bool
memo_fits(const struct hold_memo *m, const struct rules *r,
    const struct rules_history *h, int64_t start, int64_t now,
    const struct rules_hold_state *held)
{
	size_t i;
	bool hd;

	if (!m->valid || m->r != r || m->gen != h->gen || m->n > h->n ||
	    m->start != start || m->now != now)
		return false;
	for (i = 0; i < r->nholds; i++) {
		hd = held != NULL && held[i].held;
		if (hd != m->seed[i].held ||
		    (hd && held[i].since != m->seed[i].since))
			return false;
	}
	return true;
}

void
rules_hold_derive_incr(const struct rules *r, struct rules_history *h,
    int64_t start, int64_t now, const struct rules_hold_state *held,
    struct rules_hold_derived *out)
{
	struct hold_memo *m;
	size_t i, slot = 0;

	if (h->phase != RULES_PHASE_TREATMENT) {
		rules_hold_derive_held(r, h, start, now, held, out);
		return;
	}
	for (i = 0; i < r->nholds; i++)
		if (held != NULL && held[i].held)
			slot = 1;
	if (h->memo == NULL)
		h->memo = xcalloc(HOLD_MEMO_SLOTS, sizeof *h->memo);
	m = &h->memo[slot];
	/* Carried forward over the entries appended since, if it can be. */
	if (memo_fits(m, r, h, start, now, held) &&
	    derive_replay(r, h, m->n, start, now, m->latest, &m->last,
		m->out)) {
		m->n = h->n;
		memcpy(out, m->out, r->nholds * sizeof *out);
		h->carried++;
		return;
	}
	h->full++;
	/* Else derived again from the first entry, and kept. */
	memset(m, 0, sizeof *m);
	derive_init(r, h, held, m->out);
	m->last = INT64_MIN;
	(void)derive_replay(r, h, 0, start, now, m->latest, &m->last, m->out);
	m->valid = true;
	m->r = r;
	m->gen = h->gen;
	m->n = h->n;
	m->start = start;
	m->now = now;
	for (i = 0; i < r->nholds; i++)
		if (held != NULL && held[i].held)
			m->seed[i] = held[i];
	memcpy(out, m->out, r->nholds * sizeof *out);
}

void
rules_hold_incr_counts(const struct rules_history *h, uint64_t *carried,
    uint64_t *full)
{
	*carried = h->carried;
	*full = h->full;
}
