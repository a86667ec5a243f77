/*
 * test_split.c: splitting message files, case by case.
 *
 * Each case is a whole file and the exact items it must split into: bytes,
 * offsets, and whether each is an error. Files are copied into buffers of
 * exactly their size so ASan sees any read past them.
 */
#include <criterion/criterion.h>

#include "testutil.h"
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hl7/hl7.h"
#include "hl7/mllp.h"
#include "hl7/split.h"

/* Length of a string literal, and a literal with its length. */
#define L(s) (sizeof(s) - 1)
#define M(s) (s), L(s)

#define SB "\x0b"
#define EB "\x1c"

/* A v2.5.1 ORU^R01 from the central lab; T is the segment terminator. */
#define ORU_A(T) \
	"MSH|^~\\&|COBAS|CENTRAL LAB|LABWATCH|GIST TRIAL|20261125093012+0100||" \
	"ORU^R01^ORU_R01|CL0001|P|2.5.1" T \
	"PID|1||4711^^^HOSP^MR||DOE^JANE||19680412|F" T \
	"OBR|1|ORD1|FIL1|718-7^Hemoglobin^LN|||20261125080000+0100" T \
	"OBX|1|NM|718-7^Hemoglobin^LN||11.2|g/dL|12.0-16.0|L|||F"

/* A v2.3 ORU^R01 whose NTE mentions MSH mid-line and starts a line with MSHX. */
#define ORU_B(T) \
	"MSH|^~\\&|LABSYS|MAIN HOSP|LW|ONCOLOGY|200611251030||ORU^R01|" \
	"MSG00042|P|2.3" T "PID|||0815^^^MAIN^MR||ROE^RICHARD||19550101|M" T \
	"OBX|1|NM|26499-4^Neutrophils^LN||1.4|10*9/L|2.0-7.5|L|||F" T \
	"NTE|1||repeat, see MSH|x" T "MSHX|not a message start"

/* Odd delimiters: field #, component $, repeat *, escape @, sub !. */
#define ORU_C(T) \
	"MSH#$*@!#ODDLIS#FAC 2#LW#ONC#20261125101500##ORU$R01#ODD-7#P#2.4" T \
	"PID#1##55$$$H$MR" T \
	"OBX#1#NM#2160-0$Creatinine$LN##1.9#mg/dL#0.6-1.2#H###F"

#define FHS "FHS|^~\\&|LIS|LAB|LW|ONC|20261125\r"
#define BHS "BHS|^~\\&|LIS|LAB|LW|ONC|20261125\r"

#define A_CR ORU_A("\r") "\r"
#define B_CR ORU_B("\r") "\r"
#define C_CR ORU_C("\r") "\r"

/* A message too big for a 400-byte limit. */
#define BIG(T) \
	ORU_A(T) \
	T "NTE|1||" \
	  "0123456789012345678901234567890123456789012345678901234567890123456789" \
	  "0123456789012345678901234567890123456789012345678901234567890123456789"

struct want {
	size_t offset;
	int is_error;
	const char *data;
	size_t len;
	const char
	    *reason; /* a word the reason must contain; NULL for a message */
};

struct split_case {
	const char *name;
	const char *file;
	size_t len;
	size_t max;
	size_t n;
	struct want w[6];
};

