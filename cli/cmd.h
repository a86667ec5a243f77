/*
 * cmd.h: the labwatch subcommands and what they share.
 */
#ifndef LABWATCH_CMD_H
#define LABWATCH_CMD_H

#include <stdio.h>

#include "hl7/buf.h"
#include "hl7/hl7.h"
#include "hl7/oru.h"

/* labwatch parse: files of HL7 messages to JSON lines. */
int cmd_parse(int argc, char **argv);
/* labwatch check: grade the protocol analytes of HL7 files offline. */
int cmd_check(int argc, char **argv);

/*
 * Read a whole file ("-" = standard input) into a malloc'ed buffer.
 * Returns 0, or -1 with errno set.
 */
int cli_read_file(const char *path, char **buf, size_t *len);

/* Write b to out if it holds at least min bytes, then empty it. */
void cli_flush(struct hl7_buf *b, FILE *out, size_t min);

/*
 * Append the JSON object for one extracted message (no newline): the
 * interface `labwatch parse` documents in the README.
 */
void cli_json_message(struct hl7_buf *b, const struct oru_msg *o,
    const char *file, size_t offset);

#endif
