/*
 * test_str.c: the string helpers trim blanks (and, in place, line ends)
 * and nothing else.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "lib/str.h"

struct trim_case {
	char in[32];
	char out[32];  /* what str_trim keeps */
	char span[32]; /* what str_trim_span keeps */
};

static struct trim_case trim_cases[] = {
	{ "", "", "" },
	{ "abc", "abc", "abc" },
	{ "  abc", "abc", "abc" },
	{ "abc \t", "abc", "abc" },
	{ "\t a b \t", "a b", "a b" },
	{ " \t ", "", "" },
	{ "value\r", "value", "value\r" }, /* CRLF file, CR left */
	{ "value \r\n", "value", "value \r\n" },
	{ "\rvalue", "\rvalue", "\rvalue" }, /* only blanks lead */
	{ "a\r\nb", "a\r\nb", "a\r\nb" },    /* inside: kept */
	{ "x\n\n", "x", "x\n\n" },
	{ "mg/dL ", "mg/dL", "mg/dL" },
};

ParameterizedTestParameters(str, trim)
{
	return cr_make_param_array(struct trim_case, trim_cases,
	    sizeof(trim_cases) / sizeof(trim_cases[0]));
}

ParameterizedTest(struct trim_case *c, str, trim)
{
	char buf[32];
	const char *p = c->in;
	size_t n;

	strcpy(buf, c->in);
	cr_assert_str_eq(str_trim(buf), c->out, "str_trim '%s'", c->in);
	n = str_trim_span(&p, strlen(c->in));
	cr_assert_eq(n, strlen(c->span), "str_trim_span '%s': %zu", c->in, n);
	cr_assert(strncmp(p, c->span, n) == 0, "str_trim_span '%s'", c->in);
}

/* The span form reads no further than its length and writes nothing. */
Test(str, span_bounded)
{
	const char text[] = "  ab  cd  ";
	const char *p = text;

	cr_assert_eq(str_trim_span(&p, 6), 2);
	cr_assert_eq(p, text + 2);
	p = text + 6;
	cr_assert_eq(str_trim_span(&p, 0), 0);
	cr_assert_eq(p, text + 6);
	cr_assert_str_eq(text, "  ab  cd  ");
}

/* The in-place form writes its NUL where the kept text ends. */
Test(str, trim_in_place)
{
	char buf[] = " key = v \r";

	cr_assert_str_eq(str_trim(buf), "key = v");
	cr_assert_eq(buf[8], '\0');
	cr_assert_eq(buf[9], '\r');
}
