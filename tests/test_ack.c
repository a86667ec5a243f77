/*
 * test_ack.c: the ACK builder and control id recovery, case by case.
 *
 * Each case is a received message (or none), what we answer, and the exact
 * bytes the ACK must have. Messages are copied into buffers of exactly
 * their size so ASan sees any read past them.
 */
#include <criterion/criterion.h>

#include "testutil.h"
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hl7/ack.h"
#include "lib/buf.h"
#include "hl7/hl7.h"
#include "hl7/text.h"

#define TS "20261125103000+0000"

/* A v2.5.1 ORU^R01 from the central lab's analyser middleware. */
#define ORU251_MSH(ctl, tail) \
	"MSH|^~\\&|COBAS|CENTRAL LAB|LABWATCH|GIST TRIAL|20261125093012+0100||" \
	"ORU^R01^ORU_R01|" ctl "|P|2.5.1" tail "\r"
#define ORU251_BODY \
	"PID|1||4711^^^HOSP^MR||DOE^JANE||19680412|F\r" \
	"OBR|1|ORD1|FIL1|718-7^Hemoglobin^LN|||20261125080000+0100\r" \
	"OBX|1|NM|718-7^Hemoglobin^LN||11.2|g/dL|12.0-16.0|L|||F|||" \
	"20261125083000+0100\r"
#define ORU251 ORU251_MSH("CL0001", "") ORU251_BODY

/* A v2.3 ORU^R01 from an older LIS: two-component MSH-9, no MSH-9.3. */
#define ORU23 \
	"MSH|^~\\&|LABSYS|MAIN HOSP|LW|ONCOLOGY|200611251030||ORU^R01|" \
	"MSG00042|P|2.3\r" \
	"PID|||0815^^^MAIN^MR||ROE^RICHARD||19550101|M\r" \
	"OBR|1||A77|26499-4^Neutrophils^LN\r" \
	"OBX|1|NM|26499-4^Neutrophils^LN||1.4|10*9/L|2.0-7.5|L|||F\r"

/* v2.7 with the truncation character in MSH-2. */
#define ORU27 \
	"MSH|^~\\&#|LIS7|LAB|LABWATCH|GIST|20261125101010+0100||ORU^R01^ORU_R01|" \
	"L7-99|P|2.7\r" \
	"PID|1||99^^^HOSP^MR\r" \
	"OBX|1|NM|1742-6^ALT^LN||88|U/L|7-56|H|||F\r"

/* A sender with odd delimiters: field #, component $, repeat *, escape @, sub !. */
#define ODD \
	"MSH#$*@!#ODDLIS#FAC 2#LW#ONC#20261125101500##ORU$R01#ODD-7#P#2.4\r" \
	"PID#1##55$$$H$MR\r" \
	"OBX#1#NM#2160-0$Creatinine$LN##1.9#mg/dL#0.6-1.2#H###F\r"

/* Enhanced mode: MSH-15 accept ack type, MSH-16 application ack type. */
#define ENH(msh15, msh16) \
	ORU251_MSH("CL0002", "|||" msh15 "|" msh16) ORU251_BODY

#define ACK251_MSH \
	"MSH|^~\\&|LABWATCH|GIST TRIAL|COBAS|CENTRAL LAB|" TS \
	"||ACK^R01^ACK|LW0001|P|2.5.1\r"

/* A message and its size (some hold a NUL). */
#define M(s) (s), sizeof(s) - 1

struct ack_case {
	const char *name;
	const char *msg; /* NULL: no message at all */
	size_t msg_size;
	int parse_ok; /* expected hl7_parse() outcome */
	enum hl7_ack_code code;
	enum hl7_errcode err;
	const char *text;
	const char *err_seg;
	unsigned err_seq, err_field;
	const char *ref; /* info.ref_control_id */
	int want_ret;
	const char *want; /* exact ACK bytes; "" when none is sent */
};

