/*
 * test_throttle.c: the per-peer log budget (daemon/throttle.c), as scripts
 * of lines and sweeps: which lines are written, and what the summaries
 * say was left out.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "daemon/throttle.h"

enum { K_ACL, K_LIMIT, K_TLS, NKINDS };

/* One step: a line ('l'), a sweep ('s') or a flush ('f'), at time t. */
struct step {
	char op;
	char addr[16];
	unsigned kind;
	int64_t t;
	unsigned repeat;  /* 'l': this many lines (0 means 1) */
	unsigned written; /* 'l': how many of them must be written */
	char reports[96]; /* 's'/'f': "addr kind n;..." in table order */
};

struct script {
	char name[64];
	size_t max_keys;
	size_t per_kind;
	struct step steps[10];
};

static struct script scripts[] = {
	{ "200 refusals from one peer: one line, one summary", 8, 8,
	    { { 'l', "10.0.0.1", K_TLS, 0, 200, 1, "" },
		{ 's', "", 0, 9, 0, 0, "" }, /* window not over */
		{ 's', "", 0, 10, 0, 0, "10.0.0.1 2 199;" },
		{ 'l', "10.0.0.1", K_TLS, 12, 5, 0, "" }, /* still at it */
		{ 's', "", 0, 20, 0, 0, "10.0.0.1 2 5;" },
		{ 's', "", 0, 30, 0, 0, "" },		  /* quiet: forgotten */
		{ 'l', "10.0.0.1", K_TLS, 31, 2, 1, "" }, /* a new budget */
		{ 0 } } },
	{ "peers and kinds have their own budgets", 8, 8,
	    { { 'l', "10.0.0.1", K_ACL, 0, 3, 1, "" },
		{ 'l', "10.0.0.2", K_ACL, 0, 3, 1, "" },
		{ 'l', "10.0.0.1", K_LIMIT, 0, 1, 1, "" },
		{ 's', "", 0, 10, 0, 0, "10.0.0.1 0 2;10.0.0.2 0 2;" },
		{ 0 } } },
	{ "table full: new peers share one entry per kind", 2, 8,
	    { { 'l', "10.0.0.1", K_ACL, 0, 1, 1, "" },
		{ 'l', "10.0.0.2", K_ACL, 0, 1, 1, "" },
		{ 'l', "10.0.0.3", K_ACL, 0, 1, 1,
		    "" }, /* first of the others */
		{ 'l', "10.0.0.4", K_ACL, 0, 50, 0, "" },
		{ 'l', "10.0.0.5", K_LIMIT, 0, 3, 1,
		    "" }, /* another kind's others */
		{ 's', "", 0, 10, 0, 0, "* 0 50;* 1 2;" },
		{ 'l', "10.0.0.6", K_ACL, 11, 1, 1, "" }, /* slots free again */
		{ 0 } } },
	{ "a kind names so many peers, then counts the others", 8, 2,
	    { { 'l', "10.0.0.1", K_ACL, 0, 1, 1, "" },
		{ 'l', "10.0.0.2", K_ACL, 0, 1, 1, "" },
		{ 'l', "10.0.0.3", K_ACL, 0, 1, 1,
		    "" }, /* first of the others */
		{ 'l', "10.0.0.4", K_ACL, 0, 9, 0, "" },
		{ 'l', "10.0.0.4", K_LIMIT, 0, 1, 1,
		    "" }, /* another kind: room */
		{ 's', "", 0, 10, 0, 0, "* 0 9;" }, { 0 } } },
	{ "flush at exit reports what is pending at once", 8, 8,
	    { { 'l', "::1", K_LIMIT, 0, 4, 1, "" },
		{ 'f', "", 0, 1, 0, 0, "::1 1 3;" },
		{ 'l', "::1", K_LIMIT, 2, 1, 1, "" }, { 0 } } },
};

static char got[256];

static void
collect(void *arg, const char *addr, unsigned kind, const char *what,
    uint64_t n, unsigned secs)
{
	size_t len = strlen(got);

	(void)arg;
	(void)secs;
	cr_assert_str_eq(what, "refused", "the summary repeats the line");
	snprintf(got + len, sizeof(got) - len, "%s %u %llu;", addr ? addr : "*",
	    kind, (unsigned long long)n);
}

ParameterizedTestParameters(throttle, scripts)
{
	return cr_make_param_array(struct script, scripts,
	    sizeof(scripts) / sizeof(scripts[0]));
}

ParameterizedTest(struct script *sc, throttle, scripts)
{
	struct throttle *t = throttle_new(10, sc->max_keys, sc->per_kind,
	    NKINDS);
	const struct step *s;
	unsigned i, n, written;

	for (s = sc->steps; s->op != 0; s++) {
		switch (s->op) {
		case 'l':
			n = s->repeat ? s->repeat : 1;
			for (i = written = 0; i < n; i++)
				written += throttle_pass(t, s->addr, s->kind,
				    "refused", s->t);
			cr_assert_eq(written, s->written,
			    "%s: step %td: %u of %u "
			    "written, want %u",
			    sc->name, s - sc->steps, written, n, s->written);
			break;
		default:
			got[0] = '\0';
			throttle_sweep(t, s->t, s->op == 'f', collect, NULL);
			cr_assert_str_eq(got, s->reports, "%s: step %td",
			    sc->name, s - sc->steps);
			break;
		}
	}
	throttle_free(t);
}

Test(throttle, bounded)
{
	struct throttle *t = throttle_new(10, 16, 16, NKINDS);
	char addr[32];
	unsigned i, written = 0;

	for (i = 0; i < 100000; i++) {
		snprintf(addr, sizeof(addr), "10.%u.%u.%u", i >> 16,
		    (i >> 8) & 255, i & 255);
		written += throttle_pass(t, addr, i % NKINDS, "refused", 0);
	}
	cr_assert_eq(written, 16 + NKINDS);
	cr_assert_eq(throttle_size(t), 16 + NKINDS);
	throttle_free(t);
}
