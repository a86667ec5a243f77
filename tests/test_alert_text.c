/*
 * test_alert_text.c: the words of every alert kind (store/alert_text.c),
 * from results graded by the shipped rules (rules/data: CTCAE v5.0 and
 * the NCT04933669 protocol with the imatinib label's stop thresholds).
 * CTCAE v5.0: ALT increased grade 3 is >5.0-20.0 x ULN, grade 4 >20.0 x
 * ULN; neutrophil count decreased grade 4 is <0.5 x 10^9/L. The label
 * stops imatinib for ALT/AST > 5 x ULN.
 */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "lib/buf.h"
#include "hl7/oru.h"
#include "rules/rules.h"
#include "store/alert_text.h"
#include "testutil.h"

static const struct alert_who who = { "P1", "NCT04933669", NULL };

/* The result of code/value/unit/range, final. */
static void
result(const char *code, double value, const char *cmp, const char *unit,
    const char *range, struct rules_result *out)
{
	struct rules_result in;

	memset(&in, 0, sizeof(in));
	in.code = code;
	in.code_len = strlen(code);
	in.system = "LN";
	in.system_len = 2;
	in.kind = isnan(value) ? RULES_VALUE_TEXT : RULES_VALUE_NUMBER;
	in.value = value;
	snprintf(in.comparator, sizeof(in.comparator), "%s", cmp);
	in.unit = unit;
	in.unit_len = strlen(unit);
	in.range = range;
	in.range_len = strlen(range);
	in.status = 'F';
	in.observed_at = 1795000000;
	*out = in;
}

/* Grade code/value/unit/range as labwatchd would (rules_eval). */
static void
grade(const char *code, double value, const char *cmp, const char *unit,
    const char *range, struct rules_eval *ev)
{
	struct rules_result in;

	result(code, value, cmp, unit, range, &in);
	rules_eval(R, &in, NULL, ev);
}

/* The same, as h stores it (id: the observation's). */
static const struct rules_entry *
stored(struct rules_history *h, const char *code, double value,
    const char *unit, const char *range, uint64_t id)
{
	struct rules_result in;
	struct rules_update up;

	result(code, value, "", unit, range, &in);
	in.id = id;
	rules_history_add(h, &in, code, strlen(code), &up);
	return up.entry;
}

TestSuite(alert_text, .init = rules_setup, .fini = rules_teardown);

Test(alert_text, toxicity)
{
	static const struct {
		const char *name, *code;
		double value;
		const char *cmp, *unit, *range;
		int from_grade;
		const char *summary, *details, *severity;
	} cases[] = {
		{ "ALT 5.25 x ULN: grade 3, the label's stop threshold",
		    "1742-6", 210, "", "U/L", "10-40", -1,
		    "ALT 210 U/L = 5.25 x ULN (40): CTCAE grade 3 (Alanine "
		    "aminotransferase increased) - patient P1, NCT04933669 - "
		    "crosses the imatinib stop threshold",
		    "{\"grade\":3,\"x_uln\":5.25,\"value\":210,\"unit\":\"U/L\","
		    "\"uln\":40,\"range_source\":\"obx7\"}",
		    "critical" },
		{ "ALT 22.5 x ULN: grade 4, up from an open grade 3", "1742-6",
		    900, "", "U/L", "10-40", 3,
		    "ALT 900 U/L = 22.5 x ULN (40): CTCAE grade 4 (Alanine "
		    "aminotransferase increased), up from grade 3 - patient P1, "
		    "NCT04933669 - crosses the imatinib stop threshold",
		    "{\"grade\":4,\"x_uln\":22.5,\"value\":900,\"unit\":\"U/L\","
		    "\"uln\":40,\"range_source\":\"obx7\"}",
		    "critical" },
		{ "ANC 0.4: grade 4, written against the LLN", "751-8", 0.4, "",
		    "10*9/L", "1.8-7.5", -1, NULL, NULL, "critical" },
		{ "ANC <0.1: the comparator is kept", "751-8", 0.1, "<",
		    "10*9/L", "1.8-7.5", -1, NULL, NULL, "critical" },
	};
	struct buf s, d;
	struct rules_eval ev;
	size_t i;

	buf_init(&s);
	buf_init(&d);
	for (i = 0; i < N(cases); i++) {
		grade(cases[i].code, cases[i].value, cases[i].cmp,
		    cases[i].unit, cases[i].range, &ev);
		buf_reset(&s);
		buf_reset(&d);
		alert_text_toxicity(&s, &d, &ev, NULL,
		    cases[i].from_grade >= 0 ?
			&(struct rules_open_alert){
			    .grade = cases[i].from_grade } :
			NULL,
		    &who);
		cr_assert_str_eq(alert_text_severity(RULES_ALERT_TOXICITY,
				     ev.grade),
		    cases[i].severity, "%s", cases[i].name);
		if (cases[i].summary != NULL) {
			cr_assert_str_eq(s.p, cases[i].summary, "%s",
			    cases[i].name);
			cr_assert_str_eq(d.p, cases[i].details, "%s",
			    cases[i].name);
		}
	}
	/* The low analytes: against the LLN, never as times ULN. */
	grade("751-8", 0.4, "", "10*9/L", "1.8-7.5", &ev);
	buf_reset(&s);
	buf_reset(&d);
	alert_text_toxicity(&s, &d, &ev, NULL, NULL, &who);
	cr_assert(strstr(s.p, "ANC 0.4 ") == s.p, "%s", s.p);
	cr_assert(strstr(s.p, "(LLN 1.8): CTCAE grade 4") != NULL, "%s", s.p);
	cr_assert(strstr(s.p, "x ULN") == NULL, "%s", s.p);
	grade("751-8", 0.1, "<", "10*9/L", "1.8-7.5", &ev);
	buf_reset(&s);
	buf_reset(&d);
	alert_text_toxicity(&s, &d, &ev, NULL, NULL, &who);
	cr_assert(strstr(s.p, "ANC <0.1 ") == s.p, "%s", s.p);
	buf_free(&s);
	buf_free(&d);
}

