/*
 * replay_input.c: the input paths of `labwatch replay`.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
