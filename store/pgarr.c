/*
 * pgarr.c: binary one-dimensional arrays for libpq parameters.
 *
 * Layout (PostgreSQL's array_recv), every integer big-endian:
 *   int32 ndim (1), int32 flags (1 if any NULL), int32 element OID,
 *   int32 dimension size, int32 lower bound (1),
 *   then per element int32 length (-1 for NULL) and its bytes in the
 *   element type's binary form (int8/int4: two's complement, float8:
 *   IEEE 754, bool: one byte 0 or 1, text/bytea: the bytes).
 * An array without elements is sent as ndim 0 (12 bytes).
 */
#include "pgarr.h"

#include <math.h>
#include <string.h>

#define HEADER 20

static void
put32(char *d, uint32_t v)
{
	d[0] = (char)(v >> 24);
	d[1] = (char)(v >> 16);
	d[2] = (char)(v >> 8);
	d[3] = (char)v;
}

static void
put64(char *d, uint64_t v)
{
	put32(d, (uint32_t)(v >> 32));
	put32(d + 4, (uint32_t)v);
}

void
pgarr_init(struct pgarr *a, uint32_t oid)
{
	buf_init(&a->b);
	a->oid = oid;
	a->n = 0;
	a->hasnull = 0;
}

void
pgarr_free(struct pgarr *a)
{
	buf_free(&a->b);
}

void
pgarr_reset(struct pgarr *a)
{
	buf_reset(&a->b);
	a->n = 0;
	a->hasnull = 0;
}

char *
pgarr_reserve(struct pgarr *a, size_t max)
{
	if (a->b.len == 0) {
		buf_reserve(&a->b, HEADER);
		a->b.len = HEADER;
	}
	return buf_reserve(&a->b, 4 + max) + 4;
}

void
pgarr_commit(struct pgarr *a, size_t len)
{
	put32(a->b.p + a->b.len, (uint32_t)len);
	a->b.len += 4 + len;
	a->n++;
}

void
pgarr_null(struct pgarr *a)
{
	pgarr_reserve(a, 0);
	put32(a->b.p + a->b.len, UINT32_MAX); /* -1 */
	a->b.len += 4;
	a->n++;
	a->hasnull = 1;
}

void
pgarr_bytes(struct pgarr *a, const void *p, size_t len)
{
	char *d = pgarr_reserve(a, len);

	if (len > 0)
		memcpy(d, p, len);
	pgarr_commit(a, len);
}

void
pgarr_bool(struct pgarr *a, bool v)
{
	*pgarr_reserve(a, 1) = v ? 1 : 0;
	pgarr_commit(a, 1);
}

void
pgarr_int8(struct pgarr *a, int64_t v)
{
	put64(pgarr_reserve(a, 8), (uint64_t)v);
	pgarr_commit(a, 8);
}

void
pgarr_int4(struct pgarr *a, int32_t v)
{
	put32(pgarr_reserve(a, 4), (uint32_t)v);
	pgarr_commit(a, 4);
}

void
pgarr_float8(struct pgarr *a, double v)
{
	uint64_t bits;

	if (!isfinite(v)) {
		pgarr_null(a);
		return;
	}
	memcpy(&bits, &v, sizeof(bits));
	put64(pgarr_reserve(a, 8), bits);
	pgarr_commit(a, 8);
}

const char *
pgarr_finish(struct pgarr *a, int *len)
{
	char *h;

	if (a->n == 0) {
		buf_reset(&a->b);
		h = buf_reserve(&a->b, 12);
		put32(h, 0);
		put32(h + 4, 0);
		put32(h + 8, a->oid);
		*len = 12;
		return h;
	}
	h = a->b.p;
	put32(h, 1);
	put32(h + 4, (uint32_t)a->hasnull);
	put32(h + 8, a->oid);
	put32(h + 12, a->n);
	put32(h + 16, 1);
	*len = (int)a->b.len;
	return h;
}
