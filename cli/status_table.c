/*
 * status_table.c: labwatch status for people (a terminal, or --format
 * table): the counts, or one patient's enrollment, each eligibility
 * criterion with its value, unit, x ULN and date, the latest grade per
 * analyte, the holds in force with what a restart needs, and the open
 * alerts. The JSON lines are cmd_status.c's.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cli/table.h"
#include "cmd.h"
#include "lib/xmalloc.h"
#include "rules/rules.h"
#include "store/db.h"

/* A time as people read it here: "2026-11-02 08:00" (UTC). */
#define HUMAN_TIME(col) \
	"to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"
/* value / ULN, where the protocol counts in ULN (liver, kidney). */
#define TIMES_ULN(a, v, uln) \
	"CASE WHEN " a " IN ('ast', 'alt', 'tbil', 'crea') THEN " \
	"coalesce(to_char(" v " / nullif(" uln ", 0), 'FM999990.00'), '') " \
	"ELSE '' END"

/* clang-format off */
/*
 * Each criterion of the verdicts of latest (a query of ord, criteria: the
 * eligibility rows, ord their order), with its observation: name,
 * verdict, value, unit, x ULN, date, ord; by ord, then criterion order.
 * The observation by a lateral probe of its primary key (LIMIT 1 keeps it
 * one): the planner cannot count the criteria in the JSON and would
 * otherwise hash the whole observations table.
 */
#define CRITERIA_SQL(latest) \
    "WITH e AS (" latest "), " \
    "c AS (SELECT e.ord, x.n, x.v FROM e, jsonb_array_elements(CASE WHEN " \
    " jsonb_typeof(e.criteria) = 'array' THEN e.criteria ELSE '[]' END) " \
    " WITH ORDINALITY AS x(v, n) " \
    " UNION ALL SELECT e.ord, " \
    " 1000000 + row_number() OVER (PARTITION BY e.ord ORDER BY y.k), " \
    " CASE WHEN jsonb_typeof(y.v) = 'object' THEN y.v ELSE '{}' END " \
    " || jsonb_build_object('analyte', y.k) " \
    " FROM e, jsonb_each(CASE WHEN jsonb_typeof(e.criteria) = 'object' " \
    " THEN e.criteria ELSE '{}' END) AS y(k, v)) " \
    "SELECT coalesce(c.v->>'criterion', c.v->>'analyte', ''), " \
    " coalesce(c.v->>'verdict', ''), coalesce(c.v->>'value', ''), " \
    " coalesce(c.v->>'unit', ''), " \
    TIMES_ULN("o.analyte", "o.canonical_value", "o.uln") ", " \
    " coalesce(" HUMAN_TIME("o.observed_at") ", ''), c.ord " \
    "FROM c LEFT JOIN LATERAL (SELECT analyte, canonical_value, uln, " \
    " observed_at FROM observations WHERE id = CASE WHEN " \
    " c.v->>'observation' ~ '^[1-9][0-9]{0,17}$' " \
    " THEN (c.v->>'observation')::bigint END LIMIT 1) o ON true " \
    "ORDER BY c.ord, c.n"

/* Each criterion of the latest verdict, with its observation. */
const char status_criteria_sql[] = CRITERIA_SQL(
    "SELECT 0 AS ord, criteria FROM eligibility WHERE patient = $1 "
    " AND ($2::text IS NULL OR protocol = $2) "
    " ORDER BY evaluated_at DESC, id DESC LIMIT 1");

/* The same for the eligibility rows of ids $1 (a bigint[]), ord 1, 2... */
const char status_criteria_rows_sql[] = CRITERIA_SQL(
    "SELECT w.ord, x.criteria FROM unnest($1::bigint[]) "
    " WITH ORDINALITY AS w(id, ord) JOIN eligibility x ON x.id = w.id");
/* clang-format on */

