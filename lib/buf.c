#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

void
buf_init(struct buf *b)
{
	b->p = NULL;
	b->len = b->cap = 0;
}

void
buf_free(struct buf *b)
{
	free(b->p);
	buf_init(b);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

char *
buf_grow(struct buf *b, size_t n)
{
	size_t need = b->len + n + 1;

	if (need > b->cap) {
		b->cap = b->cap ? b->cap : 256;
		while (b->cap < need)
			b->cap *= 2;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	return b->p + b->len;
}

extern inline char *buf_reserve(struct buf *b, size_t n);
extern inline void buf_add(struct buf *b, const void *p, size_t n);
extern inline void buf_addc(struct buf *b, char c);

void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	char tmp[128];
	va_list aq;
	int n;

	/* Most output is short: format once on the stack, copy it. */
	va_copy(aq, ap);
	n = vsnprintf(tmp, sizeof(tmp), fmt, aq);
	va_end(aq);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		buf_add(b, tmp, (size_t)n);
		return;
	}
	buf_reserve(b, (size_t)n);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}
