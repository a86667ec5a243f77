/*
 * listener.h: the listening sockets of listen and tls_listen.
 */
#ifndef LABWATCH_LISTENER_H
#define LABWATCH_LISTENER_H

#include "daemon.h"
#include "lib/attr.h"

/* Bind every address of cfg->listen and cfg->tls_listen. Returns 0, or -1 and *cause. */
LW_MUSTCHECK int listener_open_all(struct daemon *d, char **cause);
/* Stop accepting and close the listening sockets. */
void listener_close_all(struct daemon *d);

#endif
