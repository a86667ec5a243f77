/*
 * reeval_hold.c: holds and resumes judged again (see reeval_hold.h).
 */
#include "store/reeval_hold.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/hold.h"
#include "store/reeval_write.h"

/*
 * Columns of the stored alerts' read (reeval_read.c): the kind, the
 * result, the alert superseding it; after the writer's, the rule, the
 * stops, the restart dose, the message, and whether labwatch resolved it
 * (a resume answered it).
 */
#define COL_KIND 1
#define COL_OBS 2
#define COL_SUPERSEDED_BY 6
#define COL_RULE 9
#define COL_STOPS 10
#define COL_DOSE 11
#define COL_MESSAGE 12
#define COL_BY_LABWATCH 13

/* The hold rule named s, or rules_hold_count() when none. */
static size_t
rule_of(const struct rules *r, const char *s)
{
	size_t i;

	for (i = 0; i < rules_hold_count(r); i++)
		if (strcmp(rules_hold_name(r, i), s) == 0)
			break;
	return i;
}

/*
 * When stored hold or resume row k of sl rests on a result (a hold) or
 * a message (a resume) before the treatment start: its rule (else
 * rules_hold_count()), *at its time.
 */
static size_t
seed_rule(const struct run *u, const struct reeval_slice *sl, int k,
    int64_t *at)
{
	const PGresult *res = sl->ar;
	size_t i = rule_of(u->r, PQgetvalue(res, k, COL_RULE));

	if (strcmp(PQgetvalue(res, k, COL_KIND), "hold") == 0)
		*at = reeval_read_observed_at(sl,
		    strtoll(PQgetvalue(res, k, COL_OBS), NULL, 10));
	else if (strcmp(PQgetvalue(res, k, COL_KIND), "resume") == 0)
		*at = reeval_read_message_at(sl,
		    strtoll(PQgetvalue(res, k, COL_MESSAGE), NULL, 10));
	else
		return rules_hold_count(u->r);
	return *at >= 0 && *at < u->p.since ? i : rules_hold_count(u->r);
}

/* Whether stored alert id is a resume before the treatment start. */
static bool
resumed_before(const struct run *u, const struct reeval_slice *sl, int64_t id)
{
	int64_t at;
	int k;

	for (k = sl->alo; k < sl->ahi; k++)
		if (strtoll(PQgetvalue(sl->ar, k, 0), NULL, 10) == id)
			return strcmp(PQgetvalue(sl->ar, k, COL_KIND),
				   "resume") == 0 &&
			    seed_rule(u, sl, k, &at) < rules_hold_count(u->r);
	return false;
}

/*
 * The holds and resumes stored before the treatment start into u->seed:
 * per rule the last stop (the most stops) and, not answered by a resume
 * before the start, held from its result; the last resume's dose.
 */
static void
seed_rows(struct run *u, const struct reeval_slice *sl)
{
	const PGresult *res = sl->ar;
	unsigned rs[RULES_MAX_HOLD_RULES] = { 0 }, stops;
	struct pcache_hold *a;
	const char *dose;
	int64_t at;
	size_t i;
	int k;

	for (k = sl->alo; k < sl->ahi; k++) {
		if ((i = seed_rule(u, sl, k, &at)) >= rules_hold_count(u->r))
			continue;
		a = &u->seed[i];
		stops = (unsigned)strtoul(PQgetvalue(res, k, COL_STOPS), NULL,
		    10);
		dose = PQgetvalue(res, k, COL_DOSE);
		if (strcmp(PQgetvalue(res, k, COL_KIND), "resume") == 0) {
			if (stops >= rs[i] && dose[0] != '\0') {
				rs[i] = stops;
				a->dose_mg = strtod(dose, NULL);
			}
		} else if (stops >= a->stops && stops > 0) {
			a->stops = stops;
			a->obs = strtoll(PQgetvalue(res, k, COL_OBS), NULL, 10);
			a->since = at;
			a->held = !resumed_before(u, sl,
			    strtoll(PQgetvalue(res, k, COL_SUPERSEDED_BY), NULL,
				10));
			if (a->obs > u->seed_obs)
				u->seed_obs = a->obs;
			u->seeding = true;
		}
	}
	for (i = 0; i < rules_hold_count(u->r); i++)
		if (rs[i] > u->seed[i].stops)
			u->seed[i].stops = rs[i];
}

void
reeval_hold_begin(struct run *u, const struct reeval_slice *sl)
{
	size_t i;

	memset(u->p.hold, 0, sizeof(u->p.hold));
	memset(u->seed, 0, sizeof(u->seed));
	for (i = 0; i < RULES_MAX_HOLD_RULES; i++)
		u->p.hold[i].dose_mg = u->seed[i].dose_mg = NAN;
	u->seed_obs = u->replayed = 0;
	u->seeding = false;
	if (u->p.enrolled && u->p.phase == RULES_PHASE_TREATMENT)
		seed_rows(u, sl);
}

