/*
 * test_hl7_dtm.c: DTM timestamps (parse, ISO 8601 text, epoch) and
 * decimal numbers (hl7/dtm.c), in tables of what senders write and what
 * they must not.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "hl7/dtm.h"
#include "hl7_testutil.h"

/* ------------------------------------------------------------------ */
/* DTM                                                                 */

struct dtm_case {
	const char *in;
	const char *iso;
	int precision;
	bool has_offset;
	int offset_min;
};

Test(hl7_dtm, dtm_parse_and_iso)
{
	static const struct dtm_case cases[] = {
		{ "20261120073000+0800", "2026-11-20T07:30:00+08:00", 6, true,
		    480 },
		{ "202611200730", "2026-11-20T07:30:00", 5, false, 0 },
		{ "2026112007", "2026-11-20T07:00:00", 4, false, 0 },
		{ "20261120", "2026-11-20", 3, false, 0 },
		{ "202611", "2026-11", 2, false, 0 },
		{ "2026", "2026", 1, false, 0 },
		{ "20261120073000", "2026-11-20T07:30:00", 6, false, 0 },
		{ "20261120073000.1234", "2026-11-20T07:30:00.1234", 6, false,
		    0 },
		{ "20261120073000.0", "2026-11-20T07:30:00.0", 6, false, 0 },
		{ "20261120073000.05-0330", "2026-11-20T07:30:00.05-03:30", 6,
		    true, -210 },
		{ "20261120073000.0123", "2026-11-20T07:30:00.0123", 6, false,
		    0 },
		{ "202611200730+0545", "2026-11-20T07:30:00+05:45", 5, true,
		    345 },
		{ "20261231235959+1400", "2026-12-31T23:59:59+14:00", 6, true,
		    840 },
		{ "20261120073000-1200", "2026-11-20T07:30:00-12:00", 6, true,
		    -720 },
		{ "20261120073000+0000", "2026-11-20T07:30:00+00:00", 6, true,
		    0 },
		{ "20261120+0800", "2026-11-20", 3, true, 480 },
		{ "20240229", "2024-02-29", 3, false, 0 },
		{ "20000229", "2000-02-29", 3, false, 0 },
		{ "20261130000000", "2026-11-30T00:00:00", 6, false, 0 },
	};
	struct hl7_dtm t;
	char iso[40];
	size_t i, n;

	for (i = 0; i < NELEM(cases); i++) {
		const struct dtm_case *c = &cases[i];

		cr_assert_eq(hl7_dtm_parse(c->in, strlen(c->in), &t), 0,
		    "\"%s\" rejected", c->in);
		n = hl7_dtm_iso(&t, iso);
		cr_expect_str_eq(iso, c->iso, "\"%s\"", c->in);
		cr_expect_eq(n, strlen(c->iso), "\"%s\" length", c->in);
		cr_expect_eq(t.precision, c->precision, "\"%s\" precision",
		    c->in);
		cr_expect_eq(t.has_offset, c->has_offset, "\"%s\" has_offset",
		    c->in);
		cr_expect_eq(t.offset_min, c->offset_min, "\"%s\" offset",
		    c->in);
	}
	cr_assert_eq(hl7_dtm_parse(LIT("20261120073000.1234+0800"), &t), 0);
	cr_expect_eq(t.year, 2026);
	cr_expect_eq(t.month, 11);
	cr_expect_eq(t.day, 20);
	cr_expect_eq(t.hour, 7);
	cr_expect_eq(t.minute, 30);
	cr_expect_eq(t.second, 0);
	cr_expect_eq(t.frac, 1234);
	cr_expect_eq(t.frac_digits, 4);
	/* A DTM that is only part of the buffer. */
	cr_expect_eq(hl7_dtm_parse("20261120XYZ", 8, &t), 0);
	cr_expect_eq(t.precision, 3);
	memset(&t, 0, sizeof(t));
	cr_expect_eq(hl7_dtm_iso(&t, iso), 0);
	cr_expect_str_eq(iso, "");
}

/* The printf form hl7_dtm_iso had, for structs the parser never makes. */
static void
ref_dtm_iso(const struct hl7_dtm *t, char out[40])
{
	int n, off = t->offset_min;

	out[0] = '\0';
	if (t->precision == 0)
		return;
	n = snprintf(out, 40, "%04d", t->year);
	if (t->precision >= 2)
		n += snprintf(out + n, 40 - (size_t)n, "-%02d", t->month);
	if (t->precision >= 3)
		n += snprintf(out + n, 40 - (size_t)n, "-%02d", t->day);
	if (t->precision >= 4)
		n += snprintf(out + n, 40 - (size_t)n, "T%02d:%02d:%02d",
		    t->hour, t->minute, t->second);
	if (t->frac_digits > 0)
		n += snprintf(out + n, 40 - (size_t)n, ".%0*u",
		    (int)t->frac_digits, (unsigned)t->frac);
	if (t->has_offset && t->precision >= 4)
		snprintf(out + n, 40 - (size_t)n, "%c%02d:%02d",
		    off < 0 ? '-' : '+', abs(off) / 60, abs(off) % 60);
}

