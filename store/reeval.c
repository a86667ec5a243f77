/*
 * reeval.c: stored results judged again (see reeval.h).
 *
 * Enrolled patients are read 128 at a time, each kind of row in one
 * statement (reeval_read.c), the next batch on a second session while one
 * is judged. Per patient: its results (in stored order; those that stand
 * when one was corrected or deleted) are added to a fresh rules history
 * and each decided as the writer decides it (episode_decide). What that implies (toxicity alerts, escalations, recovery
 * lines, episodes ended) is compared, for the results in scope, with the
 * patient's stored alerts of those kinds that are not retracted, by
 * (kind, observation, grade): one implied and not stored is inserted
 * (ins_alert: its trigger event pages), one stored and not implied is
 * retracted with the reason (upd_alert_reevaluated: a resolve event),
 * one in both stays, its state brought in line when the episode ended or
 * not (upd_recovered, upd_escalated, upd_past_reopened). The patients
 * of a batch that change are written in one transaction, locked and read
 * again first (write_batch).
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
#include "store/pcache.h"
#include "store/pgarr.h"
#include "store/pgpipe.h"
#include "store/reeval_read.h"
#include "store/rows.h"

/* An alert the results imply. */
struct implied {
	enum reeval_kind kind;
	enum rules_alert_kind dec;
	struct rules_eval ev;
	struct rules_open_alert from; /* escalated or ended; grade -1: none */
	int64_t obs, message, observed_at;
	int64_t ended_by;     /* the observation that ended it; 0: open */
	size_t superseded_by; /* index + 1 of the alert escalating it */
	int64_t db_id;	      /* the stored alert, or the new one */
	bool in_scope, stored;
};

/* A stored alert of the patient, not retracted. */
struct stored {
	int64_t id, obs, superseded_by, resolved_by_obs;
	enum reeval_kind kind;
	int grade;
	char state[16];
	bool system; /* resolved by labwatch, not a person */
	bool in_scope, used;
};

struct run {
	PGconn *c; /* the writes, and the reads under the lock */
	/* Pipelines on c, and on the session reading ahead (or c). */
	struct pgpipe pc, prd;
	struct pgpipe_error perr;
	const struct rules *r;
	const struct reeval_opts *o;
	struct reeval_stats *st;
	struct reeval_stats base; /* the counts before the patient probed */
	struct pcache p;
	int64_t db_id, start; /* the patient; results judged from start */
	struct reeval_ids wd; /* results a correction or deletion withdrew */
	bool standing;	      /* replay only the results that stand */
	struct implied *im;
	size_t nim, capim;
	struct stored *sa;
	size_t nsa;
	struct buf sum, det;
	char *cause;
	bool in_tx; /* the batch's transaction is open, its patients locked */
	/*
	 * probe: the writes are counted (nwrites), not made nor reported,
	 * to learn whether the patient needs its locked transaction.
	 */
	bool probe;
	size_t nwrites;
	size_t nnew;	   /* new alerts the probes of the batch found */
	struct pgarr pids; /* patients, for lock_patients, bump_patients */
	struct pgarr ids;  /* patients' row ids, for the batch's reads */
	/* Alert ids taken from the sequence, not yet used: pool[ipool..]. */
	int64_t *pool;
	size_t npool, ipool;
};

static const char sel_patients[] =
    "SELECT p.id, p.patient_id FROM enrollments e"
    " JOIN patients p ON p.id = e.patient"
    " WHERE e.protocol = $1 AND e.phase <> 'off_study'"
    " AND ($2::text IS NULL OR p.patient_id = $2) ORDER BY p.id";

const char *
reeval_kind_name(enum reeval_kind k)
{
	return k == REEVAL_RECOVERY ? "recovery" : "toxicity";
}

