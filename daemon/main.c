/*
 * main.c: labwatchd: options, start-up, signals, systemd notification.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "conf.h"
#include "conn.h"
#include "daemon.h"
#include "exporter.h"
#include "lib/xmalloc.h"
#include "listener.h"
#include "log.h"
#include "notify.h"
#include "rules/rules.h"
#include "tls.h"

/* How long SIGTERM waits for peers to take their ACKs before closing them. */
#define SHUTDOWN_GRACE_SEC 30
/* How often STATUS= is sent. */
#define STATUS_INTERVAL_SEC 5
/* EX_CONFIG: the database refuses us (RestartPreventExitStatus=78). */
#define EXIT_DB_REFUSED 78
/* Descriptors besides connections: listeners, PostgreSQL, spool, notify, libevent's own. */
#define FD_RESERVE 64

static const enum log_level levels[] = { LOG_LEVEL_ERROR, LOG_LEVEL_WARN,
	LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

static struct event *ev_completion, *ev_status, *ev_watchdog, *ev_deadline;
static struct event *ev_logsweep;
static struct event *ev_hup, *ev_term, *ev_int;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: labwatchd [-f] [-c FILE]\n"
	    "       labwatchd --check-config [-c FILE]\n"
	    "       labwatchd --print-config-example | --version\n"
	    "\n"
	    "  -c, --config FILE       configuration file (default %s)\n"
	    "  -f, --foreground        run in the foreground (always; for compatibility)\n"
	    "  -t, --check-config      validate the configuration, TLS files and\n"
	    "                          protocol file, then exit 0 (valid) or 1\n"
	    "      --print-config-example  print the documented example configuration\n"
	    "  -V, --version           print the version\n",
	    CONFIG_DEFAULT_PATH);
}

static void
report_stderr(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
}

static void
report_log_error(void *arg, const char *msg)
{
	(void)arg;
	log_error("%s", msg);
}

static void
report_log_warn(void *arg, const char *msg)
{
	(void)arg;
	log_warn("%s", msg);
}

/* Everything --check-config can verify without a database. */
static int
check_config(const char *path)
{
	struct config cfg;
	struct rules *r = NULL;
	SSL_CTX *ctx;
	char *cause = NULL, why[256];
	int errors;

	config_init(&cfg);
	errors = config_load(&cfg, path, report_stderr, NULL);
	if (errors == 0 && cfg.ntls > 0) {
		if ((ctx = tls_ctx_new(&cfg, &cause)) == NULL) {
			fprintf(stderr, "%s: %s\n", path, cause);
			free(cause);
			errors++;
		} else if (tls_ctx_cert_problem(ctx, why, sizeof(why)))
			fprintf(stderr, "%s: warning: %s\n", path, why);
		SSL_CTX_free(ctx);
	}
	if (errors == 0) {
		if (rules_load(config_protocol(&cfg), &r, &cause) == -1) {
			fprintf(stderr, "%s: protocol: %s\n", path, cause);
			free(cause);
			errors++;
		}
		rules_free(r);
	}
	config_free(&cfg);
	if (errors > 0) {
		fprintf(stderr, "%s: %d error%s\n", path, errors,
		    errors == 1 ? "" : "s");
		return 1;
	}
	printf("%s: configuration is valid\n", path);
	return 0;
}

/* libevent's own messages go to our log like every other line. */
static void
libevent_log_cb(int severity, const char *msg)
{
	enum log_level level;

	switch (severity) {
	case EVENT_LOG_DEBUG:
		level = LOG_LEVEL_DEBUG;
		break;
	case EVENT_LOG_MSG:
		level = LOG_LEVEL_INFO;
		break;
	case EVENT_LOG_WARN:
		level = LOG_LEVEL_WARN;
		break;
	default:
		level = LOG_LEVEL_ERROR;
		break;
	}
	log_peer(level, NULL, "libevent: %s", msg);
}

/*
 * max_connections needs as many descriptors: raise the soft limit toward
 * the hard one (a shell's 1024 against systemd's LimitNOFILE=), and say
 * so when even the hard limit is too low, rather than fail at accept.
 */
