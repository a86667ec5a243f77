/*
 * db.c: libpq helpers shared by the CLI and the store (see db.h).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "store/db.h"

/* Collapse runs of white space (libpq's messages span lines) and trim. */
static char *
one_line(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;
	int space = 0;

	for (; *s != '\0'; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
			space = o != out;
			continue;
		}
		if (space)
			*o++ = ' ';
		space = 0;
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

const char *
db_conninfo(const char *opt)
{
	const char *env;

	if (opt != NULL)
		return opt;
	env = getenv("LABWATCH_DB");
	return env != NULL ? env : "";
}

/*
 * s with every value it quotes blanked ("..."): a connection string's
 * words come back quoted in libpq's messages, a password's among them.
 * With stop, only up to the first ':' (a data exception lists the
 * offending bytes after it).
 */
static char *
blank_quoted(const char *s, bool stop)
{
	char *out = xmalloc(4 * strlen(s) + 3), *o = out;
	bool in = false;

	for (; *s != '\0' && (!stop || *s != ':'); s++) {
		if (*s == '"') {
			if (!in) {
				memcpy(o, "\"...", 4);
				o += 4;
			} else
				*o++ = '"';
			in = !in;
		} else if (!in)
			*o++ = *s;
	}
	if (in)
		*o++ = '"';
	*o = '\0';
	return out;
}

/* A data exception's words up to its first ':', what it quotes blanked. */
static void
blank_data(const char *s, char *out, size_t cap)
{
	char *b = blank_quoted(s, true);

	snprintf(out, cap, "%s", b);
	free(b);
}

/*
 * Whether libpq's idea of the host (a list, comma-separated) looks like
 * host names, addresses or socket paths: a URI missing its '@' puts the
 * user name there, and whatever follows where the password would be.
 */
static bool
plausible_host(const char *h)
{
	for (; *h != '\0'; h++)
		if (!isalnum((unsigned char)*h) &&
		    strchr(".-_:/,[]%", *h) == NULL)
			return false;
	return true;
}

/* Whether the port (a list, comma-separated) is digits. */
static bool
plausible_port(const char *p)
{
	if (*p == '\0')
		return false;
	for (; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p) && *p != ',')
			return false;
	return true;
}

/* Whether libpq reads s as a connection string or URI, not a dbname. */
static bool
is_conninfo(const char *s)
{
	return strchr(s, '=') != NULL || strncmp(s, "postgresql://", 13) == 0 ||
	    strncmp(s, "postgres://", 11) == 0;
}

/*
 * What libpq's message says went wrong, without where: the first line
 * after its last ": " ("connection to server at ..., port 5432 failed:
 * Connection refused" -> "connection refused").
 */
static char *
failure_reason(const char *msg)
{
	const char *end = strchr(msg, '\n'), *p, *start = msg;
	char *out;
	size_t len;

	if (end == NULL)
		end = msg + strlen(msg);
	for (p = msg; p + 1 < end; p++)
		if (p[0] == ':' && p[1] == ' ')
			start = p + 2;
	while (start < end && *start == ' ')
		start++;
	len = (size_t)(end - start);
	if (len == 0)
		return xstrdup("unknown error");
	out = xstrndup(start, len);
	if (isupper((unsigned char)out[0]) && islower((unsigned char)out[1]))
		out[0] = (char)tolower((unsigned char)out[0]);
	return out;
}

/*
 * Why c could not connect, never quoting conninfo (which may hold a
 * password); with explain, a second attempt (PQping) tells a server that
 * is not there from one that refused us.
 */
