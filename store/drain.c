/*
 * drain.c: the spool emptied into the database, in order of arrival,
 * and the count of what it holds per patient and message key, so that
 * live frames of anyone else need not wait behind it (pidset.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "store/store_int.h"

/*
 * What of a prepared w the spool keeps in order: nothing (0); its
 * message key (1: sender, facility and MSH-10, which tell a duplicate);
 * its key and its patients' results (2).
 */
uint8_t
drain_order_kind(const struct ingest_work *w)
{
	if (!w->parsed || w->quarantine)
		return 0;
	return w->ignored ? 1 : 2;
}

/* The message key of w, into buf (the pidset keeps it beside the PIDs). */
static size_t
message_key(const struct ingest_work *w, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "\x01%.*s\x1f%.*s\x1f%.*s",
	    (int)w->oru.sending_app.len, w->oru.sending_app.p,
	    (int)w->oru.sending_facility.len, w->oru.sending_facility.p,
	    (int)w->oru.control_id.len, w->oru.control_id.p);

	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* Count w in the spool (delta 1) or out of it (-1), as kind says. */
void
drain_count(struct store *s, const struct ingest_work *w, uint8_t kind,
    int delta)
{
	const struct oru_patient *p;
	char key[1024];
	size_t klen;
	uint32_t j;

	if (kind == 0)
		return;
	klen = message_key(w, key, sizeof(key));
	if (delta > 0)
		pidset_add(&s->spooled, key, klen);
	else
		pidset_remove(&s->spooled, key, klen);
	for (j = 0; kind == 2 && j < w->oru.npatients; j++) {
		p = &w->oru.patients[j];
		if (p->nobs == 0)
			continue;
		if (delta > 0)
			pidset_add(&s->spooled, p->id.p, p->id.len);
		else
			pidset_remove(&s->spooled, p->id.p, p->id.len);
	}
}

/*
 * Whether w must wait behind the spool: a frame with the same message
 * key is there (the first copy must be the one processed), or one of
 * w's patients has results there.
 */
bool
drain_behind(const struct store *s, const struct ingest_work *w)
{
	const struct oru_patient *p;
	char key[1024];
	uint8_t kind = drain_order_kind(w);
	uint32_t j;

	if (kind == 0)
		return false;
	if (pidset_has(&s->spooled, key, message_key(w, key, sizeof(key))))
		return true;
	for (j = 0; kind == 2 && j < w->oru.npatients; j++) {
		p = &w->oru.patients[j];
		if (p->nobs > 0 && pidset_has(&s->spooled, p->id.p, p->id.len))
			return true;
	}
	return false;
}

/*
 * One step of the drain: up to batch_max spooled frames into the
 * database, in order, with b's work slots. Live frames that come in
 * meanwhile go behind them in the spool (ACKed once fsync'ed), so that a
 * drain keeps the order of arrival and no live sender waits for all of
 * it (see write_alone). INGEST_OK with *more when records remain.
 */
