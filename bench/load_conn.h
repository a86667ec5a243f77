/*
 * load_conn.h: one blocking MLLP client connection of mllp_load (TCP or
 * TLS to opt.host:opt.port), owned by its worker thread (or by the idle
 * run), and the reading of ACKs.
 */
#ifndef LABWATCH_BENCH_LOAD_CONN_H
#define LABWATCH_BENCH_LOAD_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct conn {
	int fd;
	SSL *ssl;
	char *rbuf;
	size_t rlen, rcap;
};

/* What an ACK said. */
enum ack_kind { ACK_ACCEPT, ACK_ERROR, ACK_REJECT, ACK_BAD };

/* Close c's socket (and TLS session); c may be opened again. */
void conn_close(struct conn *c);
/* Connect (and handshake); on failure, fill err and return -1. */
int conn_open(struct conn *c, bool nodelay, bool tls, char *err, size_t errlen);
/* Write all of p; -1 and err on failure. */
int conn_write(struct conn *c, const char *p, size_t len, char *err,
    size_t errlen);
/*
 * Read one MLLP frame: its payload is (*frame, *len), valid until the next
 * read; *used is what to drop from the buffer afterwards. -1 and err on
 * failure.
 */
int conn_read_frame(struct conn *c, const char **frame, size_t *len,
    size_t *used, char *err, size_t errlen);
/* Drop the first used bytes of c's buffer (a frame read). */
void conn_consume(struct conn *c, size_t used);
/* Find MSA-1 and MSA-2 in an ACK; ACK_BAD when there is no readable MSA. */
enum ack_kind ack_parse(const char *p, size_t len, const char **cid,
    size_t *cidlen, char code[3]);

#endif
