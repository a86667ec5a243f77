/*
 * board.c: labwatch board: the web page for coordinators and on-call
 * physicians, an HTTP server on libevent's evhttp reading PostgreSQL.
 *
 *   labwatch board [--db C] [--listen ADDR:PORT]
 *
 * Pages (cli/board_pages.c): /alerts, /alert?id=N, /screening,
 * /patient?id=ID, /status; /board.css. Every response carries
 * Content-Security-Policy: default-src 'self', X-Frame-Options: DENY and
 * Cache-Control: no-store (patient data). One access log line per request
 * on stderr: method, path (never the query: it names patients), status,
 * time, peer address.
 *
 * Not done yet (issue 17): users and sessions, ack/resolve from the page,
 * TLS, Server-Sent Events. Until then the board serves anyone who reaches
 * its address: keep it on 127.0.0.1 (the default).
 */
#include "config.h"

#include <getopt.h>
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
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <libpq-fe.h>

#include "cli/board.h"
#include "cli/cmd.h"
#include "lib/xmalloc.h"
#include "store/db.h"

struct board {
	PGconn *db; /* NULL after it broke, until the next request */
	const char *conninfo;
	struct event_base *base;
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
	    "usage: labwatch board [--db CONNINFO] [--listen ADDR:PORT]\n"
	    "  Serves the board, web pages of the alerts, the screening "
	    "verdicts, each\n"
	    "  patient's results with trend charts and the status, on "
	    "ADDR:PORT\n"
	    "  (default 127.0.0.1:8575). No logins yet: keep it on "
	    "localhost.\n");
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
		bd->db = cli_db_open("board", bd->conninfo, 1, &rc);
	return bd->db;
}

/* Run page fn for req into out; the HTTP status. */
static int
serve_page(struct board *bd, board_page_fn *fn, const struct evhttp_uri *u,
    struct buf *out)
{
	struct evkeyvalq q;
	const char *query = evhttp_uri_get_query(u);
	char *cause = NULL;
	PGconn *c;
	int code;

	TAILQ_INIT(&q);
	if (query != NULL && evhttp_parse_query_str(query, &q) != 0) {
		board_head(out, "Bad request");
		buf_adds(out, "<p>The query could not be read.</p>");
		board_foot(out);
		return 400;
	}
	if ((c = session(bd)) == NULL) {
		cause = xstrdup("PostgreSQL cannot be reached");
		code = 503;
	} else if ((code = fn(c, &q, out, &cause)) >= 500 &&
	    PQstatus(c) != CONNECTION_OK)
		code = 503;
	evhttp_clear_headers(&q);
	if (cause != NULL) {
		fprintf(stderr, "labwatch board: %s\n", cause);
		free(cause);
		buf_reset(out);
		board_head(out, "Error");
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

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct board *bd = arg;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u != NULL ? evhttp_uri_get_path(u) : NULL;
	struct evbuffer *ev;
	struct timespec t0, t1;
	const char *type = "text/html; charset=utf-8";
	struct buf out;
	char *peer;
	ev_uint16_t port;
	size_t i;
	int code = 404;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	buf_init(&out);
	if (path == NULL || *path == '\0')
		path = "/";
	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
		code = 405;
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		buf_adds(&out, "method not allowed\n");
		type = "text/plain; charset=utf-8";
	} else if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		code = 405;
		buf_adds(&out, "method not allowed\n");
		type = "text/plain; charset=utf-8";
	} else if (strcmp(path, "/") == 0) {
		code = 303;
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Location", "/alerts");
	} else if (strcmp(path, "/board.css") == 0) {
		code = 200;
		buf_adds(&out, board_css);
		type = "text/css; charset=utf-8";
	} else {
		for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
			if (strcmp(path, routes[i].path) == 0)
				code = serve_page(bd, routes[i].fn, u, &out);
		if (code == 404 && out.len == 0) {
			board_head(&out, "Not found");
			buf_adds(&out, "<p>No such page.</p>");
			board_foot(&out);
		}
	}
	headers(req, type);
	ev = evbuffer_new();
	evbuffer_add(ev, out.p != NULL ? out.p : "", out.len);
	evhttp_send_reply(req, code, code == 200 ? "OK" : "-", ev);
	evbuffer_free(ev);
	buf_free(&out);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	evhttp_connection_get_peer(evhttp_request_get_connection(req), &peer,
	    &port);
	/* The path only: a query names patients. */
	fprintf(stderr, "labwatch board: %s %.60s %d %.1f ms %s\n",
	    method_name(evhttp_request_get_command(req)), path, code,
	    (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
		(double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
	    peer != NULL ? peer : "-");
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
	char *addr = NULL;
	ev_uint16_t port;

	if (split_listen(listen, &addr, &port) != 0) {
		fprintf(stderr, "labwatch board: --listen is ADDR:PORT\n");
		return 2;
	}
	bd->base = event_base_new();
	http = evhttp_new(bd->base);
	evhttp_set_allowed_methods(http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_max_headers_size(http, 16384);
	evhttp_set_max_body_size(http, 65536);
	evhttp_set_timeout(http, 30);
	evhttp_set_gencb(http, on_request, bd);
	sock = evhttp_bind_socket_with_handle(http, addr, port);
	if (sock == NULL) {
		fprintf(stderr, "labwatch board: cannot listen on %s\n",
		    listen);
		free(addr);
		evhttp_free(http);
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
		    "labwatch board: listening on http://%s%s%s:%u/\n",
		    strchr(host, ':') ? "[" : "", host,
		    strchr(host, ':') ? "]" : "", (unsigned)port);
	}
	free(addr);
	sigint = evsignal_new(bd->base, SIGINT, on_signal, bd->base);
	sigterm = evsignal_new(bd->base, SIGTERM, on_signal, bd->base);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
	signal(SIGPIPE, SIG_IGN);
	event_base_dispatch(bd->base);
	event_free(sigint);
	event_free(sigterm);
	evhttp_free(http);
	event_base_free(bd->base);
	return 0;
}

int
cmd_board(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = NULL, *listen = "127.0.0.1:8575";
	struct board bd;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			db = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'h':
			board_usage(stdout);
			return 0;
		default:
			board_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		board_usage(stderr);
		return 2;
	}
	memset(&bd, 0, sizeof(bd));
	bd.conninfo = db;
	if ((bd.db = cli_db_open("board", db, 1, &rc)) == NULL)
		return rc;
	rc = serve(&bd, listen);
	if (bd.db != NULL)
		PQfinish(bd.db);
	return rc;
}
