/*
 * notify_db.h: labwatch notify's statements on its PostgreSQL session:
 * the session itself, the catch-up (a deliveries row for each new event a
 * target takes), escalation, claims, the alerts of the claimed events,
 * and the records of each delivery (delivered, failed, expired). Each
 * reports its own errors through notify_log(); false (or NULL) after one.
 */
#ifndef LABWATCH_CLI_NOTIFY_DB_H
#define LABWATCH_CLI_NOTIFY_DB_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "cli/notify.h"
#include "cli/notify_pool.h"
#include "lib/attr.h"

/* One claimed delivery: whose, which event, which attempt. */
struct notify_claim {
	const struct notify_target *t;
	long long event;
	int attempt;
};

/* The claim's answer: the delivery, then the event. */
enum { EV_EVENT = 2, EV_DEDUP, EV_ID, EV_AT, EV_BY, EV_NOTE, EV_ALERT };

/* Name this process (host:pid) in deliveries.claimed_by; once, at start. */
void notify_db_claimer_init(void);
/* The session, listening, with both targets registered; or NULL and *cause. */
LW_MUSTCHECK PGconn *notify_db_session(struct notify_opts *o, char **cause);
/* Escalate the critical alerts left open past o->escalate_after. */
LW_MUSTCHECK bool notify_db_escalate(PGconn *c, const struct notify_opts *o);
/* The catch-up: a deliveries row for each new event t takes. */
LW_MUSTCHECK bool notify_db_collect(PGconn *c, const struct notify_opts *o,
    struct notify_target *t);
/* Claim at most n due deliveries of t: the rows (EV_* columns), or NULL. */
LW_MUSTCHECK PGresult *notify_db_claim(PGconn *c, const struct notify_opts *o,
    const struct notify_target *t, int n);
/* The alerts of the events notify_db_claim() returned in e, or NULL. */
LW_MUSTCHECK PGresult *notify_db_read_alerts(PGconn *c, const PGresult *e);
/* Record t's finished deliveries in jobs as delivered, in one statement. */
LW_MUSTCHECK bool notify_db_record_ok(PGconn *c, const struct notify_target *t,
    struct pool_job *jobs);
/* Fail the deliveries of t whose lease ran out at their last attempt. */
LW_MUSTCHECK bool notify_db_expire(PGconn *c, const struct notify_opts *o,
    const struct notify_target *t);
/* Record a failed attempt: pending again after the backoff, or failed. */
LW_MUSTCHECK bool notify_db_record_fail(PGconn *c, const struct notify_opts *o,
    const struct notify_claim *cl, const char *err, uint64_t usec);

#endif
