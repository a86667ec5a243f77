/*
 * load_idle.c: mllp_load --idle (see load_idle.h).
 */
#include "load_idle.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "load_conn.h"
#include "load_tmpl.h"
#include "mllp_load.h"

static long
rss_kib(long pid)
{
	char path[64], line[256];
	FILE *f;
	long kib = -1;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		load_fatalx("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kib = strtol(line + 6, NULL, 10);
			break;
		}
	}
	fclose(f);
	if (kib < 0)
		load_fatalx("%s: no VmRSS", path);
	return kib;
}

void
raise_nofile(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
		rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
idle_run(void)
{
	struct conn warm, *cs;
	char err[256], cid[CID_MAX];
	const char *frame;
	size_t flen, used;
	long before, after, i, closed = 0;
	double per;
	struct pollfd pfd;
	int n;

	raise_nofile((rlim_t)opt.idle + 64);
	memset(&warm, 0, sizeof(warm));
	warm.fd = -1;
	if (ntmpl > 0) {
		/* Warm the server's message path before the baseline. */
		if (conn_open(&warm, true, false, err, sizeof(err)) < 0)
			load_fatalx("%s", err);
		n = cid_format(cid, sizeof(cid), 0, 0);
		if (conn_write(&warm, tmpls[0].pre, tmpls[0].prelen, err,
			sizeof(err)) < 0 ||
		    conn_write(&warm, cid, (size_t)n, err, sizeof(err)) < 0 ||
		    conn_write(&warm, tmpls[0].post, tmpls[0].postlen, err,
			sizeof(err)) < 0 ||
		    conn_read_frame(&warm, &frame, &flen, &used, err,
			sizeof(err)) < 0)
			load_fatalx("warm-up: %s", err);
		usleep(200000);
	}

	before = rss_kib(opt.pid);
	cs = load_xmalloc((size_t)opt.idle * sizeof(*cs));
	for (i = 0; i < opt.idle; i++) {
		memset(&cs[i], 0, sizeof(cs[i]));
		if (conn_open(&cs[i], false, false, err, sizeof(err)) < 0)
			load_fatalx("idle connection %ld: %s", i + 1, err);
	}
	usleep((useconds_t)(opt.idle_wait * 1e6));
	after = rss_kib(opt.pid);

	/* A server that dropped idle connections did not hold them. */
	for (i = 0; i < opt.idle; i++) {
		pfd.fd = cs[i].fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 0) > 0)
			closed++;
		conn_close(&cs[i]);
		free(cs[i].rbuf);
	}
	free(cs);
	conn_close(&warm);
	free(warm.rbuf);

	per = (double)(after - before) * 1024.0 / (double)opt.idle;
	fprintf(opt.json ? stderr : stdout,
	    "idle: pid %ld, %ld plain connections held %.1f s: VmRSS %ld -> "
	    "%ld KiB, %.0f bytes (%.1f KiB) per connection; %ld closed by the "
	    "server\n",
	    opt.pid, opt.idle, opt.idle_wait, before, after, per, per / 1024.0,
	    closed);
	if (opt.json)
		printf("{\"mode\":\"idle\",\"pid\":%ld,\"connections\":%ld,"
		       "\"wait_s\":%.1f,\"rss_before_kib\":%ld,"
		       "\"rss_after_kib\":%ld,\"bytes_per_conn\":%.0f,"
		       "\"closed_by_server\":%ld}\n",
		    opt.pid, opt.idle, opt.idle_wait, before, after, per,
		    closed);
	return closed == 0 ? 0 : 1;
}
