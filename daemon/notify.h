/*
 * notify.h: the systemd notification protocol (sd_notify), written out:
 * one datagram of "KEY=value" lines to the AF_UNIX socket named by
 * $NOTIFY_SOCKET ("@name" is an abstract socket). Without the variable
 * every call does nothing, so the daemon runs the same by hand.
 */
#ifndef LABWATCH_NOTIFY_H
#define LABWATCH_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include "lib/attr.h"

/* Open the socket named by $NOTIFY_SOCKET, if any. Returns -1 and *cause when it is malformed. */
LW_MUSTCHECK int notify_init(char **cause);
/* True when there is somewhere to send. */
bool notify_enabled(void);
/* Send one datagram (printf format; several lines allowed). Errors are ignored: systemd may be gone. */
void notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The watchdog interval systemd asked for ($WATCHDOG_USEC, for us per $WATCHDOG_PID), 0 for none. */
uint64_t notify_watchdog_usec(void);
/* Close the socket. */
void notify_close(void);

#endif
