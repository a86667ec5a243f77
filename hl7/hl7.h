/*
 * hl7.h: HL7 v2 message parser (ER7 encoding).
 *
 * hl7_parse() indexes a message in one pass: segments and fields are spans
 * (offset, length) into the caller's buffer, which must outlive the index.
 * Repetitions, components and subcomponents are found on demand inside a
 * field span, and escapes/charsets are decoded only when a value is read
 * (hl7_text()), so reading the few fields a consumer needs costs little and
 * copies nothing when a value holds no escape and the charset is UTF-8/ASCII.
 * Pure: no I/O, no logging; memory only in the index arrays and text arenas,
 * both reused across messages. Reading a value's text (escapes, charsets)
 * is hl7/text.h; DTM timestamps and numbers are hl7/dtm.h.
 */
#ifndef LABWATCH_HL7_H
#define LABWATCH_HL7_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "lib/arena.h"
#include "lib/attr.h"

/* HL7 table 0357 error codes used in ERR-3 and by the ACK builder. */
enum hl7_errcode {
	HL7_ERR_NONE = 0,
	HL7_ERR_SEGMENT_SEQUENCE = 100,
	HL7_ERR_REQUIRED_FIELD = 101,
	HL7_ERR_DATA_TYPE = 102,
	HL7_ERR_UNSUPPORTED_TYPE = 200,
	HL7_ERR_UNSUPPORTED_VERSION = 203,
	HL7_ERR_INTERNAL = 207,
};

/* A piece of the parsed buffer; len 0 means empty or absent. */
struct hl7_span {
	uint32_t off;
	uint32_t len;
};

/* A decoded string: points into the message buffer or a text arena. */
struct hl7_str {
	const char *p;
	size_t len;
};

struct hl7_delims {
	char field; /* MSH-1 */
	char comp;  /* MSH-2[0] */
	char rep;   /* MSH-2[1] */
	char esc;   /* MSH-2[2], 0 when the sender declared none */
	char sub;   /* MSH-2[3], 0 when absent */
	char trunc; /* MSH-2[4] (v2.7+), 0 when absent */
};

struct hl7_seg {
	char id[4];	   /* segment id, NUL-terminated */
	uint32_t off, len; /* the segment without its terminator */
	uint32_t field0;   /* index in hl7_msg.fields of field 0 (the id) */
	uint32_t nfields;  /* fields including field 0 */
	bool has_rep;	   /* a repetition separator occurs in it (not MSH-2) */
};

/* How MSH-18 (or the configured default) maps bytes to UTF-8. */
enum hl7_charset {
	HL7_CS_UTF8 = 0, /* also ASCII: bytes kept as they are */
	HL7_CS_LATIN1,	 /* 8859/1 */
	HL7_CS_LATIN9,	 /* 8859/15 */
	HL7_CS_ICONV,	 /* anything else glibc iconv knows */
};

/* Where a parse failed: an HL7 error code, a reason and a byte offset. */
struct hl7_error {
	enum hl7_errcode code;
	const char *reason; /* static text, no patient data */
	size_t offset;	    /* byte offset in the message */
	char seg_id[4];	    /* for ERR-2, when known */
	unsigned seg_seq;   /* 1-based segment position, 0 when unknown */
	unsigned field;	    /* field position, 0 when unknown */
};

/*
 * A parsed message. The caller owns it (stack or heap), initialises it once
 * with hl7_msg_init(), parses any number of messages into it and releases it
 * with hl7_msg_free().
 */
struct hl7_msg {
	const char *buf;
	size_t len;
	struct hl7_delims d;
	struct hl7_seg *segs;
	uint32_t nsegs, segs_cap;
	struct hl7_span *fields;
	uint32_t nfields, fields_cap;
	enum hl7_charset charset;
	char charset_name[32]; /* iconv name for HL7_CS_ICONV */
	bool any_esc;	       /* the escape character occurs in the message */
	bool any_rep;	       /* the repetition separator occurs after MSH-2 */
	bool any_high;	       /* bytes >= 0x80 occur and need conversion */
	struct arena arena;    /* decoded text of this message */
	void *iconv_cd;	       /* cached iconv descriptor, owned */
	char iconv_name[32];
	struct hl7_error err;
};

/* A byte that may serve as a delimiter: printable punctuation only. */
static inline bool
hl7_is_delim(char c)
{
	unsigned char u = (unsigned char)c;

	return u > 0x20 && u < 0x7f &&
	    !((u >= '0' && u <= '9') || (u >= 'A' && u <= 'Z') ||
		(u >= 'a' && u <= 'z'));
}