static struct ack_case ack_cases[] = {
	{ "2.5.1 original AA", M(ORU251), 1, HL7_ACK_ACCEPT, 0, NULL, NULL, 0,
	    0, NULL, 1, ACK251_MSH "MSA|AA|CL0001\r" },
	{ "2.5.1 AA ignores text (no MSA-3 from 2.5)", M(ORU251), 1,
	    HL7_ACK_ACCEPT, 0, "stored", NULL, 0, 0, NULL, 1,
	    ACK251_MSH "MSA|AA|CL0001\r" },
	{ "2.5.1 AE with ERR-2/3/4/8", M(ORU251), 1, HL7_ACK_ERROR,
	    HL7_ERR_REQUIRED_FIELD, "OBX-5 value missing", "OBX", 4, 5, NULL, 1,
	    ACK251_MSH "MSA|AE|CL0001\r"
		       "ERR||OBX^4^5|101^Required field missing^HL70357|E||||"
		       "OBX-5 value missing\r" },
	{ "2.5.1 AR unsupported type", M(ORU251), 1, HL7_ACK_REJECT,
	    HL7_ERR_UNSUPPORTED_TYPE, "message type not accepted", "MSH", 1, 9,
	    NULL, 1,
	    ACK251_MSH "MSA|AR|CL0001\r"
		       "ERR||MSH^1^9|200^Unsupported message type^HL70357|E||||"
		       "message type not accepted\r" },
	{ "2.5.1 AR internal error, no location, no text", M(ORU251), 1,
	    HL7_ACK_REJECT, HL7_ERR_INTERNAL, NULL, NULL, 0, 0, NULL, 1,
	    ACK251_MSH "MSA|AR|CL0001\r"
		       "ERR|||207^Application internal error^HL70357|E\r" },
	{ "2.5.1 ERR location segment only", M(ORU251), 1, HL7_ACK_ERROR,
	    HL7_ERR_SEGMENT_SEQUENCE, NULL, "OBR", 3, 0, NULL, 1,
	    ACK251_MSH "MSA|AE|CL0001\r"
		       "ERR||OBR^3|100^Segment sequence error^HL70357|E\r" },
	{ "2.5.1 text with every delimiter escaped in ERR-8", M(ORU251), 1,
	    HL7_ACK_ERROR, HL7_ERR_DATA_TYPE, "a|b^c~d\\e&f\rg", "OBX", 4, 5,
	    NULL, 1,
	    ACK251_MSH "MSA|AE|CL0001\r"
		       "ERR||OBX^4^5|102^Data type error^HL70357|E||||"
		       "a\\F\\b\\S\\c\\R\\d\\E\\e\\T\\f\\X0D\\g\r" },
	{ "2.3 AA", M(ORU23), 1, HL7_ACK_ACCEPT, 0, NULL, NULL, 0, 0, NULL, 1,
	    "MSH|^~\\&|LW|ONCOLOGY|LABSYS|MAIN HOSP|" TS
	    "||ACK^R01^ACK|LW0001|P|2.3\rMSA|AA|MSG00042\r" },
	{ "2.3 AE: MSA-3 text, ERR-1", M(ORU23), 1, HL7_ACK_ERROR,
	    HL7_ERR_DATA_TYPE, "OBX-5 not numeric", "OBX", 4, 5, NULL, 1,
	    "MSH|^~\\&|LW|ONCOLOGY|LABSYS|MAIN HOSP|" TS
	    "||ACK^R01^ACK|LW0001|P|2.3\r"
	    "MSA|AE|MSG00042|OBX-5 not numeric\r"
	    "ERR|OBX^4^5^102&Data type error&HL70357\r" },
	{ "2.3 AR: escaped MSA-3, ERR-1 without location", M(ORU23), 1,
	    HL7_ACK_REJECT, HL7_ERR_INTERNAL, "db|spool ^full~ \\ & co", NULL,
	    0, 0, NULL, 1,
	    "MSH|^~\\&|LW|ONCOLOGY|LABSYS|MAIN HOSP|" TS
	    "||ACK^R01^ACK|LW0001|P|2.3\r"
	    "MSA|AR|MSG00042|db\\F\\spool \\S\\full\\R\\ \\E\\ \\T\\ co\r"
	    "ERR|^^^207&Application internal error&HL70357\r" },
	{ "2.7 truncation char kept in MSH-2 and escaped", M(ORU27), 1,
	    HL7_ACK_ERROR, HL7_ERR_DATA_TYPE, "value #1 bad", "OBX", 3, 5, NULL,
	    1,
	    "MSH|^~\\&#|LABWATCH|GIST|LIS7|LAB|" TS
	    "||ACK^R01^ACK|LW0001|P|2.7\rMSA|AE|L7-99\r"
	    "ERR||OBX^3^5|102^Data type error^HL70357|E||||"
	    "value \\P\\1 bad\r" },
	{ "odd delimiters #$*@! AA", M(ODD), 1, HL7_ACK_ACCEPT, 0, NULL, NULL,
	    0, 0, NULL, 1,
	    "MSH#$*@!#LW#ONC#ODDLIS#FAC 2#" TS
	    "##ACK$R01$ACK#LW0001#P#2.4\rMSA#AA#ODD-7\r" },
	{ "odd delimiters 2.4 AR: text escaped with @", M(ODD), 1,
	    HL7_ACK_REJECT, HL7_ERR_INTERNAL, "store #2 down$ @ 5*3!", NULL, 0,
	    0, NULL, 1,
	    "MSH#$*@!#LW#ONC#ODDLIS#FAC 2#" TS "##ACK$R01$ACK#LW0001#P#2.4\r"
	    "MSA#AR#ODD-7#store @F@2 down@S@ @E@ 5@R@3@T@\r"
	    "ERR#$$$207!Application internal error!HL70357\r" },
	{ "enhanced AL accept -> CA", M(ENH("AL", "NE")), 1, HL7_ACK_ACCEPT, 0,
	    NULL, NULL, 0, 0, NULL, 1, ACK251_MSH "MSA|CA|CL0002\r" },
	{ "enhanced AL error -> CE", M(ENH("AL", "AL")), 1, HL7_ACK_ERROR,
	    HL7_ERR_REQUIRED_FIELD, "PID-3 missing", "PID", 2, 3, NULL, 1,
	    ACK251_MSH "MSA|CE|CL0002\r"
		       "ERR||PID^2^3|101^Required field missing^HL70357|E||||"
		       "PID-3 missing\r" },
	{ "enhanced AL reject -> CR", M(ENH("AL", "")), 1, HL7_ACK_REJECT,
	    HL7_ERR_INTERNAL, NULL, NULL, 0, 0, NULL, 1,
	    ACK251_MSH "MSA|CR|CL0002\r"
		       "ERR|||207^Application internal error^HL70357|E\r" },
	{ "enhanced NE accept -> none", M(ENH("NE", "AL")), 1, HL7_ACK_ACCEPT,
	    0, NULL, NULL, 0, 0, NULL, 0, "" },
	{ "enhanced NE reject -> none", M(ENH("NE", "NE")), 1, HL7_ACK_REJECT,
	    HL7_ERR_INTERNAL, NULL, NULL, 0, 0, NULL, 0, "" },
	{ "enhanced ER accept -> none", M(ENH("ER", "NE")), 1, HL7_ACK_ACCEPT,
	    0, NULL, NULL, 0, 0, NULL, 0, "" },
	{ "enhanced ER error -> CE", M(ENH("ER", "NE")), 1, HL7_ACK_ERROR,
	    HL7_ERR_DATA_TYPE, NULL, "OBX", 4, 5, NULL, 1,
	    ACK251_MSH "MSA|CE|CL0002\r"
		       "ERR||OBX^4^5|102^Data type error^HL70357|E\r" },
	{ "enhanced ER reject -> CR", M(ENH("ER", "NE")), 1, HL7_ACK_REJECT,
	    HL7_ERR_UNSUPPORTED_VERSION, NULL, "MSH", 1, 12, NULL, 1,
	    ACK251_MSH "MSA|CR|CL0002\r"
		       "ERR||MSH^1^12|203^Unsupported version id^HL70357|E\r" },
	{ "enhanced SU accept -> CA", M(ENH("SU", "NE")), 1, HL7_ACK_ACCEPT, 0,
	    NULL, NULL, 0, 0, NULL, 1, ACK251_MSH "MSA|CA|CL0002\r" },
	{ "enhanced SU error -> none", M(ENH("SU", "NE")), 1, HL7_ACK_ERROR,
	    HL7_ERR_DATA_TYPE, NULL, NULL, 0, 0, NULL, 0, "" },
	{ "enhanced SU reject -> none", M(ENH("SU", "NE")), 1, HL7_ACK_REJECT,
	    HL7_ERR_INTERNAL, NULL, NULL, 0, 0, NULL, 0, "" },
	{ "enhanced by MSH-16 alone: MSH-15 empty acts as AL", M(ENH("", "AL")),
	    1, HL7_ACK_ACCEPT, 0, NULL, NULL, 0, 0, NULL, 1,
	    ACK251_MSH "MSA|CA|CL0002\r" },
	{ "MSH-15/16 explicit nulls are original mode", M(ENH("\"\"", "\"\"")),
	    1, HL7_ACK_ACCEPT, 0, NULL, NULL, 0, 0, NULL, 1,
	    ACK251_MSH "MSA|AA|CL0002\r" },
	{ "lower-case ne still means never", M(ENH("ne", "")), 1,
	    HL7_ACK_ACCEPT, 0, NULL, NULL, 0, 0, NULL, 0, "" },
	{ "empty MSH-5/6: our app and facility, no trigger, defaults",
	    M("MSH|^~\\&|POCT|WARD 3|||20261125||ACK|P77\rMSA|AA|X\r"), 1,
	    HL7_ACK_ACCEPT, 0, NULL, NULL, 0, 0, NULL, 1,
	    "MSH|^~\\&|LABWATCH|GIST|POCT|WARD 3|" TS
	    "||ACK|LW0001|P|2.5.1\rMSA|AA|P77\r" },
	{ "components in swapped HD fields and MSH-11 copied as they are",
	    M("MSH|^~\\&|LIS^1.2.3^ISO|LAB^2.3^ISO|LW^9.9^ISO||2026||"
	      "ORU^R01|C-1|T^I|2.5.1^DEU\r"),
	    1, HL7_ACK_ACCEPT, 0, NULL, NULL, 0, 0, NULL, 1,
	    "MSH|^~\\&|LW^9.9^ISO|GIST|LIS^1.2.3^ISO|LAB^2.3^ISO|" TS
	    "||ACK^R01^ACK|LW0001|T^I|2.5.1^DEU\rMSA|AA|C-1\r" },
	{ "control bytes in copied fields never reach the ACK raw",
	    M("MSH|^~\\&|LIS|LAB|LW|ONC|2026||ORU^R01|CL\x1c"
	      "01|P|2.5.1\r"),
	    1, HL7_ACK_ACCEPT, 0, NULL, NULL, 0, 0, NULL, 1,
	    "MSH|^~\\&|LW|ONC|LIS|LAB|" TS
	    "||ACK^R01^ACK|LW0001|P|2.5.1\rMSA|AA|CL\\X1C\\01\r" },
	{ "no message: fallback MSH, MSA-2 from ref", NULL, 0, 0,
	    HL7_ACK_REJECT, HL7_ERR_SEGMENT_SEQUENCE, "frame is not HL7", NULL,
	    0, 0, "CL0009", 1,
	    "MSH|^~\\&|LABWATCH|GIST|||" TS "||ACK|LW0001|P|2.5.1\r"
	    "MSA|AR|CL0009\r"
	    "ERR|||100^Segment sequence error^HL70357|E||||frame is not HL7\r" },
	{ "no message, no ref: empty MSA-2", NULL, 0, 0, HL7_ACK_REJECT,
	    HL7_ERR_INTERNAL, NULL, NULL, 0, 0, NULL, 1,
	    "MSH|^~\\&|LABWATCH|GIST|||" TS "||ACK|LW0001|P|2.5.1\r"
	    "MSA|AR|\r"
	    "ERR|||207^Application internal error^HL70357|E\r" },
	{ "no message: ref control id escaped", NULL, 0, 0, HL7_ACK_REJECT,
	    HL7_ERR_INTERNAL, NULL, NULL, 0, 0, "A|B", 1,
	    "MSH|^~\\&|LABWATCH|GIST|||" TS "||ACK|LW0001|P|2.5.1\r"
	    "MSA|AR|A\\F\\B\r"
	    "ERR|||207^Application internal error^HL70357|E\r" },
	{ "failed after MSH: MSH still read, swapped, 2.3 style",
	    M("MSH|^~\\&|LABSYS|MAIN HOSP|LW|ONCOLOGY|2006||ORU^R01|M-5|P|2.3\r"
	      "PID|1\rob x|2\r"),
	    0, HL7_ACK_ERROR, HL7_ERR_SEGMENT_SEQUENCE, "invalid segment id",
	    NULL, 3, 0, NULL, 1,
	    "MSH|^~\\&|LW|ONCOLOGY|LABSYS|MAIN HOSP|" TS
	    "||ACK^R01^ACK|LW0001|P|2.3\r"
	    "MSA|AE|M-5|invalid segment id\r"
	    "ERR|^3^^100&Segment sequence error&HL70357\r" },
	{ "failed on unknown MSH-18: MSH still read",
	    M("MSH|^~\\&|LIS|LAB|LW|ONC|2026||ORU^R01|CS-1|P|2.5.1||||||"
	      "KLINGON-8\rPID|1\r"),
	    0, HL7_ACK_ERROR, HL7_ERR_DATA_TYPE, "character set not supported",
	    "MSH", 1, 18, NULL, 1,
	    "MSH|^~\\&|LW|ONC|LIS|LAB|" TS "||ACK^R01^ACK|LW0001|P|2.5.1\r"
	    "MSA|AE|CS-1\r"
	    "ERR||MSH^1^18|102^Data type error^HL70357|E||||"
	    "character set not supported\r" },
	{ "failed: NUL in MSH, fields before it still read",
	    M("MSH|^~\\&|LIS|LAB|LW|ONC|2026||ORU^R01|NUL-1|P|2.5.1|\0x\r"), 0,
	    HL7_ACK_REJECT, HL7_ERR_DATA_TYPE, NULL, NULL, 0, 0, NULL, 1,
	    "MSH|^~\\&|LW|ONC|LIS|LAB|" TS "||ACK^R01^ACK|LW0001|P|2.5.1\r"
	    "MSA|AR|NUL-1\r"
	    "ERR|||102^Data type error^HL70357|E\r" },
	{ "failed before delimiters: fallback, MSA-2 recovered from buffer",
	    M("\x01\x02junk MSH|^~\\&|LIS|LAB|LW|ONC|2026||ORU^R01|J-3|P|2.3\r"),
	    0, HL7_ACK_REJECT, HL7_ERR_SEGMENT_SEQUENCE, NULL, NULL, 0, 0, NULL,
	    1,
	    "MSH|^~\\&|LABWATCH|GIST|||" TS "||ACK|LW0001|P|2.5.1\r"
	    "MSA|AR|J-3\r"
	    "ERR|||100^Segment sequence error^HL70357|E\r" },
	{ "failed on repeated MSH-2 chars: fallback delimiters",
	    M("MSH|^^\\&|LIS|LAB|LW|ONC|2026||ORU^R01|D-2|P|2.5.1\r"), 0,
	    HL7_ACK_REJECT, HL7_ERR_DATA_TYPE, "bad MSH-2", "MSH", 1, 2, NULL,
	    1,
	    "MSH|^~\\&|LABWATCH|GIST|||" TS "||ACK|LW0001|P|2.5.1\r"
	    "MSA|AR|D-2\r"
	    "ERR||MSH^1^2|102^Data type error^HL70357|E||||bad MSH-2\r" },
	{ "failed parse: ref wins over nothing, MSH unreadable", M("garbage"),
	    0, HL7_ACK_REJECT, HL7_ERR_SEGMENT_SEQUENCE, NULL, NULL, 0, 0,
	    "R-1", 1,
	    "MSH|^~\\&|LABWATCH|GIST|||" TS "||ACK|LW0001|P|2.5.1\r"
	    "MSA|AR|R-1\r"
	    "ERR|||100^Segment sequence error^HL70357|E\r" },
};

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

