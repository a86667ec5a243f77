/*
 * test_rules_entry.c: a history keeps each result packed (struct
 * rules_entry, rules/entry.c); rules_entry_eval() must give back the very
 * evaluation rules_eval() made of it: every problem, comparator, term,
 * range source and flag, with and without baselines, and after a U
 * promoted it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "lib/arena.h"
#include "rules/rules.h"
#include "testutil.h"

TestSuite(entry, .init = rules_setup, .fini = rules_teardown);

struct entry_case {
	const char *name;
	const char *code, *alt_code; /* LN both */
	enum rules_value_kind kind;
	const char *cmp;
	double value;
	const char *unit, *range;
	char status;
};

static const struct entry_case cases[] = {
	{ "ALT grade 3, a stop", "1742-6", "", RULES_VALUE_NUMBER, "", 210,
	    "U/L", "10-40", 'F' },
	{ "ALT grade 4, IU/L", "1742-6", "", RULES_VALUE_NUMBER, "", 900,
	    "IU/L", "7-56", 'C' },
	{ "AST below a bound", "1920-8", "", RULES_VALUE_NUMBER, "<", 5, "U/L",
	    "0-40", 'F' },
	{ "platelets <75: a minimum", "777-3", "", RULES_VALUE_NUMBER, "<", 75,
	    "10^9/L", "150-400", 'F' },
	{ "platelets >=400", "777-3", "", RULES_VALUE_NUMBER, ">=", 400,
	    "10*9/L", "150-400", 'F' },
	{ "ANC <=0.4", "751-8", "", RULES_VALUE_NUMBER, "<=", 0.4, "10^9/L",
	    "2.0-7.5", 'F' },
	{ "hemoglobin >200", "718-7", "", RULES_VALUE_NUMBER, ">", 200, "g/L",
	    "120-160", 'F' },
	{ "hemoglobin 7.5 g/dL, ineligible", "718-7", "", RULES_VALUE_NUMBER,
	    "", 7.5, "g/dL", "12-16", 'F' },
	{ "bilirubin, default range", "1975-2", "", RULES_VALUE_NUMBER, "", 30,
	    "umol/L", "", 'F' },
	{ "creatinine, mg/dL", "2160-0", "", RULES_VALUE_NUMBER, "", 2.1,
	    "mg/dL", "0.7-1.3", 'F' },
	{ "ALT above a bound: indeterminate", "1742-6", "", RULES_VALUE_NUMBER,
	    ">", 10, "U/L", "0-40", 'F' },
	{ "creatinine, OBX-7 unreadable", "2160-0", "", RULES_VALUE_NUMBER, "",
	    80, "umol/L", "see note", 'F' },
	{ "unit unknown", "1742-6", "", RULES_VALUE_NUMBER, "", 30, "furlongs",
	    "0-40", 'F' },
	{ "not a number", "1742-6", "", RULES_VALUE_TEXT, "", NAN, "U/L",
	    "0-40", 'F' },
	{ "no value", "1742-6", "", RULES_VALUE_NONE, "", NAN, "U/L", "0-40",
	    'F' },
	{ "preliminary", "1742-6", "", RULES_VALUE_NUMBER, "", 30, "U/L",
	    "0-40", 'P' },
	{ "not evaluated", "1742-6", "", RULES_VALUE_NUMBER, "", 30, "U/L",
	    "0-40", 'X' },
	{ "deleted", "1742-6", "", RULES_VALUE_NUMBER, "", 30, "U/L", "0-40",
	    'D' },
	{ "status unknown", "1742-6", "", RULES_VALUE_NUMBER, "", 30, "U/L",
	    "0-40", '\0' },
	{ "code conflict", "751-8", "777-3", RULES_VALUE_NUMBER, "", 1,
	    "10^9/L", "", 'F' },
	{ "a do-not-map code beside ANC", "751-8", "770-8", RULES_VALUE_NUMBER,
	    "", 1, "10^9/L", "", 'F' },
};

static void
result_of(const struct entry_case *c, uint64_t id, struct rules_result *in)
{
	memset(in, 0, sizeof *in);
	in->code = c->code;
	in->code_len = strlen(c->code);
	in->system = "LN";
	in->system_len = 2;
	in->alt_code = c->alt_code;
	in->alt_code_len = strlen(c->alt_code);
	in->alt_system = *c->alt_code != '\0' ? "LN" : "";
	in->alt_system_len = strlen(in->alt_system);
	in->kind = c->kind;
	in->value = c->value;
	snprintf(in->comparator, sizeof in->comparator, "%s", c->cmp);
	in->unit = c->unit;
	in->unit_len = strlen(c->unit);
	in->range = c->range;
	in->range_len = strlen(c->range);
	in->status = c->status;
	in->observed_at = 1700000000;
	in->id = id;
}

