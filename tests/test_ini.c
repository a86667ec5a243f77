/*
 * test_ini.c: the INI line reader, one table row per shape of line: what
 * each line becomes (section, key, error, with its line number) is
 * written out as text and compared whole.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "lib/buf.h"
#include "lib/ini.h"

static const char *const errname[] = {
	[INI_OK] = "ok",
	[INI_ERR_NUL] = "nul",
	[INI_ERR_SYNTAX] = "syntax",
	[INI_ERR_EMPTY_KEY] = "empty-key",
	[INI_ERR_SECTION_CLOSE] = "close",
	[INI_ERR_SECTION_NAME] = "name",
	[INI_ERR_SECTION_ARG] = "arg",
	[INI_ERR_TOO_BIG] = "too-big",
	[INI_ERR_READ] = "read",
};

/* A stream holding text[0..len), NULs included. */
static FILE *
stream(const char *text, size_t len)
{
	FILE *f = tmpfile();

	cr_assert_not_null(f);
	cr_assert_eq(fwrite(text, 1, len, f), len);
	rewind(f);
	return f;
}

/*
 * Every item of r as one line: "N:[section|arg]", "N:section.key=value",
 * "N:!error", and last "end" (or "end!error").
 */
static void
render(struct ini_reader *r, struct buf *out)
{
	enum ini_item it;

	while ((it = ini_next(r)) != INI_END) {
		switch (it) {
		case INI_SECTION:
			buf_printf(out, "%d:[%s|%s]\n", r->line, r->section,
			    r->arg);
			cr_assert_eq(r->section_line, r->line);
			break;
		case INI_KEY:
			buf_printf(out, "%d:%s.%s=%s\n", r->line, r->section,
			    r->key, r->val);
			break;
		case INI_ERROR:
			buf_printf(out, "%d:!%s\n", r->line, errname[r->error]);
			break;
		case INI_END:
			break;
		}
	}
	buf_printf(out, "end%s%s", r->error ? "!" : "",
	    r->error ? errname[r->error] : "");
}

struct ini_case {
	char name[40];
	char text[160];
	size_t len; /* 0: strlen(text) */
	unsigned flags;
	char want[240];
};

#define S31 "abcdefghijklmnopqrstuvwxyz01234"
#define S63 S31 S31 "x"

static struct ini_case ini_cases[] = {
	{ "empty file", "", 0, 0, "end" },
	{ "comments and blank lines", "# c\n\n   # indented\n\t\n[s]\nk = v\n",
	    0, 0, "5:[s|]\n6:s.k=v\nend" },
	{ "semicolon is a key by default", "; x = 1\n", 0, 0, "1:.; x=1\nend" },
	{ "semicolon comment", "; x = 1\n  ;y\nk=v\n", 0, INI_SEMICOLON,
	    "3:.k=v\nend" },
	{ "whitespace", "  [  sec \t arg  two ]  \n\t key\t=\t v a l \t\nk=v\n",
	    0, 0, "1:[sec|arg  two]\n2:sec.key=v a l\n3:sec.k=v\nend" },
	{ "sections", "[a]\nx = 1\n[b c]\ny = 2\n[a]\nz = 3\n", 0, 0,
	    "1:[a|]\n2:a.x=1\n3:[b|c]\n4:b.y=2\n5:[a|]\n6:a.z=3\nend" },
	{ "key before any section", "k = v\n[s]\n", 0, 0,
	    "1:.k=v\n2:[s|]\nend" },
	{ "missing =", "[s]\njust words\nk = v\n", 0, 0,
	    "1:[s|]\n2:!syntax\n3:s.k=v\nend" },
	{ "empty key", "= v\n  =\n", 0, 0, "1:!empty-key\n2:!empty-key\nend" },
	{ "empty value, = in value", "k =\nk2 = a = b\n", 0, 0,
	    "1:.k=\n2:.k2=a = b\nend" },
	{ "no closing bracket", "[s\n[s]x\n[s]]\n", 0, 0,
	    "1:!close\n2:!close\n3:!close\nend" },
	{ "empty section name", "[]\n[ \t ]\n", 0, 0, "1:!name\n2:!name\nend" },
	{ "longest section name", "[" S31 "]\n[" S31 "x]\n", 0, 0,
	    "1:[" S31 "|]\n2:!name\nend" },
	{ "longest argument", "[s " S63 "]\n[s " S63 "y]\n", 0, 0,
	    "1:[s|" S63 "]\n2:!arg\nend" },
	{ "NUL in a line", "a = 1\nb\0c = 2\nd = 3\n", 20, 0,
	    "1:.a=1\n2:!nul\n3:.d=3\nend" },
	{ "NUL at the start", "\0k = 1\n", 7, 0, "1:!nul\nend" },
	{ "NUL on the last line", "a = 1\nb = 2\0", 12, 0,
	    "1:.a=1\n2:!nul\nend" },
	{ "CRLF", "[s]\r\nk = v\r\n\r\n# c\r\nz = 1 \r\n", 0, 0,
	    "1:[s|]\n2:s.k=v\n5:s.z=1\nend" },
	{ "last line without newline", "[s]\nk = v", 0, 0,
	    "1:[s|]\n2:s.k=v\nend" },
	{ "header last, no newline", "k = v\n[s t]", 0, 0,
	    "1:.k=v\n2:[s|t]\nend" },
	{ "duplicate keys all returned", "[s]\nk = 1\nk = 2\n", 0, 0,
	    "1:[s|]\n2:s.k=1\n3:s.k=2\nend" },
	{ "# inside a value by default", "k = v # c\nk2 = a#b\n[s] # c\n", 0, 0,
	    "1:.k=v # c\n2:.k2=a#b\n3:!close\nend" },
	{ "inline comments", "k = v # c\nk2 = a#b\n[s]\t# c\nk3 = # all\n", 0,
	    INI_INLINE_COMMENT, "1:.k=v\n2:.k2=a#b\n3:[s|]\n4:s.k3=\nend" },
	{ "quotes kept by default", "k = \"a b\"\n", 0, 0,
	    "1:.k=\"a b\"\nend" },
	{ "unquote", "k = \"a b\"\nk2 = \"\nk3 = \"\"\nk4 = x\"y\"\n", 0,
	    INI_UNQUOTE, "1:.k=a b\n2:.k2=\"\n3:.k3=\n4:.k4=x\"y\"\nend" },
};

