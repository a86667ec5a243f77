/*
 * split.h: split an input into HL7 messages, whole in memory or streamed
 * through a sliding window.
 *
 * Three forms are recognised: MLLP captures (a 0x0B before the first MSH),
 * raw messages one after another with CR, LF or CRLF segment terminators,
 * and FHS/BHS ... BTS/FTS batch files (raw form with envelope segments).
 * Nothing is dropped silently: every byte that is neither a message, a
 * batch envelope segment nor whitespace between messages comes back as an
 * error item, and so do oversized or truncated frames and batch trailer
 * counts that do not match. Pure: no I/O, no logging.
 */
#ifndef LABWATCH_SPLIT_H
#define LABWATCH_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include "lib/attr.h"

/* A splitter over one buffer; owned by the caller, freed by hl7_split_free. */
struct hl7_split;

struct hl7_split_item {
	/*
	 * The message: an MLLP payload (terminators normalised to CR), or
	 * the raw bytes from MSH to the end of its last segment (terminator
	 * excluded). For an error item, the bytes concerned (for an oversized
	 * or truncated frame, its first bytes only). Valid until the next
	 * hl7_split_next() or hl7_split_free(), and while the buffer lives.
	 */
	const char *data;
	size_t len;
	size_t
	    offset; /* byte offset of the item in the buffer (of its 0x0B for a frame) */
	int is_error;	    /* 1: not a message; reason says why */
	const char *reason; /* static text; NULL for a message */
};

/*
 * A splitter over buf[0..len), which must outlive it. Messages larger than
 * max_message_size bytes (0: no limit) come back as error items. Never
 * returns NULL (out of memory aborts).
 */
struct hl7_split *hl7_split_new(const char *buf, size_t len,
    size_t max_message_size);

/* hl7_split_next: the window ends before the next item does. */
#define HL7_SPLIT_MORE 2

/*
 * The next item: returns 1 and fills *it, 0 at the end of the input, or
 * HL7_SPLIT_MORE (streaming only) when the caller must slide the window
 * on: keep the bytes from hl7_split_keep() and add what follows.
 */
LW_MUSTCHECK int hl7_split_next(struct hl7_split *s, struct hl7_split_item *it);

/*
 * Streaming: a splitter with no bytes yet, fed by hl7_split_window().
 * Item offsets count from the start of the input, not of the window.
 */
struct hl7_split *hl7_split_stream(size_t max_message_size);

/*
 * Hand s the window buf[0..len), bytes from input offset base on; eof
 * when nothing follows. A new window must start at or before
 * hl7_split_keep() and go on at least to where the last one ended.
 * Items returned before are invalid afterwards.
 */
void hl7_split_window(struct hl7_split *s, const char *buf, size_t len,
    size_t base, bool eof);

/* After HL7_SPLIT_MORE: the input offset from which bytes are needed. */
size_t hl7_split_keep(const struct hl7_split *s);

/* Free the splitter (not the buffer); s may be NULL. */
void hl7_split_free(struct hl7_split *s);

#endif
