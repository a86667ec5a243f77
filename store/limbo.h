/*
 * limbo.h: frames whose COMMIT's answer was lost with the connection,
 * held unanswered until the database says whether their rows are there.
 * Internal to libstore; the writer thread's only.
 *
 * A batch's COMMIT was sent and the connection lost before its answer
 * came (ingest_work.commit_unknown): its rows may be there or not. A
 * frame the spool takes is answered at once (durable either way; the
 * drain finds a duplicate if it was stored). One the spool cannot take
 * (full, or failing) would be refused with AR although it may be stored:
 * it waits here instead, and so does every later frame of its connection
 * (ACKs go back in order). Once connected again, before anything else is
 * written, the writer asks (limbo_resolve): its row there: the ACK it
 * earned (AA, or what it was due); a row of its identity there: a
 * duplicate, AA; neither: AR, not stored. Each frame is answered once.
 */
#ifndef LABWATCH_LIMBO_H
#define LABWATCH_LIMBO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/ingest.h"
#include "store/pgarr.h"
#include "store/rows.h"

struct held;

/* The held frames, in the order they would have been answered. */
struct limbo {
	struct held *head, *tail;
	size_t asking;		      /* entries whose fate is asked */
	struct pgarr q[ROWS_ID_COLS]; /* theirs, in order (sel_stored) */
	uint64_t found, lost; /* asked: found stored, found not stored */
};

void limbo_init(struct limbo *l);
/* Free the entries and their items (the writer has stopped). */
void limbo_free(struct limbo *l);

/*
 * Hold it: its work w has an unknown commit and cannot be spooled. Call
 * before the item is given its AR (finish_item): the ACK it earns if
 * its row is there is built now, from w as the batch wrote it.
 */
void limbo_hold(struct limbo *l, struct ingest *g, struct store_item *it,
    struct ingest_work *w);
/*
 * Whether l keeps it (answered, to be handed back later): it is held,
 * or a frame of its connection is.
 */
bool limbo_takes(struct limbo *l, struct store_item *it);
/* Whether some frame's fate is still to be asked. */
bool limbo_asking(const struct limbo *l);
/*
 * Ask the database (connected, nothing in flight) which held frames are
 * stored, and settle them. INGEST_OK, or what the query came to (the
 * frames then stay held; INGEST_DOWN: the connection is gone again).
 */
LW_MUSTCHECK enum ingest_rc limbo_resolve(struct limbo *l, struct ingest *g,
    char **cause);
/*
 * Take from l, in order, the items that may be answered now (settled,
 * and nothing of their connection held before them): *out (malloc'ed,
 * the caller frees it) gets them; returns how many.
 */
size_t limbo_release(struct limbo *l, struct store_item ***out);
/*
 * The writer stops and the database could not be asked: the frames
 * still asking keep their AR (resent, a stored one is a duplicate).
 * Returns how many.
 */
size_t limbo_give_up(struct limbo *l);

#endif
