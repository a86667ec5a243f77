/*
 * cmd_reevaluate.c: labwatch reevaluate: the stored results judged again
 * under the current rules data and protocol file (store/reeval.c), the
 * difference printed as a table on a terminal or JSON lines.
 *
 *   labwatch reevaluate [--db CONNINFO] [--protocol-file FILE]
 *                       [--patient ID] [--since TIME] [--until TIME]
 *                       [--dry-run] [--json|--format F] [--color W]
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "cli/cmd.h"
#include "lib/json.h"
#include "lib/xmalloc.h"
#include "store/reeval.h"

#define DEFAULT_PROTOCOL "nct04933669"

static void
reevaluate_usage(FILE *f)
{
	fprintf(f,
	    "usage: labwatch reevaluate [--db CONNINFO] [--protocol-file FILE]"
	    "\n"
	    "                           [--patient ID] [--since TIME] "
	    "[--until TIME]\n"
	    "                           [--dry-run] [--json]\n"
	    "  Judges the stored results of enrolled patients again under the "
	    "rules data\n"
	    "  and protocol file, writes the toxicity, recovery, hold, resume, "
	    "eligibility\n"
	    "  and data_quality alerts they now imply,"
	    " retracts those they no longer support (\"re-evaluated under "
	    "sha256:...\"),\n"
	    "  and prints the difference. Messages and observations are never "
	    "changed;\n"
	    "  a screening patient's verdict, when it differs, is appended.\n"
	    "  --db             connection string (default $LABWATCH_DB)\n"
	    "  --protocol-file  protocol file (default "
	    "$LABWATCH_DATADIR/rules/protocols/%s.conf)\n"
	    "  --patient        only this patient (PID-3.1)\n"
	    "  --since, --until only results observed in [since, until), "
	    "ISO 8601\n"
	    "  --dry-run        print the difference, write nothing\n"
	    "%s",
	    DEFAULT_PROTOCOL, table_usage);
}

struct reevaluate {
	struct table_out o;
	struct table t;
	struct buf out;
	bool dry_run;
};

static const struct table_col change_cols[] = {
	{ "CHANGE", 0 },
	{ "KIND", 0 },
	{ "PATIENT", 0 },
	{ "ALERT", TABLE_RIGHT },
	{ "OBSERVATION", TABLE_RIGHT },
	{ "ANALYTE", 0 },
	{ "GRADE", TABLE_RIGHT },
	{ "RULE", 0 },
	{ "VERDICT", 0 },
	{ "STATE", TABLE_FILL },
};

static const struct table_col sum_cols[] = {
	{ "KIND", 0 },
	{ "NEW", TABLE_RIGHT },
	{ "RETRACTED", TABLE_RIGHT },
	{ "UPDATED", TABLE_RIGHT },
	{ "UNCHANGED", TABLE_RIGHT },
};

static const char *const change_names[] = { "new", "retracted", "updated" };

static void
on_change(void *arg, const struct reeval_change *c)
{
	struct reevaluate *r = arg;
	char alert[24], obs[24], grade[16];
	const char *cells[10];

	if (r->o.format == TABLE_FORMAT_JSON) {
		buf_addc(&r->out, '{');
		json_key(&r->out, "change", true);
		json_strz(&r->out, change_names[c->change]);
		json_key(&r->out, "kind", false);
		json_strz(&r->out, reeval_kind_name(c->kind));
		json_key(&r->out, "patient", false);
		json_strz(&r->out, c->pid);
		json_key(&r->out, "alert", false);
		if (c->alert > 0)
			json_int(&r->out, c->alert);
		else
			buf_adds(&r->out, "null");
		json_key(&r->out, "observation", false);
		json_int(&r->out, c->observation);
		json_key(&r->out, "analyte", false);
		if (c->analyte != RULES_NONE)
			json_strz(&r->out, rules_analyte_name(c->analyte));
		else
			buf_adds(&r->out, "null");
		json_key(&r->out, "grade", false);
		if (c->grade >= 0)
			json_int(&r->out, c->grade);
		else
			buf_adds(&r->out, "null");
		if (c->rule != NULL) {
			json_key(&r->out, "rule", false);
			json_strz(&r->out, c->rule);
		}
		if (c->verdict != NULL) {
			json_key(&r->out, "verdict", false);
			json_strz(&r->out, c->verdict);
			json_key(&r->out, "message", false);
			json_int(&r->out, c->message);
		}
		json_key(&r->out, "state", false);
		json_strz(&r->out, c->state);
		json_key(&r->out, "dry_run", false);
		buf_adds(&r->out, r->dry_run ? "true}\n" : "false}\n");
		cli_flush(&r->out, stdout, CLI_FLUSH_BLOCK);
		return;
	}
	snprintf(alert, sizeof(alert), "%" PRId64, c->alert);
	snprintf(obs, sizeof(obs), "%" PRId64, c->observation);
	snprintf(grade, sizeof(grade), "%d", c->grade);
	cells[0] = change_names[c->change];
	cells[1] = reeval_kind_name(c->kind);
	cells[2] = c->pid;
	cells[3] = c->alert > 0 ? alert : "-";
	cells[4] = obs;
	cells[5] = c->analyte != RULES_NONE ? rules_analyte_name(c->analyte) :
					      "";
	cells[6] = c->grade >= 0 ? grade : "-";
	cells[7] = c->rule != NULL ? c->rule : "";
	cells[8] = c->verdict != NULL ? c->verdict : "";
	cells[9] = c->state;
	table_add(&r->t, cells, NULL);
}

/* The summary: per kind, then one line of totals. */
static void
summary(struct reevaluate *r, const struct reeval_stats *st, const char *hash,
    double secs)
{
	char n[4][24];
	const char *cells[5];
	struct table t;
	int k;

	if (r->o.format == TABLE_FORMAT_TABLE) {
		if (r->t.nrows > 0) {
			table_write(&r->t, &r->out, true);
			buf_addc(&r->out, '\n');
		}
		table_init(&t, sum_cols, 5, &r->o);
	}
	for (k = 0; k < REEVAL_NKINDS; k++) {
		if (r->o.format == TABLE_FORMAT_JSON) {
			buf_addc(&r->out, '{');
			json_key(&r->out, "kind", true);
			json_strz(&r->out, reeval_kind_name(k));
			json_key(&r->out, "new", false);
			json_uint(&r->out, st->added[k]);
			json_key(&r->out, "retracted", false);
			json_uint(&r->out, st->retracted[k]);
			json_key(&r->out, "updated", false);
			json_uint(&r->out, st->updated[k]);
			json_key(&r->out, "unchanged", false);
			json_uint(&r->out, st->unchanged[k]);
			buf_adds(&r->out, "}\n");
			continue;
		}
		snprintf(n[0], sizeof(n[0]), "%" PRIu64, st->added[k]);
		snprintf(n[1], sizeof(n[1]), "%" PRIu64, st->retracted[k]);
		snprintf(n[2], sizeof(n[2]), "%" PRIu64, st->updated[k]);
		snprintf(n[3], sizeof(n[3]), "%" PRIu64, st->unchanged[k]);
		cells[0] = reeval_kind_name(k);
		cells[1] = n[0];
		cells[2] = n[1];
		cells[3] = n[2];
		cells[4] = n[3];
		table_add(&t, cells, NULL);
	}
	if (r->o.format == TABLE_FORMAT_TABLE) {
		table_write(&t, &r->out, true);
		table_free(&t);
		buf_printf(&r->out,
		    "%s%" PRIu64 " patients, %" PRIu64 " messages, %" PRIu64
		    " results in %.2f s; %" PRIu64
		    " patients judged on corrected or deleted results; "
		    "%" PRIu64 " eligibility verdicts appended; "
		    "protocol sha256:%s\n",
		    r->dry_run ? "dry run: nothing written. " : "",
		    st->patients, st->messages, st->results, secs,
		    st->corrected, st->verdicts, hash);
		return;
	}
	buf_adds(&r->out, "{\"patients\":");
	json_uint(&r->out, st->patients);
	json_key(&r->out, "messages", false);
	json_uint(&r->out, st->messages);
	json_key(&r->out, "results", false);
	json_uint(&r->out, st->results);
	json_key(&r->out, "corrected_patients", false);
	json_uint(&r->out, st->corrected);
	json_key(&r->out, "verdicts", false);
	json_uint(&r->out, st->verdicts);
	json_key(&r->out, "seconds", false);
	json_num_rounded(&r->out, secs);
	json_key(&r->out, "protocol_sha256", false);
	json_strz(&r->out, hash);
	json_key(&r->out, "dry_run", false);
	buf_adds(&r->out, r->dry_run ? "true}\n" : "false}\n");
}

