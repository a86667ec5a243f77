/*
 * test_rules_hold.c: the imatinib hold / restart state machine
 * (rules/hold.c): stops and restarts as results arrive (rules_hold_step),
 * the hold derived again from the standing results (rules_hold_derive,
 * rules_hold_derive_held), the restart and resume doses.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "rules/rules.h"

#include "testutil.h"

#define DAY 86400
#define NOW 1700000000

TestSuite(hold, .init = rules_setup, .fini = rules_teardown);

/*
 * A held patient is never restarted on a result whose OBX-7 cannot be
 * read (review of issue 11 item 1: platelets 200 with "see note" resumed
 * imatinib); a stop on an absolute count still stops (our reading: the
 * label's ANC < 1.0 and platelets < 50 are counts, not multiples of the
 * lab's range); no baseline is taken from such a result.
 */
Test(hold, range_unreadable_no_restart_no_baseline)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_TREATMENT);
	struct rules_hold_state st[RULES_MAX_HOLD_RULES];
	struct rules_hold_event ev[4];
	const struct rules_baseline *bl;

	memset(st, 0, sizeof st);
	(void)add(h, RULES_PLT, 40, 'F', NOW - 3 * DAY, 1, "o1");
	cr_assert_eq(rules_hold_step(R, h, NOW - 3 * DAY, st, ev, N(ev)), 1);
	cr_expect_eq(ev[0].kind, RULES_HOLD_STOP);
	(void)add(h, RULES_ANC, 2.5, 'F', NOW - DAY, 2, "o2");
	(void)add_range(h, RULES_PLT, 200, 'F', NOW - DAY, 3, "o3", "see note");
	cr_expect_eq(rules_hold_step(R, h, NOW - DAY, st, ev, N(ev)), 0,
	    "restarted on an unreadable range");
	cr_expect(st[1].held);
	(void)add(h, RULES_PLT, 210, 'F', NOW, 4, "o4");
	cr_assert_eq(rules_hold_step(R, h, NOW, st, ev, N(ev)), 1);
	cr_expect_eq(ev[0].kind, RULES_HOLD_RESUME);
	rules_history_free(h);

	h = rules_history_new(R, RULES_PHASE_TREATMENT);
	memset(st, 0, sizeof st);
	(void)add_range(h, RULES_ANC, 0.5, 'F', NOW, 1, "o1", "see note");
	cr_assert_eq(rules_hold_step(R, h, NOW, st, ev, N(ev)), 1);
	cr_expect_eq(ev[0].kind, RULES_HOLD_STOP);
	rules_history_free(h);

	h = rules_history_new(R, RULES_PHASE_TREATMENT);
	(void)add_range(h, RULES_ALT, 45, 'F', NOW - 2 * DAY, 1, "o1",
	    "see note");
	(void)add(h, RULES_AST, 30, 'F', NOW - 2 * DAY, 2, "o1");
	cr_expect_eq(rules_history_baseline_from(h, NOW - DAY), 1);
	bl = rules_history_baselines(h);
	cr_expect(!bl[RULES_ALT].known, "a baseline from an unreadable range");
	cr_expect(bl[RULES_AST].known);
	rules_history_free(h);
}

/* ---- hold and restart ---- */

