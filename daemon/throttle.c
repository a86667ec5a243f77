/*
 * throttle.c: per (peer, kind) log budgets in a small table.
 *
 * A linear scan: the table holds at most a few hundred entries and is
 * looked at only when a line of a throttled kind is about to be written.
 * Each kind also has one overflow entry, for peers that find the table
 * full, so a count is never lost.
 */
#include "throttle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "log.h"

#define THROTTLE_ADDR 48 /* INET6_ADDRSTRLEN and then some */
#define THROTTLE_WHAT 160

struct throttle_entry {
	bool used;
	unsigned kind;
	char addr[THROTTLE_ADDR]; /* "" in an overflow entry */
	char what[THROTTLE_WHAT];
	int64_t start;	   /* window start */
	uint64_t left_out; /* lines counted in this window */
};

struct throttle {
	unsigned window;
	unsigned nkinds;
	size_t n, max;		      /* peer entries in use, slots */
	size_t per_kind;	      /* peer entries one kind may hold */
	size_t *kind_n;		      /* peer entries of each kind */
	struct throttle_entry *e;     /* max peer entries */
	struct throttle_entry *other; /* one per kind */
};

struct throttle *
throttle_new(unsigned window_sec, size_t max_keys, size_t peers_per_kind,
    unsigned nkinds)
{
	struct throttle *t = xcalloc(1, sizeof(*t));

	t->window = window_sec > 0 ? window_sec : 1;
	t->max = max_keys;
	t->per_kind = peers_per_kind;
	t->kind_n = xcalloc(nkinds > 0 ? nkinds : 1, sizeof(*t->kind_n));
	t->nkinds = nkinds;
	t->e = xcalloc(t->max > 0 ? t->max : 1, sizeof(*t->e));
	t->other = xcalloc(nkinds > 0 ? nkinds : 1, sizeof(*t->other));
	return t;
}

void
throttle_free(struct throttle *t)
{
	if (t == NULL)
		return;
	free(t->e);
	free(t->other);
	free(t->kind_n);
	free(t);
}

static void
entry_start(struct throttle_entry *e, const char *addr, unsigned kind,
    const char *what, int64_t now)
{
	memset(e, 0, sizeof(*e));
	e->used = true;
	e->kind = kind;
	snprintf(e->addr, sizeof(e->addr), "%s", addr);
	snprintf(e->what, sizeof(e->what), "%s", what);
	e->start = now;
}

bool
throttle_pass(struct throttle *t, const char *addr, unsigned kind,
    const char *what, int64_t now)
{
	struct throttle_entry *e, *free_slot = NULL;
	size_t i;

	if (kind >= t->nkinds)
		fatalx("throttle: kind %u of %u", kind, t->nkinds);
	for (i = 0; i < t->max; i++) {
		e = &t->e[i];
		if (!e->used) {
			if (free_slot == NULL)
				free_slot = e;
		} else if (e->kind == kind && strcmp(e->addr, addr) == 0) {
			e->left_out++;
			return false;
		}
	}
	if (free_slot != NULL && t->kind_n[kind] < t->per_kind) {
		entry_start(free_slot, addr, kind, what, now);
		t->n++;
		t->kind_n[kind]++;
		return true;
	}
	e = &t->other[kind];
	if (e->used) {
		e->left_out++;
		return false;
	}
	entry_start(e, "", kind, what, now);
	return true;
}

/* One entry at now: report what it left out; false when it is to be forgotten. */
static bool
entry_sweep(struct throttle_entry *e, unsigned window, int64_t now, bool flush,
    throttle_report_fn *fn, void *arg)
{
	if (!flush && now - e->start < (int64_t)window)
		return true;
	if (e->left_out > 0)
		fn(arg, e->addr[0] ? e->addr : NULL, e->kind, e->what,
		    e->left_out, (unsigned)(now - e->start));
	if (e->left_out == 0 || flush) {
		e->used = false;
		return false;
	}
	/* Still at it: keep counting in a new window. */
	e->left_out = 0;
	e->start = now;
	return true;
}

void
throttle_sweep(struct throttle *t, int64_t now, bool flush,
    throttle_report_fn *fn, void *arg)
{
	size_t i;

	for (i = 0; i < t->max; i++)
		if (t->e[i].used &&
		    !entry_sweep(&t->e[i], t->window, now, flush, fn, arg)) {
			t->n--;
			t->kind_n[t->e[i].kind]--;
		}
	for (i = 0; i < t->nkinds; i++)
		if (t->other[i].used)
			(void)entry_sweep(&t->other[i], t->window, now, flush,
			    fn, arg);
}

size_t
throttle_size(const struct throttle *t)
{
	size_t i, n = t->n;

	for (i = 0; i < t->nkinds; i++)
		n += t->other[i].used;
	return n;
}