/* Options that apply to every message parsed into an hl7_msg. */
struct hl7_parse_opts {
	const char *
	    default_charset; /* MSH-18 value assumed when empty; NULL = ASCII */
};

/* Prepare m for use; never fails. */
void hl7_msg_init(struct hl7_msg *m);
/* Release everything m holds. */
void hl7_msg_free(struct hl7_msg *m);

/*
 * Index buf[0..len) as an HL7 v2 message. Segment terminators may be CR, LF
 * or CRLF. Returns 0, or -1 with m->err filled (code, reason, offset).
 */
LW_MUSTCHECK int hl7_parse(struct hl7_msg *m, const char *buf, size_t len,
    const struct hl7_parse_opts *opts);

/* Index of the first segment named id at or after from, or -1. */
int hl7_find_seg(const struct hl7_msg *m, const char *id, uint32_t from);

/* Field n of segment seg (MSH-1 is the field separator); empty if absent. */
struct hl7_span hl7_field(const struct hl7_msg *m, uint32_t seg, unsigned n);
/*
 * Fields 0..n-1 of segment seg, first repetition each, into out[] (absent
 * ones empty): one call where a reader wants most fields of a segment.
 */
void hl7_seg_fields(const struct hl7_msg *m, uint32_t seg, struct hl7_span *out,
    unsigned n);
/* Number of repetitions in a field (0 for an empty field). */
unsigned hl7_rep_count(const struct hl7_msg *m, struct hl7_span field);
/* Repetition r (1-based) of a field; empty if absent. */
struct hl7_span hl7_rep(const struct hl7_msg *m, struct hl7_span field,
    unsigned r);
/* Component c (1-based) of a repetition; empty if absent. */
struct hl7_span hl7_comp(const struct hl7_msg *m, struct hl7_span rep,
    unsigned c);
/*
 * Split a span at delimiter c into at most max pieces (the last piece holds
 * the rest); returns how many were stored. One pass for reading several
 * components of one field.
 */
unsigned hl7_split_span(const struct hl7_msg *m, struct hl7_span s, char c,
    struct hl7_span *out, unsigned max);
/* Subcomponent s (1-based) of a component; empty if absent. */
struct hl7_span hl7_sub(const struct hl7_msg *m, struct hl7_span comp,
    unsigned s);
/*
 * SEG-field[rep].comp.sub by position, as in "PID-3(2).1": rep, comp and
 * sub are 1-based, 0 meaning "the whole" level. Empty if absent.
 */
struct hl7_span hl7_get(const struct hl7_msg *m, uint32_t seg, unsigned field,
    unsigned rep, unsigned comp, unsigned sub);

/* Raw bytes of a span (escapes not decoded), not NUL-terminated. */
static inline struct hl7_str
hl7_raw(const struct hl7_msg *m, struct hl7_span s)
{
	struct hl7_str r = { m->buf + s.off, s.len };
	return r;
}

/* True when the span's raw bytes equal the NUL-terminated s. */
bool hl7_span_eq(const struct hl7_msg *m, struct hl7_span sp, const char *s);

/*
 * Offset of the first byte c in the message at or after i and before end,
 * or end. 16 bytes a compare (SSE2) while they lie inside the message:
 * cheaper than a memchr call on the short pieces of a field.
 */
static inline uint32_t
hl7_find_byte(const struct hl7_msg *m, uint32_t i, uint32_t end, char c)
{
#ifdef __SSE2__
	const __m128i vc = _mm_set1_epi8(c);
	unsigned mask;

	for (; i < end && (size_t)i + 16 <= m->len; i += 16) {
		mask = (unsigned)_mm_movemask_epi8(
		    _mm_cmpeq_epi8(_mm_loadu_si128(
				       (const __m128i *)(const void *)(m->buf +
					   i)),
			vc));
		if (mask != 0) {
			i += (uint32_t)__builtin_ctz(mask);
			return i < end ? i : end;
		}
	}
	if (i >= end)
		return end;
#endif
	while (i < end && m->buf[i] != c)
		i++;
	return i;
}

/* The first component of a span (inline: fields are read this way most). */
static inline struct hl7_span
hl7_comp1(const struct hl7_msg *m, struct hl7_span s)
{
	s.len = hl7_find_byte(m, s.off, s.off + s.len, m->d.comp) - s.off;
	return s;
}

#endif
