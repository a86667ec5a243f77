/*
 * verdict.c: round trip 2 of a batch for one patient group of one
 * message: the observation rows, and what the rules decide from them
 * (toxicity and data-quality alerts, eligibility verdicts, holds and
 * resumptions, the enrollment's state), as statements on the session of
 * the batch. The words of the alerts are alert_text.c's.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "rules/rules.h"
#include "store/alert_text.h"
#include "store/elig.h"
#include "store/episode.h"
#include "store/hold.h"
#include "store/ingest_int.h"
#include "store/obs.h"

static enum db_rc
send_alert(struct ingest *g, struct side *d, struct ingest_work *w,
    struct pcache *p, int64_t id, const char *kind, const char *severity,
    enum rules_analyte a, int grade, int64_t obs, const struct buf *summary,
    const struct buf *details)
{
	const char *v[11];

	v[0] = ingest_pint(g, id);
	v[1] = ingest_pint(g, p->db_id);
	v[2] = rules_protocol_name(g->rules);
	v[3] = kind;
	v[4] = severity;
	v[5] = rules_analyte_name(a);
	v[6] = grade >= 0 ? ingest_pint(g, grade) : NULL;
	v[7] = obs > 0 ? ingest_pint(g, obs) : NULL;
	v[8] = ingest_pint(g, w->message_id);
	v[9] = ingest_pbuf(g, summary);
	v[10] = details && details->len ? ingest_pbuf(g, details) : "{}";
	w->nalerts++; /* counted in g->alerts once committed */
	w->alerts_by[store_alert_index(kind, severity)]++;
	return ingest_send_stmt(d, "ins_alert", 11, v, Q_IGNORE, NULL);
}

static enum db_rc
send_id_param(struct ingest *g, struct side *d, const char *stmt, int64_t a,
    int64_t b)
{
	const char *v[2] = { ingest_pint(g, a), ingest_pint(g, b) };

	return ingest_send_stmt(d, stmt, b != 0 ? 2 : 1, v, Q_IGNORE, NULL);
}

/* The side and observation an ended episode's alerts are resolved on. */
struct recovered_ctx {
	struct ingest *g;
	struct side *d;
	int64_t obs;
};

static int
send_recovered(void *arg, int64_t id)
{
	struct recovered_ctx *c = arg;

	return send_id_param(c->g, c->d, "upd_recovered", id, c->obs) != DB_OK;
}

/*
 * The episode of open[dec->replaces] ended (CLINICAL.md "Alert episodes"):
 * one recovery line, and every open or acknowledged toxicity alert of the
 * analyte resolved on this observation, so the next result at or above
 * the alert grade opens a new alert.
 */
static enum db_rc
recovered(struct ingest *g, struct side *d, struct ingest_work *w,
    struct pcache *p, const struct oru_obs *x, const struct rules_eval *ev,
    int64_t obs_id, const struct rules_alert_decision *dec, int64_t id)
{
	struct alert_who who = { p->pid, rules_protocol_name(g->rules),
		g->rules };
	struct recovered_ctx c = { g, d, obs_id };

	alert_text_recovery(&g->tmp, &g->tmp2, ev, x, &p->open[dec->replaces],
	    &who);
	if (send_alert(g, d, w, p, id, "recovery",
		alert_text_severity(dec->kind, ev->grade), ev->analyte,
		ev->grade, obs_id, &g->tmp, &g->tmp2) != DB_OK)
		return DB_DOWN;
	return episode_ended(p, ev->analyte, obs_id, send_recovered, &c) != 0 ?
	    DB_DOWN :
	    DB_OK;
}

/*
 * What dec (episode_decide() on ev) says of the toxicity episode: an
 * alert, an escalation, a recovery line, or nothing (a data-quality
 * decision is data_quality_alert()'s).
 */