/*
 * Parameters are case indexes, not pointers: Criterion re-runs the binary
 * for each test, and under PIE a pointer into the parent's tables is not
 * valid in the child.
 */
static int *
case_indexes(size_t n)
{
	int *idx = cr_malloc(n * sizeof(*idx));
	size_t i;

	for (i = 0; i < n; i++)
		idx[i] = (int)i;
	return idx;
}

static void
free_indexes(struct criterion_test_params *p)
{
	cr_free(p->params);
}

ParameterizedTestParameters(ack, build)
{
	return cr_make_param_array(int, case_indexes(NCASES(ack_cases)),
	    NCASES(ack_cases), free_indexes);
}

ParameterizedTest(int *i, ack, build)
{
	const struct ack_case *c = &ack_cases[*i];
	struct hl7_ack_info info = {
		.code = c->code,
		.err = c->err,
		.text = c->text,
		.err_seg = c->err_seg,
		.err_seq = c->err_seq,
		.err_field = c->err_field,
		.control_id = "LW0001",
		.timestamp = TS,
		.app = "LABWATCH",
		.facility = "GIST",
		.ref_control_id = c->ref,
	};
	struct hl7_msg m;
	struct buf out;
	char *copy = NULL;
	size_t n = 0;
	int rc, r;

	hl7_msg_init(&m);
	buf_init(&out);
	if (c->msg != NULL) {
		n = c->msg_size;
		copy = malloc(n);
		memcpy(copy, c->msg, n);
		rc = hl7_parse(&m, copy, n, NULL);
		cr_assert_eq(rc == 0, c->parse_ok, "%s: parse %d (%s)", c->name,
		    rc, m.err.reason ? m.err.reason : "");
	}
	/* Appends: what is already in the buffer stays. */
	buf_adds(&out, "KEEP");
	r = hl7_ack_build(&out, c->msg != NULL ? &m : NULL, &info);
	cr_assert_eq(r, c->want_ret, "%s: returned %d", c->name, r);
	cr_assert(out.len >= 4 && memcmp(out.p, "KEEP", 4) == 0, "%s", c->name);
	cr_assert(out.len - 4 == strlen(c->want) &&
		memcmp(out.p + 4, c->want, out.len - 4) == 0,
	    "%s:\n got  %s\n want %s", c->name,
	    test_vis(out.p + 4, out.len - 4, 0),
	    test_vis(c->want, strlen(c->want), 1));
	if (r == 1 && c->msg != NULL && c->parse_ok) {
		/* The ACK itself parses, and MSA-2 reads back as MSH-10. */
		struct hl7_msg a;
		int msa;

		hl7_msg_init(&a);
		cr_assert_eq(hl7_parse(&a, out.p + 4, out.len - 4, NULL), 0,
		    "%s: ACK does not parse", c->name);
		msa = hl7_find_seg(&a, "MSA", 0);
		cr_assert_eq(msa, 1, "%s", c->name);
		hl7_msg_free(&a);
	}
	buf_free(&out);
	hl7_msg_free(&m);
	free(copy);
}

