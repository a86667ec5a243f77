/*
 * reeval.c: stored results judged again (see reeval.h).
 *
 * Enrolled patients (screening ones included) are read 128 at a time,
 * each kind of row in one statement (reeval_read.c), the next
 * REEVAL_READERS batches on as many other sessions while one is judged
 * (two backends reading while the client judges). Per patient: its
 * results (in stored order; those that stand when one was corrected or
 * deleted) are added to a fresh rules history
 * and each decided as the writer decides it (episode_decide). What that implies (toxicity alerts, escalations, recovery
 * lines, episodes ended) is compared, for the results in scope, with the
 * patient's stored alerts of those kinds that are not retracted, by
 * (kind, observation, grade): one implied and not stored is inserted
 * (ins_alert: its trigger event pages), one stored and not implied is
 * retracted with the reason (upd_alert_reevaluated: a resolve event),
 * one in both stays, its state brought in line when the episode ended or
 * not (upd_recovered, upd_escalated, upd_past_reopened). The patients
 * of a batch that change are written in one transaction, locked and read
 * again first (write_batch). data_quality alerts are implied per result
 * as labwatchd implies them (episode_data_quality) and matched by
 * observation; eligibility is reeval_elig.c's.
 */
#include "store/reeval.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "store/alert_text.h"
#include "store/db.h"
#include "store/episode.h"
#include "store/reeval_elig.h"
#include "store/reeval_hold.h"
#include "store/reeval_int.h"
#include "store/reeval_write.h"
#include "store/rows.h"

static const char sel_patients[] =
    "SELECT p.id, p.patient_id FROM enrollments e"
    " JOIN patients p ON p.id = e.patient"
    " WHERE e.protocol = $1 AND e.phase <> 'off_study'"
    " AND ($2::text IS NULL OR p.patient_id = $2) ORDER BY p.id";

static const char *const kind_names[REEVAL_NKINDS] = { "toxicity", "recovery",
	"hold", "resume", "eligibility", "data_quality" };

const char *
reeval_kind_name(enum reeval_kind k)
{
	return k < REEVAL_NKINDS ? kind_names[k] : "toxicity";
}

/* The kind named s (alerts.kind): toxicity unless another. */
static enum reeval_kind
kind_of(const char *s)
{
	int k;

	for (k = 0; k < REEVAL_NKINDS; k++)
		if (strcmp(s, kind_names[k]) == 0)
			return (enum reeval_kind)k;
	return REEVAL_TOXICITY;
}

bool
reeval_in_scope(const struct run *u, int64_t at)
{
	if (at < 0)
		return u->o->since == INT64_MIN && u->o->until == INT64_MAX;
	return at >= u->start && at < u->o->until;
}

struct implied *
reeval_implied_push(struct run *u, enum reeval_kind kind)
{
	struct implied *m;

	if (u->nim == u->capim) {
		u->capim = u->capim ? u->capim * 2 : 16;
		u->im = xreallocarray(u->im, u->capim, sizeof(*u->im));
	}
	m = &u->im[u->nim++];
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	return m;
}

static struct implied *
add_implied(struct run *u, enum reeval_kind kind,
    const struct rules_alert_decision *dec, const struct rules_eval *ev,
    int64_t message, int64_t observed_at)
{
	struct implied *m = reeval_implied_push(u, kind);

	m->dec = dec->kind;
	m->ev = *ev;
	m->from.grade = -1;
	if (dec->kind == RULES_ALERT_ESCALATE ||
	    dec->kind == RULES_ALERT_RECOVERED)
		m->from = u->p.open[dec->replaces];
	m->obs = (int64_t)ev->id;
	m->message = message;
	m->observed_at = observed_at;
	m->in_scope = reeval_in_scope(u, observed_at);
	return m;
}

/* episode_ended()'s callback: the implied alert (id: index + 1) ended. */
static int
implied_ended(void *arg, int64_t id)
{
	struct run *u = arg;

	u->im[id - 1].ended_by = (int64_t)u->im[u->nim - 1].obs;
	return 0;
}

/*
 * One stored result (row row of the slice's results) added and decided as
 * the writer decides it; judged: whether labwatchd judged its message
 * (reeval_elig_judged).
 */
