/*
 * board_events.h: the board's live updates. GET /events is a Server-Sent
 * Events stream per open alerts page, fed by LISTEN labwatch_alert on a
 * PostgreSQL session of its own that the board's event loop drives
 * without ever blocking on it; /board.js is the page's side of it.
 */
#ifndef LABWATCH_CLI_BOARD_EVENTS_H
#define LABWATCH_CLI_BOARD_EVENTS_H

#include <stdbool.h>

struct event_base;
struct evhttp_request;
struct board_events;
struct board_user;

/* Streams open at once unless --max-streams says otherwise. */
#define BOARD_MAX_STREAMS 256
/* Streams of one user open at once unless --max-user-streams says so. */
#define BOARD_MAX_USER_STREAMS 8
/* Seconds between two heartbeats unless --heartbeat says otherwise. */
#define BOARD_HEARTBEAT 15.0

/* Whether one more stream may open (board_events_admit). */
enum board_admit {
	BOARD_ADMIT_OK,
	BOARD_ADMIT_FULL,      /* --max-streams open: 503 */
	BOARD_ADMIT_USER_FULL, /* --max-user-streams of this user open: 429 */
};

/* What the status page shows of the live streams. */
struct board_events_counts {
	int open, max_streams, max_user_streams;
	unsigned long long refused_full; /* 503s since the start */
	unsigned long long refused_user; /* 429s since the start */
	unsigned long long ended;	 /* closed: their session ended */
};

/*
 * The live updates of a board on base: starts connecting to conninfo
 * (NULL: $LABWATCH_DB, else libpq's defaults) in the background, a
 * heartbeat every heartbeat seconds, at most max_streams streams and
 * max_user_streams of one user. Owned by the board; board_events_free()
 * ends them.
 */
struct board_events *board_events_new(struct event_base *base,
    const char *conninfo, double heartbeat, int max_streams,
    int max_user_streams);
/*
 * Whether one more stream of user (NULL: the board has no users, no limit
 * per user) may open; a refusal is counted and said in the log (the user's
 * name and the limit: no patient data).
 */
enum board_admit board_events_admit(struct board_events *be,
    const struct board_user *user);
/*
 * Make req, whose headers (Content-Type: text/event-stream and the
 * security headers) are set, a stream of user: its reply starts at once
 * and stays open until the peer leaves, the session of cookie token
 * (NULL: the board has no users) ends, or the board stops.
 */
void board_events_start(struct board_events *be, struct evhttp_request *req,
    const char *token, const struct board_user *user);
/* The live streams' figures, for the status page. */
void board_events_counts(const struct board_events *be,
    struct board_events_counts *out);
/* End every stream and the PostgreSQL session; free be. */
void board_events_free(struct board_events *be);

/* The script of the alerts page (/board.js). */
extern const char board_js[];

#endif
