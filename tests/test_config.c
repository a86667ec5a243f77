/*
 * test_config.c: labwatchd.conf parsing, from the key table in
 * daemon/config.c: every error names file:line, values in every accepted
 * spelling, the allow-list, reload rules, and the example file being
 * exactly what --print-config-example writes.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "daemon/conf.h"

#define EXAMPLE TEST_DATADIR "/../../daemon/labwatchd.conf.example"

/* Collected messages, joined by newlines. */
static char msgs[4096];

static void
collect(void *arg, const char *msg)
{
	(void)arg;
	strncat(msgs, msg, sizeof(msgs) - strlen(msgs) - 2);
	strcat(msgs, "\n");
}

static int
load(struct config *cfg, const char *text)
{
	msgs[0] = '\0';
	config_init(cfg);
	return config_load_string(cfg, "t.conf", text, collect, NULL);
}

Test(config, defaults)
{
	struct config cfg;

	config_init(&cfg);
	cr_assert_str_eq(cfg.listen, "0.0.0.0:2575");
	cr_assert_eq(cfg.nlisten, 1);
	cr_assert_str_eq(cfg.listen_addrs[0].host, "0.0.0.0");
	cr_assert_str_eq(cfg.listen_addrs[0].port, "2575");
	cr_assert_eq(cfg.ntls, 0);
	cr_assert_eq(cfg.tls_verify_client, TLS_VERIFY_NONE);
	cr_assert_eq(cfg.idle_timeout, 300);
	cr_assert_eq(cfg.frame_timeout, 30);
	cr_assert_eq(cfg.max_message_size, 8 * 1024 * 1024);
	cr_assert_eq(cfg.allow_acl.n, 0);
	cr_assert(cfg.migrate);
	cr_assert(cfg.watchdog);
	cr_assert(!cfg.refuse_other_types);
	cr_assert_str_eq(cfg.id_type, "MR");
	cr_assert_str_eq(cfg.spool_path, "/var/lib/labwatch/spool");
	cr_assert_eq(cfg.log_level, 2); /* info */
	/* Metrics are off unless asked for (issue 16). */
	cr_assert_str_eq(cfg.metrics_listen, "");
	cr_assert_null(cfg.metrics_addr);
	config_free(&cfg);
}

Test(config, metrics_listen)
{
	struct config cfg;

	cr_assert_eq(load(&cfg, "metrics_listen = 127.0.0.1:9575\n"), 0, "%s",
	    msgs);
	cr_assert_not_null(cfg.metrics_addr);
	cr_assert_str_eq(cfg.metrics_addr->host, "127.0.0.1");
	cr_assert_str_eq(cfg.metrics_addr->port, "9575");
	config_free(&cfg);
	cr_assert_eq(load(&cfg, "metrics_listen = [::1]:9575\n"), 0, "%s",
	    msgs);
	cr_assert_str_eq(cfg.metrics_addr->host, "::1");
	config_free(&cfg);
	cr_assert_eq(load(&cfg, "metrics_listen =\n"), 0, "%s", msgs);
	cr_assert_null(cfg.metrics_addr);
	config_free(&cfg);
}

