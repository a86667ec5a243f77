/*
 * migrate.c: apply sql/NNN_name.sql once each, in order, under an advisory
 * lock (see migrate.h).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/xmalloc.h"
#include "store/db.h"
#include "store/migrate.h"

#ifndef LABWATCH_DATADIR
#error "LABWATCH_DATADIR must be defined (the installed data directory)"
#endif

/* One migration file. Owned by the array of the run. */
struct migration {
	int version;
	char *file; /* "001_schema.sql" */
	char *name; /* "schema" */
};

const char *
store_migrate_default_dir(void)
{
	const char *env = getenv("LABWATCH_SQLDIR");

	return env != NULL && *env != '\0' ? env : LABWATCH_DATADIR "/sql";
}

/*
 * NNN_name.sql -> version and name; 0, or -1 when f is a .sql file of
 * another shape (an error: it would otherwise be skipped silently), or 1
 * for files that are not migrations at all.
 */
static int
parse_name(const char *f, int *version, char **name)
{
	size_t len = strlen(f), i, digits = 0;
	long v = 0;

	if (f[0] == '.')
		return 1;
	if (len < 4 || strcmp(f + len - 4, ".sql") != 0)
		return 1;
	while (isdigit((unsigned char)f[digits])) {
		v = v * 10 + (f[digits] - '0');
		if (v > INT_MAX)
			return -1;
		digits++;
	}
	if (digits == 0 || f[digits] != '_' || digits + 1 == len - 4)
		return -1;
	for (i = digits + 1; i < len - 4; i++)
		if (!isalnum((unsigned char)f[i]) && f[i] != '_' && f[i] != '-')
			return -1;
	*version = (int)v;
	*name = xstrndup(f + digits + 1, len - 4 - digits - 1);
	return 0;
}

static int
cmp_migration(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

static void
free_migrations(struct migration *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(m[i].file);
		free(m[i].name);
	}
	free(m);
}

/*
 * The migrations of dir in version order; -1 and *cause on error, -2 and
 * *cause when dir does not exist.
 */
static int
scan_dir(const char *dir, struct migration **out, size_t *nout, char **cause)
{
	struct migration *m = NULL;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;
	char *name;
	int version, rc;

	if ((d = opendir(dir)) == NULL) {
		rc = errno == ENOENT ? -2 : -1;
		*cause = xasprintf("%s: %s", dir, strerror(errno));
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		rc = parse_name(de->d_name, &version, &name);
		if (rc == 1)
			continue;
		if (rc < 0) {
			*cause = xasprintf(
			    "%s/%s: not a migration name "
			    "(NNN_name.sql, name of letters, digits, _ and -)",
			    dir, de->d_name);
			goto fail;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			m = xreallocarray(m, cap, sizeof(*m));
		}
		m[n].version = version;
		m[n].file = xstrdup(de->d_name);
		m[n].name = name;
		n++;
	}
	closedir(d);
	d = NULL;
	if (n == 0) {
		*cause = xasprintf("%s: no migrations (NNN_name.sql) found",
		    dir);
		goto fail;
	}
	qsort(m, n, sizeof(*m), cmp_migration);
	for (i = 1; i < n; i++)
		if (m[i].version == m[i - 1].version) {
			*cause =
			    xasprintf("%s: %s and %s have the same version",
				dir, m[i - 1].file, m[i].file);
			goto fail;
		}
	*out = m;
	*nout = n;
	return 0;
fail:
	if (d != NULL)
		closedir(d);
	free_migrations(m, n);
	return -1;
}

/* The whole file, NUL-terminated; NULL and *cause on error. */
static char *
read_sql(const char *path, const char *file, char **cause)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 8192, len = 0, r;
	char *p;

	if (f == NULL) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return NULL;
	}
	p = xmalloc(cap);
	while ((r = fread(p + len, 1, cap - len - 1, f)) > 0) {
		len += r;
		if (len + 1 == cap) {
			cap *= 2;
			p = xreallocarray(p, cap, 1);
		}
	}
	if (ferror(f)) {
		*cause = xasprintf("%s: read error", path);
		goto fail;
	}
	p[len] = '\0';
	if (memchr(p, '\0', len) != NULL) {
		*cause = xasprintf("%s: contains a NUL byte", file);
		goto fail;
	}
	fclose(f);
	return p;
fail:
	fclose(f);
	free(p);
	return NULL;
}

/* The line of sql where the server's error position (in characters) falls. */
static int
error_line(const char *sql, const PGresult *r)
{
	const char *pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
	long chars, seen = 0;
	int line = 1;
	const char *p;

	if (pos == NULL || (chars = strtol(pos, NULL, 10)) <= 0)
		return 0;
	for (p = sql; *p != '\0'; p++) {
		if (((unsigned char)*p & 0xc0) != 0x80 && ++seen == chars)
			break;
		if (*p == '\n')
			line++;
	}
	return line;
}

