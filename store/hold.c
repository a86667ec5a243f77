/*
 * hold.c: the hold state against what was announced (see hold.h).
 */
#include "store/hold.h"

#include <math.h>
#include <string.h>

#include "lib/json.h"

/*
 * Whether the observation id still stands in the history (neither
 * corrected nor deleted); *corrected when a C replaced it. A scan, made
 * only when an announced hold ends.
 */
static bool
obs_standing(const struct rules_history *h, int64_t id, bool *corrected)
{
	const struct rules_entry *e;
	size_t i = rules_history_count(h);

	*corrected = false;
	while (i-- > 0) {
		e = rules_history_entry(h, i);
		if ((int64_t)e->id != id)
			continue;
		*corrected = e->superseded && !e->retracted;
		return !e->superseded && !e->retracted;
	}
	return false;
}

/* The lowest restart dose announced for any rule: the previous dose. */
static double
dose_cap(const struct pcache *p, size_t n, double mg)
{
	size_t j;

	for (j = 0; j < n; j++)
		if (!isnan(p->hold[j].dose_mg) &&
		    (isnan(mg) || p->hold[j].dose_mg < mg))
			mg = p->hold[j].dose_mg;
	return mg;
}

/*
 * The announced hold of rule i ends: resumed (its hold alerts resolved by
 * the resume line, which gives the label's dose for the stops it answers),
 * or withdrawn when the result it rested on no longer stands (its hold
 * alert retracted; a withdrawn line when nothing holds instead). A resume
 * is announced only when the derivation saw one at or after the announced
 * hold; else the hold goes on (a->held stays true). The act, if any, in
 * act[*n].
 */
static void
hold_end(const struct rules *r, struct pcache *p, size_t i,
    const struct rules_hold_derived *dv, struct hold_act *act, size_t *n)
{
	const struct rules_hold_derived *v = &dv[i];
	struct pcache_hold *a = &p->hold[i];
	struct hold_act *t = &act[*n];
	unsigned stops;

	memset(t, 0, sizeof(*t));
	t->rule = i;
	t->ah.rule = rules_hold_name(r, i);
	a->held = false;
	if (a->obs != 0 && !obs_standing(p->h, a->obs, &t->ah.corrected)) {
		/* That stop no longer counts. */
		if (a->stops > 0)
			a->stops--;
		if (a->stops == 0)
			a->dose_mg = NAN;
		t->kind = HOLD_ACT_WITHDRAWN;
		t->ah.event = ALERT_HOLD_WITHDRAWN;
		t->obs = a->obs;
		t->line = !v->held; /* else a new hold alert on what stands */
		(*n)++;
		return;
	}
	if (v->resumed_at < a->since) {
		a->held = true; /* no restart row met since this hold */
		return;
	}
	t->kind = HOLD_ACT_RESUME;
	t->ah.event = ALERT_HOLD_RESUME;
	/* Held again since: the resume answered the stop before. */
	stops = v->held && v->stops > 0 ? v->stops - 1 : v->stops;
	/* Never fewer stops than announced (a phase change moves start). */
	if (stops < a->stops)
		stops = a->stops;
	t->ah.stops = stops > 0 ? stops : 1;
	t->ah.dose_mg = dose_cap(p, rules_hold_count(r),
	    rules_hold_resume_dose(r, i, t->ah.stops, dv));
	a->stops = t->ah.stops;
	a->dose_mg = t->ah.dose_mg;
	(*n)++;
}

/*
 * The derivation from the treatment start, or from an announced hold
 * older than it (the phase changed while held: the hold goes on, never
 * "resumed" for want of its results), into dv.
 */
