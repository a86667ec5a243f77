/*
 * cmd_notify.c: labwatch notify: page someone for each alert event, with
 * a command or a webhook, once per target; escalate unanswered critical
 * alerts. The loop is notify.c; here are its options.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "cli/deliver.h"
#include "cli/notify.h"
#include "lib/buf.h"
#include "lib/hash.h"

static void
notify_usage(FILE *f)
{
	fprintf(f,
	    "usage: labwatch notify [--db CONNINFO] (--exec CMD | --webhook "
	    "URL) [--ca FILE]\n"
	    "                       [--target NAME] [--min-severity SEV] "
	    "[--kind K,...]\n"
	    "                       [--protocol P] [--max-attempts N] "
	    "[--retry-after D]\n"
	    "                       [--retry-max D] [--timeout D] "
	    "[--parallel N]\n"
	    "                       [--escalate-after D (--escalate-exec CMD |"
	    " --escalate-webhook URL)\n"
	    "                        [--escalate-target NAME]]\n"
	    "                       [--metrics-listen HOST:PORT]\n"
	    "  Delivers each alert event (trigger, acknowledge, resolve, reopen)"
	    " once to CMD (run\n"
	    "  with /bin/sh -c, the event as JSON on its standard input) or "
	    "URL (POSTed).\n"
	    "  --target        the name deliveries are recorded under (default:"
	    " CMD, or the\n"
	    "                  URL's scheme://host:port and a hash of the rest)"
	    "\n"
	    "  --min-severity  info (default), warning or critical\n"
	    "  --kind          only these alert kinds (comma-separated)\n"
	    "  --max-attempts  then the delivery failed and a critical alert "
	    "says so (5)\n"
	    "  --retry-after   the first retry's wait, doubled each time (30s)\n"
	    "  --retry-max     the longest wait between attempts (10m)\n"
	    "  --timeout       one delivery at most (30s)\n"
	    "  --parallel      deliveries in flight at once, 1 to 256 (16); "
	    "the events of one\n"
	    "                  alert, or of one episode, still go out one "
	    "at a time, in order\n"
	    "  --escalate-after  a critical alert still open after D gets an "
	    "escalate event,\n"
	    "                  delivered to the --escalate-exec CMD or URL\n"
	    "  --metrics-listen  serve Prometheus metrics at "
	    "http://HOST:PORT/metrics\n"
	    "  Durations: 200ms, 90s, 10m, 1h.\n");
}

/* --kind a,b into the text[] literal {a,b}; NULL if a kind is not a word. */
static char *
kinds_array(const char *s)
{
	struct buf b;
	size_t i;

	if (*s == '\0' ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyz_,") != strlen(s))
		return NULL;
	buf_init(&b);
	buf_addc(&b, '{');
	for (i = 0; s[i] != '\0'; i++)
		buf_addc(&b, s[i]);
	buf_adds(&b, "}");
	return b.p;
}

static int
duration_opt(const char *name, const char *v, double *out)
{
	if (notify_parse_duration(v, out) != 0 || *out <= 0) {
		fprintf(stderr,
		    "labwatch notify: %s: '%s' is not a duration "
		    "(200ms, 90s, 10m, 1h)\n",
		    name, v);
		return -1;
	}
	return 0;
}

/*
 * A webhook's default target name: its scheme://host[:port], and a short
 * hash of the rest (path and query), which is a credential for Slack or
 * Teams and must not reach a log, a deliveries row or an alert summary.
 * Into out (cap bytes).
 */
static void
url_name(const char *url, char *out, size_t cap)
{
	const char *h = strstr(url, "://"), *rest;

	h = h != NULL ? h + 3 : url;
	rest = h + strcspn(h, "/?#");
	snprintf(out, cap, "%.*s#%08llx", (int)(rest - url), url,
	    (unsigned long long)(hash_bytes(rest, strlen(rest)) & 0xffffffffu));
}

/* Fill t's name and check that it has one way to deliver. */
static int
target_check(struct notify_target *t, const char *what, char *name, size_t cap)
{
	const char *why;

	if ((t->exec == NULL) == (t->url == NULL)) {
		fprintf(stderr,
		    "labwatch notify: give exactly one of --%sexec and "
		    "--%swebhook\n",
		    what, what);
		return -1;
	}
	if (t->url != NULL && !deliver_http_url_ok(t->url, &why)) {
		fprintf(stderr, "labwatch notify: %s\n", why);
		return -1;
	}
	if (t->name == NULL && t->url != NULL) {
		url_name(t->url, name, cap);
		t->name = name;
	} else if (t->name == NULL)
		t->name = t->exec;
	return 0;
}

/*
 * Under systemd's watchdog (WATCHDOG_USEC, for us when WATCHDOG_PID is
 * unset or ours), notify pings it between deliveries, not during one:
 * --timeout must stay under half the interval, which leaves the other
 * half for the statements around a delivery. 0, or -1 after saying so.
 */
static int
watchdog_check(double timeout)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	double interval;

	if (usec == NULL || *usec == '\0' ||
	    (pid != NULL && *pid != '\0' && atol(pid) != (long)getpid()))
		return 0;
	interval = strtod(usec, NULL) / 1e6;
	if (interval <= 0 || timeout < interval / 2)
		return 0;
	fprintf(stderr,
	    "labwatch notify: --timeout %g s is not under half the watchdog "
	    "interval (WatchdogSec=%g s): lower it or raise WatchdogSec\n",
	    timeout, interval);
	return -1;
}

