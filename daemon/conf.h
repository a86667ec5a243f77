/*
 * conf.h: labwatchd.conf, an INI file with one [labwatchd] section.
 *
 * Every key is declared once, in the table in config.c, with its type,
 * default, whether SIGHUP may change it and its help text; parsing,
 * validation, reload and the example file (labwatchd --print-config-example)
 * all come from that table. Lines are "key = value"; lines starting with
 * '#' or ';' are comments; a value may be wrapped in double quotes.
 */
#ifndef LABWATCH_CONF_H
#define LABWATCH_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "acl.h"
#include "lib/attr.h"

#define CONFIG_DEFAULT_PATH LABWATCH_SYSCONFDIR "/labwatchd.conf"

enum tls_verify {
	TLS_VERIFY_NONE = 0,
	TLS_VERIFY_OPTIONAL,
	TLS_VERIFY_REQUIRE,
};

/* A "host:port" of listen/tls_listen, split. */
struct config_addr {
	char *host; /* "" means every address */
	char *port;
};

/* The whole configuration. Owner: whoever config_init()ed it; config_free(). */
struct config {
	/* network */
	char *listen;
	char *tls_listen;
	char *tls_cert, *tls_key, *tls_ca;
	int tls_verify_client; /* enum tls_verify */
	char *tls_allowed_subjects;
	char *allow;
	int64_t max_connections, max_connections_per_peer;
	int64_t start_timeout, idle_timeout,
	    frame_timeout; /* seconds; idle 0: none */
	int64_t max_message_size, output_buffer_max, max_inflight;

	/* store */
	char *db;
	bool migrate;
	char *sql_dir, *protocol; /* "" means the installed default */
	char *spool_path;
	int64_t spool_max_bytes, batch_max, max_observations;
	char *app_name, *facility, *id_type, *default_charset;
	bool refuse_other_types;
	char *timezone;

	/* operations */
	int log_level; /* index into "error|warn|info|debug" */
	bool watchdog;
	char *metrics_listen;

	/* derived when the keys above are set */
	struct config_addr *listen_addrs, *tls_addrs;
	size_t nlisten, ntls;
	struct config_addr *metrics_addr; /* NULL: no metrics listener */
	struct acl allow_acl;
	char **subjects; /* tls_allowed_subjects, split */
	size_t nsubjects;
	int tz_offset_min;

	/* where each key was set (0: default), for file:line messages */
	int *lines;
	char *path;
};

/* One entry of the key table (read-only, for tests and --help). */
struct config_key_info {
	const char *name;
	const char *def;
	bool reload;
	const char *help;
};

/* Receives each message (already "file:line: ..."). */
typedef void config_report_fn(void *arg, const char *msg);

/* Fill cfg with the defaults. */
void config_init(struct config *cfg);
/* Free everything cfg holds. */
void config_free(struct config *cfg);
/*
 * Read path over the defaults in cfg (config_init first). Every error is
 * reported as "path:line: what"; returns their count (0: cfg is usable).
 */
LW_MUSTCHECK int config_load(struct config *cfg, const char *path,
    config_report_fn *report, void *arg);
/* The same, from text in memory named name (for tests). */
LW_MUSTCHECK int config_load_string(struct config *cfg, const char *name,
    const char *text, config_report_fn *report, void *arg);
/*
 * After a SIGHUP: put back into next the values of keys that cannot change
 * without a restart, reporting each one that the file tried to change.
 */
void config_keep_static(struct config *next, const struct config *cur,
    config_report_fn *report, void *arg);
/* Write the documented example file (what labwatchd.conf.example holds). */
void config_print_example(FILE *f);
/* Write the key list of labwatchd.conf(5) in man(7) (labwatchd --print-conf-doc). */
void config_print_man(FILE *f);
/* The key table: *n entries. */
const struct config_key_info *config_keys(size_t *n);
/* cfg->sql_dir, or the installed directory when empty. */
const char *config_sql_dir(const struct config *cfg);
/* cfg->protocol, or the installed protocol file when empty. */
const char *config_protocol(const struct config *cfg);

/* The next item of a list split at commas and blanks (malloc'ed), NULL at the end. */
char *conf_list_next(const char **p);

#endif