/*
 * A comparator that leaves the grade open (CLINICAL.md "Comparators that
 * leave the grade open", issue 11 item 5): the grade it is known to reach
 * "or worse", and the grades not excluded (CTCAE v5.0: platelets < 75 -
 * 50 grade 2, < 50 - 25 grade 3, < 25 grade 4; AST > 3 - 5 x ULN grade 2,
 * > 5 - 20 grade 3, > 20 grade 4; anemia < 100 - 80 g/L grade 2, < 80
 * grade 3, no numeric grade 4). Below the alert grade it is a warning
 * (RULES_ALERT_POSSIBLE); at or above it an ordinary critical alert.
 */
Test(alert_text, toxicity_grade_open)
{
	static const struct {
		const char *name, *code;
		double value;
		const char *cmp, *unit, *range;
		enum rules_alert_kind kind;
		const char *summary, *details, *severity;
	} cases[] = {
		{ "platelets <75: grade 2 or worse, 3-4 not excluded", "777-3",
		    75, "<", "10*9/L", "150-400", RULES_ALERT_POSSIBLE,
		    "Platelets <75 10^9/L (LLN 150): CTCAE grade 2 or worse; "
		    "grade 3-4 not excluded (Platelet count decreased) - "
		    "patient P1, NCT04933669",
		    "{\"grade\":2,\"x_uln\":0.1875,\"value\":75,"
		    "\"unit\":\"10^9/L\",\"uln\":400,\"range_source\":"
		    "\"obx7\",\"grade_is_minimum\":true,\"grade_max\":4}",
		    "warning" },
		{ "AST >150 with ULN 40: grade 2 or worse", "1920-8", 150, ">",
		    "U/L", "10-40", RULES_ALERT_POSSIBLE,
		    "AST >150 U/L > 3.75 x ULN (40): CTCAE grade 2 or worse; "
		    "grade 3-4 not excluded (Aspartate aminotransferase "
		    "increased) - patient P1, NCT04933669",
		    "{\"grade\":2,\"x_uln\":3.75,\"value\":150,\"unit\":"
		    "\"U/L\",\"uln\":40,\"range_source\":\"obx7\","
		    "\"grade_is_minimum\":true,\"grade_max\":4}",
		    "warning" },
		{ "Hb <90 g/L: grade 3 is the only one above", "718-7", 90, "<",
		    "g/L", "120-160", RULES_ALERT_POSSIBLE,
		    "Hb <90 g/L (LLN 120): CTCAE grade 2 or worse; grade 3 not "
		    "excluded (Anemia) - patient P1, NCT04933669",
		    NULL, "warning" },
		{ "platelets <50: at the alert grade, critical, and the stop",
		    "777-3", 50, "<", "10*9/L", "150-400", RULES_ALERT_TOXICITY,
		    "Platelets <50 10^9/L (LLN 150): CTCAE grade 3 or worse; "
		    "grade 4 not excluded (Platelet count decreased) - patient "
		    "P1, NCT04933669 - crosses the imatinib stop threshold",
		    NULL, "critical" },
		{ "platelets <25: grade 4 exactly, nothing open", "777-3", 25,
		    "<", "10*9/L", "150-400", RULES_ALERT_TOXICITY,
		    "Platelets <25 10^9/L (LLN 150): CTCAE grade 4 (Platelet "
		    "count decreased) - patient P1, NCT04933669 - crosses the "
		    "imatinib stop threshold",
		    NULL, "critical" },
		{ "AST >800 with ULN 40: grade 4 exactly", "1920-8", 800, ">",
		    "U/L", "10-40", RULES_ALERT_TOXICITY,
		    "AST >800 U/L > 20 x ULN (40): CTCAE grade 4 (Aspartate "
		    "aminotransferase increased) - patient P1, NCT04933669 - "
		    "crosses the imatinib stop threshold",
		    "{\"grade\":4,\"x_uln\":20,\"value\":800,\"unit\":"
		    "\"U/L\",\"uln\":40,\"range_source\":\"obx7\"}",
		    "critical" },
	};
	struct buf s, d;
	struct rules_eval ev;
	size_t i;

	buf_init(&s);
	buf_init(&d);
	for (i = 0; i < N(cases); i++) {
		grade(cases[i].code, cases[i].value, cases[i].cmp,
		    cases[i].unit, cases[i].range, &ev);
		buf_reset(&s);
		buf_reset(&d);
		alert_text_toxicity(&s, &d, &ev, NULL, NULL, &who);
		cr_expect_str_eq(alert_text_severity(cases[i].kind, ev.grade),
		    cases[i].severity, "%s", cases[i].name);
		cr_expect_str_eq(s.p, cases[i].summary, "%s: %s", cases[i].name,
		    s.p);
		if (cases[i].details != NULL)
			cr_expect_str_eq(d.p, cases[i].details, "%s: %s",
			    cases[i].name, d.p);
		cr_expect_null(strchr(s.p, '\n'), "%s: one line",
		    cases[i].name);
	}
	/*
	 * The possible one escalated by an exact grade 3: "up from grade 2
	 * or worse", never a plain "up from grade 2" (the <75 may have been
	 * 20, grade 4: review of issue 11 item 5).
	 */
	grade("777-3", 40, "", "10*9/L", "150-400", &ev);
	buf_reset(&s);
	buf_reset(&d);
	alert_text_toxicity(&s, &d, &ev, NULL,
	    &(struct rules_open_alert){ .grade = 2, .minimum = true }, &who);
	cr_expect_str_eq(s.p,
	    "Platelets 40 10^9/L (LLN 150): CTCAE grade 3 (Platelet count "
	    "decreased), up from grade 2 or worse - patient P1, NCT04933669 - "
	    "crosses the imatinib stop threshold");
	cr_expect_null(strstr(d.p, "grade_is_minimum"), "%s", d.p);
	buf_free(&s);
	buf_free(&d);
}

