/*
 * cmd_replay.c: labwatch replay [options] FILE|DIR|-...
 *
 * Sends message archives to labwatchd over MLLP or MLLP/TLS, or with
 * --direct straight into PostgreSQL through labwatchd's store: the
 * options, then the engine (replay.c) does the work.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "cli/cmd.h"
#include "cli/replay.h"
#include "lib/xmalloc.h"

#define DEFAULT_MAX_SIZE (8u * 1024 * 1024)

static void
replay_usage(FILE *f)
{
	fprintf(f,
	    "usage: labwatch replay [options] FILE|DIR|-...\n"
	    "  Sends HL7 v2 messages (MLLP captures, raw files, FHS/BHS "
	    "batches, gzipped\n"
	    "  or not; directories recursively in name order) to labwatchd "
	    "over MLLP.\n"
	    "  --host HOST          labwatchd's host (default from "
	    "LABWATCH_MLLP, else localhost)\n"
	    "  --port PORT          its port (default from LABWATCH_MLLP, "
	    "else 2575, 2576 with --tls)\n"
	    "  --tls                MLLP over TLS\n"
	    "  --ca FILE            CA certificates to verify the server "
	    "with (default:\n"
	    "                       the system's); it must name --host\n"
	    "  --cert FILE --key FILE  client certificate and key\n"
	    "  --connections N      parallel connections (default 4); a "
	    "patient's messages\n"
	    "                       still go in order, one at a time\n"
	    "  --rate MSG_PER_S     send at most this many messages a second\n"
	    "  --timeout SECONDS    wait this long for an ACK (default 30)\n"
	    "  --retries N          resend after AR or timeout up to N times "
	    "(default 10)\n"
	    "  --on-error continue|stop  at a broken message (default "
	    "continue)\n"
	    "  --resume FILE        checkpoint: continue where a previous run "
	    "stopped\n"
	    "  --id-type TYPE       PID-3 type labwatchd prefers (default MR)\n"
	    "  --max-size BYTES     largest message read (default 8 MiB)\n"
	    "  --direct             no daemon: into PostgreSQL through "
	    "labwatchd's own store\n"
	    "                       (same rows, duplicates and alerts as "
	    "over MLLP)\n"
	    "  --db CONNINFO        with --direct: the database (default "
	    "$LABWATCH_DB)\n"
	    "  --config FILE        with --direct: take db, protocol, "
	    "id_type, timezone,\n"
	    "                       default_charset, refuse_other_types, "
	    "max_observations\n"
	    "                       and batch_max from labwatchd's "
	    "configuration file\n"
	    "  --protocol FILE      with --direct: the rules protocol file "
	    "(default the\n"
	    "                       installed nct04933669.conf)\n"
	    "  --batch N            with --direct: messages per transaction "
	    "(default 256)\n"
	    "  --verbose            with --direct: what the store says at "
	    "info level too\n"
	    "  Exit status: 0 every message accepted (stored, duplicate or "
	    "ignored),\n"
	    "  1 some AE/CE, quarantined or broken input, 2 usage, "
	    "connection (or a\n"
	    "  database that refuses us), or a message given up or not "
	    "stored (the run\n"
	    "  stops there).\n");
}

/* LABWATCH_MLLP=HOST:PORT ([V6]:PORT) into host and port, if set. */
static void
env_target(char **host, char **port)
{
	const char *v = getenv("LABWATCH_MLLP");
	const char *colon;

	if (v == NULL || *v == '\0')
		return;
	if ((colon = strrchr(v, ':')) == NULL) {
		*host = xstrdup(v);
		return;
	}
	if (v[0] == '[' && colon > v && colon[-1] == ']')
		*host = xstrndup(v + 1, (size_t)(colon - v - 2));
	else
		*host = xstrndup(v, (size_t)(colon - v));
	*port = xstrdup(colon + 1);
}

