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

/* store_migrate(), calling cb (when not NULL) after each migration. */
LW_MUSTCHECK enum db_rc store_migrate_each(PGconn *c, const char *sql_dir,
    store_migrate_cb *cb, void *arg, int *applied, char **cause);

#endif
