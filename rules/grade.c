/*
 * grade.c: one result from code and text to a judgement: canonical value,
 * reference range, CTCAE grade, exclusion verdict and hold threshold.
 */
#include <math.h>
#include <string.h>

#include "rules/rules_int.h"

/* Ordered for size (rules.h); a history packs it (rules_entry). */
_Static_assert(sizeof(struct rules_eval) <= 96, "struct rules_eval grew");

#define PROBLEM_DEFINE(name) const char rules_problem_##name[] = #name;
RULES_PROBLEMS(PROBLEM_DEFINE)

const char *
rules_range_source_name(enum rules_range_source s)
{
	switch (s) {
	case RULES_RANGE_OBX7:
		return "obx7";
	case RULES_RANGE_DEFAULT:
		return "default";
	default:
		return "none";
	}
}

const char *
rules_verdict_name(enum rules_verdict v)
{
	switch (v) {
	case RULES_VERDICT_PASS:
		return "pass";
	case RULES_VERDICT_FAIL:
		return "fail";
	default:
		return NULL;
	}
}

const char *
rules_protocol_name(const struct rules *r)
{
	return r->protocol_name;
}

const char *
rules_table_name(const struct rules *r)
{
	return r->table_name;
}

int
rules_alert_grade(const struct rules *r)
{
	return r->alert_grade;
}

int64_t
rules_window_seconds(const struct rules *r)
{
	return r->window;
}

static const char *
cmp_string(char c)
{
	switch (c) {
	case '<':
		return "<";
	case '>':
		return ">";
	case 'l':
		return "<=";
	case 'g':
		return ">=";
	default:
		return "";
	}
}

static enum rules_tri
clause_eval(const struct rules_clause *cl, const struct rules_val *x)
{
	enum rules_tri t, acc = TRI_FALSE;
	size_t i;

	for (i = 0; i < cl->n; i++) {
		t = rules_cond_eval(&cl->alt[i], x);
		if (t == TRI_TRUE)
			return TRI_TRUE;
		if (t == TRI_UNKNOWN)
			acc = TRI_UNKNOWN;
	}
	return acc;
}

/* Is the baseline above ULN (its own ULN, else the result's)? */
static enum rules_tri
baseline_abnormal(const struct rules_val *x)
{
	double u;

	if (x->base == NULL || !x->base->known)
		return TRI_FALSE;
	u = isnan(x->base->uln) ? x->uln : x->base->uln;
	if (isnan(u))
		return TRI_UNKNOWN;
	return x->base->value > u + RULES_TOL * fabs(u) ? TRI_TRUE : TRI_FALSE;
}

static const struct rules_term *
pick_term(const struct rules *r, enum rules_analyte a, int column,
    enum rules_tri abn, bool *need_abn)
{
	const struct rules_term *t, *pick = NULL;
	size_t i;

	*need_abn = false;
	for (i = 0; i < r->nterms; i++) {
		t = &r->terms[i];
		if (t->analyte != a || t->column_unit != column)
			continue;
		if (t->baseline == TB_ANY)
			return t;
		if (t->baseline == TB_ABNORMAL) {
			if (abn == TRI_UNKNOWN)
				*need_abn = true;
			if (abn == TRI_TRUE)
				return t;
		} else if (abn != TRI_TRUE && pick == NULL)
			pick = t;
	}
	return pick;
}

/*
 * The highest grade whose criterion holds. An unknowable criterion above it
 * makes the grade a minimum, and the highest such one is the grade the
 * value may reach (`<75` platelets: grade 2, at most 4); with none that
 * holds, unknown means ungradable.
 */
