/*
 * board.c: labwatch board: the web page for coordinators and on-call
 * physicians, an HTTP server on libevent's evhttp reading PostgreSQL.
 *
 *   labwatch board [--db C] [--listen ADDR:PORT]
 *
 * Pages (cli/board_pages.c): /alerts, /alert?id=N, /screening,
 * /patient?id=ID, /status; /board.css; the live updates of the alerts
 * page (cli/board_events.c): /events and /board.js. Every response carries
 * Content-Security-Policy: default-src 'self', X-Frame-Options: DENY and
 * Cache-Control: no-store (patient data). One access log line per request
 * on stderr: method, path (never the query: it names patients), status,
 * time, peer address.
 *
 * Without --users the board serves anyone who reaches its address: it
 * then listens only on the loopback. With --users, a session ends after
 * --idle-timeout without a request of the person's (person_request): a
 * page left open on a screen, whose stream and script reads renew
 * nothing, goes to the login page once it has expired.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "cli/board.h"
#include "cli/board_auth.h"
#include "cli/board_check.h"
#include "cli/board_events.h"
#include "cli/cmd.h"
#include "cli/notify.h"
#include "daemon/conf.h"
#include "daemon/tls.h"
#include "lib/xmalloc.h"
#include "store/db.h"

struct board {
	PGconn *db; /* NULL after it broke, until the next request */
	const char *conninfo;
	struct event_base *base;
	struct board_users users;
	bool auth;    /* --users given: every page needs a session */
	bool tls;     /* cookies Secure */
	SSL_CTX *ctx; /* --tls-cert: daemon/tls.c's server context */
	struct board_events *events; /* /events: the live updates */
	struct board_checks *checks; /* the password checks' threads */
	double heartbeat;	     /* --heartbeat (s) */
	int max_streams;	     /* --max-streams */
	int max_user_streams;	     /* --max-user-streams */
	double idle;		     /* --idle-timeout (s) */
};

/* The live updates of the board this process serves: the status page's. */
static const struct board_events *live;

/* What one request gets back. */
struct reply {
	struct evhttp_request *req;
	struct buf out;
	const char *type;
	const char *peer;
	struct board_session *s;
	int code;
	bool stream;	    /* /events: the reply stays open */
	struct timespec t0; /* when the request came */
};

/* route()'s code of a reply sent later (a login being checked). */
#define REPLY_LATER 0

/*
 * A login whose password a checker's thread checks (board_check.c):
 * the request waits for it, its connection's close callback set.
 * Owned by the checker until its callback (login_checked) frees it.
 */
struct login_wait {
	struct board *bd;
	struct reply rp; /* rp.req NULL once the peer left */
	struct evhttp_connection *conn;
	char peer[64];
};

static const struct {
	const char *path;
	board_page_fn *fn;
} routes[] = {
	{ "/alerts", board_alerts },
	{ "/alert", board_alert },
	{ "/screening", board_screening },
	{ "/patient", board_patient },
	{ "/status", board_status },
};

static void
board_usage(FILE *f)
{
	fprintf(f,
	    "usage: labwatch board [--db CONNINFO] [--listen ADDR:PORT] "
	    "[--users FILE]\n"
	    "       labwatch board --users FILE --add-user NAME --role ROLE "
	    "[--password-stdin]\n"
	    "  Serves the board, web pages of the alerts, the screening "
	    "verdicts, each\n"
	    "  patient's results with trend charts and the status, on "
	    "ADDR:PORT\n"
	    "  (default 127.0.0.1:8575). With --users (mode 0600, "
	    "name:role:hash), every\n"
	    "  page needs a login; oncall users acknowledge and resolve. "
	    "Without it,\n"
	    "  only the loopback, read-only.\n"
	    "  --tls-cert FILE --tls-key FILE: HTTPS only, TLS 1.2 and "
	    "1.3 (labwatchd's\n"
	    "  profile); needed with --users beyond the loopback.\n"
	    "  --add-user adds or replaces a user (roles viewer, oncall, "
	    "coordinator),\n"
	    "  the password read without echo or from --password-stdin.\n"
	    "  --idle-timeout DURATION: a session ends after that long "
	    "without a page\n"
	    "  loaded or a form sent (default 30m; live updates and the "
	    "page's own reads\n"
	    "  do not count).\n"
	    "  Live updates (/events, Server-Sent Events): --heartbeat "
	    "DURATION between\n"
	    "  two keep-alive comments (default 15s), --max-streams N open "
	    "at once\n"
	    "  (default 256; more get 503), --max-user-streams N of one "
	    "user (default 8;\n"
	    "  more get 429).\n");
}

