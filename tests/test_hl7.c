/*
 * test_hl7.c: the HL7 v2 parser (hl7.c) against what real senders write.
 *
 * Delimiters by position (including `#$*@!`-style and the 2.7 truncation
 * character), every escape sequence, MSH-18 character sets, line endings,
 * errors with their code, reason and offset, inputs built to crash or stall
 * a parser, DTM and number parsing. Every case asserts exact bytes.
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

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
/* A string literal as (pointer, length), so embedded NULs count. */
#define LIT(s) (s), (sizeof(s) - 1)

/* A header good enough for every parse-level test (ORU^R01, v2.5.1). */
#define MSH_STD \
	"MSH|^~\\&|LIS|MAINLAB|LABWATCH|ONC|20261120073500||ORU^R01^ORU_R01|C0001|P|2.5.1"

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

TestSuite(hl7, .init = setup, .fini = teardown);

/* Printable rendering of bytes for failure messages (CR as \r, 0xF6 as \xf6). */
static const char *
show(const void *vp, size_t n, char *out, size_t cap)
{
	const unsigned char *p = vp;
	size_t i, o = 0;

	for (i = 0; i < n && o + 8 < cap; i++) {
		if (p[i] == '\r')
			o += (size_t)snprintf(out + o, cap - o, "\\r");
		else if (p[i] == '\n')
			o += (size_t)snprintf(out + o, cap - o, "\\n");
		else if (p[i] < 0x20 || p[i] >= 0x7f)
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x",
			    p[i]);
		else
			out[o++] = (char)p[i];
	}
	if (i < n)
		o += (size_t)snprintf(out + o, cap - o, "...(%zu bytes)", n);
	out[o] = '\0';
	return out;
}

/* Assert that s holds exactly want[0..wlen). */
static void
expect_str(struct hl7_str s, const char *want, size_t wlen, const char *what)
{
	char g[256], w[256];

	cr_expect(s.len == wlen && (wlen == 0 || memcmp(s.p, want, wlen) == 0),
	    "%s: got \"%s\", want \"%s\"", what, show(s.p, s.len, g, sizeof(g)),
	    show(want, wlen, w, sizeof(w)));
}

static void
expect_span(const struct hl7_msg *m, struct hl7_span sp, const char *want,
    const char *what)
{
	expect_str(hl7_raw(m, sp), want, strlen(want), what);
}

static void
parse_ok(struct hl7_msg *m, const char *buf, size_t len,
    const struct hl7_parse_opts *opts)
{
	char b[256];
	int rc = hl7_parse(m, buf, len, opts);

	cr_assert_eq(rc, 0, "parse of \"%s\" failed: %s at %zu",
	    show(buf, len, b, sizeof(b)), m->err.reason ? m->err.reason : "?",
	    m->err.offset);
}

/* A buffer assembled from pieces, for the large inputs. */
struct big {
	char *p;
	size_t len, cap;
};

static void
big_add(struct big *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		cr_assert_not_null(b->p);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void
big_adds(struct big *b, const char *s)
{
	big_add(b, s, strlen(s));
}

static void
big_fill(struct big *b, char c, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		cr_assert_not_null(b->p);
	}
	memset(b->p + b->len, c, n);
	b->len += n;
}

/* ------------------------------------------------------------------ */
/* Delimiters and positions                                           */

/* The same PID three ways: standard, `#$*@!` (field separator #), 2.7 with #. */
static const char MSG_STD[] =
    "MSH|^~\\&|LAB|HOSP|LW|ONC|20261120073000||ORU^R01|C1|P|2.5.1\r"
    "PID|1||123456^^^HOSP^MR~987^^^NAT&2.16.156&ISO^NI||DOE^JANE^Q\r";
static const char MSG_HASH[] =
    "MSH#$*@!#LAB#HOSP#LW#ONC#20261120073000##ORU$R01#C2#P#2.5.1\r"
    "PID#1##123456$$$HOSP$MR*987$$$NAT!2.16.156!ISO$NI##DOE$JANE$Q\r";
static const char MSG_TRUNC[] =
    "MSH|^~\\&#|LAB|HOSP|LW|ONC|20261120073000||ORU^R01^ORU_R01|C3|P|2.7\r"
    "PID|1||123456^^^HOSP^MR~987^^^NAT&2.16.156&ISO^NI||DOE^JANE^Q\r";

struct pos_case {
	const char *msg;
	const char *seg; /* segment id; its first occurrence */
	unsigned field, rep, comp, sub;
	const char *want; /* raw bytes */
};