static char *
connect_failure(PGconn *c, const char *conninfo, const char *const *keys,
    const char *const *vals, bool explain)
{
	PQconninfoOption *opts;
	char *err = NULL, *line, *why, *out, *where, words[256];
	const char *host = PQhost(c), *port = PQport(c);

	if (is_conninfo(conninfo) &&
	    (opts = PQconninfoParse(conninfo, &err)) == NULL) {
		/* libpq quotes the part it could not read: blank it. */
		line = one_line(err != NULL ? err : "out of memory");
		blank_data(line, words, sizeof(words));
		free(line);
		PQfreemem(err);
		return xasprintf("the connection string (--db or LABWATCH_DB) "
				 "is not valid: %s",
		    words);
	} else if (is_conninfo(conninfo))
		PQconninfoFree(opts);
	if (host == NULL || *host == '\0')
		host = "(default)";
	else if (!plausible_host(host))
		host = "(not a host name)";
	if (port == NULL || *port == '\0')
		port = "(default)";
	else if (!plausible_port(port))
		port = "(not a number)";
	where = xasprintf("host=%s port=%s", host, port);
	if (!explain) {
		line = one_line(PQerrorMessage(c));
		why = blank_quoted(line, false);
		free(line);
		out = xasprintf("cannot connect to PostgreSQL at %s: %s", where,
		    why);
		free(why);
		free(where);
		return out;
	}
	line = failure_reason(PQerrorMessage(c));
	why = blank_quoted(line, false);
	free(line);
	if (PQpingParams(keys, vals, 1) == PQPING_NO_RESPONSE)
		out = xasprintf("cannot reach PostgreSQL at %s: "
				"%s; is it running? "
				"(see `systemctl status postgresql`)",
		    where, why);
	else
		out = xasprintf("PostgreSQL at %s refused the "
				"connection: %s",
		    where, why);
	free(why);
	free(where);
	return out;
}

/* dbname with expand_dbname = 1 takes a whole conninfo or URI. */
static const char *const connect_keys[] = { "fallback_application_name",
	"client_encoding", "dbname", NULL };

static PGconn *
connect_params(const char *conninfo, const char *appname, bool explain,
    char **cause)
{
	const char *const *keys = connect_keys;
	const char *vals[] = { appname, "UTF8", conninfo, NULL };
	PGconn *c;

	c = PQconnectdbParams(keys, vals, 1);
	if (c == NULL) {
		*cause = xstrdup("cannot connect to PostgreSQL: out of memory");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		*cause = connect_failure(c, conninfo, keys, vals, explain);
		PQfinish(c);
		return NULL;
	}
	return c;
}

PGconn *
db_connect(const char *conninfo, const char *appname, char **cause)
{
	return connect_params(conninfo, appname, false, cause);
}

PGconn *
db_connect_start(const char *conninfo, const char *appname)
{
	const char *vals[] = { appname, "UTF8", conninfo, NULL };

	return PQconnectStartParams(connect_keys, vals, 1);
}

char *
db_connect_cause(PGconn *c, const char *conninfo)
{
	const char *vals[] = { "labwatch", "UTF8", conninfo, NULL };

	return connect_failure(c, conninfo, connect_keys, vals, false);
}

PGconn *
db_connect_explained(const char *conninfo, const char *appname, char **cause)
{
	return connect_params(conninfo, appname, true, cause);
}

char *
db_error(PGconn *c, const PGresult *r)
{
	char *line, words[320];

	if (r == NULL ||
	    PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) == NULL) {
		/* No server error: the connection broke, or libpq refused. */
		line = one_line(c != NULL ? PQerrorMessage(c) : "no result");
		if (*line == '\0') {
			free(line);
			line = xstrdup("unknown error");
		}
		return line;
	}
	db_scrub(r, words, sizeof(words));
	return xstrdup(words);
}