static void
grade(const struct rules *r, enum rules_analyte a, int unit,
    const struct rules_val *x, struct rules_eval *out, int *term)
{
	const struct rules_term *t;
	enum rules_tri abn = baseline_abnormal(x), c;
	bool need_abn = false;
	int g, unknown = -1; /* the highest grade not ruled out */
	int column = r->analytes[a].units[unit].own_column ? unit : -1;

	t = pick_term(r, a, column, abn, &need_abn);
	if (t == NULL && column >= 0)
		t = pick_term(r, a, -1, abn, &need_abn);
	if (need_abn || t == NULL)
		return; /* grade stays -1 */
	out->term = t->title != NULL ? t->title : t->name;
	*term = (int)(t - r->terms);
	for (g = 4; g >= 1; g--) {
		if (t->grade[g].n == 0)
			continue;
		c = clause_eval(&t->grade[g], x);
		if (c == TRI_TRUE) {
			out->grade = g;
			out->grade_is_minimum = unknown > g;
			out->grade_max = (int8_t)(unknown > g ? unknown : g);
			return;
		}
		if (c == TRI_UNKNOWN && unknown < 0)
			unknown = g;
	}
	out->grade = unknown >= 0 ? -1 : 0;
	out->grade_max = (int8_t)out->grade;
}

/* An evaluation with nothing known yet. */
static void
eval_init(const struct rules_result *in, struct rules_eval *out)
{
	out->id = in->id;
	out->analyte = RULES_NONE;
	out->excluded_code = false;
	out->value = NAN;
	out->comparator = "";
	out->unit = NULL;
	out->lln = out->uln = NAN;
	out->range_source = RULES_RANGE_NONE;
	out->range_unparsed = false;
	out->x_uln = NAN;
	out->grade = -1;
	out->grade_max = -1;
	out->grade_is_minimum = false;
	out->term = NULL;
	out->eligibility = RULES_VERDICT_NONE;
	out->hold = false;
	out->final = false;
	out->problem = NULL;
	out->conflict = 0;
}

/*
 * What OBX-11 allows: false when the result is not to be evaluated at all
 * (out->problem says why); else out->final, and in *later a problem to
 * report unless a worse one turns up.
 */
static bool
status_allows(char status, struct rules_eval *out, const char **later)
{
	switch (status) {
	case 'F':
	case 'C':
	case 'U':
		out->final = true;
		return true;
	case 'P':
	case 'R':
	case 'S':
		*later = rules_problem_not_final;
		return true;
	case 'I':
	case 'O':
	case 'N':
	case 'X':
		out->problem = rules_problem_not_evaluated;
		return false;
	case 'D':
	case 'W':
		out->problem = rules_problem_retracted;
		return false;
	default:
		/* Empty or unknown: stored, never evaluated (CLINICAL.md). */
		out->problem = rules_problem_status_unknown;
		return false;
	}
}

/*
 * LLN/ULN from OBX-7 (in the result's unit, factor f); the protocol's only
 * when OBX-7 is empty. False when OBX-7 was sent and cannot be read: a
 * default would grade on a ULN the laboratory did not give (issue 11).
 */
static bool
eval_range(const struct rules *r, enum rules_analyte a,
    const struct rules_result *in, double f, struct rules_eval *out)
{
	double lo, hi;

	switch (rules_read_range(r, a, in, &lo, &hi)) {
	case RULES_OBX7_READ:
		out->lln = lo * f;
		out->uln = hi * f;
		out->range_source = RULES_RANGE_OBX7;
		break;
	case RULES_OBX7_EMPTY:
		if (!isnan(r->def_lln[a]) || !isnan(r->def_uln[a])) {
			out->lln = r->def_lln[a];
			out->uln = r->def_uln[a];
			out->range_source = RULES_RANGE_DEFAULT;
		}
		break;
	default:
		out->range_unparsed = true;
		return false;
	}
	if (!isnan(out->uln) && out->uln > 0)
		out->x_uln = out->value / out->uln;
	return true;
}

/* The exclusion verdict and the hold of analyte a; x without baseline. */
static void
eval_protocol(const struct rules *r, enum rules_analyte a,
    const struct rules_val *x, struct rules_eval *out)
{
	size_t i, j;

	for (i = 0; i < r->ncriteria; i++) {
		if (r->criteria[i].analyte != a)
			continue;
		switch (rules_cond_eval(&r->criteria[i].cond, x)) {
		case TRI_TRUE:
			out->eligibility = RULES_VERDICT_FAIL;
			break;
		case TRI_FALSE:
			out->eligibility = RULES_VERDICT_PASS;
			break;
		default:
			out->eligibility = RULES_VERDICT_NONE;
			break;
		}
	}
	/* Only a stop that certainly holds: `<75` platelets may not be < 50. */
	for (i = 0; i < r->nholds; i++)
		for (j = 0; j < r->holds[i].nstop; j++)
			if (r->holds[i].stop[j].analyte == a &&
			    rules_cond_eval(&r->holds[i].stop[j].cond, x) ==
				TRI_TRUE)
				out->hold = true;
}

