/*
 * conf.c: the data files. One line-based format for all three: '#'
 * comments, "[section]" or "[section argument]" headers, "key = value"
 * lines (a key may repeat). Every error names file:line and what is wrong.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/str.h"
#include "lib/xmalloc.h"
#include "rules/rules_int.h"

#define MAX_FILE (4 * 1024 * 1024)

struct conf {
	const char *path;
	char *buf;		/* the whole file, NUL-terminated */
	char *next;		/* start of the next line */
	int line;
	char section[32];
	char arg[64];		/* section argument, "" when none */
	int section_line;
	char *key, *val;	/* the current item */
};

static int __attribute__((format(printf, 3, 4)))
conf_err(struct conf *c, char **cause, const char *fmt, ...)
{
	char msg[512], *out;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	n = strlen(c->path) + strlen(msg) + 32;
	out = xmalloc(n);
	if (c->line > 0)
		snprintf(out, n, "%s:%d: %s", c->path, c->line, msg);
	else
		snprintf(out, n, "%s: %s", c->path, msg);
	*cause = out;
	return -1;
}

static int
conf_open(struct conf *c, const char *path, char **cause)
{
	FILE *f;
	size_t n;

	memset(c, 0, sizeof *c);
	c->path = path;
	if ((f = fopen(path, "r")) == NULL)
		return conf_err(c, cause, "cannot open: %s", strerror(errno));
	c->buf = xmalloc(MAX_FILE + 1);
	n = fread(c->buf, 1, MAX_FILE + 1, f);
	if (ferror(f) || n > MAX_FILE) {
		fclose(f);
		free(c->buf);
		c->buf = NULL;
		return conf_err(c, cause, "cannot read, or larger than %d bytes", MAX_FILE);
	}
	fclose(f);
	c->buf[n] = '\0';
	if (memchr(c->buf, '\0', n) != NULL) {
		free(c->buf);
		c->buf = NULL;
		return conf_err(c, cause, "contains a NUL byte");
	}
	c->next = c->buf;
	return 0;
}

static void
conf_close(struct conf *c)
{
	free(c->buf);
	c->buf = NULL;
}

/*
 * Advance to the next item. Returns 1 for "key = value" (c->key, c->val),
 * 2 for a section header (c->section, c->arg), 0 at the end, -1 on error.
 */
static int
conf_next(struct conf *c, char **cause)
{
	char *line, *nl, *p, *eq, *hash;

	while (*c->next != '\0') {
		line = c->next;
		nl = strchr(line, '\n');
		if (nl != NULL) {
			*nl = '\0';
			c->next = nl + 1;
		} else
			c->next = line + strlen(line);
		c->line++;
		/* A comment starts a line or follows white space. */
		for (hash = line; (hash = strchr(hash, '#')) != NULL; hash++) {
			if (hash == line || hash[-1] == ' ' || hash[-1] == '\t') {
				*hash = '\0';
				break;
			}
		}
		p = str_trim(line);
		if (*p == '\0')
			continue;
		if (*p == '[') {
			char *close = strchr(p, ']'), *sp;

			if (close == NULL || close[1] != '\0')
				return conf_err(c, cause, "section header without closing ']'");
			*close = '\0';
			p = str_trim(p + 1);
			sp = strpbrk(p, " \t");
			c->arg[0] = '\0';
			if (sp != NULL) {
				*sp = '\0';
				if (strlen(str_trim(sp + 1)) >= sizeof c->arg)
					return conf_err(c, cause, "section argument too long");
				strcpy(c->arg, str_trim(sp + 1));
			}
			if (*p == '\0' || strlen(p) >= sizeof c->section)
				return conf_err(c, cause, "empty or too long section name");
			strcpy(c->section, p);
			c->section_line = c->line;
			return 2;
		}
		eq = strchr(p, '=');
		if (eq == NULL)
			return conf_err(c, cause, "expected 'key = value' or '[section]'");
		*eq = '\0';
		c->key = str_trim(p);
		c->val = str_trim(eq + 1);
		if (*c->key == '\0')
			return conf_err(c, cause, "empty key");
		if (c->section[0] == '\0')
			return conf_err(c, cause, "'%s' outside any section", c->key);
		return 1;
	}
	return 0;
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
		*err = "comparison must end with a number, uln, lln or baseline";
		return -1;
	}
	return 0;
}