static enum db_rc
toxicity_alert(struct ingest *g, struct side *d, struct ingest_work *w,
    struct pcache *p, const struct oru_obs *x, const struct rules_eval *ev,
    int64_t obs_id, int64_t observed_at, const struct rules_alert_decision *dp)
{
	struct rules_alert_decision dec = *dp;
	struct alert_who who;
	int64_t id;

	if (dec.kind == RULES_ALERT_NONE ||
	    dec.kind == RULES_ALERT_DATA_QUALITY)
		return DB_OK;
	id = idpool_take(&g->ids[IDPOOL_ALERTS]);
	buf_reset(&g->tmp);
	buf_reset(&g->tmp2);
	who.pid = p->pid;
	who.protocol = rules_protocol_name(g->rules);
	who.r = g->rules;
	if (dec.kind == RULES_ALERT_RECOVERED)
		return recovered(g, d, w, p, x, ev, obs_id, &dec, id);
	/*
	 * TOXICITY, ESCALATE, or POSSIBLE: a warning that the grade may
	 * reach the alert grade, open at the minimum grade, so that an exact
	 * grade above it escalates and a result below the alert grade ends it.
	 */
	alert_text_toxicity(&g->tmp, &g->tmp2, ev, x,
	    dec.kind == RULES_ALERT_ESCALATE ? &p->open[dec.replaces] : NULL,
	    &who);
	if (send_alert(g, d, w, p, id, "toxicity",
		alert_text_severity(dec.kind, ev->grade), ev->analyte,
		ev->grade, obs_id, &g->tmp, &g->tmp2) != DB_OK)
		return DB_DOWN;
	if (dec.kind == RULES_ALERT_ESCALATE &&
	    send_id_param(g, d, "upd_escalated",
		(int64_t)p->open[dec.replaces].id, id) != DB_OK)
		return DB_DOWN;
	episode_opened(p, &dec, ev, id, obs_id, observed_at);
	return DB_OK;
}

/*
 * A data-quality alert (episode_data_quality): a result that cannot be
 * evaluated, or what rules_alert_decide() leaves alone but must not pass
 * in silence: a code conflict (no analyte: the words name the codes and
 * both analytes), an empty or unknown OBX-11 (issue 11), the problem of
 * a result that ends an episode (rules_alert_silent_problem).
 */
static enum db_rc
data_quality_alert(struct ingest *g, struct side *d, struct ingest_work *w,
    struct pcache *p, const struct oru_obs *x, const struct rules_eval *ev,
    int64_t obs_id)
{
	struct alert_who who;

	buf_reset(&g->tmp);
	buf_reset(&g->tmp2);
	who.pid = p->pid;
	who.protocol = rules_protocol_name(g->rules);
	who.r = g->rules;
	alert_text_data_quality(&g->tmp, &g->tmp2, ev, x, &who);
	return send_alert(g, d, w, p, idpool_take(&g->ids[IDPOOL_ALERTS]),
	    "data_quality", alert_text_severity(RULES_ALERT_DATA_QUALITY, -1),
	    ev->analyte, -1, obs_id, &g->tmp, &g->tmp2);
}

/*
 * The screening verdict after the message (elig_decide): its row, and an
 * eligibility alert when the status changed.
 */
static enum db_rc
eligibility_rows(struct ingest *g, struct side *d, struct ingest_work *w,
    struct pcache *p, int64_t at)
{
	struct rules_eligibility_result er;
	struct alert_who who;
	const char *v[5];
	struct buf *crit = &g->tmp2;
	enum elig_outcome out;

	out = elig_decide(g->rules, p, at, w->received_at / 1000000, &er);
	if (out == ELIG_NONE)
		return DB_OK;
	buf_reset(crit);
	alert_text_criteria(crit, g->rules, &er);
	v[0] = ingest_pint(g, p->db_id);
	v[1] = rules_protocol_name(g->rules);
	v[2] = rules_eligibility_name(er.status);
	v[3] = ingest_pint(g, w->message_id);
	v[4] = ingest_pbuf(g, crit);
	if (ingest_send_stmt(d, "ins_elig", 5, v, Q_IGNORE, NULL) != DB_OK)
		return DB_DOWN;
	if (out != ELIG_CHANGED)
		return DB_OK;
	buf_reset(&g->tmp);
	buf_reset(&g->tmp2);
	who.pid = p->pid;
	who.protocol = rules_protocol_name(g->rules);
	who.r = g->rules;
	alert_text_eligibility(&g->tmp, &g->tmp2, &er, &who);
	return send_alert(g, d, w, p, idpool_take(&g->ids[IDPOOL_ALERTS]),
	    "eligibility", elig_severity(&er), RULES_NONE, -1, 0, &g->tmp,
	    &g->tmp2);
}

