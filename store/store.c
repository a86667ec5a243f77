/*
 * store.c: the writer thread, its queues and the spool around ingest.
 *
 * Why a thread and not libpq in the event loop: between the writes of a
 * batch the pipeline needs reads (duplicates, patients, enrollments,
 * histories) whose answers decide the next writes; as straight-line code
 * in one thread that is simple to get right, and the event loop never
 * waits on the database. Group commit keeps the thread busy with large
 * batches when the load is high.
 *
 * Two batches overlap (ingest.h): while batch A writes and commits in one
 * session, batch B is read, evaluated and sent in the other; B commits
 * only after A has, so batches still land in order. Each batch has its
 * own work slots (struct batch).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/xmalloc.h"
#include "rules/rules.h"
#include "store/store_int.h"

static const char *const outcome_names[STORE_NOUTCOMES] = {
	"processed",
	"duplicate",
	"ignored",
	"quarantined",
	"spooled",
	"rejected",
};

const char *
store_outcome_name(enum store_outcome o)
{
	return o < STORE_NOUTCOMES ? outcome_names[o] : "?";
}

/* The last kind is for one the table does not know (a newer schema). */
static const char *const alert_kinds[STORE_ALERT_KINDS] = { "eligibility",
	"toxicity", "hold", "resume", "data_quality", "recovery", "other" };
static const char *const alert_severities[STORE_ALERT_SEVERITIES] = { "info",
	"warning", "critical" };

/* Commits from a millisecond to 10 s; batches of 1 to batch_max's range. */
static const uint64_t commit_bounds[] = { 1000, 2500, 5000, 10000, 25000, 50000,
	100000, 250000, 500000, 1000000, 2500000, 10000000 };
static const uint64_t batch_bounds[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512,
	1024 };
const struct metric_hist_def store_commit_hist = { commit_bounds,
	sizeof(commit_bounds) / sizeof(commit_bounds[0]), 1e6 };
const struct metric_hist_def store_batch_hist = { batch_bounds,
	sizeof(batch_bounds) / sizeof(batch_bounds[0]), 1 };

size_t
store_alert_index(const char *kind, const char *severity)
{
	size_t k, v;

	for (k = 0; k + 1 < STORE_ALERT_KINDS; k++)
		if (strcmp(kind, alert_kinds[k]) == 0)
			break;
	for (v = 0; v + 1 < STORE_ALERT_SEVERITIES; v++)
		if (strcmp(severity, alert_severities[v]) == 0)
			break;
	return k * STORE_ALERT_SEVERITIES + v;
}

const char *
store_alert_kind_name(size_t i)
{
	return alert_kinds[i / STORE_ALERT_SEVERITIES % STORE_ALERT_KINDS];
}

const char *
store_alert_severity_name(size_t i)
{
	return alert_severities[i % STORE_ALERT_SEVERITIES];
}

const struct store_metrics *
store_metrics(const struct store *s)
{
	return &s->m;
}

int64_t
store_mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
store_spool_gauges(struct store *s)
{
	metric_set(&s->m.spool_records, spool_pending(s->spool));
	metric_set(&s->m.spool_bytes, spool_pending_bytes(s->spool));
}

void
store_log(struct store *s, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->cfg.log(s->cfg.log_arg, level, msg);
}

struct store_item *
store_item_new(enum store_frame_kind kind, const char *frame, size_t len,
    size_t total)
{
	struct store_item *it = xcalloc(1, sizeof(*it));

	it->kind = kind;
	it->data = xmalloc(len + 1);
	memcpy(it->data, frame, len);
	it->data[len] = '\0';
	it->len = len;
	it->total = total > len ? total : len;
	buf_init(&it->ack);
	return it;
}

void
store_item_free(struct store_item *it)
{
	if (it == NULL)
		return;
	free(it->data);
	buf_free(&it->ack);
	free(it);
}

int
store_completion_fd(const struct store *s)
{
	return s->efd;
}

