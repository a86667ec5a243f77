/*
 * board_events.c: the board's live updates (see board_events.h).
 *
 * One PostgreSQL session of its own, LISTEN labwatch_alert, driven by the
 * board's event loop: connected with PQconnectPoll, then read with
 * PQconsumeInput/PQnotifies whenever its socket is readable (PQsocket read
 * again each time the event is armed). The payloads are the alerts
 * trigger's ("ID", sql/001: a new alert) and the events trigger's ("event
 * ID", sql/008 and 019: acknowledge, resolve, escalate, reopen). Each
 * batch of them is looked up in one query sent on that session without
 * waiting, and each row becomes one event on every stream:
 *
 *   event: alert
 *   data: {"id":12,"event":"trigger","state":"open",
 *          "severity":"critical","kind":"toxicity"}
 *
 * what the alerts page's row shows anyway, and no patient. A lost session
 * is said once in the log and tried again after 1, 2, 4 ... at most 10 s;
 * once it listens again the log says so and every stream gets "event:
 * resync" (what was raised meanwhile sent nothing we could read): the page
 * reloads its table. A session that stops answering without closing (a
 * dead network, a stopped server: no EOF ever comes) is found at the
 * heartbeats: after PROBE_QUIET s without a word from it a "SELECT 1" is
 * sent, and one whose answer (to that, the LISTEN or a lookup) takes over
 * PG_WAIT s is dropped as lost. A heartbeat comment (": ping") every --heartbeat
 * seconds keeps proxies from closing an idle stream and finds the streams
 * whose session ended (logout, idle expiry: a stream never renews its
 * session): they are closed then, as at any event, and the page's next
 * connection gets 401. A stream whose peer left is dropped when libevent
 * sees the connection close; one whose peer stopped reading when its
 * backlog passes STREAM_BACKLOG. One user may hold --max-user-streams
 * streams (a loop opening streams, or a stolen session, cannot take all
 * --max-streams from the other users).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <libpq-fe.h>

#include "cli/board_auth.h"
#include "cli/board_events.h"
#include "lib/buf.h"
#include "lib/json.h"
#include "lib/xmalloc.h"
#include "store/db.h"

/* Bytes a stream may have waiting for its peer before it is dropped. */
#define STREAM_BACKLOG (256 * 1024)
/* Notifications waiting for a lookup, beyond which a resync is sent. */
#define MAX_PENDING 10000
/* The longest pause between two connection attempts (s). */
#define RETRY_MAX 10.0
/* Quiet seconds of the listening session before a probe is sent. */
#define PROBE_QUIET 10.0
/* Seconds a connection attempt or a query may wait for its answer. */
#define PG_WAIT 10.0

enum pg_state {
	PG_DOWN,       /* no session; the retry timer is armed */
	PG_CONNECTING, /* PQconnectPoll under way */
	PG_SETUP,      /* search_path and LISTEN sent, answers awaited */
	PG_IDLE,       /* listening */
	PG_LOOKUP,     /* listening, a lookup of notifications in flight */
	PG_PROBE,      /* listening, a probe (SELECT 1) in flight */
};

/* One open /events reply. Owned by its board_events' list. */
struct stream {
	TAILQ_ENTRY(stream) link;
	struct board_events *be;
	struct evhttp_request *req;
	struct evhttp_connection *conn;
	const struct board_user *user;	 /* NULL: the board has no users */
	bool auth;			 /* token names its session */
	char token[BOARD_TOKEN_HEX + 1]; /* the session's cookie */
};

/* A notification: an alert id, or (event) an alert_events id. */
struct note {
	long long id;
	bool event;
};

struct board_events {
	struct event_base *base;
	const char *conninfo; /* as given: db_conninfo() at each attempt */
	PGconn *c;
	enum pg_state state;
	struct event *io;    /* on PQsocket(c), what the state waits for */
	struct event *retry; /* PG_DOWN: the next attempt */
	struct event *tick;  /* the heartbeat */
	double pause;	     /* before the next attempt (s) */
	bool listened;	     /* has listened once: a reconnection */
	bool lost_said;	     /* the loss is in the log */
	struct note *pend;   /* notifications not looked up yet */
	size_t npend, cap;
	bool resync;  /* a resync is owed to the streams */
	double asked; /* when the attempt or query under way began */
	double heard; /* when the session last said something */
	TAILQ_HEAD(, stream) streams;
	int nstreams, max_streams, max_user_streams;
	unsigned long long refused_full, refused_user, ended;
};

