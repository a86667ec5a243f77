/*
 * board_auth.c: users file, PBKDF2 passwords, sessions and the login
 * rate limit of the board (cli/board_auth.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cli/board_auth.h"
#include "lib/buf.h"
#include "lib/str.h"
#include "lib/xmalloc.h"

#define SALT_LEN 16
#define KEY_LEN 32
#define MAX_SESSIONS 256
#define MAX_PEERS 256

static struct board_session sessions[MAX_SESSIONS];
static time_t idle = BOARD_IDLE;
static struct {
	char peer[64];
	unsigned fails;
	unsigned checking; /* checks under way */
	time_t since;
} peers[MAX_PEERS];

bool
board_role_ok(const char *role)
{
	return strcmp(role, "viewer") == 0 || strcmp(role, "oncall") == 0 ||
	    strcmp(role, "coordinator") == 0;
}

static void
hex(char *out, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/* Hex s of exactly 2n digits into p; -1 otherwise. */
static int
unhex(const char *s, size_t len, unsigned char *p, size_t n)
{
	unsigned v;
	size_t i;

	if (len != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1 ||
		    strspn(s + 2 * i, "0123456789abcdef") < 2)
			return -1;
		p[i] = (unsigned char)v;
	}
	return 0;
}

int
board_token(char *out)
{
	unsigned char r[BOARD_TOKEN_HEX / 2];

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	hex(out, r, sizeof(r));
	return 0;
}

char *
board_hash(const char *pw, unsigned iterations)
{
	unsigned char salt[SALT_LEN], key[KEY_LEN];
	char s[2 * SALT_LEN + 1], k[2 * KEY_LEN + 1];

	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, sizeof(salt),
		(int)iterations, EVP_sha256(), sizeof(key), key) != 1)
		return NULL;
	hex(s, salt, sizeof(salt));
	hex(k, key, sizeof(key));
	return xasprintf("pbkdf2-sha256$%u$%s$%s", iterations, s, k);
}

bool
board_hash_ok(const char *hash, const char *pw)
{
	unsigned char salt[SALT_LEN], want[KEY_LEN], got[KEY_LEN];
	const char *p = hash, *d1, *d2;
	char *end;
	unsigned long it;

	if (strncmp(p, "pbkdf2-sha256$", 14) != 0)
		return false;
	p += 14;
	it = strtoul(p, &end, 10);
	if (end == p || *end != '$' || it < 1000 || it > 100000000)
		return false;
	d1 = end + 1;
	if ((d2 = strchr(d1, '$')) == NULL ||
	    unhex(d1, (size_t)(d2 - d1), salt, sizeof(salt)) != 0 ||
	    unhex(d2 + 1, strlen(d2 + 1), want, sizeof(want)) != 0)
		return false;
	if (PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, sizeof(salt), (int)it,
		EVP_sha256(), sizeof(got), got) != 1)
		return false;
	return CRYPTO_memcmp(got, want, sizeof(got)) == 0;
}

/* One "name:role:hash" line into u; -1 if it is not one. */
static int
parse_line(char *line, struct board_user *u)
{
	char *c1 = strchr(line, ':'), *c2;

	if (c1 == NULL || (c2 = strchr(c1 + 1, ':')) == NULL || c1 == line)
		return -1;
	*c1 = *c2 = '\0';
	if (!board_role_ok(c1 + 1) || strncmp(c2 + 1, "pbkdf2-sha256$", 14))
		return -1;
	u->name = xstrdup(line);
	u->role = xstrdup(c1 + 1);
	u->hash = xstrdup(c2 + 1);
	return 0;
}

