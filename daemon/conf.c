/*
 * conf.c: the key table, read through the shared INI reader (lib/ini.h).
 * What is printed from the table (the example file, the man page) is in
 * conf_doc.c.
 */
#include "conf.h"
#include "conf_key.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hl7/text.h"
#include "lib/ini.h"
#include "lib/xmalloc.h"
#include "log.h"

#ifndef LABWATCH_DATADIR
#define LABWATCH_DATADIR "/usr/local/share/labwatch"
#endif

static int check_listen(struct config *, const char *, char **);
static int check_tls_listen(struct config *, const char *, char **);
static int check_metrics_listen(struct config *, const char *, char **);
static int check_allow(struct config *, const char *, char **);
static int check_subjects(struct config *, const char *, char **);
static int check_timezone(struct config *, const char *, char **);
static int check_charset(struct config *, const char *, char **);
static int check_token(struct config *, const char *, char **);

#define OFF(f) offsetof(struct config, f)
#define KiB 1024LL
#define MiB (1024LL * 1024)
#define GiB (1024LL * 1024 * 1024)

/*
 * The keys, in the order the example file lists them. Help text: one or
 * more lines, each printed as a comment; a line starting "[" opens a new
 * section heading in the example.
 */
static const struct config_key keys[] = {
	/* network */
	{ "listen", CF_STR, "0.0.0.0:2575", false, OFF(listen), 0, 0, NULL,
	    check_listen,
	    "Plain MLLP listeners: comma-separated host:port ([v6addr]:port for\n"
	    "IPv6, *:port or :port for every address). Empty: no plain listener." },
	{ "tls_listen", CF_STR, "", false, OFF(tls_listen), 0, 0, NULL,
	    check_tls_listen,
	    "MLLP over TLS listeners, same syntax (2576 is the usual port).\n"
	    "Empty: no TLS listener. Needs tls_cert and tls_key." },
	{ "tls_cert", CF_STR, "", true, OFF(tls_cert), 0, 0, NULL, NULL,
	    "Server certificate chain (PEM), read again on SIGHUP." },
	{ "tls_key", CF_STR, "", true, OFF(tls_key), 0, 0, NULL, NULL,
	    "Private key of tls_cert (PEM), read again on SIGHUP." },
	{ "tls_ca", CF_STR, "", true, OFF(tls_ca), 0, 0, NULL, NULL,
	    "CA certificates (PEM) that client certificates must chain to." },
	{ "tls_verify_client", CF_ENUM, "none", true, OFF(tls_verify_client), 0,
	    0, "none|optional|require", NULL,
	    "Client certificates: none (not asked), optional (checked when sent),\n"
	    "require (a valid one or no connection). TLS 1.2 is the minimum." },
	{ "tls_allowed_subjects", CF_STR, "", true, OFF(tls_allowed_subjects),
	    0, 0, NULL, check_subjects,
	    "Client certificates accepted, comma-separated: CN=name matches the\n"
	    "subject's common name; a whole subject in OpenSSL's one-line form\n"
	    "(/C=FR/O=Hospital/CN=lis01) must match exactly. Empty: any valid\n"
	    "certificate. Needs tls_verify_client optional or require." },
	{ "allow", CF_STR, "", true, OFF(allow), 0, 0, NULL, check_allow,
	    "Peers allowed to connect (plain and TLS), comma-separated IPv4/IPv6\n"
	    "addresses or CIDR networks (10.0.0.0/8, 2001:db8::/32). Others are\n"
	    "closed before anything is read. Empty: everyone." },
	{ "max_connections", CF_INT, "4096", true, OFF(max_connections), 1,
	    100000, NULL, NULL,
	    "Connections open at once (plain and TLS); more are closed at accept.\n"
	    "Set well above what the laboratory needs, so that slow or idle\n"
	    "connections from many addresses cannot take every slot: at the\n"
	    "deadlines below each costs about 14 KiB (plain) until it is closed.\n"
	    "labwatchd raises its open-file soft limit to fit, and warns when\n"
	    "the hard limit (LimitNOFILE=) is too low." },
	{ "max_connections_per_peer", CF_INT, "16", true,
	    OFF(max_connections_per_peer), 1, 100000, NULL, NULL,
	    "Connections open at once from one peer address (a connection whose\n"
	    "peer has closed, waiting only to write its last ACKs, does not count)." },
	{ "start_timeout", CF_SECS, "60s", true, OFF(start_timeout), 1, 86400,
	    NULL, NULL,
	    "Close a new connection whose first frame has not started (0x0B) this\n"
	    "long after it was accepted, TLS handshake included; bytes outside\n"
	    "frames do not count (idle or junk-sending peers)." },
	{ "idle_timeout", CF_SECS, "300s", true, OFF(idle_timeout), 0,
	    7 * 86400, NULL, NULL,
	    "Close a connection with no frame received, nothing in flight and no\n"
	    "ACK taken by the peer for this long (bytes outside frames do not\n"
	    "count). 0: never." },
	{ "frame_timeout", CF_SECS, "30s", true, OFF(frame_timeout), 1, 86400,
	    NULL, NULL,
	    "A whole frame must arrive within this long of its first byte, however\n"
	    "steadily its bytes trickle in (slowloris); the TLS handshake too.\n"
	    "The connection is then closed and the partial frame kept as abandoned." },
	{ "max_message_size", CF_SIZE, "8M", true, OFF(max_message_size),
	    4 * KiB, GiB, NULL, NULL,
	    "Largest frame stored as a message; a longer one is answered AR and\n"
	    "kept in quarantine by its start, and the connection stays usable.\n"
	    "Applies to connections opened after a reload." },
	{ "output_buffer_max", CF_SIZE, "256k", true, OFF(output_buffer_max),
	    4 * KiB, GiB, NULL, NULL,
	    "ACK bytes waiting for a peer that does not read them; above this,\n"
	    "the daemon stops reading from that peer until they drain." },
	{ "max_inflight", CF_INT, "256", true, OFF(max_inflight), 1, 100000,
	    NULL, NULL,
	    "Frames of one connection waiting to become durable; above this, the\n"
	    "daemon stops reading from that connection until ACKs go out." },

	/* store */
	{ "db", CF_STR, "dbname=labwatch", false, OFF(db), 0, 0, NULL, NULL,
	    "[store]\n"
	    "PostgreSQL connection string (libpq conninfo or URI). When the\n"
	    "database cannot be reached, messages are spooled and ACKed." },
	{ "migrate", CF_BOOL, "yes", false, OFF(migrate), 0, 0, NULL, NULL,
	    "Apply pending schema migrations at start. With no, a schema that\n"
	    "lacks some of them is refused (run labwatch migrate); either way,\n"
	    "one that a newer labwatch migrated is refused." },
	{ "sql_dir", CF_STR, "", false, OFF(sql_dir), 0, 0, NULL, NULL,
	    "Directory of the NNN_*.sql migrations. Empty: the installed ones\n"
	    "($(datadir)/labwatch/sql)." },
	{ "protocol", CF_STR, "", true, OFF(protocol), 0, 0, NULL, NULL,
	    "Rules protocol file, read again on SIGHUP. Empty: the installed\n"
	    "$(datadir)/labwatch/rules/protocols/nct04933669.conf." },
	{ "spool_path", CF_STR, "/var/lib/labwatch/spool", false,
	    OFF(spool_path), 0, 0, NULL, NULL,
	    "Spool file, in the state directory: messages fsync'ed here while\n"
	    "PostgreSQL is down, drained in order when it is back." },
	{ "spool_max_bytes", CF_SIZE, "1G", false, OFF(spool_max_bytes), MiB,
	    INT64_MAX, NULL, NULL,
	    "When the spool holds this much, messages are answered AR (resend\n"
	    "later), never dropped." },
	{ "batch_max", CF_INT, "256", false, OFF(batch_max), 1, 100000, NULL,
	    NULL, "Messages per transaction at most (group commit)." },
	{ "max_observations", CF_INT, "10000", false, OFF(max_observations), 1,
	    1000000, NULL, NULL,
	    "OBX segments per message at most. A message with more is answered\n"
	    "AE and kept in quarantine with the reason: storing it would hold\n"
	    "up every other sender's ACKs (about 20 us per OBX)." },
	{ "app_name", CF_STR, "LABWATCH", false, OFF(app_name), 0, 0, NULL,
	    check_token, "MSH-3 of ACKs when the message's MSH-5 is empty." },
	{ "facility", CF_STR, "LABWATCH", false, OFF(facility), 0, 0, NULL,
	    check_token, "MSH-4 of ACKs when the message's MSH-6 is empty." },
	{ "id_type", CF_STR, "MR", false, OFF(id_type), 0, 0, NULL, check_token,
	    "PID-3 identifier type code (CX-5) that names the patient; when no\n"
	    "repetition has it, the first one does." },
	{ "default_charset", CF_STR, "ASCII", false, OFF(default_charset), 0, 0,
	    NULL, check_charset,
	    "Character set of messages without MSH-18 (an MSH-18 value such as\n"
	    "ASCII, 8859/1, UNICODE UTF-8)." },
	{ "refuse_other_types", CF_BOOL, "no", false, OFF(refuse_other_types),
	    0, 0, NULL, NULL,
	    "Messages other than ORU^R01: no stores and ACKs them AA as ignored;\n"
	    "yes answers AR with ERR 200 (and keeps them in quarantine)." },
	{ "timezone", CF_STR, "local", false, OFF(timezone), 0, 0, NULL,
	    check_timezone,
	    "Time zone of HL7 times written without a UTC offset: UTC, +HH:MM,\n"
	    "-HHMM, a zone name (Europe/Paris) or local. A zone name's offset is\n"
	    "taken when the daemon starts." },

	/* operations */
	{ "log_level", CF_ENUM, "info", true, OFF(log_level), 0, 0,
	    "error|warn|info|debug", NULL,
	    "[operations]\n"
	    "Least important messages logged: error, warn, info or debug." },
	{ "watchdog", CF_BOOL, "yes", false, OFF(watchdog), 0, 0, NULL, NULL,
	    "Ping systemd's watchdog (WatchdogSec= in the unit) from the event loop." },
	{ "metrics_listen", CF_STR, "", false, OFF(metrics_listen), 0, 0, NULL,
	    check_metrics_listen,
	    "Serve Prometheus metrics at http://host:port/metrics (plain HTTP,\n"
	    "nothing else on that port). One host:port; keep it on loopback or\n"
	    "a management network: anyone who reaches it reads the counters.\n"
	    "Default: empty, no metrics listener (this example enables it)." },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

const struct config_key *const config_key_table = keys;
const size_t config_key_count = NKEYS;

/* --- typed values */

static int
parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* A decimal number followed by an optional unit from units[] (case-insensitive). */
static int
parse_scaled(const char *v, const char *const *units, const int64_t *scale,
    int64_t *out)
{
	const char *p = v;
	uint64_t n = 0;
	size_t i;

	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		if (n > (uint64_t)INT64_MAX / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p++ - '0');
	}
	while (*p == ' ')
		p++;
	for (i = 0; units[i] != NULL; i++)
		if (strcasecmp(p, units[i]) == 0)
			break;
	if (units[i] == NULL)
		return -1;
	if (n > (uint64_t)(INT64_MAX / scale[i]))
		return -1;
	*out = (int64_t)n * scale[i];
	return 0;
}

