/*
 * test_rules_protocol.c: a patient over time: the screening window, the
 * eligibility verdicts, corrections and retractions, alert decisions; and
 * the data-file loader's errors. The imatinib hold / restart rows are
 * test_rules_hold.c's.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "rules/rules.h"

#include "testutil.h"

#define DAY 86400
#define NOW 1700000000

TestSuite(protocol, .init = rules_setup, .fini = rules_teardown);

/* Seven passing results at time t. */
static void
add_all_pass(struct rules_history *h, int64_t t, uint64_t id0)
{
	static const double v[] = { 30, 30, 10, 80, 3.0, 200, 130 };
	int a;

	for (a = 0; a < RULES_NANALYTES; a++)
		add(h, a, v[a], 'F', t, id0 + (uint64_t)a, "screen");
}

/* ---- eligibility ---- */

Test(protocol, eligible_ineligible_incomplete)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_SCREENING);
	struct rules_eligibility_result el;
	size_t i;

	rules_eligibility(R, h, NOW, &el);
	cr_expect_eq(el.status, RULES_INCOMPLETE);
	cr_expect_eq(el.ncriteria, 7);
	add_all_pass(h, NOW - DAY, 1);
	rules_eligibility(R, h, NOW, &el);
	cr_expect_eq(el.status, RULES_ELIGIBLE);
	cr_expect_str_eq(rules_eligibility_name(el.status), "eligible");
	for (i = 0; i < el.ncriteria; i++) {
		cr_expect_eq(el.criteria[i].verdict, RULES_VERDICT_PASS);
		cr_assert_not_null(el.criteria[i].rests_on);
		cr_expect_eq(el.criteria[i].rests_on->id,
		    1 + (uint64_t)el.criteria[i].analyte);
	}
	cr_expect_str_eq(el.criteria[6].text, "hemoglobin < 90 g/L");

	/* a newer failing platelet count: ineligible, resting on it */
	add(h, RULES_PLT, 74, 'F', NOW - 3600, 100, "o2");
	rules_eligibility(R, h, NOW, &el);
	cr_expect_eq(el.status, RULES_INELIGIBLE);
	cr_expect_str_eq(rules_eligibility_name(el.status), "ineligible");
	cr_expect_eq(el.criteria[RULES_PLT].verdict, RULES_VERDICT_FAIL);
	cr_expect_eq(el.criteria[RULES_PLT].rests_on->id, 100);

	/* a still newer passing one: eligible again (the most recent rests) */
	add(h, RULES_PLT, 75, 'F', NOW - 60, 101, "o3");
	rules_eligibility(R, h, NOW, &el);
	cr_expect_eq(el.status, RULES_ELIGIBLE);
	rules_history_free(h);
}

Test(protocol, ineligible_beats_incomplete)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_SCREENING);
	struct rules_eligibility_result el;

	add(h, RULES_ANC, 1.2, 'F', NOW - DAY, 1, "o1");
	rules_eligibility(R, h, NOW, &el);
	cr_expect_eq(el.status, RULES_INELIGIBLE);
	cr_expect_eq(el.criteria[RULES_AST].verdict, RULES_VERDICT_NONE);
	cr_expect_null(el.criteria[RULES_AST].rests_on);
	rules_history_free(h);
}

struct window_case {
	int64_t t;
	bool counts;
};

static const struct window_case window_cases[] = {
	{ NOW, true }, { NOW - 14 * DAY, true }, /* the window's first second */
	{ NOW - 14 * DAY - 1, false },		 /* one second too old */
	{ NOW - 14 * DAY + 1, true },
	{ NOW + 1, false }, /* after the evaluation time */
	{ -1, false },	    /* time unknown */
};

Test(protocol, window_edges)
{
	size_t i;

	for (i = 0; i < N(window_cases); i++) {
		struct rules_history *h = rules_history_new(R,
		    RULES_PHASE_SCREENING);
		struct rules_eligibility_result el;

		add(h, RULES_HGB, 80, 'F', window_cases[i].t, 7, "o");
		rules_eligibility(R, h, NOW, &el);
		cr_expect_eq(el.criteria[RULES_HGB].verdict,
		    window_cases[i].counts ? RULES_VERDICT_FAIL :
					     RULES_VERDICT_NONE,
		    "case %zu", i);
		cr_expect_eq(el.status,
		    window_cases[i].counts ? RULES_INELIGIBLE :
					     RULES_INCOMPLETE,
		    "case %zu", i);
		rules_history_free(h);
	}
}

Test(protocol, preliminary_not_used_until_promoted)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_SCREENING);
	struct rules_eligibility_result el;
	struct rules_update up;
	struct rules_eval ev;

	add(h, RULES_CREA, 120, 'P', NOW - DAY, 5, "o1");
	rules_eligibility(R, h, NOW, &el);
	cr_expect_eq(el.criteria[RULES_CREA].verdict, RULES_VERDICT_NONE);
	/* U: changed to final, value not resent */
	up = add(h, RULES_CREA, 0, 'U', NOW - DAY, 6, "o1");
	cr_expect_eq(up.npromoted, 1);
	cr_expect_eq(up.promoted[0], 5);
	cr_expect_eq(up.nsuperseded, 0);
	rules_eligibility(R, h, NOW, &el);
	cr_expect_eq(el.criteria[RULES_CREA].verdict, RULES_VERDICT_FAIL);
	cr_expect_eq(el.criteria[RULES_CREA].rests_on->id, 5);
	cr_expect_eq(el.criteria[RULES_CREA].rests_on->status, 'F');
	/* As it is kept: made final, its not_final problem gone. */
	rules_entry_eval(R, el.criteria[RULES_CREA].rests_on, &ev);
	cr_expect(ev.final);
	cr_expect_null(ev.problem);
	rules_history_free(h);
}

Test(protocol, no_value_statuses_store_only)
{
	static const char st[] = { 'I', 'O', 'N', 'X' };
	size_t i;

	for (i = 0; i < N(st); i++) {
		struct rules_history *h = rules_history_new(R,
		    RULES_PHASE_SCREENING);
		struct rules_eligibility_result el;
		struct rules_update up;

		up = add(h, RULES_AST, 500, st[i], NOW - DAY, 1, "o");
		cr_expect_str_eq(up.ev.problem, "not_evaluated");
		cr_expect_eq(rules_history_count(h), 1);
		rules_eligibility(R, h, NOW, &el);
		cr_expect_eq(el.criteria[RULES_AST].verdict,
		    RULES_VERDICT_NONE);
		rules_history_free(h);
	}
}

/* Add a final result of analyte a in unit, with OBX-7 range. */
static struct rules_update
add_as(struct rules_history *h, enum rules_analyte a, double v,
    const char *unit, const char *range, int64_t t, uint64_t id,
    const char *order)
{
	return add_unit(h, a, "", v, unit, 'F', t, id, order, range);
}

/*
 * Eligibility rests on the latest final result or on nothing (issue 11
 * item 3): a newer final ALT that cannot be evaluated leaves the criterion
 * without a verdict; it never passes on the older ALT.
 */
struct latest_case {
	const char *unit, *range;
	bool incomplete; /* else the older pass stands (a newer pass) */
};

static const struct latest_case latest_cases[] = {
	{ "mg/L", "10-40", true },	     /* unit_unknown */
	{ "U/L", "see note", true },	     /* range_unreadable */
	{ "U/L", "M 10-50; F 10-35", true }, /* no sex: unreadable */
	{ "U/L", "10-40", false },	     /* evaluable: passes */
};

Test(protocol, eligibility_on_latest_unevaluable)
{
	size_t i;

	for (i = 0; i < N(latest_cases); i++) {
		const struct latest_case *c = &latest_cases[i];
		struct rules_history *h = rules_history_new(R,
		    RULES_PHASE_SCREENING);
		struct rules_eligibility_result el;

		add_all_pass(h, NOW - 2 * DAY, 1);
		add_as(h, RULES_ALT, 30, c->unit, c->range, NOW - DAY, 50,
		    "o2");
		rules_eligibility(R, h, NOW, &el);
		cr_expect_eq(el.status,
		    c->incomplete ? RULES_INCOMPLETE : RULES_ELIGIBLE,
		    "case %zu", i);
		cr_expect_eq(el.criteria[RULES_ALT].verdict,
		    c->incomplete ? RULES_VERDICT_NONE : RULES_VERDICT_PASS,
		    "case %zu", i);
		cr_assert_not_null(el.criteria[RULES_ALT].rests_on);
		cr_expect_eq(el.criteria[RULES_ALT].rests_on->id, 50,
		    "case %zu", i);
		/* the other criteria keep their results */
		cr_expect_eq(el.criteria[RULES_AST].verdict,
		    RULES_VERDICT_PASS);
		/* a still newer evaluable ALT makes it whole again */
		add_as(h, RULES_ALT, 31, "U/L", "10-40", NOW - 60, 51, "o3");
		rules_eligibility(R, h, NOW, &el);
		cr_expect_eq(el.status, RULES_ELIGIBLE, "case %zu", i);
		cr_expect_eq(el.criteria[RULES_ALT].rests_on->id, 51);
		rules_history_free(h);
	}
}

