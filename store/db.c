/*
 * db.c: libpq helpers shared by the CLI and the store (see db.h).
 */
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

PGconn *
db_connect(const char *conninfo, const char *appname, char **cause)
{
	/* dbname with expand_dbname = 1 takes a whole conninfo or URI. */
	const char *keys[] = { "fallback_application_name", "client_encoding",
		"dbname", NULL };
	const char *vals[] = { appname, "UTF8", conninfo, NULL };
	PGconn *c;
	char *msg;

	c = PQconnectdbParams(keys, vals, 1);
	if (c == NULL) {
		*cause = xstrdup("cannot connect to PostgreSQL: out of memory");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		msg = one_line(PQerrorMessage(c));
		*cause = xasprintf("cannot connect to PostgreSQL: %s", msg);
		free(msg);
		PQfinish(c);
		return NULL;
	}
	return c;
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

/*
 * A data exception's words up to its first ':' (what follows lists the
 * offending bytes), with what it quotes blanked: out holds "...".
 */
static void
blank_data(const char *s, char *out, size_t cap)
{
	size_t o = 0;
	bool in = false;

	for (; *s != '\0' && *s != ':' && o + 5 < cap; s++) {
		if (*s == '"') {
			if (!in) {
				memcpy(out + o, "\"...", 4);
				o += 4;
			} else
				out[o++] = '"';
			in = !in;
		} else if (!in)
			out[o++] = *s;
	}
	if (in)
		out[o++] = '"';
	out[o] = '\0';
}

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
