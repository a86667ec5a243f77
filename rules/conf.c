/*
 * conf.c: the data files. One line-based format for all three, read by
 * the shared INI reader (lib/ini.h): '#' comments (at line start or after
 * a blank), "[section]" or "[section argument]" headers, "key = value"
 * lines (a key may repeat). Each file is a table of sections and each
 * section a table of keys; every error names file:line and what is wrong.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
#include "lib/ini.h"
#include "lib/str.h"
#include "lib/xmalloc.h"
#include "rules/rules_int.h"

#define MAX_FILE (4 * 1024 * 1024)

/* One data file being read, and what its current section fills. */
struct conf {
	const char *path;
	struct ini_reader ini;
	struct rules *r;
	enum rules_analyte analyte;   /* [analyte NAME] */
	struct rules_term *term;      /* [term NAME] */
	struct rules_criterion *cr;   /* [exclusion NAME] */
	struct rules_hold_rule *hold; /* [hold NAME] */
	char *analytes, *grading;     /* [protocol]: the files it names */
	bool have_window;
};

/* A key of a section: "*" matches any key; set NULL: documentation only. */
struct conf_key {
	const char *name;
	int (*set)(struct conf *, char **cause);
};

/* A section: open runs at its header (NULL: nothing to do); keys end at NULL. */
struct conf_section {
	const char *name;
	int (*open)(struct conf *, char **cause);
	const struct conf_key *keys;
};

static int __attribute__((format(printf, 4, 0))) conf_verr(const struct conf *c,
    int line, char **cause, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (line > 0)
		*cause = xasprintf("%s:%d: %s", c->path, line, msg);
	else
		*cause = xasprintf("%s: %s", c->path, msg);
	return -1;
}

/* An error on the line just read: "path:line: what"; returns -1. */
static int __attribute__((format(printf, 3, 4)))
conf_err(const struct conf *c, char **cause, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_verr(c, c->ini.line, cause, fmt, ap);
	va_end(ap);
	return -1;
}

/* An error about the whole file: "path: what"; returns -1. */
static int __attribute__((format(printf, 3, 4)))
conf_file_err(const struct conf *c, char **cause, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_verr(c, 0, cause, fmt, ap);
	va_end(ap);
	return -1;
}

static int
conf_key(struct conf *c, const struct conf_section *sec, char **cause)
{
	const struct conf_key *k;
	const char *key = c->ini.key, *arg = c->ini.arg;

	if (sec == NULL)
		return conf_err(c, cause, "'%s' outside any section", key);
	for (k = sec->keys; k->name != NULL; k++)
		if (strcmp(k->name, "*") == 0 || strcmp(k->name, key) == 0)
			return k->set != NULL ? k->set(c, cause) : 0;
	return conf_err(c, cause, "unknown key '%s' in [%s%s%s]", key,
	    sec->name, arg[0] ? " " : "", arg);
}

/* Every line of the file through the section table. */
static int
conf_read(struct conf *c, const struct conf_section *sections, char **cause)
{
	const struct conf_section *sec = NULL;
	enum ini_item it;

	while ((it = ini_next(&c->ini)) != INI_END) {
		if (it == INI_ERROR && c->ini.error == INI_ERR_TOO_BIG)
			break;
		if (it == INI_ERROR)
			return conf_err(c, cause, "%s",
			    ini_strerror(c->ini.error));
		if (it == INI_KEY) {
			if (conf_key(c, sec, cause) < 0)
				return -1;
			continue;
		}
		for (sec = sections; sec->name != NULL; sec++)
			if (strcmp(sec->name, c->ini.section) == 0)
				break;
		if (sec->name == NULL)
			return conf_err(c, cause, "unknown section '%s'",
			    c->ini.section);
		if (sec->open != NULL && sec->open(c, cause) < 0)
			return -1;
	}
	if (c->ini.error != INI_OK)
		return conf_file_err(c, cause,
		    "cannot read, or larger than %d bytes", MAX_FILE);
	return 0;
}