/*
 * Send one hold, resume or withdrawn line; *id: its alert id (taken from
 * the pool when 0).
 */
static enum db_rc
hold_alert(struct ingest *g, struct side *d, struct ingest_work *w,
    struct pcache *p, const struct alert_hold *ah, int64_t *id)
{
	struct alert_who who = { p->pid, rules_protocol_name(g->rules),
		g->rules };
	const struct rules_entry *e = ah->because;

	buf_reset(&g->tmp);
	buf_reset(&g->tmp2);
	alert_text_hold(&g->tmp, &g->tmp2, ah, &who);
	if (*id == 0)
		*id = idpool_take(&g->ids[IDPOOL_ALERTS]);
	return send_alert(g, d, w, p, *id,
	    ah->event == ALERT_HOLD_RESUME ? "resume" : "hold",
	    ah->event == ALERT_HOLD_STOP ? "critical" : "info",
	    e != NULL ? e->analyte : RULES_NONE, -1,
	    e != NULL ? (int64_t)e->id : 0, &g->tmp, &g->tmp2);
}

/* The statements of one act of hold_decide(). */
static enum db_rc
hold_act_send(struct ingest *g, struct side *d, struct ingest_work *w,
    struct pcache *p, const struct hold_act *t)
{
	const char *q[4];
	int64_t id = 0;

	switch (t->kind) {
	case HOLD_ACT_WITHDRAWN:
		if (send_id_param(g, d, "upd_hold_withdrawn", t->obs, 0) !=
		    DB_OK)
			return DB_DOWN;
		return t->line ? hold_alert(g, d, w, p, &t->ah, &id) : DB_OK;
	case HOLD_ACT_RESUME:
		/* The holds resolved, the resume inserted, the holds linked. */
		id = idpool_take(&g->ids[IDPOOL_ALERTS]);
		q[0] = ingest_pint(g, p->db_id);
		q[1] = rules_protocol_name(g->rules);
		q[2] = t->ah.rule;
		q[3] = ingest_pint(g, id);
		if (ingest_send_stmt(d, "upd_hold_answered", 4, q, Q_IGNORE,
			NULL) != DB_OK ||
		    hold_alert(g, d, w, p, &t->ah, &id) != DB_OK)
			return DB_DOWN;
		q[1] = q[3];
		return ingest_send_stmt(d, "upd_hold_linked", 2, q, Q_IGNORE,
		    NULL);
	case HOLD_ACT_STOP:
		if (hold_alert(g, d, w, p, &t->ah, &id) != DB_OK)
			return DB_DOWN;
		return send_id_param(g, d, "upd_resume_undone", t->obs, 0);
	}
	return DB_OK;
}

/*
 * The hold state derived from the results that stand against what was
 * announced (hold_decide): a hold alert when newly held ("recurrence N"
 * from the second stop), a resume, a withdrawal, or nothing.
 */
static enum db_rc
hold_rows(struct ingest *g, struct side *d, struct ingest_work *w,
    struct pcache *p, bool *state_changed)
{
	struct hold_act act[HOLD_MAX_ACTS];
	size_t k, n = hold_decide(g->rules, p, act, state_changed);

	for (k = 0; k < n; k++)
		if (hold_act_send(g, d, w, p, &act[k]) != DB_OK)
			return DB_DOWN;
	return DB_OK;
}

static enum db_rc
update_enrollment(struct ingest *g, struct side *d, struct pcache *p)
{
	const char *v[4];
	struct buf *b = &g->tmp2;

	buf_reset(b);
	hold_state_json(b, g->rules, p);
	v[0] = ingest_pint(g, p->db_id);
	v[1] = rules_protocol_name(g->rules);
	v[2] = p->elig[0] ? p->elig : NULL;
	v[3] = ingest_pbuf(g, b);
	return ingest_send_stmt(d, "upd_enroll", 4, v, Q_IGNORE, NULL);
}

