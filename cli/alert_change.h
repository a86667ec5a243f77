/*
 * alert_change.h: what `labwatch ack` and `labwatch resolve` share: their
 * arguments (ALERT_ID --by NAME [--note TEXT] [--db CONNINFO]) and the
 * UPDATE ... RETURNING that prints the changed alert as one JSON line.
 */
#ifndef LABWATCH_CLI_ALERT_CHANGE_H
#define LABWATCH_CLI_ALERT_CHANGE_H

#include <stdio.h>

struct pg_conn;

struct alert_change {
	const char *cmd; /* "ack", "resolve" */
	void (*usage)(FILE *);
	const char *db, *by, *note;
	const char *id; /* ALERT_ID as given: a positive number */
};

/*
 * Read argv into *a (cmd and usage set by the caller). Returns -1 to go
 * on, or the exit status: 0 after --help, 2 for a wrong command line
 * (said on stderr).
 */
int alert_change_args(struct alert_change *a, int argc, char **argv);

/*
 * Open the database and run sql (an UPDATE ... RETURNING
 * cli_alert_columns with $1 the id, $2 the name, $3 the note when
 * nparams is 3). One row: printed as JSON, 0. No row: explain(c, a) says
 * why and gives the status. Database errors: said, 1 or 2.
 */
int alert_change_run(const struct alert_change *a, const char *what,
    const char *sql, int nparams,
    int (*explain)(struct pg_conn *c, const struct alert_change *a));

#endif
