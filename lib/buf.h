/*
 * buf.h: a growable byte buffer, used to build ACKs and JSON. The owner
 * embeds it, starts it zeroed (or with buf_init) and frees it once.
 */
#ifndef LABWATCH_BUF_H
#define LABWATCH_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

struct buf {
	char *p; /* always NUL-terminated once anything was appended */
	size_t len;
	size_t cap;
};

/* An empty buffer; no allocation until the first append. */
void buf_init(struct buf *b);
/* Release the buffer's memory. */
void buf_free(struct buf *b);
/* Forget the contents, keeping the memory. */
void buf_reset(struct buf *b);
/* buf_reserve's slow path: grow the buffer for n more bytes. */
char *buf_grow(struct buf *b, size_t n);
/* Room for n more bytes and a NUL; returns where they go (then len += n). */
inline char *buf_reserve(struct buf *b, size_t n);
/* Append n bytes. */
inline void buf_add(struct buf *b, const void *p, size_t n);
/* Append a NUL-terminated string. */
void buf_adds(struct buf *b, const char *s);
/* Append one byte. */
inline void buf_addc(struct buf *b, char c);
/* Append printf-formatted text. */
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The same with a va_list. */
void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/*
 * The appends the JSON writer makes millions of times are inline (C99
 * inline: buf.c holds the one external definition of each).
 */
inline char *
buf_reserve(struct buf *b, size_t n)
{
	if (b->cap - b->len > n)
		return b->p + b->len;
	return buf_grow(b, n);
}

inline void
buf_add(struct buf *b, const void *p, size_t n)
{
	char *d = buf_reserve(b, n);

	if (n > 0)
		memcpy(d, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

inline void
buf_addc(struct buf *b, char c)
{
	char *d = buf_reserve(b, 1);

	d[0] = c;
	d[1] = '\0';
	b->len++;
}

#endif
