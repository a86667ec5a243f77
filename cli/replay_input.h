/*
 * replay_input.h: what `labwatch replay` reads: the list of input files
 * (directories walked recursively, in name order; "-" for standard
 * input). Each is read as a stream by cli/input.h, as `labwatch parse`
 * reads it (gzip by its magic).
 */
#ifndef LABWATCH_REPLAY_INPUT_H
#define LABWATCH_REPLAY_INPUT_H

#include <stddef.h>

#include "cli/cmd.h"
#include "cli/input.h"
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

#endif
