/*
 * range.c: numbers, OBX-7 reference ranges (every form of CLINICAL.md, a
 * sex-specific one resolved with PID-8) and the three-valued threshold
 * comparisons every rule is made of.
 */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "lib/num.h"
#include "lib/str.h"

#include "rules/rules_int.h"

/*
 * Locale-free decimal: [-+]digits[.digits]. The mantissa is kept as an
 * integer and divided once, so "3.5" is the double nearest 3.5.
 */
int
rules_parse_num(const char **pp, const char *end, double *out)
{
	const char *p = *pp;
	uint64_t mant = 0;
	int ndig = 0, frac = 0, seen = 0;
	bool neg = false, dot = false;

	if (p < end && (*p == '-' || *p == '+')) {
		neg = *p == '-';
		p++;
	}
	for (; p < end; p++) {
		if (*p >= '0' && *p <= '9') {
			if (ndig >= 18)
				return -1;
			mant = mant * 10 + (uint64_t)(*p - '0');
			seen++;
			if (mant != 0 || dot)
				ndig++;
			if (dot)
				frac++;
		} else if (*p == '.' && !dot) {
			dot = true;
		} else
			break;
	}
	if (seen == 0)
		return -1;
	*out = (double)mant / num_pow10[frac];
	if (neg)
		*out = -*out;
	*pp = p;
	return 0;
}

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && is_ws(*p))
		p++;
	return p;
}

static void
trim(const char **p, const char **end)
{
	*p = skip_ws(*p, *end);
	while (*end > *p && is_ws((*end)[-1]))
		(*end)--;
}

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Bytes of the UTF-8 sequence u (3 bytes) at p, else 0. */
static size_t
utf8_at(const char *p, const char *end, const char *u)
{
	return end - p >= 3 && memcmp(p, u, 3) == 0 ? 3 : 0;
}

/* A range's dash at p: '-', en dash, em dash, minus sign. Its length. */
static size_t
dash_len(const char *p, const char *end)
{
	size_t n;

	if (p < end && *p == '-')
		return 1;
	if ((n = utf8_at(p, end, "\xe2\x80\x93")) > 0 ||
	    (n = utf8_at(p, end, "\xe2\x80\x94")) > 0)
		return n;
	return utf8_at(p, end, "\xe2\x88\x92");
}

/*
 * A one-sided comparator at p: '<' for "<", "<=", "≤" (the ULN), '>' for
 * ">", ">=", "≥" (the LLN); 0 when none. *p moves past it.
 */
static char
side_at(const char **p, const char *end)
{
	const char *q = *p;
	size_t n;

	if (q < end && (*q == '<' || *q == '>')) {
		*p = q + 1 + (q + 1 < end && q[1] == '=');
		return *q;
	}
	if ((n = utf8_at(q, end, "\xe2\x89\xa4")) > 0) {
		*p = q + n;
		return '<';
	}
	if ((n = utf8_at(q, end, "\xe2\x89\xa5")) > 0) {
		*p = q + n;
		return '>';
	}
	return 0;
}

/* An unsigned decimal: a sign is never part of a range bound. */
static bool
read_bound(const char **p, const char *end, double *v)
{
	if (*p >= end || **p < '0' || **p > '9')
		return false;
	return rules_parse_num(p, end, v) == 0;
}

/*
 * A unit written after the range is OBX-6 itself, or a spelling of the same
 * unit in the analyte's catalog (same factor: "IU/L" for "U/L", "µmol/L"
 * for "umol/L"). Case counts: "mU/L" is not "MU/L".
 */
static bool
same_unit(const struct rules *r, enum rules_analyte a,
    const struct rules_result *in, const char *u, size_t n)
{
	const char *o = in->unit;
	size_t on = str_trim_span(&o, in->unit_len);
	int i, j;
	double fi, fj;

	if (n == on && memcmp(u, o, n) == 0)
		return true;
	i = rules_unit_index(r, a, o, on);
	j = rules_unit_index(r, a, u, n);
	if (i < 0 || j < 0)
		return false;
	fi = r->analytes[a].units[i].factor;
	fj = r->analytes[a].units[j].factor;
	return !(fi < fj) && !(fi > fj);
}