/* Read path through its section table, then check what it filled. */
static int
conf_load(struct conf *c, const char *path, const struct conf_section *sections,
    int (*check)(struct conf *, char **), char **cause)
{
	FILE *f;
	int rc;

	c->path = path;
	if ((f = fopen(path, "r")) == NULL)
		return conf_file_err(c, cause, "cannot open: %s",
		    strerror(errno));
	ini_init(&c->ini, f, INI_INLINE_COMMENT);
	c->ini.max_bytes = MAX_FILE;
	rc = conf_read(c, sections, cause);
	if (rc == 0)
		rc = check(c, cause);
	ini_free(&c->ini);
	fclose(f);
	return rc;
}

/* A finite number filling the whole of s. */
static int
conf_number(const char *s, double *out)
{
	const char *p = s, *end = s + strlen(s);

	if (rules_parse_num(&p, end, out) < 0 || p != end || !isfinite(*out))
		return -1;
	return 0;
}

static int
conf_bool(const char *s, bool *out)
{
	if (strcmp(s, "yes") == 0 || strcmp(s, "true") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0) {
		*out = false;
		return 0;
	}
	return -1;
}

/*
 * A comparison: "OP NUMBER [uln|lln|baseline]", OP one of < > <= >=,
 * or "OP uln" (the number 1). Returns 0 or -1 with a message in err.
 */
static int
parse_cond(const char *s, struct rules_cond *c, const char **err)
{
	char buf[128], *p, *word, *sp;

	if (strlen(s) >= sizeof buf) {
		*err = "comparison too long";
		return -1;
	}
	strcpy(buf, s);
	p = str_trim(buf);
	if (p[0] == '<' || p[0] == '>') {
		c->op = p[0];
		p++;
		if (*p == '=') {
			c->op = c->op == '<' ? 'l' : 'g';
			p++;
		}
	} else {
		*err = "comparison must start with <, >, <= or >=";
		return -1;
	}
	p = str_trim(p);
	c->mult = 1;
	c->ref = REF_ABS;
	word = p;
	if (*p >= '0' && *p <= '9') {
		sp = strpbrk(p, " \t");
		if (sp != NULL)
			*sp = '\0';
		if (conf_number(p, &c->mult) < 0) {
			*err = "bad number in comparison";
			return -1;
		}
		word = sp != NULL ? str_trim(sp + 1) : p + strlen(p);
		if (*word == '\0')
			return 0;
	}
	if (strcmp(word, "uln") == 0)
		c->ref = REF_ULN;
	else if (strcmp(word, "lln") == 0)
		c->ref = REF_LLN;
	else if (strcmp(word, "baseline") == 0)
		c->ref = REF_BASE;
	else {
		*err =
		    "comparison must end with a number, uln, lln or baseline";
		return -1;
	}
	return 0;
}

/* Replace *dst with a copy of v (a key given twice: the last one counts). */
static int
set_text(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
	return 0;
}

/* ---- analytes.conf ---- */

static int
add_code(struct conf *c, char **cause, enum code_kind kind,
    enum rules_analyte a)
{
	struct rules *r = c->r;
	const char *code = c->ini.val;
	struct rules_code *e;
	size_t i, len = strlen(code);

	if (len == 0 || strpbrk(code, " \t") != NULL)
		return conf_err(c, cause, "a code is one word, got '%s'", code);
	for (i = 0; i < r->ncodes; i++) {
		e = &r->codes[i];
		if (e->len == len && memcmp(e->code, code, len) == 0 &&
		    (e->kind == CODE_LOCAL) == (kind == CODE_LOCAL))
			return conf_err(c, cause,
			    "code '%s' already listed for %s", code,
			    e->kind == CODE_EXCLUDED ?
				"do-not-map" :
				rules_analyte_name(e->analyte));
	}
	if (r->ncodes == r->codes_cap) {
		r->codes_cap = r->codes_cap ? r->codes_cap * 2 : 64;
		r->codes = xreallocarray(r->codes, r->codes_cap,
		    sizeof *r->codes);
	}
	e = &r->codes[r->ncodes++];
	e->code = xstrdup(code);
	e->len = len;
	e->hash = (uint32_t)hash_bytes(code, len);
	e->kind = kind;
	e->analyte = a;
	return 0;
}