/* Run a statement (prepared when name, else sql); NULL with run->cause. */
static PGresult *
run_q(struct run *u, const char *name, const char *sql, int n,
    const char *const *v)
{
	PGresult *res = name != NULL ?
	    PQexecPrepared(u->c, name, n, v, NULL, NULL, 0) :
	    PQexecParams(u->c, sql, n, NULL, v, NULL, NULL, 0);
	ExecStatusType s = PQresultStatus(res);

	if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK)
		return res;
	free(u->cause);
	u->cause = db_error(u->c, res);
	PQclear(res);
	return NULL;
}

static bool
in_scope(const struct run *u, int64_t at)
{
	if (at < 0)
		return u->o->since == INT64_MIN && u->o->until == INT64_MAX;
	return at >= u->start && at < u->o->until;
}

static struct implied *
add_implied(struct run *u, enum reeval_kind kind,
    const struct rules_alert_decision *dec, const struct rules_eval *ev,
    int64_t message, int64_t observed_at)
{
	struct implied *m;

	if (u->nim == u->capim) {
		u->capim = u->capim ? u->capim * 2 : 16;
		u->im = xreallocarray(u->im, u->capim, sizeof(*u->im));
	}
	m = &u->im[u->nim++];
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->dec = dec->kind;
	m->ev = *ev;
	m->from.grade = -1;
	if (dec->kind == RULES_ALERT_ESCALATE ||
	    dec->kind == RULES_ALERT_RECOVERED)
		m->from = u->p.open[dec->replaces];
	m->obs = (int64_t)ev->id;
	m->message = message;
	m->observed_at = observed_at;
	m->in_scope = in_scope(u, observed_at);
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

/* One stored result added and decided as the writer decides it. */
static void
replay_one(struct run *u, const struct rules_result *in,
    const struct rules_entry *e, int64_t message)
{
	const struct rules_eval *ev = &e->ev;
	struct rules_alert_decision dec;
	struct implied *m;
	size_t k;

	if (ev->analyte == RULES_NONE)
		return;
	episode_decide(u->r, &u->p, ev, in->observed_at, &dec);
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
		break; /* data quality: not judged again */
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
	bool based = false;
	int i, j;
	int64_t msg, last = -1;

	pcache_load_enrollment_row(&u->p, u->r, sl->er, sl->erow);
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
		if (up.nsuperseded > 0 || up.nretracted > 0) {
			*withdrawals = true;
			if (!u->standing)
				reeval_ids_note(&u->wd, &up, i);
		}
		replay_one(u, &in, up.entry, msg);
	}
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
		s->kind = strcmp(PQgetvalue(res, i, 1), "recovery") == 0 ?
		    REEVAL_RECOVERY :
		    REEVAL_TOXICITY;
		s->obs = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		s->grade = atoi(PQgetvalue(res, i, 3));
		snprintf(s->state, sizeof(s->state), "%s",
		    PQgetvalue(res, i, 4));
		s->system = PQgetvalue(res, i, 5)[0] == 't';
		s->superseded_by = strtoll(PQgetvalue(res, i, 6), NULL, 10);
		s->resolved_by_obs = strtoll(PQgetvalue(res, i, 7), NULL, 10);
		s->in_scope = in_scope(u, reeval_read_observed_at(sl, s->obs));
		/* Closed by labwatchd when its result was withdrawn. */
		s->used = reeval_ids_has(&u->wd, s->obs);
	}
	u->nsa = (size_t)n;
}

/* Whether writes are only counted: a dry run, or the probe. */
static bool
dry(const struct run *u)
{
	return u->o->dry_run || u->probe;
}

/* The pipeline's last failure as u->cause. */
static void
pipe_cause(struct run *u)
{
	free(u->cause);
	u->cause = xstrdup(u->perr.msg[0] ? u->perr.msg : "writes failed");
}

/*
 * Queue one write of the patient's transaction (a prepared statement;
 * text parameters unless fmt), which lock_patients() began; they are
 * sent without waiting, and finish_writes() commits and reads their
 * results: one round trip.
 */