/*
 * Observation obs, the result of a hold of any rule, was corrected or
 * withdrawn: per rule, its hold alert retracted and the resume that
 * answered it too, with one withdrawn line when that resume was still
 * open or acknowledged (upd_hold_resume_withdrawn). A hold still
 * announced on it ends in hold_end(); an ended one no longer counts
 * among the rule's stops.
 */
static enum db_rc
hold_withdrawn_after_resume(struct ingest *g, struct side *d,
    struct ingest_work *w, struct pcache *p, int64_t obs, bool corrected,
    bool *hold_changed)
{
	struct alert_who who = { p->pid, rules_protocol_name(g->rules),
		g->rules };
	struct alert_hold ah;
	struct pcache_hold *a;
	const char *v[8];
	size_t i;

	if (p->phase != RULES_PHASE_TREATMENT)
		return DB_OK;
	for (i = 0; i < rules_hold_count(g->rules); i++) {
		a = &p->hold[i];
		if (!a->held && a->obs == obs && a->stops > 0) {
			if (--a->stops == 0)
				a->dose_mg = NAN;
			*hold_changed = true;
		}
		memset(&ah, 0, sizeof(ah));
		ah.event = ALERT_HOLD_WITHDRAWN;
		ah.rule = rules_hold_name(g->rules, i);
		ah.corrected = corrected;
		buf_reset(&g->tmp);
		buf_reset(&g->tmp2);
		alert_text_hold(&g->tmp, &g->tmp2, &ah, &who);
		v[0] = ingest_pint(g, idpool_take(&g->ids[IDPOOL_ALERTS]));
		v[1] = ingest_pint(g, p->db_id);
		v[2] = rules_protocol_name(g->rules);
		v[3] = ingest_pint(g, w->message_id);
		v[4] = ingest_pbuf(g, &g->tmp);
		v[5] = ingest_pbuf(g, &g->tmp2);
		v[6] = ingest_pint(g, obs);
		v[7] = ah.rule;
		if (ingest_send_stmt(d, "upd_hold_resume_withdrawn", 8, v,
			Q_IGNORE, NULL) != DB_OK)
			return DB_DOWN;
	}
	return DB_OK;
}

/*
 * A correction replaces, a deletion retracts, earlier results: their
 * alerts are closed, and no longer count as open; so are the holds and
 * resumes resting on them.
 */
static enum db_rc
send_replaced(struct ingest *g, struct side *d, struct ingest_work *w,
    struct pcache *p, const struct rules_update *up, bool *hold_changed)
{
	size_t k, m;
	bool gone;

	for (k = 0; k < up->nsuperseded; k++)
		if (send_id_param(g, d, "upd_alerts_superseded",
			(int64_t)up->superseded[k], 0) != DB_OK ||
		    hold_withdrawn_after_resume(g, d, w, p,
			(int64_t)up->superseded[k], true,
			hold_changed) != DB_OK)
			return DB_DOWN;
	for (k = 0; k < up->nretracted; k++)
		if (send_id_param(g, d, "upd_obs_retracted",
			(int64_t)up->retracted[k], 0) != DB_OK ||
		    send_id_param(g, d, "upd_alerts_retracted",
			(int64_t)up->retracted[k], 0) != DB_OK ||
		    hold_withdrawn_after_resume(g, d, w, p,
			(int64_t)up->retracted[k], false,
			hold_changed) != DB_OK)
			return DB_DOWN;
	for (k = 0; k < p->nopen;) {
		gone = false;
		for (m = 0; m < up->nsuperseded && !gone; m++)
			gone = p->open_obs[k] == (int64_t)up->superseded[m];
		for (m = 0; m < up->nretracted && !gone; m++)
			gone = p->open_obs[k] == (int64_t)up->retracted[m];
		if (gone)
			pcache_drop_open(p, k);
		else
			k++;
	}
	return DB_OK;
}

