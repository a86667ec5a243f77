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
 * --idle-timeout without a request of the person's: a page left open on
 * a screen, whose stream and script reads renew nothing, goes to the
 * login page once it has expired. Logins, what renews a session and a
 * user's live streams are cli/board_session.c's; this file dispatches
 * requests and serves.
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
#include "cli/board_int.h"
#include "cli/board_session.h"
#include "cli/cmd.h"
#include "cli/notify.h"
#include "daemon/conf.h"
#include "daemon/tls.h"
#include "lib/xmalloc.h"
#include "store/db.h"

/* The live updates of the board this process serves: the status page's. */
static const struct board_events *live;

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

int
board_redirect(struct reply *rp, const char *to)
{
	evhttp_add_header(evhttp_request_get_output_headers(rp->req),
	    "Location", to);
	return 303;
}

void
board_reply_send(struct board *bd, struct reply *rp, const char *path)
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
	if (board_session_form(rp->req, &f) != 0 ||
	    !board_session_csrf_ok(&f, rp->s->csrf)) {
		evhttp_clear_headers(&f);
		buf_adds(&rp->out, "no or wrong CSRF token\n");
		return 403;
	}
	id = evhttp_find_header(&f, "id");
	if (strcmp(path, "/logout") == 0) {
		code = board_session_logout(bd, rp);
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
			code = board_redirect(rp, to);
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
		return board_redirect(rp, "/alerts");
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(path, routes[i].path) == 0)
			return serve_page(bd, routes[i].fn, u, rp->s, &rp->out);
	board_head(&rp->out, "Not found", rp->s);
	buf_adds(&rp->out, "<p>No such page.</p>");
	board_foot(&rp->out);
	return 404;
}

static int
route(struct board *bd, struct reply *rp, const char *path)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(rp->req);
	bool post = m == EVHTTP_REQ_POST;
	int code;

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
	if (board_session_gate(bd, rp, path, post, &code))
		return code;
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
		return board_session_stream(bd, rp);
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
		board_reply_send(bd, &rp, path);
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
