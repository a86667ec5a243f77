/*
 * test_notify.c: the pure parts of labwatch notify: durations as people
 * write them, the retry backoff and its cap, severities, and the command
 * runner (a real /bin/sh: exit status, stdin, environment, timeout).
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "cli/deliver.h"
#include "cli/notify.h"

struct dur_case {
	char in[16];
	int rc;
	double secs;
};

static struct dur_case dur_cases[] = {
	{ "90s", 0, 90 },
	{ "10m", 0, 600 },
	{ "1h", 0, 3600 },
	{ "1.5h", 0, 5400 },
	{ "200ms", 0, 0.2 },
	{ "30", 0, 30 }, /* a bare number is seconds */
	{ "0s", 0, 0 },
	{ "", -1, 0 },
	{ "s", -1, 0 },
	{ "-5s", -1, 0 },
	{ "10 m", -1, 0 },
	{ "10min", -1, 0 },
	{ "5y", -1, 0 },
	{ "1e400s", -1, 0 },
	{ "nan", -1, 0 },
	{ "inf", -1, 0 },
};

ParameterizedTestParameters(notify, duration)
{
	return cr_make_param_array(struct dur_case, dur_cases,
	    sizeof(dur_cases) / sizeof(dur_cases[0]));
}

ParameterizedTest(struct dur_case *c, notify, duration)
{
	double secs = -1;

	cr_assert_eq(notify_parse_duration(c->in, &secs), c->rc, "%s", c->in);
	if (c->rc == 0)
		cr_assert(fabs(secs - c->secs) < 1e-9, "%s: %g", c->in, secs);
}

Test(notify, backoff_doubles_to_its_cap)
{
	static const double want[] = { 30, 60, 120, 240, 480, 600, 600 };
	int n;

	for (n = 1; n <= 7; n++)
		cr_assert_eq(notify_backoff(n, 30, 600), want[n - 1], "n=%d",
		    n);
	cr_assert_eq(notify_backoff(1000000, 0.2, 5), 5);
	cr_assert_eq(notify_backoff(1, 10, 5), 5); /* the cap wins */
}

Test(notify, severity_rank)
{
	cr_assert_eq(notify_severity_rank("info"), 0);
	cr_assert_eq(notify_severity_rank("warning"), 1);
	cr_assert_eq(notify_severity_rank("critical"), 2);
	cr_assert_eq(notify_severity_rank("Critical"), -1);
	cr_assert_eq(notify_severity_rank(""), -1);
}

Test(notify, exec_status_stdin_env)
{
	char *env[] = { "LABWATCH_ALERT_EVENT=trigger", NULL };
	char err[128] = "", path[] = "/tmp/lw-exec.XXXXXX", cmd[256], got[64];
	FILE *f;
	int fd;

	fd = mkstemp(path);
	cr_assert(fd >= 0);
	snprintf(cmd, sizeof(cmd),
	    "read x; echo \"$x $LABWATCH_ALERT_EVENT\" >%s", path);
	cr_assert_eq(deliver_exec(cmd, "{\"a\":1}\n", 8, env, 5, err,
			 sizeof(err)),
	    DELIVER_OK, "%s", err);
	f = fdopen(fd, "r");
	cr_assert(fgets(got, sizeof(got), f) != NULL);
	cr_assert_str_eq(got, "{\"a\":1} trigger\n");
	fclose(f);
	unlink(path);
	cr_assert_eq(deliver_exec("exit 3", "", 0, NULL, 5, err, sizeof(err)),
	    DELIVER_FAILED);
	cr_assert_str_eq(err, "exit status 3");
	cr_assert_eq(deliver_exec("kill -9 $$", "", 0, NULL, 5, err,
			 sizeof(err)),
	    DELIVER_FAILED);
	cr_assert_str_eq(err, "killed by signal 9");
}

Test(notify, exec_output_goes_nowhere)
{
	char err[128] = "";

	/* A page holds patient data: never into notify's log (the journal). */
	cr_assert_eq(
	    deliver_exec("[ \"$(readlink /proc/$$/fd/1)\" = /dev/null ]", "", 0,
		NULL, 5, err, sizeof(err)),
	    DELIVER_OK, "%s", err);
}

Test(notify, exec_timeout_kills_the_group)
{
	struct timespec a, b;
	char err[128] = "";

	clock_gettime(CLOCK_MONOTONIC, &a);
	/* The grandchild sleep holds no pipe of ours open; it is killed too. */
	cr_assert_eq(deliver_exec("sleep 30; sleep 30", "", 0, NULL, 0.3, err,
			 sizeof(err)),
	    DELIVER_FAILED);
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_assert_str_eq(err, "timed out after 0.3 s");
	cr_assert((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9 < 3);
}

Test(notify, exec_that_ignores_stdin)
{
	static char big[1 << 20];
	char err[128] = "";

	memset(big, 'x', sizeof(big));
	/* The command never reads: no SIGPIPE, no hang; its status counts. */
	cr_assert_eq(deliver_exec("exit 0", big, sizeof(big), NULL, 5, err,
			 sizeof(err)),
	    DELIVER_OK, "%s", err);
}

Test(notify, webhook_urls)
{
	const char *why;

	cr_assert(deliver_http_url_ok("http://127.0.0.1:8080/hook", &why));
	cr_assert(deliver_http_url_ok("https://pager.example.org", &why));
	cr_assert(deliver_http_url_ok("http://[::1]:9/x", &why));
	cr_assert(!deliver_http_url_ok("ftp://x/", &why));
	cr_assert(!deliver_http_url_ok("http://:80/", &why));
	cr_assert(!deliver_http_url_ok("http://h:80x/", &why));
	cr_assert(!deliver_http_url_ok("http://h:/", &why));
}

Test(notify, webhook_refused)
{
	char err[128] = "";

	/* Port 9 (discard) on loopback: nothing listens in a test box. */
	cr_assert_eq(deliver_http("http://127.0.0.1:9/", NULL, "{}", 2, 2, err,
			 sizeof(err)),
	    DELIVER_FAILED);
	cr_assert_str_eq(err, "connect: Connection refused");
}

/*
 * A peer that takes the connection (the kernel's backlog) and never
 * answers: plain and TLS, the delivery ends at its timeout.
 */
Test(notify, webhook_silent_peer_times_out)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	char err[128], url[64];
	const char *scheme[] = { "http", "https" };
	struct timespec a, b;
	int fd, i;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	cr_assert(listen(fd, 8) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	for (i = 0; i < 2; i++) {
		snprintf(url, sizeof(url), "%s://127.0.0.1:%d/hook", scheme[i],
		    ntohs(sa.sin_port));
		clock_gettime(CLOCK_MONOTONIC, &a);
		err[0] = '\0';
		cr_assert_eq(deliver_http(url, NULL, "{}", 2, 0.4, err,
				 sizeof(err)),
		    DELIVER_FAILED);
		clock_gettime(CLOCK_MONOTONIC, &b);
		cr_assert_str_eq(err, "timed out", "%s: %s", url, err);
		cr_assert(
		    (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9 < 2);
	}
	close(fd);
}