static void
headers(struct evhttp_request *req, const char *type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Content-Security-Policy", "default-src 'self'");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Cache-Control", "no-store");
}

/*
 * The session, opened again (search path, schema check) when it broke;
 * NULL when PostgreSQL is away.
 */
static PGconn *
session(struct board *bd)
{
	int rc;

	if (bd->db != NULL && PQstatus(bd->db) != CONNECTION_OK) {
		PQfinish(bd->db);
		bd->db = NULL;
	}
	if (bd->db == NULL)
		bd->db = board_db_open(bd->conninfo, &rc);
	return bd->db;
}

/* Run page fn for req into out; the HTTP status. */
static int
serve_page(struct board *bd, board_page_fn *fn, const struct evhttp_uri *u,
    const struct board_session *sess, struct buf *out)
{
	struct evkeyvalq q;
	const char *query = evhttp_uri_get_query(u);
	char *cause = NULL;
	PGconn *c;
	int code;

	TAILQ_INIT(&q);
	if (query != NULL && evhttp_parse_query_str(query, &q) != 0) {
		board_head(out, "Bad request", NULL);
		buf_adds(out, "<p>The query could not be read.</p>");
		board_foot(out);
		return 400;
	}
	if ((c = session(bd)) == NULL) {
		cause = xstrdup("PostgreSQL cannot be reached");
		code = 503;
	} else if ((code = fn(c, &q, sess, out, &cause)) >= 500 &&
	    PQstatus(c) != CONNECTION_OK)
		code = 503;
	evhttp_clear_headers(&q);
	if (cause != NULL) {
		fprintf(stderr, "labwatch board: %s\n", cause);
		free(cause);
		buf_reset(out);
		board_head(out, "Error", NULL);
		buf_adds(out,
		    "<p>The database could not be read; the "
		    "board's log says why.</p>");
		board_foot(out);
		return code >= 500 ? code : 500;
	}
	return code;
}

static const char *
method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_POST:
		return "POST";
	default:
		return "other";
	}
}

/* Cookie name of the request, malloc'ed, or NULL. */
static char *
cookie(struct evhttp_request *req, const char *name)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(
					       req),
	    "Cookie");
	size_t n = strlen(name);
	const char *p = h;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == ';')
			p++;
		if (strncmp(p, name, n) == 0 && p[n] == '=')
			return xstrndup(p + n + 1, strcspn(p + n + 1, ";"));
		p = strchr(p, ';');
	}
	return NULL;
}

static void
set_cookie(struct board *bd, struct reply *rp, const char *name,
    const char *value)
{
	char *c = xasprintf("%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s",
	    name, value, bd->tls ? "; Secure" : "",
	    *value == '\0' ? "; Max-Age=0" : "");

	evhttp_add_header(evhttp_request_get_output_headers(rp->req),
	    "Set-Cookie", c);
	free(c);
}

static int
redirect(struct reply *rp, const char *to)
{
	evhttp_add_header(evhttp_request_get_output_headers(rp->req),
	    "Location", to);
	return 303;
}

/* The url-encoded form of a POST into f; -1 when there is none. */
static int
read_form(struct evhttp_request *req, struct evkeyvalq *f)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	char *body = xmalloc(n + 1);
	int rc;

	TAILQ_INIT(f);
	evbuffer_remove(in, body, n);
	body[n] = '\0';
	rc = evhttp_parse_query_str(body, f);
	free(body);
	return rc;
}

