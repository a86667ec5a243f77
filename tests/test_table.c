/*
 * test_table.c: the table writer measures UTF-8 as a terminal shows it,
 * cuts at the width with "…" or "...", blanks control characters, aligns
 * columns, keeps its widths across writes (--follow), and says how long
 * ago in the units people read.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "cli/table.h"

struct width_case {
	char in[48];
	size_t width;
};

static struct width_case width_cases[] = {
	{ "", 0 }, { "abc", 3 },
	{ "µmol/L", 6 },      /* 2-byte character, one column */
	{ "Ærøskøbing", 10 }, /* Latin-1 range */
	{ "日本語", 6 },      /* East Asian wide: two each */
	{ "e\xcc\x81", 1 },   /* e + combining acute */
	{ "a\xff"
	  "b",
	    3 },		   /* a byte that is not UTF-8: one */
	{ "\xe2\x80\xa6", 1 },	   /* … */
	{ "\xf0\x9f\x98\x80", 2 }, /* emoji: wide */
};

ParameterizedTestParameters(table, width)
{
	return cr_make_param_array(struct width_case, width_cases,
	    sizeof(width_cases) / sizeof(width_cases[0]));
}

ParameterizedTest(struct width_case *c, table, width)
{
	cr_assert_eq(table_width(c->in), c->width, "%s: %zu, want %zu", c->in,
	    table_width(c->in), c->width);
}

struct cut_case {
	char in[48];
	size_t max;
	bool utf8;
	char out[48];
};

static struct cut_case cut_cases[] = {
	{ "short", 10, true, "short" },
	{ "exactly10!", 10, true, "exactly10!" },
	{ "eleven chars", 10, true, "eleven ch…" },
	{ "eleven chars", 10, false, "eleven ..." },
	{ "日本語テキスト", 7, true, "日本語…" }, /* never half a wide char */
	{ "日本語テキスト", 6, true, "日本…" },
	{ "µmol/L µmol/L", 8, true, "µmol/L …" },
	{ "abcdef", 2, false, ".." },
};

ParameterizedTestParameters(table, cut)
{
	return cr_make_param_array(struct cut_case, cut_cases,
	    sizeof(cut_cases) / sizeof(cut_cases[0]));
}

ParameterizedTest(struct cut_case *c, table, cut)
{
	struct buf b;

	buf_init(&b);
	table_add_cut(&b, c->in, c->max, c->utf8);
	cr_assert_str_eq(b.p, c->out);
	cr_assert(table_width(b.p) <= c->max);
	buf_free(&b);
}

static const struct table_col cols[] = {
	{ "ID", TABLE_RIGHT },
	{ "WHO", 0 },
	{ "TEXT", TABLE_FILL },
};

Test(table, aligns_cuts_and_blanks)
{
	struct table_out o = { .format = TABLE_FORMAT_TABLE,
		.width = 24,
		.utf8 = true };
	const char *r1[] = { "7", "Ærø", "a summary longer than the width" };
	const char *r2[] = { "12", "\033[2Jx", "line\nbreak" };
	struct table t;
	struct buf b;

	buf_init(&b);
	table_init(&t, cols, 3, &o);
	table_add(&t, r1, TABLE_STYLE_CRITICAL);
	table_add(&t, r2, NULL);
	table_write(&t, &b, true);
	/* No colour asked: no escape, and the ESC a field held is a blank. */
	cr_assert_str_eq(b.p,
	    "ID  WHO    TEXT\n"
	    " 7  Ærø    a summary lo…\n"
	    "12   [2Jx  line break\n");
	table_free(&t);
	buf_free(&b);
}

