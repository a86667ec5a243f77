/*
 * cmd.h: the labwatch subcommands and what they share.
 */
#ifndef LABWATCH_CMD_H
#define LABWATCH_CMD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/table.h"
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
/* labwatch board: the web pages (cli/board.c). */
int cmd_board(int argc, char **argv);
/* labwatch replay: send message archives to labwatchd over MLLP. */
int cmd_replay(int argc, char **argv);
/* labwatch reevaluate: stored results judged again under the rules. */
int cmd_reevaluate(int argc, char **argv);
/* labwatch alerts --id: print one alert with its history (exit status). */
int cli_alert_show(const char *db, const char *id);

/* ---- status_table.c: labwatch status for people ---- */

struct pg_conn;
/* One patient's status as tables (cmd_status's JSON line for people). */
int status_table_patient(struct pg_conn *c, const char *id,
    const char *protocol, const struct table_out *o);
/* The counts as label and value lines; the names every count shows. */
int status_table_all(struct pg_conn *c, const struct table_out *o);

/* The names every status count shows (NULL-terminated). */
extern const char *const cli_status_outcomes[];
extern const char *const cli_status_kinds[];
extern const char *const cli_status_phases[];
/* status_table.c's queries, shared with the board: $1 the patient row id,
 * $2 the protocol (NULL: any). The criteria: name, verdict, value, unit,
 * x ULN, date, ord (0). */
extern const char status_criteria_sql[];
/*
 * The criteria of the eligibility rows of ids $1 (a bigint[] literal), the
 * columns of status_criteria_sql, ord each row's place in $1 (from 1): one
 * query for a page of patients.
 */
extern const char status_criteria_rows_sql[];
extern const char status_grades_sql[];
/* The messages by outcome (outcome, count), counted from indexes. */
extern const char status_messages_sql[];
/*
 * The last message received, col an expression of its row: the latest
 * received_at, ties by id (ids are not in the order of arrival across
 * several labwatchd), read from messages_received (sql/018).
 */
#define STATUS_LAST_MESSAGE_SQL(col) \
	"(SELECT " col " FROM messages ORDER BY received_at DESC, id DESC" \
	" LIMIT 1)"
/* The holds in force of an enrollment ($1 its row id): name, since. */
extern const char status_holds_sql[];
struct rules;
/* What a restart from hold needs, as text (rules NULL: not loaded). */
void status_hold_restart(const struct rules *rules, const char *hold,
    char *text, size_t cap);
/*
 * The status counts as label and value pairs handed to fn: schema, last
 * message, messages, open alerts, enrolled. 0, or -1 and *cause.
 */
int status_lines(struct pg_conn *c,
    void (*fn)(void *arg, const char *label, const char *value), void *arg,
    char **cause);

/* ---- cmd_db.c: what the database commands share ---- */

struct pg_conn;	  /* libpq's PGconn */
struct pg_result; /* libpq's PGresult */

/*
 * Connect for command cmd to db (NULL: $LABWATCH_DB, else libpq's
 * defaults) and search schema labwatch; with need_schema, also check that
 * its version is the one the installed migrations make (cli_db_schema).
 * Prints why on stderr, for people, and returns NULL on failure (the
 * command then exits *exit_code: 2 when PostgreSQL cannot be used, 1 for a
 * schema missing, older or newer than this labwatch).
 */
struct pg_conn *cli_db_open(const char *cmd, const char *db, int need_schema,
    int *exit_code);
/*
 * The one check of the schema's version against the migrations of sql_dir
 * (NULL: the installed ones), for every command: 0 when current (or when
 * no migrations are installed to compare with), else the line that says
 * what is wrong and the command that fixes it is printed and 1 returned
 * (2 when the check itself failed).
 */
int cli_db_schema(const char *cmd, struct pg_conn *c, const char *db,
    const char *sql_dir);
/* "labwatch migrate --db \"...\"" for db (NULL: none) without a password. */
char *cli_migrate_command(const char *db);
/* Print "labwatch CMD: cause" on stderr, free cause, return 1. */
int cli_db_fail(const char *cmd, char *cause);
/*
 * Append row of r as a JSON object keyed by column name: numbers and
 * booleans as such, json/jsonb as they are, NULL as null, text as strings.
 */