static int
num_arg(const char *opt, const char *s, double min, double max, double *out)
{
	char *end;

	*out = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || *out < min || *out > max) {
		fprintf(stderr, "labwatch replay: bad %s '%s'\n", opt, s);
		return -1;
	}
	return 0;
}

/* A whole number of decimal digits only: "1.5", "1e3", " 2", "+2" refused. */
static int
int_arg(const char *opt, const char *s, long long min, long long max,
    long long *out)
{
	char *end = NULL;

	errno = 0;
	*out = *s >= '0' && *s <= '9' ? strtoll(s, &end, 10) : 0;
	if (end == NULL || errno != 0 || *end != '\0' || *out < min ||
	    *out > max) {
		fprintf(stderr, "labwatch replay: bad %s '%s'\n", opt, s);
		return -1;
	}
	return 0;
}

enum {
	OPT_HOST = 256,
	OPT_PORT,
	OPT_TLS,
	OPT_CA,
	OPT_CERT,
	OPT_KEY,
	OPT_CONNECTIONS,
	OPT_RATE,
	OPT_TIMEOUT,
	OPT_RETRIES,
	OPT_ON_ERROR,
	OPT_RESUME,
	OPT_ID_TYPE,
	OPT_MAX_SIZE,
	OPT_DIRECT,
	OPT_DB,
	OPT_CONFIG,
	OPT_PROTOCOL,
	OPT_BATCH,
	OPT_VERBOSE,
};

static const struct option longopts[] = {
	{ "host", required_argument, NULL, OPT_HOST },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "tls", no_argument, NULL, OPT_TLS },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "connections", required_argument, NULL, OPT_CONNECTIONS },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "on-error", required_argument, NULL, OPT_ON_ERROR },
	{ "resume", required_argument, NULL, OPT_RESUME },
	{ "id-type", required_argument, NULL, OPT_ID_TYPE },
	{ "max-size", required_argument, NULL, OPT_MAX_SIZE },
	{ "direct", no_argument, NULL, OPT_DIRECT },
	{ "db", required_argument, NULL, OPT_DB },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "protocol", required_argument, NULL, OPT_PROTOCOL },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* One --direct option into dc (and *direct); 1 when ch is none of them. */
static int
direct_opt(int ch, struct replay_direct_conf *dc, bool *direct)
{
	long long n;

	switch (ch) {
	case OPT_DIRECT:
		*direct = true;
		return 0;
	case OPT_DB:
		dc->db = optarg;
		return 0;
	case OPT_CONFIG:
		dc->config = optarg;
		return 0;
	case OPT_PROTOCOL:
		dc->protocol = optarg;
		return 0;
	case OPT_BATCH:
		if (int_arg("--batch", optarg, 1, 100000, &n) != 0)
			return -1;
		dc->batch_max = (size_t)n;
		return 0;
	case OPT_VERBOSE:
		dc->log_level = 2;
		return 0;
	}
	return 1;
}