int
board_users_load(const char *path, struct board_users *us, char *why,
    size_t cap)
{
	struct stat st;
	char line[1024], *s;
	FILE *f;
	int n = 0;

	memset(us, 0, sizeof(*us));
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(why, cap, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) != 0 || (st.st_mode & 077) != 0) {
		snprintf(why, cap,
		    "%s: must not be readable by group or others (chmod 600)",
		    path);
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		n++;
		s = str_trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		us->u = xreallocarray(us->u, us->n + 1, sizeof(*us->u));
		if (parse_line(s, &us->u[us->n]) != 0) {
			snprintf(why, cap,
			    "%s:%d: not name:role:pbkdf2-sha256$... (role "
			    "viewer, oncall or coordinator)",
			    path, n);
			fclose(f);
			board_users_free(us);
			return -1;
		}
		us->n++;
	}
	fclose(f);
	return 0;
}

void
board_users_free(struct board_users *us)
{
	size_t i;

	for (i = 0; i < us->n; i++) {
		free(us->u[i].name);
		free(us->u[i].role);
		free(us->u[i].hash);
	}
	free(us->u);
	memset(us, 0, sizeof(*us));
}

const struct board_user *
board_login(const struct board_users *us, const char *name, const char *pw)
{
	static const char dummy[] = "pbkdf2-sha256$600000$"
				    "00000000000000000000000000000000$"
				    "0000000000000000000000000000000000000000"
				    "000000000000000000000000";
	size_t i;

	for (i = 0; i < us->n; i++)
		if (strcmp(us->u[i].name, name) == 0)
			return board_hash_ok(us->u[i].hash, pw) ? &us->u[i] :
								  NULL;
	/* An unknown name costs the same time as a wrong password. */
	(void)board_hash_ok(dummy, pw);
	return NULL;
}

void
board_sessions_idle(time_t seconds)
{
	idle = seconds >= 1 ? seconds : 1;
}

struct board_session *
board_session_new(const struct board_user *u)
{
	time_t now = time(NULL);
	size_t i;

	for (i = 0; i < MAX_SESSIONS; i++)
		if (sessions[i].user == NULL || now - sessions[i].last > idle)
			break;
	if (i == MAX_SESSIONS || board_token(sessions[i].token) != 0 ||
	    board_token(sessions[i].csrf) != 0)
		return NULL;
	sessions[i].user = u;
	sessions[i].last = now;
	return &sessions[i];
}

/* The session of token, expired or not; NULL: none. */
static struct board_session *
session_of(const char *token)
{
	struct board_session *hit = NULL;
	size_t i;

	if (token == NULL || strlen(token) != BOARD_TOKEN_HEX)
		return NULL;
	for (i = 0; i < MAX_SESSIONS; i++)
		if (sessions[i].user != NULL &&
		    CRYPTO_memcmp(sessions[i].token, token, BOARD_TOKEN_HEX) ==
			0)
			hit = &sessions[i];
	return hit;
}

struct board_session *
board_session_peek(const char *token)
{
	struct board_session *hit = session_of(token);

	if (hit != NULL && time(NULL) - hit->last > idle) {
		board_session_end(hit);
		hit = NULL;
	}
	return hit;
}

struct board_session *
board_session_find(const char *token)
{
	struct board_session *hit = board_session_peek(token);

	if (hit != NULL)
		hit->last = time(NULL);
	return hit;
}

bool
board_session_live(const char *token)
{
	const struct board_session *s = session_of(token);

	return s != NULL && time(NULL) - s->last <= idle;
}

void
board_session_end(struct board_session *s)
{
	OPENSSL_cleanse(s, sizeof(*s));
}

/* The slot of peer (a free or the oldest one when new). */
static size_t
peer_slot(const char *peer)
{
	size_t i, old = 0;

	for (i = 0; i < MAX_PEERS; i++) {
		if (strcmp(peers[i].peer, peer) == 0)
			return i;
		if (peers[i].since < peers[old].since)
			old = i;
	}
	snprintf(peers[old].peer, sizeof(peers[old].peer), "%s", peer);
	peers[old].fails = 0;
	peers[old].checking = 0;
	peers[old].since = time(NULL);
	return old;
}

