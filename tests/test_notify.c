/*
 * test_notify.c: the pure parts of labwatch notify: durations as people
 * write them, the retry backoff and its cap, severities, and the command
 * runner (a real /bin/sh: exit status, stdin, environment, timeout), and
 * the pool of delivery threads (several at once, never more than its
 * size, each job back once with its outcome).
 */
#include <arpa/inet.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
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
#include "cli/notify_pool.h"

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

/*
 * Another thread changing the environment (glibc's setenv holds a lock and
 * may be inside malloc) while deliver_exec() forks: the child must not
 * touch either before exec (a fork in a multithreaded process copies the
 * lock held), or it hangs until the timeout kills it. Its environment is
 * built in the parent.
 */
static atomic_bool env_stop;

static void *
env_churn(void *arg)
{
	char v[32];
	unsigned i = 0;

	(void)arg;
	while (!atomic_load(&env_stop)) {
		snprintf(v, sizeof(v), "%u", i++);
		setenv("LW_TEST_CHURN", v, 1);
	}
	return NULL;
}

Test(notify, exec_env_built_before_fork)
{
	char *env[] = { "LABWATCH_ALERT_EVENT=resolve", NULL };
	char err[128] = "";
	pthread_t t;
	int i, ok = 0;

	atomic_store(&env_stop, false);
	cr_assert_eq(pthread_create(&t, NULL, env_churn, NULL), 0);
	for (i = 0; i < 30; i++)
		ok += deliver_exec("[ \"$LABWATCH_ALERT_EVENT\" = resolve ]",
			  "", 0, env, 1, err, sizeof(err)) == DELIVER_OK;
	atomic_store(&env_stop, true);
	pthread_join(t, NULL);
	cr_assert_eq(ok, 30, "%d of 30 commands ran (last error: %s)", ok, err);
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

/* What came back of a pool job. */
struct pool_res {
	int seen;
	enum deliver_rc rc;
	char err[256];
};

/* Take back a finished job of the test below (waiting for one). */
static void
pool_take(struct notify_pool *p)
{
	struct pool_job *j;
	struct pool_res *r;

	while ((j = pool_collect(p)) == NULL)
		usleep(10000);
	r = j->owner;
	r->seen++;
	r->rc = j->rc;
	snprintf(r->err, sizeof(r->err), "%s", j->err);
	free((char *)j->exec);
	pool_job_free(j);
}

/*
 * Six jobs for a pool of 3: each sleeps 0.3 s after counting the jobs
 * running beside it (a file per job in a directory); jobs 2 and 5 fail.
 * All come back once, with their outcome; at most 3 ran at once, and
 * more than one.
 */
Test(notify, pool_runs_n_at_once)
{
	char dir[] = "/tmp/lw-pool.XXXXXX", cmd[512], path[600], *cause = NULL;
	struct pool_res res[6];
	struct notify_pool *p;
	struct pool_job *j;
	struct timespec a, b;
	int i, max = 0, n;
	FILE *f;

	memset(res, 0, sizeof(res));
	cr_assert_not_null(mkdtemp(dir));
	p = pool_new(3, NULL, 5, &cause);
	cr_assert_not_null(p, "%s", cause != NULL ? cause : "");
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < 6; i++) {
		if (i >= 3) /* a free slot first, as notify waits for one */
			pool_take(p);
		cr_assert_eq(pool_free_slots(p), 3 - (i < 3 ? i : 2));
		j = pool_job_new();
		snprintf(cmd, sizeof(cmd),
		    "touch %s/run.$$; ls %s | grep -c '^run' >>%s/conc; "
		    "sleep 0.3; rm %s/run.$$; exit %d",
		    dir, dir, dir, dir, i % 3 == 2 ? 3 : 0);
		j->exec = strdup(cmd);
		j->owner = &res[i];
		buf_adds(&j->body, "{}\n");
		pool_submit(p, j);
	}
	while (pool_busy(p) > 0)
		pool_take(p);
	clock_gettime(CLOCK_MONOTONIC, &b);
	pool_free(p);
	for (i = 0; i < 6; i++) {
		cr_assert_eq(res[i].seen, 1, "job %d came back %d times", i,
		    res[i].seen);
		cr_assert_eq(res[i].rc,
		    i % 3 == 2 ? DELIVER_FAILED : DELIVER_OK, "job %d: %s", i,
		    res[i].err);
		if (i % 3 == 2)
			cr_assert_str_eq(res[i].err, "exit status 3");
	}
	snprintf(path, sizeof(path), "%s/conc", dir);
	cr_assert_not_null(f = fopen(path, "r"));
	while (fscanf(f, "%d", &n) == 1)
		max = n > max ? n : max;
	fclose(f);
	unlink(path);
	rmdir(dir);
	cr_assert(max >= 2 && max <= 3, "at most %d at once", max);
	/* Not a timed test: say how long it took, for whoever reads. */
	cr_log_info("6 jobs of 0.3 s, 3 at once: %.2f s",
	    (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
}
