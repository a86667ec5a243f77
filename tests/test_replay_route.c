/*
 * test_replay_route.c: which connection `labwatch replay` puts a message
 * on (cli/replay_route.c), without sockets: a patient with messages
 * outstanding stays on their connection, whatever its load; a patient
 * with none goes to the least loaded; ties are taken in turn from the
 * connection after the last one a patient was bound to.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "cli/replay_route.h"

/*
 * 's': a message of patient queued, expected on conn; 'a': the oldest
 * outstanding message of patient answered.
 */
struct step {
	char op;
	const char *patient;
	int conn;
};

#define END \
	{ \
		0, NULL, 0 \
	}

static const struct {
	const char *name;
	int nconn;
	struct step steps[16];
} cases[] = {
	{ "outstanding messages keep a patient on its connection", 3,
	    { { 's', "A", 0 }, { 's', "B", 1 }, { 's', "A", 0 },
		{ 's', "A", 0 }, { 's', "C", 2 }, { 's', "A", 0 },
		{ 's', "B", 1 }, END } },
	{ "none outstanding: the least loaded", 3,
	    { { 's', "A", 0 }, { 's', "A", 0 }, { 's', "A", 0 },
		{ 's', "B", 1 }, { 's', "C", 2 }, { 's', "D", 1 },
		{ 'a', "A", 0 }, { 'a', "A", 0 }, { 'a', "A", 0 },
		{ 's', "A", 0 }, END } },
	{ "ties taken in turn", 3,
	    { { 's', "A", 0 }, { 'a', "A", 0 }, { 's', "B", 1 },
		{ 'a', "B", 0 }, { 's', "C", 2 }, { 'a', "C", 0 },
		{ 's', "D", 0 }, END } },
	{ "a patient stays while outstanding, moves once answered", 2,
	    { { 's', "A", 0 }, { 's', "B", 1 }, { 's', "B", 1 },
		{ 'a', "A", 0 }, { 's', "B", 1 }, { 'a', "B", 0 },
		{ 'a', "B", 0 }, { 'a', "B", 0 }, { 's', "B", 0 }, END } },
	{ "one connection", 1,
	    { { 's', "A", 0 }, { 's', "B", 0 }, { 'a', "A", 0 },
		{ 's', "A", 0 }, END } },
	{ "an identifier is compared whole (MRN1 is not MRN10)", 2,
	    { { 's', "MRN1", 0 }, { 's', "MRN10", 1 }, { 's', "MRN1", 0 },
		{ 's', "MRN10", 1 }, END } },
};

/* The test's own record of a patient: its binding, its messages. */
struct seen {
	const char *patient;
	struct replay_binding *b;
	int outstanding;
};

static struct seen *
seen_of(struct seen *s, size_t *n, const char *patient)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp(s[i].patient, patient) == 0)
			return &s[i];
	memset(&s[*n], 0, sizeof(s[*n]));
	s[*n].patient = patient;
	return &s[(*n)++];
}

Test(replay_route, decisions)
{
	struct replay_route rt;
	struct replay_binding *b;
	struct seen seen[16], *p;
	const struct step *st;
	size_t i, k, nseen;
	int conn, load;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		replay_route_init(&rt, cases[i].nconn);
		nseen = 0;
		for (k = 0; (st = &cases[i].steps[k])->op != 0; k++) {
			p = seen_of(seen, &nseen, st->patient);
			if (st->op == 'a') {
				cr_assert(p->outstanding > 0, "%s: step %zu",
				    cases[i].name, k);
				replay_route_done(&rt, p->b);
				if (--p->outstanding == 0)
					p->b = NULL;
				continue;
			}
			conn = replay_route_pick(&rt, st->patient,
			    strlen(st->patient), &b);
			cr_expect_eq(b, p->b, "%s: step %zu: binding",
			    cases[i].name, k);
			cr_expect_eq(conn, st->conn,
			    "%s: step %zu: %s on %d, not %d", cases[i].name, k,
			    st->patient, conn, st->conn);
			p->b = replay_route_bind(&rt, b, conn, st->patient,
			    strlen(st->patient));
			p->outstanding++;
		}
		/* The loads are the messages outstanding on each. */
		for (conn = 0; conn < cases[i].nconn; conn++) {
			load = 0;
			for (k = 0; k < nseen; k++)
				if (seen[k].b != NULL &&
				    seen[k].b->conn == conn)
					load += seen[k].outstanding;
			cr_expect_eq(rt.load[conn], load, "%s: load of %d",
			    cases[i].name, conn);
		}
		/* Only the patients with messages outstanding are bound. */
		for (k = 0, load = 0; k < nseen; k++)
			load += seen[k].outstanding > 0;
		cr_expect_eq(rt.patients.n, (size_t)load, "%s: bound",
		    cases[i].name);
		replay_route_free(&rt);
	}
}