static int
set_loinc_system(struct conf *c, char **cause)
{
	struct rules *r = c->r;

	if (r->nloinc_systems == RULES_MAX_SYSTEMS)
		return conf_err(c, cause, "more than %d LOINC system names",
		    RULES_MAX_SYSTEMS);
	r->loinc_systems[r->nloinc_systems] = xstrdup(c->ini.val);
	r->loinc_system_len[r->nloinc_systems++] = strlen(c->ini.val);
	return 0;
}

static int
set_unmapped(struct conf *c, char **cause)
{
	return add_code(c, cause, CODE_EXCLUDED, RULES_NONE);
}

static int
open_analyte(struct conf *c, char **cause)
{
	struct rules_analyte_def *d;

	c->analyte = rules_analyte_by_name(c->ini.arg);
	if (c->analyte == RULES_NONE)
		return conf_err(c, cause,
		    "unknown analyte '%s' (ast alt tbil crea anc plt hgb)",
		    c->ini.arg);
	d = &c->r->analytes[c->analyte];
	if (d->canonical != NULL)
		return conf_err(c, cause, "analyte '%s' defined twice",
		    c->ini.arg);
	d->canonical = xstrdup(""); /* defined; the key fills it */
	return 0;
}

static int
set_analyte_title(struct conf *c, char **cause)
{
	(void)cause;
	return set_text(&c->r->analytes[c->analyte].title, c->ini.val);
}

static int
set_canonical(struct conf *c, char **cause)
{
	(void)cause;
	return set_text(&c->r->analytes[c->analyte].canonical, c->ini.val);
}

static int
set_loinc(struct conf *c, char **cause)
{
	return add_code(c, cause, CODE_LOINC, c->analyte);
}

static int
set_local(struct conf *c, char **cause)
{
	return add_code(c, cause, CODE_LOCAL, c->analyte);
}

/* unit = SPELLING FACTOR [column] */
static int
set_unit(struct conf *c, char **cause)
{
	struct rules_analyte_def *d = &c->r->analytes[c->analyte];
	char *v = c->ini.val, *f, *flag;
	struct rules_unit *u;
	double factor;
	size_t i;

	if ((f = strpbrk(v, " \t")) == NULL)
		return conf_err(c, cause, "unit needs 'SPELLING FACTOR'");
	*f++ = '\0';
	f = str_trim(f);
	if ((flag = strpbrk(f, " \t")) != NULL) {
		*flag++ = '\0';
		flag = str_trim(flag);
		if (strcmp(flag, "column") != 0)
			return conf_err(c, cause,
			    "unknown unit flag '%s' (only 'column')", flag);
	}
	if (conf_number(f, &factor) < 0 || factor <= 0)
		return conf_err(c, cause, "bad factor '%s' for unit '%s'", f,
		    v);
	for (i = 0; i < d->nunits; i++)
		if (strcmp(d->units[i].name, v) == 0)
			return conf_err(c, cause, "unit '%s' listed twice", v);
	if (d->nunits == RULES_MAX_UNITS)
		return conf_err(c, cause, "more than %d units",
		    RULES_MAX_UNITS);
	u = &d->units[d->nunits++];
	u->name = xstrdup(v);
	u->len = strlen(v);
	u->factor = factor;
	u->own_column = flag != NULL;
	return 0;
}

static const struct conf_key coding_keys[] = {
	{ "loinc_system", set_loinc_system },
	{ NULL, NULL },
};

