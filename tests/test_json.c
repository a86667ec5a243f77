/*
 * test_json.c: the JSON writer keeps every output line valid JSON and
 * valid UTF-8, whatever bytes a sender put in a field, and writes exactly
 * the bytes its printf-based first version wrote (kept below as the
 * reference: labwatch parse's output is an interface).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

/* Every unchecked append checked against its reservation, here too. */
#define JSON_ROOM_CHECKS 1
#include "lib/json.h"

/* ---- the reference: the writer as it was, printf and all ---- */

static size_t
ref_utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len, i;
	uint32_t cp;

	if (c < 0xc2 || c > 0xf4)
		return 0;
	len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (n < len)
		return 0;
	cp = c & (0x3f >> (len - 1));
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

static void
ref_str(struct buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	size_t u;

	buf_addc(b, '"');
	for (; p < end; p++) {
		switch (*p) {
		case '"':
			buf_add(b, "\\\"", 2);
			continue;
		case '\\':
			buf_add(b, "\\\\", 2);
			continue;
		case '\n':
			buf_add(b, "\\n", 2);
			continue;
		case '\r':
			buf_add(b, "\\r", 2);
			continue;
		case '\t':
			buf_add(b, "\\t", 2);
			continue;
		default:
			break;
		}
		if (*p < 0x20 || *p == 0x7f)
			buf_printf(b, "\\u%04x", *p);
		else if (*p < 0x80)
			buf_addc(b, (char)*p);
		else if ((u = ref_utf8_len(p, (size_t)(end - p))) > 0) {
			buf_add(b, p, u);
			p += u - 1;
		} else
			buf_add(b, "\xef\xbf\xbd", 3);
	}
	buf_addc(b, '"');
}

