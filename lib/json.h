/*
 * json.h: the small JSON writer behind the CLI's JSON-lines output. Strings
 * come out as valid UTF-8 whatever went in (invalid bytes become U+FFFD),
 * so one bad byte from a sender never breaks a consumer's JSON parser.
 */
#ifndef LABWATCH_JSON_H
#define LABWATCH_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"

/* Append p[0..len) as a quoted, escaped JSON string. */
void json_str(struct buf *b, const char *p, size_t len);
/* Append a quoted JSON string, or null when s is NULL. */
void json_strz(struct buf *b, const char *s);
/* Append a quoted string, or null when len is 0. */
inline void json_str_or_null(struct buf *b, const char *p, size_t len);
/* Append a number (shortest form that reads back the same), null if not finite. */
void json_num(struct buf *b, double v);
/*
 * True when p[0..len) is a decimal that json_num writes byte for byte for
 * the double nearest to it (-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?, at most 15
 * significant digits, not -0, not below 0.0001 unless 0): a caller that
 * has the text a number was read from may copy it instead.
 */
bool json_num_text_is_shortest(const char *p, size_t len);
/*
 * Append a computed number rounded to 12 significant digits (a converted
 * 0.2 mg/dL is 3.42 umol/L, not 3.4200000000000004), null if not finite.
 */
void json_num_rounded(struct buf *b, double v);
/* Append an integer. */
void json_int(struct buf *b, int64_t v);
/* Append an unsigned integer. */
void json_uint(struct buf *b, uint64_t v);
/* Append "key": (with a leading comma unless first). */
inline void json_key(struct buf *b, const char *key, bool first);

/*
 * The same writers at a cursor o with room checked by the caller: each
 * writes at most the bytes its JSON_*_ROOM says and returns the end.
 */
#define JSON_STR_CHUNK 65536 /* json_put_str's longest input */
#define JSON_STR_ROOM(len) (6 * (len) + 2)
/* A number is at most 25 bytes; its writers store whole words (json.c). */
#define JSON_NUM_ROOM 40
/* p[0..len), len <= JSON_STR_CHUNK, quoted and escaped as json_str does. */
char *json_put_str(char *o, const char *p, size_t len);
/* v as json_num writes it (JSON_NUM_ROOM). */
char *json_put_num(char *o, double v);
/* v as json_num_rounded writes it (JSON_NUM_ROOM). */
char *json_put_num_rounded(char *o, double v);
/* v as json_int writes it (JSON_NUM_ROOM). */
char *json_put_int(char *o, int64_t v);
/* v as json_uint writes it (JSON_NUM_ROOM). */
char *json_put_uint(char *o, uint64_t v);

/*
 * A cursor over a buf's free room, for the objects written millions of
 * times (the JSON lines of parse and check): o and lim live in registers
 * while the writes go on, where every buf_add loads and stores b->len.
 * Owned by the caller's frame: json_cur_start, writes, json_cur_end;
 * nothing else may touch b in between. Inline, so that a literal key's
 * length is known when compiled.
 */
struct json_cur {
	struct buf *b;
	char *o;    /* the next byte */
	char *lim;  /* the end of the room (b's NUL stays after it) */
	char *resv; /* the end of the last json_cur_reserve() */
};

/* A cursor at the end of b. */
static inline __attribute__((always_inline)) void
json_cur_start(struct json_cur *c, struct buf *b)
{
	c->b = b;
	c->o = buf_reserve(b, 4096);
	c->lim = b->p + b->cap - 1;
	c->resv = c->o;
}

/* Commit what the cursor wrote to b (then NUL-terminated). */
static inline __attribute__((always_inline)) void
json_cur_end(struct json_cur *c)
{
	*c->o = '\0';
	c->b->len = (size_t)(c->o - c->b->p);
}

/* Room for n more bytes at c->o. */
static inline __attribute__((always_inline)) void
json_cur_need(struct json_cur *c, size_t n)
{
	if ((size_t)(c->lim - c->o) >= n)
		return;
	json_cur_end(c);
	c->o = buf_reserve(c->b, n > 65536 ? n : 65536);
	c->lim = c->b->p + c->b->cap - 1;
	c->resv = c->o; /* a reservation never grows: none left */
}

/*
 * Reservations, for an object whose size is bounded before it is written
 * (an observation line): json_cur_reserve(c, n) makes room for n bytes at
 * once, then the _unchecked appends write without looking at the room,
 * each at most the bytes its JSON_*_ROOM or json_str_resv() says; the
 * caller's n covers their sum, and that of any checked append made in
 * between (it then finds its room and moves nothing). In builds with JSON_ROOM_CHECKS (defined for the
 * AddressSanitizer builds: --enable-sanitizers, the fuzzers) every
 * unchecked append is checked against the reservation and one that would
 * overrun it aborts with a message: a wrong sum is a bug, found by the
 * tests there, never an overflow here.
 */
#ifndef JSON_ROOM_CHECKS
#if defined(__SANITIZE_ADDRESS__)
#define JSON_ROOM_CHECKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JSON_ROOM_CHECKS 1
#endif
#endif
#endif

