/*
 * test_hold_incr.c: the hold derivation carried forward
 * (rules_hold_derive_incr) gives what the derivation from the first entry
 * gives (rules_hold_derive, rules_hold_derive_held), field by field, after
 * every result added: a table of hand cases for the boundaries (equal
 * times, a correction of the last entry, a result older than the last
 * step, a promotion, a deletion) and thousands of seeded random histories
 * around the protocol's stop and restart lines.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "rules/rules.h"

#include "testutil.h"

#define HOUR 3600
#define T0 1700000000	  /* the treatment start of every case */
#define UNKNOWN INT32_MIN /* no observed time (OBX-14 empty) */

TestSuite(hold_incr, .init = rules_setup, .fini = rules_teardown);

/* The protocol's hold rule of this name (rules_hold_name). */
static size_t
rule_of(const char *name)
{
	size_t i;

	for (i = 0; i < rules_hold_count(R); i++)
		if (strcmp(rules_hold_name(R, i), name) == 0)
			return i;
	cr_assert_fail("no hold rule %s", name);
	return 0;
}

/* Are the two derivations the same, every rule, every field? */
static bool
same(const struct rules_hold_derived *a, const struct rules_hold_derived *b,
    char *why, size_t cap)
{
	size_t i;

	for (i = 0; i < rules_hold_count(R); i++) {
		if (a[i].held == b[i].held && a[i].since == b[i].since &&
		    a[i].because == b[i].because && a[i].stops == b[i].stops &&
		    a[i].resumed_at == b[i].resumed_at)
			continue;
		snprintf(why, cap,
		    "rule %s: full held %d since %lld because %p stops %u "
		    "resumed %lld; carried held %d since %lld because %p "
		    "stops %u resumed %lld",
		    rules_hold_name(R, i), a[i].held, (long long)a[i].since,
		    (const void *)a[i].because, a[i].stops,
		    (long long)a[i].resumed_at, b[i].held,
		    (long long)b[i].since, (const void *)b[i].because,
		    b[i].stops, (long long)b[i].resumed_at);
		return false;
	}
	return true;
}

/* ---- hand cases ---- */

/*
 * One step of a case: a result (what is its OBX-11: F, P, C, D, W, U) of
 * analyte a, value v, observed at T0 + hour hours (UNKNOWN: none), under
 * order; or 'T' / 'S': the phase set to treatment / screening.
 */
struct op {
	char what;
	enum rules_analyte a;
	double v;
	int hour;
	const char *order;
};

#define NO_TIME INT32_MIN /* expected since / resumed_at: -1 */

struct hand_case {
	const char *name;
	enum rules_phase phase; /* at the start */
	struct op ops[12];	/* ended by what == 0 */
	const char *rule;	/* the rule whose end state is checked */
	bool held;
	int since_h, resumed_h; /* hours after T0, or NO_TIME */
	unsigned stops;
	/* derivations from the first entry among those after each op */
	uint64_t full;
};

