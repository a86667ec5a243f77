/*
 * alert_text.c: the words of alerts (alert_text.h). Numbers are written
 * with at most four significant digits (%.4g), times ULN with three.
 */
#include "alert_text.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "lib/json.h"

const char *
alert_text_severity(enum rules_alert_kind k, int grade)
{
	if (k == RULES_ALERT_DATA_QUALITY)
		return "warning";
	if (k == RULES_ALERT_RECOVERED)
		return "info";
	/* A grade the value may reach is not a grade it has. */
	if (k == RULES_ALERT_POSSIBLE)
		return "warning";
	return grade >= 3 ? "critical" : "warning";
}

/* The analyte as a clinician writes it. */
static const char *
label(enum rules_analyte a)
{
	static const char *const names[RULES_NANALYTES] = { "AST", "ALT",
		"Bilirubin", "Creatinine", "ANC", "Platelets", "Hb" };

	return a >= 0 && a < RULES_NANALYTES ? names[a] : "result";
}

/* "ALT 210 U/L = 5.25 x ULN (40)", "ANC 0.8 10^9/L (LLN 1.8)". */
static void
describe_value(struct buf *b, const struct rules_eval *ev,
    const struct oru_obs *x)
{
	bool low = ev->analyte == RULES_ANC || ev->analyte == RULES_PLT ||
	    ev->analyte == RULES_HGB;

	if (!isnan(ev->value))
		buf_printf(b, "%s %s%.4g %s", label(ev->analyte),
		    ev->comparator ? ev->comparator : "", ev->value,
		    ev->unit ? ev->unit : "");
	else if (x != NULL)
		buf_printf(b, "%s %.*s %.*s", label(ev->analyte),
		    (int)x->value_text.len, x->value_text.p, (int)x->units.len,
		    x->units.p);
	if (low && !isnan(ev->lln))
		buf_printf(b, " (LLN %.4g)", ev->lln);
	else if (!low && !isnan(ev->x_uln) && !isnan(ev->uln))
		/* ">800 U/L > 20 x ULN": a bound, never "= 20 x ULN". */
		buf_printf(b, " %s %.3g x ULN (%.4g)",
		    ev->comparator && ev->comparator[0] ? ev->comparator : "=",
		    ev->x_uln, ev->uln);
}

/* The analytes a code conflict names: "ALT and AST", or JSON names. */
static void
conflict_names(struct buf *b, const struct rules_eval *ev, bool json)
{
	int a, n = 0;

	for (a = 0; a < RULES_NANALYTES; a++) {
		if (!(ev->conflict >> a & 1u))
			continue;
		if (json) {
			buf_adds(b, n ? "," : "");
			json_strz(b, rules_analyte_name((enum rules_analyte)a));
		} else
			buf_printf(b, "%s%s", n ? " and " : "",
			    label((enum rules_analyte)a));
		n++;
	}
}

/* " (OBX-3 1742-6 / 1920-8 names ALT and AST)" */
static void
conflict_codes(struct buf *b, const struct rules_eval *ev,
    const struct oru_obs *x)
{
	buf_adds(b, " (OBX-3");
	if (x != NULL)
		buf_printf(b, " %.*s / %.*s", (int)x->code.len, x->code.p,
		    (int)x->alt_code.len, x->alt_code.p);
	buf_adds(b, " names ");
	conflict_names(b, ev, false);
	buf_addc(b, ')');
}

void
alert_text_data_quality(struct buf *summary, struct buf *details,
    const struct rules_eval *ev, const struct oru_obs *x,
    const struct alert_who *who)
{
	buf_adds(summary, "Cannot evaluate ");
	describe_value(summary, ev, x);
	buf_printf(summary, " for patient %s (%s): %s", who->pid, who->protocol,
	    ev->problem ? ev->problem : "");
	/* The range as the laboratory wrote it: what someone has to read. */
	if (ev->problem == rules_problem_range_unreadable && x != NULL)
		buf_printf(summary, " (OBX-7 \"%.*s\")", (int)x->ref_range.len,
		    x->ref_range.p);
	/* No analyte: the codes and what each names are what to fix. */
	if (ev->problem == rules_problem_code_conflict)
		conflict_codes(summary, ev, x);
	buf_adds(details, "{\"problem\":");
	json_strz(details, ev->problem);
	if (ev->problem == rules_problem_range_unreadable && x != NULL) {
		buf_adds(details, ",\"ref_range\":");
		json_str(details, x->ref_range.p, x->ref_range.len);
	}
	if (ev->problem == rules_problem_code_conflict) {
		buf_adds(details, ",\"analytes\":[");
		conflict_names(details, ev, true);
		buf_addc(details, ']');
		if (x != NULL) {
			buf_adds(details, ",\"code\":");
			json_str(details, x->code.p, x->code.len);
			buf_adds(details, ",\"alt_code\":");
			json_str(details, x->alt_code.p, x->alt_code.len);
		}
	}
	buf_addc(details, '}');
}

