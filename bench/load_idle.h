/*
 * load_idle.h: mllp_load --idle: the server's resident memory per idle
 * connection. Read its VmRSS (/proc/PID/status), open opt.idle plain idle
 * connections, wait, read it again. With --template, one message is sent
 * first on a connection kept aside, so the server's message path is warm
 * before the baseline.
 */
#ifndef LABWATCH_BENCH_LOAD_IDLE_H
#define LABWATCH_BENCH_LOAD_IDLE_H

#include <sys/resource.h>

/* Raise the soft limit of open files to want (at most the hard limit). */
void raise_nofile(rlim_t want);
/* The idle run and its report; the exit status (1: the server closed some). */
int idle_run(void);

#endif
