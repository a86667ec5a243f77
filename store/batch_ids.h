/*
 * batch_ids.h: a batch's frames found by the id their message rows were
 * offered with (RETURNING ids, ingest.c's round trip 1 and a batch
 * landing). Pure: no database.
 */
#ifndef LW_STORE_BATCH_IDS_H
#define LW_STORE_BATCH_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ingest_work;

/*
 * Whether the reserved ids of ws[0..n) ascend, each above the one before
 * and the first above 0 (0: no id was left to reserve). A drained frame
 * offered again with its old id (spooled_id) breaks the order.
 */
bool batch_ids_ascend(struct ingest_work *const *ws, size_t n);

/*
 * The work of ws[0..n) whose row was offered with id, or NULL: a binary
 * search when their ids ascend (batch_ids_ascend()), else a walk.
 */
struct ingest_work *batch_ids_find(struct ingest_work *const *ws, size_t n,
    bool ascending, int64_t id);

#endif