/* Take option ch (not --help): 0, or -1 after saying what is wrong. */
static int
set_option(struct notify_opts *o, int ch, char **kinds)
{
	char *end;
	long n;

	switch (ch) {
	case 'd':
		o->db = optarg;
		break;
	case 'e':
		o->main.exec = optarg;
		break;
	case 'w':
		o->main.url = optarg;
		break;
	case 'c':
		o->ca = optarg;
		break;
	case 't':
		o->main.name = optarg;
		break;
	case 's':
		if ((o->min_severity = notify_severity_rank(optarg)) < 0) {
			fprintf(stderr,
			    "labwatch notify: --min-severity is info, "
			    "warning or critical\n");
			return -1;
		}
		break;
	case 'k':
		free(*kinds);
		if ((*kinds = kinds_array(optarg)) == NULL) {
			fprintf(stderr,
			    "labwatch notify: --kind takes kinds "
			    "such as toxicity,hold\n");
			return -1;
		}
		break;
	case 'p':
		o->protocol = optarg;
		break;
	case 'm':
		errno = 0;
		n = strtol(optarg, &end, 10);
		if (errno != 0 || *end != '\0' || n < 1 || n > 1000) {
			fprintf(stderr,
			    "labwatch notify: --max-attempts is 1 to "
			    "1000\n");
			return -1;
		}
		o->max_attempts = (int)n;
		break;
	case 'P':
		errno = 0;
		n = strtol(optarg, &end, 10);
		if (errno != 0 || *end != '\0' || n < 1 || n > 256) {
			fprintf(stderr,
			    "labwatch notify: --parallel is 1 to 256\n");
			return -1;
		}
		o->parallel = (int)n;
		break;
	case 'r':
		if (duration_opt("--retry-after", optarg, &o->retry_base) != 0)
			return -1;
		break;
	case 'R':
		if (duration_opt("--retry-max", optarg, &o->retry_max) != 0)
			return -1;
		break;
	case 'T':
		if (duration_opt("--timeout", optarg, &o->timeout) != 0)
			return -1;
		break;
	case 'A':
		if (duration_opt("--escalate-after", optarg,
			&o->escalate_after) != 0)
			return -1;
		break;
	case 'E':
		o->esc.exec = optarg;
		break;
	case 'W':
		o->esc.url = optarg;
		break;
	case 'N':
		o->esc.name = optarg;
		break;
	case 'M':
		o->metrics_listen = optarg;
		break;
	default:
		return -1;
	}
	return 0;
}

int
cmd_notify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "exec", required_argument, NULL, 'e' },
		{ "webhook", required_argument, NULL, 'w' },
		{ "ca", required_argument, NULL, 'c' },
		{ "target", required_argument, NULL, 't' },
		{ "min-severity", required_argument, NULL, 's' },
		{ "kind", required_argument, NULL, 'k' },
		{ "protocol", required_argument, NULL, 'p' },
		{ "max-attempts", required_argument, NULL, 'm' },
		{ "retry-after", required_argument, NULL, 'r' },
		{ "retry-max", required_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "parallel", required_argument, NULL, 'P' },
		{ "escalate-after", required_argument, NULL, 'A' },
		{ "escalate-exec", required_argument, NULL, 'E' },
		{ "escalate-webhook", required_argument, NULL, 'W' },
		{ "escalate-target", required_argument, NULL, 'N' },
		{ "metrics-listen", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct notify_opts o;
	char *kinds = NULL, name[2][300];
	int ch, rc = 2;

	memset(&o, 0, sizeof(o));
	o.max_attempts = 5;
	o.retry_base = 30;
	o.retry_max = 600;
	o.timeout = 30;
	o.parallel = 16;
	o.esc.escalation = true;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			notify_usage(stdout);
			rc = 0;
			goto out;
		case '?':
			notify_usage(stderr);
			goto out;
		default:
			if (set_option(&o, ch, &kinds) != 0)
				goto out;
		}
	}
	if (optind != argc) {
		notify_usage(stderr);
		goto out;
	}
	o.kinds = kinds;
	if (target_check(&o.main, "", name[0], sizeof(name[0])) != 0)
		goto out;
	if (o.escalate_after > 0 || o.esc.exec != NULL || o.esc.url != NULL) {
		if (o.escalate_after <= 0) {
			fprintf(stderr,
			    "labwatch notify: --escalate-exec and "
			    "--escalate-webhook need --escalate-after\n");
			goto out;
		}
		if (target_check(&o.esc, "escalate-", name[1],
			sizeof(name[1])) != 0)
			goto out;
		if (strcmp(o.esc.name, o.main.name) == 0) {
			fprintf(stderr,
			    "labwatch notify: the escalation target needs a "
			    "name of its own (--escalate-target)\n");
			goto out;
		}
	}
	if (watchdog_check(o.timeout) != 0)
		goto out;
	rc = notify_run(&o);
out:
	free(kinds);
	return rc;
}
