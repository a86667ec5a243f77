/*
 * cmd_status.c: labwatch status: what the database holds.
 *
 *   labwatch status [--db C]                  counts, one JSON line
 *   labwatch status [--db C] [--protocol P] PATIENT_ID
 *                                             the patient's enrollment,
 *                                             latest eligibility, open alerts
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "lib/json.h"
#include "cli/table.h"
#include "cmd.h"
#include "lib/xmalloc.h"
#include "store/db.h"

static void
status_usage(FILE *f)
{
	fprintf(f,
	    "usage: labwatch status [--db CONNINFO] [--protocol NAME] "
	    "[PATIENT_ID]\n"
	    "  Without PATIENT_ID: counts of messages by outcome, open alerts by "
	    "kind and\n"
	    "  enrollments by phase. With it: the patient's enrollment (in NAME, "
	    "default\n"
	    "  the latest updated), latest eligibility verdict and open alerts.\n"
	    "  On a terminal, tables for people: each criterion with its value, "
	    "unit,\n"
	    "  x ULN and date, the latest grade per analyte, the holds in force "
	    "and what\n"
	    "  a restart needs; else one JSON line.\n"
	    "%s",
	    table_usage);
}

/* "key":{"name":count,...} with every name of names, 0 when absent. */
static int
counts(PGconn *c, struct buf *b, const char *key, const char *what,
    const char *sql, const char *const *names, char **cause)
{
	PGresult *r;
	const char *n;
	int i, j;

	if ((r = db_query(c, what, sql, 0, NULL, cause)) == NULL)
		return -1;
	json_key(b, key, false);
	buf_addc(b, '{');
	for (i = 0; names[i] != NULL; i++) {
		json_key(b, names[i], i == 0);
		n = "0";
		for (j = 0; j < PQntuples(r); j++)
			if (strcmp(PQgetvalue(r, j, 0), names[i]) == 0)
				n = PQgetvalue(r, j, 1);
		buf_adds(b, n);
	}
	buf_addc(b, '}');
	PQclear(r);
	return 0;
}

const char *const cli_status_outcomes[] = { "processed", "ignored",
	"quarantined", NULL };
const char *const cli_status_kinds[] = { "eligibility", "toxicity", "hold",
	"resume", "data_quality", "recovery", NULL };
const char *const cli_status_phases[] = { "screening", "neoadjuvant",
	"adjuvant", "off_study", NULL };

static int
status_all(PGconn *c)
{
	struct buf b;
	char *cause = NULL;
	PGresult *r;

	buf_init(&b);
	r = db_query(c, "read the schema version",
	    "SELECT (SELECT max(version) FROM schema_migrations) AS "
	    "schema_version, " STATUS_LAST_MESSAGE_SQL(
		DB_ISO("received_at")) " AS last_message_at",
	    0, NULL, &cause);
	if (r == NULL)
		goto fail;
	cli_json_row(&b, r, 0);
	PQclear(r);
	b.len--; /* reopen the object */
	if (counts(c, &b, "messages", "count messages", status_messages_sql,
		cli_status_outcomes, &cause) != 0 ||
	    counts(c, &b, "open_alerts", "count open alerts",
		"SELECT kind, "
		"count(*) FROM alerts WHERE state = 'open' GROUP BY 1",
		cli_status_kinds, &cause) != 0 ||
	    counts(c, &b, "enrolled", "count enrollments",
		"SELECT phase, "
		"count(*) FROM enrollments GROUP BY 1",
		cli_status_phases, &cause) != 0)
		goto fail;
	buf_adds(&b, "}\n");
	cli_flush(&b, stdout, 0);
	buf_free(&b);
	return 0;
fail:
	buf_free(&b);
	return cli_db_fail("status", cause);
}