static const struct split_case cases[] = {
	{ "empty file", M(""), 0, 0, { { 0 } } },
	{ "only blank lines and spaces", M("\r\n  \r\n\t\n\r"), 0, 0,
	    { { 0 } } },
	{ "raw, CR terminators", M(A_CR B_CR C_CR), 0, 3,
	    {
		{ 0, 0, M(ORU_A("\r")), NULL },
		{ L(A_CR), 0, M(ORU_B("\r")), NULL },
		{ L(A_CR B_CR), 0, M(ORU_C("\r")), NULL },
	    } },
	{ "raw, LF terminators",
	    M(ORU_A("\n") "\n" ORU_B("\n") "\n" ORU_C("\n") "\n"), 0, 3,
	    {
		{ 0, 0, M(ORU_A("\n")), NULL },
		{ L(ORU_A("\n") "\n"), 0, M(ORU_B("\n")), NULL },
		{ L(ORU_A("\n") "\n" ORU_B("\n") "\n"), 0, M(ORU_C("\n")),
		    NULL },
	    } },
	{ "raw, CRLF terminators, blank and space lines between",
	    M(ORU_A("\r\n") "\r\n\r\n" ORU_B("\r\n") "\r\n   \r\n\t\r\n" ORU_C(
		"\r\n") "\r\n\r\n"),
	    0, 3,
	    {
		{ 0, 0, M(ORU_A("\r\n")), NULL },
		{ L(ORU_A("\r\n") "\r\n\r\n"), 0, M(ORU_B("\r\n")), NULL },
		{ L(ORU_A("\r\n") "\r\n\r\n" ORU_B("\r\n") "\r\n   \r\n\t\r\n"),
		    0, M(ORU_C("\r\n")), NULL },
	    } },
	{ "no trailing terminator", M(ORU_A("\n") "\n" ORU_B("\n")), 0, 2,
	    {
		{ 0, 0, M(ORU_A("\n")), NULL },
		{ L(ORU_A("\n") "\n"), 0, M(ORU_B("\n")), NULL },
	    } },
	{ "single message, no terminator at all", M(ORU_C("\r")), 0, 1,
	    {
		{ 0, 0, M(ORU_C("\r")), NULL },
	    } },
	{ "junk before the first MSH",
	    M("exported by LIS 4.2\r\nrecords: 1\r\n\r\n" ORU_A("\r\n") "\r\n"),
	    0, 2,
	    {
		{ 0, 1, M("exported by LIS 4.2\r\nrecords: 1"), "before" },
		{ L("exported by LIS 4.2\r\nrecords: 1\r\n\r\n"), 0,
		    M(ORU_A("\r\n")), NULL },
	    } },
	{ "leading blank lines, then junk indented", M("\n\n  junk\n" A_CR), 0,
	    2,
	    {
		{ 2, 1, M("  junk"), "before" },
		{ L("\n\n  junk\n"), 0, M(ORU_A("\r")), NULL },
	    } },
	{ "junk only", M("PID|1||4711\rOBX|1|NM|x||5\r"), 0, 1,
	    {
		{ 0, 1, M("PID|1||4711\rOBX|1|NM|x||5"), "before" },
	    } },
	{ "raw message over max_message_size", M(BIG("\r") "\r" B_CR), 400, 2,
	    {
		{ 0, 1, M(BIG("\r")), "larger" },
		{ L(BIG("\r") "\r"), 0, M(ORU_B("\r")), NULL },
	    } },
	{ "batch with matching BTS and FTS counts",
	    M(FHS BHS A_CR B_CR "BTS|2\r"
				"FTS|1\r"),
	    0, 2,
	    {
		{ L(FHS BHS), 0, M(ORU_A("\r")), NULL },
		{ L(FHS BHS A_CR), 0, M(ORU_B("\r")), NULL },
	    } },
	{ "batch with LF terminators and a space-padded count",
	    M("FHS|^~\\&\nBHS|^~\\&\n" ORU_A("\n") "\n"
						   "BTS| 1 |done\n"
						   "FTS|1\n"),
	    0, 1,
	    {
		{ L("FHS|^~\\&\nBHS|^~\\&\n"), 0, M(ORU_A("\n")), NULL },
	    } },
	{ "BTS count too high: error after the messages",
	    M(FHS BHS A_CR B_CR "BTS|3\r"
				"FTS|1\r"),
	    0, 3,
	    {
		{ L(FHS BHS), 0, M(ORU_A("\r")), NULL },
		{ L(FHS BHS A_CR), 0, M(ORU_B("\r")), NULL },
		{ L(FHS BHS A_CR B_CR), 1, M("BTS|3"), "BTS-1" },
	    } },
	{ "BTS count not a number", M(BHS A_CR "BTS|one\r"), 0, 2,
	    {
		{ L(BHS), 0, M(ORU_A("\r")), NULL },
		{ L(BHS A_CR), 1, M("BTS|one"), "not a number" },
	    } },
	{ "empty BTS-1 and bare BTS are not checked",
	    M(BHS A_CR "BTS||note\r" BHS B_CR "BTS\r"), 0, 2,
	    {
		{ L(BHS), 0, M(ORU_A("\r")), NULL },
		{ L(BHS A_CR "BTS||note\r" BHS), 0, M(ORU_B("\r")), NULL },
	    } },
	{ "two batches, junk after a BTS, FTS count wrong",
	    M(FHS BHS A_CR "BTS|1\r"
			   "trailing junk\r" BHS B_CR C_CR "BTS|2\r"
			   "FTS|3\r"),
	    0, 5,
	    {
		{ L(FHS BHS), 0, M(ORU_A("\r")), NULL },
		{ L(FHS BHS A_CR "BTS|1\r"), 1, M("trailing junk"), "outside" },
		{ L(FHS BHS A_CR "BTS|1\rtrailing junk\r" BHS), 0,
		    M(ORU_B("\r")), NULL },
		{ L(FHS BHS A_CR "BTS|1\rtrailing junk\r" BHS B_CR), 0,
		    M(ORU_C("\r")), NULL },
		{ L(FHS BHS A_CR "BTS|1\rtrailing junk\r" BHS B_CR C_CR
				 "BTS|2\r"),
		    1, M("FTS|3"), "FTS-1" },
	    } },
	{ "BTS without BHS counts messages since the file header",
	    M(FHS A_CR B_CR "BTS|2\rFTS|1\r"), 0, 2,
	    {
		{ L(FHS), 0, M(ORU_A("\r")), NULL },
		{ L(FHS A_CR), 0, M(ORU_B("\r")), NULL },
	    } },
	{ "FHS without BHS: its messages are one batch", M(FHS A_CR "FTS|1\r"),
	    0, 1,
	    {
		{ L(FHS), 0, M(ORU_A("\r")), NULL },
	    } },
	{ "BTS ends a message without a blank line, CRLF",
	    M("BHS|^~\\&\r\n" ORU_A("\r\n") "\r\nBTS|2\r\n"), 0, 2,
	    {
		{ L("BHS|^~\\&\r\n"), 0, M(ORU_A("\r\n")), NULL },
		{ L("BHS|^~\\&\r\n" ORU_A("\r\n") "\r\n"), 1, M("BTS|2"),
		    "BTS-1" },
	    } },
	{ "MLLP capture, three frames, LF and CRLF normalised",
	    M(SB ORU_A("\n") "\n" EB "\r" SB ORU_B(
		"\r\n") "\r\n" EB "\r\n" SB ORU_C("\r") "\r" EB),
	    0, 3,
	    {
		{ 0, 0, M(A_CR), NULL },
		{ L(SB ORU_A("\n") "\n" EB "\r"), 0, M(B_CR), NULL },
		{ L(SB ORU_A("\n") "\n" EB "\r" SB ORU_B("\r\n") "\r\n" EB
								 "\r\n"),
		    0, M(C_CR), NULL },
	    } },
	{ "MLLP capture with an oversized frame",
	    M("\r\n" SB A_CR EB "\r" SB BIG("\r") "\r" EB "\r" SB B_CR EB "\r"),
	    400, 3,
	    {
		{ 2, 0, M(A_CR), NULL },
		{ L("\r\n" SB A_CR EB "\r"), 1, M(BIG("\r") "\r"), "larger" },
		{ L("\r\n" SB A_CR EB "\r" SB BIG("\r") "\r" EB "\r"), 0,
		    M(B_CR), NULL },
	    } },
	{ "MLLP junk between frames, last frame truncated",
	    M(SB A_CR EB "\r"
			 "NOISE\x00\r\n" SB B_CR EB "\r\n" SB
			 "MSH|^~\\&|LIS|LA"),
	    0, 4,
	    {
		{ 0, 0, M(A_CR), NULL },
		{ L(SB A_CR EB "\r"), 1, M("NOISE"), "outside" },
		{ L(SB A_CR EB "\rNOISE\x00\r\n"), 0, M(B_CR), NULL },
		{ L(SB A_CR EB "\rNOISE\x00\r\n" SB B_CR EB "\r\n"), 1,
		    M("MSH|^~\\&|LIS|LA"), "cut short" },
	    } },
	{ "MLLP NUL padding before and between frames is not an error",
	    M("\x00\x00" SB A_CR EB "\r\x00\x00\x00" SB B_CR EB "\r\x00"), 0, 2,
	    {
		{ 2, 0, M(A_CR), NULL },
		{ L("\x00\x00" SB A_CR EB "\r\x00\x00\x00"), 0, M(B_CR), NULL },
	    } },
	{ "MLLP frame cut short by the next start block",
	    M(SB "MSH|^~\\&|LIS|LAB\r" SB C_CR EB "\r"), 0, 2,
	    {
		{ 0, 1, M("MSH|^~\\&|LIS|LAB\r"), "cut short" },
		{ L(SB "MSH|^~\\&|LIS|LAB\r"), 0, M(C_CR), NULL },
	    } },
	{ "MLLP empty frame and text before the first frame",
	    M("capture 1\n" SB EB "\r" SB A_CR EB "\r"), 0, 3,
	    {
		{ 0, 1, M("capture 1"), "outside" },
		{ L("capture 1\n"), 1, M(""), "empty" },
		{ L("capture 1\n" SB EB "\r"), 0, M(A_CR), NULL },
	    } },
	{ "0x0B after the first MSH: raw file, byte kept in the message",
	    M(A_CR "NTE|1||odd\x0b"
		   "byte\r" B_CR),
	    0, 2,
	    {
		{ 0, 0,
		    M(A_CR "NTE|1||odd\x0b"
			   "byte"),
		    NULL },
		{ L(A_CR "NTE|1||odd\x0b"
			 "byte\r"),
		    0, M(ORU_B("\r")), NULL },
	    } },
};

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

