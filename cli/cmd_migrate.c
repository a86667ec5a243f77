/*
 * cmd_migrate.c: labwatch migrate: apply the schema migrations.
 *
 *   labwatch migrate [--db CONNINFO] [--sql-dir DIR]
 *
 * One JSON line per migration applied; nothing when the schema is current.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "lib/json.h"
#include "cmd.h"
#include "store/db.h"
#include "store/migrate.h"

static void
migrate_usage(FILE *f)
{
	fprintf(f,
	    "usage: labwatch migrate [--db CONNINFO] [--sql-dir DIR]\n"
	    "  Applies the schema migrations (NNN_name.sql) the database lacks,\n"
	    "  in order, each once, under an advisory lock; prints one JSON line\n"
	    "  per migration applied.\n"
	    "  --db       libpq connection string (default $LABWATCH_DB, else\n"
	    "             libpq's defaults)\n"
	    "  --sql-dir  migrations directory (default $LABWATCH_SQLDIR, else\n"
	    "             %s/sql)\n",
	    LABWATCH_DATADIR);
}

static void
print_applied(void *arg, int version, const char *file, double seconds)
{
	struct buf *b = arg;

	buf_reset(b);
	buf_addc(b, '{');
	json_key(b, "version", true);
	buf_printf(b, "%d", version);
	json_key(b, "file", false);
	json_strz(b, file);
	json_key(b, "seconds", false);
	buf_printf(b, "%.3f", seconds);
	buf_adds(b, "}\n");
	cli_flush(b, stdout, 0);
	fflush(stdout);
}

int
cmd_migrate(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "sql-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = NULL, *dir = NULL;
	struct store_schema_info si;
	struct buf b;
	char *cause = NULL;
	PGconn *c;
	int ch, applied = 0, rc;
	enum db_rc drc;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			db = optarg;
			break;
		case 's':
			dir = optarg;
			break;
		case 'h':
			migrate_usage(stdout);
			return 0;
		default:
			migrate_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		migrate_usage(stderr);
		return 2;
	}
	if (dir == NULL)
		dir = store_migrate_default_dir();
	if ((c = cli_db_open("migrate", db, 0, &rc)) == NULL)
		return rc;
	/* A newer labwatch migrated it: ours would not know its schema. */
	if (store_schema_check(c, dir, &si, &cause) != DB_OK) {
		PQfinish(c);
		return cli_db_fail("migrate", cause);
	}
	if (si.state == STORE_SCHEMA_NEWER) {
		PQfinish(c);
		return cli_db_fail("migrate",
		    store_schema_problem(&si, "labwatch", "labwatch migrate"));
	}
	buf_init(&b);
	drc = store_migrate_each(c, dir, print_applied, &b, &applied, &cause);
	buf_free(&b);
	PQfinish(c);
	if (drc != DB_OK)
		return cli_db_fail("migrate", cause);
	fprintf(stderr, "labwatch migrate: %d migration%s applied\n", applied,
	    applied == 1 ? "" : "s");
	return 0;
}