Test(hold, hepatotoxicity_restart_needs_every_analyte)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_TREATMENT);
	struct rules_hold_state st[RULES_MAX_HOLD_RULES];
	struct rules_hold_event ev[4];
	size_t n;

	memset(st, 0, sizeof st);
	cr_assert_eq(rules_hold_count(R), 2);
	cr_expect_str_eq(rules_hold_name(R, 0), "hepatotoxicity");
	cr_expect_str_eq(rules_hold_name(R, 1), "myelosuppression");

	add(h, RULES_ALT, 30, 'F', NOW - 10 * DAY, 1,
	    "o0");				   /* before the hold */
	add(h, RULES_AST, 200, 'F', NOW, 2, "o1"); /* 5 x ULN: not above */
	n = rules_hold_step(R, h, NOW, st, ev, N(ev));
	cr_expect_eq(n, 0);
	add(h, RULES_AST, 201, 'F', NOW + 1, 3, "o2");
	n = rules_hold_step(R, h, NOW + 1, st, ev, N(ev));
	cr_assert_eq(n, 1);
	cr_expect_eq(ev[0].kind, RULES_HOLD_STOP);
	cr_expect_str_eq(ev[0].rule_name, "hepatotoxicity");
	cr_expect_eq(ev[0].because->id, 3);
	cr_expect(st[0].held);
	/* no second stop while held */
	n = rules_hold_step(R, h, NOW + 1, st, ev, N(ev));
	cr_expect_eq(n, 0);

	/* AST and bilirubin back; ALT only from before the hold: still held */
	add(h, RULES_AST, 99, 'F', NOW + 7 * DAY, 4, "o3");
	add(h, RULES_TBIL, 29, 'F', NOW + 7 * DAY, 5, "o3");
	n = rules_hold_step(R, h, NOW + 7 * DAY, st, ev, N(ev));
	cr_expect_eq(n, 0);
	/* ALT exactly 2.5 x ULN is not below it */
	add(h, RULES_ALT, 100, 'F', NOW + 8 * DAY, 6, "o4");
	n = rules_hold_step(R, h, NOW + 8 * DAY, st, ev, N(ev));
	cr_expect_eq(n, 0);
	add(h, RULES_ALT, 99.9, 'F', NOW + 9 * DAY, 7, "o5");
	n = rules_hold_step(R, h, NOW + 9 * DAY, st, ev, N(ev));
	cr_assert_eq(n, 1);
	cr_expect_eq(ev[0].kind, RULES_HOLD_RESUME);
	cr_expect_eq(ev[0].rule, 0);
	cr_expect(!st[0].held);
	rules_history_free(h);
}

Test(hold, bilirubin_alone_blocks_restart)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_TREATMENT);
	struct rules_hold_state st[RULES_MAX_HOLD_RULES];
	struct rules_hold_event ev[4];

	memset(st, 0, sizeof st);
	add(h, RULES_TBIL, 60.01, 'F', NOW, 1, "o1"); /* > 3 x 20 */
	cr_assert_eq(rules_hold_step(R, h, NOW, st, ev, N(ev)), 1);
	add(h, RULES_AST, 20, 'F', NOW + DAY, 2, "o2");
	add(h, RULES_ALT, 20, 'F', NOW + DAY, 3, "o2");
	add(h, RULES_TBIL, 30, 'F', NOW + DAY, 4, "o2"); /* 1.5 x: not below */
	cr_expect_eq(rules_hold_step(R, h, NOW + DAY, st, ev, N(ev)), 0);
	add(h, RULES_TBIL, 29.9, 'F', NOW + 2 * DAY, 5, "o3");
	cr_assert_eq(rules_hold_step(R, h, NOW + 2 * DAY, st, ev, N(ev)), 1);
	cr_expect_eq(ev[0].kind, RULES_HOLD_RESUME);
	rules_history_free(h);
}

Test(hold, myelosuppression_restart_needs_anc_and_plt)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_TREATMENT);
	struct rules_hold_state st[RULES_MAX_HOLD_RULES];
	struct rules_hold_event ev[4];
	size_t n;

	memset(st, 0, sizeof st);
	add(h, RULES_PLT, 50, 'F', NOW, 1, "o1");  /* 50: not below */
	add(h, RULES_ANC, 1.0, 'F', NOW, 2, "o1"); /* 1.0: not below */
	cr_expect_eq(rules_hold_step(R, h, NOW, st, ev, N(ev)), 0);
	add(h, RULES_ANC, 0.99, 'F', NOW + 1, 3, "o2");
	n = rules_hold_step(R, h, NOW + 1, st, ev, N(ev));
	cr_assert_eq(n, 1);
	cr_expect_str_eq(ev[0].rule_name, "myelosuppression");
	cr_expect(st[1].held);
	cr_expect(!st[0].held);
	add(h, RULES_ANC, 1.5, 'F', NOW + DAY, 4, "o3"); /* >= 1.5: back */
	cr_expect_eq(rules_hold_step(R, h, NOW + DAY, st, ev, N(ev)),
	    0); /* no PLT since */
	add(h, RULES_PLT, 74.9, 'F', NOW + 2 * DAY, 5, "o4");
	cr_expect_eq(rules_hold_step(R, h, NOW + 2 * DAY, st, ev, N(ev)), 0);
	add(h, RULES_PLT, 75, 'F', NOW + 3 * DAY, 6, "o5"); /* >= 75 */
	n = rules_hold_step(R, h, NOW + 3 * DAY, st, ev, N(ev));
	cr_assert_eq(n, 1);
	cr_expect_eq(ev[0].kind, RULES_HOLD_RESUME);
	cr_expect(!st[1].held);
	rules_history_free(h);
}