enum board_login_gate
board_login_gate(const char *peer)
{
	size_t i = peer_slot(peer);

	if (time(NULL) - peers[i].since > BOARD_FAIL_WINDOW) {
		peers[i].fails = 0;
		peers[i].since = time(NULL);
	}
	if (peers[i].fails >= BOARD_MAX_FAILS)
		return BOARD_LOGIN_LOCKED;
	if (peers[i].fails + peers[i].checking >= BOARD_MAX_FAILS)
		return BOARD_LOGIN_BUSY;
	return BOARD_LOGIN_OPEN;
}

void
board_login_failed(const char *peer)
{
	peers[peer_slot(peer)].fails++;
}

void
board_login_started(const char *peer)
{
	peers[peer_slot(peer)].checking++;
}

void
board_login_ended(const char *peer, bool failed)
{
	size_t i = peer_slot(peer);

	/* The slot may have gone to another peer meanwhile (256 of them). */
	if (peers[i].checking > 0)
		peers[i].checking--;
	if (failed)
		peers[i].fails++;
}

/* A password line from stdin, or the terminal without echo; NULL: none. */
static char *
read_password(bool from_stdin)
{
	struct termios old, quiet;
	char line[1024], *s;
	bool tty = !from_stdin && isatty(STDIN_FILENO);

	if (!from_stdin && !tty) {
		fprintf(stderr,
		    "labwatch board: no terminal for the password "
		    "(use --password-stdin)\n");
		return NULL;
	}
	if (tty) {
		fprintf(stderr, "Password: ");
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	s = fgets(line, sizeof(line), stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (s == NULL)
		return NULL;
	line[strcspn(line, "\r\n")] = '\0';
	s = line[0] != '\0' ? xstrdup(line) : NULL;
	OPENSSL_cleanse(line, sizeof(line));
	return s;
}

/* The file's lines but name's (when it exists), then the new line. */
static int
rewrite(const char *path, const char *name, const char *line)
{
	char *tmp = xasprintf("%s.tmp", path), buf[1024];
	size_t n = strlen(name);
	FILE *in, *out;
	int fd, rc = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (out = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "labwatch board: %s: %s\n", tmp,
		    strerror(errno));
		free(tmp);
		return 1;
	}
	if ((in = fopen(path, "r")) != NULL) {
		while (fgets(buf, sizeof(buf), in) != NULL)
			if (strncmp(buf, name, n) != 0 || buf[n] != ':')
				fputs(buf, out);
		fclose(in);
	}
	fprintf(out, "%s\n", line);
	if (fflush(out) != 0 || fsync(fd) != 0 || fclose(out) != 0 ||
	    rename(tmp, path) != 0) {
		fprintf(stderr, "labwatch board: %s: %s\n", path,
		    strerror(errno));
		rc = 1;
	}
	free(tmp);
	return rc;
}

int
board_add_user(const char *path, const char *name, const char *role,
    bool password_stdin)
{
	char *pw, *hash, *line;
	int rc;

	if (name[0] == '\0' || strpbrk(name, ":\n\r \t") != NULL) {
		fprintf(stderr,
		    "labwatch board: a user name has no ':' and "
		    "no blanks\n");
		return 2;
	}
	if (role == NULL || !board_role_ok(role)) {
		fprintf(stderr,
		    "labwatch board: --role is viewer, oncall or "
		    "coordinator\n");
		return 2;
	}
	if ((pw = read_password(password_stdin)) == NULL) {
		fprintf(stderr, "labwatch board: no password given\n");
		return 2;
	}
	hash = board_hash(pw, BOARD_ITERATIONS);
	OPENSSL_cleanse(pw, strlen(pw));
	free(pw);
	if (hash == NULL) {
		fprintf(stderr, "labwatch board: cannot hash the password\n");
		return 1;
	}
	line = xasprintf("%s:%s:%s", name, role, hash);
	rc = rewrite(path, name, line);
	free(line);
	free(hash);
	return rc;
}
