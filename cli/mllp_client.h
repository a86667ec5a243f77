/*
 * mllp_client.h: one blocking MLLP client connection, plain or TLS: send
 * a message framed, read the ACK frame back, tell its MSA-1. For
 * `labwatch replay`; one thread owns each connection.
 */
#ifndef LABWATCH_MLLP_CLIENT_H
#define LABWATCH_MLLP_CLIENT_H

#include <stddef.h>

#include "lib/attr.h"

struct ssl_ctx_st;

/* Where and how to connect; owned by the caller, shared by connections. */
struct mllp_client_conf {
	const char *host, *port;
	int timeout_s;		/* connect, send and ACK wait */
	struct ssl_ctx_st *tls; /* NULL: plain MLLP */
};

/* One connection; owned by one thread, closed by mllp_client_close. */
struct mllp_client {
	int fd;
	void *ssl;
	char *rbuf;
	size_t rlen, rcap;
	char *wbuf;
	size_t wcap;
};

/* What an ACK's MSA-1 said. */
enum mllp_ack_code {
	MLLP_ACK_AA,
	MLLP_ACK_AE,
	MLLP_ACK_AR,
	MLLP_ACK_CA,
	MLLP_ACK_CE,
	MLLP_ACK_CR,
	MLLP_ACK_BAD, /* no readable MSA */
	MLLP_ACK_NCODES,
};

/* Results of the I/O functions. */
enum mllp_io {
	MLLP_IO_OK,
	MLLP_IO_TIMEOUT, /* no ACK within timeout_s */
	MLLP_IO_ERROR,	 /* connection failed or closed: reconnect */
};

/* A client TLS context (TLS 1.2 minimum); NULL and *cause on failure. */
struct ssl_ctx_st *mllp_client_tls(const char *ca, const char *cert,
    const char *key, char **cause);

/*
 * A TCP connection to host:port (TCP_NODELAY, send and receive timeouts
 * of timeout_s): its descriptor, or -1 and *cause.
 */
int mllp_client_tcp(const char *host, const char *port, int timeout_s,
    char **cause);
/* A closed connection (no I/O). */
void mllp_client_init(struct mllp_client *c);
/* Connect (and handshake); MLLP_IO_ERROR with *cause on failure. */
LW_MUSTCHECK enum mllp_io mllp_client_open(struct mllp_client *c,
    const struct mllp_client_conf *conf, char **cause);
/* Close the connection and free its buffers; c may be reopened. */
void mllp_client_close(struct mllp_client *c);
/*
 * Send msg[0..len) in an MLLP frame and read the next ACK frame; *code is
 * its MSA-1. *cause (malloc'ed) says why on anything but MLLP_IO_OK.
 */
LW_MUSTCHECK enum mllp_io mllp_client_exchange(struct mllp_client *c,
    const char *msg, size_t len, enum mllp_ack_code *code, char **cause);
/* The MSA-1 of an ACK payload ("AA" .. "CR"), MLLP_ACK_BAD without one. */
enum mllp_ack_code mllp_ack_code(const char *p, size_t len);
/* "AA" .. "CR", or "bad". */
const char *mllp_ack_name(enum mllp_ack_code code);

#endif
