/*
 * cmd_db.c: what the database subcommands (migrate, enroll, status,
 * alerts, ack) share: connecting, and rows as JSON.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "lib/json.h"
#include "cmd.h"
#include "store/db.h"

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

struct pg_conn *
cli_db_open(const char *cmd, const char *db, int need_schema, int *exit_code)
{
	char *cause = NULL;
	PGconn *c;
	bool ready;

	*exit_code = 2;
	c = db_connect(db_conninfo(db), "labwatch", &cause);
	if (c == NULL) {
		fprintf(stderr, "labwatch %s: %s\n", cmd, cause);
		free(cause);
		return NULL;
	}
	if (need_schema) {
		if (db_schema_ready(c, &ready, &cause) != DB_OK)
			goto fail;
		if (!ready) {
			fprintf(stderr,
			    "labwatch %s: the database has no "
			    "labwatch schema: run labwatch migrate\n",
			    cmd);
			*exit_code = 1;
			PQfinish(c);
			return NULL;
		}
	}
	if (db_set_search_path(c, &cause) != DB_OK)
		goto fail;
	return c;
fail:
	fprintf(stderr, "labwatch %s: %s\n", cmd, cause);
	free(cause);
	PQfinish(c);
	return NULL;
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
