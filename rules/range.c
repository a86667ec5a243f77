/*
 * range.c: numbers, OBX-7 reference ranges and the three-valued threshold
 * comparisons every rule is made of.
 */
#include <math.h>
#include <string.h>

#include "rules/rules_int.h"

static const double pow10_tab[] = {
	1e0,
	1e1,
	1e2,
	1e3,
	1e4,
	1e5,
	1e6,
	1e7,
	1e8,
	1e9,
	1e10,
	1e11,
	1e12,
	1e13,
	1e14,
	1e15,
	1e16,
	1e17,
	1e18,
};

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
	*out = (double)mant / pow10_tab[frac];
	if (neg)
		*out = -*out;
	*pp = p;
	return 0;
}

static const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

int
rules_parse_range(const char *s, size_t len, double *lln, double *uln)
{
	const char *p = s, *end = s + len;
	double a, b;
	char op = 0;

	*lln = NAN;
	*uln = NAN;
	p = skip_ws(p, end);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (p == end)
		return 1;
	if (*p == '<' || *p == '>') {
		op = *p++;
		if (p < end && *p == '=')
			p++;
		p = skip_ws(p, end);
		if (rules_parse_num(&p, end, &a) < 0 || p != end)
			return -1;
		if (op == '<')
			*uln = a;
		else
			*lln = a;
		return 0;
	}
	if (rules_parse_num(&p, end, &a) < 0)
		return -1;
	p = skip_ws(p, end);
	if (p < end && *p == '-')
		p++;
	else if (end - p >= 2 && (p[0] == 't' || p[0] == 'T') &&
	    (p[1] == 'o' || p[1] == 'O'))
		p += 2;
	else
		return -1;
	p = skip_ws(p, end);
	if (rules_parse_num(&p, end, &b) < 0 || p != end || b < a)
		return -1;
	*lln = a;
	*uln = b;
	return 0;
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
