/*
 * conn.c: MLLP connections: framing, submission, ACKs, limits, lifetime.
 *
 * Lifetime: a conn is OPEN (HANDSHAKE first for TLS) while it reads; it
 * turns DRAINING when reading ends for a reason that still lets us answer
 * (peer EOF, a timeout, SIGTERM): it writes the ACKs still due, then
 * closes. CLOSED means the socket is gone (error, forced close); the
 * struct stays until inflight drops to 0, because every submitted item
 * points at it. One function, conn_release(), frees it.
 *
 * Backpressure: reading stops while the output buffer holds more than
 * output_buffer_max bytes of ACKs or max_inflight frames wait for the
 * store, and resumes when the output has drained and ACKs have gone out.
 * Input never grows past one socket read beyond what was read before
 * reading stopped.
 */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "hl7/mllp.h"
#include "hl7/xmalloc.h"
#include "log.h"
#include "tls.h"

/* A framer whose buffer grew past this for a big frame gives the memory back after it. */
#define CONN_FRAMER_KEEP (64 * 1024)

enum conn_state {
	CONN_HANDSHAKE,		/* TLS handshake in progress */
	CONN_OPEN,		/* reading frames */
	CONN_DRAINING,		/* not reading; closes when the ACKs due are written */
	CONN_CLOSED,		/* socket closed; waiting for inflight items */
};

/* One connection. Owner: the daemon's conns list; freed by conn_release(). */
struct conn {
	TAILQ_ENTRY(conn) entry;
	struct daemon *d;
	struct bufferevent *bev;	/* NULL once CLOSED */
	struct mllp_framer *fr;		/* created at the first byte */
	struct event *timer;		/* handshake, frame, idle or drain timeout */
	enum conn_state state;
	bool tls;
	bool winding_down;	/* SIGTERM: still read what the peer already sent */
	bool reading;			/* EV_READ enabled on bev */
	size_t inflight;		/* items submitted, not come back */
	size_t max_size;		/* max_message_size when the conn opened */
	uint64_t gen;
	uint64_t frames;
	char addr[INET6_ADDRSTRLEN];	/* peer address, for per-peer limits */
	char peer[64];			/* "addr:port", "+ CN=.." with TLS; log prefix */
};

#define conn_error(c, ...) log_peer(LOG_LEVEL_ERROR, (c)->peer, __VA_ARGS__)
#define conn_warn(c, ...) log_peer(LOG_LEVEL_WARN, (c)->peer, __VA_ARGS__)
#define conn_info(c, ...) log_peer(LOG_LEVEL_INFO, (c)->peer, __VA_ARGS__)
#define conn_debug(c, ...) log_peer(LOG_LEVEL_DEBUG, (c)->peer, __VA_ARGS__)

static void conn_process(struct conn *);
static void conn_update(struct conn *);

static int64_t
now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t
conn_outlen(const struct conn *c)
{
	return c->bev ? evbuffer_get_length(bufferevent_get_output(c->bev)) : 0;
}

static bool
conn_in_frame(const struct conn *c)
{
	return c->fr != NULL && mllp_framer_in_frame(c->fr);
}

/* Free c once nothing refers to it any more. */
static void
conn_release(struct conn *c)
{
	struct daemon *d = c->d;

	if (c->bev != NULL || c->inflight > 0)
		return;
	TAILQ_REMOVE(&d->conns, c, entry);
	event_free(c->timer);
	mllp_framer_free(c->fr);
	free(c);
	daemon_conn_gone(d);
}

/*
 * What the kernel already holds of a plain connection's input: appended to
 * buf, or read and dropped when buf is NULL. (TLS records need the
 * bufferevent: not done for them.)
 */
static void
conn_take_pending(struct conn *c, struct evbuffer *buf)
{
	char discard[16384];
	evutil_socket_t fd;
	int n;

	if (c->bev == NULL || c->tls)
		return;
	fd = bufferevent_getfd(c->bev);
	/*
	 * Once, what is there now: a peer that keeps sending must not keep
	 * the event loop here, nor grow the buffer without bound.
	 */
	if (fd >= 0 && ioctl(fd, FIONREAD, &n) == 0 && n > 0) {
		if (buf != NULL && (size_t)n > c->max_size + 65536)
			n = (int)(c->max_size + 65536);
		if (buf != NULL)
			(void)evbuffer_read(buf, fd, n);
		else {
			conn_info(c, "%d bytes sent after the shutdown began "
			    "dropped (not ACKed: the peer resends them)", n);
			while (n > 0 && read(fd, discard, (size_t)n <
			    sizeof(discard) ? (size_t)n : sizeof(discard)) > 0)
				n -= (int)sizeof(discard);
		}
	}
}

