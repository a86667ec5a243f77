/*
 * board_int.h: what the board's request dispatch (cli/board.c) and its
 * sessions (cli/board_session.c) share: the server and one request's
 * reply.
 */
#ifndef LABWATCH_CLI_BOARD_INT_H
#define LABWATCH_CLI_BOARD_INT_H

#include <stdbool.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/ssl.h>

#include "cli/board_auth.h"
#include "lib/buf.h"

struct board_checks;
struct board_events;
struct event_base;
struct evhttp_request;

/* The board being served: cmd_board()'s, for the process's life. */
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

/* Answer rp (or start its stream), log it (path), free its body. */
void board_reply_send(struct board *bd, struct reply *rp, const char *path);
/* A 303 to the path to. */
int board_redirect(struct reply *rp, const char *to);

#endif