static bool
same_num(double a, double b)
{
	return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

static bool
same_str(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Field by field: a struct rules_eval has padding. */
static void
expect_same(const struct rules_eval *a, const struct rules_eval *b,
    const char *name)
{
	cr_expect_eq(a->id, b->id, "%s: id", name);
	cr_expect_eq(a->analyte, b->analyte, "%s: analyte", name);
	cr_expect_eq(a->range_source, b->range_source, "%s: range", name);
	cr_expect(same_num(a->value, b->value), "%s: value", name);
	cr_expect(same_str(a->comparator, b->comparator), "%s: cmp", name);
	cr_expect(same_str(a->unit, b->unit), "%s: unit", name);
	cr_expect(same_num(a->lln, b->lln), "%s: lln", name);
	cr_expect(same_num(a->uln, b->uln), "%s: uln", name);
	cr_expect(same_num(a->x_uln, b->x_uln), "%s: x_uln", name);
	cr_expect(same_str(a->term, b->term), "%s: term", name);
	cr_expect(same_str(a->problem, b->problem), "%s: problem", name);
	/* Problems are compared by pointer too. */
	cr_expect_eq(a->problem, b->problem, "%s: problem", name);
	cr_expect_eq(a->grade, b->grade, "%s: grade", name);
	cr_expect_eq(a->eligibility, b->eligibility, "%s: verdict", name);
	cr_expect_eq(a->excluded_code, b->excluded_code, "%s: excl", name);
	cr_expect_eq(a->range_unparsed, b->range_unparsed, "%s", name);
	cr_expect_eq(a->grade_is_minimum, b->grade_is_minimum, "%s", name);
	cr_expect_eq(a->hold, b->hold, "%s: hold", name);
	cr_expect_eq(a->final, b->final, "%s: final", name);
	cr_expect_eq(a->conflict, b->conflict, "%s: conflict", name);
	cr_expect_eq(a->grade_max, b->grade_max, "%s: grade_max", name);
}

/* Every case into h, its entry made again as rules_eval() (base) had it. */
static void
round_trip(struct rules_history *h, const struct rules_baseline *base,
    const char **seen, size_t *nseen)
{
	struct rules_result in;
	struct rules_update up;
	struct rules_eval want, got;
	char key[32];
	size_t i, k;

	for (i = 0; i < N(cases); i++) {
		result_of(&cases[i], 100 + i, &in);
		snprintf(key, sizeof key, "o%zu", i);
		rules_history_add(h, &in, key, strlen(key), &up);
		rules_eval(R, &in, base, &want);
		expect_same(&up.ev, &want, cases[i].name);
		rules_entry_eval(R, up.entry, &got);
		expect_same(&got, &want, cases[i].name);
		cr_expect_eq(up.entry->status, cases[i].status, "%s",
		    cases[i].name);
		cr_expect_str_eq(up.entry->key, key, "%s", cases[i].name);
		for (k = 0; k < *nseen && seen[k] != want.problem; k++)
			;
		if (k == *nseen)
			seen[(*nseen)++] = want.problem;
	}
}

Test(entry, keeps_the_evaluation)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_SCREENING);
	const char *seen[N(cases)];
	size_t nseen = 0;

	round_trip(h, NULL, seen, &nseen);
	/* Ten problems and none; no_reference_range below: every index. */
	cr_expect_eq(nseen, 11, "%zu problems seen", nseen);
	rules_history_free(h);
}

Test(entry, keeps_the_evaluation_with_baselines)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_TREATMENT);
	const char *seen[N(cases)];
	size_t nseen = 0;

	/* Abnormal baselines: the terms and grades that rest on them. */
	rules_history_set_baseline(h, RULES_ALT, 150, 40);
	rules_history_set_baseline(h, RULES_AST, 100, 40);
	rules_history_set_baseline(h, RULES_CREA, 50, NAN);
	round_trip(h, rules_history_baselines(h), seen, &nseen);
	rules_history_free(h);
}

Test(entry, no_reference_range)
{
	struct rules *s;
	struct rules_history *h;
	struct rules_result in;
	struct rules_update up;
	struct rules_eval want, got;
	char *cause = NULL;

	if (rules_load(RULES_TESTDATA "/nodefaults.conf", &s, &cause) < 0)
		cr_assert_fail("load: %s", cause);
	h = rules_history_new(s, RULES_PHASE_SCREENING);
	result_of(&cases[8], 7, &in);
	rules_history_add(h, &in, "k", 1, &up);
	rules_eval(s, &in, NULL, &want);
	cr_expect_str_eq(want.problem, "no_reference_range");
	rules_entry_eval(s, up.entry, &got);
	expect_same(&got, &want, "no range");
	rules_history_free(h);
	rules_free(s);
}

