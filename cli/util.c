/*
 * util.c: file input and buffered output shared by the subcommands.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "cli/input.h"
#include "hl7/dtm.h"
#include "lib/json.h"
#include "lib/xmalloc.h"

void
cli_datadir_hint(const char *cmd, const char *opt)
{
	const char *env = getenv("LABWATCH_DATADIR");

	if (env != NULL && *env != '\0')
		fprintf(stderr,
		    "labwatch %s: the default protocol is looked for "
		    "under LABWATCH_DATADIR (%s): set it to a data directory\n"
		    "  laid out as the installed %s, or give %s FILE\n",
		    cmd, env, LABWATCH_DATADIR, opt);
	else
		fprintf(stderr,
		    "labwatch %s: the default protocol is looked for "
		    "under %s (LABWATCH_DATADIR unset);\n"
		    "  from a source tree, eval \"$(./scripts/demo env)\" "
		    "first, or give %s FILE\n",
		    cmd, LABWATCH_DATADIR, opt);
}

char *
cli_protocol_file(const char *protocol)
{
	const char *env = getenv("LABWATCH_DATADIR");
	char *path, *p;

	path = xasprintf("%s/rules/protocols/%s.conf",
	    env != NULL && *env != '\0' ? env : LABWATCH_DATADIR, protocol);
	p = strrchr(path, '/') + 1;
	for (; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return path;
}

int
cli_read_file(const char *path, char **buf, size_t *len)
{
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY);
	size_t cap = 1 << 16, n = 0;
	struct stat st;
	ssize_t r;
	char *p;
	int saved;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		errno = EISDIR;
		return -1;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
		cap = (size_t)st.st_size + 1;
	p = xmalloc(cap);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			p = xreallocarray(p, cap, 1);
		}
		r = read(fd, p + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			saved = errno;
			free(p);
			if (fd != STDIN_FILENO)
				close(fd);
			errno = saved;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	*buf = p;
	*len = n;
	return 0;
}

void
cli_flush(struct buf *b, FILE *out, size_t min)
{
	if (b->len == 0 || b->len < min)
		return;
	fwrite(b->p, 1, b->len, out);
	buf_reset(b);
}

int
cli_each_message(const char *cmd, char *const *files, int nfiles,
    const struct hl7_parse_opts *popts, const struct oru_opts *oopts,
    size_t max_size, cli_message_fn *fn, void *arg)
{
	static char stdin_name[] = "-";
	char *const stdin_only[] = { stdin_name };
	struct hl7_split_item it;
	struct hl7_msg m;
	struct oru_msg o;
	struct cli_in in;
	char *cause;
	int i, rc, status = 0;
	bool ok;

	if (nfiles == 0) {
		files = stdin_only;
		nfiles = 1;
	}
	hl7_msg_init(&m);
	oru_msg_init(&o);
	for (i = 0; i < nfiles; i++) {
		if (cli_in_open(&in, files[i], max_size, &cause) != 0) {
			fprintf(stderr, "labwatch %s: %s: %s\n", cmd, files[i],
			    cause);
			free(cause);
			status = 2;
			continue;
		}
		while ((rc = cli_in_next(&in, &it, &cause)) == 1) {
			ok = !it.is_error &&
			    hl7_parse(&m, it.data, it.len, popts) == 0 &&
			    oru_extract(&o, &m, oopts) == 0;
			fn(arg, files[i], &it, &m, &o, ok);
		}
		if (rc < 0) {
			fprintf(stderr, "labwatch %s: %s: %s\n", cmd, files[i],
			    cause);
			free(cause);
			status = 2;
		}
		cli_in_close(&in);
	}
	oru_msg_free(&o);
	hl7_msg_free(&m);
	return status;
}

/* ISO 8601 (2026-11-20, 2026-11-20T07:30, ...Z or +08:00) or "now". */
int
cli_parse_at(const char *s, int tz, int64_t *out)
{
	char dtm[40];
	struct hl7_dtm t;
	size_t n = 0, i, len = strlen(s);

	if (strcmp(s, "now") == 0) {
		*out = (int64_t)time(NULL);
		return 0;
	}
	for (i = 0; i < len && n + 6 < sizeof(dtm); i++) {
		if (s[i] == '-' && n < 8)
			continue; /* date separators */
		if (s[i] == ':' || s[i] == 'T' || s[i] == ' ')
			continue;
		if (s[i] == 'Z' && i == len - 1) {
			memcpy(dtm + n, "+0000", 5);
			n += 5;
			continue;
		}
		dtm[n++] = s[i];
	}
	if (hl7_dtm_parse(dtm, n, &t) != 0)
		return -1;
	*out = hl7_dtm_epoch(&t, tz);
	return 0;
}

void
cli_json_dtm(struct json_cur *c, const struct hl7_dtm *t)
{
	/* One command, one thread: the memo is the process's. */
	static struct hl7_dtm last;
	static char json[JSON_STR_ROOM(40)];
	static size_t n;
	static bool have;
	char iso[40];
	size_t len;

	if (!have || !hl7_dtm_same(t, &last)) {
		len = hl7_dtm_iso(t, iso);
		if (len == 0) {
			memcpy(json, "null", 4);
			n = 4;
		} else
			n = (size_t)(json_put_str(json, iso, len) - json);
		last = *t;
		have = true;
	}
	json_cur_raw(c, json, n);
}