/* Any struct, in the parser's ranges or not, comes out as printf wrote it. */
Test(hl7_dtm, dtm_iso_matches_printf)
{
	static const int16_t years[] = { 0, 7, 999, 2026, 9999, 10000, -1 };
	static const int8_t parts[] = { 0, 9, 59, 99, 100, -3 };
	static const uint16_t fracs[] = { 0, 5, 99, 1234, 9999, 10000 };
	static const int8_t digits[] = { 0, 1, 2, 4, 5 };
	static const int16_t offsets[] = { 0, -210, 840, -5999, 6000 };
	struct hl7_dtm t;
	char got[40], want[40];
	size_t y, p, f, d, o, n;
	int prec;

	for (y = 0; y < NELEM(years); y++)
		for (p = 0; p < NELEM(parts); p++)
			for (f = 0; f < NELEM(fracs); f++)
				for (d = 0; d < NELEM(digits); d++)
					for (o = 0; o < NELEM(offsets); o++)
						for (prec = 1; prec <= 6;
						     prec++) {
							memset(&t, 0,
							    sizeof(t));
							t.year = years[y];
							t.month = t.day =
							    t.hour = t.minute =
								t.second =
								    parts[p];
							t.precision = (int8_t)
							    prec;
							t.frac = fracs[f];
							t.frac_digits =
							    digits[d];
							t.has_offset =
							    offsets[o] != 0;
							t.offset_min =
							    offsets[o];
							n = hl7_dtm_iso(&t,
							    got);
							ref_dtm_iso(&t, want);
							cr_expect_str_eq(got,
							    want);
							cr_expect_eq(n,
							    strlen(want));
						}
}

Test(hl7_dtm, dtm_rejects)
{
	static const char *const bad[] = {
		"",
		"2",
		"202",
		"abcd",
		"20a6",
		"20261320", /* month 13 */
		"20260001", /* month 0 */
		"20260230", /* Feb 30 */
		"20250229", /* not a leap year */
		"21000229", /* nor is 2100 */
		"20261100", /* day 0 */
		"20261131", /* Nov 31 */
		"2026112",  /* odd length */
		"2026112007300",
		"20261120250000", /* hour 25 */
		"20261120240000",
		"20261120076000",    /* minute 60 */
		"20261120073060",    /* second 60 */
		"20261120073000+08", /* bad offsets */
		"20261120073000+080",
		"20261120073000+08000",
		"20261120073000+0860",
		"20261120073000+1500",
		"20261120073000+08:00",
		"20261120073000+",
		"20261120073000++0800",
		"20261120073000 +0800",
		"20261120073000Z",
		"+0800",
		"-20261120",
		"2026-11-20",
		"2026-11-20T07:30:00",
		"20261120T073000",
		"202611200730.5", /* fraction needs seconds */
		"20261120073000.",
		"20261120073000.12345",
		"20261120073000.1a",
		"20261120073000,5",
		" 20261120",
		"20261120 ",
	};
	struct hl7_dtm t;
	size_t i;

	for (i = 0; i < NELEM(bad); i++)
		cr_expect_eq(hl7_dtm_parse(bad[i], strlen(bad[i]), &t), -1,
		    "\"%s\" accepted", bad[i]);
}

Test(hl7_dtm, dtm_epoch)
{
	static const struct {
		const char *in;
		int tz;
		int64_t want;
	} cases[] = {
		/* With an offset the configured zone does not matter. */
		{ "20261120073000+0800", 0, 1795131000 },
		{ "20261120073000+0800", -300, 1795131000 },
		{ "20261120073000.5+0800", 0, 1795131000 },
		{ "20261120073000-0330", 0, 1795172400 },
		{ "20261120073000+0000", 480, 1795159800 },
		/* Without one, the configured zone applies. */
		{ "20261120073000", 0, 1795159800 },
		{ "20261120073000", 60, 1795156200 },
		{ "20261120073000", -300, 1795177800 },
		{ "202611200730", 480, 1795131000 },
		{ "20261120", 0, 1795132800 },
		{ "2026", 0, 1767225600 },
		{ "202601", 0, 1767225600 },
		{ "20240229120000", 0, 1709208000 },
		{ "20000301", 0, 951868800 },
		{ "19700101000000+0000", 480, 0 },
	};
	struct hl7_dtm t;
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		cr_assert_eq(hl7_dtm_parse(cases[i].in, strlen(cases[i].in),
				 &t),
		    0);
		cr_expect_eq(hl7_dtm_epoch(&t, cases[i].tz), cases[i].want,
		    "%s tz %d: %lld", cases[i].in, cases[i].tz,
		    (long long)hl7_dtm_epoch(&t, cases[i].tz));
	}
	memset(&t, 0, sizeof(t));
	cr_expect_eq(hl7_dtm_epoch(&t, 0), -1, "absent DTM");
}