/* Close the socket now (reason NULL: an orderly close after draining). */
static void
conn_close(struct conn *c, const char *reason)
{
	if (c->bev == NULL)
		return;
	/*
	 * Unread input makes close() send a reset, and a reset can destroy
	 * the ACKs just written before the peer reads them: drop it first.
	 */
	if (reason == NULL)
		conn_take_pending(c, NULL);
	if (reason != NULL)
		conn_info(c, "closed: %s (%llu frames, %zu in flight)", reason,
		    (unsigned long long)c->frames, c->inflight);
	else
		conn_debug(c, "closed (%llu frames)", (unsigned long long)c->frames);
	bufferevent_free(c->bev);
	c->bev = NULL;
	c->reading = false;
	c->state = CONN_CLOSED;
	c->d->nsockets--;
	evtimer_del(c->timer);
	mllp_framer_free(c->fr);
	c->fr = NULL;
	conn_release(c);
}

/* Hand one framer event to the store. */
static void
conn_submit(struct conn *c, const struct mllp_frame *fr)
{
	static const enum store_frame_kind kinds[] = {
		[MLLP_FRAME] = STORE_FRAME,
		[MLLP_OVERSIZE] = STORE_FRAME_OVERSIZE,
		[MLLP_ABANDONED] = STORE_FRAME_ABANDONED,
	};
	struct daemon *d = c->d;
	struct store_item *it;

	it = store_item_new(kinds[fr->kind], fr->data, fr->len, fr->total);
	snprintf(it->peer, sizeof(it->peer), "%s", c->peer);
	it->received_at = now_usec();
	it->conn = c;
	it->conn_gen = c->gen;
	c->inflight++;
	c->frames++;
	d->stats.frames++;
	switch (fr->kind) {
	case MLLP_OVERSIZE:
		d->stats.oversize++;
		conn_info(c, "frame of %zu bytes over max_message_size (%zu): "
		    "refused", fr->total, c->max_size);
		break;
	case MLLP_ABANDONED:
		d->stats.abandoned++;
		conn_info(c, "frame cut short after %zu bytes: kept as abandoned",
		    fr->total);
		break;
	default:
		conn_debug(c, "frame of %zu bytes", fr->len);
		break;
	}
	store_submit(d->store, it);
}

/* The peer stops sending: what is buffered and any partial frame are still frames received. */
static void
conn_finish_input(struct conn *c)
{
	struct mllp_frame fr;
	const struct mllp_stats *st;

	if (c->state == CONN_OPEN) {
		/* Frames the peer sent before we stopped are in flight too. */
		if (c->bev != NULL)
			conn_take_pending(c, bufferevent_get_input(c->bev));
		c->state = CONN_DRAINING;	/* stops conn_process honouring the caps */
		conn_process(c);
	}
	if (c->fr != NULL && mllp_framer_finish(c->fr, &fr))
		conn_submit(c, &fr);
	if (c->fr != NULL) {
		st = mllp_framer_stats(c->fr);
		if (st->junk_bytes > 0)
			conn_info(c, "%llu bytes outside frames skipped",
			    (unsigned long long)st->junk_bytes);
	}
	if (c->bev != NULL) {
		bufferevent_disable(c->bev, EV_READ);
		c->reading = false;
	}
	c->state = CONN_DRAINING;
}

/* Feed buffered input to the framer, one event at a time, while the limits allow. */
static void
conn_process(struct conn *c)
{
	const struct config *cfg = c->d->cfg;
	struct evbuffer *in;
	struct evbuffer_iovec v;
	struct mllp_frame fr;
	uint64_t junk0;
	size_t used;
	int got;
	bool draining = c->state == CONN_DRAINING;

	if (c->bev == NULL || (c->state != CONN_OPEN && !draining))
		return;
	in = bufferevent_get_input(c->bev);
	while (evbuffer_get_length(in) > 0) {
		/* While draining, what was read is taken whatever the limits. */
		if (!draining && (c->inflight >= (size_t)cfg->max_inflight ||
		    conn_outlen(c) > (size_t)cfg->output_buffer_max))
			break;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		if (c->fr == NULL)
			c->fr = mllp_framer_new(c->max_size);
		junk0 = mllp_framer_stats(c->fr)->junk_bytes;
		used = mllp_framer_feed(c->fr, v.iov_base, v.iov_len, &fr, &got);
		c->d->stats.junk_bytes += mllp_framer_stats(c->fr)->junk_bytes - junk0;
		if (got)
			conn_submit(c, &fr);
		evbuffer_drain(in, used);
		/*
		 * Shrunk, never freed: right after a 0x1C the framer still
		 * waits for its CR, which a new framer would count as junk.
		 */
		if (got)
			mllp_framer_shrink(c->fr, CONN_FRAMER_KEEP);
	}
}

