/*
 * buf.h: a growable byte buffer, used to build ACKs and JSON. The owner
 * embeds it, starts it zeroed (or with hl7_buf_init) and frees it once.
 */
#ifndef LABWATCH_BUF_H
#define LABWATCH_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

struct hl7_buf {
	char *p;	/* always NUL-terminated once anything was appended */
	size_t len;
	size_t cap;
};

/* An empty buffer; no allocation until the first append. */
void hl7_buf_init(struct hl7_buf *b);
/* Release the buffer's memory. */
void hl7_buf_free(struct hl7_buf *b);
/* Forget the contents, keeping the memory. */
void hl7_buf_reset(struct hl7_buf *b);
/* hl7_buf_reserve's slow path: grow the buffer for n more bytes. */
char *hl7_buf_grow(struct hl7_buf *b, size_t n);
/* Room for n more bytes and a NUL; returns where they go (then len += n). */
inline char *hl7_buf_reserve(struct hl7_buf *b, size_t n);
/* Append n bytes. */
inline void hl7_buf_add(struct hl7_buf *b, const void *p, size_t n);
/* Append a NUL-terminated string. */
void hl7_buf_adds(struct hl7_buf *b, const char *s);
/* Append one byte. */
inline void hl7_buf_addc(struct hl7_buf *b, char c);
/* Append printf-formatted text. */
void hl7_buf_printf(struct hl7_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The appends the JSON writer makes millions of times are inline (C99
 * inline: buf.c holds the one external definition of each).
 */
inline char *
hl7_buf_reserve(struct hl7_buf *b, size_t n)
{
	if (b->cap - b->len > n)
		return b->p + b->len;
	return hl7_buf_grow(b, n);
}

inline void
hl7_buf_add(struct hl7_buf *b, const void *p, size_t n)
{
	char *d = hl7_buf_reserve(b, n);

	if (n > 0)
		memcpy(d, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

inline void
hl7_buf_addc(struct hl7_buf *b, char c)
{
	char *d = hl7_buf_reserve(b, 1);

	d[0] = c;
	d[1] = '\0';
	b->len++;
}

#endif