Test(config, every_spelling)
{
	struct config cfg;
	int n;

	n = load(&cfg,
	    "# comment\r\n"
	    "; another\n"
	    "\n"
	    "[labwatchd]\n"
	    "  listen = 127.0.0.1:2575, [::1]:2575 ,*:2577\n"
	    "tls_listen=:2576\r\n"
	    "tls_cert = /etc/labwatch/server.pem\n"
	    "tls_key = /etc/labwatch/server.key\n"
	    "tls_ca = /etc/labwatch/ca.pem\n"
	    "tls_verify_client = REQUIRE\n"
	    "tls_allowed_subjects = CN=lis01, /C=FR/O=Hospital/CN=lis02\n"
	    "allow = 10.0.0.0/8 192.0.2.7,2001:db8::/32\n"
	    "max_message_size = 16 MiB\n"
	    "output_buffer_max = 64k\n"
	    "spool_max_bytes = 2G\n"
	    "idle_timeout = 5m\n"
	    "frame_timeout = 10s\n"
	    "migrate = off\n"
	    "watchdog = False\n"
	    "refuse_other_types = 1\n"
	    "db = \"host=/run/postgresql dbname=labwatch user=labwatchd\"\n"
	    "timezone = +01:00\n"
	    "log_level = debug\n");
	cr_assert_eq(n, 0, "%s", msgs);
	cr_assert_eq(cfg.nlisten, 3);
	cr_assert_str_eq(cfg.listen_addrs[1].host, "::1");
	cr_assert_str_eq(cfg.listen_addrs[2].host, "");
	cr_assert_str_eq(cfg.listen_addrs[2].port, "2577");
	cr_assert_eq(cfg.ntls, 1);
	cr_assert_str_eq(cfg.tls_addrs[0].host, "");
	cr_assert_eq(cfg.tls_verify_client, TLS_VERIFY_REQUIRE);
	cr_assert_eq(cfg.nsubjects, 2);
	cr_assert_str_eq(cfg.subjects[0], "CN=lis01");
	cr_assert_str_eq(cfg.subjects[1], "/C=FR/O=Hospital/CN=lis02");
	cr_assert_eq(cfg.allow_acl.n, 3);
	cr_assert_eq(cfg.max_message_size, 16 * 1024 * 1024);
	cr_assert_eq(cfg.output_buffer_max, 64 * 1024);
	cr_assert_eq(cfg.spool_max_bytes, 2LL * 1024 * 1024 * 1024);
	cr_assert_eq(cfg.idle_timeout, 300);
	cr_assert_eq(cfg.frame_timeout, 10);
	cr_assert(!cfg.migrate);
	cr_assert(!cfg.watchdog);
	cr_assert(cfg.refuse_other_types);
	cr_assert_str_eq(cfg.db,
	    "host=/run/postgresql dbname=labwatch user=labwatchd");
	cr_assert_eq(cfg.tz_offset_min, 60);
	cr_assert_eq(cfg.log_level, 3);
	cr_assert_eq(cfg.lines[0], 5, "listen set on line 5");
	config_free(&cfg);
}

/* One bad file and the exact messages it must give. */
struct bad_case {
	char name[40];
	char text[400];
	char want[600];
};

