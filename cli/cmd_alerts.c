/*
 * cmd_alerts.c: labwatch alerts: one JSON line per alert; with --follow,
 * then each new alert as its NOTIFY labwatch_alert arrives.
 *
 *   labwatch alerts [--db C] [--state open|acknowledged|resolved|retracted|all]
 *                   [--patient ID] [--since ISO8601] [--follow]
 *                   [--json | --format table|json] [--color WHEN | --no-color]
 *
 * On a terminal the alerts are a table for people (cli/table.h): id,
 * severity, age, patient, kind, state and the summary cut to the width,
 * critical ones in bold red.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
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

static volatile sig_atomic_t stop_signal;

/*
 * The ids the first listing printed, ascending: a NOTIFY for one of them
 * (committed between LISTEN and that listing) is not new.
 */
struct seen {
	int64_t *id;
	size_t n, cap;
};

/* How the alerts are printed: JSON lines, or rows of one table. */
struct alerts_out {
	struct table_out o;
	struct table t;
	bool header;	/* the titles are still to be written */
	bool follow;	/* the titles at once, even with no rows */
	size_t printed; /* alerts */
};

static void
alerts_usage(FILE *f)
{
	fprintf(f,
	    "usage: labwatch alerts [--db CONNINFO] [--state STATE] "
	    "[--patient ID] [--since ISO8601]\n"
	    "                       [--follow]\n"
	    "  Prints the alerts, oldest first: a table on a terminal, else one "
	    "JSON line\n"
	    "  each; with --follow, then waits and prints each new alert as it "
	    "is written\n"
	    "  (Ctrl-C ends).\n"
	    "  --state    open (default), acknowledged, resolved, retracted or "
	    "all\n"
	    "  --patient  only this patient's alerts\n"
	    "  --since    only alerts created at or after this time\n"
	    "  --id ID    this alert and its history (who did what when)\n"
	    "%s",
	    table_usage);
}

static void
on_signal(int sig)
{
	stop_signal = sig;
}

static bool
seen_has(const struct seen *s, int64_t id)
{
	size_t lo = 0, hi = s->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->id[mid] == id)
			return true;
		if (s->id[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

PGresult *
cli_alerts_query(PGconn *c, const char *const *p, const char *order,
    char **cause)
{
	PGresult *r;
	char *sql;

	sql = xasprintf("SELECT %s FROM alerts a JOIN patients p "
			"ON p.id = a.patient "
			"WHERE ($1::text = 'all' OR a.state = $1) "
			"AND ($2::text IS NULL OR p.patient_id = $2) "
			"AND ($3::timestamptz IS NULL OR a.created_at >= $3) "
			"AND ($4::bigint[] IS NULL OR a.id = ANY ($4)) "
			"ORDER BY %s",
	    cli_alert_columns, order);
	r = db_query(c, "read the alerts", sql, 4, p, cause);
	free(sql);
	return r;
}

/*
 * Run the alert query with the filters of p[0..2] (state, patient, since)
 * and p[3] (an id array, or NULL) and print the rows not in skip. 0, or 1
 * after an error.
 */
static int
list(PGconn *c, const char *const *p, struct seen *record,
    const struct seen *skip, struct alerts_out *out)
{
	struct buf b;
	char *cause = NULL;
	PGresult *r;
	int64_t id;
	int i;

	r = cli_alerts_query(c, p, "a.id", &cause);
	if (r == NULL)
		return cli_db_fail("alerts", cause);
	buf_init(&b);
	for (i = 0; i < PQntuples(r); i++) {
		id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		if (skip != NULL && seen_has(skip, id))
			continue;
		if (record != NULL) {
			if (record->n == record->cap) {
				record->cap = record->cap ? record->cap * 2 :
							    256;
				record->id = xreallocarray(record->id,
				    record->cap, sizeof(*record->id));
			}
			record->id[record->n++] = id;
		}
		out->printed++;
		if (out->o.format == TABLE_FORMAT_TABLE) {
			cli_alert_table_row(&out->t, r, i);
			continue;
		}
		cli_json_row(&b, r, i);
		buf_addc(&b, '\n');
		cli_flush(&b, stdout, 1 << 16);
	}
	if (out->o.format == TABLE_FORMAT_TABLE &&
	    (out->t.nrows > 0 || (out->header && out->follow))) {
		table_write(&out->t, &b, out->header);
		out->header = false;
	}
	cli_flush(&b, stdout, 0);
	fflush(stdout);
	buf_free(&b);
	PQclear(r);
	return 0;
}

/*
 * Wait for notifications until SIGINT/SIGTERM; print the alerts they name.
 * The signals are blocked but during ppoll(), so one cannot slip in
 * between the check and the wait.
 */
static int
follow(PGconn *c, const char **p, const struct seen *initial,
    struct alerts_out *out)
{
	struct sigaction sa;
	sigset_t block, waitmask;
	struct pollfd pfd;
	struct buf ids;
	PGnotify *n;
	char *end;
	long long id;
	int rc = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGTERM);
	buf_init(&ids);
	while (!stop_signal) {
		buf_reset(&ids);
		while ((n = PQnotifies(c)) != NULL) {
			errno = 0;
			id = strtoll(n->extra, &end, 10);
			if (errno == 0 && end != n->extra && *end == '\0')
				buf_printf(&ids, "%s%lld",
				    ids.len == 0 ? "{" : ",", id);
			PQfreemem(n);
		}
		if (ids.len > 0) {
			buf_addc(&ids, '}');
			p[3] = ids.p;
			if ((rc = list(c, p, NULL, initial, out)) != 0)
				break;
			/*
			 * A NOTIFY that came with list()'s answer sits in
			 * libpq's queue, not on the socket: drain it first.
			 */
			continue;
		}
		pfd.fd = PQsocket(c);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (pfd.fd < 0) {
			fprintf(stderr, "labwatch alerts: connection lost\n");
			rc = 1;
			break;
		}
		if (ppoll(&pfd, 1, NULL, &waitmask) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "labwatch alerts: poll: %s\n",
			    strerror(errno));
			rc = 1;
			break;
		}
		if (PQconsumeInput(c) == 0) {
			fprintf(stderr, "labwatch alerts: connection lost\n");
			rc = 1;
			break;
		}
	}
	buf_free(&ids);
	return rc;
}