/* Whether the form's csrf field is token (constant time). */
static bool
csrf_ok(const struct evkeyvalq *f, const char *token)
{
	const char *v = evhttp_find_header(f, "csrf");

	return v != NULL && token != NULL && strlen(v) == BOARD_TOKEN_HEX &&
	    strlen(token) == BOARD_TOKEN_HEX &&
	    CRYPTO_memcmp(v, token, BOARD_TOKEN_HEX) == 0;
}

/* Whether s is a token as board_token writes them. */
static bool
is_token(const char *s)
{
	return s != NULL && strlen(s) == BOARD_TOKEN_HEX &&
	    strspn(s, "0123456789abcdef") == BOARD_TOKEN_HEX;
}

/*
 * The login page with the login CSRF token of the browser's lw_pre cookie,
 * or a fresh one in a new cookie. Kept while the browser has one: a
 * browser fetches /favicon.ico beside the page, is sent here too, and a
 * new token then would void the form it shows.
 */
static int
login_page(struct board *bd, struct reply *rp, const char *msg, int code)
{
	char pre[BOARD_TOKEN_HEX + 1];
	char *old = cookie(rp->req, "lw_pre");

	if (is_token(old))
		memcpy(pre, old, sizeof(pre));
	else if (board_token(pre) != 0) {
		free(old);
		return 500;
	} else
		set_cookie(bd, rp, "lw_pre", pre);
	free(old);
	buf_reset(&rp->out);
	board_login_page(&rp->out, pre, msg);
	return code;
}

/* Answer rp (or start its stream), log it (path), free its body. */
static void
reply_send(struct board *bd, struct reply *rp, const char *path)
{
	struct evhttp_request *req = rp->req;
	/* Read now: a reply sent may free req (its peer gone). */
	const char *method = method_name(evhttp_request_get_command(req));
	struct evbuffer *ev;
	struct timespec t1;
	char user[64] = "-";

	if (rp->s != NULL)
		snprintf(user, sizeof(user), "%s", rp->s->user->name);
	headers(req, rp->type);
	if (rp->stream)
		board_events_start(bd->events, req,
		    rp->s != NULL ? rp->s->token : NULL,
		    rp->s != NULL ? rp->s->user : NULL);
	else {
		ev = evbuffer_new();
		evbuffer_add(ev, rp->out.p != NULL ? rp->out.p : "",
		    rp->out.len);
		evhttp_send_reply(req, rp->code, rp->code < 400 ? "OK" : "-",
		    ev);
		evbuffer_free(ev);
	}
	buf_free(&rp->out);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* The path only: a query names patients. */
	fprintf(stderr, "labwatch board: %s %.60s %d %.1f ms %s %s\n", method,
	    path, rp->code,
	    (double)(t1.tv_sec - rp->t0.tv_sec) * 1e3 +
		(double)(t1.tv_nsec - rp->t0.tv_nsec) / 1e6,
	    rp->peer, user);
}

/*
 * The connection of a login being checked closes (the peer left, or the
 * board stops): the request is let go by the connection when it is being
 * answered (libevent's http.c), freed with it otherwise.
 */
static void
on_login_gone(struct evhttp_connection *conn, void *arg)
{
	struct login_wait *w = arg;

	(void)conn;
	if (evhttp_request_get_connection(w->rp.req) == NULL)
		evhttp_request_free(w->rp.req);
	w->rp.req = NULL;
	w->conn = NULL;
}