/* ---- analytes.conf ---- */

static int
add_code(struct rules *r, struct conf *c, char **cause, const char *code,
    enum code_kind kind, enum rules_analyte a)
{
	struct rules_code *e;
	size_t i, len = strlen(code);

	if (len == 0 || strpbrk(code, " \t") != NULL)
		return conf_err(c, cause, "a code is one word, got '%s'", code);
	for (i = 0; i < r->ncodes; i++) {
		e = &r->codes[i];
		if (e->len == len && memcmp(e->code, code, len) == 0 &&
		    (e->kind == CODE_LOCAL) == (kind == CODE_LOCAL))
			return conf_err(c, cause, "code '%s' already listed for %s", code,
			    e->kind == CODE_EXCLUDED ? "do-not-map" : rules_analyte_name(e->analyte));
	}
	if (r->ncodes == r->codes_cap) {
		r->codes_cap = r->codes_cap ? r->codes_cap * 2 : 64;
		r->codes = xreallocarray(r->codes, r->codes_cap, sizeof *r->codes);
	}
	e = &r->codes[r->ncodes++];
	e->code = xstrdup(code);
	e->len = len;
	e->hash = rules_hash(code, len);
	e->kind = kind;
	e->analyte = a;
	return 0;
}

static int
load_analytes(struct rules *r, const char *path, char **cause)
{
	struct conf c;
	int rc, a = -1, in_unmapped = 0, in_coding = 0;
	struct rules_analyte_def *d;

	if (conf_open(&c, path, cause) < 0)
		return -1;
	while ((rc = conf_next(&c, cause)) > 0) {
		if (rc == 2) {
			a = -1;
			in_unmapped = in_coding = 0;
			if (strcmp(c.section, "analyte") == 0) {
				a = rules_analyte_by_name(c.arg);
				if (a == RULES_NONE) {
					conf_err(&c, cause, "unknown analyte '%s' (ast alt tbil crea anc plt hgb)", c.arg);
					goto fail;
				}
				if (r->analytes[a].canonical != NULL) {
					conf_err(&c, cause, "analyte '%s' defined twice", c.arg);
					goto fail;
				}
				r->analytes[a].canonical = xstrdup("");
			} else if (strcmp(c.section, "unmapped") == 0)
				in_unmapped = 1;
			else if (strcmp(c.section, "coding") == 0)
				in_coding = 1;
			else {
				conf_err(&c, cause, "unknown section '%s'", c.section);
				goto fail;
			}
			continue;
		}
		if (in_coding) {
			if (strcmp(c.key, "loinc_system") != 0) {
				conf_err(&c, cause, "unknown key '%s' in [coding]", c.key);
				goto fail;
			}
			if (r->nloinc_systems == RULES_MAX_SYSTEMS) {
				conf_err(&c, cause, "more than %d LOINC system names", RULES_MAX_SYSTEMS);
				goto fail;
			}
			r->loinc_systems[r->nloinc_systems] = xstrdup(c.val);
			r->loinc_system_len[r->nloinc_systems++] = strlen(c.val);
			continue;
		}
		if (in_unmapped) {
			if (strcmp(c.key, "loinc") != 0 && strcmp(c.key, "local") != 0) {
				conf_err(&c, cause, "unknown key '%s' in [unmapped]", c.key);
				goto fail;
			}
			if (add_code(r, &c, cause, c.val, CODE_EXCLUDED, RULES_NONE) < 0)
				goto fail;
			if (strcmp(c.key, "local") == 0)
				r->codes[r->ncodes - 1].kind = CODE_EXCLUDED;
			continue;
		}
		d = &r->analytes[a];
		if (strcmp(c.key, "title") == 0) {
			free(d->title);
			d->title = xstrdup(c.val);
		} else if (strcmp(c.key, "canonical_unit") == 0) {
			free(d->canonical);
			d->canonical = xstrdup(c.val);
		} else if (strcmp(c.key, "loinc") == 0) {
			if (add_code(r, &c, cause, c.val, CODE_LOINC, a) < 0)
				goto fail;
		} else if (strcmp(c.key, "local") == 0) {
			if (add_code(r, &c, cause, c.val, CODE_LOCAL, a) < 0)
				goto fail;
		} else if (strcmp(c.key, "unit") == 0) {
			/* unit = SPELLING FACTOR [column] */
			char *v = c.val, *f, *flag;
			struct rules_unit *u;
			double factor;
			size_t i;

			f = strpbrk(v, " \t");
			if (f == NULL) {
				conf_err(&c, cause, "unit needs 'SPELLING FACTOR'");
				goto fail;
			}
			*f++ = '\0';
			f = str_trim(f);
			flag = strpbrk(f, " \t");
			if (flag != NULL) {
				*flag++ = '\0';
				flag = str_trim(flag);
				if (strcmp(flag, "column") != 0) {
					conf_err(&c, cause, "unknown unit flag '%s' (only 'column')", flag);
					goto fail;
				}
			}
			if (conf_number(f, &factor) < 0 || factor <= 0) {
				conf_err(&c, cause, "bad factor '%s' for unit '%s'", f, v);
				goto fail;
			}
			for (i = 0; i < d->nunits; i++) {
				if (strcmp(d->units[i].name, v) == 0) {
					conf_err(&c, cause, "unit '%s' listed twice", v);
					goto fail;
				}
			}
			if (d->nunits == RULES_MAX_UNITS) {
				conf_err(&c, cause, "more than %d units", RULES_MAX_UNITS);
				goto fail;
			}
			u = &d->units[d->nunits++];
			u->name = xstrdup(v);
			u->len = strlen(v);
			u->factor = factor;
			u->own_column = flag != NULL;
		} else {
			conf_err(&c, cause, "unknown key '%s' in [analyte %s]", c.key,
			    rules_analyte_name(a));
			goto fail;
		}
	}
	if (rc < 0)
		goto fail;
	c.line = 0;
	for (a = 0; a < RULES_NANALYTES; a++) {
		d = &r->analytes[a];
		if (d->canonical == NULL || d->canonical[0] == '\0') {
			conf_err(&c, cause, "analyte '%s' missing or without canonical_unit",
			    rules_analyte_name(a));
			goto fail;
		}
		if (rules_unit_factor(r, a, d->canonical, strlen(d->canonical)) != 1) {
			conf_err(&c, cause, "analyte '%s': canonical unit '%s' must be listed with factor 1",
			    rules_analyte_name(a), d->canonical);
			goto fail;
		}
	}
	if (r->nloinc_systems == 0) {
		conf_err(&c, cause, "no [coding] loinc_system given");
		goto fail;
	}
	rules_codes_index(r);
	conf_close(&c);
	return 0;
fail:
	conf_close(&c);
	return -1;
}

