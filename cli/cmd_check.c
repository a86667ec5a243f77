/*
 * cmd_check.c: labwatch check: grade the protocol analytes of HL7 files
 * offline, no database.
 *
 *   labwatch check [--phase screening|treatment] [--baseline A=V UNIT,...]
 *                  [--protocol FILE] [--at TIME] [FILE...|-]
 *
 * One JSON line per observation of the seven analytes; with --phase
 * screening, then one line per patient with the eligibility verdict and
 * the result each criterion rests on.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/arena.h"
#include "lib/hash.h"
#include "lib/json.h"
#include "cmd.h"
#include "hl7/dtm.h"
#include "hl7/split.h"
#include "lib/xmalloc.h"
#include "rules/rules.h"
#include "store/obs.h"

#define DEFAULT_PROTOCOL "rules/protocols/nct04933669.conf"

/*
 * A screening patient: its history, found by id. Owned by struct check.
 * The id's bytes follow it (the table's key): a message's lookup reads
 * one line for the key it compares and the history it wants.
 */
struct patient {
	struct rules_history *h;
	char id[]; /* NUL-terminated */
};

struct check {
	struct rules *rules;
	enum rules_phase phase;
	struct rules_baseline baseline[RULES_NANALYTES];
	bool have_baseline;
	int64_t at;
	int tz_offset_min; /* for DTMs without a UTC offset */
	struct buf out;
	struct buf key; /* a result's correction key */
	struct buf iso; /* the last utc_iso() written, of iso_t */
	int64_t iso_t;
	struct rules_map_memo map_memo; /* the codes of the last messages */
	/* Per analyte (RULES_NANALYTES: none), the last LLN and ULN written. */
	struct json_num_memo limit_memo[RULES_NANALYTES + 1][2];
	struct hash_table patients; /* struct patient by id (lib/hash.h) */
	struct patient **order;	    /* in order of first appearance */
	size_t npatients, cap;
	char **control_ids; /* per rules_result.id: where a result came from */
	struct arena names; /* the control ids' bytes */
	/*
	 * The patients and the memory of their histories (huge pages: a
	 * screening run's histories are megabytes, read at random).
	 */
	struct arena histories;
	int status; /* 1 once a message could not be read */
	size_t nids, ids_cap;
};

static void
num_or_null(struct buf *b, double v)
{
	json_num_rounded(b, v);
}

