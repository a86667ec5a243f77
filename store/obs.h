/*
 * obs.h: an extracted OBX as the rules engine reads it. The one place that
 * knows both hl7's oru_obs and rules' plain result struct (rules itself
 * includes no hl7 header), shared by labwatchd's writer and labwatch check.
 */
#ifndef LABWATCH_OBS_H
#define LABWATCH_OBS_H

#include "hl7/oru.h"
#include "rules/rules.h"

/*
 * Fill in from x of patient p (strings point into x's message; p gives
 * PID-8, NULL for none); a DTM without a UTC offset is read at
 * tz_offset_min. in->id is left 0.
 */
void store_obs_to_result(const struct oru_patient *p, const struct oru_obs *x,
    int tz_offset_min, struct rules_result *in);

/*
 * Only x's codes (OBX-3.1, .3, .4, .6) in in, the rest left as it was:
 * all rules_map_result() reads, so that the OBX of other tests (most of
 * a panel) are passed over before store_obs_to_result() reads the rest.
 */
void store_obs_codes(const struct oru_obs *x, struct rules_result *in);

#endif
