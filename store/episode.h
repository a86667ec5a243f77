/*
 * episode.h: what a patient's standing results imply for the toxicity
 * alerts of their episodes (CLINICAL.md "Alert episodes"), without a
 * database: the decision on one result and the bookkeeping of the
 * patient's open, ended and past alerts that follows. The writer
 * (verdict.c) and `labwatch reevaluate` (reeval.c) both decide here,
 * and so they do whether a result calls for a data_quality alert.
 */
#ifndef LABWATCH_EPISODE_H
#define LABWATCH_EPISODE_H

#include <stdbool.h>
#include <stdint.h>

#include "rules/rules.h"
#include "store/pcache.h"

/*
 * What the standing result ev (observed_at: epoch seconds, -1 unknown)
 * of patient p, the newest added to p->h, does to its episode: dec->kind
 * RULES_ALERT_NONE when nothing (an older result that ends nothing, one
 * whose episode a later result already ended, a toxicity result in
 * screening, where eligibility speaks instead).
 */
void episode_decide(const struct rules *r, const struct pcache *p,
    const struct rules_eval *ev, int64_t observed_at,
    struct rules_alert_decision *dec);

/*
 * dec (TOXICITY, ESCALATE or POSSIBLE) raised alert id on observation
 * obs: the alert it escalates (dec->replaces) is kept as past and is no
 * longer open, the analyte's ended episode is forgotten, the new alert
 * is open.
 */
void episode_opened(struct pcache *p, const struct rules_alert_decision *dec,
    const struct rules_eval *ev, int64_t id, int64_t obs, int64_t observed_at);

/*
 * The episode of analyte a ended on observation obs (RULES_ALERT_RECOVERED):
 * for each open or acknowledged alert of a, fn(arg, its id), then it is
 * ended. Stops at the first nonzero fn, and returns it; else 0.
 */
int episode_ended(struct pcache *p, enum rules_analyte a, int64_t obs,
    int (*fn)(void *arg, int64_t id), void *arg);

/*
 * Whether the standing result ev of patient p calls for a data_quality
 * alert (CLINICAL.md: a result that cannot be evaluated, never a silent
 * skip): dec (episode_decide() on it) is RULES_ALERT_DATA_QUALITY, or its
 * problem would pass in silence (rules_alert_silent_problem). Asked
 * before dec is applied to p; at most one such alert per result.
 */
bool episode_data_quality(const struct rules *r, const struct pcache *p,
    const struct rules_eval *ev, int64_t observed_at,
    const struct rules_alert_decision *dec);

#endif
