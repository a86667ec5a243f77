/*
 * replay.h: the sending engine of `labwatch replay`: messages of the
 * inputs, in order, over N MLLP connections, a patient's next message on
 * the connection its earlier ones are still queued or in flight on, else
 * on the least loaded (PID-3 is the patient), one ACK awaited at a time
 * per connection; AR and timeouts resent with backoff; a checkpoint of what
 * came back ACKed, for --resume.
 */
#ifndef LABWATCH_REPLAY_H
#define LABWATCH_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/mllp_client.h"
#include "cli/replay_direct.h"
#include "cli/replay_input.h"

/* How to replay; filled by cmd_replay, read-only to the engine. */
struct replay_opts {
	struct mllp_client_conf net;
	int connections; /* parallel connections, >= 1 */
	double rate;	 /* messages per second, 0: as fast as ACKs come */
	int retries;	 /* resends of one message after AR or timeout */
	bool
	    stop_on_error; /* --on-error stop: stop at the first broken input */
	const char *resume;    /* checkpoint file, or NULL */
	const char *id_type;   /* PID-3 CX-5 labwatchd prefers (NULL: MR) */
	size_t max_size;       /* largest message read */
	bool tty;	       /* progress as a line redrawn on a terminal */
	int progress_every_ms; /* progress period */
	/* --direct: into PostgreSQL through the store, no network; or NULL */
	const struct replay_direct_conf *direct;
};

/* The exit status of a run. */
enum replay_status {
	REPLAY_OK = 0,	       /* every message accepted */
	REPLAY_REFUSED = 1,    /* some AE/CE, broken input or interrupted */
	REPLAY_CONNECTION = 2, /* usage, input, connection or a give-up */
};

/*
 * Send every message of inputs as opts says and print the summary on
 * stderr. Ctrl-C (SIGINT) or SIGTERM stops it after the ACKs in flight
 * (with --direct, after the batches in flight have committed).
 */
enum replay_status replay_run(const struct replay_opts *opts,
    const struct replay_inputs *inputs);

#endif
