/*
 * bench_parse.c: parse+extract throughput of libhl7 on one core.
 *
 *   bench_parse [-t SECONDS] FILE
 *
 * FILE holds raw messages (bench/gen_oru -f raw). They are split outside
 * the timed loop, as the peers do; the loop then parses each message,
 * extracts every patient, order and observation (each OBX-5 read and
 * converted to a number where it is one) and repeats over the corpus for
 * at least SECONDS. Prints one JSON line like the peers, with the heap the
 * parser keeps (index arrays and text arena, sized once and reused) and
 * what it allocates per message once warm (malloc is counted here).
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "hl7/hl7.h"
#include "hl7/oru.h"
#include "hl7/split.h"
#include "lib/xmalloc.h"

/* Count what the parser asks of the heap (glibc's entry points underneath). */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static size_t alloc_calls, alloc_bytes;

void *
malloc(size_t n)
{
	alloc_calls++;
	alloc_bytes += n;
	return __libc_malloc(n);
}

void *
calloc(size_t n, size_t sz)
{
	alloc_calls++;
	alloc_bytes += n * sz;
	return __libc_calloc(n, sz);
}

void *
realloc(void *p, size_t n)
{
	alloc_calls++;
	alloc_bytes += n;
	return __libc_realloc(p, n);
}

void
free(void *p)
{
	__libc_free(p);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct hl7_split *sp;
	struct hl7_split_item it;
	struct hl7_msg m;
	struct oru_msg o;
	const char **msg;
	size_t *mlen, n = 0, cap = 1024, i, bytes = 0, total_bytes = 0;
	size_t heap0, heap1, calls0, bytes0, nmsg = 0, nobs = 0;
	double seconds = 3, t0, t, sum = 0;
	char *buf;
	size_t len;
	int ch, rounds = 0;

	while ((ch = getopt(argc, argv, "t:")) != -1) {
		if (ch == 't')
			seconds = atof(optarg);
		else {
			fprintf(stderr,
			    "usage: bench_parse [-t SECONDS] FILE\n");
			return 2;
		}
	}
	if (optind != argc - 1 || cli_read_file(argv[optind], &buf, &len)) {
		fprintf(stderr, "usage: bench_parse [-t SECONDS] FILE\n");
		return 2;
	}
	msg = xreallocarray(NULL, cap, sizeof(*msg));
	mlen = xreallocarray(NULL, cap, sizeof(*mlen));
	sp = hl7_split_new(buf, len, 8u << 20);
	while (hl7_split_next(sp, &it) == 1) {
		if (it.is_error)
			continue;
		if (n == cap) {
			cap *= 2;
			msg = xreallocarray(msg, cap, sizeof(*msg));
			mlen = xreallocarray(mlen, cap, sizeof(*mlen));
		}
		msg[n] = it.data;
		mlen[n++] = it.len;
		bytes += it.len;
	}
	if (n == 0) {
		fprintf(stderr, "bench_parse: no messages in %s\n",
		    argv[optind]);
		return 2;
	}

	heap0 = mallinfo2().uordblks;
	hl7_msg_init(&m);
	oru_msg_init(&o);
	/* One warm-up pass sizes the reusable index and arena. */
	for (i = 0; i < n; i++)
		if (hl7_parse(&m, msg[i], mlen[i], NULL) != 0 ||
		    oru_extract(&o, &m, NULL) != 0) {
			fprintf(stderr, "bench_parse: message %zu: %s\n", i,
			    m.err.reason);
			return 1;
		}
	heap1 = mallinfo2().uordblks;
	calls0 = alloc_calls;
	bytes0 = alloc_bytes;

	t0 = now();
	do {
		for (i = 0; i < n; i++) {
			/* Checked above; a failure now would be a bug. */
			if (hl7_parse(&m, msg[i], mlen[i], NULL) != 0 ||
			    oru_extract(&o, &m, NULL) != 0)
				return 1;
			nobs += o.nobs;
			if (o.nobs > 0)
				sum += o.obs[o.nobs - 1].number;
		}
		nmsg += n;
		total_bytes += bytes;
		rounds++;
		t = now() - t0;
	} while (t < seconds);

	printf("{\"peer\":\"labwatch libhl7\",\"messages\":%zu,\"bytes\":%zu,"
	       "\"seconds\":%.3f,\"msg_per_s\":%.0f,\"mb_per_s\":%.1f,"
	       "\"obx_per_msg\":%.1f,\"avg_msg_bytes\":%.0f,"
	       "\"heap_workspace_bytes\":%zu,\"heap_allocs_per_msg\":%.4f,"
	       "\"heap_bytes_per_msg\":%.2f,\"checksum\":%.1f}\n",
	    nmsg, total_bytes, t, (double)nmsg / t,
	    (double)total_bytes / t / 1e6, (double)nobs / (double)nmsg,
	    (double)bytes / (double)n, heap1 - heap0,
	    (double)(alloc_calls - calls0) / (double)nmsg,
	    (double)(alloc_bytes - bytes0) / (double)nmsg, sum);
	oru_msg_free(&o);
	hl7_msg_free(&m);
	hl7_split_free(sp);
	free(msg);
	free(mlen);
	free(buf);
	return 0;
}
