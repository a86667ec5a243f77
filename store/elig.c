/*
 * elig.c: the screening verdict against what was announced (see elig.h).
 */
#include "store/elig.h"

#include <stdio.h>
#include <string.h>

enum elig_outcome
elig_decide(const struct rules *r, struct pcache *p, int64_t at,
    int64_t received, struct rules_eligibility_result *er)
{
	const char *status;

	if (p->phase != RULES_PHASE_SCREENING || p->h == NULL)
		return ELIG_NONE;
	rules_eligibility(r, p->h, at >= 0 ? at : received, er);
	status = rules_eligibility_name(er->status);
	if (strcmp(p->elig, status) == 0)
		return ELIG_SAME;
	snprintf(p->elig, sizeof(p->elig), "%s", status);
	return ELIG_CHANGED;
}

const char *
elig_severity(const struct rules_eligibility_result *er)
{
	return er->status == RULES_INELIGIBLE ? "warning" : "info";
}
