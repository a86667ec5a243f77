/*
 * input.c: inputs read as streams of HL7 items.
 *
 * The window holds the bytes from where the splitter still needs them
 * (the start of the item in progress) to what was read last. A refill
 * moves those bytes to the front, then reads a chunk after them; the
 * window doubles only when the item in progress fills it.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "cli/input.h"
#include "lib/xmalloc.h"

#define CHUNK (1u << 20) /* bytes read (or inflated) at a time */

int
cli_in_open(struct cli_in *in, const char *path, size_t max_size, char **cause)
{
	struct stat st;

	memset(in, 0, sizeof(*in));
	in->path = path;
	if (strcmp(path, "-") == 0)
		in->fd = STDIN_FILENO;
	else if ((in->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		*cause = xstrdup(strerror(errno));
		return -1;
	}
	if (fstat(in->fd, &st) == 0 && S_ISREG(st.st_mode)) {
		in->file_size = (uint64_t)st.st_size;
		(void)posix_fadvise(in->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	in->cap = 2 * CHUNK;
	in->buf = xmalloc(in->cap);
	in->sp = hl7_split_stream(max_size);
	return 0;
}

void
cli_in_close(struct cli_in *in)
{
	if (in->fd > STDIN_FILENO)
		close(in->fd);
	if (in->z != NULL) {
		inflateEnd(in->z);
		free(in->z);
	}
	free(in->zbuf);
	free(in->buf);
	free(in->err);
	hl7_split_free(in->sp);
	memset(in, 0, sizeof(*in));
	in->fd = -1;
}

/* read() up to n bytes into p: the count (0 at the end), or -1. */
static ssize_t
file_read(struct cli_in *in, void *p, size_t n)
{
	ssize_t r;

	while ((r = read(in->fd, p, n)) < 0 && errno == EINTR)
		;
	if (r > 0)
		in->file_read += (uint64_t)r;
	return r;
}

/* The first bytes are the gzip magic: inflate from now on (zbuf holds them). */
static void
gzip_start(struct cli_in *in, size_t have)
{
	in->z = xcalloc(1, sizeof(*in->z));
	if (inflateInit2(in->z, 16 + MAX_WBITS) != Z_OK)
		abort();	       /* only out of memory */
	in->zbuf = xmalloc(2 * CHUNK); /* the first reads: up to CHUNK + 1 */
	memcpy(in->zbuf, in->buf, have);
	in->z->next_in = in->zbuf;
	in->z->avail_in = (uInt)have;
}

/*
 * Room to fill after the window's bytes: all of it, so that an item
 * longer than the window, read again from its start after each refill,
 * is read in chunks that double with the window (linear, not quadratic).
 */
static size_t
room(const struct cli_in *in)
{
	size_t n = in->cap - in->len;

	return n < (1u << 30) ? n : (1u << 30);
}

/*
 * Inflate into buf[len..cap) at least want bytes: every member, one
 * after another. 0 (eof set at the end, maybe with fewer), or -1 with
 * *cause for corrupt or truncated data.
 */
static int
gzip_fill(struct cli_in *in, size_t want, char **cause)
{
	size_t before = in->len;
	ssize_t r;
	int rc;

	while (in->len - before < want) {
		if (in->z->avail_in == 0) {
			r = file_read(in, in->zbuf, CHUNK);
			if (r <= 0 && !(r == 0 && in->zmember_end) &&
			    in->len > before)
				return 0; /* these first; the error on the next */
			if (r < 0) {
				*cause = xstrdup(strerror(errno));
				return -1;
			}
			if (r == 0) {
				if (in->zmember_end) {
					in->eof = true;
					return 0;
				}
				*cause = xasprintf("gzip data truncated "
						   "(compressed byte %llu)",
				    (unsigned long long)in->file_read);
				return -1;
			}
			in->z->next_in = in->zbuf;
			in->z->avail_in = (uInt)r;
		}
		in->z->next_out = (Bytef *)in->buf + in->len;
		in->z->avail_out = (uInt)room(in);
		rc = inflate(in->z, Z_NO_FLUSH);
		in->len = (size_t)((char *)in->z->next_out - in->buf);
		in->zmember_end = rc == Z_STREAM_END;
		if (rc == Z_STREAM_END) { /* another member may follow */
			in->zmembers++;
			rc = inflateReset(in->z);
		}
		if (rc != Z_OK && rc != Z_BUF_ERROR) {
			*cause = xasprintf("gzip data corrupt (%s, compressed "
					   "byte %llu)",
			    in->z->msg != NULL ? in->z->msg : "zlib error",
			    (unsigned long long)(in->file_read -
				in->z->avail_in));
			return -1;
		}
	}
	return 0;
}

/* Slide the window on: keep the bytes from the splitter's keep, add more. */
static int
refill(struct cli_in *in, char **cause)
{
	size_t keep = hl7_split_keep(in->sp) - in->base, kept, want;
	ssize_t r;
	bool first;

	memmove(in->buf, in->buf + keep, in->len - keep);
	in->len -= keep;
	in->base += keep;
	while (in->cap - in->len < CHUNK || in->cap - in->len < in->len) {
		in->cap *= 2; /* one item is longer than the window */
		in->buf = xreallocarray(in->buf, in->cap, 1);
	}
	/*
	 * The splitter reads the kept bytes again: add at least as many
	 * (whatever a pipe gives at a time) so that this stays linear.
	 */
	want = in->len > 0 ? in->len : 1; /* <= room(in) */
	kept = in->len;
	if (in->z != NULL) {
		if (gzip_fill(in, want, cause) != 0)
			return -1;
		return 0;
	}
	first = in->file_read == 0;
	do { /* the magic needs two bytes, whatever a pipe gives first */
		/* the first read fits gzip_start's zbuf */
		if ((r = file_read(in, in->buf + in->len,
			 first ? CHUNK : room(in))) < 0) {
			*cause = xstrdup(strerror(errno));
			return -1;
		}
		in->len += (size_t)r;
	} while (r > 0 && (first ? in->len < 2 : in->len - kept < want));
	if (first && in->len >= 2 && (unsigned char)in->buf[0] == 0x1f &&
	    (unsigned char)in->buf[1] == 0x8b) {
		gzip_start(in, in->len);
		in->len = 0;
		return gzip_fill(in, 1, cause);
	}
	in->eof = r == 0;
	return 0;
}

/*
 * The gzip data broke off where a member had ended and nothing of the
 * next came out (trailing garbage, a member cut in its header): what
 * came before is whole.
 */
static bool
gzip_between_members(const struct cli_in *in)
{
	return in->z != NULL && in->zmembers > 0 && in->z->total_out == 0;
}

int
cli_in_next(struct cli_in *in, struct hl7_split_item *it, char **cause)
{
	char *why = NULL;
	int rc;

	for (;;) {
		rc = hl7_split_next(in->sp, it);
		if (rc == 0 && in->err != NULL) {
			*cause = in->err;
			in->err = NULL;
			return -1;
		}
		if (rc != HL7_SPLIT_MORE)
			return rc;
		if (refill(in, &why) != 0 && !gzip_between_members(in)) {
			*cause = xasprintf("offset %zu: %s",
			    hl7_split_keep(in->sp), why);
			free(why);
			return -1;
		} else if (why != NULL) {
			/* the input ends with the last whole member: its
			   messages go out, then the error */
			in->err = xasprintf("offset %zu: %s",
			    in->base + in->len, why);
			free(why);
			why = NULL;
			in->eof = true;
		}
		hl7_split_window(in->sp, in->buf, in->len, in->base, in->eof);
	}
}

double
cli_in_done(const struct cli_in *in)
{
	if (in->file_size == 0)
		return 0;
	return (double)in->file_read / (double)in->file_size;
}