static struct bad_case bad_cases[] = {
	{ "unknown key", "[labwatchd]\nlisten = :2575\nlisen = :1\n",
	    "t.conf:3: unknown key 'lisen'\n" },
	{ "no equals", "listen = :2575\nmax_connections 10\n",
	    "t.conf:2: expected key = value\n" },
	{ "empty key", "= 3\n", "t.conf:1: expected key = value\n" },
	{ "unknown section", "[pgbouncer]\n",
	    "t.conf:1: unknown section [pgbouncer] (only [labwatchd])\n" },
	{ "duplicate", "idle_timeout = 100\n\nidle_timeout = 200\n",
	    "t.conf:3: idle_timeout set again (first on line 1)\n" },
	{ "duplicate after bad", "idle_timeout = x\nidle_timeout = 20\n",
	    "t.conf:1: idle_timeout = x: must be a duration (30, 30s, 5m, 1h)\n"
	    "t.conf:2: idle_timeout set again (first on line 1)\n" },
	{ "bad int", "max_connections = ten\n",
	    "t.conf:1: max_connections = ten: must be a whole number\n" },
	{ "int with unit", "max_connections = 10k\n",
	    "t.conf:1: max_connections = 10k: must be a whole number\n" },
	{ "negative", "max_inflight = -1\n",
	    "t.conf:1: max_inflight = -1: must be a whole number\n" },
	{ "out of range", "max_connections = 0\n",
	    "t.conf:1: max_connections = 0: must be between 1 and 100000\n" },
	{ "size too small", "max_message_size = 100\n",
	    "t.conf:1: max_message_size = 100: must be between 4096 and 1073741824\n" },
	{ "bad size unit", "output_buffer_max = 64q\n",
	    "t.conf:1: output_buffer_max = 64q: must be a size (65536, 64k, 8M, 1G)\n" },
	{ "overflow", "spool_max_bytes = 99999999999999999999\n",
	    "t.conf:1: spool_max_bytes = 99999999999999999999: must be a size (65536, 64k, 8M, 1G)\n" },
	{ "bad bool", "migrate = maybe\n",
	    "t.conf:1: migrate = maybe: must be yes or no\n" },
	{ "bad enum", "tls_verify_client = always\n",
	    "t.conf:1: tls_verify_client = always: must be one of none|optional|require\n" },
	{ "bad level", "log_level = verbose\n",
	    "t.conf:1: log_level = verbose: must be one of error|warn|info|debug\n" },
	{ "listen no port", "listen = 0.0.0.0\n",
	    "t.conf:1: '0.0.0.0' is not host:port (IPv6 as [addr]:port, port 0-65535)\n" },
	{ "listen bare v6", "listen = ::1:2575\n",
	    "t.conf:1: '::1:2575' is not host:port (IPv6 as [addr]:port, port 0-65535)\n" },
	{ "listen big port", "listen = :70000\n",
	    "t.conf:1: ':70000' is not host:port (IPv6 as [addr]:port, port 0-65535)\n" },
	{ "allow bad", "allow = 10.0.0.0/8, example.org\n",
	    "t.conf:1: 'example.org' is not an IPv4 or IPv6 address\n" },
	{ "allow prefix", "allow = 10.0.0.0/33\n",
	    "t.conf:1: '10.0.0.0/33': prefix length too long\n" },
	{ "allow prefix junk", "allow = 10.0.0.0/8x\n",
	    "t.conf:1: '10.0.0.0/8x': prefix length must be a number\n" },
	{ "subject",
	    "tls_verify_client = require\ntls_allowed_subjects = lis01\n",
	    "t.conf:2: 'lis01' is neither CN=name nor a /X=../CN=.. subject\n" },
	{ "timezone", "timezone = Mars/Olympus\n",
	    "t.conf:1: timezone = Mars/Olympus: not UTC, local, an offset or a zone in /usr/share/zoneinfo\n" },
	{ "timezone escape", "timezone = ../../etc/passwd\n",
	    "t.conf:1: timezone = ../../etc/passwd: not UTC, local, an offset or a zone in /usr/share/zoneinfo\n" },
	{ "offset", "timezone = +25:00\n",
	    "t.conf:1: timezone = +25:00: an offset is +HH:MM or -HHMM\n" },
	{ "charset", "default_charset = KLINGON\n",
	    "t.conf:1: default_charset = KLINGON: unknown character set\n" },
	{ "delimiter in app", "app_name = LAB|WATCH\n",
	    "t.conf:1: 'LAB|WATCH' holds an HL7 delimiter or a control character\n" },
	{ "nothing to listen", "listen =\n",
	    "t.conf:1: listen and tls_listen are both empty: nothing to listen on\n" },
	{ "tls without files", "\ntls_listen = :2576\n",
	    "t.conf:2: tls_listen needs tls_cert\nt.conf:2: tls_listen needs tls_key\n" },
	{ "verify without ca",
	    "tls_listen = :2576\ntls_cert = c\ntls_key = k\ntls_verify_client = optional\n",
	    "t.conf:4: tls_verify_client = optional needs tls_ca\n" },
	{ "subjects without verify", "tls_allowed_subjects = CN=lis01\n",
	    "t.conf:1: tls_allowed_subjects needs tls_verify_client = optional or require\n" },
	{ "frame over idle", "idle_timeout = 20\nframe_timeout = 1m\n",
	    "t.conf:2: frame_timeout (60s) is longer than idle_timeout (20s)\n" },
	{ "two metrics listeners",
	    "metrics_listen = 127.0.0.1:1, 127.0.0.1:2\n",
	    "t.conf:1: metrics_listen takes one host:port (2 given)\n" },
	{ "metrics bad port", "metrics_listen = 127.0.0.1:http\n",
	    "t.conf:1: '127.0.0.1:http' is not host:port (IPv6 as "
	    "[addr]:port, port 0-65535)\n" },
	{ "several", "foo = 1\nmax_connections = x\n[x]\n",
	    "t.conf:1: unknown key 'foo'\n"
	    "t.conf:2: max_connections = x: must be a whole number\n"
	    "t.conf:3: unknown section [x] (only [labwatchd])\n" },
};