/* Abort: an unchecked append of n bytes would pass its reservation. */
__attribute__((noreturn)) void json_room_overrun(size_t n);

/* Room for n bytes at c->o, to be used by the _unchecked appends. */
static inline __attribute__((always_inline)) void
json_cur_reserve(struct json_cur *c, size_t n)
{
	json_cur_need(c, n);
	c->resv = c->o + n;
}

/* In JSON_ROOM_CHECKS builds: abort unless n bytes are reserved at c->o. */
static inline __attribute__((always_inline)) void
json_cur_assert_room(const struct json_cur *c, size_t n)
{
#ifdef JSON_ROOM_CHECKS
	if (c->o > c->resv || (size_t)(c->resv - c->o) < n)
		json_room_overrun(n);
#else
	(void)c;
	(void)n;
#endif
}

/*
 * The room json_cur_str_or_null_unchecked() needs for len bytes: the
 * escaped worst case, "null", or (a field over a chunk, written through
 * the buf, which grows) nothing.
 */
static inline __attribute__((always_inline)) size_t
json_str_resv(size_t len)
{
	return len <= JSON_STR_CHUNK ? JSON_STR_ROOM(len) + 2 : 0;
}

/* json_cur_raw in reserved room. */
static inline __attribute__((always_inline)) void
json_cur_raw_unchecked(struct json_cur *c, const char *s, size_t n)
{
	json_cur_assert_room(c, n);
	memcpy(c->o, s, n);
	c->o += n;
}

/* json_cur_lit in reserved room. */
#define json_cur_lit_unchecked(c, s) json_cur_raw_unchecked(c, s, sizeof(s) - 1)

/*
 * json_cur_str_or_null in reserved room (json_str_resv(len)). A field
 * over a chunk goes through the buf, and what is left of the reservation
 * is made again after it.
 */
static inline __attribute__((always_inline)) void
json_cur_str_or_null_unchecked(struct json_cur *c, const char *p, size_t len)
{
	size_t rest;

	if (len == 0)
		json_cur_lit_unchecked(c, "null");
	else if (len <= JSON_STR_CHUNK) {
		json_cur_assert_room(c, JSON_STR_ROOM(len));
		c->o = json_put_str(c->o, p, len);
	} else {
		rest = c->o < c->resv ? (size_t)(c->resv - c->o) : 0;
		json_cur_end(c);
		json_str(c->b, p, len);
		json_cur_start(c, c->b);
		json_cur_reserve(c, rest);
	}
}

/*
 * json_cur_strz in reserved room (json_str_resv(len)), len being s's
 * strlen (measured once, for the reservation and here); null for NULL.
 */
static inline __attribute__((always_inline)) void
json_cur_strz_unchecked(struct json_cur *c, const char *s, size_t len)
{
	if (s == NULL)
		json_cur_lit_unchecked(c, "null");
	else if (len == 0)
		json_cur_lit_unchecked(c, "\"\"");
	else
		json_cur_str_or_null_unchecked(c, s, len);
}

/* json_cur_num in reserved room (JSON_NUM_ROOM). */
static inline __attribute__((always_inline)) void
json_cur_num_unchecked(struct json_cur *c, double v)
{
	json_cur_assert_room(c, JSON_NUM_ROOM);
	c->o = json_put_num(c->o, v);
}

/*
 * v, read from text[0..len) (the sender's bytes): that text when
 * json_num_text_is_shortest() says json_cur_num would write it, else
 * written; in reserved room (JSON_NUM_ROOM).
 */
static inline __attribute__((always_inline)) void
json_cur_num_text_unchecked(struct json_cur *c, double v, const char *text,
    size_t len)
{
	if (json_num_text_is_shortest(text, len))
		json_cur_raw_unchecked(c, text, len);
	else
		json_cur_num_unchecked(c, v);
}

/* json_cur_num_rounded in reserved room (JSON_NUM_ROOM). */
static inline __attribute__((always_inline)) void
json_cur_num_rounded_unchecked(struct json_cur *c, double v)
{
	json_cur_assert_room(c, JSON_NUM_ROOM);
	c->o = json_put_num_rounded(c->o, v);
}

/*
 * The text of the last number json_cur_num_rounded_memo() wrote through
 * it: a field whose value repeats (a range's limits, line after line)
 * is rounded once. Zeroed means empty.
 */
struct json_num_memo {
	uint64_t bits; /* v's bytes */
	bool used;
	uint8_t len;
	char text[JSON_NUM_ROOM];
};

/* json_cur_num_rounded_unchecked, from memo when v is its last number. */
static inline __attribute__((always_inline)) void
json_cur_num_rounded_memo_unchecked(struct json_cur *c, struct json_num_memo *m,
    double v)
{
	uint64_t bits;

	memcpy(&bits, &v, sizeof bits);
	json_cur_assert_room(c, JSON_NUM_ROOM);
	if (!m->used || m->bits != bits) {
		m->len = (uint8_t)(json_put_num_rounded(m->text, v) - m->text);
		m->bits = bits;
		m->used = true;
	}
	/* All of it: one fixed-size copy, inside the room asserted. */
	memcpy(c->o, m->text, JSON_NUM_ROOM);
	c->o += m->len;
}

