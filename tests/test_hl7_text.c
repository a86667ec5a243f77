/*
 * test_hl7_text.c: reading a value's text (hl7/text.c): every escape
 * sequence with standard and unusual delimiters, MSH-18 character sets to
 * UTF-8 (Latin-1/9, iconv, defaults), zero copy when nothing needs
 * decoding, and the text arena. Every case asserts exact bytes.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "testutil.h"
#include <criterion/parameterized.h>

#include "hl7/hl7.h"
#include "hl7/text.h"
#include "hl7_testutil.h"

static struct hl7_msg M;

static void
setup(void)
{
	hl7_msg_init(&M);
}

static void
teardown(void)
{
	hl7_msg_free(&M);
}

TestSuite(hl7_text, .init = setup, .fini = teardown);

/* ------------------------------------------------------------------ */
/* Escapes                                                             */

struct esc_case {
	const char *raw;  /* NTE-3 as sent */
	const char *want; /* decoded */
	size_t want_len;  /* for decoded NULs; 0 = strlen(want) */
};

/* With `|^~\&#` (2.7): every escape has a delimiter to stand for. */
static const struct esc_case esc_cases[] = {
	{ "a\\F\\b", "a|b", 0 },
	{ "a\\S\\b", "a^b", 0 },
	{ "a\\T\\b", "a&b", 0 },
	{ "a\\R\\b", "a~b", 0 },
	{ "a\\E\\b", "a\\b", 0 },
	{ "a\\P\\b", "a#b", 0 },
	{ "\\F\\\\S\\\\T\\\\R\\\\E\\", "|^&~\\", 0 },
	{ "line1\\X0D0A\\line2", "line1\r\nline2", 0 },
	{ "\\X0D\\", "\r", 0 },
	{ "Schr\\XC3B6\\der",
	    "Schr\xc3\xb6"
	    "der",
	    0 },
	{ "\\Xe282ac\\ 12", "\xe2\x82\xac 12", 0 }, /* lower-case hex */
	{ "a\\X00\\b", "a\0b", 3 },
	{ "one\\.br\\two", "one\ntwo", 0 },
	{ "\\.br\\\\.br\\", "\n\n", 0 },
	{ "\\H\\CRITICAL\\N\\ value", "CRITICAL value", 0 },
	{ "\\H\\\\N\\", "", 0 },
	/* Unknown or malformed escapes stay as they came. */
	{ "\\Zxx\\", "\\Zxx\\", 0 },
	{ "a\\.sp\\b", "a\\.sp\\b", 0 },
	{ "\\.sp2\\x", "\\.sp2\\x", 0 },
	{ "\\.in+4\\", "\\.in+4\\", 0 },
	{ "\\C2842\\", "\\C2842\\", 0 },
	{ "\\X0D0\\", "\\X0D0\\", 0 }, /* odd number of hex digits */
	{ "\\XZZ\\", "\\XZZ\\", 0 },
	{ "\\X\\", "\\X\\", 0 },
	{ "\\FF\\", "\\FF\\", 0 },
	{ "\\\\", "\\\\", 0 },	 /* empty sequence */
	{ "a\\Fb", "a\\Fb", 0 }, /* unterminated */
	{ "trailing\\", "trailing\\", 0 },
	{ "\\F\\tail\\", "|tail\\", 0 }, /* decoded, then unterminated */
	{ "C:\\temp\\x", "C:\\temp\\x",
	    0 }, /* a path a sender forgot to escape */
	{ "no escapes at all", "no escapes at all", 0 },
};