Test(table, bidi_controls_blanked)
{
	struct table_out o = { .format = TABLE_FORMAT_TABLE, .utf8 = true };
	/* Each bidi control (they reorder what the terminal shows): a blank. */
	const char *r1[] = { "1", "a\u202eb\u202ac\u202dd",
		"e\u2066f\u2069g\u200eh\u200fi\u061cj" };
	struct table t;
	struct buf b;

	buf_init(&b);
	table_init(&t, cols, 3, &o);
	table_add(&t, r1, NULL);
	table_write(&t, &b, true);
	cr_assert_str_eq(b.p,
	    "ID  WHO      TEXT\n"
	    " 1  a b c d  e f g h i j\n");
	table_free(&t);
	buf_free(&b);
}

Test(table, colour_and_widths_kept)
{
	struct table_out o = { .format = TABLE_FORMAT_TABLE,
		.color = true,
		.width = 0 };
	const char *r1[] = { "1", "ab", "x" };
	const char *r2[] = { "2", "abcdef", "y" };
	struct table t;
	struct buf b;

	buf_init(&b);
	table_init(&t, cols, 3, &o);
	table_add(&t, r1, TABLE_STYLE_CRITICAL);
	table_write(&t, &b, true);
	cr_assert_str_eq(b.p,
	    "\033[1mID  WHO  TEXT\033[0m\n"
	    "\033[1;31m 1  ab   x\033[0m\n");
	buf_reset(&b);
	/* A later row (--follow): the widths so far, widened to fit. */
	table_add(&t, r2, NULL);
	table_write(&t, &b, false);
	cr_assert_str_eq(b.p, " 2  abcdef  y\n");
	table_free(&t);
	buf_free(&b);
}

Test(table, age)
{
	static const struct {
		long long ago;
		const char *want;
	} cases[] = {
		{ -5, "0s" },
		{ 0, "0s" },
		{ 59, "59s" },
		{ 60, "1m" },
		{ 3599, "59m" },
		{ 3600, "1h" },
		{ 86399, "23h" },
		{ 86400, "1d" },
		{ 4 * 86400 + 7200, "4d" },
	};
	const long long t0 = 1795510800; /* 2026-11-24T09:00:00Z */
	char out[16];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		table_age(out, sizeof(out), "2026-11-24T09:00:00Z",
		    t0 + cases[i].ago);
		cr_assert_str_eq(out, cases[i].want, "%lld s ago",
		    cases[i].ago);
	}
	table_age(out, sizeof(out), "yesterday", t0);
	cr_assert_str_eq(out, "?");
}

Test(table, options)
{
	struct table_out o;

	memset(&o, 0, sizeof(o));
	cr_assert_eq(table_out_option(&o, "t", TABLE_OPT_FORMAT, "table"), 0);
	cr_assert_eq(o.format, TABLE_FORMAT_TABLE);
	cr_assert_eq(table_out_option(&o, "t", TABLE_OPT_JSON, NULL), 0);
	cr_assert_eq(o.format, TABLE_FORMAT_JSON);
	cr_assert_eq(table_out_option(&o, "t", TABLE_OPT_FORMAT, "csv"), -1);
	cr_assert_eq(table_out_option(&o, "t", TABLE_OPT_COLOR, "always"), 0);
	cr_assert_eq(o.color_opt, TABLE_COLOR_ALWAYS);
	cr_assert_eq(table_out_option(&o, "t", TABLE_OPT_NO_COLOR, NULL), 0);
	cr_assert_eq(o.color_opt, TABLE_COLOR_NEVER);
	/* JSON never has colour, whatever was asked. */
	o.color_opt = TABLE_COLOR_ALWAYS;
	table_out_resolve(&o);
	cr_assert(!o.color);
	/* A table: NO_COLOR does not beat --color always. */
	o.format = TABLE_FORMAT_TABLE;
	setenv("NO_COLOR", "1", 1);
	table_out_resolve(&o);
	cr_assert(o.color);
	/* Auto, not a terminal (the tests' stdout): no colour. */
	o.color_opt = TABLE_COLOR_AUTO;
	unsetenv("NO_COLOR");
	setenv("COLUMNS", "132", 1);
	table_out_resolve(&o);
	cr_assert(!o.color);
	cr_assert_eq(o.width, 132);
}
