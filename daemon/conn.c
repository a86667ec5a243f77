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
 * Deadlines (one timer, re-armed for what the conn waits for): a new conn
 * must start its first frame within start_timeout of the accept (and a TLS
 * conn finish its handshake within frame_timeout); a frame must be whole
 * within frame_timeout of its first byte, however its bytes trickle in;
 * between frames, idle_timeout runs from the last frame completed or ACK
 * taken. Bytes outside frames never count as activity.
 *
 * Logs: lines about a conn that has not delivered a frame yet (connected,
 * refused, timed out, TLS refusals) go through the daemon's throttle, one
 * budget per peer address and kind, so a hostile peer writes a handful of
 * lines however many connections it opens. A conn is "connected" once
 * it has shown it speaks the port's protocol (a TLS handshake done, a
 * plain conn's first bytes not a ClientHello), so a refusal is one line.
 *
 * Backpressure: reading stops while the output buffer holds more than
 * output_buffer_max bytes of ACKs or max_inflight frames wait for the
 * store, and resumes when the output has drained and ACKs have gone out.
 * Input never grows past one socket read beyond what was read before
 * reading stopped.
 */
#include "conn.h"
#include "conn_sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
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
#include "lib/xmalloc.h"
#include "log.h"
#include "tls.h"

/* A framer whose buffer grew past this for a big frame gives the memory back after it. */
#define CONN_FRAMER_KEEP (64 * 1024)
/* OpenSSL errors kept of one failed handshake. */
#define CONN_SSL_ERRORS 16

enum conn_state {
	CONN_HANDSHAKE, /* TLS handshake in progress */
	CONN_OPEN,	/* reading frames */
	CONN_DRAINING,	/* not reading; closes when the ACKs due are written */
	CONN_CLOSED,	/* socket closed; waiting for inflight items */
};

/* One connection. Owner: the daemon's conns list; freed by conn_release(). */
struct conn {
	TAILQ_ENTRY(conn) entry;
	struct daemon *d;
	struct bufferevent *bev; /* NULL once CLOSED */
	struct mllp_framer *fr;	 /* created at the first byte */
	struct event *timer;	 /* handshake, frame, idle or drain timeout */
	enum conn_state state;
	bool tls;
	bool started;	     /* a frame has begun (0x0B seen) */
	bool sniffed;	     /* first bytes checked for a TLS ClientHello */
	int64_t accepted_at; /* monotonic usec */
	int64_t
	    frame_start; /* first byte of the frame in progress; 0 outside frames */
	int64_t last_activity; /* accept, a frame completed, ACK bytes taken */
	bool winding_down; /* SIGTERM: still read what the peer already sent */
	bool reading;	   /* EV_READ enabled on bev */
	size_t inflight;   /* items submitted, not come back */
	size_t max_size;   /* max_message_size when the conn opened */
	uint64_t gen;
	uint64_t frames;
	char addr[INET6_ADDRSTRLEN]; /* peer address, for per-peer limits */
	char peer[64]; /* "addr:port", "+ CN=.." with TLS; log prefix */
};

#define conn_error(c, ...) log_peer(LOG_LEVEL_ERROR, (c)->peer, __VA_ARGS__)
#define conn_warn(c, ...) log_peer(LOG_LEVEL_WARN, (c)->peer, __VA_ARGS__)
#define conn_info(c, ...) log_peer(LOG_LEVEL_INFO, (c)->peer, __VA_ARGS__)
#define conn_debug(c, ...) log_peer(LOG_LEVEL_DEBUG, (c)->peer, __VA_ARGS__)

static void conn_process(struct conn *);
static void conn_update(struct conn *);

/* Wall clock for received_at; monotonic for deadlines. */
#define now_usec() conn_clock_usec(CLOCK_REALTIME)
#define mono_usec() conn_clock_usec(CLOCK_MONOTONIC)

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

/* A conn was freed: end the loop once stopping and none are left. */
static void
conn_gone(struct daemon *d)
{
	if (d->stopping && TAILQ_EMPTY(&d->conns))
		event_base_loopbreak(d->base);
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
	conn_gone(d);
}

