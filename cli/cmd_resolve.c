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

#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "cli/alert_change.h"
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
not_resolved(PGconn *c, const struct alert_change *a)
{
	const char *p[1] = { a->id };
	char *cause = NULL;
	PGresult *r;

	r = db_query(c, "read the alert",
	    "SELECT state FROM alerts WHERE id = $1", 1, p, &cause);
	if (r == NULL)
		return cli_db_fail("resolve", cause);
	if (PQntuples(r) == 0)
		fprintf(stderr, "labwatch resolve: no alert %s\n", a->id);
	else
		fprintf(stderr, "labwatch resolve: alert %s is already %s\n",
		    a->id, PQgetvalue(r, 0, 0));
	PQclear(r);
	return 1;
}

char *
cli_resolve_sql(void)
{
	return xasprintf("UPDATE alerts a SET state = 'resolved', "
			 "resolved_at = now(), resolved_by = $2, "
			 "resolve_note = $3 FROM patients p WHERE a.id = $1 "
			 "AND a.state IN ('open', 'acknowledged') "
			 "AND p.id = a.patient RETURNING %s",
	    cli_alert_columns);
}

int
cmd_resolve(int argc, char **argv)
{
	struct alert_change a = { .cmd = "resolve", .usage = resolve_usage };
	char *sql;
	int rc;

	if ((rc = alert_change_args(&a, argc, argv)) >= 0)
		return rc;
	sql = cli_resolve_sql();
	rc = alert_change_run(&a, "resolve the alert", sql, 3, not_resolved);
	free(sql);
	return rc;
}
