/*
 * cmd_enroll.c: labwatch enroll: register a patient in a protocol, or
 * change their phase or baseline.
 *
 *   labwatch enroll [--db C] PATIENT_ID --phase PHASE [--protocol NAME]
 *                   [--since ISO8601] [--baseline A=V UNIT,...]
 *                   [--protocol-file FILE]
 *
 * Prints the enrollment as one JSON line.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "lib/json.h"
#include "cmd.h"
#include "lib/xmalloc.h"
#include "rules/rules.h"
#include "store/db.h"

#define DEFAULT_PROTOCOL "NCT04933669"

static const char *const phases[] = { "screening", "neoadjuvant", "adjuvant",
	"off_study", NULL };

static void
enroll_usage(FILE *f)
{
	fprintf(f,
	    "usage: labwatch enroll [--db CONNINFO] PATIENT_ID --phase PHASE\n"
	    "                       [--protocol NAME] [--since ISO8601]\n"
	    "                       [--baseline ANALYTE=VALUE UNIT,...] "
	    "[--protocol-file FILE]\n"
	    "  Registers the patient in the protocol, or updates the phase "
	    "(and since)\n"
	    "  and baseline of their enrollment; prints it as JSON.\n"
	    "  --phase          screening, neoadjuvant, adjuvant or off_study\n"
	    "  --protocol       protocol name (default %s)\n"
	    "  --since          when the phase began (default: now when the "
	    "phase changes)\n"
	    "  --baseline       e.g. alt=100 U/L,crea=1.1 mg/dL, stored in "
	    "canonical units\n"
	    "  --protocol-file  rules protocol file for unit conversion (default\n"
	    "                   $LABWATCH_DATADIR or %s, "
	    "rules/protocols/<name>.conf)\n",
	    DEFAULT_PROTOCOL, LABWATCH_DATADIR);
}

/*
 * "alt=100 U/L,crea=1.1 mg/dL" -> {"alt":{"value":100,"uln":null},...} in
 * canonical units. -1 and *why (static) on error.
 */