/*
 * The end of an episode (issue 11 item 4): one line that the value is back
 * below the alert grade, which alert it resolves, severity info.
 */
Test(alert_text, recovery)
{
	static const struct {
		const char *name, *code;
		double value;
		const char *unit, *range;
		int from_grade;
		long long resolves;
		const char *summary, *details;
		bool minimum; /* the resolved alert's grade was a minimum */
	} cases[] = {
		{ "Hb 125 g/L after 75: back to normal", "718-7", 125, "g/L",
		    "120-160", 3, 17,
		    "Hb 125 g/L (LLN 120): recovered from CTCAE grade 3 "
		    "(Anemia), now grade 0 - patient P1, NCT04933669; alert 17 "
		    "resolved",
		    "{\"grade\":0,\"from_grade\":3,\"resolves\":17,"
		    "\"value\":125,\"unit\":\"g/L\"}",
		    false },
		{ "ANC 1.8 after 0.4: grade 1 is still abnormal", "751-8", 1.8,
		    "10*9/L", "2.0-7.5", 4, 18,
		    "ANC 1.8 10^9/L (LLN 2): recovered from CTCAE grade 4 "
		    "(Neutrophil count decreased), now grade 1 - patient P1, "
		    "NCT04933669; alert 18 resolved",
		    "{\"grade\":1,\"from_grade\":4,\"resolves\":18,"
		    "\"value\":1.8,\"unit\":\"10^9/L\"}",
		    false },
		{ "creatinine 90 umol/L after 400", "2160-0", 90, "umol/L",
		    "60-100", 3, 19,
		    "Creatinine 90 \u00b5mol/L = 0.9 x ULN (100): recovered from "
		    "CTCAE grade 3 (Creatinine increased), now grade 0 - patient "
		    "P1, NCT04933669; alert 19 resolved",
		    "{\"grade\":0,\"from_grade\":3,\"resolves\":19,"
		    "\"value\":90,\"unit\":\"\u00b5mol/L\"}",
		    false },
		{ "platelets 60 after <75 (grade 2 or worse): 3-4 ruled out",
		    "777-3", 60, "10*9/L", "150-400", 2, 20,
		    "Platelets 60 10^9/L (LLN 150): CTCAE grade 3 or worse "
		    "ruled out (Platelet count decreased), now grade 2 - patient "
		    "P1, NCT04933669; alert 20 resolved",
		    "{\"grade\":2,\"from_grade\":2,\"resolves\":20,"
		    "\"value\":60,\"unit\":\"10^9/L\"}",
		    true },
		{ "platelets 100 after <40 (grade 3 or worse): not 'from 3'",
		    "777-3", 100, "10*9/L", "150-400", 3, 21,
		    "Platelets 100 10^9/L (LLN 150): recovered from CTCAE grade 3 "
		    "or worse (Platelet count decreased), now grade 1 - patient "
		    "P1, NCT04933669; alert 21 resolved",
		    "{\"grade\":1,\"from_grade\":3,\"resolves\":21,"
		    "\"value\":100,\"unit\":\"10^9/L\"}",
		    true },
	};
	struct buf s, d;
	struct rules_eval ev;
	size_t i;

	buf_init(&s);
	buf_init(&d);
	for (i = 0; i < N(cases); i++) {
		grade(cases[i].code, cases[i].value, "", cases[i].unit,
		    cases[i].range, &ev);
		buf_reset(&s);
		buf_reset(&d);
		alert_text_recovery(&s, &d, &ev, NULL,
		    &(struct rules_open_alert){ .grade = cases[i].from_grade,
			.id = (uint64_t)cases[i].resolves,
			.minimum = cases[i].minimum },
		    &who);
		cr_expect_str_eq(alert_text_severity(RULES_ALERT_RECOVERED,
				     ev.grade),
		    "info", "%s", cases[i].name);
		cr_expect_str_eq(s.p, cases[i].summary, "%s: %s", cases[i].name,
		    s.p);
		cr_expect_str_eq(d.p, cases[i].details, "%s: %s", cases[i].name,
		    test_vis(d.p, d.len, 0));
		cr_expect_null(strchr(s.p, '\n'), "%s: one line",
		    cases[i].name);
	}
	buf_free(&s);
	buf_free(&d);
}

