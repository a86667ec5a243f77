/*
 * daemon.h: labwatchd's process-wide state, shared by main.c, listener.c
 * and conn.c. There is one struct daemon, owned by main().
 */
#ifndef LABWATCH_DAEMON_H
#define LABWATCH_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "conf.h"
#include "lib/metrics.h"
#include "store/store.h"

struct conn;
struct listener;
struct throttle;

/* Counters of the network side (the store counts outcomes). */
struct daemon_stats {
	uint64_t accepted;
	uint64_t refused_acl;	/* not in allow */
	uint64_t refused_limit; /* max_connections or per peer */
	uint64_t refused_tls;	/* handshake failed or subject refused */
	uint64_t frames, oversize, abandoned;
	uint64_t junk_bytes; /* outside frames, reported by the framer */
	uint64_t acks_sent;
	uint64_t acks_unsent;	  /* durable, but the peer had gone */
	uint64_t timeouts;	  /* idle, frame or handshake */
	uint64_t tls_failures;	  /* handshakes that failed or timed out */
	uint64_t acks_by_code[6]; /* AA AE AR CA CE CR (conn_ack_codes) */
	uint64_t reloads, reload_failures; /* SIGHUP */
	struct metric_hist ack_usec; /* frame received .. its ACK queued */
};

/* The buckets of daemon_stats.ack_usec. */
extern const struct metric_hist_def daemon_ack_hist;

struct daemon {
	struct event_base *base;
	struct config *cfg; /* the running configuration; replaced on SIGHUP */
	char *config_path;
	struct store *store;
	SSL_CTX *tls_ctx; /* for new TLS connections; NULL without tls_listen */

	struct listener **listeners; /* owned by listener.c */
	size_t nlisteners;

	TAILQ_HEAD(, conn)
	conns;		   /* every conn not yet freed, owned by conn.c */
	unsigned nsockets; /* conns whose socket is open */
	uint64_t conn_gen; /* numbers conns, checked when items come back */

	struct daemon_stats stats;
	struct throttle
	    *throttle; /* budgets of connection log lines, owned by conn.c */
	struct metrics_http *metrics; /* metrics_listen's server, or NULL */
	bool stopping;		      /* SIGTERM seen: no new connections */
};

#endif