/* The newest standing final result of each analyte, in protocol order. */
const char status_grades_sql[] =
    "SELECT analyte, grade, value, unit, xuln, observed FROM ("
    "SELECT DISTINCT ON (o.analyte) o.analyte, "
    " coalesce(o.grade::text, '-') AS grade, "
    " coalesce(o.comparator, '') || coalesce(trim_scale(round("
    " o.canonical_value::numeric, 2))::text, o.value_raw, '') AS value, "
    " CASE WHEN o.canonical_value IS NULL THEN coalesce(o.unit, '') "
    " ELSE coalesce(o.canonical_unit, '') END AS unit, " TIMES_ULN("o.analyte",
	"o.canonical_value",
	"o.uln") " AS xuln, "
		 "coalesce(" HUMAN_TIME(
		     "o.observed_at") ", '') AS observed "
				      "FROM observations o WHERE o.patient = $1 AND o.analyte IS NOT NULL "
				      "AND NOT o.retracted AND coalesce(o.status, 'F') IN ('F', 'C') "
				      "AND NOT EXISTS (SELECT 1 FROM observations s "
				      " WHERE s.patient = o.patient AND s.supersedes = o.id) "
				      "ORDER BY o.analyte, o.observed_at DESC NULLS LAST, o.id DESC) g "
				      "ORDER BY array_position(ARRAY['ast', 'alt', 'tbil', 'crea', 'anc', "
				      "'plt', 'hgb'], analyte), analyte";

static const struct table_col kv_cols[] = {
	{ "", 0 },
	{ "", 0 },
};

static const struct table_col criteria_cols[] = {
	{ "CRITERION", 0 },
	{ "VERDICT", 0 },
	{ "VALUE", TABLE_RIGHT },
	{ "UNIT", 0 },
	{ "x ULN", TABLE_RIGHT },
	{ "DATE (UTC)", TABLE_FILL },
};

static const struct table_col grade_cols[] = {
	{ "ANALYTE", 0 },
	{ "GRADE", TABLE_RIGHT },
	{ "VALUE", TABLE_RIGHT },
	{ "UNIT", 0 },
	{ "x ULN", TABLE_RIGHT },
	{ "DATE (UTC)", TABLE_FILL },
};

static const struct table_col hold_cols[] = {
	{ "HOLD", 0 },
	{ "SINCE (UTC)", 0 },
	{ "A RESTART NEEDS", TABLE_FILL },
};

/* A section's title, bold on a colour terminal. */
static void
section(struct buf *b, const struct table_out *o, const char *title)
{
	buf_printf(b, "\n%s%s%s\n", o->color ? TABLE_STYLE_HEADER : "", title,
	    o->color ? "\033[0m" : "");
}

/* Every row of r as a table under title; none: the line if_none. */
static void
rows_table(struct buf *b, const struct table_out *o, const char *title,
    const struct table_col *cols, size_t ncols, const PGresult *r,
    const char *if_none)
{
	const char *cells[TABLE_MAX_COLS];
	struct table t;
	size_t k;
	int i;

	section(b, o, title);
	if (PQntuples(r) == 0) {
		buf_printf(b, "%s\n", if_none);
		return;
	}
	table_init(&t, cols, ncols, o);
	for (i = 0; i < PQntuples(r); i++) {
		for (k = 0; k < ncols && (int)k < PQnfields(r); k++)
			cells[k] = PQgetvalue(r, i, (int)k);
		for (; k < ncols; k++)
			cells[k] = "";
		/* A failed criterion, a grade 3 or 4 stand out. */
		table_add(&t, cells,
		    (cols == criteria_cols && strcmp(cells[1], "fail") == 0) ||
			    (cols == grade_cols && atoi(cells[1]) >= 3) ?
			TABLE_STYLE_CRITICAL :
			NULL);
	}
	table_write(&t, b, true);
	table_free(&t);
}

