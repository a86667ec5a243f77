/*
 * reeval_int.h: what the files of `labwatch reevaluate` share (reeval.c
 * the batches, the toxicity episodes and the writes; reeval_hold.c the
 * holds and resumptions): one patient's judgement, the alerts its
 * results imply and those stored, and the helpers that queue the writes
 * of its transaction.
 */
#ifndef LABWATCH_REEVAL_INT_H
#define LABWATCH_REEVAL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "lib/buf.h"
#include "rules/rules.h"
#include "store/pcache.h"
#include "store/pgarr.h"
#include "store/pgpipe.h"
#include "store/reeval.h"
#include "store/reeval_read.h"

/* An alert the results imply. */
struct implied {
	enum reeval_kind kind;
	enum rules_alert_kind dec;
	struct rules_eval ev;	      /* hold: its result's; resume: none */
	struct rules_open_alert from; /* escalated or ended; grade -1: none */
	int64_t obs, message, observed_at;
	int64_t ended_by;     /* the observation that ended it; 0: open */
	size_t superseded_by; /* index + 1 of the alert escalating it */
	int64_t db_id;	      /* the stored alert, or the new one */
	bool in_scope, stored;
	int row; /* data_quality: its result's row in the slice (words) */
	/* hold and resume (reeval_hold.c) */
	size_t rule;	/* the protocol's hold rule */
	unsigned stops; /* the stop's number, or those answered */
	double dose_mg; /* resume: the restart dose, NAN: none */
	const struct rules_entry *because; /* hold: in the patient's history */
	size_t answered_by; /* hold: index + 1 of the resume answering it */
	bool gone;	    /* withdrawn or undone by a later message */
	bool answered;	    /* hold: its answer written before its resume */
};

/* A stored alert of the patient, not retracted. */
struct stored {
	int64_t id, obs, superseded_by, resolved_by_obs;
	enum reeval_kind kind;
	int grade;
	char state[16];
	bool system; /* resolved by labwatch, not a person */
	bool
	    goes_on; /* a person's, its episode going on (ROWS_PERSON_GOES_ON) */
	bool in_scope, used;
	/* hold and resume: details' rule, stops and restart dose */
	char rule[32];
	char verdict[16]; /* eligibility: details' status */
	unsigned stops;
	double dose_mg;
	int64_t message;
};

/*
 * An eligibility alert the results imply (reeval_elig.c), its words made
 * when judged (the history it rests on is replayed again after a
 * withdrawal).
 */
struct elig_implied {
	int64_t message, at; /* the message judged, at its time (epoch s) */
	enum rules_eligibility status;
	char *summary, *details; /* malloc'ed */
	const char *severity;
	int64_t db_id; /* the stored alert, or the new one */
	bool in_scope, stored;
};

/*
 * The latest verdict the results imply, and the latest one stored
 * (reeval_elig.c).
 */
struct elig_last {
	int64_t message, at; /* message 0: none judged */
	enum rules_eligibility status;
	struct buf criteria, digest; /* the row's JSON; what is compared */
	char stored[16];	     /* the latest row's status, "": none */
	struct buf stored_digest;
	int vat; /* the verdict row looked at next */
	int qat; /* the same, for the replay's reeval_elig_judged() */
};

struct run {
	PGconn *c; /* the writes, and the reads under the lock */
	/* Pipelines on c, and on the sessions reading ahead (or c). */
	struct pgpipe pc, prd[REEVAL_READERS];
	int nrd; /* the sessions of prd (1: c, read on it in turn) */
	struct pgpipe_error perr;
	const struct rules *r;
	const struct reeval_opts *o;
	struct reeval_stats *st;
	struct reeval_stats base; /* the counts before the patient probed */
	struct pcache p;
	int64_t db_id, start; /* the patient; results judged from start */
	struct reeval_ids wd; /* results a correction or deletion withdrew */
	/*
	 * The holds announced on results before the treatment start (a
	 * phase change: labwatchd carries them across), announced once
	 * the replay has passed result seed_obs (reeval_hold.c).
	 */
	struct pcache_hold seed[RULES_MAX_HOLD_RULES];
	int64_t seed_obs, replayed; /* replayed: the last result added */
	bool seeding;
	bool standing; /* replay only the results that stand */
	struct implied *im;
	size_t nim, capim;
	/* eligibility (reeval_elig.c); elig: enrollments' status as read */
	struct elig_implied *el;
	size_t nel, capel;
	struct elig_last last;
	char elig[16];
	struct stored *sa;
	size_t nsa;
	struct reeval_msgs msgs; /* the judged patient's (reeval_read.h) */
	const struct reeval_slice *sl; /* its rows, while written */
	struct buf sum, det;
	char *cause;
	bool in_tx; /* the batch's transaction is open, its patients locked */
	/*
	 * probe: the writes are counted (nwrites), not made nor reported,
	 * to learn whether the patient needs its locked transaction.
	 */
	bool probe;
	size_t nwrites;
	size_t nnew;	   /* new alerts the probes of the batch found */
	struct pgarr pids; /* patients, for lock_patients, bump_patients */
	struct pgarr ids;  /* patients' row ids, for the batch's reads */
	/* Alert ids taken from the sequence, not yet used: pool[ipool..]. */
	int64_t *pool;
	size_t npool, ipool;
};

/*
 * Whether results observed at at (epoch s, -1 unknown) are judged: in
 * the window and from the treatment start.
 */
bool reeval_in_scope(const struct run *u, int64_t at);
/* One more implied alert of kind, zeroed but for its kind. */
struct implied *reeval_implied_push(struct run *u, enum reeval_kind kind);
/*
 * The stored alert of implied m is updated to state now: counted and
 * told.
 */
void reeval_updated(struct run *u, const struct implied *m, const char *now);
/* One change told to the caller (not while probing). */
void reeval_report(struct run *u, enum reeval_change_kind ch,
    const struct reeval_change *c);

#endif