/* ---- the grading table ---- */

static int
load_table(struct rules *r, const char *path, char **cause)
{
	struct conf c;
	struct rules_term *t = NULL;
	int rc;
	size_t i, j, k;

	if (conf_open(&c, path, cause) < 0)
		return -1;
	while ((rc = conf_next(&c, cause)) > 0) {
		if (rc == 2) {
			t = NULL;
			if (strcmp(c.section, "table") == 0)
				continue;
			if (strcmp(c.section, "term") != 0) {
				conf_err(&c, cause, "unknown section '%s'", c.section);
				goto fail;
			}
			if (c.arg[0] == '\0') {
				conf_err(&c, cause, "[term] needs a name");
				goto fail;
			}
			if (r->nterms == RULES_MAX_TERMS) {
				conf_err(&c, cause, "more than %d terms", RULES_MAX_TERMS);
				goto fail;
			}
			t = &r->terms[r->nterms++];
			memset(t, 0, sizeof *t);
			t->name = xstrdup(c.arg);
			t->analyte = RULES_NONE;
			t->column_unit = -1;
			/* Resolved at the end of the section: the unit of the column. */
			t->title = NULL;
			continue;
		}
		if (t == NULL) {
			if (strcmp(c.section, "table") == 0 && strcmp(c.key, "name") == 0) {
				free(r->table_name);
				r->table_name = xstrdup(c.val);
				continue;
			}
			if (strcmp(c.section, "table") == 0 && strcmp(c.key, "source") == 0)
				continue;
			conf_err(&c, cause, "unknown key '%s' in [%s]", c.key, c.section);
			goto fail;
		}
		if (strcmp(c.key, "title") == 0) {
			free(t->title);
			t->title = xstrdup(c.val);
		} else if (strcmp(c.key, "analyte") == 0) {
			t->analyte = rules_analyte_by_name(c.val);
			if (t->analyte == RULES_NONE) {
				conf_err(&c, cause, "unknown analyte '%s'", c.val);
				goto fail;
			}
		} else if (strcmp(c.key, "baseline") == 0) {
			if (strcmp(c.val, "any") == 0)
				t->baseline = TB_ANY;
			else if (strcmp(c.val, "normal") == 0)
				t->baseline = TB_NORMAL;
			else if (strcmp(c.val, "abnormal") == 0)
				t->baseline = TB_ABNORMAL;
			else {
				conf_err(&c, cause, "baseline must be any, normal or abnormal");
				goto fail;
			}
		} else if (strcmp(c.key, "column") == 0) {
			struct rules_analyte_def *d;

			if (t->analyte == RULES_NONE) {
				conf_err(&c, cause, "'column' before 'analyte'");
				goto fail;
			}
			d = &r->analytes[t->analyte];
			t->column_unit = -1;
			if (strcmp(c.val, d->canonical) != 0) {
				for (i = 0; i < d->nunits; i++)
					if (d->units[i].own_column && strcmp(d->units[i].name, c.val) == 0)
						t->column_unit = (int)i;
				if (t->column_unit < 0) {
					conf_err(&c, cause, "column '%s' is not a unit of %s marked 'column'",
					    c.val, rules_analyte_name(t->analyte));
					goto fail;
				}
			}
		} else if (strncmp(c.key, "grade", 5) == 0 && c.key[5] >= '1' &&
		    c.key[5] <= '4' && c.key[6] == '\0') {
			struct rules_clause *cl = &t->grade[c.key[5] - '0'];
			char *alt = c.val, *bar;
			const char *err;

			if (t->analyte == RULES_NONE) {
				conf_err(&c, cause, "'%s' before 'analyte'", c.key);
				goto fail;
			}
			if (cl->n != 0) {
				conf_err(&c, cause, "%s given twice", c.key);
				goto fail;
			}
			for (;;) {
				bar = strchr(alt, '|');
				if (bar != NULL)
					*bar = '\0';
				if (cl->n == RULES_MAX_ALTS) {
					conf_err(&c, cause, "more than %d alternatives", RULES_MAX_ALTS);
					goto fail;
				}
				if (parse_cond(alt, &cl->alt[cl->n], &err) < 0) {
					conf_err(&c, cause, "%s: %s", c.key, err);
					goto fail;
				}
				cl->n++;
				if (bar == NULL)
					break;
				alt = bar + 1;
			}
		} else {
			conf_err(&c, cause, "unknown key '%s' in [term %s]", c.key, t->name);
			goto fail;
		}
	}
	if (rc < 0)
		goto fail;
	c.line = 0;
	if (r->table_name == NULL) {
		conf_err(&c, cause, "[table] name missing");
		goto fail;
	}
	/* Absolute thresholds are in the column's unit: make them canonical. */
	for (i = 0; i < r->nterms; i++) {
		double f;

		t = &r->terms[i];
		if (t->analyte == RULES_NONE) {
			conf_err(&c, cause, "term '%s' has no analyte", t->name);
			goto fail;
		}
		f = t->column_unit < 0 ? 1 : r->analytes[t->analyte].units[t->column_unit].factor;
		for (j = 1; j <= 4; j++)
			for (k = 0; k < t->grade[j].n; k++)
				if (t->grade[j].alt[k].ref == REF_ABS)
					t->grade[j].alt[k].mult *= f;
	}
	conf_close(&c);
	return 0;
fail:
	conf_close(&c);
	return -1;
}