/* A NUL-terminated copy of s[0..len), kept until check_free(). */
static char *
names_copy(struct check *c, const char *s, size_t len)
{
	char *p = arena_alloc(&c->names, len + 1);

	if (len > 0)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* The patient with this id, created on first sight. */
static struct patient *
patient_get(struct check *c, const char *id, size_t len)
{
	struct patient *p = hash_get(&c->patients, id, len);

	if (p != NULL)
		return p;
	p = arena_alloc_aligned(&c->histories, sizeof(*p) + len + 1,
	    _Alignof(struct patient));
	if (len > 0)
		memcpy(p->id, id, len);
	p->id[len] = '\0';
	/*
	 * Printed up to a NUL (an escaped \X00\ cuts it), keyed by all its
	 * bytes: a patient of its own, apart from the id it is cut to.
	 */
	p->h = rules_history_new_in(c->rules, c->phase, &c->histories);
	/* Only its line at the end (patient_line) reads the history. */
	rules_history_keep_for_eligibility(p->h, c->at);
	(void)hash_put(&c->patients, p->id, len, p);
	if (c->npatients == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->order = xreallocarray(c->order, c->cap, sizeof(*c->order));
	}
	c->order[c->npatients++] = p;
	return p;
}

static uint64_t
remember_control_id(struct check *c, struct hl7_str cid)
{
	if (c->nids == c->ids_cap) {
		c->ids_cap = c->ids_cap ? c->ids_cap * 2 : 64;
		c->control_ids = xreallocarray(c->control_ids, c->ids_cap,
		    sizeof(*c->control_ids));
	}
	c->control_ids[c->nids] = names_copy(c, cid.p, cid.len);
	return c->nids++;
}

/* A number rounded to 12 digits (null when not finite), in reserved room. */
#define NUM_FIELD(c, key, v) \
	do { \
		json_cur_lit_unchecked(c, ",\"" key "\":"); \
		json_cur_num_rounded_unchecked(c, v); \
	} while (0)

/* NUM_FIELD through a memo of the field's last number. */
#define NUM_FIELD_MEMO(c, key, m, v) \
	do { \
		json_cur_lit_unchecked(c, ",\"" key "\":"); \
		json_cur_num_rounded_memo_unchecked(c, m, v); \
	} while (0)

/* A string that may be NULL (null then), its length n, in reserved room. */
#define STRZ_FIELD(c, key, s, n) \
	do { \
		json_cur_lit_unchecked(c, ",\"" key "\":"); \
		json_cur_strz_unchecked(c, s, n); \
	} while (0)

/* A string or null (empty), in reserved room. */
#define STR_FIELD(c, key, p, n) \
	do { \
		json_cur_lit_unchecked(c, ",\"" key "\":"); \
		json_cur_str_or_null_unchecked(c, p, n); \
	} while (0)

/* strlen, 0 for NULL (json_cur_strz_unchecked writes null then). */
static inline size_t
strz_len(const char *s)
{
	return s != NULL ? strlen(s) : 0;
}

/*
 * What obs_line writes besides its strings, over-counted: the keys (about
 * 330 bytes), six numbers, the time (cli_json_dtm: at most
 * JSON_STR_ROOM(40)) and the comparator.
 */
#define OBS_LINE_FIXED_ROOM 1024

/* The strings of an observation line whose length strlen measures. */
enum {
	OBS_ANALYTE,
	OBS_UNIT,
	OBS_SOURCE,
	OBS_TERM,
	OBS_ELIG,
	OBS_PROBLEM,
	OBS_NZ
};

static void
obs_line(struct check *c, const struct oru_msg *o, const struct oru_patient *p,
    const struct oru_obs *x, const struct rules_eval *ev)
{
	const char *z[OBS_NZ] = { rules_analyte_name(ev->analyte), ev->unit,
		rules_range_source_name(ev->range_source), ev->term,
		rules_verdict_name(ev->eligibility), ev->problem };
	size_t zn[OBS_NZ], room = OBS_LINE_FIXED_ROOM, i;
	size_t value_len = x->kind == ORU_VALUE_NUMBER ? 0 : x->value_text.len;
	struct json_num_memo *lim =
	    c->limit_memo[ev->analyte >= 0 && ev->analyte < RULES_NANALYTES ?
		    ev->analyte :
		    RULES_NANALYTES];
	struct json_cur w;

	for (i = 0; i < OBS_NZ; i++) {
		zn[i] = strz_len(z[i]);
		room += json_str_resv(zn[i]);
	}
	room += json_str_resv(o->control_id.len) + json_str_resv(p->id.len) +
	    json_str_resv(x->code.len) + json_str_resv(x->status.len) +
	    json_str_resv(value_len) + json_str_resv(x->units.len);
	json_cur_start(&w, &c->out);
	json_cur_reserve(&w, room);
	json_cur_lit_unchecked(&w, "{\"control_id\":");
	json_cur_str_or_null_unchecked(&w, o->control_id.p, o->control_id.len);
	STR_FIELD(&w, "patient_id", p->id.p, p->id.len);
	STRZ_FIELD(&w, "analyte", z[OBS_ANALYTE], zn[OBS_ANALYTE]);
	STR_FIELD(&w, "code", x->code.p, x->code.len);
	STR_FIELD(&w, "status", x->status.p, x->status.len);
	json_cur_lit_unchecked(&w, ",\"value\":");
	if (x->kind == ORU_VALUE_NUMBER)
		json_cur_num_text_unchecked(&w, x->number, x->number_text.p,
		    x->number_text.len);
	else
		json_cur_str_or_null_unchecked(&w, x->value_text.p, value_len);
	STR_FIELD(&w, "comparator", x->comparator, strlen(x->comparator));
	STR_FIELD(&w, "unit", x->units.p, x->units.len);
	NUM_FIELD(&w, "canonical_value", ev->value);
	STRZ_FIELD(&w, "canonical_unit", z[OBS_UNIT], zn[OBS_UNIT]);
	NUM_FIELD_MEMO(&w, "lln", &lim[0], ev->lln);
	NUM_FIELD_MEMO(&w, "uln", &lim[1], ev->uln);
	STRZ_FIELD(&w, "range_source", z[OBS_SOURCE], zn[OBS_SOURCE]);
	NUM_FIELD(&w, "x_uln", ev->x_uln);
	json_cur_lit_unchecked(&w, ",\"grade\":");
	if (ev->grade < 0)
		json_cur_lit_unchecked(&w, "null");
	else
		json_cur_int_unchecked(&w, ev->grade);
	/* `<75` platelets: grade 2 at least, grades 3-4 not excluded. */
	json_cur_lit_unchecked(&w, ",\"grade_is_minimum\":");
	if (ev->grade >= 0 && ev->grade_is_minimum)
		json_cur_lit_unchecked(&w, "true");
	else
		json_cur_lit_unchecked(&w, "false");
	STRZ_FIELD(&w, "term", z[OBS_TERM], zn[OBS_TERM]);
	STRZ_FIELD(&w, "eligibility", z[OBS_ELIG], zn[OBS_ELIG]);
	json_cur_lit_unchecked(&w, ",\"hold\":");
	if (ev->hold)
		json_cur_lit_unchecked(&w, "true");
	else
		json_cur_lit_unchecked(&w, "false");
	STRZ_FIELD(&w, "problem", z[OBS_PROBLEM], zn[OBS_PROBLEM]);
	json_cur_lit_unchecked(&w, ",\"observed_at\":");
	cli_json_dtm(&w, &x->observed_at); /* checked, in the reservation */
	json_cur_lit_unchecked(&w, "}\n");
	json_cur_end(&w);
}

/* Corrections match on the order (OBR-3, else OBR-2) + OBX-3 + OBX-4. */
static void
check_message(struct check *c, const struct oru_msg *o)
{
	struct rules_result in;
	struct rules_eval ev;
	struct rules_update up;
	struct rules_mapping map;
	const struct oru_patient *p;
	const struct oru_obs *x;
	struct patient *pt;
	size_t klen;
	bool have_id = false;
	uint64_t id = 0;
	uint32_t i, j;

	for (i = 0; i < o->npatients; i++) {
		p = &o->patients[i];
		pt = NULL;
		for (j = 0; j < p->nobs; j++) {
			x = &o->obs[p->first_obs + j];
			/*
			 * Only our analytes are graded or enter a history, and
			 * codes naming two of them (never skipped in silence;
			 * in screening the latest of both). Looked up once,
			 * from the codes alone: the rest is read for them only.
			 */
			store_obs_codes(x, &in);
			rules_map_result_memo(c->rules, &c->map_memo, &in,
			    &map);
			if (map.analyte == RULES_NONE &&
			    map.named[0] == RULES_NONE)
				continue;
			store_obs_to_result(p, x, c->tz_offset_min, &in);
			if (c->phase == RULES_PHASE_TREATMENT) {
				rules_eval_mapped(c->rules, &in, &map,
				    c->have_baseline ? c->baseline : NULL, &ev);
				obs_line(c, o, p, x, &ev);
				continue;
			}
			if (pt == NULL)
				pt = patient_get(c, p->id.p, p->id.len);
			if (!have_id) {
				id = remember_control_id(c, o->control_id);
				have_id = true;
			}
			in.id = id;
			buf_reset(&c->key);
			klen = oru_result_key(o, x,
			    buf_reserve(&c->key, oru_result_key_size(o, x)));
			rules_history_add_for_eligibility(pt->h, c->rules,
			    c->at, &in, &map, c->key.p, klen, &up);
			obs_line(c, o, p, x, &up.ev);
		}
	}
}

static void
check_one(void *arg, const char *file, const struct hl7_split_item *it,
    struct hl7_msg *m, struct oru_msg *o, bool ok)
{
	struct check *c = arg;

	if (!ok) {
		/* labwatch parse says why; check says where. */
		fprintf(stderr, "labwatch check: %s: offset %zu: %s\n", file,
		    it->offset, it->is_error ? it->reason : m->err.reason);
		c->status = 1;
		return;
	}
	check_message(c, o);
	cli_flush(&c->out, stdout, CLI_FLUSH_BLOCK);
}

/* v (0-99) as two digits at o. */
static char *
put2(char *o, int v)
{
	o[0] = (char)('0' + v / 10);
	o[1] = (char)('0' + v % 10);
	return o + 2;
}

/* t as a quoted "2026-11-20T07:30:00Z" (strftime's form, without its cost). */
static void
utc_iso(struct buf *b, int64_t t)
{
	time_t tt = (time_t)t;
	struct hl7_dtm u;
	struct tm tm;
	char iso[32], *o = iso;

	if (hl7_dtm_from_epoch(t, &u) != 0) {
		/* years before 0 or after 9999: as strftime writes them */
		gmtime_r(&tt, &tm);
		strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_strz(b, iso);
		return;
	}
	o = put2(put2(o, u.year / 100), u.year % 100);
	*o++ = '-';
	o = put2(o, u.month);
	*o++ = '-';
	o = put2(o, u.day);
	*o++ = 'T';
	o = put2(o, u.hour);
	*o++ = ':';
	o = put2(o, u.minute);
	*o++ = ':';
	o = put2(o, u.second);
	*o++ = 'Z';
	json_str(b, iso, (size_t)(o - iso));
}

/*
 * utc_iso, written again from the last one's text when t repeats (a
 * panel's analytes share their time).
 */
static void
utc_iso_memo(struct check *c, int64_t t)
{
	if (c->iso_t != t || c->iso.len == 0) {
		buf_reset(&c->iso);
		utc_iso(&c->iso, t);
		c->iso_t = t;
	}
	buf_add(&c->out, c->iso.p, c->iso.len);
}

static void
patient_line(struct check *c, const struct patient *pt)
{
	struct rules_eligibility_result er;
	const struct rules_criterion_verdict *v;
	const struct rules_entry *e;
	struct rules_eval ev;
	struct buf *b = &c->out;
	size_t i;

	rules_eligibility(c->rules, pt->h, c->at, &er);
	buf_addc(b, '{');
	json_key(b, "patient_id", true);
	json_strz(b, pt->id);
	json_key(b, "protocol", false);
	json_strz(b, rules_protocol_name(c->rules));
	json_key(b, "eligibility", false);
	json_strz(b, rules_eligibility_name(er.status));
	json_key(b, "criteria", false);
	buf_addc(b, '[');
	for (i = 0; i < er.ncriteria; i++) {
		v = &er.criteria[i];
		e = v->rests_on;
		if (e != NULL)
			rules_entry_eval(c->rules, e, &ev);
		if (i > 0)
			buf_addc(b, ',');
		buf_addc(b, '{');
		json_key(b, "analyte", true);
		json_strz(b, rules_analyte_name(v->analyte));
		json_key(b, "criterion", false);
		json_strz(b, v->text);
		json_key(b, "verdict", false);
		json_strz(b,
		    v->verdict == RULES_VERDICT_NONE ?
			"no_result" :
			rules_verdict_name(v->verdict));
		json_key(b, "value", false);
		num_or_null(b, e ? ev.value : NAN);
		json_key(b, "unit", false);
		json_strz(b, e ? ev.unit : NULL);
		json_key(b, "uln", false);
		num_or_null(b, e ? ev.uln : NAN);
		json_key(b, "x_uln", false);
		num_or_null(b, e ? ev.x_uln : NAN);
		json_key(b, "observed_at", false);
		if (e != NULL && e->observed_at >= 0)
			utc_iso_memo(c, e->observed_at);
		else
			buf_add(b, "null", 4);
		json_key(b, "control_id", false);
		json_strz(b,
		    e && e->id < c->nids ? c->control_ids[e->id] : NULL);
		buf_addc(b, '}');
	}
	buf_add(b, "]}\n", 3);
}

/* ast=45 U/L,crea=1.1 mg/dL */
static int
parse_baseline(struct check *c, char *arg, const char **cause)
{
	char *item, *save = NULL, *eq, *end, *unit;
	enum rules_analyte a;
	double v, f;

	for (item = strtok_r(arg, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		eq = strchr(item, '=');
		if (eq == NULL) {
			*cause = "expected ANALYTE=VALUE UNIT";
			return -1;
		}
		*eq = '\0';
		a = rules_analyte_by_name(item);
		if (a == RULES_NONE) {
			*cause =
			    "unknown analyte (ast alt tbil crea anc plt hgb)";
			return -1;
		}
		errno = 0;
		v = strtod(eq + 1, &end);
		if (errno != 0 || end == eq + 1) {
			*cause = "baseline value is not a number";
			return -1;
		}
		unit = end;
		while (*unit == ' ')
			unit++;
		f = rules_unit_factor(c->rules, a, unit, strlen(unit));
		if (f == 0) {
			*cause = "baseline unit not known for that analyte";
			return -1;
		}
		c->baseline[a].known = true;
		c->baseline[a].value = v * f;
		c->baseline[a].uln = NAN;
		c->have_baseline = true;
	}
	return 0;
}

static void
check_usage(FILE *f)
{
	fprintf(f,
	    "usage: labwatch check [--phase screening|treatment] "
	    "[--baseline ANALYTE=VALUE UNIT,...]\n"
	    "                      [--protocol FILE] [--at TIME] "
	    "[--id-type TYPE] [FILE...|-]\n"
	    "  Grades the protocol analytes of HL7 files (the forms labwatch "
	    "parse reads)\n"
	    "  and prints one JSON line per observation; with --phase "
	    "screening, then one\n"
	    "  line per patient with the eligibility verdict.\n"
	    "  --phase      screening (default) or treatment\n"
	    "  --baseline   e.g. ast=45 U/L,crea=1.1 mg/dL (treatment grading)\n"
	    "  --protocol   protocol file (default %s/%s)\n"
	    "  --at         evaluation time, ISO 8601 (default now)\n",
	    LABWATCH_DATADIR, DEFAULT_PROTOCOL);
}

/* What the command line asked for, before anything is loaded. */
struct check_args {
	const char *protocol; /* NULL: the default protocol */
	const char *at;
	const char *baseline; /* NULL: none */
	struct oru_opts oopts;
};

/* Options into *a and c->phase: -1 to go on, else the exit status. */
static int
check_options(int argc, char **argv, struct check *c, struct check_args *a)
{
	static const struct option longopts[] = {
		{ "phase", required_argument, NULL, 'p' },
		{ "baseline", required_argument, NULL, 'b' },
		{ "protocol", required_argument, NULL, 'P' },
		{ "at", required_argument, NULL, 'a' },
		{ "id-type", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			if (strcmp(optarg, "screening") == 0)
				c->phase = RULES_PHASE_SCREENING;
			else if (strcmp(optarg, "treatment") == 0)
				c->phase = RULES_PHASE_TREATMENT;
			else {
				fprintf(stderr,
				    "labwatch check: --phase is "
				    "screening or treatment\n");
				return 2;
			}
			break;
		case 'b':
			a->baseline = optarg;
			break;
		case 'P':
			a->protocol = optarg;
			break;
		case 'a':
			a->at = optarg;
			break;
		case 'i':
			a->oopts.id_type = optarg;
			break;
		case 'h':
			check_usage(stdout);
			return 0;
		default:
			check_usage(stderr);
			return 2;
		}
	}
	return -1;
}

/* Load the protocol, then --at and --baseline: 0, or 2 having said why. */
static int
check_setup(struct check *c, const struct check_args *a)
{
	char *cause = NULL, defpath[4096], *copy;
	const char *env, *why = NULL;
	time_t now = time(NULL);
	struct tm tm;

	if (a->protocol == NULL) {
		env = getenv("LABWATCH_DATADIR");
		snprintf(defpath, sizeof(defpath), "%s/%s",
		    env != NULL && *env != '\0' ? env : LABWATCH_DATADIR,
		    DEFAULT_PROTOCOL);
	}
	if (rules_load(a->protocol != NULL ? a->protocol : defpath, &c->rules,
		&cause) != 0) {
		fprintf(stderr, "labwatch check: %s\n", cause);
		if (a->protocol == NULL)
			cli_datadir_hint("check", "--protocol");
		free(cause);
		return 2;
	}
	localtime_r(&now, &tm);
	c->tz_offset_min = (int)(tm.tm_gmtoff / 60);
	if (cli_parse_at(a->at, c->tz_offset_min, &c->at) != 0) {
		fprintf(stderr, "labwatch check: --at '%s' is not ISO 8601\n",
		    a->at);
		return 2;
	}
	if (a->baseline != NULL) {
		copy = xstrdup(a->baseline);
		if (parse_baseline(c, copy, &why) != 0) {
			fprintf(stderr, "labwatch check: --baseline: %s\n",
			    why);
			free(copy);
			return 2;
		}
		free(copy);
	}
	return 0;
}

/* Screening: one line per patient, in the order the files named them. */
static void
check_patient_lines(struct check *c)
{
	size_t i;

	if (c->phase != RULES_PHASE_SCREENING)
		return;
	for (i = 0; i < c->npatients; i++) {
		patient_line(c, c->order[i]);
		cli_flush(&c->out, stdout, CLI_FLUSH_BLOCK);
	}
}

static void
check_free(struct check *c)
{
	size_t i;

	for (i = 0; i < c->npatients; i++)
		rules_history_free(c->order[i]->h);
	arena_free(&c->histories); /* the patients and their histories */
	free(c->order);
	hash_free(&c->patients);
	free(c->control_ids);
	arena_free(&c->names);
	buf_free(&c->out);
	buf_free(&c->key);
	buf_free(&c->iso);
	rules_free(c->rules);
}

int
cmd_check(int argc, char **argv)
{
	struct check c;
	struct check_args a = { .at = "now" };
	int status;

	memset(&c, 0, sizeof(c));
	arena_init_huge(&c.histories);
	c.phase = RULES_PHASE_SCREENING;
	if ((status = check_options(argc, argv, &c, &a)) >= 0)
		return status;
	buf_init(&c.out);
	buf_init(&c.key);
	buf_init(&c.iso);
	if (check_setup(&c, &a) != 0) {
		check_free(&c);
		return 2;
	}
	status = cli_each_message("check", argv + optind, argc - optind, NULL,
	    &a.oopts, 8u << 20, check_one, &c);
	check_patient_lines(&c);
	cli_flush(&c.out, stdout, 0);
	if (status == 0)
		status = c.status;
	if (fflush(stdout) != 0)
		status = 2;
	check_free(&c);
	return status;
}