static const struct pos_case pos_cases[] = {
	{ MSG_STD, "MSH", 1, 0, 0, 0, "|" },
	{ MSG_STD, "MSH", 2, 0, 0, 0, "^~\\&" },
	{ MSG_STD, "MSH", 2, 1, 1, 1, "^~\\&" }, /* never split */
	{ MSG_STD, "MSH", 1, 1, 2, 0, "|" },
	{ MSG_STD, "MSH", 0, 0, 0, 0, "MSH" },
	{ MSG_STD, "MSH", 3, 0, 0, 0, "LAB" },
	{ MSG_STD, "MSH", 9, 1, 2, 0, "R01" },
	{ MSG_STD, "MSH", 12, 0, 0, 0, "2.5.1" },
	{ MSG_STD, "MSH", 13, 0, 0, 0, "" },
	{ MSG_STD, "PID", 0, 0, 0, 0, "PID" },
	{ MSG_STD, "PID", 3, 0, 0, 0,
	    "123456^^^HOSP^MR~987^^^NAT&2.16.156&ISO^NI" },
	{ MSG_STD, "PID", 3, 1, 0, 0, "123456^^^HOSP^MR" },
	{ MSG_STD, "PID", 3, 2, 0, 0, "987^^^NAT&2.16.156&ISO^NI" },
	{ MSG_STD, "PID", 3, 2, 1, 0, "987" },
	{ MSG_STD, "PID", 3, 1, 5, 0, "MR" },
	{ MSG_STD, "PID", 3, 2, 4, 0, "NAT&2.16.156&ISO" },
	{ MSG_STD, "PID", 3, 2, 4, 2, "2.16.156" },
	{ MSG_STD, "PID", 3, 2, 4, 3, "ISO" },
	{ MSG_STD, "PID", 3, 2, 4, 4, "" },
	{ MSG_STD, "PID", 3, 2, 6, 0, "" },
	{ MSG_STD, "PID", 3, 3, 1, 0, "" },
	{ MSG_STD, "PID", 3, 1, 2, 0, "" },
	{ MSG_STD, "PID", 5, 1, 2, 0, "JANE" },
	{ MSG_STD, "PID", 5, 1, 1, 1, "DOE" },
	{ MSG_STD, "PID", 2, 1, 1, 0, "" },
	{ MSG_STD, "PID", 99, 1, 1, 0, "" },

	{ MSG_HASH, "MSH", 1, 0, 0, 0, "#" },
	{ MSG_HASH, "MSH", 2, 0, 0, 0, "$*@!" },
	{ MSG_HASH, "MSH", 2, 1, 1, 0, "$*@!" },
	{ MSG_HASH, "MSH", 9, 1, 1, 0, "ORU" },
	{ MSG_HASH, "MSH", 9, 1, 2, 0, "R01" },
	{ MSG_HASH, "MSH", 10, 0, 0, 0, "C2" },
	{ MSG_HASH, "PID", 3, 0, 0, 0,
	    "123456$$$HOSP$MR*987$$$NAT!2.16.156!ISO$NI" },
	{ MSG_HASH, "PID", 3, 2, 0, 0, "987$$$NAT!2.16.156!ISO$NI" },
	{ MSG_HASH, "PID", 3, 2, 1, 0, "987" },
	{ MSG_HASH, "PID", 3, 1, 5, 0, "MR" },
	{ MSG_HASH, "PID", 3, 2, 4, 2, "2.16.156" },
	{ MSG_HASH, "PID", 5, 1, 3, 0, "Q" },

	{ MSG_TRUNC, "MSH", 1, 0, 0, 0, "|" },
	{ MSG_TRUNC, "MSH", 2, 0, 0, 0, "^~\\&#" },
	{ MSG_TRUNC, "MSH", 3, 0, 0, 0, "LAB" },
	{ MSG_TRUNC, "MSH", 9, 1, 3, 0, "ORU_R01" },
	{ MSG_TRUNC, "MSH", 12, 0, 0, 0, "2.7" },
	{ MSG_TRUNC, "PID", 3, 2, 1, 0, "987" },
	{ MSG_TRUNC, "PID", 3, 2, 4, 2, "2.16.156" },
};

Test(hl7, delimiters_by_position)
{
	size_t i;
	const char *last = NULL;
	char what[96];
	int seg;

	for (i = 0; i < NELEM(pos_cases); i++) {
		const struct pos_case *c = &pos_cases[i];

		if (c->msg != last) {
			parse_ok(&M, c->msg, strlen(c->msg), NULL);
			last = c->msg;
		}
		seg = hl7_find_seg(&M, c->seg, 0);
		cr_assert_geq(seg, 0, "case %zu: no %s", i, c->seg);
		snprintf(what, sizeof(what), "case %zu %s-%u(%u).%u.%u", i,
		    c->seg, c->field, c->rep, c->comp, c->sub);
		expect_span(&M,
		    hl7_get(&M, (uint32_t)seg, c->field, c->rep, c->comp,
			c->sub),
		    c->want, what);
	}
}

