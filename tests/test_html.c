/*
 * test_html.c: the board's one HTML escaping: markup in a patient id or a
 * result comes out as text; the URL escaping keeps only unreserved bytes.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "cli/html.h"

static const struct {
	const char *in, *out;
} esc_cases[] = {
	{ "", "" }, { "P001", "P001" },
	{ "<script>alert(1)</script>",
	    "&lt;script&gt;alert(1)&lt;/script&gt;" },
	{ "\"><img src=x onerror=alert(1)>",
	    "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" },
	{ "O'Brien & Co", "O&#39;Brien &amp; Co" }, { "&amp;", "&amp;amp;" },
	{ "ALT 3.2 x ULN", "ALT 3.2 x ULN" },
	{ "\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9" }, /* UTF-8 kept */
};

Test(html, esc)
{
	struct buf b;
	size_t i;

	for (i = 0; i < sizeof(esc_cases) / sizeof(esc_cases[0]); i++) {
		buf_init(&b);
		buf_adds(&b, "[");
		html_esc(&b, esc_cases[i].in);
		buf_adds(&b, "]");
		cr_expect_eq(b.len, strlen(esc_cases[i].out) + 2, "%s: %s",
		    esc_cases[i].in, b.p);
		cr_expect(strncmp(b.p + 1, esc_cases[i].out,
			      strlen(esc_cases[i].out)) == 0,
		    "%s: %s", esc_cases[i].in, b.p);
		cr_expect(strchr(b.p, '<') == NULL, "%s", b.p);
		buf_free(&b);
	}
}

Test(html, url)
{
	struct buf b;

	buf_init(&b);
	html_url(&b, "P 1&x=<a>/~._-");
	cr_expect_str_eq(b.p, "P%201%26x%3D%3Ca%3E%2F~._-");
	buf_free(&b);
}
