/*
 * board_check.h: the board's password checks, off its event loop. A
 * check (board_login(): PBKDF2, about 0.25 s of CPU) runs on one of
 * BOARD_CHECK_THREADS worker threads; at most BOARD_CHECK_QUEUE more wait
 * for one. The loop thread hands a check over and gets its result back
 * through a callback run on the loop (woken by a pipe), so that pages,
 * live streams and other logins go on meanwhile. The workers touch only
 * the check's name and password and the users (read-only): sessions, the
 * rate limit and the HTTP request stay with the loop thread.
 */
#ifndef LABWATCH_CLI_BOARD_CHECK_H
#define LABWATCH_CLI_BOARD_CHECK_H

#include <stdbool.h>

#include "lib/attr.h"

#define BOARD_CHECK_THREADS 2
#define BOARD_CHECK_QUEUE 16 /* checks waiting for a thread */

struct event_base;
struct board_user;
struct board_users;
struct board_checks;

enum board_check_result {
	BOARD_CHECK_DONE,    /* checked: the user, or NULL (wrong) */
	BOARD_CHECK_DROPPED, /* not checked: the board stops */
};

/* Called on the loop thread once a check ends; u: the user, or NULL. */
typedef void board_check_fn(enum board_check_result r,
    const struct board_user *u, void *arg);

/*
 * The checker of us (kept by the caller, unchanged while it runs) on
 * base; NULL and *cause (malloc'ed) when a thread or the pipe could not
 * be made.
 */
LW_MUSTCHECK struct board_checks *board_checks_new(struct event_base *base,
    const struct board_users *us, char **cause);

/*
 * Check name's password pw (both copied) and call fn(arg) on the loop
 * when done; false, fn never called, when BOARD_CHECK_QUEUE checks are
 * waiting already. *running and *waiting: the checks under way and
 * waiting before this one (for the log).
 */
LW_MUSTCHECK bool board_checks_submit(struct board_checks *c, const char *name,
    const char *pw, board_check_fn *fn, void *arg, int *running, int *waiting);

/*
 * Stop the threads (each ends the check it runs) and free c: every
 * check not reported yet is reported BOARD_CHECK_DROPPED, on this thread.
 */
void board_checks_free(struct board_checks *c);

#endif