Test(alert_text, data_quality)
{
	struct buf s, d;
	struct rules_eval ev;
	struct oru_obs x;

	buf_init(&s);
	buf_init(&d);
	/* A unit the catalog cannot convert: no number, the value as sent. */
	grade("1920-8", NAN, "", "mg/L", "10-40", &ev);
	memset(&x, 0, sizeof(x));
	x.value_text = (struct hl7_str){ "pending", 7 };
	x.units = (struct hl7_str){ "mg/L", 4 };
	cr_assert_not_null(ev.problem);
	alert_text_data_quality(&s, &d, &ev, &x, &who);
	cr_assert(strncmp(s.p,
		      "Cannot evaluate AST pending mg/L for patient "
		      "P1 (NCT04933669): ",
		      63) == 0,
	    "%s", s.p);
	cr_assert(strstr(s.p, ev.problem) != NULL, "%s", s.p);
	cr_assert(strncmp(d.p, "{\"problem\":\"", 12) == 0, "%s", d.p);
	cr_assert_str_eq(alert_text_severity(RULES_ALERT_DATA_QUALITY, -1),
	    "warning");
	buf_free(&s);
	buf_free(&d);
}

/* An unreadable OBX-7 says what the laboratory sent (issue 11). */
Test(alert_text, data_quality_range_unreadable)
{
	struct buf s, d;
	struct rules_eval ev;
	struct oru_obs x;

	buf_init(&s);
	buf_init(&d);
	grade("1742-6", 190, "", "U/L", "see note", &ev);
	memset(&x, 0, sizeof(x));
	x.units = (struct hl7_str){ "U/L", 3 };
	x.ref_range = (struct hl7_str){ "see note", 8 };
	alert_text_data_quality(&s, &d, &ev, &x, &who);
	cr_expect_str_eq(s.p,
	    "Cannot evaluate ALT 190 U/L for patient P1 (NCT04933669): "
	    "range_unreadable (OBX-7 \"see note\")");
	cr_expect_str_eq(d.p,
	    "{\"problem\":\"range_unreadable\",\"ref_range\":\"see note\"}");
	buf_free(&s);
	buf_free(&d);
}

