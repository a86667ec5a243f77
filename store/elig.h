/*
 * elig.h: the screening verdict of a patient after a message, set
 * against the one last announced (pcache.elig, enrollments
 * .eligibility_status), without a database (CLINICAL.md: each
 * exclusion criterion on the most recent final result within the
 * screening window; an alert when the status changes). The writer
 * (verdict.c) and `labwatch reevaluate` (reeval_elig.c) both decide
 * here: one rule in one place.
 */
#ifndef LABWATCH_ELIG_H
#define LABWATCH_ELIG_H

#include <stdint.h>

#include "rules/rules.h"
#include "store/pcache.h"

enum elig_outcome {
	ELIG_NONE,    /* not in screening: no verdict */
	ELIG_SAME,    /* a verdict row, the status as announced */
	ELIG_CHANGED, /* a verdict row and an eligibility alert */
};

/*
 * The verdict of patient p after a message with results of the seven
 * analytes (or a code conflict naming them): judged at at, the time of
 * its latest result (epoch s), or at received (epoch s, its arrival)
 * when none of its results has a known time. Into er; p->elig brought
 * to its status when ELIG_CHANGED.
 */
enum elig_outcome elig_decide(const struct rules *r, struct pcache *p,
    int64_t at, int64_t received, struct rules_eligibility_result *er);

/* The severity of the eligibility alert of er: warning when ineligible. */
const char *elig_severity(const struct rules_eligibility_result *er);

#endif
