/*
 * board_patient.c: the board's screening page (a row per patient in
 * screening, a cell per criterion, the verdict) and patient page (phase,
 * baseline, holds, criteria, a trend chart per analyte, the results).
 * The criteria, holds and open alerts come from the queries `labwatch
 * status` uses (cli/cmd.h).
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>

#include <event2/http.h>
#include <libpq-fe.h>

#include "cli/board.h"
#include "cli/board_auth.h"
#include "cli/cmd.h"
#include "cli/html.h"
#include "lib/xmalloc.h"
#include "rules/rules.h"
#include "store/db.h"

/* At most this many criteria columns on the screening page. */
#define MAX_CRITERIA 32

#define HUMAN_TIME(col) \
	"to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"

/* Patients on one page of the screening list. */
#define SCREENING_PAGE 100

/* clang-format off */
/* The latest eligibility row of patient e in its protocol (l). */
#define SCREENING_LATEST \
    "LEFT JOIN LATERAL (SELECT id, status, evaluated_at FROM eligibility x " \
    " WHERE x.patient = e.patient AND x.protocol = e.protocol " \
    " ORDER BY evaluated_at DESC, id DESC LIMIT 1) l ON true "
/*
 * The patients in screening by patient id (then protocol), with their
 * latest verdict: e. The latest verdict is one index-only probe of
 * eligibility_latest_status (sql/014) per patient.
 */
#define SCREENING_ALL \
    "(SELECT e.patient, e.protocol, p.patient_id, " \
    " coalesce(l.status, 'none') AS verdict, l.id, l.evaluated_at " \
    " FROM enrollments e JOIN patients p ON p.id = e.patient " \
    SCREENING_LATEST " WHERE e.phase = 'screening') e "

/*
 * A page of the view ($1 LIMIT): the patients after patient id $2 (NULL:
 * from the first), with verdict $3 (NULL: any), $4 skipped (?page=N).
 * Read in patient id order and stopped after the page (keyset paging:
 * no earlier patient is read again): patient id, verdict, evaluated,
 * eligibility row id.
 */
static const char screening_sql[] =
    "SELECT e.patient_id, e.verdict, "
    " coalesce(" HUMAN_TIME("e.evaluated_at") ", ''), e.id "
    "FROM " SCREENING_ALL
    "WHERE ($2::text IS NULL OR e.patient_id > $2) "
    " AND ($3::text IS NULL OR e.verdict = $3) "
    "ORDER BY e.patient_id, e.protocol LIMIT $1 OFFSET $4";

/*
 * How many patients have verdict $2 and how many of them come up to
 * patient id $1 (NULL: none), exact: every one's latest verdict read
 * from the index.
 */
static const char screening_count_sql[] =
    "SELECT count(*), count(*) FILTER (WHERE e.patient_id <= $1) "
    "FROM " SCREENING_ALL "WHERE e.verdict = $2";
/*
 * The same without a verdict: no eligibility row read, and patients (for
 * their ids) only from the first up to $1.
 */
static const char screening_count_all_sql[] =
    "SELECT (SELECT count(*) FROM enrollments WHERE phase = 'screening'), "
    " (SELECT count(*) FROM enrollments e JOIN patients p "
    " ON p.id = e.patient WHERE e.phase = 'screening' "
    " AND p.patient_id <= $1)";
/*
 * The "after" of the page before the one starting at patient id $1 in
 * the view ($2 verdict or NULL): the patient $3 rows before; none when
 * the page before is the first.
 */
static const char screening_prev_sql[] =
    "SELECT e.patient_id FROM " SCREENING_ALL
    "WHERE e.patient_id < $1 AND ($2::text IS NULL OR e.verdict = $2) "
    "ORDER BY e.patient_id DESC, e.protocol DESC LIMIT 1 OFFSET $3";
/* clang-format on */

/* At most this many results of one analyte on a patient's page. */
#define PATIENT_RESULTS 200

