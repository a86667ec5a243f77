/*
 * batch_ids.c: a batch's frames by the id their rows were offered with.
 * The ids of a batch ascend unless a drained frame was offered again with
 * its old id: a binary search would then miss it and take it for a
 * duplicate (its observations never written), so such a batch is walked.
 */
#include "store/batch_ids.h"

#include "store/triage.h"

bool
batch_ids_ascend(struct ingest_work *const *ws, size_t n)
{
	int64_t prev = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (ws[i]->reserved_id <= prev)
			return false;
		prev = ws[i]->reserved_id;
	}
	return true;
}

struct ingest_work *
batch_ids_find(struct ingest_work *const *ws, size_t n, bool ascending,
    int64_t id)
{
	size_t lo = 0, hi = n, mid;

	if (!ascending) {
		for (lo = 0; lo < n; lo++)
			if (ws[lo]->reserved_id == id)
				return ws[lo];
		return NULL;
	}
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (ws[mid]->reserved_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && ws[lo]->reserved_id == id ? ws[lo] : NULL;
}
