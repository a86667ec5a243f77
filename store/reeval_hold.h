/*
 * reeval_hold.h: `labwatch reevaluate` judges the hold and resume alerts
 * again: after each replayed message the hold state is decided as the
 * writer decides it (hold_decide), from nothing announced but the holds
 * stored before the treatment start (reeval_hold_begin), and what that
 * implies (holds, the resumes that answer them) is set against the
 * stored ones by rule and stops (a hold: and its result; a resume: and
 * its message and dose). The withdrawn lines are not judged again.
 */
#ifndef LABWATCH_REEVAL_HOLD_H
#define LABWATCH_REEVAL_HOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/alert_text.h"
#include "store/reeval_int.h"

/*
 * The patient's announced holds forgotten: its results judge from none,
 * but for the holds stored on results observed before the treatment
 * start (sl's alerts), which no result judged again changes: their stop
 * count, restart dose and a hold still open are announced once the
 * replay has passed their results, as labwatchd carried them across the
 * phase change.
 */
void reeval_hold_begin(struct run *u, const struct reeval_slice *sl);
/*
 * After the results of message msg (the latest observed at at, -1
 * unknown) were replayed: the holds and resumes they imply added.
 */
void reeval_hold_message(struct run *u, int64_t msg, int64_t at);
/* The hold fields of stored alert s, row row of sl's alerts. */
void reeval_hold_load(struct run *u, struct stored *s,
    const struct reeval_slice *sl, int row);
/*
 * After the patient's stored alerts are loaded: a hold answered by a
 * resume that was retracted (labwatchd undid it: the result it rested on
 * was withdrawn, and held again on the same result) is left as it is.
 */
void reeval_hold_loaded(struct run *u);
/* Whether stored hold or resume s is the implied m. */
bool reeval_hold_match(const struct run *u, const struct implied *m,
    const struct stored *s);
/* The words of hold or resume m into u->sum and u->det; its severity. */
const char *reeval_hold_text(struct run *u, const struct implied *m,
    const struct alert_who *who);
/*
 * Before the new resume u->im[k] is inserted: the open holds it answers
 * resolved (their pages closed before it pages): 0, or -1 with u->cause.
 */
int reeval_hold_answer(struct run *u, size_t k);
/*
 * The state implied hold m ends in (answered by its resume, or open),
 * given to its stored or new row s (NULL: new) when labwatch set it:
 * 0, or -1 with u->cause.
 */
int reeval_hold_settle(struct run *u, struct implied *m,
    const struct stored *s);
/*
 * When a hold or resume alert of the patient changed since before:
 * enrollments.hold_state written as the judgement left it, so that
 * labwatchd goes on from there. 0, or -1 with u->cause.
 */
int reeval_hold_state(struct run *u, const struct reeval_stats *before);

#endif
