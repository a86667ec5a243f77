/*
 * util.c: file input and buffered output shared by the subcommands.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "hl7/xmalloc.h"

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
cli_flush(struct hl7_buf *b, FILE *out, size_t min)
{
	if (b->len == 0 || b->len < min)
		return;
	fwrite(b->p, 1, b->len, out);
	hl7_buf_reset(b);
}
