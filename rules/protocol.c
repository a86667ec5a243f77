/*
 * protocol.c: a patient's results over time: corrections and retractions,
 * baselines, screening eligibility, toxicity alert decisions and the
 * imatinib hold / restart state machine.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
#include "lib/xmalloc.h"
#include "rules/rules_int.h"

struct rules_history {
	const struct rules *r;
	enum rules_phase phase;
	struct rules_baseline base[RULES_NANALYTES];
	struct rules_entry *e;
	size_t n, cap;
	uint64_t *ids;		/* the id lists of the last update */
	size_t ids_cap;
	/*
	 * The entries by key, so that adding one looks at those of its key
	 * only (a scan of the whole history made one message of N results
	 * cost N^2): per bucket of key hashes the first and last entry, per
	 * entry the next one in its bucket, in order; KEY_NONE ends a chain.
	 */
	size_t *head, *tail, nbuckets;	/* nbuckets a power of 2, >= n */
	size_t *next;			/* cap entries */
};

#define KEY_NONE SIZE_MAX

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
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < h->n; i++)
		free(h->e[i].key);
	free(h->e);
	free(h->ids);
	free(h->head);
	free(h->tail);
	free(h->next);
	free(h);
}

void
rules_history_set_phase(struct rules_history *h, enum rules_phase phase)
{
	h->phase = phase;
}

enum rules_phase
rules_history_phase(const struct rules_history *h)
{
	return h->phase;
}

void
rules_history_set_baseline(struct rules_history *h, enum rules_analyte a, double value,
    double uln)
{
	if (a < 0 || a >= RULES_NANALYTES)
		return;
	h->base[a].known = !isnan(value);
	h->base[a].value = value;
	h->base[a].uln = uln;
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
	return i < h->n ? &h->e[i] : NULL;
}

/* A final, numeric, still valid result with a known time no later than at. */
static bool
usable(const struct rules_entry *e, int64_t at)
{
	return e->ev.final && !e->superseded && !e->retracted && !isnan(e->ev.value) &&
	    e->observed_at >= 0 && e->observed_at <= at;
}

const struct rules_entry *
rules_history_latest(const struct rules_history *h, enum rules_analyte a, int64_t at)
{
	const struct rules_entry *best = NULL;
	size_t i;

	for (i = 0; i < h->n; i++) {
		const struct rules_entry *e = &h->e[i];

		if (e->ev.analyte != a || !usable(e, at))
			continue;
		/* Ties go to the later arrival. */
		if (best == NULL || e->observed_at >= best->observed_at)
			best = e;
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
		if (e == NULL)
			continue;
		rules_history_set_baseline(h, a, e->ev.value, e->ev.uln);
		n++;
	}
	return n;
}

static bool
same_key(const struct rules_entry *e, const char *key, size_t len)
{
	return e->key_len == len && memcmp(e->key, key, len) == 0;
}

static size_t
key_bucket(const struct rules_history *h, const char *key, size_t len)
{
	return (size_t)hash_bytes(key, len) & (h->nbuckets - 1);
}

/* Append entry i to its key's chain. */
static void
key_link(struct rules_history *h, size_t i)
{
	size_t b = key_bucket(h, h->e[i].key, h->e[i].key_len);

	h->next[i] = KEY_NONE;
	if (h->head[b] == KEY_NONE)
		h->head[b] = i;
	else
		h->next[h->tail[b]] = i;
	h->tail[b] = i;
}

/* Room for entry n in the index: more buckets when they are all used. */
static void
key_grow(struct rules_history *h)
{
	size_t i;

	if (h->n < h->nbuckets)
		return;
	h->nbuckets = h->nbuckets ? h->nbuckets * 2 : 16;
	h->head = xreallocarray(h->head, h->nbuckets, sizeof *h->head);
	h->tail = xreallocarray(h->tail, h->nbuckets, sizeof *h->tail);
	for (i = 0; i < h->nbuckets; i++)
		h->head[i] = h->tail[i] = KEY_NONE;
	for (i = 0; i < h->n; i++)
		key_link(h, i);
}

