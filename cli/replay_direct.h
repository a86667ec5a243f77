/*
 * replay_direct.h: where `labwatch replay --direct` puts messages: no
 * daemon, the store of labwatchd itself (store.h: its writer thread,
 * batches, rules and ACK decisions) writing into PostgreSQL. A message
 * comes back only once its batch has committed (or the store gave up on
 * it), in the order it was handed over.
 */
#ifndef LABWATCH_REPLAY_DIRECT_H
#define LABWATCH_REPLAY_DIRECT_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* What --direct needs; NULL fields take labwatchd's defaults. */
struct replay_direct_conf {
	const char *db;	    /* --db, else the config's db, else $LABWATCH_DB */
	const char *config; /* --config: labwatchd's configuration file */
	const char *protocol; /* --protocol, else the config's, else default */
	const char *id_type;  /* --id-type, else the config's */
	size_t batch_max;     /* --batch, else the config's, else 256 */
	int lock_timeout_ms;  /* backstop beside another writer */
	int log_level; /* the store's messages shown: 1 warnings, 2 info */
};

struct replay_direct;

/*
 * Check the database (reached, schema current: the messages the other
 * commands give) and start the store. NULL after saying why on stderr.
 */
struct replay_direct *replay_direct_open(const struct replay_direct_conf *c);
/* Hand a message over; seq comes back in the item's conn_gen. */
void replay_direct_submit(struct replay_direct *d, uint64_t seq,
    const char *data, size_t len);
/* Readable when messages are done. */
int replay_direct_fd(const struct replay_direct *d);
/* The done ones, in order (free each with store_item_free); or NULL. */
struct store_item *replay_direct_take(struct replay_direct *d);
/*
 * Stop the store once every message handed over has come back; tell a
 * running labwatchd to reload what it cached of the histories; remove
 * the private spool (kept, and said, when it holds dead letters).
 */
void replay_direct_close(struct replay_direct *d);

#endif