/* Whether observation obs is one that up supersedes or retracts. */
static bool
withdrawn(const struct rules_update *up, int64_t obs)
{
	size_t m;

	for (m = 0; m < up->nsuperseded; m++)
		if (obs == (int64_t)up->superseded[m])
			return true;
	for (m = 0; m < up->nretracted; m++)
		if (obs == (int64_t)up->retracted[m])
			return true;
	return false;
}

static int64_t run_start(struct ingest *g, struct pcache *p,
    const struct rules_entry *l);
static enum db_rc escalate_reopened(struct ingest *g, struct side *d,
    struct ingest_work *w, struct pcache *p, const struct rules_update *up,
    enum rules_analyte a, int64_t start);

/*
 * The ended episodes of analyte a whose ending result (by) is withdrawn,
 * derived again from the results that stand (CLINICAL.md "Alert
 * episodes"): when the latest standing result of a ends the episode as
 * rules_alert_decide() judges it, the alerts rest on that one and a
 * recovery line says so; else they are open again, acknowledged if they
 * were, and a result of this update (a correction) is decided on them
 * next. The recovery line of the withdrawn result is retracted.
 */
static enum db_rc
episode_rederived(struct ingest *g, struct side *d, struct ingest_work *w,
    struct pcache *p, const struct rules_update *up, enum rules_analyte a,
    int64_t by)
{
	struct alert_who who = { p->pid, rules_protocol_name(g->rules),
		g->rules };
	struct rules_open_alert top = { .grade = -1 };
	struct rules_alert_decision dec;
	const struct rules_entry *l;
	struct rules_eval lev;
	bool reopened = false;
	size_t k;

	for (k = 0; k < p->nended; k++)
		if (p->ended[k].analyte == a && p->ended_by[k] == by &&
		    p->ended[k].grade > top.grade)
			top = p->ended[k];
	l = rules_history_latest(p->h, a, INT64_MAX);
	dec.kind = RULES_ALERT_NONE;
	if (l != NULL && l != up->entry) {
		rules_entry_eval(g->rules, l, &lev);
		rules_alert_decide(g->rules, &lev, l->observed_at, &top, 1,
		    &dec);
	}
	if (send_id_param(g, d, "upd_recovery_retracted", by, 0) != DB_OK)
		return DB_DOWN;
	for (k = 0; k < p->nended;) {
		if (p->ended[k].analyte != a || p->ended_by[k] != by) {
			k++;
			continue;
		}
		if (dec.kind == RULES_ALERT_RECOVERED) {
			if (send_id_param(g, d, "upd_recovered_moved",
				(int64_t)p->ended[k].id,
				(int64_t)l->id) != DB_OK)
				return DB_DOWN;
			p->ended_by[k++] = (int64_t)l->id;
			continue;
		}
		if (send_id_param(g, d, "upd_reopened", (int64_t)p->ended[k].id,
			by) != DB_OK)
			return DB_DOWN;
		pcache_reopen(p, k);
		reopened = true;
	}
	if (reopened)
		return l == NULL ?
		    DB_OK :
		    escalate_reopened(g, d, w, p, up, a, run_start(g, p, l));
	/* As toxicity_alert(): screening speaks through eligibility. */
	if (dec.kind != RULES_ALERT_RECOVERED ||
	    p->phase != RULES_PHASE_TREATMENT)
		return DB_OK;
	buf_reset(&g->tmp);
	buf_reset(&g->tmp2);
	alert_text_recovery(&g->tmp, &g->tmp2, &lev, NULL, &top, &who);
	return send_alert(g, d, w, p, idpool_take(&g->ids[IDPOOL_ALERTS]),
	    "recovery", alert_text_severity(dec.kind, lev.grade), a, lev.grade,
	    (int64_t)l->id, &g->tmp, &g->tmp2);
}

/*
 * A correction or a deletion took out results: an ended episode whose own
 * result went is gone with it; one whose ending result went is derived
 * again (episode_rederived).
 */
static enum db_rc
episodes_withdrawn(struct ingest *g, struct side *d, struct ingest_work *w,
    struct pcache *p, const struct rules_update *up)
{
	size_t k;

