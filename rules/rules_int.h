/*
 * rules_int.h: what the librules modules share and nobody else sees: the
 * loaded tables (struct rules) and the three-valued comparisons.
 */
#ifndef LABWATCH_RULES_INT_H
#define LABWATCH_RULES_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/rules.h"
#include "lib/attr.h"

#define RULES_MAX_UNITS 32
#define RULES_MAX_TERMS 32
#define RULES_MAX_ALTS 4
#define RULES_MAX_HOLD_CONDS 8
#define RULES_MAX_SYSTEMS 8

/* Relative tolerance of every threshold comparison (CLINICAL.md). */
#define RULES_TOL 1e-9

/* What a threshold is relative to. */
enum rules_ref {
	REF_ABS = 0, /* an absolute value, canonical unit */
	REF_ULN,
	REF_LLN,
	REF_BASE,
};

/* One comparison "value OP mult x ref". */
struct rules_cond {
	char op;     /* '<', '>', 'l' (<=), 'g' (>=) */
	double mult; /* the number; for REF_ABS the threshold itself */
	enum rules_ref ref;
};

/* Three-valued logic: a comparison may be unknowable. */
enum rules_tri {
	TRI_FALSE = 0,
	TRI_TRUE,
	TRI_UNKNOWN,
};

/* What one result's value is known to be. */
struct rules_val {
	double v;
	char cmp;	 /* '=', '<', '>', 'l' (<=), 'g' (>=) */
	double lln, uln; /* NAN when unknown */
	const struct rules_baseline *base; /* NULL when none */
};

struct rules_unit {
	char *name;
	size_t len;
	double factor;	 /* to canonical */
	bool own_column; /* graded on its own CTCAE column */
};

struct rules_analyte_def {
	char *canonical;
	char *title;
	struct rules_unit units[RULES_MAX_UNITS];
	size_t nunits;
};

enum code_kind {
	CODE_LOINC = 0,
	CODE_LOCAL,
	CODE_EXCLUDED,
};

struct rules_code {
	char *code;
	size_t len;
	uint32_t hash;
	enum code_kind kind;
	enum rules_analyte analyte; /* RULES_NONE for excluded */
};

enum term_baseline {
	TB_ANY = 0,  /* baseline criteria apply whenever one is known */
	TB_NORMAL,   /* baseline unknown or within limits */
	TB_ABNORMAL, /* baseline above ULN */
};

struct rules_clause {
	struct rules_cond alt[RULES_MAX_ALTS]; /* OR */
	size_t n;
};

struct rules_term {
	char *name;
	char *title;
	enum rules_analyte analyte;
	enum term_baseline baseline;
	int column_unit; /* index in the analyte's units, -1: canonical */
	struct rules_clause grade[5]; /* [1..4]; n == 0: no numeric criterion */
};

struct rules_criterion {
	enum rules_analyte analyte;
	struct rules_cond cond; /* excluded when true */
	char *text;
};

struct rules_hold_cond {
	enum rules_analyte analyte;
	struct rules_cond cond;
};

struct rules_hold_rule {
	char *name;
	struct rules_hold_cond stop[RULES_MAX_HOLD_CONDS];
	size_t nstop;
	struct rules_hold_cond restart[RULES_MAX_HOLD_CONDS];
	size_t nrestart;
	double restart_mg;    /* restart_dose; NAN when not given */
	double recurrence_mg; /* recurrence_restart_dose; NAN: restart_mg */
};

struct rules {
	/* analytes.conf */
	struct rules_analyte_def analytes[RULES_NANALYTES];
	char *loinc_systems[RULES_MAX_SYSTEMS];
	size_t loinc_system_len[RULES_MAX_SYSTEMS];
	size_t nloinc_systems;
	struct rules_code *codes;
	size_t ncodes, codes_cap;
	uint32_t *slots; /* open addressing: index + 1, 0 empty */
	uint32_t nslots; /* power of two */

	/* the grading table */
	char *table_name;
	struct rules_term terms[RULES_MAX_TERMS];
	size_t nterms;

	/* the protocol */
	char *protocol_name;
	int64_t window; /* seconds */
	int alert_grade;
	bool alert_preliminary;
	double def_lln[RULES_NANALYTES], def_uln[RULES_NANALYTES];
	struct rules_criterion criteria[RULES_MAX_CRITERIA];
	size_t ncriteria;
	struct rules_hold_rule holds[RULES_MAX_HOLD_RULES];
	size_t nholds;
};

/* Build r->slots from r->codes. */
void rules_codes_index(struct rules *r);
/* Evaluate one comparison on what is known of a value. */
enum rules_tri rules_cond_eval(const struct rules_cond *c,
    const struct rules_val *x);
/* Parse a decimal number at *p (< end); advances *p. Returns 0 or -1. */
LW_MUSTCHECK int rules_parse_num(const char **p, const char *end, double *out);
/* Index of a unit spelling in the analyte's list, -1 when not there. */
int rules_unit_index(const struct rules *r, enum rules_analyte a,
    const char *unit, size_t len);
/*
 * rules_eval_mapped(), and in *term the index in r->terms of the term
 * out->term names, -1 for none (a history packs it: rules_entry).
 */
void rules_eval_term(const struct rules *r, const struct rules_result *in,
    const struct rules_mapping *m, const struct rules_baseline *baseline,
    struct rules_eval *out, int *term);
/* The comparator character of a comparator string ("" -> '='); 0 if invalid. */
char rules_cmp_char(const char *cmp);

#endif