/* A login's check ended (on the loop): its answer, its count. */
static void
login_checked(enum board_check_result r, const struct board_user *u, void *arg)
{
	struct login_wait *w = arg;
	struct reply *rp = &w->rp;

	if (w->conn != NULL)
		evhttp_connection_set_closecb(w->conn, NULL, NULL);
	if (r == BOARD_CHECK_DROPPED) {
		/* The board stops: evhttp_free() frees the request. */
		buf_free(&rp->out);
		free(w);
		return;
	}
	board_login_ended(w->peer, u == NULL);
	if (rp->req == NULL) {
		fprintf(stderr,
		    "labwatch board: POST /login: %s left before its "
		    "password was checked%s\n",
		    w->peer, u == NULL ? " (a failure: counted)" : "");
		buf_free(&rp->out);
		free(w);
		return;
	}
	if (u == NULL)
		rp->code = login_page(w->bd, rp, "Wrong name or password.",
		    403);
	else if ((rp->s = board_session_new(u)) == NULL)
		rp->code = login_page(w->bd, rp, "Too many sessions.", 503);
	else {
		set_cookie(w->bd, rp, "lw_session", rp->s->token);
		set_cookie(w->bd, rp, "lw_pre", "");
		rp->code = redirect(rp, "/alerts");
	}
	reply_send(w->bd, rp, "/login");
	free(w);
}

/*
 * Hand name's password pw to the checker: REPLY_LATER, rp's request then
 * the checker's (login_checked answers it); or the answer now.
 */
static int
check_login(struct board *bd, struct reply *rp, const char *name,
    const char *pw)
{
	struct login_wait *w;
	int running, waiting;

	if (name == NULL || pw == NULL) {
		board_login_failed(rp->peer);
		return login_page(bd, rp, "Wrong name or password.", 403);
	}
	w = xcalloc(1, sizeof(*w));
	w->bd = bd;
	w->rp = *rp;
	snprintf(w->peer, sizeof(w->peer), "%s", rp->peer);
	w->rp.peer = w->peer;
	w->conn = evhttp_request_get_connection(rp->req);
	if (!board_checks_submit(bd->checks, name, pw, login_checked, w,
		&running, &waiting)) {
		free(w);
		fprintf(stderr,
		    "labwatch board: login: %d checks under way and %d "
		    "waiting: one more refused (503)\n",
		    running, waiting);
		evhttp_add_header(evhttp_request_get_output_headers(rp->req),
		    "Retry-After", "5");
		return login_page(bd, rp,
		    "The board is busy checking other logins: try again in "
		    "a few seconds.",
		    503);
	}
	/* The callback runs on this thread, once we are back in the loop. */
	board_login_started(w->peer);
	evhttp_connection_set_closecb(w->conn, on_login_gone, w);
	return REPLY_LATER;
}

/*
 * POST /login: the CSRF and the rate limit here, the password on the
 * checker's threads (check_login).
 */
static int
do_login(struct board *bd, struct reply *rp)
{
	struct evkeyvalq f;
	char *pre = cookie(rp->req, "lw_pre");
	int code = 500;

	if (read_form(rp->req, &f) != 0 || !csrf_ok(&f, pre)) {
		free(pre);
		evhttp_clear_headers(&f);
		buf_adds(&rp->out, "no or wrong CSRF token\n");
		rp->type = "text/plain; charset=utf-8";
		return 403;
	}
	free(pre);
	switch (board_login_gate(rp->peer)) {
	case BOARD_LOGIN_LOCKED:
		code = login_page(bd, rp,
		    "Too many failed logins: wait a few minutes.", 429);
		break;
	case BOARD_LOGIN_BUSY:
		code = login_page(bd, rp,
		    "Too many logins under way from your address: wait a "
		    "moment.",
		    429);
		break;
	case BOARD_LOGIN_OPEN:
		code = check_login(bd, rp, evhttp_find_header(&f, "name"),
		    evhttp_find_header(&f, "password"));
		break;
	}
	evhttp_clear_headers(&f);
	return code;
}