/*
 * An open comparator stops or restarts only when certain (issue 11 item
 * 5): platelets <75 may be 60 (no stop: the label's < 50 is not certain),
 * <50 and <40 are certainly below 50; >70 may be 72 (not back: >= 75 is
 * not certain), >=75 is.
 */
Test(hold, open_comparator_stops_and_restarts_only_when_certain)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_TREATMENT);
	struct rules_hold_state st[RULES_MAX_HOLD_RULES];
	struct rules_hold_event ev[4];
	struct rules_update up;
	size_t n;

	memset(st, 0, sizeof st);
	add(h, RULES_ANC, 3.0, 'F', NOW, 1, "o1");
	up = add_cmp(h, RULES_PLT, "<", 75, 'F', NOW, 2, "o1");
	cr_expect(!up.entry->hold);
	cr_expect_eq(rules_hold_step(R, h, NOW, st, ev, N(ev)), 0);
	up = add_cmp(h, RULES_PLT, "<", 50, 'F', NOW + 1, 3, "o2");
	cr_expect(up.entry->hold);
	n = rules_hold_step(R, h, NOW + 1, st, ev, N(ev));
	cr_assert_eq(n, 1);
	cr_expect_eq(ev[0].kind, RULES_HOLD_STOP);
	cr_expect_str_eq(ev[0].rule_name, "myelosuppression");
	add(h, RULES_ANC, 3.0, 'F', NOW + DAY, 6, "o3");
	add_cmp(h, RULES_PLT, ">", 70, 'F', NOW + DAY, 4, "o3");
	cr_expect_eq(rules_hold_step(R, h, NOW + DAY, st, ev, N(ev)), 0);
	cr_expect(st[1].held);
	add_cmp(h, RULES_PLT, ">=", 75, 'F', NOW + 2 * DAY, 5, "o4");
	n = rules_hold_step(R, h, NOW + 2 * DAY, st, ev, N(ev));
	cr_assert_eq(n, 1);
	cr_expect_eq(ev[0].kind, RULES_HOLD_RESUME);
	rules_history_free(h);
}

Test(hold, no_hold_in_screening_or_on_retracted)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_SCREENING);
	struct rules_hold_state st[RULES_MAX_HOLD_RULES];
	struct rules_hold_event ev[4];

	memset(st, 0, sizeof st);
	add(h, RULES_ANC, 0.2, 'F', NOW, 1, "o1");
	cr_expect_eq(rules_hold_step(R, h, NOW, st, ev, N(ev)), 0);
	rules_history_set_phase(h, RULES_PHASE_TREATMENT);
	add(h, RULES_ANC, 0, 'W', NOW, 2, "o1"); /* wrong patient */
	cr_expect_eq(rules_hold_step(R, h, NOW, st, ev, N(ev)), 0);
	rules_history_free(h);
}

/*
 * The hold state derived again from the standing results (issue 11 item
 * 6; CLINICAL.md "Imatinib dose modification"; Gleevec US prescribing
 * information section 2 and EU SmPC 4.2): per case the results in
 * arrival order (id 0 ends them), then per rule (0 hepatotoxicity, 1
 * myelosuppression) held or not, the result the hold rests on, the stops
 * so far and whether a resume came.
 */
struct derive_step {
	enum rules_analyte a;
	double v;
	char status;
	int day; /* observed at NOW + day * DAY */
	uint64_t id;
	const char *order;
	const char *range; /* NULL: range_of(a) */
};

struct derive_want {
	bool held;
	uint64_t because; /* held: the id it rests on */
	unsigned stops;
	bool resumed;
};

