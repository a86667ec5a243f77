/*
 * alert_change.c: the arguments and the update `labwatch ack` and
 * `labwatch resolve` share (alert_change.h).
 */
#include "config.h"

#include "cli/alert_change.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "cli/cmd.h"
#include "lib/buf.h"
#include "store/db.h"

int
alert_change_args(struct alert_change *a, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "by", required_argument, NULL, 'b' },
		{ "note", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long long id;
	int ch;

	a->db = a->by = a->note = a->id = NULL;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			a->db = optarg;
			break;
		case 'b':
			a->by = optarg;
			break;
		case 'n':
			a->note = optarg;
			break;
		case 'h':
			a->usage(stdout);
			return 0;
		default:
			a->usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc || a->by == NULL || *a->by == '\0') {
		if (a->by == NULL || *a->by == '\0')
			fprintf(stderr, "labwatch %s: --by NAME is required\n",
			    a->cmd);
		a->usage(stderr);
		return 2;
	}
	errno = 0;
	id = strtoll(argv[optind], &end, 10);
	if (errno != 0 || end == argv[optind] || *end != '\0' || id <= 0) {
		fprintf(stderr, "labwatch %s: ALERT_ID is a positive number\n",
		    a->cmd);
		return 2;
	}
	a->id = argv[optind];
	return -1;
}

int
alert_change_run(const struct alert_change *a, const char *what,
    const char *sql, int nparams,
    int (*explain)(struct pg_conn *c, const struct alert_change *a))
{
	const char *p[3] = { a->id, a->by, a->note };
	char *cause = NULL;
	struct buf b;
	PGresult *r;
	PGconn *c;
	int rc;

	if ((c = cli_db_open(a->cmd, a->db, 1, &rc)) == NULL)
		return rc;
	r = db_query(c, what, sql, nparams, p, &cause);
	if (r == NULL) {
		PQfinish(c);
		return cli_db_fail(a->cmd, cause);
	}
	if (PQntuples(r) == 1) {
		buf_init(&b);
		cli_json_row(&b, r, 0);
		buf_addc(&b, '\n');
		cli_flush(&b, stdout, 0);
		buf_free(&b);
		rc = 0;
	} else
		rc = explain(c, a);
	PQclear(r);
	PQfinish(c);
	return rc;
}
