/*
 * notify.c: sd_notify without libsystemd (the protocol is one sendto()).
 */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/xmalloc.h"

static int notify_fd = -1;
static struct sockaddr_un notify_sa;
static socklen_t notify_salen;

int
notify_init(char **cause)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len;

	if (path == NULL || *path == '\0')
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') ||
	    len >= sizeof(notify_sa.sun_path)) {
		*cause = xasprintf("NOTIFY_SOCKET=%s: not a socket path or "
				   "@abstract name",
		    path);
		return -1;
	}
	memset(&notify_sa, 0, sizeof(notify_sa));
	notify_sa.sun_family = AF_UNIX;
	memcpy(notify_sa.sun_path, path, len);
	if (path[0] == '@')
		notify_sa
		    .sun_path[0] = '\0'; /* abstract: no trailing NUL counts */
	notify_salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    len + (path[0] == '/' ? 1 : 0));
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (notify_fd == -1) {
		*cause = xasprintf("notify socket: %s", strerror(errno));
		return -1;
	}
	return 0;
}

bool
notify_enabled(void)
{
	return notify_fd != -1;
}

void
notify_send(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	if (notify_fd == -1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = (int)sizeof(msg) - 1;
	(void)sendto(notify_fd, msg, (size_t)n, MSG_NOSIGNAL,
	    (const struct sockaddr *)&notify_sa, notify_salen);
}

uint64_t
notify_watchdog_usec(void)
{
	const char *u = getenv("WATCHDOG_USEC"), *p = getenv("WATCHDOG_PID");
	unsigned long long v;
	char *end;

	if (u == NULL)
		return 0;
	/* WATCHDOG_PID says whom the watchdog is for: a child must not answer for its parent. */
	if (p != NULL && strtol(p, NULL, 10) != (long)getpid())
		return 0;
	errno = 0;
	v = strtoull(u, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0)
		return 0;
	return (uint64_t)v;
}

void
notify_close(void)
{
	if (notify_fd != -1)
		close(notify_fd);
	notify_fd = -1;
}
