/*
 * reeval_write.h: the writes of `labwatch reevaluate` (reeval.c,
 * reeval_hold.c) on its writing session: the batch's transaction begun
 * and its patients locked as labwatchd locks them (plock.c), statements
 * queued in one pipeline and committed in one round trip, alert ids
 * taken from the sequence. Each returns 0, or -1 with u->cause.
 */
#ifndef LABWATCH_REEVAL_WRITE_H
#define LABWATCH_REEVAL_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store/reeval_int.h"

/* Run a statement (prepared when name, else sql); NULL with u->cause. */
PGresult *reeval_run_q(struct run *u, const char *name, const char *sql, int n,
    const char *const *v);
/* Whether writes are only counted: a dry run, or the probe. */
bool reeval_dry(const struct run *u);
/*
 * Count one write of the patient's transaction, and queue it (prepared
 * statement name, text parameters) unless dry: 0, or -1 with u->cause.
 */
int reeval_queue_write(struct run *u, const char *name, int n,
    const char *const *v);
/* A writer's statement on one or two ids (b 0: one). */
int reeval_id_stmt(struct run *u, const char *name, int64_t a, int64_t b);
/*
 * The batch's transaction begun and its patients (u->pids) locked as
 * the writer locks them (lock_patients, binary text[]); the alert ids
 * left in the pool from before the locks dropped.
 */
int reeval_lock_patients(struct run *u);
/* A patient statement of plock.c (binary text[]) queued on u->pids. */
int reeval_queue_pid_stmt(struct run *u, const char *name);
/*
 * Commit the queued writes (ok) or give them up: 0 when committed, else
 * -1 with u->cause, rolled back.
 */
int reeval_finish_writes(struct run *u, bool ok);
/* n more alert ids from the sequence into the pool, in one round trip. */
int reeval_fill_ids(struct run *u, size_t n);
/* Alert ids for the n new alerts of the patient, from the pool. */
int reeval_take_ids(struct run *u, size_t n);

#endif
