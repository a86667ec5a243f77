/*
 * limbo.c: frames held until the database says whether a COMMIT whose
 * answer was lost stored them (see limbo.h).
 */
#include "store/limbo.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "store/ingest_int.h"
#include "store/store_int.h"

/* One held frame; owned by the limbo until it is released. */
struct held {
	struct store_item *it;
	bool asking; /* its fate is asked; false: answered, waits its turn */
	bool ours, stored;	    /* the database's answer */
	enum store_outcome if_ours; /* its outcome if its row is there */
	const char *reason;	    /* static: that outcome's reason */
	struct buf ack;		    /* the ACK it earns if stored */
	bool send_ack;
	char ack_code[3];
	struct held *next;
};

void
limbo_init(struct limbo *l)
{
	memset(l, 0, sizeof(*l));
	rows_init_identity(l->q);
}

static void
held_free(struct held *h)
{
	buf_free(&h->ack);
	free(h);
}

void
limbo_free(struct limbo *l)
{
	struct held *h, *next;
	int i;

	for (h = l->head; h != NULL; h = next) {
		next = h->next;
		store_item_free(h->it);
		held_free(h);
	}
	l->head = l->tail = NULL;
	for (i = 0; i < ROWS_ID_COLS; i++)
		pgarr_free(&l->q[i]);
}

static struct held *
append(struct limbo *l, struct store_item *it)
{
	struct held *h = xcalloc(1, sizeof(*h));

	h->it = it;
	buf_init(&h->ack);
	if (l->tail != NULL)
		l->tail->next = h;
	else
		l->head = h;
	l->tail = h;
	return h;
}

void
limbo_hold(struct limbo *l, struct ingest *g, struct store_item *it,
    struct ingest_work *w)
{
	struct held *h = append(l, it);

	h->asking = true;
	/* What the batch would have made of it, had its answer come. */
	h->if_ours = w->quarantine ? STORE_QUARANTINED :
	    w->ignored		   ? STORE_IGNORED :
				     STORE_PROCESSED;
	h->reason = w->reason;
	h->send_ack = ingest_ack(g, w, &h->ack);
	memcpy(h->ack_code, w->ack_code, sizeof(h->ack_code));
	rows_add_identity(l->q, w);
	l->asking++;
}

static bool
same_conn(const struct store_item *a, const struct store_item *b)
{
	return a->conn == b->conn && a->conn_gen == b->conn_gen;
}

bool
limbo_takes(struct limbo *l, struct store_item *it)
{
	struct held *h;

	for (h = l->head; h != NULL; h = h->next)
		if (h->it == it)
			return true;
	for (h = l->head; h != NULL; h = h->next)
		if (same_conn(h->it, it)) {
			(void)append(l, it);
			return true;
		}
	return false;
}

bool
limbo_asking(const struct limbo *l)
{
	return l->asking > 0;
}

/* sel_stored's rows, one per asking entry, in order. */
static void
handle_stored(void *arg, const struct pgpipe_query *q, PGresult *res)
{
	struct limbo *l = arg;
	struct held *h = l->head;
	int i, n = PQntuples(res);

	(void)q;
	for (i = 0; i < n; i++) {
		while (h != NULL && !h->asking)
			h = h->next;
		if (h == NULL)
			break;
		h->ours = PQgetvalue(res, i, 0)[0] == 't';
		h->stored = PQgetvalue(res, i, 1)[0] == 't';
		h = h->next;
	}
}

/* h's answer: its row there, or its identity's: the ACK it earned. */
static void
settle_held(struct limbo *l, struct held *h)
{
	struct store_item *it = h->it;
	struct buf t;

	h->asking = false;
	l->asking--;
	if (!h->ours && !h->stored) {
		l->lost++; /* not stored: the AR it was given stands */
		return;
	}
	l->found++;
	it->outcome = h->ours ? h->if_ours : STORE_DUPLICATE;
	it->reason = h->ours ? h->reason : NULL;
	t = it->ack;
	it->ack = h->ack;
	h->ack = t;
	it->send_ack = h->send_ack;
	memcpy(it->ack_code, h->ack_code, sizeof(it->ack_code));
}