/* Arm the one timer for what the conn is waiting for. */
static void
conn_arm_timer(struct conn *c)
{
	const struct config *cfg = c->d->cfg;
	struct timeval tv = { 0, 0 };

	if (c->bev == NULL)
		return;
	if (c->winding_down && c->state == CONN_OPEN) {
		/* Input stops once the peer has been quiet this long. */
		tv.tv_usec = 200000;
		evtimer_add(c->timer, &tv);
		return;
	}
	if (c->state == CONN_HANDSHAKE || (c->state == CONN_OPEN && conn_in_frame(c)))
		tv.tv_sec = cfg->frame_timeout;
	else
		tv.tv_sec = cfg->idle_timeout;
	if (tv.tv_sec == 0) {
		evtimer_del(c->timer);
		return;
	}
	evtimer_add(c->timer, &tv);
}

/*
 * Reconcile reading with the limits and close a drained conn. Called after
 * anything that changes inflight, the output or the state.
 */
static void
conn_update(struct conn *c)
{
	const struct config *cfg = c->d->cfg;
	bool want;

	if (c->bev == NULL) {
		conn_release(c);
		return;
	}
	if (c->state == CONN_DRAINING) {
		if (c->inflight == 0 && conn_outlen(c) == 0)
			conn_close(c, NULL);
		return;
	}
	if (c->state != CONN_OPEN)
		return;
	want = c->inflight < (size_t)cfg->max_inflight &&
	    conn_outlen(c) <= (size_t)cfg->output_buffer_max;
	if (want && !c->reading) {
		c->reading = true;
		bufferevent_enable(c->bev, EV_READ);
		conn_debug(c, "reading again");
		/* Bytes read before the pause wait in the input: no read event will announce them. */
		conn_process(c);
		if (c->bev != NULL && c->state == CONN_OPEN && c->reading &&
		    !(c->inflight < (size_t)cfg->max_inflight &&
		    conn_outlen(c) <= (size_t)cfg->output_buffer_max)) {
			c->reading = false;
			bufferevent_disable(c->bev, EV_READ);
		}
	} else if (!want && c->reading) {
		c->reading = false;
		bufferevent_disable(c->bev, EV_READ);
		conn_debug(c, "paused: %zu in flight, %zu bytes of ACKs unread",
		    c->inflight, conn_outlen(c));
	}
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	conn_process(c);
	conn_arm_timer(c);
	conn_update(c);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	/* The peer is reading: that is progress too. */
	conn_arm_timer(c);
	conn_update(c);
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct daemon *d = c->d;
	char why[96];

	if (c->winding_down && c->state == CONN_OPEN) {
		if (!c->reading) {
			conn_arm_timer(c);	/* paused by backpressure: not quiet */
			return;
		}
		conn_finish_input(c);
		conn_update(c);
		return;
	}
	(void)fd;
	(void)what;
	switch (c->state) {
	case CONN_HANDSHAKE:
		d->stats.timeouts++;
		conn_close(c, "TLS handshake timeout");
		return;
	case CONN_OPEN:
		if (conn_in_frame(c)) {
			d->stats.timeouts++;
			snprintf(why, sizeof(why), "nothing received for %llds "
			    "inside a frame (frame_timeout)",
			    (long long)d->cfg->frame_timeout);
			conn_info(c, "%s", why);
			conn_finish_input(c);
			conn_arm_timer(c);
			conn_update(c);
			return;
		}
		if (c->inflight > 0 && conn_outlen(c) == 0) {
			/* Waiting for the store, not for the peer. */
			conn_arm_timer(c);
			return;
		}
		d->stats.timeouts++;
		if (conn_outlen(c) > 0)
			conn_close(c, "peer does not read its ACKs (idle_timeout)");
		else
			conn_close(c, "idle (idle_timeout)");
		return;
	case CONN_DRAINING:
		if (c->inflight > 0 && conn_outlen(c) == 0) {
			conn_arm_timer(c);
			return;
		}
		d->stats.timeouts++;
		conn_close(c, "peer does not read its ACKs (idle_timeout)");
		return;
	case CONN_CLOSED:
		return;
	}
}