static int
parse_size(const char *v, int64_t *out)
{
	static const char *const u[] = { "", "b", "k", "kb", "kib", "m", "mb",
		"mib", "g", "gb", "gib", NULL };
	static const int64_t s[] = { 1, 1, KiB, KiB, KiB, MiB, MiB, MiB, GiB,
		GiB, GiB };

	return parse_scaled(v, u, s, out);
}

static int
parse_secs(const char *v, int64_t *out)
{
	static const char *const u[] = { "", "s", "sec", "m", "min", "h",
		NULL };
	static const int64_t s[] = { 1, 1, 1, 60, 60, 3600 };

	return parse_scaled(v, u, s, out);
}

/* Index of v in "a|b|c", or -1. */
static int
enum_index(const char *list, const char *v)
{
	const char *p = list, *bar;
	size_t n, vl = strlen(v);
	int i = 0;

	for (;;) {
		bar = strchr(p, '|');
		n = bar ? (size_t)(bar - p) : strlen(p);
		if (n == vl && strncasecmp(p, v, n) == 0)
			return i;
		if (bar == NULL)
			return -1;
		p = bar + 1;
		i++;
	}
}

static const char *
type_hint(const struct config_key *k)
{
	switch (k->type) {
	case CF_BOOL:
		return "yes or no";
	case CF_INT:
		return "a whole number";
	case CF_SIZE:
		return "a size (65536, 64k, 8M, 1G)";
	case CF_SECS:
		return "a duration (30, 30s, 5m, 1h)";
	default:
		return "";
	}
}

