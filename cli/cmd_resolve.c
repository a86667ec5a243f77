/*
 * cmd_resolve.c: labwatch resolve: close an open or acknowledged alert.
 *
 *   labwatch resolve [--db C] ALERT_ID --by NAME [--note TEXT]
 *
 * Prints the resolved alert as one JSON line; its resolve event (who,
 * when, the note) is written by the alerts trigger (sql/008). An unknown
 * id, or an alert already resolved or retracted, is an error (exit 1).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cli/cmd.h"
#include "lib/xmalloc.h"
#include "store/db.h"

static void
resolve_usage(FILE *f)
{
	fprintf(f,
	    "usage: labwatch resolve [--db CONNINFO] ALERT_ID --by NAME "
	    "[--note TEXT]\n"
	    "  Marks an open or acknowledged alert resolved by NAME, now, "
	    "with an optional\n"
	    "  note (both in its history, labwatch alerts --id); prints it as "
	    "JSON.\n");
}

/* Say why nothing changed; 1. */
static int
not_resolved(PGconn *c, const char *const *p)
{
	char *cause = NULL;
	PGresult *r;

	r = db_query(c, "read the alert",
	    "SELECT state FROM alerts WHERE id = $1", 1, p, &cause);
	if (r == NULL)
		return cli_db_fail("resolve", cause);
	if (PQntuples(r) == 0)
		fprintf(stderr, "labwatch resolve: no alert %s\n", p[0]);
	else
		fprintf(stderr, "labwatch resolve: alert %s is already %s\n",
		    p[0], PQgetvalue(r, 0, 0));
	PQclear(r);
	return 1;
}

int
cmd_resolve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "by", required_argument, NULL, 'b' },
		{ "note", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = NULL, *by = NULL, *note = NULL, *p[3];
	char *cause = NULL, *sql, *end;
	struct buf b;
	long long id;
	PGresult *r;
	PGconn *c;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			db = optarg;
			break;
		case 'b':
			by = optarg;
			break;
		case 'n':
			note = optarg;
			break;
		case 'h':
			resolve_usage(stdout);
			return 0;
		default:
			resolve_usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc || by == NULL || *by == '\0') {
		if (by == NULL || *by == '\0')
			fprintf(stderr,
			    "labwatch resolve: --by NAME is required\n");
		resolve_usage(stderr);
		return 2;
	}
	errno = 0;
	id = strtoll(argv[optind], &end, 10);
	if (errno != 0 || end == argv[optind] || *end != '\0' || id <= 0) {
		fprintf(stderr,
		    "labwatch resolve: ALERT_ID is a positive number\n");
		return 2;
	}
	if ((c = cli_db_open("resolve", db, 1, &rc)) == NULL)
		return rc;
	p[0] = argv[optind];
	p[1] = by;
	p[2] = note;
	sql = xasprintf("UPDATE alerts a SET state = 'resolved', "
			"resolved_at = now(), resolved_by = $2, "
			"resolve_note = $3 FROM patients p WHERE a.id = $1 "
			"AND a.state IN ('open', 'acknowledged') "
			"AND p.id = a.patient RETURNING %s",
	    cli_alert_columns);
	r = db_query(c, "resolve the alert", sql, 3, p, &cause);
	free(sql);
	if (r == NULL) {
		PQfinish(c);
		return cli_db_fail("resolve", cause);
	}
	if (PQntuples(r) == 1) {
		buf_init(&b);
		cli_json_row(&b, r, 0);
		buf_addc(&b, '\n');
		cli_flush(&b, stdout, 0);
		buf_free(&b);
		rc = 0;
	} else
		rc = not_resolved(c, p);
	PQclear(r);
	PQfinish(c);
	return rc;
}