enum ingest_rc
limbo_resolve(struct limbo *l, struct ingest *g, char **cause)
{
	struct pgpipe *p = &g->sides[0].pipe;
	const char *v[ROWS_ID_COLS];
	int len[ROWS_ID_COLS], binary[ROWS_ID_COLS], i;
	struct held *h;
	enum db_rc rc;

	if (l->asking == 0)
		return INGEST_OK;
	for (i = 0; i < ROWS_ID_COLS; i++) {
		v[i] = pgarr_finish(&l->q[i], &len[i]);
		binary[i] = 1;
	}
	for (h = l->head; h != NULL; h = h->next)
		h->ours = h->stored = false;
	g->err.sqlstate[0] = '\0';
	rc = pgpipe_send_prepared(p, "sel_stored", ROWS_ID_COLS, v, len, binary,
	    Q_STORED, NULL);
	if (rc == DB_OK)
		rc = pgpipe_run(p, handle_stored, l);
	if (rc != DB_OK) {
		*cause = xstrdup(g->err.msg);
		return rc == DB_DOWN ? INGEST_DOWN : INGEST_ERROR;
	}
	for (h = l->head; h != NULL; h = h->next)
		if (h->asking)
			settle_held(l, h);
	for (i = 0; i < ROWS_ID_COLS; i++)
		pgarr_reset(&l->q[i]);
	return INGEST_OK;
}

size_t
limbo_release(struct limbo *l, struct store_item ***out)
{
	struct held *h, *prev = NULL, *next, *b;
	size_t n = 0, cap = 0;
	bool blocked;

	*out = NULL;
	for (h = l->head; h != NULL; h = next) {
		next = h->next;
		blocked = h->asking;
		for (b = l->head; b != h && !blocked; b = b->next)
			blocked = b->asking && same_conn(b->it, h->it);
		if (blocked) {
			prev = h;
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			*out = xreallocarray(*out, cap, sizeof(**out));
		}
		(*out)[n++] = h->it;
		if (prev != NULL)
			prev->next = next;
		else
			l->head = next;
		if (l->tail == h)
			l->tail = prev;
		held_free(h);
	}
	return n;
}

size_t
limbo_give_up(struct limbo *l)
{
	struct held *h;
	size_t n = l->asking;
	int i;

	for (h = l->head; h != NULL; h = h->next)
		if (h->asking) {
			h->asking = false;
			l->lost++;
		}
	l->asking = 0;
	for (i = 0; i < ROWS_ID_COLS; i++)
		pgarr_reset(&l->q[i]);
	return n;
}

/* ---- the store's side: when to ask, and what to say ---- */

/* What the limbo may answer now, back to the event loop. */
static void
release_held(struct store *s)
{
	struct store_item **items;
	size_t n = limbo_release(&s->limbo, &items);

	store_hand_back(s, items, n);
	free(items);
}

/*
 * Connected, nothing in flight: ask the database about the frames of a
 * COMMIT whose answer was lost, before anything else is written (a
 * frame found not stored is refused; a later one of its patient must
 * not have gone in first). False when it could not be asked.
 */
bool
store_resolve_held(struct store *s)
{
	uint64_t found = s->limbo.found, lost = s->limbo.lost;
	char *cause = NULL;

	if (!limbo_asking(&s->limbo))
		return true;
	/* The query failed a moment ago on this session: not at every batch. */
	if (s->ask_failed != 0 &&
	    time(NULL) - s->ask_failed < RECONNECT_SECONDS)
		return false;
	switch (limbo_resolve(&s->limbo, s->g, &cause)) {
	case INGEST_OK:
		break;
	case INGEST_DOWN:
		store_db_down(s, cause);
		return false;
	default:
		/*
		 * Reached, but it will not say: as a database that refuses
		 * us (said once, not at every try), frames go to the spool
		 * until it does; the held ones wait.
		 */
		s->ask_failed = time(NULL);
		store_db_refused(s,
		    xasprintf("cannot ask which frames of a lost COMMIT are "
			      "stored (%s); they wait",
			cause));
		free(cause);
		return false;
	}
	if (s->ask_failed != 0) {
		s->ask_failed = 0;
		store_clear_refused(s);
	}
	store_log(s, 2,
	    "a COMMIT's answer was lost with the connection: of its "
	    "frames the spool could not take, %llu are stored (answered "
	    "as stored), %llu are not (AR)",
	    (unsigned long long)(s->limbo.found - found),
	    (unsigned long long)(s->limbo.lost - lost));
	release_held(s);
	return true;
}

/*
 * The writer stops: one last try to ask about held frames; those the
 * database could not be asked about keep their AR (a resend of one that
 * was stored is a duplicate, AA).
 */
void
store_give_up_held(struct store *s)
{
	size_t n;

	if (limbo_asking(&s->limbo)) {
		s->last_connect = s->ask_failed = 0;
		(void)store_try_connect(s);
	}
	if ((n = limbo_give_up(&s->limbo)) > 0)
		store_log(s, 1,
		    "stopping without a database to ask: %zu frames of a "
		    "COMMIT whose answer was lost are answered AR, stored or "
		    "not",
		    n);
	release_held(s);
}
