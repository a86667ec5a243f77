/*
 * hold.c: the imatinib hold / restart state machine of a patient's
 * history (CLINICAL.md "Imatinib dose modification"): the stop and
 * restart rows, the restart doses, and the derivation of each hold rule
 * over the standing results, carried forward from one message to the
 * next (rules_hold_derive_incr).
 */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "rules/history.h"
#include "rules/rules_int.h"

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

	x.v = e->value;
	x.cmp = entry_cmp_char(e);
	x.lln = e->lln;
	x.uln = e->uln;
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
		    entry_problem(e) == rules_problem_range_unreadable ||
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
		if (e->analyte == RULES_NONE || !history_usable(e, now) ||
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
				latest[e->analyte] = e;
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
