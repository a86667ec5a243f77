/*
 * listener.c: one evconnlistener per bound address.
 *
 * Sockets are made here rather than by evconnlistener_new_bind so that an
 * IPv6 socket is IPv6-only: "0.0.0.0:2575, [::]:2575" then binds both.
 */
#include "listener.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/listener.h>

#include "conn.h"
#include "lib/xmalloc.h"
#include "log.h"

/* Pending connections the kernel queues: a burst of connects (a restarted LIS, a flood) is accepted, not dropped. */
#define LISTENER_BACKLOG 1024

/* Owner: the daemon's listeners array; listener_close_all() frees it. */
struct listener {
	struct daemon *d;
	struct evconnlistener *l;
	struct event *retry; /* re-enables accept after EMFILE and the like */
	bool tls;
	char name[80]; /* "127.0.0.1:2575" */
};

static void
listener_accept_cb(struct evconnlistener *el, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listener *l = arg;

	(void)el;
	conn_accept(l->d, fd, sa, (socklen_t)salen, l->tls);
}

static void
listener_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)fd;
	(void)what;
	if (!l->d->stopping)
		evconnlistener_enable(l->l);
}

/* accept() failed (out of descriptors, most often): pause a second rather than spin. */
static void
listener_error_cb(struct evconnlistener *el, void *arg)
{
	struct listener *l = arg;
	struct timeval tv = { 1, 0 };

	log_error("accept on %s: %s; pausing for a second", l->name,
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	evconnlistener_disable(el);
	evtimer_add(l->retry, &tv);
}

static void
addr_name(const struct sockaddr *sa, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN], serv[8]; /* numeric forms only */

	if (getnameinfo(sa,
		sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
					    sizeof(struct sockaddr_in),
		host, sizeof(host), serv, sizeof(serv),
		NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(out, len, "?");
	else if (sa->sa_family == AF_INET6)
		snprintf(out, len, "[%s]:%s", host, serv);
	else
		snprintf(out, len, "%s:%s", host, serv);
}

static int
listener_bind(struct daemon *d, const struct addrinfo *ai, bool tls,
    char **cause)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct listener *l;
	char name[80];
	int fd, one = 1;

	addr_name(ai->ai_addr, name, sizeof(name));
	fd = socket(ai->ai_family,
	    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1)
		goto fail;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1)
		goto fail;
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
		addr_name((struct sockaddr *)&ss, name, sizeof(name));
	l = xcalloc(1, sizeof(*l));
	l->d = d;
	l->tls = tls;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->l = evconnlistener_new(d->base, listener_accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, LISTENER_BACKLOG,
	    fd);
	if (l->l == NULL) {
		free(l);
		goto fail;
	}
	evconnlistener_set_error_cb(l->l, listener_error_cb);
	if ((l->retry = evtimer_new(d->base, listener_retry_cb, l)) == NULL)
		fatalx("evtimer_new failed");
	d->listeners = xreallocarray(d->listeners, d->nlisteners + 1,
	    sizeof(*d->listeners));
	d->listeners[d->nlisteners++] = l;
	log_info("listening on %s%s", name, tls ? " (TLS)" : "");
	return 0;
fail:
	*cause = xasprintf("%s%s: %s", tls ? "tls_listen " : "listen ", name,
	    strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

static int
listener_open(struct daemon *d, const struct config_addr *a, bool tls,
    char **cause)
{
	struct addrinfo hints, *res, *ai;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(a->host[0] ? a->host : NULL, a->port, &hints, &res);
	if (rc != 0) {
		*cause = xasprintf("%s %s:%s: %s",
		    tls ? "tls_listen" : "listen", a->host, a->port,
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (listener_bind(d, ai, tls, cause) == -1) {
			freeaddrinfo(res);
			return -1;
		}
	}
	freeaddrinfo(res);
	return 0;
}

int
listener_open_all(struct daemon *d, char **cause)
{
	size_t i;

	for (i = 0; i < d->cfg->nlisten; i++)
		if (listener_open(d, &d->cfg->listen_addrs[i], false, cause) ==
		    -1)
			return -1;
	for (i = 0; i < d->cfg->ntls; i++)
		if (listener_open(d, &d->cfg->tls_addrs[i], true, cause) == -1)
			return -1;
	return 0;
}

void
listener_close_all(struct daemon *d)
{
	size_t i;

	for (i = 0; i < d->nlisteners; i++) {
		evconnlistener_free(d->listeners[i]->l);
		event_free(d->listeners[i]->retry);
		free(d->listeners[i]);
	}
	free(d->listeners);
	d->listeners = NULL;
	d->nlisteners = 0;
}
