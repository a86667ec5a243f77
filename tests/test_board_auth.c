/*
 * test_board_auth.c: the board's password hashes verify the right
 * password only, each with its own salt; malformed hashes never verify;
 * tokens are 256 bits of hex, never twice the same.
 */
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "cli/board_auth.h"

Test(board_auth, hash_and_verify)
{
	char *h1 = board_hash("correct horse", 1000);
	char *h2 = board_hash("correct horse", 1000);

	cr_assert_not_null(h1);
	cr_expect(strncmp(h1, "pbkdf2-sha256$1000$", 19) == 0, "%s", h1);
	cr_expect(strlen(h1) == 19 + 32 + 1 + 64, "%s", h1);
	cr_expect(strcmp(h1, h2) != 0, "a salt per hash");
	cr_expect(board_hash_ok(h1, "correct horse"));
	cr_expect(board_hash_ok(h2, "correct horse"));
	cr_expect(!board_hash_ok(h1, "correct horsE"));
	cr_expect(!board_hash_ok(h1, ""));
	free(h1);
	free(h2);
}

Test(board_auth, malformed_hashes_never_verify)
{
	static const char *const bad[] = {
		"",
		"plain",
		"pbkdf2-sha256$",
		"pbkdf2-sha256$1000$00$00",
		"pbkdf2-sha256$10$00000000000000000000000000000000$"
		"0000000000000000000000000000000000000000000000000000000000000000",
		"pbkdf2-sha1$1000$00000000000000000000000000000000$"
		"0000000000000000000000000000000000000000000000000000000000000000",
		"pbkdf2-sha256$1000$0000000000000000000000000000000g$"
		"0000000000000000000000000000000000000000000000000000000000000000",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect(!board_hash_ok(bad[i], ""), "%s", bad[i]);
}

Test(board_auth, tokens)
{
	char a[BOARD_TOKEN_HEX + 1], b[BOARD_TOKEN_HEX + 1];

	cr_assert_eq(board_token(a), 0);
	cr_assert_eq(board_token(b), 0);
	cr_expect_eq(strlen(a), 64);
	cr_expect_eq(strspn(a, "0123456789abcdef"), 64);
	cr_expect(strcmp(a, b) != 0);
}

Test(board_auth, roles)
{
	cr_expect(board_role_ok("viewer"));
	cr_expect(board_role_ok("oncall"));
	cr_expect(board_role_ok("coordinator"));
	cr_expect(!board_role_ok("admin"));
	cr_expect(!board_role_ok(""));
}

/*
 * What the live streams ask at each event and heartbeat: whether a
 * session is live, without renewing it (an open /events stream must not
 * keep a session alive past its idle expiry), and never after logout.
 */
Test(board_auth, session_live_does_not_renew)
{
	static const struct board_user u = { (char *)"alice", (char *)"oncall",
		(char *)"" };
	struct board_session *s = board_session_new(&u);
	char token[BOARD_TOKEN_HEX + 1];
	time_t last;

	cr_assert_not_null(s);
	memcpy(token, s->token, sizeof(token));
	cr_expect(board_session_live(token));
	cr_expect(!board_session_live(NULL));
	cr_expect(!board_session_live("abc"));
	s->last = time(NULL) - BOARD_IDLE + 5;
	last = s->last;
	cr_expect(board_session_live(token));
	cr_expect_eq(s->last, last, "board_session_live renewed the session");
	s->last = time(NULL) - BOARD_IDLE - 1;
	cr_expect(!board_session_live(token), "an idle session is not live");
	s->last = time(NULL);
	board_session_end(s);
	cr_expect(!board_session_live(token),
	    "a session is not live after "
	    "logout");
}

/*
 * Only a person's request renews a session (board_session_find); what a
 * page does by itself (board_session_peek: its stream, a reconnection,
 * board.js's reads) does not, and finds no session once it has been idle
 * longer than board_sessions_idle's seconds, which then is ended.
 */
Test(board_auth, peek_does_not_renew_find_does)
{
	static const struct board_user u = { (char *)"alice", (char *)"oncall",
		(char *)"" };
	struct board_session *s;
	char token[BOARD_TOKEN_HEX + 1];
	time_t last;

	board_sessions_idle(60);
	s = board_session_new(&u);
	cr_assert_not_null(s);
	memcpy(token, s->token, sizeof(token));
	s->last = last = time(NULL) - 50;
	cr_expect_eq(board_session_peek(token), s);
	cr_expect_eq(s->last, last, "board_session_peek renewed the session");
	cr_expect_null(board_session_peek(NULL));
	cr_expect_null(board_session_peek("abc"));
	cr_expect_eq(board_session_find(token), s);
	cr_expect_geq(s->last, time(NULL) - 1,
	    "board_session_find did not "
	    "renew the session");
	/* Idle over the configured 60 s (BOARD_IDLE is 1800). */
	s->last = time(NULL) - 61;
	cr_expect(!board_session_live(token));
	cr_expect_null(board_session_peek(token), "an idle session was found");
	s->last = time(NULL);
	cr_expect_null(board_session_find(token),
	    "a session found idle was not ended");
	board_sessions_idle(BOARD_IDLE);
}

/*
 * The login gate counts checks under way as failures (they run on the
 * checker's threads while more logins arrive): an address with 3
 * failures and 2 checks running is BUSY, not OPEN; a check that ends
 * well frees its place, one that fails becomes a failure; 5 failures
 * are LOCKED. Before the checks left the loop, every one ended before the
 * next login was read and board_login_allowed counted failures alone.
 */
Test(board_auth, login_gate_counts_checks_under_way)
{
	const char *peer = "192.0.2.77";
	int i;

	cr_expect_eq(board_login_gate(peer), BOARD_LOGIN_OPEN);
	for (i = 0; i < 3; i++)
		board_login_failed(peer);
	cr_expect_eq(board_login_gate(peer), BOARD_LOGIN_OPEN);
	board_login_started(peer);
	cr_expect_eq(board_login_gate(peer), BOARD_LOGIN_OPEN);
	board_login_started(peer);
	cr_expect_eq(board_login_gate(peer), BOARD_LOGIN_BUSY,
	    "3 failures and 2 checks under way let a 6th password be tried");
	board_login_ended(peer, false);
	cr_expect_eq(board_login_gate(peer), BOARD_LOGIN_OPEN,
	    "a check that ended well still counted");
	board_login_ended(peer, true);
	cr_expect_eq(board_login_gate(peer), BOARD_LOGIN_OPEN);
	board_login_started(peer);
	board_login_ended(peer, true);
	cr_expect_eq(board_login_gate(peer), BOARD_LOGIN_LOCKED);
	/* An end without a start (the slot went to another peer) is no harm. */
	board_login_ended("192.0.2.78", false);
	cr_expect_eq(board_login_gate("192.0.2.78"), BOARD_LOGIN_OPEN);
	cr_expect_eq(board_login_gate("192.0.2.79"), BOARD_LOGIN_OPEN);
}