/*
 * One range of [p, end): "a-b" (any dash), "a to b", "<b", "<=b", "≤b",
 * ">a", ">=a", "≥a", in parentheses or not, with OBX-6's unit after it or
 * not. False when it is anything else.
 */
static bool
read_one(const struct rules *r, enum rules_analyte a,
    const struct rules_result *in, const char *p, const char *end, double *lln,
    double *uln)
{
	double lo = NAN, hi = NAN;
	bool paren = false;
	char side;
	size_t n;

	trim(&p, &end);
	if (p < end && *p == '(') {
		paren = true;
		p = skip_ws(p + 1, end);
	}
	side = side_at(&p, end);
	p = skip_ws(p, end);
	if (!read_bound(&p, end, side == '<' ? &hi : &lo))
		return false;
	if (side == 0) {
		p = skip_ws(p, end);
		if ((n = dash_len(p, end)) > 0)
			p += n;
		else if (end - p >= 2 && strncasecmp(p, "to", 2) == 0)
			p += 2;
		else
			return false;
		p = skip_ws(p, end);
		if (!read_bound(&p, end, &hi) || hi < lo)
			return false;
	}
	p = skip_ws(p, end);
	if (paren) {
		/* "(10-40) U/L" or "(10-40 U/L)" */
		if (p < end && *p == ')')
			p = skip_ws(p + 1, end);
		else if (p < end && end[-1] == ')') {
			end--;
			trim(&p, &end);
		} else
			return false;
	}
	trim(&p, &end);
	if (p < end && !same_unit(r, a, in, p, (size_t)(end - p)))
		return false;
	*lln = lo;
	*uln = hi;
	return true;
}

/* "M", "F", "Male", "Female" at p, not followed by a letter: its length. */
static size_t
sex_tag(const char *p, const char *end, char *sex)
{
	static const struct {
		const char *word;
		size_t len;
		char sex;
	} tags[] = { { "female", 6, 'F' }, { "male", 4, 'M' } };
	size_t i;

	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		if ((size_t)(end - p) >= tags[i].len &&
		    strncasecmp(p, tags[i].word, tags[i].len) == 0 &&
		    (p + tags[i].len == end || !is_alpha(p[tags[i].len]))) {
			*sex = tags[i].sex;
			return tags[i].len;
		}
	if (p < end && (*p == 'M' || *p == 'F') &&
	    (p + 1 == end || !is_alpha(p[1]))) {
		*sex = *p;
		return 1;
	}
	return 0;
}

static bool
is_sep(char c)
{
	return is_ws(c) || c == ';' || c == ',';
}

/*
 * "M 10-50; F 10-35", "M:59-104 F:45-84": every part must read, each sex
 * at most once, and the patient's sex picks one.
 */
static bool
read_by_sex(const struct rules *r, enum rules_analyte a,
    const struct rules_result *in, const char *p, const char *end, double *lln,
    double *uln)
{
	const char *body, *q, *e;
	bool seen_m = false, seen_f = false, found = false;
	double lo, hi;
	char sex, other;
	size_t n;

	while (p < end) {
		if ((n = sex_tag(p, end, &sex)) == 0)
			return false;
		if (sex == 'M' ? seen_m : seen_f)
			return false;
		*(sex == 'M' ? &seen_m : &seen_f) = true;
		p = skip_ws(p + n, end);
		if (p < end && *p == ':')
			p = skip_ws(p + 1, end);
		body = p;
		/* The part ends where the next tag starts, after a separator. */
		for (q = body; q < end; q++)
			if (q > body && is_sep(q[-1]) &&
			    sex_tag(q, end, &other))
				break;
		for (e = q; e > body && is_sep(e[-1]); e--)
			;
		if (!read_one(r, a, in, body, e, &lo, &hi))
			return false;
		if (sex == in->sex) {
			*lln = lo;
			*uln = hi;
			found = true;
		}
		p = q;
	}
	return found;
}

