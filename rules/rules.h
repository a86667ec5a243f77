/*
 * rules.h: librules, the clinical rules engine. It maps a lab result to one
 * of the protocol analytes, converts it to the canonical unit, reads its
 * reference range, grades it with CTCAE and judges it against the protocol
 * (exclusion criteria, imatinib hold and restart). All clinical knowledge
 * lives in data files (rules/data/); this code only applies it.
 *
 * Pure: no I/O except reading the data files in rules_load(), no logging,
 * no exit. rules_eval() neither allocates nor copies strings; it is called
 * once per OBX on the hot path.
 */
#ifndef LABWATCH_RULES_H
#define LABWATCH_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/attr.h"

/* The seven protocol analytes, in data-file order; RULES_NONE for others. */
enum rules_analyte {
	RULES_NONE = -1,
	RULES_AST = 0,
	RULES_ALT,
	RULES_TBIL,
	RULES_CREA,
	RULES_ANC,
	RULES_PLT,
	RULES_HGB,
	RULES_NANALYTES
};

enum rules_value_kind {
	RULES_VALUE_NONE = 0, /* OBX-5 empty */
	RULES_VALUE_NUMBER,   /* value (+ comparator) holds the number */
	RULES_VALUE_TEXT,     /* OBX-5 present but not a number */
};

enum rules_range_source {
	RULES_RANGE_NONE = 0,
	RULES_RANGE_OBX7,
	RULES_RANGE_DEFAULT,
};

enum rules_verdict {
	RULES_VERDICT_NONE = 0, /* no criterion, or it cannot be judged */
	RULES_VERDICT_PASS,
	RULES_VERDICT_FAIL,
};

enum rules_phase {
	RULES_PHASE_SCREENING = 0,
	RULES_PHASE_TREATMENT,
};

/*
 * One result, as plain as the caller has it. Strings are (pointer, length)
 * and need not be NUL-terminated; rules never keeps them past the call,
 * except rules_history_add(), which copies what it stores.
 */
struct rules_result {
	const char *code; /* OBX-3.1 */
	size_t code_len;
	const char *system; /* OBX-3.3 */
	size_t system_len;
	const char *alt_code; /* OBX-3.4 */
	size_t alt_code_len;
	const char *alt_system; /* OBX-3.6 */
	size_t alt_system_len;
	enum rules_value_kind kind;
	double value;	    /* when kind == RULES_VALUE_NUMBER */
	char comparator[3]; /* "", "<", ">", "<=", ">=" */
	const char *unit;   /* OBX-6 */
	size_t unit_len;
	const char *range; /* OBX-7 */
	size_t range_len;
	char status;	     /* OBX-11, '\0' when absent */
	char sex;	     /* PID-8 'M' or 'F', '\0' when other or absent */
	int64_t observed_at; /* epoch seconds, -1 when unknown */
	uint64_t id;	     /* the caller's, returned untouched */
};

/* A patient's baseline for one analyte, canonical unit. */
struct rules_baseline {
	bool known;
	double value;
	double uln; /* ULN of the baseline result; NAN: use the result's */
};

/* What rules_eval() concludes about one result. Strings are static. */
struct rules_eval {
	/* Ordered for size (96 bytes); a history packs it: rules_entry. */
	uint64_t id; /* copied from the input */
	/* RULES_NONE: not a protocol analyte, or a code_conflict */
	enum rules_analyte analyte;
	enum rules_range_source range_source;
	double value;		/* canonical; NAN when none */
	const char *comparator; /* "", "<", ">", "<=", ">=" */
	const char *unit;	/* canonical unit name, NULL for none */
	double lln, uln;	/* canonical; NAN when unknown */
	double x_uln;		/* value / ULN; NAN when unknown */
	const char *term;	/* CTCAE term graded on, NULL for none */
	const char *problem;	/* NULL, or why it cannot be evaluated */
	int grade;		/* CTCAE 0-4, -1 ungradable */
	enum rules_verdict eligibility; /* this analyte's exclusion criterion */
	bool excluded_code;    /* a do-not-map code (e.g. neutrophils %) */
	bool range_unparsed;   /* OBX-7 present but not one of its forms */
	bool grade_is_minimum; /* a higher grade cannot be ruled out */
	bool hold;	  /* certainly crosses an imatinib stop threshold */
	bool final;	  /* F or C (or U promoted): may alert */
	uint8_t conflict; /* code_conflict: 1 << a per analyte OBX-3 names */
	/* The highest grade the value may reach: grade unless a minimum. */
	int8_t grade_max;
};

