/*
 * log.h: labwatchd's logging, to stderr for the journal.
 *
 * When stderr is the journal (JOURNAL_STREAM names it), each line starts
 * with a "<N>" syslog priority so journald files it at the right level;
 * otherwise lines carry a time and a level word. Messages name peers,
 * control ids, counts and reasons: never patient data (DESIGN.md, 5).
 */
#ifndef LABWATCH_LOG_H
#define LABWATCH_LOG_H

#include <stdarg.h>
#include <stdbool.h>

/* Levels, numbered as syslog priorities so "<N>" is the level itself. */
enum log_level {
	LOG_LEVEL_ERROR = 3,
	LOG_LEVEL_WARN = 4,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* Decide the output format (journal or terminal) once, at start. */
void log_init(const char *progname);
/* Messages above this level are dropped. */
void log_set_level(enum log_level level);
/* True when a message at level would be written (to skip costly formatting). */
bool log_enabled(enum log_level level);
/* "error", "warn", "info", "debug". */
const char *log_level_name(enum log_level level);

/* One line at level; peer, when not NULL, prefixes it ("peer: message"). */
void log_peer(enum log_level level, const char *peer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vpeer(enum log_level level, const char *peer, const char *fmt,
    va_list ap) __attribute__((format(printf, 3, 0)));

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Log at error level with ": strerror(errno)" appended, and exit(1). */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
/* Log at error level and exit(1): for impossible states and bad setup. */
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