/* Not final results never stand for the latest final one. */
Test(protocol, eligibility_latest_final_only)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_SCREENING);
	struct rules_eligibility_result el;

	add_all_pass(h, NOW - 2 * DAY, 1);
	add(h, RULES_ALT, 30, 'P', NOW - DAY, 50, "o2");
	add(h, RULES_ALT, 30, 'X', NOW - DAY, 51, "o3");
	add(h, RULES_ALT, 30, 'Z', NOW - DAY, 52, "o4");
	rules_eligibility(R, h, NOW, &el);
	cr_expect_eq(el.status, RULES_ELIGIBLE);
	cr_expect_eq(el.criteria[RULES_ALT].rests_on->id, 1 + RULES_ALT);
	/* a newer final ALT with text for a value: no verdict either */
	{
		struct rules_result in;
		struct rules_update up;

		memset(&in, 0, sizeof in);
		in.code = code_of(RULES_ALT);
		in.code_len = strlen(in.code);
		in.system = "LN";
		in.system_len = 2;
		in.alt_code = in.alt_system = in.unit = in.range = "";
		in.kind = RULES_VALUE_TEXT;
		in.status = 'F';
		in.observed_at = NOW - 3600;
		in.id = 54;
		rules_history_add(h, &in, "o6/ALT", 6, &up);
		cr_expect_str_eq(up.ev.problem, "non_numeric");
		rules_eligibility(R, h, NOW, &el);
		cr_expect_eq(el.status, RULES_INCOMPLETE);
		cr_expect_eq(el.criteria[RULES_ALT].rests_on->id, 54);
		/* its correction with a number: the criterion is whole again */
		in.kind = RULES_VALUE_NUMBER;
		in.value = 30;
		in.unit = "U/L";
		in.unit_len = 3;
		in.range = "10-40";
		in.range_len = 5;
		in.status = 'C';
		in.id = 55;
		rules_history_add(h, &in, "o6/ALT", 6, &up);
		cr_expect_eq(up.nsuperseded, 1);
		rules_eligibility(R, h, NOW, &el);
		cr_expect_eq(el.status, RULES_ELIGIBLE);
		cr_expect_eq(el.criteria[RULES_ALT].rests_on->id, 55);
	}
	/* an unevaluable result outside the window counts for nothing */
	add_as(h, RULES_ALT, 30, "mg/L", "10-40", NOW + 60, 53, "o5");
	rules_eligibility(R, h, NOW, &el);
	cr_expect_eq(el.status, RULES_ELIGIBLE);
	rules_history_free(h);
}

/*
 * A newer result of a criterion's analyte that is not final (empty or
 * unknown OBX-11: status_unknown; P, R, S: preliminary) neither blocks nor
 * decides the verdict on the older final one, whatever its value
 * (CLINICAL.md "Result status": stored, not evaluated; eligibility on the
 * latest final result). An empty or unknown status is still said, in a
 * data_quality alert; a preliminary one is not (no alert unless the
 * protocol file says so).
 */
struct not_final_case {
	char status;
	double alt;
	bool said;
};

static const struct not_final_case not_final_cases[] = {
	{ '\0', 200, true },
	{ '\0', 30, true },
	{ 'Z', 200, true },
	{ 'P', 200, false },
	{ 'R', 200, false },
	{ 'S', 30, false },
};

Test(protocol, eligibility_newer_not_final)
{
	size_t i;

	for (i = 0; i < N(not_final_cases); i++) {
		const struct not_final_case *c = &not_final_cases[i];
		struct rules_history *h = rules_history_new(R,
		    RULES_PHASE_SCREENING);
		struct rules_eligibility_result el;
		struct rules_update up;

		add_all_pass(h, NOW - 2 * DAY, 1);
		up = add(h, RULES_ALT, c->alt, c->status, NOW - DAY, 50, "o2");
		cr_expect(!up.entry->final, "case %zu", i);
		rules_eligibility(R, h, NOW, &el);
		cr_expect_eq(el.status, RULES_ELIGIBLE, "case %zu", i);
		cr_expect_eq(el.criteria[RULES_ALT].verdict, RULES_VERDICT_PASS,
		    "case %zu", i);
		cr_expect_eq(el.criteria[RULES_ALT].rests_on->id, 1 + RULES_ALT,
		    "case %zu", i);
		cr_expect_eq(rules_alert_silent_problem(R, &up.ev, NOW - DAY,
				 NULL, 0),
		    c->said, "case %zu", i);
		rules_history_free(h);
	}
}

/*
 * A code conflict (ALT's LOINC, AST's in the alternate triplet) newer than
 * passing AST and ALT results is the latest result of both: neither passes
 * on the older one. (The site's local AST code is test_rules.c's case: the
 * site protocol has no criteria.)
 */
Test(protocol, eligibility_code_conflict)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_SCREENING);
	struct rules_eligibility_result el;
	struct rules_result in;
	struct rules_update up;
	size_t i;

	add_all_pass(h, NOW - 2 * DAY, 1);
	rules_eligibility(R, h, NOW, &el);
	cr_expect_eq(el.status, RULES_ELIGIBLE);
	memset(&in, 0, sizeof in);
	in.code = "1742-6";
	in.code_len = 6;
	in.system = in.alt_system = "LN";
	in.system_len = in.alt_system_len = 2;
	in.alt_code = "1920-8";
	in.alt_code_len = 6;
	in.kind = RULES_VALUE_NUMBER;
	in.value = 30;
	in.unit = "U/L";
	in.unit_len = 3;
	in.range = "10-40";
	in.range_len = 5;
	in.status = 'F';
	in.observed_at = NOW - DAY;
	in.id = 60;
	rules_history_add(h, &in, "o2/1742-6", 9, &up);
	cr_expect_str_eq(up.ev.problem, "code_conflict");
	rules_eligibility(R, h, NOW, &el);
	cr_expect_eq(el.status, RULES_INCOMPLETE);
	cr_expect_eq(el.ncriteria, 7);
	for (i = 0; i < el.ncriteria; i++) {
		const struct rules_criterion_verdict *v = &el.criteria[i];

		if (v->analyte != RULES_ALT && v->analyte != RULES_AST) {
			cr_expect_eq(v->verdict, RULES_VERDICT_PASS);
			continue;
		}
		cr_expect_eq(v->verdict, RULES_VERDICT_NONE, "criterion %zu",
		    i);
		cr_assert_not_null(v->rests_on);
		cr_expect_eq(v->rests_on->id, 60);
	}
	/* a preliminary conflict changes nothing */
	in.status = 'P';
	in.observed_at = NOW - 60;
	in.id = 61;
	rules_history_add(h, &in, "o3/1742-6", 9, &up);
	rules_eligibility(R, h, NOW, &el);
	cr_expect_eq(el.criteria[RULES_ALT].rests_on->id, 60);
	rules_history_free(h);
}

/*
 * What rules_alert_decide() leaves alone but must not pass in silence
 * (issue 11 item 2): an empty or unknown OBX-11, a code conflict. The
 * caller raises a data_quality alert for them, and only for them.
 */
Test(protocol, silent_problems_alerted)
{
	static const char st[] = { '\0', 'Z', ' ' };
	struct rules_history *h = rules_history_new(R, RULES_PHASE_TREATMENT);
	struct rules_alert_decision d;
	struct rules_update up;
	struct rules_eval ev;
	struct rules_result in;
	size_t i;

	for (i = 0; i < N(st); i++) {
		up = add(h, RULES_ALT, 201, st[i], NOW, 1 + i, "o1");
		cr_expect_str_eq(up.ev.problem, "status_unknown");
		cr_expect_eq(up.entry->grade, -1);
		cr_expect(rules_alert_silent_problem(R, &up.ev, NOW, NULL, 0),
		    "status '%c'", st[i]);
	}
	/* ALT's LOINC with AST's LOINC in the alternate triplet */
	memset(&in, 0, sizeof in);
	in.code = "1742-6";
	in.code_len = 6;
	in.alt_code = "1920-8";
	in.alt_code_len = 6;
	in.system = in.alt_system = "LN";
	in.system_len = in.alt_system_len = 2;
	in.kind = RULES_VALUE_NUMBER;
	in.value = 30;
	in.unit = in.range = "";
	in.status = 'F';
	rules_eval(R, &in, NULL, &ev);
	cr_expect_str_eq(ev.problem, "code_conflict");
	cr_expect(rules_alert_silent_problem(R, &ev, NOW, NULL, 0));
	/* what rules_alert_decide() already alerts on, or need not */
	up = add(h, RULES_ALT, 201, 'F', NOW, 10, "o2"); /* toxicity */
	cr_expect(!rules_alert_silent_problem(R, &up.ev, NOW, NULL, 0));
	up = add(h, RULES_ALT, 30, 'P', NOW, 11, "o3"); /* not_final */
	cr_expect(!rules_alert_silent_problem(R, &up.ev, NOW, NULL, 0));
	up = add(h, RULES_ALT, 30, 'X', NOW, 12, "o4"); /* not_evaluated */
	cr_expect(!rules_alert_silent_problem(R, &up.ev, NOW, NULL, 0));
	up = add_as(h, RULES_ALT, 30, "mg/L", "", NOW, 13, "o5");
	rules_alert_decide(R, &up.ev, NOW, NULL, 0, &d);
	cr_expect_eq(d.kind, RULES_ALERT_DATA_QUALITY); /* said already */
	cr_expect(!rules_alert_silent_problem(R, &up.ev, NOW, NULL, 0));
	rules_history_free(h);
}

/* ---- corrections and retractions ---- */

/*
 * rules_history_since(): the standing results of an analyte from a time
 * on, in time order, two of one time in the order added (rules_history_
 * latest() sees only the later of those), corrections in, what they
 * replaced and deletions out; more than cap: the count, to ask again.
 */