struct derive_case {
	const char *name;
	int start_day; /* the treatment start, NOW + start_day * DAY */
	struct derive_step step[8];
	struct derive_want want[2];
};

static const struct derive_case derive_cases[] = {
	{ "first stop: ANC 0.8", -10,
	    { { RULES_ANC, 0.8, 'F', 0, 1, "o1", NULL } },
	    { { false, 0, 0, false }, { true, 1, 1, false } } },
	{ "restart: ANC 1.8 and platelets 200 after the stop", -10,
	    { { RULES_ANC, 0.8, 'F', 0, 1, "o1", NULL },
		{ RULES_ANC, 1.8, 'F', 1, 2, "o2", NULL },
		{ RULES_PLT, 200, 'F', 1, 3, "o2", NULL } },
	    { { false, 0, 0, false }, { false, 0, 1, true } } },
	{ "recurrence: ANC 0.7 after the restart is stop 2", -10,
	    { { RULES_ANC, 0.8, 'F', 0, 1, "o1", NULL },
		{ RULES_ANC, 1.8, 'F', 1, 2, "o2", NULL },
		{ RULES_PLT, 200, 'F', 1, 3, "o2", NULL },
		{ RULES_ANC, 0.7, 'F', 2, 4, "o3", NULL } },
	    { { false, 0, 0, false }, { true, 4, 2, true } } },
	{ "restart after the recurrence", -10,
	    { { RULES_ANC, 0.8, 'F', 0, 1, "o1", NULL },
		{ RULES_ANC, 1.8, 'F', 1, 2, "o2", NULL },
		{ RULES_PLT, 200, 'F', 1, 3, "o2", NULL },
		{ RULES_ANC, 0.7, 'F', 2, 4, "o3", NULL },
		{ RULES_ANC, 2.0, 'F', 3, 5, "o4", NULL },
		{ RULES_PLT, 200, 'F', 3, 6, "o4", NULL } },
	    { { false, 0, 0, false }, { false, 0, 2, true } } },
	{ "hepatotoxicity: ALT 6 x ULN, then ALT, AST, bilirubin back", -10,
	    { { RULES_ALT, 240, 'F', 0, 1, "o1", NULL },
		{ RULES_ALT, 30, 'F', 1, 2, "o2", NULL },
		{ RULES_AST, 30, 'F', 1, 3, "o2", NULL },
		{ RULES_TBIL, 10, 'F', 1, 4, "o2", NULL } },
	    { { false, 0, 1, true }, { false, 0, 0, false } } },
	{ "restart needs every analyte re-measured after the hold", -10,
	    { { RULES_AST, 30, 'F', -1, 1, "o0", NULL },
		{ RULES_TBIL, 10, 'F', -1, 2, "o0", NULL },
		{ RULES_ALT, 240, 'F', 0, 3, "o1", NULL },
		{ RULES_ALT, 30, 'F', 1, 4, "o2", NULL } },
	    { { true, 3, 1, false }, { false, 0, 0, false } } },
	{ "a restart value taken with the stop is not re-measured", -10,
	    { { RULES_ALT, 240, 'F', 0, 1, "o1", NULL },
		{ RULES_AST, 30, 'F', 0, 2, "o1", NULL },
		{ RULES_TBIL, 10, 'F', 0, 3, "o1", NULL },
		{ RULES_ALT, 30, 'F', 1, 4, "o2", NULL } },
	    { { true, 1, 1, false }, { false, 0, 0, false } } },
	{ "... nor one of another order at the stop's time", -10,
	    { { RULES_ALT, 240, 'F', 0, 1, "o1", NULL },
		{ RULES_AST, 30, 'F', 0, 2, "o2", NULL },
		{ RULES_TBIL, 10, 'F', 0, 3, "o2", NULL },
		{ RULES_ALT, 30, 'F', 1, 4, "o3", NULL } },
	    { { true, 1, 1, false }, { false, 0, 0, false } } },
	{ "D of the stop result withdraws the hold", -10,
	    { { RULES_ALT, 240, 'F', 0, 1, "o1", NULL },
		{ RULES_ALT, 240, 'D', 0, 2, "o1", NULL } },
	    { { false, 0, 0, false }, { false, 0, 0, false } } },
	{ "W of one of two crossing results: held on the other", -10,
	    { { RULES_ANC, 0.8, 'F', 0, 1, "o1", NULL },
		{ RULES_PLT, 40, 'F', 0, 2, "o1", NULL },
		{ RULES_ANC, 0.8, 'W', 0, 3, "o1", NULL } },
	    { { false, 0, 0, false }, { true, 2, 1, false } } },
	{ "D of the restart's ANC: held again on the first stop", -10,
	    { { RULES_ANC, 0.8, 'F', 0, 1, "o1", NULL },
		{ RULES_ANC, 1.8, 'F', 1, 2, "o2", NULL },
		{ RULES_PLT, 200, 'F', 1, 3, "o2", NULL },
		{ RULES_ANC, 1.8, 'D', 1, 4, "o2", NULL } },
	    { { false, 0, 0, false }, { true, 1, 1, false } } },
	{ "C correcting the stop result to a normal value withdraws", -10,
	    { { RULES_ALT, 240, 'F', 0, 1, "o1", NULL },
		{ RULES_ALT, 24, 'C', 0, 2, "o1", NULL } },
	    { { false, 0, 0, false }, { false, 0, 0, false } } },
	{ "C still crossing: held on the correction", -10,
	    { { RULES_ALT, 240, 'F', 0, 1, "o1", NULL },
		{ RULES_ALT, 250, 'C', 0, 2, "o1", NULL } },
	    { { true, 2, 1, false }, { false, 0, 0, false } } },
	{ "a result before the treatment start does not stop", 0,
	    { { RULES_ANC, 0.5, 'F', -1, 1, "o1", NULL } },
	    { { false, 0, 0, false }, { false, 0, 0, false } } },
	{ "... one at the treatment start does", 0,
	    { { RULES_ANC, 0.5, 'F', 0, 1, "o1", NULL } },
	    { { false, 0, 0, false }, { true, 1, 1, false } } },
	{ "an unreadable range never restarts", -10,
	    { { RULES_PLT, 40, 'F', 0, 1, "o1", NULL },
		{ RULES_ANC, 2.5, 'F', 1, 2, "o2", NULL },
		{ RULES_PLT, 200, 'F', 1, 3, "o2", "see note" } },
	    { { false, 0, 0, false }, { true, 1, 1, false } } },
	{ "a late normal result observed before the stop restarts nothing", -10,
	    { { RULES_ANC, 0.8, 'F', 2, 1, "o1", NULL },
		{ RULES_ANC, 2.0, 'F', 1, 2, "o2", NULL },
		{ RULES_PLT, 200, 'F', 1, 3, "o2", NULL } },
	    { { false, 0, 0, false }, { true, 1, 1, false } } },
	{ "preliminary results neither stop nor restart", -10,
	    { { RULES_ANC, 0.8, 'P', 0, 1, "o1", NULL } },
	    { { false, 0, 0, false }, { false, 0, 0, false } } },
};