static void
replay_one(struct run *u, const struct rules_result *in,
    const struct rules_eval *ev, int64_t message, int row, bool judged)
{
	struct rules_alert_decision dec;
	struct implied *m;
	size_t k;
	bool quality;

	if (ev->analyte == RULES_NONE && ev->conflict == 0)
		return;
	episode_decide(u->r, &u->p, ev, in->observed_at, &dec);
	/* Asked before the decision changes the open alerts, as labwatchd. */
	quality = episode_data_quality(u->r, &u->p, ev, in->observed_at, &dec);
	switch (dec.kind) {
	case RULES_ALERT_RECOVERED:
		(void)add_implied(u, REEVAL_RECOVERY, &dec, ev, message,
		    in->observed_at);
		(void)episode_ended(&u->p, ev->analyte, (int64_t)ev->id,
		    implied_ended, u);
		break;
	case RULES_ALERT_TOXICITY:
	case RULES_ALERT_ESCALATE:
	case RULES_ALERT_POSSIBLE:
		m = add_implied(u, REEVAL_TOXICITY, &dec, ev, message,
		    in->observed_at);
		if (dec.kind == RULES_ALERT_ESCALATE) {
			k = (size_t)u->p.open[dec.replaces].id - 1;
			u->im[k].superseded_by = u->nim;
		}
		episode_opened(&u->p, &dec, ev, (int64_t)u->nim, m->obs,
		    in->observed_at);
		break;
	default:
		break; /* data quality: below */
	}
	if (quality) {
		m = add_implied(u, REEVAL_DATA_QUALITY, &dec, ev, message,
		    in->observed_at);
		m->dec = RULES_ALERT_DATA_QUALITY;
		m->ev.grade = -1;
		m->row = row;
		/* Never written by labwatchd: neither written nor retracted. */
		m->in_scope = m->in_scope && judged;
	}
}

/* A batch read and written at once: 128 x 20 messages = 18,000 results. */
#define BATCH_PATIENTS 128

/*
 * The reads of the patients of u->ids on p in res[0..2] (reeval_read.h):
 * 0, or -1 with u->cause.
 */
static int
fetch_send(struct run *u, struct pgpipe *p)
{
	return reeval_read_send(p, rules_protocol_name(u->r), &u->ids,
	    &u->cause);
}

static int
fetch(struct run *u, struct pgpipe *p, PGresult **res)
{
	if (fetch_send(u, p) != 0)
		return -1;
	return reeval_read_recv(p, res, &u->cause);
}

/*
 * The holds and, on the first replay (every result in stored order, as
 * labwatchd judged them), the eligibility after message msg (its latest
 * result observed at at, -1 unknown).
 */
static void
message_done(struct run *u, const struct reeval_slice *sl, int64_t msg,
    int64_t at)
{
	reeval_hold_message(u, msg, at);
	if (!u->standing)
		reeval_elig_message(u, sl, msg, at);
}

/*
 * The patient's enrollment (er) and results (hr), replayed; *withdrawals
 * when a result was corrected or deleted (noted in u->wd). With
 * u->standing, only the results that stand are: a correction in the place
 * of what it corrects, a deleted result and its deletion left out.
 */