static const struct conf_key unmapped_keys[] = {
	{ "loinc", set_unmapped },
	{ "local", set_unmapped },
	{ NULL, NULL },
};

static const struct conf_key analyte_keys[] = {
	{ "title", set_analyte_title },
	{ "canonical_unit", set_canonical },
	{ "loinc", set_loinc },
	{ "local", set_local },
	{ "unit", set_unit },
	{ NULL, NULL },
};

static const struct conf_section analytes_file[] = {
	{ "analyte", open_analyte, analyte_keys },
	{ "unmapped", NULL, unmapped_keys },
	{ "coding", NULL, coding_keys },
	{ NULL, NULL, NULL },
};

/* Every analyte defined, with its canonical unit at factor 1. */
static int
check_analytes(struct conf *c, char **cause)
{
	struct rules *r = c->r;
	struct rules_analyte_def *d;
	int a;

	for (a = 0; a < RULES_NANALYTES; a++) {
		d = &r->analytes[a];
		if (d->canonical == NULL || d->canonical[0] == '\0')
			return conf_file_err(c, cause,
			    "analyte '%s' missing or without canonical_unit",
			    rules_analyte_name(a));
		if (rules_unit_factor(r, a, d->canonical,
			strlen(d->canonical)) != 1)
			return conf_file_err(c, cause,
			    "analyte '%s': canonical unit '%s' must be listed with factor 1",
			    rules_analyte_name(a), d->canonical);
	}
	if (r->nloinc_systems == 0)
		return conf_file_err(c, cause,
		    "no [coding] loinc_system given");
	rules_codes_index(r);
	return 0;
}

static int
load_analytes(struct rules *r, const char *path, char **cause)
{
	struct conf c = { .r = r, .analyte = RULES_NONE };

	return conf_load(&c, path, analytes_file, check_analytes, cause);
}

/* ---- the grading table ---- */

static int
set_table_name(struct conf *c, char **cause)
{
	(void)cause;
	return set_text(&c->r->table_name, c->ini.val);
}

static int
open_term(struct conf *c, char **cause)
{
	struct rules *r = c->r;
	struct rules_term *t;

	if (c->ini.arg[0] == '\0')
		return conf_err(c, cause, "[term] needs a name");
	if (r->nterms == RULES_MAX_TERMS)
		return conf_err(c, cause, "more than %d terms",
		    RULES_MAX_TERMS);
	t = &r->terms[r->nterms++];
	memset(t, 0, sizeof *t);
	t->name = xstrdup(c->ini.arg);
	t->analyte = RULES_NONE;
	t->column_unit = -1;
	c->term = t;
	return 0;
}

static int
set_term_title(struct conf *c, char **cause)
{
	(void)cause;
	return set_text(&c->term->title, c->ini.val);
}

static int
set_term_analyte(struct conf *c, char **cause)
{
	c->term->analyte = rules_analyte_by_name(c->ini.val);
	if (c->term->analyte == RULES_NONE)
		return conf_err(c, cause, "unknown analyte '%s'", c->ini.val);
	return 0;
}

static int
set_term_baseline(struct conf *c, char **cause)
{
	static const char *const names[] = { [TB_ANY] = "any",
		[TB_NORMAL] = "normal",
		[TB_ABNORMAL] = "abnormal" };
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(c->ini.val, names[i]) == 0) {
			c->term->baseline = (enum term_baseline)i;
			return 0;
		}
	return conf_err(c, cause, "baseline must be any, normal or abnormal");
}

/* The canonical unit, or a unit of the analyte marked 'column'. */
static int
set_term_column(struct conf *c, char **cause)
{
	struct rules_term *t = c->term;
	const struct rules_analyte_def *d;
	size_t i;

	if (t->analyte == RULES_NONE)
		return conf_err(c, cause, "'column' before 'analyte'");
	d = &c->r->analytes[t->analyte];
	t->column_unit = -1;
	if (strcmp(c->ini.val, d->canonical) == 0)
		return 0;
	for (i = 0; i < d->nunits; i++)
		if (d->units[i].own_column &&
		    strcmp(d->units[i].name, c->ini.val) == 0)
			t->column_unit = (int)i;
	if (t->column_unit < 0)
		return conf_err(c, cause,
		    "column '%s' is not a unit of %s marked 'column'",
		    c->ini.val, rules_analyte_name(t->analyte));
	return 0;
}