/* A whole ACK read back with the parser: every field where it belongs. */
Test(ack, reads_back)
{
	struct hl7_ack_info info = {
		.code = HL7_ACK_ERROR,
		.err = HL7_ERR_REQUIRED_FIELD,
		.text = "OBX-5^value|missing",
		.err_seg = "OBX",
		.err_seq = 4,
		.err_field = 5,
		.control_id = "LW0002",
		.timestamp = TS,
		.app = "LABWATCH",
		.facility = "GIST",
	};
	static const char msg[] = ORU251;
	struct hl7_msg m, a;
	struct buf out;
	struct hl7_str s;
	int err;

	hl7_msg_init(&m);
	hl7_msg_init(&a);
	buf_init(&out);
	cr_assert_eq(hl7_parse(&m, msg, sizeof(msg) - 1, NULL), 0);
	cr_assert_eq(hl7_ack_build(&out, &m, &info), 1);
	cr_assert_eq(hl7_parse(&a, out.p, out.len, NULL), 0);
	cr_assert(hl7_span_eq(&a, hl7_get(&a, 0, 3, 0, 0, 0), "LABWATCH"));
	cr_assert(hl7_span_eq(&a, hl7_get(&a, 0, 5, 0, 0, 0), "COBAS"));
	cr_assert(hl7_span_eq(&a, hl7_get(&a, 0, 9, 1, 2, 0), "R01"));
	cr_assert(hl7_span_eq(&a, hl7_get(&a, 1, 2, 0, 0, 0), "CL0001"));
	err = hl7_find_seg(&a, "ERR", 0);
	cr_assert_eq(err, 2);
	cr_assert(hl7_span_eq(&a, hl7_get(&a, 2, 3, 1, 1, 0), "101"));
	cr_assert(hl7_span_eq(&a, hl7_get(&a, 2, 4, 0, 0, 0), "E"));
	s = hl7_text(&a, hl7_get(&a, 2, 8, 0, 0, 0));
	cr_assert(s.len == strlen("OBX-5^value|missing") &&
	    memcmp(s.p, "OBX-5^value|missing", s.len) == 0);
	buf_free(&out);
	hl7_msg_free(&a);
	hl7_msg_free(&m);
}