static void
replay(struct run *u, const struct reeval_slice *sl, bool *withdrawals)
{
	const PGresult *hr = sl->hr;
	struct rules_result in;
	struct rules_update up;
	bool based = false, any = false, judged = true;
	int i, j;
	int64_t msg, last = -1, at = -1;

	pcache_load_enrollment_row(&u->p, u->r, sl->er, sl->erow);
	if (!u->standing)
		reeval_elig_begin(u, sl);
	reeval_hold_begin(u, sl);
	u->last.qat = sl->vlo;
	pcache_history_begin(&u->p, u->r);
	u->start = u->o->since;
	if (u->p.phase == RULES_PHASE_TREATMENT && u->p.since > u->start)
		u->start = u->p.since;
	for (i = sl->hlo; i < sl->hhi; i++) {
		j = u->standing ? reeval_read_standing(&u->wd, sl, i) : i;
		if (j < 0)
			continue;
		pcache_history_row(hr, j, &in);
		msg = strtoll(PQgetvalue(hr, j, 14), NULL, 10);
		/* After each message, as the writer derives them. */
		if (msg != last && any)
			message_done(u, sl, last, at);
		if (msg != last) {
			any = false;
			at = -1;
			judged = reeval_elig_judged(u, sl, msg, &u->last.qat);
		}
		if (!u->standing) {
			u->st->messages += msg != last;
			u->st->results++;
		}
		last = msg;
		/* Baselines from the results before treatment began. */
		if (!based && in.observed_at >= u->p.since) {
			pcache_history_end(&u->p);
			based = true;
		}
		rules_history_add(u->p.h, &in, PQgetvalue(hr, j, 1),
		    (size_t)PQgetlength(hr, j, 1), &up);
		u->replayed = (int64_t)in.id;
		if (up.nsuperseded > 0 || up.nretracted > 0) {
			*withdrawals = true;
			if (!u->standing)
				reeval_ids_note(&u->wd, &up, i);
		}
		if (up.ev.analyte != RULES_NONE || up.ev.conflict != 0) {
			any = true;
			at = in.observed_at > at ? in.observed_at : at;
		}
		replay_one(u, &in, &up.ev, msg, j, judged);
	}
	if (any)
		message_done(u, sl, last, at);
}

static void
load_stored(struct run *u, const struct reeval_slice *sl)
{
	const PGresult *res = sl->ar;
	struct stored *s;
	int i, n = sl->ahi - sl->alo;

	u->sa = xreallocarray(u->sa, (size_t)n + 1, sizeof(*u->sa));
	for (i = sl->alo; i < sl->ahi; i++) {
		s = &u->sa[i - sl->alo];
		memset(s, 0, sizeof(*s));
		s->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		s->kind = kind_of(PQgetvalue(res, i, 1));
		s->obs = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		s->grade = atoi(PQgetvalue(res, i, 3));
		snprintf(s->state, sizeof(s->state), "%s",
		    PQgetvalue(res, i, 4));
		s->system = PQgetvalue(res, i, 5)[0] == 't';
		s->superseded_by = strtoll(PQgetvalue(res, i, 6), NULL, 10);
		s->resolved_by_obs = strtoll(PQgetvalue(res, i, 7), NULL, 10);
		s->goes_on = PQgetvalue(res, i, 15)[0] == 't';
		s->in_scope = reeval_in_scope(u,
		    reeval_read_observed_at(sl, s->obs));
		/* Closed by labwatchd when its result was withdrawn. */
		s->used = reeval_ids_has(&u->wd, s->obs);
		if (s->kind == REEVAL_HOLD || s->kind == REEVAL_RESUME)
			reeval_hold_load(u, s, sl, i);
		else if (s->kind == REEVAL_ELIGIBILITY)
			reeval_elig_load(u, s, sl, i);
		else if (s->kind == REEVAL_DATA_QUALITY)
			/* As implied (replay_one): on a message judged. */
			s->in_scope = s->in_scope &&
			    reeval_elig_judged(u, sl,
				strtoll(PQgetvalue(res, i, 12), NULL, 10),
				NULL);
	}
	u->nsa = (size_t)n;
	reeval_hold_loaded(u);
}

void
reeval_report(struct run *u, enum reeval_change_kind ch,
    const struct reeval_change *c)
{
	struct reeval_change t = *c;

	t.change = ch;
	t.pid = u->p.pid;
	if (u->o->on_change != NULL && !u->probe)
		u->o->on_change(u->o->arg, &t);
}

/* The change of implied alert m (its row alert) told. */
static void
report_implied(struct run *u, enum reeval_change_kind ch,
    const struct implied *m, int64_t alert, const char *state)
{
	bool hold = m->kind == REEVAL_HOLD || m->kind == REEVAL_RESUME;
	struct reeval_change c = { .kind = m->kind,
		.alert = alert,
		.observation = m->obs,
		.analyte = m->ev.analyte,
		.grade = hold || m->kind == REEVAL_DATA_QUALITY ? -1 :
								  m->ev.grade,
		.state = state,
		.rule = hold ? rules_hold_name(u->r, m->rule) : NULL };

	reeval_report(u, ch, &c);
}