/* The protocol file's SHA-256 in hex: 0, or -1 (errno) when unreadable. */
static int
file_sha256(const char *path, char hex[65])
{
	unsigned char d[32];
	unsigned int n = 32, i;
	char *p;
	size_t len;

	if (cli_read_file(path, &p, &len) != 0)
		return -1;
	EVP_Digest(p, len, d, &n, EVP_sha256(), NULL);
	free(p);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	return 0;
}

struct reevaluate_args {
	const char *db, *protocol, *since, *until;
	struct reeval_opts ro;
};

/* Options into a: -1 to go on, else the exit status. */
static int
reevaluate_options(int argc, char **argv, struct reevaluate *r,
    struct reevaluate_args *a)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "protocol-file", required_argument, NULL, 'P' },
		{ "patient", required_argument, NULL, 'p' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		TABLE_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			a->db = optarg;
			break;
		case 'P':
			a->protocol = optarg;
			break;
		case 'p':
			a->ro.patient = optarg;
			break;
		case 's':
			a->since = optarg;
			break;
		case 'u':
			a->until = optarg;
			break;
		case 'n':
			a->ro.dry_run = r->dry_run = true;
			break;
		case 'h':
			reevaluate_usage(stdout);
			return 0;
		case TABLE_OPT_JSON:
		case TABLE_OPT_FORMAT:
		case TABLE_OPT_COLOR:
		case TABLE_OPT_NO_COLOR:
			if (table_out_option(&r->o, "reevaluate", ch, optarg) !=
			    0)
				return 2;
			break;
		default:
			reevaluate_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr,
		    "labwatch reevaluate: unexpected argument '%s'\n",
		    argv[optind]);
		reevaluate_usage(stderr);
		return 2;
	}
	return -1;
}