/* json_cur_int in reserved room (JSON_NUM_ROOM). */
static inline __attribute__((always_inline)) void
json_cur_int_unchecked(struct json_cur *c, int64_t v)
{
	json_cur_assert_room(c, JSON_NUM_ROOM);
	c->o = json_put_int(c->o, v);
}

/*
 * The checked appends: each is its _unchecked twin in room json_cur_need()
 * makes, between json_cur_checked() and json_cur_checked_end(). In
 * JSON_ROOM_CHECKS builds the twin is checked against c->resv: when the
 * reservation (if any) has less than n bytes left, n are reserved for the
 * twin while it writes and the reservation is put back as it was after
 * it. A checked append never aborts, and an unchecked one after it is
 * checked as before (one made with no reservation still aborts).
 */
static inline __attribute__((always_inline)) size_t
json_cur_checked(struct json_cur *c, size_t n)
{
	size_t mark = SIZE_MAX;

	json_cur_need(c, n);
#ifdef JSON_ROOM_CHECKS
	if (c->o + n > c->resv) {
		/* an offset: a string over a chunk may move the buf */
		mark = (size_t)(c->resv - c->b->p);
		c->resv = c->o + n;
	}
#endif
	return mark;
}

/* After a checked append: the reservation json_cur_checked() found. */
static inline __attribute__((always_inline)) void
json_cur_checked_end(struct json_cur *c, size_t mark)
{
#ifdef JSON_ROOM_CHECKS
	if (mark != SIZE_MAX)
		c->resv = c->b->p + mark;
#else
	(void)c;
	(void)mark;
#endif
}

/* Append n bytes as they are. */
static inline __attribute__((always_inline)) void
json_cur_raw(struct json_cur *c, const char *s, size_t n)
{
	size_t mark = json_cur_checked(c, n);

	json_cur_raw_unchecked(c, s, n);
	json_cur_checked_end(c, mark);
}

/* Append a literal (a key with its quotes and colon, a bracket...). */
#define json_cur_lit(c, s) json_cur_raw(c, s, sizeof(s) - 1)

/* json_str_or_null at the cursor. */
static inline __attribute__((always_inline)) void
json_cur_str_or_null(struct json_cur *c, const char *p, size_t len)
{
	size_t mark = json_cur_checked(c, json_str_resv(len));

	json_cur_str_or_null_unchecked(c, p, len);
	json_cur_checked_end(c, mark);
}

/* json_strz at the cursor. */
static inline __attribute__((always_inline)) void
json_cur_strz(struct json_cur *c, const char *s)
{
	size_t len = s != NULL ? strlen(s) : 0;
	size_t mark = json_cur_checked(c, json_str_resv(len));

	json_cur_strz_unchecked(c, s, len);
	json_cur_checked_end(c, mark);
}

/* json_num at the cursor. */
static inline __attribute__((always_inline)) void
json_cur_num(struct json_cur *c, double v)
{
	size_t mark = json_cur_checked(c, JSON_NUM_ROOM);

	json_cur_num_unchecked(c, v);
	json_cur_checked_end(c, mark);
}

/* json_num_rounded at the cursor. */
static inline __attribute__((always_inline)) void
json_cur_num_rounded(struct json_cur *c, double v)
{
	size_t mark = json_cur_checked(c, JSON_NUM_ROOM);

	json_cur_num_rounded_unchecked(c, v);
	json_cur_checked_end(c, mark);
}

/* json_int at the cursor. */
static inline __attribute__((always_inline)) void
json_cur_int(struct json_cur *c, int64_t v)
{
	size_t mark = json_cur_checked(c, JSON_NUM_ROOM);

	json_cur_int_unchecked(c, v);
	json_cur_checked_end(c, mark);
}

/* json_uint at the cursor. */
static inline __attribute__((always_inline)) void
json_cur_uint(struct json_cur *c, uint64_t v)
{
	json_cur_need(c, JSON_NUM_ROOM);
	c->o = json_put_uint(c->o, v);
}

/*
 * Inline, as the CLI calls them for every field (the key's length is then
 * known when it is compiled); json.c holds their external definitions.
 */
inline void
json_str_or_null(struct buf *b, const char *p, size_t len)
{
	if (len == 0)
		buf_add(b, "null", 4);
	else
		json_str(b, p, len);
}

inline void
json_key(struct buf *b, const char *key, bool first)
{
	size_t n = strlen(key);
	char *o = buf_reserve(b, n + 4), *e = o;

	if (!first)
		*e++ = ',';
	*e++ = '"';
	memcpy(e, key, n);
	e += n;
	e[0] = '"';
	e[1] = ':';
	e[2] = '\0';
	b->len += (size_t)(e + 2 - o);
}

#endif