/* Label and value lines, aligned. */
static void
kv(struct table *t, const char *k, const char *v)
{
	const char *cells[2] = { k, v };

	table_add(t, cells, NULL);
}

/* The holds of enrollment row 0 of e, with what each restart needs. */

/*
 * The holds in force and since when. hold_state is {"rule": {"since":
 * epoch, "obs": id, "stops": n}} as labwatchd writes it, or the first form
 * {"rule": epoch}; an entry that says "held": false only keeps a count.
 */
/* clang-format off */
#define HOLDS_SQL							\
	"SELECT h.key, "						\
	HUMAN_TIME("to_timestamp(CASE WHEN jsonb_typeof(h.value) = "	\
	    "'number' THEN h.value::text::float8 "			\
	    "ELSE (h.value->>'since')::float8 END)")			\
	" FROM enrollments e, jsonb_each(e.hold_state) AS h"		\
	" WHERE e.id = $1 AND (jsonb_typeof(h.value) = 'number'"	\
	" OR (jsonb_typeof(h.value) = 'object'"				\
	" AND jsonb_typeof(h.value->'since') = 'number'"		\
	" AND coalesce(h.value->>'held', 'true') <> 'false'))"		\
	" ORDER BY 1"
/* clang-format on */
const char status_holds_sql[] = HOLDS_SQL;

void
status_hold_restart(const struct rules *rules, const char *hold, char *text,
    size_t cap)
{
	size_t k, n;

	snprintf(text, cap,
	    "the protocol's restart thresholds (its file was not "
	    "found: see LABWATCH_DATADIR)");
	n = rules != NULL ? rules_hold_count(rules) : 0;
	for (k = 0; k < n; k++)
		if (strcmp(rules_hold_name(rules, k), hold) == 0)
			rules_hold_restart_text(rules, k, text, cap);
}

static int
holds(PGconn *c, struct buf *b, const struct table_out *o, const char *enr,
    const char *proto, char **cause)
{
	const char *p[1] = { enr }, *cells[3];
	struct rules *rules = NULL;
	char *file, *why = NULL, text[512];
	struct table t;
	PGresult *r;
	int i;

	r = db_query(c, "read the holds", status_holds_sql, 1, p, cause);
	if (r == NULL)
		return -1;
	section(b, o, "Holds in force");
	if (PQntuples(r) == 0) {
		buf_adds(b, "none\n");
		PQclear(r);
		return 0;
	}
	file = cli_protocol_file(proto);
	if (rules_load(file, &rules, &why) != 0)
		rules = NULL;
	table_init(&t, hold_cols, 3, o);
	for (i = 0; i < PQntuples(r); i++) {
		cells[0] = PQgetvalue(r, i, 0);
		cells[1] = PQgetvalue(r, i, 1);
		status_hold_restart(rules, cells[0], text, sizeof(text));
		cells[2] = text;
		table_add(&t, cells, TABLE_STYLE_CRITICAL);
	}
	table_write(&t, b, true);
	table_free(&t);
	if (rules != NULL)
		buf_adds(b, "(each measured after the hold began)\n");
	rules_free(rules);
	free(why);
	free(file);
	PQclear(r);
	return 0;
}