/* One option into o; -1 on a bad value. */
static int
replay_opt(int ch, struct replay_opts *o, char **host, char **port, bool *tls,
    const char **tlsfiles)
{
	long long n;
	double v;

	switch (ch) {
	case OPT_HOST:
		free(*host);
		*host = xstrdup(optarg);
		return 0;
	case OPT_PORT:
		free(*port);
		*port = xstrdup(optarg);
		return 0;
	case OPT_TLS:
		*tls = true;
		return 0;
	case OPT_CA:
	case OPT_CERT:
	case OPT_KEY:
		tlsfiles[ch - OPT_CA] = optarg;
		return 0;
	case OPT_CONNECTIONS:
		if (int_arg("--connections", optarg, 1, 1024, &n) != 0)
			return -1;
		o->connections = (int)n;
		return 0;
	case OPT_RATE:
		return num_arg("--rate", optarg, 0, 1e9, &o->rate);
	case OPT_TIMEOUT:
		if (num_arg("--timeout", optarg, 1, 86400, &v) != 0)
			return -1;
		o->net.timeout_s = (int)v;
		return 0;
	case OPT_RETRIES:
		if (int_arg("--retries", optarg, 0, 1000000, &n) != 0)
			return -1;
		o->retries = (int)n;
		return 0;
	case OPT_ON_ERROR:
		if (strcmp(optarg, "stop") != 0 &&
		    strcmp(optarg, "continue") != 0) {
			fprintf(stderr,
			    "labwatch replay: --on-error continue|stop\n");
			return -1;
		}
		o->stop_on_error = strcmp(optarg, "stop") == 0;
		return 0;
	case OPT_RESUME:
		o->resume = optarg;
		return 0;
	case OPT_ID_TYPE:
		o->id_type = optarg;
		return 0;
	case OPT_MAX_SIZE:
		if (int_arg("--max-size", optarg, 1,
			SIZE_MAX < LLONG_MAX ? (long long)SIZE_MAX : LLONG_MAX,
			&n) != 0)
			return -1;
		o->max_size = (size_t)n;
		return 0;
	}
	return -1;
}

int
cmd_replay(int argc, char **argv)
{
	struct replay_opts o = { .connections = 4,
		.retries = 10,
		.max_size = DEFAULT_MAX_SIZE };
	struct replay_inputs in = { .path = NULL };
	struct replay_direct_conf dc = { .lock_timeout_ms = 10000,
		.log_level = 1 };
	const char *tlsfiles[3] = { NULL }; /* --ca, --cert, --key */
	char *host = NULL, *port = NULL, *cause = NULL;
	bool tls = false, direct = false;
	int ch, rc, st = 2;

	o.net.timeout_s = 30;
	env_target(&host, &port);
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			replay_usage(stdout);
			st = 0;
			goto out;
		}
		if ((rc = direct_opt(ch, &dc, &direct)) == 1)
			rc = replay_opt(ch, &o, &host, &port, &tls, tlsfiles);
		if (rc != 0) {
			replay_usage(stderr);
			goto out;
		}
	}
	if (optind == argc || (tlsfiles[1] == NULL) != (tlsfiles[2] == NULL)) {
		fprintf(stderr, "labwatch replay: %s\n",
		    optind == argc ? "no input (FILE, DIR or -)" :
				     "--cert and --key go together");
		goto out;
	}
	if (!direct &&
	    (dc.db || dc.config || dc.protocol || dc.batch_max ||
		dc.log_level > 1)) {
		fprintf(stderr,
		    "labwatch replay: --db, --config, --protocol, --batch "
		    "and --verbose go with --direct\n");
		goto out;
	}
	if (direct && tls) {
		fprintf(stderr,
		    "labwatch replay: --direct sends nothing over "
		    "the network: no --tls\n");
		goto out;
	}
	if (replay_inputs_add(&in, argv + optind, argc - optind, &cause) != 0) {
		fprintf(stderr, "labwatch replay: %s\n", cause);
		goto out;
	}
	o.net.host = host != NULL ? host : "localhost";
	o.net.port = port != NULL ? port : tls ? "2576" : "2575";
	if (tls &&
	    (o.net.tls = mllp_client_tls(tlsfiles[0], tlsfiles[1], tlsfiles[2],
		 &cause)) == NULL) {
		fprintf(stderr, "labwatch replay: %s\n", cause);
		goto out;
	}
	o.tty = isatty(STDERR_FILENO);
	o.progress_every_ms = o.tty ? 250 : 5000;
	if (direct) {
		dc.id_type = o.id_type;
		o.direct = &dc;
	}
	st = (int)replay_run(&o, &in);
out:
	if (o.net.tls != NULL)
		SSL_CTX_free(o.net.tls);
	replay_inputs_free(&in);
	free(cause);
	free(host);
	free(port);
	return st;
}