/* gradeN = COND [| COND ...] */
static int
set_term_grade(struct conf *c, char **cause)
{
	const char *key = c->ini.key, *err;
	struct rules_clause *cl = &c->term->grade[key[5] - '0'];
	char *alt = c->ini.val, *bar;

	if (c->term->analyte == RULES_NONE)
		return conf_err(c, cause, "'%s' before 'analyte'", key);
	if (cl->n != 0)
		return conf_err(c, cause, "%s given twice", key);
	for (;;) {
		if ((bar = strchr(alt, '|')) != NULL)
			*bar = '\0';
		if (cl->n == RULES_MAX_ALTS)
			return conf_err(c, cause, "more than %d alternatives",
			    RULES_MAX_ALTS);
		if (parse_cond(alt, &cl->alt[cl->n], &err) < 0)
			return conf_err(c, cause, "%s: %s", key, err);
		cl->n++;
		if (bar == NULL)
			return 0;
		alt = bar + 1;
	}
}

static const struct conf_key table_keys[] = {
	{ "name", set_table_name },
	{ "source", NULL },
	{ NULL, NULL },
};

static const struct conf_key term_keys[] = {
	{ "title", set_term_title },
	{ "analyte", set_term_analyte },
	{ "baseline", set_term_baseline },
	{ "column", set_term_column },
	{ "grade1", set_term_grade },
	{ "grade2", set_term_grade },
	{ "grade3", set_term_grade },
	{ "grade4", set_term_grade },
	{ NULL, NULL },
};

static const struct conf_section table_file[] = {
	{ "table", NULL, table_keys },
	{ "term", open_term, term_keys },
	{ NULL, NULL, NULL },
};

/* A name, an analyte per term; absolute thresholds made canonical. */
static int
check_table(struct conf *c, char **cause)
{
	struct rules *r = c->r;
	struct rules_term *t;
	double f;
	size_t i, j, k;

	if (r->table_name == NULL)
		return conf_file_err(c, cause, "[table] name missing");
	/* Absolute thresholds are in the column's unit: make them canonical. */
	for (i = 0; i < r->nterms; i++) {
		t = &r->terms[i];
		if (t->analyte == RULES_NONE)
			return conf_file_err(c, cause,
			    "term '%s' has no analyte", t->name);
		f = t->column_unit < 0 ?
		    1 :
		    r->analytes[t->analyte].units[t->column_unit].factor;
		for (j = 1; j <= 4; j++)
			for (k = 0; k < t->grade[j].n; k++)
				if (t->grade[j].alt[k].ref == REF_ABS)
					t->grade[j].alt[k].mult *= f;
	}
	return 0;
}

static int
load_table(struct rules *r, const char *path, char **cause)
{
	struct conf c = { .r = r, .analyte = RULES_NONE };

	return conf_load(&c, path, table_file, check_table, cause);
}

/* ---- the protocol ---- */

/* "ANALYTE OP NUMBER [ref]" */
static int
parse_analyte_cond(struct conf *c, char **cause, char *v,
    struct rules_hold_cond *hc)
{
	char *sp = strpbrk(v, " \t<>");
	const char *err;
	char name[16];

