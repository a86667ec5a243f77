/*
 * reeval_elig.h: `labwatch reevaluate` judges the eligibility of
 * screening patients again. On the first replay of a patient's results
 * (all of them in stored order, as labwatchd judged them), after each
 * message labwatchd judged (it has an eligibility verdict row) the
 * verdict is decided as the writer decides it (elig_decide), from no
 * status announced; each change implies an eligibility alert, set
 * against the stored ones by message and status. The verdict rows
 * stored are never changed: when the latest one differs from the
 * verdict the results now give (status, or a criterion's verdict, text
 * or result), that verdict is appended as the latest row, and
 * enrollments.eligibility_status follows it.
 */
#ifndef LABWATCH_REEVAL_ELIG_H
#define LABWATCH_REEVAL_ELIG_H

#include <stddef.h>
#include <stdint.h>

#include "store/reeval_int.h"

/* The implied eligibility alerts and verdict forgotten. */
void reeval_elig_reset(struct run *u);
/*
 * Before the first replay (the enrollment loaded): the status judged from
 * nothing announced; the one stored and the latest verdict row of sl kept.
 */
void reeval_elig_begin(struct run *u, const struct reeval_slice *sl);
/*
 * After the results of message msg (the latest observed at at, -1
 * unknown) were replayed: its verdict, when labwatchd judged it.
 */
void reeval_elig_message(struct run *u, const struct reeval_slice *sl,
    int64_t msg, int64_t at);
/*
 * Whether labwatchd judged the results of message msg as a protocol
 * patient's: always, but for a patient now in screening, only a message
 * with a verdict row (one stored before the patient was enrolled was
 * not: its results' data_quality alerts are neither written nor
 * retracted). at: where to look first (reeval_elig.c's verdict_row),
 * NULL: from the first row.
 */
bool reeval_elig_judged(const struct run *u, const struct reeval_slice *sl,
    int64_t msg, int *at);
/* The eligibility fields of stored alert s, row row of sl's alerts. */
void reeval_elig_load(struct run *u, struct stored *s,
    const struct reeval_slice *sl, int row);
/*
 * The implied eligibility alerts matched with the stored ones (those
 * matched used, counted unchanged): the number of new ones.
 */
size_t reeval_elig_match(struct run *u);
/*
 * The new ones inserted (their ids taken by reeval_take_ids), *changed
 * set: 0, or -1 with u->cause.
 */
int reeval_elig_insert(struct run *u, bool *changed);
/*
 * The latest verdict appended and enrollments.eligibility_status set
 * when they differ from what the results now give (the last message
 * judged in the window): 0, or -1 with u->cause.
 */
int reeval_elig_verdict(struct run *u);

#endif