static int
baseline_json(const struct rules *r, const char *arg, struct buf *b,
    const char **why)
{
	char *copy = xstrdup(arg), *item, *save = NULL, *eq, *end, *unit;
	bool seen[RULES_NANALYTES] = { false }, first = true;
	enum rules_analyte a;
	double v, f;
	size_t ulen;

	buf_addc(b, '{');
	for (item = strtok_r(copy, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		while (*item == ' ')
			item++;
		if ((eq = strchr(item, '=')) == NULL) {
			*why = "expected ANALYTE=VALUE UNIT";
			goto fail;
		}
		*eq = '\0';
		a = rules_analyte_by_name(item);
		if (a == RULES_NONE) {
			*why =
			    "unknown analyte (ast alt tbil crea anc plt hgb)";
			goto fail;
		}
		if (seen[a]) {
			*why = "an analyte is given twice";
			goto fail;
		}
		seen[a] = true;
		errno = 0;
		v = strtod(eq + 1, &end);
		if (errno != 0 || end == eq + 1 || !isfinite(v) || v < 0) {
			*why = "baseline value is not a number >= 0";
			goto fail;
		}
		unit = end;
		while (*unit == ' ')
			unit++;
		ulen = strlen(unit);
		while (ulen > 0 && unit[ulen - 1] == ' ')
			ulen--;
		if (ulen == 0) {
			*why = "baseline value without a unit";
			goto fail;
		}
		f = rules_unit_factor(r, a, unit, ulen);
		if (f == 0) {
			*why = "baseline unit not known for that analyte";
			goto fail;
		}
		if (!first)
			buf_addc(b, ',');
		first = false;
		json_strz(b, rules_analyte_name(a));
		buf_adds(b, ":{\"value\":");
		json_num_rounded(b, v * f);
		buf_adds(b, ",\"uln\":null}");
	}
	buf_addc(b, '}');
	if (first) {
		*why = "no analyte given";
		goto fail;
	}
	free(copy);
	return 0;
fail:
	free(copy);
	return -1;
}

static bool
valid_id(const char *s)
{
	if (*s == '\0' || strlen(s) > 200)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static const char enroll_sql[] =
    "INSERT INTO enrollments AS e (patient, protocol, phase, since, baseline) "
    "VALUES ($1, $2, $3, coalesce($4::timestamptz, now()),"
    " coalesce($5::jsonb, '{}')) "
    "ON CONFLICT (patient, protocol) DO UPDATE SET"
    " phase = excluded.phase,"
    " since = CASE WHEN $4::timestamptz IS NOT NULL THEN $4::timestamptz"
    "   WHEN e.phase <> excluded.phase THEN now() ELSE e.since END,"
    " baseline = e.baseline || coalesce($5::jsonb, '{}'),"
    " updated_at = now() "
    "RETURNING $6::text AS patient_id, e.protocol, e.phase,"
    " $7::text AS previous_phase, $7::text IS NULL AS created, " DB_ISO(
	"e.since") " AS since, e.baseline, e.eligibility_status, " DB_ISO("e.updated_at") " AS updated_at";

/* The enrollment transaction; prints the row. 0, or 1 after an error. */
static int
enroll(PGconn *c, const char *id, const char *protocol, const char *phase,
    const char *since, const char *baseline)
{
	const char *p[7];
	char *cause = NULL, *patient = NULL, *previous = NULL;
	struct buf b;
	PGresult *r = NULL;

	if (db_exec(c, "begin", "BEGIN", &cause) != DB_OK)
		return cli_db_fail("enroll", cause);
	p[0] = id;
	r = db_query(c, "insert the patient",
	    "INSERT INTO patients "
	    "(patient_id) VALUES ($1) ON CONFLICT (patient_id) DO NOTHING",
	    1, p, &cause);
	if (r == NULL)
		goto fail;
	PQclear(r);
	r = db_query(c, "find the patient",
	    "SELECT id FROM patients WHERE patient_id = $1", 1, p, &cause);
	if (r == NULL)
		goto fail;
	patient = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	p[0] = patient;
	p[1] = protocol;
	r = db_query(c, "read the enrollment",
	    "SELECT phase FROM enrollments "
	    "WHERE patient = $1 AND protocol = $2 FOR UPDATE",
	    2, p, &cause);
	if (r == NULL)
		goto fail;
	if (PQntuples(r) == 1)
		previous = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	p[2] = phase;
	p[3] = since;
	p[4] = baseline;
	p[5] = id;
	p[6] = previous;
	r = db_query(c, "write the enrollment", enroll_sql, 7, p, &cause);
	if (r == NULL)
		goto fail;
	if (db_exec(c, "commit", "COMMIT", &cause) != DB_OK)
		goto fail;
	buf_init(&b);
	cli_json_row(&b, r, 0);
	buf_addc(&b, '\n');
	cli_flush(&b, stdout, 0);
	buf_free(&b);
	PQclear(r);
	free(patient);
	free(previous);
	return 0;
fail:
	PQclear(r);
	PQclear(PQexec(c, "ROLLBACK"));
	free(patient);
	free(previous);
	return cli_db_fail("enroll", cause);
}

/* What the command line asks for. */
struct enroll_opts {
	const char *db, *phase, *protocol, *since, *baseline, *pfile, *id;
};

/* The options and PATIENT_ID into o: -1, or the exit code to stop with. */
static int
enroll_args(int argc, char **argv, struct enroll_opts *o)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "phase", required_argument, NULL, 'p' },
		{ "protocol", required_argument, NULL, 'P' },
		{ "since", required_argument, NULL, 's' },
		{ "baseline", required_argument, NULL, 'b' },
		{ "protocol-file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			o->db = optarg;
			break;
		case 'p':
			o->phase = optarg;
			break;
		case 'P':
			o->protocol = optarg;
			break;
		case 's':
			o->since = optarg;
			break;
		case 'b':
			o->baseline = optarg;
			break;
		case 'f':
			o->pfile = optarg;
			break;
		case 'h':
			enroll_usage(stdout);
			return 0;
		default:
			enroll_usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc || o->phase == NULL) {
		fprintf(stderr, "labwatch enroll: %s\n",
		    o->phase == NULL ? "--phase is required" :
				       "one PATIENT_ID expected");
		enroll_usage(stderr);
		return 2;
	}
	o->id = argv[optind];
	return -1;
}