/* A hold on act t's result, in message msg. */
static void
implied_stop(struct run *u, const struct hold_act *t, int64_t msg)
{
	struct implied *m = reeval_implied_push(u, REEVAL_HOLD);
	size_t k, n = u->nim - 1;

	m->rule = t->rule;
	m->stops = t->ah.stops;
	m->dose_mg = NAN;
	m->because = t->ah.because;
	rules_entry_eval(u->r, t->ah.because, &m->ev);
	m->ev.grade = -1;
	m->obs = t->obs;
	m->message = msg;
	m->observed_at = t->ah.because->observed_at;
	m->in_scope = reeval_in_scope(u, m->observed_at);
	/*
	 * upd_resume_undone: held again on the result of an answered hold.
	 * The resume is undone, and the hold it answered is left as it is:
	 * labwatchd's row of it is resolved by that (retracted) resume, not
	 * judged again (reeval_hold_loaded), and this hold stands for it.
	 * Else the earlier hold took this one's stored row and this one was
	 * written again, a third hold line on the same result.
	 */
	for (k = 0; k < n; k++)
		if (u->im[k].kind == REEVAL_HOLD && u->im[k].obs == t->obs &&
		    u->im[k].answered_by != 0) {
			u->im[u->im[k].answered_by - 1].gone = true;
			u->im[k].gone = true;
		}
}

/* A resume of act t's rule, in message msg; it answers the open holds. */
static void
implied_resume(struct run *u, const struct hold_act *t, int64_t msg, int64_t at)
{
	struct implied *m = reeval_implied_push(u, REEVAL_RESUME);
	size_t k, n = u->nim - 1;

	m->rule = t->rule;
	m->stops = t->ah.stops;
	m->dose_mg = t->ah.dose_mg;
	m->ev.analyte = RULES_NONE;
	m->ev.grade = -1;
	m->message = msg;
	m->observed_at = at;
	m->in_scope = reeval_in_scope(u, at);
	/* upd_hold_answered: the rule's holds still open. */
	for (k = 0; k < n; k++)
		if (u->im[k].kind == REEVAL_HOLD && u->im[k].rule == t->rule &&
		    !u->im[k].gone && u->im[k].answered_by == 0)
			u->im[k].answered_by = n + 1;
}

void
reeval_hold_message(struct run *u, int64_t msg, int64_t at)
{
	struct hold_act act[HOLD_MAX_ACTS];
	size_t k, j, n;
	bool changed = false;

	if (!u->p.enrolled || u->p.phase != RULES_PHASE_TREATMENT ||
	    u->p.h == NULL)
		return;
	/* The holds before the treatment start, once their results are in. */
	if (u->seeding && u->replayed >= u->seed_obs) {
		for (k = 0; k < rules_hold_count(u->r); k++)
			if (u->seed[k].stops > 0)
				u->p.hold[k] = u->seed[k];
		u->seeding = false;
	}
	n = hold_decide(u->r, &u->p, act, &changed);
	for (k = 0; k < n; k++) {
		switch (act[k].kind) {
		case HOLD_ACT_STOP:
			implied_stop(u, &act[k], msg);
			break;
		case HOLD_ACT_RESUME:
			implied_resume(u, &act[k], msg, at);
			break;
		case HOLD_ACT_WITHDRAWN:
			/* upd_hold_withdrawn; the line is not judged again. */
			for (j = 0; j < u->nim; j++)
				if (u->im[j].kind == REEVAL_HOLD &&
				    u->im[j].obs == act[k].obs)
					u->im[j].gone = true;
			break;
		}
	}
}

void
reeval_hold_load(struct run *u, struct stored *s, const struct reeval_slice *sl,
    int row)
{
	const PGresult *res = sl->ar;
	const char *dose = PQgetvalue(res, row, COL_DOSE);

	snprintf(s->rule, sizeof(s->rule), "%s",
	    PQgetvalue(res, row, COL_RULE));
	s->stops = (unsigned)strtoul(PQgetvalue(res, row, COL_STOPS), NULL, 10);
	s->dose_mg = dose[0] != '\0' ? strtod(dose, NULL) : NAN;
	s->message = strtoll(PQgetvalue(res, row, COL_MESSAGE), NULL, 10);
	s->system = s->system ||
	    PQgetvalue(res, row, COL_BY_LABWATCH)[0] == 't';
	if (s->kind == REEVAL_RESUME)
		s->in_scope = reeval_in_scope(u,
		    reeval_read_message_at(sl, s->message));
}

