/*
 * pgpipe.c: one PostgreSQL session in pipeline mode (see pgpipe.h).
 */
#include "store/pgpipe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include "lib/xmalloc.h"

void
pgpipe_init(struct pgpipe *p, struct pgpipe_error *err, pgpipe_logger *log,
    void *log_arg)
{
	memset(p, 0, sizeof(*p));
	p->err = err;
	p->log = log;
	p->log_arg = log_arg;
}

void
pgpipe_close(struct pgpipe *p)
{
	if (p->conn != NULL)
		PQfinish(p->conn);
	p->conn = NULL;
	p->nq = 0;
}

void
pgpipe_free(struct pgpipe *p)
{
	pgpipe_close(p);
	free(p->q);
	p->q = NULL;
	p->capq = 0;
}

/* PostgreSQL's notices (migrations, triggers) into our log, one line each. */
static void
notice(void *arg, const PGresult *res)
{
	struct pgpipe *p = arg;
	const char *sev = PQresultErrorField(res,
	    PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	char msg[96];
	int level = 3;

	/* Our ROLLBACK after a failed COMMIT warns of no transaction. */
	if (sev != NULL && strcmp(sev, "WARNING") == 0 &&
	    (state == NULL || strncmp(state, "25", 2) != 0))
		level = 1;
	/* Not its words: a trigger's RAISE NOTICE may quote a value. */
	snprintf(msg, sizeof(msg), "PostgreSQL %s (SQLSTATE %s)",
	    sev ? sev : "notice", state ? state : "?");
	if (p->log != NULL)
		p->log(p->log_arg, level, msg);
}

enum db_rc
pgpipe_open(struct pgpipe *p, const char *conninfo, char **cause)
{
	pgpipe_close(p);
	p->conn = db_connect(conninfo, "labwatchd", cause);
	if (p->conn == NULL)
		return DB_DOWN;
	PQsetNoticeReceiver(p->conn, notice, p);
	return DB_OK;
}

enum db_rc
pgpipe_start(struct pgpipe *p, char **cause)
{
	if (PQenterPipelineMode(p->conn) != 1) {
		*cause = xstrdup("cannot enter pipeline mode");
		return DB_ERROR;
	}
	return DB_OK;
}

bool
pgpipe_up(const struct pgpipe *p)
{
	return p->conn != NULL && PQstatus(p->conn) == CONNECTION_OK;
}

bool
pgpipe_clean(const struct pgpipe *p)
{
	return pgpipe_up(p) && PQtransactionStatus(p->conn) == PQTRANS_IDLE;
}

size_t
pgpipe_pending(const struct pgpipe *p)
{
	return p->nq;
}

static void
push(struct pgpipe *p, int tag, void *ctx)
{
	if (p->nq == p->capq) {
		p->capq = p->capq ? p->capq * 2 : 1024;
		p->q = xreallocarray(p->q, p->capq, sizeof(*p->q));
	}
	p->q[p->nq].tag = tag;
	p->q[p->nq].ctx = ctx;
	p->nq++;
}

/* A failure of libpq itself (the connection): DB_DOWN. */
static enum db_rc
lost(struct pgpipe *p, const char *what)
{
	snprintf(p->err->msg, sizeof(p->err->msg), "%s: %s", what,
	    p->conn != NULL ? PQerrorMessage(p->conn) : "not connected");
	return DB_DOWN;
}

enum db_rc
pgpipe_send_prepared(struct pgpipe *p, const char *stmt, int n,
    const char *const *v, const int *lengths, const int *formats, int tag,
    void *ctx)
{
	char what[80];

	if (!PQsendQueryPrepared(p->conn, stmt, n, v, lengths, formats, 0)) {
		snprintf(what, sizeof(what), "sending %s", stmt);
		return lost(p, what);
	}
	push(p, tag, ctx);
	return DB_OK;
}

enum db_rc
pgpipe_send_sql(struct pgpipe *p, const char *sql, int tag)
{
	if (!PQsendQueryParams(p->conn, sql, 0, NULL, NULL, NULL, NULL, 0))
		return lost(p, "sending");
	push(p, tag, NULL);
	return DB_OK;
}

enum db_rc
pgpipe_sync(struct pgpipe *p)
{
	if (!PQpipelineSync(p->conn))
		return lost(p, "pipeline sync");
	return DB_OK;
}

enum db_rc
pgpipe_flush(struct pgpipe *p)
{
	if (PQflush(p->conn) != 0)
		return lost(p, "sending");
	return DB_OK;
}

/*
 * Keep a statement's error: the first one of the batch is the one that
 * tells. Returns what it means.
 */
static enum db_rc
note_error(struct pgpipe *p, const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (p->err->sqlstate[0] == '\0')
		snprintf(p->err->sqlstate, sizeof(p->err->sqlstate), "%s",
		    state ? state : "");
	db_scrub(res, p->err->msg, sizeof(p->err->msg));
	return db_classify(state);
}

/* The rest of one query's results, up to its NULL. */
static void
skip_rest(struct pgpipe *p)
{
	PGresult *res;

	while ((res = PQgetResult(p->conn)) != NULL) {
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			break;
		}
		PQclear(res);
	}
}