/* Whether sqlstate starts with one of the prefixes. */
static bool
state_in(const char *sqlstate, const char *const *prefixes, size_t n)
{
	size_t i;

	if (sqlstate == NULL || strlen(sqlstate) != 5)
		return false;
	for (i = 0; i < n; i++)
		if (strncmp(sqlstate, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

#define STATE_IN(s, list) state_in(s, list, sizeof(list) / sizeof(list[0]))

void
db_scrub(const PGresult *r, char *out, size_t cap)
{
	const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

	/*
	 * Raised in a function (a trigger's RAISE ... USING ERRCODE =
	 * 'check_violation' looks like the server's own 23514): its words
	 * are whatever its author wrote, values included. Not ours to log.
	 */
	if (PQresultErrorField(r, PG_DIAG_CONTEXT) != NULL)
		primary = NULL;
	db_scrub_fields(PQresultErrorField(r, PG_DIAG_SQLSTATE), primary, out,
	    cap);
}

void
db_scrub_fields(const char *state, const char *primary, char *out, size_t cap)
{
	/* Classes whose primary message speaks of the database or our names. */
	static const char *const own[] = {
		"08",
		"23",
		"25",
		"40",
		"42",
		"53",
		"54",
		"55",
		"57",
		"58",
		"F0",
		"XX",
	};
	char *line = NULL, words[256];

	if (primary != NULL)
		line = one_line(primary);
	if (line != NULL && STATE_IN(state, own))
		snprintf(words, sizeof(words), "%s", line);
	else if (line != NULL && state != NULL && strncmp(state, "22", 2) == 0)
		blank_data(line, words, sizeof(words));
	else
		snprintf(words, sizeof(words), "%s",
		    db_classify(state) == DB_REFUSED ? "data refused" :
						       "statement refused");
	free(line);
	if (state != NULL && *state != '\0')
		snprintf(out, cap, "%s (SQLSTATE %s)", words, state);
	else
		snprintf(out, cap, "%s", words);
}

enum db_rc
db_classify(const char *sqlstate)
{
	/* The session cannot be used, or the server takes no writes. */
	static const char *const down[] = {
		"08",			   /* connection exception */
		"57P01", "57P02", "57P03", /* shutdown, crash, starting */
		"53300",		   /* too many connections */
		"25006", /* read-only transaction: a standby */
	};
	/* What a message carried: our statements take values as parameters. */
	static const char *const refused[] = {
		"22", /* data exception */
		"23", /* integrity constraint violation */
		"54", /* program limit exceeded (index row size) */
	};

	if (STATE_IN(sqlstate, down))
		return DB_DOWN;
	if (STATE_IN(sqlstate, refused))
		return DB_REFUSED;
	return DB_ERROR;
}

bool
db_fault(const char *sqlstate)
{
	static const char *const fault[] = {
		"08", "25", "40", "42", "53", "55", "57", "58", "F0", "XX001",
		"XX002", /* data or index corrupted */
	};

	return STATE_IN(sqlstate, fault);
}

bool
db_transient(const char *sqlstate)
{
	static const char *const transient[] = {
		"40",	 /* deadlock, serialization failure */
		"55P03", /* lock not available */
	};

	return STATE_IN(sqlstate, transient);
}

enum db_rc
db_check(PGconn *c, const PGresult *r, const char *what, char **cause)
{
	char *msg;

	switch (r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_EMPTY_QUERY:
		return DB_OK;
	default:
		msg = db_error(c, r);
		*cause = xasprintf("%s: %s", what, msg);
		free(msg);
		if (c != NULL && PQstatus(c) != CONNECTION_OK)
			return DB_DOWN;
		return db_classify(
		    r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL);
	}
}

enum db_rc
db_exec(PGconn *c, const char *what, const char *sql, char **cause)
{
	PGresult *r;
	enum db_rc rc;

	/* The last statement's result; a failure stops PQexec there. */
	r = PQexec(c, sql);
	rc = db_check(c, r, what, cause);
	PQclear(r);
	return rc;
}

PGresult *
db_query(PGconn *c, const char *what, const char *sql, int n,
    const char *const *params, char **cause)
{
	PGresult *r;

	r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	if (db_check(c, r, what, cause) != DB_OK) {
		PQclear(r);
		return NULL;
	}
	return r;
}

enum db_rc
db_set_search_path(PGconn *c, char **cause)
{
	return db_exec(c, "set search_path",
	    "SELECT pg_catalog.set_config('search_path', 'labwatch', false)",
	    cause);
}

enum db_rc
db_schema_ready(PGconn *c, bool *ready, char **cause)
{
	PGresult *r;
	enum db_rc rc;

	*ready = false;
	r = PQexec(c,
	    "SELECT pg_catalog.to_regclass('labwatch.schema_migrations')"
	    " IS NOT NULL");
	if ((rc = db_check(c, r, "look for schema labwatch", cause)) == DB_OK)
		*ready = PQntuples(r) == 1 &&
		    strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return rc;
}
