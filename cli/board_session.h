/*
 * board_session.h: the board's sessions as requests meet them (login,
 * what renews a session, logout, a user's live streams); the dispatch is
 * cli/board.c, the session table cli/board_auth.c.
 */
#ifndef LABWATCH_CLI_BOARD_SESSION_H
#define LABWATCH_CLI_BOARD_SESSION_H

#include <stdbool.h>

struct board;
struct evhttp_request;
struct evkeyvalq;
struct reply;

/*
 * With users, the session of rp's request (path, a POST or not): true
 * and *code when the request is answered here (GET and POST /login, no
 * session: 401, 403 or a redirect; REPLY_LATER while a password is
 * checked), false when it goes on with rp->s. A person's request renews
 * the session's idle time, a page's own reads do not. Without users:
 * false.
 */
bool board_session_gate(struct board *bd, struct reply *rp, const char *path,
    bool post, int *code);
/* POST /logout: rp's session ended, its cookie cleared; the redirect. */
int board_session_logout(struct board *bd, struct reply *rp);
/*
 * GET /events: rp's stream admitted (200, rp->stream set) or refused
 * (429: the user's --max-user-streams open; 503: --max-streams).
 */
int board_session_stream(struct board *bd, struct reply *rp);
/* The url-encoded form of a POST into f; -1 when there is none. */
int board_session_form(struct evhttp_request *req, struct evkeyvalq *f);
/* Whether the form's csrf field is token (constant time). */
bool board_session_csrf_ok(const struct evkeyvalq *f, const char *token);

#endif