/*
 * A line about c at info: throttled as kind while c has delivered no frame
 * (anyone can open connections), written as is once it has.
 */
static void
conn_say(struct conn *c, enum conn_line kind, const char *what)
{
	if (c->frames == 0)
		conn_note(c->d, c->addr, c->peer, kind, LOG_LEVEL_INFO, "%s",
		    what);
	else
		conn_info(c, "%s (%llu frames, %zu in flight)", what,
		    (unsigned long long)c->frames, c->inflight);
}

/*
 * What the kernel already holds of a plain connection's input: appended to
 * buf, or read and dropped when buf is NULL. (TLS records need the
 * bufferevent: not done for them.)
 */
static void
conn_take_pending(struct conn *c, struct evbuffer *buf)
{
	char discard[16384], line[128];
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
			snprintf(line, sizeof(line),
			    "%d bytes sent after the "
			    "shutdown began dropped (not ACKed: the peer resends "
			    "them)",
			    n);
			conn_say(c, CL_CLOSED, line);
			while (n > 0 &&
			    read(fd, discard,
				(size_t)n < sizeof(discard) ?
				    (size_t)n :
				    sizeof(discard)) > 0)
				n -= (int)sizeof(discard);
		}
	}
}

/*
 * Close the socket now (reason NULL: an orderly close after draining),
 * saying why as kind.
 */
static void
conn_close(struct conn *c, enum conn_line kind, const char *reason)
{
	char line[320];

	if (c->bev == NULL)
		return;
	/*
	 * Unread input makes close() send a reset, and a reset can destroy
	 * the ACKs just written before the peer reads them: drop it first.
	 */
	if (reason == NULL)
		conn_take_pending(c, NULL);
	if (reason != NULL) {
		snprintf(line, sizeof(line), "closed: %s", reason);
		conn_say(c, kind, line);
	} else
		conn_debug(c, "closed (%llu frames)",
		    (unsigned long long)c->frames);
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

	switch (fr->kind) {
	case MLLP_OVERSIZE:
		d->stats.oversize++;
		conn_info(c,
		    "frame of %zu bytes over max_message_size (%zu): "
		    "refused",
		    fr->total, c->max_size);
		break;
	case MLLP_ABANDONED:
		d->stats.abandoned++;
		/*
		 * Throttled always, not only while it is the conn's first
		 * (what a slowloris leaves): a run of 0x0B bytes is one cut
		 * frame per byte, and its lines would flood the log. Each is
		 * a row in labwatch.messages.
		 */
		conn_note(d, c->addr, c->peer, CL_ABANDONED, LOG_LEVEL_INFO,
		    "frame cut short after %zu bytes: kept as abandoned",
		    fr->total);
		break;
	default:
		conn_debug(c, "frame of %zu bytes", fr->len);
		break;
	}
	it = store_item_new(kinds[fr->kind], fr->data, fr->len, fr->total);
	snprintf(it->peer, sizeof(it->peer), "%s", c->peer);
	it->received_at = now_usec();
	it->conn = c;
	it->conn_gen = c->gen;
	c->inflight++;
	c->frames++;
	d->stats.frames++;
	store_submit(d->store, it);
}

