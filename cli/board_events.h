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

/* Streams open at once unless --max-streams says otherwise. */
#define BOARD_MAX_STREAMS 256
/* Seconds between two heartbeats unless --heartbeat says otherwise. */
#define BOARD_HEARTBEAT 15.0

/*
 * The live updates of a board on base: starts connecting to conninfo
 * (NULL: $LABWATCH_DB, else libpq's defaults) in the background, a
 * heartbeat every heartbeat seconds, at most max_streams streams. Owned by
 * the board; board_events_free() ends them.
 */
struct board_events *board_events_new(struct event_base *base,
    const char *conninfo, double heartbeat, int max_streams);
/* Whether one more stream may open (else the request gets 503). */
bool board_events_room(const struct board_events *be);
/*
 * Make req, whose headers (Content-Type: text/event-stream and the
 * security headers) are set, a stream: its reply starts at once and stays
 * open until the peer leaves, the session of cookie token (NULL: the
 * board has no users) ends, or the board stops.
 */
void board_events_start(struct board_events *be, struct evhttp_request *req,
    const char *token);
/* End every stream and the PostgreSQL session; free be. */
void board_events_free(struct board_events *be);

/* The script of the alerts page (/board.js). */
extern const char board_js[];

#endif