/* The stored alert the implied one is, or NULL. */
static struct stored *
match(struct run *u, const struct implied *m)
{
	struct stored *s;
	size_t k;

	for (k = 0; k < u->nsa; k++) {
		s = &u->sa[k];
		if (s->used || s->kind != m->kind)
			continue;
		if (m->kind == REEVAL_HOLD || m->kind == REEVAL_RESUME ?
			reeval_hold_match(u, m, s) :
			s->obs == m->obs &&
			    (m->kind == REEVAL_DATA_QUALITY ||
				s->grade == m->ev.grade))
			return s;
	}
	return NULL;
}

static int
insert_new(struct run *u, struct implied *m)
{
	struct alert_who who = { u->p.pid, rules_protocol_name(u->r), u->r };
	struct oru_obs x;
	char ids[6][24];
	const char *v[11];

	if (reeval_dry(u)) {
		u->nwrites++;
		return 0;
	}
	buf_reset(&u->sum);
	buf_reset(&u->det);
	v[4] = alert_text_severity(m->dec, m->ev.grade);
	if (m->kind == REEVAL_RECOVERY)
		alert_text_recovery(&u->sum, &u->det, &m->ev, NULL, &m->from,
		    &who);
	else if (m->kind == REEVAL_TOXICITY)
		alert_text_toxicity(&u->sum, &u->det, &m->ev, NULL,
		    m->dec == RULES_ALERT_ESCALATE ? &m->from : NULL, &who);
	else if (m->kind == REEVAL_DATA_QUALITY) {
		/* labwatchd's words: the OBX as stored. */
		reeval_read_obs(u->sl, m->row, &x);
		alert_text_data_quality(&u->sum, &u->det, &m->ev, &x, &who);
	} else
		v[4] = reeval_hold_text(u, m, &who);
	snprintf(ids[0], sizeof(ids[0]), "%" PRId64, m->db_id);
	snprintf(ids[1], sizeof(ids[1]), "%" PRId64, u->db_id);
	snprintf(ids[2], sizeof(ids[2]), "%d", m->ev.grade);
	snprintf(ids[3], sizeof(ids[3]), "%" PRId64, m->obs);
	snprintf(ids[4], sizeof(ids[4]), "%" PRId64, m->message);
	v[0] = ids[0];
	v[1] = ids[1];
	v[2] = rules_protocol_name(u->r);
	v[3] = reeval_kind_name(m->kind);
	v[5] = rules_analyte_name(m->ev.analyte);
	v[6] = m->ev.grade >= 0 ? ids[2] : NULL;
	v[7] = m->obs > 0 ? ids[3] : NULL;
	v[8] = m->message > 0 ? ids[4] : NULL;
	v[9] = u->sum.p != NULL ? u->sum.p : "";
	v[10] = u->det.len ? u->det.p : "{}";
	return reeval_queue_write(u, "ins_alert", 11, v);
}

void
reeval_updated(struct run *u, const struct implied *m, const char *now)
{
	u->st->updated[m->kind]++;
	u->st->unchanged[m->kind]--;
	report_implied(u, REEVAL_UPDATED, m, m->db_id, now);
}

/*
 * The state the implied toxicity alert m ends in (escalated, ended by a
 * result, open), given to its stored or new row s (NULL: new, stored as
 * open) when it differs and labwatch, not a person, set it.
 */
static int
settle(struct run *u, struct implied *m, const struct stored *s)
{
	const struct implied *to = m->superseded_by ?
	    &u->im[m->superseded_by - 1] :
	    NULL;
	bool live = s == NULL || strcmp(s->state, "open") == 0 ||
	    strcmp(s->state, "acknowledged") == 0;
	bool goes_on = s != NULL && s->goes_on;
	const char *now = NULL;
	int rc = 0;

	if (m->kind != REEVAL_TOXICITY || m->db_id == 0)
		return 0;
	if (to != NULL && to->db_id != 0) {
		/* A person's alert relinked too, still resolved by them. */
		if (live || goes_on ||
		    ((s->system || strcmp(s->state, "resolved") == 0) &&
			s->superseded_by != to->db_id)) {
			rc = reeval_id_stmt(u, "upd_escalated", m->db_id,
			    to->db_id);
			now = "resolved";
		}
	} else if (to != NULL && !to->in_scope) {
		/*
		 * Superseded by a result outside --since/--until, not stored:
		 * left as it is (not taken for an episode going on).
		 */
	} else if (m->ended_by != 0) {
		if (live || goes_on) {
			rc = reeval_id_stmt(u, "upd_recovered", m->db_id,
			    m->ended_by);
			now = "resolved";
		}
	} else if (s != NULL && !live && !goes_on &&
	    strcmp(s->state, "resolved") == 0) {
		/* A person's alert goes on again, still resolved by them. */
		rc = reeval_id_stmt(u, "upd_past_reopened", m->db_id, 0);
		now = s->system ? "open" : "resolved";
	}
	if (rc == 0 && now != NULL && s != NULL)
		reeval_updated(u, m, now);
	return rc;
}