/*
 * Problem codes, why a result cannot be evaluated (compare by pointer or
 * strcmp): the one list. grade.c defines each rules_problem_NAME[] as
 * "NAME"; a history's entry packs its index (entry.c).
 */
#define RULES_PROBLEMS(X) \
	X(unit_unknown) \
	X(no_reference_range) \
	X(non_numeric) \
	X(no_value) \
	X(not_final)	 /* P R S */ \
	X(not_evaluated) /* I O N X */ \
	X(retracted)	 /* D W */ \
	X(status_unknown) \
	X(code_conflict) \
	X(indeterminate) \
	X(range_unreadable)
#define RULES_PROBLEM_DECLARE(name) extern const char rules_problem_##name[];
RULES_PROBLEMS(RULES_PROBLEM_DECLARE)

/* Loaded data files: one per protocol. Owner: the caller; rules_free(). */
struct rules;

/*
 * Load a protocol file and the analyte catalog and grading table it names
 * (paths relative to the protocol file's directory). Returns 0 and *out, or
 * -1 and *cause (malloc'ed, "file:line: what is wrong"; free it).
 */
LW_MUSTCHECK int rules_load(const char *protocol_path, struct rules **out,
    char **cause);
/* Free what rules_load() returned; NULL is fine. */
void rules_free(struct rules *r);

/* "ast", "alt", ... for an analyte; NULL for RULES_NONE. */
const char *rules_analyte_name(enum rules_analyte a);
/* The analyte with this name, RULES_NONE when none. */
enum rules_analyte rules_analyte_by_name(const char *name);
/* The canonical unit of an analyte, e.g. "U/L". */
const char *rules_canonical_unit(const struct rules *r, enum rules_analyte a);
/* "obx7", "default", "none". */
const char *rules_range_source_name(enum rules_range_source s);
/* "pass", "fail", NULL. */
const char *rules_verdict_name(enum rules_verdict v);
/* The protocol's name (e.g. "NCT04933669") and grading table's name. */
const char *rules_protocol_name(const struct rules *r);
const char *rules_table_name(const struct rules *r);
/* The protocol's alert grade (grades at or above it alert). */
int rules_alert_grade(const struct rules *r);
/* The screening window in seconds. */
int64_t rules_window_seconds(const struct rules *r);

/*
 * Map a code to an analyte, as rules_eval() does: LOINC or local code in
 * OBX-3.1-3 or OBX-3.4-6; a do-not-map code in either wins (*excluded set);
 * two different analytes give RULES_NONE and *conflict set.
 */
enum rules_analyte rules_map(const struct rules *r,
    const struct rules_result *in, bool *excluded, bool *conflict);

/*
 * What a result's codes name, looked up once by rules_map_result() and
 * passed on to rules_eval_mapped() or rules_history_add_mapped(), so that
 * a caller that filters on the analyte first does not look it up twice.
 */
struct rules_mapping {
	enum rules_analyte analyte;  /* RULES_NONE: none, excluded, conflict */
	enum rules_analyte named[2]; /* a conflict's two, else RULES_NONE */
	bool excluded;		     /* a do-not-map code in either triplet */
};

/* The mapping rules_map() answers from (its conflict: named[0] set). */
void rules_map_result(const struct rules *r, const struct rules_result *in,
    struct rules_mapping *m);

/*
 * rules_map_result()'s answers kept for the codes seen last: a sender
 * names the same few codes in every message, and looking one up (trims,
 * system names, a hash and a probe, for both triplets) costs several times
 * comparing its bytes. Owner: the caller; zeroed is empty; nothing to free.
 * It knows its rules by address: zero it when they are freed (rules loaded
 * again may come back at the same address).
 */
#define RULES_MAP_MEMO_SLOTS 256
#define RULES_MAP_MEMO_BYTES 48 /* the four spans' bytes, back to back */
struct rules_map_memo {
	const struct rules *r; /* the rules the answers are of */
	struct rules_map_memo_slot {
		uint8_t len[4]; /* code, system, alt_code, alt_system */
		bool used;
		struct rules_mapping m;
		char bytes[RULES_MAP_MEMO_BYTES];
	} slot[RULES_MAP_MEMO_SLOTS];
};