Test(protocol, history_since_time_order_ties_and_withdrawals)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_TREATMENT);
	const struct rules_entry *out[8];
	static const struct {
		double v;
		char status;
		int64_t at;
		uint64_t id;
		const char *key;
	} in[] = {
		{ 250, 'F', NOW - 4 * DAY, 1, "o1" },
		{ 900, 'F', NOW - 2 * DAY, 2, "o2" },
		{ 300, 'F', NOW - 2 * DAY, 3, "o3" }, /* the same time */
		{ 100, 'F', NOW - 3 * DAY, 4, "o4" }, /* late */
		{ 50, 'F', NOW - 5 * DAY, 5, "o5" },  /* before from */
		{ 120, 'C', NOW - 3 * DAY, 6, "o4" }, /* corrects o4 */
		{ 0, 'D', NOW - 2 * DAY, 7, "o3" },   /* deletes o3 */
		{ 60, 'F', NOW - DAY, 8, "o8" },
	};
	static const uint64_t want_all[] = { 1, 6, 2, 8 };
	static const uint64_t want_tie[] = { 1, 4, 2, 3 };
	size_t i, n;

	for (i = 0; i < 5; i++)
		add(h, RULES_ALT, in[i].v, in[i].status, in[i].at, in[i].id,
		    in[i].key);
	add(h, RULES_AST, 70, 'F', NOW - 3 * DAY, 9, "o9"); /* another */
	n = rules_history_since(h, RULES_ALT, NOW - 4 * DAY, out, 8);
	cr_assert_eq(n, 4);
	for (i = 0; i < n; i++)
		cr_expect_eq(out[i]->id, want_tie[i], "tie: [%zu] %llu", i,
		    (unsigned long long)out[i]->id);
	cr_expect_eq(rules_history_latest(h, RULES_ALT, INT64_MAX)->id, 3);
	for (i = 5; i < sizeof(in) / sizeof(in[0]); i++)
		add(h, RULES_ALT, in[i].v, in[i].status, in[i].at, in[i].id,
		    in[i].key);
	n = rules_history_since(h, RULES_ALT, NOW - 4 * DAY, out, 8);
	cr_assert_eq(n, 4);
	for (i = 0; i < n; i++)
		cr_expect_eq(out[i]->id, want_all[i], "[%zu] %llu", i,
		    (unsigned long long)out[i]->id);
	cr_expect_eq(rules_history_since(h, RULES_ALT, NOW - 4 * DAY, out, 2),
	    4);
	cr_expect_eq(rules_history_since(h, RULES_ALT, NOW, out, 8), 0);
	cr_expect_eq(rules_history_since(h, RULES_HGB, 0, out, 8), 0);
	rules_history_free(h);
}

Test(protocol, correction_supersedes)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_SCREENING);
	struct rules_eligibility_result el;
	struct rules_update up;

	add(h, RULES_ALT, 150, 'F', NOW - DAY, 1, "o1");
	add(h, RULES_ALT, 35, 'F', NOW - 2 * DAY, 2, "o0"); /* another order */
	rules_eligibility(R, h, NOW, &el);
	cr_expect_eq(el.criteria[RULES_ALT].verdict, RULES_VERDICT_FAIL);
	/* the lab corrects o1 (a transcription error) */
	up = add(h, RULES_ALT, 15, 'C', NOW - DAY, 3, "o1");
	cr_expect_eq(up.nsuperseded, 1);
	cr_expect_eq(up.superseded[0], 1);
	cr_expect_eq(up.nretracted, 0);
	cr_expect(rules_history_entry(h, 0)->superseded);
	cr_expect(!rules_history_entry(h, 1)->superseded);
	rules_eligibility(R, h, NOW, &el);
	cr_expect_eq(el.criteria[RULES_ALT].verdict, RULES_VERDICT_PASS);
	cr_expect_eq(el.criteria[RULES_ALT].rests_on->id, 3);
	/* a second correction supersedes the first one, not the original twice */
	up = add(h, RULES_ALT, 16, 'C', NOW - DAY, 4, "o1");
	cr_expect_eq(up.nsuperseded, 1);
	cr_expect_eq(up.superseded[0], 3);
	rules_history_free(h);
}

/*
 * A long history (one message of 5,000 results, each its own key): a
 * correction and a deletion find only the entries of their key, in the
 * order they came, after the key index has grown many times.
 */
Test(protocol, long_history_corrections_by_key)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_SCREENING);
	struct rules_update up;
	char order[32];
	uint64_t id;

	add(h, RULES_ALT, 150, 'F', NOW - DAY, 1, "x");
	add(h, RULES_ALT, 151, 'P', NOW - DAY, 2, "x");
	for (id = 10; id < 5010; id++) {
		snprintf(order, sizeof order, "o%llu", (unsigned long long)id);
		add(h, RULES_ALT, 30, 'F', NOW - DAY, id, order);
	}
	up = add(h, RULES_ALT, 15, 'C', NOW - DAY, 6000, "x");
	cr_expect_eq(up.nsuperseded, 2);
	cr_expect_eq(up.superseded[0], 1);
	cr_expect_eq(up.superseded[1], 2);
	up = add(h, RULES_ALT, 0, 'D', NOW - DAY, 6001, "o4017");
	cr_expect_eq(up.nretracted, 1);
	cr_expect_eq(up.retracted[0], 4017);
	cr_expect_eq(up.nsuperseded, 0);
	cr_expect(rules_history_entry(h, 4017 - 10 + 2)->retracted);
	cr_expect(!rules_history_entry(h, 4016 - 10 + 2)->retracted);
	cr_expect_eq(rules_history_count(h), 5004);
	rules_history_free(h);
}

/*
 * Growth and the lazy key index: the history stores its entries in chunks
 * of 16 (entries 0-15, 16-31, ...; the key buckets rebuilt as the room
 * reaches 32, 64, 128, ...), keeps keys in
 * blocks of 256 bytes and more (a key longer than a block gets one of its
 * own), and indexes keys at the first C, D, W or U only, extending the
 * index at each later one. A
 * result of key K (P, id 1000), then two changes of K (ids 1001, 1002),
 * with other keys' results (F) before, between and after, so that the
 * changes come before and after growths and after the index was built.
 */
struct growth_case {
	size_t before, between, after; /* other keys' results around K */
	char first, second;	       /* the changes of K */
	size_t keylen;		       /* every key padded to this length */
	uint64_t first_ids[2];	       /* ids the first change lists, 0 ends */
	uint64_t second_ids[2];	       /* ids the second change lists */
	/* K at the end */
	bool orig_superseded, orig_retracted, orig_final;
};

static const struct growth_case growth_cases[] = {
	/* C then D: the D retracts the superseded original and the C */
	{ 0, 0, 0, 'C', 'D', 8, { 1000 }, { 1000, 1001 }, true, true, false },
	{ 15, 0, 0, 'C', 'D', 8, { 1000 }, { 1000, 1001 }, true, true, false },
	{ 14, 1, 1, 'C', 'D', 8, { 1000 }, { 1000, 1001 }, true, true, false },
	{ 16, 16, 32, 'C', 'D', 8, { 1000 }, { 1000, 1001 }, true, true,
	    false },
	{ 3, 40, 100, 'C', 'D', 8, { 1000 }, { 1000, 1001 }, true, true,
	    false },
	/* K the last of a chunk, its changes the first of the next ones */
	{ 47, 0, 63, 'C', 'D', 8, { 1000 }, { 1000, 1001 }, true, true, false },
	{ 111, 0, 0, 'U', 'C', 8, { 1000 }, { 1000 }, true, false, true },
	/* U promotes the P (and stands for it), then C supersedes it */
	{ 15, 17, 0, 'U', 'C', 8, { 1000 }, { 1000 }, true, false, true },
	{ 31, 33, 200, 'U', 'C', 8, { 1000 }, { 1000 }, true, false, true },
	/* D then C: nothing left to supersede */
	{ 20, 20, 20, 'D', 'C', 8, { 1000 }, { 0 }, false, true, false },
	/* F changes nothing; the index is first built at the W, past growths */
	{ 10, 30, 90, 'F', 'W', 8, { 0 }, { 1000, 1001 }, false, true, false },
	/* C then U: the C is final, the original superseded: none promoted */
	{ 5, 60, 5, 'C', 'U', 8, { 1000 }, { 0 }, true, false, false },
	/* keys longer than the first block, and than the largest block */
	{ 20, 20, 20, 'C', 'D', 300, { 1000 }, { 1000, 1001 }, true, true,
	    false },
	{ 2, 3, 17, 'C', 'D', 70000, { 1000 }, { 1000, 1001 }, true, true,
	    false },
};

/* Add a result of ALT with this key (any length). */
static struct rules_update
add_key(struct rules_history *h, char status, uint64_t id, const char *key,
    size_t len)
{
	return add_keyed(h, RULES_ALT, "", 30, unit_of(RULES_ALT), status,
	    NOW - DAY, id, range_of(RULES_ALT), key, len);
}

/* The key of filler i ("f<i>" padded with '.'), or of K (i == SIZE_MAX). */
static char *
growth_key(char *buf, size_t len, size_t i)
{
	int n = i == SIZE_MAX ? snprintf(buf, len + 1, "K") :
				snprintf(buf, len + 1, "f%zu", i);

	memset(buf + n, '.', len - (size_t)n);
	buf[len] = '\0';
	return buf;
}

