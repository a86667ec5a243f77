/*
 * entry.c: a history's entry (struct rules_entry) packed from a result's
 * evaluation, and the evaluation made again from it.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "rules/history.h"
#include "rules/rules_int.h"

/* A history keeps one per result (rules.h): one cache line. */
_Static_assert(sizeof(struct rules_entry) <= 64, "struct rules_entry grew");

/* The comparators by index, and their characters as rules_cmp_char(). */
static const char *const cmp_names[] = { "", "<", ">", "<=", ">=" };
static const char cmp_chars[] = "=<>lg";

/* The problems by index - 1 (0: none): rules.h's one list. */
#define PROBLEM_NAME(name) rules_problem_##name,
static const char *const problems[] = { RULES_PROBLEMS(PROBLEM_NAME) };
_Static_assert(sizeof(problems) / sizeof(problems[0]) < 16,
    "struct rules_entry: problem is 4 bits");
_Static_assert(RULES_MAX_TERMS < 64, "struct rules_entry: term is 6 bits");

/* The index of a comparator rules_eval() wrote ("" and cmp_names[]). */
static unsigned
cmp_index(const char *s)
{
	switch (s[0]) {
	case '<':
		return s[1] == '=' ? 3 : 1;
	case '>':
		return s[1] == '=' ? 4 : 2;
	default:
		return 0;
	}
}

static unsigned
problem_index(const char *p)
{
	unsigned i;

	if (p == NULL)
		return 0;
	for (i = 0; i < sizeof(problems) / sizeof(problems[0]); i++)
		if (problems[i] == p)
			return i + 1;
	/* rules_eval() writes no other: rules_entry_eval() would lose it. */
	abort();
}

void
entry_pack(struct rules_entry *e, const struct rules_eval *ev, int term,
    char status, int64_t observed_at)
{
	/* Built whole and stored at once: the flags are one word. */
	*e = (struct rules_entry){
		.id = ev->id,
		.value = ev->value,
		.lln = ev->lln,
		.uln = ev->uln,
		.observed_at = observed_at,
		.analyte = (int8_t)ev->analyte,
		.grade = (int8_t)ev->grade,
		.grade_max = ev->grade_max,
		.status = status,
		.final = ev->final,
		.eligibility = ev->eligibility,
		.conflict = ev->conflict,
		.hold = ev->hold,
		.excluded_code = ev->excluded_code,
		.range_unparsed = ev->range_unparsed,
		.grade_is_minimum = ev->grade_is_minimum,
		.range_source = ev->range_source,
		.comparator = cmp_index(ev->comparator),
		.problem = problem_index(ev->problem),
		.term = (unsigned)(term + 1),
	};
}

const char *
entry_problem(const struct rules_entry *e)
{
	return e->problem == 0 ? NULL : problems[e->problem - 1];
}

char
entry_cmp_char(const struct rules_entry *e)
{
	return cmp_chars[e->comparator];
}

void
entry_set_problem(struct rules_entry *e, const char *problem)
{
	e->problem = problem_index(problem);
}

void
rules_entry_eval(const struct rules *r, const struct rules_entry *e,
    struct rules_eval *out)
{
	const struct rules_term *t = e->term != 0 ? &r->terms[e->term - 1] :
						    NULL;

	out->id = e->id;
	out->analyte = e->analyte;
	out->range_source = e->range_source;
	out->value = e->value;
	out->comparator = cmp_names[e->comparator];
	/* rules_eval() names the canonical unit of any analyte it maps. */
	out->unit = rules_canonical_unit(r, e->analyte);
	out->lln = e->lln;
	out->uln = e->uln;
	/* As eval_range() (grade.c): no ULN read, none known. */
	out->x_uln = !isnan(e->uln) && e->uln > 0 ? e->value / e->uln : NAN;
	out->term = t == NULL ? NULL : t->title != NULL ? t->title : t->name;
	out->problem = entry_problem(e);
	out->grade = e->grade;
	out->eligibility = e->eligibility;
	out->excluded_code = e->excluded_code;
	out->range_unparsed = e->range_unparsed;
	out->grade_is_minimum = e->grade_is_minimum;
	out->hold = e->hold;
	out->final = e->final;
	out->conflict = (uint8_t)e->conflict;
	out->grade_max = e->grade_max;
}