static void
fd_limit_fit(const struct config *cfg)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)cfg->max_connections + FD_RESERVE, was;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		was = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
			rl.rlim_max >= need ?
		    need :
		    rl.rlim_max;
		if (rl.rlim_cur > was && setrlimit(RLIMIT_NOFILE, &rl) == 0)
			log_info("open-file limit raised from %llu to %llu for "
				 "max_connections (%lld)",
			    (unsigned long long)was,
			    (unsigned long long)rl.rlim_cur,
			    (long long)cfg->max_connections);
		else
			rl.rlim_cur = was;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		log_warn(
		    "max_connections (%lld) exceeds what the open-file limit "
		    "(%llu, hard %llu) leaves for connections (%llu): accept will "
		    "fail beyond that; raise LimitNOFILE= or lower max_connections",
		    (long long)cfg->max_connections,
		    (unsigned long long)rl.rlim_cur,
		    (unsigned long long)rl.rlim_max,
		    rl.rlim_cur > FD_RESERVE ?
			(unsigned long long)(rl.rlim_cur - FD_RESERVE) :
			0ULL);
}

static void
send_status(struct daemon *d, const char *prefix)
{
	struct store_stats st;

	store_stats(d->store, &st);
	notify_send("%sSTATUS=%u connections, %" PRIu64
		    " frames; processed %" PRIu64 ", duplicate %" PRIu64
		    ", ignored %" PRIu64 ", quarantined %" PRIu64
		    ", spooled %" PRIu64 " (%" PRIu64
		    " pending), rejected %" PRIu64 "; database %s%s",
	    prefix, d->nsockets, d->stats.frames, st.outcomes[STORE_PROCESSED],
	    st.outcomes[STORE_DUPLICATE], st.outcomes[STORE_IGNORED],
	    st.outcomes[STORE_QUARANTINED], st.outcomes[STORE_SPOOLED],
	    st.spooled_pending, st.outcomes[STORE_REJECTED],
	    st.db_up			 ? "up" :
		st.db_refused[0] != '\0' ? "refusing us: " :
					   "down",
	    st.db_up ? "" : st.db_refused);
}

static void
status_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	send_status(arg, "");
}

/* Pinged from the loop itself: a stuck loop is what the watchdog must catch. */
static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	notify_send("WATCHDOG=1");
}

/* Summaries of throttled connection lines, once their window has ended. */
static void
logsweep_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_log_sweep(arg, false);
}

static void
completion_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_completions(arg);
}

static uint64_t
monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* SIGHUP: all or nothing: config, certificates, rules; on any error the running set stays. */
static void
reload(struct daemon *d)
{
	struct config *next;
	SSL_CTX *ctx = NULL;
	char *cause = NULL, why[256];
	int errors;

	notify_send("RELOADING=1\nMONOTONIC_USEC=%" PRIu64, monotonic_usec());
	log_info("reloading %s", d->config_path);
	next = xcalloc(1, sizeof(*next));
	config_init(next);
	errors = config_load(next, d->config_path, report_log_error, NULL);
	if (errors > 0) {
		log_error("reload: %d error%s in %s; keeping the running "
			  "configuration, rules and certificates",
		    errors, errors == 1 ? "" : "s", d->config_path);
		goto fail;
	}
	config_keep_static(next, d->cfg, report_log_warn, NULL);
	if (next->ntls > 0 && (ctx = tls_ctx_new(next, &cause)) == NULL) {
		log_error("reload: %s; keeping the running configuration",
		    cause);
		goto fail;
	}
	if (!store_reload_rules(d->store, config_protocol(next), &cause)) {
		log_error("reload: protocol: %s; keeping the running "
			  "configuration",
		    cause);
		goto fail;
	}
	if (ctx != NULL) {
		/* Open connections hold their own reference to the old context. */
		SSL_CTX_free(d->tls_ctx);
		d->tls_ctx = ctx;
	}
	config_free(d->cfg);
	free(d->cfg);
	d->cfg = next;
	log_set_level(levels[d->cfg->log_level]);
	fd_limit_fit(d->cfg);
	d->stats.reloads++;
	log_info("reloaded: configuration, rules (%s)%s",
	    config_protocol(d->cfg), ctx ? " and certificates" : "");
	if (ctx != NULL && tls_ctx_cert_problem(ctx, why, sizeof(why)))
		log_warn("reload: %s", why);
	send_status(d, "READY=1\n");
	return;
fail:
	d->stats.reload_failures++;
	free(cause);
	SSL_CTX_free(ctx);
	config_free(next);
	free(next);
	send_status(d, "READY=1\n");
}

