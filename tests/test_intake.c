/*
 * test_intake.c: the writer's input (store/intake.c), without a writer
 * or a database: live frames go first; a frame cut short rides with
 * them, and once it has waited its time it is taken even when live
 * frames alone would fill every batch.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "store/store_int.h"

#define FRAME "MSH|^~\\&|LIS|LAB|LW|HOSP|20240301083000||ORU^R01|C1|P|2.5.1\r"

static struct store *s;
static struct batch b;

static void
setup(void)
{
	s = calloc(1, sizeof(*s));
	s->cfg.batch_max = 4;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	b.items = calloc(s->cfg.batch_max, sizeof(*b.items));
}

static void
teardown(void)
{
	struct store_item *it, *next;

	for (it = s->in_head; it != NULL; it = next) {
		next = it->next;
		store_item_free(it);
	}
	for (it = s->low_head; it != NULL; it = next) {
		next = it->next;
		store_item_free(it);
	}
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(b.items);
	free(s);
}

static void
submit(enum store_frame_kind kind, size_t n)
{
	while (n-- > 0)
		store_submit(s,
		    store_item_new(kind, FRAME, strlen(FRAME), strlen(FRAME)));
}

/* Take a batch; how many of it were cut short. */
static size_t
take(size_t *n)
{
	size_t i, low = 0;

	*n = store_take_batch(s, &b);
	for (i = 0; i < *n; i++) {
		low += b.items[i]->kind == STORE_FRAME_ABANDONED;
		store_item_free(b.items[i]);
	}
	return low;
}

static void
wait_due(void)
{
	struct timespec ts = { 0, (LOW_WAIT_USEC + 50000) * 1000L };

	nanosleep(&ts, NULL);
}

TestSuite(intake, .init = setup, .fini = teardown);

Test(intake, a_frame_cut_short_rides_with_live_ones)
{
	size_t n;

	submit(STORE_FRAME_ABANDONED, 1);
	submit(STORE_FRAME, 2);
	cr_expect_eq(take(&n), 1, "it joins the live batch");
	cr_expect_eq(n, 3);
}

Test(intake, not_due_it_waits_alone)
{
	size_t n;

	submit(STORE_FRAME_ABANDONED, 1);
	cr_expect_eq(take(&n), 0);
	cr_expect_eq(n, 0, "not due: no batch of its own yet");
	wait_due();
	cr_expect_eq(take(&n), 1);
	cr_expect_eq(n, 1, "due: it goes alone");
}

/* Live frames fill every batch (a writer behind): before the fix the
 * frame cut short never found room, however long it had waited. */
Test(intake, due_it_is_not_starved_by_full_live_batches)
{
	size_t n, i, low = 0;

	submit(STORE_FRAME_ABANDONED, 1);
	submit(STORE_FRAME, 4);
	cr_expect_eq(take(&n), 0, "not due: live frames first");
	cr_expect_eq(n, 4);
	wait_due();
	for (i = 0; i < 3 && low == 0; i++) {
		submit(STORE_FRAME, 4);
		low += take(&n);
		cr_expect_eq(n, 4);
	}
	cr_expect_eq(low, 1, "due, it is taken into the next batch");
	cr_expect_eq(i, 1);
	cr_expect_eq(s->nlow, 0);
}
