/*
 * hold.h: the imatinib hold state of a patient, derived from its
 * standing results (rules_hold_derive) and set against what was
 * announced (pcache.hold, enrollments.hold_state), without a database
 * (CLINICAL.md "Imatinib dose modification"): the hold, resume and
 * withdrawn lines that follow, in order, and the announced state after
 * them. The writer (verdict.c) and `labwatch reevaluate`
 * (reeval_hold.c) both decide here: one rule in one place.
 */
#ifndef LABWATCH_HOLD_H
#define LABWATCH_HOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "rules/rules.h"
#include "store/alert_text.h"
#include "store/pcache.h"

enum hold_act_kind {
	/*
	 * The result the announced hold of the rule rested on (obs) no
	 * longer stands: its hold alerts retracted, and with line one
	 * withdrawn line (ah) when nothing holds instead.
	 */
	HOLD_ACT_WITHDRAWN,
	/* The rule's hold alerts answered by one resume line (ah). */
	HOLD_ACT_RESUME,
	/*
	 * A hold line (ah) resting on result obs; a resume that answered
	 * a hold on obs is undone (held again on the same result).
	 */
	HOLD_ACT_STOP,
};

/* One thing the writer says about a hold rule. */
struct hold_act {
	enum hold_act_kind kind;
	size_t rule;	      /* the protocol's hold rule */
	struct alert_hold ah; /* the line's event and words */
	int64_t obs;	      /* WITHDRAWN: the result gone; STOP: it holds */
	bool line;	      /* WITHDRAWN: a withdrawn line is sent */
};

/* At most two per rule: an announced hold ended, then a new one. */
#define HOLD_MAX_ACTS (2 * RULES_MAX_HOLD_RULES)

/*
 * The hold state of treatment patient p, derived again from the results
 * of p->h that stand after a message, against what p->hold announced:
 * the acts (at most HOLD_MAX_ACTS, in the order their statements go) are
 * returned in act, their count as the result, and p->hold is brought to
 * what they announce; *changed is set when it changed
 * (enrollments.hold_state is to be written). Each act's ah.because
 * points into p->h. The derivation is carried forward in p->h from the
 * last call (rules_hold_derive_incr): a message costs its own results
 * while they come in time order, not the patient's whole history.
 */
size_t hold_decide(const struct rules *r, struct pcache *p,
    struct hold_act *act, bool *changed);

/*
 * enrollments.hold_state of p->hold as JSON into b: per rule held or
 * stopped before, {"since" (only while held), "obs", "stops",
 * "restart_dose_mg"}.
 */
void hold_state_json(struct buf *b, const struct rules *r,
    const struct pcache *p);

#endif