Test(hold, hold_derive_table)
{
	struct rules_hold_derived out[RULES_MAX_HOLD_RULES];
	const struct derive_case *c;
	const struct derive_step *s;
	struct rules_history *h;
	size_t i, k;

	cr_assert_eq(rules_hold_count(R), 2);
	for (i = 0; i < N(derive_cases); i++) {
		c = &derive_cases[i];
		h = rules_history_new(R, RULES_PHASE_TREATMENT);
		for (s = c->step; s->id != 0; s++)
			(void)add_range(h, s->a, s->v, s->status,
			    NOW + s->day * DAY, s->id, s->order,
			    s->range != NULL ? s->range : range_of(s->a));
		rules_hold_derive(R, h, NOW + c->start_day * DAY, INT64_MAX,
		    out);
		for (k = 0; k < 2; k++) {
			cr_expect_eq(out[k].held, c->want[k].held,
			    "%s: rule %zu held", c->name, k);
			cr_expect_eq(out[k].because ? out[k].because->id : 0,
			    c->want[k].because, "%s: rule %zu because", c->name,
			    k);
			cr_expect_eq(out[k].stops, c->want[k].stops,
			    "%s: rule %zu stops %u", c->name, k, out[k].stops);
			cr_expect_eq(out[k].resumed_at >= 0, c->want[k].resumed,
			    "%s: rule %zu resumed", c->name, k);
		}
		rules_history_set_phase(h, RULES_PHASE_SCREENING);
		rules_hold_derive(R, h, 0, INT64_MAX, out);
		cr_expect(!out[0].held && !out[1].held && out[1].stops == 0,
		    "%s: screening holds nothing", c->name);
		rules_history_free(h);
	}
}

