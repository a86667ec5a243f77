/*
 * test_oru.c: header and ORU^R01 extraction (oru.c) from messages shaped
 * like real senders' (fixtures in tests/data and inline tables).
 *
 * Most tests render every observation as one line (code, value, comparator,
 * unit, range, flags, status, time and its source, comment) and compare the
 * lines exactly: a change in any field shows in the diff.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <criterion/criterion.h>

#include "testutil.h"
#include <criterion/parameterized.h>

#include "hl7/dtm.h"
#include "hl7/hl7.h"
#include "hl7/oru.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define LIT(s) (s), (sizeof(s) - 1)

static struct hl7_msg M;
static struct oru_msg O;

static void
setup(void)
{
	hl7_msg_init(&M);
	oru_msg_init(&O);
}

static void
teardown(void)
{
	oru_msg_free(&O);
	hl7_msg_free(&M);
}

TestSuite(oru, .init = setup, .fini = teardown);

/* A growable text buffer for rendering and for building large inputs. */
struct big {
	char *p;
	size_t len, cap;
};

static void
big_add(struct big *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		cr_assert_not_null(b->p);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
big_adds(struct big *b, const char *s)
{
	big_add(b, s, strlen(s));
}

static void big_printf(struct big *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
big_printf(struct big *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < sizeof(tmp));
	big_add(b, tmp, (size_t)n);
}

/* Append s with CR and LF shown as \r and \n. */
static void
big_str(struct big *b, struct hl7_str s)
{
	size_t i;

	for (i = 0; i < s.len; i++) {
		if (s.p[i] == '\n')
			big_add(b, "\\n", 2);
		else if (s.p[i] == '\r')
			big_add(b, "\\r", 2);
		else
			big_add(b, s.p + i, 1);
	}
}

/* One observation as a line of text. */
static void
obs_line(struct big *b, const struct oru_obs *x)
{
	char iso[40];

	big_str(b, x->code);
	big_add(b, "/", 1);
	big_str(b, x->alt_code);
	big_add(b, " ", 1);
	big_str(b, x->value_type);
	switch (x->kind) {
	case ORU_VALUE_NUMBER:
		big_printf(b, " %s%.15g", x->comparator, x->number);
		break;
	case ORU_VALUE_TEXT:
		big_printf(b, " text%s", x->comparator);
		break;
	default:
		big_printf(b, " none%s", x->comparator);
		break;
	}
	big_adds(b, " '");
	big_str(b, x->value_text);
	big_adds(b, "' u=");
	big_str(b, x->units);
	big_adds(b, " r=");
	big_str(b, x->ref_range);
	big_adds(b, " f=");
	big_str(b, x->flags);
	big_adds(b, " s=");
	big_str(b, x->status);
	hl7_dtm_iso(&x->observed_at, iso);
	big_printf(b, " t=%s(%s) c=", iso,
	    oru_time_source_name(x->time_source) ?
		oru_time_source_name(x->time_source) :
		"none");
	big_str(b, x->comment);
}

/* The whole extraction: patients with their observations, one per line. */
static char *
dump(const struct oru_msg *o)
{
	struct big b = { 0 };
	uint32_t p, i;

	big_adds(&b, "");
	for (p = 0; p < o->npatients; p++) {
		const struct oru_patient *pt = &o->patients[p];

		big_adds(&b, "P ");
		big_str(&b, pt->id);
		big_adds(&b, " ");
		big_str(&b, pt->id_type);
		big_adds(&b, " ");
		big_str(&b, pt->authority);
		big_adds(&b, "\n");
		for (i = pt->first_obs; i < pt->first_obs + pt->nobs; i++) {
			big_adds(&b, "  ");
			obs_line(&b, &o->obs[i]);
			big_adds(&b, "\n");
		}
	}
	return b.p;
}

/* Parse and extract, asserting both succeed. */
static void
extract(const char *buf, size_t len, const struct oru_opts *opts)
{
	cr_assert_eq(hl7_parse(&M, buf, len, NULL), 0, "parse: %s at %zu",
	    M.err.reason ? M.err.reason : "?", M.err.offset);
	cr_assert_eq(oru_extract(&O, &M, opts), 0, "extract: %s",
	    M.err.reason ? M.err.reason : "?");
}

static void
expect_str(struct hl7_str s, const char *want, const char *what)
{
	size_t n = strlen(want);

	cr_expect(s.len == n && (n == 0 || memcmp(s.p, want, n) == 0),
	    "%s: got \"%.*s\", want \"%s\"", what, (int)s.len, s.p, want);
}

static void
expect_dump(const char *want, const char *what)
{
	char *d = dump(&O);

	cr_expect_str_eq(d, want, "%s: got\n%s\nwant\n%s", what, d, want);
	free(d);
}

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */

static const char CBC_DUMP[] =
    "P 00480217 MR ZJU1H\n"
    "  6690-2/ NM 5.8 '5.8' u=10*9/L r=3.5-9.5 f=N s=F t=2026-11-20T07:42:10+08:00(obx14) c=\n"
    "  718-7/ NM 132 '132' u=g/L r=130-175 f=N s=F t=2026-11-20T07:42:10+08:00(obx14) c=\n"
    "  4544-3/ NM 39.6 '39.6' u=% r=40-50 f=L s=F t=2026-11-20T07:42:10+08:00(obx14) c=\n"
    "  777-3/ NM 68 '68' u=10*9/L r=125-350 f=L s=F t=2026-11-20T07:42:10+08:00(obx14) c=Platelet count confirmed by smear review.\\nNo platelet clumps seen.\n"
    "  751-8/ NM 1.32 '1.32' u=10*9/L r=1.8-6.3 f=L s=F t=2026-11-20T07:42:10+08:00(obx14) c=\n"
    "  770-8/ NM 22.8 '22.8' u=% r=40-75 f=L s=F t=2026-11-20T07:42:10+08:00(obx14) c=\n";

Test(oru, cbc_fixture_lf)
{
	size_t len;
	char *buf = test_load("oru_cbc_lf.hl7", &len);
	char iso[40];

	cr_assert_null(memchr(buf, '\r', len), "fixture must be LF-only");
	extract(buf, len, NULL);
	expect_str(O.sending_app, "LIS", "MSH-3");
	expect_str(O.sending_facility, "ZJU1H", "MSH-4.1");
	expect_str(O.receiving_app, "LABWATCH", "MSH-5");
	expect_str(O.receiving_facility, "GISTTRIAL", "MSH-6");
	hl7_dtm_iso(&O.msh7, iso);
	cr_expect_str_eq(iso, "2026-11-20T08:15:02+08:00");
	cr_expect_str_eq(O.type, "ORU^R01");
	expect_str(O.control_id, "LIS20261120000417", "MSH-10");
	expect_str(O.processing_id, "P", "MSH-11");
	expect_str(O.version, "2.5.1", "MSH-12");
	expect_str(O.accept_ack, "AL", "MSH-15");
	expect_str(O.app_ack, "NE", "MSH-16");
	expect_str(O.charset, "UNICODE UTF-8", "MSH-18");
	cr_expect(O.is_oru);
	cr_assert_eq(O.npatients, 1);
	cr_assert_eq(O.norders, 1);
	cr_assert_eq(O.nobs, 6);
	cr_expect_eq(O.patients[0].seg, 1);
	cr_expect_eq(O.orders[0].seg, 4);
	cr_expect_eq(O.orders[0].patient, 0);
	expect_str(O.orders[0].placer, "PL88412", "OBR-2");
	expect_str(O.orders[0].filler, "FL20261120-0037", "OBR-3");
	expect_str(O.orders[0].code, "58410-2", "OBR-4.1");
	expect_str(O.orders[0].text, "CBC panel - Blood by Automated count",
	    "OBR-4.2");
	expect_str(O.orders[0].coding_system, "LN", "OBR-4.3");
	hl7_dtm_iso(&O.orders[0].obr7, iso);
	cr_expect_str_eq(iso, "2026-11-20T07:15:00+08:00");
	cr_expect_eq(O.obs[5].order, 0);
	cr_expect_eq(O.obs[5].seg, 12);
	expect_str(O.obs[5].set_id, "6", "OBX-1");
	expect_str(O.obs[1].text, "Hemoglobin [Mass/volume] in Blood",
	    "OBX-3.2");
	expect_str(O.obs[1].coding_system, "LN", "OBX-3.3");
	expect_dump(CBC_DUMP, "oru_cbc_lf.hl7");
	free(buf);
}

/* The same message with every line ending a sender or a relay produces. */
Test(oru, line_endings_same_extraction)
{
	size_t len, i, k;
	char *lf = test_load("oru_cbc_lf.hl7", &len);
	struct big b;
	static const char *const styles[] = { "\r", "\r\n", "\n\n", "\r\n\r\n",
		"\r\r", "\n\r" };

	for (k = 0; k < NELEM(styles); k++) {
		memset(&b, 0, sizeof(b));
		if (k == 3)
			big_adds(&b, "\r\n\r\n"); /* and blank lines first */
		for (i = 0; i < len; i++) {
			if (lf[i] == '\n')
				big_adds(&b, styles[k]);
			else
				big_add(&b, lf + i, 1);
		}
		extract(b.p, b.len, NULL);
		expect_dump(CBC_DUMP, styles[k]);
		/* Without the last terminator as well. */
		extract(b.p, b.len - strlen(styles[k]), NULL);
		expect_dump(CBC_DUMP, "no final terminator");
		free(b.p);
	}
	free(lf);
}

Test(oru, multi_patient_fixture)
{
	static const char want[] =
	    "P 00480217 MR ZJU1H\n"
	    "  ALT/1742-6 NM 212 '212' u=U/L r=9-50 f=H s=F t=2026-11-21T08:45:12(obx14) c=\n"
	    "  AST/1920-8 NM 96 '96' u=U/L r=15-40 f=H s=F t=2026-11-21T08:45:12(obx14) c=\n"
	    "  TBIL/14631-6 NM 18.2 '18.2' u=umol/L r=0-23 f= s=F t=2026-11-21T08:45:12(obx14) c=\n"
	    "P 00512986 MR ZJU1H\n"
	    "  CREA/14682-9 NM 131 '131' u=umol/L r=41-81 f=H s=F t=2026-11-21T06:35:00(obr7) c=\n"
	    "  ALT/1742-6 NM 24 '24' u=U/L r=7-40 f= s=F t=2026-11-21T06:35:00(obr7) c=\n"
	    "P A77125 PI KM-HZ\n"
	    "  HGB/718-7 NM 8.6 '8.6' u=g/dL r=11.5-15.0 f=L s=F t=2026-11-21T08:50:30(obx14) c=Specimen slightly hemolysed.\n";
	size_t len;
	char *buf = test_load("oru_multi_patient.hl7", &len);
	uint32_t i;

	extract(buf, len, NULL);
	cr_assert_eq(O.npatients, 3);
	cr_assert_eq(O.norders, 3);
	cr_assert_eq(O.nobs, 6);
	cr_expect_eq(O.patients[0].first_obs, 0);
	cr_expect_eq(O.patients[0].nobs, 3);
	cr_expect_eq(O.patients[1].first_obs, 3);
	cr_expect_eq(O.patients[1].nobs, 2);
	cr_expect_eq(O.patients[2].first_obs, 5);
	cr_expect_eq(O.patients[2].nobs, 1);
	cr_expect_eq(O.patients[1].seg, 7);
	for (i = 0; i < 3; i++)
		cr_expect_eq(O.orders[i].patient, i, "order %u", i);
	expect_str(O.orders[1].placer, "PL90012", "order 2 placer");
	expect_str(O.orders[2].filler, "KM1121-0003", "order 3 filler");
	cr_expect_eq(O.obs[2].order, 0);
	cr_expect_eq(O.obs[3].order, 1);
	cr_expect_eq(O.obs[4].order, 1);
	cr_expect_eq(O.obs[5].order, 2);
	/* The local code stays first; LOINC is in the alternate components. */
	expect_str(O.obs[0].text, "ALT SGPT", "OBX-3.2");
	expect_str(O.obs[0].coding_system, "L", "OBX-3.3");
	expect_str(O.obs[0].alt_text, "ALT", "OBX-3.5");
	expect_str(O.obs[0].alt_system, "LN", "OBX-3.6");
	expect_dump(want, "oru_multi_patient.hl7");
	free(buf);
}

Test(oru, sn_values_fixture)
{
	static const char want[] =
	    "P MRN0099812 MR CORELAB\n"
	    "  1920-8/ SN >1000 '>^1000' u=U/L r=10-40 f=> s=F t=2026-11-22T13:30:00-05:00(obx14) c=\n"
	    "  1742-6/ SN 42 '^42' u=U/L r=7-56 f=N s=F t=2026-11-22T12:15:00-05:00(obr7) c=\n"
	    "  1975-2/ SN <0.5 '<^0.5' u=mg/dL r=0.1-1.2 f= s=F t=2026-11-22T12:15:00-05:00(obr7) c=\n"
	    "  2160-0/ SN <=5 '<=^5' u=mg/dL r=0.5-1.1 f= s=F t=2026-11-22T12:15:00-05:00(obr7) c=\n"
	    "  5048-4/ SN text '^1^:^128' u={titer} r=<1:40 f=A s=F t=2026-11-22T12:15:00-05:00(obr7) c=\n"
	    "  5821-4/ SN text '^10^-^20' u=/[HPF] r=0-5 f=A s=P t=2026-11-22T12:15:00-05:00(obr7) c=\n"
	    "  751-8/ ST <0.1 '<0.1' u=10*3/uL r=1.8-7.7 f=LL s=F t=2026-11-22T12:15:00-05:00(obr7) c=\n"
	    "  777-3/ ST >1000 '> 1000' u=10*3/uL r=150-450 f=HH s=F t=2026-11-22T12:15:00-05:00(obr7) c=\n"
	    "  5196-1/ CWE text 'Negative' u= r=Negative f=N s=F t=2026-11-22T12:15:00-05:00(obr7) c=\n"
	    "  5195-3/ ST text 'POSITIVE' u= r=NEGATIVE f=A s=C t=2026-11-22T12:15:00-05:00(obr7) c=\n";
	size_t len;
	char *buf = test_load("oru_sn_values.hl7", &len);

	cr_assert_not_null(strstr(buf, "\r\n\r\n"),
	    "fixture keeps its blank line");
	extract(buf, len, NULL);
	expect_dump(want, "oru_sn_values.hl7");
	free(buf);
}

Test(oru, latin1_fixture)
{
	static const char want[] =
	    "P 4711023 MR KLN\n"
	    "  BILI/14631-6 NM 34.5 '34.5' u=\xc2\xb5mol/L r=<21 f=H s=F t=2026-11-20T08:10:00(obr7) c=\n"
	    "  KREA/14682-9 NM 88 '88' u=\xc2\xb5mol/L r=59-104 f= s=F t=2026-11-20T08:10:00(obr7) c=Befund kontrolliert, H\xc3\xa4molyse m\xc3\xb6glich.\n";
	size_t len;
	char *buf = test_load("oru_latin1.hl7", &len);

	cr_assert_not_null(memchr(buf, '\xf6', len),
	    "fixture holds a raw 0xF6");
	extract(buf, len, NULL);
	expect_str(O.charset, "8859/1", "MSH-18");
	cr_expect_eq(M.charset, HL7_CS_LATIN1);
	expect_dump(want, "oru_latin1.hl7");
	free(buf);
}

/* Split a batch file into its messages (test-local: not the splitter). */
Test(oru, batch_fixture)
{
	static const char *const ids[] = { "LIS20261123000001",
		"LIS20261123000002" };
	static const char *const want[] = {
		"P 00480217 MR ZJU1H\n"
		"  1742-6/ NM 47 '47' u=U/L r=9-50 f=N s=F t=2026-11-23T01:45:00+08:00(obx14) c=\n",
		"P 00512986 MR ZJU1H\n"
		"  751-8/ NM 0.9 '0.9' u=10*9/L r=1.8-6.3 f=L s=F t=2026-11-23T01:50:00+08:00(obx14) c=\n",
	};
	size_t len, i, n = 0;
	char *buf = test_load("batch.hl7", &len), *line, *save = NULL;
	struct big msgs[4];

	/* The whole file is not one message. */
	cr_assert_eq(hl7_parse(&M, buf, len, NULL), -1);
	cr_expect_str_eq(M.err.reason, "message does not start with MSH");

	memset(msgs, 0, sizeof(msgs));
	for (line = strtok_r(buf, "\r\n", &save); line != NULL;
	     line = strtok_r(NULL, "\r\n", &save)) {
		if (strncmp(line, "MSH", 3) == 0) {
			cr_assert_lt(n, NELEM(msgs));
			n++;
		} else if (strncmp(line, "FHS", 3) == 0 ||
		    strncmp(line, "BHS", 3) == 0 ||
		    strncmp(line, "BTS", 3) == 0 ||
		    strncmp(line, "FTS", 3) == 0)
			continue;
		cr_assert_gt(n, 0, "segment before the first MSH");
		big_adds(&msgs[n - 1], line);
		big_adds(&msgs[n - 1], "\r");
	}
	cr_assert_eq(n, 2);
	for (i = 0; i < n; i++) {
		extract(msgs[i].p, msgs[i].len, NULL);
		expect_str(O.control_id, ids[i], "MSH-10");
		expect_dump(want[i], ids[i]);
		free(msgs[i].p);
	}
	free(buf);
}

/* ------------------------------------------------------------------ */
/* OBX-3, values, comparators                                          */

/* PID and OBR of one patient's chemistry order, to follow any MSH. */
#define HDR_TAIL_PID \
	"PID|1||123456^^^HOSP^MR||DOE^JANE\r" \
	"OBR|1|ORD1|FIL1|24323-8^Comprehensive metabolic panel^LN|||20261120070000+0800\r"
#define HDR \
	"MSH|^~\\&|LIS|MAINLAB|LABWATCH|ONC|20261120073500+0800||ORU^R01^ORU_R01|V1|P|2.5.1\r" HDR_TAIL_PID

Test(oru, obx3_codes)
{
	static const struct {
		const char *obx3;
		const char *code, *text, *sys, *alt, *alt_text, *alt_sys;
	} cases[] = {
		{ "ALT^ALT SGPT^L^1742-6^ALT^LN", "ALT", "ALT SGPT", "L",
		    "1742-6", "ALT", "LN" },
		{ "1742-6^ALT^LN", "1742-6", "ALT", "LN", "", "", "" },
		{ "1742-6^ALT^LN^ALT^ALT SGPT^99LAB", "1742-6", "ALT", "LN",
		    "ALT", "ALT SGPT", "99LAB" },
		{ "^^^1742-6^ALT^LN", "", "", "", "1742-6", "ALT", "LN" },
		{ "HGB^Hb \\T\\ Hct^L^718-7^Hemoglobin^LN", "HGB", "Hb & Hct",
		    "L", "718-7", "Hemoglobin", "LN" },
		/* CWE 2.5.1+: version ids and original text after component 6. */
		{ "GLU^Glucose^L^2345-7^Glucose^LN^1.0^2.73^Glucose fasting",
		    "GLU", "Glucose", "L", "2345-7", "Glucose", "LN" },
		{ "777-3^Platelets^LN~PLT^Platelets^L", "777-3", "Platelets",
		    "LN", "", "", "" },
		{ "WBC", "WBC", "", "", "", "", "" },
		{ "", "", "", "", "", "", "" },
	};
	char msg[512];
	size_t i;
	int n;

	for (i = 0; i < NELEM(cases); i++) {
		n = snprintf(msg, sizeof(msg), HDR "OBX|1|NM|%s||5|U/L|||||F\r",
		    cases[i].obx3);
		extract(msg, (size_t)n, NULL);
		cr_assert_eq(O.nobs, 1);
		expect_str(O.obs[0].code, cases[i].code, cases[i].obx3);
		expect_str(O.obs[0].text, cases[i].text, cases[i].obx3);
		expect_str(O.obs[0].coding_system, cases[i].sys, cases[i].obx3);
		expect_str(O.obs[0].alt_code, cases[i].alt, cases[i].obx3);
		expect_str(O.obs[0].alt_text, cases[i].alt_text, cases[i].obx3);
		expect_str(O.obs[0].alt_system, cases[i].alt_sys,
		    cases[i].obx3);
	}
}

struct val_case {
	const char *vt, *obx5;
	enum oru_value_kind kind;
	double number;
	const char *cmp, *text;
};

static const struct val_case val_cases[] = {
	/* NM */
	{ "NM", "12.5", ORU_VALUE_NUMBER, 12.5, "", "12.5" },
	{ "NM", "-3", ORU_VALUE_NUMBER, -3, "", "-3" },
	{ "NM", "+0.25", ORU_VALUE_NUMBER, 0.25, "", "+0.25" },
	{ "NM", "1e3", ORU_VALUE_NUMBER, 1000, "", "1e3" },
	{ "NM", " 7.0 ", ORU_VALUE_NUMBER, 7, "", " 7.0 " },
	{ "NM", "0.1", ORU_VALUE_NUMBER, 0.1, "", "0.1" },
	{ "NM", "12.5~13.0", ORU_VALUE_NUMBER, 12.5, "", "12.5" },
	{ "NM", "12,5", ORU_VALUE_TEXT, 0, "", "12,5" },
	{ "NM", "", ORU_VALUE_NONE, 0, "", "" },
	{ "", "5", ORU_VALUE_NUMBER, 5, "", "5" },
	/* SN */
	{ "SN", "<^0.5", ORU_VALUE_NUMBER, 0.5, "<", "<^0.5" },
	{ "SN", ">^1000", ORU_VALUE_NUMBER, 1000, ">", ">^1000" },
	{ "SN", "^42", ORU_VALUE_NUMBER, 42, "", "^42" },
	{ "SN", "<=^5", ORU_VALUE_NUMBER, 5, "<=", "<=^5" },
	{ "SN", ">=^2.5", ORU_VALUE_NUMBER, 2.5, ">=", ">=^2.5" },
	{ "SN", "=^7", ORU_VALUE_NUMBER, 7, "=", "=^7" },
	{ "SN", "<>^7", ORU_VALUE_NUMBER, 7, "<>", "<>^7" },
	{ "SN", "< ^ 0.5 ", ORU_VALUE_NUMBER, 0.5, "<", "< ^ 0.5 " },
	{ "SN", "^-0.3", ORU_VALUE_NUMBER, -0.3, "", "^-0.3" },
	{ "SN", "^10^-^20", ORU_VALUE_TEXT, 0, "", "^10^-^20" },
	{ "SN", "^1^:^128", ORU_VALUE_TEXT, 0, "", "^1^:^128" },
	{ "SN", "^1^/^2", ORU_VALUE_TEXT, 0, "", "^1^/^2" },
	{ "SN", "^10^+", ORU_VALUE_TEXT, 0, "", "^10^+" },
	{ "SN", "<^", ORU_VALUE_TEXT, 0, "", "<^" },
	{ "SN", "!^5", ORU_VALUE_TEXT, 0, "", "!^5" },
	/* Senders that put a plain number in SN: read as NM/ST would be. */
	{ "SN", "12.5", ORU_VALUE_NUMBER, 12.5, "", "12.5" },
	{ "SN", "<0.5", ORU_VALUE_NUMBER, 0.5, "<", "<0.5" },
	{ "SN", "abc", ORU_VALUE_TEXT, 0, "", "abc" },
	/* ST/TX holding a number with a comparator */
	{ "ST", "<0.1", ORU_VALUE_NUMBER, 0.1, "<", "<0.1" },
	{ "ST", "> 1000", ORU_VALUE_NUMBER, 1000, ">", "> 1000" },
	{ "ST", "<=5", ORU_VALUE_NUMBER, 5, "<=", "<=5" },
	{ "ST", ">= 2.5", ORU_VALUE_NUMBER, 2.5, ">=", ">= 2.5" },
	{ "ST", "  <  0.05 ", ORU_VALUE_NUMBER, 0.05, "<", "  <  0.05 " },
	{ "TX", "<0.1", ORU_VALUE_NUMBER, 0.1, "<", "<0.1" },
	{ "ST", "88", ORU_VALUE_NUMBER, 88, "", "88" },
	/* ... and not */
	{ "ST", "POSITIVE", ORU_VALUE_TEXT, 0, "", "POSITIVE" },
	{ "ST", "<POSITIVE", ORU_VALUE_TEXT, 0, "", "<POSITIVE" },
	{ "ST", "<", ORU_VALUE_TEXT, 0, "", "<" },
	{ "ST", "1.5-2.0", ORU_VALUE_TEXT, 0, "", "1.5-2.0" },
	{ "ST", "12.5 mg/dL", ORU_VALUE_TEXT, 0, "", "12.5 mg/dL" },
	{ "ST", "<0.1^x", ORU_VALUE_TEXT, 0, "", "<0.1^x" },
	{ "ST", "Hemolysed\\.br\\see comment", ORU_VALUE_TEXT, 0, "",
	    "Hemolysed\nsee comment" },
	{ "TX", "line one~line two", ORU_VALUE_TEXT, 0, "",
	    "line one\nline two" },
	{ "FT", "\\H\\Critical\\N\\ result", ORU_VALUE_TEXT, 0, "",
	    "Critical result" },
	{ "ST", "", ORU_VALUE_NONE, 0, "", "" },
	/* Coded values: the text, else the code. */
	{ "CWE", "260385009^Negative^SCT", ORU_VALUE_TEXT, 0, "", "Negative" },
	{ "CE", "POS^^L", ORU_VALUE_TEXT, 0, "", "POS" },
	{ "CWE", "NEG^Negative^L~X^Y", ORU_VALUE_TEXT, 0, "", "Negative" },
	{ "CNE", "Y^Yes^HL70136", ORU_VALUE_TEXT, 0, "", "Yes" },
};

Test(oru, values_and_comparators)
{
	char msg[512], what[96];
	size_t i;
	int n;

	for (i = 0; i < NELEM(val_cases); i++) {
		const struct val_case *c = &val_cases[i];

		n = snprintf(msg, sizeof(msg),
		    HDR "OBX|1|%s|1920-8^AST^LN||%s|U/L|10-40|H|||F\r", c->vt,
		    c->obx5);
		extract(msg, (size_t)n, NULL);
		cr_assert_eq(O.nobs, 1);
		snprintf(what, sizeof(what), "case %zu %s \"%s\"", i, c->vt,
		    c->obx5);
		cr_expect_eq(O.obs[0].kind, c->kind, "%s: kind %d", what,
		    (int)O.obs[0].kind);
		if (c->kind == ORU_VALUE_NUMBER)
			cr_expect(O.obs[0].number == c->number, "%s: %.17g",
			    what, O.obs[0].number);
		cr_expect_str_eq(O.obs[0].comparator, c->cmp, "%s: comparator",
		    what);
		expect_str(O.obs[0].value_text, c->text, what);
		expect_str(O.obs[0].units, "U/L", what);
	}
}

/*
 * An SN whose comparator is fine but whose number is not must not leave
 * the comparator behind on a text value (the NM/ST path clears it).
 */
Test(oru, sn_comparator_cleared_when_not_a_number)
{
	static const char *const bad[] = { "<^abc", ">^1e400", "<=^1,5",
		"<<^5" };
	char msg[512], cmp[3];
	double num = 42;
	size_t i;
	int n, seg;

	for (i = 0; i < NELEM(bad); i++) {
		n = snprintf(msg, sizeof(msg),
		    HDR "OBX|1|SN|1920-8^AST^LN||%s|U/L|10-40||||F\r", bad[i]);
		extract(msg, (size_t)n, NULL);
		cr_assert_eq(O.nobs, 1);
		cr_expect_eq(O.obs[0].kind, ORU_VALUE_TEXT, "\"%s\"", bad[i]);
		cr_expect_str_eq(O.obs[0].comparator, "",
		    "\"%s\": comparator kept", bad[i]);
		seg = hl7_find_seg(&M, "OBX", 0);
		memcpy(cmp, "?", 2);
		cr_expect_eq(oru_read_number(&M,
				 hl7_get(&M, (uint32_t)seg, 5, 1, 0, 0), "SN",
				 2, &num, cmp),
		    -1);
		cr_expect_str_eq(cmp, "", "\"%s\": oru_read_number comparator",
		    bad[i]);
	}
}

Test(oru, read_number_direct)
{
	static const struct {
		const char *vt, *v;
		int rc;
		double num;
		const char *cmp;
	} cases[] = {
		{ "NM", "12.5", 0, 12.5, "" },
		{ "SN", "<^0.5", 0, 0.5, "<" },
		{ "SN", "^1^:^128", -1, 0, "" },
		{ "ST", "<0.1", 0, 0.1, "<" },
		{ "ST", "<x", -1, 0, "" },
		{ "ST", "", -1, 0, "" },
	};
	char msg[256], cmp[3];
	double num;
	size_t i;
	int n, rc;

	for (i = 0; i < NELEM(cases); i++) {
		n = snprintf(msg, sizeof(msg), HDR "NTE|1|L|%s\r", cases[i].v);
		cr_assert_eq(hl7_parse(&M, msg, (size_t)n, NULL), 0);
		num = -1;
		memcpy(cmp, "?", 2);
		rc = oru_read_number(&M, hl7_get(&M, 3, 3, 1, 0, 0),
		    cases[i].vt, strlen(cases[i].vt), &num, cmp);
		cr_expect_eq(rc, cases[i].rc, "case %zu", i);
		cr_expect_str_eq(cmp, cases[i].cmp, "case %zu", i);
		if (rc == 0)
			cr_expect(num == cases[i].num, "case %zu: %g", i, num);
	}
}

Test(oru, units_range_flags_status)
{
	static const struct {
		const char *units, *range, *flags, *status;
		const char *want_units, *want_flags;
	} cases[] = {
		{ "mg/dL", "0.1-1.2", "H", "F", "mg/dL", "H" },
		{ "^mg/dL", "10 - 40", "L", "C", "mg/dL", "L" },
		{ "mg/dL^milligram per deciliter^UCUM", "<40", "H~A", "P",
		    "mg/dL", "H~A" },
		{ "^^UCUM", ">60", "LL~A~N", "F", "", "LL~A~N" },
		{ "10*9/L", "0 to 0.3", "", "", "10*9/L", "" },
		{ "", "", "<", "D", "", "<" },
		{ "U/L~IU/L", "3.5-5.0~3.4-5.1", "HH", "F", "U/L", "HH" },
	};
	char msg[512], what[80];
	size_t i;
	int n;

	for (i = 0; i < NELEM(cases); i++) {
		n = snprintf(msg, sizeof(msg),
		    HDR "OBX|1|NM|1742-6^ALT^LN||88|%s|%s|%s|||%s\r",
		    cases[i].units, cases[i].range, cases[i].flags,
		    cases[i].status);
		extract(msg, (size_t)n, NULL);
		cr_assert_eq(O.nobs, 1);
		snprintf(what, sizeof(what), "case %zu", i);
		expect_str(O.obs[0].units, cases[i].want_units, what);
		/* OBX-7 is one range; its first repetition when a sender repeats. */
		expect_str(O.obs[0].ref_range,
		    i == 6 ? "3.5-5.0" : cases[i].range, what);
		expect_str(O.obs[0].flags, cases[i].want_flags, what);
		expect_str(O.obs[0].status, cases[i].status, what);
	}
}

/* ------------------------------------------------------------------ */
/* Observation time                                                     */

Test(oru, observation_time)
{
	static const struct {
		const char *msh7, *obr7, *obx14;
		bool with_obr;
		const char *iso;
		enum oru_time_source src;
	} cases[] = {
		{ "20261120090000", "20261120060000", "20261120073000+0800",
		    true, "2026-11-20T07:30:00+08:00", ORU_TIME_OBX14 },
		{ "20261120090000", "202611200730", "", true,
		    "2026-11-20T07:30:00", ORU_TIME_OBR7 },
		{ "20261120090000-0500", "", "", true,
		    "2026-11-20T09:00:00-05:00", ORU_TIME_MSH7 },
		{ "", "", "", true, "", ORU_TIME_NONE },
		{ "20261120090000", "20261120060000", "20261120", true,
		    "2026-11-20", ORU_TIME_OBX14 },
		{ "20261120090000", "", "20261120073000.123+0100", true,
		    "2026-11-20T07:30:00.123+01:00", ORU_TIME_OBX14 },
		/* An OBX-14 that is not a DTM: the next source. */
		{ "20261120090000", "20261120060000", "20261320", true,
		    "2026-11-20T06:00:00", ORU_TIME_OBR7 },
		{ "20261120090000", "2026112", "", true, "2026-11-20T09:00:00",
		    ORU_TIME_MSH7 },
		/* v2.3 TS with its degree-of-precision component. */
		{ "20261120090000", "", "202611200730^M", true,
		    "2026-11-20T07:30:00", ORU_TIME_OBX14 },
		/* No OBR at all: OBX-14, else MSH-7. */
		{ "20261120090000", "", "", false, "2026-11-20T09:00:00",
		    ORU_TIME_MSH7 },
		{ "20261120090000", "", "202611200745", false,
		    "2026-11-20T07:45:00", ORU_TIME_OBX14 },
	};
	char msg[512], iso[40];
	size_t i;
	int n;

	for (i = 0; i < NELEM(cases); i++) {
		n = snprintf(msg, sizeof(msg),
		    "MSH|^~\\&|LIS|LAB|LW|ONC|%s||ORU^R01|T%zu|P|2.5.1\r"
		    "PID|1||1^^^H^MR\r"
		    "%s%s%s"
		    "OBX|1|NM|X||5|u|r|f|||F|||%s\r",
		    cases[i].msh7, i, cases[i].with_obr ? "OBR|1|||X|||" : "",
		    cases[i].with_obr ? cases[i].obr7 : "",
		    cases[i].with_obr ? "\r" : "", cases[i].obx14);
		extract(msg, (size_t)n, NULL);
		cr_assert_eq(O.nobs, 1);
		hl7_dtm_iso(&O.obs[0].observed_at, iso);
		cr_expect_str_eq(iso, cases[i].iso, "case %zu: %s", i, iso);
		cr_expect_eq(O.obs[0].time_source, cases[i].src,
		    "case %zu: source %d", i, (int)O.obs[0].time_source);
		cr_expect_eq(O.obs[0].order, cases[i].with_obr ? 0 : UINT32_MAX,
		    "case %zu", i);
	}
	cr_expect_str_eq(oru_time_source_name(ORU_TIME_OBX14), "obx14");
	cr_expect_str_eq(oru_time_source_name(ORU_TIME_OBR7), "obr7");
	cr_expect_str_eq(oru_time_source_name(ORU_TIME_MSH7), "msh7");
	cr_expect_null(oru_time_source_name(ORU_TIME_NONE));
}

Test(oru, observation_time_per_obx)
{
	/* A panel with one OBX-14 repeated, one different, one missing. */
	static const char msg[] =
	    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120090000+0800||ORU^R01|TT|P|2.5.1\r"
	    "PID|1||1^^^H^MR\r"
	    "OBR|1|||X|||20261120060000+0800\r"
	    "OBX|1|NM|A||1||||||F|||20261120073000+0800\r"
	    "OBX|2|NM|B||2||||||F|||20261120073000+0800\r"
	    "OBX|3|NM|C||3||||||F|||20261120074500+0800\r"
	    "OBX|4|NM|D||4||||||F\r"
	    "OBX|5|NM|E||5||||||F|||20261120073000+0800\r"
	    "OBR|2|||Y\r"
	    "OBX|1|NM|F||6||||||F\r";
	static const char *const want[] = {
		"2026-11-20T07:30:00+08:00",
		"2026-11-20T07:30:00+08:00",
		"2026-11-20T07:45:00+08:00",
		"2026-11-20T06:00:00+08:00",
		"2026-11-20T07:30:00+08:00",
		"2026-11-20T09:00:00+08:00",
	};
	char iso[40];
	size_t i;

	extract(LIT(msg), NULL);
	cr_assert_eq(O.nobs, NELEM(want));
	for (i = 0; i < NELEM(want); i++) {
		hl7_dtm_iso(&O.obs[i].observed_at, iso);
		cr_expect_str_eq(iso, want[i], "OBX %zu: %s", i + 1, iso);
	}
	cr_expect_eq(O.obs[3].time_source, ORU_TIME_OBR7);
	cr_expect_eq(O.obs[5].time_source, ORU_TIME_MSH7);
}

/* ------------------------------------------------------------------ */
/* Patient identifier                                                   */

Test(oru, patient_id)
{
	static const struct {
		const char *pid3, *id_type;
		const char *id, *type, *auth;
	} cases[] = {
		{ "123456^^^HOSP^MR~987^^^NAT^NI", NULL, "123456", "MR",
		    "HOSP" },
		{ "987^^^NAT^NI~123456^^^HOSP^MR", NULL, "123456", "MR",
		    "HOSP" },
		{ "987^^^NAT^NI~555^^^HOSP^PI", NULL, "987", "NI", "NAT" },
		{ "123456^^^HOSP^MR~987^^^NAT^NI", "NI", "987", "NI", "NAT" },
		{ "123456^^^HOSP^MR~987^^^NAT^NI", "MR", "123456", "MR",
		    "HOSP" },
		{ "123456^^^HOSP^MR~987^^^NAT^NI", "PT", "123456", "MR",
		    "HOSP" },
		{ "555^^^H^PI~777^^^H^MR~888^^^H^MR", NULL, "777", "MR", "H" },
		{ "123456^^^HOSP&2.16.840.1.113883.3.72&ISO^MR", NULL, "123456",
		    "MR", "HOSP" },
		{ "123456^4^M10^HOSP^MR^ONCWARD", NULL, "123456", "MR",
		    "HOSP" },
		{ "123456", NULL, "123456", "", "" },
		{ "~123^^^H^MR", NULL, "123", "MR", "H" },
		{ "123^^^H^mr", NULL, "123", "mr", "H" },
		{ "00123\\T\\4^^^H^MR", NULL, "00123&4", "MR", "H" },
		{ "", NULL, "", "", "" },
	};
	struct oru_opts opts;
	char msg[512], what[96];
	size_t i;
	int n;

	for (i = 0; i < NELEM(cases); i++) {
		n = snprintf(msg, sizeof(msg),
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120090000||ORU^R01|I%zu|P|2.5.1\r"
		    "PID|1||%s||DOE^JANE\r"
		    "OBR|1|||X\r"
		    "OBX|1|NM|X||5||||||F\r",
		    i, cases[i].pid3);
		opts.id_type = cases[i].id_type;
		extract(msg, (size_t)n, &opts);
		snprintf(what, sizeof(what), "case %zu \"%s\" %s", i,
		    cases[i].pid3,
		    cases[i].id_type ? cases[i].id_type : "default");
		cr_assert_eq(O.npatients, 1, "%s", what);
		expect_str(O.patients[0].id, cases[i].id, what);
		expect_str(O.patients[0].id_type, cases[i].type, what);
		expect_str(O.patients[0].authority, cases[i].auth, what);
	}
}

/* PID-8, the administrative sex: it picks a sex-specific OBX-7 range. */
Test(oru, patient_sex)
{
	static const struct {
		const char *pid8, *sex;
	} cases[] = {
		{ "M", "M" },
		{ "F", "F" },
		{ "U", "U" },
		{ "", "" },
		{ "F^Female^HL70001", "F" },
	};
	char msg[512], what[64];
	size_t i;
	int n;

	for (i = 0; i < NELEM(cases); i++) {
		n = snprintf(msg, sizeof(msg),
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120090000||ORU^R01|S%zu|P|2.5.1\r"
		    "PID|1||1^^^H^MR||DOE^JANE||19700101|%s\r"
		    "OBR|1|||X\r"
		    "OBX|1|NM|X||5||||||F\r",
		    i, cases[i].pid8);
		extract(msg, (size_t)n, NULL);
		snprintf(what, sizeof(what), "case %zu \"%s\"", i,
		    cases[i].pid8);
		cr_assert_eq(O.npatients, 1, "%s", what);
		expect_str(O.patients[0].sex, cases[i].sex, what);
	}
}

/* ------------------------------------------------------------------ */
/* NTE                                                                 */

Test(oru, nte_comments)
{
	static const char msg[] =
	    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120090000||ORU^R01|N1|P|2.5.1\r"
	    "PID|1||1^^^H^MR\r"
	    "NTE|1|L|patient note, not a result comment\r"
	    "OBR|1|||X\r"
	    "NTE|1|L|order note, not a result comment\r"
	    "OBX|1|NM|A||1||||||F\r"
	    "NTE|1|L|first line\r"
	    "NTE|2|L|second line\r"
	    "OBX|2|NM|B||2||||||F\r"
	    "OBX|3|TX|C||text||||||F\r"
	    "NTE|1|L|with\\.br\\break~and a repetition\r"
	    "ORC|RE\r"
	    "NTE|1|L|after ORC, not a result comment\r"
	    "OBR|2|||Y\r"
	    "OBX|1|NM|D||4||||||F\r"
	    "NTE|1|L|\r"
	    "NTE|2|L|after an empty one\r"
	    "OBX|2|NM|E||5||||||F\r"
	    "NTE|1|L|a\r"
	    "NTE|2|L|\r"
	    "NTE|3|L|b \\F\\ c\r"
	    "PID|2||2^^^H^MR\r"
	    "NTE|1|L|second patient's note\r"
	    "OBX|1|NM|F||6||||||F\r";
	static const char *const want[] = {
		"first line\nsecond line",
		"",
		"with\nbreak\nand a repetition",
		"after an empty one",
		"a\n\nb | c",
		"",
	};
	size_t i;

	extract(LIT(msg), NULL);
	cr_assert_eq(O.nobs, NELEM(want));
	for (i = 0; i < NELEM(want); i++)
		expect_str(O.obs[i].comment, want[i], O.obs[i].code.p);
	cr_expect_eq(O.npatients, 2);
	cr_expect_eq(O.patients[1].nobs, 1);
	cr_expect_eq(O.obs[5].order, UINT32_MAX, "OBX after PID, no OBR");
}

/* ------------------------------------------------------------------ */
/* Header errors, versions and message types                            */

struct hdr_case {
	char name[40];
	char msg[160];
	int code;
	char reason[64];
	unsigned field;
};

ParameterizedTestParameters(oru, header_errors)
{
	static struct hdr_case cases[] = {
		{ "MSH-9 empty",
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000|||C1|P|2.5.1\r",
		    101, "MSH-9 message type missing", 9 },
		{ "MSH-9.1 empty",
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||^R01|C1|P|2.5.1\r",
		    101, "MSH-9 message type missing", 9 },
		{ "MSH cut after MSH-2", "MSH|^~", 101,
		    "MSH-9 message type missing", 9 },
		{ "MSH-2 only", "MSH|^~\\&\rPID|1\r", 101,
		    "MSH-9 message type missing", 9 },
		{ "MSH-9 and MSH-10 empty",
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||||P|2.5.1\r", 101,
		    "MSH-9 message type missing", 9 },
		{ "MSH-10 empty",
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01||P|2.5.1\r",
		    101, "MSH-10 message control id missing", 10 },
		{ "MSH-10 absent",
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01\r", 101,
		    "MSH-10 message control id missing", 10 },
		{ "MSH-12 empty",
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|C1|P|\r",
		    101, "MSH-12 version id missing", 12 },
		{ "MSH-12 absent",
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|C1|P\r",
		    101, "MSH-12 version id missing", 12 },
		{ "MSH-12 absent, no MSH-11",
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|C1\r",
		    101, "MSH-12 version id missing", 12 },
		{ "version 2.1",
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|C1|P|2.1\r",
		    203, "MSH-12 version not supported (2.2 to 2.8.2)", 12 },
		{ "version 3.0",
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|C1|P|3.0\r",
		    203, "MSH-12 version not supported (2.2 to 2.8.2)", 12 },
		{ "version 2.9",
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|C1|P|2.9\r",
		    203, "MSH-12 version not supported (2.2 to 2.8.2)", 12 },
		{ "version 2.5.2",
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|C1|P|2.5.2\r",
		    203, "MSH-12 version not supported (2.2 to 2.8.2)", 12 },
		{ "version 2",
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|C1|P|2\r",
		    203, "MSH-12 version not supported (2.2 to 2.8.2)", 12 },
		{ "version v2.5",
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|C1|P|v2.5\r",
		    203, "MSH-12 version not supported (2.2 to 2.8.2)", 12 },
	};

	return cr_make_param_array(struct hdr_case, cases, NELEM(cases));
}

ParameterizedTest(struct hdr_case *c, oru, header_errors)
{
	cr_assert_eq(hl7_parse(&M, c->msg, strlen(c->msg), NULL), 0, "%s: %s",
	    c->name, M.err.reason ? M.err.reason : "?");
	cr_assert_eq(oru_extract(&O, &M, NULL), -1, "%s: extracted", c->name);
	cr_expect_eq((int)M.err.code, c->code, "%s: code %d", c->name,
	    (int)M.err.code);
	cr_assert_not_null(M.err.reason);
	cr_expect_str_eq(M.err.reason, c->reason, "%s", c->name);
	cr_expect_eq(M.err.field, c->field, "%s: field %u", c->name,
	    M.err.field);
	cr_expect_str_eq(M.err.seg_id, "MSH", "%s", c->name);
	cr_expect_eq(M.err.seg_seq, 1, "%s", c->name);
	cr_expect_eq(M.err.offset, 0, "%s: offset %zu", c->name, M.err.offset);
	cr_expect_not(O.is_oru, "%s", c->name);
	cr_expect_eq(O.nobs, 0, "%s", c->name);
}

Test(oru, versions_supported)
{
	static const char *const versions[] = { "2.2", "2.3", "2.3.1", "2.4",
		"2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2",
		"2.5.1^CHN^2.5.1" };
	char msg[512];
	size_t i;
	int n;

	for (i = 0; i < NELEM(versions); i++) {
		n = snprintf(msg, sizeof(msg),
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|C%zu|P|%s\r" HDR_TAIL_PID
		    "OBX|1|NM|X||5||||||F\r",
		    i, versions[i]);
		extract(msg, (size_t)n, NULL);
		cr_expect_eq(O.nobs, 1, "version %s", versions[i]);
	}
}

Test(oru, message_types)
{
	static const struct {
		const char *msh9, *type;
		bool is_oru;
	} cases[] = {
		{ "ORU^R01^ORU_R01", "ORU^R01", true },
		{ "ORU^R01", "ORU^R01", true },
		{ "ORU^R30^ORU_R30", "ORU^R30",
		    false }, /* point of care: ignored */
		{ "ORU^R31", "ORU^R31", false },
		{ "ORU^R32", "ORU^R32", false },
		{ "ORU", "ORU", true },
		{ "ADT^A01^ADT_A01", "ADT^A01", false },
		{ "ORM^O01", "ORM^O01", false },
		{ "OUL^R22^OUL_R22", "OUL^R22", false },
		{ "ACK", "ACK", false },
		{ "VERYLONGTYPE^TRIGGERXYZ", "VERYLONG^TRIGGERX", false },
	};
	char msg[512];
	size_t i;
	int n;

	for (i = 0; i < NELEM(cases); i++) {
		n = snprintf(msg, sizeof(msg),
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||%s|C%zu|P|2.5.1\r" HDR_TAIL_PID
		    "OBX|1|NM|X||5||||||F\r",
		    cases[i].msh9, i);
		extract(msg, (size_t)n, NULL);
		cr_expect_str_eq(O.type, cases[i].type, "%s", cases[i].msh9);
		cr_expect_eq(O.is_oru, cases[i].is_oru, "%s", cases[i].msh9);
		cr_expect_eq(O.nobs, cases[i].is_oru ? 1 : 0, "%s",
		    cases[i].msh9);
		cr_expect_eq(O.npatients, cases[i].is_oru ? 1 : 0, "%s",
		    cases[i].msh9);
	}
}

/* ------------------------------------------------------------------ */
/* Other shapes                                                         */

Test(oru, custom_delimiters)
{
	static const char msg[] =
	    "MSH#$*@!#LIS#LAB#LW#ONC#20261120073500##ORU$R01$ORU_R01#D1#P#2.5.1\r"
	    "PID#1##987$$$NAT$NI*123456$$$HOSP!1.2.3!ISO$MR##DOE$JANE\r"
	    "OBR#1#ORD1$LIS#FIL1#24323-8$CMP$LN###20261120070000\r"
	    "OBX#1#SN#ALT$ALT SGPT$L$1742-6$ALT$LN##<$0.5#U/L#7-56#L*A###F\r"
	    "NTE#1#L#see @S@ note@.br@line 2*second rep\r"
	    "OBX#2#ST#751-8$Neutrophils$LN##<=0.1#10@R@9/L#1.8-7.5#LL###F\r";
	static const char want[] =
	    "P 123456 MR HOSP\n"
	    "  ALT/1742-6 SN <0.5 '<$0.5' u=U/L r=7-56 f=L~A s=F t=2026-11-20T07:00:00(obr7) c=see $ note\\nline 2\\nsecond rep\n"
	    "  751-8/ ST <=0.1 '<=0.1' u=10*9/L r=1.8-7.5 f=LL s=F t=2026-11-20T07:00:00(obr7) c=\n";

	extract(LIT(msg), NULL);
	cr_expect_str_eq(O.type, "ORU^R01");
	expect_str(O.control_id, "D1", "MSH-10");
	expect_str(O.orders[0].placer, "ORD1", "OBR-2.1");
	expect_str(O.orders[0].text, "CMP", "OBR-4.2");
	expect_dump(want, "#$*@! delimiters");
}

Test(oru, obx_without_pid_or_obr)
{
	static const char msg[] =
	    "MSH|^~\\&|POCT|WARD7|LW|ONC|20261120090000+0800||ORU^R01|W1|P|2.5\r"
	    "OBX|1|NM|718-7^Hemoglobin^LN||121|g/L|115-150||||F\r"
	    "OBR|1|||X|||20261120080000+0800\r"
	    "OBX|2|NM|777-3^Platelets^LN||240|10*9/L|125-350||||F\r";

	extract(LIT(msg), NULL);
	cr_assert_eq(O.npatients, 1);
	cr_expect_eq(O.patients[0].seg, UINT32_MAX);
	expect_str(O.patients[0].id, "", "no PID");
	cr_expect_eq(O.patients[0].nobs, 2);
	cr_expect_eq(O.obs[0].order, UINT32_MAX);
	cr_expect_eq(O.obs[0].time_source, ORU_TIME_MSH7);
	cr_expect_eq(O.obs[1].order, 0);
	cr_expect_eq(O.obs[1].time_source, ORU_TIME_OBR7);
	cr_expect_eq(O.orders[0].patient, 0);
}

Test(oru, reuse_across_messages)
{
	size_t len;
	char *cbc = test_load("oru_cbc_lf.hl7", &len);
	static const char one[] =
	    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120090000||ORU^R01|R2|P|2.5.1\r"
	    "OBX|1|NM|X||5\r";
	static const char adt[] =
	    "MSH|^~\\&|ADT|LAB|LW|ONC|20261120090000||ADT^A08|R3|P|2.5.1\r"
	    "PID|1||1^^^H^MR\r";

	extract(cbc, len, NULL);
	cr_expect_eq(O.nobs, 6);
	extract(LIT(one), NULL);
	cr_expect_eq(O.nobs, 1);
	cr_expect_eq(O.npatients, 1);
	cr_expect_eq(O.norders, 0);
	cr_expect_eq(O.obs[0].time_source, ORU_TIME_MSH7);
	extract(LIT(adt), NULL);
	cr_expect_eq(O.nobs, 0);
	cr_expect_eq(O.npatients, 0);
	cr_expect_not(O.is_oru);
	cr_assert_eq(hl7_parse(&M,
			 LIT("MSH|^~\\&|X|Y|Z|W|20261120||ORU^R01||P|2.5.1\r"),
			 NULL),
	    0);
	cr_expect_eq(oru_extract(&O, &M, NULL), -1);
	extract(cbc, len, NULL);
	expect_dump(CBC_DUMP, "after other messages");
	free(cbc);
}

/*
 * Fixtures with random bytes changed (to delimiters, terminators, digits,
 * comparators, high bytes): whatever parses must extract without reading
 * outside its memory (run under ASan), and every string must be readable.
 */
Test(oru, mutated_fixtures, .timeout = 120)
{
	static const char *const files[] = { "oru_cbc_lf.hl7",
		"oru_multi_patient.hl7", "oru_latin1.hl7",
		"oru_sn_values.hl7" };
	static const char pool[] = "|^~\\&#\r\n0123456789.<>=-+ \xf6\xa4";
	uint64_t x = 4933669;
	size_t f, k, j, len, pos;
	unsigned long sum = 0;
	char *orig, *buf;
	uint32_t i;
	int parsed = 0;

	for (f = 0; f < NELEM(files); f++) {
		orig = test_load(files[f], &len);
		buf = malloc(len);
		cr_assert_not_null(buf);
		for (k = 0; k < 5000; k++) {
			memcpy(buf, orig, len);
			for (j = 0; j < 1 + k % 4; j++) {
				x = x * 6364136223846793005ULL +
				    1442695040888963407ULL;
				pos = (size_t)(x >> 33) % len;
				buf[pos] = pool[(x >> 20) % (sizeof(pool) - 1)];
			}
			if (hl7_parse(&M, buf, len, NULL) != 0)
				continue;
			parsed++;
			if (oru_extract(&O, &M, NULL) != 0)
				continue;
			for (i = 0; i < O.nobs; i++) {
				const struct oru_obs *ob = &O.obs[i];
				const struct hl7_str s[] = { ob->code,
					ob->alt_code, ob->value_text, ob->units,
					ob->ref_range, ob->flags, ob->status,
					ob->comment };

				for (j = 0; j < NELEM(s); j++)
					if (s[j].len > 0)
						sum += (unsigned char)s[j]
							   .p[0] +
						    (unsigned char)s[j]
							.p[s[j].len - 1];
				cr_assert(ob->kind != ORU_VALUE_NUMBER ||
					ob->number == ob->number,
				    "NaN read as a number");
				cr_assert(ob->order == UINT32_MAX ||
				    ob->order < O.norders);
			}
			for (i = 0; i < O.npatients; i++)
				cr_assert_leq(O.patients[i].first_obs +
					O.patients[i].nobs,
				    O.nobs);
		}
		free(buf);
		free(orig);
	}
	cr_expect_gt(parsed, 100);
	cr_log_info("%d parsed, checksum %lu", parsed, sum);
}

/* ------------------------------------------------------------------ */
/* Size and time bounds                                                 */

/*
 * Cap the data segment so that memory use quadratic in the input ends the
 * test instead of the machine. ASan reserves its shadow memory up front and
 * cannot run under such a limit; there the time limit alone applies.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SHADOW_MEMORY 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || \
    __has_feature(thread_sanitizer) || __has_feature(hwaddress_sanitizer)
#define SHADOW_MEMORY 1
#endif
#endif

static void
limit_memory(void)
{
#ifndef SHADOW_MEMORY
	struct rlimit rl = { 1024UL << 20, 1024UL << 20 };

	cr_assert_eq(setrlimit(RLIMIT_DATA, &rl), 0);
#endif
}

Test(oru, hundred_thousand_obx, .timeout = 60)
{
	struct big b = { 0 };
	uint32_t i;
	char iso[40];

	big_adds(&b, HDR);
	for (i = 0; i < 100000; i++)
		big_printf(&b,
		    "OBX|%u|NM|1742-6^ALT^LN||%u.5|U/L|7-56|%s|||F|||20261120%02u%02u00+0800\r",
		    i + 1, i % 1000, i % 2 ? "H" : "", (i / 60) % 24, i % 60);
	extract(b.p, b.len, NULL);
	cr_assert_eq(O.nobs, 100000);
	cr_assert_eq(O.patients[0].nobs, 100000);
	for (i = 0; i < 100000; i++) {
		if (O.obs[i].kind != ORU_VALUE_NUMBER ||
		    O.obs[i].number != (double)(i % 1000) + 0.5 ||
		    O.obs[i].seg != i + 3 || O.obs[i].order != 0 ||
		    O.obs[i].flags.len != (i % 2 ? 1u : 0u))
			cr_assert_fail("OBX %u read wrong", i + 1);
	}
	hl7_dtm_iso(&O.obs[99999].observed_at, iso);
	cr_expect_str_eq(iso, "2026-11-20T10:39:00+08:00");
	expect_str(O.obs[99999].set_id, "100000", "last OBX-1");
	free(b.p);
}

Test(oru, million_separators_in_obx, .timeout = 60)
{
	struct big b = { 0 };
	char *fill = malloc(1000000);

	cr_assert_not_null(fill);
	big_adds(&b, HDR "OBX");
	memset(fill, '|', 1000000);
	big_add(&b, fill, 1000000);
	big_adds(&b, "\rOBX|2|SN|X||");
	memset(fill, '^', 1000000);
	big_add(&b, fill, 1000000);
	big_adds(&b, "|U/L\rOBX|3|NM|X||1");
	big_add(&b, fill, 1000000);
	big_adds(&b, "|U/L\r");
	extract(b.p, b.len, NULL);
	cr_assert_eq(O.nobs, 3);
	cr_expect_eq(O.obs[0].kind, ORU_VALUE_NONE);
	cr_expect_eq(O.obs[1].kind, ORU_VALUE_TEXT);
	cr_expect_eq(O.obs[1].value_text.len, 1000000);
	cr_expect_eq(O.obs[2].kind, ORU_VALUE_TEXT);
	expect_str(O.obs[2].units, "U/L", "OBX-6 after a long OBX-5");
	free(fill);
	free(b.p);
}

/*
 * Repetitions and NTE lines cost time and memory in proportion to their
 * bytes: a 200 KB OBX-8 or PID-3, or 20,000 NTE lines, are read in well
 * under the time limit (each takes milliseconds when linear).
 */
Test(oru, many_flag_repetitions_bounded, .timeout = 5)
{
	struct big b = { 0 };
	uint32_t i;

	limit_memory();
	big_adds(&b, HDR "OBX|1|NM|X||5|U/L|1-9|");
	for (i = 0; i < 100000; i++)
		big_adds(&b, i ? "~H" : "H");
	big_adds(&b, "|||F\r");
	extract(b.p, b.len, NULL);
	cr_assert_eq(O.nobs, 1);
	cr_expect_eq(O.obs[0].flags.len, 199999);
	expect_str(O.obs[0].status, "F", "OBX-11");
	free(b.p);
}

Test(oru, many_text_repetitions_bounded, .timeout = 5)
{
	struct big b = { 0 };
	uint32_t i;

	limit_memory();
	big_adds(&b, HDR "OBX|1|TX|X||");
	for (i = 0; i < 50000; i++)
		big_adds(&b, i ? "~line" : "line");
	big_adds(&b, "\r");
	extract(b.p, b.len, NULL);
	cr_assert_eq(O.nobs, 1);
	cr_expect_eq(O.obs[0].value_text.len, 50000 * 5 - 1);
	free(b.p);
}

Test(oru, many_nte_lines_bounded, .timeout = 5)
{
	static const char last[] = "Report line 19999 of the pathology report.";
	struct big b = { 0 };
	uint32_t i;

	limit_memory();
	big_adds(&b,
	    HDR "OBX|1|FT|11529-5^Surgical path report^LN||see notes||||||F\r");
	for (i = 0; i < 20000; i++)
		big_printf(&b,
		    "NTE|%u|L|Report line %05u of the pathology report.\r",
		    i + 1, i);
	extract(b.p, b.len, NULL);
	cr_assert_eq(O.nobs, 1);
	cr_expect_eq(O.obs[0].comment.len, 20000 * (strlen(last) + 1) - 1);
	cr_expect(O.obs[0].comment.len >= strlen(last) &&
	    memcmp(O.obs[0].comment.p + O.obs[0].comment.len - strlen(last),
		last, strlen(last)) == 0);
	free(b.p);
}

Test(oru, many_patient_id_repetitions_bounded, .timeout = 5)
{
	struct big b = { 0 };
	uint32_t i;

	big_adds(&b,
	    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120090000||ORU^R01|PR|P|2.5.1\rPID|1||");
	for (i = 0; i < 100000; i++)
		big_printf(&b, "%u^^^H^PI~", i);
	big_adds(&b, "42^^^H^MR||DOE^JANE\rOBX|1|NM|X||5\r");
	extract(b.p, b.len, NULL);
	cr_assert_eq(O.npatients, 1);
	expect_str(O.patients[0].id, "42", "PID-3 MR after 100,000 others");
	free(b.p);
}

/*
 * The correction key, one function for labwatchd and labwatch check
 * (check cut it at 511 bytes, so two orders whose ids differ only past
 * that were one key to check and two to the daemon).
 */
Test(oru, result_key)
{
	static char longid[2][700];
	static const struct {
		const char *obr, *obx, *want;
	} cases[] = {
		{ "OBR|1|PL1|FI1|24323-8^CMP^LN\r",
		    "OBX|1|NM|1742-6^ALT^LN|2|30|U/L\r", "FI1|1742-6|2" },
		{ "OBR|1|PL1||24323-8^CMP^LN\r",
		    "OBX|1|NM|1742-6^ALT^LN||30|U/L\r", "PL1|1742-6|" },
		{ NULL, "OBX|1|NM|1742-6^ALT^LN||30|U/L\r", "|1742-6|" },
	};
	char msg[2048], key[1600];
	size_t i, n, k;
	int len;

	for (i = 0; i < NELEM(cases); i++) {
		len = snprintf(msg, sizeof(msg),
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|K%zu|P|2.5.1\r"
		    "PID|1||123456^^^HOSP^MR\r"
		    "%s%s",
		    i, cases[i].obr ? cases[i].obr : "", cases[i].obx);
		extract(msg, (size_t)len, NULL);
		cr_assert_eq(O.nobs, 1);
		n = oru_result_key_size(&O, &O.obs[0]);
		cr_assert(n <= sizeof(key));
		k = oru_result_key(&O, &O.obs[0], key);
		cr_assert_eq(k + 1, n, "case %zu", i);
		cr_assert_str_eq(key, cases[i].want, "case %zu: %s", i, key);
	}
	/* Two orders whose filler ids differ only at byte 601: two keys. */
	for (i = 0; i < 2; i++) {
		memset(longid[i], 'F', 600);
		snprintf(longid[i] + 600, 8, "%zu", i);
		len = snprintf(msg, sizeof(msg),
		    "MSH|^~\\&|LIS|LAB|LW|ONC|20261120073000||ORU^R01|L%zu|P|2.5.1\r"
		    "PID|1||123456^^^HOSP^MR\r"
		    "OBR|1|P|%s|24323-8^CMP^LN\r"
		    "OBX|1|NM|1742-6^ALT^LN||30|U/L\r",
		    i, longid[i]);
		extract(msg, (size_t)len, NULL);
		k = oru_result_key(&O, &O.obs[0], key);
		cr_assert_eq(k, 601 + strlen("|1742-6|"));
		cr_assert(key[600] == (char)('0' + i), "the whole id is kept");
	}
}
