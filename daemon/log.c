/*
 * log.c: lines to stderr, with syslog priority prefixes under journald.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_max = LOG_LEVEL_INFO;
static bool log_journal;
static const char *log_prog = "labwatchd";

/* JOURNAL_STREAM is "dev:ino" of the stream journald gave us; trust it only if it is still stderr. */
static bool
stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (e == NULL || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(2, &st) == -1)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *progname)
{
	if (progname != NULL)
		log_prog = progname;
	log_journal = stderr_is_journal();
}

void
log_set_level(enum log_level level)
{
	log_max = level;
}

bool
log_enabled(enum log_level level)
{
	return level <= log_max;
}

const char *
log_level_name(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_ERROR:
		return "error";
	case LOG_LEVEL_WARN:
		return "warn";
	case LOG_LEVEL_INFO:
		return "info";
	case LOG_LEVEL_DEBUG:
		return "debug";
	}
	return "?";
}

void
log_vpeer(enum log_level level, const char *peer, const char *fmt, va_list ap)
{
	char msg[1024], head[64];
	struct timespec ts;
	struct tm tm;
	size_t n;

	if (!log_enabled(level))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* A line is a line: a reason quoted from elsewhere must not forge another. */
	for (n = 0; msg[n] != '\0'; n++)
		if (msg[n] == '\n' || msg[n] == '\r')
			msg[n] = ' ';
	if (log_journal) {
		snprintf(head, sizeof(head), "<%d>", (int)level);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(head, sizeof(head), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(head + n, sizeof(head) - n,
		    ".%03ldZ %s[%ld] %s: ", ts.tv_nsec / 1000000, log_prog,
		    (long)getpid(), log_level_name(level));
	}
	if (peer != NULL)
		fprintf(stderr, "%s%s: %s\n", head, peer, msg);
	else
		fprintf(stderr, "%s%s\n", head, msg);
}

void
log_peer(enum log_level level, const char *peer, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vpeer(level, peer, fmt, ap);
	va_end(ap);
}

#define LOG_FN(name, level) \
	void name(const char *fmt, ...) \
	{ \
		va_list ap; \
\
		va_start(ap, fmt); \
		log_vpeer(level, NULL, fmt, ap); \
		va_end(ap); \
	}
LOG_FN(log_error, LOG_LEVEL_ERROR)
LOG_FN(log_warn, LOG_LEVEL_WARN)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_debug, LOG_LEVEL_DEBUG)

void
fatal(const char *fmt, ...)
{
	char msg[768];
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s: %s", msg, strerror(saved));
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vpeer(LOG_LEVEL_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