static void pg_connect(struct board_events *be);
static void pg_lost(struct board_events *be, char *cause);
static void on_io(evutil_socket_t fd, short what, void *arg);

/* Seconds on the monotonic clock. */
static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
elog(const char *what, const char *cause)
{
	fprintf(stderr, "labwatch board: live updates: %s%s%s\n", what,
	    cause != NULL ? ": " : "", cause != NULL ? cause : "");
}

/* ---- the streams ---- */

/* End s ourselves: the peer gets the reply's end. */
static void
stream_close(struct stream *s)
{
	struct board_events *be = s->be;

	TAILQ_REMOVE(&be->streams, s, link);
	be->nstreams--;
	evhttp_connection_set_closecb(s->conn, NULL, NULL);
	evhttp_send_reply_end(s->req);
	free(s);
}

/* libevent closes the connection (the peer left, a write failed). */
static void
on_stream_gone(struct evhttp_connection *conn, void *arg)
{
	struct stream *s = arg;

	(void)conn;
	TAILQ_REMOVE(&s->be->streams, s, link);
	s->be->nstreams--;
	/*
	 * A request being answered when its peer left is let go by its
	 * connection (libevent's http.c): ending it frees it. Otherwise the
	 * connection frees it.
	 */
	if (evhttp_request_get_connection(s->req) == NULL)
		evhttp_send_reply_end(s->req);
	free(s);
}

/* Write text to s; false when s must go (session over, peer stuck). */
static bool
stream_write(struct stream *s, const char *text, size_t n)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(s->conn);
	struct evbuffer *b;

	if (s->auth && !board_session_live(s->token)) {
		/* The user's name, as in the access log: no patient data. */
		fprintf(stderr,
		    "labwatch board: live updates: a stream of %s closed: its "
		    "session ended (logout or idle)\n",
		    s->user != NULL ? s->user->name : "-");
		s->be->ended++;
		return false;
	}
	if (evbuffer_get_length(bufferevent_get_output(bev)) > STREAM_BACKLOG) {
		elog("a stream's peer does not read: closed", NULL);
		return false;
	}
	b = evbuffer_new();
	evbuffer_add(b, text, n);
	evhttp_send_reply_chunk(s->req, b);
	evbuffer_free(b);
	return true;
}

/* Write text to every stream, closing those that must go. */
static void
broadcast(struct board_events *be, const char *text, size_t n)
{
	struct stream *s, *next;

	for (s = TAILQ_FIRST(&be->streams); s != NULL; s = next) {
		next = TAILQ_NEXT(s, link);
		if (!stream_write(s, text, n))
			stream_close(s);
	}
}

static void pg_watch(struct board_events *be);

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	static const char ping[] = ": ping\n\n";

	(void)fd;
	(void)what;
	pg_watch(arg);
	broadcast(arg, ping, sizeof(ping) - 1);
}

/* The streams of user open now. */
static int
user_streams(const struct board_events *be, const struct board_user *user)
{
	const struct stream *s;
	int n = 0;

	TAILQ_FOREACH (s, &be->streams, link)
		if (s->user == user)
			n++;
	return n;
}

enum board_admit
board_events_admit(struct board_events *be, const struct board_user *user)
{
	int mine = 0;

	if (be->nstreams >= be->max_streams) {
		be->refused_full++;
		fprintf(stderr,
		    "labwatch board: live updates: %d streams open "
		    "(--max-streams): one more refused (503)\n",
		    be->nstreams);
		return BOARD_ADMIT_FULL;
	}
	if (user == NULL ||
	    (mine = user_streams(be, user)) < be->max_user_streams)
		return BOARD_ADMIT_OK;
	be->refused_user++;
	fprintf(stderr,
	    "labwatch board: live updates: %s has %d streams open "
	    "(--max-user-streams): one more refused (429)\n",
	    user->name, mine);
	return BOARD_ADMIT_USER_FULL;
}