/* The difference between what is implied and what is stored, written. */
static int
write_difference(struct run *u, bool *changed)
{
	const struct reeval_stats before = *u->st;
	struct reeval_change c;
	const char *v[2];
	char idbuf[24];
	struct stored *s;
	struct implied *m;
	size_t k, n;

	for (k = 0, n = 0; k < u->nim; k++) {
		m = &u->im[k];
		if (m->gone)
			continue; /* withdrawn or undone: as if never implied */
		if (!m->in_scope) {
			/*
			 * Outside the window, never written; but its row is
			 * what an alert in the window is superseded by.
			 */
			if ((s = match(u, m)) != NULL && !s->in_scope) {
				s->used = m->stored = true;
				m->db_id = s->id;
			}
			continue;
		}
		if ((s = match(u, m)) != NULL && s->in_scope) {
			s->used = m->stored = true;
			m->db_id = s->id;
			u->st->unchanged[m->kind]++;
		} else
			n++;
	}
	n += reeval_elig_match(u);
	u->nnew += n;
	if (reeval_take_ids(u, n) != 0 || reeval_elig_insert(u, changed) != 0)
		return -1;
	for (k = 0; k < u->nim; k++) {
		m = &u->im[k];
		if (!m->in_scope || m->stored || m->gone)
			continue;
		/* A resume closes the pages of its holds first, as labwatchd. */
		if ((m->kind == REEVAL_RESUME &&
			reeval_hold_answer(u, k) != 0) ||
		    insert_new(u, m) != 0)
			return -1;
		*changed = true;
		u->st->added[m->kind]++;
		report_implied(u, REEVAL_NEW, m, m->db_id, "open");
	}
	for (k = 0; k < u->nim; k++) {
		m = &u->im[k];
		s = NULL;
		if (m->stored)
			for (s = u->sa; s->id != m->db_id; s++)
				;
		if (!m->in_scope || m->gone)
			continue;
		if ((m->kind == REEVAL_HOLD ? reeval_hold_settle(u, m, s) :
					      settle(u, m, s)) != 0)
			return -1;
	}
	for (k = 0; k < u->nsa; k++) {
		s = &u->sa[k];
		if (s->used || !s->in_scope)
			continue;
		snprintf(idbuf, sizeof(idbuf), "%" PRId64, s->id);
		v[0] = idbuf;
		v[1] = u->o->reason;
		if (reeval_queue_write(u, "upd_alert_reevaluated", 2, v) != 0)
			return -1;
		*changed = true;
		u->st->retracted[s->kind]++;
		memset(&c, 0, sizeof(c));
		c.kind = s->kind;
		c.alert = s->id;
		c.observation = s->obs;
		c.analyte = RULES_NONE;
		c.grade = s->grade;
		c.state = "retracted";
		c.rule = s->rule[0] ? s->rule : NULL;
		c.verdict = s->verdict[0] ? s->verdict : NULL;
		c.message = s->kind == REEVAL_ELIGIBILITY ? s->message : 0;
		reeval_report(u, REEVAL_RETRACTED, &c);
	}
	if (reeval_elig_verdict(u) != 0)
		return -1;
	return reeval_hold_state(u, &before);
}

static void
patient_reset(struct run *u)
{
	rules_history_free(u->p.h);
	free(u->p.open);
	free(u->p.open_obs);
	free(u->p.ended);
	free(u->p.ended_obs);
	free(u->p.ended_by);
	free(u->p.past);
	free(u->p.past_obs);
	memset(&u->p, 0, sizeof(u->p));
	u->nim = 0;
	u->nsa = 0;
}

