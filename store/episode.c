/*
 * episode.c: the toxicity episodes of a patient (see episode.h).
 */
#include "store/episode.h"

#include <stdbool.h>

/*
 * Whether ev is the newest standing result of its analyte: only that one
 * ends an episode (a late sample observed between the alert's result and
 * a newer one at the alert grade does not; review of issue 11 item 4).
 * Known by its id: each observation has its own.
 */
static bool
newest_result(const struct pcache *p, const struct rules_eval *ev)
{
	const struct rules_entry *e = p->h != NULL ?
	    rules_history_latest(p->h, ev->analyte, INT64_MAX) :
	    NULL;

	return e == NULL || e->id == ev->id;
}

/*
 * Whether a standing result observed after ev (of known time) ends the
 * episode ev would open: then ev, a correction or a late original, is
 * part of an episode already ended and opens no alert (Hb 75, 125, 130,
 * the 125 corrected to 60: one episode, ended at the 130).
 */
static bool
ended_after(const struct rules *r, const struct pcache *p,
    const struct rules_eval *ev, int64_t observed_at)
{
	struct rules_open_alert o = { ev->analyte, 99, 0, observed_at, false };
	struct rules_alert_decision dec;
	const struct rules_entry *l;
	struct rules_eval lev;

	if (p->h == NULL || observed_at < 0)
		return false;
	l = rules_history_latest(p->h, ev->analyte, INT64_MAX);
	if (l == NULL || l->id == ev->id || l->observed_at < observed_at)
		return false;
	rules_entry_eval(r, l, &lev);
	rules_alert_decide(r, &lev, l->observed_at, &o, 1, &dec);
	return dec.kind == RULES_ALERT_RECOVERED;
}

void
episode_decide(const struct rules *r, const struct pcache *p,
    const struct rules_eval *ev, int64_t observed_at,
    struct rules_alert_decision *dec)
{
	rules_alert_decide(r, ev, observed_at, p->open, p->nopen, dec);
	if (dec->kind == RULES_ALERT_NONE ||
	    (dec->kind == RULES_ALERT_RECOVERED && !newest_result(p, ev)) ||
	    ((dec->kind == RULES_ALERT_TOXICITY ||
		 dec->kind == RULES_ALERT_POSSIBLE) &&
		ended_after(r, p, ev, observed_at)) ||
	    (dec->kind != RULES_ALERT_DATA_QUALITY &&
		p->phase != RULES_PHASE_TREATMENT))
		dec->kind = RULES_ALERT_NONE;
}

void
episode_opened(struct pcache *p, const struct rules_alert_decision *dec,
    const struct rules_eval *ev, int64_t id, int64_t obs, int64_t observed_at)
{
	if (dec->kind == RULES_ALERT_ESCALATE) {
		pcache_add_past(p, dec->replaces);
		pcache_drop_open(p, dec->replaces);
	}
	/* A new episode: the one that ended before it stays ended. */
	pcache_forget_ended(p, ev->analyte);
	pcache_add_open(p, ev->analyte, ev->grade, id, obs, observed_at,
	    ev->grade_is_minimum);
}

int
episode_ended(struct pcache *p, enum rules_analyte a, int64_t obs,
    int (*fn)(void *arg, int64_t id), void *arg)
{
	size_t k;
	int rc;

	/* Only the latest ended episode may be reopened (pcache.h). */
	pcache_forget_ended(p, a);
	for (k = 0; k < p->nopen;) {
		if (p->open[k].analyte != a) {
			k++;
			continue;
		}
		if ((rc = fn(arg, (int64_t)p->open[k].id)) != 0)
			return rc;
		pcache_end_open(p, k, obs);
	}
	return 0;
}

bool
episode_data_quality(const struct rules *r, const struct pcache *p,
    const struct rules_eval *ev, int64_t observed_at,
    const struct rules_alert_decision *dec)
{
	return dec->kind == RULES_ALERT_DATA_QUALITY ||
	    rules_alert_silent_problem(r, ev, observed_at, p->open, p->nopen);
}