static void
hup_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)sig;
	(void)what;
	if (!d->stopping)
		reload(d);
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	log_warn("peers still hold %u connections after %ds: closing them",
	    d->nsockets, SHUTDOWN_GRACE_SEC);
	conn_close_all(d);
}

static void
term_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv = { SHUTDOWN_GRACE_SEC, 0 };

	(void)what;
	if (d->stopping) {
		log_warn(
		    "second %s: exiting now; %zu frames in flight not ACKed",
		    sig == SIGINT ? "SIGINT" : "SIGTERM",
		    store_pending(d->store));
		_exit(1);
	}
	d->stopping = true;
	notify_send("STOPPING=1");
	log_info("%s: stopping; no new connections, finishing %zu frames in "
		 "flight",
	    sig == SIGINT ? "SIGINT" : "SIGTERM", store_pending(d->store));
	listener_close_all(d);
	store_wind_down(d->store);
	evtimer_add(ev_deadline, &tv);
	conn_shutdown_all(d);
	if (TAILQ_EMPTY(&d->conns))
		event_base_loopbreak(d->base);
}

static struct event *
xevent(struct event *ev)
{
	if (ev == NULL)
		fatalx("cannot create an event");
	return ev;
}

/* The store's messages (level 0 error .. 3 debug) into our log. */
static void
store_log(void *arg, int level, const char *msg)
{
	static const enum log_level by_level[] = { LOG_LEVEL_ERROR,
		LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

	(void)arg;
	log_peer(by_level[level < 0 ? 0 :
			 level > 3  ? 3 :
				      level],
	    NULL, "%s", msg);
}

static void
store_config_from(const struct config *cfg, struct store_config *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->log = store_log;
	sc->conninfo = cfg->db;
	sc->protocol_path = config_protocol(cfg);
	sc->sql_dir = cfg->migrate ? config_sql_dir(cfg) : NULL;
	sc->schema_dir = config_sql_dir(cfg);
	sc->spool_path = cfg->spool_path;
	sc->spool_max_bytes = (uint64_t)cfg->spool_max_bytes;
	sc->batch_max = (size_t)cfg->batch_max;
	sc->max_observations = (uint32_t)cfg->max_observations;
	sc->app = cfg->app_name;
	sc->facility = cfg->facility;
	sc->id_type = cfg->id_type;
	sc->default_charset = cfg->default_charset;
	sc->refuse_other_types = cfg->refuse_other_types;
	sc->tz_offset_min = cfg->tz_offset_min;
}

/*
 * The command line: false when there is nothing more to do than exit with
 * *exit_code (an option that prints and exits, or a usage error).
 */
static bool
parse_args(int argc, char **argv, const char **path, bool *check,
    int *exit_code)
{
	enum { OPT_EXAMPLE = 256, OPT_MANDOC };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, 't' },
		{ "print-config-example", no_argument, NULL, OPT_EXAMPLE },
		/* not in --help: builds labwatchd.conf(5) */
		{ "print-conf-doc", no_argument, NULL, OPT_MANDOC },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*exit_code = 0;
	while ((ch = getopt_long(argc, argv, "c:ftVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			*path = optarg;
			break;
		case 'f':
			break;
		case 't':
			*check = true;
			break;
		case OPT_EXAMPLE:
			config_print_example(stdout);
			return false;
		case OPT_MANDOC:
			config_print_man(stdout);
			return false;
		case 'V':
			printf("labwatchd %s\n", PACKAGE_VERSION);
			return false;
		case 'h':
			usage(stdout);
			return false;
		default:
			usage(stderr);
			*exit_code = 2;
			return false;
		}
	}
	if (optind != argc) {
		usage(stderr);
		*exit_code = 2;
		return false;
	}
	return true;
}

/* The process-wide state with the configuration at path; fatal if invalid. */
static void
load_config(struct daemon *d, const char *path)
{
	int errors;

	memset(d, 0, sizeof(*d));
	TAILQ_INIT(&d->conns);
	d->config_path = xstrdup(path);
	d->cfg = xcalloc(1, sizeof(*d->cfg));
	config_init(d->cfg);
	if ((errors = config_load(d->cfg, path, report_log_error, NULL)) > 0)
		fatalx("%s: %d error%s; not starting", path, errors,
		    errors == 1 ? "" : "s");
}

/* The configured log level, and libevent's messages into our log. */
static void
setup_logging(struct daemon *d)
{
	log_set_level(levels[d->cfg->log_level]);
	event_set_log_callback(libevent_log_cb);
}

/* What the process needs from the system: descriptors, systemd's socket, SIGPIPE ignored. */
static void
setup_process(struct daemon *d)
{
	char *cause = NULL;

	fd_limit_fit(d->cfg);
	if (notify_init(&cause) == -1)
		fatalx("%s", cause);
	/* Writes to a peer that has gone must fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
}

/* The event loop, and the TLS context when there are TLS listeners. */
static void
setup_loop(struct daemon *d)
{
	char *cause = NULL, why[256];

	if ((d->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if (d->cfg->ntls > 0 &&
	    (d->tls_ctx = tls_ctx_new(d->cfg, &cause)) == NULL)
		fatalx("%s", cause);
	if (d->tls_ctx != NULL &&
	    tls_ctx_cert_problem(d->tls_ctx, why, sizeof(why)))
		log_warn("%s", why);
}

/* The store (database, spool, writer thread), whose completions wake the loop. */
static void
start_store(struct daemon *d)
{
	struct store_config sc;
	char *cause = NULL;
	bool refused = false;

	log_info("labwatchd %s starting (%s)", PACKAGE_VERSION, d->config_path);
	store_config_from(d->cfg, &sc);
	if ((d->store = store_start(&sc, &refused, &cause)) == NULL) {
		/* Restarting will not change the schema: see the unit file. */
		log_error("store: %s", cause);
		exit(refused ? EXIT_DB_REFUSED : 1);
	}
	ev_completion = xevent(event_new(d->base, store_completion_fd(d->store),
	    EV_READ | EV_PERSIST, completion_cb, d));
	event_add(ev_completion, NULL);
}

/* The listeners, or exit 1 (the store stopped first) when one cannot open. */
static void
open_listeners(struct daemon *d)
{
	char *cause = NULL;

	conn_log_init(d);
	if (listener_open_all(d, &cause) == -1 ||
	    exporter_open(d, &cause) == -1) {
		log_error("%s", cause);
		store_stop(d->store);
		exit(1);
	}
}

/* Signals, the shutdown deadline and the periodic timers. */
static void
add_events(struct daemon *d)
{
	struct timeval tv;
	uint64_t wd_usec;

	ev_hup = xevent(evsignal_new(d->base, SIGHUP, hup_cb, d));
	ev_term = xevent(evsignal_new(d->base, SIGTERM, term_cb, d));
	ev_int = xevent(evsignal_new(d->base, SIGINT, term_cb, d));
	event_add(ev_hup, NULL);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	ev_deadline = xevent(evtimer_new(d->base, deadline_cb, d));

	ev_logsweep = xevent(
	    event_new(d->base, -1, EV_PERSIST, logsweep_cb, d));
	tv.tv_sec = 1;
	tv.tv_usec = 0;
	event_add(ev_logsweep, &tv);
	ev_status = xevent(event_new(d->base, -1, EV_PERSIST, status_cb, d));
	tv.tv_sec = STATUS_INTERVAL_SEC;
	tv.tv_usec = 0;
	event_add(ev_status, &tv);
	wd_usec = notify_watchdog_usec();
	if (wd_usec > 0 && d->cfg->watchdog) {
		ev_watchdog = xevent(
		    event_new(d->base, -1, EV_PERSIST, watchdog_cb, d));
		tv.tv_sec = (time_t)(wd_usec / 2 / 1000000);
		tv.tv_usec = (suseconds_t)(wd_usec / 2 % 1000000);
		event_add(ev_watchdog, &tv);
		log_info("watchdog: pinging every %" PRIu64 " ms",
		    wd_usec / 2000);
	}
}

/* Tell systemd we are ready and serve until SIGTERM's last connection has gone. */
static void
run(struct daemon *d)
{
	send_status(d, "READY=1\n");
	log_info("ready");
	event_base_dispatch(d->base);
}

/*
 * The account of every frame this run received (DESIGN.md contract 2):
 * frames = processed + duplicate + ignored + quarantined + spooled +
 * refused (AR, not stored); frames drained from the spool are counted
 * apart, and so are frames still with the store. Counts only, no patient
 * data; the fault tests read this line.
 */
static void
log_counters(struct daemon *d)
{
	struct store_stats st;
	uint64_t live[STORE_NOUTCOMES], sum = 0, drained = 0;
	int i;

	store_stats(d->store, &st);
	for (i = 0; i < STORE_NOUTCOMES; i++) {
		live[i] = st.outcomes[i] - st.drained[i];
		sum += live[i];
		drained += st.drained[i];
	}
	log_info("counters: %" PRIu64 " frames received, %" PRIu64
		 " accounted: %" PRIu64 " processed, %" PRIu64
		 " duplicate, %" PRIu64 " ignored, %" PRIu64
		 " quarantined, %" PRIu64 " spooled, %" PRIu64
		 " refused (AR, not stored), %zu with the store; %" PRIu64
		 " drained from the spool, %" PRIu64 " still spooled",
	    d->stats.frames, sum, live[STORE_PROCESSED], live[STORE_DUPLICATE],
	    live[STORE_IGNORED], live[STORE_QUARANTINED], live[STORE_SPOOLED],
	    live[STORE_REJECTED], store_pending(d->store), drained,
	    st.spooled_pending);
}

/* After the loop: flush the log summaries, stop the store, free everything. */
static void
shut_down(struct daemon *d)
{
	struct daemon_stats *s = &d->stats;

	conn_log_sweep(d, true);
	log_info("all connections closed; stopping the store");
	log_counters(d);
	store_stop(d->store);
	log_info("stopped: %" PRIu64 " connections, %" PRIu64 " frames "
		 "(%" PRIu64 " oversize, %" PRIu64 " abandoned), %" PRIu64
		 " ACKs sent, %" PRIu64 " not deliverable",
	    s->accepted, s->frames, s->oversize, s->abandoned, s->acks_sent,
	    s->acks_unsent);
	event_free(ev_completion);
	event_free(ev_status);
	event_free(ev_logsweep);
	if (ev_watchdog != NULL)
		event_free(ev_watchdog);
	event_free(ev_deadline);
	event_free(ev_hup);
	event_free(ev_term);
	event_free(ev_int);
	listener_close_all(d);
	exporter_close(d);
	SSL_CTX_free(d->tls_ctx);
	event_base_free(d->base);
	config_free(d->cfg);
	free(d->cfg);
	free(d->config_path);
	notify_close();
}

int
main(int argc, char **argv)
{
	struct daemon d;
	const char *path = CONFIG_DEFAULT_PATH;
	bool check = false;
	int exit_code;

	if (!parse_args(argc, argv, &path, &check, &exit_code))
		return exit_code;
	if (check)
		return check_config(path);

	log_init("labwatchd");
	load_config(&d, path);
	setup_logging(&d);
	setup_process(&d);
	setup_loop(&d);
	start_store(&d);
	open_listeners(&d);
	add_events(&d);
	run(&d);
	shut_down(&d);
	return 0;
}