/* The ids of one change's list (superseded, retracted or promoted). */
static void
expect_ids(const struct rules_update *up, const uint64_t *want, size_t ci,
    int which)
{
	size_t n = want[0] == 0 ? 0 : want[1] == 0 ? 1 : 2, got, k;
	const uint64_t *ids;

	got = up->nsuperseded + up->nretracted + up->npromoted;
	cr_expect_eq(got, n, "case %zu change %d: %zu ids, want %zu", ci, which,
	    got, n);
	ids = up->nsuperseded ? up->superseded :
	    up->nretracted    ? up->retracted :
				up->promoted;
	for (k = 0; k < n && k < got; k++)
		cr_expect_eq(ids[k], want[k], "case %zu change %d id %zu", ci,
		    which, k);
}

Test(protocol, growth_and_lazy_index)
{
	size_t i, k, next;

	for (i = 0; i < N(growth_cases); i++) {
		const struct growth_case *c = &growth_cases[i];
		struct rules_history *h = rules_history_new(R,
		    RULES_PHASE_SCREENING);
		const struct rules_entry *orig;
		struct rules_update up;
		char *key = malloc(c->keylen + 1),
		     *want = malloc(c->keylen + 1);
		size_t korig;

		cr_assert_not_null(key);
		cr_assert_not_null(want);
		for (next = 0; next < c->before; next++)
			add_key(h, 'F', next + 1,
			    growth_key(key, c->keylen, next), c->keylen);
		korig = rules_history_count(h);
		add_key(h, 'P', 1000, growth_key(key, c->keylen, SIZE_MAX),
		    c->keylen);
		for (k = 0; k < c->between; k++, next++)
			add_key(h, 'F', next + 1,
			    growth_key(key, c->keylen, next), c->keylen);
		up = add_key(h, c->first, 1001,
		    growth_key(key, c->keylen, SIZE_MAX), c->keylen);
		expect_ids(&up, c->first_ids, i, 1);
		for (k = 0; k < c->after; k++, next++)
			add_key(h, 'F', next + 1,
			    growth_key(key, c->keylen, next), c->keylen);
		up = add_key(h, c->second, 1002,
		    growth_key(key, c->keylen, SIZE_MAX), c->keylen);
		expect_ids(&up, c->second_ids, i, 2);

		cr_expect_eq(rules_history_count(h),
		    c->before + c->between + c->after + 3, "case %zu", i);
		orig = rules_history_entry(h, korig);
		cr_expect_eq(orig->id, 1000, "case %zu", i);
		cr_expect_eq(orig->superseded, c->orig_superseded, "case %zu",
		    i);
		cr_expect_eq(orig->retracted, c->orig_retracted, "case %zu", i);
		cr_expect_eq(orig->final, c->orig_final, "case %zu", i);
		/* every key as it was passed, after all the growths */
		for (k = 0, next = 0; k < rules_history_count(h); k++) {
			const struct rules_entry *e = rules_history_entry(h, k);

			growth_key(want, c->keylen,
			    e->id >= 1000 ? SIZE_MAX : next++);
			cr_expect_eq(e->key_len, c->keylen,
			    "case %zu entry %zu", i, k);
			cr_expect(memcmp(e->key, want, c->keylen) == 0 &&
				e->key[c->keylen] == '\0',
			    "case %zu entry %zu: key changed", i, k);
		}
		free(key);
		free(want);
		rules_history_free(h);
	}
}

Test(protocol, delete_and_wrong_retract)
{
	static const char st[] = { 'D', 'W' };
	size_t i;

	for (i = 0; i < N(st); i++) {
		struct rules_history *h = rules_history_new(R,
		    RULES_PHASE_SCREENING);
		struct rules_eligibility_result el;
		struct rules_update up;

		add(h, RULES_TBIL, 40, 'F', NOW - 2 * DAY, 1, "o1");
		add(h, RULES_TBIL, 12, 'F', NOW - 3 * DAY, 2, "o0");
		rules_eligibility(R, h, NOW, &el);
		cr_expect_eq(el.criteria[RULES_TBIL].rests_on->id, 1);
		up = add(h, RULES_TBIL, 0, st[i], NOW - 2 * DAY, 3, "o1");
		cr_expect_eq(up.nretracted, 1, "status %c", st[i]);
		cr_expect_eq(up.retracted[0], 1);
		cr_expect_eq(up.nsuperseded, 0);
		cr_expect(rules_history_entry(h, 0)->retracted);
		/* the verdict now rests on the older, still valid result */
		rules_eligibility(R, h, NOW, &el);
		cr_expect_eq(el.criteria[RULES_TBIL].verdict,
		    RULES_VERDICT_PASS);
		cr_expect_eq(el.criteria[RULES_TBIL].rests_on->id, 2);
		rules_history_free(h);
	}
}

/* ---- alert decisions ---- */

Test(protocol, alert_decisions)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_TREATMENT);
	struct rules_open_alert open[2];
	struct rules_alert_decision d;
	struct rules_update up;

	up = add(h, RULES_ALT, 201, 'F', NOW, 1, "o1"); /* grade 3 */
	rules_alert_decide(R, &up.ev, up.entry->observed_at, NULL, 0, &d);
	cr_expect_eq(d.kind, RULES_ALERT_TOXICITY);
	cr_expect_eq(d.grade, 3);
	cr_expect_eq(d.analyte, RULES_ALT);

	open[0].analyte = RULES_ALT;
	open[0].grade = 3;
	open[0].id = 77;
	open[0].observed_at = NOW;
	rules_alert_decide(R, &up.ev, up.entry->observed_at, open, 1, &d);
	cr_expect_eq(d.kind, RULES_ALERT_NONE); /* same grade: nothing */

	up = add(h, RULES_ALT, 801, 'F', NOW + 1, 2, "o2"); /* grade 4 */
	rules_alert_decide(R, &up.ev, up.entry->observed_at, open, 1, &d);
	cr_expect_eq(d.kind, RULES_ALERT_ESCALATE);
	cr_expect_eq(d.replaces, 0);
	cr_expect_eq(d.grade, 4);

	open[1].analyte = RULES_AST; /* another analyte's alert is no reason */
	open[1].grade = 4;
	open[1].id = 78;
	open[1].observed_at = NOW;
	up = add(h, RULES_ALT, 201, 'F', NOW + 2, 3, "o3");
	rules_alert_decide(R, &up.ev, up.entry->observed_at, open + 1, 1, &d);
	cr_expect_eq(d.kind, RULES_ALERT_TOXICITY);
	open[0].grade = 4;
	rules_alert_decide(R, &up.ev, up.entry->observed_at, open, 2, &d);
	cr_expect_eq(d.kind, RULES_ALERT_NONE); /* lower: nothing */

	up = add(h, RULES_ALT, 130, 'F', NOW + 3, 4,
	    "o4"); /* grade 2 < alert grade */
	rules_alert_decide(R, &up.ev, up.entry->observed_at, NULL, 0, &d);
	cr_expect_eq(d.kind, RULES_ALERT_NONE);

	up = add(h, RULES_ALT, 900, 'P', NOW + 4, 5, "o5"); /* preliminary */
	rules_alert_decide(R, &up.ev, up.entry->observed_at, NULL, 0, &d);
	cr_expect_eq(d.kind, RULES_ALERT_NONE);
	up = add(h, RULES_ALT, 900, 'C', NOW + 4, 6,
	    "o5"); /* its correction is final */
	rules_alert_decide(R, &up.ev, up.entry->observed_at, NULL, 0, &d);
	cr_expect_eq(d.kind, RULES_ALERT_TOXICITY);
	rules_history_free(h);
}

/*
 * Alert episodes (CLINICAL.md "Alert episodes", issue 11 item 4): one
 * patient, analyte and term, from the first final result at or above the
 * alert grade (3 here) to the first final result below it, which resolves
 * the episode's alert; the next result at or above it opens a new one.
 * Ranges are range_of()'s: Hb 120-160 g/L, creatinine 60-100 umol/L, ANC
 * 2.0-7.5, platelets 150-400. Each step is decided on the open alerts the
 * steps before left, applied as the writer applies them.
 */
struct episode_step {
	enum rules_analyte a;
	const char *cmp;
	double v;
	char status;
	enum rules_alert_kind want;
	int grade; /* the decision's grade when want is not NONE */
};

struct episode_case {
	const char *name;
	struct episode_step s[6];
	size_t n;
};

#define EP(a, v, st, want, g) \
	{ \
		a, "", v, st, want, g \
	}
#define EP_TOX(a, v, g) EP(a, v, 'F', RULES_ALERT_TOXICITY, g)
#define EP_REC(a, v, g) EP(a, v, 'F', RULES_ALERT_RECOVERED, g)
#define EP_NONE(a, v, st) EP(a, v, st, RULES_ALERT_NONE, -1)
#define EP_CMP(a, cmp, v, want, g) \
	{ \
		a, cmp, v, 'F', want, g \
	}