	if (up->nsuperseded == 0 && up->nretracted == 0)
		return DB_OK;
	for (k = 0; k < p->nended;)
		if (withdrawn(up, p->ended_obs[k]))
			pcache_drop_ended(p, k);
		else
			k++;
	for (k = 0; k < p->npast;)
		if (withdrawn(up, p->past_obs[k]))
			pcache_drop_past(p, k);
		else
			k++;
	for (k = 0; k < p->nended;) {
		if (!withdrawn(up, p->ended_by[k])) {
			k++;
			continue;
		}
		/* It changes the list: look again from the start. */
		if (episode_rederived(g, d, w, p, up, p->ended[k].analyte,
			p->ended_by[k]) != DB_OK)
			return DB_DOWN;
		k = 0;
	}
	return DB_OK;
}

/*
 * Whether the standing result e ends an episode of its analyte (a final
 * result of known time, known below the alert grade).
 */
static bool
ends_episode(struct ingest *g, const struct rules_entry *e)
{
	struct rules_open_alert o = { e->analyte, 99, 0, -1, false };
	struct rules_alert_decision dec;
	struct rules_eval ev;

	rules_entry_eval(g->rules, e, &ev);
	rules_alert_decide(g->rules, &ev, e->observed_at, &o, 1, &dec);
	return dec.kind == RULES_ALERT_RECOVERED;
}

/*
 * The time the episode of the standing result l began: back from l over
 * the standing results of its analyte to the newest one that ends an
 * episode (not included).
 */
static int64_t
run_start(struct ingest *g, struct pcache *p, const struct rules_entry *l)
{
	const struct rules_entry *e;
	int64_t start;

	for (start = l->observed_at, e = l; e != NULL && !ends_episode(g, e);
	     e = rules_history_latest(p->h, l->analyte, start - 1))
		start = e->observed_at;
	return start;
}

/*
 * An alert reopened after a withdrawal (episode_standing(), or
 * episode_rederived() when the result that ended its episode went), its
 * episode's run beginning at start (run_start()), escalated as a judgement of the standing results from scratch would
 * have it: the standing results of its episode's run (but the update's
 * own, decided next) judged again in time order, each escalation written
 * (as labwatch reevaluate, which judges a correction in the place of the
 * result it corrects). ALT 250, 900, 900, the first 900 deleted: the
 * grade-3 alert reopened and escalated to grade 4 by the second 900;
 * platelets <75, 40, 20, 20, the 40 corrected, the first 20 deleted: the
 * warning escalated to grade 3, then 4 (tests/episode_reload_db.sh).
 */
static enum db_rc
escalate_reopened(struct ingest *g, struct side *d, struct ingest_work *w,
    struct pcache *p, const struct rules_update *up, enum rules_analyte a,
    int64_t start)
{
	const struct rules_entry *one[32], **run = one;
	struct rules_alert_decision dec;
	struct rules_eval ev;
	size_t n, k;
	enum db_rc rc = DB_OK;

	/* Every result of the run, two of one time too, oldest first. */
	n = rules_history_since(p->h, a, start, run, 32);
	if (n > 32) {
		run = xreallocarray(NULL, n, sizeof(*run));
		(void)rules_history_since(p->h, a, start, run, n);
	}
	for (k = 0; k < n && rc == DB_OK; k++) {
		if (run[k] == up->entry)
			continue;
		rules_entry_eval(g->rules, run[k], &ev);
		episode_decide(g->rules, p, &ev, run[k]->observed_at, &dec);
		if (dec.kind == RULES_ALERT_ESCALATE)
			rc = toxicity_alert(g, d, w, p, NULL, &ev,
			    (int64_t)run[k]->id, run[k]->observed_at, &dec);
	}
	if (run != one)
		free(run);
	return rc;
}

