/*
 * mllp.h: incremental MLLP framer (0x0B payload 0x1C 0x0D).
 *
 * The framer takes bytes as they arrive from a connection, in reads of any
 * size, and hands back one event at a time: a whole frame, an oversize frame
 * (its first bytes, so an AR ACK can quote its MSH) or an abandoned one.
 * It tolerates what real senders do: junk and NULs between frames, LF or CRLF
 * segment terminators (normalised to CR), a missing final 0x0D, a trailing LF.
 * Pure: no I/O, no logging; memory only in new/free and in the growth of one
 * frame buffer, which is reused across frames and never grows past the
 * larger of max_size and MLLP_PREFIX_KEEP, however long a frame is.
 * Out of memory aborts.
 */
#ifndef LABWATCH_MLLP_H
#define LABWATCH_MLLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/attr.h"

#define MLLP_SB 0x0b /* start block */
#define MLLP_EB 0x1c /* end block */
#define MLLP_CR 0x0d
#define MLLP_PREFIX_KEEP \
	4096 /* bytes of an oversize frame kept so an AR ACK can quote its MSH */

enum mllp_kind {
	/* a whole frame: data/len is the payload, total == len */
	MLLP_FRAME = 1,
	/*
	 * a frame longer than max_size: data holds its first
	 * min(total, MLLP_PREFIX_KEEP) bytes, whatever max_size is, total its
	 * full payload length; the rest was discarded up to its 0x1C
	 */
	MLLP_OVERSIZE,
	/*
	 * a frame cut short: a new 0x0B arrived before 0x1C, or
	 * mllp_framer_finish() at EOF mid-frame; data holds the first
	 * min(total, MLLP_PREFIX_KEEP) bytes of what arrived, total its length
	 */
	MLLP_ABANDONED,
};

/*
 * One event. Lengths count the payload after normalisation (LF and CRLF
 * become CR), without the 0x0B/0x1C/0x0D framing. data is never NULL.
 */
struct mllp_frame {
	enum mllp_kind kind;
	const char *data;
	size_t len;
	size_t total;
};

struct mllp_stats {
	uint64_t frames;    /* MLLP_FRAME events */
	uint64_t oversize;  /* MLLP_OVERSIZE events */
	uint64_t abandoned; /* MLLP_ABANDONED events, from feed or finish */
	uint64_t
	    junk_bytes; /* bytes outside frames, other than one CR, LF or CRLF after 0x1C */
};

struct mllp_framer; /* owned by its connection; freed by mllp_framer_free */

/* A new framer in the "between frames" state; never returns NULL (aborts on OOM). */
struct mllp_framer *mllp_framer_new(size_t max_size);

/* Frees f and its buffer; f may be NULL. */
void mllp_framer_free(struct mllp_framer *f);

/*
 * Consume bytes from buf until one event completes or buf is exhausted.
 * Returns the number of bytes consumed (at least 1 when len > 0); sets *got
 * to 1 and fills *out when an event completed (out->data is valid until the
 * next call on f), else *got = 0. The caller loops until all bytes are
 * consumed.
 */
size_t mllp_framer_feed(struct mllp_framer *f, const void *buf, size_t len,
    struct mllp_frame *out, int *got);

/* At end of input: if a frame was in progress, fill *out as MLLP_ABANDONED, reset, and return 1; else 0. */
LW_MUSTCHECK int mllp_framer_finish(struct mllp_framer *f,
    struct mllp_frame *out);

/* True while a partial frame is buffered or being discarded (for read timeouts). */
bool mllp_framer_in_frame(const struct mllp_framer *f);

/* Counters since mllp_framer_new(); the pointer lives as long as f. */
const struct mllp_stats *mllp_framer_stats(const struct mllp_framer *f);

/* Bytes currently allocated for the frame buffer (for status output and tests). */
size_t mllp_framer_bufsize(const struct mllp_framer *f);

/*
 * Between frames, give back a frame buffer grown past keep bytes (a big
 * frame is rare; its memory need not stay with an idle connection). The
 * state (a 0x1C whose trailing CR is still to come) and the counters are
 * kept: a new framer would take that CR for junk. Does nothing inside a
 * frame. The data of the last event is invalid afterwards.
 */
void mllp_framer_shrink(struct mllp_framer *f, size_t keep);

/* What the first bytes of a connection look like, before they reach a framer. */
enum mllp_sniff {
	MLLP_SNIFF_MORE, /* too few bytes to tell */
	MLLP_SNIFF_TLS, /* a TLS record (a ClientHello): the client expects TLS */
	MLLP_SNIFF_OTHER, /* anything else: for the framer */
};

/*
 * Classify the first len bytes a peer sent: a TLS handshake record starts
 * 0x16 0x03 (then 0x00-0x04), a byte no MLLP sender puts before 0x0B.
 * Without this, the framer finds 0x0B bytes inside the ClientHello and
 * quarantines the pieces as frames.
 */
enum mllp_sniff mllp_sniff(const void *buf, size_t len);

/* Wrap payload in 0x0B ... 0x1C 0x0D into a caller buffer of len+3 bytes; returns bytes written. */
size_t mllp_wrap(const void *payload, size_t len, void *out);

#endif /* LABWATCH_MLLP_H */