static const struct hand_case hand[] = {
	{ "in order: a stop, then its row back (equal times in a message)",
	    RULES_PHASE_TREATMENT,
	    { { 'F', RULES_ALT, 300, 1, "o1" }, { 'F', RULES_ALT, 50, 2, "o2" },
		{ 'F', RULES_AST, 50, 2, "o2" },
		{ 'F', RULES_TBIL, 10, 2, "o2" } },
	    "hepatotoxicity", false, NO_TIME, 2, 1,
	    /* the first; AST and TBIL at the time of the last step */
	    3 },
	{ "a stop at the time of the last step (resume undone)",
	    RULES_PHASE_TREATMENT,
	    { { 'F', RULES_ALT, 300, 1, "o1" }, { 'F', RULES_ALT, 50, 2, "o2" },
		{ 'F', RULES_AST, 50, 2, "o2" },
		{ 'F', RULES_TBIL, 10, 2, "o2" },
		{ 'F', RULES_ALT, 300, 2, "o3" } },
	    "hepatotoxicity", true, 1, NO_TIME, 1, 4 },
	{ "a correction of the last entry, observed later",
	    RULES_PHASE_TREATMENT,
	    { { 'F', RULES_ALT, 300, 1, "o1" },
		{ 'C', RULES_ALT, 50, 3, "o1" } },
	    "hepatotoxicity", false, NO_TIME, NO_TIME, 0, 2 },
	{ "a correction of the last entry, at its time", RULES_PHASE_TREATMENT,
	    { { 'F', RULES_ALT, 300, 1, "o1" },
		{ 'C', RULES_ALT, 50, 1, "o1" } },
	    "hepatotoxicity", false, NO_TIME, NO_TIME, 0, 2 },
	{ "a deletion of the result the hold rests on", RULES_PHASE_TREATMENT,
	    { { 'F', RULES_ALT, 300, 1, "o1" }, { 'F', RULES_AST, 50, 2, "o2" },
		{ 'D', RULES_ALT, 0, 3, "o1" } },
	    "hepatotoxicity", false, NO_TIME, NO_TIME, 0, 2 },
	{ "a withdrawal (W) of a later stop", RULES_PHASE_TREATMENT,
	    { { 'F', RULES_ALT, 50, 1, "o1" }, { 'F', RULES_TBIL, 90, 2, "o2" },
		{ 'W', RULES_TBIL, 0, 5, "o2" },
		{ 'F', RULES_AST, 50, 6, "o3" } },
	    "hepatotoxicity", false, NO_TIME, NO_TIME, 0, 2 },
	{ "a result older than the last step (it stops, then the row "
	  "comes back)",
	    RULES_PHASE_TREATMENT,
	    { { 'F', RULES_ALT, 50, 1, "o1" }, { 'F', RULES_AST, 50, 1, "o1" },
		{ 'F', RULES_TBIL, 10, 1, "o1" },
		{ 'F', RULES_ALT, 90, 3, "o2" },
		{ 'F', RULES_ALT, 300, 2, "o3" },
		{ 'F', RULES_AST, 50, 4, "o4" },
		{ 'F', RULES_TBIL, 10, 4, "o4" } },
	    "hepatotoxicity", false, NO_TIME, 4, 1,
	    /* the first, two equal times, the late ALT, the last TBIL */
	    5 },
	{ "a preliminary stop promoted (U) after a later result",
	    RULES_PHASE_TREATMENT,
	    { { 'P', RULES_ALT, 300, 1, "o1" }, { 'F', RULES_ALT, 50, 2, "o2" },
		{ 'U', RULES_ALT, 300, 3, "o1" } },
	    "hepatotoxicity", true, 1, NO_TIME, 1, 2 },
	{ "results before the start and without a time are carried over",
	    RULES_PHASE_TREATMENT,
	    { { 'F', RULES_ALT, 300, -5, "o0" },
		{ 'F', RULES_ALT, 300, UNKNOWN, "o1" },
		{ 'F', RULES_AST, 300, 1, "o2" },
		{ 'F', RULES_ALT, 40, UNKNOWN, "o3" } },
	    "hepatotoxicity", true, 1, NO_TIME, 1, 1 },
	{ "a phase change derives again", RULES_PHASE_TREATMENT,
	    { { 'F', RULES_ALT, 300, 1, "o1" }, { 'S', RULES_NONE, 0, 0, NULL },
		{ 'T', RULES_NONE, 0, 0, NULL },
		{ 'F', RULES_AST, 50, 2, "o2" } },
	    "hepatotoxicity", true, 1, NO_TIME, 1,
	    /* screening derives nothing and counts nothing */
	    2 },
	{ "myelosuppression: a stop, its row back, a second stop",
	    RULES_PHASE_TREATMENT,
	    { { 'F', RULES_ANC, 0.5, 1, "o1" },
		{ 'F', RULES_ANC, 1.5, 2, "o2" },
		{ 'F', RULES_PLT, 75, 2, "o2" },
		{ 'F', RULES_PLT, 49, 3, "o3" } },
	    "myelosuppression", true, 3, 2, 2, 2 },
	{ "exactly on the lines: ANC 1.0 and platelets 50 do not stop",
	    RULES_PHASE_TREATMENT,
	    { { 'F', RULES_ANC, 1.0, 1, "o1" }, { 'F', RULES_PLT, 50, 2, "o2" },
		{ 'F', RULES_ANC, 0.99, 3, "o3" },
		{ 'F', RULES_ANC, 1.49, 4, "o4" },
		{ 'F', RULES_PLT, 75, 5, "o5" } },
	    "myelosuppression", true, 3, NO_TIME, 1, 1 },
};

/* Apply op o of a case to h; false for a phase change (no result). */
static bool
apply(struct rules_history *h, const struct op *o, uint64_t id)
{
	int64_t t = o->hour == UNKNOWN ? -1 : T0 + (int64_t)o->hour * HOUR;

	if (o->what == 'T' || o->what == 'S') {
		rules_history_set_phase(h,
		    o->what == 'T' ? RULES_PHASE_TREATMENT :
				     RULES_PHASE_SCREENING);
		return false;
	}
	add_range(h, o->a, o->v, o->what, t, id, o->order, range_of(o->a));
	return true;
}

