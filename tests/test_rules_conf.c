/*
 * test_rules_conf.c: every error of the three data-file loaders (protocol,
 * analytes, grading table), one table row each: the bad file, and the
 * exact "file:line: what" message rules_load() must give.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "rules/rules.h"

/* Which of the three files a case writes (the others are the real ones). */
enum which { PROTOCOL, ANALYTES, TABLE };

static const char *const file_name[] = { "protocol.conf", "analytes.conf",
	"table.conf" };

/* A protocol over the installed analytes and table: 5 lines. */
#define P_HEAD \
	"[protocol]\nname = X\n" \
	"analytes = " RULES_DATADIR "/analytes.conf\n" \
	"grading = " RULES_DATADIR "/ctcae-5.0.conf\n"
#define P P_HEAD "screening_window_days = 14\n"

/* The smallest analytes file that loads: 2 + 7 * 3 = 23 lines. */
#define A(n, u) "[analyte " n "]\ncanonical_unit = " u "\nunit = " u " 1\n"
#define CODING "[coding]\nloinc_system = LN\n"
#define A3 A("ast", "U/L") A("alt", "U/L") A("tbil", "umol/L")
#define A6 A3 A("crea", "umol/L") A("anc", "10^9/L") A("plt", "10^9/L")
#define A7 A6 A("hgb", "g/L")

/* A term that loads: 3 lines. */
#define T_HEAD "[table]\nname = T\n"
#define TERM "[term x]\nanalyte = ast\ngrade1 = > 1 uln\n"

struct conf_case {
	char name[48];
	enum which file;
	char text[1024];
	size_t len;	/* 0: strlen(text) */
	char want[200]; /* the message after "DIR/file" */
};

#define S64 "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz01"