void
board_events_counts(const struct board_events *be,
    struct board_events_counts *out)
{
	out->open = be->nstreams;
	out->max_streams = be->max_streams;
	out->max_user_streams = be->max_user_streams;
	out->refused_full = be->refused_full;
	out->refused_user = be->refused_user;
	out->ended = be->ended;
}

void
board_events_start(struct board_events *be, struct evhttp_request *req,
    const char *token, const struct board_user *user)
{
	/* A browser reconnects after 2 s; the comment sends the headers. */
	static const char hello[] = "retry: 2000\n: open\n\n";
	struct timeval wt = { 60, 0 };
	struct stream *s = xcalloc(1, sizeof(*s));

	s->be = be;
	s->req = req;
	s->conn = evhttp_request_get_connection(req);
	s->user = user;
	if (token != NULL) {
		s->auth = true;
		snprintf(s->token, sizeof(s->token), "%s", token);
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "X-Accel-Buffering", "no");
	evhttp_send_reply_start(req, 200, "OK");
	/*
	 * The board's 30 s timeout would end a quiet stream: no read timeout
	 * (reading only tells that the peer left), a write one for a peer
	 * that stopped reading.
	 */
	bufferevent_set_timeouts(evhttp_connection_get_bufferevent(s->conn),
	    NULL, &wt);
	evhttp_connection_set_closecb(s->conn, on_stream_gone, s);
	TAILQ_INSERT_TAIL(&be->streams, s, link);
	be->nstreams++;
	if (!stream_write(s, hello, sizeof(hello) - 1))
		stream_close(s);
}

/* ---- the PostgreSQL session ---- */

/*
 * Wait on PQsocket(c) for what (EV_READ, EV_WRITE, with EV_PERSIST); the
 * session is lost when it has no socket.
 */
static void
arm(struct board_events *be, short what)
{
	if (be->io != NULL)
		event_free(be->io);
	be->io = NULL;
	if (PQsocket(be->c) < 0) {
		pg_lost(be, db_error(be->c, NULL));
		return;
	}
	be->io = event_new(be->base, PQsocket(be->c), what, on_io, be);
	event_add(be->io, NULL);
}

/* The session is gone: say so once, try again after the pause. */
static void
pg_lost(struct board_events *be, char *cause)
{
	struct timeval tv;

	if (!be->lost_said)
		elog(be->listened ? "PostgreSQL session lost, connecting "
				    "again in the background" :
				    "cannot listen yet, trying again in the "
				    "background",
		    cause);
	be->lost_said = true;
	free(cause);
	if (be->io != NULL)
		event_free(be->io);
	be->io = NULL;
	if (be->c != NULL)
		PQfinish(be->c);
	be->c = NULL;
	be->state = PG_DOWN;
	be->npend = 0;
	tv.tv_sec = (time_t)be->pause;
	tv.tv_usec = (suseconds_t)((be->pause - (double)tv.tv_sec) * 1e6);
	evtimer_add(be->retry, &tv);
	be->pause = be->pause * 2 < RETRY_MAX ? be->pause * 2 : RETRY_MAX;
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pg_connect(arg);
}

/* After PQsend*: flush, waiting for write room while PQflush says 1. */
static void
pg_sent(struct board_events *be, enum pg_state next)
{
	int f = PQflush(be->c);

	if (next != be->state)
		be->asked = mono();
	be->state = next;
	if (f < 0)
		pg_lost(be, db_error(be->c, NULL));
	else
		arm(be, EV_READ | EV_PERSIST | (f == 1 ? EV_WRITE : 0));
}

static void
pg_connect(struct board_events *be)
{
	be->c = db_connect_start(db_conninfo(be->conninfo),
	    "labwatch board live");
	if (be->c == NULL || PQstatus(be->c) == CONNECTION_BAD) {
		pg_lost(be,
		    be->c != NULL ?
			db_connect_cause(be->c, db_conninfo(be->conninfo)) :
			xstrdup("out of memory"));
		return;
	}
	be->state = PG_CONNECTING;
	be->asked = mono();
	/* PQconnectStart's first step: as if PQconnectPoll said WRITING. */
	arm(be, EV_WRITE);
}

