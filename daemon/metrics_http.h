/*
 * metrics_http.h: the /metrics endpoint, libevent's evhttp on a listener
 * of its own. GET (or HEAD) /metrics answers what render writes, in the
 * Prometheus text format (lib/metrics.h); any other path is 404, any
 * other method refused (libevent answers 501). labwatchd runs it in its event loop; labwatch notify,
 * which has no event loop, in a thread of its own (metrics_http_thread).
 */
#ifndef LABWATCH_METRICS_HTTP_H
#define LABWATCH_METRICS_HTTP_H

#include <event2/event.h>

#include "lib/buf.h"

/* Append the exposition to out (the thread that runs base calls it). */
typedef void metrics_render_fn(void *arg, struct buf *out);

struct metrics_http;

/*
 * Serve on host:port ("" host: every address) in base. NULL and *cause
 * (malloc'ed) when it cannot listen. Free with metrics_http_close().
 */
struct metrics_http *metrics_http_open(struct event_base *base,
    const char *host, const char *port, metrics_render_fn *render, void *arg,
    char **cause);
/* The port h listens on (the one the kernel chose for port 0). */
unsigned metrics_http_port(const struct metrics_http *h);
/* Stop serving and free h (NULL: nothing). */
void metrics_http_close(struct metrics_http *h);

/*
 * The same with an event loop of its own, in a new thread: render runs
 * in that thread, so what it reads must be shared safely (atomics).
 */
struct metrics_http *metrics_http_thread(const char *host, const char *port,
    metrics_render_fn *render, void *arg, char **cause);

#endif