static struct conf_case conf_cases[] = {
	/* the reader, through the protocol file */
	{ "unknown section", PROTOCOL, P "[bogus]\n", 0,
	    ":6: unknown section 'bogus'" },
	{ "key outside a section", PROTOCOL, "name = X\n[protocol]\n", 0,
	    ":1: 'name' outside any section" },
	{ "missing =", PROTOCOL, P "nonsense\n", 0,
	    ":6: expected 'key = value' or '[section]'" },
	{ "empty key", PROTOCOL, P "= 3\n", 0, ":6: empty key" },
	{ "no closing bracket", PROTOCOL, P "[hold h\n", 0,
	    ":6: section header without closing ']'" },
	{ "empty section name", PROTOCOL, P "[ ]\n", 0,
	    ":6: empty or too long section name" },
	{ "long section argument", PROTOCOL, P "[hold " S64 "]\n", 0,
	    ":6: section argument too long" },
	{ "NUL byte", PROTOCOL, P "# x\0y\n", sizeof(P "# x\0y\n") - 1,
	    ":6: holds a NUL byte" },
	{ "comment after a value", PROTOCOL, P "alert_grade = 5 # two\n", 0,
	    ":6: alert_grade must be 1, 2, 3 or 4" },
	/* [protocol] */
	{ "unknown key", PROTOCOL, P "colour = red\n", 0,
	    ":6: unknown key 'colour' in [protocol]" },
	{ "window zero", PROTOCOL, P_HEAD "screening_window_days = 0\n", 0,
	    ":5: screening_window_days must be a number of days in (0, 3650]" },
	{ "window too long", PROTOCOL, P_HEAD "screening_window_days = 3651\n",
	    0,
	    ":5: screening_window_days must be a number of days in (0, 3650]" },
	{ "window with a unit", PROTOCOL,
	    P_HEAD "screening_window_days = 14 days\n", 0,
	    ":5: screening_window_days must be a number of days in (0, 3650]" },
	{ "alert grade 0", PROTOCOL, P "alert_grade = 0\n", 0,
	    ":6: alert_grade must be 1, 2, 3 or 4" },
	{ "alert grade 2.5", PROTOCOL, P "alert_grade = 2.5\n", 0,
	    ":6: alert_grade must be 1, 2, 3 or 4" },
	{ "alert grade word", PROTOCOL, P "alert_grade = three\n", 0,
	    ":6: alert_grade must be 1, 2, 3 or 4" },
	{ "bad bool", PROTOCOL, P "alert_preliminary = maybe\n", 0,
	    ":6: alert_preliminary must be yes or no" },
	{ "required keys", PROTOCOL, "[protocol]\nname = X\n", 0,
	    ": [protocol] needs name, analytes, grading and screening_window_days" },
	{ "no name", PROTOCOL,
	    "[protocol]\n"
	    "analytes = a\ngrading = g\nscreening_window_days = 1\n",
	    0,
	    ": [protocol] needs name, analytes, grading and screening_window_days" },
	/* [defaults] */
	{ "defaults: unknown analyte", PROTOCOL, P "[defaults]\nbili = 0 21\n",
	    0, ":7: unknown analyte 'bili'" },
	{ "defaults: one number", PROTOCOL, P "[defaults]\nast = 40\n", 0,
	    ":7: expected 'LLN ULN' in the canonical unit" },
	{ "defaults: not a number", PROTOCOL, P "[defaults]\nast = low 40\n", 0,
	    ":7: expected 'LLN ULN' in the canonical unit" },
	{ "defaults: reversed", PROTOCOL, P "[defaults]\nast = 40 0\n", 0,
	    ":7: expected 'LLN ULN' with LLN < ULN" },
	{ "defaults: trailing word", PROTOCOL, P "[defaults]\nast = 0 40 U/L\n",
	    0, ":7: expected 'LLN ULN' with LLN < ULN" },
	/* [exclusion] */
	{ "exclusion: unknown analyte", PROTOCOL, P "[exclusion bili]\n", 0,
	    ":6: [exclusion] needs an analyte, got 'bili'" },
	{ "exclusion: no analyte", PROTOCOL, P "[exclusion]\n", 0,
	    ":6: [exclusion] needs an analyte, got ''" },
	{ "exclusion: duplicate section", PROTOCOL,
	    P "[exclusion ast]\n"
	      "exclude = > 2 uln\n[exclusion alt]\nexclude = > 2 uln\n"
	      "[exclusion ast]\n",
	    0, ":10: second exclusion for 'ast'" },
	{ "exclusion: no operator", PROTOCOL,
	    P "[exclusion ast]\n"
	      "exclude = 2.5 uln\n",
	    0, ":7: comparison must start with <, >, <= or >=" },
	{ "exclusion: bad number", PROTOCOL,
	    P "[exclusion ast]\n"
	      "exclude = > 2.5.1 uln\n",
	    0, ":7: bad number in comparison" },
	{ "exclusion: bad reference", PROTOCOL,
	    P "[exclusion ast]\n"
	      "exclude = > 2.5 furlongs\n",
	    0, ":7: comparison must end with a number, uln, lln or baseline" },
	{ "exclusion: lln", PROTOCOL, P "[exclusion anc]\nexclude = < 1 lln\n",
	    0, ":7: protocol thresholds are absolute or x uln" },
	{ "exclusion: unknown key", PROTOCOL,
	    P "[exclusion ast]\n"
	      "colour = red\n",
	    0, ":7: unknown key 'colour' in [exclusion ast]" },
	{ "exclusion: no exclude", PROTOCOL, P "[exclusion ast]\ntext = AST\n",
	    0, ": exclusion for 'ast' without 'exclude'" },
	/* [hold] */
	{ "hold: no name", PROTOCOL, P "[hold]\n", 0,
	    ":6: [hold] needs a name" },
	{ "hold: unknown analyte", PROTOCOL,
	    P "[hold h]\nstop = bili > 3 uln\n", 0,
	    ":7: unknown analyte 'bili'" },
	{ "hold: no comparison", PROTOCOL, P "[hold h]\nstop = ast\n", 0,
	    ":7: expected 'ANALYTE OP NUMBER [uln]'" },
	{ "hold: baseline", PROTOCOL, P "[hold h]\nstop = ast > 2 baseline\n",
	    0, ":7: protocol thresholds are absolute or x uln" },
	{ "hold: bad comparison", PROTOCOL, P "[hold h]\nrestart = ast = 2\n",
	    0, ":7: comparison must start with <, >, <= or >=" },
	{ "hold: unknown key", PROTOCOL, P "[hold h]\ncolour = red\n", 0,
	    ":7: unknown key 'colour' in [hold h]" },
	{ "hold: no restart", PROTOCOL, P "[hold h]\nstop = ast > 5 uln\n", 0,
	    ": hold 'h' needs stop and restart lines" },
	{ "hold: no stop", PROTOCOL, P "[hold h]\nrestart = ast < 2 uln\n", 0,
	    ": hold 'h' needs stop and restart lines" },
/* restart doses: Gleevec USPI section 2, SmPC 4.2 (N mg daily) */
#define HR "[hold h]\nstop = ast > 5 uln\nrestart = ast < 2.5 uln\n"
	{ "hold: dose without a number", PROTOCOL, P HR "restart_dose = mg\n",
	    0,
	    ":9: restart_dose must be a positive number of mg (e.g. 300 mg)" },
	{ "hold: dose zero", PROTOCOL, P HR "restart_dose = 0 mg\n", 0,
	    ":9: restart_dose must be a positive number of mg (e.g. 300 mg)" },
	{ "hold: dose negative", PROTOCOL,
	    P HR "recurrence_restart_dose = -300 mg\n", 0,
	    ":9: recurrence_restart_dose must be a positive number of mg "
	    "(e.g. 300 mg)" },
	{ "hold: dose without a unit", PROTOCOL, P HR "restart_dose = 300\n", 0,
	    ":9: restart_dose: the unit must be mg, not ''" },
	{ "hold: dose in g", PROTOCOL, P HR "restart_dose = 0.3 g\n", 0,
	    ":9: restart_dose: the unit must be mg, not 'g'" },
	{ "hold: dose per kg", PROTOCOL, P HR "restart_dose = 300 mg/kg\n", 0,
	    ":9: restart_dose: the unit must be mg, not 'mg/kg'" },
	{ "hold: dose twice", PROTOCOL,
	    P HR "restart_dose = 400 mg\nrestart_dose = 300 mg\n", 0,
	    ":10: restart_dose given twice" },
	{ "hold: recurrence dose alone", PROTOCOL,
	    P HR "recurrence_restart_dose = 300 mg\n", 0,
	    ": hold 'h': recurrence_restart_dose without restart_dose" },
	/* the files it names */
	{ "analytes missing", PROTOCOL,
	    "[protocol]\nname = X\n"
	    "analytes = no-such.conf\ngrading = g\nscreening_window_days = 1\n",
	    0, "/no-such.conf: cannot open: No such file or directory" },