	if (sp == NULL || (size_t)(sp - v) >= sizeof name)
		return conf_err(c, cause, "expected 'ANALYTE OP NUMBER [uln]'");
	memcpy(name, v, (size_t)(sp - v));
	name[sp - v] = '\0';
	hc->analyte = rules_analyte_by_name(name);
	if (hc->analyte == RULES_NONE)
		return conf_err(c, cause, "unknown analyte '%s'", name);
	if (parse_cond(sp, &hc->cond, &err) < 0)
		return conf_err(c, cause, "%s", err);
	if (hc->cond.ref == REF_BASE || hc->cond.ref == REF_LLN)
		return conf_err(c, cause,
		    "protocol thresholds are absolute or x uln");
	return 0;
}

static int
set_protocol_name(struct conf *c, char **cause)
{
	(void)cause;
	return set_text(&c->r->protocol_name, c->ini.val);
}

static int
set_analytes_file(struct conf *c, char **cause)
{
	(void)cause;
	return set_text(&c->analytes, c->ini.val);
}

static int
set_grading_file(struct conf *c, char **cause)
{
	(void)cause;
	return set_text(&c->grading, c->ini.val);
}

static int
set_window(struct conf *c, char **cause)
{
	double d;

	if (conf_number(c->ini.val, &d) < 0 || d <= 0 || d > 3650)
		return conf_err(c, cause,
		    "screening_window_days must be a number of days in (0, 3650]");
	c->r->window = (int64_t)llround(d * 86400);
	c->have_window = true;
	return 0;
}

static int
set_alert_grade(struct conf *c, char **cause)
{
	double d;

	if (conf_number(c->ini.val, &d) < 0 || d < 1 || d > 4 || d != (int)d)
		return conf_err(c, cause, "alert_grade must be 1, 2, 3 or 4");
	c->r->alert_grade = (int)d;
	return 0;
}

static int
set_alert_preliminary(struct conf *c, char **cause)
{
	if (conf_bool(c->ini.val, &c->r->alert_preliminary) < 0)
		return conf_err(c, cause,
		    "alert_preliminary must be yes or no");
	return 0;
}

/* [defaults] ANALYTE = LLN ULN, in the canonical unit */
static int
set_default_range(struct conf *c, char **cause)
{
	enum rules_analyte a = rules_analyte_by_name(c->ini.key);
	const char *q = c->ini.val, *end = q + strlen(q);
	double lo, hi;

	if (a == RULES_NONE)
		return conf_err(c, cause, "unknown analyte '%s'", c->ini.key);
	if (rules_parse_num(&q, end, &lo) < 0 || (*q != ' ' && *q != '\t'))
		return conf_err(c, cause,
		    "expected 'LLN ULN' in the canonical unit");
	while (*q == ' ' || *q == '\t')
		q++;
	if (rules_parse_num(&q, end, &hi) < 0 || q != end || hi <= lo)
		return conf_err(c, cause, "expected 'LLN ULN' with LLN < ULN");
	c->r->def_lln[a] = lo;
	c->r->def_uln[a] = hi;
	return 0;
}

static int
open_exclusion(struct conf *c, char **cause)
{
	struct rules *r = c->r;
	enum rules_analyte a = rules_analyte_by_name(c->ini.arg);
	size_t i;

	if (a == RULES_NONE)
		return conf_err(c, cause,
		    "[exclusion] needs an analyte, got '%s'", c->ini.arg);
	for (i = 0; i < r->ncriteria; i++)
		if (r->criteria[i].analyte == a)
			return conf_err(c, cause, "second exclusion for '%s'",
			    c->ini.arg);
	if (r->ncriteria == RULES_MAX_CRITERIA)
		return conf_err(c, cause, "too many exclusion criteria");
	c->cr = &r->criteria[r->ncriteria++];
	memset(c->cr, 0, sizeof *c->cr);
	c->cr->analyte = a; /* cond.op 0: no 'exclude' yet */
	return 0;
}

/* exclude = OP NUMBER [uln], about the section's analyte */
static int
set_exclude(struct conf *c, char **cause)
{
	struct rules_hold_cond hc;
	char buf[160];

	snprintf(buf, sizeof buf, "%s %s", rules_analyte_name(c->cr->analyte),
	    c->ini.val);
	if (parse_analyte_cond(c, cause, buf, &hc) < 0)
		return -1;
	c->cr->cond = hc.cond;
	return 0;
}