void
rules_eval(const struct rules *r, const struct rules_result *in,
    const struct rules_baseline *baseline, struct rules_eval *out)
{
	struct rules_mapping m;

	rules_map_result(r, in, &m);
	rules_eval_mapped(r, in, &m, baseline, out);
}

void
rules_eval_mapped(const struct rules *r, const struct rules_result *in,
    const struct rules_mapping *m, const struct rules_baseline *baseline,
    struct rules_eval *out)
{
	int term;

	rules_eval_term(r, in, m, baseline, out, &term);
}

void
rules_eval_term(const struct rules *r, const struct rules_result *in,
    const struct rules_mapping *m, const struct rules_baseline *baseline,
    struct rules_eval *out, int *term)
{
	const struct rules_analyte_def *d;
	const char *status_problem = NULL;
	struct rules_val x;
	enum rules_analyte a = m->analyte;
	int unit;
	char cmp;

	eval_init(in, out);
	*term = -1;
	out->excluded_code = m->excluded;
	if (m->named[0] != RULES_NONE) {
		/*
		 * Neither analyte guessed; final or not as its status says, so
		 * that it is the latest result of both (rules_eligibility).
		 */
		out->conflict = (uint8_t)(1u << m->named[0] |
		    1u << m->named[1]);
		(void)status_allows(in->status, out, &status_problem);
		out->problem = rules_problem_code_conflict;
		return;
	}
	if (a == RULES_NONE)
		return;
	d = &r->analytes[a];
	out->analyte = a;
	out->unit = d->canonical;
	if (!status_allows(in->status, out, &status_problem))
		return;
	if (in->kind == RULES_VALUE_NONE) {
		out->problem = rules_problem_no_value;
		return;
	}
	cmp = in->kind == RULES_VALUE_NUMBER ? rules_cmp_char(in->comparator) :
					       0;
	if (cmp == 0 || !isfinite(in->value)) {
		out->problem = rules_problem_non_numeric;
		return;
	}
	out->comparator = cmp_string(cmp);
	unit = rules_unit_index(r, a, in->unit, in->unit_len);
	if (unit < 0) {
		out->problem = rules_problem_unit_unknown;
		return;
	}
	out->value = in->value * d->units[unit].factor;
	/* No grade, verdict or hold on a range that is there but unread. */
	if (!eval_range(r, a, in, d->units[unit].factor, out)) {
		out->problem = rules_problem_range_unreadable;
		return;
	}

	x.v = out->value;
	x.cmp = cmp;
	x.lln = out->lln;
	x.uln = out->uln;
	x.base = baseline != NULL ? &baseline[a] : NULL;
	grade(r, a, unit, &x, out, term);
	/* Protocol thresholds never use the baseline. */
	x.base = NULL;
	eval_protocol(r, a, &x, out);

	if (out->range_source == RULES_RANGE_NONE)
		out->problem = rules_problem_no_reference_range;
	else if (out->grade < 0)
		out->problem = rules_problem_indeterminate;
	if (status_problem != NULL && out->problem == NULL)
		out->problem = status_problem;
}

bool
rules_alert_silent_problem(const struct rules *r, const struct rules_eval *ev,
    int64_t observed_at, const struct rules_open_alert *open, size_t nopen)
{
	struct rules_alert_decision d;

	rules_alert_decide(r, ev, observed_at, open, nopen, &d);
	/*
	 * A recovery line says nothing of the result's problem (a grade
	 * known without a range: no_reference_range): said apart, as it is
	 * when no episode is open.
	 */
	if (d.kind == RULES_ALERT_RECOVERED)
		return ev->problem != NULL &&
		    ev->problem != rules_problem_not_final;
	if (ev->problem != rules_problem_code_conflict &&
	    ev->problem != rules_problem_status_unknown)
		return false;
	/* Should rules_alert_decide() come to alert on them: not twice. */
	return d.kind == RULES_ALERT_NONE;
}