	/* analytes.conf */
	{ "analytes: unknown analyte", ANALYTES, CODING "[analyte bili]\n", 0,
	    ":3: unknown analyte 'bili' (ast alt tbil crea anc plt hgb)" },
	{ "analytes: duplicate section", ANALYTES, CODING A7 "[analyte ast]\n",
	    0, ":24: analyte 'ast' defined twice" },
	{ "analytes: unknown section", ANALYTES, "[analytes]\n", 0,
	    ":1: unknown section 'analytes'" },
	{ "analytes: key outside", ANALYTES, "loinc = 1920-8\n", 0,
	    ":1: 'loinc' outside any section" },
	{ "coding: unknown key", ANALYTES, "[coding]\nsystem = LN\n", 0,
	    ":2: unknown key 'system' in [coding]" },
	{ "unmapped: unknown key", ANALYTES, "[unmapped]\ncode = 1\n", 0,
	    ":2: unknown key 'code' in [unmapped]" },
	{ "unmapped: twice", ANALYTES, "[unmapped]\nloinc = 1\nlocal = 1\n", 0,
	    ":3: code '1' already listed for do-not-map" },
	{ "analyte: unknown key", ANALYTES, "[analyte ast]\ncolor = red\n", 0,
	    ":2: unknown key 'color' in [analyte ast]" },
	{ "analyte: two-word code", ANALYTES, "[analyte ast]\nloinc = 1 2\n", 0,
	    ":2: a code is one word, got '1 2'" },
	{ "analyte: empty code", ANALYTES, "[analyte ast]\nlocal =\n", 0,
	    ":2: a code is one word, got ''" },
	{ "analyte: code twice", ANALYTES,
	    "[analyte ast]\nloinc = 1920-8\n"
	    "[analyte alt]\nloinc = 1920-8\n",
	    0, ":4: code '1920-8' already listed for ast" },
	{ "unit: no factor", ANALYTES, "[analyte ast]\nunit = U/L\n", 0,
	    ":2: unit needs 'SPELLING FACTOR'" },
	{ "unit: bad factor", ANALYTES, "[analyte ast]\nunit = U/L one\n", 0,
	    ":2: bad factor 'one' for unit 'U/L'" },
	{ "unit: zero factor", ANALYTES, "[analyte ast]\nunit = U/L 0\n", 0,
	    ":2: bad factor '0' for unit 'U/L'" },
	{ "unit: negative factor", ANALYTES, "[analyte ast]\nunit = U/L -1\n",
	    0, ":2: bad factor '-1' for unit 'U/L'" },
	{ "unit: bad flag", ANALYTES, "[analyte ast]\nunit = U/L 1 col\n", 0,
	    ":2: unknown unit flag 'col' (only 'column')" },
	{ "unit: twice", ANALYTES,
	    "[analyte ast]\nunit = U/L 1\nunit = U/L 2\n", 0,
	    ":3: unit 'U/L' listed twice" },
	{ "analytes: one missing", ANALYTES, CODING A6, 0,
	    ": analyte 'hgb' missing or without canonical_unit" },
	{ "analytes: no canonical", ANALYTES,
	    CODING A6 "[analyte hgb]\n"
		      "unit = g/L 1\n",
	    0, ": analyte 'hgb' missing or without canonical_unit" },
	{ "analytes: canonical not 1", ANALYTES,
	    CODING A6 "[analyte hgb]\n"
		      "canonical_unit = g/L\nunit = g/L 10\n",
	    0,
	    ": analyte 'hgb': canonical unit 'g/L' must be listed with factor 1" },
	{ "analytes: canonical unlisted", ANALYTES,
	    CODING A6 "[analyte hgb]\n"
		      "canonical_unit = g/L\nunit = g/dL 10\n",
	    0,
	    ": analyte 'hgb': canonical unit 'g/L' must be listed with factor 1" },
	{ "analytes: no coding", ANALYTES, A7, 0,
	    ": no [coding] loinc_system given" },