void cli_json_row(struct buf *b, const struct pg_result *r, int row);
/* The columns of an alert line (alias a: alerts, p: patients). */
extern const char cli_alert_columns[];
/* The open alerts of a patient (its row id), oldest first; NULL, *cause. */
struct pg_result *cli_open_alerts(struct pg_conn *c, const char *patient,
    char **cause);

/*
 * The alerts with the filters p[0..3]: state (open, ..., all), patient id,
 * created since (ISO 8601), ids (a bigint[] literal); NULL: any. order is
 * the ORDER BY ("a.id"). NULL and *cause on failure.
 */
struct pg_result *cli_alerts_query(struct pg_conn *c, const char *const *p,
    const char *order, char **cause);
/* An alert's events (event, at, by, note), oldest first; NULL, *cause. */
struct pg_result *cli_alert_events(struct pg_conn *c, const char *id,
    char **cause);

/*
 * The UPDATE of labwatch ack ($1 id, $2 by, $3 the note when note) and
 * of labwatch resolve ($1 id, $2 by, $3 note or NULL), RETURNING
 * cli_alert_columns; no row: not open (resolved). malloc'ed.
 */
char *cli_ack_sql(bool note);
char *cli_resolve_sql(void);

/* The table of alerts for people: id, severity, age, patient, kind, ... */
#define CLI_ALERT_TABLE_NCOLS 7
extern const struct table_col cli_alert_table[CLI_ALERT_TABLE_NCOLS];
/* Add row i of r (cli_alert_columns) to t, critical ones bold red. */
void cli_alert_table_row(struct table *t, const struct pg_result *r, int i);

/*
 * After the default protocol file of command cmd could not be loaded: say
 * where it was looked for and how to name another (opt: "--protocol").
 */
void cli_datadir_hint(const char *cmd, const char *opt);

/*
 * The default protocol file of a protocol name, malloc'ed:
 * $LABWATCH_DATADIR (else the installed data directory)
 * /rules/protocols/nct04933669.conf.
 */
char *cli_protocol_file(const char *protocol);

/*
 * Read a whole file ("-" = standard input) into a malloc'ed buffer.
 * Returns 0, or -1 with errno set.
 */
LW_MUSTCHECK int cli_read_file(const char *path, char **buf, size_t *len);

/*
 * What cli_each_message() hands over for one item of a file: a message
 * parsed and extracted (ok), or one that could not be (m->err says why;
 * for a framing or batch problem, it->is_error and it->reason).
 */
typedef void cli_message_fn(void *arg, const char *file,
    const struct hl7_split_item *it, struct hl7_msg *m, struct oru_msg *o,
    bool ok);

/*
 * Read each file ("-": standard input; none: standard input) as a stream
 * (cli/input.h: gzip by its magic), split it into messages, parse and
 * extract each and call fn. A file that cannot be read (or read on: a
 * truncated gzip) is reported on stderr as "labwatch CMD: FILE: why",
 * after its messages before that point. Returns 0, or 2 when a file
 * could not be read.
 */
LW_MUSTCHECK int cli_each_message(const char *cmd, char *const *files,
    int nfiles, const struct hl7_parse_opts *popts,
    const struct oru_opts *oopts, size_t max_size, cli_message_fn *fn,
    void *arg);

/*
 * ISO 8601 (2026-11-20, 2026-11-20T07:30, ...Z or +08:00; local time
 * at tz minutes east of UTC when no offset) or "now", as epoch seconds:
 * 0, or -1 when it is not one.
 */
int cli_parse_at(const char *s, int tz, int64_t *out);

struct json_cur;
/*
 * t as ISO 8601 in a JSON string, or null when absent, at the cursor
 * (hl7_dtm_iso's text). The last one's text is kept: a LIS gives a whole
 * panel one time, so most observations write it again.
 */
void cli_json_dtm(struct json_cur *c, const struct hl7_dtm *t);

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
