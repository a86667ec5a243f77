/*
 * board_pages.c: the board's pages, HTML rendered here from the queries
 * `labwatch alerts` and `labwatch status` use (cli/cmd.h): alerts, one
 * alert with its history, screening, a patient, status. Every string from
 * the database or the request goes through html_esc (cli/html.h).
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>
#include <libpq-fe.h>

#include "cli/board.h"
#include "cli/board_auth.h"
#include "cli/board_events.h"
#include "cli/cmd.h"
#include "cli/html.h"
#include "lib/xmalloc.h"
#include "rules/rules.h"
#include "store/db.h"

/* Alerts on one page. */
#define ALERTS_PAGE 100
/*
 * The board's order: within a state, the most severe first; over all,
 * open ones first. sql/013's alerts_board and alerts_board_all index
 * these very expressions.
 */
#define SEVERITY_RANK \
	"CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 " \
	"ELSE 2 END"
#define STATE_RANK \
	"CASE a.state WHEN 'open' THEN 0 WHEN 'acknowledged' THEN 1 " \
	"ELSE 2 END"

const char board_css[] =
    "body{font-family:system-ui,sans-serif;margin:0;color:#111}"
    "nav{background:#234;padding:.5em 1em}nav a{color:#fff;margin-right:"
    "1em;text-decoration:none}main{padding:0 1em 1em}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border-bottom:1px "
    "solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}"
    ".critical{color:#b00;font-weight:bold}.warning{color:#a60}"
    ".fail,.ineligible{background:#fdd}.pass,.eligible{background:#dfd}"
    ".incomplete,.none{background:#eee}"
    ".filters a,.pages a{margin-right:.75em;display:inline-block}"
    "svg{max-width:100%;height:auto;"
    "border:1px solid #ddd;background:#fff}"
    "@media(max-width:600px){td,th{padding:.2em}"
    /* A wide table scrolls in its box: the page stays a phone's width. */
    "table{display:block;overflow-x:auto}figure{margin:.5em 0}}";

void
board_head(struct buf *b, const char *title, const struct board_session *s)
{
	buf_adds(b,
	    "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width, "
	    "initial-scale=1\"><title>");
	html_esc(b, title);
	buf_adds(b,
	    " - labwatch</title>"
	    "<link rel=\"stylesheet\" href=\"/board.css\"></head>"
	    "<body><nav><a href=\"/alerts\">Alerts</a>"
	    "<a href=\"/screening\">Screening</a>"
	    "<a href=\"/status\">Status</a>");
	if (s != NULL) {
		buf_adds(b,
		    "<form class=\"logout\" method=\"post\" "
		    "action=\"/logout\"><span id=\"user\">");
		html_esc(b, s->user->name);
		buf_adds(b, " (");
		html_esc(b, s->user->role);
		buf_adds(b,
		    ")</span> <input type=\"hidden\" name=\"csrf\" "
		    "value=\"");
		html_esc(b, s->csrf);
		buf_adds(b, "\"><button>Log out</button></form>");
	}
	buf_adds(b, "</nav><main><h1>");
	html_esc(b, title);
	buf_adds(b, "</h1>\n");
}

void
board_login_page(struct buf *b, const char *csrf, const char *msg)
{
	board_head(b, "Log in", NULL);
	if (msg != NULL) {
		buf_adds(b, "<p class=\"critical\" id=\"msg\">");
		html_esc(b, msg);
		buf_adds(b, "</p>\n");
	}
	buf_adds(b,
	    "<form method=\"post\" action=\"/login\" id=\"login\">"
	    "<input type=\"hidden\" name=\"csrf\" value=\"");
	html_esc(b, csrf);
	buf_adds(b,
	    "\"><p><label>Name <input name=\"name\" "
	    "autocomplete=\"username\" required></label></p>"
	    "<p><label>Password <input name=\"password\" "
	    "type=\"password\" autocomplete=\"current-password\" "
	    "required></label></p><p><button>Log in</button></p>"
	    "</form>\n");
	board_foot(b);
}