Test(hl7, seg_fields_and_split_span)
{
	static const char msg[] = MSH_STD
	    "\rOBX|1|CWE|A^B^C^D^E^F^G^H~X^Y|sub|v1~v2|u\r";
	struct hl7_span f[9], c[4];
	unsigned n;

	parse_ok(&M, LIT(msg), NULL);
	hl7_seg_fields(&M, 1, f, 9);
	expect_span(&M, f[0], "OBX", "field 0");
	expect_span(&M, f[1], "1", "OBX-1");
	expect_span(&M, f[3], "A^B^C^D^E^F^G^H", "OBX-3, first repetition");
	expect_span(&M, f[5], "v1", "OBX-5, first repetition");
	expect_span(&M, f[6], "u", "OBX-6");
	expect_span(&M, f[7], "", "OBX-7 absent");
	expect_span(&M, f[8], "", "OBX-8 absent");
	hl7_seg_fields(&M, 7, f, 3);
	expect_span(&M, f[0], "", "no such segment");

	n = hl7_split_span(&M, hl7_get(&M, 1, 3, 1, 0, 0), '^', c, 4);
	cr_expect_eq(n, 4);
	expect_span(&M, c[0], "A", "piece 1");
	expect_span(&M, c[2], "C", "piece 3");
	expect_span(&M, c[3], "D^E^F^G^H", "the rest");
	n = hl7_split_span(&M, hl7_field(&M, 1, 4), '^', c, 4);
	cr_expect_eq(n, 1);
	expect_span(&M, c[0], "sub", "no delimiter");
	n = hl7_split_span(&M, hl7_field(&M, 1, 7), '^', c, 4);
	cr_expect_eq(n, 1);
	cr_expect_eq(c[0].len, 0);
	cr_expect_eq(hl7_split_span(&M, hl7_field(&M, 1, 3), '^', c, 0), 0);
	expect_span(&M, hl7_comp1(&M, hl7_get(&M, 1, 3, 2, 0, 0)), "X",
	    "comp1");
	expect_span(&M, hl7_comp1(&M, hl7_field(&M, 1, 4)), "sub",
	    "comp1 whole");
}

struct delim_case {
	const char *msg;
	struct hl7_delims d;
	unsigned pid3_reps;
};

Test(hl7, delimiters_declared)
{
	static const struct delim_case cases[] = {
		{ MSG_STD, { '|', '^', '~', '\\', '&', 0 }, 2 },
		{ MSG_HASH, { '#', '$', '*', '@', '!', 0 }, 2 },
		{ MSG_TRUNC, { '|', '^', '~', '\\', '&', '#' }, 2 },
		/* Senders that declare no escape or subcomponent character. */
		{ "MSH|^~|LAB\rPID|1||1~2~3\r", { '|', '^', '~', 0, 0, 0 }, 3 },
		{ "MSH|^~\\|LAB\rPID|1||1\r", { '|', '^', '~', '\\', 0, 0 },
		    1 },
	};
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		const struct delim_case *c = &cases[i];

		parse_ok(&M, c->msg, strlen(c->msg), NULL);
		cr_expect_eq(M.d.field, c->d.field, "case %zu field", i);
		cr_expect_eq(M.d.comp, c->d.comp, "case %zu comp", i);
		cr_expect_eq(M.d.rep, c->d.rep, "case %zu rep", i);
		cr_expect_eq(M.d.esc, c->d.esc, "case %zu esc", i);
		cr_expect_eq(M.d.sub, c->d.sub, "case %zu sub", i);
		cr_expect_eq(M.d.trunc, c->d.trunc, "case %zu trunc", i);
		cr_expect_eq(M.nsegs, 2, "case %zu nsegs", i);
		cr_expect_eq(hl7_rep_count(&M, hl7_field(&M, 1, 3)),
		    c->pid3_reps, "case %zu PID-3 repetitions", i);
	}
}

Test(hl7, segments_and_fields_counted)
{
	static const char msg[] = MSH_STD
	    "\rPID|1||42\rOBR|1\rOBX|1|NM|X||5|\rZL7\rOBX|2\r";

	parse_ok(&M, LIT(msg), NULL);
	cr_assert_eq(M.nsegs, 6);
	cr_expect_str_eq(M.segs[0].id, "MSH");
	cr_expect_str_eq(M.segs[4].id, "ZL7");
	cr_expect_eq(M.segs[0].nfields, 13); /* MSH-0 .. MSH-12 */
	cr_expect_eq(M.segs[1].nfields, 4);
	cr_expect_eq(M.segs[3].nfields,
	    7); /* trailing separator: empty OBX-6 */
	cr_expect_eq(M.segs[4].nfields, 1);
	cr_expect_eq(M.segs[1].off, sizeof(MSH_STD));
	cr_expect_eq(M.segs[1].len, 9);
	cr_expect_eq(hl7_find_seg(&M, "OBX", 0), 3);
	cr_expect_eq(hl7_find_seg(&M, "OBX", 4), 5);
	cr_expect_eq(hl7_find_seg(&M, "OBX", 6), -1);
	cr_expect_eq(hl7_find_seg(&M, "NTE", 0), -1);
	cr_expect(hl7_span_eq(&M, hl7_field(&M, 3, 5), "5"));
	cr_expect(!hl7_span_eq(&M, hl7_field(&M, 3, 5), "50"));
	cr_expect(!hl7_span_eq(&M, hl7_field(&M, 3, 5), ""));
	cr_expect(hl7_span_eq(&M, hl7_field(&M, 3, 6), ""));
	cr_expect(hl7_span_eq(&M, hl7_field(&M, 77, 1), ""));
}