/*
 * The sync itself. An error before it is the implicit COMMIT's (a
 * statement sent without BEGIN commits at the sync): that batch did not
 * go in. Two NULLs in a row: nothing more is coming.
 */
static enum db_rc
read_sync(struct pgpipe *p, enum db_rc rc)
{
	PGresult *res;
	ExecStatusType st;
	int nulls;

	for (nulls = 0; nulls < 2;) {
		if ((res = PQgetResult(p->conn)) == NULL) {
			nulls++;
			continue;
		}
		nulls = 0;
		st = PQresultStatus(res);
		if (st == PGRES_FATAL_ERROR && rc == DB_OK)
			rc = note_error(p, res);
		PQclear(res);
		if (st == PGRES_PIPELINE_SYNC)
			break;
	}
	return rc;
}

enum db_rc
pgpipe_read(struct pgpipe *p, pgpipe_handler *handle, void *arg)
{
	PGresult *res;
	ExecStatusType st;
	size_t i;
	enum db_rc rc = DB_OK;

	for (i = 0; i < p->nq; i++) {
		res = PQgetResult(p->conn);
		if (res == NULL) {
			rc = PQstatus(p->conn) == CONNECTION_OK ? DB_ERROR :
								  DB_DOWN;
			snprintf(p->err->msg, sizeof(p->err->msg),
			    "missing result (%s)",
			    rc == DB_DOWN ? "connection lost" :
					    "connection still up");
			break;
		}
		st = PQresultStatus(res);
		p->cur = res;
		if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
			if (rc == DB_OK && handle != NULL)
				handle(arg, &p->q[i], res);
		} else if (st != PGRES_PIPELINE_ABORTED && rc == DB_OK)
			rc = note_error(p, res);
		PQclear(p->cur);
		p->cur = NULL;
		/* Each query's results end with a NULL. */
		skip_rest(p);
	}
	rc = read_sync(p, rc);
	p->nq = 0;
	if (PQstatus(p->conn) != CONNECTION_OK)
		rc = DB_DOWN;
	return rc;
}

PGresult *
pgpipe_take(struct pgpipe *p)
{
	PGresult *res = p->cur;

	p->cur = NULL;
	return res;
}

void
pgpipe_poll(struct pgpipe *p)
{
	char c;

	if (p->conn == NULL || p->nq == 0)
		return;
	/*
	 * Only when bytes wait: a read that found the end of the stream
	 * here would drop the queries still queued (libpq 15), and what the
	 * server sent before its error would then be read as unasked for.
	 * The end is for pgpipe_read() to find, after the rest, in order.
	 * (Over TLS the peek sees records, not messages: a session ending
	 * then may still fail as "missing result", without its reason.)
	 */
	if (recv(PQsocket(p->conn), &c, 1, MSG_PEEK | MSG_DONTWAIT) != 1)
		return;
	/* Parsed as it comes (PQisBusy), as PQgetResult() would. */
	if (PQconsumeInput(p->conn) == 1)
		(void)PQisBusy(p->conn);
}

enum db_rc
pgpipe_run(struct pgpipe *p, pgpipe_handler *handle, void *arg)
{
	if (pgpipe_sync(p) != DB_OK)
		return DB_DOWN;
	return pgpipe_read(p, handle, arg);
}

bool
pgpipe_notified(struct pgpipe *p)
{
	PGnotify *n;
	bool any = false;

	if (p->conn == NULL)
		return false;
	PQconsumeInput(p->conn);
	while ((n = PQnotifies(p->conn)) != NULL) {
		any = true;
		PQfreemem(n);
	}
	return any;
}
