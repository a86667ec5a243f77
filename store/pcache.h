/*
 * pcache.h: what the writer remembers of each patient it has written
 * for: the patient's row, enrollment, eligibility and hold state, the
 * toxicity alerts open, and the rules history of an enrolled patient,
 * loaded from the database on first use. It mirrors committed rows: the
 * ingest flushes it whenever a batch fails or someone changes an
 * enrollment. Writer thread only.
 */
#ifndef LABWATCH_PCACHE_H
#define LABWATCH_PCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "lib/hash.h"
#include "rules/rules.h"
#include "store/idpool.h"

/*
 * A hold rule as the writer last announced it (enrollments.hold_state):
 * held since when, on which observation its last hold alert rests (0: not
 * known, a state written before it was kept), its stop count and the dose
 * of its last restart (NAN: none), both kept when not held so that a
 * phase change (a later enrollments.since) resets neither.
 */
struct pcache_hold {
	bool held;
	int64_t since;
	int64_t obs;
	unsigned stops;
	double dose_mg;
};

/* What the writer remembers of a patient; mirrors committed rows. */
struct pcache {
	char *pid; /* PID-3.1; NULL: free slot */
	int64_t db_id;
	bool enrolled; /* in this protocol, not off study */
	enum rules_phase phase;
	int64_t since;
	bool have_baseline[RULES_NANALYTES];
	double baseline[RULES_NANALYTES], baseline_uln[RULES_NANALYTES];
	char elig[16]; /* last eligibility status, "" for none */
	struct pcache_hold hold[RULES_MAX_HOLD_RULES]; /* as announced */
	struct rules_history *h;		       /* NULL until loaded */
	/*
	 * The highest id of its stored results and toxicity alerts (of the
	 * protocol) when h was loaded. Those it writes after are below its
	 * pool's next id; what another writer stores makes it stale.
	 */
	int64_t last_id[IDPOOL_NPATIENT];
	struct rules_open_alert
	    *open;	   /* toxicity alerts open or acknowledged */
	int64_t *open_obs; /* the observation each rests on */
	size_t nopen, capopen;
	/*
	 * Toxicity alerts a result resolved, of the latest ended episode of
	 * each analyte (no alert of it since): reopened should that result
	 * be withdrawn. ended_obs: the observation each rests on; ended_by:
	 * the one that resolved it.
	 */
	struct rules_open_alert *ended;
	int64_t *ended_obs, *ended_by;
	size_t nended, capended;
	/*
	 * Every toxicity alert no longer open that may be again: resolved
	 * by a result (ended) or by a higher grade (escalated), its own
	 * result standing, of any episode; past_obs: that result. Read by
	 * episode_standing() after a withdrawal.
	 */
	struct rules_open_alert *past;
	int64_t *past_obs;
	size_t npast, cappast;
	bool pending; /* asked for in this batch's round trip 1 */
	uint64_t seq; /* the last batch that wrote it */
	bool fresh;   /* history being loaded in round trip 1b */
	/*
	 * patients.version as our last batch that wrote it left it; stale:
	 * another writer wrote the patient since (the bump of this batch
	 * found another number), reload before judging. touched: the batch
	 * (seq) that listed it last (ingest.c touch_patient).
	 */
	int64_t version;
	bool stale;
	uint64_t touched;
};

/*
 * The patient with this id (len bytes) in t (keyed by pid, values struct
 * pcache), created when asked (NULL when not there and not created).
 * Entries are allocated one by one: queries in flight point at them while
 * the table grows.
 */
struct pcache *pcache_get(struct hash_table *t, const char *pid, size_t len,
    bool create);
/* Forget every patient of t. */
void pcache_flush(struct hash_table *t);
/*
 * Forget what p holds of its enrollment, history and alerts (another
 * writer changed them), keeping its id, row id, version and batch marks:
 * loaded again like a patient first seen.
 */
void pcache_forget(struct pcache *p);

/*
 * The enrollment row (sel_enroll: phase, since, eligibility status, hold
 * state "name=since/obs/stops/dose,..." (since empty when not held; or
 * "name=since" as first written),
 * baseline "analyte=value/uln,..."), or none.
 */
void pcache_load_enrollment(struct pcache *p, const struct rules *r,
    const PGresult *res);
/* As pcache_load_enrollment(), from row (-1: none) of many patients'. */
void pcache_load_enrollment_row(struct pcache *p, const struct rules *r,
    const PGresult *res, int row);
/* Start the patient's history: its baselines, before its stored results. */
void pcache_history_begin(struct pcache *p, const struct rules *r);
/*
 * Row i of sel_history as a result for the rules (pointing into res);
 * its order key is column 1, its message column 14.
 */
void pcache_history_row(const PGresult *res, int i, struct rules_result *in);
/* Stored results (sel_history rows) into the history. */
void pcache_load_history(struct pcache *p, const PGresult *res);
/* The history is loaded: baselines from it when none was given. */
void pcache_history_end(struct pcache *p);
/*
 * Toxicity alerts open or acknowledged, and those of the latest ended
 * episodes (sel_open_alerts rows; a row of NULLs but the last column, the
 * highest id of the patient's toxicity alerts, when none).
 */
void pcache_load_open(struct pcache *p, const PGresult *res);
/*
 * One more open toxicity alert (id), resting on observation obs, observed
 * at observed_at (epoch seconds, -1 when unknown); minimum: its grade is
 * only a minimum (a comparator left it open).
 */
void pcache_add_open(struct pcache *p, enum rules_analyte a, int grade,
    int64_t id, int64_t obs, int64_t observed_at, bool minimum);
/* The i-th open alert is no longer open (order not kept). */
void pcache_drop_open(struct pcache *p, size_t i);
/* The i-th open alert's episode ended on observation by (order not kept). */
void pcache_end_open(struct pcache *p, size_t i, int64_t by);
/* The i-th ended alert is open again (order not kept). */
void pcache_reopen(struct pcache *p, size_t i);
/* The i-th ended alert can no longer be reopened (order not kept). */
void pcache_drop_ended(struct pcache *p, size_t i);
/* Forget the ended alerts of analyte a: a new episode began, or ended. */
void pcache_forget_ended(struct pcache *p, enum rules_analyte a);
/* Keep open[i] as a past alert (pcache.past), before it is dropped. */
void pcache_add_past(struct pcache *p, size_t i);
void pcache_drop_past(struct pcache *p, size_t i);

#endif