/*
 * The usual forms, YYYYMMDDHHMMSS[+/-ZZZZ], read by a reference written
 * plainly here: 1 and *t when valid, 0 when not.
 */
static int
ref_usual(const char *s, size_t len, struct hl7_dtm *t)
{
	static const int md[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
		31 };
	int v[9], n, i, y, leap;

	for (i = 0; i < 14; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	n = len == 19 ? 9 : 7;
	if (len == 19) {
		if (s[14] != '+' && s[14] != '-')
			return 0;
		for (i = 15; i < 19; i++)
			if (s[i] < '0' || s[i] > '9')
				return 0;
	}
	for (i = 0; i < n; i++) {
		int at = i < 7 ? 2 * i : 15 + 2 * (i - 7);

		v[i] = (s[at] - '0') * 10 + (s[at + 1] - '0');
	}
	y = v[0] * 100 + v[1];
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (v[2] < 1 || v[2] > 12 || v[3] < 1 ||
	    v[3] > md[v[2] - 1] + (v[2] == 2 && leap) || v[4] > 23 ||
	    v[5] > 59 || v[6] > 59)
		return 0;
	if (len == 19 && (v[7] > 14 || v[8] > 59))
		return 0;
	memset(t, 0, sizeof(*t));
	t->year = (int16_t)y;
	t->month = (int8_t)v[2];
	t->day = (int8_t)v[3];
	t->hour = (int8_t)v[4];
	t->minute = (int8_t)v[5];
	t->second = (int8_t)v[6];
	t->precision = 6;
	if (len == 19) {
		t->has_offset = true;
		t->offset_min = (int16_t)((s[14] == '-' ? -1 : 1) *
		    (v[7] * 60 + v[8]));
	}
	return 1;
}

/*
 * hl7_dtm_parse reads the usual forms at once (digits a word at a time):
 * against the reference over dates on and past every month's end, leap
 * years (1900, 2000, 2024, 2100), hours, minutes and seconds one past,
 * offsets on and past +-14:59, and a non-digit at each position.
 */
Test(hl7_dtm, dtm_usual_forms_match_reference)
{
	static const char *const base[] = { "20240229235959", "20230229000000",
		"19000229120000", "20000229120000", "21000301000000",
		"20241231235959", "20240132000000", "20240431000000",
		"20241301000000", "20240001000000", "20240100000000",
		"20240101240000", "20240101236000", "20240101235960",
		"00000101000000", "99991231235959", "20261120073000" };
	static const char *const offs[] = { "", "+0000", "-0000", "+0800",
		"-0330", "+1400", "-1459", "+1500", "+0960", "+08", "+08000" };
	static const char bad[] = { '/', ':', 'a', ' ', '.', '+', '-', '\0' };
	char in[40];
	struct hl7_dtm got, want;
	size_t i, j, k, b, len;
	unsigned n = 0, diff = 0;
	int rc, ok;

	for (i = 0; i < NELEM(base); i++)
		for (j = 0; j < NELEM(offs); j++)
			for (k = 0; k <= 19; k++)
				for (b = 0; b < (k == 19 ? 1 : NELEM(bad));
				     b++) {
					snprintf(in, sizeof(in), "%s%s",
					    base[i], offs[j]);
					len = strlen(in);
					if (k < len && k < 19)
						in[k] = bad[b];
					/* .ZZZZ: seconds' fraction, another form */
					if ((len != 14 && len != 19) ||
					    (len == 19 && in[14] == '.'))
						continue;
					ok = ref_usual(in, len, &want);
					rc = hl7_dtm_parse(in, len, &got);
					n++;
					if ((rc == 0) != (ok == 1) ||
					    (ok &&
						!hl7_dtm_same(&got, &want))) {
						if (diff++ < 5)
							cr_log_error("%.*s: %d",
							    (int)len, in, rc);
					}
				}
	cr_expect_gt(n, 10000, "%u cases", n);
	cr_expect_eq(diff, 0, "%u of %u differ", diff, n);
}

/* A DTM's parts as YYYY-MM-DDTHH:MM:SS into out[32]. */
static void
dtm_parts(const struct hl7_dtm *t, char out[32])
{
	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d", t->year, t->month,
	    t->day, t->hour, t->minute, t->second);
}