static int64_t
at_hour(int h)
{
	return h == NO_TIME ? -1 : T0 + (int64_t)h * HOUR;
}

Test(hold_incr, hand_cases)
{
	struct rules_hold_derived full[RULES_MAX_HOLD_RULES],
	    inc[RULES_MAX_HOLD_RULES];
	const struct hand_case *c;
	struct rules_history *h;
	uint64_t carried, nfull;
	size_t k, j, rule;
	char why[512];

	for (k = 0; k < N(hand); k++) {
		c = &hand[k];
		h = rules_history_new(R, c->phase);
		for (j = 0; c->ops[j].what != 0; j++) {
			(void)apply(h, &c->ops[j], 100 + j);
			rules_hold_derive(R, h, T0, INT64_MAX, full);
			rules_hold_derive_incr(R, h, T0, INT64_MAX, NULL, inc);
			if (!same(full, inc, why, sizeof why))
				cr_assert_fail("%s, after op %zu: %s", c->name,
				    j, why);
		}
		rule = rule_of(c->rule);
		cr_expect_eq(inc[rule].held, c->held, "%s: held", c->name);
		cr_expect_eq(inc[rule].since,
		    c->held ? at_hour(c->since_h) : inc[rule].since,
		    "%s: since %lld", c->name, (long long)inc[rule].since);
		cr_expect_eq(inc[rule].resumed_at, at_hour(c->resumed_h),
		    "%s: resumed_at %lld", c->name,
		    (long long)inc[rule].resumed_at);
		cr_expect_eq(inc[rule].stops, c->stops, "%s: stops %u", c->name,
		    inc[rule].stops);
		cr_expect_eq(inc[rule].because != NULL, c->held, "%s: because",
		    c->name);
		rules_hold_incr_counts(h, &carried, &nfull);
		cr_expect_eq(nfull, c->full,
		    "%s: %llu derivations from the first entry, %llu carried",
		    c->name, (unsigned long long)nfull,
		    (unsigned long long)carried);
		rules_history_free(h);
	}
}

/*
 * A seeded (held) derivation: the anchored pass of hold_decide(), in its
 * own memo beside the unseeded one; both asked after every result.
 */
Test(hold_incr, seeded_beside_unseeded)
{
	struct rules_hold_derived full[RULES_MAX_HOLD_RULES],
	    inc[RULES_MAX_HOLD_RULES];
	struct rules_hold_state seed[RULES_MAX_HOLD_RULES];
	struct rules_history *h = rules_history_new(R, RULES_PHASE_TREATMENT);
	size_t hep = rule_of("hepatotoxicity");
	uint64_t carried, nfull;
	char why[512];
	int t;

	memset(seed, 0, sizeof seed);
	seed[hep].held = true;
	seed[hep].since = T0 + HOUR;
	for (t = 2; t < 8; t++) {
		/* The row back only from hour 5: resumed there, not before. */
		add_range(h, RULES_ALT, t < 5 ? 150 : 50, 'F', T0 + t * HOUR,
		    (uint64_t)(3 * t), "o", range_of(RULES_ALT));
		add_range(h, RULES_AST, 50, 'F', T0 + t * HOUR,
		    (uint64_t)(3 * t + 1), "o", range_of(RULES_AST));
		add_range(h, RULES_TBIL, 10, 'F', T0 + t * HOUR,
		    (uint64_t)(3 * t + 2), "o", range_of(RULES_TBIL));
		rules_hold_derive_held(R, h, T0, INT64_MAX, seed, full);
		rules_hold_derive_incr(R, h, T0, INT64_MAX, seed, inc);
		cr_assert(same(full, inc, why, sizeof why), "hour %d: %s", t,
		    why);
		rules_hold_derive(R, h, T0, INT64_MAX, full);
		rules_hold_derive_incr(R, h, T0, INT64_MAX, NULL, inc);
		cr_assert(same(full, inc, why, sizeof why), "hour %d: %s", t,
		    why);
	}
	rules_hold_derive_incr(R, h, T0, INT64_MAX, seed, inc);
	cr_expect(!inc[hep].held);
	cr_expect_eq(inc[hep].resumed_at, T0 + 5 * HOUR);
	cr_expect_eq(inc[hep].stops, 1);
	rules_hold_incr_counts(h, &carried, &nfull);
	/* One of each from the first entry, every later one carried. */
	cr_expect_eq(nfull, 2, "full %llu", (unsigned long long)nfull);
	cr_expect_eq(carried, 11, "carried %llu", (unsigned long long)carried);
	rules_history_free(h);
}

