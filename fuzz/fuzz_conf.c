/*
 * fuzz_conf.c: libFuzzer harness for the data loaders an operator's files
 * reach: labwatchd.conf (daemon/conf.c) and the rules data files
 * (rules/conf.c: the protocol, analytes and CTCAE grading files).
 *
 * The first byte picks the file (its value modulo 4: '0' protocol,
 * '1' analytes, '2' grading, '3' labwatchd.conf); the rest is its text.
 * The rules loaders read paths, so the text is written into a private
 * directory next to the real data files (rules/data), which stand in for
 * the two files not being fuzzed. Every refusal must say why, and a file
 * that loads must load again to the same verdict (a loader that depends on
 * what it read before is one that a SIGHUP reload breaks).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "lib/xmalloc.h"
#include "rules/rules.h"

#ifndef RULES_DATADIR
#define RULES_DATADIR "rules/data"
#endif

static char dir[64];
static char *files[3]; /* protocols/p.conf, analytes.conf, ctcae-5.0.conf */
static char *real[3];  /* their real text */
static size_t reallen[3];
static size_t sink;

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *p;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0)
		abort();
	rewind(f);
	p = xmalloc((size_t)n + 1);
	if (fread(p, 1, (size_t)n, f) != (size_t)n)
		abort();
	fclose(f);
	p[n] = '\0';
	*len = (size_t)n;
	return p;
}

static void
put(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		abort();
}

static void
setup(void)
{
	static const char *const src[3] = {
		RULES_DATADIR "/protocols/nct04933669.conf",
		RULES_DATADIR "/analytes.conf",
		RULES_DATADIR "/ctcae-5.0.conf",
	};
	static const char *const dst[3] = { "protocols/p.conf", "analytes.conf",
		"ctcae-5.0.conf" };
	char *sub;
	int i;

	snprintf(dir, sizeof dir, "/tmp/fuzz_conf.XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	sub = xasprintf("%s/protocols", dir);
	if (mkdir(sub, 0700) != 0)
		abort();
	free(sub);
	for (i = 0; i < 3; i++) {
		files[i] = xasprintf("%s/%s", dir, dst[i]);
		real[i] = slurp(src[i], &reallen[i]);
		put(files[i], real[i], reallen[i]);
	}
}

static void
cleanup(void)
{
	char *sub = xasprintf("%s/protocols", dir);
	int i;

	for (i = 0; i < 3; i++)
		unlink(files[i]);
	rmdir(sub);
	free(sub);
	rmdir(dir);
}

static void
count(void *arg, const char *msg)
{
	if (msg == NULL || msg[0] == '\0')
		abort(); /* every error says what is wrong */
	*(int *)arg += 1;
}

static int
load_rules(void)
{
	struct rules *r = NULL;
	char *cause = NULL;
	int rc = rules_load(files[0], &r, &cause);

	if (rc != 0 && (cause == NULL || cause[0] == '\0'))
		abort(); /* every refusal says why */
	if (rc == 0 && (r == NULL || cause != NULL))
		abort();
	if (cause != NULL)
		sink += strlen(cause);
	free(cause);
	rules_free(r);
	return rc;
}

static int
load_config(const char *text)
{
	struct config cfg;
	int n = 0, errors;

	config_init(&cfg);
	errors = config_load_string(&cfg, "fuzz.conf", text, count, &n);
	if (errors != n)
		abort(); /* the count returned is the count reported */
	config_free(&cfg);
	return errors;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static int init;
	unsigned which;
	char *text;

	if (!init) {
		setup();
		atexit(cleanup);
		init = 1;
	}
	if (len == 0)
		return 0;
	which = data[0] % 4;
	if (which == 3) {
		/* The config reader takes a C string: stop at a NUL. */
		text = xmalloc(len);
		memcpy(text, data + 1, len - 1);
		text[len - 1] = '\0';
		if ((load_config(text) == 0) != (load_config(text) == 0))
			abort();
		free(text);
		return 0;
	}
	put(files[which], data + 1, len - 1);
	if ((load_rules() == 0) != (load_rules() == 0))
		abort();
	put(files[which], real[which], reallen[which]);
	return 0;
}
