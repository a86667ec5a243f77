/*
 * notify_pool.c: worker threads for labwatch notify's deliveries (see
 * notify_pool.h). Two queues under one mutex: jobs to run (the workers
 * wait on a condition) and jobs done (a pipe holds one byte per done job,
 * so that the main thread can poll it beside PostgreSQL's socket).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/notify_pool.h"
#include "lib/xmalloc.h"

struct queue {
	struct pool_job *head, *tail;
};

struct notify_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct queue todo, done;
	pthread_t *threads;
	int n, started, busy;
	bool stopping;
	int pipe[2];
	const char *ca;
	double timeout;
};

static void
q_push(struct queue *q, struct pool_job *j)
{
	j->next = NULL;
	if (q->tail != NULL)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static struct pool_job *
q_pop(struct queue *q)
{
	struct pool_job *j = q->head;

	if (j != NULL) {
		q->head = j->next;
		if (q->head == NULL)
			q->tail = NULL;
		j->next = NULL;
	}
	return j;
}

static uint64_t
mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void *
worker(void *arg)
{
	struct notify_pool *p = arg;
	struct pool_job *j;
	uint64_t t0;
	ssize_t w;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->todo.head == NULL && !p->stopping)
			pthread_cond_wait(&p->cv, &p->mu);
		j = q_pop(&p->todo);
		pthread_mutex_unlock(&p->mu);
		if (j == NULL)
			return NULL; /* stopping, nothing left */
		j->err[0] = '\0';
		t0 = mono_usec();
		if (j->exec != NULL)
			j->rc = deliver_exec(j->exec, j->body.p, j->body.len,
			    j->env, p->timeout, j->err, sizeof(j->err));
		else
			j->rc = deliver_http(j->url, p->ca, j->body.p,
			    j->body.len, p->timeout, j->err, sizeof(j->err));
		j->usec = mono_usec() - t0;
		pthread_mutex_lock(&p->mu);
		q_push(&p->done, j);
		pthread_mutex_unlock(&p->mu);
		do
			w = write(p->pipe[1], "", 1);
		while (w < 0 && errno == EINTR);
	}
}

struct notify_pool *
pool_new(int n, const char *ca, double timeout, char **cause)
{
	struct notify_pool *p = xcalloc(1, sizeof(*p));
	sigset_t all, old;
	int rc, i;

	p->n = n;
	p->ca = ca;
	p->timeout = timeout;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	/* The pipe holds at most n bytes (one per job done, not collected). */
	if (pipe2(p->pipe, O_CLOEXEC) < 0) {
		*cause = xasprintf("pipe: %s", strerror(errno));
		p->pipe[0] = p->pipe[1] = -1;
		pool_free(p);
		return NULL;
	}
	(void)fcntl(p->pipe[0], F_SETFL, O_NONBLOCK);
	p->threads = xcalloc((size_t)n, sizeof(*p->threads));
	/* Signals are the main thread's: the workers block them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < n; i++) {
		if ((rc = pthread_create(&p->threads[i], NULL, worker, p)) !=
		    0) {
			*cause = xasprintf("a delivery thread: %s",
			    strerror(rc));
			break;
		}
		p->started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (p->started < n) {
		pool_free(p);
		return NULL;
	}
	return p;
}

struct pool_job *
pool_job_new(void)
{
	struct pool_job *j = xcalloc(1, sizeof(*j));

	buf_init(&j->body);
	return j;
}

void
pool_job_free(struct pool_job *j)
{
	int i;

	if (j == NULL)
		return;
	for (i = 0; j->env[i] != NULL; i++)
		free(j->env[i]);
	buf_free(&j->body);
	free(j);
}

void
pool_submit(struct notify_pool *p, struct pool_job *j)
{
	pthread_mutex_lock(&p->mu);
	q_push(&p->todo, j);
	p->busy++;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

int
pool_busy(const struct notify_pool *p)
{
	return p->busy; /* only the main thread changes it */
}

int
pool_free_slots(const struct notify_pool *p)
{
	return p->n - p->busy;
}

struct pool_job *
pool_collect(struct notify_pool *p)
{
	struct pool_job *j;
	char c[64];
	ssize_t r;

	/*
	 * The bytes first: one written after this read is that of a job
	 * pushed before it, collected now or next time (one wake too many,
	 * never a job left waiting or a pipe that stays readable).
	 */
	do
		r = read(p->pipe[0], c, sizeof(c));
	while (r > 0 || (r < 0 && errno == EINTR));
	pthread_mutex_lock(&p->mu);
	j = q_pop(&p->done);
	pthread_mutex_unlock(&p->mu);
	if (j != NULL)
		p->busy--;
	return j;
}

int
pool_fd(const struct notify_pool *p)
{
	return p->pipe[0];
}

void
pool_free(struct notify_pool *p)
{
	struct pool_job *j;
	int i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->started; i++)
		pthread_join(p->threads[i], NULL);
	while ((j = q_pop(&p->done)) != NULL)
		pool_job_free(j);
	while ((j = q_pop(&p->todo)) != NULL)
		pool_job_free(j);
	free(p->threads);
	if (p->pipe[0] >= 0) {
		close(p->pipe[0]);
		close(p->pipe[1]);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}