/* The last OpenSSL error of this conn, for the log (never data). */
static const char *
conn_ssl_error(struct conn *c, char *buf, size_t len)
{
	unsigned long e;

	while ((e = bufferevent_get_openssl_error(c->bev)) != 0)
		ERR_error_string_n(e, buf, len);
	return buf;
}

static void
conn_handshake_done(struct conn *c)
{
	struct daemon *d = c->d;
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	const char *why = NULL;
	char who[96];
	size_t n, wl;

	if (tls_check_peer(ssl, d->cfg, who, sizeof(who), &why) == -1) {
		d->stats.refused_tls++;
		conn_close(c, why);
		return;
	}
	/* "addr:port CN=name", cut to fit the item's peer field. */
	n = strlen(c->peer);
	if (strcmp(who, "-") != 0 && n + 2 < sizeof(c->peer)) {
		c->peer[n++] = ' ';
		wl = strlen(who);
		if (wl > sizeof(c->peer) - 1 - n)
			wl = sizeof(c->peer) - 1 - n;
		memcpy(c->peer + n, who, wl);
		c->peer[n + wl] = '\0';
	}
	conn_info(c, "TLS %s established", SSL_get_version(ssl));
	c->state = CONN_OPEN;
	conn_process(c);
	conn_arm_timer(c);
	conn_update(c);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	char err[256] = "";

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == CONN_HANDSHAKE)
			conn_handshake_done(c);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		conn_debug(c, "peer closed (%zu in flight)", c->inflight);
		if (c->state == CONN_HANDSHAKE) {
			conn_close(c, "closed during the TLS handshake");
			return;
		}
		conn_finish_input(c);
		conn_arm_timer(c);
		conn_update(c);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		if (c->tls)
			conn_ssl_error(c, err, sizeof(err));
		if (c->state == CONN_HANDSHAKE) {
			c->d->stats.refused_tls++;
			conn_close(c, err[0] ? err : "TLS handshake failed");
			return;
		}
		if (err[0] == '\0')
			snprintf(err, sizeof(err), "%s",
			    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		/* The socket is broken: the partial frame is still accounted for. */
		if (c->state == CONN_OPEN)
			conn_finish_input(c);
		conn_close(c, err);
	}
}

/* Open conns from the same address (sockets still open). */
static unsigned
conns_from(struct daemon *d, const char *addr)
{
	struct conn *c;
	unsigned n = 0;

	TAILQ_FOREACH(c, &d->conns, entry)
		if (c->bev != NULL && strcmp(c->addr, addr) == 0)
			n++;
	return n;
}