/* One PQconnectPoll step; on success, search_path and LISTEN are sent. */
static void
pg_connect_step(struct board_events *be)
{
	switch (PQconnectPoll(be->c)) {
	case PGRES_POLLING_READING:
		arm(be, EV_READ);
		return;
	case PGRES_POLLING_WRITING:
		arm(be, EV_WRITE);
		return;
	case PGRES_POLLING_OK:
		break;
	default:
		pg_lost(be, db_connect_cause(be->c, db_conninfo(be->conninfo)));
		return;
	}
	if (PQsetnonblocking(be->c, 1) != 0 ||
	    !PQsendQuery(be->c,
		"SELECT pg_catalog.set_config('search_path', 'labwatch', "
		"false); LISTEN labwatch_alert")) {
		pg_lost(be, db_error(be->c, NULL));
		return;
	}
	pg_sent(be, PG_SETUP);
}

/* Queue the notifications libpq has read; false: none. */
static bool
take_notifies(struct board_events *be)
{
	PGnotify *n;
	const char *p;
	char *end;
	long long id;
	bool any = false;

	while ((n = PQnotifies(be->c)) != NULL) {
		any = true;
		p = n->extra;
		if (strncmp(p, "event ", 6) == 0)
			p += 6;
		errno = 0;
		id = strtoll(p, &end, 10);
		if (errno == 0 && end != p && *end == '\0' && id > 0) {
			if (be->npend == MAX_PENDING) {
				be->resync = true;
				be->npend = 0;
			}
			if (be->npend == be->cap) {
				be->cap = be->cap ? be->cap * 2 : 64;
				be->pend = xreallocarray(be->pend, be->cap,
				    sizeof(*be->pend));
			}
			be->pend[be->npend].id = id;
			be->pend[be->npend++].event = p != n->extra;
		}
		PQfreemem(n);
	}
	return any;
}

/* The notifications as the two arrays of the lookup, sent; pend emptied. */
static void
send_lookup(struct board_events *be)
{
	/*
	 * Each notification in order: the alert it names (an event's alert
	 * through alert_events), what happened, and the columns of its row
	 * on the alerts page that say how to show it.
	 */
	static const char sql[] =
	    "SELECT a.id, CASE WHEN n.ev THEN e.event ELSE 'trigger' END, "
	    "a.state, a.severity, a.kind "
	    "FROM unnest($1::bigint[], $2::bool[]) WITH ORDINALITY "
	    "AS n(num, ev, ord) "
	    "LEFT JOIN alert_events e ON n.ev AND e.id = n.num "
	    "JOIN alerts a ON a.id = CASE WHEN n.ev THEN e.alert "
	    "ELSE n.num END ORDER BY n.ord";
	struct buf ids, evs;
	const char *p[2];
	size_t i;
	int ok;

	buf_init(&ids);
	buf_init(&evs);
	for (i = 0; i < be->npend; i++) {
		buf_printf(&ids, "%c%lld", i == 0 ? '{' : ',', be->pend[i].id);
		buf_printf(&evs, "%c%c", i == 0 ? '{' : ',',
		    be->pend[i].event ? 't' : 'f');
	}
	buf_addc(&ids, '}');
	buf_addc(&evs, '}');
	be->npend = 0;
	p[0] = ids.p;
	p[1] = evs.p;
	ok = PQsendQueryParams(be->c, sql, 2, NULL, p, NULL, NULL, 0);
	buf_free(&ids);
	buf_free(&evs);
	if (!ok)
		pg_lost(be, db_error(be->c, NULL));
	else
		pg_sent(be, PG_LOOKUP);
}