/* The enrollment and eligibility lines; *enr, *proto the enrollment's. */
static int
header(PGconn *c, struct buf *b, const struct table_out *o,
    const char *const *pp, const char *label, char **enr, char **proto,
    char **cause)
{
	const char *p[2] = { pp[0], pp[1] };
	struct table t;
	PGresult *r;
	char *line;

	table_init(&t, kv_cols, 2, o);
	kv(&t, "Patient", label);
	r = db_query(c, "read the enrollment",
	    "SELECT id, protocol, phase, " HUMAN_TIME(
		"since") " FROM enrollments WHERE patient = $1 "
			 "AND ($2::text IS NULL OR protocol = $2) "
			 "ORDER BY updated_at DESC, id DESC LIMIT 1",
	    2, p, cause);
	if (r == NULL)
		goto fail;
	if (PQntuples(r) == 1) {
		*enr = xstrdup(PQgetvalue(r, 0, 0));
		*proto = xstrdup(PQgetvalue(r, 0, 1));
		kv(&t, "Protocol", *proto);
		line = xasprintf("%s since %s UTC", PQgetvalue(r, 0, 2),
		    PQgetvalue(r, 0, 3));
		kv(&t, "Phase", line);
		free(line);
	} else
		kv(&t, "Protocol", "not enrolled");
	PQclear(r);
	if (*proto != NULL)
		p[1] = *proto;
	r = db_query(c, "read the eligibility",
	    "SELECT status, " HUMAN_TIME(
		"evaluated_at") " FROM eligibility WHERE patient = $1 "
				"AND ($2::text IS NULL OR protocol = $2) "
				"ORDER BY evaluated_at DESC, id DESC LIMIT 1",
	    2, p, cause);
	if (r == NULL)
		goto fail;
	line = PQntuples(r) == 1 ?
	    xasprintf("%s, evaluated %s UTC", PQgetvalue(r, 0, 0),
		PQgetvalue(r, 0, 1)) :
	    xstrdup("not evaluated");
	kv(&t, "Eligibility", line);
	free(line);
	PQclear(r);
	table_write(&t, b, false);
	table_free(&t);
	return 0;
fail:
	table_free(&t);
	return -1;
}

int
status_table_patient(PGconn *c, const char *id, const char *protocol,
    const struct table_out *o)
{
	char *cause = NULL, *label = NULL, *enr = NULL, *proto = NULL;
	char *pid = NULL;
	const char *p[2] = { id, protocol };
	struct table t;
	struct buf b;
	PGresult *r;
	int i, rc = 1;

	buf_init(&b);
	r = db_query(c, "find the patient",
	    "SELECT id, patient_id, authority FROM patients "
	    "WHERE patient_id = $1",
	    1, p, &cause);
	if (r == NULL)
		goto fail;
	if (PQntuples(r) == 0) {
		PQclear(r);
		fprintf(stderr, "labwatch status: no such patient\n");
		goto out;
	}
	label = *PQgetvalue(r, 0, 2) != '\0' ?
	    xasprintf("%s (%s)", PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2)) :
	    xstrdup(PQgetvalue(r, 0, 1));
	pid = xstrdup(PQgetvalue(r, 0, 0));
	p[0] = pid;
	PQclear(r);
	if (header(c, &b, o, p, label, &enr, &proto, &cause) != 0)
		goto fail;
	p[1] = proto != NULL ? proto : protocol;
	if ((r = db_query(c, "read the criteria", status_criteria_sql, 2, p,
		 &cause)) == NULL)
		goto fail;
	if (PQntuples(r) > 0)
		rows_table(&b, o, "Eligibility criteria (latest verdict)",
		    criteria_cols, 6, r, "");
	PQclear(r);
	if ((r = db_query(c, "read the grades", status_grades_sql, 1, p,
		 &cause)) == NULL)
		goto fail;
	rows_table(&b, o, "Latest result per analyte", grade_cols, 6, r,
	    "no results");
	PQclear(r);
	if (enr != NULL && holds(c, &b, o, enr, proto, &cause) != 0)
		goto fail;
	r = cli_open_alerts(c, p[0], &cause);
	if (r == NULL)
		goto fail;
	section(&b, o, "Open alerts");
	table_init(&t, cli_alert_table, CLI_ALERT_TABLE_NCOLS, o);
	for (i = 0; i < PQntuples(r); i++)
		cli_alert_table_row(&t, r, i);
	if (PQntuples(r) == 0)
		buf_adds(&b, "none\n");
	table_write(&t, &b, PQntuples(r) > 0);
	table_free(&t);
	PQclear(r);
	cli_flush(&b, stdout, 0);
	rc = 0;
	goto out;