static void
ref_num(struct buf *b, double v)
{
	char tmp[32];
	int prec;

	if (!isfinite(v)) {
		buf_add(b, "null", 4);
		return;
	}
	if (fabs(v) < 1e15 && v == (double)(int64_t)v) {
		buf_printf(b, "%lld", (long long)v);
		return;
	}
	for (prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	buf_adds(b, tmp);
}

static void
ref_num_rounded(struct buf *b, double v)
{
	if (!isfinite(v))
		buf_add(b, "null", 4);
	else
		buf_printf(b, "%.12g", v);
}

/* json_str(in) must equal the reference; returns 1 if it does. */
static int
str_matches_ref(const char *in, size_t len, char **got_out)
{
	struct buf got, want;
	int same;

	buf_init(&got);
	buf_init(&want);
	json_str(&got, in, len);
	ref_str(&want, in, len);
	same = got.len == want.len && memcmp(got.p, want.p, got.len) == 0 &&
	    got.p[got.len] == '\0';
	if (got_out != NULL)
		*got_out = got.p;
	else
		buf_free(&got);
	buf_free(&want);
	return same;
}

/* ---- the span escaper: a table of cases with their exact output ---- */

/* Arrays, not pointers: Criterion hands the cases to another process. */
struct str_case {
	char name[48];
	char in[32];
	size_t len;
	char out[64];
};

#define S(name, in, out) \
	{ \
		name, in, sizeof(in) - 1, out \
	}

ParameterizedTestParameters(json, strings)
{
	static struct str_case cases[] = {
		S("empty", "", "\"\""),
		S("1 ASCII byte", "a", "\"a\""),
		S("2 ASCII bytes", "ab", "\"ab\""),
		S("3 ASCII bytes", "abc", "\"abc\""),
		S("4 ASCII bytes", "abcd", "\"abcd\""),
		S("7 ASCII bytes", "mmol/L!", "\"mmol/L!\""),
		S("8 ASCII bytes", "10*9/L x", "\"10*9/L x\""),
		S("9 ASCII bytes", "umol/L ab", "\"umol/L ab\""),
		S("16 ASCII bytes", "0123456789abcdef", "\"0123456789abcdef\""),
		S("17 ASCII bytes", "0123456789abcdefg",
		    "\"0123456789abcdefg\""),
		S("space and tilde", " ~{}|", "\" ~{}|\""),
		S("quote alone", "\"", "\"\\\"\""),
		S("backslash alone", "\\", "\"\\\\\""),
		S("quote and backslash", "a\"b\\c", "\"a\\\"b\\\\c\""),
		S("quote at byte 8 of 9", "abcdefgh\"", "\"abcdefgh\\\"\""),
		S("backslash at byte 1 of 9", "\\bcdefghi", "\"\\\\bcdefghi\""),
		S("quote in the overlap of 12", "abcdefghi\"kl",
		    "\"abcdefghi\\\"kl\""),
		S("quote at byte 4 of 6", "abc\"ef", "\"abc\\\"ef\""),
		S("quote in the middle of 3", "a\"c", "\"a\\\"c\""),
		S("short escapes", "l1\nl2\r\t", "\"l1\\nl2\\r\\t\""),
		S("backspace and form feed: \\u form", "\b\f",
		    "\"\\u0008\\u000c\""),
		S("NUL", "nul\0x", "\"nul\\u0000x\""),
		S("0x01 0x1f DEL", "\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\""),
		S("DEL at end of a word", "abcdefg\x7f", "\"abcdefg\\u007f\""),
		S("2-byte UTF-8",
		    "Gr\xc3\xb6\xc3\x9f"
		    "e",
		    "\"Gr\xc3\xb6\xc3\x9f"
		    "e\""),
		S("lowest 2-byte", "\xc2\x80", "\"\xc2\x80\""),
		S("3-byte UTF-8 (euro)", "\xe2\x82\xac", "\"\xe2\x82\xac\""),
		S("highest 3-byte (U+FFFF)", "\xef\xbf\xbf",
		    "\"\xef\xbf\xbf\""),
		S("4-byte UTF-8", "\xf0\x9f\xa7\xaa", "\"\xf0\x9f\xa7\xaa\""),
		S("U+10FFFF", "\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""),
		S("UTF-8 inside a long run", "Mueller \xc3\xbc ok ok ok",
		    "\"Mueller \xc3\xbc ok ok ok\""),
		S("Latin-1 bytes: U+FFFD",
		    "Gr\xf6\xdf"
		    "e",
		    "\"Gr\xef\xbf\xbd\xef\xbf\xbd"
		    "e\""),
		S("overlong 2-byte", "\xc0\xaf",
		    "\"\xef\xbf\xbd\xef\xbf\xbd\""),
		S("overlong 2-byte C1", "\xc1\xbf",
		    "\"\xef\xbf\xbd\xef\xbf\xbd\""),
		S("overlong 3-byte", "\xe0\x80\xaf",
		    "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""),
		S("overlong 4-byte", "\xf0\x80\x80\xaf",
		    "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""),
		S("surrogate D800", "\xed\xa0\x80",
		    "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""),
		S("surrogate DFFF", "\xed\xbf\xbf",
		    "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""),
		S("past U+10FFFF", "\xf4\x90\x80\x80",
		    "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""),
		S("F5 lead byte", "\xf5\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\""),
		S("FF byte",
		    "a\xff"
		    "b",
		    "\"a\xef\xbf\xbd"
		    "b\""),
		S("lone continuation",
		    "\x80"
		    "abc",
		    "\"\xef\xbf\xbd"
		    "abc\""),
		S("truncated 2-byte at end", "abc\xc3", "\"abc\xef\xbf\xbd\""),
		S("truncated 3-byte at end", "abcdefgh\xe2\x82",
		    "\"abcdefgh\xef\xbf\xbd\xef\xbf\xbd\""),
		S("truncated 4-byte at end", "\xf0\x9f\x98",
		    "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""),
		S("lead byte then ASCII",
		    "\xe2"
		    "ab",
		    "\"\xef\xbf\xbd"
		    "ab\""),
	};

	return cr_make_param_array(struct str_case, cases,
	    sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct str_case *c, json, strings)
{
	struct buf b;
	char *got;

	buf_init(&b);
	json_str(&b, c->in, c->len);
	cr_expect_eq(b.len, strlen(c->out), "%s: length %zu", c->name, b.len);
	cr_expect_str_eq(b.p, c->out, "%s", c->name);
	buf_free(&b);
	cr_expect(str_matches_ref(c->in, c->len, &got),
	    "%s: differs from the printf writer", c->name);
	free(got);
}

/* Every control byte (and DEL) alone and inside runs of every length. */
Test(json, every_control_byte)
{
	char in[40], want[16];
	struct buf b;
	unsigned c;
	size_t n, pos;

	for (c = 0; c < 0x80; c++) {
		if (c >= 0x20 && c != 0x7f)
			continue;
		buf_init(&b);
		in[0] = (char)c;
		json_str(&b, in, 1);
		if (c == '\n' || c == '\r' || c == '\t')
			snprintf(want, sizeof(want), "\"\\%c\"",
			    c == '\n'	  ? 'n' :
				c == '\r' ? 'r' :
					    't');
		else
			snprintf(want, sizeof(want), "\"\\u%04x\"", c);
		cr_expect_str_eq(b.p, want, "byte 0x%02x", c);
		buf_free(&b);
		for (n = 1; n <= 24; n++)
			for (pos = 0; pos < n; pos++) {
				memset(in, 'x', n);
				in[pos] = (char)c;
				cr_expect(str_matches_ref(in, n, NULL),
				    "byte 0x%02x at %zu of %zu", c, pos, n);
			}
	}
}

/* All strings of one and two bytes: 65,792 of them. */
Test(json, all_short_strings)
{
	unsigned char in[2];
	unsigned i, j, bad = 0;

	for (i = 0; i < 256; i++) {
		in[0] = (unsigned char)i;
		bad += !str_matches_ref((char *)in, 1, NULL);
		for (j = 0; j < 256; j++) {
			in[1] = (unsigned char)j;
			bad += !str_matches_ref((char *)in, 2, NULL);
		}
	}
	cr_expect_eq(bad, 0, "%u short strings differ", bad);
}

/* 10^e for |e| <= 30, without libm (the test links only libhl7). */
static double
ten_to(int e)
{
	double p = 1;
	int i;

	for (i = 0; i < (e < 0 ? -e : e); i++)
		p *= 10;
	return e < 0 ? 1 / p : p;
}

/* The double next to v (v > 0) away from zero (up) or toward it. */
static double
neighbour(double v, int up)
{
	uint64_t bits;

	memcpy(&bits, &v, sizeof(bits));
	bits = up ? bits + 1 : bits - 1;
	memcpy(&v, &bits, sizeof(v));
	return v;
}

/* xorshift: the same "random" strings on every run. */
static uint64_t
next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Bytes as fields hold them: mostly ASCII, some UTF-8 (valid or cut), some junk. */
static size_t
random_field(uint64_t *s, unsigned char *p, size_t cap)
{
	static const char *const pieces[] = {
		"\xc3\xa9",
		"\xe2\x82\xac",
		"\xf0\x9f\x98\x80",
		"\xc3",
		"\xe2\x82",
		"\xf0\x9f\x98",
		"\xed\xa0\x80",
		"\xc0\xaf",
		"\xf4\x90\x80\x80",
		"\"",
		"\\",
		"\n",
		"\x7f",
		"\x01",
	};
	size_t n = 0, want = next_rand(s) % 40, k;
	uint64_t r;

	while (n < want && n + 4 < cap) {
		r = next_rand(s) % 100;
		if (r < 80)
			p[n++] = (unsigned char)(0x20 + next_rand(s) % 0x5f);
		else if (r < 95) {
			k = next_rand(s) % (sizeof(pieces) / sizeof(pieces[0]));
			memcpy(p + n, pieces[k], strlen(pieces[k]));
			n += strlen(pieces[k]);
		} else
			p[n++] = (unsigned char)next_rand(s);
	}
	return n;
}

Test(json, random_fields_match_printf_writer)
{
	unsigned char in[64];
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	unsigned i, bad = 0;
	size_t n;

	for (i = 0; i < 200000; i++) {
		n = random_field(&seed, in, sizeof(in));
		if (!str_matches_ref((char *)in, n, NULL) && bad++ < 5)
			cr_log_error("field %u differs", i);
	}
	cr_expect_eq(bad, 0, "%u random fields differ", bad);
}

/* A field larger than one escaping chunk, sequences cut at its seams. */
Test(json, huge_field)
{
	size_t len = 3 * 65536 + 1000, i, seam;
	unsigned char *in = malloc(len);
	uint64_t seed = 42;
	size_t n = 0;

	cr_assert_not_null(in);
	while (n < len) {
		unsigned char field[64];
		size_t k = random_field(&seed, field, sizeof(field));

		if (k > len - n)
			k = len - n;
		memcpy(in + n, field, k);
		n += k;
	}
	cr_expect(str_matches_ref((char *)in, len, NULL), "random 197 KB");
	/* A 2-, 3- and 4-byte sequence across each seam of 65536 bytes. */
	for (seam = 65536; seam < len; seam += 65536)
		for (i = 1; i <= 3; i++) {
			memset(in, 'a', len);
			memcpy(in + seam - i, "\xf0\x9f\x98\x80", 4);
			cr_expect(str_matches_ref((char *)in, len, NULL),
			    "4-byte sequence %zu bytes before seam %zu", i,
			    seam);
			memset(in, 'a', len);
			memcpy(in + seam - 1, "\xe2\x82\xac", 3);
			cr_expect(str_matches_ref((char *)in, len, NULL),
			    "3-byte sequence at seam %zu", seam);
		}
	/* ... and one cut short by the end of the field. */
	memset(in, 'b', len);
	memcpy(in + len - 2, "\xf0\x9f", 2);
	cr_expect(str_matches_ref((char *)in, len, NULL), "cut at the end");
	free(in);
}

/* ---- numbers: exact output, and the same as printf's ---- */

struct num_case {
	char name[48];
	double v;
	char num[32];	  /* json_num */
	char rounded[32]; /* json_num_rounded */
};

ParameterizedTestParameters(json, numbers)
{
	static struct num_case cases[] = {
		{ "zero", 0.0, "0", "0" },
		{ "negative zero", -0.0, "0", "-0" },
		{ "integer", 88, "88", "88" },
		{ "negative integer", -3, "-3", "-3" },
		{ "integer 1e15 - 1", 999999999999999.0, "999999999999999",
		    "1e+15" },
		{ "1e15 (printf's exponent form)", 1e15, "1e+15", "1e+15" },
		{ "2^53 + 2", 9007199254740994.0, "9007199254740994",
		    "9.00719925474e+15" },
		{ "huge", 1e300, "1e+300", "1e+300" },
		{ "largest double", DBL_MAX, "1.7976931348623157e+308",
		    "1.79769313486e+308" },
		{ "tiny", 1e-300, "1e-300", "1e-300" },
		{ "smallest subnormal", 4.9406564584124654e-324,
		    "4.94065645841247e-324", "4.94065645841e-324" },
		{ "1e-5: exponent form", 1e-5, "1e-05", "1e-05" },
		{ "1e-4: still fixed", 1e-4, "0.0001", "0.0001" },
		{ "0.1", 0.1, "0.1", "0.1" },
		{ "0.5", 0.5, "0.5", "0.5" },
		{ "2.5", 2.5, "2.5", "2.5" },
		{ "3.42", 3.42, "3.42", "3.42" },
		{ "0.2 mg/dL as umol/L", 0.2 * 17.1, "3.4200000000000004",
		    "3.42" },
		{ "0.1 + 0.2 (17 digits)", 0.1 + 0.2, "0.30000000000000004",
		    "0.3" },
		{ "1/3 (16 digits)", 1.0 / 3, "0.3333333333333333",
		    "0.333333333333" },
		{ "2/3", 2.0 / 3, "0.6666666666666666", "0.666666666667" },
		{ "123456.789", 123456.789, "123456.789", "123456.789" },
		{ "-0.001", -0.001, "-0.001", "-0.001" },
		{ "15 significant digits", 0.123456789012345,
		    "0.123456789012345", "0.123456789012" },
		{ "x ULN 88/40", 88.0 / 40.0, "2.2", "2.2" },
		{ "12-digit tie rounds to even (up)", 123456789011.5,
		    "123456789011.5", "123456789012" },
		{ "12-digit tie rounds to even (down)", 123456789012.5,
		    "123456789012.5", "123456789012" },
		{ "rounding carries to a new digit", 9.9999999999999,
		    "9.9999999999999", "10" },
		{ "1e12: rounded's exponent form", 1e12, "1000000000000",
		    "1e+12" },
		{ "just under 1e12", 999999999999.4, "999999999999.4",
		    "999999999999" },
		{ "small with 12 digits", 0.000123456789012345,
		    "0.000123456789012345", "0.000123456789012" },
		{ "1e21", 1e21, "1e+21", "1e+21" },
		/* the fixed forms at each end of their words */
		{ "15 digits, negative, exponent 13", -12345678901234.5,
		    "-12345678901234.5", "-1.23456789012e+13" },
		{ "12 digits, negative, exponent 11", -123456789012.25,
		    "-123456789012.25", "-123456789012" },
		{ "15 digits, exponent -4", -0.000123456789012345,
		    "-0.000123456789012345", "-0.000123456789012" },
		{ "trailing zeros after rounding", 0.1000000000004,
		    "0.1000000000004", "0.1" },
		{ "12 digits, tie at 1e11 rounds to even", 100000000000.5,
		    "100000000000.5", "100000000000" },
		{ "12 digits, tie rounds up to even", 100000000001.5,
		    "100000000001.5", "100000000002" },
		{ "12 nines round to 1e12", 999999999999.5, "999999999999.5",
		    "1e+12" },
		{ "one digit at 10^11", 300000000000.25, "300000000000.25",
		    "300000000000" },
		{ "NaN", NAN, "null", "null" },
		{ "infinity", INFINITY, "null", "null" },
		{ "minus infinity", -INFINITY, "null", "null" },
	};

	return cr_make_param_array(struct num_case, cases,
	    sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct num_case *c, json, numbers)
{
	struct buf b, ref;

	buf_init(&b);
	buf_init(&ref);
	json_num(&b, c->v);
	ref_num(&ref, c->v);
	cr_expect_str_eq(b.p, c->num, "json_num(%s)", c->name);
	cr_expect_str_eq(b.p, ref.p, "json_num(%s) vs printf", c->name);
	buf_reset(&b);
	buf_reset(&ref);
	json_num_rounded(&b, c->v);
	ref_num_rounded(&ref, c->v);
	cr_expect_str_eq(b.p, c->rounded, "json_num_rounded(%s)", c->name);
	cr_expect_str_eq(b.p, ref.p, "json_num_rounded(%s) vs printf", c->name);
	buf_free(&b);
	buf_free(&ref);
}

/*
 * json_cur_num_rounded_memo_unchecked writes what json_num_rounded writes,
 * whether its memo holds the value (repeats), another one, or one whose
 * bytes differ and compare equal (0 and -0), or none that compares equal
 * to itself (NaN); two memos keep their own numbers.
 */
Test(json, rounded_memo_writes_what_rounded_writes)
{
	static const double seq[] = { 88, 88, 40, 0.0, -0.0, -0.0, 0.0, NAN,
		NAN, 2.2, 1.0 / 3, 1.0 / 3, 123456789011.5, 1e-300, INFINITY,
		88 };
	struct json_num_memo m[2];
	struct buf got, want;
	struct json_cur c;
	size_t i;

	memset(m, 0, sizeof m);
	buf_init(&got);
	buf_init(&want);
	for (i = 0; i < sizeof seq / sizeof seq[0]; i++) {
		buf_reset(&got);
		buf_reset(&want);
		json_cur_start(&c, &got);
		json_cur_reserve(&c, 2 * JSON_NUM_ROOM + 1);
		json_cur_num_rounded_memo_unchecked(&c, &m[i % 2], seq[i]);
		json_cur_lit_unchecked(&c, ",");
		json_cur_num_rounded_memo_unchecked(&c, &m[0], seq[i]);
		json_cur_end(&c);
		json_num_rounded(&want, seq[i]);
		buf_addc(&want, ',');
		json_num_rounded(&want, seq[i]);
		buf_addc(&want, '\0');
		buf_addc(&got, '\0');
		cr_expect_str_eq(got.p, want.p, "value %zu (%.17g)", i, seq[i]);
	}
	buf_free(&got);
	buf_free(&want);
}

/* Both number writers against printf for one value; 1 if they agree. */
static int
num_matches_ref(double v)
{
	struct buf a, r;
	int same;

	buf_init(&a);
	buf_init(&r);
	json_num(&a, v);
	ref_num(&r, v);
	same = strcmp(a.p, r.p) == 0;
	buf_reset(&a);
	buf_reset(&r);
	json_num_rounded(&a, v);
	ref_num_rounded(&r, v);
	same = same && strcmp(a.p, r.p) == 0;
	if (!same)
		cr_log_error("%.17g: %s vs %s", v, a.p, r.p);
	buf_free(&a);
	buf_free(&r);
	return same;
}

/*
 * Values as lab results and conversions make them (a few decimals, then
 * times a unit factor or over a limit), every power of ten's neighbours,
 * and random bit patterns: 400,000 values against printf.
 */
Test(json, numbers_match_printf)
{
	static const double factors[] = { 1, 17.1, 88.4, 0.0555, 10, 1e-3,
		1.0 / 40, 1.0 / 3, 0.01 };
	uint64_t seed = 12345, bits;
	unsigned i, bad = 0;
	int e, k;
	double v, p;

	for (i = 0; i < 300000; i++) {
		k = (int)(next_rand(&seed) % 7);
		v = (double)(next_rand(&seed) % 10000000) / ten_to(k);
		v *= factors[next_rand(&seed) %
		    (sizeof(factors) / sizeof(factors[0]))];
		if (next_rand(&seed) & 1)
			v = -v;
		bad += !num_matches_ref(v);
	}
	for (e = -30; e <= 30; e++) {
		p = ten_to(e);
		bad += !num_matches_ref(p);
		bad += !num_matches_ref(neighbour(p, 0));
		bad += !num_matches_ref(neighbour(p, 1));
		bad += !num_matches_ref(p * 0.5);
		bad += !num_matches_ref(p * 9.99999999999949);
		bad += !num_matches_ref(p * 9.9999999999995);
		bad += !num_matches_ref(p * 9.99999999999999);
	}
	for (i = 0; i < 100000; i++) {
		bits = next_rand(&seed);
		memcpy(&v, &bits, sizeof(v));
		bad += !num_matches_ref(v);
	}
	cr_expect_eq(bad, 0, "%u values differ from printf", bad);
}

Test(json, integers)
{
	static const int64_t ints[] = { 0, 1, -1, 9, 10, 99, 100, 12345,
		-987654321, INT64_MAX, INT64_MIN };
	static const uint64_t uints[] = { 0, 7, 10, 4294967296ULL, UINT64_MAX };
	struct buf b;
	char want[32];
	size_t i;

	buf_init(&b);
	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		buf_reset(&b);
		json_int(&b, ints[i]);
		snprintf(want, sizeof(want), "%lld", (long long)ints[i]);
		cr_expect_str_eq(b.p, want);
	}
	for (i = 0; i < sizeof(uints) / sizeof(uints[0]); i++) {
		buf_reset(&b);
		json_uint(&b, uints[i]);
		snprintf(want, sizeof(want), "%llu",
		    (unsigned long long)uints[i]);
		cr_expect_str_eq(b.p, want);
	}
	buf_free(&b);
}

Test(json, null_forms)
{
	struct buf b;

	buf_init(&b);
	json_strz(&b, NULL);
	json_str_or_null(&b, "x", 0);
	json_num(&b, 0.0 / 0.0);
	json_key(&b, "k", false);
	json_key(&b, "first", true);
	cr_expect_str_eq(b.p, "nullnullnull,\"k\":\"first\":");
	cr_expect_eq(b.len, strlen(b.p));
	buf_free(&b);
}

/* Appends keep the buffer NUL-terminated and grow it past its first size. */
Test(json, buffer_growth)
{
	struct buf b;
	size_t i;

	buf_init(&b);
	for (i = 0; i < 10000; i++) {
		json_str(&b, "abc", 3);
		buf_addc(&b, ',');
	}
	cr_expect_eq(b.len, 6 * 10000);
	cr_expect_eq(b.p[b.len], '\0');
	cr_expect_eq(memcmp(b.p + b.len - 6, "\"abc\",", 6), 0);
	buf_free(&b);
}

/*
 * One byte of every value at every position of plain strings of 1 to 48
 * bytes: the 8-, 16- and overlapping-word checks of json_put_str must
 * each see it, whatever word it falls in.
 */
Test(json, one_byte_in_every_word)
{
	char in[48];
	unsigned c, bad = 0;
	size_t n, pos;

	for (n = 1; n <= sizeof(in); n++)
		for (pos = 0; pos < n; pos++)
			for (c = 0; c < 256; c++) {
				memset(in, 'k', sizeof(in));
				in[pos] = (char)c;
				if (!str_matches_ref(in, n, NULL) && bad++ < 5)
					cr_log_error(
					    "byte 0x%02x at %zu of %zu", c, pos,
					    n);
			}
	cr_expect_eq(bad, 0, "%u strings differ", bad);
}

/* Everything written at a cursor, and the same through the buf writers. */
static void
cursor_write(struct buf *b, const char *s, size_t len, double v)
{
	struct json_cur c;

	json_cur_start(&c, b);
	json_cur_lit(&c, "{\"s\":");
	json_cur_str_or_null(&c, s, len);
	json_cur_lit(&c, ",\"z\":");
	json_cur_strz(&c, len > 0 ? "" : NULL);
	json_cur_lit(&c, ",\"n\":");
	json_cur_num(&c, v);
	json_cur_lit(&c, ",\"r\":");
	json_cur_num_rounded(&c, v * 3);
	json_cur_lit(&c, ",\"i\":");
	json_cur_int(&c, -(int64_t)len);
	json_cur_lit(&c, ",\"u\":");
	json_cur_uint(&c, UINT64_MAX - len);
	json_cur_lit(&c, "}");
	json_cur_end(&c);
}

static void
buf_write(struct buf *b, const char *s, size_t len, double v)
{
	json_key(b, "s", true);
	json_str_or_null(b, s, len);
	json_key(b, "z", false);
	json_strz(b, len > 0 ? "" : NULL);
	json_key(b, "n", false);
	json_num(b, v);
	json_key(b, "r", false);
	json_num_rounded(b, v * 3);
	json_key(b, "i", false);
	json_int(b, -(int64_t)len);
	json_key(b, "u", false);
	json_uint(b, UINT64_MAX - len);
}

/*
 * Random fields, empty ones and fields past JSON_STR_CHUNK (written by
 * json_str between two cursors), in one buffer that grows on the way.
 */
Test(json, cursor_matches_buf_writers)
{
	static const size_t big[] = { JSON_STR_CHUNK, JSON_STR_CHUNK + 1,
		3 * JSON_STR_CHUNK + 7 };
	unsigned char in[64];
	uint64_t seed = 7;
	struct buf got, want;
	char *huge;
	size_t i, n;

	buf_init(&got);
	buf_init(&want);
	for (i = 0; i < 20000; i++) {
		n = random_field(&seed, in, sizeof(in));
		cursor_write(&got, (char *)in, n, (double)n / 7 - 2);
		buf_addc(&want, '{');
		buf_write(&want, (char *)in, n, (double)n / 7 - 2);
		buf_addc(&want, '}');
	}
	huge = malloc(big[2]);
	cr_assert_not_null(huge);
	memset(huge, 'h', big[2]);
	memcpy(huge + JSON_STR_CHUNK - 2, "\"\xe2\x82\xac\n", 5);
	for (i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		cursor_write(&got, huge, big[i], 1e300);
		buf_addc(&want, '{');
		buf_write(&want, huge, big[i], 1e300);
		buf_addc(&want, '}');
	}
	cr_expect_eq(got.len, want.len);
	cr_expect(memcmp(got.p, want.p, want.len) == 0, "cursor differs");
	cr_expect_eq(got.p[got.len], '\0');
	free(huge);
	buf_free(&got);
	buf_free(&want);
}

/* Integers on each side of json_num_rounded's 12-digit shortcut. */
Test(json, rounded_integers_match_printf)
{
	static const double ints[] = { 1, 40, -7, 100, 999999999999.0,
		-999999999999.0, 1e12, 1e12 + 1, -1e12 - 1, 123456789012.0,
		1234567890123.0, 4503599627370496.0, 9007199254740993.0, 1e15,
		-1e16, 1e19, 1e300 };
	unsigned i, bad = 0;

	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		if (!num_matches_ref(ints[i]) && bad++ < 5)
			cr_log_error("%.17g differs", ints[i]);
	cr_expect_eq(bad, 0, "%u integers differ from printf", bad);
}

/*
 * The put writers store whole words past what they write: never past
 * JSON_NUM_ROOM (the longest forms, negative, at each exponent).
 */
Test(json, put_numbers_stay_in_room)
{
	static const double vs[] = { -12345678901234.5, -123456789012345.0,
		-0.000123456789012345, -1.23456789012345e-5, -DBL_MAX,
		-4.9406564584124654e-324, -999999999999.5, -0.1 / 3, -1e15 / 3,
		INT64_MIN };
	char room[JSON_NUM_ROOM + 16], *e;
	size_t i, k;
	int which;

	for (i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
		for (which = 0; which < 2; which++) {
			memset(room, '#', sizeof(room));
			e = which ? json_put_num_rounded(room, vs[i]) :
				    json_put_num(room, vs[i]);
			cr_expect(e - room <= 25, "%.17g: %d bytes", vs[i],
			    (int)(e - room));
			for (k = JSON_NUM_ROOM; k < sizeof(room); k++)
				cr_expect_eq(room[k], '#', "%.17g: byte %zu",
				    vs[i], k);
		}
	}
}

/* ---- reservations: unchecked appends in room reserved once ---- */

struct resv_case {
	const char *name;
	size_t len; /* of the string field */
	int fill;   /* its bytes: one that needs \u00XX, a quote, or 'k' */
	bool spill; /* start with less room left in the buf than reserved */
};

/*
 * The string, a number and a literal written in a reservation of exactly
 * their sum, then after it a checked append: the same bytes as the
 * checked writers, and no JSON_ROOM_CHECKS abort.
 */
static void
resv_write(struct buf *b, const char *s, size_t len, double v)
{
	struct json_cur c;

	json_cur_start(&c, b);
	json_cur_reserve(&c,
	    5 + json_str_resv(len) + 5 + JSON_NUM_ROOM + 5 + json_str_resv(0) +
		5 + JSON_NUM_ROOM + 2 * 5 + 2 * json_str_resv(0) + 5 +
		json_str_resv(len) + 1);
	json_cur_lit_unchecked(&c, "{\"s\":");
	json_cur_str_or_null_unchecked(&c, s, len);
	json_cur_lit_unchecked(&c, ",\"n\":");
	json_cur_num_unchecked(&c, v);
	json_cur_lit_unchecked(&c, ",\"z\":");
	json_cur_str_or_null_unchecked(&c, "", 0);
	json_cur_lit_unchecked(&c, ",\"r\":");
	json_cur_num_rounded_unchecked(&c, v * 3);
	json_cur_lit_unchecked(&c, ",\"a\":");
	json_cur_strz_unchecked(&c, NULL, 0);
	json_cur_lit_unchecked(&c, ",\"b\":");
	json_cur_strz_unchecked(&c, "", 0);
	json_cur_lit_unchecked(&c, ",\"c\":");
	json_cur_strz_unchecked(&c, s, len);
	json_cur_lit_unchecked(&c, "}");
	json_cur_int(&c, -(int64_t)len); /* checked, after it */
	json_cur_end(&c);
}

static void
resv_ref(struct buf *b, const char *s, size_t len, double v)
{
	buf_addc(b, '{');
	json_key(b, "s", true);
	json_str_or_null(b, s, len);
	json_key(b, "n", false);
	json_num(b, v);
	json_key(b, "z", false);
	json_str_or_null(b, "", 0);
	json_key(b, "r", false);
	json_num_rounded(b, v * 3);
	json_key(b, "a", false);
	json_strz(b, NULL);
	json_key(b, "b", false);
	json_strz(b, "");
	json_key(b, "c", false);
	json_str(b, s, len); /* strz: "" when empty */
	buf_addc(b, '}');
	json_int(b, -(int64_t)len);
}

ParameterizedTestParameters(json, reservations)
{
	static struct resv_case cases[] = {
		{ "empty: null", 0, 'k', false },
		{ "one plain byte", 1, 'k', false },
		{ "one control byte: all 6 bytes of its room", 1, 1, false },
		{ "a chunk of control bytes: 6x fills the room", JSON_STR_CHUNK,
		    1, false },
		{ "a chunk of quotes", JSON_STR_CHUNK, '"', true },
		{ "a chunk of plain bytes, little room left", JSON_STR_CHUNK,
		    'k', true },
		{ "one past a chunk: through the buf, then reserved again",
		    JSON_STR_CHUNK + 1, 1, false },
		{ "three chunks of control bytes", 3 * JSON_STR_CHUNK, 0x7f,
		    true },
	};

	return cr_make_param_array(struct resv_case, cases,
	    sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct resv_case *rc, json, reservations)
{
	struct buf got, want;
	char *s = malloc(rc->len + 1);
	size_t pad;

	cr_assert_not_null(s);
	memset(s, rc->fill, rc->len);
	buf_init(&got);
	buf_init(&want);
	/* leave a few bytes of the buf's room: the reservation must grow it */
	pad = rc->spill ? 65536 - 7 : 3;
	buf_reserve(&got, pad);
	memset(got.p, 'x', pad);
	got.len = pad;
	buf_reserve(&want, pad);
	memset(want.p, 'x', pad);
	want.len = pad;
	resv_write(&got, s, rc->len, -0.1 / 3);
	resv_ref(&want, s, rc->len, -0.1 / 3);
	cr_expect_eq(got.len, want.len, "%s: %zu bytes, want %zu", rc->name,
	    got.len, want.len);
	cr_expect(got.len == want.len && memcmp(got.p, want.p, got.len) == 0,
	    "%s: bytes differ", rc->name);
	cr_expect_eq(got.p[got.len], '\0', "%s: NUL-terminated", rc->name);
	buf_free(&got);
	buf_free(&want);
	free(s);
}

/* One byte more than reserved: JSON_ROOM_CHECKS builds abort. */
Test(json, reservation_overrun_aborts, .signal = SIGABRT)
{
	struct buf b;
	struct json_cur c;

	buf_init(&b);
	json_cur_start(&c, &b);
	json_cur_reserve(&c, 3);
	json_cur_lit_unchecked(&c, "null");
}

/*
 * A checked append reserves nothing for the unchecked ones after it: a
 * number's 40 bytes of room, 1 written, leave none to an unchecked
 * append made with no reservation.
 */
Test(json, checked_append_reserves_nothing, .signal = SIGABRT)
{
	struct buf b;
	struct json_cur c;

	buf_init(&b);
	json_cur_start(&c, &b);
	json_cur_int(&c, 1);
	json_cur_lit_unchecked(&c, "x");
}

/* ... nor takes more of a reservation than it writes. */
Test(json, checked_append_in_reservation)
{
	struct buf b;
	struct json_cur c;

	buf_init(&b);
	json_cur_start(&c, &b);
	json_cur_reserve(&c, 4);
	json_cur_lit(&c, "ab");
	json_cur_lit_unchecked(&c, "cd");
	json_cur_end(&c);
	cr_expect_str_eq(b.p, "abcd");
	buf_free(&b);
}

/*
 * A checked string over a chunk in a reservation goes through the buf
 * and leaves the reservation's rest, as the unchecked one does.
 */
Test(json, checked_long_string_keeps_reservation)
{
	struct buf got, want;
	struct json_cur c;
	size_t len = JSON_STR_CHUNK + 1;
	char *s = malloc(len);

	cr_assert_not_null(s);
	memset(s, 'k', len);
	buf_init(&got);
	buf_init(&want);
	json_cur_start(&c, &got);
	json_cur_reserve(&c, 6);
	json_cur_lit_unchecked(&c, "[");
	json_cur_str_or_null(&c, s, len);
	json_cur_lit_unchecked(&c, ",null");
	json_cur_end(&c);
	buf_addc(&want, '[');
	json_str(&want, s, len);
	buf_add(&want, ",null", 5);
	cr_expect(got.len == want.len && memcmp(got.p, want.p, got.len) == 0);
	buf_free(&got);
	buf_free(&want);
	free(s);
}

/* A string's room counted one short aborts too. */
Test(json, reservation_string_overrun_aborts, .signal = SIGABRT)
{
	struct buf b;
	struct json_cur c;

	buf_init(&b);
	json_cur_start(&c, &b);
	json_cur_reserve(&c, json_str_resv(2) - 3);
	json_cur_str_or_null_unchecked(&c, "\x01\x02", 2);
}

/* ---- a number's own text, copied when json_num would write it ---- */

/* 1 when json_num_text_is_shortest(s) is right to say s (or says no). */
static int
num_text_sound(const char *s)
{
	struct buf b;
	int ok = 1;

	if (!json_num_text_is_shortest(s, strlen(s)))
		return 1;
	buf_init(&b);
	json_num(&b, strtod(s, NULL));
	if (strcmp(b.p, s) != 0) {
		cr_log_error("\"%s\" taken as is, json_num writes %s", s, b.p);
		ok = 0;
	}
	buf_free(&b);
	return ok;
}

Test(json, num_text_table)
{
	static const struct {
		const char *s;
		bool want;
	} cases[] = {
		{ "0", true },
		{ "-0", false }, /* json_num writes 0 */
		{ "88", true },
		{ "-3", true },
		{ "1.16", true },
		{ "-0.5", true },
		{ "0.0001", true },
		{ "0.00001", false }, /* 1e-05 */
		{ "0.000123456789012345", true },
		{ "999999999999999", true },
		{ "1000000000000000", false }, /* 1e+15 */
		{ "12345678901234.5", true },
		{ "1234567890123.456", false }, /* 16 digits */
		{ "1.50", false },
		{ "05", false },
		{ "00", false },
		{ ".5", false },
		{ "5.", false },
		{ "+5", false },
		{ "--5", false },
		{ "1e3", false },
		{ "1.2.3", false },
		{ "0.0", false },
		{ "", false },
		{ "-", false },
		{ " 5", false },
	};

	cr_expect(!json_num_text_is_shortest(NULL, 0), "NULL, 0");
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_expect_eq(json_num_text_is_shortest(cases[i].s,
				 strlen(cases[i].s)),
		    cases[i].want, "\"%s\"", cases[i].s);
		cr_expect(num_text_sound(cases[i].s), "\"%s\"", cases[i].s);
	}
}

/*
 * Every string of up to 7 bytes of "-.0159", and 200,000 random decimals
 * of up to 24 bytes: whenever the text is taken as is, json_num of the
 * number it denotes writes exactly that text.
 */
Test(json, num_text_sound)
{
	static const char alpha[] = "-.0159";
	char s[32];
	uint64_t seed = 777, r;
	unsigned bad = 0, taken = 0;
	size_t n, k, i, m;

	for (n = 1; n <= 7; n++) {
		for (m = 1, k = 0; k < n; k++)
			m *= 6;
		for (i = 0; i < m; i++) {
			for (k = 0, r = i; k < n; k++, r /= 6)
				s[k] = alpha[r % 6];
			s[n] = '\0';
			taken += json_num_text_is_shortest(s, n);
			bad += !num_text_sound(s);
		}
	}
	for (i = 0; i < 200000; i++) {
		n = 1 + next_rand(&seed) % 24;
		for (k = 0; k < n; k++)
			s[k] = (char)('0' + next_rand(&seed) % 10);
		if (next_rand(&seed) & 1)
			s[next_rand(&seed) % n] = '.';
		if (next_rand(&seed) & 1)
			s[0] = '-';
		s[n] = '\0';
		taken += json_num_text_is_shortest(s, n);
		bad += !num_text_sound(s);
	}
	cr_expect_gt(taken, 10000, "%u taken", taken);
	cr_expect_eq(bad, 0, "%u texts json_num writes otherwise", bad);
}