static int
status_patient(PGconn *c, const char *id, const char *protocol)
{
	const char *p[2];
	struct buf b;
	char *cause = NULL, *patient = NULL, *proto = NULL;
	PGresult *r;
	int i;

	buf_init(&b);
	p[0] = id;
	r = db_query(c, "find the patient",
	    "SELECT id, patient_id, authority, " DB_ISO(
		"created_at") " AS created_at FROM patients "
			      "WHERE patient_id = $1",
	    1, p, &cause);
	if (r == NULL)
		goto fail;
	if (PQntuples(r) == 0) {
		PQclear(r);
		buf_free(&b);
		fprintf(stderr, "labwatch status: no such patient\n");
		return 1;
	}
	patient = xstrdup(PQgetvalue(r, 0, 0));
	buf_addc(&b, '{');
	json_key(&b, "patient_id", true);
	json_strz(&b, PQgetvalue(r, 0, 1));
	json_key(&b, "authority", false);
	json_strz(&b, PQgetvalue(r, 0, 2));
	json_key(&b, "created_at", false);
	json_strz(&b, PQgetvalue(r, 0, 3));
	PQclear(r);

	p[0] = patient;
	p[1] = protocol;
	r = db_query(c, "read the enrollment",
	    "SELECT protocol, phase, " DB_ISO(
		"since") " AS since, baseline, eligibility_status, "
			 "hold_state, " DB_ISO(
			     "updated_at") " AS updated_at "
					   "FROM enrollments WHERE patient = $1 "
					   "AND ($2::text IS NULL OR protocol = $2) "
					   "ORDER BY updated_at DESC, id DESC LIMIT 1",
	    2, p, &cause);
	if (r == NULL)
		goto fail;
	json_key(&b, "enrollment", false);
	if (PQntuples(r) == 1) {
		cli_json_row(&b, r, 0);
		proto = xstrdup(PQgetvalue(r, 0, 0));
	} else
		buf_adds(&b, "null");
	PQclear(r);

	p[1] = proto != NULL ? proto : protocol;
	r = db_query(c, "read the eligibility",
	    "SELECT status, " DB_ISO(
		"evaluated_at") " AS evaluated_at, criteria "
				"FROM eligibility WHERE patient = $1 "
				"AND ($2::text IS NULL OR protocol = $2) "
				"ORDER BY evaluated_at DESC, id DESC LIMIT 1",
	    2, p, &cause);
	if (r == NULL)
		goto fail;
	json_key(&b, "eligibility", false);
	if (PQntuples(r) == 1)
		cli_json_row(&b, r, 0);
	else
		buf_adds(&b, "null");
	PQclear(r);

	r = cli_open_alerts(c, p[0], &cause);
	if (r == NULL)
		goto fail;
	json_key(&b, "open_alerts", false);
	buf_addc(&b, '[');
	for (i = 0; i < PQntuples(r); i++) {
		if (i > 0)
			buf_addc(&b, ',');
		cli_json_row(&b, r, i);
	}
	buf_adds(&b, "]}\n");
	PQclear(r);
	cli_flush(&b, stdout, 0);
	buf_free(&b);
	free(patient);
	free(proto);
	return 0;
fail:
	buf_free(&b);
	free(patient);
	free(proto);
	return cli_db_fail("status", cause);
}

int
cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "protocol", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		TABLE_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *db = NULL, *protocol = NULL;
	struct table_out out;
	PGconn *c;
	int ch, rc;

	memset(&out, 0, sizeof(out));
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			db = optarg;
			break;
		case 'P':
			protocol = optarg;
			break;
		case 'h':
			status_usage(stdout);
			return 0;
		case TABLE_OPT_JSON:
		case TABLE_OPT_FORMAT:
		case TABLE_OPT_COLOR:
		case TABLE_OPT_NO_COLOR:
			if (table_out_option(&out, "status", ch, optarg) != 0)
				return 2;
			break;
		default:
			status_usage(stderr);
			return 2;
		}
	}
	if (argc - optind > 1 || (protocol != NULL && optind == argc)) {
		status_usage(stderr);
		return 2;
	}
	if ((c = cli_db_open("status", db, 1, &rc)) == NULL)
		return rc;
	table_out_resolve(&out);
	if (out.format == TABLE_FORMAT_TABLE && optind == argc)
		rc = status_table_all(c, &out);
	else if (out.format == TABLE_FORMAT_TABLE)
		rc = status_table_patient(c, argv[optind], protocol, &out);
	else if (optind == argc)
		rc = status_all(c);
	else
		rc = status_patient(c, argv[optind], protocol);
	PQfinish(c);
	return rc;
}
