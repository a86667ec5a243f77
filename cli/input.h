/*
 * input.h: one input of `labwatch parse`, `check` and `replay`, read as a
 * stream of HL7 items: a file or "-" (standard input), gunzipped when
 * its first bytes are the gzip magic (every member), whatever its name;
 * split as hl7/split.h says. Memory is a window of a few MiB, however
 * long the input: read in chunks, the window grown only when one item
 * does not fit in it.
 */
#ifndef LABWATCH_INPUT_H
#define LABWATCH_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hl7/split.h"
#include "lib/attr.h"

struct z_stream_s;

/* An open input; owned by the caller, released by cli_in_close. */
struct cli_in {
	const char *path; /* as given; not owned */
	int fd;
	struct z_stream_s *z; /* gzip: the inflater, else NULL */
	unsigned char *zbuf;  /* gzip: compressed bytes read */
	bool zmember_end;     /* gzip: the last member ended */
	uint64_t zmembers;    /* gzip: members ended */
	char *err;	      /* an error to give after the last item */
	char *buf;	      /* the window */
	size_t len, cap;
	size_t base;	    /* input offset of buf[0] (decompressed) */
	uint64_t file_read; /* bytes read from the file */
	uint64_t file_size; /* a regular file's size, else 0 */
	bool eof;
	struct hl7_split *sp;
};

/*
 * Open path ("-": standard input) for cli_in_next; messages over
 * max_size bytes (0: no limit) come back as error items. Returns 0, or
 * -1 with *cause (errno text).
 */
LW_MUSTCHECK int cli_in_open(struct cli_in *in, const char *path,
    size_t max_size, char **cause);
/*
 * The next item, as hl7_split_next gives it (offsets count decompressed
 * bytes from the start of the input; valid until the next call): 1, or
 * 0 at the end, or -1 with *cause when the input cannot be read on
 * (a read error, corrupt or truncated gzip data): every whole message
 * before that point has been returned, and *cause names the offset.
 */
LW_MUSTCHECK int cli_in_next(struct cli_in *in, struct hl7_split_item *it,
    char **cause);
/* How far through the file, 0 to 1 (0 when its size is unknown). */
double cli_in_done(const struct cli_in *in);
/* Close and free; in may be closed twice. */
void cli_in_close(struct cli_in *in);

#endif