/* Set key k from text v; -1 and *cause on a bad value (cfg unchanged for that key). */
static int
set_value(struct config *cfg, const struct config_key *k, const char *v,
    char **cause)
{
	char *base = (char *)cfg;
	char **sp;
	int64_t n;
	bool b;
	int i;

	switch (k->type) {
	case CF_STR:
		if (k->check != NULL && k->check(cfg, v, cause) == -1)
			return -1;
		sp = (char **)(void *)(base + k->off);
		free(*sp);
		*sp = xstrdup(v);
		return 0;
	case CF_BOOL:
		if (parse_bool(v, &b) == -1)
			break;
		*(bool *)(void *)(base + k->off) = b;
		return 0;
	case CF_INT:
	case CF_SIZE:
	case CF_SECS:
		if ((k->type == CF_INT ?
			    parse_scaled(v, (const char *const[]){ "", NULL },
				(const int64_t[]){ 1 }, &n) :
			    k->type == CF_SIZE ? parse_size(v, &n) :
						 parse_secs(v, &n)) == -1)
			break;
		if (n < k->min || n > k->max) {
			*cause = xasprintf("%s = %s: must be between %" PRId64
					   " and %" PRId64,
			    k->name, v, k->min, k->max);
			return -1;
		}
		*(int64_t *)(void *)(base + k->off) = n;
		return 0;
	case CF_ENUM:
		if ((i = enum_index(k->enums, v)) == -1) {
			*cause = xasprintf("%s = %s: must be one of %s",
			    k->name, v, k->enums);
			return -1;
		}
		*(int *)(void *)(base + k->off) = i;
		return 0;
	}
	*cause = xasprintf("%s = %s: must be %s", k->name, v, type_hint(k));
	return -1;
}