Test(ack, errtext)
{
	cr_assert_str_eq(hl7_ack_errtext(HL7_ERR_SEGMENT_SEQUENCE),
	    "Segment sequence error");
	cr_assert_str_eq(hl7_ack_errtext(HL7_ERR_REQUIRED_FIELD),
	    "Required field missing");
	cr_assert_str_eq(hl7_ack_errtext(HL7_ERR_DATA_TYPE), "Data type error");
	cr_assert_str_eq(hl7_ack_errtext(HL7_ERR_UNSUPPORTED_TYPE),
	    "Unsupported message type");
	cr_assert_str_eq(hl7_ack_errtext(HL7_ERR_UNSUPPORTED_VERSION),
	    "Unsupported version id");
	cr_assert_str_eq(hl7_ack_errtext(HL7_ERR_INTERNAL),
	    "Application internal error");
	cr_assert_str_eq(hl7_ack_errtext((enum hl7_errcode)999), "");
}

struct recover_case {
	const char *name;
	const char *frame;
	size_t len;
	size_t cap;
	const char *want; /* "" for none */
};

#define FULL ORU251
#define PREFIX10 \
	"MSH|^~\\&|COBAS|CENTRAL LAB|LABWATCH|GIST TRIAL|" \
	"20261125093012+0100||ORU^R01^ORU_R01|"