static const struct episode_case episodes[] = {
	{ "Hb 75 -> 125 -> 75 g/L: two episodes",
	    { EP_TOX(RULES_HGB, 75, 3), EP_REC(RULES_HGB, 125, 0),
		EP_TOX(RULES_HGB, 75, 3) },
	    3 },
	{ "creatinine 400 -> 90 -> 400 umol/L: two episodes",
	    { EP_TOX(RULES_CREA, 400, 3), EP_REC(RULES_CREA, 90, 0),
		EP_TOX(RULES_CREA, 400, 3) },
	    3 },
	{ "ANC 0.8 -> 1.8 -> 0.8: grade 1 is below the alert grade",
	    { EP_TOX(RULES_ANC, 0.8, 3), EP_REC(RULES_ANC, 1.8, 1),
		EP_TOX(RULES_ANC, 0.8, 3) },
	    3 },
	{ "ANC 0.8 -> 0.4 escalates, 0.9 adds nothing, 1.2 ends it",
	    { EP_TOX(RULES_ANC, 0.8, 3),
		EP(RULES_ANC, 0.4, 'F', RULES_ALERT_ESCALATE, 4),
		EP_NONE(RULES_ANC, 0.9, 'F'), EP_REC(RULES_ANC, 1.2, 2),
		EP_TOX(RULES_ANC, 0.4, 4) },
	    5 },
	{ "Hb 75 -> 125 preliminary: the episode goes on",
	    { EP_TOX(RULES_HGB, 75, 3), EP_NONE(RULES_HGB, 125, 'P'),
		EP_NONE(RULES_HGB, 75, 'F'), EP_REC(RULES_HGB, 125, 0),
		EP_NONE(RULES_HGB, 125, 'F') },
	    5 },
	{ "Hb 75 -> 95 (grade 2, still abnormal) ends it",
	    { EP_TOX(RULES_HGB, 75, 3), EP_REC(RULES_HGB, 95, 2),
		EP_TOX(RULES_HGB, 79, 3) },
	    3 },
	{ "platelets 40 -> <75 (grade 3-4 not excluded) -> 60 -> 40",
	    { EP_TOX(RULES_PLT, 40, 3),
		{ RULES_PLT, "<", 75, 'F', RULES_ALERT_NONE, -1 },
		EP_REC(RULES_PLT, 60, 2), EP_TOX(RULES_PLT, 40, 3) },
	    4 },
	/*
	 * Comparators that leave the grade open (CLINICAL.md, issue 11 item
	 * 5): a minimum below the alert grade that may reach it opens an
	 * episode with a warning at the minimum grade.
	 */
	{ "platelets <75 -> <75 -> 40 -> 200: possible, nothing, escalate, "
	  "recovered",
	    { EP_CMP(RULES_PLT, "<", 75, RULES_ALERT_POSSIBLE, 2),
		EP_CMP(RULES_PLT, "<", 75, RULES_ALERT_NONE, -1),
		EP(RULES_PLT, 40, 'F', RULES_ALERT_ESCALATE, 3),
		EP_REC(RULES_PLT, 200, 0) },
	    4 },
	{ "platelets <75 -> 60 (known grade 2) ends it -> <75 opens another",
	    { EP_CMP(RULES_PLT, "<", 75, RULES_ALERT_POSSIBLE, 2),
		EP_REC(RULES_PLT, 60, 2),
		EP_CMP(RULES_PLT, "<", 75, RULES_ALERT_POSSIBLE, 2) },
	    3 },
	{ "platelets <75 -> <50 (grade 3 or worse) escalates -> <25 (grade 4)",
	    { EP_CMP(RULES_PLT, "<", 75, RULES_ALERT_POSSIBLE, 2),
		EP_CMP(RULES_PLT, "<", 50, RULES_ALERT_ESCALATE, 3),
		EP_CMP(RULES_PLT, "<", 25, RULES_ALERT_ESCALATE, 4),
		EP_CMP(RULES_PLT, "<", 75, RULES_ALERT_NONE, -1) },
	    4 },
	{ "platelets <40: a minimum at the alert grade is a toxicity alert",
	    { EP_CMP(RULES_PLT, "<", 40, RULES_ALERT_TOXICITY, 3),
		EP_CMP(RULES_PLT, "<", 75, RULES_ALERT_NONE, -1),
		EP_CMP(RULES_PLT, "<", 40, RULES_ALERT_NONE, -1) },
	    3 },
	{ "platelets <100 (grade 1, 2-4 open) -> <75: the higher minimum "
	  "escalates",
	    { EP_CMP(RULES_PLT, "<", 100, RULES_ALERT_POSSIBLE, 1),
		EP_CMP(RULES_PLT, "<", 75, RULES_ALERT_ESCALATE, 2),
		EP_CMP(RULES_PLT, "<", 100, RULES_ALERT_NONE, -1) },
	    3 },
	{ "AST >150 (ULN 40: grade 2, 3-4 open) -> 250 (grade 3)",
	    { EP_CMP(RULES_AST, ">", 150, RULES_ALERT_POSSIBLE, 2),
		EP(RULES_AST, 250, 'F', RULES_ALERT_ESCALATE, 3) },
	    2 },
	{ "Hb <90 g/L (grade 2, 3 open) -> 110 ends it",
	    { EP_CMP(RULES_HGB, "<", 90, RULES_ALERT_POSSIBLE, 2),
		EP_REC(RULES_HGB, 110, 1) },
	    2 },
	{ "creatinine >200 umol/L (ULN 100: grade 2, 3-4 open)",
	    { EP_CMP(RULES_CREA, ">", 200, RULES_ALERT_POSSIBLE, 2) }, 1 },
	{ "platelets <75 preliminary: no alert; ANC >=1.5: indeterminate",
	    { { RULES_PLT, "<", 75, 'P', RULES_ALERT_NONE, -1 },
		EP_CMP(RULES_ANC, ">=", 1.5, RULES_ALERT_DATA_QUALITY, -1) },
	    2 },
	{ "another analyte's normal result ends nothing",
	    { EP_TOX(RULES_HGB, 75, 3), EP_NONE(RULES_PLT, 200, 'F'),
		EP_NONE(RULES_HGB, 76, 'F'), EP_REC(RULES_HGB, 80, 2) },
	    4 },
};

Test(protocol, alert_episodes)
{
	size_t i, j;

	for (i = 0; i < N(episodes); i++) {
		const struct episode_case *c = &episodes[i];
		struct rules_history *h = rules_history_new(R,
		    RULES_PHASE_TREATMENT);
		struct rules_open_alert open[8];
		struct rules_alert_decision d;
		struct rules_update up;
		size_t nopen = 0;
		char order[16];

		for (j = 0; j < c->n; j++) {
			const struct episode_step *s = &c->s[j];

			snprintf(order, sizeof order, "o%zu", j);
			up = add_cmp(h, s->a, s->cmp, s->v, s->status,
			    NOW + (int64_t)j, j + 1, order);
			rules_alert_decide(R, &up.ev, up.entry->observed_at,
			    open, nopen, &d);
			cr_expect_eq(d.kind, s->want,
			    "%s: step %zu (%g): kind %d, want %d", c->name, j,
			    s->v, d.kind, s->want);
			if (d.kind != s->want)
				break;
			if (d.kind != RULES_ALERT_NONE)
				cr_expect_eq(d.grade, s->grade,
				    "%s: step %zu: grade %d", c->name, j,
				    d.grade);
			if (d.kind == RULES_ALERT_RECOVERED ||
			    d.kind == RULES_ALERT_ESCALATE) {
				cr_assert_lt(d.replaces, nopen);
				cr_expect_eq(open[d.replaces].analyte, s->a);
				open[d.replaces] = open[--nopen];
			}
			/* The writer opens a possible one at its minimum. */
			if (d.kind == RULES_ALERT_TOXICITY ||
			    d.kind == RULES_ALERT_ESCALATE ||
			    d.kind == RULES_ALERT_POSSIBLE) {
				cr_assert_lt(nopen, N(open));
				open[nopen].analyte = d.analyte;
				open[nopen].grade = d.grade;
				open[nopen].id = 100 + j;
				open[nopen].observed_at = NOW + (int64_t)j;
				nopen++;
			}
		}
		rules_history_free(h);
	}
}

/* An acknowledged alert is open to the rules: its episode ends the same. */
Test(protocol, alert_episode_recovery_names_the_alert)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_TREATMENT);
	struct rules_open_alert open[2] = { { RULES_PLT, 3, 41, NOW - 1,
						false },
		{ RULES_HGB, 3, 42, NOW - 1, false } };
	struct rules_alert_decision d;
	struct rules_update up;

	up = add(h, RULES_HGB, 130, 'F', NOW, 1, "o1");
	rules_alert_decide(R, &up.ev, up.entry->observed_at, open, 2, &d);
	cr_expect_eq(d.kind, RULES_ALERT_RECOVERED);
	cr_expect_eq(d.analyte, RULES_HGB);
	cr_expect_eq(d.replaces, 1);
	cr_expect_eq(d.grade, 0);
	/*
	 * A late result, observed before the alert's own (a day-old sample
	 * from another laboratory), says nothing about the episode now.
	 */
	open[1].observed_at = NOW + DAY;
	rules_alert_decide(R, &up.ev, up.entry->observed_at, open, 2, &d);
	cr_expect_eq(d.kind, RULES_ALERT_NONE);
	open[1].observed_at = NOW - 1;
	/* an ungradable result says nothing about the episode */
	up = add_cmp(h, RULES_HGB, ">=", 110, 'F', NOW + 1, 2, "o2");
	cr_expect_eq(up.entry->grade, -1);
	rules_alert_decide(R, &up.ev, up.entry->observed_at, open, 2, &d);
	cr_expect_neq(d.kind, RULES_ALERT_RECOVERED);
	rules_history_free(h);
}