/* Each row of the lookup's result as one event to every stream. */
static void
send_alerts(struct board_events *be, const PGresult *r)
{
	static const char *const keys[] = { "id", "event", "state", "severity",
		"kind" };
	struct buf b;
	int i, j;

	buf_init(&b);
	for (i = 0; i < PQntuples(r); i++) {
		buf_adds(&b, "event: alert\ndata: {");
		for (j = 0; j < 5; j++) {
			json_key(&b, keys[j], j == 0);
			if (j == 0)
				buf_adds(&b, PQgetvalue(r, i, 0));
			else
				json_strz(&b, PQgetvalue(r, i, j));
		}
		buf_adds(&b, "}\n\n");
	}
	if (b.len > 0)
		broadcast(be, b.p, b.len);
	buf_free(&b);
}

static void
send_resync(struct board_events *be)
{
	static const char text[] = "event: resync\ndata: {}\n\n";

	be->resync = false;
	broadcast(be, text, sizeof(text) - 1);
}

/* The answers of PG_SETUP or PG_LOOKUP, as far as they have come. */
static void
pg_results(struct board_events *be)
{
	PGresult *r;
	char *cause = NULL;

	while (!PQisBusy(be->c) && (r = PQgetResult(be->c)) != NULL) {
		if (db_check(be->c, r,
			be->state == PG_SETUP	  ? "listen" :
			    be->state == PG_PROBE ? "probe the session" :
						    "look up the alerts",
			&cause) != DB_OK) {
			/* The streams' pages read the table again. */
			elog("query failed", cause);
			free(cause);
			cause = NULL;
			be->resync = true;
		} else if (be->state == PG_LOOKUP)
			send_alerts(be, r);
		PQclear(r);
	}
	if (PQisBusy(be->c))
		return;
	if (be->state == PG_SETUP) {
		if (be->resync) {
			/* LISTEN itself failed: no use going on. */
			pg_lost(be, xstrdup("LISTEN failed"));
			return;
		}
		elog(be->listened ? "listening to PostgreSQL again" :
				    "listening to PostgreSQL",
		    NULL);
		be->resync = be->listened;
		be->listened = true;
		be->lost_said = false;
		be->pause = 1;
	}
	be->state = PG_IDLE;
}

static void
on_io(evutil_socket_t fd, short what, void *arg)
{
	struct board_events *be = arg;

	(void)fd;
	if (be->state == PG_CONNECTING) {
		pg_connect_step(be);
		return;
	}
	if ((what & EV_WRITE) != 0) {
		pg_sent(be, be->state);
		if (be->state == PG_DOWN)
			return;
	}
	if ((what & EV_READ) != 0 && PQconsumeInput(be->c) == 0) {
		pg_lost(be, db_error(be->c, NULL));
		return;
	}
	if ((what & EV_READ) != 0)
		be->heard = mono();
	pg_results(be);
	if (be->state == PG_DOWN)
		return;
	take_notifies(be);
	if (be->state != PG_IDLE)
		return;
	if (be->resync)
		send_resync(be);
	if (be->npend > 0)
		send_lookup(be);
}

/*
 * At a heartbeat: drop a session whose attempt or query waits over
 * PG_WAIT s; probe one quiet for PROBE_QUIET s.
 */
static void
pg_watch(struct board_events *be)
{
	double now = mono();

	if (be->state != PG_DOWN && be->state != PG_IDLE &&
	    now - be->asked > PG_WAIT) {
		pg_lost(be,
		    xasprintf("no answer from PostgreSQL in %.0f s", PG_WAIT));
		return;
	}
	if (be->state != PG_IDLE || now - be->heard < PROBE_QUIET)
		return;
	if (!PQsendQuery(be->c, "SELECT 1"))
		pg_lost(be, db_error(be->c, NULL));
	else
		pg_sent(be, PG_PROBE);
}

struct board_events *
board_events_new(struct event_base *base, const char *conninfo,
    double heartbeat, int max_streams, int max_user_streams)
{
	struct board_events *be = xcalloc(1, sizeof(*be));
	struct timeval tv;

	be->base = base;
	be->conninfo = conninfo;
	be->max_streams = max_streams;
	be->max_user_streams = max_user_streams;
	be->pause = 1;
	TAILQ_INIT(&be->streams);
	be->retry = evtimer_new(base, on_retry, be);
	be->tick = event_new(base, -1, EV_PERSIST, on_tick, be);
	tv.tv_sec = (time_t)heartbeat;
	tv.tv_usec = (suseconds_t)((heartbeat - (double)tv.tv_sec) * 1e6);
	event_add(be->tick, &tv);
	pg_connect(be);
	return be;
}

