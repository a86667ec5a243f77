/*
 * reeval_elig.c: eligibility judged again (see reeval_elig.h).
 */
#include "store/reeval_elig.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "store/alert_text.h"
#include "store/elig.h"
#include "store/reeval_write.h"

/* Columns of the stored alerts' read (reeval_read.c). */
#define COL_MESSAGE 12
#define COL_STATUS 14
/* Columns of the verdict rows' read. */
#define VCOL_MESSAGE 0
#define VCOL_STATUS 1
#define VCOL_DIGEST 2
#define VCOL_RECEIVED 3

void
reeval_elig_reset(struct run *u)
{
	size_t k;

	for (k = 0; k < u->nel; k++) {
		free(u->el[k].summary);
		free(u->el[k].details);
	}
	u->nel = 0;
	u->last.message = 0;
	u->last.stored[0] = '\0';
}

void
reeval_elig_begin(struct run *u, const struct reeval_slice *sl)
{
	int i;

	snprintf(u->elig, sizeof(u->elig), "%s", u->p.elig);
	u->p.elig[0] = '\0';
	u->last.message = 0;
	u->last.stored[0] = '\0';
	u->last.vat = sl->vlo;
	buf_reset(&u->last.stored_digest);
	for (i = sl->vlo; i < sl->vhi; i++) {
		if (PQgetisnull(sl->vr, i, VCOL_DIGEST))
			continue;
		snprintf(u->last.stored, sizeof(u->last.stored), "%s",
		    PQgetvalue(sl->vr, i, VCOL_STATUS));
		buf_adds(&u->last.stored_digest,
		    PQgetvalue(sl->vr, i, VCOL_DIGEST));
	}
}

/*
 * The verdict row of sl on message msg, or -1: labwatchd did not judge
 * it. The rows and the messages replayed come in the same order: the
 * search starts at *at (from sl->vlo when NULL), where the next one is
 * looked for.
 */
static int
verdict_row(const struct reeval_slice *sl, int64_t msg, int *at)
{
	int i, n = sl->vhi - sl->vlo, from = at != NULL ? *at : sl->vlo, k;

	for (k = 0; k < n; k++) {
		i = from + k < sl->vhi ? from + k : from + k - n;
		if (strtoll(PQgetvalue(sl->vr, i, VCOL_MESSAGE), NULL, 10) !=
		    msg)
			continue;
		if (at != NULL)
			*at = i + 1 < sl->vhi ? i + 1 : sl->vlo;
		return i;
	}
	return -1;
}

bool
reeval_elig_judged(const struct run *u, const struct reeval_slice *sl,
    int64_t msg, int *at)
{
	return u->p.phase != RULES_PHASE_SCREENING ||
	    verdict_row(sl, msg, at) >= 0;
}

/* The criteria of er as the verdict read gives the latest row's. */
static void
digest(struct buf *b, const struct rules_eligibility_result *er)
{
	const struct rules_criterion_verdict *c;
	size_t i;

	buf_reset(b);
	for (i = 0; i < er->ncriteria; i++) {
		c = &er->criteria[i];
		buf_printf(b, "%s%s|%s|%s|%lld", i ? ";" : "",
		    rules_analyte_name(c->analyte), c->text ? c->text : "",
		    c->verdict == RULES_VERDICT_NONE ?
			"no_result" :
			rules_verdict_name(c->verdict),
		    c->rests_on ? (long long)c->rests_on->id : 0LL);
	}
}

/* One more implied eligibility alert, zeroed. */
static struct elig_implied *
el_push(struct run *u)
{
	struct elig_implied *e;

	if (u->nel == u->capel) {
		u->capel = u->capel ? u->capel * 2 : 8;
		u->el = xreallocarray(u->el, u->capel, sizeof(*u->el));
	}
	e = &u->el[u->nel++];
	memset(e, 0, sizeof(*e));
	return e;
}

void
reeval_elig_message(struct run *u, const struct reeval_slice *sl, int64_t msg,
    int64_t at)
{
	struct alert_who who = { u->p.pid, rules_protocol_name(u->r), u->r };
	struct rules_eligibility_result er;
	struct elig_implied *e;
	enum elig_outcome out;
	int64_t received;
	int row;

	if (u->p.phase != RULES_PHASE_SCREENING ||
	    (row = verdict_row(sl, msg, &u->last.vat)) < 0)
		return;
	received = (int64_t)strtod(PQgetvalue(sl->vr, row, VCOL_RECEIVED),
	    NULL);
	out = elig_decide(u->r, &u->p, at, received, &er);
	if (out == ELIG_NONE)
		return;
	u->last.message = msg;
	u->last.at = at >= 0 ? at : received;
	u->last.status = er.status;
	buf_reset(&u->last.criteria);
	alert_text_criteria(&u->last.criteria, u->r, &er);
	digest(&u->last.digest, &er);
	if (out != ELIG_CHANGED)
		return;
	e = el_push(u);
	e->message = msg;
	e->at = u->last.at;
	e->status = er.status;
	e->severity = elig_severity(&er);
	e->in_scope = reeval_in_scope(u, e->at);
	buf_reset(&u->sum);
	buf_reset(&u->det);
	alert_text_eligibility(&u->sum, &u->det, &er, &who);
	e->summary = xstrdup(u->sum.p != NULL ? u->sum.p : "");
	e->details = xstrdup(u->det.p != NULL ? u->det.p : "{}");
}