/*
 * A result whose time is unknown (OBX-14, OBR-7 and MSH-7 empty: -1)
 * cannot be placed after the alert's result: it ends no episode. An alert
 * whose own result has no time is ended by a later-arriving final result
 * of known time (no CLI command resolves an alert: kept open, it never
 * ended and the next episode was never alerted; review of the withdraw
 * merge, defect 3).
 */
struct unknown_time_case {
	int64_t result_at, alert_at;
	enum rules_alert_kind want;
};

static const struct unknown_time_case unknown_time_cases[] = {
	{ -1, NOW - DAY, RULES_ALERT_NONE },
	{ NOW, -1, RULES_ALERT_RECOVERED },
	{ NOW - 2 * DAY, -1, RULES_ALERT_RECOVERED },
	{ -1, -1, RULES_ALERT_NONE },
	{ NOW, NOW - DAY, RULES_ALERT_RECOVERED },
	{ NOW, NOW, RULES_ALERT_RECOVERED },
	{ NOW - 2 * DAY, NOW - DAY, RULES_ALERT_NONE },
};

Test(protocol, alert_episode_unknown_time_ends_nothing)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_TREATMENT);
	struct rules_open_alert open = { RULES_HGB, 3, 42, -1, false };
	struct rules_alert_decision d;
	struct rules_update up;
	size_t i;

	for (i = 0; i < N(unknown_time_cases); i++) {
		const struct unknown_time_case *c = &unknown_time_cases[i];

		up = add(h, RULES_HGB, 125, 'F', c->result_at, i + 1, "o1");
		cr_expect_eq(up.entry->grade, 0);
		open.observed_at = c->alert_at;
		rules_alert_decide(R, &up.ev, c->result_at, &open, 1, &d);
		cr_expect_eq(d.kind, c->want, "case %zu: kind %d", i, d.kind);
		/* nothing to say of it either: no problem */
		cr_expect(!rules_alert_silent_problem(R, &up.ev, c->result_at,
			      &open, 1),
		    "case %zu", i);
	}
	rules_history_free(h);
}

/*
 * A result that ends an episode and has a problem all the same (Hb 90 g/L
 * with no OBX-7 and no default: grade 2 is known, the range is not) gets
 * its recovery line and its data-quality line; a late one (observed before
 * the alert's result) ends nothing but its problem is still said. Both
 * were silent: the recovery took the place of the data-quality alert, and
 * the late result returned before the problem was looked at.
 */
Test(protocol, alert_episode_recovery_keeps_its_problem)
{
	struct rules *s;
	struct rules_result in;
	struct rules_eval ev;
	struct rules_alert_decision d;
	struct rules_open_alert open = { RULES_HGB, 3, 42, NOW - DAY, false };
	char *cause = NULL;

	if (rules_load(RULES_TESTDATA "/nodefaults.conf", &s, &cause) < 0)
		cr_assert_fail("load: %s", cause);
	cr_assert_eq(rules_alert_grade(s), 3);
	memset(&in, 0, sizeof in);
	in.code = "718-7";
	in.code_len = 5;
	in.system = "LN";
	in.system_len = 2;
	in.alt_code = in.alt_system = in.range = "";
	in.kind = RULES_VALUE_NUMBER;
	in.value = 90;
	in.unit = "g/L";
	in.unit_len = 3;
	in.status = 'F';
	rules_eval(s, &in, NULL, &ev);
	cr_expect_eq(ev.grade, 2);
	cr_expect_str_eq(ev.problem, "no_reference_range");
	/* no episode open: the problem is a data-quality alert */
	rules_alert_decide(s, &ev, NOW, NULL, 0, &d);
	cr_expect_eq(d.kind, RULES_ALERT_DATA_QUALITY);
	cr_expect(!rules_alert_silent_problem(s, &ev, NOW, NULL, 0));
	/* an episode open: it ends, and the problem is said apart */
	rules_alert_decide(s, &ev, NOW, &open, 1, &d);
	cr_expect_eq(d.kind, RULES_ALERT_RECOVERED);
	cr_expect(rules_alert_silent_problem(s, &ev, NOW, &open, 1));
	/* observed before the alert's result: ends nothing, still said */
	rules_alert_decide(s, &ev, NOW - 2 * DAY, &open, 1, &d);
	cr_expect_eq(d.kind, RULES_ALERT_DATA_QUALITY);
	cr_expect(!rules_alert_silent_problem(s, &ev, NOW - 2 * DAY, &open, 1));
	/* a recovery without a problem says nothing more */
	in.range = "120-160";
	in.range_len = 7;
	rules_eval(s, &in, NULL, &ev);
	cr_expect_eq(ev.problem, NULL);
	rules_alert_decide(s, &ev, NOW, &open, 1, &d);
	cr_expect_eq(d.kind, RULES_ALERT_RECOVERED);
	cr_expect(!rules_alert_silent_problem(s, &ev, NOW, &open, 1));
	rules_free(s);
}

Test(protocol, data_quality_alert)
{
	struct rules_result in;
	struct rules_eval ev;
	struct rules_alert_decision d;

	memset(&in, 0, sizeof in);
	in.code = "751-8";
	in.code_len = 5;
	in.system = "LN";
	in.system_len = 2;
	in.alt_code = in.alt_system = "";
	in.kind = RULES_VALUE_NUMBER;
	in.value = 0.2;
	in.unit = "cells/L";
	in.unit_len = 7;
	in.range = "";
	in.status = 'F';
	rules_eval(R, &in, NULL, &ev);
	cr_expect_str_eq(ev.problem, "unit_unknown");
	rules_alert_decide(R, &ev, -1, NULL, 0, &d);
	cr_expect_eq(d.kind, RULES_ALERT_DATA_QUALITY);
	in.kind = RULES_VALUE_TEXT;
	rules_eval(R, &in, NULL, &ev);
	rules_alert_decide(R, &ev, -1, NULL, 0, &d);
	cr_expect_eq(d.kind, RULES_ALERT_DATA_QUALITY);
	in.status = 'X'; /* no value by status: nothing to say */
	rules_eval(R, &in, NULL, &ev);
	rules_alert_decide(R, &ev, -1, NULL, 0, &d);
	cr_expect_eq(d.kind, RULES_ALERT_NONE);
}

/*
 * An OBX-7 that is there but unreadable (issue 11 item 1): a data-quality
 * alert when final, never a toxicity alert or a hepatotoxicity stop on the
 * default ULN (ALT 250 on the default 40 was 6.25 x ULN: grade 3 and a stop).
 */
Test(protocol, range_unreadable_alert_no_stop)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_TREATMENT);
	struct rules_hold_state st[RULES_MAX_HOLD_RULES];
	struct rules_hold_event hev[4];
	struct rules_alert_decision d;
	struct rules_update up;
	struct rules_result in;

	memset(&in, 0, sizeof in);
	in.code = "1742-6";
	in.code_len = 6;
	in.system = "LN";
	in.system_len = 2;
	in.alt_code = in.alt_system = "";
	in.kind = RULES_VALUE_NUMBER;
	in.value = 250;
	in.unit = "U/L";
	in.unit_len = 3;
	in.range = "see note";
	in.range_len = 8;
	in.status = 'P';
	in.observed_at = NOW - 1;
	in.id = 1;
	rules_history_add(h, &in, "o1", 2, &up);
	cr_expect_str_eq(up.ev.problem, "range_unreadable");
	rules_alert_decide(R, &up.ev, up.entry->observed_at, NULL, 0, &d);
	cr_expect_eq(d.kind, RULES_ALERT_NONE); /* preliminary: nothing */

	in.status = 'F';
	in.observed_at = NOW;
	in.id = 2;
	rules_history_add(h, &in, "o2", 2, &up);
	cr_expect_str_eq(up.ev.problem, "range_unreadable");
	cr_expect_eq(up.entry->grade, -1);
	rules_alert_decide(R, &up.ev, up.entry->observed_at, NULL, 0, &d);
	cr_expect_eq(d.kind, RULES_ALERT_DATA_QUALITY);
	cr_expect_eq(d.analyte, RULES_ALT);
	memset(st, 0, sizeof st);
	cr_expect_eq(rules_hold_step(R, h, NOW, st, hev, N(hev)), 0);
	rules_history_free(h);
}

/* ---- baselines ---- */

Test(protocol, baseline_from_history)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_SCREENING);
	const struct rules_baseline *b;
	struct rules_update up;

	add(h, RULES_AST, 55, 'F', NOW - 5 * DAY, 1, "o1");
	add(h, RULES_AST, 60, 'F', NOW - 2 * DAY, 2, "o2");
	add(h, RULES_AST, 70, 'F', NOW + DAY, 3, "o3"); /* after the start */
	cr_expect_eq(rules_history_baseline_from(h, NOW), 1);
	b = rules_history_baselines(h);
	cr_expect(b[RULES_AST].known);
	cr_expect_float_eq(b[RULES_AST].value, 60, 1e-12);
	cr_expect_float_eq(b[RULES_AST].uln, 40, 1e-12);
	cr_expect(!b[RULES_ALT].known);
	rules_history_set_phase(h, RULES_PHASE_TREATMENT);
	cr_expect_eq(rules_history_phase(h), RULES_PHASE_TREATMENT);
	/* abnormal baseline 60: 90 is grade 1 (1.5 x baseline, inclusive) */
	up = add(h, RULES_AST, 90, 'F', NOW + 2 * DAY, 4, "o4");
	cr_expect_eq(up.entry->grade, 1);
	up = add(h, RULES_AST, 89, 'F', NOW + 2 * DAY, 5, "o5");
	cr_expect_eq(up.entry->grade, 0);
	rules_history_set_baseline(h, RULES_AST, NAN, NAN);
	up = add(h, RULES_AST, 89, 'F', NOW + 2 * DAY, 6, "o6");
	cr_expect_eq(up.entry->grade, 1);
	rules_history_free(h);
}