/*
 * Whether a migration failed on the rows already there (a constraint it
 * adds that they break, class 23): not the file's fault, the data's; the
 * file's comments say what to do (sql/011's one open episode).
 */
static bool
broken_by_rows(const PGresult *r)
{
	const char *st = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) :
				     NULL;

	return st != NULL && strncmp(st, "23", 2) == 0;
}

/* Run one migration in its own transaction; -1 and *cause on error. */
static int
apply_one(PGconn *c, const char *dir, const struct migration *m, char **cause)
{
	char path[PATH_MAX], version[16], *sql, *msg, *lineinfo;
	const char *params[2];
	PGresult *r;
	int line;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, m->file) >=
	    sizeof(path)) {
		*cause = xasprintf("%s/%s: path too long", dir, m->file);
		return -1;
	}
	if ((sql = read_sql(path, m->file, cause)) == NULL)
		return -1;
	if (db_exec(c, "begin the migration",
		"BEGIN; SET LOCAL search_path = labwatch", cause) != DB_OK) {
		free(sql);
		return -1;
	}
	r = PQexec(c, sql);
	if (r == NULL ||
	    (PQresultStatus(r) != PGRES_COMMAND_OK &&
		PQresultStatus(r) != PGRES_TUPLES_OK &&
		PQresultStatus(r) != PGRES_EMPTY_QUERY)) {
		msg = db_error(c, r);
		line = r != NULL ? error_line(sql, r) : 0;
		lineinfo = line > 0 ? xasprintf(":%d", line) : xstrdup("");
		if (broken_by_rows(r))
			*cause =
			    xasprintf("%s%s: %s (rolled back); rows "
				      "already in the database break it: "
				      "the comments of %s say how to find "
				      "and settle them, then migrate again",
				m->file, lineinfo, msg, m->file);
		else
			*cause = xasprintf("%s%s: %s (rolled back)", m->file,
			    lineinfo, msg);
		free(lineinfo);
		free(msg);
		PQclear(r);
		free(sql);
		PQclear(PQexec(c, "ROLLBACK"));
		return -1;
	}
	PQclear(r);
	free(sql);
	snprintf(version, sizeof(version), "%d", m->version);
	params[0] = version;
	params[1] = m->name;
	r = db_query(c, "record the migration",
	    "INSERT INTO labwatch.schema_migrations (version, name) "
	    "VALUES ($1, $2)",
	    2, params, cause);
	if (r == NULL)
		goto rollback;
	PQclear(r);
	if (db_exec(c, "commit the migration", "COMMIT", cause) != DB_OK)
		goto rollback;
	return 0;
rollback:
	msg = *cause;
	*cause = xasprintf("%s: %s (rolled back)", m->file, msg);
	free(msg);
	PQclear(PQexec(c, "ROLLBACK"));
	return -1;
}

/* Which versions the database has; -1 and *cause on error. */
static int
applied_versions(PGconn *c, int **out, size_t *nout, char **cause)
{
	PGresult *r;
	size_t i, n;

	r = db_query(c, "read schema_migrations",
	    "SELECT version FROM labwatch.schema_migrations ORDER BY 1", 0,
	    NULL, cause);
	if (r == NULL)
		return -1;
	n = (size_t)PQntuples(r);
	*out = xcalloc(n + 1, sizeof(**out));
	for (i = 0; i < n; i++)
		(*out)[i] = atoi(PQgetvalue(r, (int)i, 0));
	*nout = n;
	PQclear(r);
	return 0;
}

static bool
has_version(const int *v, size_t n, int version)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] == version)
			return true;
	return false;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum db_rc