static int
set_exclusion_text(struct conf *c, char **cause)
{
	(void)cause;
	return set_text(&c->cr->text, c->ini.val);
}

static int
open_hold(struct conf *c, char **cause)
{
	struct rules *r = c->r;

	if (c->ini.arg[0] == '\0')
		return conf_err(c, cause, "[hold] needs a name");
	if (r->nholds == RULES_MAX_HOLD_RULES)
		return conf_err(c, cause, "too many hold rules");
	c->hold = &r->holds[r->nholds++];
	memset(c->hold, 0, sizeof *c->hold);
	c->hold->name = xstrdup(c->ini.arg);
	c->hold->restart_mg = NAN;
	c->hold->recurrence_mg = NAN;
	return 0;
}

/* restart_dose = / recurrence_restart_dose = NUMBER mg (daily, the label's) */
static int
set_hold_dose(struct conf *c, char **cause)
{
	struct rules_hold_rule *h = c->hold;
	bool first = strcmp(c->ini.key, "restart_dose") == 0;
	const char *p = c->ini.val, *end = p + strlen(p);
	double mg;

	if (rules_parse_num(&p, end, &mg) < 0 || !isfinite(mg) || mg <= 0)
		return conf_err(c, cause,
		    "%s must be a positive number of mg (e.g. 300 mg)",
		    c->ini.key);
	while (p < end && *p == ' ')
		p++;
	if (strcmp(p, "mg") != 0)
		return conf_err(c, cause, "%s: the unit must be mg, not '%s'",
		    c->ini.key, p);
	if (!isnan(first ? h->restart_mg : h->recurrence_mg))
		return conf_err(c, cause, "%s given twice", c->ini.key);
	*(first ? &h->restart_mg : &h->recurrence_mg) = mg;
	return 0;
}

/* stop = / restart = ANALYTE OP NUMBER [uln] */
static int
set_hold_cond(struct conf *c, char **cause)
{
	struct rules_hold_rule *h = c->hold;
	bool stop = strcmp(c->ini.key, "stop") == 0;
	size_t *n = stop ? &h->nstop : &h->nrestart;

	if (*n == RULES_MAX_HOLD_CONDS)
		return conf_err(c, cause, "too many %s lines", c->ini.key);
	return parse_analyte_cond(c, cause, c->ini.val,
	    stop ? &h->stop[(*n)++] : &h->restart[(*n)++]);
}

static const struct conf_key protocol_keys[] = {
	{ "name", set_protocol_name },
	{ "title", NULL },
	{ "source", NULL },
	{ "analytes", set_analytes_file },
	{ "grading", set_grading_file },
	{ "screening_window_days", set_window },
	{ "alert_grade", set_alert_grade },
	{ "alert_preliminary", set_alert_preliminary },
	{ NULL, NULL },
};

static const struct conf_key defaults_keys[] = {
	{ "*", set_default_range },
	{ NULL, NULL },
};

static const struct conf_key exclusion_keys[] = {
	{ "exclude", set_exclude },
	{ "text", set_exclusion_text },
	{ "note", NULL },
	{ "source", NULL },
	{ NULL, NULL },
};

static const struct conf_key hold_keys[] = {
	{ "stop", set_hold_cond },
	{ "restart", set_hold_cond },
	{ "restart_dose", set_hold_dose },
	{ "recurrence_restart_dose", set_hold_dose },
	{ "note", NULL },
	{ "source", NULL },
	{ NULL, NULL },
};

static const struct conf_section protocol_file[] = {
	{ "protocol", NULL, protocol_keys },
	{ "defaults", NULL, defaults_keys },
	{ "exclusion", open_exclusion, exclusion_keys },
	{ "hold", open_hold, hold_keys },
	{ NULL, NULL, NULL },
};