/* --- checks of string keys */

static void
addrs_free(struct config_addr *a, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(a[i].host);
		free(a[i].port);
	}
	free(a);
}

char *
conf_list_next(const char **p)
{
	const char *q;
	char *item;

	while (**p == ' ' || **p == '\t' || **p == ',')
		(*p)++;
	if (**p == '\0')
		return NULL;
	for (q = *p; *q != '\0' && *q != ',' && *q != ' ' && *q != '\t'; q++)
		;
	item = xstrndup(*p, (size_t)(q - *p));
	*p = q;
	return item;
}

/* Split "h:p, [v6]:p" into addresses. */
static int
parse_addrs(const char *v, struct config_addr **out, size_t *nout, char **cause)
{
	struct config_addr *a = NULL;
	size_t n = 0;
	const char *p = v, *colon, *hend;
	char *item, *end;
	unsigned long port;

	while ((item = conf_list_next(&p)) != NULL) {
		colon = strrchr(item, ':');
		if (item[0] == '[') {
			hend = strchr(item, ']');
			if (hend == NULL || hend[1] != ':')
				goto bad;
			colon = hend + 1;
		} else if (colon == NULL || strchr(item, ':') != colon) {
			goto bad; /* a bare IPv6 address needs brackets */
		}
		port = strtoul(colon + 1, &end, 10);
		if (colon[1] < '0' || colon[1] > '9' || *end != '\0' ||
		    port > 65535)
			goto bad;
		a = xreallocarray(a, n + 1, sizeof(*a));
		if (item[0] == '[')
			a[n].host = xstrndup(item + 1,
			    (size_t)(colon - 1 - (item + 1)));
		else
			a[n].host = xstrndup(item, (size_t)(colon - item));
		if (strcmp(a[n].host, "*") == 0)
			a[n].host[0] = '\0';
		a[n].port = xstrdup(colon + 1);
		n++;
		free(item);
		continue;
bad:
		*cause =
		    xasprintf("'%s' is not host:port (IPv6 as [addr]:port, "
			      "port 0-65535)",
			item);
		free(item);
		addrs_free(a, n);
		return -1;
	}
	*out = a;
	*nout = n;
	return 0;
}

