/*
 * ack.h: the ACK builder.
 *
 * Builds the acknowledgment for a received message: an MSH with sender and
 * receiver swapped, written in the received message's delimiters so copied
 * fields need no re-escaping; an MSA; an ERR when there is an error code,
 * in the 2.5+ layout (ERR-2/3/4/8) or the older one (ERR-1). Works from as
 * much of the received message as could be read, down to nothing at all.
 * Pure: appends to the caller's buffer, no I/O, no logging.
 */
#ifndef LABWATCH_ACK_H
#define LABWATCH_ACK_H

#include <stddef.h>

#include "lib/buf.h"
#include "hl7/hl7.h"
#include "lib/attr.h"

/* Longest control id hl7_ack_build() recovers on its own from a failed parse. */
#define HL7_ACK_CONTROL_ID_MAX 200

/* AA/AE/AR in original mode, CA/CE/CR in enhanced mode. */
enum hl7_ack_code {
	HL7_ACK_ACCEPT,
	HL7_ACK_ERROR,	/* the content is wrong: do not resend as is */
	HL7_ACK_REJECT, /* refused or temporarily unable: resend later */
};

/*
 * What to answer. Strings are plain text (NUL-terminated, delimiters are
 * escaped on output); NULL means empty. Owned by the caller.
 */
struct hl7_ack_info {
	enum hl7_ack_code code;
	enum hl7_errcode
	    err; /* table 0357 code for ERR; HL7_ERR_NONE: no ERR segment */
	const char *
	    text; /* short reason, no patient data; MSA-3 before 2.5, ERR-8 from 2.5 */
	const char *err_seg; /* ERR location when known: segment id, */
	unsigned
	    err_seq; /* its 1-based sequence in the message (0: unknown), */
	unsigned err_field;	/* field position (0: unknown) */
	const char *control_id; /* MSH-10 of the ACK itself */
	const char
	    *timestamp; /* MSH-7 of the ACK (DTM, e.g. 20261125103000+0000) */
	const char *app,
	    *facility; /* our MSH-3/MSH-4, used when the received MSH-5/MSH-6 is empty */
	/*
	 * MSA-2 when no MSH-10 can be read from m (m NULL, or its MSH
	 * unreadable): typically from hl7_ack_recover_control_id() on the
	 * raw frame. NULL for none.
	 */
	const char *ref_control_id;
};

/*
 * Append the ACK for m to out, segments ending with CR. m may be NULL, or
 * a failed parse: then its MSH line is read again on its own (m->buf must
 * still be valid), and when even that fails the ACK uses |^~\& with empty
 * swapped fields, version 2.5.1, and MSA-2 from info->ref_control_id or,
 * failing that, recovered from m->buf. Returns 1 when the ACK must be sent;
 * 0, with nothing appended, when the sender's enhanced-mode MSH-15 says not
 * to (NE never, ER only for errors and rejects, SU only for accepts).
 */
LW_MUSTCHECK int hl7_ack_build(struct buf *out, const struct hl7_msg *m,
    const struct hl7_ack_info *info);

/*
 * What hl7_ack_build() will do for m and code, without building it: the
 * MSA-1 code that goes back ("AA" .. "CR"), or NULL when the sender's
 * MSH-15 asks for no ACK. The code stored as "what the sender was told".
 */
const char *hl7_ack_sent_code(const struct hl7_msg *m, enum hl7_ack_code code);

/*
 * Best-effort MSH-10 from a frame that failed to parse (for MSA-2), copied
 * NUL-terminated into out[cap]. Returns its length, or 0 (out empty) when
 * there is no MSH, the field is empty, not followed by a field separator or
 * segment terminator (it may be cut short), holds a control character, or
 * does not fit. Never reads outside frame[0..len).
 */
size_t hl7_ack_recover_control_id(const char *frame, size_t len, char *out,
    size_t cap);

/* Table 0357 text for an error code ("Required field missing"), "" if unknown. */
const char *hl7_ack_errtext(enum hl7_errcode code);

#endif