void
alert_text_toxicity(struct buf *summary, struct buf *details,
    const struct rules_eval *ev, const struct oru_obs *x,
    const struct rules_open_alert *from, const struct alert_who *who)
{
	describe_value(summary, ev, x);
	buf_printf(summary, ": CTCAE grade %d", ev->grade);
	/* A comparator left the grade open: the grades it may reach too. */
	if (ev->grade_is_minimum && ev->grade_max > ev->grade + 1)
		buf_printf(summary, " or worse; grade %d-%d not excluded",
		    ev->grade + 1, ev->grade_max);
	else if (ev->grade_is_minimum && ev->grade_max > ev->grade)
		buf_printf(summary, " or worse; grade %d not excluded",
		    ev->grade_max);
	else if (ev->grade_is_minimum)
		buf_adds(summary, " or worse");
	buf_printf(summary, " (%s)", ev->term ? ev->term : "");
	if (from != NULL)
		buf_printf(summary, ", up from grade %d%s", from->grade,
		    from->minimum ? " or worse" : "");
	buf_printf(summary, " - patient %s, %s", who->pid, who->protocol);
	if (ev->hold)
		buf_adds(summary, " - crosses the imatinib stop threshold");
	buf_printf(details, "{\"grade\":%d,\"x_uln\":", ev->grade);
	json_num_rounded(details, ev->x_uln);
	buf_adds(details, ",\"value\":");
	json_num_rounded(details, ev->value);
	buf_adds(details, ",\"unit\":");
	json_strz(details, ev->unit);
	buf_adds(details, ",\"uln\":");
	json_num_rounded(details, ev->uln);
	buf_adds(details, ",\"range_source\":");
	json_strz(details, rules_range_source_name(ev->range_source));
	if (ev->grade_is_minimum)
		buf_printf(details,
		    ",\"grade_is_minimum\":true,\"grade_max\":%d",
		    ev->grade_max);
	buf_addc(details, '}');
}

void
alert_text_recovery(struct buf *summary, struct buf *details,
    const struct rules_eval *ev, const struct oru_obs *x,
    const struct rules_open_alert *from, const struct alert_who *who)
{
	int from_grade = from->grade;
	long long resolves = (long long)from->id;

	describe_value(summary, ev, x);
	/*
	 * An episode at or below the grade now is one that a comparator left
	 * open (`<75` platelets): nothing recovered, the worse grades are
	 * ruled out.
	 */
	if (from_grade <= ev->grade)
		buf_printf(summary, ": CTCAE grade %d or worse ruled out",
		    ev->grade + 1);
	else
		buf_printf(summary, ": recovered from CTCAE grade %d%s",
		    from_grade, from->minimum ? " or worse" : "");
	if (ev->term != NULL)
		buf_printf(summary, " (%s)", ev->term);
	buf_printf(summary,
	    ", now grade %d - patient %s, %s; alert %lld resolved", ev->grade,
	    who->pid, who->protocol, resolves);
	buf_printf(details, "{\"grade\":%d,\"from_grade\":%d,\"resolves\":%lld",
	    ev->grade, from_grade, resolves);
	buf_adds(details, ",\"value\":");
	json_num_rounded(details, ev->value);
	buf_adds(details, ",\"unit\":");
	json_strz(details, ev->unit);
	buf_addc(details, '}');
}

