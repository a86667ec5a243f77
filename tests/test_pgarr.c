/*
 * test_pgarr.c: the binary arrays labwatchd sends PostgreSQL, byte for
 * byte as array_recv reads them (src/backend/utils/adt/arrayfuncs.c):
 * header, then per element a big-endian length (-1 for NULL) and bytes.
 */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "store/pgarr.h"

#define HDR(flags, oid, n) \
	0, 0, 0, 1, 0, 0, 0, flags, 0, 0, (oid) >> 8, (oid)&0xff, 0, 0, 0, n, \
	    0, 0, 0, 1

static void
expect(struct pgarr *a, const unsigned char *want, size_t wlen)
{
	const char *got;
	int len;
	size_t i;

	got = pgarr_finish(a, &len);
	cr_assert_eq((size_t)len, wlen, "length %d, want %zu", len, wlen);
	for (i = 0; i < wlen; i++)
		cr_assert_eq((unsigned char)got[i], want[i],
		    "byte %zu: %02x, want %02x", i, (unsigned char)got[i],
		    want[i]);
}

Test(pgarr, int8_elements_big_endian)
{
	struct pgarr a;
	static const unsigned char want[] = { HDR(0, PGARR_INT8, 2), 0, 0, 0, 8,
		0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xfe };

	pgarr_init(&a, PGARR_INT8);
	pgarr_int8(&a, 258);
	pgarr_int8(&a, -2);
	expect(&a, want, sizeof(want));
	pgarr_free(&a);
}

/* boolsend: one byte, 1 for true (observations.grade_is_minimum). */
Test(pgarr, bool_one_byte)
{
	struct pgarr a;
	static const unsigned char want[] = { HDR(0, PGARR_BOOL, 2), 0, 0, 0, 1,
		1, 0, 0, 0, 1, 0 };

	pgarr_init(&a, PGARR_BOOL);
	pgarr_bool(&a, true);
	pgarr_bool(&a, false);
	expect(&a, want, sizeof(want));
	pgarr_free(&a);
}

Test(pgarr, null_sets_the_flag)
{
	struct pgarr a;
	static const unsigned char want[] = { HDR(1, PGARR_INT4, 3), 0, 0, 0, 4,
		0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 4, 0xff, 0xff,
		0xff, 0xff };

	pgarr_init(&a, PGARR_INT4);
	pgarr_int4(&a, 7);
	pgarr_null(&a);
	pgarr_int4(&a, -1);
	expect(&a, want, sizeof(want));
	pgarr_free(&a);
}

Test(pgarr, float8_ieee_and_nan_is_null)
{
	struct pgarr a;
	/* 1.5 = 0x3ff8000000000000 */
	static const unsigned char want[] = { HDR(1, 0x02bd, 3), 0, 0, 0, 8,
		0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff };

	pgarr_init(&a, PGARR_FLOAT8);
	pgarr_float8(&a, 1.5);
	pgarr_float8(&a, NAN);
	pgarr_float8(&a, INFINITY);
	expect(&a, want, sizeof(want));
	pgarr_free(&a);
}

Test(pgarr, text_and_bytea_are_their_bytes)
{
	struct pgarr a;
	static const unsigned char want[] = { HDR(0, PGARR_BYTEA, 3), 0, 0, 0,
		3, 'a', 0, 'b', 0, 0, 0, 0, 0, 0, 0, 2, 'h', 'i' };
	char *d;

	pgarr_init(&a, PGARR_BYTEA);
	pgarr_bytes(&a, "a\0b", 3);
	pgarr_bytes(&a, "", 0);
	d = pgarr_reserve(&a, 10); /* room for more than is used */
	memcpy(d, "hi", 2);
	pgarr_commit(&a, 2);
	expect(&a, want, sizeof(want));
	pgarr_free(&a);
}

Test(pgarr, empty_array_has_no_dimension)
{
	struct pgarr a;
	static const unsigned char want[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		PGARR_TEXT };

	pgarr_init(&a, PGARR_TEXT);
	expect(&a, want, sizeof(want));
	pgarr_free(&a);
}

Test(pgarr, reset_starts_over_with_the_same_type)
{
	struct pgarr a;
	static const unsigned char want[] = { HDR(0, PGARR_TEXT, 1), 0, 0, 0, 1,
		'x' };

	pgarr_init(&a, PGARR_TEXT);
	pgarr_null(&a);
	pgarr_bytes(&a, "long element", 12);
	pgarr_reset(&a);
	pgarr_bytes(&a, "x", 1);
	expect(&a, want, sizeof(want));
	pgarr_free(&a);
}
