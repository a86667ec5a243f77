/*
 * replay_direct.c: `labwatch replay --direct`: messages into PostgreSQL
 * through labwatchd's own store (no second copy of any SQL or rule): the
 * writer thread batches them (many per transaction, two transactions
 * overlapping), runs the rules per patient in order against the stored
 * histories, and tells duplicates by the unique index messages_identity,
 * whoever stored the message first.
 *
 * The store keeps a spool for when the database goes away; here it is a
 * private file that nothing is meant to stay in: a message that went
 * there was not stored, the run stops, and --resume sends it again.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "cli/cmd.h"
#include "cli/replay_direct.h"
#include "daemon/conf.h"
#include "lib/xmalloc.h"
#include "store/db.h"

#define DIRECT_PEER "labwatch replay --direct"

struct replay_direct {
	struct store *s;
	char *conninfo;
	char *dir, *spool; /* the private spool */
};

/* The store's messages: errors and warnings (info with --verbose). */
static void
direct_log(void *arg, int level, const char *msg)
{
	const struct replay_direct_conf *c = arg;

	if (level <= c->log_level)
		fprintf(stderr, "labwatch replay: %s\n", msg);
}

static void
conf_report(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "labwatch replay: %s\n", msg);
}

/* The settings that change what is stored: labwatchd's, with ours over. */
static int
direct_config(const struct replay_direct_conf *c, struct config *cfg,
    struct store_config *sc, char **protocol)
{
	config_init(cfg);
	if (c->config != NULL &&
	    config_load(cfg, c->config, conf_report, NULL) != 0)
		return -1;
	memset(sc, 0, sizeof(*sc));
	sc->log = direct_log;
	sc->log_arg = (void *)c;
	if (c->protocol != NULL)
		*protocol = xstrdup(c->protocol);
	else if (c->config != NULL)
		*protocol = xstrdup(config_protocol(cfg));
	else
		*protocol = cli_protocol_file("nct04933669");
	sc->protocol_path = *protocol;
	sc->batch_max = c->batch_max > 0 ? c->batch_max :
					   (size_t)cfg->batch_max;
	sc->max_observations = (uint32_t)cfg->max_observations;
	sc->app = cfg->app_name;
	sc->facility = cfg->facility;
	sc->id_type = c->id_type != NULL ? c->id_type : cfg->id_type;
	sc->default_charset = cfg->default_charset;
	sc->refuse_other_types = cfg->refuse_other_types;
	sc->tz_offset_min = cfg->tz_offset_min;
	sc->lock_timeout_ms = c->lock_timeout_ms;
	return 0;
}

/* Reached, and the schema is the current one: 0, else 2 having said why. */
static int
direct_check_db(const char *db)
{
	PGconn *c;
	int ec;

	if ((c = cli_db_open("replay", db, 1, &ec)) == NULL)
		return 2;
	PQfinish(c);
	return 0;
}

struct replay_direct *
replay_direct_open(const struct replay_direct_conf *c)
{
	struct replay_direct *d = xcalloc(1, sizeof(*d));
	struct store_config sc;
	struct config cfg;
	const char *tmp = getenv("TMPDIR");
	char *protocol = NULL, *cause = NULL;
	bool ok = false;

	if (direct_config(c, &cfg, &sc, &protocol) != 0)
		goto out;
	/* --db, else the config's db (when a config is given), else $LABWATCH_DB */
	d->conninfo = xstrdup(db_conninfo(c->db != NULL ? c->db :
		c->config != NULL			? cfg.db :
							  NULL));
	if (direct_check_db(d->conninfo) != 0)
		goto out;
	sc.conninfo = d->conninfo;
	d->dir = xasprintf("%s/labwatch-replay.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(d->dir) == NULL) {
		fprintf(stderr, "labwatch replay: cannot make %s: %m\n",
		    d->dir);
		goto out;
	}
	d->spool = xasprintf("%s/spool", d->dir);
	sc.spool_path = d->spool;
	if ((d->s = store_start(&sc, NULL, &cause)) == NULL) {
		fprintf(stderr, "labwatch replay: %s\n", cause);
		if (c->protocol == NULL && c->config == NULL &&
		    access(protocol, R_OK) != 0)
			cli_datadir_hint("replay", "--protocol");
		goto out;
	}
	ok = true;
out:
	free(cause);
	free(protocol);
	config_free(&cfg);
	if (!ok) {
		replay_direct_close(d);
		return NULL;
	}
	return d;
}

void
replay_direct_submit(struct replay_direct *d, uint64_t seq, const char *data,
    size_t len)
{
	struct store_item *it = store_item_new(STORE_FRAME, data, len, len);
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	it->received_at = (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
	snprintf(it->peer, sizeof(it->peer), "%s", DIRECT_PEER);
	it->conn_gen = seq;
	store_submit(d->s, it);
}

int
replay_direct_fd(const struct replay_direct *d)
{
	return store_completion_fd(d->s);
}

struct store_item *
replay_direct_take(struct replay_direct *d)
{
	return store_completions(d->s);
}

/* A running labwatchd forgets the histories it cached (ingest.c). */
static void
direct_notify(const char *conninfo)
{
	char *cause = NULL;
	PGconn *c = db_connect(conninfo, "labwatch", &cause);

	if (c != NULL &&
	    db_exec(c, "telling labwatchd to reload histories",
		"NOTIFY labwatch_enrollment", &cause) == DB_OK)
		cause = NULL;
	if (cause != NULL)
		fprintf(stderr, "labwatch replay: %s\n", cause);
	free(cause);
	if (c != NULL)
		PQfinish(c);
}

void
replay_direct_close(struct replay_direct *d)
{
	struct store_stats st;
	char *dead;

	if (d == NULL)
		return;
	memset(&st, 0, sizeof(st));
	if (d->s != NULL) {
		store_stats(d->s, &st);
		store_stop(d->s);
		direct_notify(d->conninfo);
	}
	if (d->spool != NULL) {
		dead = xasprintf("%s.dead", d->spool);
		if (st.dead_letters > 0)
			fprintf(stderr,
			    "labwatch replay: %llu messages the database "
			    "refused even as quarantined are kept in %s\n",
			    (unsigned long long)st.dead_letters, dead);
		else {
			(void)unlink(dead);
			(void)unlink(d->spool);
			(void)rmdir(d->dir);
		}
		free(dead);
	}
	free(d->spool);
	free(d->dir);
	free(d->conninfo);
	free(d);
}
