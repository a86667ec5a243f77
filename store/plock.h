/*
 * plock.h: the patients of a batch locked and their versions checked,
 * so that several labwatchd can write to one database (plock.c).
 */
#ifndef LABWATCH_PLOCK_H
#define LABWATCH_PLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store/db.h"
#include "store/ingest_int.h"
#include "store/pcache.h"

/*
 * Round trip 1's patient statements for ws, sent on d: the patients with
 * results locked (one statement, keys sorted), rows for those the cache
 * lacks and their enrollments, then their versions bumped (Q_VERSION).
 * Counts the observations and patient groups of ws into *nobs, *ngroups.
 */
LW_MUSTCHECK enum db_rc plock_send(struct ingest *g, struct side *d,
    struct ingest_work **ws, size_t n, size_t *nobs, size_t *ngroups);
/* bump_patients rows (Q_VERSION): a patient bumped by another is stale. */
void plock_versions(struct ingest *g, const PGresult *res);
/*
 * sel_enroll for each stale patient, forgotten first (pending again: its
 * history comes in round trip 1b). Sent, not run.
 */
LW_MUSTCHECK enum db_rc plock_send_stale(struct ingest *g, struct side *d);
/*
 * After round trip 1b (histories and alerts loaded): g's ids of kind
 * which (one of a patient's rows) dropped, and true, when a patient of
 * the batch has a stored row of that kind (pcache.last_id) of an id
 * above the next one the pool gives
 * (another writer reserved its ids later and stored with them). Reserved
 * again under the patients' locks, the ids are above every stored one,
 * so that a patient's results and toxicity alerts ascend in the order
 * they were judged: labwatch reevaluate replays the results in id order,
 * and labwatchd takes the alert of highest id for the latest one.
 */
bool plock_drop_ids_behind(struct ingest *g, enum idpool_kind which);

#endif