Test(hl7_text, escapes_standard_delimiters)
{
	char msg[256], what[64];
	size_t i;
	int n;

	for (i = 0; i < NELEM(esc_cases); i++) {
		const struct esc_case *c = &esc_cases[i];

		n = snprintf(msg, sizeof(msg),
		    "MSH|^~\\&#|LIS|LAB|LW|ONC|20261120073000||ORU^R01|E1|P|2.7\r"
		    "NTE|1|L|%s|RE\r",
		    c->raw);
		parse_ok(&M, msg, (size_t)n, NULL);
		snprintf(what, sizeof(what), "case %zu (%s)", i, c->raw);
		expect_str(hl7_text(&M, hl7_field(&M, 1, 3)), c->want,
		    c->want_len ? c->want_len : strlen(c->want), what);
		/* The field after is untouched by any escape. */
		expect_span(&M, hl7_field(&M, 1, 4), "RE", what);
	}
}

Test(hl7_text, escapes_other_delimiters)
{
	static const struct esc_case cases[] = {
		{ "a@F@b", "a#b", 0 }, { "a@S@b", "a$b", 0 },
		{ "a@R@b", "a*b", 0 }, { "a@T@b", "a!b", 0 },
		{ "a@E@b", "a@b", 0 },
		{ "a@P@b", "a@P@b", 0 }, /* no truncation character declared */
		{ "x@X0A@y", "x\ny", 0 }, { "x@.br@y", "x\ny", 0 },
		{ "@H@bold@N@", "bold", 0 },
		{ "a\\F\\b", "a\\F\\b", 0 }, /* backslash is plain text here */
		{ "user@host", "user@host", 0 }, /* unterminated */
	};
	char msg[256], what[64];
	size_t i;
	int n;

	for (i = 0; i < NELEM(cases); i++) {
		n = snprintf(msg, sizeof(msg),
		    "MSH#$*@!#LIS#LAB#LW#ONC#20261120073000##ORU$R01#E2#P#2.5.1\r"
		    "NTE#1#L#%s#RE\r",
		    cases[i].raw);
		parse_ok(&M, msg, (size_t)n, NULL);
		snprintf(what, sizeof(what), "case %zu (%s)", i, cases[i].raw);
		expect_str(hl7_text(&M, hl7_field(&M, 1, 3)), cases[i].want,
		    strlen(cases[i].want), what);
	}
}

Test(hl7_text, escapes_without_optional_delimiters)
{
	/* No subcomponent or truncation character: \T\ and \P\ stay. */
	static const char msg[] =
	    "MSH|^~\\|LIS|LAB\rNTE|1|L|a\\T\\b\\P\\c\\F\\d\r";
	/* No escape character at all: backslashes are text. */
	static const char msg2[] = "MSH|^~|LIS|LAB\rNTE|1|L|a\\F\\b\r";
	struct hl7_span sp;
	struct hl7_str s;

	parse_ok(&M, LIT(msg), NULL);
	expect_str(hl7_text(&M, hl7_field(&M, 1, 3)), LIT("a\\T\\b\\P\\c|d"),
	    "no sub, no trunc");
	parse_ok(&M, LIT(msg2), NULL);
	sp = hl7_field(&M, 1, 3);
	s = hl7_text(&M, sp);
	expect_str(s, LIT("a\\F\\b"), "no escape character");
	cr_expect_eq(s.p, M.buf + sp.off, "no escape character: zero copy");
}

/* ------------------------------------------------------------------ */
/* Character sets                                                      */

