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
