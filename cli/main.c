/*
 * main.c: the labwatch command: dispatch to subcommands.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} commands[] = {
	{ "parse", cmd_parse,
	    "parse HL7 v2 files and print one JSON line per message" },
	{ "check", cmd_check,
	    "grade the protocol labs of HL7 files offline (JSON lines)" },
	{ "replay", cmd_replay,
	    "send HL7 archives to labwatchd over MLLP or MLLP/TLS" },
	{ "reevaluate", cmd_reevaluate,
	    "judge stored results again under the protocol file now" },
	{ "migrate", cmd_migrate, "apply the database schema migrations" },
	{ "enroll", cmd_enroll,
	    "register a patient in the protocol, or change their phase" },
	{ "status", cmd_status,
	    "counts, or one patient's enrollment, criteria, grades, holds" },
	{ "alerts", cmd_alerts,
	    "list alerts (a table, or JSON lines); --follow waits for more" },
	{ "ack", cmd_ack, "acknowledge an open alert" },
	{ "resolve", cmd_resolve, "resolve an open or acknowledged alert" },
	{ "board", cmd_board,
	    "serve the web pages: alerts, screening, patients, status" },
	{ "notify", cmd_notify,
	    "page a command or webhook for each alert event, once" },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: labwatch COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nlabwatch COMMAND --help for a command's options.\n");
}

int
main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("labwatch %s\n", PACKAGE_VERSION);
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "labwatch: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