/* ---- random histories ---- */

struct rng {
	uint64_t s;
};

/* splitmix64 */
static uint64_t
rng_next(struct rng *r)
{
	uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static unsigned
below(struct rng *r, unsigned n)
{
	return (unsigned)(rng_next(r) % n);
}

/*
 * Values around the protocol's lines for the ranges of range_of(): ALT
 * and AST stop above 200 (5 x 40) and are back below 100 (2.5 x 40),
 * bilirubin stops above 60 (3 x 20) and is back below 30, ANC stops
 * below 1.0 and is back from 1.5, platelets stop below 50 and are back
 * from 75 (rules/data/protocols/nct04933669.conf).
 */
static double
value_near(struct rng *r, enum rules_analyte a)
{
	static const double liver[] = { 40, 99, 100, 101, 150, 199, 200, 201,
		300 };
	static const double tbil[] = { 10, 29, 30, 31, 45, 59, 60, 61, 90 };
	static const double anc[] = { 0.5, 0.99, 1.0, 1.2, 1.49, 1.5, 1.51,
		3.0 };
	static const double plt[] = { 20, 49, 50, 60, 74, 75, 76, 200 };
	static const double other[] = { 80, 130, 200 };

	switch (a) {
	case RULES_ALT:
	case RULES_AST:
		return liver[below(r, N(liver))];
	case RULES_TBIL:
		return tbil[below(r, N(tbil))];
	case RULES_ANC:
		return anc[below(r, N(anc))];
	case RULES_PLT:
		return plt[below(r, N(plt))];
	default:
		return other[below(r, N(other))];
	}
}

/* An earlier result, to correct, delete or promote. */
struct earlier {
	enum rules_analyte a;
	int64_t t;
	char order[16];
};

/* What one random history exercised and how often it was checked. */
struct tally {
	uint64_t checks, carried, full, fixes;
};

/* One derivation of each kind asked of h, compared. */
static void
check(struct rules_history *h, int64_t start, int64_t now,
    const struct rules_hold_state *seed, unsigned hist, size_t step,
    struct tally *ty)
{
	struct rules_hold_derived full[RULES_MAX_HOLD_RULES],
	    inc[RULES_MAX_HOLD_RULES];
	char why[512];

	rules_hold_derive_held(R, h, start, now, seed, full);
	rules_hold_derive_incr(R, h, start, now, seed, inc);
	if (!same(full, inc, why, sizeof why))
		cr_assert_fail("history %u, result %zu (%s, start %lld, now "
			       "%lld): %s",
		    hist, step, seed != NULL ? "seeded" : "unseeded",
		    (long long)start, (long long)now, why);
	ty->checks++;
}

/* The observed time of the next result: mostly later, some equal, some
 * earlier (late results), some unknown, a few before the start. */
static int64_t
next_time(struct rng *r, int64_t *t)
{
	unsigned x = below(r, 100);

	if (x < 45)
		*t += 1 + (int64_t)below(r, 3 * HOUR);
	else if (x < 65)
		; /* the same time: a panel, or a second message */
	else if (x < 80)
		*t += 24 * HOUR;
	else if (x < 95)
		return *t - 1 - (int64_t)below(r, 6 * HOUR);
	else
		return -1;
	return *t;
}

/* One random result (or C, D, W, U of an earlier one) into h. */
static void
random_result(struct rng *r, struct rules_history *h, struct earlier *ea,
    size_t *nea, int64_t *t, uint64_t id, struct tally *ty)
{
	static const enum rules_analyte pick[] = { RULES_ALT, RULES_AST,
		RULES_TBIL, RULES_ANC, RULES_PLT, RULES_ALT, RULES_ANC,
		RULES_CREA, RULES_HGB };
	struct earlier *e = &ea[*nea];
	const char *range;
	unsigned x = below(r, 100);
	char st = 'F';
	struct rules_update up;

	e->a = pick[below(r, N(pick))];
	e->t = next_time(r, t);
	snprintf(e->order, sizeof e->order, "o%u", (unsigned)id);
	if (x >= 70 && *nea > 0) {
		/* Again an earlier result's key: C, D, W or U. */
		*e = ea[below(r, (unsigned)*nea)];
		st = "CCCCDDWUUU"[below(r, 10)];
		if (below(r, 2) == 0)
			e->t = next_time(r, t);
	} else if (x >= 60)
		st = 'P';
	range = below(r, 40) == 0 ? "see note" : range_of(e->a);
	up = add_range(h, e->a, value_near(r, e->a), st, e->t, id, e->order,
	    range);
	ty->fixes += up.nsuperseded + up.nretracted + up.npromoted > 0;
	(*nea)++;
}

/*
 * One history of random results, both derivations compared after each
 * (gap 1), or after one in gap on average and after the last.
 */
static void
random_history(unsigned hist, unsigned gap, struct tally *ty)
{
	struct rng r = { UINT64_C(0x5eed0000) + hist };
	struct rules_hold_state seed[RULES_MAX_HOLD_RULES];
	struct earlier ea[128];
	struct rules_history *h;
	size_t n, j, k, nea = 0;
	int64_t t = T0 - 4 * HOUR, start = T0, now;
	uint64_t carried, nfull;

	h = rules_history_new(R,
	    below(&r, 10) == 0 ? RULES_PHASE_SCREENING : RULES_PHASE_TREATMENT);
	memset(seed, 0, sizeof seed);
	k = below(&r, (unsigned)rules_hold_count(R));
	seed[k].held = true;
	seed[k].since = T0 + (int64_t)below(&r, 6) * HOUR;
	n = 10 + below(&r, N(ea) - 10);
	for (j = 0; j < n; j++) {
		random_result(&r, h, ea, &nea, &t, 1000 * hist + j, ty);
		/* Now and then the phase, a baseline or the start moves. */
		switch (below(&r, 60)) {
		case 0:
			rules_history_set_phase(h, RULES_PHASE_TREATMENT);
			break;
		case 1:
			rules_history_set_phase(h, RULES_PHASE_SCREENING);
			break;
		case 2:
			rules_history_set_baseline(h, RULES_ALT, 30, 40);
			break;
		case 3:
			start = T0 + (int64_t)below(&r, 8) * HOUR;
			break;
		case 4:
			/* Another announced hold: the seed moves. */
			memset(seed, 0, sizeof seed);
			k = below(&r, (unsigned)rules_hold_count(R));
			seed[k].held = true;
			seed[k].since = T0 + (int64_t)below(&r, 6) * HOUR;
			break;
		case 5:
			seed[below(&r, (unsigned)rules_hold_count(R))]
			    .held = true;
			break;
		default:
			break;
		}
		now = below(&r, 50) == 0 ? t - HOUR : INT64_MAX;
		if (j + 1 < n && below(&r, gap) != 0)
			continue;
		check(h, start, now, NULL, hist, j, ty);
		if (below(&r, 3) == 0)
			check(h, start, now, seed, hist, j, ty);
	}
	rules_hold_incr_counts(h, &carried, &nfull);
	ty->carried += carried;
	ty->full += nfull;
	rules_history_free(h);
}

Test(hold_incr, random_histories_match_the_full_derivation)
{
	struct tally ty = { 0 };
	unsigned hist;

	for (hist = 0; hist < 4000; hist++)
		random_history(hist, 1, &ty);
	cr_log_info("%llu checks, %llu carried forward, %llu derived from "
		    "the first entry, %llu corrections/deletions/promotions",
	    (unsigned long long)ty.checks, (unsigned long long)ty.carried,
	    (unsigned long long)ty.full, (unsigned long long)ty.fixes);
	/* Both paths taken, often: else the comparison proves little. */
	cr_expect_gt(ty.checks, 200000);
	cr_expect_gt(ty.carried, ty.checks / 4);
	cr_expect_gt(ty.full, ty.checks / 10);
	cr_expect_gt(ty.fixes, 10000);
}

/*
 * As above, but asked only now and then (after 1 to 40 results on
 * average): carried forward over several entries at once, as
 * hold_decide() is over a message's results (in any order among
 * themselves), not only over the one entry added since.
 */
Test(hold_incr, random_histories_checked_now_and_then)
{
	struct tally ty = { 0 };
	unsigned hist;

	for (hist = 0; hist < 8000; hist++)
		random_history(hist, 1 + hist % 40, &ty);
	cr_log_info("%llu checks, %llu carried forward, %llu derived from "
		    "the first entry",
	    (unsigned long long)ty.checks, (unsigned long long)ty.carried,
	    (unsigned long long)ty.full);
	cr_expect_gt(ty.carried, ty.checks / 10);
}