static struct recover_case recover_cases[] = {
	{ "whole message", M(FULL), 64, "CL0001" },
	{ "cut inside MSH-10", M(PREFIX10 "CL00"), 64, "" },
	{ "cut right after MSH-10's separator", M(PREFIX10), 64, "" },
	{ "cut inside MSH-7", M("MSH|^~\\&|COBAS|CENTRAL LAB|LABWATCH|GIS"), 64,
	    "" },
	{ "MSH-10 is the last field, CR follows", M(PREFIX10 "Q-9\rPID|1\r"),
	    64, "Q-9" },
	{ "MSH-10 then LF", M(PREFIX10 "Q-10\nPID|1\n"), 64, "Q-10" },
	{ "MSH line ends before MSH-10: never read the next segment",
	    M("MSH|^~\\&|A|B\rPID|1|2|3|4|5|6|7|8|9|10|11\r"), 64, "" },
	{ "empty MSH-10", M(PREFIX10 "|P|2.5.1\r"), 64, "" },
	{ "control char in MSH-10",
	    M(PREFIX10 "AB\x0b"
		       "C|P|2.5.1\r"),
	    64, "" },
	{ "DEL in MSH-10",
	    M(PREFIX10 "AB\x7f"
		       "C|P\r"),
	    64, "" },
	{ "does not fit", M(FULL), 6, "" },
	{ "fits exactly", M(FULL), 7, "CL0001" },
	{ "junk and NULs before MSH",
	    M("\0\0\x05 junk MSH|^~\\&|A|B|C|D|T||ORU^R01|JK-1|P|2.3\r"), 64,
	    "JK-1" },
	{ "MSH not followed by a delimiter is skipped",
	    M("NTE|1||MSHX MSH1 MSH|^~\\&|A|B|C|D|T||ORU^R01|SK-2|P\r"), 64,
	    "SK-2" },
	{ "odd delimiters", M(ODD), 64, "ODD-7" },
	{ "no MSH at all", M("PID|1||4711\rOBX|1|NM|x||5\r"), 64, "" },
	{ "MSH at the very end", M("xxMSH"), 64, "" },
	{ "MSH and separator at the very end", M("xxMSH|"), 64, "" },
	{ "empty frame", M(""), 64, "" },
	{ "cap 0", M(FULL), 0, "" },
};

ParameterizedTestParameters(ack, recover_control_id)
{
	return cr_make_param_array(int, case_indexes(NCASES(recover_cases)),
	    NCASES(recover_cases), free_indexes);
}

ParameterizedTest(int *i, ack, recover_control_id)
{
	const struct recover_case *c = &recover_cases[*i];
	size_t len = c->len, n;
	char *frame = malloc(len > 0 ? len : 1);
	char *out = malloc(c->cap > 0 ? c->cap : 1);

	memcpy(frame, c->frame, len);
	out[0] = 'Z';
	n = hl7_ack_recover_control_id(frame, len, out, c->cap);
	cr_assert_eq(n, strlen(c->want), "%s: length %zu", c->name, n);
	if (c->cap > 0)
		cr_assert_str_eq(out, c->want, "%s", c->name);
	else
		cr_assert_eq(out[0], 'Z', "%s: wrote into a 0-byte buffer",
		    c->name);
	free(out);
	free(frame);
}