/* ---- the protocol ---- */

/* "ANALYTE OP NUMBER [ref]" */
static int
parse_analyte_cond(struct conf *c, char **cause, char *v, struct rules_hold_cond *hc)
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
		return conf_err(c, cause, "protocol thresholds are absolute or x uln");
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

static int
load_protocol(struct rules *r, const char *path, char **cause)
{
	struct conf c;
	int rc, a;
	char *analytes = NULL, *grading = NULL, *p;
	struct rules_criterion *cr = NULL;
	struct rules_hold_rule *h = NULL;
	bool have_window = false;
	double d;
	size_t i;

	for (a = 0; a < RULES_NANALYTES; a++)
		r->def_lln[a] = r->def_uln[a] = NAN;
	r->alert_grade = 3;
	if (conf_open(&c, path, cause) < 0)
		return -1;
	while ((rc = conf_next(&c, cause)) > 0) {
		if (rc == 2) {
			cr = NULL;
			h = NULL;
			if (strcmp(c.section, "protocol") == 0 || strcmp(c.section, "defaults") == 0)
				continue;
			if (strcmp(c.section, "exclusion") == 0) {
				a = rules_analyte_by_name(c.arg);
				if (a == RULES_NONE) {
					conf_err(&c, cause, "[exclusion] needs an analyte, got '%s'", c.arg);
					goto fail;
				}
				for (i = 0; i < r->ncriteria; i++)
					if (r->criteria[i].analyte == a) {
						conf_err(&c, cause, "second exclusion for '%s'", c.arg);
						goto fail;
					}
				if (r->ncriteria == RULES_MAX_CRITERIA) {
					conf_err(&c, cause, "too many exclusion criteria");
					goto fail;
				}
				cr = &r->criteria[r->ncriteria++];
				memset(cr, 0, sizeof *cr);
				cr->analyte = a;
				cr->cond.op = 0;
				continue;
			}
			if (strcmp(c.section, "hold") == 0) {
				if (c.arg[0] == '\0') {
					conf_err(&c, cause, "[hold] needs a name");
					goto fail;
				}
				if (r->nholds == RULES_MAX_HOLD_RULES) {
					conf_err(&c, cause, "too many hold rules");
					goto fail;
				}
				h = &r->holds[r->nholds++];
				memset(h, 0, sizeof *h);
				h->name = xstrdup(c.arg);
				continue;
			}
			conf_err(&c, cause, "unknown section '%s'", c.section);
			goto fail;
		}
		if (strcmp(c.section, "protocol") == 0) {
			if (strcmp(c.key, "name") == 0) {
				free(r->protocol_name);
				r->protocol_name = xstrdup(c.val);
			} else if (strcmp(c.key, "title") == 0 || strcmp(c.key, "source") == 0) {
				/* documentation only */
			} else if (strcmp(c.key, "analytes") == 0) {
				free(analytes);
				analytes = xstrdup(c.val);
			} else if (strcmp(c.key, "grading") == 0) {
				free(grading);
				grading = xstrdup(c.val);
			} else if (strcmp(c.key, "screening_window_days") == 0) {
				if (conf_number(c.val, &d) < 0 || d <= 0 || d > 3650) {
					conf_err(&c, cause, "screening_window_days must be a number of days in (0, 3650]");
					goto fail;
				}
				r->window = (int64_t)llround(d * 86400);
				have_window = true;
			} else if (strcmp(c.key, "alert_grade") == 0) {
				if (conf_number(c.val, &d) < 0 || d < 1 || d > 4 || d != (int)d) {
					conf_err(&c, cause, "alert_grade must be 1, 2, 3 or 4");
					goto fail;
				}
				r->alert_grade = (int)d;
			} else if (strcmp(c.key, "alert_preliminary") == 0) {
				if (conf_bool(c.val, &r->alert_preliminary) < 0) {
					conf_err(&c, cause, "alert_preliminary must be yes or no");
					goto fail;
				}
			} else {
				conf_err(&c, cause, "unknown key '%s' in [protocol]", c.key);
				goto fail;
			}
		} else if (strcmp(c.section, "defaults") == 0) {
			/* ANALYTE = LLN ULN, canonical unit */
			double lo, hi;
			const char *q, *end;

			a = rules_analyte_by_name(c.key);
			if (a == RULES_NONE) {
				conf_err(&c, cause, "unknown analyte '%s'", c.key);
				goto fail;
			}
			q = c.val;
			end = q + strlen(q);
			if (rules_parse_num(&q, end, &lo) < 0 || (*q != ' ' && *q != '\t')) {
				conf_err(&c, cause, "expected 'LLN ULN' in the canonical unit");
				goto fail;
			}
			while (*q == ' ' || *q == '\t')
				q++;
			if (rules_parse_num(&q, end, &hi) < 0 || q != end || hi <= lo) {
				conf_err(&c, cause, "expected 'LLN ULN' with LLN < ULN");
				goto fail;
			}
			r->def_lln[a] = lo;
			r->def_uln[a] = hi;
		} else if (cr != NULL) {
			if (strcmp(c.key, "exclude") == 0) {
				struct rules_hold_cond hc;
				char buf[160];

				snprintf(buf, sizeof buf, "%s %s", rules_analyte_name(cr->analyte), c.val);
				if (parse_analyte_cond(&c, cause, buf, &hc) < 0)
					goto fail;
				cr->cond = hc.cond;
			} else if (strcmp(c.key, "text") == 0) {
				free(cr->text);
				cr->text = xstrdup(c.val);
			} else if (strcmp(c.key, "note") == 0 || strcmp(c.key, "source") == 0) {
				/* documentation only */
			} else {
				conf_err(&c, cause, "unknown key '%s' in [exclusion]", c.key);
				goto fail;
			}
		} else if (h != NULL) {
			struct rules_hold_cond *hc;

			if (strcmp(c.key, "stop") == 0) {
				if (h->nstop == RULES_MAX_HOLD_CONDS) {
					conf_err(&c, cause, "too many stop lines");
					goto fail;
				}
				hc = &h->stop[h->nstop++];
			} else if (strcmp(c.key, "restart") == 0) {
				if (h->nrestart == RULES_MAX_HOLD_CONDS) {
					conf_err(&c, cause, "too many restart lines");
					goto fail;
				}
				hc = &h->restart[h->nrestart++];
			} else if (strcmp(c.key, "note") == 0 || strcmp(c.key, "source") == 0) {
				continue;
			} else {
				conf_err(&c, cause, "unknown key '%s' in [hold]", c.key);
				goto fail;
			}
			if (parse_analyte_cond(&c, cause, c.val, hc) < 0)
				goto fail;
		}
	}
	if (rc < 0)
		goto fail;
	c.line = 0;
	if (r->protocol_name == NULL || analytes == NULL || grading == NULL || !have_window) {
		conf_err(&c, cause, "[protocol] needs name, analytes, grading and screening_window_days");
		goto fail;
	}
	for (i = 0; i < r->ncriteria; i++) {
		if (r->criteria[i].cond.op == 0) {
			conf_err(&c, cause, "exclusion for '%s' without 'exclude'",
			    rules_analyte_name(r->criteria[i].analyte));
			goto fail;
		}
		if (r->criteria[i].text == NULL)
			r->criteria[i].text = xstrdup(rules_analyte_name(r->criteria[i].analyte));
	}
	for (i = 0; i < r->nholds; i++) {
		if (r->holds[i].nstop == 0 || r->holds[i].nrestart == 0) {
			conf_err(&c, cause, "hold '%s' needs stop and restart lines", r->holds[i].name);
			goto fail;
		}
	}
	conf_close(&c);
	p = sibling_path(path, analytes);
	rc = load_analytes(r, p, cause);
	free(p);
	if (rc == 0) {
		p = sibling_path(path, grading);
		rc = load_table(r, p, cause);
		free(p);
	}
	free(analytes);
	free(grading);
	return rc;
fail:
	conf_close(&c);
	free(analytes);
	free(grading);
	return -1;
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