struct store_item *
store_completions(struct store *s)
{
	struct store_item *list;
	uint64_t v;

	if (read(s->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return NULL;
	pthread_mutex_lock(&s->mu);
	list = s->out_head;
	s->out_head = s->out_tail = NULL;
	pthread_mutex_unlock(&s->mu);
	return list;
}

void
store_stats(struct store *s, struct store_stats *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->stats;
	pthread_mutex_unlock(&s->mu);
}

size_t
store_pending(struct store *s)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->pending;
	pthread_mutex_unlock(&s->mu);
	return n;
}

bool
store_reload_rules(struct store *s, const char *protocol_path, char **cause)
{
	struct rules *r;

	if (rules_load(protocol_path, &r, cause) != 0)
		return false;
	pthread_mutex_lock(&s->mu);
	rules_free(s->next_rules);
	s->next_rules = r;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return true;
}

/* ---- the writer ---- */

void
store_hand_back(struct store *s, struct store_item **items, size_t n)
{
	uint64_t one = 1;
	size_t i;

	if (n == 0)
		return;
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < n; i++) {
		items[i]->next = NULL;
		if (s->out_tail != NULL)
			s->out_tail->next = items[i];
		else
			s->out_head = items[i];
		s->out_tail = items[i];
		s->stats.outcomes[items[i]->outcome]++;
	}
	s->pending -= n;
	s->stats.alerts = ingest_alerts(s->g);
	s->stats.db_up = ingest_connected(s->g);
	s->stats.spooled_pending = spool_pending(s->spool);
	pthread_mutex_unlock(&s->mu);
	store_spool_gauges(s);
	if (write(s->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		store_log(s, 0, "completion wakeup: %s", strerror(errno));
}

/*
 * Finished items back to the event loop, in order: but those the limbo
 * holds, and those of a connection it holds a frame of, wait there.
 */
static void
complete(struct store *s, struct store_item **items, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (!limbo_takes(&s->limbo, items[i]))
			items[k++] = items[i];
	store_hand_back(s, items, k);
}

void
store_set_work(struct ingest_work *w, enum store_frame_kind kind,
    const char *data, size_t len, size_t total, const char *peer, int64_t at,
    const char *ref)
{
	w->kind = kind;
	w->data = data;
	w->len = len;
	w->total = total;
	w->peer = peer;
	w->received_at = at;
	w->spool_ref = ref;
	w->spooled_id = 0;
	w->settled = false;
	w->commit_unknown = false;
}

void
store_clear_refused(struct store *s)
{
	if (s->refused == NULL)
		return;
	free(s->refused);
	s->refused = NULL;
	pthread_mutex_lock(&s->mu);
	s->stats.db_refused[0] = '\0';
	pthread_mutex_unlock(&s->mu);
}

/*
 * The database went away or stopped taking writes (cause, freed here):
 * said once, not at every retry, so that an outage is two lines.
 */
void
store_db_down(struct store *s, char *cause)
{
	/* After a refusal, not being reached is news. */
	if (s->db_state != LOGGED_DOWN || s->refused != NULL) {
		store_clear_refused(s);
		store_log(s, 1,
		    "database unreachable or not taking writes: %s; "
		    "frames go to the spool until it is back",
		    cause);
		s->db_state = LOGGED_DOWN;
		s->down_since = time(NULL);
	}
	free(cause);
}

void
store_db_refused(struct store *s, char *cause)
{
	if (s->refused == NULL || strcmp(s->refused, cause) != 0) {
		store_log(s, 0,
		    "database reached but refusing labwatchd: %s; frames go "
		    "to the spool until it is fixed",
		    cause);
		free(s->refused);
		s->refused = cause;
		pthread_mutex_lock(&s->mu);
		snprintf(s->stats.db_refused, sizeof(s->stats.db_refused), "%s",
		    cause);
		pthread_mutex_unlock(&s->mu);
	} else
		free(cause);
	if (s->db_state != LOGGED_DOWN) {
		s->db_state = LOGGED_DOWN;
		s->down_since = time(NULL);
	}
}

/*
 * A write went in. After an outage, say so once, with what the spool
 * held when the first write after it started (frames, bytes).
 */
void
store_db_up(struct store *s, uint64_t frames, uint64_t bytes)
{
	if (s->db_state == LOGGED_DOWN)
		store_log(s, 2,
		    "database back after %lld s; the spool holds %llu "
		    "frames (%llu bytes)",
		    (long long)(time(NULL) - s->down_since),
		    (unsigned long long)frames, (unsigned long long)bytes);
	s->db_state = LOGGED_UP;
}

bool
store_try_connect(struct store *s)
{
	time_t now = time(NULL);
	char *cause = NULL;

	if (ingest_connected(s->g))
		return store_resolve_held(s);
	if (now - s->last_connect < RECONNECT_SECONDS)
		return false;
	s->last_connect = now;
	switch (ingest_connect(s->g, &cause)) {
	case INGEST_OK:
		break;
	case INGEST_ERROR:
		store_db_refused(s, cause);
		return false;
	default:
		store_db_down(s, cause);
		return false;
	}
	store_clear_refused(s);
	s->ask_failed = 0; /* a new session: ask at once */
	metric_add(&s->m.reconnects, 1);
	if (s->db_state == LOGGED_UNKNOWN)
		store_log(s, 2, "database connected");
	return store_resolve_held(s);
}

void
store_count_batch(struct store *s, enum ingest_rc rc)
{
	pthread_mutex_lock(&s->mu);
	s->stats.batches++;
	if (rc != INGEST_OK)
		s->stats.commits_failed++;
	pthread_mutex_unlock(&s->mu);
}

/* The ACK an item earns, once its fate is known. */
static void
finish_item(struct store *s, struct store_item *it, struct ingest_work *w,
    enum store_outcome outcome, const char *why)
{
	it->outcome = outcome;
	if (outcome == STORE_REJECTED) {
		/* Not durable: refuse, so that the sender keeps it. */
		memcpy(w->ack_code + 1, "R", 2);
		w->err_code = HL7_ERR_INTERNAL;
		w->reason = why;
	}
	it->reason = w->reason;
	buf_reset(&it->ack);
	it->send_ack = ingest_ack(s->g, w, &it->ack);
	memcpy(it->ack_code, w->ack_code, sizeof(it->ack_code));
	it->control_id[0] = '\0';
	if (w->parsed)
		snprintf(it->control_id, sizeof(it->control_id), "%.*s",
		    (int)w->oru.control_id.len, w->oru.control_id.p);
}

/* b is written (committed): hand its items back. */
static void
done(struct store *s, struct batch *b)
{
	size_t i;

	metric_observe(&s->m.commit_usec, &store_commit_hist,
	    (uint64_t)(store_mono_usec() - b->started));
	metric_observe(&s->m.batch_frames, &store_batch_hist, b->n);
	for (i = 0; i < b->n; i++)
		finish_item(s, b->items[i], &b->works[i], b->works[i].outcome,
		    b->works[i].outcome == STORE_REJECTED ?
			"the database refused the message" :
			NULL);
	complete(s, b->items, b->n);
}

/* The batch slot that is not b (either, when b is NULL). */
static struct batch *
other_batch(struct store *s, const struct batch *b)
{
	return b == &s->batches[0] ? &s->batches[1] : &s->batches[0];
}

/*
 * b cannot be written now: spool it (the ACK it earns once fsync'ed), or
 * refuse it. Works already written alone (settled) keep their outcome.
 */
static void
spool_batch(struct store *s, struct batch *b)
{
	struct store_item *it;
	size_t i, from = 0;
	enum spool_rc rc, *rcs = s->spool_rcs;
	bool synced;

	/* Every frame written, then one fdatasync for all of them. */
	for (i = 0; i < b->n; i++) {
		it = b->items[i];
		/*
		 * Its COMMIT's answer lost, its row may be there: the drain
		 * offers it with the same id, and finds it (a frame with no
		 * identity, quarantined, was stored twice).
		 */
		rcs[i] = b->works[i].settled ?
		    SPOOL_OK :
		    spool_write_row(s->spool, (uint8_t)it->kind,
			it->received_at, (uint64_t)it->total, it->peer,
			it->data, it->len,
			b->works[i].commit_unknown ? b->works[i].reserved_id :
						     0);
		if (rcs[i] == SPOOL_IO)
			store_log(s, 0, "spool write failed: %s",
			    strerror(errno));
	}
	synced = spool_sync(s->spool) == SPOOL_OK;
	if (!synced)
		store_log(s, 0, "spool sync failed: %s", strerror(errno));
	for (i = 0; i < b->n; i++) {
		it = b->items[i];
		rc = rcs[i];
		if (b->works[i].settled)
			finish_item(s, it, &b->works[i], b->works[i].outcome,
			    NULL);
		else if (rc == SPOOL_OK && synced) {
			drain_count(s, &b->works[i],
			    drain_order_kind(&b->works[i]), 1);
			finish_item(s, it, &b->works[i], STORE_SPOOLED, NULL);
		} else {
			/*
			 * Maybe stored: AR only once the database says not.
			 * The frames before it go back first: held, it would
			 * hold back an earlier frame of its connection behind
			 * it, and their ACKs would go out of order.
			 */
			if (b->works[i].commit_unknown) {
				complete(s, b->items + from, i - from);
				from = i;
				limbo_hold(&s->limbo, s->g, it, &b->works[i]);
			}
			finish_item(s, it, &b->works[i], STORE_REJECTED,
			    rc == SPOOL_FULL ?
				"spool full: resend later" :
				"cannot store the message now: resend later");
		}
	}
	complete(s, b->items + from, b->n - from);
}

/*
 * Write b with nothing in flight. While the spool holds frames, a frame
 * of a patient with frames there goes behind them in the spool (each
 * patient's results keep their order of arrival); the others go in at
 * once. One drain step follows, with the other batch's slots: a live
 * sender waits for a step, not for the whole drain.
 */
static void
write_alone(struct store *s, struct batch *b)
{
	struct batch *other = other_batch(s, b);
	size_t i, nd = 0;

	s->last_live = time(NULL);
	/* The rest of the spool fits in one step: drain it first. */
	if (spool_pending(s->spool) > 0 &&
	    spool_pending(s->spool) <= DRAIN_SHARE)
		(void)drain_some(s, other, DRAIN_SHARE);
	if (spool_pending(s->spool) == 0) {
		if (store_try_connect(s) &&
		    store_write_works(s, b->wp, b->n) == INGEST_OK) {
			done(s, b);
			return;
		}
	} else if (store_try_connect(s)) {
		/*
		 * A frame sent behind counts at once, so that a later frame
		 * of the batch sharing a patient or a key goes behind too;
		 * spool_batch() counts it for good.
		 */
		for (i = 0; i < b->n; i++) {
			s->behind[i] = drain_behind(s, b->wp[i]);
			if (!s->behind[i])
				s->direct[nd++] = b->wp[i];
			else
				drain_count(s, b->wp[i],
				    drain_order_kind(b->wp[i]), 1);
		}
		for (i = 0; i < b->n; i++)
			if (s->behind[i])
				drain_count(s, b->wp[i],
				    drain_order_kind(b->wp[i]), -1);
		if (nd > 0 && store_write_works(s, s->direct, nd) == INGEST_OK)
			for (i = 0; i < nd; i++)
				s->direct[i]->settled = true;
	}
	spool_batch(s, b);
	(void)drain_some(s, other, DRAIN_SHARE);
}

/* b finished with rc (and cause): done, retried or spooled. */
static void
settle(struct store *s, struct batch *b, enum ingest_rc rc, char *cause)
{
	store_count_batch(s, rc);
	if (rc == INGEST_OK ||
	    store_retry_works(s, b->wp, b->n, rc, cause) == INGEST_OK)
		done(s, b);
	else
		spool_batch(s, b);
}

/* Settle the batch in flight, if any. */
static void
land(struct store *s)
{
	struct batch *b = s->flight;
	char *cause = NULL;
	enum ingest_rc rc;

	if (b == NULL)
		return;
	s->flight = NULL;
	rc = ingest_finish(s->g, &cause);
	settle(s, b, rc, cause);
}

static void
process_one(struct store *s, struct batch *b)
{
	char *cause = NULL;
	size_t i;
	enum ingest_rc rc;

	for (i = 0; i < b->n; i++) {
		store_set_work(&b->works[i], b->items[i]->kind,
		    b->items[i]->data, b->items[i]->len, b->items[i]->total,
		    b->items[i]->peer, b->items[i]->received_at, NULL);
		ingest_prepare(s->g, &b->works[i]);
		b->wp[i] = &b->works[i];
	}
	/* Parsed: from here it is the database's time (and the spool's). */
	b->started = store_mono_usec();
	/*
	 * Frames of a lost COMMIT not yet asked about: nothing goes in
	 * before they are (write_alone asks; the spool meanwhile).
	 */
	if (spool_pending(s->spool) > 0 || !ingest_connected(s->g) ||
	    limbo_asking(&s->limbo)) {
		land(s);
		write_alone(s, b);
		return;
	}
	rc = ingest_send(s->g, b->wp, b->n, &cause);
	if (rc == INGEST_OK) {
		/* Sent whole, independent of the batch in flight. */
		struct batch *a = s->flight;
		char *acause = NULL, *bcause = NULL;
		enum ingest_rc arc, brc;

		s->flight = b;
		if (a == NULL ||
		    (arc = ingest_finish(s->g, &acause)) == INGEST_OK) {
			if (a != NULL)
				settle(s, a, INGEST_OK, NULL);
			return;
		}
		/*
		 * a failed and goes again; b lands after it, so that each
		 * connection's ACKs keep their order.
		 */
		s->flight = NULL;
		brc = ingest_finish(s->g, &bcause);
		settle(s, a, arc, acause);
		settle(s, b, brc, bcause);
		return;
	}
	if (rc == INGEST_BUSY)
		rc = ingest_start(s->g, b->wp, b->n, &cause);
	if (rc == INGEST_BUSY) {
		land(s);
		if (spool_pending(s->spool) > 0) {
			/* The batch in flight went to the spool: b behind it. */
			write_alone(s, b);
			return;
		}
		rc = ingest_start(s->g, b->wp, b->n, &cause);
	}
	if (rc != INGEST_OK) {
		/* Nothing of b was sent; the batch in flight lands first. */
		land(s);
		if (spool_pending(s->spool) > 0) {
			free(cause);
			write_alone(s, b);
			return;
		}
		settle(s, b, rc, cause);
		return;
	}
	if (s->flight != NULL) {
		struct batch *a = s->flight;

		s->flight = NULL;
		rc = ingest_finish(s->g, &cause);
		if (rc != INGEST_OK) {
			/* b was built on a's rows: it goes again, after a. */
			ingest_abort(s->g);
			settle(s, a, rc, cause);
			write_alone(s, b);
			return;
		}
		settle(s, a, INGEST_OK, NULL);
	}
	if ((rc = ingest_commit(s->g, &cause)) != INGEST_OK) {
		settle(s, b, rc, cause);
		return;
	}
	s->flight = b;
}

/*
 * With nothing in flight both sessions are free: the batch goes as two
 * halves side by side (each still in one transaction, landing in order),
 * so that two backends work on it. The second half is read only after the
 * first is under way, since a drain may borrow its work slots.
 */
static void
process(struct store *s, struct batch *b)
{
	struct batch *o = other_batch(s, b);
	size_t h;

	if (s->flight != NULL || b->n < SPLIT_MIN) {
		process_one(s, b);
		return;
	}
	h = b->n / 2;
	o->n = b->n - h;
	memcpy(o->items, b->items + h, o->n * sizeof(*o->items));
	b->n = h;
	process_one(s, b);
	process_one(s, o);
}

static void *
writer(void *arg)
{
	struct store *s = arg;
	struct rules *nr;
	struct timespec ts;
	struct batch *b;
	size_t n;
	bool winding;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		/*
		 * With a batch in flight, only what is already queued joins;
		 * a drain that makes progress goes on at once.
		 */
		while (s->flight == NULL && s->in_head == NULL &&
		    !store_low_due(s) && !s->stopping &&
		    s->next_rules == NULL &&
		    (s->drain_stalled || spool_pending(s->spool) == 0)) {
			clock_gettime(CLOCK_REALTIME, &ts);
			if (s->low_head != NULL)
				ts.tv_nsec += LOW_WAIT_USEC * 1000;
			else
				ts.tv_sec += RECONNECT_SECONDS;
			ts.tv_sec += ts.tv_nsec / 1000000000;
			ts.tv_nsec %= 1000000000;
			if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) ==
			    ETIMEDOUT)
				break; /* go and drain the spool */
		}
		nr = s->next_rules;
		s->next_rules = NULL;
		b = other_batch(s, s->flight); /* the free one */
		b->n = n = store_take_batch(s, b);
		winding = s->winding;
		if (n == 0 && s->stopping && s->flight == NULL) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		pthread_mutex_unlock(&s->mu);
		if (nr != NULL) {
			/* New rules, new caches: nothing may be in flight. */
			land(s);
			ingest_set_rules(s->g, nr);
			rules_free(s->rules);
			s->rules = nr;
			store_log(s, 2, "rules reloaded: %s",
			    rules_protocol_name(nr));
		}
		if (limbo_asking(&s->limbo)) {
			/* Asked before anything else is written. */
			land(s);
			/*
			 * Winding down, they wait no more: their connections
			 * would keep the daemon from stopping.
			 */
			if (!store_try_connect(s) && winding)
				store_give_up_held(s);
		}
		if (n > 0)
			process(s, b);
		else if (s->flight != NULL)
			land(s);
		else if (spool_pending(s->spool) > 0)
			/* Short steps while live frames come, long ones after. */
			(void)drain_some(s, &s->batches[0],
			    time(NULL) - s->last_live < 2 ? DRAIN_SHARE :
							    s->cfg.batch_max);
	}
	store_give_up_held(s);
	return NULL;
}

