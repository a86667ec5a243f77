/*
 * buf.h: a growable byte buffer, used to build ACKs and JSON. The owner
 * embeds it, starts it zeroed (or with hl7_buf_init) and frees it once.
 */
#ifndef LABWATCH_BUF_H
#define LABWATCH_BUF_H

#include <stdarg.h>
#include <stddef.h>

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
/* Make room for n more bytes; returns where they go (commit with len += n). */
char *hl7_buf_reserve(struct hl7_buf *b, size_t n);
/* Append n bytes. */
void hl7_buf_add(struct hl7_buf *b, const void *p, size_t n);
/* Append a NUL-terminated string. */
void hl7_buf_adds(struct hl7_buf *b, const char *s);
/* Append one byte. */
void hl7_buf_addc(struct hl7_buf *b, char c);
/* Append printf-formatted text. */
void hl7_buf_printf(struct hl7_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