Test(hl7_text, text_zero_copy)
{
	static const char utf8[] =
	    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|Z1|P|2.5.1||||||UNICODE UTF-8\r"
	    "PID|1||42||Schr\xc3\xb6"
	    "der^J\xc3\xb6rg||19590227|M\r"
	    "NTE|1|L|plain ascii|esc\\F\\aped\r";
	static const char latin[] =
	    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|Z2|P|2.4||||||8859/1\r"
	    "PID|1||42||Schr\xf6"
	    "der^J\xf6rg\r"
	    "NTE|1|L|plain ascii\r";
	struct hl7_span sp;
	struct hl7_str s;

	parse_ok(&M, LIT(utf8), NULL);
	cr_expect_eq(M.charset, HL7_CS_UTF8);
	sp = hl7_get(&M, 1, 5, 1, 1, 0);
	s = hl7_text(&M, sp);
	expect_str(s,
	    LIT("Schr\xc3\xb6"
		"der"),
	    "UTF-8 name");
	cr_expect_eq(s.p, M.buf + sp.off, "UTF-8 passthrough must not copy");
	sp = hl7_field(&M, 2, 3);
	s = hl7_text(&M, sp);
	expect_str(s, LIT("plain ascii"), "ASCII");
	cr_expect_eq(s.p, M.buf + sp.off, "ASCII must not copy");
	sp = hl7_field(&M, 2, 4);
	s = hl7_text(&M, sp);
	expect_str(s, LIT("esc|aped"), "escaped");
	cr_expect(s.p < M.buf || s.p >= M.buf + M.len,
	    "a decoded escape cannot point into the message");
	cr_expect_eq(M.buf[sp.off + 3], '\\', "the raw bytes are kept");

	parse_ok(&M, LIT(latin), NULL);
	cr_expect_eq(M.charset, HL7_CS_LATIN1);
	sp = hl7_field(&M, 2, 3);
	s = hl7_text(&M, sp);
	expect_str(s, LIT("plain ascii"), "ASCII in a Latin-1 message");
	cr_expect_eq(s.p, M.buf + sp.off, "ASCII in Latin-1 must not copy");
	sp = hl7_get(&M, 1, 5, 1, 1, 0);
	s = hl7_text(&M, sp);
	expect_str(s,
	    LIT("Schr\xc3\xb6"
		"der"),
	    "Latin-1 name");
	cr_expect(s.p < M.buf || s.p >= M.buf + M.len);
	expect_span(&M, sp,
	    "Schr\xf6"
	    "der",
	    "raw Latin-1 kept");
}

Test(hl7_text, latin1_fixture)
{
	size_t len;
	char *buf = test_load("oru_latin1.hl7", &len);
	int pid, nte, obx;

	parse_ok(&M, buf, len, NULL);
	cr_expect_eq(M.charset, HL7_CS_LATIN1);
	pid = hl7_find_seg(&M, "PID", 0);
	nte = hl7_find_seg(&M, "NTE", 0);
	obx = hl7_find_seg(&M, "OBX", 0);
	cr_assert(pid > 0 && nte > 0 && obx > 0);
	expect_span(&M, hl7_get(&M, (uint32_t)pid, 5, 1, 1, 0),
	    "Schr\xf6"
	    "der",
	    "raw byte 0xF6 in the file");
	expect_str(hl7_text(&M, hl7_get(&M, (uint32_t)pid, 5, 1, 1, 0)),
	    LIT("Schr\xc3\xb6"
		"der"),
	    "PID-5.1");
	expect_str(hl7_text(&M, hl7_get(&M, (uint32_t)pid, 5, 1, 2, 0)),
	    LIT("J\xc3\xb6rg"), "PID-5.2");
	expect_str(hl7_text(&M, hl7_get(&M, (uint32_t)obx, 6, 1, 1, 0)),
	    LIT("\xc2\xb5mol/L"), "OBX-6 micro sign");
	expect_str(hl7_text(&M, hl7_field(&M, (uint32_t)nte, 3)),
	    LIT("Befund kontrolliert, H\xc3\xa4molyse m\xc3\xb6glich."),
	    "NTE-3");
	free(buf);
}

struct cs_case {
	const char *msh18; /* written into MSH-18 */
	const char *dflt;  /* hl7_parse_opts.default_charset */
	const char *raw;   /* NTE-3 as sent */
	const char *want;  /* UTF-8 */
	enum hl7_charset cs;
};