/* ---- other data files ---- */

Test(protocol, site_local_codes_and_settings)
{
	struct rules *s;
	struct rules_result in;
	struct rules_eval ev;
	struct rules_alert_decision d;
	char *cause = NULL;

	if (rules_load(RULES_TESTDATA "/site/protocol.conf", &s, &cause) < 0)
		cr_assert_fail("load: %s", cause);
	memset(&in, 0, sizeof in);
	in.code = "NEUT#";
	in.code_len = 5;
	in.system = "99LAB";
	in.system_len = 5;
	in.alt_code = in.alt_system = "";
	in.kind = RULES_VALUE_NUMBER;
	in.value = 1.2;
	in.unit = "K/uL";
	in.unit_len = 4;
	in.range = "";
	in.status = 'P';
	rules_eval(s, &in, NULL, &ev);
	cr_expect_eq(ev.analyte, RULES_ANC);
	cr_expect_eq(ev.range_source, RULES_RANGE_NONE); /* no [defaults] */
	cr_expect_str_eq(ev.problem, "no_reference_range");
	cr_expect_eq(ev.grade, 2); /* < 1.5 needs no LLN */
	cr_expect_eq(rules_alert_grade(s), 2);
	cr_expect_eq(rules_window_seconds(s), 7 * DAY);
	rules_alert_decide(s, &ev, -1, NULL, 0,
	    &d); /* alert_preliminary = yes */
	cr_expect_eq(d.kind, RULES_ALERT_TOXICITY);
	/*
	 * A preliminary result may alert here, but only a final one ends an
	 * episode (CLINICAL.md "Alert episodes"): ANC 1.8 is grade 1.
	 */
	{
		struct rules_open_alert open = { RULES_ANC, 2, 9, NOW - 1,
			false };

		in.value = 1.8;
		in.range = "2.0-7.5";
		in.range_len = 7;
		rules_eval(s, &in, NULL, &ev);
		cr_expect_eq(ev.grade, 1);
		rules_alert_decide(s, &ev, NOW, &open, 1, &d);
		cr_expect_eq(d.kind, RULES_ALERT_NONE);
		in.status = 'F';
		rules_eval(s, &in, NULL, &ev);
		rules_alert_decide(s, &ev, NOW, &open, 1, &d);
		cr_expect_eq(d.kind, RULES_ALERT_RECOVERED);
		in.status = 'P';
		in.value = 1.2;
		in.range = "";
		in.range_len = 0;
	}
	/* a local code under the LOINC system is not that local code */
	in.system = "LN";
	in.system_len = 2;
	rules_eval(s, &in, NULL, &ev);
	cr_expect_eq(ev.analyte, RULES_NONE);
	in.code = "SGPT";
	in.code_len = 4;
	in.system = "L";
	in.system_len = 1;
	rules_eval(s, &in, NULL, &ev);
	cr_expect_eq(ev.analyte, RULES_ALT);
	rules_free(s);
}

Test(protocol, no_range_no_default)
{
	struct rules *s;
	struct rules_result in;
	struct rules_baseline base[RULES_NANALYTES];
	struct rules_eval ev;
	char *cause = NULL;
	int k;

	if (rules_load(RULES_TESTDATA "/nodefaults.conf", &s, &cause) < 0)
		cr_assert_fail("load: %s", cause);
	for (k = 0; k < RULES_NANALYTES; k++) {
		base[k].known = false;
		base[k].value = base[k].uln = NAN;
	}
	memset(&in, 0, sizeof in);
	in.code = "2160-0";
	in.code_len = 6;
	in.system = "LN";
	in.system_len = 2;
	in.alt_code = in.alt_system = "";
	in.kind = RULES_VALUE_NUMBER;
	in.unit = "umol/L";
	in.unit_len = 6;
	in.range = "";
	in.status = 'F';
	in.value = 90;
	rules_eval(s, &in, NULL, &ev);
	cr_expect_eq(ev.grade, -1);
	cr_expect_str_eq(ev.problem, "no_reference_range");
	cr_expect(isnan(ev.x_uln));
	/* creatinine with a baseline still reaches 2 or 3 on it */
	base[RULES_CREA].known = true;
	base[RULES_CREA].value = 50;
	rules_eval(s, &in, base, &ev);
	cr_expect_eq(ev.grade, 2);
	cr_expect(ev.grade_is_minimum);
	in.value = 151;
	rules_eval(s, &in, base, &ev);
	cr_expect_eq(ev.grade, 3);
	cr_expect(ev.grade_is_minimum);
	in.value = 70;
	rules_eval(s, &in, base, &ev);
	cr_expect_eq(ev.grade, -1); /* grade 0 or 1: unknowable */
	/* AST without ULN: ungradable, not grade 0 */
	in.code = "1920-8";
	in.unit = "U/L";
	in.unit_len = 3;
	in.value = 20;
	rules_eval(s, &in, NULL, &ev);
	cr_expect_eq(ev.grade, -1);
	cr_expect_eq(ev.eligibility, RULES_VERDICT_NONE);
	/* and its abnormal-baseline row cannot be chosen without any ULN */
	base[RULES_AST].known = true;
	base[RULES_AST].value = 60;
	in.value = 400;
	rules_eval(s, &in, base, &ev);
	cr_expect_eq(ev.grade, -1);
	rules_free(s);
}

/* ---- loader errors ---- */

struct err_case {
	const char *file;
	const char *want; /* expected start of the message */
	const char *what; /* a word it must contain */
};

static const struct err_case err_cases[] = {
	{ "err-section.conf", RULES_TESTDATA "/err-section.conf:3: ", "bogus" },
	{ "err-cond.conf", RULES_TESTDATA "/err-cond.conf:8: ", "<" },
	{ "err-analyte.conf", RULES_TESTDATA "/err-analyte.conf:6: ", "bili" },
	{ "err-window.conf",
	    RULES_TESTDATA "/err-window.conf:3: ", "screening_window_days" },
	{ "err-nokey.conf",
	    RULES_TESTDATA "/err-nokey.conf:3: ", "key = value" },
	{ "err-required.conf",
	    RULES_TESTDATA "/err-required.conf: ", "needs name" },
	{ "err-missing.conf",
	    RULES_TESTDATA "/no-such-file.conf: ", "cannot open" },
	{ "badunit/protocol.conf",
	    RULES_TESTDATA "/badunit/analytes.conf:47: ", "factor" },
	{ "badgrade/protocol.conf",
	    RULES_TESTDATA "/badgrade/table.conf:6: ", "grade5" },
	{ "nonexistent.conf",
	    RULES_TESTDATA "/nonexistent.conf: ", "cannot open" },
};

Test(protocol, loader_errors)
{
	size_t i;

	for (i = 0; i < N(err_cases); i++) {
		char path[512], *cause = NULL;
		struct rules *s = (struct rules *)1;

		snprintf(path, sizeof path, "%s/%s", RULES_TESTDATA,
		    err_cases[i].file);
		cr_expect_eq(rules_load(path, &s, &cause), -1, "case %zu", i);
		cr_expect_null(s);
		cr_assert_not_null(cause, "case %zu", i);
		cr_expect(strncmp(cause, err_cases[i].want,
			      strlen(err_cases[i].want)) == 0,
		    "case %zu: got '%s', want '%s...'", i, cause,
		    err_cases[i].want);
		cr_expect(strstr(cause, err_cases[i].what) != NULL,
		    "case %zu: '%s' lacks '%s'", i, cause, err_cases[i].what);
		free(cause);
	}
}

/* ---- a history kept for eligibility alone ---- */

/* Both eligibility results the same: verdicts and the results they rest on. */
static void
expect_same_eligibility(const struct rules_history *full,
    const struct rules_history *kept, int64_t now, const char *what,
    size_t step)
{
	struct rules_eligibility_result a, b;
	const struct rules_entry *x, *y;
	size_t i;

	rules_eligibility(R, full, now, &a);
	rules_eligibility(R, kept, now, &b);
	cr_expect_eq(a.status, b.status, "%s, step %zu: status", what, step);
	cr_assert_eq(a.ncriteria, b.ncriteria);
	for (i = 0; i < a.ncriteria; i++) {
		x = a.criteria[i].rests_on;
		y = b.criteria[i].rests_on;
		cr_expect_eq(a.criteria[i].verdict, b.criteria[i].verdict,
		    "%s, step %zu, criterion %zu", what, step, i);
		cr_expect_eq(x == NULL, y == NULL,
		    "%s, step %zu, criterion %zu", what, step, i);
		if (x == NULL || y == NULL)
			continue;
		/* Ids are unique here: the very same result. */
		cr_expect_eq(x->id, y->id, "%s, step %zu, criterion %zu", what,
		    step, i);
		cr_expect_eq(x->status, y->status, "%s, step %zu", what, step);
		cr_expect_eq(x->final, y->final, "%s, step %zu", what, step);
	}
}

/*
 * A preliminary result out of the window, then its U: the U stands for
 * what it promoted (superseded), so the U itself never counts. Were the
 * preliminary one dropped as useless, the U would count as a result of
 * its own and make the patient ineligible.
 */
