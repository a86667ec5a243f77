/*
 * pgpipe.h: one PostgreSQL session in pipeline mode, for the writer.
 *
 * Queries are sent with a tag and a context of the caller's; a sync ends
 * the pipeline, and pgpipe_read() hands each query's rows, in the order
 * they were sent, to a handler. A failure is described in the session's
 * error (shared by the sessions of one writer), scrubbed of patient data
 * by db_scrub(). Blocking reads: the writer thread has nothing else to do
 * while it waits. Owned by the ingest (ingest.c), one per session.
 */
#ifndef LABWATCH_PGPIPE_H
#define LABWATCH_PGPIPE_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "store/db.h"

/* Why the last batch failed: filled by the session that saw it. */
struct pgpipe_error {
	char msg[256];	  /* no patient data */
	char sqlstate[6]; /* the first failed statement's, "" */
};

/* One query in flight, and what to do with its result. */
struct pgpipe_query {
	int tag; /* the caller's; 0: nothing to read */
	void *ctx;
};

typedef void pgpipe_handler(void *arg, const struct pgpipe_query *q,
    PGresult *res);
/* Where PostgreSQL's notices go (level 0 error .. 3 debug). */
typedef void pgpipe_logger(void *arg, int level, const char *msg);

struct pgpipe {
	PGconn *conn;		/* NULL: closed */
	struct pgpipe_query *q; /* sent, results not yet read */
	size_t nq, capq;
	struct pgpipe_error *err; /* the owner's */
	pgpipe_logger *log;
	void *log_arg;
	PGresult *cur; /* the rows pgpipe_read() hands over, until cleared */
};

/* A closed session describing its failures in err. */
void pgpipe_init(struct pgpipe *p, struct pgpipe_error *err, pgpipe_logger *log,
    void *log_arg);
/* Close the session (what it had in flight is not committed). */
void pgpipe_close(struct pgpipe *p);
/* Close it and free its memory. */
void pgpipe_free(struct pgpipe *p);

/*
 * Connect (blocking; not yet in pipeline mode: migrations and PREPAREs
 * run first). DB_OK, or DB_DOWN and *cause.
 */
LW_MUSTCHECK enum db_rc pgpipe_open(struct pgpipe *p, const char *conninfo,
    char **cause);
/* Enter pipeline mode once the session is set up. */
LW_MUSTCHECK enum db_rc pgpipe_start(struct pgpipe *p, char **cause);
/* Whether the session is open and its connection good. */
bool pgpipe_up(const struct pgpipe *p);
/* Whether the session is outside any transaction. */
bool pgpipe_clean(const struct pgpipe *p);
/* Queries sent and not yet read. */
size_t pgpipe_pending(const struct pgpipe *p);

/* Send a prepared statement; text parameters unless formats says. */
LW_MUSTCHECK enum db_rc pgpipe_send_prepared(struct pgpipe *p, const char *stmt,
    int n, const char *const *v, const int *lengths, const int *formats,
    int tag, void *ctx);
/* Send a statement without parameters. */
LW_MUSTCHECK enum db_rc pgpipe_send_sql(struct pgpipe *p, const char *sql,
    int tag);
/* End the pipeline with a sync. DB_OK, or DB_DOWN. */
LW_MUSTCHECK enum db_rc pgpipe_sync(struct pgpipe *p);
/* Push what is buffered to the server. DB_OK, or DB_DOWN. */
LW_MUSTCHECK enum db_rc pgpipe_flush(struct pgpipe *p);
/*
 * Read every result of the synced pipeline in order, handing the rows of
 * each query that succeeded to handle (NULL: none) until one fails.
 * DB_OK, DB_DOWN (the connection is lost), or what the first failed
 * statement's SQLSTATE means (db_classify), described in the error.
 */
LW_MUSTCHECK enum db_rc pgpipe_read(struct pgpipe *p, pgpipe_handler *handle,
    void *arg);
/*
 * In a handler of pgpipe_read(): keep the rows handed over (the caller
 * owns and PQclear()s them) instead of their being cleared on return.
 */
PGresult *pgpipe_take(struct pgpipe *p);
/*
 * Take in, without waiting, what the server has sent for the queries in
 * flight: libpq parses it into their results, and the server, its
 * socket buffer emptied, goes on with the next ones. Whatever failed is
 * found by pgpipe_read() as without it.
 */
void pgpipe_poll(struct pgpipe *p);
/* pgpipe_sync(), then pgpipe_read(). */
LW_MUSTCHECK enum db_rc pgpipe_run(struct pgpipe *p, pgpipe_handler *handle,
    void *arg);
/*
 * Whether a NOTIFY arrived on this (idle) session since the last call;
 * the notifications are consumed.
 */
bool pgpipe_notified(struct pgpipe *p);

#endif
