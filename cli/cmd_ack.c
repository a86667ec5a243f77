/*
 * cmd_ack.c: labwatch ack: acknowledge an open alert.
 *
 *   labwatch ack [--db C] ALERT_ID --by NAME [--note TEXT]
 *
 * Prints the acknowledged alert as one JSON line. An unknown id, or an
 * alert that is not open, is an error (exit 1).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "lib/json.h"
#include "lib/xmalloc.h"
#include "cmd.h"
#include "store/db.h"

static void
ack_usage(FILE *f)
{
	fprintf(f,
	    "usage: labwatch ack [--db CONNINFO] ALERT_ID --by NAME [--note "
	    "TEXT]\n"
	    "  Marks an open alert acknowledged by NAME, now, with an optional "
	    "note (both in\n"
	    "  its history, labwatch alerts --id); prints it as JSON.\n");
}

int
cmd_ack(int argc, char **argv)
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
			ack_usage(stdout);
			return 0;
		default:
			ack_usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc || by == NULL || *by == '\0') {
		if (by == NULL || *by == '\0')
			fprintf(stderr,
			    "labwatch ack: --by NAME is required\n");
		ack_usage(stderr);
		return 2;
	}
	errno = 0;
	id = strtoll(argv[optind], &end, 10);
	if (errno != 0 || end == argv[optind] || *end != '\0' || id <= 0) {
		fprintf(stderr,
		    "labwatch ack: ALERT_ID is a positive number\n");
		return 2;
	}
	if ((c = cli_db_open("ack", db, 1, &rc)) == NULL)
		return rc;
	p[0] = argv[optind];
	p[1] = by;
	p[2] = note;
	sql = xasprintf(
	    "UPDATE alerts a SET state = 'acknowledged', "
	    "acknowledged_by = $2, acknowledged_at = now()%s "
	    "FROM patients p "
	    "WHERE a.id = $1 AND a.state = 'open' AND p.id = a.patient "
	    "RETURNING %s",
	    note != NULL ? ", ack_note = $3" : "", cli_alert_columns);
	/* The note only when given: who may ack needs no right to it. */
	r = db_query(c, "acknowledge the alert", sql, note != NULL ? 3 : 2, p,
	    &cause);
	free(sql);
	if (r == NULL) {
		PQfinish(c);
		return cli_db_fail("ack", cause);
	}
	if (PQntuples(r) == 1) {
		buf_init(&b);
		cli_json_row(&b, r, 0);
		buf_addc(&b, '\n');
		cli_flush(&b, stdout, 0);
		buf_free(&b);
		PQclear(r);
		PQfinish(c);
		return 0;
	}
	PQclear(r);
	/* Say why nothing changed. */
	r = db_query(c, "read the alert",
	    "SELECT state, acknowledged_by, " DB_ISO(
		"acknowledged_at") " FROM alerts WHERE id = $1",
	    1, p, &cause);
	if (r == NULL) {
		PQfinish(c);
		return cli_db_fail("ack", cause);
	}
	if (PQntuples(r) == 0)
		fprintf(stderr, "labwatch ack: no alert %lld\n", id);
	else if (!PQgetisnull(r, 0, 1))
		fprintf(stderr,
		    "labwatch ack: alert %lld is %s (by %s at %s), "
		    "not open\n",
		    id, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
		    PQgetvalue(r, 0, 2));
	else
		fprintf(stderr, "labwatch ack: alert %lld is %s, not open\n",
		    id, PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return 1;
}
