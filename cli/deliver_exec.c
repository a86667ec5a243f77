/*
 * deliver_exec.c: run a paging command with the event on its standard
 * input (see deliver.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/deliver.h"
#include "lib/xmalloc.h"

extern char **environ;

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Our environment with env's "NAME=VALUE" strings added (replacing ours of
 * the same names): built before fork(), since in the child of a
 * multithreaded process only async-signal-safe calls are allowed until
 * exec (putenv() takes glibc's environment lock and may malloc: a lock
 * another thread held at fork() stays held in the child for ever). The
 * array is malloc'd; its strings are ours or env's.
 */
static char **
child_env(char *const *env)
{
	size_t n = 0, m = 0, k = 0, i, j, len;
	char **out;
	bool replaced;

	while (environ != NULL && environ[n] != NULL)
		n++;
	while (env != NULL && env[m] != NULL)
		m++;
	out = xcalloc(n + m + 1, sizeof(*out));
	for (i = 0; i < n; i++) {
		for (j = 0, replaced = false; j < m && !replaced; j++) {
			len = strcspn(env[j], "=");
			replaced = strncmp(environ[i], env[j], len) == 0 &&
			    environ[i][len] == '=';
		}
		if (!replaced)
			out[k++] = environ[i];
	}
	for (j = 0; j < m; j++)
		out[k++] = env[j];
	out[k] = NULL;
	return out;
}

/*
 * In the child: signals as a fresh process has them, then exec. Only
 * async-signal-safe calls here (see child_env()).
 */
static void
child(const char *cmd, int in, char *const *envp)
{
	char *const argv[] = { "sh", "-c", (char *)cmd, NULL };
	struct sigaction dfl;
	sigset_t none;
	int null;

	setpgid(0, 0);
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &dfl, NULL);
	sigaction(SIGINT, &dfl, NULL);
	sigaction(SIGTERM, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(in, STDIN_FILENO) < 0)
		_exit(126);
	if (in != STDIN_FILENO)
		close(in);
	/*
	 * Its output would reach the journal, and a page says what the alert
	 * says: only its standard error (its complaints) is kept.
	 */
	if ((null = open("/dev/null", O_WRONLY)) >= 0 &&
	    dup2(null, STDOUT_FILENO) >= 0 && null != STDOUT_FILENO)
		close(null);
	execve("/bin/sh", argv, envp);
	_exit(127);
}

/*
 * Write body to fd (non-blocking) until done, the reader closes, or the
 * deadline. A command that does not read its input is not a failure.
 */
static void
feed(int fd, const char *body, size_t len, double deadline)
{
	struct pollfd pfd;
	ssize_t n;
	double left;

	while (len > 0) {
		n = write(fd, body, len);
		if (n > 0) {
			body += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return; /* EPIPE: it closed its input */
		left = deadline - now_mono();
		if (left <= 0)
			return;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		(void)poll(&pfd, 1, (int)(left * 1000) + 1);
	}
}

/*
 * Wait until pid may have ended or until the deadline: on its pidfd
 * (Linux 5.3) when there is one, else a nap of *nap that grows from 1 to
 * 20 ms (quick commands are still seen at once).
 */
static void
wait_a_while(int pidfd, double deadline, struct timespec *nap)
{
	struct pollfd pfd;
	double left = deadline - now_mono();

	if (pidfd >= 0) {
		pfd.fd = pidfd;
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, left > 0 ? (int)(left * 1000) + 1 : 0);
		return;
	}
	nanosleep(nap, NULL);
	if (nap->tv_nsec < 20000000)
		nap->tv_nsec += 1000000;
}

enum deliver_rc
deliver_exec(const char *cmd, const char *body, size_t len, char *const *env,
    double timeout, char *err, size_t cap)
{
	double deadline = now_mono() + timeout;
	struct timespec nap = { 0, 1000000 };
	int fds[2], status, pidfd;
	char **envp;
	pid_t pid, w;

	/* A command that exits unread must not kill us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(err, cap, "pipe: %s", strerror(errno));
		return DELIVER_FAILED;
	}
	envp = child_env(env);
	if ((pid = fork()) < 0) {
		snprintf(err, cap, "fork: %s", strerror(errno));
		free(envp);
		close(fds[0]);
		close(fds[1]);
		return DELIVER_FAILED;
	}
	if (pid == 0) {
		close(fds[1]);
		child(cmd, fds[0], envp);
	}
	free(envp);
	/* Both sides, so that a kill of the group never misses it. */
	setpgid(pid, pid);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	close(fds[0]);
	(void)fcntl(fds[1], F_SETFL, O_NONBLOCK);
	feed(fds[1], body, len, deadline);
	close(fds[1]);
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			snprintf(err, cap, "waitpid: %s", strerror(errno));
			if (pidfd >= 0)
				close(pidfd);
			return DELIVER_FAILED;
		}
		if (now_mono() >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			snprintf(err, cap, "timed out after %g s", timeout);
			if (pidfd >= 0)
				close(pidfd);
			return DELIVER_FAILED;
		}
		wait_a_while(pidfd, deadline, &nap);
	}
	if (pidfd >= 0)
		close(pidfd);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return DELIVER_OK;
	if (WIFEXITED(status))
		snprintf(err, cap, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(err, cap, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(err, cap, "ended with wait status %d", status);
	return DELIVER_FAILED;
}