/* The ack and resolve buttons of alert id in state, for an oncall user. */
static void
buttons(struct buf *b, const struct board_session *s, const char *id,
    const char *state)
{
	static const char *const acts[][2] = { { "ack", "Acknowledge" },
		{ "resolve", "Resolve" } };
	size_t i;

	if (s == NULL || strcmp(s->user->role, "oncall") != 0)
		return;
	for (i = 0; i < 2; i++) {
		if ((i == 0 && strcmp(state, "open") != 0) ||
		    (i == 1 && strcmp(state, "open") != 0 &&
			strcmp(state, "acknowledged") != 0))
			continue;
		buf_printf(b,
		    "<form method=\"post\" action=\"/%s\" class=\"act\">"
		    "<input type=\"hidden\" name=\"id\" value=\"%s\">"
		    "<input type=\"hidden\" name=\"csrf\" value=\"",
		    acts[i][0], id);
		html_esc(b, s->csrf);
		buf_printf(b, "\"><button>%s</button></form>", acts[i][1]);
	}
}

void
board_foot(struct buf *b)
{
	buf_adds(b, "</main></body></html>\n");
}

/* <td>s</td>, escaped; with a class when cls is not NULL. */
static void
td(struct buf *b, const char *s, const char *cls)
{
	buf_adds(b, cls != NULL ? "<td class=\"" : "<td>");
	if (cls != NULL) {
		html_esc(b, cls);
		buf_adds(b, "\">");
	}
	html_esc(b, s);
	buf_adds(b, "</td>");
}

/* A header row of the NULL-terminated titles; the body's id or NULL. */
static void
thead_id(struct buf *b, const char *const *titles, const char *id)
{
	buf_adds(b, "<table><thead><tr>");
	for (; *titles != NULL; titles++) {
		buf_adds(b, "<th>");
		html_esc(b, *titles);
		buf_adds(b, "</th>");
	}
	buf_adds(b, "</tr></thead><tbody");
	if (id != NULL)
		buf_printf(b, " id=\"%s\"", id);
	buf_adds(b, ">\n");
}

static void
thead(struct buf *b, const char *const *titles)
{
	thead_id(b, titles, NULL);
}

/* A link to the patient's page. */
static void
patient_link(struct buf *b, const char *pid)
{
	buf_adds(b, "<a href=\"/patient?id=");
	html_url(b, pid);
	buf_adds(b, "\">");
	html_esc(b, pid);
	buf_adds(b, "</a>");
}