Test(hl7, repetition_count)
{
	static const struct {
		const char *field;
		unsigned n;
	} cases[] = {
		{ "", 0 },
		{ "a", 1 },
		{ "a~b", 2 },
		{ "~", 2 },
		{ "a~~b", 3 },
		{ "~~~", 4 },
		{ "a^b&c~d", 2 },
	};
	char msg[128];
	size_t i;
	int n;

	for (i = 0; i < NELEM(cases); i++) {
		n = snprintf(msg, sizeof(msg), MSH_STD "\rNTE|1|L|%s\r",
		    cases[i].field);
		parse_ok(&M, msg, (size_t)n, NULL);
		cr_expect_eq(hl7_rep_count(&M, hl7_field(&M, 1, 3)), cases[i].n,
		    "case %zu \"%s\"", i, cases[i].field);
	}
}

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

Test(hl7, escapes_standard_delimiters)
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

Test(hl7, escapes_other_delimiters)
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

Test(hl7, escapes_without_optional_delimiters)
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

Test(hl7, text_zero_copy)
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

Test(hl7, latin1_fixture)
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

Test(hl7, charsets_to_utf8)
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
Test(hl7, msh18_repetition_first_counts)
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
Test(hl7, charset_iso2022jp_converted)
{
	static const char msg[] =
	    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|J1|P|2.5||||||ISO IR87\r"
	    "NTE|1|L|\x1b$B%F%9%H\x1b(B\r";

	parse_ok(&M, LIT(msg), NULL);
	cr_expect_eq(M.charset, HL7_CS_ICONV);
	expect_str(hl7_text(&M, hl7_field(&M, 1, 3)),
	    LIT("\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88"), "ISO-2022-JP text");
}

Test(hl7, charset_errors)
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

Test(hl7, charset_lookup)
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
/* Line endings                                                        */

/* Segments and fields as "ID|f1|f2...\n" for comparing parses. */
static char *
dump_fields(const struct hl7_msg *m)
{
	struct big b = { 0 };
	uint32_t i, f;
	struct hl7_str s;

	for (i = 0; i < m->nsegs; i++) {
		big_adds(&b, m->segs[i].id);
		for (f = 1; f < m->segs[i].nfields; f++) {
			s = hl7_raw(m, hl7_field(m, i, f));
			big_add(&b, "[", 1);
			big_add(&b, s.p, s.len);
			big_add(&b, "]", 1);
		}
		big_add(&b, "\n", 1);
	}
	big_add(&b, "", 1);
	return b.p;
}

