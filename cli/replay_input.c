/*
 * replay_input.c: input paths and their bytes for `labwatch replay`.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "cli/replay_input.h"
#include "lib/xmalloc.h"

static void
inputs_push(struct replay_inputs *in, char *path)
{
	if (in->n == in->cap) {
		in->cap = in->cap ? in->cap * 2 : 16;
		in->path = xreallocarray(in->path, in->cap, sizeof(char *));
	}
	in->path[in->n++] = path;
}

static int
skip_dot(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static int
inputs_walk(struct replay_inputs *in, const char *dir, char **cause)
{
	struct dirent **names;
	struct stat st;
	char *path;
	int i, n, rc = 0;

	if ((n = scandir(dir, &names, skip_dot, alphasort)) < 0) {
		*cause = xasprintf("%s: %s", dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		path = xasprintf("%s/%s", dir, names[i]->d_name);
		free(names[i]);
		if (rc != 0) {
			free(path);
			continue;
		}
		if (stat(path, &st) != 0) {
			*cause = xasprintf("%s: %s", path, strerror(errno));
			free(path);
			rc = -1;
		} else if (S_ISDIR(st.st_mode)) {
			rc = inputs_walk(in, path, cause);
			free(path);
		} else
			inputs_push(in, path);
	}
	free(names);
	return rc;
}

int
replay_inputs_add(struct replay_inputs *in, char *const *args, int nargs,
    char **cause)
{
	struct stat st;
	int i;

	for (i = 0; i < nargs; i++) {
		if (strcmp(args[i], "-") == 0) {
			inputs_push(in, xstrdup("-"));
			continue;
		}
		if (stat(args[i], &st) != 0) {
			*cause = xasprintf("%s: %s", args[i], strerror(errno));
			return -1;
		}
		if (!S_ISDIR(st.st_mode))
			inputs_push(in, xstrdup(args[i]));
		else if (inputs_walk(in, args[i], cause) != 0)
			return -1;
	}
	return 0;
}

void
replay_inputs_free(struct replay_inputs *in)
{
	size_t i;

	for (i = 0; i < in->n; i++)
		free(in->path[i]);
	free(in->path);
	memset(in, 0, sizeof(*in));
}

/* Inflate every gzip member of p[0..len) into in->gunzipped. */
static int
gunzip(struct replay_input *in, const char *p, size_t len, char **cause)
{
	z_stream z;
	size_t cap = len * 4 + 4096, out = 0;
	int rc = Z_OK, ended = 0;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		*cause = xstrdup("gzip: cannot initialise zlib");
		return -1;
	}
	in->gunzipped = xmalloc(cap);
	z.next_in = (Bytef *)(uintptr_t)p;
	while (z.next_in < (const Bytef *)p + len) {
		if (out == cap) {
			cap *= 2;
			in->gunzipped = xreallocarray(in->gunzipped, cap, 1);
		}
		z.avail_in = (uInt)((const Bytef *)p + len - z.next_in >
			    UINT32_MAX ?
			UINT32_MAX :
			(const Bytef *)p + len - z.next_in);
		z.next_out = (Bytef *)in->gunzipped + out;
		z.avail_out = (uInt)(cap - out > UINT32_MAX ? UINT32_MAX :
							      cap - out);
		rc = inflate(&z, Z_NO_FLUSH);
		out = (size_t)((char *)z.next_out - in->gunzipped);
		ended = rc == Z_STREAM_END;
		if (ended)
			rc = inflateReset(&z); /* another member may follow */
		else if (rc != Z_OK && !(rc == Z_BUF_ERROR && out == cap))
			break;
	}
	if (rc != Z_OK || !ended) {
		*cause = xasprintf("gzip: %s",
		    rc != Z_OK && z.msg != NULL ? z.msg : "truncated data");
		inflateEnd(&z);
		return -1;
	}
	inflateEnd(&z);
	in->p = in->gunzipped;
	in->len = out;
	return 0;
}

/*
 * KNOWN DEFECT (not yet filed): an input is read whole, mapped or
 * gunzipped into memory, before its first message is sent, so a 10 GB
 * archive needs 10 GB of memory (more, gzipped: the inflated copy grows
 * by doubling). It should be streamed: split and send from a bounded
 * window, zlib's inflate fed chunk by chunk.
 */
int
replay_input_open(const char *path, struct replay_input *in, char **cause)
{
	memset(in, 0, sizeof(*in));
	if (cli_input_open(path, &in->raw) != 0) {
		*cause = xstrdup(strerror(errno));
		return -1;
	}
	in->p = in->raw.p;
	in->len = in->raw.len;
	if (in->len >= 2 && (unsigned char)in->p[0] == 0x1f &&
	    (unsigned char)in->p[1] == 0x8b &&
	    gunzip(in, in->raw.p, in->raw.len, cause) != 0) {
		replay_input_close(in);
		return -1;
	}
	return 0;
}

void
replay_input_close(struct replay_input *in)
{
	cli_input_close(&in->raw);
	free(in->gunzipped);
	memset(in, 0, sizeof(*in));
}
