/*
 * triage.h: what a frame becomes before the database: parsed, checked,
 * and given the ACK it earns (AA, AE for content the sender must fix, AR
 * for what to send again later; CA, CE, CR in enhanced mode). No
 * database here: what the database refuses is decided later (store.c).
 */
#ifndef LABWATCH_TRIAGE_H
#define LABWATCH_TRIAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/buf.h"
#include "hl7/hl7.h"
#include "hl7/oru.h"
#include "store/store.h"

struct ingest_opts;

/* One frame in a batch. Reused from batch to batch (owned by the store). */
struct ingest_work {
	/* the frame */
	enum store_frame_kind kind;
	const char *data;
	size_t len;
	size_t total;
	const char *peer;
	int64_t received_at;   /* microseconds */
	const char *spool_ref; /* set when drained from the spool */
	/*
	 * Drained: the id a batch offered its row with before the COMMIT's
	 * answer was lost (spool_write_row), offered again; 0: none.
	 */
	int64_t spooled_id;

	/* what ingest_prepare() found */
	struct hl7_msg msg;
	struct oru_msg oru;
	bool parsed;	    /* msg and oru are usable */
	bool quarantine;    /* store as quarantined with reason */
	bool ignored;	    /* not ORU: stored as ignored */
	const char *reason; /* static */
	int err_code;	    /* table 0357, 0 for none */
	char ack_code[3];   /* AA, AE, AR (CA, CE, CR in enhanced mode) */

	/* what ingest_batch() did */
	enum store_outcome outcome;
	int64_t message_id;  /* 0 until inserted; -1 duplicate */
	int64_t reserved_id; /* the id its row is offered with */
	unsigned nalerts;
	/* nalerts by kind and severity (store_alert_index()) */
	uint16_t alerts_by[STORE_ALERT_KINDS * STORE_ALERT_SEVERITIES];
	bool settled; /* the store's: its fate is final (written alone) */
	/*
	 * The COMMIT of a batch holding it was sent and its answer lost
	 * with the connection: its row may or may not be there (ingest.c
	 * sets and clears it; limbo.c asks the database).
	 */
	bool commit_unknown;
};

/* Read the frame of w (no database); fills the prepare fields. */
void triage_prepare(const struct ingest_opts *o, struct ingest_work *w);
/*
 * Build w's ACK into out, its control id made from seq; false when the
 * sender asked for none. w->ack_code becomes the code the sender saw.
 */
bool triage_ack(const struct ingest_opts *o, uint64_t seq,
    struct ingest_work *w, struct buf *out);
/* What the sender is told, as stored: "AA" .. "CR", or "none". */
const char *triage_ack_stored(const struct ingest_work *w);

#endif
