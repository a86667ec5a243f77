/*
 * deliver.h: the two ways labwatch notify hands an event over: a command
 * run through /bin/sh with the event on standard input, or an HTTP(S)
 * POST. Both block for at most their timeout and say what went wrong in
 * words that hold no patient data (an exit status, an HTTP status, a
 * system error): the command's output and the server's answer are never
 * copied into them.
 */
#ifndef LABWATCH_DELIVER_H
#define LABWATCH_DELIVER_H

#include <stddef.h>

#include "lib/attr.h"

/* What a delivery came to. */
enum deliver_rc {
	DELIVER_OK = 0, /* exit status 0, or an HTTP 2xx */
	DELIVER_FAILED, /* anything else: err says what */
};

/*
 * Run cmd with /bin/sh -c in its own process group, body on its standard
 * input, its standard output on /dev/null (standard error is ours), and env (NULL-terminated "NAME=VALUE" strings) added to the
 * environment. After timeout seconds the group is killed. err (cap
 * bytes) gets "exit status 3", "killed by signal 9", "timed out after
 * 30 s", ... SIGPIPE is ignored in this process from the first call on.
 */
LW_MUSTCHECK enum deliver_rc deliver_exec(const char *cmd, const char *body,
    size_t len, char *const *env, double timeout, char *err, size_t cap);

/*
 * POST body (application/json) to url (http:// or https://; ca: a PEM
 * file of trusted CAs, NULL: the system's), the whole exchange within
 * timeout seconds. 2xx is DELIVER_OK; err gets "HTTP 503", "connect:
 * Connection refused", "TLS: certificate verify failed", ...
 */
LW_MUSTCHECK enum deliver_rc deliver_http(const char *url, const char *ca,
    const char *body, size_t len, double timeout, char *err, size_t cap);

/* Whether url is one deliver_http() takes (else *why). */
LW_MUSTCHECK int deliver_http_url_ok(const char *url, const char **why);

#endif
