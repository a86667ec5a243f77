/*
 * metrics_http.c: /metrics over evhttp (metrics_http.h).
 */
#include "metrics_http.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "lib/metrics.h"
#include "lib/xmalloc.h"
#include "log.h"

/* A scraper that stalls is dropped after this long. */
#define METRICS_HTTP_TIMEOUT_SEC 10
/* Requests are a line and a few headers: nothing bigger is read. */
#define METRICS_HTTP_MAX_HEADERS 8192

/* Owner: whoever opened it; metrics_http_close() frees it. */
struct metrics_http {
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	metrics_render_fn *render;
	void *arg;
	struct buf out; /* the exposition, reused from scrape to scrape */
	/* metrics_http_thread() only: */
	struct event_base *own_base;
	struct event *stop; /* reads wake[0]: close writes to wake[1] */
	int wake[2];
	pthread_t thread;
};

static void
metrics_http_cb(struct evhttp_request *req, void *arg)
{
	struct metrics_http *h = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct evbuffer *body;

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	buf_reset(&h->out);
	h->render(h->arg, &h->out);
	if ((body = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add(body, h->out.p != NULL ? h->out.p : "", h->out.len);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", METRICS_CONTENT_TYPE);
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

struct metrics_http *
metrics_http_open(struct event_base *base, const char *host, const char *port,
    metrics_render_fn *render, void *arg, char **cause)
{
	struct metrics_http *h;
	char *end;
	unsigned long p;

	errno = 0;
	p = strtoul(port, &end, 10);
	if (errno != 0 || *end != '\0' || end == port || p > 65535) {
		*cause = xasprintf("metrics: bad port %s", port);
		return NULL;
	}
	h = xcalloc(1, sizeof(*h));
	h->render = render;
	h->arg = arg;
	buf_init(&h->out);
	if ((h->http = evhttp_new(base)) == NULL)
		fatalx("evhttp_new failed");
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(h->http, METRICS_HTTP_TIMEOUT_SEC);
	evhttp_set_max_headers_size(h->http, METRICS_HTTP_MAX_HEADERS);
	/* A GET has no body; a small one lets other methods get their 405. */
	evhttp_set_max_body_size(h->http, 4096);
	evhttp_set_gencb(h->http, metrics_http_cb, h);
	h->sock = evhttp_bind_socket_with_handle(h->http,
	    host[0] != '\0' ? host : "0.0.0.0", (ev_uint16_t)p);
	if (h->sock == NULL) {
		*cause = xasprintf("metrics: cannot listen on %s:%s: %s",
		    host[0] != '\0' ? host : "*", port, strerror(errno));
		evhttp_free(h->http);
		buf_free(&h->out);
		free(h);
		return NULL;
	}
	return h;
}

unsigned
metrics_http_port(const struct metrics_http *h)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	evutil_socket_t fd = evhttp_bound_socket_get_fd(h->sock);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void
metrics_http_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_http *h = arg;

	(void)fd;
	(void)what;
	event_base_loopbreak(h->own_base);
}

static void *
metrics_http_run(void *arg)
{
	struct metrics_http *h = arg;

	event_base_dispatch(h->own_base);
	return NULL;
}

struct metrics_http *
metrics_http_thread(const char *host, const char *port,
    metrics_render_fn *render, void *arg, char **cause)
{
	struct event_base *base;
	struct metrics_http *h;

	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if ((h = metrics_http_open(base, host, port, render, arg, cause)) ==
	    NULL) {
		event_base_free(base);
		return NULL;
	}
	h->own_base = base;
	/* A pipe, not event_active(): libevent's locks are not set up. */
	if (pipe(h->wake) == -1)
		fatalx("pipe: %s", strerror(errno));
	if ((h->stop = event_new(base, h->wake[0], EV_READ,
		 metrics_http_stop_cb, h)) == NULL)
		fatalx("event_new failed");
	event_add(h->stop, NULL);
	if (pthread_create(&h->thread, NULL, metrics_http_run, h) != 0)
		fatalx("cannot start the metrics thread");
	return h;
}

void
metrics_http_close(struct metrics_http *h)
{
	if (h == NULL)
		return;
	if (h->own_base != NULL) {
		if (write(h->wake[1], "", 1) != 1)
			fatalx("metrics thread: write: %s", strerror(errno));
		pthread_join(h->thread, NULL);
		event_free(h->stop);
		close(h->wake[0]);
		close(h->wake[1]);
	}
	evhttp_free(h->http);
	if (h->own_base != NULL)
		event_base_free(h->own_base);
	buf_free(&h->out);
	free(h);
}