void
reeval_elig_load(struct run *u, struct stored *s, const struct reeval_slice *sl,
    int row)
{
	int64_t at;
	int v;

	s->message = strtoll(PQgetvalue(sl->ar, row, COL_MESSAGE), NULL, 10);
	snprintf(s->verdict, sizeof(s->verdict), "%s",
	    PQgetvalue(sl->ar, row, COL_STATUS));
	/* When the message was judged: as reeval_elig_message() has it. */
	at = reeval_read_message_at(sl, s->message);
	if (at < 0 && (v = verdict_row(sl, s->message, NULL)) >= 0)
		at = (int64_t)strtod(PQgetvalue(sl->vr, v, VCOL_RECEIVED),
		    NULL);
	s->in_scope = reeval_in_scope(u, at);
	/* Judged in screening; a patient past it keeps them as they are. */
	if (u->p.phase != RULES_PHASE_SCREENING)
		s->used = true;
}

/* The stored eligibility alert implied e is, or NULL. */
static struct stored *
match(struct run *u, const struct elig_implied *e)
{
	const char *status = rules_eligibility_name(e->status);
	struct stored *s;
	size_t k;

	for (k = 0; k < u->nsa; k++) {
		s = &u->sa[k];
		if (!s->used && s->kind == REEVAL_ELIGIBILITY &&
		    s->message == e->message && strcmp(s->verdict, status) == 0)
			return s;
	}
	return NULL;
}

size_t
reeval_elig_match(struct run *u)
{
	struct elig_implied *e;
	struct stored *s;
	size_t k, n = 0;

	for (k = 0; k < u->nel; k++) {
		e = &u->el[k];
		s = match(u, e);
		if (!e->in_scope) {
			/* Outside the window: left as it is. */
			if (s != NULL && !s->in_scope)
				s->used = e->stored = true;
			continue;
		}
		if (s != NULL && s->in_scope) {
			s->used = e->stored = true;
			e->db_id = s->id;
			u->st->unchanged[REEVAL_ELIGIBILITY]++;
		} else
			n++;
	}
	return n;
}

/* The change of e told. */
static void
report(struct run *u, enum reeval_change_kind ch, const struct elig_implied *e)
{
	struct reeval_change c = { .kind = REEVAL_ELIGIBILITY,
		.alert = e->db_id,
		.analyte = RULES_NONE,
		.grade = -1,
		.state = "open",
		.verdict = rules_eligibility_name(e->status),
		.message = e->message };

	reeval_report(u, ch, &c);
}

int
reeval_elig_insert(struct run *u, bool *changed)
{
	struct elig_implied *e;
	char ids[3][24];
	const char *v[11];
	size_t k;

	for (k = 0; k < u->nel; k++) {
		e = &u->el[k];
		if (!e->in_scope || e->stored)
			continue;
		snprintf(ids[0], sizeof(ids[0]), "%" PRId64, e->db_id);
		snprintf(ids[1], sizeof(ids[1]), "%" PRId64, u->db_id);
		snprintf(ids[2], sizeof(ids[2]), "%" PRId64, e->message);
		v[0] = ids[0];
		v[1] = ids[1];
		v[2] = rules_protocol_name(u->r);
		v[3] = "eligibility";
		v[4] = e->severity;
		v[5] = NULL;
		v[6] = NULL;
		v[7] = NULL;
		v[8] = ids[2];
		v[9] = e->summary;
		v[10] = e->details;
		if (reeval_queue_write(u, "ins_alert", 11, v) != 0)
			return -1;
		*changed = true;
		u->st->added[REEVAL_ELIGIBILITY]++;
		report(u, REEVAL_NEW, e);
	}
	return 0;
}

int
reeval_elig_verdict(struct run *u)
{
	const char *status = rules_eligibility_name(u->last.status);
	const char *v[5];
	char ids[2][24];

	if (u->last.message == 0 || !reeval_in_scope(u, u->last.at))
		return 0;
	snprintf(ids[0], sizeof(ids[0]), "%" PRId64, u->db_id);
	snprintf(ids[1], sizeof(ids[1]), "%" PRId64, u->last.message);
	v[0] = ids[0];
	v[1] = rules_protocol_name(u->r);
	v[2] = status;
	v[3] = ids[1];
	v[4] = u->last.criteria.p;
	if (strcmp(u->last.stored, status) != 0 ||
	    u->last.digest.len != u->last.stored_digest.len ||
	    (u->last.digest.len > 0 &&
		memcmp(u->last.digest.p, u->last.stored_digest.p,
		    u->last.digest.len) != 0)) {
		if (reeval_queue_write(u, "ins_elig", 5, v) != 0)
			return -1;
		u->st->verdicts++;
	}
	if (strcmp(u->elig, status) == 0)
		return 0;
	return reeval_queue_write(u, "upd_elig_status", 3, v);
}