Test(hl7_text, charsets_to_utf8)
{
	static const struct cs_case cases[] = {
		{ "8859/1", NULL, "\xa4", "\xc2\xa4", HL7_CS_LATIN1 },
		{ "8859/15", NULL, "\xa4", "\xe2\x82\xac", HL7_CS_LATIN9 },
		{ "8859/15", NULL, "12 \xa4 \xa6\xa8\xb4\xb8\xbc\xbd\xbe",
		    "12 \xe2\x82\xac \xc5\xa0\xc5\xa1\xc5\xbd\xc5\xbe\xc5\x92\xc5\x93\xc5\xb8",
		    HL7_CS_LATIN9 },
		{ "8859/15", NULL,
		    "Gr\xfc\xdf"
		    "e",
		    "Gr\xc3\xbc\xc3\x9f"
		    "e",
		    HL7_CS_LATIN9 },
		{ "ISO IR100", NULL, "\xf6", "\xc3\xb6", HL7_CS_LATIN1 },
		{ "8859/1", NULL, "\xff\xe9", "\xc3\xbf\xc3\xa9",
		    HL7_CS_LATIN1 },
		/* \Xhh\ gives bytes of the message charset, converted after. */
		{ "8859/1", NULL, "m\\XF6\\glich", "m\xc3\xb6glich",
		    HL7_CS_LATIN1 },
		{ "8859/1", NULL, "a\\S\\\xf6", "a^\xc3\xb6", HL7_CS_LATIN1 },
		/* No MSH-18: the configured default, else bytes as they are. */
		{ "", "8859/1",
		    "Schr\xf6"
		    "der",
		    "Schr\xc3\xb6"
		    "der",
		    HL7_CS_LATIN1 },
		{ "", "8859/15", "\xa4", "\xe2\x82\xac", HL7_CS_LATIN9 },
		{ "", NULL,
		    "Schr\xf6"
		    "der",
		    "Schr\xf6"
		    "der",
		    HL7_CS_UTF8 },
		{ "", NULL,
		    "Schr\xc3\xb6"
		    "der",
		    "Schr\xc3\xb6"
		    "der",
		    HL7_CS_UTF8 },
		/* MSH-18 wins over the default. */
		{ "UNICODE UTF-8", "8859/1",
		    "Schr\xc3\xb6"
		    "der",
		    "Schr\xc3\xb6"
		    "der",
		    HL7_CS_UTF8 },
		{ "ASCII", "8859/1", "plain", "plain", HL7_CS_UTF8 },
		{ "8859/1 ", NULL, "\xf6", "\xc3\xb6", HL7_CS_LATIN1 },
		/* Through iconv. */
		{ "8859/2", NULL,
		    "\xb3"
		    "\xf3"
		    "d\xbc",
		    "\xc5\x82\xc3\xb3"
		    "d\xc5\xba",
		    HL7_CS_ICONV },
		{ "WINDOWS-1252", NULL, "\x80 5", "\xe2\x82\xac 5",
		    HL7_CS_ICONV },
		{ "8859/7", NULL, "\xe1", "\xce\xb1", HL7_CS_ICONV },
		{ "GB 18030-2000", NULL, "\xb8\xce", "\xe8\x82\x9d",
		    HL7_CS_ICONV },
		/* A name only iconv knows; a byte it cannot convert becomes U+FFFD. */
		{ "US-ASCII", NULL,
		    "Schr\xf6"
		    "der",
		    "Schr\xef\xbf\xbd"
		    "der",
		    HL7_CS_ICONV },
	};
	struct hl7_parse_opts opts;
	char msg[256], what[80];
	size_t i;
	int n;

	for (i = 0; i < NELEM(cases); i++) {
		const struct cs_case *c = &cases[i];

		n = snprintf(msg, sizeof(msg),
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|CS%zu|P|2.5.1||||||%s\r"
		    "NTE|1|L|%s\r",
		    i, c->msh18, c->raw);
		opts.default_charset = c->dflt;
		parse_ok(&M, msg, (size_t)n, &opts);
		snprintf(what, sizeof(what), "case %zu (%s/%s)", i, c->msh18,
		    c->dflt ? c->dflt : "-");
		cr_expect_eq(M.charset, c->cs, "%s: charset %d", what,
		    (int)M.charset);
		expect_str(hl7_text(&M, hl7_field(&M, 1, 3)), c->want,
		    strlen(c->want), what);
	}
}