/* Whether the arguments are valid; if not, says why. */
static bool
enroll_valid(const struct enroll_opts *o)
{
	int i;

	if (!valid_id(o->id)) {
		fprintf(stderr,
		    "labwatch enroll: PATIENT_ID must be 1 to 200 "
		    "printable characters\n");
		return false;
	}
	for (i = 0; phases[i] != NULL && strcmp(phases[i], o->phase) != 0; i++)
		;
	if (phases[i] == NULL) {
		fprintf(stderr,
		    "labwatch enroll: --phase is screening, "
		    "neoadjuvant, adjuvant or off_study\n");
		return false;
	}
	if (o->protocol != NULL && !valid_id(o->protocol)) {
		fprintf(stderr, "labwatch enroll: bad --protocol\n");
		return false;
	}
	return true;
}

/*
 * The rules, needed only to convert a baseline (into bj) or to check a
 * protocol file; o->protocol is then the file's. false after an error.
 */
static bool
enroll_rules(struct enroll_opts *o, struct rules **rules, struct buf *bj)
{
	const char *why = NULL;
	char *cause = NULL, *deffile = NULL;

	if (o->baseline == NULL && o->pfile == NULL)
		return true;
	if (o->pfile == NULL)
		o->pfile = deffile = cli_protocol_file(
		    o->protocol != NULL ? o->protocol : DEFAULT_PROTOCOL);
	if (rules_load(o->pfile, rules, &cause) != 0) {
		fprintf(stderr, "labwatch enroll: %s\n", cause);
		if (deffile != NULL)
			cli_datadir_hint("enroll", "--protocol-file");
		free(cause);
		free(deffile);
		return false;
	}
	free(deffile);
	o->pfile = NULL;
	if (o->protocol == NULL)
		o->protocol = rules_protocol_name(*rules);
	else if (strcmp(o->protocol, rules_protocol_name(*rules)) != 0) {
		fprintf(stderr,
		    "labwatch enroll: --protocol %s but the protocol file is "
		    "%s\n",
		    o->protocol, rules_protocol_name(*rules));
		return false;
	}
	if (o->baseline != NULL &&
	    baseline_json(*rules, o->baseline, bj, &why) != 0) {
		fprintf(stderr, "labwatch enroll: --baseline: %s\n", why);
		return false;
	}
	return true;
}

/* Whether PostgreSQL reads --since as a time (a bad one is a usage error). */
static bool
since_ok(PGconn *c, const char *since)
{
	PGresult *r;
	bool ok;

	r = PQexecParams(c, "SELECT $1::timestamptz", 1, NULL, &since, NULL,
	    NULL, 0);
	ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	PQclear(r);
	if (!ok)
		fprintf(stderr,
		    "labwatch enroll: --since is not an ISO 8601 time "
		    "(2026-11-20 or 2026-11-20T07:30:00+08:00)\n");
	return ok;
}

int
cmd_enroll(int argc, char **argv)
{
	struct enroll_opts o;
	struct rules *rules = NULL;
	struct buf bj;
	PGconn *c;
	int rc;

	if ((rc = enroll_args(argc, argv, &o)) >= 0)
		return rc;
	if (!enroll_valid(&o))
		return 2;
	buf_init(&bj);
	rc = 2;
	if (!enroll_rules(&o, &rules, &bj))
		goto out;
	if (o.protocol == NULL)
		o.protocol = DEFAULT_PROTOCOL;
	if ((c = cli_db_open("enroll", o.db, 1, &rc)) == NULL)
		goto out;
	if (o.since != NULL && !since_ok(c, o.since))
		rc = 2;
	else
		rc = enroll(c, o.id, o.protocol, o.phase, o.since,
		    o.baseline != NULL ? bj.p : NULL);
	PQfinish(c);
out:
	buf_free(&bj);
	rules_free(rules);
	return rc;
}