ParameterizedTestParameters(config, bad)
{
	return cr_make_param_array(struct bad_case, bad_cases,
	    sizeof(bad_cases) / sizeof(bad_cases[0]));
}

ParameterizedTest(struct bad_case *c, config, bad)
{
	struct config cfg;
	size_t lines = 0;
	const char *p;
	int n;

	n = load(&cfg, c->text);
	for (p = c->want; *p; p++)
		lines += *p == '\n';
	cr_assert_str_eq(msgs, c->want, "%s", c->name);
	cr_assert_eq((size_t)n, lines, "%s: %d errors", c->name, n);
	config_free(&cfg);
}

/*
 * A line holding a NUL byte: the string functions stop at the NUL, so the
 * line was read cut short ("allow = 10.0.0.0/8" of a longer list) or, NUL
 * first, skipped as empty, without a word. Now an error with its line.
 * The text goes through a file: a C string cannot carry the NUL.
 */
struct nul_case {
	char name[40];
	char text[80];
	size_t len;
	int line; /* the line reported */
};

#define NUL_CASE(name, text, line) \
	{ \
		name, text, sizeof(text) - 1, line \
	}
static struct nul_case nul_cases[] = {
	NUL_CASE("value cut short", "allow = 10.0.0.0/8\0, 192.0.2.0/24\n", 1),
	NUL_CASE("line skipped", "\0max_connections = 1\n", 1),
	NUL_CASE("after the key", "listen = :2575\nidle_timeout\0 = 20\n", 2),
	NUL_CASE("last line, no newline",
	    "listen = :2575\n\n# x\nlog_level = debug\0", 4),
};

ParameterizedTestParameters(config, nul_byte_is_an_error)
{
	return cr_make_param_array(struct nul_case, nul_cases,
	    sizeof(nul_cases) / sizeof(nul_cases[0]));
}

ParameterizedTest(struct nul_case *c, config, nul_byte_is_an_error)
{
	char path[] = "/tmp/labwatch-conf.XXXXXX", want[128];
	struct config cfg;
	FILE *f;
	int fd, n;

	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	cr_assert_eq(fwrite(c->text, 1, c->len, f), c->len);
	fclose(f);
	msgs[0] = '\0';
	config_init(&cfg);
	n = config_load(&cfg, path, collect, NULL);
	unlink(path);
	snprintf(want, sizeof(want), "%s:%d: holds a NUL byte\n", path,
	    c->line);
	cr_assert_str_eq(msgs, want, "%s", c->name);
	cr_assert_eq(n, 1, "%s: %d errors", c->name, n);
	config_free(&cfg);
}

Test(config, bad_value_keeps_default)
{
	struct config cfg;

	cr_assert_eq(load(&cfg, "idle_timeout = soon\n"), 1);
	cr_assert_eq(cfg.idle_timeout, 300);
	config_free(&cfg);
}