void
board_events_free(struct board_events *be)
{
	while (!TAILQ_EMPTY(&be->streams))
		stream_close(TAILQ_FIRST(&be->streams));
	if (be->io != NULL)
		event_free(be->io);
	event_free(be->retry);
	event_free(be->tick);
	if (be->c != NULL)
		PQfinish(be->c);
	free(be->pend);
	free(be);
}

/*
 * The alerts page's side: each "alert" or "resync" event reads the page
 * again from its own address and puts its table body (#alerts-body) and
 * its "No alerts" line (#none) in place of the old ones, one read at a
 * time. So does every opening of the stream, the first too: an alert
 * raised between the page's own read and the stream's start sent its
 * event to no stream of this page. A read that fails (an error status:
 * the database away, say; or no answer) keeps the table as it is and is
 * tried again after 5 s: the page is never replaced by an error page.
 * Its reads say so (X-Labwatch-Refresh: 1): they are not a person's and do
 * not renew the session, which a page left open must not keep alive. A
 * stream refused (401: the session ended; 429: too many of this user's;
 * 503: too many open) reads the page too (the login page, when the
 * session ended, is then shown) and is tried again after 10 s.
 * <html data-live="open"> while the stream is open. Without JavaScript the
 * page works as before: reload it.
 */
const char board_js[] =
    "// labwatch board: live updates of the alerts page (/events).\n"
    "(function () {\n"
    "  'use strict';\n"
    "  var root = document.documentElement;\n"
    "  var busy = false, again = false, es = null;\n"
    "  if (!document.getElementById('alerts-body') || !window.EventSource)\n"
    "    return;\n"
    "  function swap(doc) {\n"
    "    ['alerts-body', 'none'].forEach(function (id) {\n"
    "      var old = document.getElementById(id);\n"
    "      var neu = doc.getElementById(id);\n"
    "      if (old && neu) old.replaceWith(document.importNode(neu, true));\n"
    "    });\n"
    "  }\n"
    "  function refresh() {\n"
    "    var failed = false;\n"
    "    if (busy) { again = true; return; }\n"
    "    busy = true;\n"
    "    fetch(location.href, { credentials: 'same-origin', "
    "cache: 'no-store',\n"
    "      headers: { 'X-Labwatch-Refresh': '1' } })\n"
    "      .then(function (r) {\n"
    "        if (!r.ok) throw new Error('HTTP ' + r.status);\n"
    "        return r.text();\n"
    "      })\n"
    "      .then(function (text) {\n"
    "        var doc = new DOMParser().parseFromString(text, 'text/html');\n"
    "        if (!doc.getElementById('alerts-body')) {\n"
    "          location.reload();\n"
    "          return;\n"
    "        }\n"
    "        swap(doc);\n"
    "        root.setAttribute('data-refreshed', String(Date.now()));\n"
    "      })\n"
    "      .catch(function () { failed = true; })\n"
    "      .then(function () {\n"
    "        busy = false;\n"
    "        if (again) { again = false; refresh(); }\n"
    "        else if (failed) setTimeout(refresh, 5000);\n"
    "      });\n"
    "  }\n"
    "  function connect() {\n"
    "    es = new EventSource('/events');\n"
    "    es.addEventListener('open', function () {\n"
    "      root.setAttribute('data-live', 'open');\n"
    "      refresh();\n"
    "    });\n"
    "    es.addEventListener('alert', refresh);\n"
    "    es.addEventListener('resync', refresh);\n"
    "    es.addEventListener('error', function () {\n"
    "      root.setAttribute('data-live', 'closed');\n"
    "      if (es.readyState === EventSource.CLOSED) {\n"
    "        es.close();\n"
    "        refresh();\n"
    "        setTimeout(connect, 10000);\n"
    "      }\n"
    "    });\n"
    "  }\n"
    "  connect();\n"
    "})();\n";