/* The required keys; every exclusion with its condition, every hold whole. */
static int
check_protocol(struct conf *c, char **cause)
{
	struct rules *r = c->r;
	size_t i;

	if (r->protocol_name == NULL || c->analytes == NULL ||
	    c->grading == NULL || !c->have_window)
		return conf_file_err(c, cause,
		    "[protocol] needs name, analytes, grading and screening_window_days");
	for (i = 0; i < r->ncriteria; i++) {
		if (r->criteria[i].cond.op == 0)
			return conf_file_err(c, cause,
			    "exclusion for '%s' without 'exclude'",
			    rules_analyte_name(r->criteria[i].analyte));
		if (r->criteria[i].text == NULL)
			r->criteria[i].text = xstrdup(
			    rules_analyte_name(r->criteria[i].analyte));
	}
	for (i = 0; i < r->nholds; i++) {
		if (r->holds[i].nstop == 0 || r->holds[i].nrestart == 0)
			return conf_file_err(c, cause,
			    "hold '%s' needs stop and restart lines",
			    r->holds[i].name);
		if (isnan(r->holds[i].restart_mg) &&
		    !isnan(r->holds[i].recurrence_mg))
			return conf_file_err(c, cause,
			    "hold '%s': recurrence_restart_dose without "
			    "restart_dose",
			    r->holds[i].name);
	}
	return 0;
}

static char *
sibling_path(const char *base, const char *rel)
{
	const char *slash = strrchr(base, '/');
	size_t dn, n;
	char *out;

	if (rel[0] == '/' || slash == NULL)
		return xstrdup(rel);
	dn = (size_t)(slash - base) + 1;
	n = dn + strlen(rel) + 1;
	out = xmalloc(n);
	memcpy(out, base, dn);
	strcpy(out + dn, rel);
	return out;
}

/* The protocol, then the analytes and grading files it names. */
static int
load_protocol(struct rules *r, const char *path, char **cause)
{
	struct conf c = { .r = r, .analyte = RULES_NONE };
	char *p;
	int a, rc;

	for (a = 0; a < RULES_NANALYTES; a++)
		r->def_lln[a] = r->def_uln[a] = NAN;
	r->alert_grade = 3;
	rc = conf_load(&c, path, protocol_file, check_protocol, cause);
	if (rc == 0) {
		p = sibling_path(path, c.analytes);
		rc = load_analytes(r, p, cause);
		free(p);
	}
	if (rc == 0) {
		p = sibling_path(path, c.grading);
		rc = load_table(r, p, cause);
		free(p);
	}
	free(c.analytes);
	free(c.grading);
	return rc;
}

int
rules_load(const char *protocol_path, struct rules **out, char **cause)
{
	struct rules *r = xcalloc(1, sizeof *r);

	*out = NULL;
	if (load_protocol(r, protocol_path, cause) < 0) {
		rules_free(r);
		return -1;
	}
	*out = r;
	return 0;
}

void
rules_free(struct rules *r)
{
	size_t i, j;

	if (r == NULL)
		return;
	for (i = 0; i < RULES_NANALYTES; i++) {
		free(r->analytes[i].canonical);
		free(r->analytes[i].title);
		for (j = 0; j < r->analytes[i].nunits; j++)
			free(r->analytes[i].units[j].name);
	}
	for (i = 0; i < r->nloinc_systems; i++)
		free(r->loinc_systems[i]);
	for (i = 0; i < r->ncodes; i++)
		free(r->codes[i].code);
	free(r->codes);
	free(r->slots);
	free(r->table_name);
	for (i = 0; i < r->nterms; i++) {
		free(r->terms[i].name);
		free(r->terms[i].title);
	}
	free(r->protocol_name);
	for (i = 0; i < r->ncriteria; i++)
		free(r->criteria[i].text);
	for (i = 0; i < r->nholds; i++)
		free(r->holds[i].name);
	free(r);
}
