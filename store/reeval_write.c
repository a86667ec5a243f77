/*
 * reeval_write.c: the writes of `labwatch reevaluate` (see
 * reeval_write.h): a batch's transaction on the writing session, its
 * patients locked as labwatchd locks them, its statements queued in one
 * pipeline (store/pgpipe.c) and committed in one round trip, and the
 * alert ids taken from the sequence.
 */
#include "store/reeval_write.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "store/db.h"

/* Run a statement (prepared when name, else sql); NULL with run->cause. */
PGresult *
reeval_run_q(struct run *u, const char *name, const char *sql, int n,
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

/* Whether writes are only counted: a dry run, or the probe. */
bool
reeval_dry(const struct run *u)
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
 * text parameters unless fmt), which reeval_lock_patients() began; they are
 * sent without waiting, and reeval_finish_writes() commits and reads their
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
int
reeval_queue_write(struct run *u, const char *name, int n, const char *const *v)
{
	u->nwrites++;
	if (reeval_dry(u))
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
int
reeval_finish_writes(struct run *u, bool ok)
{
	PGresult *r;
	int rc = ok ? 0 : -1;

	if (!u->in_tx)
		return rc;
	u->in_tx = false;
	if (PQpipelineStatus(u->c) == PQ_PIPELINE_OFF) {
		/* Nothing queued since the last sync (take_ids). */
		if (rc == 0 &&
		    (r = reeval_run_q(u, NULL, "COMMIT", 0, NULL)) != NULL) {
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
int
reeval_fill_ids(struct run *u, size_t n)
{
	char cnt[24];
	const char *v[1] = { cnt };
	PGresult *res;
	size_t k, left = u->npool - u->ipool;

	if (PQpipelineStatus(u->c) != PQ_PIPELINE_OFF && drain(u) != 0)
		return -1;
	snprintf(cnt, sizeof(cnt), "%zu", n);
	if ((res = reeval_run_q(u, "ids_alert", NULL, 1, v)) == NULL)
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
int
reeval_take_ids(struct run *u, size_t n)
{
	size_t k;

	if (n == 0 || reeval_dry(u))
		return 0;
	/* More than the probe counted: another writer changed the patient. */
	if (u->npool - u->ipool < n && reeval_fill_ids(u, n) != 0)
		return -1;
	for (k = 0; k < u->nim; k++)
		if (u->im[k].in_scope && !u->im[k].stored && !u->im[k].gone)
			u->im[k].db_id = u->pool[u->ipool++];
	for (k = 0; k < u->nel; k++)
		if (u->el[k].in_scope && !u->el[k].stored)
			u->el[k].db_id = u->pool[u->ipool++];
	return 0;
}

/* Two ids as the parameters of a writer's statement. */
int
reeval_id_stmt(struct run *u, const char *name, int64_t a, int64_t b)
{
	char s[2][24];
	const char *v[2] = { s[0], s[1] };

	snprintf(s[0], sizeof(s[0]), "%" PRId64, a);
	snprintf(s[1], sizeof(s[1]), "%" PRId64, b);
	return reeval_queue_write(u, name, b != 0 ? 2 : 1, v);
}

/*
 * The batch's transaction begun and its patients (u->pids) locked as
 * the writer locks them (lock_patients, binary text[] as plock.c sends
 * it), so that no labwatchd judges them meanwhile: 0, or -1 with
 * u->cause.
 */
int
reeval_lock_patients(struct run *u)
{
	const char *v[1];
	int len[1], fmt[1] = { 1 };
	PGresult *r;

	if ((r = reeval_run_q(u, NULL, "BEGIN", 0, NULL)) == NULL)
		return -1;
	PQclear(r);
	u->in_tx = true;
	v[0] = pgarr_finish(&u->pids, &len[0]);
	r = PQexecPrepared(u->c, "lock_patients", 1, v, len, fmt, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		PQclear(r);
		/*
		 * Ids left from an earlier batch were taken before these
		 * locks: a labwatchd may have stored these patients' alerts
		 * above them since. Those taken now are above every stored
		 * one, as labwatchd's (plock_drop_ids_behind).
		 */
		u->ipool = u->npool;
		return 0;
	}
	free(u->cause);
	u->cause = db_error(u->c, r);
	PQclear(r);
	return -1;
}

/* A patient statement of plock.c (binary text[]) queued on u->pids. */
int
reeval_queue_pid_stmt(struct run *u, const char *name)
{
	const char *v[1];
	int len[1], fmt[1] = { 1 };

	v[0] = pgarr_finish(&u->pids, &len[0]);
	return queue_stmt(u, name, 1, v, len, fmt);
}