	/* the grading table */
	{ "table: unknown section", TABLE, T_HEAD "[grade x]\n", 0,
	    ":3: unknown section 'grade'" },
	{ "table: key outside", TABLE, "name = T\n", 0,
	    ":1: 'name' outside any section" },
	{ "table: unknown key", TABLE, "[table]\nversion = 5\n", 0,
	    ":2: unknown key 'version' in [table]" },
	{ "term: no name", TABLE, T_HEAD "[term]\n", 0,
	    ":3: [term] needs a name" },
	{ "term: unknown analyte", TABLE, T_HEAD "[term x]\nanalyte = bili\n",
	    0, ":4: unknown analyte 'bili'" },
	{ "term: bad baseline", TABLE, T_HEAD TERM "baseline = sometimes\n", 0,
	    ":6: baseline must be any, normal or abnormal" },
	{ "term: column first", TABLE, T_HEAD "[term x]\ncolumn = U/L\n", 0,
	    ":4: 'column' before 'analyte'" },
	{ "term: column not a column", TABLE, T_HEAD TERM "column = ukat/L\n",
	    0, ":6: column 'ukat/L' is not a unit of ast marked 'column'" },
	{ "term: grade first", TABLE, T_HEAD "[term x]\ngrade2 = > 3 uln\n", 0,
	    ":4: 'grade2' before 'analyte'" },
	{ "term: grade twice", TABLE, T_HEAD TERM "grade1 = > 2 uln\n", 0,
	    ":6: grade1 given twice" },
	{ "term: grade 5", TABLE, T_HEAD TERM "grade5 = > 40 uln\n", 0,
	    ":6: unknown key 'grade5' in [term x]" },
	{ "term: grade 0", TABLE, T_HEAD TERM "grade0 = > 0 uln\n", 0,
	    ":6: unknown key 'grade0' in [term x]" },
	{ "term: bad comparison", TABLE, T_HEAD TERM "grade2 = 3 uln\n", 0,
	    ":6: grade2: comparison must start with <, >, <= or >=" },
	{ "term: bad alternative", TABLE,
	    T_HEAD TERM "grade3 = > 5 uln | > x\n", 0,
	    ":6: grade3: comparison must end with a number, uln, lln or baseline" },
	{ "term: too many alternatives", TABLE,
	    T_HEAD TERM "grade2 = > 1 uln|> 2 uln|> 3 uln|> 4 uln|> 5 uln\n", 0,
	    ":6: more than 4 alternatives" },
	{ "term: long comparison", TABLE,
	    T_HEAD TERM "grade2 = > " S64 S64 "\n", 0,
	    ":6: grade2: comparison too long" },
	{ "term: unknown key", TABLE, T_HEAD TERM "colour = red\n", 0,
	    ":6: unknown key 'colour' in [term x]" },
	{ "table: no name", TABLE, "[table]\nsource = s\n" TERM, 0,
	    ": [table] name missing" },
	{ "term: no analyte", TABLE, T_HEAD TERM "[term y]\ntitle = Y\n", 0,
	    ": term 'y' has no analyte" },
};

static char dir[64];