void
reeval_hold_loaded(struct run *u)
{
	size_t k, j;
	bool found;

	for (k = 0; k < u->nsa; k++) {
		if (u->sa[k].kind != REEVAL_HOLD || u->sa[k].superseded_by == 0)
			continue;
		for (j = 0, found = false; j < u->nsa && !found; j++)
			found = u->sa[j].id == u->sa[k].superseded_by;
		if (!found)
			u->sa[k].used = true;
	}
}

bool
reeval_hold_match(const struct run *u, const struct implied *m,
    const struct stored *s)
{
	if (strcmp(s->rule, rules_hold_name(u->r, m->rule)) != 0 ||
	    s->stops != m->stops)
		return false;
	if (m->kind == REEVAL_HOLD)
		return s->obs == m->obs;
	if (isnan(s->dose_mg) || isnan(m->dose_mg))
		return s->message == m->message && isnan(s->dose_mg) &&
		    isnan(m->dose_mg);
	return s->message == m->message && fabs(s->dose_mg - m->dose_mg) < 1e-3;
}

const char *
reeval_hold_text(struct run *u, const struct implied *m,
    const struct alert_who *who)
{
	struct alert_hold ah;

	memset(&ah, 0, sizeof(ah));
	ah.event = m->kind == REEVAL_HOLD ? ALERT_HOLD_STOP : ALERT_HOLD_RESUME;
	ah.rule = rules_hold_name(u->r, m->rule);
	ah.because = m->because;
	ah.stops = m->stops;
	ah.dose_mg = m->dose_mg;
	alert_text_hold(&u->sum, &u->det, &ah, who);
	return m->kind == REEVAL_HOLD ? "critical" : "info";
}

/* The stored row of implied m, or NULL (new). */
static const struct stored *
stored_of(const struct run *u, const struct implied *m)
{
	size_t k;

	if (!m->stored)
		return NULL;
	for (k = 0; k < u->nsa; k++)
		if (u->sa[k].id == m->db_id)
			return &u->sa[k];
	return NULL;
}

/* Whether a stored row s (NULL: new) is open or acknowledged. */
static bool
live(const struct stored *s)
{
	return s == NULL || strcmp(s->state, "open") == 0 ||
	    strcmp(s->state, "acknowledged") == 0;
}

int
reeval_hold_answer(struct run *u, size_t k)
{
	struct implied *h;
	size_t j;

	for (j = 0; j < k; j++) {
		h = &u->im[j];
		if (h->kind != REEVAL_HOLD || h->answered_by != k + 1 ||
		    h->gone || !h->in_scope || h->db_id == 0 ||
		    !live(stored_of(u, h)))
			continue;
		if (reeval_id_stmt(u, "upd_hold_answered_one", h->db_id,
			u->im[k].db_id) != 0)
			return -1;
		h->answered = true;
	}
	return 0;
}

int
reeval_hold_settle(struct run *u, struct implied *m, const struct stored *s)
{
	const struct implied *to = m->answered_by ? &u->im[m->answered_by - 1] :
						    NULL;

	if (m->db_id == 0)
		return 0;
	if (to != NULL) {
		/* An undone resume, or one outside the window: as it is. */
		if (to->gone || to->db_id == 0)
			return 0;
		if (!live(s) && !(s->system && s->superseded_by != to->db_id))
			return 0;
		if ((!m->answered &&
			reeval_id_stmt(u, "upd_hold_answered_one", m->db_id,
			    to->db_id) != 0) ||
		    reeval_id_stmt(u, "upd_hold_linked_one", m->db_id,
			to->db_id) != 0)
			return -1;
		if (s != NULL)
			reeval_updated(u, m, "resolved");
		return 0;
	}
	/* Answered by a resume the results no longer imply: open again. */
	if (s == NULL || live(s) || strcmp(s->state, "resolved") != 0 ||
	    !s->system)
		return 0;
	if (reeval_id_stmt(u, "upd_hold_reopened", m->db_id, 0) != 0)
		return -1;
	reeval_updated(u, m, "open");
	return 0;
}

int
reeval_hold_state(struct run *u, const struct reeval_stats *before)
{
	const struct reeval_stats *st = u->st;
	const char *v[3];
	char id[24];
	int k;
	bool changed = false;

	for (k = REEVAL_HOLD; k <= REEVAL_RESUME; k++)
		changed = changed || st->added[k] != before->added[k] ||
		    st->retracted[k] != before->retracted[k] ||
		    st->updated[k] != before->updated[k];
	if (!changed)
		return 0;
	buf_reset(&u->det);
	hold_state_json(&u->det, u->r, &u->p);
	snprintf(id, sizeof(id), "%" PRId64, u->db_id);
	v[0] = id;
	v[1] = rules_protocol_name(u->r);
	v[2] = u->det.p;
	return reeval_queue_write(u, "upd_hold_state", 3, v);
}