/*
 * After a withdrawal (D/W/C) of a result of analyte a, the episode state
 * is derived from the standing results in time order (CLINICAL.md "Alert
 * episodes"), not from the alerts' history: when the newest standing
 * result is at or above the alert grade, or a grade left open that may
 * reach it (a warning: platelets <75, 40, the 40 deleted left none open;
 * tests/episode_reload_db.sh W1, W2), and no alert of a is open, the
 * episode it belongs to runs back from it over the standing results to
 * the newest one that ends an episode; the past alert (resolved by a
 * result or a higher grade, its own result standing) resting on a result
 * of that run with the highest grade, the head of its escalations (of
 * those, the highest id), is reopened (and escalated by a higher grade
 * of the run: escalate_reopened), else a new alert is raised on the
 * newest result. By grade, not by id alone: labwatch reevaluate writes a
 * lower grade's alert into an episode after the alerts that escalated it
 * (tests/reevaluate_order_db.sh, ZD). This replaces special cases: Hb 75,
 * 125, 74, then the 74 and the 125 deleted (the first episode was
 * forgotten once the 74 opened a second), platelets 40, 20, then the 20
 * deleted (the grade-3 alert was superseded, the grade-4 one retracted):
 * each left a grade-3 result standing with no alert.
 */
static enum db_rc
episode_standing(struct ingest *g, struct side *d, struct ingest_work *w,
    struct pcache *p, const struct rules_update *up, enum rules_analyte a)
{
	struct rules_alert_decision dec;
	const struct rules_entry *l;
	struct rules_eval lev;
	int64_t start;
	size_t k, best = SIZE_MAX;

	if (p->phase != RULES_PHASE_TREATMENT || a == RULES_NONE)
		return DB_OK;
	for (k = 0; k < p->nopen; k++)
		if (p->open[k].analyte == a)
			return DB_OK;
	l = rules_history_latest(p->h, a, INT64_MAX);
	/* The result of this update is decided next (toxicity_alert). */
	if (l == NULL || l == up->entry)
		return DB_OK;
	rules_entry_eval(g->rules, l, &lev);
	rules_alert_decide(g->rules, &lev, l->observed_at, NULL, 0, &dec);
	/*
	 * A grade left open that may reach the alert grade: a warning, after
	 * a deletion only. After a correction the corrected result is judged
	 * next in its place (platelets 40, <75, the 40 corrected to 35: one
	 * grade-3 alert on the 35, not a warning on the <75 escalated at
	 * once; tests/episode_reload_db.sh W10).
	 */
	if (dec.kind != RULES_ALERT_TOXICITY &&
	    (dec.kind != RULES_ALERT_POSSIBLE || up->nsuperseded > 0))
		return DB_OK;
	start = run_start(g, p, l);
	for (k = 0; k < p->npast; k++)
		if (p->past[k].analyte == a &&
		    p->past[k].observed_at >= start &&
		    (best == SIZE_MAX ||
			p->past[k].grade > p->past[best].grade ||
			(p->past[k].grade == p->past[best].grade &&
			    p->past[k].id > p->past[best].id)))
			best = k;
	if (best == SIZE_MAX) {
		episode_decide(g->rules, p, &lev, l->observed_at, &dec);
		return toxicity_alert(g, d, w, p, NULL, &lev, (int64_t)l->id,
		    l->observed_at, &dec);
	}
	if (send_id_param(g, d, "upd_past_reopened", (int64_t)p->past[best].id,
		0) != DB_OK)
		return DB_DOWN;
	for (k = 0; k < p->nended; k++)
		if (p->ended[k].id == p->past[best].id) {
			pcache_drop_ended(p, k);
			break;
		}
	pcache_add_open(p, a, p->past[best].grade, (int64_t)p->past[best].id,
	    p->past_obs[best], p->past[best].observed_at,
	    p->past[best].minimum);
	pcache_drop_past(p, best);
	return escalate_reopened(g, d, w, p, up, a, start);
}