/* clang-format off */
/*
 * A patient's results, protocol analytes in protocol order, each by time,
 * the latest PATIENT_RESULTS of each (read backwards on the index
 * observations_patient and stopped there): analyte, observed, epoch,
 * value, unit, lln, uln, grade, raw value, ref range, status, x ULN.
 */
static const char results_sql[] =
    "SELECT o.analyte, coalesce(" HUMAN_TIME("o.observed_at") ", ''), "
    "extract(epoch FROM o.observed_at), o.canonical_value, "
    "coalesce(o.canonical_unit, o.unit, ''), o.lln, o.uln, "
    "coalesce(o.grade::text, ''), "
    "coalesce(o.comparator, '') || coalesce(o.value_raw, ''), "
    "coalesce(o.ref_range, ''), coalesce(o.status, ''), "
    "coalesce(to_char(o.canonical_value / nullif(o.uln, 0), "
    "'FM999990.00'), '') "
    "FROM unnest(ARRAY['ast', 'alt', 'tbil', 'crea', 'anc', 'plt', 'hgb']) "
    " WITH ORDINALITY AS a(analyte, n) "
    "CROSS JOIN LATERAL (SELECT * FROM observations x "
    " WHERE x.patient = $1 AND x.analyte = a.analyte AND NOT x.retracted "
    " ORDER BY x.observed_at DESC NULLS FIRST, x.id DESC "
    " LIMIT $2) o "
    "ORDER BY a.n, o.observed_at NULLS LAST, o.id";
/* clang-format on */

static void
esc_tag(struct buf *b, const char *open, const char *s, const char *close)
{
	buf_adds(b, open);
	html_esc(b, s);
	buf_adds(b, close);
}

/* One criterion's cell: verdict, value unit, x ULN, date. */
static void
criterion_cell(struct buf *b, const PGresult *r, int i)
{
	const char *v = PQgetvalue(r, i, 1);

	esc_tag(b, "<td class=\"", *v != '\0' ? v : "none", "\">");
	html_esc(b, *v != '\0' ? v : "no result");
	if (*PQgetvalue(r, i, 2) != '\0') {
		esc_tag(b, "<br>", PQgetvalue(r, i, 2), " ");
		html_esc(b, PQgetvalue(r, i, 3));
	}
	if (*PQgetvalue(r, i, 4) != '\0')
		esc_tag(b, "<br>", PQgetvalue(r, i, 4), " &times; ULN");
	if (*PQgetvalue(r, i, 5) != '\0')
		esc_tag(b, "<br><small>", PQgetvalue(r, i, 5), "</small>");
	buf_adds(b, "</td>");
}

/*
 * The screening table: pts (screening_sql), crit the criteria of their
 * eligibility rows (status_criteria_rows_sql); from[i], to[i]: patient i's
 * rows of crit.
 */
static void
screening_table(struct buf *b, const PGresult *pts, const PGresult *crit,
    const int *from, const int *to)
{
	const char *names[MAX_CRITERIA];
	size_t n = 0, k;
	int i, j;

	for (j = 0; j < PQntuples(crit); j++) {
		for (k = 0; k < n; k++)
			if (strcmp(names[k], PQgetvalue(crit, j, 0)) == 0)
				break;
		if (k == n && n < MAX_CRITERIA)
			names[n++] = PQgetvalue(crit, j, 0);
	}
	buf_adds(b,
	    "<table id=\"screening\"><thead><tr><th>Patient</th>"
	    "<th>Verdict</th>");
	for (k = 0; k < n; k++)
		esc_tag(b, "<th>", names[k], "</th>");
	buf_adds(b, "</tr></thead><tbody>\n");
	for (i = 0; i < PQntuples(pts); i++) {
		buf_adds(b, "<tr><td><a href=\"/patient?id=");
		html_url(b, PQgetvalue(pts, i, 0));
		esc_tag(b, "\">", PQgetvalue(pts, i, 0), "</a></td>");
		esc_tag(b, "<td class=\"verdict ", PQgetvalue(pts, i, 1),
		    "\">");
		esc_tag(b, "", PQgetvalue(pts, i, 1), "<br><small>");
		esc_tag(b, "", PQgetvalue(pts, i, 2), "</small></td>");
		for (k = 0; k < n; k++) {
			for (j = from[i]; j < to[i]; j++)
				if (strcmp(names[k], PQgetvalue(crit, j, 0)) ==
				    0)
					break;
			if (j < to[i])
				criterion_cell(b, crit, j);
			else
				buf_adds(b, "<td class=\"none\"></td>");
		}
		buf_adds(b, "</tr>\n");
	}
	buf_adds(b, "</tbody></table>\n");
}