fail:
	rc = cli_db_fail("status", cause);
out:
	buf_free(&b);
	free(pid);
	free(label);
	free(enr);
	free(proto);
	return rc;
}

/* clang-format off */
/*
 * The messages by outcome, from indexes: the total from the primary key,
 * the quarantined and the ignored from their partial indexes (sql/001,
 * sql/013), processed the rest. A GROUP BY outcome read every message,
 * raw bytes and all (300 ms at 150,000 messages on a loaded machine).
 */
const char status_messages_sql[] =
    "WITH t AS (SELECT count(*) AS n FROM messages), "
    "q AS (SELECT count(*) AS n FROM messages WHERE outcome = 'quarantined'), "
    "i AS (SELECT count(*) AS n FROM messages WHERE outcome = 'ignored') "
    "SELECT 'processed', t.n - q.n - i.n FROM t, q, i "
    "UNION ALL SELECT 'ignored', n FROM i "
    "UNION ALL SELECT 'quarantined', n FROM q";
/* clang-format on */

/* "name N, name N, ..." of a GROUP BY query, every name, 0 when absent. */
static char *
count_line(PGconn *c, const char *sql, const char *const *names, char **cause)
{
	struct buf b;
	PGresult *r;
	const char *n;
	int i, j;

	if ((r = db_query(c, "count", sql, 0, NULL, cause)) == NULL)
		return NULL;
	buf_init(&b);
	for (i = 0; names[i] != NULL; i++) {
		n = "0";
		for (j = 0; j < PQntuples(r); j++)
			if (strcmp(PQgetvalue(r, j, 0), names[i]) == 0)
				n = PQgetvalue(r, j, 1);
		buf_printf(&b, "%s%s %s", i > 0 ? ", " : "", names[i], n);
	}
	PQclear(r);
	return b.p;
}

int
status_lines(PGconn *c, void (*fn)(void *, const char *, const char *),
    void *arg, char **cause)
{
	static const char *const sql[] = {
		status_messages_sql,
		"SELECT kind, count(*) FROM alerts WHERE state = 'open' GROUP BY 1",
		"SELECT phase, count(*) FROM enrollments GROUP BY 1",
	};
	static const char *const labels[] = { "Messages", "Open alerts",
		"Enrolled" };
	const char *const *names[] = { cli_status_outcomes, cli_status_kinds,
		cli_status_phases };
	char *line;
	PGresult *r;
	size_t i;

	r = db_query(c, "read the schema version",
	    "SELECT coalesce(lpad((SELECT max(version) FROM schema_migrations)"
	    "::text, 3, '0'), '-'), coalesce(" STATUS_LAST_MESSAGE_SQL(
		HUMAN_TIME("received_at") " || ' UTC'") ", 'none')",
	    0, NULL, cause);
	if (r == NULL)
		return -1;
	fn(arg, "Schema", PQgetvalue(r, 0, 0));
	fn(arg, "Last message", PQgetvalue(r, 0, 1));
	PQclear(r);
	for (i = 0; i < 3; i++) {
		if ((line = count_line(c, sql[i], names[i], cause)) == NULL)
			return -1;
		fn(arg, labels[i], line);
		free(line);
	}
	return 0;
}

static void
kv_fn(void *t, const char *k, const char *v)
{
	kv(t, k, v);
}

int
status_table_all(PGconn *c, const struct table_out *o)
{
	char *cause = NULL;
	struct table t;
	struct buf b;

	buf_init(&b);
	table_init(&t, kv_cols, 2, o);
	if (status_lines(c, kv_fn, &t, &cause) != 0) {
		table_free(&t);
		buf_free(&b);
		return cli_db_fail("status", cause);
	}
	table_write(&t, &b, false);
	table_free(&t);
	cli_flush(&b, stdout, 0);
	buf_free(&b);
	return 0;
}