store_migrate_each(PGconn *c, const char *sql_dir, store_migrate_cb *cb,
    void *arg, int *applied, char **cause)
{
	struct migration *m = NULL;
	size_t n = 0, ndone = 0, i;
	int *done = NULL;
	bool ready;
	enum db_rc rc = DB_ERROR;
	char *unlock_cause = NULL;
	double t0;

	*applied = 0;
	if (sql_dir == NULL)
		sql_dir = store_migrate_default_dir();
	if (scan_dir(sql_dir, &m, &n, cause) != 0)
		return DB_ERROR;
	/* Session lock: held across the per-migration transactions. */
	if ((rc = db_exec(c, "take the migration lock",
		 "SELECT pg_catalog.pg_advisory_lock(" STORE_MIGRATE_LOCK_KEY
		 ")",
		 cause)) != DB_OK) {
		free_migrations(m, n);
		return rc;
	}
	/*
	 * Create only when missing: CREATE SCHEMA IF NOT EXISTS needs the
	 * CREATE privilege even when the schema exists, and a least-privilege
	 * role must be able to find that nothing is left to do.
	 */
	if ((rc = db_schema_ready(c, &ready, cause)) != DB_OK)
		goto out;
	rc = DB_ERROR;
	if (!ready &&
	    db_exec(c, "create schema labwatch",
		"CREATE SCHEMA IF NOT EXISTS labwatch; "
		"CREATE TABLE IF NOT EXISTS labwatch.schema_migrations ("
		" version integer PRIMARY KEY,"
		" name text NOT NULL,"
		" applied_at timestamptz NOT NULL DEFAULT now())",
		cause) != DB_OK)
		goto out;
	if (applied_versions(c, &done, &ndone, cause) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (has_version(done, ndone, m[i].version))
			continue;
		t0 = now_seconds();
		if (apply_one(c, sql_dir, &m[i], cause) != 0)
			goto out;
		(*applied)++;
		if (cb != NULL)
			cb(arg, m[i].version, m[i].file, now_seconds() - t0);
	}
	rc = DB_OK;
out:
	if (rc != DB_OK && PQstatus(c) != CONNECTION_OK)
		rc = DB_DOWN;
	/* A broken connection has dropped the lock with the session. */
	if (PQstatus(c) == CONNECTION_OK &&
	    db_exec(c,
		"release the migration "
		"lock",
		"SELECT pg_catalog.pg_advisory_unlock(" STORE_MIGRATE_LOCK_KEY
		")",
		&unlock_cause) != DB_OK) {
		if (rc == DB_OK) {
			*cause = unlock_cause;
			rc = DB_ERROR;
		} else
			free(unlock_cause);
	}
	free(done);
	free_migrations(m, n);
	return rc;
}

enum db_rc
store_schema_check(PGconn *c, const char *sql_dir, struct store_schema_info *si,
    char **cause)
{
	struct migration *m = NULL;
	size_t n = 0, ndone = 0, i;
	int *done = NULL, rc2;
	char *why = NULL;
	bool ready;
	enum db_rc rc;

	memset(si, 0, sizeof(*si));
	if ((rc = db_schema_ready(c, &ready, cause)) != DB_OK)
		return rc;
	if (!ready) {
		si->state = STORE_SCHEMA_MISSING;
		return DB_OK;
	}
	if (applied_versions(c, &done, &ndone, cause) != 0)
		return PQstatus(c) != CONNECTION_OK ? DB_DOWN : DB_ERROR;
	for (i = 0; i < ndone; i++)
		if (done[i] > si->have)
			si->have = done[i];
	if (sql_dir == NULL)
		sql_dir = store_migrate_default_dir();
	/*
	 * Not installed (a build tree): nothing to compare with. Anything
	 * else (a stray .sql file, an unreadable directory) is not a reason
	 * to skip the check.
	 */
	if ((rc2 = scan_dir(sql_dir, &m, &n, &why)) != 0) {
		free(done);
		if (rc2 == -2) {
			free(why);
			si->state = STORE_SCHEMA_UNKNOWN;
			return DB_OK;
		}
		*cause = xasprintf("cannot check the database schema: %s", why);
		free(why);
		return DB_ERROR;
	}
	si->want = m[n - 1].version;
	for (i = 0; i < n && si->lacking == 0; i++)
		if (!has_version(done, ndone, m[i].version))
			si->lacking = m[i].version;
	if (si->have > si->want)
		si->state = STORE_SCHEMA_NEWER;
	else if (si->lacking != 0)
		si->state = STORE_SCHEMA_OLDER;
	else
		si->state = STORE_SCHEMA_CURRENT;
	free(done);
	free_migrations(m, n);
	return DB_OK;
}

char *
store_schema_problem(const struct store_schema_info *si, const char *prog,
    const char *migrate)
{
	switch (si->state) {
	case STORE_SCHEMA_MISSING:
		return xasprintf("the database has no labwatch schema: "
				 "run `%s`",
		    migrate);
	case STORE_SCHEMA_OLDER:
		if (si->have >= si->want)
			return xasprintf("the database schema lacks migration "
					 "%03d of this %s: run `%s`",
			    si->lacking, prog, migrate);
		return xasprintf("the database schema is at %03d, this %s "
				 "needs %03d: run `%s`",
		    si->have, prog, si->want, migrate);
	case STORE_SCHEMA_NEWER:
		return xasprintf("the database schema is at %03d, newer than "
				 "this %s (%03d): upgrade labwatch",
		    si->have, prog, si->want);
	default:
		return NULL;
	}
}

enum db_rc
store_migrate(PGconn *c, const char *sql_dir, int *applied, char **cause)
{
	return store_migrate_each(c, sql_dir, NULL, NULL, applied, cause);
}