Test(hl7_dtm, dtm_from_epoch)
{
	static const struct {
		int64_t t;
		const char *want; /* NULL: out of range */
	} cases[] = {
		{ 0, "1970-01-01T00:00:00" },
		{ -1, "1969-12-31T23:59:59" },
		{ -86400, "1969-12-31T00:00:00" },
		{ -86401, "1969-12-30T23:59:59" },
		{ 86399, "1970-01-01T23:59:59" },
		{ 1795131000, "2026-11-19T23:30:00" },
		{ 1709208000, "2024-02-29T12:00:00" },
		{ 1709251199, "2024-02-29T23:59:59" },
		{ 1709251200, "2024-03-01T00:00:00" },
		{ 951782400, "2000-02-29T00:00:00" },
		{ -2203891200, "1900-03-01T00:00:00" },
		{ -2203977600, "1900-02-28T00:00:00" },
		{ 4107542400, "2100-03-01T00:00:00" },
		{ -62167219200LL, "0000-01-01T00:00:00" },
		{ 253402300799LL, "9999-12-31T23:59:59" },
		{ -62167219201LL, NULL },
		{ 253402300800LL, NULL },
		{ INT64_MIN, NULL },
		{ INT64_MAX, NULL },
	};
	struct hl7_dtm t;
	char got[32];
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		if (cases[i].want == NULL) {
			cr_expect_eq(hl7_dtm_from_epoch(cases[i].t, &t), -1,
			    "%lld accepted", (long long)cases[i].t);
			continue;
		}
		cr_assert_eq(hl7_dtm_from_epoch(cases[i].t, &t), 0, "%lld",
		    (long long)cases[i].t);
		dtm_parts(&t, got);
		cr_expect_str_eq(got, cases[i].want, "%lld",
		    (long long)cases[i].t);
		cr_expect_eq(t.precision, 6);
		cr_expect(t.has_offset && t.offset_min == 0);
		cr_expect_eq(t.frac_digits, 0);
		cr_expect_eq(hl7_dtm_epoch(&t, 480), cases[i].t, "round trip");
	}
}

/* Against gmtime_r, over the whole range, each time of day. */
Test(hl7_dtm, dtm_from_epoch_matches_gmtime)
{
	const int64_t lo = -62167219200LL, hi = 253402300799LL;
	struct hl7_dtm t;
	struct tm tm;
	time_t tt;
	char got[32], want[80];
	int64_t v;
	unsigned bad = 0;

	for (v = lo; v <= hi && v >= lo; v += 3601 * 24 * 7 + 17) {
		tt = (time_t)v;
		cr_assert_eq(hl7_dtm_from_epoch(v, &t), 0);
		gmtime_r(&tt, &tm);
		dtm_parts(&t, got);
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
		if (strcmp(got, want) != 0 || hl7_dtm_epoch(&t, 0) != v) {
			if (bad++ < 5)
				cr_log_error("%lld: %s, gmtime %s",
				    (long long)v, got, want);
		}
	}
	/* Every day of 1899-2101 (hl7_dtm_epoch's fast years and around). */
	for (v = -2240524800LL; v < 4133980800LL; v += 86400 + 3599) {
		cr_assert_eq(hl7_dtm_from_epoch(v, &t), 0);
		if (hl7_dtm_epoch(&t, 0) != v && bad++ < 5)
			cr_log_error("%lld: %lld", (long long)v,
			    (long long)hl7_dtm_epoch(&t, 0));
	}
	cr_expect_eq(bad, 0, "%u differ", bad);
}

/* ------------------------------------------------------------------ */
/* Numbers                                                             */

struct num_case {
	char in[40];
	double want;
};

