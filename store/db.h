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

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "lib/attr.h"

/* What a failed statement means, from its SQLSTATE class (db_classify). */
enum db_rc {
	DB_OK = 0,
	DB_DOWN,    /* the session cannot be used now: it broke, or 08,
			   57P01-03, 53300, 25006 (a standby) */
	DB_REFUSED, /* refused for the data it carried: 22, 23, 54 */
	DB_ERROR,   /* refused for another reason (a trigger, a timeout,
			   a deadlock, permissions) */
};

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
 * *cause ("cannot connect to PostgreSQL at host=H port=P: libpq's reason").
 */
PGconn *db_connect(const char *conninfo, const char *appname, char **cause);

/*
 * db_connect() without blocking: the connection under way (drive it with
 * PQconnectPoll, PQsocket read again each time), with the same settings;
 * NULL only when out of memory. Only the name lookup of a host may block
 * (libpq's limit).
 */
PGconn *db_connect_start(const char *conninfo, const char *appname);
/*
 * Why the connection c to conninfo (db_connect_start's) failed, as
 * db_connect() says it, never quoting conninfo. malloc'ed.
 */
char *db_connect_cause(PGconn *c, const char *conninfo);

/*
 * db_connect() for people: on failure *cause says what went wrong and what
 * fixes it, "cannot reach PostgreSQL at host=H port=P: connection refused;
 * is it running? (see `systemctl status postgresql`)" when no server
 * answered (a second attempt, PQping, tells), the server's reason when it
 * refused us. Neither ever quotes conninfo: no password reaches a cause.
 */
PGconn *db_connect_explained(const char *conninfo, const char *appname,
    char **cause);

/*
 * Run sql (one or more statements, no parameters). DB_OK when every
 * statement succeeded, else what the error means and *cause ("what:
 * server message").
 */
LW_MUSTCHECK enum db_rc db_exec(PGconn *c, const char *what, const char *sql,
    char **cause);

/*
 * Run one statement with n text parameters (NULL is SQL NULL). Returns the
 * result (the caller PQclear()s it), or NULL and *cause.
 */
PGresult *db_query(PGconn *c, const char *what, const char *sql, int n,
    const char *const *params, char **cause);

/*
 * Check a result: DB_OK when it is a success (command, tuples or empty
 * query), else what the error means and *cause. The result is not cleared.
 */
LW_MUSTCHECK enum db_rc db_check(PGconn *c, const PGresult *r, const char *what,
    char **cause);

/*
 * The server's error for a failed result (or the connection's), on one
 * line, as "permission denied for table alerts (SQLSTATE 42501)", scrubbed
 * as db_scrub() says.
 * malloc'ed.
 */
char *db_error(PGconn *c, const PGresult *r);

/*
 * The one scrubber of patient data out of a server error: into out (cap
 * bytes, always terminated) "WORDS (SQLSTATE CODE)", where WORDS are the
 * primary message on one line when its class speaks of the database or
 * names only our objects (08 25 40 42 53 54 55 57 58 F0 XX, 23), the
 * primary message up to its first ':' with quoted text blanked for a data
 * exception (22, which quotes and lists the offending value), and only
 * "data refused" or "statement refused" for anything else. An error
 * raised inside a function (it has a CONTEXT: a trigger's RAISE may give
 * any SQLSTATE and quote what a row held) gets those two words whatever
 * its class. Never DETAIL, HINT or CONTEXT.
 */
void db_scrub(const PGresult *r, char *out, size_t cap);
/* The same from the two fields (either may be NULL). */
void db_scrub_fields(const char *sqlstate, const char *primary, char *out,
    size_t cap);

/* What a SQLSTATE means for a statement (NULL or "": DB_ERROR). */
enum db_rc db_classify(const char *sqlstate);
/*
 * Whether a SQLSTATE speaks of the database's own state (permissions,
 * resources, locks, a cancel, corruption), not of what a message held.
 */
bool db_fault(const char *sqlstate);
/* Whether a statement refused with it may pass if tried again (deadlock). */
bool db_transient(const char *sqlstate);

/* Search only schema labwatch in this session (else *cause). */
LW_MUSTCHECK enum db_rc db_set_search_path(PGconn *c, char **cause);

/*
 * Whether schema labwatch has been migrated (schema_migrations exists),
 * in *ready; DB_OK, or what the error means and *cause.
 */
LW_MUSTCHECK enum db_rc db_schema_ready(PGconn *c, bool *ready, char **cause);

#endif