/* rules_map_result(), answered from memo when it holds these four spans. */
void rules_map_result_memo(const struct rules *r, struct rules_map_memo *memo,
    const struct rules_result *in, struct rules_mapping *m);

/*
 * The factor that converts a value in unit (len bytes, trimmed) of analyte
 * a to the canonical unit; 0 when the unit is not in the catalog.
 */
double rules_unit_factor(const struct rules *r, enum rules_analyte a,
    const char *unit, size_t len);

/* What an OBX-7 says. */
enum rules_obx7 {
	RULES_OBX7_EMPTY = 0,  /* nothing: the protocol's default may apply */
	RULES_OBX7_READ,       /* *lln and *uln (NAN for a side not given) */
	RULES_OBX7_UNREADABLE, /* sent but not read: never a default */
};

/*
 * Read in->range, OBX-7 of analyte a, in the OBX-6 unit (not converted):
 * "a-b" (hyphen, en or em dash, minus), "a to b", "<b", "<=b", "≤b", ">a",
 * ">=a", "≥a", in parentheses or not, followed or not by OBX-6's unit or a
 * catalog spelling of it; "M a-b; F c-d" or "M:a-b F:c-d" by in->sex.
 */
LW_MUSTCHECK enum rules_obx7 rules_read_range(const struct rules *r,
    enum rules_analyte a, const struct rules_result *in, double *lln,
    double *uln);

/*
 * Evaluate one result: mapping, units, range, grade, criterion, hold.
 * baseline is an array of RULES_NANALYTES or NULL (no baseline known).
 * Never allocates; out is fully written.
 */
void rules_eval(const struct rules *r, const struct rules_result *in,
    const struct rules_baseline *baseline, struct rules_eval *out);
/* rules_eval() of a result m maps (rules_map_result() with the same r). */
void rules_eval_mapped(const struct rules *r, const struct rules_result *in,
    const struct rules_mapping *m, const struct rules_baseline *baseline,
    struct rules_eval *out);

/* ---- alerts: pure decisions over what is already open ---- */

enum rules_alert_kind {
	RULES_ALERT_NONE = 0,
	RULES_ALERT_TOXICITY, /* new open alert at ev->grade */
	RULES_ALERT_ESCALATE, /* higher grade than the open one it replaces */
	RULES_ALERT_DATA_QUALITY, /* a protocol analyte we cannot evaluate */
	RULES_ALERT_RECOVERED, /* final, below the alert grade: ends an episode */
	RULES_ALERT_POSSIBLE, /* a minimum below the alert grade that may
				 reach it: a warning opens an episode */
};

/* An open toxicity alert of one patient. */
struct rules_open_alert {
	enum rules_analyte analyte;
	int grade;
	uint64_t id;	     /* the caller's alert id */
	int64_t observed_at; /* of the result it rests on, -1 when unknown */
	bool minimum;	     /* its grade is a minimum (grade_is_minimum) */
};

struct rules_alert_decision {
	enum rules_alert_kind kind;
	enum rules_analyte analyte;
	int grade;	 /* RECOVERED: the grade the value came back to */
	size_t replaces; /* ESCALATE: index in open[] it supersedes;
			    RECOVERED: the one whose episode it ends */
};

/*
 * Decide what a treatment-phase result adds to the patient's open alerts
 * (open or acknowledged; one episode per analyte): nothing, a new toxicity
 * alert (final, grade >= the alert grade, none open for its analyte), a
 * possible one (a minimum grade below the alert grade whose grade_max
 * reaches it, none open for its analyte: opened at the minimum grade), an
 * escalation of the highest open one below, the end of the episode (final,
 * grade known to be below the alert grade, observed (observed_at, -1 when
 * unknown: never) no earlier than the result the highest open alert of its
 * analyte rests on, whose time is known: RECOVERED names that alert), or a
 * data-quality alert. Pure.
 */
void rules_alert_decide(const struct rules *r, const struct rules_eval *ev,
    int64_t observed_at, const struct rules_open_alert *open, size_t nopen,
    struct rules_alert_decision *out);

/*
 * True when ev's problem must not pass in silence (code_conflict,
 * status_unknown) and rules_alert_decide() over the same open alerts
 * decides nothing for it, or when that decision is RECOVERED and ev has
 * a problem all the same (a recovery line does not say it): the caller
 * raises a data-quality alert for a protocol patient. Pure; ask with the
 * open alerts as they were before the decision was applied.
 */
