/*
 * obs.c: an extracted OBX as the rules engine reads it.
 */
#include "obs.h"

#include <string.h>

#include "hl7/dtm.h"

/* PID-8 as the rules read it: 'M', 'F', else unknown (O, U, A, N, empty). */
static char
patient_sex(const struct oru_patient *p)
{
	if (p == NULL || p->sex.len != 1)
		return '\0';
	if (p->sex.p[0] == 'M' || p->sex.p[0] == 'm')
		return 'M';
	if (p->sex.p[0] == 'F' || p->sex.p[0] == 'f')
		return 'F';
	return '\0';
}

void
store_obs_codes(const struct oru_obs *x, struct rules_result *in)
{
	in->code = x->code.p;
	in->code_len = x->code.len;
	in->system = x->coding_system.p;
	in->system_len = x->coding_system.len;
	in->alt_code = x->alt_code.p;
	in->alt_code_len = x->alt_code.len;
	in->alt_system = x->alt_system.p;
	in->alt_system_len = x->alt_system.len;
}

void
store_obs_to_result(const struct oru_patient *p, const struct oru_obs *x,
    int tz, struct rules_result *in)
{
	memset(in, 0, sizeof(*in));
	store_obs_codes(x, in);
	in->kind = x->kind == ORU_VALUE_NUMBER ? RULES_VALUE_NUMBER :
	    x->kind == ORU_VALUE_TEXT	       ? RULES_VALUE_TEXT :
						 RULES_VALUE_NONE;
	in->value = x->number;
	memcpy(in->comparator, x->comparator, sizeof(in->comparator));
	in->unit = x->units.p;
	in->unit_len = x->units.len;
	in->range = x->ref_range.p;
	in->range_len = x->ref_range.len;
	in->status = x->status.len > 0 ? x->status.p[0] : '\0';
	in->sex = patient_sex(p);
	in->observed_at = hl7_dtm_epoch(&x->observed_at, tz);
}
