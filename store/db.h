/*
 * db.h: the small libpq helpers the CLI and the store share: where to
 * connect, connecting, running a statement and checking its status.
 *
 * Every error comes back as -1 (or NULL) and a malloc'ed *cause naming what
 * was being done ("record the migration: permission denied ..."). Causes
 * carry the server's primary message and SQLSTATE only, never its DETAIL
 * (which quotes row values), and quoted values of data exceptions (class
 * 22) are blanked: no patient data reaches a log through them.
 */
#ifndef LABWATCH_DB_H
#define LABWATCH_DB_H

#include <libpq-fe.h>

/* An SQL expression formatting timestamptz col as ISO 8601 UTC ("...Z"). */
#define DB_ISO(col) \
	"to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/*
 * The connection string to use: opt when not NULL, else $LABWATCH_DB, else
 * "" (libpq's defaults and the PG* environment variables).
 */
const char *db_conninfo(const char *opt);

/*
 * Connect (blocking) with client_encoding UTF8 and application_name
 * appname (unless conninfo sets one). Returns the connection, or NULL and
 * *cause.
 */
PGconn *db_connect(const char *conninfo, const char *appname, char **cause);

/*
 * Run sql (one or more statements, no parameters). Returns 0 when every
 * statement succeeded, -1 and *cause ("what: server message") otherwise.
 */
int db_exec(PGconn *c, const char *what, const char *sql, char **cause);

/*
 * Run one statement with n text parameters (NULL is SQL NULL). Returns the
 * result (the caller PQclear()s it), or NULL and *cause.
 */
PGresult *db_query(PGconn *c, const char *what, const char *sql, int n,
    const char *const *params, char **cause);

/*
 * Check a result: 0 when it is a success (command, tuples or empty query),
 * else -1 and *cause. The result is not cleared.
 */
int db_check(PGconn *c, const PGresult *r, const char *what, char **cause);

/*
 * The server's error for a failed result (or the connection's), on one
 * line: "primary message (SQLSTATE xxxxx)". malloc'ed.
 */
char *db_error(PGconn *c, const PGresult *r);

/* Search only schema labwatch in this session. -1 and *cause on error. */
int db_set_search_path(PGconn *c, char **cause);

/*
 * 1 when schema labwatch has been migrated (schema_migrations exists),
 * 0 when not, -1 and *cause on error.
 */
int db_schema_ready(PGconn *c, char **cause);

#endif
