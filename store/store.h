/*
 * store.h: libstore, where frames become durable rows.
 *
 * labwatchd's event loop hands every frame it receives to the store with
 * store_submit() and goes on; a writer thread parses it, evaluates the
 * rules against the patient's stored history, and writes messages,
 * observations, verdicts and alerts in one transaction per batch (group
 * commit). Only after that COMMIT (or, when PostgreSQL cannot be reached,
 * after the frame is fsync'ed into the spool) does the item come back
 * through the completion queue with the ACK to send. Items of one
 * connection come back in the order they were submitted, but for a frame
 * cut short (STORE_FRAME_ABANDONED: no ACK), which waits to ride with
 * live frames and may come back after later ones.
 *
 * The event loop watches store_completion_fd() and calls
 * store_completions() when it is readable. No libevent here.
 */
#ifndef LABWATCH_STORE_H
#define LABWATCH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/attr.h"
#include "lib/buf.h"
#include "lib/metrics.h"

/* What the frame was when it arrived. */
enum store_frame_kind {
	STORE_FRAME = 0,      /* a whole MLLP frame */
	STORE_FRAME_OVERSIZE, /* longer than max_message_size: data is its start */
	STORE_FRAME_ABANDONED, /* cut short (new 0x0B, or the peer closed) */
};

/* What became of it: each has a counter (DESIGN.md contract 2). */
enum store_outcome {
	STORE_PROCESSED = 0, /* stored and evaluated */
	STORE_DUPLICATE,     /* already stored: ACKed AA again, no new rows */
	STORE_IGNORED,	     /* not ORU: stored as ignored, AA */
	STORE_QUARANTINED,   /* refused: stored with the reason, AE/AR */
	STORE_SPOOLED,	     /* PostgreSQL down: fsync'ed to the spool, AA */
	STORE_REJECTED, /* could not be made durable (spool full): AR, not stored */
	STORE_NOUTCOMES
};

/*
 * One frame on its way to durability. The daemon allocates it with
 * store_item_new(), fills the input part and submits it; the store owns it
 * until it comes back through store_completions(), then the daemon sends
 * ack (when send_ack) and frees it with store_item_free().
 */
struct store_item {
	/* input */
	enum store_frame_kind kind;
	char *data; /* the frame (owned by the item) */
	size_t len;
	size_t total;	     /* bytes received (> len for oversize) */
	char peer[64];	     /* "203.0.113.7:51234" or "tls:CN=lis01" */
	int64_t received_at; /* microseconds since the epoch */
	void *conn;	     /* the daemon's, untouched by the store */
	uint64_t conn_gen;   /* the daemon's, untouched */

	/* output, valid when the item comes back */
	enum store_outcome outcome;
	struct buf ack;	     /* the ACK payload (not MLLP-framed) */
	bool send_ack;	     /* false when MSH-15 asked for no ACK */
	char control_id[64]; /* for logs: MSH-10, or "" */
	char ack_code[3];    /* "AA" .. "CR" as sent, when send_ack */
	const char *reason;  /* static: why quarantined/rejected, else NULL */

	struct store_item *next; /* the store's queue link */
};

struct store_config {
	const char *conninfo;	   /* libpq connection string */
	const char *protocol_path; /* rules protocol file */
	const char *sql_dir;	   /* migrations; NULL: do not migrate */
	const char *schema_dir;	   /* migrations the schema must match */
	const char *spool_path;	   /* spool file (state directory) */
	uint64_t spool_max_bytes;  /* above this: AR, never a drop */
	size_t batch_max;	   /* frames per transaction (default 256) */
	uint32_t
	    max_observations; /* OBX per message, more: AE (default 10000) */
	const char *app, *facility;  /* our MSH-3/MSH-4 in ACKs */
	const char *id_type;	     /* PID-3 CX-5 to prefer (default MR) */
	const char *default_charset; /* MSH-18 when empty */
	bool refuse_other_types;     /* non-ORU: AR 200 instead of AA ignored */
	int tz_offset_min;	     /* for DTMs without offset */
	int lock_timeout_ms; /* 0: the server's (see struct ingest_opts) */
	/*
	 * Where the store reports what it cannot answer to a peer, and
	 * PostgreSQL's notices; required (store_start refuses NULL).
	 */
	void (*log)(void *arg, int level,
	    const char *msg); /* level 0 error .. 3 debug */
	void *log_arg;
};