bool rules_alert_silent_problem(const struct rules *r,
    const struct rules_eval *ev, int64_t observed_at,
    const struct rules_open_alert *open, size_t nopen);

/* ---- per patient history ---- */

/* A patient's results so far. Owner: the caller; rules_history_free(). */
struct rules_history;
struct arena; /* lib/arena.h */

/*
 * One stored result, packed (64 bytes; a history keeps one per result
 * until it is freed, and over thousands of patients the memory they
 * take is what a screening run spends). Read-only for callers: the
 * numbers and flags are the result's struct rules_eval's, its strings
 * (unit, comparator, term, problem) are kept as indexes, and
 * rules_entry_eval() makes the whole struct rules_eval again.
 */
struct rules_entry {
	uint64_t id;	     /* ev.id */
	double value;	     /* ev.value: canonical, NAN when none */
	double lln, uln;     /* ev.lln, ev.uln */
	int64_t observed_at; /* as the result gave it, -1 when unknown */
	const char *key;     /* order + code + sub-id, as the caller passed */
	size_t key_len;
	int8_t analyte; /* ev.analyte (enum rules_analyte) */
	int8_t grade;	/* ev.grade */
	int8_t grade_max;
	char status;		  /* current: U promotes P/R/S to 'F' */
	unsigned final : 1;	  /* ev.final (a U sets it when it promotes) */
	unsigned superseded : 1;  /* by a later C with the same key */
	unsigned retracted : 1;	  /* by a later D or W with the same key */
	unsigned eligibility : 2; /* ev.eligibility (enum rules_verdict) */
	unsigned conflict : 7;	  /* ev.conflict */
	/* The rest: only through rules_entry_eval(). */
	unsigned hold : 1;
	unsigned excluded_code : 1;
	unsigned range_unparsed : 1;
	unsigned grade_is_minimum : 1;
	unsigned range_source : 2;
	unsigned comparator : 3; /* "", "<", ">", "<=", ">=" */
	unsigned problem : 4;	 /* 0: none, else rules_problem_* + 1 */
	unsigned term : 6;	 /* 0: none, else the grading table's + 1 */
};

/*
 * The evaluation e was stored from (r: the rules of its history), as
 * rules_eval() wrote it, but for what the history changed since (a U
 * promoting it: final, and no not_final problem).
 */
void rules_entry_eval(const struct rules *r, const struct rules_entry *e,
    struct rules_eval *out);

/* What one rules_history_add() changed. Arrays are valid until the next add. */
struct rules_update {
	/* The result just added; NULL when not kept (keep_for_eligibility). */
	const struct rules_entry *entry;
	struct rules_eval ev;	    /* and its evaluation */
	const uint64_t *superseded; /* ids whose alerts a C replaces */
	size_t nsuperseded;
	const uint64_t *retracted; /* ids whose alerts/verdicts D/W retract */
	size_t nretracted;
	const uint64_t *promoted; /* ids a U made final: re-decide alerts */
	size_t npromoted;
};

struct rules_history *rules_history_new(const struct rules *r,
    enum rules_phase phase);
/*
 * rules_history_new, but what grows with the results (the history, its
 * entries, their keys) is taken from a, which its owner frees after
 * rules_history_free() of every history made in it (that frees the rest).
 * For many histories that live as long as one another (labwatch check).
 */
struct rules_history *rules_history_new_in(const struct rules *r,
    enum rules_phase phase, struct arena *a);
void rules_history_free(struct rules_history *h);
void rules_history_set_phase(struct rules_history *h, enum rules_phase phase);
enum rules_phase rules_history_phase(const struct rules_history *h);
/* Set a baseline (canonical value; uln NAN when unknown) for later adds. */
void rules_history_set_baseline(struct rules_history *h, enum rules_analyte a,
    double value, double uln);
/*
 * Baselines from the stored results: per analyte the last final result
 * observed before t (treatment start). Returns how many were set.
 */
int rules_history_baseline_from(struct rules_history *h, int64_t t);
/* The baselines, an array of RULES_NANALYTES. */
const struct rules_baseline *rules_history_baselines(
    const struct rules_history *h);

/*
 * Evaluate in and store it under key (copied). C supersedes earlier entries
 * with the same key, D/W retract them, U promotes them to final. Fills *up.
 */