/*
 * The criteria of the page's patients pts in one query; from[i], to[i]
 * (n + 1 each, zeroed) their rows of the result. NULL and *cause.
 */
static PGresult *
screening_criteria(PGconn *c, const PGresult *pts, int *from, int *to,
    char **cause)
{
	const char *p[1];
	struct buf ids;
	PGresult *r;
	int i, j, k, ord[SCREENING_PAGE], nids = 0;

	buf_init(&ids);
	buf_addc(&ids, '{');
	for (i = 0; i < PQntuples(pts) && i < SCREENING_PAGE; i++) {
		ord[i] = 0;
		if (PQgetisnull(pts, i, 3))
			continue;
		buf_printf(&ids, "%s%s", nids > 0 ? "," : "",
		    PQgetvalue(pts, i, 3));
		ord[i] = ++nids;
	}
	buf_adds(&ids, "}");
	p[0] = ids.p;
	r = db_query(c, "read the criteria", status_criteria_rows_sql, 1, p,
	    cause);
	buf_free(&ids);
	if (r == NULL)
		return NULL;
	/* Rows come by ord: each patient's are one run. */
	for (i = 0, j = 0; i < PQntuples(pts) && i < SCREENING_PAGE; i++) {
		if (ord[i] == 0)
			continue;
		while (j < PQntuples(r) && atoi(PQgetvalue(r, j, 6)) < ord[i])
			j++;
		for (k = j;
		     k < PQntuples(r) && atoi(PQgetvalue(r, k, 6)) == ord[i];
		     k++)
			;
		from[i] = j;
		to[i] = k;
		j = k;
	}
	return r;
}

/* Where a page of the screening list is and what links it has. */
struct screening_view {
	const char *v;	   /* the verdict, or NULL: every patient */
	const char *after; /* ?after=, or NULL */
	int offset;	   /* ?page=N: (N - 1) pages skipped */
	int total;	   /* patients in the view */
	int before;	   /* of them before the page */
	char *prev;	   /* the page before's after, NULL: the first */
	bool has_prev;
};

/* A link to the view's page after patient id after (NULL: the first). */
static void
screening_link(struct buf *b, const struct screening_view *w, const char *after,
    const char *text)
{
	buf_adds(b, "<a href=\"/screening");
	if (w->v != NULL)
		buf_printf(b, "?verdict=%s", w->v);
	if (after != NULL) {
		buf_adds(b, w->v != NULL ? "&amp;after=" : "?after=");
		html_url(b, after);
	}
	buf_printf(b, "\">%s</a>", text);
}

/* The filters, the count and the pages' links; pts: the page's rows. */
static void
screening_nav(struct buf *b, const char *const *verdicts,
    const struct screening_view *w, const PGresult *pts)
{
	int i, n = PQntuples(pts), first = w->before + 1;

	buf_adds(b, "<p class=\"filters\"><a href=\"/screening\">all</a>");
	for (i = 0; verdicts[i] != NULL; i++)
		buf_printf(b, "<a href=\"/screening?verdict=%s\">%s</a>",
		    verdicts[i], verdicts[i]);
	buf_printf(b, "</p>\n<p>%d patient%s in screening%s%s", w->total,
	    w->total == 1 ? "" : "s", w->v != NULL ? ", verdict " : "",
	    w->v != NULL ? w->v : "");
	if (n > 0 && (w->before > 0 || n < w->total))
		buf_printf(b, "; %d to %d shown (page %d of %d)", first,
		    first + n - 1, w->before / SCREENING_PAGE + 1,
		    (w->total + SCREENING_PAGE - 1) / SCREENING_PAGE);
	buf_adds(b, ".</p>\n");
	if (!w->has_prev && w->before + n >= w->total)
		return;
	buf_adds(b, "<p class=\"pages\">");
	if (w->has_prev)
		screening_link(b, w, w->prev, "previous");
	if (n > 0 && w->before + n < w->total)
		screening_link(b, w, PQgetvalue(pts, n - 1, 0), "next");
	buf_adds(b, "</p>\n");
}

