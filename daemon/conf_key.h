/*
 * conf_key.h: the key table of labwatchd.conf, shared by conf.c (which
 * parses, validates and reloads by it) and conf_doc.c (which prints the
 * example file and the man page's key list from it). Private to daemon/conf*.c.
 */
#ifndef LABWATCH_CONF_KEY_H
#define LABWATCH_CONF_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

enum config_type {
	CF_STR,	 /* char *, checked by the key's check function if any */
	CF_BOOL, /* bool: yes/no, true/false, on/off, 1/0 */
	CF_INT,	 /* int64_t in [min, max] */
	CF_SIZE, /* int64_t bytes: 65536, 64k, 8M, 1G (binary units) */
	CF_SECS, /* int64_t seconds: 30, 30s, 5m, 1h */
	CF_ENUM, /* int: index of the value in enums */
};

struct config_key {
	const char *name;
	enum config_type type;
	const char *def;
	bool reload;
	size_t off;
	int64_t min, max;
	const char *enums; /* CF_ENUM: "a|b|c" */
	/* CF_STR: validate value and set derived fields; -1 and *cause on error */
	int (*check)(struct config *, const char *, char **);
	const char *help;
};

/* The keys, in the order the example file lists them (conf.c). */
extern const struct config_key *const config_key_table;
extern const size_t config_key_count;

#endif
