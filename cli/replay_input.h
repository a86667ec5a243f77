/*
 * replay_input.h: what `labwatch replay` reads: the list of input files
 * (directories walked recursively, in name order; "-" for standard
 * input) and each input whole in memory, gunzipped when its first bytes
 * are the gzip magic, whatever its name.
 */
#ifndef LABWATCH_REPLAY_INPUT_H
#define LABWATCH_REPLAY_INPUT_H

#include <stddef.h>

#include "cli/cmd.h"
#include "lib/attr.h"

/* The input paths, in order; owned by the caller, freed by replay_inputs_free. */
struct replay_inputs {
	char **path;
	size_t n, cap;
};

/*
 * Append args[0..nargs) to in: files and "-" as they are, directories
 * by their files, recursively in name order (dot files skipped). Returns
 * 0, or -1 with *cause when an argument cannot be read.
 */
LW_MUSTCHECK int replay_inputs_add(struct replay_inputs *in, char *const *args,
    int nargs, char **cause);
/* Free the paths. */
void replay_inputs_free(struct replay_inputs *in);

/* One input's bytes; owned by the caller, released by replay_input_close. */
struct replay_input {
	struct cli_input raw; /* as read or mapped */
	char *gunzipped;      /* the decompressed bytes, or NULL */
	const char *p;	      /* what to split: raw or gunzipped */
	size_t len;
};

/*
 * Read path whole, gunzipping gzip data (every member). Returns 0, or -1
 * with *cause (errno text, or zlib's reason for corrupt data).
 */
LW_MUSTCHECK int replay_input_open(const char *path, struct replay_input *in,
    char **cause);
/* Release what replay_input_open gave. */
void replay_input_close(struct replay_input *in);

#endif
