/*
 * cmd_replay.c: labwatch replay [options] FILE|DIR|-...
 *
 * Sends message archives to labwatchd over MLLP or MLLP/TLS: the options,
 * then the engine (replay.c) does the work.
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
	    "                       always go in order on one of them\n"
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
	    "  Exit status: 0 every message accepted, 1 some AE/CE or "
	    "broken input,\n"
	    "  2 usage, connection, or a message given up (the run stops "
	    "there).\n");
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
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

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
	const char *tlsfiles[3] = { NULL }; /* --ca, --cert, --key */
	char *host = NULL, *port = NULL, *cause = NULL;
	bool tls = false;
	int ch, st = 2;

	o.net.timeout_s = 30;
	env_target(&host, &port);
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			replay_usage(stdout);
			st = 0;
			goto out;
		}
		if (replay_opt(ch, &o, &host, &port, &tls, tlsfiles) != 0) {
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