/* --since and --until: 0, or 2 having said why. */
static int
reevaluate_window(struct reevaluate_args *a)
{
	time_t now = time(NULL);
	struct tm tm;
	int tz;

	localtime_r(&now, &tm);
	tz = (int)(tm.tm_gmtoff / 60);
	a->ro.since = INT64_MIN;
	a->ro.until = INT64_MAX;
	if (a->since != NULL && cli_parse_at(a->since, tz, &a->ro.since) != 0) {
		fprintf(stderr,
		    "labwatch reevaluate: --since '%s' is not ISO 8601\n",
		    a->since);
		return 2;
	}
	if (a->until != NULL && cli_parse_at(a->until, tz, &a->ro.until) != 0) {
		fprintf(stderr,
		    "labwatch reevaluate: --until '%s' is not ISO 8601\n",
		    a->until);
		return 2;
	}
	if (a->ro.since >= a->ro.until) {
		fprintf(stderr,
		    "labwatch reevaluate: --since must be before --until\n");
		return 2;
	}
	return 0;
}

/* Load the rules and hash the file: 0, or 2 having said why. */
static int
reevaluate_rules(const char *path, struct rules **rules, char hash[65])
{
	char *cause = NULL;

	if (rules_load(path, rules, &cause) != 0) {
		fprintf(stderr, "labwatch reevaluate: %s\n", cause);
		free(cause);
		return 2;
	}
	if (file_sha256(path, hash) != 0) {
		fprintf(stderr, "labwatch reevaluate: %s: cannot read\n", path);
		return 2;
	}
	return 0;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
cmd_reevaluate(int argc, char **argv)
{
	struct reevaluate r;
	struct reevaluate_args a;
	struct reeval_stats st;
	struct rules *rules = NULL;
	char hash[65], *defpath = NULL, *cause = NULL, reason[96];
	PGconn *c = NULL, *rd[REEVAL_READERS] = { NULL };
	double t0;
	int i, rc;

	memset(&r, 0, sizeof(r));
	memset(&a, 0, sizeof(a));
	if ((rc = reevaluate_options(argc, argv, &r, &a)) >= 0)
		return rc;
	if (reevaluate_window(&a) != 0)
		return 2;
	if (a.protocol == NULL)
		a.protocol = defpath = cli_protocol_file(DEFAULT_PROTOCOL);
	rc = reevaluate_rules(a.protocol, &rules, hash);
	free(defpath);
	if (rc != 0) {
		rules_free(rules);
		return rc;
	}
	/* The next batches are read on rd[] while one is judged on c. */
	c = (PGconn *)cli_db_open("reevaluate", a.db, 1, &rc);
	for (i = 0; c != NULL && i < REEVAL_READERS; i++)
		if ((rd[i] = (PGconn *)cli_db_open("reevaluate", a.db, 0,
			 &rc)) == NULL) {
			while (i-- > 0)
				PQfinish(rd[i]);
			PQfinish(c);
			c = NULL;
		}
	if (c == NULL) {
		rules_free(rules);
		return rc;
	}
	snprintf(reason, sizeof(reason), "re-evaluated under sha256:%s", hash);
	a.ro.reason = reason;
	a.ro.on_change = on_change;
	a.ro.arg = &r;
	table_out_resolve(&r.o);
	table_init(&r.t, change_cols, 10, &r.o);
	buf_init(&r.out);
	t0 = now_s();
	rc = reeval_run(c, rd, REEVAL_READERS, rules, &a.ro, &st, &cause) != 0 ?
	    1 :
	    0;
	if (rc != 0) {
		cli_flush(&r.out, stdout, 0);
		fprintf(stderr, "labwatch reevaluate: %s\n",
		    cause != NULL ? cause : "failed");
	} else
		summary(&r, &st, hash, now_s() - t0);
	free(cause);
	cli_flush(&r.out, stdout, 0);
	table_free(&r.t);
	buf_free(&r.out);
	for (i = 0; i < REEVAL_READERS; i++)
		PQfinish(rd[i]);
	PQfinish(c);
	rules_free(rules);
	if (fflush(stdout) != 0)
		rc = 2;
	return rc;
}