static int
check_listen(struct config *cfg, const char *v, char **cause)
{
	struct config_addr *a;
	size_t n;

	if (parse_addrs(v, &a, &n, cause) == -1)
		return -1;
	addrs_free(cfg->listen_addrs, cfg->nlisten);
	cfg->listen_addrs = a;
	cfg->nlisten = n;
	return 0;
}

static int
check_tls_listen(struct config *cfg, const char *v, char **cause)
{
	struct config_addr *a;
	size_t n;

	if (parse_addrs(v, &a, &n, cause) == -1)
		return -1;
	addrs_free(cfg->tls_addrs, cfg->ntls);
	cfg->tls_addrs = a;
	cfg->ntls = n;
	return 0;
}

static int
check_metrics_listen(struct config *cfg, const char *v, char **cause)
{
	struct config_addr *a;
	size_t n;

	if (parse_addrs(v, &a, &n, cause) == -1)
		return -1;
	if (n > 1) {
		addrs_free(a, n);
		*cause = xasprintf("metrics_listen takes one host:port "
				   "(%zu given)",
		    n);
		return -1;
	}
	addrs_free(cfg->metrics_addr, cfg->metrics_addr != NULL ? 1 : 0);
	cfg->metrics_addr = n == 1 ? a : NULL;
	if (n == 0)
		addrs_free(a, 0);
	return 0;
}

static int
check_allow(struct config *cfg, const char *v, char **cause)
{
	return acl_parse(&cfg->allow_acl, v, cause);
}

static void
strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
check_subjects(struct config *cfg, const char *v, char **cause)
{
	char **s = NULL;
	size_t n = 0, len;
	const char *p = v, *q;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		q = strchr(p, ',');
		len = q ? (size_t)(q - p) : strlen(p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (!(len > 3 && strncmp(p, "CN=", 3) == 0) &&
		    !(len > 1 && p[0] == '/' && memchr(p, '=', len) != NULL)) {
			*cause = xasprintf(
			    "'%.*s' is neither CN=name nor a /X=../CN=.. "
			    "subject",
			    (int)len, p);
			strv_free(s, n);
			return -1;
		}
		s = xreallocarray(s, n + 1, sizeof(*s));
		s[n++] = xstrndup(p, len);
		p += q ? (size_t)(q - p) : strlen(p);
	}
	strv_free(cfg->subjects, cfg->nsubjects);
	cfg->subjects = s;
	cfg->nsubjects = n;
	return 0;
}

/* "+HH:MM", "-HHMM", "+HH": minutes east of UTC. */
static int
parse_offset(const char *v, int *out)
{
	int sign, h, m = 0;

	if (v[0] != '+' && v[0] != '-')
		return -1;
	sign = v[0] == '-' ? -1 : 1;
	if (!isdigit((unsigned char)v[1]) || !isdigit((unsigned char)v[2]))
		return -1;
	h = (v[1] - '0') * 10 + (v[2] - '0');
	v += 3;
	if (*v == ':')
		v++;
	if (*v != '\0') {
		if (!isdigit((unsigned char)v[0]) ||
		    !isdigit((unsigned char)v[1]) || v[2] != '\0')
			return -1;
		m = (v[0] - '0') * 10 + (v[1] - '0');
	}
	if (h > 14 || m > 59)
		return -1;
	*out = sign * (h * 60 + m);
	return 0;
}

