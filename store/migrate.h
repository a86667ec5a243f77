/*
 * migrate.h: the schema migrations runner (DESIGN.md, "Storage").
 *
 * Migrations are the files NNN_name.sql of a directory (version NNN, in
 * numeric order). Each is applied once, in its own transaction with
 * search_path = labwatch, and recorded in labwatch.schema_migrations;
 * all of it under a session advisory lock, so that two migrators (two
 * `labwatch migrate`, or labwatchd starting twice) never both apply one.
 * A migration file must not contain BEGIN/COMMIT of its own.
 */
#ifndef LABWATCH_MIGRATE_H
#define LABWATCH_MIGRATE_H

#include <libpq-fe.h>

#include "store/db.h"

/* The advisory lock key: "labwatch" as a big-endian 64-bit integer. */
#define STORE_MIGRATE_LOCK_KEY "7809631493712798568"

/* Called after each migration is committed. */
typedef void store_migrate_cb(void *arg, int version, const char *file,
    double seconds);

/*
 * The migrations directory: $LABWATCH_SQLDIR when set, else the installed
 * LABWATCH_DATADIR "/sql".
 */
const char *store_migrate_default_dir(void);

/*
 * Apply the migrations of sql_dir that the database lacks. DB_OK with
 * *applied = how many were applied (0: already up to date); or what the
 * failure means, *applied = how many were committed before it, and *cause
 * (malloc'ed; for a failing migration "FILE:LINE: server error"). A failing
 * migration is rolled back whole. The lock is released either way; the
 * session's search_path is left alone.
 */
LW_MUSTCHECK enum db_rc store_migrate(PGconn *c, const char *sql_dir,
    int *applied, char **cause);

/* How the database's schema stands against the migrations we know. */
enum store_schema {
	STORE_SCHEMA_CURRENT, /* every known migration applied, none newer */
	STORE_SCHEMA_MISSING, /* no schema labwatch (never migrated) */
	STORE_SCHEMA_OLDER,   /* known migrations not applied yet */
	STORE_SCHEMA_NEWER,   /* applied migrations above the newest we know */
	STORE_SCHEMA_UNKNOWN, /* no migrations directory to compare with */
};

/* What store_schema_check() found: versions are the highest of each side. */
struct store_schema_info {
	enum store_schema state;
	int have;    /* the database's newest applied version (0: none) */
	int want;    /* the newest version of sql_dir (0: unknown) */
	int lacking; /* the oldest known version not applied (0: none) */
};

/*
 * Compare the database's schema_migrations with the migrations of sql_dir
 * (NULL: store_migrate_default_dir()); a directory that cannot be read
 * gives STORE_SCHEMA_UNKNOWN, not an error. DB_OK and *si, or what the
 * error means and *cause.
 */
LW_MUSTCHECK enum db_rc store_schema_check(PGconn *c, const char *sql_dir,
    struct store_schema_info *si, char **cause);
/*
 * For people: what is wrong with si and the command that fixes it, on one
 * line (migrate: "labwatch migrate" with its options), malloc'ed; NULL
 * when the schema is current or cannot be judged.
 */
char *store_schema_problem(const struct store_schema_info *si, const char *prog,
    const char *migrate);

/* store_migrate(), calling cb (when not NULL) after each migration. */
LW_MUSTCHECK enum db_rc store_migrate_each(PGconn *c, const char *sql_dir,
    store_migrate_cb *cb, void *arg, int *applied, char **cause);

#endif