/* A U makes an earlier preliminary final: so does its evaluation. */
Test(entry, promoted)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_SCREENING);
	struct rules_result in;
	struct rules_update up;
	struct rules_eval want, got;
	const struct rules_entry *e;

	result_of(&cases[15], 1, &in);
	rules_history_add(h, &in, "o", 1, &up);
	e = up.entry;
	rules_eval(R, &in, NULL, &want);
	cr_expect_str_eq(want.problem, "not_final");
	in.status = 'U';
	in.id = 2;
	rules_history_add(h, &in, "o", 1, &up);
	cr_expect_eq(up.npromoted, 1);
	want.final = true;
	want.problem = NULL;
	rules_entry_eval(R, e, &got);
	expect_same(&got, &want, "promoted");
	cr_expect_eq(e->status, 'F');
	rules_history_free(h);
}

/* The statuses of every 7th of the 1,000 results, in turn. */
static const char st[] = { 'C', 'D', 'U' };

/* Add the 1,000 results of entries_stay_in_place to h, each update to ups. */
static void
add_thousand(struct rules_history *h, const struct rules_entry **at,
    struct rules_update *ups)
{
	struct rules_result in;
	char key[32];
	size_t i;

	for (i = 0; i < 1000; i++) {
		result_of(&cases[i % N(cases)], 1000 + i, &in);
		if (i % 7 == 6)
			in.status = st[i / 7 % N(st)];
		/* Changes name a key of 14 results earlier. */
		snprintf(key, sizeof key, "o%zu", i % 7 == 6 ? i - 14 : i);
		rules_history_add(h, &in, key, strlen(key), &ups[i]);
		at[i] = ups[i].entry;
	}
}

/* Each entry of at where its add left it, the evaluation it was made from. */
static void
expect_in_place(struct rules_history *h, const struct rules_entry **at)
{
	struct rules_result in;
	struct rules_eval want, got;
	size_t i;

	cr_assert_eq(rules_history_count(h), 1000);
	for (i = 0; i < 1000; i++) {
		cr_expect_eq(rules_history_entry(h, i), at[i], "entry %zu", i);
		cr_expect_eq(at[i]->id, 1000 + i, "entry %zu", i);
		result_of(&cases[i % N(cases)], 1000 + i, &in);
		if (i % 7 == 6)
			in.status = st[i / 7 % N(st)];
		rules_eval(R, &in, NULL, &want);
		rules_entry_eval(R, at[i], &got);
		/* What a later U changed (final, not_final) aside. */
		if (got.final && !want.final) {
			cr_expect_eq(at[i]->status, 'F', "entry %zu", i);
			want.final = true;
			if (want.problem == rules_problem_not_final)
				want.problem = NULL;
		}
		expect_same(&got, &want, cases[i % N(cases)].name);
	}
}

/*
 * Entries never move: the hold memo (latest[]), a hold's because and an
 * eligibility's rests_on point into the history across later adds. 1,000
 * results (63 chunks, the chunk array and the key links regrown many
 * times, a C, D or U every 7th), each entry still where its add left it
 * and still the evaluation it was made from.
 */
Test(entry, entries_stay_in_place)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_SCREENING);
	static const struct rules_entry *at[1000];
	static struct rules_update ups[1000];

	add_thousand(h, at, ups);
	expect_in_place(h, at);
	rules_history_free(h);
}

/*
 * A history in an arena (rules_history_new_in, labwatch check's), huge
 * and plain: the same updates, entries and keys as one on its own, over
 * the same 1,000 results, in place; its arena freed after it.
 */
Test(entry, in_an_arena)
{
	struct rules_history *own = rules_history_new(R, RULES_PHASE_SCREENING);
	struct rules_history *in;
	static const struct rules_entry *at[2][1000];
	static struct rules_update ups[2][1000];
	struct arena a;
	size_t i, k;

	add_thousand(own, at[0], ups[0]);
	for (k = 0; k < 2; k++) {
		if (k == 0)
			arena_init_huge(&a);
		else
			memset(&a, 0, sizeof a);
		in = rules_history_new_in(R, RULES_PHASE_SCREENING, &a);
		add_thousand(in, at[1], ups[1]);
		expect_in_place(in, at[1]);
		for (i = 0; i < 1000; i++) {
			cr_expect_eq(ups[1][i].nsuperseded,
			    ups[0][i].nsuperseded, "add %zu", i);
			cr_expect_eq(ups[1][i].nretracted, ups[0][i].nretracted,
			    "add %zu", i);
			cr_expect_eq(ups[1][i].npromoted, ups[0][i].npromoted,
			    "add %zu", i);
			cr_expect_str_eq(at[1][i]->key, at[0][i]->key,
			    "add %zu", i);
			cr_expect_eq(at[1][i]->superseded,
			    at[0][i]->superseded);
			cr_expect_eq(at[1][i]->retracted, at[0][i]->retracted);
		}
		rules_history_free(in);
		arena_free(&a);
	}
	rules_history_free(own);
}
