/*
 * conn_log.c: the throttled log lines of connections (see conn_log.h).
 */
#include "conn_log.h"

#include <stdarg.h>
#include <stdio.h>

#include "throttle.h"

/*
 * Throttled lines: a peer writes one line of a kind a minute (then a
 * summary while it keeps at it); a kind names 16 peers a minute at most,
 * the others are counted together.
 */
#define CONN_LOG_WINDOW_SEC 60
#define CONN_LOG_PEERS 512
#define CONN_LOG_PEERS_PER_KIND 16

int64_t
conn_clock_usec(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * A line of kind about peer ("addr:port"; addr keys the budget), written
 * unless this address already had its line of this kind in the window.
 */
void
conn_note(struct daemon *d, const char *addr, const char *peer,
    enum conn_line kind, enum log_level level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (throttle_pass(d->throttle, addr, kind, msg,
		conn_clock_usec(CLOCK_MONOTONIC) / 1000000))
		log_peer(level, peer, "%s", msg);
}

static void
conn_log_report(void *arg, const char *addr, unsigned kind, const char *what,
    uint64_t n, unsigned secs)
{
	(void)arg;
	log_peer(kind == CL_CONNECTED ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
	    addr != NULL ? addr : "other peers",
	    "%llu more like this in %us: %s", (unsigned long long)n, secs,
	    what);
}

void
conn_log_init(struct daemon *d)
{
	d->throttle = throttle_new(CONN_LOG_WINDOW_SEC, CONN_LOG_PEERS,
	    CONN_LOG_PEERS_PER_KIND, CL_COUNT);
}

void
conn_log_sweep(struct daemon *d, bool flush)
{
	if (d->throttle == NULL)
		return;
	throttle_sweep(d->throttle, conn_clock_usec(CLOCK_MONOTONIC) / 1000000,
	    flush, conn_log_report, NULL);
	if (flush) {
		throttle_free(d->throttle);
		d->throttle = NULL;
	}
}