static int
queue_stmt(struct run *u, const char *name, int n, const char *const *v,
    const int *len, const int *fmt)
{
	if (PQpipelineStatus(u->c) == PQ_PIPELINE_OFF) {
		memset(&u->perr, 0, sizeof(u->perr));
		if (PQenterPipelineMode(u->c) != 1) {
			free(u->cause);
			u->cause = db_error(u->c, NULL);
			return -1;
		}
	}
	if (pgpipe_send_prepared(&u->pc, name, n, v, len, fmt, 0, NULL) ==
	    DB_OK)
		return 0;
	pipe_cause(u);
	return -1;
}

/* One write counted, and queued unless dry (queue_stmt). */
static int
queue_write(struct run *u, const char *name, int n, const char *const *v)
{
	u->nwrites++;
	if (dry(u))
		return 0;
	return queue_stmt(u, name, n, v, NULL, NULL);
}

/*
 * Sync the statements queued and read their results (pgpipe_run),
 * leaving pipeline mode: 0, or -1 with u->cause.
 */
static int
drain(struct run *u)
{
	int rc = 0;

	if (pgpipe_run(&u->pc, NULL, NULL) != DB_OK) {
		pipe_cause(u);
		rc = -1;
	}
	if (PQexitPipelineMode(u->c) != 1 && rc == 0) {
		free(u->cause);
		u->cause = db_error(u->c, NULL);
		rc = -1;
	}
	return rc;
}

/*
 * Commit the queued writes (ok) or give them up: 0 when committed, else
 * -1 with u->cause, rolled back.
 */
static int
finish_writes(struct run *u, bool ok)
{
	PGresult *r;
	int rc = ok ? 0 : -1;

	if (!u->in_tx)
		return rc;
	u->in_tx = false;
	if (PQpipelineStatus(u->c) == PQ_PIPELINE_OFF) {
		/* Nothing queued since the last sync (take_ids). */
		if (rc == 0 &&
		    (r = run_q(u, NULL, "COMMIT", 0, NULL)) != NULL) {
			PQclear(r);
			return 0;
		}
		PQclear(PQexec(u->c, "ROLLBACK"));
		return -1;
	}
	if (rc == 0 && pgpipe_send_sql(&u->pc, "COMMIT", 0) != DB_OK) {
		pipe_cause(u);
		rc = -1;
	}
	if (rc == 0)
		rc = drain(u);
	if (rc != 0) {
		if (PQpipelineStatus(u->c) != PQ_PIPELINE_OFF) {
			/* Failed before the sync: the connection is dropped. */
			u->pc.nq = 0;
			PQreset(u->c);
			return -1;
		}
		PQclear(PQexec(u->c, "ROLLBACK"));
		if (u->cause == NULL)
			u->cause = xstrdup("writes failed");
	}
	return rc;
}

/*
 * n more alert ids from the sequence into the pool, in one round trip
 * (the statements queued so far synced first): 0, or -1 with u->cause.
 */
static int
fill_ids(struct run *u, size_t n)
{
	char cnt[24];
	const char *v[1] = { cnt };
	PGresult *res;
	size_t k, left = u->npool - u->ipool;

	if (PQpipelineStatus(u->c) != PQ_PIPELINE_OFF && drain(u) != 0)
		return -1;
	snprintf(cnt, sizeof(cnt), "%zu", n);
	if ((res = run_q(u, "ids_alert", NULL, 1, v)) == NULL)
		return -1;
	if (left > 0) /* else pool may be NULL, and no offset of it valid */
		memmove(u->pool, u->pool + u->ipool, left * sizeof(*u->pool));
	u->pool = xreallocarray(u->pool, left + (size_t)PQntuples(res) + 1,
	    sizeof(*u->pool));
	for (k = 0; k < (size_t)PQntuples(res); k++)
		u->pool[left + k] = strtoll(PQgetvalue(res, (int)k, 0), NULL,
		    10);
	u->npool = left + k;
	u->ipool = 0;
	PQclear(res);
	return 0;
}