/* Counters, read with store_stats(). */
struct store_stats {
	/* Every frame's outcome, drained ones counted again: */
	uint64_t outcomes[STORE_NOUTCOMES];
	/* of those, frames taken from the spool (spooled before, or by a run
	 * before a crash): outcomes - drained is what this run received. */
	uint64_t drained[STORE_NOUTCOMES];
	uint64_t batches, commits_failed;
	uint64_t spooled_pending; /* frames in the spool not yet drained */
	uint64_t alerts;
	uint64_t dead_letters; /* frames kept in the dead-letter file */
	bool db_up;
	char db_refused[200]; /* why a database reached refuses us, or "" */
};

/* Kinds and severities of alerts, as the alerts table spells them. */
enum { STORE_ALERT_KINDS = 7, STORE_ALERT_SEVERITIES = 3 };

/*
 * The writer thread's metrics (lib/metrics.h): only the writer adds to
 * them, the event loop reads them at a scrape, without a lock.
 */
struct store_metrics {
	struct metric_hist commit_usec;	 /* batch sent .. its COMMIT, usec */
	struct metric_hist batch_frames; /* frames per committed batch */
	struct metric reconnects; /* sessions opened after store_start() */
	struct metric drains;	  /* times the spool was emptied */
	struct metric drained; /* frames moved from the spool to the database */
	struct metric spool_records, spool_bytes; /* gauges */
	/* alerts committed, by kind and severity (store_alert_*_name) */
	struct metric alerts[STORE_ALERT_KINDS * STORE_ALERT_SEVERITIES];
};

/* The buckets of commit_usec and batch_frames. */
extern const struct metric_hist_def store_commit_hist, store_batch_hist;

struct store;

/* A new item with data copied from frame[0..len). Never NULL. */
struct store_item *store_item_new(enum store_frame_kind kind, const char *frame,
    size_t len, size_t total);
/* Free an item (and its data and ack). */
void store_item_free(struct store_item *it);

/*
 * Start the store: load the rules, open the spool (replaying nothing yet),
 * connect (migrating when sql_dir is set) and start the writer thread. A
 * database that cannot be reached is not an error (frames go to the spool
 * and the writer keeps trying); bad rules, a bad spool or failed
 * migrations are. Returns NULL and *cause (malloc'ed) on error; then
 * *refused (when not NULL) tells a database reached that refuses us (its
 * schema, failed migrations: starting again will not help) from the rest.
 */
struct store *store_start(const struct store_config *cfg, bool *refused,
    char **cause);
/* Hand an item to the writer thread (any thread); it comes back later. */
void store_submit(struct store *s, struct store_item *it);
/* An fd that becomes readable when items are done (for the event loop). */
int store_completion_fd(const struct store *s);
/* Take the done items, in submission order, clearing the fd; NULL if none. */
struct store_item *store_completions(struct store *s);
/* Replace the rules (SIGHUP) from the next batch on; false and *cause on error. */
LW_MUSTCHECK bool store_reload_rules(struct store *s, const char *protocol_path,
    char **cause);
/* Copy the counters. */
void store_stats(struct store *s, struct store_stats *out);
/* The writer's metrics, for reading with metric_get() from any thread. */
const struct store_metrics *store_metrics(const struct store *s);
/* Items submitted and not yet completed. */
size_t store_pending(struct store *s);
/*
 * Finish what was submitted (each item completes), stop the writer and
 * free the store. Items still unclaimed in the completion queue are freed.
 */
void store_stop(struct store *s);
/*
 * The daemon is stopping (its connections wind down): frames held after
 * a COMMIT whose answer was lost wait for the database no more; one more
 * try to ask it, then they keep their AR (as store_stop() would give
 * them), so that their connections can finish.
 */
void store_wind_down(struct store *s);

/* "processed", "duplicate", ... */
const char *store_outcome_name(enum store_outcome o);
/* The index into store_metrics.alerts of an alert's kind and severity. */
size_t store_alert_index(const char *kind, const char *severity);
/* The kind ("other" for one not known) and the severity of index i. */
const char *store_alert_kind_name(size_t i);
const char *store_alert_severity_name(size_t i);

#endif
