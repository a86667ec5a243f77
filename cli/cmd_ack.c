/*
 * cmd_ack.c: labwatch ack: acknowledge an open alert.
 *
 *   labwatch ack [--db C] ALERT_ID --by NAME [--note TEXT]
 *
 * Prints the acknowledged alert as one JSON line. An unknown id, or an
 * alert that is not open, is an error (exit 1).
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "cli/alert_change.h"
#include "cli/cmd.h"
#include "lib/xmalloc.h"
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

/* Say why nothing changed; 1. */
static int
not_acked(PGconn *c, const struct alert_change *a)
{
	const char *p[1] = { a->id };
	char *cause = NULL;
	PGresult *r;

	r = db_query(c, "read the alert",
	    "SELECT state, acknowledged_by, " DB_ISO(
		"acknowledged_at") " FROM alerts WHERE id = $1",
	    1, p, &cause);
	if (r == NULL)
		return cli_db_fail("ack", cause);
	if (PQntuples(r) == 0)
		fprintf(stderr, "labwatch ack: no alert %s\n", a->id);
	else if (!PQgetisnull(r, 0, 1))
		fprintf(stderr,
		    "labwatch ack: alert %s is %s (by %s at %s), not open\n",
		    a->id, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
		    PQgetvalue(r, 0, 2));
	else
		fprintf(stderr, "labwatch ack: alert %s is %s, not open\n",
		    a->id, PQgetvalue(r, 0, 0));
	PQclear(r);
	return 1;
}

char *
cli_ack_sql(bool note)
{
	return xasprintf("UPDATE alerts a SET state = 'acknowledged', "
			 "acknowledged_by = $2, acknowledged_at = now()%s "
			 "FROM patients p "
			 "WHERE a.id = $1 AND a.state = 'open' "
			 "AND p.id = a.patient RETURNING %s",
	    note ? ", ack_note = $3" : "", cli_alert_columns);
}

int
cmd_ack(int argc, char **argv)
{
	struct alert_change a = { .cmd = "ack", .usage = ack_usage };
	char *sql;
	int rc;

	if ((rc = alert_change_args(&a, argc, argv)) >= 0)
		return rc;
	sql = cli_ack_sql(a.note != NULL);
	/* The note only when given: who may ack needs no right to it. */
	rc = alert_change_run(&a, "acknowledge the alert", sql,
	    a.note != NULL ? 3 : 2, not_acked);
	free(sql);
	return rc;
}
