/*
 * reeval.h: `labwatch reevaluate`: the stored results of each enrolled
 * patient judged again, in stored order, by the writer's own decision
 * (episode.h, hold.h, elig.h) under the rules given, and the toxicity,
 * recovery, hold, resume, eligibility and data_quality alerts that differ
 * written or retracted with the writer's statements (rows.c). Messages,
 * observations and the eligibility verdict rows stored are never touched;
 * a screening patient's latest verdict, when it differs, is appended.
 */
#ifndef LABWATCH_REEVAL_H
#define LABWATCH_REEVAL_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "rules/rules.h"

enum reeval_kind {
	REEVAL_TOXICITY = 0,
	REEVAL_RECOVERY,
	REEVAL_HOLD,	    /* a stop per the label (not the withdrawn lines) */
	REEVAL_RESUME,	    /* every restart threshold of a rule met */
	REEVAL_ELIGIBILITY, /* a screening patient's status changed */
	REEVAL_DATA_QUALITY, /* a result the rules cannot evaluate */
	REEVAL_NKINDS
};

enum reeval_change_kind {
	REEVAL_NEW,	  /* an alert the results now imply */
	REEVAL_RETRACTED, /* one they no longer support */
	REEVAL_UPDATED,	  /* the same alert, its episode ended or not */
};

/* One alert that changes (or would, with dry_run). */
struct reeval_change {
	enum reeval_change_kind change;
	enum reeval_kind kind;
	const char *pid; /* PID-3.1 */
	int64_t alert;	 /* its id; 0 for a new one in a dry run */
	int64_t observation;
	enum rules_analyte analyte; /* RULES_NONE: none (a resume) */
	int grade;		    /* -1: none (hold, resume) */
	const char *state;	    /* what it becomes */
	const char *rule;	    /* hold, resume: the rule; else NULL */
	const char *verdict;	    /* eligibility: the status; else NULL */
	int64_t message; /* eligibility: the message judged; else 0 */
};

struct reeval_opts {
	const char *patient; /* PID-3.1; NULL: every enrolled patient */
	/* Results observed in [since, until) (epoch seconds) are judged. */
	int64_t since, until;
	bool dry_run;
	const char *reason; /* the retraction's note */
	void (*on_change)(void *arg, const struct reeval_change *c);
	void *arg;
};

struct reeval_stats {
	uint64_t added[REEVAL_NKINDS], retracted[REEVAL_NKINDS];
	uint64_t unchanged[REEVAL_NKINDS], updated[REEVAL_NKINDS];
	uint64_t patients, results, messages;
	/* Patients with a correction or deletion: judged on what stands. */
	uint64_t corrected;
	/*
	 * Eligibility verdict rows appended: a screening patient's latest
	 * verdict (what `labwatch status` and the board show) as judged now.
	 */
	uint64_t verdicts;
};

/*
 * The name of a kind ("toxicity", "recovery", "hold", "resume",
 * "eligibility", "data_quality").
 */
const char *reeval_kind_name(enum reeval_kind k);

/* The sessions reevaluate reads on, besides the one it writes on. */
#define REEVAL_READERS 2

/*
 * Judge again and write the difference (none with o->dry_run) on c, one
 * transaction per batch of patients that change; rd[0..nrd) (nrd 0: c)
 * other sessions on the same database (at most REEVAL_READERS), on which
 * the next nrd batches are read, one a session, while one is judged. 0,
 * or -1 with *cause (malloc'ed, no patient data) when the database
 * failed; the batches done stay done.
 */
int reeval_run(PGconn *c, PGconn *const *rd, int nrd, const struct rules *r,
    const struct reeval_opts *o, struct reeval_stats *st, char **cause);

#endif