/*
 * The patient's stored results replayed and its stored alerts read. One
 * with a correction or deletion is replayed again on the results that
 * stand (labwatchd derives its episodes from those: CLINICAL.md).
 */
static void
judge(struct run *u, const char *pid, const struct reeval_slice *sl,
    bool *withdrawals)
{
	u->wd.n = 0;
	reeval_elig_reset(u);
	do {
		if (*withdrawals) {
			reeval_ids_sort(&u->wd);
			u->standing = true;
		}
		patient_reset(u);
		u->p.pid = (char *)pid;
		u->p.db_id = u->db_id;
		replay(u, sl, withdrawals);
	} while (*withdrawals && !u->standing);
	u->standing = false;
	load_stored(u, sl);
}

/*
 * Judged (sl: its rows) and, with probe, what that implies counted only
 * (u->nwrites); else written (none in a dry run).
 */
static int
judge_write(struct run *u, const char *pid, const struct reeval_slice *sl,
    bool probe)
{
	bool withdrawals = false, changed = false;
	int rc;

	u->nwrites = 0;
	judge(u, pid, sl, &withdrawals);
	u->st->patients++;
	u->st->corrected += withdrawals;
	u->probe = probe;
	u->sl = sl;
	rc = write_difference(u, &changed);
	u->sl = NULL;
	u->probe = false;
	u->p.pid = NULL;
	return rc;
}

/* The batch's patients: rows [first, first + k) of pr, some marked. */
struct batch {
	const PGresult *pr;
	int first, k;
	bool mark[BATCH_PATIENTS];
};

/*
 * The batches asked ahead on the read sessions taken in while one is
 * judged: without it the server stops reading them once its socket
 * buffer is full of rows.
 */
static void
poll_ahead(struct run *u)
{
	int s;

	if (u->prd[0].conn == u->c)
		return; /* reads on c itself, one at a time */
	for (s = 0; s < u->nrd; s++)
		pgpipe_poll(&u->prd[s]);
}

/*
 * Each patient of b read (res) judged with probe (the marked ones only
 * when only), in patient order; fn(arg, j) after each.
 */
static int
judge_batch(struct run *u, struct batch *b, PGresult **res, bool probe,
    bool only, int (*fn)(struct run *u, struct batch *b, int j))
{
	struct reeval_slice sl;
	int j, at[REEVAL_NREADS] = { 0 }, rc = 0;

	for (j = 0; j < b->k && rc == 0; j++) {
		if (only && !b->mark[j])
			continue;
		poll_ahead(u);
		u->db_id = strtoll(PQgetvalue(b->pr, b->first + j, 0), NULL,
		    10);
		reeval_read_slice(res, u->db_id, at, &u->msgs, &sl);
		rc = judge_write(u, PQgetvalue(b->pr, b->first + j, 1), &sl,
		    probe);
		if (rc == 0 && fn != NULL)
			rc = fn(u, b, j);
	}
	return rc;
}

/*
 * After the probe of patient j: one that implies writes is marked, and
 * its counts left to its judgement under the lock (u->base: before it).
 */
static int
probed(struct run *u, struct batch *b, int j)
{
	if (u->nwrites > 0) {
		b->mark[j] = true;
		*u->st = u->base;
	}
	u->base = *u->st;
	return 0;
}

/* After the locked judgement of patient j: what it wrote announced. */
static int
written(struct run *u, struct batch *b, int j)
{
	const char *v[1];
	char idbuf[24];

	if (u->nwrites == 0) {
		b->mark[j] = false; /* another writer did it meanwhile */
		return 0;
	}
	snprintf(idbuf, sizeof(idbuf), "%" PRId64, u->db_id);
	v[0] = idbuf;
	return reeval_queue_write(u, "reeval_notify", 1, v);
}

/* The marked patients of b as the array ids (row ids) and pids (PID-3.1). */
static size_t
marked(struct run *u, const struct batch *b)
{
	const char *pid;
	size_t n = 0;
	int j;

	pgarr_reset(&u->ids);
	pgarr_reset(&u->pids);
	for (j = 0; j < b->k; j++) {
		if (!b->mark[j])
			continue;
		pgarr_int8(&u->ids,
		    strtoll(PQgetvalue(b->pr, b->first + j, 0), NULL, 10));
		pid = PQgetvalue(b->pr, b->first + j, 1);
		pgarr_bytes(&u->pids, pid, strlen(pid));
		n++;
	}
	return n;
}