ParameterizedTestParameters(hl7_dtm, number_good)
{
	static struct num_case cases[] = {
		{ "0.1", 0.1 },
		{ "2.5", 2.5 },
		{ "100", 100 },
		{ "1e-3", 1e-3 },
		{ "123456789012345678", 123456789012345678.0 },
		{ "12.5", 12.5 },
		{ "-3", -3 },
		{ "+7", 7 },
		{ "0", 0 },
		{ "0.3", 0.3 },
		{ "1.32", 1.32 },
		{ "0.07", 0.07 },
		{ ".5", 0.5 },
		{ "5.", 5 },
		{ "007", 7 },
		{ "-0.001", -0.001 },
		{ "1e3", 1000 },
		{ "1E+3", 1000 },
		{ "2.5e-1", 0.25 },
		{ "1.5E2", 150 },
		{ "-4e0", -4 },
		{ "0.123456789012345", 0.123456789012345 }, /* 15 digits */
		{ "999999999999999", 999999999999999.0 },
		{ "1234567890123456", 1234567890123456.0 }, /* 16: strtod */
		{ "9007199254740993", 9007199254740992.0 }, /* 2^53 + 1 */
		{ "0.30000000000000004", 0.30000000000000004 },
		{ "18446744073709551617", 18446744073709551617.0 }, /* > 2^64 */
		{ "1.7976931348623157e308", 1.7976931348623157e308 },
	};

	return cr_make_param_array(struct num_case, cases, NELEM(cases));
}

ParameterizedTest(struct num_case *c, hl7_dtm, number_good)
{
	double d = -12345;

	cr_assert_eq(hl7_number(c->in, strlen(c->in), &d), 0, "\"%s\" rejected",
	    c->in);
	/* Exactly the double the C compiler makes of the same text. */
	cr_expect(d == c->want, "\"%s\": %.17g, want %.17g", c->in, d, c->want);
}

ParameterizedTestParameters(hl7_dtm, number_bad)
{
	static struct num_case cases[] = {
		{ "", 0 },
		{ "-", 0 },
		{ "+", 0 },
		{ ".", 0 },
		{ "-.", 0 },
		{ "1.2.3", 0 },
		{ "1..2", 0 },
		{ "1e", 0 },
		{ "1e+", 0 },
		{ "e5", 0 },
		{ "1e5.5", 0 },
		{ "abc", 0 },
		{ " 1", 0 },
		{ "1 ", 0 },
		{ "0x10", 0 },
		{ "1,5", 0 },
		{ "inf", 0 },
		{ "nan", 0 },
		{ "NaN", 0 },
		{ "--1", 0 },
		{ "+-1", 0 },
		{ "1-", 0 },
		{ "<1", 0 },
		{ "1/2", 0 },
		{ "12.5 mg", 0 },
		{ "1e400", 0 },
		{ "\xd9\xa1", 0 },
	};

	return cr_make_param_array(struct num_case, cases, NELEM(cases));
}

ParameterizedTest(struct num_case *c, hl7_dtm, number_bad)
{
	double d = 0;

	cr_expect_eq(hl7_number(c->in, strlen(c->in), &d), -1,
	    "\"%s\" accepted as %g", c->in, d);
}

Test(hl7_dtm, number_length_is_respected)
{
	double d = 0;

	/* Only s[0..len) counts: "12" of "123", "0.5" of "0.5x". */
	cr_expect_eq(hl7_number("123", 2, &d), 0);
	cr_expect(d == 12);
	cr_expect_eq(hl7_number("0.5x", 3, &d), 0);
	cr_expect(d == 0.5);
	cr_expect_eq(hl7_number("1234567890123456789", 18, &d), 0);
	cr_expect(d == 123456789012345678.0);
	cr_expect_eq(hl7_number("1e3", 0, &d), -1);
}

/*
 * hl7_dtm_same (the CLI keeps the last DTM's text on it): a value that
 * differs in any one part is another value.
 */
Test(hl7_dtm, dtm_same_tells_every_part)
{
	struct hl7_dtm a, b;
	int k;

	cr_assert_eq(hl7_dtm_parse(LIT("20261120073000.12+0800"), &a), 0);
	b = a;
	cr_expect(hl7_dtm_same(&a, &b));
	for (k = 0; k < 11; k++) {
		b = a;
		switch (k) {
		case 0:
			b.year++;
			break;
		case 1:
			b.month++;
			break;
		case 2:
			b.day++;
			break;
		case 3:
			b.hour++;
			break;
		case 4:
			b.minute++;
			break;
		case 5:
			b.second++;
			break;
		case 6:
			b.precision--;
			break;
		case 7:
			b.frac_digits++;
			break;
		case 8:
			b.frac++;
			break;
		case 9:
			b.has_offset = false;
			break;
		default:
			b.offset_min = -480;
			break;
		}
		cr_expect(!hl7_dtm_same(&a, &b), "part %d", k);
	}
	/* The same instant written with another precision is not the same. */
	cr_assert_eq(hl7_dtm_parse(LIT("202611200730"), &a), 0);
	cr_assert_eq(hl7_dtm_parse(LIT("20261120073000"), &b), 0);
	cr_expect(!hl7_dtm_same(&a, &b));
}