/*
 * Hold, resume and withdrawn lines (issue 11 item 6). Doses: Gleevec US
 * prescribing information section 2 "Dose Modification Guidelines" and EU
 * SmPC 4.2, as the protocol file carries them: hepatotoxicity restarts at
 * 300 mg; myelosuppression (GIST, 400 mg) at 400 mg after a first stop,
 * at 300 mg after a recurrence. No rule's line names another's.
 */
Test(alert_text, hold_and_resume)
{
	static const struct {
		const char *name;
		struct alert_hold ah; /* because: the ALT or ANC below */
		const char *because;
		const char *summary, *details;
	} cases[] = {
		{ "hepatotoxicity stop",
		    { ALERT_HOLD_STOP, "hepatotoxicity", NULL, 1, NAN, false },
		    "alt",
		    "HOLD imatinib (hepatotoxicity): patient P1, "
		    "NCT04933669: ALT 210 U/L = 5.25 x ULN (40) - stop per the "
		    "label until the restart thresholds are met",
		    "{\"rule\":\"hepatotoxicity\",\"event\":\"stop\","
		    "\"stops\":1}" },
		{ "hepatotoxicity restart: 300 mg",
		    { ALERT_HOLD_RESUME, "hepatotoxicity", NULL, 1, 300,
			false },
		    NULL,
		    "RESUME possible (hepatotoxicity): patient P1, "
		    "NCT04933669 - every restart threshold met; restart at 300 "
		    "mg daily per the label",
		    "{\"rule\":\"hepatotoxicity\",\"event\":\"resume\","
		    "\"stops\":1,\"restart_dose_mg\":300}" },
		{ "myelosuppression first stop",
		    { ALERT_HOLD_STOP, "myelosuppression", NULL, 1, NAN,
			false },
		    "anc",
		    "HOLD imatinib (myelosuppression): patient P1, "
		    "NCT04933669: ANC 0.8 10^9/L (LLN 2) - stop per the "
		    "label until the restart thresholds are met",
		    "{\"rule\":\"myelosuppression\",\"event\":\"stop\","
		    "\"stops\":1}" },
		{ "myelosuppression first restart: 400 mg, nothing of the liver",
		    { ALERT_HOLD_RESUME, "myelosuppression", NULL, 1, 400,
			false },
		    NULL,
		    "RESUME possible (myelosuppression): patient P1, "
		    "NCT04933669 - every restart threshold met; restart at 400 "
		    "mg daily per the label",
		    "{\"rule\":\"myelosuppression\",\"event\":\"resume\","
		    "\"stops\":1,\"restart_dose_mg\":400}" },
		{ "myelosuppression recurrence",
		    { ALERT_HOLD_STOP, "myelosuppression", NULL, 2, NAN,
			false },
		    "anc",
		    "HOLD imatinib (myelosuppression, recurrence 2): patient "
		    "P1, NCT04933669: ANC 0.8 10^9/L (LLN 2) - stop per the "
		    "label until the restart thresholds are met",
		    "{\"rule\":\"myelosuppression\",\"event\":\"stop\","
		    "\"stops\":2}" },
		{ "myelosuppression restart after a recurrence: 300 mg",
		    { ALERT_HOLD_RESUME, "myelosuppression", NULL, 2, 300,
			false },
		    NULL,
		    "RESUME possible (myelosuppression, after recurrence 2): "
		    "patient P1, NCT04933669 - every restart threshold met; "
		    "restart at 300 mg daily per the label",
		    "{\"rule\":\"myelosuppression\",\"event\":\"resume\","
		    "\"stops\":2,\"restart_dose_mg\":300}" },
		{ "no dose in the protocol file",
		    { ALERT_HOLD_RESUME, "h", NULL, 1, NAN, false }, NULL,
		    "RESUME possible (h): patient P1, NCT04933669 - every "
		    "restart threshold met; restart per protocol",
		    "{\"rule\":\"h\",\"event\":\"resume\",\"stops\":1}" },
		{ "withdrawn: D or W",
		    { ALERT_HOLD_WITHDRAWN, "hepatotoxicity", NULL, 0, NAN,
			false },
		    NULL,
		    "HOLD WITHDRAWN (hepatotoxicity): patient P1, NCT04933669 "
		    "- the result the hold rested on was deleted or marked "
		    "wrong; the results that stand do not stop imatinib",
		    "{\"rule\":\"hepatotoxicity\",\"event\":\"withdrawn\"}" },
		{ "withdrawn: corrected",
		    { ALERT_HOLD_WITHDRAWN, "myelosuppression", NULL, 0, NAN,
			true },
		    NULL,
		    "HOLD WITHDRAWN (myelosuppression): patient P1, "
		    "NCT04933669 - the result the hold rested on was "
		    "corrected; the results that stand do not stop imatinib",
		    "{\"rule\":\"myelosuppression\",\"event\":\"withdrawn\"}" },
	};
	struct rules_history *h = rules_history_new(R, RULES_PHASE_TREATMENT);
	const struct alert_who w = { "P1", "NCT04933669", R };
	const struct rules_entry *alt, *anc;
	struct alert_hold ah;
	struct buf s, d;
	size_t i;

	buf_init(&s);
	buf_init(&d);
	alt = stored(h, "1742-6", 210, "U/L", "10-40", 1);
	anc = stored(h, "751-8", 0.8, "10*9/L", "2.0-7.5", 2);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&s);
		buf_reset(&d);
		ah = cases[i].ah;
		if (cases[i].because != NULL)
			ah.because = strcmp(cases[i].because, "alt") == 0 ?
			    alt :
			    anc;
		alert_text_hold(&s, &d, &ah, &w);
		cr_expect_str_eq(s.p, cases[i].summary, "%s", cases[i].name);
		cr_expect_str_eq(d.p, cases[i].details, "%s", cases[i].name);
		if (strcmp(cases[i].ah.rule, "myelosuppression") == 0)
			cr_expect(strstr(s.p, "hepato") == NULL, "%s",
			    cases[i].name);
	}
	buf_free(&s);
	buf_free(&d);
	rules_history_free(h);
}