Test(hl7, line_endings_same_parse)
{
	static const struct {
		const char *name;
		const char *msg;
	} cases[] = {
		{ "CR",
		    MSH_STD "\rPID|1||42^^^H^MR\rOBR|1\rOBX|1|NM|X||5|U/L\r" },
		{ "LF",
		    MSH_STD "\nPID|1||42^^^H^MR\nOBR|1\nOBX|1|NM|X||5|U/L\n" },
		{ "CRLF",
		    MSH_STD
		    "\r\nPID|1||42^^^H^MR\r\nOBR|1\r\nOBX|1|NM|X||5|U/L\r\n" },
		{ "no final terminator",
		    MSH_STD "\rPID|1||42^^^H^MR\rOBR|1\rOBX|1|NM|X||5|U/L" },
		{ "blank lines",
		    MSH_STD
		    "\r\rPID|1||42^^^H^MR\n\nOBR|1\r\n\r\nOBX|1|NM|X||5|U/L\r\r\n" },
		{ "leading blank lines",
		    "\r\n\n" MSH_STD
		    "\nPID|1||42^^^H^MR\nOBR|1\nOBX|1|NM|X||5|U/L\n" },
		{ "mixed",
		    MSH_STD
		    "\rPID|1||42^^^H^MR\nOBR|1\r\nOBX|1|NM|X||5|U/L\n\r" },
	};
	static const char want[] =
	    "MSH[|][^~\\&][LIS][MAINLAB][LABWATCH][ONC][20261120073500][][ORU^R01^ORU_R01][C0001][P][2.5.1]\n"
	    "PID[1][][42^^^H^MR]\n"
	    "OBR[1]\n"
	    "OBX[1][NM][X][][5][U/L]\n";
	size_t i;
	char *d;

	for (i = 0; i < NELEM(cases); i++) {
		parse_ok(&M, cases[i].msg, strlen(cases[i].msg), NULL);
		d = dump_fields(&M);
		cr_expect_str_eq(d, want, "%s", cases[i].name);
		free(d);
	}
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */

struct err_case {
	char name[40];
	char in[96];
	size_t len;
	int code;
	char reason[64];
	size_t offset;
	unsigned seg_seq;
};

#define ERRCASE(n, bytes, code, reason, off, seq) \
	{ \
		n, bytes, sizeof(bytes) - 1, code, reason, off, seq \
	}

ParameterizedTestParameters(hl7, parse_errors)
{
	static struct err_case cases[] = {
		ERRCASE("empty", "", 100, "empty message", 0, 0),
		ERRCASE("blank lines only", "\r\n\r\n\n", 100, "empty message",
		    0, 0),
		ERRCASE("not MSH", "PID|1||123456^^^H^MR\r", 100,
		    "message does not start with MSH", 0, 0),
		ERRCASE("too short", "MS", 100,
		    "message does not start with MSH", 0, 0),
		ERRCASE("lower-case msh", "msh|^~\\&|LIS\r", 100,
		    "message does not start with MSH", 0, 0),
		ERRCASE("UTF-8 BOM", "\xef\xbb\xbfMSH|^~\\&|LIS\r", 100,
		    "message does not start with MSH", 0, 0),
		ERRCASE("batch header", "FHS|^~\\&|LIS\rBHS|^~\\&|LIS\r", 100,
		    "message does not start with MSH", 0, 0),
		ERRCASE("binary", "\x9c\x00\x13\xff\xfe\x01", 100,
		    "message does not start with MSH", 0, 0),
		ERRCASE("MSH alone", "MSH", 101,
		    "MSH-1 field separator missing or invalid", 3, 0),
		ERRCASE("MSH then CR", "MSH\rPID|1\r", 101,
		    "MSH-1 field separator missing or invalid", 3, 0),
		ERRCASE("letter separator", "MSHA^~\\&A", 101,
		    "MSH-1 field separator missing or invalid", 3, 0),
		ERRCASE("space separator", "MSH ^~\\& LIS", 101,
		    "MSH-1 field separator missing or invalid", 3, 0),
		ERRCASE("no MSH-2", "MSH|", 101,
		    "MSH-2 encoding characters missing", 4, 0),
		ERRCASE("MSH-2 cut after 1", "MSH|^", 101,
		    "MSH-2 encoding characters missing", 4, 0),
		ERRCASE("empty MSH-2", "MSH||LIS|LAB\r", 101,
		    "MSH-2 encoding characters missing", 4, 0),
		ERRCASE("MSH-2 too long", "MSH|^~\\&#x|LIS\r", 102,
		    "MSH-2 encoding characters too long", 9, 0),
		ERRCASE("MSH-2 repeated char", "MSH|^^\\&|LIS\r", 102,
		    "MSH-2 encoding characters not distinct", 5, 0),
		ERRCASE("MSH-2 repeated later", "MSH|^~\\^|LIS\r", 102,
		    "MSH-2 encoding characters not distinct", 7, 0),
		ERRCASE("MSH-2 space", "MSH|^~ &|LIS\r", 102,
		    "MSH-2 encoding character invalid", 6, 0),
		ERRCASE("MSH-2 letter", "MSH|^~\\A|LIS\r", 102,
		    "MSH-2 encoding character invalid", 7, 0),
		ERRCASE("MSH-2 NUL", "MSH|^~\x00&|LIS\r", 102,
		    "MSH-2 encoding character invalid", 6, 0),
		ERRCASE("MSH-2 high byte", "MSH|^~\xa7&|LIS\r", 102,
		    "MSH-2 encoding character invalid", 6, 0),
		ERRCASE("bad segment id", "MSH|^~\\&|LIS\rO@X|1|NM\r", 100,
		    "invalid segment id", 13, 2),
		ERRCASE("4-letter segment id", "MSH|^~\\&|LIS\rPID|1\rOBXX|1\r",
		    100, "invalid segment id", 19, 3),
		ERRCASE("lower-case segment id", "MSH|^~\\&|LIS\robx|1\r", 100,
		    "invalid segment id", 13, 2),
		ERRCASE("segment without id", "MSH|^~\\&|LIS\r|1|2\r", 100,
		    "invalid segment id", 13, 2),
		ERRCASE("spaces line", "MSH|^~\\&|LIS\r   \rPID|1\r", 100,
		    "invalid segment id", 13, 2),
		ERRCASE("NUL in segment id", "MSH|^~\\&|LIS\rPI\x00D|1\r", 100,
		    "invalid segment id", 13, 2),
		ERRCASE("NUL in a field", "MSH|^~\\&|LIS\rPID|1|\x00|x\r", 102,
		    "NUL byte in message", 19, 2),
		ERRCASE("NUL after segment id", "MSH|^~\\&|LIS\rPID\x00|1\r",
		    102, "NUL byte in message", 16, 2),
		ERRCASE("NUL in MSH", "MSH|^~\\&|L\x00IS\r", 102,
		    "NUL byte in message", 10, 1),
		ERRCASE("NUL at the end", "MSH|^~\\&|LIS\rPID|1\r\x00", 102,
		    "NUL byte in message", 19, 0),
		ERRCASE("two messages",
		    "MSH|^~\\&|LIS|1\rPID|1\rMSH|^~\\&|LIS|2\rPID|2\r", 100,
		    "second MSH segment in message", 21, 3),
		ERRCASE("two messages, LF",
		    "MSH|^~\\&|LIS|1\nMSH|^~\\&|LIS|2\n", 100,
		    "second MSH segment in message", 15, 2),
		ERRCASE("garbage after MSH",
		    "MSH|^~\\&|LIS\r\x01\x02\xff\x80|x\r", 100,
		    "invalid segment id", 13, 2),
	};

	return cr_make_param_array(struct err_case, cases, NELEM(cases));
}

ParameterizedTest(struct err_case *c, hl7, parse_errors)
{
	int rc = hl7_parse(&M, c->in, c->len, NULL);

	cr_assert_eq(rc, -1, "%s: parse succeeded", c->name);
	cr_expect_eq((int)M.err.code, c->code, "%s: code %d", c->name,
	    (int)M.err.code);
	cr_assert_not_null(M.err.reason, "%s: no reason", c->name);
	cr_expect_str_eq(M.err.reason, c->reason, "%s", c->name);
	cr_expect_eq(M.err.offset, c->offset, "%s: offset %zu", c->name,
	    M.err.offset);
	cr_expect_eq(M.err.seg_seq, c->seg_seq, "%s: seg_seq %u", c->name,
	    M.err.seg_seq);
}

Test(hl7, error_details_of_nul)
{
	static const char msg[] = "MSH|^~\\&|LIS\rPID|1|\x00|x\r";

	cr_assert_eq(hl7_parse(&M, LIT(msg), NULL), -1);
	cr_expect_str_eq(M.err.seg_id, "PID");
}

/*
 * Offsets are positions in the bytes the caller passed (what an analyst
 * sees in the archived message), also when blank lines come before MSH.
 */
Test(hl7, error_offset_counts_leading_blank_lines)
{
	static const char msg[] = "\r\n"
				  "MSH|^~\\&|LIS\rO@X|1\r";

	cr_assert_eq(hl7_parse(&M, LIT(msg), NULL), -1);
	cr_expect_str_eq(M.err.reason, "invalid segment id");
	cr_expect_eq(M.err.offset, 15, "offset %zu, want 15 (the O of O@X)",
	    M.err.offset);
}

Test(hl7, truncated_msh2_parses_without_escape)
{
	/* A message cut inside MSH-2: two encoding characters are a valid
	 * (escape-less) declaration, so the parse stands and the missing
	 * MSH-9 is for the extractor to refuse (see test_oru.c). */
	parse_ok(&M, LIT("MSH|^~"), NULL);
	cr_expect_eq(M.nsegs, 1);
	cr_expect_eq(M.d.esc, 0);
	cr_expect_eq(M.segs[0].nfields, 3);
	expect_span(&M, hl7_field(&M, 0, 9), "", "MSH-9");
}

/* A deterministic generator, so a failure can be replayed. */
static uint64_t
lcg(uint64_t *x)
{
	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	return *x >> 33;
}

static void
exercise(struct hl7_msg *m)
{
	uint32_t i, f;
	unsigned r;
	struct hl7_span sp;

	for (i = 0; i < m->nsegs; i++)
		for (f = 0; f < m->segs[i].nfields; f++) {
			sp = hl7_field(m, i, f);
			(void)hl7_text(m, sp);
			for (r = 1; r <= 3; r++)
				(void)hl7_text(m, hl7_get(m, i, f, r, 2, 2));
		}
}

Test(hl7, binary_garbage, .timeout = 60)
{
	static const char *const prefixes[] = { "", "MSH|^~\\&|",
		"MSH|^~\\&|LIS\rOBX|" };
	unsigned char buf[2048];
	uint64_t x = 20261120;
	size_t i, k, n, plen;
	int rc, bad = 0;

	for (i = 0; i < 3000; i++) {
		const char *pre = prefixes[i % NELEM(prefixes)];

		plen = strlen(pre);
		memcpy(buf, pre, plen);
		n = plen + lcg(&x) % (sizeof(buf) - plen);
		for (k = plen; k < n; k++) {
			/* Mostly printable, some separators, CR/LF and NUL. */
			unsigned v = (unsigned)lcg(&x) & 0xff;

			buf[k] = v < 0x30 ?
			    (unsigned char)"|^~\\&\r\n\0"[v & 7] :
			    (unsigned char)v;
		}
		rc = hl7_parse(&M, (const char *)buf, n, NULL);
		if (rc == 0) {
			exercise(&M);
			continue;
		}
		bad++;
		cr_assert_eq(rc, -1);
		cr_assert_not_null(M.err.reason, "case %zu", i);
		cr_assert_leq(M.err.offset, n, "case %zu", i);
		cr_assert(M.err.code == 100 || M.err.code == 101 ||
			M.err.code == 102,
		    "case %zu: code %d", i, (int)M.err.code);
		if (plen == 0 && n > 0 && buf[0] != 'M' && buf[0] != '\r' &&
		    buf[0] != '\n') {
			cr_assert_str_eq(M.err.reason,
			    "message does not start with MSH", "case %zu", i);
			cr_assert_eq(M.err.offset, 0, "case %zu", i);
		}
	}
	cr_expect_gt(bad, 0);
}

/* ------------------------------------------------------------------ */
/* Robustness                                                          */

#define THREE_MB (3u * 1024 * 1024)

Test(hl7, three_megabyte_field, .timeout = 60)
{
	struct big b = { 0 };
	struct hl7_span sp;
	struct hl7_str s;
	size_t i, pre;

	/* Plain text: indexed and read in place. */
	big_adds(&b, MSH_STD "\rOBX|1|TX|11526-1^Pathology study^LN||");
	pre = b.len;
	for (i = 0; i < THREE_MB / 8; i++)
		big_add(&b, "ABCDEFG ", 8);
	big_adds(&b, "|u\r");
	parse_ok(&M, b.p, b.len, NULL);
	sp = hl7_field(&M, 1, 5);
	cr_expect_eq(sp.off, pre);
	cr_expect_eq(sp.len, THREE_MB);
	s = hl7_text(&M, sp);
	cr_expect_eq(s.p, M.buf + pre);
	cr_expect_eq(s.len, THREE_MB);
	expect_span(&M, hl7_field(&M, 1, 6), "u", "field after the big one");

	/* The same size made of escapes: every \F\ becomes one byte. */
	b.len = 0;
	big_adds(&b, MSH_STD "\rOBX|1|TX|X||");
	for (i = 0; i < THREE_MB / 3; i++)
		big_add(&b, "\\F\\", 3);
	big_adds(&b, "|u\r");
	parse_ok(&M, b.p, b.len, NULL);
	s = hl7_text(&M, hl7_field(&M, 1, 5));
	cr_assert_eq(s.len, THREE_MB / 3);
	cr_expect(
	    s.p[0] == '|' && s.p[s.len / 2] == '|' && s.p[s.len - 1] == '|');

	/* Latin-1 high bytes: 3 MB in, 6 MB of UTF-8 out. */
	b.len = 0;
	big_adds(&b,
	    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|B3|P|2.4||||||8859/1\rNTE|1|L|");
	big_fill(&b, '\xe9', THREE_MB);
	big_adds(&b, "\r");
	parse_ok(&M, b.p, b.len, NULL);
	s = hl7_text(&M, hl7_field(&M, 1, 3));
	cr_assert_eq(s.len, 2 * (size_t)THREE_MB);
	cr_expect(memcmp(s.p, "\xc3\xa9", 2) == 0);
	cr_expect(memcmp(s.p + s.len - 2, "\xc3\xa9", 2) == 0);
	free(b.p);
}

Test(hl7, million_field_separators, .timeout = 60)
{
	struct big b = { 0 };
	int seg;

	big_adds(&b, MSH_STD "\rZPD");
	big_fill(&b, '|', 1000000);
	big_adds(&b, "\rPID|1||42\r");
	parse_ok(&M, b.p, b.len, NULL);
	cr_assert_eq(M.nsegs, 3);
	cr_expect_eq(M.segs[1].nfields, 1000001);
	cr_expect_eq(hl7_field(&M, 1, 1000000).len, 0);
	cr_expect_eq(hl7_field(&M, 1, 1000000).off,
	    sizeof(MSH_STD) + 3 + 1000000);
	cr_expect_eq(hl7_field(&M, 1, 1000001).len, 0);
	seg = hl7_find_seg(&M, "PID", 0);
	cr_expect_eq(seg, 2);
	expect_span(&M, hl7_field(&M, 2, 3), "42",
	    "PID-3 after the long segment");
	free(b.p);
}

Test(hl7, million_component_separators, .timeout = 60)
{
	struct big b = { 0 };
	struct hl7_span rep;

	big_adds(&b, MSH_STD "\rOBX|1|ST|X||first");
	big_fill(&b, '^', 1000000);
	big_adds(&b, "last&sub|U\r");
	parse_ok(&M, b.p, b.len, NULL);
	rep = hl7_rep(&M, hl7_field(&M, 1, 5), 1);
	cr_expect_eq(rep.len, 5 + 1000000 + 8);
	expect_span(&M, hl7_comp(&M, rep, 1), "first", "component 1");
	expect_span(&M, hl7_comp(&M, rep, 2), "", "component 2");
	expect_span(&M, hl7_comp(&M, rep, 500000), "", "component 500000");
	expect_span(&M, hl7_comp(&M, rep, 1000001), "last&sub",
	    "component 1000001");
	expect_span(&M, hl7_sub(&M, hl7_comp(&M, rep, 1000001), 2), "sub",
	    "its subcomponent 2");
	expect_span(&M, hl7_comp(&M, rep, 1000002), "", "past the end");
	expect_span(&M, hl7_comp(&M, rep, UINT_MAX), "", "far past the end");
	cr_expect_eq(hl7_rep_count(&M, hl7_field(&M, 1, 5)), 1);
	expect_span(&M, hl7_field(&M, 1, 6), "U", "OBX-6");
	free(b.p);
}

Test(hl7, arena_keeps_earlier_text, .timeout = 60)
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

Test(hl7, reparse_resets_state)
{
	static const char latin[] =
	    "MSH|^~\\&#|LIS|LAB|LW|ONC|20261120073000||ORU^R01|R1|P|2.7||||||8859/1\rNTE|1|L|\xf6\r";
	static const char plain[] = MSH_STD "\rNTE|1|L|\xc3\xb6\\P\\\r";

	cr_assert_eq(hl7_parse(&M, LIT("MSH|^~\\&|LIS\rO@X\r"), NULL), -1);
	parse_ok(&M, LIT(latin), NULL);
	cr_expect_eq(M.err.code, 0);
	cr_expect_null(M.err.reason);
	cr_expect_eq(M.d.trunc, '#');
	expect_str(hl7_text(&M, hl7_field(&M, 1, 3)), LIT("\xc3\xb6"), "latin");
	parse_ok(&M, LIT(plain), NULL);
	cr_expect_eq(M.charset, HL7_CS_UTF8, "charset must not carry over");
	cr_expect_eq(M.d.trunc, 0, "truncation character must not carry over");
	expect_str(hl7_text(&M, hl7_field(&M, 1, 3)), LIT("\xc3\xb6\\P\\"),
	    "plain");
	cr_expect_eq(M.nsegs, 2);
}

/* ------------------------------------------------------------------ */
/* DTM                                                                 */

struct dtm_case {
	const char *in;
	const char *iso;
	int precision;
	bool has_offset;
	int offset_min;
};

Test(hl7, dtm_parse_and_iso)
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
Test(hl7, dtm_iso_matches_printf)
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

Test(hl7, dtm_rejects)
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

Test(hl7, dtm_epoch)
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

/* ------------------------------------------------------------------ */
/* Numbers                                                             */

struct num_case {
	char in[40];
	double want;
};

ParameterizedTestParameters(hl7, number_good)
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

ParameterizedTest(struct num_case *c, hl7, number_good)
{
	double d = -12345;

	cr_assert_eq(hl7_number(c->in, strlen(c->in), &d), 0, "\"%s\" rejected",
	    c->in);
	/* Exactly the double the C compiler makes of the same text. */
	cr_expect(d == c->want, "\"%s\": %.17g, want %.17g", c->in, d, c->want);
}

ParameterizedTestParameters(hl7, number_bad)
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

ParameterizedTest(struct num_case *c, hl7, number_bad)
{
	double d = 0;

	cr_expect_eq(hl7_number(c->in, strlen(c->in), &d), -1,
	    "\"%s\" accepted as %g", c->in, d);
}

Test(hl7, number_length_is_respected)
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

/* hl7_split_span the slow way: a byte at a time. */
static unsigned
ref_split_span(const char *p, size_t len, char c, size_t *off, size_t *plen,
    unsigned max)
{
	size_t i, start = 0;
	unsigned n = 0;

	for (i = 0; i < len && n + 1 < max; i++)
		if (p[i] == c) {
			off[n] = start;
			plen[n++] = i - start;
			start = i + 1;
		}
	off[n] = start;
	plen[n] = len - start;
	return n + 1;
}

/*
 * Fields of 0 to 70 bytes with delimiters scattered (runs, at both ends,
 * across the 16-byte words of the SSE2 scan), split at every max 1-9.
 */
Test(hl7, split_span_matches_bytewise)
{
	char msg[256], field[72];
	size_t off[10], plen[10], len, i, at;
	struct hl7_span c[10], f;
	uint64_t seed = 99;
	unsigned round, max, n, want, bad = 0;

	for (round = 0; round < 3000; round++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		len = seed % 71;
		for (i = 0; i < len; i++)
			field[i] = (seed >> (i % 61)) % (round % 5 + 2) == 0 ?
			    '^' :
			    (char)('a' + i % 26);
		n = (unsigned)snprintf(msg, sizeof(msg),
		    "%s\rOBX|1|CWE|%.*s|x\r", MSH_STD, (int)len, field);
		parse_ok(&M, msg, n, NULL);
		f = hl7_field(&M, 1, 3);
		cr_assert_eq(f.len, len);
		for (max = 1; max <= 9; max++) {
			n = hl7_split_span(&M, f, '^', c, max);
			want = ref_split_span(field, len, '^', off, plen, max);
			if (n != want && bad++ < 5)
				cr_log_error(
				    "round %u max %u: %u pieces, want %u",
				    round, max, n, want);
			for (i = 0; i < n && i < want; i++) {
				at = c[i].off - f.off;
				if ((at != off[i] || c[i].len != plen[i]) &&
				    bad++ < 5)
					cr_log_error(
					    "round %u max %u piece %zu", round,
					    max, i);
			}
		}
	}
	cr_expect_eq(bad, 0, "%u splits differ", bad);
}
