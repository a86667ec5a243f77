/*
 * intake.c: the writer's input: frames the event loop submits, queued
 * until the writer takes them into a batch. Live frames go first; a
 * frame cut short (no ACK waits for it) waits in a queue of its own to
 * ride with them (take_low()).
 */
#include <pthread.h>

#include "store/store_int.h"

void
store_submit(struct store *s, struct store_item *it)
{
	it->next = NULL;
	pthread_mutex_lock(&s->mu);
	if (it->kind == STORE_FRAME_ABANDONED) {
		/* No ACK waits for it: it rides with live frames (take_low). */
		if (s->low_tail != NULL)
			s->low_tail->next = it;
		else {
			s->low_head = it;
			s->low_since = store_mono_usec();
		}
		s->low_tail = it;
		s->nlow++;
	} else {
		if (s->in_tail != NULL)
			s->in_tail->next = it;
		else
			s->in_head = it;
		s->in_tail = it;
	}
	s->pending++;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Whether frames cut short must go now without live ones (s->mu held). */
bool
store_low_due(const struct store *s)
{
	return s->low_head != NULL &&
	    (s->stopping || s->nlow >= s->cfg.batch_max ||
		store_mono_usec() - s->low_since >= LOW_WAIT_USEC);
}

/*
 * Fill b, from n on, with frames cut short (s->mu held): they join a
 * batch live frames start, or go alone once due. A burst of them (a
 * thousand slowloris connections reaching frame_timeout together) then
 * adds rows to live frames' commits instead of commits of its own for
 * live frames to wait behind. They earn no ACK, so a later frame of
 * their connection may overtake them; nothing is dropped.
 */
static size_t
take_low(struct store *s, struct batch *b, size_t n, size_t bytes)
{
	struct store_item *it;

	if (n == 0 && !store_low_due(s))
		return 0;
	while (n < s->cfg.batch_max && (it = s->low_head) != NULL) {
		if (n > 0 && bytes + it->len > BATCH_BYTES)
			break;
		bytes += it->len;
		s->low_head = it->next;
		s->nlow--;
		if (s->low_head == NULL)
			s->low_tail = NULL;
		b->items[n++] = it;
	}
	if (s->low_head != NULL)
		s->low_since =
		    store_mono_usec(); /* the rest waits its own turn */
	return n;
}

/* The next batch's frames into b, live ones first (s->mu held). */
size_t
store_take_batch(struct store *s, struct batch *b)
{
	struct store_item *it;
	size_t n, bytes, max = s->cfg.batch_max, room;

	/*
	 * Due, frames cut short get room (up to half the batch): were live
	 * frames to fill every batch (a writer behind), they would wait
	 * for ever.
	 */
	if (store_low_due(s)) {
		room = (max + 1) / 2;
		max -= s->nlow < room ? s->nlow : room;
	}
	for (n = 0, bytes = 0; n < max && s->in_head != NULL; n++) {
		it = s->in_head;
		if (n > 0 && bytes + it->len > BATCH_BYTES)
			break;
		bytes += it->len;
		s->in_head = it->next;
		if (s->in_head == NULL)
			s->in_tail = NULL;
		b->items[n] = it;
	}
	return take_low(s, b, n, bytes);
}