ParameterizedTestParameters(ini, lines)
{
	return cr_make_param_array(struct ini_case, ini_cases,
	    sizeof(ini_cases) / sizeof(ini_cases[0]));
}

ParameterizedTest(struct ini_case *c, ini, lines)
{
	struct ini_reader r;
	struct buf out = { 0 };
	FILE *f = stream(c->text, c->len ? c->len : strlen(c->text));

	ini_init(&r, f, c->flags);
	render(&r, &out);
	cr_assert_str_eq(out.p, c->want, "%s", c->name);
	ini_free(&r);
	buf_free(&out);
	fclose(f);
}

/* A line far longer than any buffer is read whole, and the count goes on. */
Test(ini, overlong_line)
{
	size_t n = 1 << 20, i;
	char *text = malloc(n + 32);
	struct ini_reader r;
	FILE *f;

	memcpy(text, "k = ", 4);
	memset(text + 4, 'x', n);
	strcpy(text + 4 + n, "\nnext = 1\n");
	f = stream(text, strlen(text));
	ini_init(&r, f, 0);
	cr_assert_eq(ini_next(&r), INI_KEY);
	cr_assert_eq(strlen(r.val), n);
	for (i = 0; i < n; i++)
		if (r.val[i] != 'x')
			cr_assert_fail("byte %zu", i);
	cr_assert_eq(ini_next(&r), INI_KEY);
	cr_assert_str_eq(r.key, "next");
	cr_assert_eq(r.line, 2);
	cr_assert_eq(ini_next(&r), INI_END);
	cr_assert_eq(r.error, INI_OK);
	ini_free(&r);
	fclose(f);
	free(text);
}

/* max_bytes: the line that crosses it is an error, and reading stops. */
Test(ini, too_big)
{
	struct ini_reader r;
	struct buf out = { 0 };
	FILE *f = stream("a = 1\nb = 2\nc = 3\n", 18);

	ini_init(&r, f, 0);
	r.max_bytes = 18; /* exactly the file */
	render(&r, &out);
	cr_assert_str_eq(out.p, "1:.a=1\n2:.b=2\n3:.c=3\nend");
	buf_free(&out);
	ini_free(&r);
	rewind(f);
	ini_init(&r, f, 0);
	r.max_bytes = 17;
	render(&r, &out);
	cr_assert_str_eq(out.p, "1:.a=1\n2:.b=2\n3:!too-big\nend!too-big");
	buf_free(&out);
	ini_free(&r);
	fclose(f);
}

/* A stream that cannot be read ends the items with INI_ERR_READ. */
Test(ini, read_error)
{
	struct ini_reader r;
	FILE *f = fopen("/dev/null", "w");

	cr_assert_not_null(f);
	ini_init(&r, f, 0);
	cr_assert_eq(ini_next(&r), INI_END);
	cr_assert_eq(r.error, INI_ERR_READ);
	cr_assert_eq(ini_next(&r), INI_END);
	ini_free(&r);
	fclose(f);
}

/* The text of a header, as the caller may quote it in a message. */
Test(ini, header_text)
{
	struct ini_reader r;
	FILE *f = stream("  [ a b ]  \n[x\nk v\n", 19);

	ini_init(&r, f, 0);
	cr_assert_eq(ini_next(&r), INI_SECTION);
	cr_assert_str_eq(r.text, "[ a b ]");
	cr_assert_eq(ini_next(&r), INI_ERROR);
	cr_assert_str_eq(r.text, "[x");
	cr_assert_eq(ini_next(&r), INI_ERROR);
	cr_assert_str_eq(r.text, "k v");
	cr_assert_eq(r.line, 3);
	cr_assert_str_eq(ini_strerror(r.error),
	    "expected 'key = value' or '[section]'");
	cr_assert_eq(ini_next(&r), INI_END);
	ini_free(&r);
	fclose(f);
}