Test(config, missing_file)
{
	struct config cfg;
	int n;

	msgs[0] = '\0';
	config_init(&cfg);
	n = config_load(&cfg, "/nonexistent/labwatchd.conf", collect, NULL);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(msgs,
	    "/nonexistent/labwatchd.conf: No such file or directory\n");
	config_free(&cfg);
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;
	long n;

	cr_assert_not_null(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	s = malloc((size_t)n + 1);
	cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	return s;
}

Test(config, example_file_is_generated)
{
	char *want = NULL, *file;
	size_t len = 0;
	FILE *f = open_memstream(&want, &len);

	config_print_example(f);
	fclose(f);
	file = slurp(EXAMPLE);
	cr_assert_str_eq(file, want,
	    "daemon/labwatchd.conf.example differs from "
	    "labwatchd --print-config-example: regenerate it");
	free(file);
	free(want);
}

Test(config, example_file_is_valid_and_default)
{
	struct config cfg, def;
	int n;

	msgs[0] = '\0';
	config_init(&cfg);
	n = config_load(&cfg, EXAMPLE, collect, NULL);
	cr_assert_eq(n, 0, "%s", msgs);
	config_init(&def);
	cr_assert_str_eq(cfg.listen, def.listen);
	cr_assert_eq(cfg.max_message_size, def.max_message_size);
	cr_assert_eq(cfg.idle_timeout, def.idle_timeout);
	config_free(&cfg);
	config_free(&def);
}

Test(config, example_documents_every_key)
{
	const struct config_key_info *k;
	char *file = slurp(EXAMPLE), line[128];
	size_t n, i;

	k = config_keys(&n);
	cr_assert_geq(n, 30);
	for (i = 0; i < n; i++) {
		cr_assert(k[i].help[0] != '\0', "%s has no help", k[i].name);
		snprintf(line, sizeof(line), "\n%s =", k[i].name);
		cr_assert_not_null(strstr(file, line), "%s not in the example",
		    k[i].name);
	}
	free(file);
}

Test(config, reload_keeps_static_keys)
{
	struct config cur, next;

	cr_assert_eq(load(&cur,
			 "listen = 127.0.0.1:2575\nidle_timeout = 60\n"
			 "db = dbname=a\n"),
	    0);
	cr_assert_eq(load(&next,
			 "listen = 127.0.0.1:2580\nidle_timeout = 90\n"
			 "db = dbname=b\n"),
	    0);
	config_keep_static(&next, &cur, collect, NULL);
	cr_assert_str_eq(msgs,
	    "t.conf:1: listen cannot change without a restart; keeping the running value\n"
	    "t.conf:3: db cannot change without a restart; keeping the running value\n");
	cr_assert_str_eq(next.listen, "127.0.0.1:2575");
	cr_assert_str_eq(next.listen_addrs[0].port, "2575");
	cr_assert_str_eq(next.db, "dbname=a");
	cr_assert_eq(next.idle_timeout, 90, "reloadable keys change");
	config_free(&cur);
	config_free(&next);
}

static struct sockaddr_storage
sa_of(const char *addr)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1)
		in4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1)
		in6->sin6_family = AF_INET6;
	else
		cr_assert_fail("bad test address %s", addr);
	return ss;
}

struct acl_case {
	char list[100];
	char addr[48];
	bool allowed;
};

static struct acl_case acl_cases[] = {
	{ "", "203.0.113.9", true },
	{ "10.0.0.0/8", "10.200.3.4", true },
	{ "10.0.0.0/8", "11.0.0.1", false },
	{ "192.0.2.7", "192.0.2.7", true },
	{ "192.0.2.7", "192.0.2.8", false },
	{ "192.0.2.7/24", "192.0.2.200", true }, /* host bits ignored */
	{ "192.168.1.128/25", "192.168.1.127", false },
	{ "192.168.1.128/25", "192.168.1.129", true },
	{ "10.0.0.0/8", "::ffff:10.1.2.3",
	    true }, /* v4 on a dual-stack socket */
	{ "::ffff:10.0.0.0/104", "10.1.2.3", true },
	{ "2001:db8::/32", "2001:db8:1::5", true },
	{ "2001:db8::/32", "2001:db9::5", false },
	{ "2001:db8::/32", "10.0.0.1", false },
	{ "0.0.0.0/0", "198.51.100.1", true },
	{ "0.0.0.0/0", "::1", false },
	{ "::/0", "::1", true },
	{ "127.0.0.1, ::1", "::1", true },
};

ParameterizedTestParameters(config, acl)
{
	return cr_make_param_array(struct acl_case, acl_cases,
	    sizeof(acl_cases) / sizeof(acl_cases[0]));
}

ParameterizedTest(struct acl_case *c, config, acl)
{
	struct acl a = { NULL, 0 };
	struct sockaddr_storage ss = sa_of(c->addr);
	char *cause = NULL;

	cr_assert_eq(acl_parse(&a, c->list, &cause), 0, "%s", cause);
	cr_assert_eq(acl_allows(&a, (struct sockaddr *)&ss), c->allowed,
	    "%s in [%s]", c->addr, c->list);
	acl_free(&a);
}

Test(config, acl_addr_str_folds_mapped)
{
	struct sockaddr_storage ss = sa_of("::ffff:192.0.2.1");
	char s[64];

	acl_addr_str((struct sockaddr *)&ss, s, sizeof(s));
	cr_assert_str_eq(s, "192.0.2.1");
}