static void
sockaddr_port_str(const struct sockaddr *sa, const char *addr, char *out,
    size_t len)
{
	unsigned port = 0;

	if (sa->sa_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	else if (sa->sa_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	if (strchr(addr, ':') != NULL)
		snprintf(out, len, "[%s]:%u", addr, port);
	else
		snprintf(out, len, "%s:%u", addr, port);
}

void
conn_accept(struct daemon *d, evutil_socket_t fd, const struct sockaddr *sa,
    socklen_t salen, bool tls)
{
	const struct config *cfg = d->cfg;
	char addr[INET6_ADDRSTRLEN], peer[64];
	struct conn *c;
	SSL *ssl;
	int one = 1;

	(void)salen;
	acl_addr_str(sa, addr, sizeof(addr));
	sockaddr_port_str(sa, addr, peer, sizeof(peer));
	/* Refusals close before reading anything: the peer learns nothing but the close. */
	if (d->stopping) {
		evutil_closesocket(fd);
		return;
	}
	if (!acl_allows(&cfg->allow_acl, sa)) {
		d->stats.refused_acl++;
		log_peer(LOG_LEVEL_INFO, peer, "refused: not in allow");
		evutil_closesocket(fd);
		return;
	}
	if (d->nsockets >= (unsigned)cfg->max_connections) {
		d->stats.refused_limit++;
		log_peer(LOG_LEVEL_WARN, peer, "refused: max_connections (%lld) "
		    "reached", (long long)cfg->max_connections);
		evutil_closesocket(fd);
		return;
	}
	if (conns_from(d, addr) >= (unsigned)cfg->max_connections_per_peer) {
		d->stats.refused_limit++;
		log_peer(LOG_LEVEL_WARN, peer, "refused: max_connections_per_peer "
		    "(%lld) reached", (long long)cfg->max_connections_per_peer);
		evutil_closesocket(fd);
		return;
	}
	/* ACKs are small and awaited one by one: do not let Nagle hold them back. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));

	c = xcalloc(1, sizeof(*c));
	c->d = d;
	c->tls = tls;
	c->gen = ++d->conn_gen;
	c->max_size = (size_t)cfg->max_message_size;
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	if (tls) {
		if ((ssl = SSL_new(d->tls_ctx)) == NULL) {
			log_peer(LOG_LEVEL_ERROR, peer, "SSL_new failed");
			evutil_closesocket(fd);
			free(c);
			return;
		}
		/* libevent owns ssl from here and frees it with the bufferevent. */
		c->bev = bufferevent_openssl_socket_new(d->base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		if (c->bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
		c->state = CONN_HANDSHAKE;
	} else {
		c->bev = bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE);
		c->state = CONN_OPEN;
	}
	if (c->bev == NULL) {
		log_peer(LOG_LEVEL_ERROR, peer, "cannot create a bufferevent");
		evutil_closesocket(fd);
		free(c);
		return;
	}
	c->timer = evtimer_new(d->base, conn_timer_cb, c);
	if (c->timer == NULL)
		fatalx("evtimer_new failed");
	TAILQ_INSERT_TAIL(&d->conns, c, entry);
	d->nsockets++;
	d->stats.accepted++;
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->reading = true;
	conn_arm_timer(c);
	conn_info(c, "connected%s (%u open)", tls ? " (TLS)" : "", d->nsockets);
}

/* Queue one ACK, MLLP-framed, on c's output. */
static void
conn_write_ack(struct conn *c, const struct store_item *it)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer_iovec v;
	const char *p = it->ack.p ? it->ack.p : "";

	if (evbuffer_reserve_space(out, (ev_ssize_t)(it->ack.len + 3), &v, 1) < 1 ||
	    v.iov_len < it->ack.len + 3)
		fatalx("evbuffer_reserve_space failed");
	v.iov_len = mllp_wrap(p, it->ack.len, v.iov_base);
	if (evbuffer_commit_space(out, &v, 1) == -1)
		fatalx("evbuffer_commit_space failed");
	c->d->stats.acks_sent++;
}

static void
conn_log_outcome(struct conn *c, const struct store_item *it)
{
	const char *name = store_outcome_name(it->outcome);
	const char *cid = it->control_id[0] ? it->control_id : "-";

	switch (it->outcome) {
	case STORE_QUARANTINED:
		conn_info(c, "control id %s: quarantined: %s", cid,
		    it->reason ? it->reason : "?");
		break;
	case STORE_REJECTED:
		conn_warn(c, "control id %s: refused (AR): %s", cid,
		    it->reason ? it->reason : "?");
		break;
	default:
		conn_debug(c, "control id %s: %s", cid, name);
		break;
	}
}

void
conn_completions(struct daemon *d)
{
	struct store_item *it, *next;
	struct conn *c;

	for (it = store_completions(d->store); it != NULL; it = next) {
		next = it->next;
		c = it->conn;
		if (c == NULL || c->gen != it->conn_gen || c->inflight == 0)
			fatalx("store returned an item of no connection");
		c->inflight--;
		conn_log_outcome(c, it);
		if (it->send_ack && c->bev != NULL) {
			conn_write_ack(c, it);
		} else if (it->send_ack) {
			d->stats.acks_unsent++;
			conn_info(c, "control id %s is %s, but the peer has gone: "
			    "ACK not sent", it->control_id[0] ? it->control_id : "-",
			    store_outcome_name(it->outcome));
		}
		store_item_free(it);
		conn_arm_timer(c);
		conn_update(c);
	}
}

void
conn_shutdown_all(struct daemon *d)
{
	struct conn *c, *next;

	for (c = TAILQ_FIRST(&d->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		switch (c->state) {
		case CONN_HANDSHAKE:
			conn_close(c, "shutting down");
			break;
		case CONN_OPEN:
			/*
			 * Frames the peer sent before SIGTERM may still be on
			 * the wire: read until it is quiet, then finish.
			 */
			c->winding_down = true;
			conn_arm_timer(c);
			conn_update(c);
			break;
		default:
			break;
		}
	}
}

void
conn_close_all(struct daemon *d)
{
	struct conn *c, *next;

	for (c = TAILQ_FIRST(&d->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		conn_close(c, "shutdown deadline passed");
	}
}