/* Current UTC offset of zone (NULL: the local one), in minutes. */
static int
zone_offset(const char *zone)
{
	char *saved = NULL, *old = getenv("TZ");
	struct tm tm;
	time_t now = time(NULL);

	if (zone != NULL) {
		if (old != NULL)
			saved = xstrdup(old);
		setenv("TZ", zone, 1);
	}
	tzset();
	localtime_r(&now, &tm);
	if (zone != NULL) {
		if (saved != NULL)
			setenv("TZ", saved, 1);
		else
			unsetenv("TZ");
		free(saved);
		tzset();
	}
	return (int)(tm.tm_gmtoff / 60);
}

static int
check_timezone(struct config *cfg, const char *v, char **cause)
{
	struct stat st;
	char *file;
	int off;

	if (strcasecmp(v, "UTC") == 0 || strcmp(v, "Z") == 0) {
		cfg->tz_offset_min = 0;
		return 0;
	}
	if (strcasecmp(v, "local") == 0) {
		cfg->tz_offset_min = zone_offset(NULL);
		return 0;
	}
	if (v[0] == '+' || v[0] == '-') {
		if (parse_offset(v, &off) == -1) {
			*cause = xasprintf(
			    "timezone = %s: an offset is +HH:MM or -HHMM", v);
			return -1;
		}
		cfg->tz_offset_min = off;
		return 0;
	}
	/* A zone name must be a zoneinfo file, or the C library falls back to UTC silently. */
	file = xasprintf("/usr/share/zoneinfo/%s", v);
	if (v[0] == '\0' || strstr(v, "..") != NULL || v[0] == '/' ||
	    stat(file, &st) == -1 || !S_ISREG(st.st_mode)) {
		free(file);
		*cause =
		    xasprintf("timezone = %s: not UTC, local, an offset or a "
			      "zone in /usr/share/zoneinfo",
			v);
		return -1;
	}
	free(file);
	cfg->tz_offset_min = zone_offset(v);
	return 0;
}

static int
check_charset(struct config *cfg, const char *v, char **cause)
{
	enum hl7_charset cs;
	char iconv_name[32];

	(void)cfg;
	if (hl7_charset_lookup(v, strlen(v), &cs, iconv_name) == -1) {
		*cause =
		    xasprintf("default_charset = %s: unknown character set", v);
		return -1;
	}
	return 0;
}

/* ACK fields are written as they are: no HL7 delimiters or controls. */
static int
check_token(struct config *cfg, const char *v, char **cause)
{
	const char *p;

	(void)cfg;
	for (p = v; *p != '\0'; p++)
		if (strchr("|^~\\&#", *p) != NULL || (unsigned char)*p < 0x20) {
			*cause = xasprintf(
			    "'%s' holds an HL7 delimiter or a control "
			    "character",
			    v);
			return -1;
		}
	return 0;
}

/* --- the file */

static const struct config_key *
key_find(const char *name, size_t *idx)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0) {
			*idx = i;
			return &keys[i];
		}
	return NULL;
}

void
config_init(struct config *cfg)
{
	char *cause = NULL;
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	cfg->lines = xcalloc(NKEYS, sizeof(*cfg->lines));
	for (i = 0; i < NKEYS; i++)
		if (set_value(cfg, &keys[i], keys[i].def, &cause) == -1)
			fatalx("config: the default of %s is refused (%s)",
			    keys[i].name, cause); /* a bug in the table */
}

void
config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (keys[i].type == CF_STR)
			free(*(char **)(void *)((char *)cfg + keys[i].off));
	addrs_free(cfg->listen_addrs, cfg->nlisten);
	addrs_free(cfg->tls_addrs, cfg->ntls);
	addrs_free(cfg->metrics_addr, cfg->metrics_addr != NULL ? 1 : 0);
	acl_free(&cfg->allow_acl);
	strv_free(cfg->subjects, cfg->nsubjects);
	free(cfg->lines);
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}

struct reporter {
	config_report_fn *fn;
	void *arg;
	const char *name;
	int errors;
};