/*
 * The label's restart doses as the protocol file carries them (Gleevec
 * USPI section 2, SmPC 4.2): hepatotoxicity 300 mg after every stop;
 * myelosuppression (GIST, 400 mg) 400 mg after the first, 300 mg after a
 * recurrence.
 */
Test(hold, hold_restart_dose)
{
	cr_expect_float_eq(rules_hold_restart_dose(R, 0, 1), 300, 1e-9);
	cr_expect_float_eq(rules_hold_restart_dose(R, 0, 3), 300, 1e-9);
	cr_expect_float_eq(rules_hold_restart_dose(R, 1, 1), 400, 1e-9);
	cr_expect_float_eq(rules_hold_restart_dose(R, 1, 2), 300, 1e-9);
	cr_expect_float_eq(rules_hold_restart_dose(R, 1, 5), 300, 1e-9);
	cr_expect(isnan(rules_hold_restart_dose(R, 2, 1)));
}

/*
 * The label resumes myelosuppression "at the previous dose (i.e., dose
 * before severe adverse reaction)" (USPI Table 1, SmPC 4.2): after a
 * hepatotoxicity restart at 300 mg that is 300 mg, not 400.
 */
Test(hold, hold_resume_dose_previous)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_TREATMENT);
	struct rules_hold_derived dv[RULES_MAX_HOLD_RULES];

	(void)add(h, RULES_ANC, 0.8, 'F', NOW, 1, "o1");
	(void)add(h, RULES_ANC, 2.0, 'F', NOW + DAY, 2, "o2");
	(void)add(h, RULES_PLT, 200, 'F', NOW + DAY, 3, "o2");
	rules_hold_derive(R, h, NOW - DAY, INT64_MAX, dv);
	cr_expect_float_eq(rules_hold_resume_dose(R, 1, 1, dv), 400, 1e-9);
	/* a hepatotoxicity stop and restart (300 mg) came before */
	(void)add(h, RULES_ALT, 240, 'F', NOW - 5 * DAY, 4, "o3");
	(void)add(h, RULES_ALT, 30, 'F', NOW - 4 * DAY, 5, "o4");
	(void)add(h, RULES_AST, 30, 'F', NOW - 4 * DAY, 6, "o4");
	(void)add(h, RULES_TBIL, 10, 'F', NOW - 4 * DAY, 7, "o4");
	rules_hold_derive(R, h, NOW - 10 * DAY, INT64_MAX, dv);
	cr_assert_eq(dv[0].stops, 1);
	cr_expect_float_eq(rules_hold_resume_dose(R, 1, 1, dv), 300, 1e-9);
	rules_history_free(h);

	/* ... but not one that came after: 400 stays 400 */
	h = rules_history_new(R, RULES_PHASE_TREATMENT);
	(void)add(h, RULES_ANC, 0.8, 'F', NOW, 1, "o1");
	(void)add(h, RULES_ANC, 2.0, 'F', NOW + DAY, 2, "o2");
	(void)add(h, RULES_PLT, 200, 'F', NOW + DAY, 3, "o2");
	(void)add(h, RULES_ALT, 240, 'F', NOW + 2 * DAY, 4, "o3");
	(void)add(h, RULES_ALT, 30, 'F', NOW + 3 * DAY, 5, "o4");
	(void)add(h, RULES_AST, 30, 'F', NOW + 3 * DAY, 6, "o4");
	(void)add(h, RULES_TBIL, 10, 'F', NOW + 3 * DAY, 7, "o4");
	rules_hold_derive(R, h, NOW - DAY, INT64_MAX, dv);
	cr_assert(dv[0].resumed_at > dv[1].resumed_at && dv[1].resumed_at > 0);
	cr_expect_float_eq(rules_hold_resume_dose(R, 1, 1, dv), 400, 1e-9,
	    "a later hepatotoxicity restart changes no earlier one");
	cr_expect_float_eq(rules_hold_resume_dose(R, 0, 1, dv), 300, 1e-9);
	rules_history_free(h);

	h = rules_history_new(R, RULES_PHASE_TREATMENT);
	(void)add(h, RULES_ANC, 0.8, 'F', NOW, 1, "o1");
	(void)add(h, RULES_ANC, 2.0, 'F', NOW + DAY, 2, "o2");
	(void)add(h, RULES_PLT, 200, 'F', NOW + DAY, 3, "o2");
	(void)add(h, RULES_ALT, 240, 'F', NOW + 2 * DAY, 4, "o3");
	rules_hold_derive(R, h, NOW - DAY, INT64_MAX, dv);
	cr_expect_float_eq(rules_hold_resume_dose(R, 1, 1, dv), 400, 1e-9,
	    "a later hepatotoxicity stop changes no earlier restart");
	rules_history_free(h);
}

