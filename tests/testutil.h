/*
 * testutil.h: what several Criterion suites share. Header-only (static
 * functions), so that each suite stays one source file.
 */
#ifndef LABWATCH_TESTUTIL_H
#define LABWATCH_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>

#include <criterion/criterion.h>

/* A fixture file of tests/data, NUL-terminated, malloc'ed; its length in *len. */
static inline char *
test_load(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	char *p;
	long n;

	snprintf(path, sizeof(path), "%s/%s", TEST_DATADIR, name);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	cr_assert_gt(n, 0);
	rewind(f);
	p = malloc((size_t)n + 1);
	cr_assert_not_null(p);
	cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
	p[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return p;
}

/* Printable form of bytes for failure messages; one static buffer per slot (0, 1). */
static inline const char *
test_vis(const char *p, size_t n, int slot)
{
	static char out[2][8192];
	size_t i, o = 0;

	for (i = 0; i < n && o + 5 < sizeof(out[0]); i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r')
			o += (size_t)snprintf(out[slot] + o, 5, "<CR>");
		else if (c == '\n')
			o += (size_t)snprintf(out[slot] + o, 5, "<LF>");
		else if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(out[slot] + o, 5, "<%02X>", c);
		else
			out[slot][o++] = (char)c;
	}
	out[slot][o] = '\0';
	return out[slot];
}

#ifdef LABWATCH_RULES_H
/* Makefile.am passes both; these serve a suite built by hand. */
#ifndef RULES_DATADIR
#define RULES_DATADIR "rules/data"
#endif
#ifndef RULES_TESTDATA
#define RULES_TESTDATA "tests/data/rules"
#endif

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The shipped protocol, loaded before each test of a suite that uses it. */
static struct rules *R;

static inline void
rules_setup(void)
{
	char *cause = NULL;

	if (rules_load(RULES_DATADIR "/protocols/nct04933669.conf", &R,
		&cause) < 0)
		cr_assert_fail("load: %s", cause);
}

static inline void
rules_teardown(void)
{
	rules_free(R);
	R = NULL;
}
#endif

#endif
