/*
 * board_session.c: the board's sessions as requests meet them: the login
 * (its CSRF cookie, the rate limit, the password handed to a checker's
 * thread and the answer handed back on the loop), which requests renew a
 * session's idle time (--idle-timeout: a person's, not a page's own
 * reads), logout, and the live streams a user may open
 * (--max-user-streams). The session table itself is board_auth.c's.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/queue.h>

#include <event2/buffer.h>
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
#include "lib/xmalloc.h"

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

/* The url-encoded form of a POST into f; -1 when there is none. */
int
board_session_form(struct evhttp_request *req, struct evkeyvalq *f)
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
bool
board_session_csrf_ok(const struct evkeyvalq *f, const char *token)
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
		rp->code = board_redirect(rp, "/alerts");
	}
	board_reply_send(w->bd, rp, "/login");
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

	if (board_session_form(rp->req, &f) != 0 ||
	    !board_session_csrf_ok(&f, pre)) {
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
int
board_session_stream(struct board *bd, struct reply *rp)
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

/*
 * The session of rp's request, when the board has users: true and
 * *code when the request is answered here (/login, no session), false
 * when it goes on (rp->s its session).
 */
bool
board_session_gate(struct board *bd, struct reply *rp, const char *path,
    bool post, int *code)
{
	char *tok;

	if (!bd->auth)
		return false;
	if (strcmp(path, "/login") == 0) {
		*code = post ? do_login(bd, rp) : login_page(bd, rp, NULL, 200);
		return true;
	}
	tok = cookie(rp->req, "lw_session");
	rp->s = person_request(rp->req, path) ? board_session_find(tok) :
						board_session_peek(tok);
	free(tok);
	if (rp->s == NULL && (post || strcmp(path, "/events") == 0)) {
		buf_adds(&rp->out, "no session\n");
		rp->type = "text/plain; charset=utf-8";
		*code = post ? 403 : 401;
		return true;
	}
	if (rp->s == NULL) {
		*code = board_redirect(rp, "/login");
		return true;
	}
	return false;
}

int
board_session_logout(struct board *bd, struct reply *rp)
{
	board_session_end(rp->s);
	rp->s = NULL;
	set_cookie(bd, rp, "lw_session", "");
	return board_redirect(rp, "/login");
}