/* A history kept for eligibility at NOW answers only at NOW (rules.h). */
Test(protocol, keep_for_eligibility_asked_at_another_time_aborts,
    .signal = SIGABRT)
{
	struct rules_history *kept = rules_history_new(R,
	    RULES_PHASE_SCREENING);
	struct rules_eligibility_result el;

	rules_history_keep_for_eligibility(kept, NOW);
	add_all_pass(kept, NOW - DAY, 1);
	rules_eligibility(R, kept, NOW, &el);
	cr_expect_eq(el.status, RULES_ELIGIBLE);
	rules_eligibility(R, kept, NOW + 1, &el);
}

Test(protocol, keep_for_eligibility_keeps_what_a_u_promotes)
{
	struct rules_history *full = rules_history_new(R,
	    RULES_PHASE_SCREENING);
	struct rules_history *kept = rules_history_new(R,
	    RULES_PHASE_SCREENING);
	struct rules_history *h[2] = { full, kept };
	struct rules_eligibility_result el;
	struct rules_update up;
	int i;

	rules_history_keep_for_eligibility(kept, NOW);
	for (i = 0; i < 2; i++) {
		add_all_pass(h[i], NOW - DAY, 1);
		/* Observed after now: never counts, but a U may promote it. */
		up = add(h[i], RULES_PLT, 50, 'P', NOW + DAY, 10, "late");
		cr_expect_not_null(up.entry);
		/* The U, observed in the window. */
		up = add(h[i], RULES_PLT, 50, 'U', NOW - 3600, 11, "late");
		cr_expect_eq(up.npromoted, 1);
		cr_expect_eq(up.promoted[0], 10);
		rules_eligibility(R, h[i], NOW, &el);
		cr_expect_eq(el.status, RULES_ELIGIBLE, "history %d", i);
		cr_expect_eq(el.criteria[RULES_PLT].rests_on->id,
		    1 + RULES_PLT);
	}
	cr_expect_eq(rules_history_count(full), 9);
	/* The U stands for what it promoted: superseded, not kept. */
	cr_expect_eq(rules_history_count(kept), 8);
	/* A final result after now: evaluated, not kept. */
	up = add(kept, RULES_ALT, 500, 'F', NOW + 1, 12, "after");
	cr_expect_null(up.entry);
	cr_expect_eq(up.ev.grade, 3);
	cr_expect_eq(up.ev.eligibility, RULES_VERDICT_FAIL);
	/* Nor one before the window, nor a retraction, nor an X. */
	cr_expect_null(
	    add(kept, RULES_ALT, 500, 'F', NOW - 15 * DAY, 13, "o").entry);
	cr_expect_null(add(kept, RULES_ALT, 500, 'D', NOW, 14, "o").entry);
	cr_expect_null(add(kept, RULES_ALT, 500, 'X', NOW, 15, "o").entry);
	cr_expect_eq(rules_history_count(kept), 8);
	expect_same_eligibility(full, kept, NOW, "after", 0);
	rules_history_free(full);
	rules_history_free(kept);
}

/* A tiny generator of its own: the same sequence on every platform. */
static uint32_t
keep_rand(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

/* An ANC code with a platelet code beside it: a code conflict naming both. */
static void
conflict_result(struct rules_result *in, double v, char status, int64_t t,
    uint64_t id)
{
	memset(in, 0, sizeof *in);
	in->code = "751-8";
	in->code_len = 5;
	in->system = in->alt_system = "LN";
	in->system_len = in->alt_system_len = 2;
	in->alt_code = "777-3";
	in->alt_code_len = 5;
	in->kind = RULES_VALUE_NUMBER;
	in->value = v;
	in->unit = "10^9/L";
	in->unit_len = strlen(in->unit);
	in->range = "";
	in->status = status;
	in->observed_at = t;
	in->id = id;
}

static struct rules_update
add_conflict(struct rules_history *h, double v, char status, int64_t t,
    uint64_t id, const char *key)
{
	struct rules_result in;
	struct rules_update up;

	conflict_result(&in, v, status, t, id);
	rules_history_add(h, &in, key, strlen(key), &up);
	return up;
}

/*
 * in added to lazy by rules_history_add_for_eligibility(): what kept's
 * add of it gave, the same evaluation, kept or not alike, the same ids
 * changed.
 */
static void
expect_lazy_same(struct rules_history *lazy, struct rules_result *in,
    const char *key, const struct rules_update *kept)
{
	struct rules_mapping m;
	struct rules_update up;
	size_t i;

	rules_map_result(R, in, &m);
	rules_history_add_for_eligibility(lazy, R, NOW, in, &m, key,
	    strlen(key), &up);
	cr_expect_eq(up.ev.grade, kept->ev.grade);
	cr_expect_eq(up.ev.eligibility, kept->ev.eligibility);
	cr_expect_eq(up.ev.problem, kept->ev.problem);
	cr_expect_eq(up.ev.final, kept->ev.final);
	cr_expect_eq(up.entry == NULL, kept->entry == NULL);
	cr_expect_eq(up.nsuperseded, kept->nsuperseded);
	cr_expect_eq(up.nretracted, kept->nretracted);
	cr_expect_eq(up.npromoted, kept->npromoted);
	for (i = 0; i < up.npromoted && i < kept->npromoted; i++)
		cr_expect_eq(up.promoted[i], kept->promoted[i]);
}

static void
add_conflict_lazy(struct rules_history *lazy, double v, char status, int64_t t,
    uint64_t id, const char *key, const struct rules_update *kept)
{
	struct rules_result in;

	conflict_result(&in, v, status, t, id);
	expect_lazy_same(lazy, &in, key, kept);
}

/* add() by rules_history_add_for_eligibility() (key "order/code"). */
static void
add_lazy(struct rules_history *lazy, enum rules_analyte a, double v,
    char status, int64_t t, uint64_t id, const char *order,
    const struct rules_update *kept)
{
	struct rules_result in;
	char key[64];

	result_of_analyte(&in, a, "", v, unit_of(a), status, t, id,
	    range_of(a));
	snprintf(key, sizeof key, "%s/%s", order, code_of(a));
	expect_lazy_same(lazy, &in, key, kept);
}

/*
 * Random patients (statuses, keys that C, D, W and U name again, times
 * in and out of the window and unknown, code conflicts): a history kept
 * for eligibility gives the same verdict on the same results after every
 * add as one that keeps everything, and each add the same evaluation;
 * one added to by rules_history_add_for_eligibility() the same again.
 */
Test(protocol, keep_for_eligibility_same_verdicts)
{
	static const char statuses[] = "FFFFFFCCPPRSUUUDWXI";
	static const char *const orders[] = { "a", "b", "c" };
	size_t seed, step, dropped = 0;
	uint64_t s, id = 1;

	for (seed = 1; seed <= 40; seed++) {
		struct rules_history *full = rules_history_new(R,
		    RULES_PHASE_SCREENING);
		struct rules_history *kept = rules_history_new(R,
		    RULES_PHASE_SCREENING);
		struct rules_history *lazy = rules_history_new(R,
		    RULES_PHASE_SCREENING);

		s = seed;
		rules_history_keep_for_eligibility(kept, NOW);
		rules_history_keep_for_eligibility(lazy, NOW);
		for (step = 0; step < 200; step++, id++) {
			enum rules_analyte a = keep_rand(&s) % RULES_NANALYTES;
			char st = statuses[keep_rand(&s) % (N(statuses) - 1)];
			int64_t t = NOW - 16 * DAY +
			    (int64_t)(keep_rand(&s) % (20 * DAY));
			double v = (double)(keep_rand(&s) % 600);
			const char *order = orders[keep_rand(&s) % N(orders)];
			struct rules_update uf, uk;

			if (keep_rand(&s) % 16 == 0)
				t = -1;
			if (keep_rand(&s) % 8 == 0)
				t = NOW - 14 * DAY + (keep_rand(&s) % 3) - 1;
			if (keep_rand(&s) % 10 == 0) {
				uf = add_conflict(full, v, st, t, id, order);
				uk = add_conflict(kept, v, st, t, id, order);
				add_conflict_lazy(lazy, v, st, t, id, order,
				    &uk);
				cr_expect_eq(uf.ev.analyte, RULES_NONE);
				cr_expect_neq(uf.ev.conflict, 0);
			} else {
				uf = add(full, a, v, st, t, id, order);
				uk = add(kept, a, v, st, t, id, order);
				add_lazy(lazy, a, v, st, t, id, order, &uk);
			}
			cr_expect_eq(uf.ev.grade, uk.ev.grade);
			cr_expect_eq(uf.ev.eligibility, uk.ev.eligibility);
			cr_expect_eq(uf.ev.problem, uk.ev.problem);
			cr_expect_eq(uf.ev.final, uk.ev.final);
			if (uk.entry == NULL)
				dropped++;
			expect_same_eligibility(full, kept, NOW, "random",
			    step);
			expect_same_eligibility(full, lazy, NOW, "lazy", step);
		}
		cr_expect_leq(rules_history_count(kept),
		    rules_history_count(full));
		cr_expect_eq(rules_history_count(lazy),
		    rules_history_count(kept));
		rules_history_free(full);
		rules_history_free(kept);
		rules_history_free(lazy);
	}
	/* It keeps less, or it proves nothing. */
	cr_expect_gt(dropped, 40 * 200 / 4, "%zu of 8000 dropped", dropped);
}