/* The counts and the previous page's link of w; -1 and *cause. */
static int
screening_place(PGconn *c, struct screening_view *w, const PGresult *pts,
    char **cause)
{
	const char *p[3] = { w->after, w->v, NULL };
	char off[16];
	PGresult *r;

	if ((r = db_query(c, "count the screening",
		 w->v != NULL ? screening_count_sql : screening_count_all_sql,
		 w->v != NULL ? 2 : 1, p, cause)) == NULL)
		return -1;
	w->total = atoi(PQgetvalue(r, 0, 0));
	w->before = w->after != NULL ? atoi(PQgetvalue(r, 0, 1)) : w->offset;
	PQclear(r);
	w->has_prev = w->before > 0;
	if (w->before <= SCREENING_PAGE || PQntuples(pts) == 0)
		return 0; /* the previous page is the first */
	snprintf(off, sizeof(off), "%d", SCREENING_PAGE);
	p[0] = PQgetvalue(pts, 0, 0);
	p[2] = off;
	if ((r = db_query(c, "read the screening", screening_prev_sql, 3, p,
		 cause)) == NULL)
		return -1;
	if (PQntuples(r) == 1)
		w->prev = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

/* The page's patients of w (NULL and *cause on failure), w placed. */
static PGresult *
screening_rows(PGconn *c, struct screening_view *w, char **cause)
{
	const char *p[4];
	char lim[16], off[16];
	PGresult *r;

	snprintf(lim, sizeof(lim), "%d", SCREENING_PAGE);
	snprintf(off, sizeof(off), "%d", w->offset);
	p[0] = lim;
	p[1] = w->after;
	p[2] = w->v;
	p[3] = off;
	if ((r = db_query(c, "read the screening", screening_sql, 4, p,
		 cause)) == NULL)
		return NULL;
	if (screening_place(c, w, r, cause) != 0) {
		PQclear(r);
		return NULL;
	}
	return r;
}

int
board_screening(PGconn *c, const struct evkeyvalq *q,
    const struct board_session *s, struct buf *out, char **cause)
{
	static const char *const verdicts[] = { "eligible", "ineligible",
		"incomplete", "none", NULL };
	struct screening_view w;
	const char *v = evhttp_find_header(q, "verdict");
	PGresult *pts, *crit;
	int from[SCREENING_PAGE + 1], to[SCREENING_PAGE + 1];
	int i;

	memset(&w, 0, sizeof(w));
	for (i = 0; v != NULL && verdicts[i] != NULL; i++)
		if (strcmp(verdicts[i], v) == 0)
			break;
	w.v = v != NULL && verdicts[i] != NULL ? verdicts[i] : NULL;
	/* ?after=PATIENT (the links), else ?page=N as before. */
	w.after = evhttp_find_header(q, "after");
	if (w.after != NULL && w.after[0] == '\0')
		w.after = NULL;
	if (w.after == NULL)
		w.offset = (board_page_number(q, INT_MAX / SCREENING_PAGE) -
			       1) *
		    SCREENING_PAGE;
	if ((pts = screening_rows(c, &w, cause)) == NULL)
		return 500;
	memset(from, 0, sizeof(from));
	memset(to, 0, sizeof(to));
	if ((crit = screening_criteria(c, pts, from, to, cause)) == NULL) {
		PQclear(pts);
		free(w.prev);
		return 500;
	}
	board_head(out, "Screening", s);
	screening_nav(out, verdicts, &w, pts);
	if (PQntuples(pts) == 0 && (w.after != NULL || w.offset > 0))
		buf_adds(out,
		    "<p>This page is past the end: <a href=\"/screening\">"
		    "the first page</a>.</p>\n");
	screening_table(out, pts, crit, from, to);
	board_foot(out);
	PQclear(crit);
	PQclear(pts);
	free(w.prev);
	return 200;
}

/* The enrollment ($1 patient row id): id, protocol, phase, since, baseline. */
static const char enrollment_sql[] = "SELECT id, protocol, phase, " HUMAN_TIME(
    "since") ", baseline::text "
	     "FROM enrollments WHERE patient = $1 "
	     "ORDER BY updated_at DESC, id DESC LIMIT 1";

/* The holds in force of enrollment enr with what a restart needs. */
static int
holds(PGconn *c, struct buf *b, const char *enr, const char *proto,
    char **cause)
{
	const char *p[1] = { enr };
	struct rules *rules = NULL;
	char *file, *why = NULL, text[512];
	PGresult *r;
	int i;

	if ((r = db_query(c, "read the holds", status_holds_sql, 1, p,
		 cause)) == NULL)
		return -1;
	buf_adds(b, "<h2>Holds in force</h2>\n");
	if (PQntuples(r) == 0)
		buf_adds(b, "<p>none</p>\n");
	else {
		file = cli_protocol_file(proto);
		if (rules_load(file, &rules, &why) != 0)
			rules = NULL;
		buf_adds(b,
		    "<table><thead><tr><th>Hold</th><th>Since (UTC)"
		    "</th><th>A restart needs</th></tr></thead>"
		    "<tbody>\n");
		for (i = 0; i < PQntuples(r); i++) {
			status_hold_restart(rules, PQgetvalue(r, i, 0), text,
			    sizeof(text));
			esc_tag(b, "<tr class=\"critical\"><td>",
			    PQgetvalue(r, i, 0), "</td>");
			esc_tag(b, "<td>", PQgetvalue(r, i, 1), "</td>");
			esc_tag(b, "<td>", text, "</td></tr>\n");
		}
		buf_adds(b, "</tbody></table>\n");
		rules_free(rules);
		free(why);
		free(file);
	}
	PQclear(r);
	return 0;
}

/* The results of r (results_sql) as a table. */
static void
results_table(struct buf *b, const PGresult *r)
{
	static const int cols[] = { 1, 0, 8, 4, 9, 11, 7, 10 };
	size_t k;
	int i;

	buf_adds(b,
	    "<h2>Results</h2>\n<table id=\"results\"><thead><tr>"
	    "<th>Observed (UTC)</th><th>Analyte</th><th>Value</th>"
	    "<th>Unit</th><th>Range</th><th>&times; ULN</th>"
	    "<th>Grade</th><th>Status</th></tr></thead><tbody>\n");
	for (i = 0; i < PQntuples(r); i++) {
		buf_adds(b, "<tr>");
		for (k = 0; k < sizeof(cols) / sizeof(cols[0]); k++)
			esc_tag(b, "<td>", PQgetvalue(r, i, cols[k]), "</td>");
		buf_adds(b, "</tr>\n");
	}
	buf_adds(b, "</tbody></table>\n");
}

/* Enrollment, criteria, holds, charts, results of patient row pid. */
static int
patient_body(PGconn *c, struct buf *b, const char *pid, char **cause)
{
	const char *p[2] = { pid, NULL };
	char lim[16];
	PGresult *e, *r;
	int i, from;

	snprintf(lim, sizeof(lim), "%d", PATIENT_RESULTS);

	if ((e = db_query(c, "read the enrollment", enrollment_sql, 1, p,
		 cause)) == NULL)
		return -1;
	buf_adds(b, "<table><tbody>");
	if (PQntuples(e) == 1) {
		esc_tag(b, "<tr><th>Protocol</th><td>", PQgetvalue(e, 0, 1),
		    "</td></tr>");
		esc_tag(b, "<tr><th>Phase</th><td id=\"phase\">",
		    PQgetvalue(e, 0, 2), " since ");
		esc_tag(b, "", PQgetvalue(e, 0, 3), " UTC</td></tr>");
		esc_tag(b, "<tr><th>Baseline</th><td>", PQgetvalue(e, 0, 4),
		    "</td></tr>");
		p[1] = PQgetvalue(e, 0, 1);
	} else
		buf_adds(b, "<tr><th>Protocol</th><td>not enrolled</td></tr>");
	buf_adds(b, "</tbody></table>\n");
	if (PQntuples(e) == 1 &&
	    holds(c, b, PQgetvalue(e, 0, 0), PQgetvalue(e, 0, 1), cause) != 0)
		goto fail;
	if ((r = db_query(c, "read the criteria", status_criteria_sql, 2, p,
		 cause)) == NULL)
		goto fail;
	if (PQntuples(r) > 0) {
		buf_adds(b,
		    "<h2>Eligibility criteria (latest verdict)</h2>\n"
		    "<table><tbody>");
		for (i = 0; i < PQntuples(r); i++) {
			esc_tag(b, "<tr><th>", PQgetvalue(r, i, 0), "</th>");
			criterion_cell(b, r, i);
			buf_adds(b, "</tr>\n");
		}
		buf_adds(b, "</tbody></table>\n");
	}
	PQclear(r);
	p[1] = lim;
	if ((r = db_query(c, "read the results", results_sql, 2, p, cause)) ==
	    NULL)
		goto fail;
	buf_adds(b, "<h2>Trends</h2>\n");
	for (from = 0, i = 1; i <= PQntuples(r); i++)
		if (i == PQntuples(r) ||
		    strcmp(PQgetvalue(r, i, 0), PQgetvalue(r, from, 0)) != 0) {
			board_chart(b, r, from, i);
			if (i - from == PATIENT_RESULTS)
				esc_tag(b, "<p class=\"bound\">The latest ",
				    lim,
				    " results shown: labwatch status "
				    "and psql have the older ones.</p>\n");
			from = i;
		}
	if (PQntuples(r) == 0)
		buf_adds(b, "<p>No results.</p>\n");
	results_table(b, r);
	PQclear(r);
	PQclear(e);
	return 0;
fail:
	PQclear(e);
	return -1;
}

int
board_patient(PGconn *c, const struct evkeyvalq *q,
    const struct board_session *s, struct buf *out, char **cause)
{
	const char *id = evhttp_find_header(q, "id"), *p[1] = { id };
	PGresult *r;
	char *pid, *title;
	int i;

	if (id == NULL) {
		board_head(out, "No such patient", s);
		board_foot(out);
		return 404;
	}
	if ((r = db_query(c, "find the patient",
		 "SELECT id, patient_id FROM patients WHERE patient_id = $1", 1,
		 p, cause)) == NULL)
		return 500;
	if (PQntuples(r) == 0) {
		PQclear(r);
		board_head(out, "No such patient", s);
		board_foot(out);
		return 404;
	}
	pid = xstrdup(PQgetvalue(r, 0, 0));
	title = xasprintf("Patient %s", PQgetvalue(r, 0, 1));
	PQclear(r);
	board_head(out, title, s);
	free(title);
	if (patient_body(c, out, pid, cause) != 0) {
		free(pid);
		return 500;
	}
	if ((r = cli_open_alerts(c, pid, cause)) == NULL) {
		free(pid);
		return 500;
	}
	buf_adds(out, "<h2>Open alerts</h2>\n");
	if (PQntuples(r) == 0)
		buf_adds(out, "<p>none</p>\n");
	for (i = 0; i < PQntuples(r); i++) {
		buf_printf(out, "<p><a href=\"/alert?id=%s\">#%s</a> ",
		    PQgetvalue(r, i, 0), PQgetvalue(r, i, 0));
		esc_tag(out, "<span class=\"", PQgetvalue(r, i, 5), "\">");
		esc_tag(out, "", PQgetvalue(r, i, 8), "</span></p>\n");
	}
	PQclear(r);
	free(pid);
	board_foot(out);
	return 200;
}
