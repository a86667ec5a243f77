/*
 * board_auth.h: the board's users, passwords and sessions.
 *
 * The users file: one "name:role:hash" a line (# comments), mode 0600
 * (refused otherwise); roles viewer, oncall (may acknowledge and
 * resolve), coordinator; hash "pbkdf2-sha256$ITERATIONS$SALT$KEY" (hex),
 * PBKDF2-HMAC-SHA256 of OpenSSL with a per-user 16-byte random salt.
 * Sessions: 256 random bits (RAND_bytes) in a cookie, a CSRF token of as
 * many, expiry after board_sessions_idle()'s seconds (BOARD_IDLE unless
 * --idle-timeout says otherwise) without a request of the person's: a
 * page loaded, a form sent; never a live stream or a script's read.
 */
#ifndef LABWATCH_CLI_BOARD_AUTH_H
#define LABWATCH_CLI_BOARD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "lib/attr.h"

#define BOARD_ITERATIONS 600000 /* OWASP 2023 for PBKDF2-HMAC-SHA256 */
#define BOARD_IDLE 1800		/* seconds, unless board_sessions_idle() */
#define BOARD_TOKEN_HEX 64	/* 256 bits */

struct board_user {
	char *name, *role, *hash;
};

struct board_users {
	struct board_user *u;
	size_t n;
};

struct board_session {
	char token[BOARD_TOKEN_HEX + 1];
	char csrf[BOARD_TOKEN_HEX + 1];
	const struct board_user *user;
	time_t last;
};

/* Whether role is one of viewer, oncall, coordinator. */
bool board_role_ok(const char *role);
/*
 * Read the users file path into *us; -1 with the reason in why (a mode
 * other than 0600 or stricter, a malformed line: its number).
 */
LW_MUSTCHECK int board_users_load(const char *path, struct board_users *us,
    char *why, size_t cap);
void board_users_free(struct board_users *us);
/*
 * The user name with password pw, or NULL (the work done either way);
 * reads us only: safe on several threads at once (board_check.c).
 */
const struct board_user *board_login(const struct board_users *us,
    const char *name, const char *pw);
/* "pbkdf2-sha256$..." of pw with a fresh salt (malloc'ed). */
char *board_hash(const char *pw, unsigned iterations);
/* Whether pw matches hash (constant-time compare). */
bool board_hash_ok(const char *hash, const char *pw);
/* 256 random bits as hex into out (BOARD_TOKEN_HEX + 1); -1 on failure. */
LW_MUSTCHECK int board_token(char *out);
/*
 * Add or replace user name with role and the password read from stdin
 * (a line) or the terminal (no echo), in the users file path (created
 * 0600). The exit status, after saying why on stderr.
 */
int board_add_user(const char *path, const char *name, const char *role,
    bool password_stdin);

/* Sessions end after idle seconds without a person's request (>= 1). */
void board_sessions_idle(time_t idle);
/* A new session for u; NULL when the table is full of live ones. */
struct board_session *board_session_new(const struct board_user *u);
/*
 * The live session of cookie token (NULL: none), its idle time renewed:
 * for a request a person made (a page load, a form sent).
 */
struct board_session *board_session_find(const char *token);
/*
 * The live session of cookie token (NULL: none), its idle time not
 * renewed: for what a page does by itself (a live stream, its
 * reconnection, a script's read of the table), which must not keep a
 * forgotten page's session alive.
 */
struct board_session *board_session_peek(const char *token);
void board_session_end(struct board_session *s);
/*
 * Whether cookie token's session is live, its idle time not renewed (an
 * open live stream does not keep a session alive).
 */
bool board_session_live(const char *token);
/*
 * Whether peer may try a login now: at most BOARD_MAX_FAILS failures per
 * BOARD_FAIL_WINDOW seconds, checks under way counted as failures until
 * they end (so that logins sent at once from one address cannot try more
 * passwords than that while their checks run on the checker's threads).
 */
#define BOARD_MAX_FAILS 5
#define BOARD_FAIL_WINDOW 300
enum board_login_gate {
	BOARD_LOGIN_OPEN,   /* may try */
	BOARD_LOGIN_BUSY,   /* failures and checks under way reach the limit */
	BOARD_LOGIN_LOCKED, /* failures alone reach the limit */
};
enum board_login_gate board_login_gate(const char *peer);
/* Count one failure of peer (a login refused without a check). */
void board_login_failed(const char *peer);
/* A check of peer's password begins; board_login_ended when it ends. */
void board_login_started(const char *peer);
/* Peer's check ended: failed or not (a failure counts). */
void board_login_ended(const char *peer, bool failed);

#endif
