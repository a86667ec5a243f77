/*
 * test_hl7.c: the HL7 v2 parser (hl7.c) against what real senders write.
 *
 * Delimiters by position (including `#$*@!`-style and the 2.7 truncation
 * character), line endings, errors with their code, reason and offset,
 * inputs built to crash or stall a parser. Escapes and charsets are in
 * test_hl7_text.c, DTM and numbers in test_hl7_dtm.c. Every case asserts
 * exact bytes.
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

TestSuite(hl7, .init = setup, .fini = teardown);

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
 * across the 16-byte words of the SSE2 scan), split at every max 1-9, and
 * each component read alone (hl7_comp, hl7_comp1). The message ends
 * right after the field, a few bytes later, or after a run of the
 * delimiter itself: the 16-byte compares stop at the message's end and
 * must not see delimiters past the field's.
 */
Test(hl7, split_span_matches_bytewise)
{
	static const char *const tails[] = { "|x\r", "", "|^^^^^^^^^^^^^^^^^^",
		"^" };
	char msg[256], field[72];
	size_t off[80], plen[80], len, i, at;
	struct hl7_span c[10], f, one;
	uint64_t seed = 99;
	unsigned round, max, n, want, k, bad = 0;
	const char *tail;

	for (round = 0; round < 3000; round++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		len = seed % 71;
		for (i = 0; i < len; i++)
			field[i] = (seed >> (i % 61)) % (round % 5 + 2) == 0 ?
			    '^' :
			    (char)('a' + i % 26);
		tail = tails[round % NELEM(tails)];
		n = (unsigned)snprintf(msg, sizeof(msg), "%s\rOBX|1|CWE|%.*s%s",
		    MSH_STD, (int)len, field, tail);
		parse_ok(&M, msg, n, NULL);
		f = hl7_field(&M, 1, 3);
		if (tail[0] == '^') /* the run is the field's own last piece */
			field[len++] = '^';
		cr_assert_eq(f.len, len);
		want = ref_split_span(field, len, '^', off, plen, 80);
		for (k = 1; k <= 10; k++) {
			one = hl7_comp(&M, f, k);
			if (k <= want ? (one.off - f.off != off[k - 1] ||
					    one.len != plen[k - 1]) :
					one.len != 0)
				if (bad++ < 5)
					cr_log_error("round %u comp %u", round,
					    k);
		}
		one = hl7_comp1(&M, f);
		if ((one.off != f.off || one.len != plen[0]) && bad++ < 5)
			cr_log_error("round %u comp1", round);
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