/* The peer stops sending: what is buffered and any partial frame are still frames received. */
static void
conn_finish_input(struct conn *c)
{
	struct mllp_frame fr;
	const struct mllp_stats *st;
	char line[128];

	if (c->state == CONN_OPEN) {
		/* Frames the peer sent before we stopped are in flight too. */
		if (c->bev != NULL)
			conn_take_pending(c, bufferevent_get_input(c->bev));
		c->state =
		    CONN_DRAINING; /* stops conn_process honouring the caps */
		conn_process(c);
	}
	if (c->fr != NULL && mllp_framer_finish(c->fr, &fr))
		conn_submit(c, &fr);
	if (c->fr != NULL) {
		st = mllp_framer_stats(c->fr);
		if (st->junk_bytes > 0) {
			snprintf(line, sizeof(line),
			    "%llu bytes outside frames skipped",
			    (unsigned long long)st->junk_bytes);
			conn_say(c, CL_JUNK, line);
		}
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
	int64_t now = mono_usec();
	size_t used;
	int got;
	bool draining = c->state == CONN_DRAINING;

	if (c->bev == NULL || (c->state != CONN_OPEN && !draining))
		return;
	in = bufferevent_get_input(c->bev);
	/* The first bytes wait for conn_sniff() (but not at the end of input). */
	if (!c->sniffed && !draining)
		return;
	while (evbuffer_get_length(in) > 0) {
		/* While draining, what was read is taken whatever the limits. */
		if (!draining &&
		    (c->inflight >= (size_t)cfg->max_inflight ||
			conn_outlen(c) > (size_t)cfg->output_buffer_max))
			break;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		if (c->fr == NULL)
			c->fr = mllp_framer_new(c->max_size);
		junk0 = mllp_framer_stats(c->fr)->junk_bytes;
		used = mllp_framer_feed(c->fr, v.iov_base, v.iov_len, &fr,
		    &got);
		c->d->stats.junk_bytes += mllp_framer_stats(c->fr)->junk_bytes -
		    junk0;
		if (got) {
			/*
			 * A frame that came whole in one read never left the
			 * framer in a frame: it started all the same, or
			 * start_timeout would close a sender that keeps
			 * sending.
			 */
			c->started = true;
			conn_submit(c, &fr);
			c->frame_start = 0;
			c->last_activity = now;
		}
		if (mllp_framer_in_frame(c->fr) && c->frame_start == 0) {
			c->frame_start = now;
			c->started = true;
		}
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
	int64_t due = 0, left;

	if (c->bev == NULL)
		return;
	if (c->winding_down && c->state == CONN_OPEN) {
		/* Input stops once the peer has been quiet this long. */
		tv.tv_usec = 200000;
		evtimer_add(c->timer, &tv);
		return;
	}
	if (c->state == CONN_HANDSHAKE)
		due = c->accepted_at +
		    (cfg->frame_timeout < cfg->start_timeout ?
			    cfg->frame_timeout :
			    cfg->start_timeout) *
			1000000;
	else if (c->state == CONN_OPEN && c->reading && !c->started)
		due = c->accepted_at + cfg->start_timeout * 1000000;
	else if (c->state == CONN_OPEN && c->reading && conn_in_frame(c))
		due = c->frame_start + cfg->frame_timeout * 1000000;
	else if (c->state == CONN_OPEN && c->reading && c->inflight == 0 &&
	    cfg->idle_timeout > 0)
		due = c->last_activity + cfg->idle_timeout * 1000000;
	if (due == 0) {
		/* Paused, waiting for the store or for the peer to read: progress re-arms it. */
		if (cfg->idle_timeout == 0) {
			evtimer_del(c->timer);
			return;
		}
		tv.tv_sec = cfg->idle_timeout;
	} else {
		left = due - mono_usec();
		if (left > 0) {
			tv.tv_sec = left / 1000000;
			tv.tv_usec = left % 1000000;
		}
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
			conn_close(c, CL_CLOSED, NULL);
		return;
	}
	if (c->state != CONN_OPEN)
		return;
	want = c->inflight < (size_t)cfg->max_inflight &&
	    conn_outlen(c) <= (size_t)cfg->output_buffer_max;
	if (want && !c->reading) {
		c->reading = true;
		/* The peer could not send while we did not read: its frame's clock restarts. */
		if (conn_in_frame(c))
			c->frame_start = mono_usec();
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

/*
 * The first bytes of a plain conn: a TLS client that dialled the plain
 * port is closed at once (true: c is gone), before the framer finds 0x0B
 * bytes inside its ClientHello and quarantines the pieces.
 */
static bool
conn_sniff(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	unsigned char head[3];
	ev_ssize_t n;

	if (c->sniffed)
		return false;
	n = evbuffer_copyout(in, head, sizeof(head));
	switch (mllp_sniff(head, n > 0 ? (size_t)n : 0)) {
	case MLLP_SNIFF_TLS:
		c->d->stats.refused_tls++;
		conn_close(c, CL_NOT_MLLP,
		    "a TLS ClientHello on the plain MLLP "
		    "port (TLS is on tls_listen)");
		return true;
	case MLLP_SNIFF_MORE:
		return false;
	case MLLP_SNIFF_OTHER:
		break;
	}
	c->sniffed = true;
	/* Connected only now, as a TLS conn after its handshake: a refusal is one line. */
	conn_note(c->d, c->addr, c->peer, CL_CONNECTED, LOG_LEVEL_INFO,
	    "connected (%u open)", c->d->nsockets);
	return false;
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (conn_sniff(c))
		return;
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
	c->last_activity = mono_usec();
	conn_arm_timer(c);
	conn_update(c);
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct daemon *d = c->d;
	const struct config *cfg = d->cfg;
	char why[128];

	(void)fd;
	(void)what;
	if (c->winding_down && c->state == CONN_OPEN) {
		if (!c->reading) {
			conn_arm_timer(
			    c); /* paused by backpressure: not quiet */
			return;
		}
		conn_finish_input(c);
		conn_update(c);
		return;
	}
	switch (c->state) {
	case CONN_HANDSHAKE:
		d->stats.timeouts++;
		d->stats.tls_failures++;
		snprintf(why, sizeof(why),
		    "TLS handshake not done within %llds",
		    (long long)(cfg->frame_timeout < cfg->start_timeout ?
			    cfg->frame_timeout :
			    cfg->start_timeout));
		conn_close(c, CL_TIMEOUT_START, why);
		return;
	case CONN_OPEN:
		if (!c->reading || (c->inflight > 0 && !conn_in_frame(c))) {
			if (conn_outlen(c) == 0) {
				/* Waiting for the store, not for the peer. */
				conn_arm_timer(c);
				return;
			}
			d->stats.timeouts++;
			conn_finish_input(c);
			conn_close(c, CL_TIMEOUT_IDLE,
			    "peer does not read its ACKs "
			    "(idle_timeout)");
			return;
		}
		d->stats.timeouts++;
		if (!c->started) {
			snprintf(why, sizeof(why),
			    "no frame started within %llds "
			    "(start_timeout)",
			    (long long)cfg->start_timeout);
			conn_close(c, CL_TIMEOUT_START, why);
			return;
		}
		if (conn_in_frame(c)) {
			snprintf(why, sizeof(why),
			    "frame not complete %llds after "
			    "its first byte (frame_timeout)",
			    (long long)cfg->frame_timeout);
			conn_say(c, CL_TIMEOUT_FRAME, why);
			/* What arrived is a frame received too (abandoned); earlier ACKs still go out. */
			conn_finish_input(c);
			conn_arm_timer(c);
			conn_update(c);
			return;
		}
		conn_close(c, CL_TIMEOUT_IDLE,
		    conn_outlen(c) > 0 ? "peer does "
					 "not read its ACKs (idle_timeout)" :
					 "idle (idle_timeout)");
		return;
	case CONN_DRAINING:
		if (c->inflight > 0 && conn_outlen(c) == 0) {
			conn_arm_timer(c);
			return;
		}
		d->stats.timeouts++;
		conn_close(c, CL_TIMEOUT_IDLE,
		    "peer does not read its ACKs "
		    "(idle_timeout)");
		return;
	case CONN_CLOSED:
		return;
	}
}

/* The OpenSSL errors libevent collected for this conn, oldest first. */
static size_t
conn_ssl_errors(struct conn *c, unsigned long *errs, size_t max)
{
	unsigned long e;
	size_t n = 0;

	/* libevent hands them back newest first. */
	while ((e = bufferevent_get_openssl_error(c->bev)) != 0)
		if (n < max)
			errs[n++] = e;
	for (size_t i = 0; i < n / 2; i++) {
		e = errs[i];
		errs[i] = errs[n - 1 - i];
		errs[n - 1 - i] = e;
	}
	return n;
}

static void
conn_handshake_done(struct conn *c)
{
	struct daemon *d = c->d;
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	enum tls_refusal r;
	char who[96], why[256];
	size_t n, wl;

	if ((r = tls_check_peer(ssl, d->cfg, who, sizeof(who), why,
		 sizeof(why))) != TLS_ACCEPTED) {
		d->stats.refused_tls++;
		conn_close(c, CL_TLS + r, why);
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
	/* Connected only now: refused handshakes are refusals, not connections. */
	conn_note(d, c->addr, c->peer, CL_CONNECTED, LOG_LEVEL_INFO,
	    "connected: %s %s (%u open)", SSL_get_version(ssl),
	    SSL_get_cipher_name(ssl), d->nsockets);
	c->state = CONN_OPEN;
	conn_process(c);
	conn_arm_timer(c);
	conn_update(c);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	unsigned long errs[CONN_SSL_ERRORS];
	const char *rs;
	char err[256] = "";
	enum tls_refusal r;
	size_t n = 0, i;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == CONN_HANDSHAKE)
			conn_handshake_done(c);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		conn_debug(c, "peer closed (%zu in flight)", c->inflight);
		if (c->state == CONN_HANDSHAKE) {
			conn_close(c, CL_TLS + TLS_REFUSED_CLOSED,
			    "closed during the TLS handshake");
			return;
		}
		/* A plain conn is "connected" at its first bytes: without any, this is its line. */
		if (!c->sniffed &&
		    evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)
			conn_say(c, CL_SILENT,
			    "closed before sending anything");
		conn_finish_input(c);
		conn_arm_timer(c);
		conn_update(c);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		if (c->tls)
			n = conn_ssl_errors(c, errs, CONN_SSL_ERRORS);
		if (c->state == CONN_HANDSHAKE) {
			r = tls_refusal_of(bufferevent_openssl_get_ssl(c->bev),
			    errs, n, err, sizeof(err));
			if (r != TLS_REFUSED_CLOSED) {
				c->d->stats.refused_tls++;
				c->d->stats.tls_failures++;
			}
			conn_close(c, CL_TLS + r, err);
			return;
		}
		for (i = 0; i < n && err[0] == '\0'; i++)
			if (ERR_GET_LIB(errs[i]) != 0 &&
			    (rs = ERR_reason_error_string(errs[i])) != NULL)
				snprintf(err, sizeof(err), "TLS: %s", rs);
		if (err[0] == '\0')
			snprintf(err, sizeof(err), "%s",
			    evutil_socket_error_to_string(
				EVUTIL_SOCKET_ERROR()));
		/* The socket is broken: the partial frame is still accounted for. */
		if (c->state == CONN_OPEN)
			conn_finish_input(c);
		conn_close(c, CL_CLOSED, err);
	}
}

/*
 * Conns from the same address that the peer still holds: a conn whose
 * peer has closed (DRAINING: only its last ACKs to write) or gone
 * (CLOSED) does not count, or a sender that timed out and reconnected
 * would find its own ghosts in the way.
 */
static unsigned
conns_from(struct daemon *d, const char *addr)
{
	struct conn *c;
	unsigned n = 0;

	TAILQ_FOREACH (c, &d->conns, entry)
		if ((c->state == CONN_HANDSHAKE || c->state == CONN_OPEN) &&
		    strcmp(c->addr, addr) == 0)
			n++;
	return n;
}

void
conn_accept(struct daemon *d, evutil_socket_t fd, const struct sockaddr *sa,
    socklen_t salen, bool tls)
{
	const struct config *cfg = d->cfg;
	char addr[INET6_ADDRSTRLEN], peer[64];
	struct conn *c;
	SSL *ssl;

	(void)salen;
	acl_addr_str(sa, addr, sizeof(addr));
	conn_sock_peer_str(sa, addr, peer, sizeof(peer));
	/* Refusals close before reading anything: the peer learns nothing but the close. */
	if (d->stopping) {
		evutil_closesocket(fd);
		return;
	}
	if (!acl_allows(&cfg->allow_acl, sa)) {
		d->stats.refused_acl++;
		conn_note(d, addr, peer, CL_ACL, LOG_LEVEL_INFO,
		    "refused: not in allow");
		evutil_closesocket(fd);
		return;
	}
	if (d->nsockets >= (unsigned)cfg->max_connections) {
		d->stats.refused_limit++;
		conn_note(d, addr, peer, CL_MAX_CONN, LOG_LEVEL_WARN,
		    "refused: max_connections (%lld) reached",
		    (long long)cfg->max_connections);
		evutil_closesocket(fd);
		return;
	}
	if (conns_from(d, addr) >= (unsigned)cfg->max_connections_per_peer) {
		d->stats.refused_limit++;
		conn_note(d, addr, peer, CL_MAX_PEER, LOG_LEVEL_WARN,
		    "refused: max_connections_per_peer (%lld) reached",
		    (long long)cfg->max_connections_per_peer);
		evutil_closesocket(fd);
		return;
	}
	conn_sock_options(fd);

	c = xcalloc(1, sizeof(*c));
	c->d = d;
	c->tls = tls;
	c->gen = ++d->conn_gen;
	c->max_size = (size_t)cfg->max_message_size;
	c->accepted_at = c->last_activity = mono_usec();
	c->sniffed = tls; /* TLS records are not for mllp_sniff() */
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
		c->bev = bufferevent_socket_new(d->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
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
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb,
	    c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->reading = true;
	conn_arm_timer(c);
	/*
	 * A TLS conn is connected once its handshake succeeds, a plain one
	 * once its first bytes are not a TLS ClientHello (conn_sniff()).
	 */
	conn_debug(c, "%s (%u open)", tls ? "TLS handshake begins" : "accepted",
	    d->nsockets);
}

/* Buckets of the ACK latency: 100 us to 10 s. */
static const uint64_t ack_bounds[] = { 100, 250, 500, 1000, 2500, 5000, 10000,
	25000, 50000, 100000, 250000, 1000000, 10000000 };
const struct metric_hist_def daemon_ack_hist = { ack_bounds,
	sizeof(ack_bounds) / sizeof(ack_bounds[0]), 1e6 };

/* An ACK queued: by its code, and how long since its frame arrived. */
static void
conn_count_ack(struct daemon_stats *st, const struct store_item *it)
{
	const char *k = it->ack_code;
	int64_t waited = now_usec() - it->received_at;

	st->acks_sent++;
	if ((k[0] == 'A' || k[0] == 'C') &&
	    (k[1] == 'A' || k[1] == 'E' || k[1] == 'R'))
		st->acks_by_code[(k[0] == 'C' ? 3 : 0) +
		    (k[1] == 'A'	? 0 :
			    k[1] == 'E' ? 1 :
					  2)]++;
	metric_observe(&st->ack_usec, &daemon_ack_hist,
	    waited > 0 ? (uint64_t)waited : 0);
}

/* Queue one ACK, MLLP-framed, on c's output. */
static void
conn_write_ack(struct conn *c, const struct store_item *it)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer_iovec v;
	const char *p = it->ack.p ? it->ack.p : "";

	if (evbuffer_reserve_space(out, (ev_ssize_t)(it->ack.len + 3), &v, 1) <
		1 ||
	    v.iov_len < it->ack.len + 3)
		fatalx("evbuffer_reserve_space failed");
	v.iov_len = mllp_wrap(p, it->ack.len, v.iov_base);
	if (evbuffer_commit_space(out, &v, 1) == -1)
		fatalx("evbuffer_commit_space failed");
	conn_count_ack(&c->d->stats, it);
}

static void
conn_log_outcome(struct conn *c, const struct store_item *it)
{
	const char *name = store_outcome_name(it->outcome);
	const char *cid = it->control_id[0] ? it->control_id : "-";

	switch (it->outcome) {
	case STORE_QUARANTINED:
		/* Throttled per peer: two bytes make an empty frame, and each is a row with its reason. */
		conn_note(c->d, c->addr, c->peer, CL_QUARANTINED,
		    LOG_LEVEL_INFO, "control id %s: quarantined: %s", cid,
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
			conn_info(c,
			    "control id %s is %s, but the peer has gone: "
			    "ACK not sent",
			    it->control_id[0] ? it->control_id : "-",
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
			conn_close(c, CL_CLOSED, "shutting down");
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
		conn_close(c, CL_CLOSED, "shutdown deadline passed");
	}
}