/*
 * MSH-18 repeats when a sender uses code extensions: the first repetition
 * is the message's charset, whatever the message before it held.
 */
Test(hl7_text, msh18_repetition_first_counts)
{
	static const char rep18[] =
	    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|M1|P|2.5.1||||||8859/1~UNICODE UTF-8\r"
	    "NTE|1|L|\xf6\r";
	static const char with_rep[] = MSH_STD "\rPID|1||1^^^H^MR~2^^^H^NI\r";

	/* On a fresh hl7_msg ... */
	cr_expect_eq(hl7_parse(&M, LIT(rep18), NULL), 0, "fresh: %s",
	    M.err.reason ? M.err.reason : "");
	cr_expect_eq(M.charset, HL7_CS_LATIN1, "fresh");
	/* ... and after a message that had repetitions. */
	parse_ok(&M, LIT(with_rep), NULL);
	parse_ok(&M, LIT(rep18), NULL);
	cr_expect_eq(M.charset, HL7_CS_LATIN1, "after a repeating message");
	expect_str(hl7_text(&M, hl7_field(&M, 1, 3)), LIT("\xc3\xb6"), "NTE-3");
}

/*
 * ISO IR87 (ISO-2022-JP, in hl7_charset_lookup's table) is 7-bit: its text
 * has no byte >= 0x80, so it must still go through iconv, not the zero-copy
 * path that suits ASCII-compatible charsets.
 */
Test(hl7_text, charset_iso2022jp_converted)
{
	static const char msg[] =
	    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|J1|P|2.5||||||ISO IR87\r"
	    "NTE|1|L|\x1b$B%F%9%H\x1b(B\r";

	parse_ok(&M, LIT(msg), NULL);
	cr_expect_eq(M.charset, HL7_CS_ICONV);
	expect_str(hl7_text(&M, hl7_field(&M, 1, 3)),
	    LIT("\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88"), "ISO-2022-JP text");
}

Test(hl7_text, charset_errors)
{
	static const char bad18[] =
	    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|X1|P|2.5.1||||||KLINGON-1\r"
	    "PID|1||42\r";
	static const char no18[] =
	    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|X2|P|2.5.1\rPID|1||42\r";
	struct hl7_parse_opts opts = { "BOGUS-CHARSET" };

	cr_assert_eq(hl7_parse(&M, LIT(bad18), NULL), -1);
	cr_expect_eq(M.err.code, HL7_ERR_DATA_TYPE);
	cr_expect_str_eq(M.err.reason, "MSH-18 character set not supported");
	cr_expect_eq(M.err.offset, (size_t)(strstr(bad18, "KLINGON") - bad18));
	cr_expect_str_eq(M.err.seg_id, "MSH");
	cr_expect_eq(M.err.seg_seq, 1);
	cr_expect_eq(M.err.field, 18);

	/* A default the configuration got wrong is refused the same way. */
	cr_assert_eq(hl7_parse(&M, LIT(no18), &opts), -1);
	cr_expect_eq(M.err.code, HL7_ERR_DATA_TYPE);
	cr_expect_str_eq(M.err.reason, "MSH-18 character set not supported");
	cr_expect_eq(M.err.offset, 0);
	cr_expect_eq(M.err.field, 18);

	/* ... and an unknown MSH-18 is not excused by a good default. */
	opts.default_charset = "8859/1";
	cr_expect_eq(hl7_parse(&M, LIT(bad18), &opts), -1);
}