static void
derive(const struct rules *r, struct pcache *p, struct rules_hold_derived *dv)
{
	struct rules_hold_derived an[RULES_MAX_HOLD_RULES];
	struct rules_hold_state init[RULES_MAX_HOLD_RULES];
	const struct pcache_hold *a;
	size_t i;
	int64_t start = p->since;
	bool anchored = false, corr;

	for (i = 0; i < rules_hold_count(r); i++)
		if (p->hold[i].held && p->hold[i].since < start)
			start = p->hold[i].since;
	/*
	 * Both passes are carried forward from the last message's
	 * (rules_hold_derive_incr): this one in the history's unseeded memo,
	 * the anchored one below in its seeded memo.
	 */
	rules_hold_derive_incr(r, p->h, start, INT64_MAX, NULL, dv);
	/*
	 * An announced hold the derivation cannot answer: its result not
	 * known (a state of the first form) and no hold derived that began
	 * before any resume since, or its result standing while the
	 * derivation holds on nothing and saw no resume since (a later
	 * result of the same time stands): derived again, the rule already
	 * held from the announced time, so that a restart needs every
	 * analyte of its row re-measured and back.
	 */
	memset(init, 0, sizeof(init));
	for (i = 0; i < rules_hold_count(r); i++) {
		a = &p->hold[i];
		if (!a->held || (dv[i].held && dv[i].resumed_at < a->since) ||
		    (a->obs != 0 &&
			(dv[i].held || dv[i].resumed_at >= a->since ||
			    !obs_standing(p->h, a->obs, &corr))))
			continue;
		init[i].held = true;
		init[i].since = a->since;
		anchored = true;
	}
	if (!anchored)
		return;
	rules_hold_derive_incr(r, p->h, start, INT64_MAX, init, an);
	for (i = 0; i < rules_hold_count(r); i++)
		if (init[i].held)
			dv[i] = an[i];
}

size_t
hold_decide(const struct rules *r, struct pcache *p, struct hold_act *act,
    bool *changed)
{
	struct rules_hold_derived dv[RULES_MAX_HOLD_RULES];
	struct pcache_hold *a;
	const struct rules_hold_derived *v;
	struct hold_act *t;
	size_t i, n = 0;
	int64_t vid;
	unsigned stops;

	derive(r, p, dv);
	for (i = 0; i < rules_hold_count(r); i++) {
		a = &p->hold[i];
		v = &dv[i];
		/* Still in the announced hold (derived held from its time). */
		if (a->held && v->held && v->because == NULL)
			continue;
		vid = v->held ? (int64_t)v->because->id : 0;
		if (a->held && v->held &&
		    (a->obs == vid ||
			(a->obs == 0 && v->resumed_at < a->since))) {
			*changed = *changed || a->obs != vid;
			a->obs = vid;
			continue;
		}
		/*
		 * Held on another result, the announced one standing and
		 * no resume since: the same hold (a late result crossed too).
		 */
		if (a->held && v->held && v->resumed_at < a->since &&
		    obs_standing(p->h, a->obs, &(bool){ false }))
			continue;
		if (a->held) {
			*changed = true;
			hold_end(r, p, i, dv, act, &n);
			if (a->held)
				continue; /* no resume: the hold goes on */
		}
		if (!v->held)
			continue;
		*changed = true;
		t = &act[n++];
		memset(t, 0, sizeof(*t));
		t->kind = HOLD_ACT_STOP;
		t->rule = i;
		t->obs = vid;
		t->ah.event = ALERT_HOLD_STOP;
		t->ah.rule = rules_hold_name(r, i);
		t->ah.because = v->because;
		/*
		 * Never fewer stops than announced: derived from a later
		 * start (a phase change) it counts fewer. The same result
		 * held again (its resume undone) is the same stop.
		 */
		stops = a->obs != 0 && a->obs == vid ? a->stops : a->stops + 1;
		t->ah.stops = v->stops > stops ? v->stops : stops;
		a->held = true;
		a->since = v->since;
		a->obs = vid;
		a->stops = t->ah.stops;
	}
	return n;
}

void
hold_state_json(struct buf *b, const struct rules *r, const struct pcache *p)
{
	const struct pcache_hold *h;
	size_t i;
	bool first = true;

	buf_addc(b, '{');
	/*
	 * Per held rule its since; per rule held or stopped before, the
	 * stop count, the last stop's result and the last restart dose.
	 */
	for (i = 0; i < rules_hold_count(r); i++) {
		h = &p->hold[i];
		if (!h->held && h->stops == 0)
			continue;
		buf_printf(b, "%s", first ? "" : ",");
		json_strz(b, rules_hold_name(r, i));
		buf_addc(b, ':');
		buf_addc(b, '{');
		if (h->held)
			buf_printf(b, "\"since\":%lld,", (long long)h->since);
		buf_printf(b, "\"obs\":%lld,\"stops\":%u", (long long)h->obs,
		    h->stops);
		if (!isnan(h->dose_mg)) {
			buf_adds(b, ",\"restart_dose_mg\":");
			json_num_rounded(b, h->dose_mg);
		}
		buf_addc(b, '}');
		first = false;
	}
	buf_addc(b, '}');
}
