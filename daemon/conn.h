/*
 * conn.h: one MLLP connection, plain or TLS.
 *
 * A conn reads frames through the MLLP framer, submits each to the store
 * and writes the ACKs back in the order the store returns them (submission
 * order). Its socket may close before its frames are durable: the conn
 * then lives on, socket-less, until the last of them comes back, so the
 * store's items never point at freed memory.
 */
#ifndef LABWATCH_CONN_H
#define LABWATCH_CONN_H

#include <stdbool.h>
#include <sys/socket.h>

#include <event2/util.h>

#include "conn_log.h"
#include "daemon.h"

/* A new connection from a listener: checked against allow and the limits (closed if refused), else served. */
void conn_accept(struct daemon *d, evutil_socket_t fd,
    const struct sockaddr *sa, socklen_t salen, bool tls);
/* store_completion_fd() is readable: send the ACKs of the items that came back. */
void conn_completions(struct daemon *d);
/* SIGTERM: stop reading everywhere; each conn closes once its ACKs are out. */
void conn_shutdown_all(struct daemon *d);
/* Shutdown took too long: close every socket now (items in flight still complete). */
void conn_close_all(struct daemon *d);

#endif