/* POST /ack, /resolve (oncall), /logout: each with the session's CSRF. */
static int
do_post(struct board *bd, struct reply *rp, const char *path)
{
	const char *id, *p[3] = { NULL, NULL, NULL };
	char *sql, *cause = NULL, *to;
	struct evkeyvalq f;
	PGresult *r;
	PGconn *c;
	int code;

	rp->type = "text/plain; charset=utf-8";
	if (read_form(rp->req, &f) != 0 || !csrf_ok(&f, rp->s->csrf)) {
		evhttp_clear_headers(&f);
		buf_adds(&rp->out, "no or wrong CSRF token\n");
		return 403;
	}
	id = evhttp_find_header(&f, "id");
	if (strcmp(path, "/logout") == 0) {
		board_session_end(rp->s);
		rp->s = NULL;
		set_cookie(bd, rp, "lw_session", "");
		code = redirect(rp, "/login");
	} else if (strcmp(path, "/ack") != 0 && strcmp(path, "/resolve") != 0)
		code = 404;
	else if (strcmp(rp->s->user->role, "oncall") != 0) {
		buf_adds(&rp->out,
		    "only oncall users acknowledge or resolve\n");
		code = 403;
	} else if (id == NULL || *id == '\0' || strlen(id) > 18 ||
	    strspn(id, "0123456789") != strlen(id))
		code = 400;
	else if ((c = session(bd)) == NULL)
		code = 503;
	else {
		p[0] = id;
		p[1] = rp->s->user->name;
		sql = path[1] == 'a' ? cli_ack_sql(false) : cli_resolve_sql();
		r = db_query(c, "change the alert", sql, path[1] == 'a' ? 2 : 3,
		    p, &cause);
		free(sql);
		if (r == NULL) {
			fprintf(stderr, "labwatch board: %s\n", cause);
			free(cause);
			code = 500;
		} else if (PQntuples(r) == 0) {
			buf_adds(&rp->out,
			    "the alert is not in a state for "
			    "that (already done?)\n");
			code = 409;
		} else {
			to = xasprintf("/alert?id=%s", id);
			code = redirect(rp, to);
			free(to);
		}
		PQclear(r);
	}
	evhttp_clear_headers(&f);
	return code;
}

/* A GET of path: a page, or 404. */
static int
get_page(struct board *bd, struct reply *rp, const char *path)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(rp->req);
	size_t i;

	if (strcmp(path, "/") == 0)
		return redirect(rp, "/alerts");
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(path, routes[i].path) == 0)
			return serve_page(bd, routes[i].fn, u, rp->s, &rp->out);
	board_head(&rp->out, "Not found", rp->s);
	buf_adds(&rp->out, "<p>No such page.</p>");
	board_foot(&rp->out);
	return 404;
}

/*
 * Whether req is a person's: a page loaded, a form sent. Only those renew
 * the session's idle time. Not what a page does by itself: its live
 * stream and the stream's reconnections (/events), board.js's reads of
 * the table (X-Labwatch-Refresh), and whatever else a browser says is no
 * document (Sec-Fetch-Dest: empty for scripts, image for the favicon).
 * A client that sends none of these headers (curl, an old browser) is a
 * person.
 */
static bool
person_request(struct evhttp_request *req, const char *path)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *dest = evhttp_find_header(h, "Sec-Fetch-Dest");

	if (strcmp(path, "/events") == 0 ||
	    evhttp_find_header(h, "X-Labwatch-Refresh") != NULL)
		return false;
	return dest == NULL || strcmp(dest, "document") == 0;
}

/* GET /events: a stream of rp's user, or why not (401 is said before). */
static int
open_stream(struct board *bd, struct reply *rp)
{
	const struct board_user *u = rp->s != NULL ? rp->s->user : NULL;

	rp->type = "text/plain; charset=utf-8";
	switch (board_events_admit(bd->events, u)) {
	case BOARD_ADMIT_OK:
		break;
	case BOARD_ADMIT_USER_FULL:
		buf_printf(&rp->out,
		    "too many live streams of yours open (%d, "
		    "--max-user-streams): close a board page, or wait\n",
		    bd->max_user_streams);
		return 429;
	case BOARD_ADMIT_FULL:
		buf_adds(&rp->out, "too many live streams open\n");
		return 503;
	}
	rp->stream = true;
	rp->type = "text/event-stream";
	return 200;
}

