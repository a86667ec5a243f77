/*
 * hl7_testutil.h: what the hl7 parser's three suites (test_hl7.c,
 * test_hl7_text.c, test_hl7_dtm.c) share: literals, a byte-exact string
 * assertion, a parse that must succeed, a buffer built from pieces.
 * Header-only (static inline), like testutil.h.
 */
#ifndef LABWATCH_HL7_TESTUTIL_H
#define LABWATCH_HL7_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "hl7/hl7.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
/* A string literal as (pointer, length), so embedded NULs count. */
#define LIT(s) (s), (sizeof(s) - 1)

/* A header good enough for every parse-level test (ORU^R01, v2.5.1). */
#define MSH_STD \
	"MSH|^~\\&|LIS|MAINLAB|LABWATCH|ONC|20261120073500||ORU^R01^ORU_R01|C0001|P|2.5.1"

/* Printable rendering of bytes for failure messages (CR as \r, 0xF6 as \xf6). */
static inline const char *
show(const void *vp, size_t n, char *out, size_t cap)
{
	const unsigned char *p = vp;
	size_t i, o = 0;

	for (i = 0; i < n && o + 8 < cap; i++) {
		if (p[i] == '\r')
			o += (size_t)snprintf(out + o, cap - o, "\\r");
		else if (p[i] == '\n')
			o += (size_t)snprintf(out + o, cap - o, "\\n");
		else if (p[i] < 0x20 || p[i] >= 0x7f)
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x",
			    p[i]);
		else
			out[o++] = (char)p[i];
	}
	if (i < n)
		o += (size_t)snprintf(out + o, cap - o, "...(%zu bytes)", n);
	out[o] = '\0';
	return out;
}

/* Assert that s holds exactly want[0..wlen). */
static inline void
expect_str(struct hl7_str s, const char *want, size_t wlen, const char *what)
{
	char g[256], w[256];

	cr_expect(s.len == wlen && (wlen == 0 || memcmp(s.p, want, wlen) == 0),
	    "%s: got \"%s\", want \"%s\"", what, show(s.p, s.len, g, sizeof(g)),
	    show(want, wlen, w, sizeof(w)));
}

static inline void
expect_span(const struct hl7_msg *m, struct hl7_span sp, const char *want,
    const char *what)
{
	expect_str(hl7_raw(m, sp), want, strlen(want), what);
}

static inline void
parse_ok(struct hl7_msg *m, const char *buf, size_t len,
    const struct hl7_parse_opts *opts)
{
	char b[256];
	int rc = hl7_parse(m, buf, len, opts);

	cr_assert_eq(rc, 0, "parse of \"%s\" failed: %s at %zu",
	    show(buf, len, b, sizeof(b)), m->err.reason ? m->err.reason : "?",
	    m->err.offset);
}

/* A buffer assembled from pieces, for the large inputs. */
struct big {
	char *p;
	size_t len, cap;
};

static inline void
big_add(struct big *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		cr_assert_not_null(b->p);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static inline void
big_adds(struct big *b, const char *s)
{
	big_add(b, s, strlen(s));
}

static inline void
big_fill(struct big *b, char c, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		cr_assert_not_null(b->p);
	}
	memset(b->p + b->len, c, n);
	b->len += n;
}

#endif