static enum ingest_rc
drain_step(struct store *s, struct batch *b, size_t max, bool *more)
{
	struct spool_rec rec;
	size_t n, i, k, bytes;
	enum spool_rc rc;

	*more = false;
	if (spool_pending(s->spool) == 0)
		return INGEST_OK;
	spool_rewind(s->spool);
	for (n = 0, bytes = 0;
	     n < max && n < s->cfg.batch_max && bytes < BATCH_BYTES; n++) {
		rc = spool_next(s->spool, &rec);
		if (rc == SPOOL_IO) {
			store_log(s, 0, "spool unreadable: draining stops");
			return INGEST_ERROR;
		}
		if (rc == SPOOL_END)
			break;
		/* Records live until the next spool call: copy. */
		if (s->copycap[n] < rec.len + 128) {
			s->copycap[n] = rec.len + 128;
			s->copies[n] = xreallocarray(s->copies[n],
			    s->copycap[n], 1);
		}
		memcpy(s->copies[n], rec.data, rec.len);
		bytes += rec.len;
		snprintf(s->copies[n] + rec.len, 64, "%s", rec.peer);
		snprintf(s->copies[n] + rec.len + 64, 64, "%s", rec.ref);
		store_set_work(&b->works[n], (enum store_frame_kind)rec.kind,
		    s->copies[n], rec.len, rec.total, s->copies[n] + rec.len,
		    rec.received_at, s->copies[n] + rec.len + 64);
		b->works[n].spooled_id = rec.row_id;
		ingest_prepare(s->g, &b->works[n]);
		s->counted[n] = drain_order_kind(&b->works[n]);
		b->wp[n] = &b->works[n];
	}
	if (n == 0)
		return INGEST_OK;
	if (store_write_works(s, b->wp, n) != INGEST_OK) {
		/*
		 * Those written alone before it failed are in: past them,
		 * so that nothing of theirs (a dead letter, a log line) is
		 * done twice.
		 */
		for (i = 0; i < n && b->works[i].settled; i++)
			;
		spool_rewind(s->spool);
		if (i > 0) {
			/*
			 * Read again and marked, then uncounted; else left
			 * to be drained again, still counted (no loss, and
			 * the patient's later frames still wait behind).
			 */
			for (k = 0;
			     k < i && spool_next(s->spool, &rec) == SPOOL_OK;
			     k++)
				;
			if (k == i && spool_mark_drained(s->spool) == SPOOL_OK)
				for (k = 0; k < i; k++)
					drain_count(s, &b->works[k],
					    s->counted[k], -1);
			else
				store_log(s, 0,
				    "spool: cannot record the drain: %s",
				    strerror(errno));
			spool_rewind(s->spool);
		}
		return INGEST_DOWN;
	}
	if (spool_mark_drained(s->spool) != SPOOL_OK) {
		store_log(s, 0, "spool: cannot record the drain: %s",
		    strerror(errno));
		return INGEST_ERROR;
	}
	for (i = 0; i < n; i++) {
		drain_count(s, &b->works[i], s->counted[i], -1);
		/* Already ACKed: they count like live frames do. */
		if (b->works[i].outcome == STORE_QUARANTINED ||
		    b->works[i].outcome == STORE_REJECTED)
			store_log(s,
			    b->works[i].outcome == STORE_REJECTED ? 0 : 1,
			    "spooled frame from %s %s: %s", b->works[i].peer,
			    store_outcome_name(b->works[i].outcome),
			    b->works[i].reason ? b->works[i].reason : "");
		pthread_mutex_lock(&s->mu);
		s->stats.outcomes[b->works[i].outcome]++;
		s->stats.drained[b->works[i].outcome]++;
		pthread_mutex_unlock(&s->mu);
	}
	pthread_mutex_lock(&s->mu);
	s->stats.spooled_pending = spool_pending(s->spool);
	s->stats.db_up = ingest_connected(s->g);
	pthread_mutex_unlock(&s->mu);
	store_spool_gauges(s);
	metric_add(&s->m.drained, n);
	if (spool_pending(s->spool) == 0) {
		metric_add(&s->m.drains, 1);
		pidset_clear(&s->spooled);
		store_log(s, 2, "spool drained");
	}
	*more = spool_pending(s->spool) > 0;
	return INGEST_OK;
}

/*
 * One drain step of at most max frames if the database is there; notes a
 * stalled drain. True when the spool is empty after it.
 */
bool
drain_some(struct store *s, struct batch *b, size_t max)
{
	bool more = false;

	s->drain_stalled = !store_try_connect(s) ||
	    drain_step(s, b, max, &more) != INGEST_OK;
	return !s->drain_stalled && !more;
}

void
drain_count_spooled(struct store *s)
{
	struct ingest_work *w = &s->batches[0].works[0];
	struct spool_rec rec;

	spool_rewind(s->spool);
	while (spool_next(s->spool, &rec) == SPOOL_OK) {
		store_set_work(w, (enum store_frame_kind)rec.kind, rec.data,
		    rec.len, rec.total, rec.peer, rec.received_at, NULL);
		ingest_prepare(s->g, w);
		drain_count(s, w, drain_order_kind(w), 1);
	}
	spool_rewind(s->spool);
}
