/*
 * refusal.c: a batch written, and what happens when the database refuses
 * it: written again one by one; a message refused alone is quarantined
 * with the reason; one whose quarantine row is refused too goes to the
 * dead-letter file; a deadlock is tried again. See store_write_works().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hl7/hl7.h"
#include "store/store_int.h"

/* Why a message is quarantined after the database refused it (static). */
static const char *
refusal_reason(const char *sqlstate)
{
	static const struct {
		const char *class, *why;
	} reasons[] = {
		{ "22",
		    "the database refused the message: a value it holds "
		    "is not valid (data exception)" },
		{ "23",
		    "the database refused the message: it breaks a "
		    "constraint" },
		{ "54",
		    "the database refused the message: a value it holds "
		    "is too large" },
	};
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strncmp(sqlstate, reasons[i].class, 2) == 0)
			return reasons[i].why;
	return "the database refused the message";
}

/*
 * Keep w's frame in the dead-letter file (the spool's format, never
 * drained), when the database refuses even its quarantine row. It is
 * then accounted for: quarantined, AE. false when even that failed.
 */
static bool
dead_letter(struct store *s, struct ingest_work *w)
{
	enum spool_rc rc = spool_append(s->dead, (uint8_t)w->kind,
	    w->received_at, (uint64_t)w->total, w->peer, w->data, w->len);

	if (rc != SPOOL_OK) {
		store_log(s, 0, "dead-letter file %s.dead: %s",
		    s->cfg.spool_path,
		    rc == SPOOL_FULL ? "full" : strerror(errno));
		return false;
	}
	store_log(s, 0,
	    "a frame from %s was refused by the database even as "
	    "quarantined: kept in the dead-letter file %s.dead",
	    w->peer, s->cfg.spool_path);
	w->quarantine = true;
	w->reason = "the database refused the message: kept in the "
		    "dead-letter file";
	w->err_code = HL7_ERR_INTERNAL;
	w->ack_code[1] = 'E'; /* do not send it again as it is */
	w->outcome = STORE_QUARANTINED;
	pthread_mutex_lock(&s->mu);
	s->stats.dead_letters++;
	pthread_mutex_unlock(&s->mu);
	return true;
}

/* What became of a work written alone. */
enum alone {
	ALONE_DONE,  /* written, quarantined or dead-lettered: settled */
	ALONE_DOWN,  /* the database cannot be reached: nothing written */
	ALONE_STUCK, /* refused, and its quarantine row refused for a
			   reason of the database's own (permissions, disk):
			   this message, or every message? */
};

/* Whether a write alone refused with sqlstate goes again at once. */
static bool
retry_alone(const char *sqlstate)
{
	return db_transient(sqlstate) || strcmp(sqlstate, "23P01") == 0;
}

/* A write alone that went in, or found the database gone (cause freed). */
static enum alone
settled_or_down(struct store *s, enum ingest_rc rc, char *cause)
{
	if (rc == INGEST_DOWN) {
		store_db_down(s, cause);
		return ALONE_DOWN;
	}
	free(cause);
	return ALONE_DONE;
}

/*
 * w alone, after its batch was refused: written, or quarantined with the
 * reason when the database refuses it, or dead-lettered when it refuses
 * even that for what the row holds.
 */