static int
route(struct board *bd, struct reply *rp, const char *path)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(rp->req);
	bool post = m == EVHTTP_REQ_POST;
	char *tok;

	if (!post && strcmp(path, "/board.css") == 0) {
		buf_adds(&rp->out, board_css);
		rp->type = "text/css; charset=utf-8";
		return 200;
	}
	if (!post && strcmp(path, "/board.js") == 0) {
		buf_adds(&rp->out, board_js);
		rp->type = "text/javascript; charset=utf-8";
		return 200;
	}
	if (bd->auth && strcmp(path, "/login") == 0)
		return post ? do_login(bd, rp) : login_page(bd, rp, NULL, 200);
	if (bd->auth) {
		tok = cookie(rp->req, "lw_session");
		rp->s = person_request(rp->req, path) ?
		    board_session_find(tok) :
		    board_session_peek(tok);
		free(tok);
		if (rp->s == NULL && (post || strcmp(path, "/events") == 0)) {
			buf_adds(&rp->out, "no session\n");
			rp->type = "text/plain; charset=utf-8";
			return post ? 403 : 401;
		}
		if (rp->s == NULL)
			return redirect(rp, "/login");
	}
	if (post && bd->auth)
		return do_post(bd, rp, path);
	if (post) {
		evhttp_add_header(evhttp_request_get_output_headers(rp->req),
		    "Allow", "GET, HEAD");
		buf_adds(&rp->out, "method not allowed\n");
		rp->type = "text/plain; charset=utf-8";
		return 405;
	}
	if (strcmp(path, "/events") == 0 && m == EVHTTP_REQ_GET)
		return open_stream(bd, rp);
	if (strcmp(path, "/events") == 0) {
		rp->type = "text/event-stream";
		return 200;
	}
	return get_page(bd, rp, path);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct board *bd = arg;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u != NULL ? evhttp_uri_get_path(u) : NULL;
	struct reply rp;
	char *peer = NULL;
	ev_uint16_t port;

	memset(&rp, 0, sizeof(rp));
	clock_gettime(CLOCK_MONOTONIC, &rp.t0);
	rp.req = req;
	rp.type = "text/html; charset=utf-8";
	buf_init(&rp.out);
	evhttp_connection_get_peer(evhttp_request_get_connection(req), &peer,
	    &port);
	rp.peer = peer != NULL ? peer : "-";
	if (path == NULL || *path == '\0')
		path = "/";
	/* REPLY_LATER: rp (its body too) went to a login_wait. */
	if ((rp.code = route(bd, &rp, path)) != REPLY_LATER)
		reply_send(bd, &rp, path);
}

