/*
 * mllp_load.h: what the parts of bench/mllp_load share: the framing bytes,
 * the options (set once by main before any thread starts) and the
 * allocators that end the run on failure. Private to bench/mllp_load*.
 */
#ifndef LABWATCH_BENCH_MLLP_LOAD_H
#define LABWATCH_BENCH_MLLP_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#define MLLP_SB 0x0b
#define MLLP_EB 0x1c
#define MLLP_CR 0x0d

#define CID_MAX 64	      /* longest control id we build */
#define ACK_MAX (1024 * 1024) /* an ACK larger than this is a broken peer */

/* Options, set once by main before any thread starts (mllp_load.c). */
struct load_opts {
	const char *host, *port;
	int conns;
	uint64_t total; /* 0: no limit */
	double seconds; /* 0: no limit */
	double rate;	/* 0: closed loop */
	bool tls;
	const char *ca, *cert, *key, *servername;
	const char *template_path;
	char run_id[CID_MAX / 2];
	const char *verify;
	bool json;
	int timeout_s;
	double verify_wait;  /* retry verification this long (a spool drains) */
	const char *ack_log; /* each ACK: "CONTROL_ID CODE" */
	double reconnect_for; /* keep reconnecting this long (0: a few tries) */
	long idle;
	long pid;
	double idle_wait;
};

extern struct load_opts opt;
/* The TLS context of --tls (mllp_load.c), or NULL. */
extern SSL_CTX *ssl_ctx;

/* The control id of message seq of thread: RUNID-THREAD-SEQ; its length. */
int cid_format(char *out, size_t len, int thread, uint64_t seq);
/* "mllp_load: " and the message on stderr, then exit 2. */
void load_fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
/* malloc(n), or load_fatalx. */
void *load_xmalloc(size_t n);
/* realloc(p, n), or load_fatalx. */
void *load_xrealloc(void *p, size_t n);

#endif
