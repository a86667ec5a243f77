/*
 * conn_sock.h: the socket of an accepted connection: its options and the
 * "addr:port" that names its peer in the log.
 */
#ifndef LABWATCH_CONN_SOCK_H
#define LABWATCH_CONN_SOCK_H

#include <stddef.h>
#include <sys/socket.h>

#include <event2/util.h>

/* "addr:port" ("[v6addr]:port") of sa, whose address text is addr, into out. */
void conn_sock_peer_str(const struct sockaddr *sa, const char *addr, char *out,
    size_t len);
/* TCP_NODELAY, keepalive probes and a bound on unacknowledged bytes: see CONN_KEEPIDLE_SEC. */
void conn_sock_options(evutil_socket_t fd);

#endif