static enum alone
write_alone_work(struct store *s, struct ingest_work *w)
{
	struct { /* what ingest_quarantine() changes */
		bool quarantine, ignored;
		const char *reason;
		int err_code;
		char ack_code[sizeof(w->ack_code)];
	} was;
	char *cause = NULL;
	char state[6];
	enum ingest_rc rc;
	int tries = 0;

	/*
	 * A deadlock, a serialization failure, a lock wait that timed out or
	 * another writer's alert of the same episode (alerts_one_open_episode;
	 * the cache is flushed) passes: try again.
	 */
	do
		rc = ingest_batch(s->g, &w, 1, &cause);
	while (rc == INGEST_ERROR && retry_alone(ingest_sqlstate(s->g)) &&
	    ++tries < 3 && (free(cause), cause = NULL, true));
	if (rc == INGEST_OK || rc == INGEST_DOWN)
		return settled_or_down(s, rc, cause);
	/*
	 * Still a lock or another writer in the way: not this message's
	 * fault. It waits (spooled) and goes again later, never quarantined.
	 */
	if (db_transient(ingest_sqlstate(s->g))) {
		store_db_down(s, cause);
		return ALONE_DOWN;
	}
	snprintf(state, sizeof(state), "%s", ingest_sqlstate(s->g));
	/* Once per outage, not per frame, when it is everyone's. */
	store_log(s, s->db_state == LOGGED_DOWN ? 3 : 1,
	    "a frame from %s was refused "
	    "by the database (%s): quarantined",
	    w->peer, cause);
	free(cause);
	cause = NULL;
	was.quarantine = w->quarantine;
	was.ignored = w->ignored;
	was.reason = w->reason;
	was.err_code = w->err_code;
	memcpy(was.ack_code, w->ack_code, sizeof(was.ack_code));
	rc = ingest_quarantine(s->g, w, refusal_reason(state), &cause);
	if (rc != INGEST_OK) {
		/* Not quarantined after all: it earns what it earned. */
		w->quarantine = was.quarantine;
		w->ignored = was.ignored;
		w->reason = was.reason;
		w->err_code = was.err_code;
		memcpy(w->ack_code, was.ack_code, sizeof(w->ack_code));
	}
	if (rc == INGEST_OK || rc == INGEST_DOWN)
		return settled_or_down(s, rc, cause);
	if (db_fault(ingest_sqlstate(s->g))) {
		store_db_down(s, cause);
		return ALONE_STUCK;
	}
	store_log(s, 0, "quarantine row refused too (%s)", cause);
	free(cause);
	if (dead_letter(s, w))
		return ALONE_DONE;
	if (w->spool_ref != NULL)
		return ALONE_DOWN; /* it stays in the spool */
	/* Not durable anywhere: AR, the sender keeps it. */
	w->outcome = STORE_REJECTED;
	return ALONE_DONE;
}

/*
 * After a batch of n works failed with rc (cause freed here): a refused
 * batch is retried one by one, and a message the database refuses alone
 * is kept as quarantined. INGEST_OK, or INGEST_DOWN when the database
 * cannot take them now: a prefix of the works is then settled (written
 * alone), the others are not committed.
 *
 * A work stuck (ALONE_STUCK) is this message's fault only if the one
 * after it goes in: then it is dead-lettered, so that one message can
 * never hold back every other; if the next is stuck too, the database
 * is at fault and everything waits in the spool.
 */
enum ingest_rc
store_retry_works(struct store *s, struct ingest_work **w, size_t n,
    enum ingest_rc rc, char *cause)
{
	size_t i;

	if (rc == INGEST_DOWN) {
		store_db_down(s, cause);
		return rc;
	}
	store_log(s, s->db_state == LOGGED_DOWN ? 3 : 2,
	    "batch of %zu refused (%s): "
	    "written one by one",
	    n, cause);
	free(cause);
	for (i = 0; i < n; i++) {
		if (w[i]->settled)
			continue;
		switch (write_alone_work(s, w[i])) {
		case ALONE_DONE:
			w[i]->settled = true;
			continue;
		case ALONE_DOWN:
			return INGEST_DOWN;
		case ALONE_STUCK:
			break;
		}
		if (i + 1 == n || write_alone_work(s, w[i + 1]) != ALONE_DONE)
			return INGEST_DOWN;
		w[i + 1]->settled = true;
		if (!dead_letter(s, w[i])) {
			if (w[i]->spool_ref != NULL)
				return INGEST_DOWN;
			w[i]->outcome = STORE_REJECTED;
		}
		w[i]->settled = true;
		i++;
	}
	return INGEST_OK;
}

/* Write n prepared works, nothing else in flight. */
enum ingest_rc
store_write_works(struct store *s, struct ingest_work **w, size_t n)
{
	uint64_t frames = spool_pending(s->spool);
	uint64_t bytes = spool_pending_bytes(s->spool);
	char *cause = NULL;
	enum ingest_rc rc;

	rc = ingest_batch(s->g, w, n, &cause);
	store_count_batch(s, rc);
	if (rc != INGEST_OK)
		rc = store_retry_works(s, w, n, rc, cause);
	if (rc == INGEST_OK)
		store_db_up(s, frames, bytes);
	return rc;
}
