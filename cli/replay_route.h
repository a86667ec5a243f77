/*
 * replay_route.h: which connection a message of `labwatch replay` goes
 * on. A patient with messages queued or in flight stays on their
 * connection, so its messages reach labwatchd in file order; a patient
 * with none goes to the connection with the fewest messages queued or in
 * flight, ties taken in turn. No sockets, no threads: the caller's lock
 * guards it.
 */
#ifndef LABWATCH_REPLAY_ROUTE_H
#define LABWATCH_REPLAY_ROUTE_H

#include <stddef.h>

#include "lib/hash.h"

/*
 * A patient with messages queued or in flight, and their connection; in
 * the route's table while outstanding > 0, freed when it drops to 0 (so
 * the table holds at most the messages in flight).
 */
struct replay_binding {
	int conn;
	size_t outstanding; /* its messages queued or in flight */
	size_t len;
	char key[]; /* the patient (PID-3), len bytes */
};

/* The routing of one run; owned by the run (replay.c's struct replay). */
struct replay_route {
	struct hash_table patients; /* patient -> struct replay_binding */
	int *load;		    /* per connection: messages queued or
				       in flight */
	int nconn;
	int next_pick; /* where the least-loaded search starts */
};

/* A route over nconn connections (0: none, --direct), nothing bound. */
void replay_route_init(struct replay_route *rt, int nconn);
/* Free the route and the bindings left (messages left by Ctrl-C). */
void replay_route_free(struct replay_route *rt);
/*
 * The connection a message of patient goes on: its outstanding messages'
 * or, when it has none, the least loaded; *b its binding, or NULL when
 * there is none yet. Nothing is counted until replay_route_bind().
 */
int replay_route_pick(const struct replay_route *rt, const char *patient,
    size_t plen, struct replay_binding **b);
/*
 * Count a message of patient on conn (pick()'s) and b (pick()'s, made
 * when NULL); the message's binding, for replay_route_done().
 */
struct replay_binding *replay_route_bind(struct replay_route *rt,
    struct replay_binding *b, int conn, const char *patient, size_t plen);
/* A message of b's patient was answered or given up. */
void replay_route_done(struct replay_route *rt, struct replay_binding *b);

#endif