void rules_history_add(struct rules_history *h, const struct rules_result *in,
    const char *key, size_t key_len, struct rules_update *up);
/*
 * Keep from now on only the entries rules_eligibility() at now (with the
 * history's rules) may yet rest on, and those a later U may promote (a
 * U's own entry depends on them): what labwatch check's screening asks of
 * a history. Results outside the screening window, of no criterion's
 * analyte, of a status that never counts, or retracted, are evaluated
 * (rules_update.ev) but not stored, and rules_update.entry is NULL for
 * them. Eligibility at now is the same as with every entry kept; anything
 * else asked of such a history (latest, baselines, holds, alert
 * decisions on its entries) is not, and an update's superseded, retracted
 * and promoted ids leave out the entries dropped (a writer retracting
 * alerts by them needs a history that keeps everything). Eligibility at
 * another time aborts with a message.
 */
void rules_history_keep_for_eligibility(struct rules_history *h, int64_t now);
/*
 * rules_history_add_mapped() to h, a history kept for eligibility at now
 * with rules r (rules_history_keep_for_eligibility(), no baselines), that
 * reads h only for a result it may keep or that may change an earlier
 * entry: a result the history would drop is evaluated and handed back
 * (entry NULL, no ids) without touching it; its memory is not waited for.
 */
void rules_history_add_for_eligibility(struct rules_history *h,
    const struct rules *r, int64_t now, const struct rules_result *in,
    const struct rules_mapping *m, const char *key, size_t key_len,
    struct rules_update *up);
/* rules_history_add() of a result m maps (with the history's rules). */
void rules_history_add_mapped(struct rules_history *h,
    const struct rules_result *in, const struct rules_mapping *m,
    const char *key, size_t key_len, struct rules_update *up);
size_t rules_history_count(const struct rules_history *h);
const struct rules_entry *rules_history_entry(const struct rules_history *h,
    size_t i);
/*
 * The latest usable final result (F/C/promoted, not superseded or retracted,
 * numeric, known time <= at) of an analyte, NULL when none.
 */
const struct rules_entry *rules_history_latest(const struct rules_history *h,
    enum rules_analyte a, int64_t at);
/*
 * The usable final results of analyte a (as rules_history_latest() takes
 * them) observed at or after from, in time order, ties in the order they
 * were added, into out. Returns how many there are: more than cap, and
 * out is not all of them (call again with room for that many).
 */
size_t rules_history_since(const struct rules_history *h, enum rules_analyte a,
    int64_t from, const struct rules_entry **out, size_t cap);

enum rules_eligibility {
	RULES_ELIGIBLE = 0,
	RULES_INELIGIBLE,
	RULES_INCOMPLETE,
};

/* One exclusion criterion's verdict. */
struct rules_criterion_verdict {
	enum rules_analyte analyte;
	const char *text; /* the criterion as written in the protocol */
	enum rules_verdict verdict; /* NONE: no usable result in the window */
	const struct rules_entry *rests_on; /* NULL when none */
};

#define RULES_MAX_CRITERIA 16

struct rules_eligibility_result {
	enum rules_eligibility status;
	size_t ncriteria;
	struct rules_criterion_verdict criteria[RULES_MAX_CRITERIA];
};

/*
 * Screening eligibility at time now: each criterion on the most recent F or
 * C result of its analyte observed in [now - window, now], a code_conflict
 * naming the analyte included; when that one cannot be evaluated, the
 * criterion has no verdict (never an older result's). Any fail ->
 * ineligible, else any without verdict -> incomplete, else eligible.
 */
void rules_eligibility(const struct rules *r, const struct rules_history *h,
    int64_t now, struct rules_eligibility_result *out);
/* "eligible", "ineligible", "incomplete". */
const char *rules_eligibility_name(enum rules_eligibility e);

/* ---- imatinib hold / restart ---- */

#define RULES_MAX_HOLD_RULES 8

/* Per hold rule of the protocol: is the patient held, since when. */
struct rules_hold_state {
	bool held;
	int64_t since;
};

enum rules_hold_kind {
	RULES_HOLD_STOP,
	RULES_HOLD_RESUME,
};

struct rules_hold_event {
	enum rules_hold_kind kind;
	size_t rule;	       /* index of the protocol's hold rule */
	const char *rule_name; /* e.g. "hepatotoxicity" */
	const struct rules_entry *because; /* STOP: the result that crossed */
};

