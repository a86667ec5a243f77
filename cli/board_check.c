/*
 * board_check.c: the board's password checks on worker threads (see
 * board_check.h). Two queues under one mutex: checks waiting for a
 * worker (the workers wait on a condition) and checks finished (a pipe
 * holds a byte per check finished; the loop's event on it collects them
 * all and runs their callbacks).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "cli/board_auth.h"
#include "cli/board_check.h"
#include "lib/xmalloc.h"

/* One check. Owned by its queue, or by the worker running it. */
struct check {
	struct check *next;
	char *name, *pw;	    /* the worker's to read */
	const struct board_user *u; /* the worker's to write */
	board_check_fn *fn;	    /* the loop's */
	void *arg;
};

struct queue {
	struct check *head, *tail;
	int n;
};

struct board_checks {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct queue waiting, finished; /* under mu */
	int running;			/* under mu */
	bool stopping;			/* under mu */
	pthread_t threads[BOARD_CHECK_THREADS];
	int started;
	int pipe[2];
	struct event *ev; /* on pipe[0], the loop's */
	const struct board_users *us;
};

static void
q_push(struct queue *q, struct check *k)
{
	k->next = NULL;
	if (q->tail != NULL)
		q->tail->next = k;
	else
		q->head = k;
	q->tail = k;
	q->n++;
}

static struct check *
q_pop(struct queue *q)
{
	struct check *k = q->head;

	if (k != NULL) {
		q->head = k->next;
		if (q->head == NULL)
			q->tail = NULL;
		k->next = NULL;
		q->n--;
	}
	return k;
}

static void
check_free(struct check *k)
{
	free(k->name);
	if (k->pw != NULL) {
		OPENSSL_cleanse(k->pw, strlen(k->pw));
		free(k->pw);
	}
	free(k);
}

static void *
worker(void *arg)
{
	struct board_checks *c = arg;
	struct check *k;
	ssize_t w;

	for (;;) {
		pthread_mutex_lock(&c->mu);
		while (c->waiting.head == NULL && !c->stopping)
			pthread_cond_wait(&c->cv, &c->mu);
		k = c->stopping ? NULL : q_pop(&c->waiting);
		if (k != NULL)
			c->running++;
		pthread_mutex_unlock(&c->mu);
		if (k == NULL)
			return NULL; /* stopping: what waits is dropped */
		k->u = board_login(c->us, k->name, k->pw);
		OPENSSL_cleanse(k->pw, strlen(k->pw));
		pthread_mutex_lock(&c->mu);
		c->running--;
		q_push(&c->finished, k);
		pthread_mutex_unlock(&c->mu);
		do
			w = write(c->pipe[1], "", 1);
		while (w < 0 && errno == EINTR);
		/* EAGAIN: the pipe is full of wakes already; one is enough. */
	}
}

/* The loop: run the callbacks of every check finished. */
static void
on_finished(evutil_socket_t fd, short what, void *arg)
{
	struct board_checks *c = arg;
	struct check *k;
	char b[64];

	(void)what;
	/* The bytes first: one written after this read wakes us again. */
	while (read(fd, b, sizeof(b)) > 0)
		;
	for (;;) {
		pthread_mutex_lock(&c->mu);
		k = q_pop(&c->finished);
		pthread_mutex_unlock(&c->mu);
		if (k == NULL)
			break;
		k->fn(BOARD_CHECK_DONE, k->u, k->arg);
		check_free(k);
	}
}

struct board_checks *
board_checks_new(struct event_base *base, const struct board_users *us,
    char **cause)
{
	struct board_checks *c = xcalloc(1, sizeof(*c));
	sigset_t all, old;
	int rc, i;

	c->us = us;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pipe2(c->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		*cause = xasprintf("login checks: pipe: %s", strerror(errno));
		c->pipe[0] = c->pipe[1] = -1;
		board_checks_free(c);
		return NULL;
	}
	c->ev = event_new(base, c->pipe[0], EV_READ | EV_PERSIST, on_finished,
	    c);
	event_add(c->ev, NULL);
	/* Signals are the loop's: the workers block them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < BOARD_CHECK_THREADS; i++) {
		if ((rc = pthread_create(&c->threads[i], NULL, worker, c)) !=
		    0) {
			*cause = xasprintf("login checks: a thread: %s",
			    strerror(rc));
			break;
		}
		c->started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (c->started < BOARD_CHECK_THREADS) {
		board_checks_free(c);
		return NULL;
	}
	return c;
}

bool
board_checks_submit(struct board_checks *c, const char *name, const char *pw,
    board_check_fn *fn, void *arg, int *running, int *waiting)
{
	struct check *k;
	bool ok;

	pthread_mutex_lock(&c->mu);
	*running = c->running;
	*waiting = c->waiting.n;
	if ((ok = c->waiting.n < BOARD_CHECK_QUEUE)) {
		k = xcalloc(1, sizeof(*k));
		k->name = xstrdup(name);
		k->pw = xstrdup(pw);
		k->fn = fn;
		k->arg = arg;
		q_push(&c->waiting, k);
		pthread_cond_signal(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
	return ok;
}

void
board_checks_free(struct board_checks *c)
{
	struct check *k;
	int i;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	for (i = 0; i < c->started; i++)
		pthread_join(c->threads[i], NULL);
	/* No thread left: the queues are this thread's. */
	while ((k = q_pop(&c->finished)) != NULL ||
	    (k = q_pop(&c->waiting)) != NULL) {
		k->fn(BOARD_CHECK_DROPPED, NULL, k->arg);
		check_free(k);
	}
	if (c->ev != NULL)
		event_free(c->ev);
	if (c->pipe[0] >= 0) {
		close(c->pipe[0]);
		close(c->pipe[1]);
	}
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}