/* Each connection's bufferevent: TLS when the board has a context. */
static struct bufferevent *
tls_bev(struct event_base *base, void *arg)
{
	struct board *bd = arg;
	SSL *ssl = SSL_new(bd->ctx);

	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

/* The TLS context of cert and key (TLS 1.2+, daemon/tls.c); -1. */
static int
tls_setup(struct board *bd, const char *cert, const char *key)
{
	struct config cfg;
	char *cause = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.tls_cert = (char *)cert;
	cfg.tls_key = (char *)key;
	cfg.tls_ca = (char *)"";
	cfg.tls_verify_client = TLS_VERIFY_NONE;
	if ((bd->ctx = tls_ctx_new(&cfg, &cause)) == NULL) {
		fprintf(stderr, "labwatch board: %s\n", cause);
		free(cause);
		return -1;
	}
	bd->tls = true;
	return 0;
}

static void
on_signal(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Split ADDR:PORT ([v6]:PORT too); 0, or -1. */
static int
split_listen(const char *s, char **addr, ev_uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long p;

	if (colon == NULL || colon == s)
		return -1;
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || p < 0 || p > 65535)
		return -1;
	if (s[0] == '[' && colon[-1] == ']')
		*addr = xstrndup(s + 1, (size_t)(colon - s - 2));
	else
		*addr = xstrndup(s, (size_t)(colon - s));
	*port = (ev_uint16_t)p;
	return 0;
}

static int
serve(struct board *bd, const char *listen)
{
	struct evhttp_bound_socket *sock;
	struct event *sigint, *sigterm;
	struct evhttp *http;
	char *addr = NULL, *cause = NULL;
	ev_uint16_t port;

	if (split_listen(listen, &addr, &port) != 0) {
		fprintf(stderr, "labwatch board: --listen is ADDR:PORT\n");
		return 2;
	}
	bd->base = event_base_new();
	if (bd->auth &&
	    (bd->checks = board_checks_new(bd->base, &bd->users, &cause)) ==
		NULL) {
		fprintf(stderr, "labwatch board: %s\n", cause);
		free(cause);
		free(addr);
		event_base_free(bd->base);
		return 1;
	}
	http = evhttp_new(bd->base);
	evhttp_set_allowed_methods(http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_max_headers_size(http, 16384);
	evhttp_set_max_body_size(http, 65536);
	evhttp_set_timeout(http, 30);
	evhttp_set_gencb(http, on_request, bd);
	if (bd->ctx != NULL)
		evhttp_set_bevcb(http, tls_bev, bd);
	sock = evhttp_bind_socket_with_handle(http, addr, port);
	if (sock == NULL) {
		fprintf(stderr, "labwatch board: cannot listen on %s\n",
		    listen);
		free(addr);
		evhttp_free(http);
		board_checks_free(bd->checks);
		event_base_free(bd->base);
		return 1;
	}
	{
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char host[64] = "?";

		getsockname(evhttp_bound_socket_get_fd(sock),
		    (struct sockaddr *)&ss, &len);
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			port = ntohs(in->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *in = (struct sockaddr_in6 *)&ss;
			port = ntohs(in->sin6_port);
		}
		snprintf(host, sizeof(host), "%s", addr);
		fprintf(stderr,
		    "labwatch board: listening on http%s://%s%s%s:%u/\n",
		    bd->tls ? "s" : "", strchr(host, ':') ? "[" : "", host,
		    strchr(host, ':') ? "]" : "", (unsigned)port);
	}
	free(addr);
	sigint = evsignal_new(bd->base, SIGINT, on_signal, bd->base);
	sigterm = evsignal_new(bd->base, SIGTERM, on_signal, bd->base);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
	signal(SIGPIPE, SIG_IGN);
	bd->events = board_events_new(bd->base, bd->conninfo, bd->heartbeat,
	    bd->max_streams, bd->max_user_streams);
	live = bd->events;
	event_base_dispatch(bd->base);
	live = NULL;
	/* Before evhttp_free(): the logins waiting let go of their requests. */
	board_checks_free(bd->checks);
	board_events_free(bd->events);
	event_free(sigint);
	event_free(sigterm);
	evhttp_free(http);
	event_base_free(bd->base);
	return 0;
}

/* Whether the address is the loopback (no users needed there). */
static bool
loopback(const char *listen)
{
	return strncmp(listen, "127.", 4) == 0 ||
	    strncmp(listen, "[::1]:", 6) == 0 ||
	    strncmp(listen, "localhost:", 10) == 0;
}

/*
 * --heartbeat (ch 'H'), --idle-timeout ('I'), --max-streams ('m') or
 * --max-user-streams ('M') into bd; 0, or -1 said.
 */
static int
stream_option(struct board *bd, int ch, const char *arg)
{
	char *end;
	double d;
	long n;

	if (ch == 'H' || ch == 'I') {
		if (notify_parse_duration(arg, &d) == 0 &&
		    (ch == 'H' ? d >= 0.05 && d <= 3600 :
				 d >= 1 && d <= 168 * 3600)) {
			*(ch == 'H' ? &bd->heartbeat : &bd->idle) = d;
			return 0;
		}
		fprintf(stderr, "%s",
		    ch == 'H' ? "labwatch board: --heartbeat is a duration "
				"from 50ms to 1h (\"15s\")\n" :
				"labwatch board: --idle-timeout is a duration "
				"from 1s to 168h (\"30m\")\n");
		return -1;
	}
	errno = 0;
	n = strtol(arg, &end, 10);
	if (errno != 0 || *end != '\0' || end == arg || n < 0 || n > 100000) {
		fprintf(stderr,
		    "labwatch board: --%s is a number from 0 to 100000\n",
		    ch == 'm' ? "max-streams" : "max-user-streams");
		return -1;
	}
	*(ch == 'm' ? &bd->max_streams : &bd->max_user_streams) = (int)n;
	return 0;
}

int
cmd_board(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "users", required_argument, NULL, 'u' },
		{ "add-user", required_argument, NULL, 'a' },
		{ "role", required_argument, NULL, 'r' },
		{ "password-stdin", no_argument, NULL, 'P' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "heartbeat", required_argument, NULL, 'H' },
		{ "max-streams", required_argument, NULL, 'm' },
		{ "max-user-streams", required_argument, NULL, 'M' },
		{ "idle-timeout", required_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = NULL, *listen = "127.0.0.1:8575", *users = NULL;
	const char *add = NULL, *role = NULL, *cert = NULL, *key = NULL;
	bool pw_stdin = false;
	struct board bd;
	char why[512];
	int ch, rc;

	memset(&bd, 0, sizeof(bd));
	bd.heartbeat = BOARD_HEARTBEAT;
	bd.max_streams = BOARD_MAX_STREAMS;
	bd.max_user_streams = BOARD_MAX_USER_STREAMS;
	bd.idle = BOARD_IDLE;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			db = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'u':
			users = optarg;
			break;
		case 'a':
			add = optarg;
			break;
		case 'r':
			role = optarg;
			break;
		case 'P':
			pw_stdin = true;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'H':
		case 'I':
		case 'm':
		case 'M':
			if (stream_option(&bd, ch, optarg) != 0)
				return 2;
			break;
		case 'h':
			board_usage(stdout);
			return 0;
		default:
			board_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || (add != NULL && users == NULL) ||
	    (cert == NULL) != (key == NULL)) {
		board_usage(stderr);
		return 2;
	}
	if (add != NULL)
		return board_add_user(users, add, role, pw_stdin);
	if (users != NULL) {
		if (board_users_load(users, &bd.users, why, sizeof(why)) != 0) {
			fprintf(stderr, "labwatch board: %s\n", why);
			return 2;
		}
		bd.auth = true;
		/* Whole seconds (time()), rounded up: never shorter. */
		board_sessions_idle((time_t)(bd.idle + 0.999));
		if (!loopback(listen) && cert == NULL) {
			fprintf(stderr,
			    "labwatch board: beyond the loopback, "
			    "--tls-cert and --tls-key are needed (passwords "
			    "and cookies in clear otherwise)\n");
			board_users_free(&bd.users);
			return 2;
		}
	} else if (!loopback(listen)) {
		fprintf(stderr,
		    "labwatch board: without --users the board "
		    "listens only on the loopback (it shows "
		    "patient data)\n");
		return 2;
	}
	bd.conninfo = db;
	if (cert != NULL && tls_setup(&bd, cert, key) != 0) {
		board_users_free(&bd.users);
		return 2;
	}
	if ((bd.db = board_db_open(db, &rc)) == NULL) {
		board_users_free(&bd.users);
		SSL_CTX_free(bd.ctx);
		return rc;
	}
	rc = serve(&bd, listen);
	SSL_CTX_free(bd.ctx);
	if (bd.db != NULL)
		PQfinish(bd.db);
	board_users_free(&bd.users);
	return rc;
}

void
board_live_counts(struct board_events_counts *out)
{
	memset(out, 0, sizeof(*out));
	if (live != NULL)
		board_events_counts(live, out);
}
