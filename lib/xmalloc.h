/*
 * xmalloc.h: allocators that never return NULL. Running out of memory is
 * fatal for labwatch (as in tmux and OpenBSD daemons): a daemon that cannot
 * allocate cannot keep its contract, so it stops and systemd restarts it.
 */
#ifndef LABWATCH_XMALLOC_H
#define LABWATCH_XMALLOC_H

#include <stddef.h>

/* malloc(n), aborting on failure. */
void *xmalloc(size_t n);
/* calloc(n, size), aborting on failure or overflow. */
void *xcalloc(size_t n, size_t size);
/* realloc of n * size bytes, aborting on failure or overflow. */
void *xreallocarray(void *p, size_t n, size_t size);
/* strdup(s), aborting on failure. */
char *xstrdup(const char *s);
/* A copy of s[0..n) with a NUL appended, aborting on failure. */
char *xstrndup(const char *s, size_t n);
/* A malloc'ed printf-formatted string, aborting on failure. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
