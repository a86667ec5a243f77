/*
 * cmd_db.c: what the database subcommands (migrate, enroll, status,
 * alerts, ack) share: connecting, and rows as JSON.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "lib/json.h"
#include "cli/table.h"
#include "cmd.h"
#include "lib/xmalloc.h"
#include "store/db.h"
#include "store/migrate.h"

/* Type OIDs (pg_type.dat) whose text form is already JSON. */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_JSON 114
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_NUMERIC 1700
#define OID_JSONB 3802

const char cli_alert_columns[] = "a.id, " DB_ISO(
    "a.created_at") " AS created_at, p.patient_id, "
		    "a.protocol, a.kind, a.severity, a.analyte, a.grade, a.summary, a.state, "
		    "a.acknowledged_by, " DB_ISO(
			"a.acknowledged_at") " AS acknowledged_at, "
					     "a.details";

PGresult *
cli_open_alerts(PGconn *c, const char *patient, char **cause)
{
	const char *p[1] = { patient };
	PGresult *r;
	char *sql;

	sql = xasprintf("SELECT %s FROM alerts a JOIN patients p "
			"ON p.id = a.patient WHERE a.patient = $1 "
			"AND a.state = 'open' ORDER BY a.id",
	    cli_alert_columns);
	r = db_query(c, "read the open alerts", sql, 1, p, cause);
	free(sql);
	return r;
}

/* Append s for a shell's double quotes. */
static void
add_dquoted(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (strchr("\"$`\\", *s) != NULL)
			buf_addc(b, '\\');
		buf_addc(b, *s);
	}
}

/* Whether a conninfo keyword names a secret: never repeated. */
static bool
is_secret(const char *keyword)
{
	return strcmp(keyword, "password") == 0 ||
	    strcmp(keyword, "sslpassword") == 0;
}

/* The options of a parsed conninfo but its passwords, as a conninfo. */
static void
add_without_password(struct buf *b, const PQconninfoOption *opts)
{
	const PQconninfoOption *o;
	const char *v;
	bool first = true;

	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || is_secret(o->keyword))
			continue;
		buf_printf(b, "%s%s=", first ? "" : " ", o->keyword);
		first = false;
		if (*o->val != '\0' && strpbrk(o->val, " '\\") == NULL) {
			buf_adds(b, o->val);
			continue;
		}
		buf_addc(b, '\'');
		for (v = o->val; *v != '\0'; v++) {
			if (*v == '\'' || *v == '\\')
				buf_addc(b, '\\');
			buf_addc(b, *v);
		}
		buf_addc(b, '\'');
	}
}

const struct table_col cli_alert_table[CLI_ALERT_TABLE_NCOLS] = {
	{ "ID", TABLE_RIGHT },
	{ "SEVERITY", 0 },
	{ "AGE", TABLE_RIGHT },
	{ "PATIENT", 0 },
	{ "KIND", 0 },
	{ "STATE", 0 },
	{ "SUMMARY", TABLE_FILL },
};

void
cli_alert_table_row(struct table *t, const PGresult *r, int i)
{
	static const char *const names[] = { "id", "severity", "created_at",
		"patient_id", "kind", "state", "summary" };
	const char *cells[7];
	char age[32];
	size_t k;
	int f;

	for (k = 0; k < 7; k++) {
		f = PQfnumber(r, names[k]);
		cells[k] = f >= 0 && !PQgetisnull(r, i, f) ?
		    PQgetvalue(r, i, f) :
		    "";
	}
	table_age(age, sizeof(age), cells[2], (long long)time(NULL));
	cells[2] = age;
	table_add(t, cells,
	    strcmp(cells[1], "critical") == 0 ? TABLE_STYLE_CRITICAL : NULL);
}

char *
cli_migrate_command(const char *db)
{
	PQconninfoOption *opts, *o;
	struct buf b, plain;
	bool secret = false;

	if (db == NULL)
		return xstrdup("labwatch migrate");
	buf_init(&b);
	buf_init(&plain);
	buf_adds(&b, "labwatch migrate --db \"");
	/* Not a conninfo (a database name): as it was given. */
	if ((opts = PQconninfoParse(db, NULL)) == NULL)
		buf_adds(&plain, db);
	for (o = opts; o != NULL && o->keyword != NULL; o++)
		if (o->val != NULL && is_secret(o->keyword))
			secret = true;
	/* Never repeat a password: libpq finds it in ~/.pgpass. */
	if (opts != NULL && secret)
		add_without_password(&plain, opts);
	else if (opts != NULL)
		buf_adds(&plain, db);
	if (opts != NULL)
		PQconninfoFree(opts);
	add_dquoted(&b, plain.len > 0 ? plain.p : "");
	buf_free(&plain);
	buf_addc(&b, '"');
	return b.p;
}

int
cli_db_schema(const char *cmd, PGconn *c, const char *db, const char *sql_dir)
{
	struct store_schema_info si;
	char *cause = NULL, *fix, *line;

	if (store_schema_check(c, sql_dir, &si, &cause) != DB_OK) {
		fprintf(stderr, "labwatch %s: %s\n", cmd, cause);
		free(cause);
		return 2;
	}
	fix = cli_migrate_command(db);
	line = store_schema_problem(&si, "labwatch", fix);
	free(fix);
	if (line == NULL)
		return 0;
	fprintf(stderr, "labwatch %s: %s\n", cmd, line);
	free(line);
	return 1;
}

struct pg_conn *
cli_db_open(const char *cmd, const char *db, int need_schema, int *exit_code)
{
	char *cause = NULL;
	PGconn *c;

	*exit_code = 2;
	c = db_connect_explained(db_conninfo(db), "labwatch", &cause);
	if (c == NULL) {
		fprintf(stderr, "labwatch %s: %s\n", cmd, cause);
		free(cause);
		return NULL;
	}
	if (need_schema &&
	    (*exit_code = cli_db_schema(cmd, c, db, NULL)) != 0) {
		PQfinish(c);
		return NULL;
	}
	*exit_code = 2;
	if (db_set_search_path(c, &cause) != DB_OK) {
		fprintf(stderr, "labwatch %s: %s\n", cmd, cause);
		free(cause);
		PQfinish(c);
		return NULL;
	}
	return c;
}

int
cli_db_fail(const char *cmd, char *cause)
{
	fprintf(stderr, "labwatch %s: %s\n", cmd, cause);
	free(cause);
	return 1;
}

void
cli_json_row(struct buf *b, const struct pg_result *r, int row)
{
	const char *v;
	int i, n = PQnfields(r);

	buf_addc(b, '{');
	for (i = 0; i < n; i++) {
		json_key(b, PQfname(r, i), i == 0);
		if (PQgetisnull(r, row, i)) {
			buf_adds(b, "null");
			continue;
		}
		v = PQgetvalue(r, row, i);
		switch (PQftype(r, i)) {
		case OID_BOOL:
			buf_adds(b, v[0] == 't' ? "true" : "false");
			break;
		case OID_INT2:
		case OID_INT4:
		case OID_INT8:
		case OID_JSON:
		case OID_JSONB:
			buf_adds(b, v);
			break;
		case OID_FLOAT4:
		case OID_FLOAT8:
		case OID_NUMERIC:
			/* NaN and Infinity are not JSON. */
			if (strchr(v, 'N') != NULL || strchr(v, 'n') != NULL)
				buf_adds(b, "null");
			else
				buf_adds(b, v);
			break;
		default:
			json_str(b, v, (size_t)PQgetlength(r, row, i));
			break;
		}
	}
	buf_addc(b, '}');
}
