/*
 * plock.c: the patients of a batch, when several labwatchd share one
 * database (DESIGN.md "Several daemons, one truth"; issue 15).
 *
 * Round trip 1 locks each patient with results for the batch's
 * transaction (an advisory lock, keys sorted: lock_patients), before
 * anything of it is read, and bumps its version (bump_patients). The lock
 * serializes the batches of all writers that touch the patient: what one
 * reads of it after the lock is everything the others committed. The
 * version tells a writer whether its cached patient (pcache) is still
 * what the database holds: if another writer bumped it since, the entry is
 * forgotten and loaded again before the rules judge.
 */
#include "store/plock.h"

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "lib/xmalloc.h"
#include "rules/rules.h"
#include "store/ingest_int.h"
#include "store/pcache.h"
#include "store/pgarr.h"
#include "store/pgpipe.h"
#include "store/text.h"

/* p (first seen in pat) is one of the batch's patients, listed once. */
static void
touch_patient(struct ingest *g, struct side *d, struct pcache *p,
    const struct oru_patient *pat)
{
	size_t len = strlen(p->pid);

	if (p->touched == d->seq)
		return;
	p->touched = d->seq;
	p->stale = false;
	if (g->ntouch == g->captouch) {
		g->captouch = g->captouch ? 2 * g->captouch : 64;
		g->touch = xreallocarray(g->touch, g->captouch,
		    sizeof(*g->touch));
		g->touch_pat = xreallocarray(g->touch_pat, g->captouch,
		    sizeof(*g->touch_pat));
	}
	g->touch_pat[g->ntouch] = pat;
	g->touch[g->ntouch++] = p;
	/* As ins_patient stores it (ingest_pstr). */
	pgarr_commit(&g->pids,
	    text_sanitize(pgarr_reserve(&g->pids, len * 3), p->pid, len));
}

/* The touched patients' ids (g->pids) as the one parameter of stmt. */
static enum db_rc
send_pids(struct ingest *g, struct side *d, const char *stmt, enum qtag tag)
{
	const char *v[1];
	int len[1], fmt[1] = { 1 };

	v[0] = pgarr_finish(&g->pids, &len[0]);
	return pgpipe_send_prepared(&d->pipe, stmt, 1, v, len, fmt, (int)tag,
	    NULL);
}

/* ins_patient (when pat is given: p first seen in it) and sel_enroll. */
static enum db_rc
send_patient(struct ingest *g, struct side *d, struct pcache *p,
    const struct oru_patient *pat)
{
	const char *v[2];
	enum db_rc rc;

	v[0] = ingest_pstr(g, p->pid, strlen(p->pid));
	if (pat != NULL) {
		v[1] = ingest_pstr(g, pat->authority.p, pat->authority.len);
		if ((rc = ingest_send_stmt(d, "ins_patient", 2, v, Q_PATIENT,
			 p)) != DB_OK)
			return rc;
	}
	v[1] = rules_protocol_name(g->rules);
	return ingest_send_stmt(d, "sel_enroll", 2, v, Q_ENROLL, p);
}

/*
 * The patients of a batch's results: each locked for the transaction,
 * rows for those the cache lacks, their enrollments, and their versions
 * bumped. Counts their observations and groups.
 *
 * The locks come first, so that what is read of a patient after them
 * (enrollment, history, alerts) is what every other writer committed,
 * and what this batch writes no other writer judges before it commits.
 */
enum db_rc
plock_send(struct ingest *g, struct side *d, struct ingest_work **ws, size_t n,
    size_t *nobs, size_t *ngroups)
{
	const struct oru_patient *pat;
	struct pcache *p;
	size_t i;
	uint32_t j;
	enum db_rc rc;

	g->ntouch = 0;
	pgarr_reset(&g->pids);
	for (i = 0; i < n; i++) {
		if (ws[i]->quarantine || ws[i]->ignored || !ws[i]->parsed)
			continue;
		for (j = 0; j < ws[i]->oru.npatients; j++) {
			pat = &ws[i]->oru.patients[j];
			*nobs += pat->nobs;
			(*ngroups)++;
			if (pat->nobs == 0)
				continue;
			p = pcache_get(&g->pc, pat->id.p, pat->id.len, true);
			p->seq = d->seq;
			touch_patient(g, d, p, pat);
		}
	}
	if (g->ntouch == 0)
		return DB_OK;
	if ((rc = send_pids(g, d, "lock_patients", Q_IGNORE)) != DB_OK)
		return rc;
	for (i = 0; i < g->ntouch; i++) {
		p = g->touch[i];
		if (p->db_id != 0 || p->pending)
			continue;
		p->pending = true;
		if ((rc = send_patient(g, d, p, g->touch_pat[i])) != DB_OK)
			return rc;
	}
	return send_pids(g, d, "bump_patients", Q_VERSION);
}

/*
 * bump_patients rows: each touched patient's version after our bump. Not
 * ours + 1: another writer wrote the patient since we loaded it.
 */
void
plock_versions(struct ingest *g, const PGresult *res)
{
	struct pcache *p;
	int64_t k, v;
	int i, n = PQntuples(res);

	for (i = 0; i < n; i++) {
		k = strtoll(PQgetvalue(res, i, 0), NULL, 10) - 1;
		v = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		if (k < 0 || (size_t)k >= g->ntouch)
			continue;
		p = g->touch[k];
		if (!p->pending && p->version + 1 != v)
			p->stale = true;
		p->version = v;
	}
}

/*
 * Patients another writer wrote since we loaded them (plock_versions):
 * forgotten and their enrollments asked for again (under this batch's
 * locks), their histories in round trip 1b as for a patient first seen.
 */
enum db_rc
plock_send_stale(struct ingest *g, struct side *d)
{
	struct pcache *p;
	size_t i;
	enum db_rc rc;

	for (i = 0; i < g->ntouch; i++) {
		p = g->touch[i];
		if (!p->stale)
			continue;
		p->stale = false;
		pcache_forget(p);
		p->pending = true;
		g->reloads++;
		if ((rc = send_patient(g, d, p, NULL)) != DB_OK)
			return rc;
	}
	return DB_OK;
}

bool
plock_drop_ids_behind(struct ingest *g, enum idpool_kind which)
{
	struct idpool *pool = &g->ids[which];
	size_t i;

	if (pool->n == 0)
		return false;
	for (i = 0; i < g->ntouch; i++)
		if (g->touch[i]->h != NULL &&
		    g->touch[i]->last_id[which] >= pool->ids[pool->n - 1]) {
			pool->n = 0;
			return true;
		}
	return false;
}
