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

/* Blank what a message quotes: data exceptions quote the offending value. */
static char *
blank_quoted(const char *s)
{
	char *out = xmalloc(strlen(s) + 4), *o = out;
	int in = 0;

	for (; *s != '\0'; s++) {
		if (*s == '"') {
			if (!in) {
				memcpy(o, "\"...", 4);
				o += 4;
			} else
				*o++ = '"';
			in = !in;
			continue;
		}
		if (!in)
			*o++ = *s;
	}
	if (in)
		*o++ = '"';
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
	const char *primary = NULL, *state = NULL;
	char *msg, *line, *out;

	if (r != NULL) {
		primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
		state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	}
	if (primary == NULL) {
		/* No server error: the connection broke, or libpq refused. */
		line = one_line(c != NULL ? PQerrorMessage(c) : "no result");
		if (*line == '\0') {
			free(line);
			line = xstrdup("unknown error");
		}
		return line;
	}
	line = one_line(primary);
	if (state != NULL && strncmp(state, "22", 2) == 0) {
		msg = blank_quoted(line);
		free(line);
		line = msg;
	}
	if (state != NULL)
		out = xasprintf("%s (SQLSTATE %s)", line, state);
	else
		out = xstrdup(line);
	free(line);
	return out;
}

int
db_check(PGconn *c, const PGresult *r, const char *what, char **cause)
{
	char *msg;

	switch (r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_EMPTY_QUERY:
		return 0;
	default:
		msg = db_error(c, r);
		*cause = xasprintf("%s: %s", what, msg);
		free(msg);
		return -1;
	}
}

int
db_exec(PGconn *c, const char *what, const char *sql, char **cause)
{
	PGresult *r;
	int rc;

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
	if (db_check(c, r, what, cause) != 0) {
		PQclear(r);
		return NULL;
	}
	return r;
}

int
db_set_search_path(PGconn *c, char **cause)
{
	return db_exec(c, "set search_path",
	    "SELECT pg_catalog.set_config('search_path', 'labwatch', false)",
	    cause);
}

int
db_schema_ready(PGconn *c, char **cause)
{
	PGresult *r;
	int ready;

	r = db_query(c, "look for schema labwatch",
	    "SELECT pg_catalog.to_regclass('labwatch.schema_migrations') "
	    "IS NOT NULL", 0, NULL, cause);
	if (r == NULL)
		return -1;
	ready = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return ready;
}