/* Number of hold rules in the protocol. */
size_t rules_hold_count(const struct rules *r);
/* Name of hold rule i. */
const char *rules_hold_name(const struct rules *r, size_t i);

/*
 * The daily dose in mg the label gives to restart rule i after its
 * stops-th stop (restart_dose for the first, recurrence_restart_dose for
 * the second and later when given); NAN when the protocol gives none.
 */
double rules_hold_restart_dose(const struct rules *r, size_t i, unsigned stops);

/* One hold rule as the standing results make it (rules_hold_derive()). */
struct rules_hold_derived {
	bool held;
	int64_t since; /* held: observed time of the result it rests on */
	const struct rules_entry *because; /* held: the result that crossed */
	unsigned stops;			   /* stops since the treatment start */
	int64_t resumed_at; /* time of the last resume, -1 for none */
};

/*
 * The hold state made again from the results that stand: the usable final
 * results (as rules_history_latest()) observed at or after start (the
 * treatment start; earlier ones never stop imatinib) and no later than
 * now are replayed in (observed time, arrival) order, and the stop /
 * restart rows of rules_hold_step() are stepped at each new time over the
 * latest result of each analyte so far. out[] has rules_hold_count()
 * entries. Screening: nothing held. O(n log n); allocates a scratch array
 * of n indices and frees it (out of memory is fatal).
 */
void rules_hold_derive(const struct rules *r, const struct rules_history *h,
    int64_t start, int64_t now, struct rules_hold_derived *out);
/*
 * As rules_hold_derive(), each rule i with held[i].held already held from
 * held[i].since at the start (first stop, no result it rests on): it
 * resumes only on a restart row re-measured after that time.
 */
void rules_hold_derive_held(const struct rules *r,
    const struct rules_history *h, int64_t start, int64_t now,
    const struct rules_hold_state *held, struct rules_hold_derived *out);
/*
 * rules_hold_derive_held() (held NULL or holding nothing:
 * rules_hold_derive()) with the same result, carried forward: h keeps the
 * state after the last step of its last derivation (one without held
 * rules, one with), and a call with the same r, start, now and held
 * whose history has only grown since, by entries that are not usable or
 * observed strictly after that step, steps those only. Anything else (a
 * result at or before that time, a correction, deletion or promotion of
 * an earlier entry, the phase or a baseline set, other arguments)
 * derives again from the first entry. O(new entries) a call while the
 * results come in time order, instead of O(n log n).
 */
void rules_hold_derive_incr(const struct rules *r, struct rules_history *h,
    int64_t start, int64_t now, const struct rules_hold_state *held,
    struct rules_hold_derived *out);
/*
 * How many rules_hold_derive_incr() calls on h were carried forward
 * (*carried) and derived from the first entry (*full): for tests and
 * measurements.
 */
void rules_hold_incr_counts(const struct rules_history *h, uint64_t *carried,
    uint64_t *full);

/*
 * The dose in mg to restart rule i at, after its stops-th stop, from the
 * derived state of every rule (dv, rules_hold_count() entries): the
 * label's rules_hold_restart_dose(), never above the restart dose of
 * another rule that resumed no later than rule i (the label resumes "at
 * the previous dose, i.e. the dose before the adverse reaction": after a
 * hepatotoxicity restart at 300 mg that is 300, not 400). NAN for none.
 */
double rules_hold_resume_dose(const struct rules *r, size_t i, unsigned stops,
    const struct rules_hold_derived *dv);

/*
 * What hold rule i needs to restart, for people, into out (cap bytes,
 * always terminated): "tbil < 1.5 x ULN, ast < 2.5 x ULN, ..." with the
 * canonical unit of an absolute threshold ("anc >= 1.5 10^9/L").
 */
void rules_hold_restart_text(const struct rules *r, size_t i, char *out,
    size_t cap);

/*
 * Step the hold rules at time now over the latest results: a rule not held
 * whose latest result of any of its analytes crosses a stop threshold stops;
 * a held rule resumes only when the latest results of every analyte in its
 * restart row, each observed strictly after the hold began, meet the restart
 * threshold. state[] (rules_hold_count() entries) is updated; the events
 * (at most cap) are returned, their count as the result.
 */
size_t rules_hold_step(const struct rules *r, const struct rules_history *h,
    int64_t now, struct rules_hold_state *state, struct rules_hold_event *ev,
    size_t cap);

#endif
