/*
 * notify_pool.h: the deliveries labwatch notify has in flight at once. A
 * fixed number of worker threads each run one delivery at a time
 * (deliver_exec() or deliver_http(), which block for at most their
 * timeout); the main thread, which alone talks to PostgreSQL, hands them
 * jobs and takes back the finished ones, woken by a file descriptor that
 * is readable while one waits.
 */
#ifndef LABWATCH_CLI_NOTIFY_POOL_H
#define LABWATCH_CLI_NOTIFY_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "cli/deliver.h"
#include "lib/attr.h"
#include "lib/buf.h"

/* One delivery: filled by the main thread, run by a worker. */
struct pool_job {
	struct pool_job *next;
	/* What to run: a command (exec) or a POST to url. */
	const char *exec;
	const char *url;
	struct buf body;
	char *env[10]; /* NULL-terminated; freed by pool_job_free() */
	void *owner;   /* the caller's (the claim), untouched here */
	/* What came of it. */
	enum deliver_rc rc;
	char err[256];
	uint64_t usec; /* how long the delivery took */
};

struct notify_pool;

/*
 * n workers (1 to 256) delivering with ca (https) and timeout; NULL and
 * *cause (malloc'd) when a thread or the pipe could not be made.
 */
LW_MUSTCHECK struct notify_pool *pool_new(int n, const char *ca, double timeout,
    char **cause);

/* A new job (body empty, env empty). */
struct pool_job *pool_job_new(void);
void pool_job_free(struct pool_job *j);

/* Hand j over (the caller keeps no slot count: see pool_free_slots()). */
void pool_submit(struct notify_pool *p, struct pool_job *j);

/* How many more jobs would start at once (n minus those not collected). */
int pool_free_slots(const struct notify_pool *p);

/* Jobs submitted and not yet collected. */
int pool_busy(const struct notify_pool *p);

/* A finished job (the oldest), or NULL: never blocks. */
struct pool_job *pool_collect(struct notify_pool *p);

/* Readable while a finished job waits (poll it for POLLIN). */
int pool_fd(const struct notify_pool *p);

/* Stop the workers (after their jobs) and free p; its jobs are freed. */
void pool_free(struct notify_pool *p);

#endif