enum rules_obx7
rules_read_range(const struct rules *r, enum rules_analyte a,
    const struct rules_result *in, double *lln, double *uln)
{
	const char *p = in->range, *end = in->range + in->range_len;
	char sex;
	bool ok;

	*lln = NAN;
	*uln = NAN;
	trim(&p, &end);
	if (p == end)
		return RULES_OBX7_EMPTY;
	if (sex_tag(p, end, &sex) > 0)
		ok = read_by_sex(r, a, in, p, end, lln, uln);
	else
		ok = read_one(r, a, in, p, end, lln, uln);
	if (ok)
		return RULES_OBX7_READ;
	*lln = NAN;
	*uln = NAN;
	return RULES_OBX7_UNREADABLE;
}

char
rules_cmp_char(const char *cmp)
{
	if (cmp[0] == '\0' || (cmp[0] == '=' && cmp[1] == '\0'))
		return '=';
	if (cmp[1] == '\0' && (cmp[0] == '<' || cmp[0] == '>'))
		return cmp[0];
	if (cmp[1] == '=' && cmp[2] == '\0')
		return cmp[0] == '<' ? 'l' : cmp[0] == '>' ? 'g' : 0;
	return 0;
}

/* x > t, x < t, x >= t, x <= t with a relative tolerance. */
static bool
gt(double x, double t)
{
	return x > t + RULES_TOL * fabs(t);
}

static bool
lt(double x, double t)
{
	return x < t - RULES_TOL * fabs(t);
}

static bool
ge(double x, double t)
{
	return !lt(x, t);
}

static bool
le(double x, double t)
{
	return !gt(x, t);
}

/*
 * A comparator turns the value into an interval: "<v" means the true value
 * is below v. The comparison is true or false only when every value of the
 * interval agrees; otherwise it is unknown.
 */
enum rules_tri
rules_cond_eval(const struct rules_cond *c, const struct rules_val *x)
{
	double t, v = x->v;
	bool below = x->cmp == '<' || x->cmp == 'l';
	bool above = x->cmp == '>' || x->cmp == 'g';

	switch (c->ref) {
	case REF_ABS:
		t = c->mult;
		break;
	case REF_ULN:
		if (isnan(x->uln))
			return TRI_UNKNOWN;
		t = c->mult * x->uln;
		break;
	case REF_LLN:
		if (isnan(x->lln))
			return TRI_UNKNOWN;
		t = c->mult * x->lln;
		break;
	case REF_BASE:
		/* A baseline criterion does not apply without a baseline. */
		if (x->base == NULL || !x->base->known)
			return TRI_FALSE;
		t = c->mult * x->base->value;
		break;
	default:
		return TRI_UNKNOWN;
	}
	switch (c->op) {
	case '>':
		if (!below && !above)
			return gt(v, t) ? TRI_TRUE : TRI_FALSE;
		if (below)
			return le(v, t) ? TRI_FALSE : TRI_UNKNOWN;
		if (x->cmp == '>' ? ge(v, t) : gt(v, t))
			return TRI_TRUE;
		return TRI_UNKNOWN;
	case 'g':
		if (!below && !above)
			return ge(v, t) ? TRI_TRUE : TRI_FALSE;
		if (below)
			return (x->cmp == '<' ? le(v, t) : lt(v, t)) ?
			    TRI_FALSE :
			    TRI_UNKNOWN;
		return ge(v, t) ? TRI_TRUE : TRI_UNKNOWN;
	case '<':
		if (!below && !above)
			return lt(v, t) ? TRI_TRUE : TRI_FALSE;
		if (above)
			return ge(v, t) ? TRI_FALSE : TRI_UNKNOWN;
		if (x->cmp == '<' ? le(v, t) : lt(v, t))
			return TRI_TRUE;
		return TRI_UNKNOWN;
	case 'l':
		if (!below && !above)
			return le(v, t) ? TRI_TRUE : TRI_FALSE;
		if (above)
			return (x->cmp == '>' ? ge(v, t) : gt(v, t)) ?
			    TRI_FALSE :
			    TRI_UNKNOWN;
		return le(v, t) ? TRI_TRUE : TRI_UNKNOWN;
	default:
		return TRI_UNKNOWN;
	}
}
