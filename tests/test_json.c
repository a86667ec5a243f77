/*
 * test_json.c: the JSON writer keeps every output line valid JSON and
 * valid UTF-8, whatever bytes a sender put in a field.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "lib/json.h"

struct str_case {
	const char *in;
	size_t len;
	const char *out;
};

static const struct str_case str_cases[] = {
	{ "abc", 3, "\"abc\"" },
	{ "", 0, "\"\"" },
	{ "a\"b\\c", 5, "\"a\\\"b\\\\c\"" },
	{ "l1\nl2\r\t", 7, "\"l1\\nl2\\r\\t\"" },
	{ "\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"" },
	{ "nul\0x", 5, "\"nul\\u0000x\"" },
	{ "Gr\xc3\xb6\xc3\x9f" "e", 7, "\"Gr\xc3\xb6\xc3\x9f" "e\"" },	/* valid UTF-8 kept */
	{ "\xe2\x82\xac", 3, "\"\xe2\x82\xac\"" },		/* euro sign */
	{ "\xf0\x9f\xa7\xaa", 4, "\"\xf0\x9f\xa7\xaa\"" },	/* 4-byte */
	{ "Gr\xf6" "\xdf" "e", 5, "\"Gr\xef\xbf\xbd\xef\xbf\xbd" "e\"" },	/* Latin-1 bytes: U+FFFD */
	{ "\xc3", 1, "\"\xef\xbf\xbd\"" },			/* truncated sequence */
	{ "\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"" },	/* overlong */
	{ "\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },	/* surrogate */
};

Test(json, strings)
{
	struct hl7_buf b;
	size_t i;

	for (i = 0; i < sizeof(str_cases) / sizeof(str_cases[0]); i++) {
		hl7_buf_init(&b);
		json_str(&b, str_cases[i].in, str_cases[i].len);
		cr_expect_str_eq(b.p, str_cases[i].out, "case %zu", i);
		hl7_buf_free(&b);
	}
}

struct num_case {
	double v;
	const char *out;
};

static const struct num_case num_cases[] = {
	{ 0, "0" }, { 88, "88" }, { -3, "-3" }, { 0.5, "0.5" }, { 0.1, "0.1" },
	{ 2.5, "2.5" }, { 1.0 / 3, "0.3333333333333333" }, { 1e-5, "1e-05" },
	{ 123456.789, "123456.789" }, { 1e300, "1e+300" }, { 0.1 + 0.2, "0.30000000000000004" },
};

Test(json, numbers)
{
	struct hl7_buf b;
	size_t i;

	for (i = 0; i < sizeof(num_cases) / sizeof(num_cases[0]); i++) {
		hl7_buf_init(&b);
		json_num(&b, num_cases[i].v);
		cr_expect_str_eq(b.p, num_cases[i].out, "case %zu", i);
		hl7_buf_free(&b);
	}
}

Test(json, rounded)
{
	struct hl7_buf b;

	hl7_buf_init(&b);
	json_num_rounded(&b, 0.2 * 17.1);
	hl7_buf_addc(&b, ' ');
	json_num_rounded(&b, 88.0 / 40.0);
	hl7_buf_addc(&b, ' ');
	json_num_rounded(&b, 1.0 / 3.0);
	hl7_buf_addc(&b, ' ');
	json_num_rounded(&b, 1.0 / 0.0);
	cr_expect_str_eq(b.p, "3.42 2.2 0.333333333333 null");
	hl7_buf_free(&b);
}

Test(json, null_forms)
{
	struct hl7_buf b;

	hl7_buf_init(&b);
	json_strz(&b, NULL);
	json_str_or_null(&b, "x", 0);
	json_num(&b, 0.0 / 0.0);
	json_key(&b, "k", false);
	cr_expect_str_eq(b.p, "nullnullnull,\"k\":");
	hl7_buf_free(&b);
}