/*
 * Already held from a time (a hold announced on a result not known, or one
 * a later result of its time hides): only a restart row re-measured after
 * that time resumes it (review of the hold merge, item 1).
 */
Test(hold, hold_derive_held)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_TREATMENT);
	struct rules_hold_derived dv[RULES_MAX_HOLD_RULES];
	struct rules_hold_state st[RULES_MAX_HOLD_RULES];

	memset(st, 0, sizeof st);
	st[1].held = true;
	st[1].since = NOW;
	(void)add(h, RULES_ANC, 0.8, 'F', NOW, 1, "o1");
	(void)add(h, RULES_ANC, 2.0, 'F', NOW, 2, "o2");
	rules_hold_derive(R, h, NOW - DAY, INT64_MAX, dv);
	cr_expect(!dv[1].held && dv[1].resumed_at < 0 && dv[1].stops == 0,
	    "the later arrival of the same time hides the stop");
	rules_hold_derive_held(R, h, NOW - DAY, INT64_MAX, st, dv);
	cr_expect(dv[1].held && dv[1].because == NULL && dv[1].stops == 1);
	cr_expect(dv[1].resumed_at < 0);
	cr_expect(!dv[0].held && dv[0].stops == 0);
	(void)add(h, RULES_ANC, 1.2, 'F', NOW + DAY, 3, "o3");
	rules_hold_derive_held(R, h, NOW - DAY, INT64_MAX, st, dv);
	cr_expect(dv[1].held, "ANC 1.2, platelets not re-measured: held");
	(void)add(h, RULES_ANC, 1.8, 'F', NOW + 2 * DAY, 4, "o4");
	(void)add(h, RULES_PLT, 200, 'F', NOW + 2 * DAY, 5, "o4");
	rules_hold_derive_held(R, h, NOW - DAY, INT64_MAX, st, dv);
	cr_expect(!dv[1].held && dv[1].resumed_at == NOW + 2 * DAY &&
	    dv[1].stops == 1);
	rules_history_set_phase(h, RULES_PHASE_SCREENING);
	rules_hold_derive_held(R, h, NOW - DAY, INT64_MAX, st, dv);
	cr_expect(!dv[1].held, "screening holds nothing");
	rules_history_free(h);
}

/* A busy patient: thousands of results derive in one sort, not n^2. */
Test(hold, hold_derive_many)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_TREATMENT);
	struct rules_hold_derived out[RULES_MAX_HOLD_RULES];
	char order[16];
	int i;

	for (i = 0; i < 20000; i++) {
		snprintf(order, sizeof order, "o%d", i);
		/* every 1000th ANC crosses, the next day's is back */
		(void)add(h, RULES_ANC, i % 1000 == 0 ? 0.8 : 2.0, 'F',
		    NOW + i * 3600, (uint64_t)(2 * i + 1), order);
		(void)add(h, RULES_PLT, 200, 'F', NOW + i * 3600,
		    (uint64_t)(2 * i + 2), order);
	}
	rules_hold_derive(R, h, NOW, INT64_MAX, out);
	cr_expect(!out[1].held);
	cr_expect_eq(out[1].stops, 20);
	rules_history_free(h);
}