/* "3d 4h", "2h 5m", "7m" since the ISO 8601 UTC time iso. */
static void
age(struct buf *b, const char *iso)
{
	struct tm tm;
	long s;

	memset(&tm, 0, sizeof(tm));
	if (strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL) {
		buf_adds(b, "?");
		return;
	}
	s = (long)difftime(time(NULL), timegm(&tm));
	if (s < 0)
		s = 0;
	if (s >= 86400)
		buf_printf(b, "%ldd %ldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		buf_printf(b, "%ldh %ldm", s / 3600, s % 3600 / 60);
	else
		buf_printf(b, "%ldm", s / 60);
}

/*
 * The rows of r (cli_alert_columns) as a table of alerts. Its body
 * #alerts-body and rows tr[data-alert-id] are what /board.js replaces
 * and the browser tests find.
 */
static void
alert_rows(struct buf *b, const PGresult *r, const struct board_session *s)
{
	static const char *const titles[] = { "#", "Severity", "Age", "Patient",
		"Kind", "State", "Summary", "", NULL };
	int i;

	thead_id(b, titles, "alerts-body");
	for (i = 0; i < PQntuples(r); i++) {
		buf_printf(b,
		    "<tr data-alert-id=\"%s\" class=\"alert\">"
		    "<td><a href=\"/alert?id=%s\">%s</a></td>",
		    PQgetvalue(r, i, 0), PQgetvalue(r, i, 0),
		    PQgetvalue(r, i, 0));
		td(b, PQgetvalue(r, i, 5), PQgetvalue(r, i, 5));
		buf_adds(b, "<td>");
		age(b, PQgetvalue(r, i, 1));
		buf_adds(b, "</td><td>");
		patient_link(b, PQgetvalue(r, i, 2));
		buf_adds(b, "</td>");
		td(b, PQgetvalue(r, i, 4), NULL);
		td(b, PQgetvalue(r, i, 9), NULL);
		td(b, PQgetvalue(r, i, 8), NULL);
		buf_adds(b, "<td>");
		buttons(b, s, PQgetvalue(r, i, 0), PQgetvalue(r, i, 9));
		buf_adds(b, "</td></tr>\n");
	}
	buf_adds(b, "</tbody></table>\n");
}

PGconn *
board_db_open(const char *conninfo, int *exit_code)
{
	PGconn *c = cli_db_open("board", conninfo, 1, exit_code);
	PGresult *r;

	if (c == NULL)
		return NULL;
	/*
	 * Not fatal: the pages are right without it, only slower. No
	 * parallel workers either: a page's queries are short, and the
	 * board should not take cores from labwatchd.
	 */
	r = PQexec(c, "SET jit = off; SET max_parallel_workers_per_gather = 0");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fprintf(stderr, "labwatch board: SET jit = off: %s",
		    PQerrorMessage(c));
	PQclear(r);
	return c;
}

int
board_page_number(const struct evkeyvalq *q, int pages)
{
	const char *v = evhttp_find_header(q, "page");
	long n;

	if (v == NULL || *v == '\0' || strlen(v) > 9 ||
	    strspn(v, "0123456789") != strlen(v))
		return 1;
	n = strtol(v, NULL, 10);
	if (n > pages)
		n = pages;
	return n < 1 ? 1 : (int)n;
}

/* How many alerts in state (or "all"): -1 and *cause on failure. */
static int
alerts_count(PGconn *c, const char *state, char **cause)
{
	const char *p[1] = { state };
	PGresult *r;
	int n;

	if ((r = db_query(c, "count the alerts",
		 "SELECT count(*) FROM alerts "
		 "WHERE $1::text = 'all' OR state = $1",
		 1, p, cause)) == NULL)
		return -1;
	n = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return n;
}

/* The filters, the count and the pages' links of the alerts page. */
static void
alerts_nav(struct buf *b, const char *const *states, const char *state,
    int total, int page, int pages)
{
	int first = (page - 1) * ALERTS_PAGE + 1;
	size_t i;

	buf_adds(b, "<p class=\"filters\">");
	for (i = 0; states[i] != NULL; i++)
		buf_printf(b, "<a href=\"/alerts?state=%s\">%s%s%s</a>",
		    states[i], strcmp(states[i], state) == 0 ? "<b>" : "",
		    states[i], strcmp(states[i], state) == 0 ? "</b>" : "");
	buf_adds(b, "</p>\n");
	if (pages <= 1)
		return;
	buf_printf(b,
	    "<p>%d %s alerts; %d to %d shown (page %d of %d), the most "
	    "severe first, then the newest.</p>\n<p class=\"pages\">",
	    total, strcmp(state, "all") == 0 ? "" : state, first,
	    page == pages ? total : first + ALERTS_PAGE - 1, page, pages);
	if (page > 1)
		buf_printf(b,
		    "<a href=\"/alerts?state=%s&amp;page=%d\">previous</a>",
		    state, page - 1);
	if (page < pages)
		buf_printf(b,
		    "<a href=\"/alerts?state=%s&amp;page=%d\">next</a>", state,
		    page + 1);
	buf_adds(b, "</p>\n");
}

int
board_alerts(PGconn *c, const struct evkeyvalq *q,
    const struct board_session *s, struct buf *out, char **cause)
{
	static const char *const states[] = { "open", "acknowledged",
		"resolved", "retracted", "all", NULL };
	const char *state = evhttp_find_header(q, "state");
	const char *p[4] = { NULL, NULL, NULL, NULL };
	int total, page, pages;
	char *order;
	PGresult *r;
	size_t i;

	if (state == NULL)
		state = "open";
	for (i = 0; states[i] != NULL && strcmp(states[i], state) != 0; i++)
		;
	state = states[i] != NULL ? states[i] : "open";
	p[0] = state;
	if ((total = alerts_count(c, state, cause)) < 0)
		return 500;
	pages = (total + ALERTS_PAGE - 1) / ALERTS_PAGE;
	page = board_page_number(q, pages);
	/* Open first (all states), then the most severe, then the newest. */
	order = xasprintf("%s" SEVERITY_RANK ", a.id DESC LIMIT %d OFFSET %d",
	    strcmp(state, "all") != 0 ? "" : STATE_RANK ", ", ALERTS_PAGE,
	    (page - 1) * ALERTS_PAGE);
	r = cli_alerts_query(c, p, order, cause);
	free(order);
	if (r == NULL)
		return 500;
	board_head(out, "Alerts", s);
	alerts_nav(out, states, state, total, page, pages);
	/* Both always there: the live updates swap them (/board.js). */
	buf_printf(out, "<p id=\"none\"%s>No %s alerts.</p>\n",
	    PQntuples(r) > 0 ? " hidden" : "",
	    strcmp(state, "all") == 0 ? "" : state);
	alert_rows(out, r, s);
	/* New alerts appear without a reload (cli/board_events.c). */
	buf_adds(out, "<script src=\"/board.js\" defer></script>\n");
	board_foot(out);
	PQclear(r);
	return 200;
}

int
board_alert(PGconn *c, const struct evkeyvalq *q, const struct board_session *s,
    struct buf *out, char **cause)
{
	const char *id = evhttp_find_header(q, "id");
	const char *p[4] = { "all", NULL, NULL, NULL };
	PGresult *r, *e;
	char *ids;
	int i;

	if (id == NULL || id[0] == '\0' || strlen(id) > 18 ||
	    strspn(id, "0123456789") != strlen(id)) {
		board_head(out, "No such alert", s);
		board_foot(out);
		return 404;
	}
	ids = xasprintf("{%s}", id);
	p[3] = ids;
	r = cli_alerts_query(c, p, "a.id", cause);
	free(ids);
	if (r == NULL)
		return 500;
	if ((e = cli_alert_events(c, id, cause)) == NULL) {
		PQclear(r);
		return 500;
	}
	board_head(out, PQntuples(r) == 1 ? "Alert" : "No such alert", s);
	if (PQntuples(r) == 1) {
		alert_rows(out, r, s);
		buf_adds(out, "<h2>History</h2>\n");
		thead(out,
		    (const char *const[]){ "When (UTC)", "Event", "By", "Note",
			NULL });
		for (i = 0; i < PQntuples(e); i++) {
			buf_adds(out, "<tr>");
			td(out, PQgetvalue(e, i, 1), NULL);
			td(out, PQgetvalue(e, i, 0), NULL);
			td(out,
			    PQgetisnull(e, i, 2) ? "labwatch" :
						   PQgetvalue(e, i, 2),
			    NULL);
			td(out, PQgetvalue(e, i, 3), NULL);
			buf_adds(out, "</tr>\n");
		}
		buf_adds(out, "</tbody></table>\n");
	}
	board_foot(out);
	i = PQntuples(r) == 1 ? 200 : 404;
	PQclear(r);
	PQclear(e);
	return i;
}

static void
status_row(void *arg, const char *label, const char *value)
{
	struct buf *b = arg;

	buf_adds(b, "<tr><th>");
	html_esc(b, label);
	buf_adds(b, "</th>");
	td(b, value, NULL);
	buf_adds(b, "</tr>\n");
}

/* The board's own counts of its live streams (board_live_counts). */
static void
live_rows(struct buf *out)
{
	struct board_events_counts n;
	char v[96];

	board_live_counts(&n);
	buf_adds(out, "<h2>Live updates</h2>\n<table id=\"live\"><tbody>\n");
	snprintf(v, sizeof(v), "%d (at most %d, %d per user)", n.open,
	    n.max_streams, n.max_user_streams);
	status_row(out, "Streams open", v);
	snprintf(v, sizeof(v), "%llu", n.refused_user);
	status_row(out, "Refused: per-user limit (429)", v);
	snprintf(v, sizeof(v), "%llu", n.refused_full);
	status_row(out, "Refused: board full (503)", v);
	snprintf(v, sizeof(v), "%llu", n.ended);
	status_row(out, "Closed: session ended", v);
	buf_adds(out, "</tbody></table>\n");
}

int
board_status(PGconn *c, const struct evkeyvalq *q,
    const struct board_session *s, struct buf *out, char **cause)
{
	(void)q;
	board_head(out, "Status", s);
	buf_adds(out, "<table><tbody>\n");
	if (status_lines(c, status_row, out, cause) != 0)
		return 500;
	buf_adds(out, "</tbody></table>\n");
	live_rows(out);
	board_foot(out);
	return 200;
}
