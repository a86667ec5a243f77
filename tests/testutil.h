/*
 * testutil.h: what several Criterion suites share. Header-only (static
 * functions), so that each suite stays one source file.
 */
#ifndef LABWATCH_TESTUTIL_H
#define LABWATCH_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

/* A fixture file of tests/data, NUL-terminated, malloc'ed; its length in *len. */
static inline char *
test_load(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	char *p;
	long n;

	snprintf(path, sizeof(path), "%s/%s", TEST_DATADIR, name);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	cr_assert_gt(n, 0);
	rewind(f);
	p = malloc((size_t)n + 1);
	cr_assert_not_null(p);
	cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
	p[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return p;
}

/* Printable form of bytes for failure messages; one static buffer per slot (0, 1). */
static inline const char *
test_vis(const char *p, size_t n, int slot)
{
	static char out[2][8192];
	size_t i, o = 0;

	for (i = 0; i < n && o + 5 < sizeof(out[0]); i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r')
			o += (size_t)snprintf(out[slot] + o, 5, "<CR>");
		else if (c == '\n')
			o += (size_t)snprintf(out[slot] + o, 5, "<LF>");
		else if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(out[slot] + o, 5, "<%02X>", c);
		else
			out[slot][o++] = (char)c;
	}
	out[slot][o] = '\0';
	return out[slot];
}

#ifdef LABWATCH_RULES_H
/* Makefile.am passes both; these serve a suite built by hand. */
#ifndef RULES_DATADIR
#define RULES_DATADIR "rules/data"
#endif
#ifndef RULES_TESTDATA
#define RULES_TESTDATA "tests/data/rules"
#endif

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The shipped protocol, loaded before each test of a suite that uses it. */
static struct rules *R;

static inline void
rules_setup(void)
{
	char *cause = NULL;

	if (rules_load(RULES_DATADIR "/protocols/nct04933669.conf", &R,
		&cause) < 0)
		cr_assert_fail("load: %s", cause);
}

static inline void
rules_teardown(void)
{
	rules_free(R);
	R = NULL;
}

/* The LOINC code, canonical unit and an OBX-7 range of each analyte. */
static inline const char *
code_of(enum rules_analyte a)
{
	static const char *const codes[] = {
		"1920-8",
		"1742-6",
		"1975-2",
		"2160-0",
		"751-8",
		"777-3",
		"718-7",
	};
	return codes[a];
}

static inline const char *
unit_of(enum rules_analyte a)
{
	static const char *const units[] = {
		"U/L",
		"U/L",
		"umol/L",
		"umol/L",
		"10^9/L",
		"10^9/L",
		"g/L",
	};
	return units[a];
}

static inline const char *
range_of(enum rules_analyte a)
{
	static const char *const ranges[] = {
		"0-40",
		"0-40",
		"0-20",
		"60-100",
		"2.0-7.5",
		"150-400",
		"120-160",
	};
	return ranges[a];
}

/*
 * One result of analyte a (code_of) with comparator cmp ("" for none) in
 * unit with OBX-7 range and OBX-11 status: what add_keyed() adds.
 */
static inline void
result_of_analyte(struct rules_result *in, enum rules_analyte a,
    const char *cmp, double v, const char *unit, char status, int64_t t,
    uint64_t id, const char *range)
{
	memset(in, 0, sizeof *in);
	snprintf(in->comparator, sizeof in->comparator, "%s", cmp);
	in->code = code_of(a);
	in->code_len = strlen(in->code);
	in->system = "LN";
	in->system_len = 2;
	in->alt_code = in->alt_system = "";
	in->kind = RULES_VALUE_NUMBER;
	in->value = v;
	in->unit = unit;
	in->unit_len = strlen(in->unit);
	in->range = range;
	in->range_len = strlen(in->range);
	in->status = status;
	in->observed_at = t;
	in->id = id;
}

/*
 * Add that result under the correction key key[0..key_len) (any length):
 * the one way a suite adds a result.
 */
static inline struct rules_update
add_keyed(struct rules_history *h, enum rules_analyte a, const char *cmp,
    double v, const char *unit, char status, int64_t t, uint64_t id,
    const char *range, const char *key, size_t key_len)
{
	struct rules_result in;
	struct rules_update up;

	result_of_analyte(&in, a, cmp, v, unit, status, t, id, range);
	rules_history_add(h, &in, key, key_len, &up);
	return up;
}

/* add_keyed() under the key "order/code". */
static inline struct rules_update
add_unit(struct rules_history *h, enum rules_analyte a, const char *cmp,
    double v, const char *unit, char status, int64_t t, uint64_t id,
    const char *order, const char *range)
{
	char key[64];

	snprintf(key, sizeof key, "%s/%s", order, code_of(a));
	return add_keyed(h, a, cmp, v, unit, status, t, id, range, key,
	    strlen(key));
}

/* add_unit() in the analyte's usual unit (unit_of). */
static inline struct rules_update
add_range(struct rules_history *h, enum rules_analyte a, double v, char status,
    int64_t t, uint64_t id, const char *order, const char *range)
{
	return add_unit(h, a, "", v, unit_of(a), status, t, id, order, range);
}

/* add_range() with the analyte's usual range (range_of). */
static inline struct rules_update
add(struct rules_history *h, enum rules_analyte a, double v, char status,
    int64_t t, uint64_t id, const char *order)
{
	return add_range(h, a, v, status, t, id, order, range_of(a));
}

/* add() of a result with comparator cmp. */
static inline struct rules_update
add_cmp(struct rules_history *h, enum rules_analyte a, const char *cmp,
    double v, char status, int64_t t, uint64_t id, const char *order)
{
	return add_unit(h, a, cmp, v, unit_of(a), status, t, id, order,
	    range_of(a));
}
#endif

#endif
