/*
 * store.c: the writer thread, its queues and the spool around ingest.
 *
 * Why a thread and not libpq in the event loop: between the writes of a
 * batch the pipeline needs reads (duplicates, patients, enrollments,
 * histories) whose answers decide the next writes; as straight-line code
 * in one thread that is simple to get right, and the event loop never
 * waits on the database. Group commit keeps the thread busy with large
 * batches when the load is high.
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "hl7/xmalloc.h"
#include "ingest.h"
#include "rules/rules.h"
#include "spool.h"

#define RECONNECT_SECONDS 1

struct store {
	struct store_config cfg;
	struct ingest_opts iopts;
	struct rules *rules;
	struct rules *next_rules;	/* from a reload, taken by the writer */
	struct ingest *g;
	struct spool *spool;

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct store_item *in_head, *in_tail;
	struct store_item *out_head, *out_tail;
	size_t pending;
	bool stopping;
	int efd;

	struct store_stats stats;
	time_t last_connect;

	struct ingest_work *works;	/* batch_max reusable slots */
	struct ingest_work **wp;
	struct store_item **items;
	char **copies;			/* drained spool records' bytes */
	size_t *copycap;
};

static const char *const outcome_names[STORE_NOUTCOMES] = {
	"processed", "duplicate", "ignored", "quarantined", "spooled",
	"rejected",
};

const char *
store_outcome_name(enum store_outcome o)
{
	return o < STORE_NOUTCOMES ? outcome_names[o] : "?";
}