int
cmd_alerts(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "state", required_argument, NULL, 's' },
		{ "patient", required_argument, NULL, 'p' },
		{ "since", required_argument, NULL, 'S' },
		{ "follow", no_argument, NULL, 'f' },
		{ "id", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		TABLE_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	static const char *const states[] = { "open", "acknowledged",
		"resolved", "retracted", "all", NULL };
	const char *db = NULL, *p[4] = { "open", NULL, NULL, NULL };
	const char *show_id = NULL;
	struct seen initial = { NULL, 0, 0 };
	struct alerts_out out;
	bool want_follow = false;
	char *cause = NULL;
	PGresult *r;
	PGconn *c;
	int ch, i, rc;

	memset(&out, 0, sizeof(out));
	while ((ch = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			db = optarg;
			break;
		case 's':
			p[0] = optarg;
			break;
		case 'p':
			p[1] = optarg;
			break;
		case 'S':
			p[2] = optarg;
			break;
		case 'f':
			want_follow = true;
			break;
		case 'i':
			show_id = optarg;
			break;
		case 'h':
			alerts_usage(stdout);
			return 0;
		case TABLE_OPT_JSON:
		case TABLE_OPT_FORMAT:
		case TABLE_OPT_COLOR:
		case TABLE_OPT_NO_COLOR:
			if (table_out_option(&out.o, "alerts", ch, optarg) != 0)
				return 2;
			break;
		default:
			alerts_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		alerts_usage(stderr);
		return 2;
	}
	if (show_id != NULL)
		return cli_alert_show(db, show_id);
	for (i = 0; states[i] != NULL && strcmp(states[i], p[0]) != 0; i++)
		;
	if (states[i] == NULL) {
		fprintf(stderr,
		    "labwatch alerts: --state is open, acknowledged, "
		    "resolved, retracted or all\n");
		return 2;
	}
	if ((c = cli_db_open("alerts", db, 1, &rc)) == NULL)
		return rc;
	if (p[2] != NULL) {
		r = PQexecParams(c, "SELECT $1::timestamptz", 1, NULL, &p[2],
		    NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			fprintf(stderr,
			    "labwatch alerts: --since is not an ISO "
			    "8601 time\n");
			PQclear(r);
			PQfinish(c);
			return 2;
		}
		PQclear(r);
	}
	/* LISTEN before the first listing: nothing falls between the two. */
	if (want_follow &&
	    db_exec(c, "listen", "LISTEN labwatch_alert", &cause) != DB_OK) {
		PQfinish(c);
		return cli_db_fail("alerts", cause);
	}
	table_out_resolve(&out.o);
	table_init(&out.t, cli_alert_table, CLI_ALERT_TABLE_NCOLS, &out.o);
	/* Following, the titles come at once, and the columns do not move. */
	out.header = true;
	out.follow = want_follow;
	if (want_follow) {
		out.t.w[1] = strlen("critical");
		out.t.w[3] = 10;
		out.t.w[4] = strlen("data_quality");
		out.t.w[5] = strlen("acknowledged");
	}
	rc = list(c, p, want_follow ? &initial : NULL, NULL, &out);
	if (rc == 0 && !want_follow && out.o.format == TABLE_FORMAT_TABLE &&
	    out.printed == 0)
		printf("No %s%salerts.\n", strcmp(p[0], "all") == 0 ? "" : p[0],
		    strcmp(p[0], "all") == 0 ? "" : " ");
	if (rc == 0 && want_follow)
		rc = follow(c, p, &initial, &out);
	table_free(&out.t);
	free(initial.id);
	PQfinish(c);
	return rc;
}