/* At start: the patients of the frames a previous run left spooled. */
/* Free everything s holds (the writer is not running). */
static void
store_destroy(struct store *s)
{
	struct batch *b;
	size_t i;
	int j;

	ingest_free(s->g);
	limbo_free(&s->limbo);
	free(s->refused);
	spool_close(s->spool);
	spool_close(s->dead);
	rules_free(s->rules);
	rules_free(s->next_rules);
	if (s->efd >= 0)
		close(s->efd);
	for (j = 0; j < 2; j++) {
		b = &s->batches[j];
		if (b->works != NULL)
			for (i = 0; i < s->cfg.batch_max; i++) {
				hl7_msg_free(&b->works[i].msg);
				oru_msg_free(&b->works[i].oru);
			}
		free(b->works);
		free(b->wp);
		free(b->items);
	}
	if (s->copies != NULL)
		for (i = 0; i < s->cfg.batch_max; i++)
			free(s->copies[i]);
	free(s->copies);
	free(s->copycap);
	free(s->spool_rcs);
	free(s->counted);
	free(s->direct);
	free(s->behind);
	pidset_free(&s->spooled);
	free((char *)s->cfg.conninfo);
	free((char *)s->cfg.protocol_path);
	free((char *)s->cfg.sql_dir);
	free((char *)s->cfg.schema_dir);
	free((char *)s->cfg.spool_path);
	free((char *)s->cfg.app);
	free((char *)s->cfg.facility);
	free((char *)s->cfg.id_type);
	free((char *)s->cfg.default_charset);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct store *
store_start(const struct store_config *cfg, bool *refused, char **cause)
{
	struct store *s = xcalloc(1, sizeof(*s));
	struct batch *b;
	char *why = NULL, *dead;
	size_t i;
	int j;

	s->cfg = *cfg;
	s->cfg.conninfo = dup_or_null(cfg->conninfo);
	s->cfg.protocol_path = dup_or_null(cfg->protocol_path);
	s->cfg.sql_dir = dup_or_null(cfg->sql_dir);
	s->cfg.schema_dir = dup_or_null(cfg->schema_dir);
	s->cfg.spool_path = dup_or_null(cfg->spool_path);
	s->cfg.app = dup_or_null(cfg->app ? cfg->app : "LABWATCH");
	s->cfg.facility = dup_or_null(cfg->facility ? cfg->facility : "");
	s->cfg.id_type = dup_or_null(cfg->id_type ? cfg->id_type : "MR");
	s->cfg.default_charset = dup_or_null(cfg->default_charset);
	if (s->cfg.batch_max == 0)
		s->cfg.batch_max = 256;
	if (s->cfg.max_observations == 0)
		s->cfg.max_observations = 10000;
	if (s->cfg.spool_max_bytes == 0)
		s->cfg.spool_max_bytes = 1ULL << 30;
	s->efd = -1;
	limbo_init(&s->limbo);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);

	if (s->cfg.log == NULL) {
		/* What the store cannot answer to a peer must reach someone. */
		why = xstrdup("the store needs a logger");
		goto fail;
	}
	if (rules_load(s->cfg.protocol_path, &s->rules, &why) != 0)
		goto fail;
	s->spool = spool_open(s->cfg.spool_path, s->cfg.spool_max_bytes, &why);
	if (s->spool == NULL)
		goto fail;
	dead = xasprintf("%s.dead", s->cfg.spool_path);
	s->dead = spool_open(dead, s->cfg.spool_max_bytes, &why);
	free(dead);
	if (s->dead == NULL)
		goto fail;
	if (spool_pending(s->dead) > 0)
		store_log(s, 1,
		    "the dead-letter file %s.dead holds %llu frames the "
		    "database refused",
		    s->cfg.spool_path,
		    (unsigned long long)spool_pending(s->dead));
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0) {
		why = xstrdup("eventfd failed");
		goto fail;
	}
	s->iopts.conninfo = s->cfg.conninfo;
	s->iopts.sql_dir = s->cfg.sql_dir;
	s->iopts.schema_dir = s->cfg.schema_dir;
	s->iopts.app = s->cfg.app;
	s->iopts.facility = s->cfg.facility;
	s->iopts.id_type = s->cfg.id_type;
	s->iopts.default_charset = s->cfg.default_charset;
	s->iopts.refuse_other_types = s->cfg.refuse_other_types;
	s->iopts.tz_offset_min = s->cfg.tz_offset_min;
	s->iopts.log = s->cfg.log;
	s->iopts.log_arg = s->cfg.log_arg;
	s->iopts.max_observations = s->cfg.max_observations;
	s->iopts.lock_timeout_ms = s->cfg.lock_timeout_ms;
	s->iopts.alert_counts = s->m.alerts;
	s->g = ingest_new(&s->iopts, s->rules);
	/* Migrations must work now; an unreachable database may come later. */
	switch (ingest_connect(s->g, &why)) {
	case INGEST_OK:
		store_log(s, 2, "database connected");
		s->db_state = LOGGED_UP;
		break;
	case INGEST_DOWN:
		store_db_down(s, why);
		why = NULL;
		break;
	default:
		if (refused != NULL)
			*refused = true;
		goto fail;
	}
	s->last_connect = time(NULL);
	for (j = 0; j < 2; j++) {
		b = &s->batches[j];
		b->works = xcalloc(s->cfg.batch_max, sizeof(*b->works));
		b->wp = xcalloc(s->cfg.batch_max, sizeof(*b->wp));
		b->items = xcalloc(s->cfg.batch_max, sizeof(*b->items));
		for (i = 0; i < s->cfg.batch_max; i++) {
			hl7_msg_init(&b->works[i].msg);
			oru_msg_init(&b->works[i].oru);
		}
	}
	s->copies = xcalloc(s->cfg.batch_max, sizeof(*s->copies));
	s->copycap = xcalloc(s->cfg.batch_max, sizeof(*s->copycap));
	s->spool_rcs = xcalloc(s->cfg.batch_max, sizeof(*s->spool_rcs));
	s->counted = xcalloc(s->cfg.batch_max, sizeof(*s->counted));
	s->direct = xcalloc(s->cfg.batch_max, sizeof(*s->direct));
	s->behind = xcalloc(s->cfg.batch_max, sizeof(*s->behind));
	drain_count_spooled(s);
	s->stats.db_up = ingest_connected(s->g);
	s->stats.spooled_pending = spool_pending(s->spool);
	store_spool_gauges(s);
	if (pthread_create(&s->thread, NULL, writer, s) != 0) {
		why = xstrdup("cannot start the writer thread");
		goto fail;
	}
	return s;
fail:
	*cause = why ? why : xstrdup("store start failed");
	store_destroy(s);
	return NULL;
}

void
store_wind_down(struct store *s)
{
	pthread_mutex_lock(&s->mu);
	s->winding = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void
store_stop(struct store *s)
{
	struct store_item *it, *next;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	for (it = s->out_head; it != NULL; it = next) {
		next = it->next;
		store_item_free(it);
	}
	s->out_head = s->out_tail = NULL;
	store_destroy(s);
}