/* Everything round trip 2 sends for one patient group of one message. */
enum db_rc
verdict_rows(struct ingest *g, struct side *d, struct ingest_work *w,
    const struct oru_patient *pat)
{
	const struct oru_msg *o = &w->oru;
	const struct oru_obs *x;
	struct pcache *p = pcache_get(&g->pc, pat->id.p, pat->id.len, false);
	struct rules_result in;
	struct rules_mapping map;
	struct rules_eval evbuf;
	const struct rules_eval *ev;
	struct rules_update up;
	const struct rules_baseline *bl = NULL;
	const char *key;
	size_t klen;
	int64_t id, sup, at = -1;
	uint32_t j;
	struct rules_alert_decision dec;
	bool any = false, hold_changed = false, tracked, quality;

	if (p == NULL || p->db_id == 0) {
		snprintf(g->err.msg, sizeof(g->err.msg), "patient row missing");
		return DB_ERROR;
	}
	tracked = p->enrolled && p->h != NULL;
	if (tracked)
		bl = rules_history_baselines(p->h);
	for (j = 0; j < pat->nobs; j++) {
		x = &o->obs[pat->first_obs + j];
		/*
		 * Rows for the seven protocol analytes only, and for codes
		 * naming two of them (code_conflict, never dropped): the rules
		 * read nothing else, and every OBX stays in messages.raw.
		 * Looked up once, from the codes alone: p->h has g->rules too
		 * (ingest_set_rules flushes the cache).
		 */
		store_obs_codes(x, &in);
		rules_map_result(g->rules, &in, &map);
		if (map.analyte == RULES_NONE && map.named[0] == RULES_NONE)
			continue;
		store_obs_to_result(pat, x, g->o.tz_offset_min, &in);
		id = idpool_take(&g->ids[IDPOOL_OBS]);
		in.id = (uint64_t)id;
		key = ingest_order_key(g, o, x, &klen);
		sup = 0;
		ev = &evbuf;
		if (tracked) {
			rules_history_add_mapped(p->h, &in, &map, key, klen,
			    &up);
			ev = &up.ev;
			if (up.nsuperseded > 0)
				sup = (int64_t)up.superseded[0];
		} else {
			rules_eval_mapped(g->rules, &in, &map, bl, &evbuf);
			memset(&up, 0, sizeof(up));
		}
		rows_add_observation(&g->rows,
		    &(struct rows_obs){ .id = id,
			.message = w->message_id,
			.patient = p->db_id,
			.supersedes = sup,
			.key = key,
			.klen = klen,
			.x = x,
			.in = &in,
			.ev = ev });
		/* A one-statement batch keeps its rows (ingest_send). */
		if (!d->simple && g->rows.nobs >= ROWS_OBS_PER_INSERT &&
		    rows_send_observations(&g->rows, &d->pipe) != DB_OK)
			return DB_DOWN;
		if (!tracked ||
		    (ev->analyte == RULES_NONE && ev->conflict == 0))
			continue;
		/* Updates below may touch rows still queued: send those first. */
		if ((up.nsuperseded > 0 || up.nretracted > 0) &&
		    rows_send_observations(&g->rows, &d->pipe) != DB_OK)
			return DB_DOWN;
		any = true;
		if (in.observed_at > at)
			at = in.observed_at;
		if (send_replaced(g, d, w, p, &up, &hold_changed) != DB_OK ||
		    episodes_withdrawn(g, d, w, p, &up) != DB_OK ||
		    ((up.nsuperseded > 0 || up.nretracted > 0) &&
			episode_standing(g, d, w, p, &up, ev->analyte) !=
			    DB_OK))
			return DB_DOWN;
		/* Asked before toxicity_alert() changes the open alerts. */
		episode_decide(g->rules, p, ev, in.observed_at, &dec);
		quality = episode_data_quality(g->rules, p, ev, in.observed_at,
		    &dec);
		if (toxicity_alert(g, d, w, p, x, ev, id, in.observed_at,
			&dec) != DB_OK ||
		    (quality &&
			data_quality_alert(g, d, w, p, x, ev, id) != DB_OK))
			return DB_DOWN;
	}
	if (!any)
		return DB_OK;
	if (p->phase == RULES_PHASE_SCREENING) {
		char before[16];

		memcpy(before, p->elig, sizeof(before));
		if (eligibility_rows(g, d, w, p, at) != DB_OK)
			return DB_DOWN;
		if (strcmp(before, p->elig) == 0)
			return DB_OK;
	} else if (hold_rows(g, d, w, p, &hold_changed) != DB_OK)
		return DB_DOWN;
	else if (!hold_changed)
		return DB_OK;
	return update_enrollment(g, d, p);
}
