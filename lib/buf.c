#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

void
hl7_buf_init(struct hl7_buf *b)
{
	b->p = NULL;
	b->len = b->cap = 0;
}

void
hl7_buf_free(struct hl7_buf *b)
{
	free(b->p);
	hl7_buf_init(b);
}

void
hl7_buf_reset(struct hl7_buf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

char *
hl7_buf_grow(struct hl7_buf *b, size_t n)
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

extern inline char *hl7_buf_reserve(struct hl7_buf *b, size_t n);
extern inline void hl7_buf_add(struct hl7_buf *b, const void *p, size_t n);
extern inline void hl7_buf_addc(struct hl7_buf *b, char c);

void
hl7_buf_adds(struct hl7_buf *b, const char *s)
{
	hl7_buf_add(b, s, strlen(s));
}

void
hl7_buf_printf(struct hl7_buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	/* Most output is short: format once on the stack, copy it. */
	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		hl7_buf_add(b, tmp, (size_t)n);
		return;
	}
	hl7_buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}
