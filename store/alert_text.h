/*
 * alert_text.h: every word a clinician reads in an alert: its one-line
 * summary (patient, value with unit, times ULN, CTCAE grade, what the
 * protocol says to do) and its JSON details, for each kind. No database:
 * the writer sends what these build (tests/test_alert_text.c holds the
 * table of cases). Each function appends to the buffers it is given.
 */
#ifndef LABWATCH_ALERT_TEXT_H
#define LABWATCH_ALERT_TEXT_H

#include "lib/buf.h"
#include "hl7/oru.h"
#include "rules/rules.h"

/*
 * Whom an alert is about: PID-3.1 and the protocol's name; the rules that
 * judged the results it names (their units: rules_entry_eval()).
 */
struct alert_who {
	const char *pid;
	const char *protocol;
	const struct rules *r;
};

/*
 * "critical" (grade 3 and above) or "warning"; data quality and a grade
 * the value may reach (RULES_ALERT_POSSIBLE): "warning"; recovered: "info".
 */
const char *alert_text_severity(enum rules_alert_kind k, int grade);

/*
 * A result that cannot be evaluated. x, when not NULL, gives the value as
 * received when there is no number.
 */
void alert_text_data_quality(struct buf *summary, struct buf *details,
    const struct rules_eval *ev, const struct oru_obs *x,
    const struct alert_who *who);

/*
 * A toxicity alert; from: the open one it escalates, NULL for none. A grade
 * that is a minimum says so: "CTCAE grade 2 or worse; grade 3-4 not
 * excluded", and its details carry grade_is_minimum and grade_max; so does
 * the grade it escalates from ("up from grade 2 or worse").
 */
void alert_text_toxicity(struct buf *summary, struct buf *details,
    const struct rules_eval *ev, const struct oru_obs *x,
    const struct rules_open_alert *from, const struct alert_who *who);

/*
 * The end of a toxicity episode: the value is back below the alert grade
 * (from: the alert it resolves). When from's grade is not above the grade
 * now, the episode was a grade left open by a comparator: the line says
 * that the worse grades are ruled out; a grade that was a minimum is
 * written so ("recovered from CTCAE grade 3 or worse").
 */
void alert_text_recovery(struct buf *summary, struct buf *details,
    const struct rules_eval *ev, const struct oru_obs *x,
    const struct rules_open_alert *from, const struct alert_who *who);

/* A change of screening status ("Patient P is INELIGIBLE for ..."). */
void alert_text_eligibility(struct buf *summary, struct buf *details,
    const struct rules_eligibility_result *er, const struct alert_who *who);

/*
 * The criteria of a verdict (judged by r), as the eligibility row keeps
 * them (JSON).
 */
void alert_text_criteria(struct buf *out, const struct rules *r,
    const struct rules_eligibility_result *er);

enum alert_hold_event {
	ALERT_HOLD_STOP,      /* stop per the label */
	ALERT_HOLD_RESUME,    /* every restart threshold met */
	ALERT_HOLD_WITHDRAWN, /* the result a hold rested on was taken out */
};

/* A hold rule's event, as the writer announces it. */
struct alert_hold {
	enum alert_hold_event event;
	const char *rule; /* the hold rule's name, e.g. "myelosuppression" */
	const struct rules_entry *because; /* STOP: the result that crossed */
	unsigned stops; /* STOP: its number; RESUME: the stops it answers */
	double dose_mg; /* RESUME: the label's restart dose, NAN for none */
	bool corrected; /* WITHDRAWN: by a correction (C), not D or W */
};

/*
 * A hold (with "recurrence N" from the second stop of its rule), a resume
 * (the label's dose for that rule and occurrence), or a withdrawn hold.
 */
void alert_text_hold(struct buf *summary, struct buf *details,
    const struct alert_hold *ev, const struct alert_who *who);

#endif