/*
 * Parameters are case indexes, not pointers: Criterion re-runs the binary
 * for each test, and under PIE a pointer into the parent's tables is not
 * valid in the child.
 */
static void
free_indexes(struct criterion_test_params *p)
{
	cr_free(p->params);
}

ParameterizedTestParameters(split, cases)
{
	int *idx = cr_malloc(NCASES(cases) * sizeof(*idx));
	size_t i;

	for (i = 0; i < NCASES(cases); i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, NCASES(cases), free_indexes);
}

ParameterizedTest(int *i, split, cases)
{
	const struct split_case *c = &cases[*i];
	char *file = malloc(c->len > 0 ? c->len : 1);
	struct hl7_split *s;
	struct hl7_split_item it;
	size_t k;

	memcpy(file, c->file, c->len);
	s = hl7_split_new(file, c->len, c->max);
	for (k = 0; k < c->n; k++) {
		const struct want *w = &c->w[k];

		cr_assert_eq(hl7_split_next(s, &it), 1, "%s: item %zu missing",
		    c->name, k);
		cr_assert_eq(it.offset, w->offset, "%s: item %zu offset %zu",
		    c->name, k, it.offset);
		cr_assert_eq(it.is_error, w->is_error,
		    "%s: item %zu is_error %d (%s)", c->name, k, it.is_error,
		    it.reason ? it.reason : "");
		cr_assert(it.len == w->len &&
			memcmp(it.data, w->data, w->len) == 0,
		    "%s: item %zu:\n got  %s\n want %s", c->name, k,
		    test_vis(it.data, it.len, 0), test_vis(w->data, w->len, 1));
		if (w->reason != NULL)
			cr_assert(it.reason != NULL &&
				strstr(it.reason, w->reason) != NULL,
			    "%s: item %zu reason \"%s\"", c->name, k,
			    it.reason ? it.reason : "(null)");
		else
			cr_assert_null(it.reason, "%s: item %zu", c->name, k);
		/* A raw item's bytes are the file's own bytes at its offset. */
		if (!it.is_error && strstr(c->name, "MLLP") == NULL)
			cr_assert(it.data == file + it.offset, "%s: item %zu",
			    c->name, k);
	}
	cr_assert_eq(hl7_split_next(s, &it), 0, "%s: extra item at %zu: %s",
	    c->name, it.offset, test_vis(it.data, it.len, 0));
	/* The end is sticky. */
	cr_assert_eq(hl7_split_next(s, &it), 0, "%s", c->name);
	hl7_split_free(s);
	free(file);
}

