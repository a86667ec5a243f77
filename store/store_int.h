/*
 * store_int.h: what the writer's files share, inside libstore only: the
 * store itself, and the functions store.c (the thread, its queues),
 * refusal.c (a batch the database refuses) and drain.c (the spool
 * emptied into the database) call in each other.
 */
#ifndef LABWATCH_STORE_INT_H
#define LABWATCH_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store/ingest.h"
#include "store/limbo.h"
#include "store/pidset.h"
#include "store/spool.h"
#include "store/store.h"

#define RECONNECT_SECONDS 1
#define SPLIT_MIN 2
/*
 * Spooled frames drained per batch of live frames that arrive during a
 * drain: a live sender waits for about this many, not the whole spool.
 */
#define DRAIN_SHARE 32
/*
 * Frame bytes per transaction: a batch's raw frames travel as one bytea
 * array, and PostgreSQL takes no message over 1 GB (256 frames of the
 * 8 MiB max_message_size would be 2 GB).
 */
#define BATCH_BYTES (64u << 20)
/*
 * How long a frame cut short waits for live frames to ride with before
 * it goes alone (intake.c take_low()).
 */
#define LOW_WAIT_USEC 250000

struct store {
	struct store_config cfg;
	struct ingest_opts iopts;
	struct rules *rules;
	struct rules *next_rules; /* from a reload, taken by the writer */
	struct ingest *g;
	struct spool *spool;

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct store_item *in_head, *in_tail;
	struct store_item *out_head, *out_tail;
	/* frames cut short (no ACK waits): behind live ones, see take_low() */
	struct store_item *low_head, *low_tail;
	size_t nlow;
	int64_t low_since; /* monotonic usec: the oldest began to wait */
	size_t pending;
	bool stopping;
	bool winding; /* store_wind_down(): held frames wait no more */
	int efd;

	struct spool *dead; /* what the database refuses even quarantined */

	struct store_stats stats;
	struct store_metrics m; /* the writer's own; read without the lock */
	time_t last_connect;
	enum {
		LOGGED_UNKNOWN,
		LOGGED_UP,
		LOGGED_DOWN
	} db_state; /* as last logged */
	time_t down_since;
	char *refused; /* why the database, reached, refuses us, as logged */
	bool drain_stalled; /* the last drain step failed: wait */
	time_t last_live;   /* live frames last met a draining spool */

	struct batch {
		struct ingest_work *works; /* batch_max reusable slots */
		struct ingest_work **wp;
		struct store_item **items;
		size_t n;
		int64_t started; /* monotonic usec, for the commit histogram */
	} batches[2];
	struct batch *flight;	     /* committing in the background */
	char **copies;		     /* drained spool records' bytes */
	enum spool_rc *spool_rcs;    /* spool_batch's, one per slot */
	uint8_t *counted;	     /* drain_step's: order_kind() */
	struct ingest_work **direct; /* write_alone's, one per slot */
	bool *behind;		     /* write_alone's: goes behind the spool */
	struct pidset spooled;	     /* patients with frames in the spool */
	struct limbo limbo; /* frames of a COMMIT whose answer was lost */
	/*
	 * When asking the database about them last failed with the
	 * connection up (0: it did not): asked again a RECONNECT_SECONDS
	 * later, not at every batch.
	 */
	time_t ask_failed;
	size_t *copycap;
};

/* Hand items back to the event loop, in order (completions). */
void store_hand_back(struct store *s, struct store_item **items, size_t n);
/*
 * limbo.c. Connected, nothing in flight: ask the database about the
 * frames of a COMMIT whose answer was lost, before anything else is
 * written, and answer them. False when it could not be asked: nothing
 * is written meanwhile (frames go to the spool, as in an outage).
 */
bool store_resolve_held(struct store *s);
/* The writer stops: a last try, then held frames keep their AR. */
void store_give_up_held(struct store *s);

/* The monotonic clock, microseconds. */
int64_t store_mono_usec(void);
/* intake.c: whether frames cut short must go now alone (s->mu held). */
bool store_low_due(const struct store *s);
/* intake.c: the next batch's frames into b, live ones first (s->mu held). */
size_t store_take_batch(struct store *s, struct batch *b);

/* Log through the store's logger (level 0 error .. 3 debug). */
void store_log(struct store *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The database went away or stopped taking writes (cause freed here). */
void store_db_down(struct store *s, char *cause);
/*
 * The database was reached but refuses us (a schema of another version,
 * statements it will not prepare): cause (freed here) said at error
 * level, again only when it changes; frames go to the spool meanwhile.
 */
void store_db_refused(struct store *s, char *cause);
/* Whatever refused us no longer does (connected, or not reached). */
void store_clear_refused(struct store *s);
/* A write went in; the spool held frames/bytes when it started. */
void store_db_up(struct store *s, uint64_t frames, uint64_t bytes);
/* Connected, or a connection tried at most once a RECONNECT_SECONDS. */
bool store_try_connect(struct store *s);
/* Point w at a frame (not copied). */
void store_set_work(struct ingest_work *w, enum store_frame_kind kind,
    const char *data, size_t len, size_t total, const char *peer, int64_t at,
    const char *ref);
/* One batch written, or failed (rc). */
void store_count_batch(struct store *s, enum ingest_rc rc);
/* The spool gauges of s->m, after the spool changed (the writer). */
void store_spool_gauges(struct store *s);

/*
 * refusal.c. After a batch of n works failed with rc (cause freed here):
 * a refused batch is retried one by one, and a message the database
 * refuses alone is kept as quarantined. INGEST_OK, or INGEST_DOWN when
 * the database cannot take them now (a prefix of them is then settled).
 */
LW_MUSTCHECK enum ingest_rc store_retry_works(struct store *s,
    struct ingest_work **w, size_t n, enum ingest_rc rc, char *cause);
/* Write n prepared works, nothing else in flight. */
LW_MUSTCHECK enum ingest_rc store_write_works(struct store *s,
    struct ingest_work **w, size_t n);

/*
 * drain.c. What of a prepared w the spool keeps in order: nothing (0);
 * its message key (1); its key and its patients' results (2).
 */
uint8_t drain_order_kind(const struct ingest_work *w);
/* Count w in the spool (delta 1) or out of it (-1), as kind says. */
void drain_count(struct store *s, const struct ingest_work *w, uint8_t kind,
    int delta);
/* Whether w must wait behind what the spool holds. */
bool drain_behind(const struct store *s, const struct ingest_work *w);
/*
 * One drain step of at most max frames with b's slots, if the database
 * is there; notes a stalled drain. True when the spool is empty after it.
 */
bool drain_some(struct store *s, struct batch *b, size_t max);
/* Count what the spool holds at start (the writer is not running). */
void drain_count_spooled(struct store *s);

#endif