/*
 * The marked patients of b, which imply writes, in one transaction as a
 * writer does (plock.c): locked, read again (what every writer
 * committed), judged again, the difference written and their versions
 * bumped, so that each labwatchd reloads them.
 */
static int
write_batch(struct run *u, struct batch *b)
{
	PGresult *res[REEVAL_NREADS];
	size_t nnew = u->nnew;
	int rc;

	if (marked(u, b) == 0)
		return 0;
	if (reeval_lock_patients(u) != 0 ||
	    (nnew > 0 && reeval_fill_ids(u, nnew) != 0) ||
	    fetch(u, &u->pc, res) != 0)
		return reeval_finish_writes(u, false);
	u->base = *u->st;
	rc = judge_batch(u, b, res, false, true, written);
	reeval_read_clear(res);
	if (rc == 0 && marked(u, b) > 0)
		rc = reeval_queue_pid_stmt(u, "bump_patients");
	return reeval_finish_writes(u, rc == 0);
}

/* The row ids of the k patients of pr from row first into u->ids. */
static void
batch_ids(struct run *u, const PGresult *pr, int first, int k)
{
	int j;

	pgarr_reset(&u->ids);
	for (j = 0; j < k; j++)
		pgarr_int8(&u->ids,
		    strtoll(PQgetvalue(pr, first + j, 0), NULL, 10));
}

/*
 * The k patients of pr from row first, read (res, cleared here), judged
 * and written.
 */
static int
one_batch(struct run *u, const PGresult *pr, int first, int k, PGresult **res)
{
	struct batch b;
	int rc;

	memset(&b, 0, sizeof(b));
	b.pr = pr;
	b.first = first;
	b.k = k;
	u->nnew = 0;
	u->base = *u->st;
	rc = judge_batch(u, &b, res, !u->o->dry_run, false,
	    u->o->dry_run ? NULL : probed);
	reeval_read_clear(res);
	if (rc == 0 && !u->o->dry_run)
		rc = write_batch(u, &b);
	return rc;
}

/* The patients in batch b of pr (from row b * BATCH_PATIENTS). */
static int
batch_len(const PGresult *pr, int b)
{
	int left = PQntuples(pr) - b * BATCH_PATIENTS;

	return left < BATCH_PATIENTS ? left : BATCH_PATIENTS;
}

/* Batch b of the patients of pr asked for, on its session. */
static int
ask(struct run *u, const PGresult *pr, int b, bool *sent)
{
	batch_ids(u, pr, b * BATCH_PATIENTS, batch_len(pr, b));
	if (fetch_send(u, &u->prd[b % u->nrd]) != 0)
		return -1;
	sent[b % u->nrd] = true;
	return 0;
}

/*
 * Every batch of the patients of pr read, judged and written, in
 * patient order. With sessions of their own for the reads (u->nrd), the
 * next u->nrd batches are asked for, one a session, before one is
 * judged: the server reads them meanwhile, on as many backends.
 */
static int
all_batches(struct run *u, const PGresult *pr)
{
	PGresult *res[REEVAL_NREADS];
	bool sent[REEVAL_READERS];
	int lead = u->prd[0].conn != u->c ? u->nrd : 0;
	int b, s, rc = 0, asked = 0;
	int nb = (PQntuples(pr) + BATCH_PATIENTS - 1) / BATCH_PATIENTS;

	memset(sent, 0, sizeof(sent));
	for (b = 0; b < nb && rc == 0; b++) {
		while (rc == 0 && asked < nb && asked < b + (lead ? lead : 1))
			rc = ask(u, pr, asked++, sent);
		s = b % u->nrd;
		if (rc != 0)
			break;
		sent[s] = false; /* received, or the session failed */
		if (reeval_read_recv(&u->prd[s], res, &u->cause) != 0)
			break;
		/* Batch b's session free again: batch b + lead on it. */
		if (lead && asked < nb && asked <= b + lead)
			rc = ask(u, pr, asked++, sent);
		if (rc == 0)
			rc = one_batch(u, pr, b * BATCH_PATIENTS,
			    batch_len(pr, b), res);
		else
			reeval_read_clear(res);
	}
	if (b < nb && rc == 0)
		rc = -1; /* a read failed: u->cause */
	/* Stopped on an error: the batches asked ahead are not wanted. */
	for (s = 0; s < u->nrd; s++)
		if (sent[s] &&
		    reeval_read_recv(&u->prd[s], res, &u->cause) == 0)
			reeval_read_clear(res);
	return rc;
}