/* Alert ids for the n new alerts of the patient, from the pool. */
static int
take_ids(struct run *u, size_t n)
{
	size_t k;

	if (n == 0 || dry(u))
		return 0;
	/* More than the probe counted: another writer changed the patient. */
	if (u->npool - u->ipool < n && fill_ids(u, n) != 0)
		return -1;
	for (k = 0; k < u->nim; k++)
		if (u->im[k].in_scope && !u->im[k].stored)
			u->im[k].db_id = u->pool[u->ipool++];
	return 0;
}

static void
report(struct run *u, enum reeval_change_kind ch, enum reeval_kind kind,
    int64_t alert, int64_t obs, enum rules_analyte a, int grade,
    const char *state)
{
	struct reeval_change c = { ch, kind, u->p.pid, alert, obs, a, grade,
		state };

	if (u->o->on_change != NULL && !u->probe)
		u->o->on_change(u->o->arg, &c);
}

/* The stored alert the implied one is, or NULL. */
static struct stored *
match(struct run *u, const struct implied *m)
{
	size_t k;

	for (k = 0; k < u->nsa; k++)
		if (!u->sa[k].used && u->sa[k].kind == m->kind &&
		    u->sa[k].obs == m->obs && u->sa[k].grade == m->ev.grade)
			return &u->sa[k];
	return NULL;
}

static int
insert_new(struct run *u, struct implied *m)
{
	struct alert_who who = { u->p.pid, rules_protocol_name(u->r) };
	char ids[6][24];
	const char *v[11];

	if (dry(u)) {
		u->nwrites++;
		return 0;
	}
	buf_reset(&u->sum);
	buf_reset(&u->det);
	if (m->kind == REEVAL_RECOVERY)
		alert_text_recovery(&u->sum, &u->det, &m->ev, NULL, &m->from,
		    &who);
	else
		alert_text_toxicity(&u->sum, &u->det, &m->ev, NULL,
		    m->dec == RULES_ALERT_ESCALATE ? &m->from : NULL, &who);
	snprintf(ids[0], sizeof(ids[0]), "%" PRId64, m->db_id);
	snprintf(ids[1], sizeof(ids[1]), "%" PRId64, u->db_id);
	snprintf(ids[2], sizeof(ids[2]), "%d", m->ev.grade);
	snprintf(ids[3], sizeof(ids[3]), "%" PRId64, m->obs);
	snprintf(ids[4], sizeof(ids[4]), "%" PRId64, m->message);
	v[0] = ids[0];
	v[1] = ids[1];
	v[2] = rules_protocol_name(u->r);
	v[3] = reeval_kind_name(m->kind);
	v[4] = alert_text_severity(m->dec, m->ev.grade);
	v[5] = rules_analyte_name(m->ev.analyte);
	v[6] = m->ev.grade >= 0 ? ids[2] : NULL;
	v[7] = ids[3];
	v[8] = m->message > 0 ? ids[4] : NULL;
	v[9] = u->sum.p != NULL ? u->sum.p : "";
	v[10] = u->det.len ? u->det.p : "{}";
	return queue_write(u, "ins_alert", 11, v);
}

/* Two ids as the parameters of a writer's statement. */
static int
id_stmt(struct run *u, const char *name, int64_t a, int64_t b)
{
	char s[2][24];
	const char *v[2] = { s[0], s[1] };

	snprintf(s[0], sizeof(s[0]), "%" PRId64, a);
	snprintf(s[1], sizeof(s[1]), "%" PRId64, b);
	return queue_write(u, name, b != 0 ? 2 : 1, v);
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
	const char *now = NULL;
	int rc = 0;

	if (m->kind != REEVAL_TOXICITY || m->db_id == 0)
		return 0;
	if (to != NULL && to->db_id != 0) {
		if (live || (s->system && s->superseded_by != to->db_id)) {
			rc = id_stmt(u, "upd_escalated", m->db_id, to->db_id);
			now = "resolved";
		}
	} else if (m->ended_by != 0) {
		if (live) {
			rc = id_stmt(u, "upd_recovered", m->db_id, m->ended_by);
			now = "resolved";
		}
	} else if (s != NULL && !live && strcmp(s->state, "resolved") == 0 &&
	    s->system) {
		rc = id_stmt(u, "upd_past_reopened", m->db_id, 0);
		now = "open";
	}
	if (rc == 0 && now != NULL && s != NULL) {
		u->st->updated[m->kind]++;
		u->st->unchanged[m->kind]--;
		report(u, REEVAL_UPDATED, m->kind, m->db_id, m->obs,
		    m->ev.analyte, m->ev.grade, now);
	}
	return rc;
}

