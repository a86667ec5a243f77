/*
 * reeval_read.h: the reads of `labwatch reevaluate` (reeval.c) for a
 * batch of patients, one statement per kind of row, each in patient
 * order: their enrollments (the writer's sel_enroll columns), their
 * results (its sel_history columns and rows), their stored toxicity,
 * recovery, hold, resume, eligibility and data_quality alerts that are
 * not retracted, and their eligibility verdict rows; and where one
 * patient's rows are in them.
 */
#ifndef LABWATCH_REEVAL_READ_H
#define LABWATCH_REEVAL_READ_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "hl7/oru.h"
#include "store/pgarr.h"
#include "store/pgpipe.h"

/* A run of a patient's results of one message: rows [lo, hi). */
struct reeval_msg_run {
	int64_t msg;
	int lo, hi;
};

/*
 * The runs of one message in a patient's results, by message: built on
 * the first reeval_read_message_at() of a slice (a scan of every result
 * at each stored resume cost a patient its results times its resumes).
 * Owner: the caller, free(v).
 */
struct reeval_msgs {
	struct reeval_msg_run *v;
	size_t n, cap;
	bool built; /* for the slice it was last given to */
};

/* The reads of a batch: enrollments, results, alerts, verdicts. */
#define REEVAL_NREADS 4

/* Where one patient's rows are in the reads of its batch. */
struct reeval_slice {
	const PGresult *er, *hr, *ar, *vr;
	int erow;     /* its enrollment row, -1: none */
	int hlo, hhi; /* its results, in stored order (by id) */
	int alo, ahi; /* its stored alerts: by kind (descending), then id */
	struct reeval_msgs *msgs; /* the messages of hlo..hhi, once asked */
	/*
	 * Its eligibility verdict rows by id (reeval_elig.c): the message,
	 * the status, for the latest one only its criteria as compared
	 * (else NULL), the message's arrival (epoch s).
	 */
	int vlo, vhi;
};

/* Prepare the statements in session c: 0, or -1 with *cause. */
int reeval_read_prepare(PGconn *c, char **cause);
/*
 * Send the reads of the patients ids (row ids, int8) of protocol on the
 * session p (its connection outside pipeline mode) in one round trip
 * (pipeline mode, left for reeval_read_recv()): 0, or -1 with *cause
 * (replaced).
 */
int reeval_read_send(struct pgpipe *p, const char *protocol, struct pgarr *ids,
    char **cause);
/*
 * Their results (pgpipe_read()) in res[0] (enrollments), res[1]
 * (results), res[2] (alerts), res[3] (verdicts), pipeline mode left: 0,
 * or -1 with *cause (replaced).
 */
int reeval_read_recv(struct pgpipe *p, PGresult **res, char **cause);
/*
 * The rows of patient (row id) in res, the patients asked for in
 * ascending order: at[REEVAL_NREADS] the cursors, zero before the first
 * patient; msgs (emptied) serves the slice's reeval_read_message_at().
 */
void reeval_read_slice(PGresult *const *res, int64_t patient,
    int at[REEVAL_NREADS], struct reeval_msgs *msgs, struct reeval_slice *sl);
/* When the patient's result obs was observed (epoch s), -1 unknown. */
int64_t reeval_read_observed_at(const struct reeval_slice *sl, int64_t obs);

/*
 * When the latest result of message msg among the patient's was
 * observed (epoch s), -1 unknown (a resume rests on no result).
 */
int64_t reeval_read_message_at(const struct reeval_slice *sl, int64_t msg);

/*
 * What alert_text.c reads of an OBX, from the patient's result at row
 * row of sl->hr (as labwatchd stored it): OBX-3.1 and 3.4, OBX-5, OBX-6
 * and OBX-7, the rest empty; pointing into sl->hr.
 */
void reeval_read_obs(const struct reeval_slice *sl, int row, struct oru_obs *x);

/* The results of reeval_read_recv() cleared. */
void reeval_read_clear(PGresult **res);

/*
 * What a first replay of a patient's results learnt of its corrections
 * and deletions (rules_update), noted per result id: superseded by the
 * correction in row at (an index of the histories' read), retracted
 * (WD_RETRACTED: a deleted result, a D/W row), or a correction that
 * replaces another (WD_REPLACES). Sorted by reeval_ids_sort().
 */
struct reeval_wd {
	int64_t id;
	int at;
};

struct reeval_ids {
	struct reeval_wd *v;
	size_t n, cap;
};

struct rules_update;

/* What up, the add of history row row, withdrew, noted (unsorted). */
void reeval_ids_note(struct reeval_ids *s, const struct rules_update *up,
    int row);
void reeval_ids_sort(struct reeval_ids *s);
/* Whether result id was superseded or retracted (s sorted). */
bool reeval_ids_has(const struct reeval_ids *s, int64_t id);
/*
 * The history row of sl to replay at row i when only the results that
 * stand are (s sorted): i, the last correction of row i's result, or -1
 * (withdrawn for good, a D/W row, or a correction replayed in the place
 * of the result it corrects).
 */
int reeval_read_standing(const struct reeval_ids *s,
    const struct reeval_slice *sl, int i);

#endif
