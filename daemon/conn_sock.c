/*
 * conn_sock.c: the socket of an accepted connection (see conn_sock.h).
 */
#include "conn_sock.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>

/*
 * TCP keepalive: a peer that vanished (power, NAT state lost) is found in
 * about 2 minutes instead of the kernel's 2 hours, and ACK bytes it never
 * acknowledges fail the socket after as long: its slot is freed.
 */
#define CONN_KEEPIDLE_SEC 60
#define CONN_KEEPINTVL_SEC 10
#define CONN_KEEPCNT 6
#define CONN_USER_TIMEOUT_MS 120000

void
conn_sock_peer_str(const struct sockaddr *sa, const char *addr, char *out,
    size_t len)
{
	unsigned port = 0;

	if (sa->sa_family == AF_INET)
		port = ntohs(
		    ((const struct sockaddr_in *)(const void *)sa)->sin_port);
	else if (sa->sa_family == AF_INET6)
		port = ntohs(
		    ((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	if (strchr(addr, ':') != NULL)
		snprintf(out, len, "[%s]:%u", addr, port);
	else
		snprintf(out, len, "%s:%u", addr, port);
}

/* Keepalive probes and a bound on unacknowledged bytes: see CONN_KEEPIDLE_SEC. */
void
conn_sock_options(evutil_socket_t fd)
{
	int one = 1, idle = CONN_KEEPIDLE_SEC, intvl = CONN_KEEPINTVL_SEC;
	int cnt = CONN_KEEPCNT;
	unsigned user = CONN_USER_TIMEOUT_MS;

	/* ACKs are small and awaited one by one: do not let Nagle hold them back. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user,
	    sizeof(user));
}