Test(alert_text, eligibility)
{
	struct rules_history *h = rules_history_new(R, RULES_PHASE_SCREENING);
	const struct alert_who w = { "P1", "NCT04933669", R };
	const struct rules_entry *plt;
	struct buf s, d;
	struct rules_eligibility_result er;

	buf_init(&s);
	buf_init(&d);
	plt = stored(h, "777-3", 60, "10*9/L", "150-400", 42);
	memset(&er, 0, sizeof(er));
	er.status = RULES_INELIGIBLE;
	er.ncriteria = 2;
	er.criteria[0] = (struct rules_criterion_verdict){ RULES_PLT,
		"platelets < 75 x 10^9/L", RULES_VERDICT_FAIL, plt };
	er.criteria[1] = (struct rules_criterion_verdict){ RULES_ANC,
		"ANC < 1.5 x 10^9/L", RULES_VERDICT_NONE, NULL };
	alert_text_eligibility(&s, &d, &er, &w);
	cr_assert_str_eq(s.p,
	    "Patient P1 is INELIGIBLE for NCT04933669; "
	    "platelets < 75 x 10^9/L: 60 10^9/L");
	cr_assert_str_eq(d.p, "{\"status\":\"ineligible\"}");
	buf_reset(&s);
	buf_reset(&d);
	er.status = RULES_INCOMPLETE;
	er.criteria[0].verdict = RULES_VERDICT_PASS;
	alert_text_eligibility(&s, &d, &er, &w);
	cr_assert_str_eq(s.p,
	    "Patient P1 is INCOMPLETE for NCT04933669; "
	    "no recent anc");
	buf_reset(&d);
	alert_text_criteria(&d, R, &er);
	cr_assert_str_eq(d.p,
	    "[{\"analyte\":\"plt\",\"criterion\":"
	    "\"platelets < 75 x 10^9/L\",\"verdict\":\"pass\",\"value\":60,"
	    "\"unit\":\"10^9/L\",\"observation\":42},{\"analyte\":\"anc\","
	    "\"criterion\":\"ANC < 1.5 x 10^9/L\",\"verdict\":\"no_result\","
	    "\"value\":null,\"unit\":null,\"observation\":0}]");
	buf_free(&s);
	buf_free(&d);
	rules_history_free(h);
}