void
alert_text_criteria(struct buf *d, const struct rules *r,
    const struct rules_eligibility_result *er)
{
	const struct rules_criterion_verdict *c;
	size_t i;

	buf_adds(d, "[");
	for (i = 0; i < er->ncriteria; i++) {
		c = &er->criteria[i];
		buf_printf(d,
		    "%s{\"analyte\":\"%s\",\"criterion\":", i ? "," : "",
		    rules_analyte_name(c->analyte));
		json_strz(d, c->text);
		buf_adds(d, ",\"verdict\":");
		json_strz(d,
		    c->verdict == RULES_VERDICT_NONE ?
			"no_result" :
			rules_verdict_name(c->verdict));
		buf_adds(d, ",\"value\":");
		json_num_rounded(d, c->rests_on ? c->rests_on->value : NAN);
		buf_adds(d, ",\"unit\":");
		json_strz(d,
		    c->rests_on ?
			rules_canonical_unit(r, c->rests_on->analyte) :
			NULL);
		buf_printf(d, ",\"observation\":%lld}",
		    c->rests_on ? (long long)c->rests_on->id : 0LL);
	}
	buf_adds(d, "]");
}

void
alert_text_eligibility(struct buf *summary, struct buf *details,
    const struct rules_eligibility_result *er, const struct alert_who *who)
{
	const struct rules_criterion_verdict *c;
	const char *unit;
	size_t i;

	buf_printf(summary, "Patient %s is %s for %s", who->pid,
	    er->status == RULES_ELIGIBLE       ? "ELIGIBLE" :
		er->status == RULES_INELIGIBLE ? "INELIGIBLE" :
						 "INCOMPLETE",
	    who->protocol);
	for (i = 0; i < er->ncriteria; i++) {
		c = &er->criteria[i];
		if (c->verdict == RULES_VERDICT_FAIL && c->rests_on != NULL) {
			unit = rules_canonical_unit(who->r,
			    c->rests_on->analyte);
			buf_printf(summary, "; %s: %.4g %s", c->text,
			    c->rests_on->value, unit ? unit : "");
		} else if (c->verdict == RULES_VERDICT_NONE &&
		    er->status == RULES_INCOMPLETE)
			buf_printf(summary, "; no recent %s",
			    rules_analyte_name(c->analyte));
	}
	buf_printf(details, "{\"status\":\"%s\"}",
	    rules_eligibility_name(er->status));
}

void
alert_text_hold(struct buf *summary, struct buf *details,
    const struct alert_hold *ev, const struct alert_who *who)
{
	static const char *const event[] = { "stop", "resume", "withdrawn" };
	struct rules_eval because;

	switch (ev->event) {
	case ALERT_HOLD_STOP:
		buf_printf(summary, "HOLD imatinib (%s", ev->rule);
		if (ev->stops > 1)
			buf_printf(summary, ", recurrence %u", ev->stops);
		buf_printf(summary, "): patient %s, %s", who->pid,
		    who->protocol);
		if (ev->because != NULL) {
			buf_adds(summary, ": ");
			rules_entry_eval(who->r, ev->because, &because);
			describe_value(summary, &because, NULL);
		}
		buf_adds(summary,
		    " - stop per the label until the "
		    "restart thresholds are met");
		break;
	case ALERT_HOLD_RESUME:
		buf_printf(summary, "RESUME possible (%s", ev->rule);
		if (ev->stops > 1)
			buf_printf(summary, ", after recurrence %u", ev->stops);
		buf_printf(summary,
		    "): patient %s, %s - every restart threshold met; ",
		    who->pid, who->protocol);
		if (isnan(ev->dose_mg))
			buf_adds(summary, "restart per protocol");
		else
			buf_printf(summary,
			    "restart at %.4g mg daily per the label",
			    ev->dose_mg);
		break;
	default:
		buf_printf(summary,
		    "HOLD WITHDRAWN (%s): patient %s, %s - the result the "
		    "hold rested on was %s; the results that stand do not "
		    "stop imatinib",
		    ev->rule, who->pid, who->protocol,
		    ev->corrected ? "corrected" : "deleted or marked wrong");
		break;
	}
	buf_adds(details, "{\"rule\":");
	json_strz(details, ev->rule);
	buf_printf(details, ",\"event\":\"%s\"", event[ev->event]);
	if (ev->event != ALERT_HOLD_WITHDRAWN)
		buf_printf(details, ",\"stops\":%u", ev->stops);
	if (ev->event == ALERT_HOLD_RESUME && !isnan(ev->dose_mg)) {
		buf_adds(details, ",\"restart_dose_mg\":");
		json_num_rounded(details, ev->dose_mg);
	}
	buf_addc(details, '}');
}