/* The difference between what is implied and what is stored, written. */
static int
write_difference(struct run *u, bool *changed)
{
	const char *v[2];
	char idbuf[24];
	struct stored *s;
	struct implied *m;
	size_t k, n;

	for (k = 0, n = 0; k < u->nim; k++) {
		m = &u->im[k];
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
	u->nnew += n;
	if (take_ids(u, n) != 0)
		return -1;
	for (k = 0; k < u->nim; k++) {
		m = &u->im[k];
		if (!m->in_scope || m->stored)
			continue;
		if (insert_new(u, m) != 0)
			return -1;
		*changed = true;
		u->st->added[m->kind]++;
		report(u, REEVAL_NEW, m->kind, m->db_id, m->obs, m->ev.analyte,
		    m->ev.grade, "open");
	}
	for (k = 0; k < u->nim; k++) {
		m = &u->im[k];
		s = NULL;
		if (m->stored)
			for (s = u->sa; s->id != m->db_id; s++)
				;
		if (m->in_scope && settle(u, m, s) != 0)
			return -1;
	}
	for (k = 0; k < u->nsa; k++) {
		s = &u->sa[k];
		if (s->used || !s->in_scope)
			continue;
		snprintf(idbuf, sizeof(idbuf), "%" PRId64, s->id);
		v[0] = idbuf;
		v[1] = u->o->reason;
		if (queue_write(u, "upd_alert_reevaluated", 2, v) != 0)
			return -1;
		*changed = true;
		u->st->retracted[s->kind]++;
		report(u, REEVAL_RETRACTED, s->kind, s->id, s->obs, RULES_NONE,
		    s->grade, "retracted");
	}
	return 0;
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
 * The batch's transaction begun and its patients (u->pids) locked as
 * the writer locks them (lock_patients, binary text[] as plock.c sends
 * it), so that no labwatchd judges them meanwhile: 0, or -1 with
 * u->cause.
 */
static int
lock_patients(struct run *u)
{
	const char *v[1];
	int len[1], fmt[1] = { 1 };
	PGresult *r;

	if ((r = run_q(u, NULL, "BEGIN", 0, NULL)) == NULL)
		return -1;
	PQclear(r);
	u->in_tx = true;
	v[0] = pgarr_finish(&u->pids, &len[0]);
	r = PQexecPrepared(u->c, "lock_patients", 1, v, len, fmt, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		PQclear(r);
		return 0;
	}
	free(u->cause);
	u->cause = db_error(u->c, r);
	PQclear(r);
	return -1;
}

/* A patient statement of plock.c (binary text[]) queued on u->pids. */
static int
queue_pid_stmt(struct run *u, const char *name)
{
	const char *v[1];
	int len[1], fmt[1] = { 1 };

	v[0] = pgarr_finish(&u->pids, &len[0]);
	return queue_stmt(u, name, 1, v, len, fmt);
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
	rc = write_difference(u, &changed);
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
 * Each patient of b read (res) judged with probe (the marked ones only
 * when only), in patient order; fn(arg, j) after each.
 */
static int
judge_batch(struct run *u, struct batch *b, PGresult **res, bool probe,
    bool only, int (*fn)(struct run *u, struct batch *b, int j))
{
	struct reeval_slice sl;
	int j, at[3] = { 0, 0, 0 }, rc = 0;

	for (j = 0; j < b->k && rc == 0; j++) {
		if (only && !b->mark[j])
			continue;
		u->db_id = strtoll(PQgetvalue(b->pr, b->first + j, 0), NULL,
		    10);
		reeval_read_slice(res, u->db_id, at, &sl);
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
	return queue_write(u, "reeval_notify", 1, v);
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
	PGresult *res[3];
	size_t nnew = u->nnew;
	int rc;

	if (marked(u, b) == 0)
		return 0;
	if (lock_patients(u) != 0 || (nnew > 0 && fill_ids(u, nnew) != 0) ||
	    fetch(u, &u->pc, res) != 0)
		return finish_writes(u, false);
	u->base = *u->st;
	rc = judge_batch(u, b, res, false, true, written);
	reeval_read_clear(res);
	if (rc == 0 && marked(u, b) > 0)
		rc = queue_pid_stmt(u, "bump_patients");
	return finish_writes(u, rc == 0);
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

/*
 * Every batch of the patients of pr read, judged and written. With a
 * session of its own for the reads, the next batch is asked for before
 * this one is judged: the server reads it meanwhile.
 */
static int
all_batches(struct run *u, const PGresult *pr)
{
	PGresult *res[3];
	bool ahead = u->prd.conn != u->c, sent = false;
	int i, k, n = PQntuples(pr), rc = 0;

	for (i = 0; i < n && rc == 0; i += k) {
		k = n - i < BATCH_PATIENTS ? n - i : BATCH_PATIENTS;
		if (!sent) {
			batch_ids(u, pr, i, k);
			if (fetch_send(u, &u->prd) != 0)
				return -1;
		}
		if (reeval_read_recv(&u->prd, res, &u->cause) != 0)
			return -1;
		sent = false;
		if (ahead && i + k < n) {
			batch_ids(u, pr, i + k,
			    n - i - k < BATCH_PATIENTS ? n - i - k :
							 BATCH_PATIENTS);
			sent = fetch_send(u, &u->prd) == 0;
			rc = sent ? 0 : -1;
		}
		if (rc == 0)
			rc = one_batch(u, pr, i, k, res);
		else
			reeval_read_clear(res);
	}
	/* Stopped on an error: the batch asked ahead is not wanted. */
	if (sent && reeval_read_recv(&u->prd, res, &u->cause) == 0) {
		reeval_read_clear(res);
	}
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
	if (u->prd.conn != u->c &&
	    reeval_read_prepare(u->prd.conn, &u->cause) != 0)
		return -1;
	return 0;
}

int
reeval_run(PGconn *c, PGconn *rd, const struct rules *r,
    const struct reeval_opts *o, struct reeval_stats *st, char **cause)
{
	struct run u;
	const char *v[2] = { rules_protocol_name(r), o->patient };
	PGresult *res = NULL;
	int rc = 0;

	memset(&u, 0, sizeof(u));
	memset(st, 0, sizeof(*st));
	u.c = c;
	/* Sessions the caller owns: detached before pgpipe_free(). */
	pgpipe_init(&u.pc, &u.perr, NULL, NULL);
	pgpipe_init(&u.prd, &u.perr, NULL, NULL);
	u.pc.conn = c;
	u.prd.conn = rd != NULL ? rd : c;
	u.r = r;
	u.o = o;
	u.st = st;
	buf_init(&u.sum);
	buf_init(&u.det);
	pgarr_init(&u.pids, PGARR_TEXT);
	pgarr_init(&u.ids, PGARR_INT8);
	if (prepare(&u) != 0 ||
	    (res = run_q(&u, NULL, sel_patients, 2, v)) == NULL)
		rc = -1;
	if (rc == 0)
		rc = all_batches(&u, res);
	PQclear(res);
	patient_reset(&u);
	free(u.im);
	free(u.sa);
	free(u.pool);
	free(u.wd.v);
	buf_free(&u.sum);
	buf_free(&u.det);
	pgarr_free(&u.pids);
	pgarr_free(&u.ids);
	u.pc.conn = u.prd.conn = NULL;
	pgpipe_free(&u.pc);
	pgpipe_free(&u.prd);
	*cause = u.cause;
	return rc;
}