Test(hl7_text, charset_lookup)
{
	static const struct {
		const char *name;
		int rc;
		enum hl7_charset cs;
		const char *iconv;
	} cases[] = {
		{ "ASCII", 0, HL7_CS_UTF8, "" },
		{ "UNICODE UTF-8", 0, HL7_CS_UTF8, "" },
		{ "unicode utf-8", 0, HL7_CS_UTF8, "" },
		{ "8859/1", 0, HL7_CS_LATIN1, "" },
		{ "8859/1   ", 0, HL7_CS_LATIN1, "" },
		{ "iso ir100", 0, HL7_CS_LATIN1, "" },
		{ "8859/15", 0, HL7_CS_LATIN9, "" },
		{ "8859/2", 0, HL7_CS_ICONV, "ISO-8859-2" },
		{ "GB 18030-2000", 0, HL7_CS_ICONV, "GB18030" },
		{ "ISO-8859-7", 0, HL7_CS_ICONV, "ISO-8859-7" },
		{ "8859/10", -1, HL7_CS_UTF8, "" },
		{ "KLINGON-1", -1, HL7_CS_UTF8, "" },
		{ "", -1, HL7_CS_UTF8, "" },
		{ "   ", -1, HL7_CS_UTF8, "" },
		{ "A-CHARSET-NAME-LONGER-THAN-THIRTY-ONE-BYTES", -1,
		    HL7_CS_UTF8, "" },
	};
	enum hl7_charset cs;
	char name[32];
	size_t i;
	int rc;

	for (i = 0; i < NELEM(cases); i++) {
		cs = (enum hl7_charset) - 1;
		memset(name, 'x', sizeof(name));
		name[31] = '\0';
		rc = hl7_charset_lookup(cases[i].name, strlen(cases[i].name),
		    &cs, name);
		cr_expect_eq(rc, cases[i].rc, "\"%s\": rc %d", cases[i].name,
		    rc);
		if (rc != 0 || cases[i].rc != 0)
			continue;
		cr_expect_eq(cs, cases[i].cs, "\"%s\": cs %d", cases[i].name,
		    (int)cs);
		cr_expect_str_eq(name, cases[i].iconv, "\"%s\"", cases[i].name);
	}
}

/* ------------------------------------------------------------------ */
/* The text arena                                                      */

Test(hl7_text, arena_keeps_earlier_text, .timeout = 60)
{
	/* Enough decoded text to need several arena chunks; every string
	 * decoded earlier must still read right after later ones. */
	struct big b = { 0 };
	struct hl7_str *got;
	char line[64], want[64];
	size_t i, n = 20000;
	int k;

	big_adds(&b, MSH_STD "\r");
	for (i = 0; i < n; i++) {
		k = snprintf(line, sizeof(line),
		    "NTE|%zu|L|value\\T\\%06zu\\.br\\end\r", i, i);
		big_add(&b, line, (size_t)k);
	}
	parse_ok(&M, b.p, b.len, NULL);
	cr_assert_eq(M.nsegs, n + 1);
	got = calloc(n, sizeof(*got));
	cr_assert_not_null(got);
	for (i = 0; i < n; i++)
		got[i] = hl7_text(&M, hl7_field(&M, (uint32_t)i + 1, 3));
	for (i = 0; i < n; i++) {
		k = snprintf(want, sizeof(want), "value&%06zu\nend", i);
		if (got[i].len != (size_t)k ||
		    memcmp(got[i].p, want, (size_t)k) != 0)
			cr_assert_fail("NTE %zu decoded as \"%.*s\"", i,
			    (int)got[i].len, got[i].p);
	}
	/* A second message into the same hl7_msg reuses the memory. */
	parse_ok(&M, b.p, b.len, NULL);
	for (i = 0; i < n; i += 997) {
		got[i] = hl7_text(&M, hl7_field(&M, (uint32_t)i + 1, 3));
		k = snprintf(want, sizeof(want), "value&%06zu\nend", i);
		expect_str(got[i], want, (size_t)k, "after reparse");
	}
	free(got);
	free(b.p);
}