/*
 * The next item of file[0..len) split as a stream: the window, a fresh
 * copy each time, slides on by step bytes whenever the splitter asks.
 */
struct stream_sim {
	const char *file;
	size_t len, step, base, end;
	char *win;
};

static int
stream_next(struct hl7_split *s, struct stream_sim *t,
    struct hl7_split_item *it)
{
	int rc;

	while ((rc = hl7_split_next(s, it)) == HL7_SPLIT_MORE) {
		cr_assert(hl7_split_keep(s) >= t->base &&
		    hl7_split_keep(s) <= t->end);
		t->base = hl7_split_keep(s);
		t->end = t->end + t->step < t->len ? t->end + t->step : t->len;
		free(t->win);
		t->win = malloc(t->end - t->base + 1);
		memcpy(t->win, t->file + t->base, t->end - t->base);
		hl7_split_window(s, t->win, t->end - t->base, t->base,
		    t->end == t->len);
	}
	return rc;
}

/* Streamed through windows of any size, every case splits as whole. */
ParameterizedTestParameters(split, streamed)
{
	int *idx = cr_malloc(NCASES(cases) * sizeof(*idx));
	size_t i;

	for (i = 0; i < NCASES(cases); i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, NCASES(cases), free_indexes);
}

ParameterizedTest(int *i, split, streamed)
{
	static const size_t steps[] = { 1, 2, 3, 5, 7, 64, 4096 };
	const struct split_case *c = &cases[*i];
	struct stream_sim t;
	struct hl7_split *s;
	struct hl7_split_item it;
	size_t k, j;

	for (j = 0; j < NCASES(steps); j++) {
		memset(&t, 0, sizeof(t));
		t.file = c->file;
		t.len = c->len;
		t.step = steps[j];
		s = hl7_split_stream(c->max);
		for (k = 0; k < c->n; k++) {
			const struct want *w = &c->w[k];

			cr_assert_eq(stream_next(s, &t, &it), 1,
			    "%s/%zu: item %zu missing", c->name, t.step, k);
			cr_assert_eq(it.offset, w->offset,
			    "%s/%zu: item %zu offset %zu", c->name, t.step, k,
			    it.offset);
			cr_assert_eq(it.is_error, w->is_error, "%s/%zu: %zu",
			    c->name, t.step, k);
			cr_assert(it.len == w->len &&
				memcmp(it.data, w->data, w->len) == 0,
			    "%s/%zu: item %zu:\n got  %s\n want %s", c->name,
			    t.step, k, test_vis(it.data, it.len, 0),
			    test_vis(w->data, w->len, 1));
			if (w->reason != NULL)
				cr_assert(it.reason != NULL &&
					strstr(it.reason, w->reason) != NULL,
				    "%s/%zu: item %zu reason", c->name, t.step,
				    k);
		}
		cr_assert_eq(stream_next(s, &t, &it), 0,
		    "%s/%zu: extra item at %zu: %s", c->name, t.step, it.offset,
		    test_vis(it.data, it.len, 0));
		hl7_split_free(s);
		free(t.win);
	}
}