static void slog(struct store *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
slog(struct store *s, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (s->cfg.log == NULL)
		return;
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
	hl7_buf_init(&it->ack);
	return it;
}

void
store_item_free(struct store_item *it)
{
	if (it == NULL)
		return;
	free(it->data);
	hl7_buf_free(&it->ack);
	free(it);
}

void
store_submit(struct store *s, struct store_item *it)
{
	it->next = NULL;
	pthread_mutex_lock(&s->mu);
	if (s->in_tail != NULL)
		s->in_tail->next = it;
	else
		s->in_head = it;
	s->in_tail = it;
	s->pending++;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
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

int
store_reload_rules(struct store *s, const char *protocol_path, char **cause)
{
	struct rules *r;

	if (rules_load(protocol_path, &r, cause) != 0)
		return -1;
	pthread_mutex_lock(&s->mu);
	rules_free(s->next_rules);
	s->next_rules = r;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* ---- the writer ---- */

/* Hand finished items back to the event loop, in order. */
static void
complete(struct store *s, struct store_item **items, size_t n)
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
	if (write(s->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		slog(s, 0, "completion wakeup: %s", strerror(errno));
}

static void
set_work(struct ingest_work *w, enum store_frame_kind kind, const char *data,
    size_t len, size_t total, const char *peer, int64_t at, const char *ref)
{
	w->kind = kind;
	w->data = data;
	w->len = len;
	w->total = total;
	w->peer = peer;
	w->received_at = at;
	w->spool_ref = ref;
}

static bool
try_connect(struct store *s)
{
	time_t now = time(NULL);
	char *cause = NULL;

	if (ingest_connected(s->g))
		return true;
	if (now - s->last_connect < RECONNECT_SECONDS)
		return false;
	s->last_connect = now;
	if (ingest_connect(s->g, &cause) != 0) {
		slog(s, 1, "database unreachable: %s", cause);
		free(cause);
		return false;
	}
	slog(s, 2, "database connected");
	return true;
}

/*
 * Write n prepared works. A refused batch is retried one by one, and a
 * message the database refuses alone is kept as quarantined. Returns 0,
 * or -1 when the connection failed (nothing of this call committed).
 */
static int
write_works(struct store *s, struct ingest_work **w, size_t n)
{
	char *cause = NULL;
	size_t i;
	int rc;

	rc = ingest_batch(s->g, w, n, &cause);
	pthread_mutex_lock(&s->mu);
	s->stats.batches++;
	if (rc != 0)
		s->stats.commits_failed++;
	pthread_mutex_unlock(&s->mu);
	if (rc == 0)
		return 0;
	slog(s, rc == -1 ? 1 : 0, "batch of %zu not committed: %s", n, cause);
	free(cause);
	if (rc == -1)
		return -1;
	for (i = 0; i < n; i++) {
		cause = NULL;
		rc = ingest_batch(s->g, &w[i], 1, &cause);
		if (rc == -2) {
			slog(s, 0, "message refused by the database, "
			    "quarantined: %s", cause);
			free(cause);
			cause = NULL;
			rc = ingest_quarantine(s->g, w[i],
			    "the database refused the message", &cause);
			if (rc == -2) {
				/*
				 * Not even a quarantine row: refuse this one
				 * (AR, the sender keeps it) and go on, rather
				 * than stall every frame behind it.
				 */
				slog(s, 0, "message cannot be stored at all, "
				    "refused: %s", cause);
				w[i]->outcome = STORE_REJECTED;
				rc = 0;
			}
		}
		free(cause);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* Drain the spool into the database, in order. 0 when empty. */
static int
drain_spool(struct store *s)
{
	struct spool_rec rec;
	size_t n, i, total = 0;
	int rc;

	if (spool_pending(s->spool) == 0)
		return 0;
	spool_rewind(s->spool);
	for (;;) {
		for (n = 0; n < s->cfg.batch_max; n++) {
			rc = spool_next(s->spool, &rec);
			if (rc < 0) {
				slog(s, 0, "spool unreadable: draining stops");
				return -1;
			}
			if (rc == 0)
				break;
			/* Records live until the next spool call: copy. */
			if (s->copycap[n] < rec.len + 128) {
				s->copycap[n] = rec.len + 128;
				s->copies[n] = xreallocarray(s->copies[n],
				    s->copycap[n], 1);
			}
			memcpy(s->copies[n], rec.data, rec.len);
			snprintf(s->copies[n] + rec.len, 64, "%s", rec.peer);
			snprintf(s->copies[n] + rec.len + 64, 64, "%s", rec.ref);
			set_work(&s->works[n], (enum store_frame_kind)rec.kind,
			    s->copies[n], rec.len, rec.total,
			    s->copies[n] + rec.len, rec.received_at,
			    s->copies[n] + rec.len + 64);
			ingest_prepare(s->g, &s->works[n]);
			s->wp[n] = &s->works[n];
		}
		if (n == 0)
			break;
		if (write_works(s, s->wp, n) != 0) {
			spool_rewind(s->spool);
			return -1;
		}
		total += n;
		if (spool_mark_drained(s->spool) != 0) {
			slog(s, 0, "spool: cannot record the drain: %s",
			    strerror(errno));
			return -1;
		}
		for (i = 0; i < n; i++) {
			/* Already ACKed: they count like live frames do. */
			if (s->works[i].outcome == STORE_QUARANTINED ||
			    s->works[i].outcome == STORE_REJECTED)
				slog(s, s->works[i].outcome == STORE_REJECTED ?
				    0 : 1, "spooled frame %s: %s",
				    store_outcome_name(s->works[i].outcome),
				    s->works[i].reason ? s->works[i].reason : "");
			pthread_mutex_lock(&s->mu);
			s->stats.outcomes[s->works[i].outcome]++;
			pthread_mutex_unlock(&s->mu);
		}
	}
	slog(s, 2, "spool drained: %zu frames", total);
	pthread_mutex_lock(&s->mu);
	s->stats.spooled_pending = spool_pending(s->spool);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* The ACK an item earns, once its fate is known. */
static void
finish_item(struct store *s, struct store_item *it, struct ingest_work *w,
    enum store_outcome outcome, const char *why)
{
	it->outcome = outcome;
	if (outcome == STORE_REJECTED) {
		/* Not durable: refuse, so that the sender keeps it. */
		memcpy(w->ack_code, "AR", 3);
		w->err_code = HL7_ERR_INTERNAL;
		w->reason = why;
	}
	it->reason = w->reason;
	hl7_buf_reset(&it->ack);
	it->send_ack = ingest_ack(s->g, w, &it->ack);
	it->control_id[0] = '\0';
	if (w->parsed)
		snprintf(it->control_id, sizeof(it->control_id), "%.*s",
		    (int)w->oru.control_id.len, w->oru.control_id.p);
}

static void
process(struct store *s, struct store_item **items, size_t n)
{
	size_t i;
	int rc;
	bool up;

	/*
	 * Spooled frames go first: order is kept across an outage. The drain
	 * uses the work slots, so it runs before this batch is prepared.
	 */
	up = try_connect(s) && drain_spool(s) == 0;
	for (i = 0; i < n; i++) {
		set_work(&s->works[i], items[i]->kind, items[i]->data,
		    items[i]->len, items[i]->total, items[i]->peer,
		    items[i]->received_at, NULL);
		ingest_prepare(s->g, &s->works[i]);
		s->wp[i] = &s->works[i];
	}
	if (up && write_works(s, s->wp, n) == 0) {
		for (i = 0; i < n; i++)
			finish_item(s, items[i], &s->works[i],
			    s->works[i].outcome,
			    s->works[i].outcome == STORE_REJECTED ?
			    "the database refused the message" : NULL);
		complete(s, items, n);
		return;
	}
	for (i = 0; i < n; i++) {
		rc = spool_append(s->spool, (uint8_t)items[i]->kind,
		    items[i]->received_at, (uint64_t)items[i]->total,
		    items[i]->peer, items[i]->data, items[i]->len);
		if (rc == 0)
			finish_item(s, items[i], &s->works[i], STORE_SPOOLED,
			    NULL);
		else {
			if (rc < 0)
				slog(s, 0, "spool write failed: %s",
				    strerror(errno));
			finish_item(s, items[i], &s->works[i], STORE_REJECTED,
			    rc > 0 ? "spool full: resend later" :
			    "cannot store the message now: resend later");
		}
	}
	complete(s, items, n);
}

static void *
writer(void *arg)
{
	struct store *s = arg;
	struct store_item *it;
	struct rules *nr;
	struct timespec ts;
	size_t n;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->in_head == NULL && !s->stopping &&
		    s->next_rules == NULL) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += RECONNECT_SECONDS;
			if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) ==
			    ETIMEDOUT)
				break;	/* go and drain the spool */
		}
		nr = s->next_rules;
		s->next_rules = NULL;
		for (n = 0; n < s->cfg.batch_max && s->in_head != NULL; n++) {
			it = s->in_head;
			s->in_head = it->next;
			if (s->in_head == NULL)
				s->in_tail = NULL;
			s->items[n] = it;
		}
		if (n == 0 && s->stopping) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		pthread_mutex_unlock(&s->mu);
		if (nr != NULL) {
			ingest_set_rules(s->g, nr);
			rules_free(s->rules);
			s->rules = nr;
			slog(s, 2, "rules reloaded: %s", rules_protocol_name(nr));
		}
		if (n > 0)
			process(s, s->items, n);
		else if (spool_pending(s->spool) > 0 && try_connect(s))
			drain_spool(s);
	}
	return NULL;
}

/* Free everything s holds (the writer is not running). */
static void
store_destroy(struct store *s)
{
	size_t i;

	ingest_free(s->g);
	spool_close(s->spool);
	rules_free(s->rules);
	rules_free(s->next_rules);
	if (s->efd >= 0)
		close(s->efd);
	if (s->works != NULL)
		for (i = 0; i < s->cfg.batch_max; i++) {
			hl7_msg_free(&s->works[i].msg);
			oru_msg_free(&s->works[i].oru);
			free(s->copies[i]);
		}
	free(s->works);
	free(s->wp);
	free(s->items);
	free(s->copies);
	free(s->copycap);
	free((char *)s->cfg.conninfo);
	free((char *)s->cfg.protocol_path);
	free((char *)s->cfg.sql_dir);
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
store_start(const struct store_config *cfg, char **cause)
{
	struct store *s = xcalloc(1, sizeof(*s));
	char *why = NULL;
	size_t i;

	s->cfg = *cfg;
	s->cfg.conninfo = dup_or_null(cfg->conninfo);
	s->cfg.protocol_path = dup_or_null(cfg->protocol_path);
	s->cfg.sql_dir = dup_or_null(cfg->sql_dir);
	s->cfg.spool_path = dup_or_null(cfg->spool_path);
	s->cfg.app = dup_or_null(cfg->app ? cfg->app : "LABWATCH");
	s->cfg.facility = dup_or_null(cfg->facility ? cfg->facility : "");
	s->cfg.id_type = dup_or_null(cfg->id_type ? cfg->id_type : "MR");
	s->cfg.default_charset = dup_or_null(cfg->default_charset);
	if (s->cfg.batch_max == 0)
		s->cfg.batch_max = 256;
	if (s->cfg.spool_max_bytes == 0)
		s->cfg.spool_max_bytes = 1ULL << 30;
	s->efd = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);

	if (rules_load(s->cfg.protocol_path, &s->rules, &why) != 0)
		goto fail;
	s->spool = spool_open(s->cfg.spool_path, s->cfg.spool_max_bytes, &why);
	if (s->spool == NULL)
		goto fail;
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0) {
		why = xstrdup("eventfd failed");
		goto fail;
	}
	s->iopts.conninfo = s->cfg.conninfo;
	s->iopts.sql_dir = s->cfg.sql_dir;
	s->iopts.app = s->cfg.app;
	s->iopts.facility = s->cfg.facility;
	s->iopts.id_type = s->cfg.id_type;
	s->iopts.default_charset = s->cfg.default_charset;
	s->iopts.refuse_other_types = s->cfg.refuse_other_types;
	s->iopts.tz_offset_min = s->cfg.tz_offset_min;
	s->g = ingest_new(&s->iopts, s->rules);
	/* Migrations must work now; an unreachable database may come later. */
	if (ingest_connect(s->g, &why) != 0) {
		if (strstr(why, "migrat") != NULL || strstr(why, "preparing"))
			goto fail;
		slog(s, 1, "database unreachable at start, spooling: %s", why);
		free(why);
		why = NULL;
	}
	s->last_connect = time(NULL);
	s->works = xcalloc(s->cfg.batch_max, sizeof(*s->works));
	s->wp = xcalloc(s->cfg.batch_max, sizeof(*s->wp));
	s->items = xcalloc(s->cfg.batch_max, sizeof(*s->items));
	s->copies = xcalloc(s->cfg.batch_max, sizeof(*s->copies));
	s->copycap = xcalloc(s->cfg.batch_max, sizeof(*s->copycap));
	for (i = 0; i < s->cfg.batch_max; i++) {
		hl7_msg_init(&s->works[i].msg);
		oru_msg_init(&s->works[i].oru);
	}
	s->stats.db_up = ingest_connected(s->g);
	s->stats.spooled_pending = spool_pending(s->spool);
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
