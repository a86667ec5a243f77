/*
 * cmd.h: the labwatch subcommands and what they share.
 */
#ifndef LABWATCH_CMD_H
#define LABWATCH_CMD_H

#include <stdio.h>

#include "lib/buf.h"
#include "hl7/hl7.h"
#include "hl7/oru.h"
#include "hl7/split.h"
#include "lib/attr.h"

/* labwatch parse: files of HL7 messages to JSON lines. */
int cmd_parse(int argc, char **argv);
/* labwatch check: grade the protocol analytes of HL7 files offline. */
int cmd_check(int argc, char **argv);
/* labwatch migrate: apply the schema migrations. */
int cmd_migrate(int argc, char **argv);
/* labwatch enroll: register a patient or change their phase. */
int cmd_enroll(int argc, char **argv);
/* labwatch status: counts, or one patient's enrollment and open alerts. */
int cmd_status(int argc, char **argv);
/* labwatch alerts: list alerts, and with --follow wait for new ones. */
int cmd_alerts(int argc, char **argv);
/* labwatch ack: acknowledge an open alert. */
int cmd_ack(int argc, char **argv);
/* labwatch resolve: resolve an open or acknowledged alert. */
int cmd_resolve(int argc, char **argv);
/* labwatch notify: deliver alert events to a command or a webhook. */
int cmd_notify(int argc, char **argv);
/* labwatch alerts --id: print one alert with its history (exit status). */
int cli_alert_show(const char *db, const char *id);

/* ---- cmd_db.c: what the database commands share ---- */

struct pg_conn;	  /* libpq's PGconn */
struct pg_result; /* libpq's PGresult */

/*
 * Connect for command cmd to db (NULL: $LABWATCH_DB, else libpq's
 * defaults) and search schema labwatch; with need_schema, also check that
 * it was migrated. Prints why on stderr and returns NULL on failure (the
 * command then exits 2, or 1 for a database not migrated: *exit_code).
 */
struct pg_conn *cli_db_open(const char *cmd, const char *db, int need_schema,
    int *exit_code);
/* Print "labwatch CMD: cause" on stderr, free cause, return 1. */
int cli_db_fail(const char *cmd, char *cause);
/*
 * Append row of r as a JSON object keyed by column name: numbers and
 * booleans as such, json/jsonb as they are, NULL as null, text as strings.
 */
void cli_json_row(struct buf *b, const struct pg_result *r, int row);
/* The columns of an alert line (alias a: alerts, p: patients). */
extern const char cli_alert_columns[];

/*
 * After the default protocol file of command cmd could not be loaded: say
 * where it was looked for and how to name another (opt: "--protocol").
 */
void cli_datadir_hint(const char *cmd, const char *opt);

/*
 * Read a whole file ("-" = standard input) into a malloc'ed buffer.
 * Returns 0, or -1 with errno set.
 */
LW_MUSTCHECK int cli_read_file(const char *path, char **buf, size_t *len);

/* A whole input file in memory. Owned by the caller of cli_input_open. */
struct cli_input {
	const char *p;
	size_t len;
	void *map;  /* the mapping of a regular file, or NULL */
	char *heap; /* what was read, for stdin, pipes and devices */
};

/*
 * Open path ("-" = standard input) as one buffer: a regular file is
 * mapped read-only, anything else read with cli_read_file. Returns 0, or
 * -1 with errno set; release with cli_input_close.
 */
int cli_input_open(const char *path, struct cli_input *in);
/* Unmap or free what cli_input_open gave. */
void cli_input_close(struct cli_input *in);

/*
 * What cli_each_message() hands over for one item of a file: a message
 * parsed and extracted (ok), or one that could not be (m->err says why;
 * for a framing or batch problem, it->is_error and it->reason).
 */
typedef void cli_message_fn(void *arg, const char *file,
    const struct hl7_split_item *it, struct hl7_msg *m, struct oru_msg *o,
    bool ok);

/*
 * Read each file ("-": standard input; none: standard input), split it
 * into messages, parse and extract each and call fn. A file that cannot be
 * read is reported on stderr as "labwatch CMD: FILE: why". Returns 0, or 2
 * when a file could not be read.
 */
LW_MUSTCHECK int cli_each_message(const char *cmd, char *const *files,
    int nfiles, const struct hl7_parse_opts *popts,
    const struct oru_opts *oopts, size_t max_size, cli_message_fn *fn,
    void *arg);

/* Output is handed to stdio in blocks of about this size. */
#define CLI_FLUSH_BLOCK (1u << 20)

/* Write b to out if it holds at least min bytes, then empty it. */
void cli_flush(struct buf *b, FILE *out, size_t min);

/*
 * Append the JSON object for one extracted message (no newline): the
 * interface `labwatch parse` documents in the README.
 */
void cli_json_message(struct buf *b, const struct oru_msg *o, const char *file,
    size_t offset);

#endif