void
rules_history_add(struct rules_history *h, const struct rules_result *in,
    const char *key, size_t key_len, struct rules_update *up)
{
	struct rules_entry *e;
	size_t i, first, nids = 0, nsup = 0, nret = 0, npro = 0;
	char st = in->status;

	/* Every earlier entry may land in one list: size for the worst case. */
	if (h->ids_cap < h->n + 1) {
		h->ids_cap = (h->n + 1) * 2;
		h->ids = xreallocarray(h->ids, h->ids_cap, sizeof *h->ids);
	}
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 16;
		h->e = xreallocarray(h->e, h->cap, sizeof *h->e);
		h->next = xreallocarray(h->next, h->cap, sizeof *h->next);
	}
	key_grow(h);
	first = h->head[key_bucket(h, key, key_len)];
	e = &h->e[h->n];
	memset(e, 0, sizeof *e);
	rules_eval(h->r, in, h->base, &e->ev);
	e->status = st;
	e->observed_at = in->observed_at;
	e->key = xstrndup(key, key_len);
	e->key_len = key_len;

	/*
	 * The lists share h->ids: superseded, then retracted, then promoted.
	 * Earlier entries of the same key are on the chain from first.
	 */
	for (i = first; i != KEY_NONE; i = h->next[i]) {
		struct rules_entry *old = &h->e[i];

		if (!same_key(old, key, key_len) || old->retracted || old->superseded)
			continue;
		if (st == 'C') {
			old->superseded = true;
			h->ids[nids++] = old->ev.id;
			nsup++;
		}
	}
	for (i = first; i != KEY_NONE; i = h->next[i]) {
		struct rules_entry *old = &h->e[i];

		if (!same_key(old, key, key_len) || old->retracted)
			continue;
		if (st == 'D' || st == 'W') {
			old->retracted = true;
			h->ids[nids++] = old->ev.id;
			nret++;
		}
	}
	for (i = first; i != KEY_NONE; i = h->next[i]) {
		struct rules_entry *old = &h->e[i];

		if (st != 'U' || !same_key(old, key, key_len) || old->retracted ||
		    old->superseded || old->ev.final)
			continue;
		if (old->status != 'P' && old->status != 'R' && old->status != 'S')
			continue;
		old->status = 'F';
		old->ev.final = true;
		if (old->ev.problem == rules_problem_not_final)
			old->ev.problem = NULL;
		h->ids[nids++] = old->ev.id;
		npro++;
	}
	/* A U that promoted something stands for it; it is not a result itself. */
	if (npro > 0)
		e->superseded = true;
	if (st == 'D' || st == 'W')
		e->retracted = true;
	key_link(h, h->n);
	h->n++;

	up->entry = e;
	up->superseded = h->ids;
	up->nsuperseded = nsup;
	up->retracted = h->ids + nsup;
	up->nretracted = nret;
	up->promoted = h->ids + nsup + nret;
	up->npromoted = npro;
}

void
rules_eligibility(const struct rules *r, const struct rules_history *h, int64_t now,
    struct rules_eligibility_result *out)
{
	const struct rules_criterion *c;
	struct rules_criterion_verdict *v;
	bool fail = false, missing = false;
	size_t i, k;

	out->ncriteria = 0;
	for (i = 0; i < r->ncriteria && i < RULES_MAX_CRITERIA; i++) {
		const struct rules_entry *best = NULL;

		c = &r->criteria[i];
		v = &out->criteria[out->ncriteria++];
		v->analyte = c->analyte;
		v->text = c->text;
		v->verdict = RULES_VERDICT_NONE;
		v->rests_on = NULL;
		for (k = 0; k < h->n; k++) {
			const struct rules_entry *e = &h->e[k];

			/* Only F and C count for eligibility (a U promoted to F too). */
			if (e->ev.analyte != c->analyte || !usable(e, now) ||
			    e->observed_at < now - r->window)
				continue;
			if (e->status != 'F' && e->status != 'C' && e->status != 'U')
				continue;
			if (best == NULL || e->observed_at >= best->observed_at)
				best = e;
		}
		if (best != NULL) {
			v->rests_on = best;
			v->verdict = best->ev.eligibility;
		}
		if (v->verdict == RULES_VERDICT_FAIL)
			fail = true;
		else if (v->verdict == RULES_VERDICT_NONE)
			missing = true;
	}
	out->status = fail ? RULES_INELIGIBLE : missing ? RULES_INCOMPLETE : RULES_ELIGIBLE;
}

void
rules_alert_decide(const struct rules *r, const struct rules_eval *ev,
    const struct rules_open_alert *open, size_t nopen, struct rules_alert_decision *out)
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
	may_alert = ev->final || (r->alert_preliminary && ev->problem != rules_problem_not_evaluated &&
	    ev->problem != rules_problem_retracted && ev->problem != rules_problem_status_unknown);
	if (!may_alert)
		return;
	if (ev->grade >= r->alert_grade) {
		for (i = 0; i < nopen; i++) {
			if (open[i].analyte == ev->analyte && open[i].grade > max) {
				max = open[i].grade;
				top = i;
			}
		}
		if (max < 0)
			out->kind = RULES_ALERT_TOXICITY;
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

size_t
rules_hold_step(const struct rules *r, const struct rules_history *h, int64_t now,
    struct rules_hold_state *state, struct rules_hold_event *ev, size_t cap)
{
	const struct rules_hold_rule *rule;
	const struct rules_entry *e;
	size_t i, j, n = 0;
	bool back;

	if (h->phase != RULES_PHASE_TREATMENT)
		return 0;
	for (i = 0; i < r->nholds; i++) {
		rule = &r->holds[i];
		if (!state[i].held) {
			for (j = 0; j < rule->nstop; j++) {
				e = rules_history_latest(h, rule->stop[j].analyte, now);
				if (e == NULL || entry_cond(e, &rule->stop[j].cond) != TRI_TRUE)
					continue;
				state[i].held = true;
				state[i].since = e->observed_at;
				if (n < cap) {
					ev[n].kind = RULES_HOLD_STOP;
					ev[n].rule = i;
					ev[n].rule_name = rule->name;
					ev[n].because = e;
				}
				n++;
				break;
			}
			continue;
		}
		/* Every analyte of the row, re-measured since the hold, is back. */
		back = true;
		for (j = 0; j < rule->nrestart && back; j++) {
			e = rules_history_latest(h, rule->restart[j].analyte, now);
			if (e == NULL || e->observed_at < state[i].since ||
			    entry_cond(e, &rule->restart[j].cond) != TRI_TRUE)
				back = false;
		}
		if (back) {
			state[i].held = false;
			if (n < cap) {
				ev[n].kind = RULES_HOLD_RESUME;
				ev[n].rule = i;
				ev[n].rule_name = rule->name;
				ev[n].because = NULL;
			}
			n++;
		}
	}
	return n < cap ? n : cap;
}