static void report(struct reporter *r, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
report(struct reporter *r, int line, const char *fmt, ...)
{
	char *msg, *full;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatalx("config: out of memory");
	va_end(ap);
	if (line > 0)
		full = xasprintf("%s:%d: %s", r->name, line, msg);
	else
		full = xasprintf("%s: %s", r->name, msg);
	if (r->fn != NULL)
		r->fn(r->arg, full);
	free(full);
	free(msg);
	r->errors++;
}

/* Rules that involve more than one key. */
static void
check_together(struct config *cfg, struct reporter *r)
{
	size_t i;
	int ln = 0;

#define LINE(name) (key_find(name, &i) ? cfg->lines[i] : 0)
	if (cfg->nlisten == 0 && cfg->ntls == 0)
		report(r, LINE("listen"),
		    "listen and tls_listen are both empty: "
		    "nothing to listen on");
	if (cfg->ntls > 0) {
		ln = LINE("tls_listen");
		if (cfg->tls_cert[0] == '\0')
			report(r, ln, "tls_listen needs tls_cert");
		if (cfg->tls_key[0] == '\0')
			report(r, ln, "tls_listen needs tls_key");
		if (cfg->tls_verify_client != TLS_VERIFY_NONE &&
		    cfg->tls_ca[0] == '\0')
			report(r, LINE("tls_verify_client"),
			    "tls_verify_client = "
			    "%s needs tls_ca",
			    cfg->tls_verify_client == TLS_VERIFY_REQUIRE ?
				"require" :
				"optional");
	}
	if (cfg->nsubjects > 0 && cfg->tls_verify_client == TLS_VERIFY_NONE)
		report(r, LINE("tls_allowed_subjects"),
		    "tls_allowed_subjects needs "
		    "tls_verify_client = optional or require");
	if (cfg->frame_timeout > cfg->idle_timeout && cfg->idle_timeout != 0)
		report(r, LINE("frame_timeout"),
		    "frame_timeout (%" PRId64 "s) is "
		    "longer than idle_timeout (%" PRId64 "s)",
		    cfg->frame_timeout, cfg->idle_timeout);
#undef LINE
}

/* The reader's complaint about a line, in this file's words. */
static void
report_line(struct reporter *r, const struct ini_reader *ini)
{
	switch (ini->error) {
	case INI_ERR_NUL:
		report(r, ini->line, "holds a NUL byte");
		break;
	case INI_ERR_SECTION_CLOSE:
	case INI_ERR_SECTION_NAME:
	case INI_ERR_SECTION_ARG:
		report(r, ini->line, "unknown section %s (only [labwatchd])",
		    ini->text);
		break;
	default:
		report(r, ini->line, "expected key = value");
		break;
	}
}

/* One key = value line; line numbers of first settings in seen. */
static void
load_key(struct config *cfg, struct reporter *r, const struct ini_reader *ini,
    int *seen)
{
	const struct config_key *k;
	char *cause = NULL;
	size_t idx;

	if ((k = key_find(ini->key, &idx)) == NULL) {
		report(r, ini->line, "unknown key '%s'", ini->key);
		return;
	}
	if (seen[idx]) {
		report(r, ini->line, "%s set again (first on line %d)",
		    ini->key, seen[idx]);
		return;
	}
	seen[idx] = ini->line;
	if (set_value(cfg, k, ini->val, &cause) == -1) {
		report(r, ini->line, "%s", cause);
		free(cause);
		return;
	}
	cfg->lines[idx] = ini->line;
}

static int
load_stream(struct config *cfg, FILE *f, const char *name, config_report_fn *fn,
    void *arg)
{
	struct reporter r = { fn, arg, name, 0 };
	struct ini_reader ini;
	enum ini_item it;
	int *seen = xcalloc(NKEYS, sizeof(*seen)); /* line of first setting */

	free(cfg->path);
	cfg->path = xstrdup(name);
	ini_init(&ini, f, INI_SEMICOLON | INI_UNQUOTE);
	while ((it = ini_next(&ini)) != INI_END) {
		if (it == INI_ERROR)
			report_line(&r, &ini);
		else if (it == INI_SECTION &&
		    strcmp(ini.text, "[labwatchd]") != 0)
			report(&r, ini.line,
			    "unknown section %s (only "
			    "[labwatchd])",
			    ini.text);
		else if (it == INI_KEY)
			load_key(cfg, &r, &ini, seen);
	}
	if (ini.error == INI_ERR_READ)
		report(&r, 0, "read error");
	ini_free(&ini);
	free(seen);
	check_together(cfg, &r);
	return r.errors;
}

int
config_load(struct config *cfg, const char *path, config_report_fn *fn,
    void *arg)
{
	struct reporter r = { fn, arg, path, 0 };
	FILE *f;
	int n;

	if ((f = fopen(path, "r")) == NULL) {
		report(&r, 0, "%s", strerror(errno));
		return r.errors;
	}
	n = load_stream(cfg, f, path, fn, arg);
	fclose(f);
	return n;
}

int
config_load_string(struct config *cfg, const char *name, const char *text,
    config_report_fn *fn, void *arg)
{
	FILE *f;
	int n;

	/* fmemopen of an empty buffer fails on some libcs: read "" as "\n". */
	f = fmemopen((void *)(uintptr_t)(*text ? text : "\n"),
	    *text ? strlen(text) : 1, "r");
	if (f == NULL)
		fatal("config: fmemopen");
	n = load_stream(cfg, f, name, fn, arg);
	fclose(f);
	return n;
}

static bool
value_equal(const struct config *a, const struct config *b,
    const struct config_key *k)
{
	const char *pa = (const char *)a + k->off,
		   *pb = (const char *)b + k->off;

	switch (k->type) {
	case CF_STR:
		return strcmp(*(char *const *)(const void *)pa,
			   *(char *const *)(const void *)pb) == 0;
	case CF_BOOL:
		return *(const bool *)(const void *)pa ==
		    *(const bool *)(const void *)pb;
	case CF_ENUM:
		return *(const int *)(const void *)pa ==
		    *(const int *)(const void *)pb;
	default:
		return *(const int64_t *)(const void *)pa ==
		    *(const int64_t *)(const void *)pb;
	}
}

/* Text of k's value in cfg, to put it back with set_value(). */
static char *
value_text(const struct config *cfg, const struct config_key *k)
{
	const char *p = (const char *)cfg + k->off;
	const char *e, *bar;
	int i;

	switch (k->type) {
	case CF_STR:
		return xstrdup(*(char *const *)(const void *)p);
	case CF_BOOL:
		return xstrdup(*(const bool *)(const void *)p ? "yes" : "no");
	case CF_ENUM:
		e = k->enums;
		for (i = *(const int *)(const void *)p; i > 0; i--)
			e = strchr(e, '|') + 1;
		bar = strchr(e, '|');
		return xstrndup(e, bar ? (size_t)(bar - e) : strlen(e));
	default:
		return xasprintf("%" PRId64, *(const int64_t *)(const void *)p);
	}
}

void
config_keep_static(struct config *next, const struct config *cur,
    config_report_fn *fn, void *arg)
{
	char *v, *cause = NULL, *msg;
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (keys[i].reload || value_equal(next, cur, &keys[i]))
			continue;
		if (fn != NULL) {
			msg = xasprintf(
			    "%s:%d: %s cannot change without a restart; "
			    "keeping the running value",
			    next->path ? next->path : "config", next->lines[i],
			    keys[i].name);
			fn(arg, msg);
			free(msg);
		}
		v = value_text(cur, &keys[i]);
		/* The running value was valid when it was set. */
		if (set_value(next, &keys[i], v, &cause) == -1)
			fatalx("config: the running %s is refused (%s)",
			    keys[i].name, cause);
		free(v);
	}
	/* timezone "local" or a zone name keeps the offset taken at start. */
	next->tz_offset_min = cur->tz_offset_min;
}

const struct config_key_info *
config_keys(size_t *n)
{
	static struct config_key_info info[NKEYS];
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		info[i].name = keys[i].name;
		info[i].def = keys[i].def;
		info[i].reload = keys[i].reload;
		info[i].help = keys[i].help;
	}
	*n = NKEYS;
	return info;
}

const char *
config_sql_dir(const struct config *cfg)
{
	return cfg->sql_dir[0] ? cfg->sql_dir : LABWATCH_DATADIR "/sql";
}

const char *
config_protocol(const struct config *cfg)
{
	return cfg->protocol[0] ? cfg->protocol :
				  LABWATCH_DATADIR
	    "/rules/protocols/nct04933669.conf";
}