/*
 * Prepare the statements: the writer's, reevaluate's announcement, and
 * the batch reads on both sessions.
 */
static int
prepare(struct run *u)
{
	PGresult *r;
	int i;

	if (rows_prepare(u->c, &u->cause) != DB_OK ||
	    reeval_read_prepare(u->c, &u->cause) != 0)
		return -1;
	/* labwatchd forgets what it cached of the patient (sql/001, 011). */
	r = PQprepare(u->c, "reeval_notify",
	    "SELECT pg_notify('labwatch_enrollment', $1)", 0, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		free(u->cause);
		u->cause = db_error(u->c, r);
		PQclear(r);
		return -1;
	}
	PQclear(r);
	/* What an alert it opens again says why (sql/019, alert_reopen_record). */
	if (u->o->reason != NULL) {
		const char *v[1] = { u->o->reason };

		r = db_query(u->c, "name the re-evaluation",
		    "SELECT set_config('labwatch.reopen_note', $1, false)", 1,
		    v, &u->cause);
		if (r == NULL)
			return -1;
		PQclear(r);
	}
	for (i = 0; i < u->nrd; i++)
		if (u->prd[i].conn != u->c &&
		    reeval_read_prepare(u->prd[i].conn, &u->cause) != 0)
			return -1;
	return 0;
}

int
reeval_run(PGconn *c, PGconn *const *rd, int nrd, const struct rules *r,
    const struct reeval_opts *o, struct reeval_stats *st, char **cause)
{
	struct run u;
	const char *v[2] = { rules_protocol_name(r), o->patient };
	PGresult *res = NULL;
	int i, rc = 0;

	memset(&u, 0, sizeof(u));
	memset(st, 0, sizeof(*st));
	u.c = c;
	/* Sessions the caller owns: detached before pgpipe_free(). */
	pgpipe_init(&u.pc, &u.perr, NULL, NULL);
	u.pc.conn = c;
	u.nrd = nrd > 0 && rd != NULL ? nrd : 1;
	if (u.nrd > REEVAL_READERS)
		u.nrd = REEVAL_READERS;
	for (i = 0; i < u.nrd; i++) {
		pgpipe_init(&u.prd[i], &u.perr, NULL, NULL);
		u.prd[i].conn = nrd > 0 && rd != NULL ? rd[i] : c;
	}
	u.r = r;
	u.o = o;
	u.st = st;
	buf_init(&u.sum);
	buf_init(&u.det);
	buf_init(&u.last.criteria);
	buf_init(&u.last.digest);
	buf_init(&u.last.stored_digest);
	pgarr_init(&u.pids, PGARR_TEXT);
	pgarr_init(&u.ids, PGARR_INT8);
	if (prepare(&u) != 0 ||
	    (res = reeval_run_q(&u, NULL, sel_patients, 2, v)) == NULL)
		rc = -1;
	if (rc == 0)
		rc = all_batches(&u, res);
	PQclear(res);
	patient_reset(&u);
	reeval_elig_reset(&u);
	free(u.el);
	buf_free(&u.last.criteria);
	buf_free(&u.last.digest);
	buf_free(&u.last.stored_digest);
	free(u.im);
	free(u.sa);
	free(u.msgs.v);
	free(u.pool);
	free(u.wd.v);
	buf_free(&u.sum);
	buf_free(&u.det);
	pgarr_free(&u.pids);
	pgarr_free(&u.ids);
	u.pc.conn = NULL;
	pgpipe_free(&u.pc);
	for (i = 0; i < u.nrd; i++) {
		u.prd[i].conn = NULL;
		pgpipe_free(&u.prd[i]);
	}
	*cause = u.cause;
	return rc;
}