/*
 * An MLLP capture behind more than 1 MiB of junk (no 0x0B, no MSH) is
 * still one when streamed: the splitter once decided "raw" after 1 MiB
 * and gave the whole input as one junk item.
 */
Test(split, streamed_long_junk_then_mllp)
{
	static const char frame[] = "\x0bMSH|^~\\&|A|B|C|D|20261120||ORU^R01|"
				    "J1|P|2.5.1\rPID|1||9^^^H^MR\r\x1c\r";
	size_t junk = 1200000, len = junk + sizeof(frame) - 1;
	char *file = malloc(len);
	struct stream_sim t;
	struct hl7_split *s;
	struct hl7_split_item it;
	size_t i;

	for (i = 0; i < junk; i++)
		file[i] = i % 10 == 9 ? '\r' : 'x';
	memcpy(file + junk, frame, sizeof(frame) - 1);
	memset(&t, 0, sizeof(t));
	t.file = file;
	t.len = len;
	t.step = 65536;
	s = hl7_split_stream(0);
	cr_assert_eq(stream_next(s, &t, &it), 1);
	cr_assert(it.is_error && it.offset == 0 &&
		strcmp(it.reason, "bytes outside MLLP frames") == 0,
	    "first item: %s", it.reason != NULL ? it.reason : "a message");
	cr_assert_eq(stream_next(s, &t, &it), 1);
	cr_assert(
	    !it.is_error && it.offset == junk && it.len == sizeof(frame) - 4);
	cr_assert_eq(stream_next(s, &t, &it), 0);
	hl7_split_free(s);
	free(t.win);
	free(file);
}