static void
write_file(const char *name, const char *text, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fwrite(text, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static void
remove_dir(void)
{
	char path[128];
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, file_name[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* Load the protocol of the case whose file has text; expect want. */
static void
expect_error(enum which file, const char *text, size_t len, const char *want,
    const char *name)
{
	char proto[512], full[1200], *cause = NULL;
	struct rules *r = (struct rules *)1;

	strcpy(dir, "/tmp/labwatch-rules.XXXXXX"); /* mkdtemp() fills the Xs */
	cr_assert_not_null(mkdtemp(dir));
	if (file == PROTOCOL) {
		write_file(file_name[PROTOCOL], text, len);
	} else {
		snprintf(proto, sizeof proto,
		    "[protocol]\nname = X\n"
		    "analytes = %s\ngrading = %s\nscreening_window_days = 14\n",
		    file == ANALYTES ? "analytes.conf" :
				       RULES_DATADIR "/analytes.conf",
		    file == TABLE ? "table.conf" :
				    RULES_DATADIR "/ctcae-5.0.conf");
		write_file(file_name[PROTOCOL], proto, strlen(proto));
		write_file(file_name[file], text, len);
	}
	snprintf(proto, sizeof proto, "%s/%s", dir, file_name[PROTOCOL]);
	if (want[0] == '/') /* another file */
		snprintf(full, sizeof full, "%s%s", dir, want);
	else
		snprintf(full, sizeof full, "%s/%s%s", dir, file_name[file],
		    want);
	cr_expect_eq(rules_load(proto, &r, &cause), -1, "%s: loaded", name);
	cr_expect_null(r, "%s", name);
	cr_expect_str_eq(cause ? cause : "(none)", full, "%s: got \"%s\"", name,
	    cause ? cause : "(none)");
	free(cause);
	remove_dir();
}

ParameterizedTestParameters(rules_conf, errors)
{
	return cr_make_param_array(struct conf_case, conf_cases,
	    sizeof(conf_cases) / sizeof(conf_cases[0]));
}

ParameterizedTest(struct conf_case *c, rules_conf, errors)
{
	expect_error(c->file, c->text, c->len ? c->len : strlen(c->text),
	    c->want, c->name);
}

/* The limits: one line too many of each repeated thing. */
struct limit_case {
	char name[40];
	enum which file;
	char head[400]; /* written once */
	char line[60];	/* then count times, %d the 1-based index */
	int count;
	char want[120]; /* %d: the last line's number */
};

static struct limit_case limit_cases[] = {
	{ "hold rules", PROTOCOL, P, "[hold h%d]\n", 9,
	    ":%d: too many hold rules" },
	{ "stop lines", PROTOCOL, P "[hold h]\n", "stop = ast > %d uln\n", 9,
	    ":%d: too many stop lines" },
	{ "restart lines", PROTOCOL, P "[hold h]\nstop = ast > 5 uln\n",
	    "restart = ast < %d uln\n", 9, ":%d: too many restart lines" },
	{ "LOINC systems", ANALYTES, "[coding]\n", "loinc_system = S%d\n", 9,
	    ":%d: more than 8 LOINC system names" },
	{ "units", ANALYTES, "[analyte ast]\n", "unit = u%d 1\n", 33,
	    ":%d: more than 32 units" },
	{ "terms", TABLE, T_HEAD, "[term t%d]\n", 33,
	    ":%d: more than 32 terms" },
};

ParameterizedTestParameters(rules_conf, limits)
{
	return cr_make_param_array(struct limit_case, limit_cases,
	    sizeof(limit_cases) / sizeof(limit_cases[0]));
}

/* The formats come from the table above. */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

ParameterizedTest(struct limit_case *c, rules_conf, limits)
{
	char text[8192], want[160];
	size_t n = strlen(c->head);
	int i, lines = 0;
	const char *p;

	memcpy(text, c->head, n + 1);
	for (p = c->head; *p; p++)
		lines += *p == '\n';
	for (i = 1; i <= c->count; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, c->line, i);
	snprintf(want, sizeof want, c->want, lines + c->count);
	expect_error(c->file, text, n, want, c->name);
}

/* A data file over 4 MiB is refused whole. */
Test(rules_conf, too_large)
{
	size_t n = 4 * 1024 * 1024 + 1;
	char *text = malloc(n);

	cr_assert_not_null(text);
	memset(text, '#', n);
	memcpy(text, "[protocol]\n", 11);
	text[n - 1] = '\n';
	expect_error(PROTOCOL, text, n,
	    ": cannot read, or larger than 4194304 bytes", "too large");
	free(text);
}
