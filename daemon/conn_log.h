/*
 * conn_log.h: what labwatchd's connections say in the log. Lines about a
 * conn that has not delivered a frame yet (connected, refused, timed out,
 * TLS refusals) go through the daemon's throttle, one budget per peer
 * address and kind, so a hostile peer writes a handful of lines however
 * many connections it opens (see conn.c).
 */
#ifndef LABWATCH_CONN_LOG_H
#define LABWATCH_CONN_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "daemon.h"
#include "log.h"
#include "tls.h"

/* Kinds of throttled lines: one budget per peer address and kind. */
enum conn_line {
	CL_CONNECTED,
	CL_ACL,		  /* refused: not in allow */
	CL_MAX_CONN,	  /* refused: max_connections */
	CL_MAX_PEER,	  /* refused: max_connections_per_peer */
	CL_NOT_MLLP,	  /* a TLS ClientHello on the plain port */
	CL_TIMEOUT_START, /* no frame started in start_timeout; handshake too slow */
	CL_TIMEOUT_FRAME, /* a frame not whole within frame_timeout */
	CL_TIMEOUT_IDLE,  /* idle_timeout, or ACKs not read */
	CL_ABANDONED,	  /* a first frame cut short */
	CL_CLOSED,	  /* the peer closed or reset before any frame */
	CL_SILENT,	  /* the peer closed before sending a byte */
	CL_JUNK,	  /* bytes outside frames */
	CL_QUARANTINED,	  /* a frame quarantined (its row holds the reason) */
	CL_TLS,		  /* + enum tls_refusal */
	CL_COUNT = CL_TLS + TLS_REFUSAL_COUNT
};

/* The clock in microseconds: CLOCK_REALTIME or CLOCK_MONOTONIC. */
int64_t conn_clock_usec(clockid_t id);
/*
 * A line of kind about peer ("addr:port"; addr keys the budget), written
 * unless this address already had its line of this kind in the window.
 */
void conn_note(struct daemon *d, const char *addr, const char *peer,
    enum conn_line kind, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Set up the throttle of connection log lines (d->throttle). */
void conn_log_init(struct daemon *d);
/* Write the summaries of throttled lines whose window ended; flush: all, and free the throttle. */
void conn_log_sweep(struct daemon *d, bool flush);

#endif
