/*
 * alert_history.c: labwatch alerts --id: one alert and who did what to
 * it when (its alert_events, sql/008).
 *
 * Prints the alert as `labwatch alerts` prints it, with one more key,
 * "history": its events, oldest first, each {"event", "at", "by",
 * "note"} ("by" null: labwatch itself). On a terminal the history
 * follows as lines people read.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "cli/cmd.h"
#include "lib/json.h"
#include "lib/xmalloc.h"
#include "store/db.h"

/* The history of events e as lines for people. */
static void
history_lines(const PGresult *e)
{
	int i;

	for (i = 0; i < PQntuples(e); i++)
		printf("  %s  %-11s  %s%s%s\n", PQgetvalue(e, i, 1),
		    PQgetvalue(e, i, 0),
		    PQgetisnull(e, i, 2) ? "labwatch" : PQgetvalue(e, i, 2),
		    PQgetisnull(e, i, 3) ? "" : ": ",
		    PQgetisnull(e, i, 3) ? "" : PQgetvalue(e, i, 3));
}

PGresult *
cli_alert_events(PGconn *c, const char *id, char **cause)
{
	const char *p[1] = { id };

	return db_query(c, "read the alert's history",
	    "SELECT event, " DB_ISO("at") ", by, note FROM alert_events "
					  "WHERE alert = $1 ORDER BY id",
	    1, p, cause);
}

int
cli_alert_show(const char *db, const char *id)
{
	const char *p[1] = { id };
	char *sql, *cause = NULL;
	PGresult *a = NULL, *e = NULL;
	struct buf b;
	PGconn *c;
	int rc, i;

	if (id[0] == '\0' || strspn(id, "0123456789") != strlen(id)) {
		fprintf(stderr, "labwatch alerts: --id is an alert number\n");
		return 2;
	}
	if ((c = cli_db_open("alerts", db, 1, &rc)) == NULL)
		return rc;
	sql = xasprintf("SELECT %s FROM alerts a JOIN patients p "
			"ON p.id = a.patient WHERE a.id = $1",
	    cli_alert_columns);
	a = db_query(c, "read the alert", sql, 1, p, &cause);
	free(sql);
	if (a != NULL)
		e = cli_alert_events(c, id, &cause);
	if (a == NULL || e == NULL) {
		rc = cli_db_fail("alerts", cause);
		goto out;
	}
	if (PQntuples(a) == 0) {
		fprintf(stderr, "labwatch alerts: no alert %s\n", id);
		rc = 1;
		goto out;
	}
	buf_init(&b);
	cli_json_row(&b, a, 0);
	b.len--; /* the closing brace */
	buf_adds(&b, ",\"history\":[");
	for (i = 0; i < PQntuples(e); i++) {
		buf_adds(&b, i == 0 ? "{" : ",{");
		json_key(&b, "event", true);
		json_strz(&b, PQgetvalue(e, i, 0));
		json_key(&b, "at", false);
		json_strz(&b, PQgetvalue(e, i, 1));
		json_key(&b, "by", false);
		json_str_or_null(&b,
		    PQgetisnull(e, i, 2) ? NULL : PQgetvalue(e, i, 2),
		    (size_t)PQgetlength(e, i, 2));
		json_key(&b, "note", false);
		json_str_or_null(&b,
		    PQgetisnull(e, i, 3) ? NULL : PQgetvalue(e, i, 3),
		    (size_t)PQgetlength(e, i, 3));
		buf_addc(&b, '}');
	}
	buf_adds(&b, "]}\n");
	cli_flush(&b, stdout, 0);
	buf_free(&b);
	if (isatty(STDOUT_FILENO))
		history_lines(e);
	rc = 0;
out:
	PQclear(a);
	PQclear(e);
	PQfinish(c);
	return rc;
}