/* Every message item of a mixed-terminator batch file parses as one message. */
Test(split, items_parse)
{
	static const char file[] = FHS BHS ORU_A("\r\n") "\r\n\r\n" ORU_A(
	    "\n") "\n" ORU_C("\r") "\r"
				   "BTS|3\r"
				   "FTS|1\r";
	struct hl7_split *s = hl7_split_new(file, L(file), 0);
	struct hl7_split_item it;
	struct hl7_msg m;
	int n = 0;

	hl7_msg_init(&m);
	while (hl7_split_next(s, &it)) {
		cr_assert_eq(it.is_error, 0, "%s", it.reason);
		cr_assert_eq(hl7_parse(&m, it.data, it.len, NULL), 0,
		    "item %d: %s", n, m.err.reason);
		cr_assert_eq(hl7_find_seg(&m, "MSH", 1), -1);
		n++;
	}
	cr_assert_eq(n, 3);
	hl7_msg_free(&m);
	hl7_split_free(s);
}

/* A large file splits into every message it holds, in order. */
Test(split, many_messages)
{
	static const char one[] = ORU_A("\n") "\n";
	const size_t count = 20000;
	char *file = malloc(count * L(one));
	struct hl7_split *s;
	struct hl7_split_item it;
	size_t k = 0;

	for (k = 0; k < count; k++)
		memcpy(file + k * L(one), one, L(one));
	s = hl7_split_new(file, count * L(one), 8u << 20);
	for (k = 0; hl7_split_next(s, &it); k++) {
		cr_assert_eq(it.is_error, 0);
		cr_assert_eq(it.offset, k * L(one));
		cr_assert_eq(it.len, L(one) - 1);
	}
	cr_assert_eq(k, count);
	hl7_split_free(s);
	free(file);
}

/* The same, as an MLLP capture: the framer's buffer is reused, data stays right. */
Test(split, many_frames)
{
	static const char one[] = SB ORU_A("\n") "\n" EB "\r\n";
	static const char payload[] = ORU_A("\r") "\r";
	const size_t count = 5000;
	char *file = malloc(count * L(one));
	struct hl7_split *s;
	struct hl7_split_item it;
	size_t k;

	for (k = 0; k < count; k++)
		memcpy(file + k * L(one), one, L(one));
	s = hl7_split_new(file, count * L(one), 0);
	for (k = 0; hl7_split_next(s, &it); k++) {
		cr_assert_eq(it.is_error, 0);
		cr_assert_eq(it.offset, k * L(one));
		cr_assert(it.len == L(payload) &&
		    memcmp(it.data, payload, it.len) == 0);
	}
	cr_assert_eq(k, count);
	hl7_split_free(s);
	free(file);
}

Test(split, free_null)
{
	hl7_split_free(NULL);
}
