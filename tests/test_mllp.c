/*
 * test_mllp.c: the MLLP framer against the quirks real senders have.
 *
 * Every case asserts exact payload bytes and lengths, and most feed the same
 * stream whole and in small pieces: the framer's state across reads is where
 * bugs hide.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "hl7/mllp.h"

/* A string literal as (pointer, length), so embedded NULs count. */
#define LIT(s) (s), (sizeof(s) - 1)
/*
 * The same for a char array member: Criterion runs each parameter in a fresh
 * process image, so parameters carry their bytes, never pointers.
 */
#define BYTES(s) s, (sizeof(s) - 1)

#define SB "\x0b"
#define EB "\x1c"

/* A realistic ORU^R01 result (ALT high), CR-terminated as the standard says. */
#define ORU_CR \
	"MSH|^~\\&|LIS|GENHOSP|LABWATCH|ONC|20240311083000||ORU^R01^ORU_R01|MSG00017|P|2.5.1\r" \
	"PID|1||MRN123456^^^GENHOSP^MR||DOE^JANE||19650412|F\r" \
	"OBR|1|ORD4471|FIL8812|24323-8^Comprehensive metabolic panel^LN|||20240311070500\r" \
	"OBX|1|NM|1742-6^ALT^LN||88|U/L|7-56|H|||F|||20240311081500\r"
/* The same message from a sender that writes LF. */
#define ORU_LF \
	"MSH|^~\\&|LIS|GENHOSP|LABWATCH|ONC|20240311083000||ORU^R01^ORU_R01|MSG00017|P|2.5.1\n" \
	"PID|1||MRN123456^^^GENHOSP^MR||DOE^JANE||19650412|F\n" \
	"OBR|1|ORD4471|FIL8812|24323-8^Comprehensive metabolic panel^LN|||20240311070500\n" \
	"OBX|1|NM|1742-6^ALT^LN||88|U/L|7-56|H|||F|||20240311081500\n"
/* ... and from one that writes CRLF. */
#define ORU_CRLF \
	"MSH|^~\\&|LIS|GENHOSP|LABWATCH|ONC|20240311083000||ORU^R01^ORU_R01|MSG00017|P|2.5.1\r\n" \
	"PID|1||MRN123456^^^GENHOSP^MR||DOE^JANE||19650412|F\r\n" \
	"OBR|1|ORD4471|FIL8812|24323-8^Comprehensive metabolic panel^LN|||20240311070500\r\n" \
	"OBX|1|NM|1742-6^ALT^LN||88|U/L|7-56|H|||F|||20240311081500\r\n"

#define MAX_EVENTS 128

/* An event with its bytes copied, since out->data dies at the next feed. */
struct ev {
	enum mllp_kind kind;
	char *data;
	size_t len;
	size_t total;
};

struct evlist {
	struct ev ev[MAX_EVENTS];
	size_t n;
};

static void
evlist_add(struct evlist *l, const struct mllp_frame *fr)
{
	struct ev *e;

	cr_assert_lt(l->n, MAX_EVENTS, "too many events");
	cr_assert_not_null(fr->data, "event data is NULL");
	e = &l->ev[l->n++];
	e->kind = fr->kind;
	e->len = fr->len;
	e->total = fr->total;
	e->data = malloc(fr->len + 1);
	cr_assert_not_null(e->data);
	memcpy(e->data, fr->data, fr->len);
}

static void
evlist_clear(struct evlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->ev[i].data);
	l->n = 0;
}

/*
 * Feed buf to f in reads of chunk bytes (0: one read), looping on each read
 * as a connection would, and collect the events.
 */
static void
feed_all(struct mllp_framer *f, const void *buf, size_t len, size_t chunk,
    struct evlist *l)
{
	const char *p = buf;
	struct mllp_frame fr;
	size_t off = 0, n, used;
	int got;

	if (chunk == 0)
		chunk = len > 0 ? len : 1;
	while (off < len) {
		n = len - off < chunk ? len - off : chunk;
		while (n > 0) {
			used = mllp_framer_feed(f, p + off, n, &fr, &got);
			cr_assert_gt(used, 0,
			    "feed of %zu bytes consumed nothing", n);
			cr_assert_leq(used, n);
			off += used;
			n -= used;
			if (got)
				evlist_add(l, &fr);
		}
	}
}

static void
expect_ev(const struct evlist *l, size_t i, enum mllp_kind kind,
    const char *data, size_t len, size_t total)
{
	const struct ev *e;

	cr_assert_lt(i, l->n, "event %zu missing (have %zu)", i, l->n);
	e = &l->ev[i];
	cr_assert_eq(e->kind, kind, "event %zu: kind %d, want %d", i,
	    (int)e->kind, (int)kind);
	cr_assert_eq(e->len, len, "event %zu: len %zu, want %zu", i, e->len,
	    len);
	cr_assert_eq(e->total, total, "event %zu: total %zu, want %zu", i,
	    e->total, total);
	cr_assert_arr_eq(e->data, data, len, "event %zu: payload differs", i);
}

/* Bytes with a pattern that makes a shifted or truncated copy visible. */
static char *
pattern(size_t n)
{
	char *p = malloc(n > 0 ? n : 1);

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('A' + (i * 7 + i / 26) % 26);
	return p;
}

/* SB payload EB CR, in a fresh malloc'd buffer of *outlen bytes. */
static char *
framed(const char *payload, size_t len, size_t *outlen)
{
	char *b = malloc(len + 3);

	cr_assert_not_null(b);
	*outlen = mllp_wrap(payload, len, b);
	return b;
}

TestSuite(mllp);

/* ---- junk before 0x0B ---- */

struct junk_case {
	char junk[16];
	size_t len;
};

ParameterizedTestParameters(mllp, junk_before_start_counted)
{
	static struct junk_case cases[] = {
		{ BYTES("") },
		{ BYTES("\0") },
		{ BYTES("\0\0\0\0") }, /* keepalive NULs */
		{ BYTES("garbage") },
		{ BYTES("\r\n") }, /* CRLF with no frame before it */
		{ BYTES(
		    EB "\r") }, /* stray end block from an earlier session */
		{ BYTES("\0x\0y\n\x7f\xff") },
	};

	return cr_make_param_array(struct junk_case, cases,
	    sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct junk_case *c, mllp, junk_before_start_counted)
{
	static const char frame[] = SB "MSH|^~\\&|A\r" EB "\r";
	static const char want[] = "MSH|^~\\&|A\r";
	size_t chunks[] = { 0, 1 };

	for (size_t k = 0; k < 2; k++) {
		struct mllp_framer *f = mllp_framer_new(1024);
		struct evlist l = { .n = 0 };

		feed_all(f, c->junk, c->len, chunks[k], &l);
		cr_assert_eq(l.n, 0);
		cr_assert_not(mllp_framer_in_frame(f));
		feed_all(f, LIT(frame), chunks[k], &l);
		cr_assert_eq(l.n, 1);
		expect_ev(&l, 0, MLLP_FRAME, LIT(want), sizeof(want) - 1);
		cr_assert_eq(mllp_framer_stats(f)->junk_bytes, c->len,
		    "junk_bytes %llu, want %zu",
		    (unsigned long long)mllp_framer_stats(f)->junk_bytes,
		    c->len);
		cr_assert_eq(mllp_framer_stats(f)->frames, 1);
		evlist_clear(&l);
		mllp_framer_free(f);
	}
}

/* ---- segment terminators ---- */

struct term_case {
	char in[512];
	size_t inlen;
	char want[512];
	size_t wantlen;
};

ParameterizedTestParameters(mllp, terminators_normalised_to_cr)
{
	static struct term_case cases[] = {
		{ BYTES("MSH|A\rPID|B\r"), BYTES("MSH|A\rPID|B\r") },
		{ BYTES("MSH|A\nPID|B\n"), BYTES("MSH|A\rPID|B\r") },
		{ BYTES("MSH|A\r\nPID|B\r\n"), BYTES("MSH|A\rPID|B\r") },
		{ BYTES("MSH|A\r\nPID|B\nOBX|C\r"),
		    BYTES("MSH|A\rPID|B\rOBX|C\r") },
		{ BYTES("MSH|A\n\nPID|B"), BYTES("MSH|A\r\rPID|B") },
		{ BYTES("MSH|A\r\n\nPID|B"), BYTES("MSH|A\r\rPID|B") },
		{ BYTES("MSH|A\r\rPID|B"), BYTES("MSH|A\r\rPID|B") },
		{ BYTES("MSH|A\n\r\nPID|B"), BYTES("MSH|A\r\rPID|B") },
		{ BYTES("\nMSH|A"), BYTES("\rMSH|A") },
		{ BYTES("MSH|A\r"), BYTES("MSH|A\r") },
		{ BYTES(ORU_LF), BYTES(ORU_CR) },
		{ BYTES(ORU_CRLF), BYTES(ORU_CR) },
	};

	return cr_make_param_array(struct term_case, cases,
	    sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct term_case *c, mllp, terminators_normalised_to_cr)
{
	size_t chunks[] = { 0, 1, 2, 3 };

	for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		struct mllp_framer *f = mllp_framer_new(1024);
		struct evlist l = { .n = 0 };
		size_t blen;
		char *b = framed(c->in, c->inlen, &blen);

		feed_all(f, b, blen, chunks[k], &l);
		cr_assert_eq(l.n, 1, "chunk %zu: %zu events", chunks[k], l.n);
		expect_ev(&l, 0, MLLP_FRAME, c->want, c->wantlen, c->wantlen);
		cr_assert_eq(mllp_framer_stats(f)->junk_bytes, 0);
		free(b);
		evlist_clear(&l);
		mllp_framer_free(f);
	}
}

Test(mllp, cr_lf_split_across_feeds)
{
	/* A TCP segment boundary falls between CR and LF, twice. */
	static const char *reads[] = { (SB "MSH|A\r"), "\nPID|B\r",
		("\n" EB "\r") };
	static const char want[] = "MSH|A\rPID|B\r";
	struct mllp_framer *f = mllp_framer_new(1024);
	struct evlist l = { .n = 0 };

	for (size_t i = 0; i < 3; i++)
		feed_all(f, reads[i], strlen(reads[i]), 0, &l);
	cr_assert_eq(l.n, 1);
	expect_ev(&l, 0, MLLP_FRAME, LIT(want), sizeof(want) - 1);
	evlist_clear(&l);
	mllp_framer_free(f);
}

Test(mllp, lone_cr_at_end_of_read_then_text)
{
	/* prev_cr must not swallow a later LF that follows other bytes. */
	static const char *reads[] = { (SB "A\r"), "B\n", ("C" EB) };
	static const char want[] = "A\rB\rC";
	struct mllp_framer *f = mllp_framer_new(1024);
	struct evlist l = { .n = 0 };

	for (size_t i = 0; i < 3; i++)
		feed_all(f, reads[i], strlen(reads[i]), 0, &l);
	cr_assert_eq(l.n, 1);
	expect_ev(&l, 0, MLLP_FRAME, LIT(want), sizeof(want) - 1);
	evlist_clear(&l);
	mllp_framer_free(f);
}

/* ---- framing quirks ---- */

Test(mllp, missing_final_cr_with_next_frame)
{
	static const char in[] = SB "MSH|1\r" EB SB "MSH|2\r" EB "\r";
	struct mllp_framer *f = mllp_framer_new(1024);
	struct evlist l = { .n = 0 };
	struct mllp_frame fr;
	int got;
	size_t used;

	/* The first frame is out as soon as its 0x1C is read. */
	used = mllp_framer_feed(f, LIT(in), &fr, &got);
	cr_assert_eq(got, 1);
	cr_assert_eq(used, 8);
	evlist_add(&l, &fr);
	feed_all(f, in + used, sizeof(in) - 1 - used, 0, &l);
	cr_assert_eq(l.n, 2);
	expect_ev(&l, 0, MLLP_FRAME, LIT("MSH|1\r"), 6);
	expect_ev(&l, 1, MLLP_FRAME, LIT("MSH|2\r"), 6);
	cr_assert_eq(mllp_framer_stats(f)->junk_bytes, 0);
	cr_assert_eq(mllp_framer_stats(f)->frames, 2);
	cr_assert_eq(mllp_framer_finish(f, &fr), 0);
	evlist_clear(&l);
	mllp_framer_free(f);
}

Test(mllp, frame_emitted_before_trailer_arrives)
{
	static const char in[] = SB "MSH|1\r" EB;
	struct mllp_framer *f = mllp_framer_new(1024);
	struct mllp_frame fr;
	int got;

	cr_assert_eq(mllp_framer_feed(f, LIT(in), &fr, &got), sizeof(in) - 1);
	cr_assert_eq(got, 1);
	cr_assert_eq(fr.len, 6);
	cr_assert_not(mllp_framer_in_frame(f));
	/* The late trailer is not junk. */
	cr_assert_eq(mllp_framer_feed(f, "\r", 1, &fr, &got), 1);
	cr_assert_eq(got, 0);
	cr_assert_eq(mllp_framer_stats(f)->junk_bytes, 0);
	mllp_framer_free(f);
}

Test(mllp, many_frames_in_one_read)
{
	enum { N = 100 };
	char *in = malloc(N * 64);
	char want[N][32];
	size_t off = 0, used;
	struct mllp_framer *f = mllp_framer_new(1024);
	struct mllp_frame fr;
	int got;

	cr_assert_not_null(in);
	for (int i = 0; i < N; i++) {
		int n = snprintf(want[i], sizeof(want[i]),
		    "MSH|^~\\&|LIS||||%d\r", i);
		off += mllp_wrap(want[i], (size_t)n, in + off);
	}
	/* Each call stops at exactly one event, in order. */
	for (size_t i = 0, pos = 0; i < N; i++) {
		used = mllp_framer_feed(f, in + pos, off - pos, &fr, &got);
		cr_assert_eq(got, 1, "frame %zu", i);
		cr_assert_eq(fr.kind, MLLP_FRAME);
		cr_assert_eq(fr.len, strlen(want[i]));
		cr_assert_arr_eq(fr.data, want[i], fr.len, "frame %zu", i);
		pos += used;
		/* The trailing CR is taken on the next call. */
		if (i + 1 < N)
			cr_assert_eq(in[pos], '\r');
		else
			cr_assert_eq(pos, off - 1);
		if (i + 1 == N) {
			cr_assert_eq(mllp_framer_feed(f, in + pos, 1, &fr,
					 &got),
			    1);
			cr_assert_eq(got, 0);
		}
	}
	cr_assert_eq(mllp_framer_stats(f)->frames, N);
	cr_assert_eq(mllp_framer_stats(f)->junk_bytes, 0);
	free(in);
	mllp_framer_free(f);
}

ParameterizedTestParameters(mllp, small_reads_match_one_read)
{
	static size_t chunks[] = { 1, 2, 3, 7, 64, 0 };

	return cr_make_param_array(size_t, chunks,
	    sizeof(chunks) / sizeof(chunks[0]));
}

ParameterizedTest(size_t *chunk, mllp, small_reads_match_one_read)
{
	/* One session of a messy sender: every quirk between the same ORU. */
	static const char in[] = "\0\0" SB ORU_CR EB "\r" SB ORU_LF EB
				 "\n" SB ORU_CRLF EB
				 "\r\n" SB ORU_CR EB /* missing final CR */
				     SB ORU_CR EB "\r";
	struct mllp_framer *f = mllp_framer_new(1 << 20);
	struct evlist l = { .n = 0 };
	struct mllp_frame fr;

	feed_all(f, LIT(in), *chunk, &l);
	cr_assert_eq(l.n, 5, "chunk %zu: %zu events", *chunk, l.n);
	for (size_t i = 0; i < 5; i++)
		expect_ev(&l, i, MLLP_FRAME, LIT(ORU_CR), sizeof(ORU_CR) - 1);
	cr_assert_eq(mllp_framer_stats(f)->junk_bytes, 2);
	cr_assert_eq(mllp_framer_stats(f)->frames, 5);
	cr_assert_eq(mllp_framer_finish(f, &fr), 0);
	evlist_clear(&l);
	mllp_framer_free(f);
}

/* ---- trailers ---- */

struct trailer_case {
	char trailer[8];
	size_t len;
	uint64_t junk;
};

ParameterizedTestParameters(mllp, trailer_after_end_block)
{
	static struct trailer_case cases[] = {
		{ BYTES(""), 0 },
		{ BYTES("\r"), 0 },
		{ BYTES("\n"), 0 }, /* trailing LF */
		{ BYTES("\r\n"), 0 },
		{ BYTES("\n\r"), 1 }, /* LF then CR: the CR is junk */
		{ BYTES("\r\r"), 1 },
		{ BYTES("\n\n"), 1 },
		{ BYTES("\r\n\n"), 1 },
		{ BYTES("\r\0"), 1 },
		{ BYTES("x"), 1 },
	};

	return cr_make_param_array(struct trailer_case, cases,
	    sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct trailer_case *c, mllp, trailer_after_end_block)
{
	size_t chunks[] = { 0, 1 };

	for (size_t k = 0; k < 2; k++) {
		struct mllp_framer *f = mllp_framer_new(1024);
		struct evlist l = { .n = 0 };

		feed_all(f, LIT(SB "MSH|1\r" EB), chunks[k], &l);
		feed_all(f, c->trailer, c->len, chunks[k], &l);
		cr_assert_not(mllp_framer_in_frame(f));
		feed_all(f, LIT(SB "MSH|2\r" EB "\n"), chunks[k], &l);
		cr_assert_eq(l.n, 2);
		expect_ev(&l, 0, MLLP_FRAME, LIT("MSH|1\r"), 6);
		expect_ev(&l, 1, MLLP_FRAME, LIT("MSH|2\r"), 6);
		cr_assert_eq(mllp_framer_stats(f)->junk_bytes, c->junk,
		    "junk_bytes %llu, want %llu",
		    (unsigned long long)mllp_framer_stats(f)->junk_bytes,
		    (unsigned long long)c->junk);
		evlist_clear(&l);
		mllp_framer_free(f);
	}
}

Test(mllp, empty_frame)
{
	struct mllp_framer *f = mllp_framer_new(1024);
	struct evlist l = { .n = 0 };

	feed_all(f, LIT(SB EB "\r"), 0, &l);
	cr_assert_eq(l.n, 1);
	expect_ev(&l, 0, MLLP_FRAME, "", 0, 0);
	evlist_clear(&l);
	mllp_framer_free(f);
}

/* ---- size cap ---- */

Test(mllp, oversize_then_good_frame)
{
	enum { BIG = 10000 };
	char *big = pattern(BIG);
	size_t blen;
	char *b = framed(big, BIG, &blen);
	static const char good[] = SB "MSH|^~\\&|GOOD\r" EB "\r";
	size_t chunks[] = { 0, 1, 4096 };

	for (size_t k = 0; k < 3; k++) {
		struct mllp_framer *f = mllp_framer_new(64);
		struct evlist l = { .n = 0 };
		const struct mllp_stats *st = mllp_framer_stats(f);

		feed_all(f, b, blen, chunks[k], &l);
		feed_all(f, LIT(good), chunks[k], &l);
		cr_assert_eq(l.n, 2);
		/* The prefix for the AR ACK is KEEP bytes even when max_size is smaller. */
		expect_ev(&l, 0, MLLP_OVERSIZE, big, MLLP_PREFIX_KEEP, BIG);
		expect_ev(&l, 1, MLLP_FRAME, LIT("MSH|^~\\&|GOOD\r"), 14);
		cr_assert_eq(st->frames, 1);
		cr_assert_eq(st->oversize, 1);
		cr_assert_eq(st->abandoned, 0);
		cr_assert_eq(st->junk_bytes, 0);
		cr_assert_leq(mllp_framer_bufsize(f), MLLP_PREFIX_KEEP);
		evlist_clear(&l);
		mllp_framer_free(f);
	}
	free(b);
	free(big);
}

Test(mllp, oversize_shorter_than_prefix_kept_whole)
{
	static const char in[] = SB "MSH|^~\\&|LIS|X\rPID|1\r" EB "\r";
	struct mllp_framer *f = mllp_framer_new(10);
	struct evlist l = { .n = 0 };

	feed_all(f, LIT(in), 1, &l);
	cr_assert_eq(l.n, 1);
	expect_ev(&l, 0, MLLP_OVERSIZE, LIT("MSH|^~\\&|LIS|X\rPID|1\r"), 21);
	evlist_clear(&l);
	mllp_framer_free(f);
}

ParameterizedTestParameters(mllp, max_size_boundary)
{
	static size_t sizes[] = { 0, 1, 100, MLLP_PREFIX_KEEP,
		MLLP_PREFIX_KEEP + 1, 20000, 70000 };

	return cr_make_param_array(size_t, sizes,
	    sizeof(sizes) / sizeof(sizes[0]));
}

ParameterizedTest(size_t *maxp, mllp, max_size_boundary)
{
	size_t max = *maxp, blen;
	char *p = pattern(max + 1);
	struct mllp_framer *f = mllp_framer_new(max);
	struct evlist l = { .n = 0 };
	char *b;

	b = framed(p, max, &blen);
	feed_all(f, b, blen, 0, &l);
	free(b);
	b = framed(p, max + 1, &blen);
	feed_all(f, b, blen, 0, &l);
	free(b);
	/* And again in 1-byte reads: the check must not depend on read size. */
	b = framed(p, max, &blen);
	feed_all(f, b, blen, 1, &l);
	free(b);
	b = framed(p, max + 1, &blen);
	feed_all(f, b, blen, 1, &l);
	free(b);

	cr_assert_eq(l.n, 4);
	for (size_t i = 0; i < 4; i += 2) {
		size_t keep = max + 1 < MLLP_PREFIX_KEEP ? max + 1 :
							   MLLP_PREFIX_KEEP;

		expect_ev(&l, i, MLLP_FRAME, p, max, max);
		expect_ev(&l, i + 1, MLLP_OVERSIZE, p, keep, max + 1);
	}
	cr_assert_eq(mllp_framer_stats(f)->frames, 2);
	cr_assert_eq(mllp_framer_stats(f)->oversize, 2);
	evlist_clear(&l);
	mllp_framer_free(f);
	free(p);
}

Test(mllp, max_size_counts_normalised_bytes)
{
	/* 6 payload bytes after CRLF -> CR, 8 on the wire. */
	static const char in[] = SB "AB\r\nCD\r\n" EB "\r";
	struct mllp_framer *f = mllp_framer_new(6);
	struct evlist l = { .n = 0 };

	feed_all(f, LIT(in), 1, &l);
	cr_assert_eq(l.n, 1);
	expect_ev(&l, 0, MLLP_FRAME, LIT("AB\rCD\r"), 6);
	evlist_clear(&l);
	mllp_framer_free(f);
}

Test(mllp, oversize_memory_bounded)
{
	enum { MAX = 8192, BIG = 4 << 20, CHUNK = 65536 };
	struct mllp_framer *f = mllp_framer_new(MAX);
	struct mllp_frame fr;
	char *chunk = pattern(CHUNK);
	size_t used;
	int got;

	cr_assert_eq(mllp_framer_feed(f, SB, 1, &fr, &got), 1);
	for (size_t sent = 0; sent < BIG; sent += CHUNK) {
		used = mllp_framer_feed(f, chunk, CHUNK, &fr, &got);
		cr_assert_eq(used, CHUNK);
		cr_assert_eq(got, 0);
		cr_assert(mllp_framer_in_frame(f));
		cr_assert_leq(mllp_framer_bufsize(f), MAX);
	}
	cr_assert_eq(mllp_framer_feed(f, EB, 1, &fr, &got), 1);
	cr_assert_eq(got, 1);
	cr_assert_eq(fr.kind, MLLP_OVERSIZE);
	cr_assert_eq(fr.total, BIG);
	cr_assert_eq(fr.len, MLLP_PREFIX_KEEP);
	cr_assert_arr_eq(fr.data, chunk, MLLP_PREFIX_KEEP);
	free(chunk);
	mllp_framer_free(f);
}

/* ---- abandoned frames ---- */

Test(mllp, abandoned_by_start_block)
{
	static const char in[] = SB "MSH|^~\\&|PART" SB "MSH|^~\\&|GOOD\r" EB
				    "\r";
	size_t chunks[] = { 0, 1 };

	for (size_t k = 0; k < 2; k++) {
		struct mllp_framer *f = mllp_framer_new(1024);
		struct evlist l = { .n = 0 };
		const struct mllp_stats *st = mllp_framer_stats(f);

		feed_all(f, LIT(in), chunks[k], &l);
		cr_assert_eq(l.n, 2);
		expect_ev(&l, 0, MLLP_ABANDONED, LIT("MSH|^~\\&|PART"), 13);
		expect_ev(&l, 1, MLLP_FRAME, LIT("MSH|^~\\&|GOOD\r"), 14);
		cr_assert_eq(st->abandoned, 1);
		cr_assert_eq(st->frames, 1);
		cr_assert_eq(st->junk_bytes, 0);
		evlist_clear(&l);
		mllp_framer_free(f);
	}
}

Test(mllp, abandoned_consumes_the_new_start_block)
{
	static const char in[] = SB "AB" SB "CD" EB;
	struct mllp_framer *f = mllp_framer_new(1024);
	struct mllp_frame fr;
	int got;

	cr_assert_eq(mllp_framer_feed(f, LIT(in), &fr, &got), 4);
	cr_assert_eq(got, 1);
	cr_assert_eq(fr.kind, MLLP_ABANDONED);
	cr_assert(mllp_framer_in_frame(f));
	cr_assert_eq(mllp_framer_feed(f, in + 4, 3, &fr, &got), 3);
	cr_assert_eq(got, 1);
	cr_assert_eq(fr.kind, MLLP_FRAME);
	cr_assert_eq(fr.len, 2);
	cr_assert_arr_eq(fr.data, "CD", 2);
	mllp_framer_free(f);
}

Test(mllp, abandoned_while_discarding_oversize)
{
	enum { BIG = 100 };
	char *big = pattern(BIG);
	struct mllp_framer *f = mllp_framer_new(16);
	struct evlist l = { .n = 0 };
	const struct mllp_stats *st = mllp_framer_stats(f);

	feed_all(f, SB, 1, 0, &l);
	feed_all(f, big, BIG, 0, &l);
	feed_all(f, LIT(SB "MSH|OK\r" EB "\r"), 0, &l);
	cr_assert_eq(l.n, 2);
	expect_ev(&l, 0, MLLP_ABANDONED, big, BIG, BIG);
	expect_ev(&l, 1, MLLP_FRAME, LIT("MSH|OK\r"), 7);
	cr_assert_eq(st->oversize, 0);
	cr_assert_eq(st->abandoned, 1);
	cr_assert_eq(st->frames, 1);
	evlist_clear(&l);
	mllp_framer_free(f);
	free(big);
}

Test(mllp, abandoned_data_capped_at_prefix)
{
	enum { BIG = 10000 };
	char *big = pattern(BIG);
	struct mllp_framer *f = mllp_framer_new(1 << 20);
	struct evlist l = { .n = 0 };

	feed_all(f, SB, 1, 0, &l);
	feed_all(f, big, BIG, 0, &l);
	feed_all(f, SB, 1, 0, &l);
	cr_assert_eq(l.n, 1);
	expect_ev(&l, 0, MLLP_ABANDONED, big, MLLP_PREFIX_KEEP, BIG);
	evlist_clear(&l);
	mllp_framer_free(f);
	free(big);
}

/* ---- end of input ---- */

Test(mllp, finish_at_eof_mid_frame)
{
	static const char in[] = "\0" SB "MSH|^~\\&|LIS\r\nPID|1";
	static const char want[] = "MSH|^~\\&|LIS\rPID|1";
	struct mllp_framer *f = mllp_framer_new(1024);
	struct evlist l = { .n = 0 };
	struct mllp_frame fr;

	feed_all(f, LIT(in), 0, &l);
	cr_assert_eq(l.n, 0);
	cr_assert(mllp_framer_in_frame(f));
	cr_assert_eq(mllp_framer_finish(f, &fr), 1);
	evlist_add(&l, &fr);
	expect_ev(&l, 0, MLLP_ABANDONED, LIT(want), sizeof(want) - 1);
	cr_assert_not(mllp_framer_in_frame(f));
	cr_assert_eq(mllp_framer_stats(f)->abandoned, 1);
	cr_assert_eq(mllp_framer_stats(f)->junk_bytes, 1);
	/* Only once. */
	cr_assert_eq(mllp_framer_finish(f, &fr), 0);
	cr_assert_eq(mllp_framer_stats(f)->abandoned, 1);
	evlist_clear(&l);
	mllp_framer_free(f);
}

Test(mllp, finish_at_eof_right_after_start_block)
{
	struct mllp_framer *f = mllp_framer_new(1024);
	struct mllp_frame fr;
	int got;

	cr_assert_eq(mllp_framer_feed(f, SB, 1, &fr, &got), 1);
	cr_assert_eq(got, 0);
	cr_assert(mllp_framer_in_frame(f));
	cr_assert_eq(mllp_framer_finish(f, &fr), 1);
	cr_assert_eq(fr.kind, MLLP_ABANDONED);
	cr_assert_eq(fr.len, 0);
	cr_assert_eq(fr.total, 0);
	cr_assert_not_null(fr.data);
	mllp_framer_free(f);
}

struct finish_case {
	char in[32];
	size_t len;
};

ParameterizedTestParameters(mllp, finish_nothing_pending)
{
	static struct finish_case cases[] = {
		{ BYTES("") },
		{ BYTES("\0\0junk") },
		{ BYTES(SB "MSH|1\r" EB) },
		{ BYTES(SB "MSH|1\r" EB "\r") },
		{ BYTES(SB "MSH|1\r" EB "\r\n") },
		{ BYTES(SB "MSH|1\r" EB "\r\n\0") },
	};

	return cr_make_param_array(struct finish_case, cases,
	    sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct finish_case *c, mllp, finish_nothing_pending)
{
	struct mllp_framer *f = mllp_framer_new(1024);
	struct evlist l = { .n = 0 };
	struct mllp_frame fr;

	memset(&fr, 0, sizeof(fr));
	feed_all(f, c->in, c->len, 0, &l);
	cr_assert_not(mllp_framer_in_frame(f));
	cr_assert_eq(mllp_framer_finish(f, &fr), 0);
	cr_assert_eq(mllp_framer_stats(f)->abandoned, 0);
	evlist_clear(&l);
	mllp_framer_free(f);
}

/* ---- wrap and buffer reuse ---- */

Test(mllp, wrap_round_trip)
{
	static const struct {
		const char *p;
		size_t len;
	} cases[] = {
		{ LIT("") },
		{ LIT("MSH|^~\\&|X\r") },
		{ LIT(ORU_CR) },
		{ LIT("bytes \0\x7f\xff\r kept") },
	};
	char out[sizeof(ORU_CR) + 3];
	char stream[4 * (sizeof(ORU_CR) + 3)];
	size_t off = 0, n;
	struct mllp_framer *f = mllp_framer_new(1024);
	struct evlist l = { .n = 0 };

	for (size_t i = 0; i < 4; i++) {
		n = mllp_wrap(cases[i].p, cases[i].len, out);
		cr_assert_eq(n, cases[i].len + 3);
		cr_assert_eq((unsigned char)out[0], 0x0b);
		cr_assert_arr_eq(out + 1, cases[i].p, cases[i].len);
		cr_assert_eq((unsigned char)out[n - 2], 0x1c);
		cr_assert_eq((unsigned char)out[n - 1], 0x0d);
		memcpy(stream + off, out, n);
		off += n;
	}
	feed_all(f, stream, off, 0, &l);
	cr_assert_eq(l.n, 4);
	for (size_t i = 0; i < 4; i++)
		expect_ev(&l, i, MLLP_FRAME, cases[i].p, cases[i].len,
		    cases[i].len);
	cr_assert_eq(mllp_framer_stats(f)->junk_bytes, 0);
	evlist_clear(&l);
	mllp_framer_free(f);
}

Test(mllp, buffer_reused_between_frames)
{
	enum { BIG = 50000 };
	char *big = pattern(BIG);
	struct mllp_framer *f = mllp_framer_new(1 << 20);
	struct mllp_frame fr;
	const char *data0 = NULL;
	size_t blen, cap0 = 0;
	char *b = framed(big, BIG, &blen);
	int got;

	for (int i = 0; i < 200; i++) {
		size_t pos = 0, len = i % 2 ? blen : 50;
		const char *in = b;
		char small[64];

		if (len == 50) {
			len = mllp_wrap(big, 40, small);
			in = small;
		}
		got = 0;
		while (pos < len) {
			pos += mllp_framer_feed(f, in + pos, len - pos, &fr,
			    &got);
			if (got) {
				cr_assert_eq(fr.kind, MLLP_FRAME);
				if (data0 == NULL && i >= 1) {
					data0 = fr.data;
					cap0 = mllp_framer_bufsize(f);
				}
			}
		}
		/* After the first big frame: same buffer, same size, every time. */
		if (data0 != NULL) {
			cr_assert_eq(fr.data, data0, "frame %d reallocated", i);
			cr_assert_eq(mllp_framer_bufsize(f), cap0);
		}
	}
	cr_assert_geq(cap0, BIG);
	cr_assert_eq(mllp_framer_stats(f)->frames, 200);
	free(b);
	free(big);
	mllp_framer_free(f);
}

Test(mllp, in_frame_tracks_partial)
{
	struct mllp_framer *f = mllp_framer_new(1024);
	struct mllp_frame fr;
	int got;

	cr_assert_not(mllp_framer_in_frame(f));
	(void)mllp_framer_feed(f, "\0\0", 2, &fr, &got);
	cr_assert_not(mllp_framer_in_frame(f));
	(void)mllp_framer_feed(f, SB "MSH", 4, &fr, &got);
	cr_assert(mllp_framer_in_frame(f));
	(void)mllp_framer_feed(f, EB, 1, &fr, &got);
	cr_assert_eq(got, 1);
	cr_assert_not(mllp_framer_in_frame(f));
	(void)mllp_framer_feed(f, "\r", 1, &fr, &got);
	cr_assert_not(mllp_framer_in_frame(f));
	mllp_framer_free(f);
}

/*
 * A frame over 64 KiB made labwatchd drop and recreate its framer right
 * after the 0x1C, so the CR that follows was counted as a junk byte ("1
 * bytes outside frames skipped" after every big frame). Shrinking keeps
 * the state: the CR is the trailer, whether it comes in the same read or
 * the next one.
 */
struct shrink_case {
	size_t size;  /* payload bytes of the big frame */
	size_t split; /* feed the stream in two reads cut here (0: one read) */
};

static struct shrink_case shrink_cases[] = {
	{ 70000, 0 },	  /* 0x1C CR in one read */
	{ 70000, 70002 }, /* read ends right after 0x1C: CR in the next */
	{ 200000, 200002 }, { 65536, 65538 },
	{ 100, 102 }, /* a small frame: nothing to give back */
};

ParameterizedTestParameters(mllp, shrink_after_big_frame_keeps_trailer)
{
	return cr_make_param_array(struct shrink_case, shrink_cases,
	    sizeof(shrink_cases) / sizeof(shrink_cases[0]));
}

ParameterizedTest(struct shrink_case *c, mllp,
    shrink_after_big_frame_keeps_trailer)
{
	struct mllp_framer *f = mllp_framer_new(1 << 20);
	char *big = pattern(c->size), *stream;
	struct mllp_frame fr;
	size_t blen, len, pos = 0, end, used;
	int got;
	struct evlist l = { .n = 0 };

	stream = malloc(c->size + 3 + 3 + 8);
	cr_assert_not_null(stream);
	blen = mllp_wrap(big, c->size, stream);
	len = blen + mllp_wrap("MSH|x", 5, stream + blen);
	while (pos < len) {
		end = c->split != 0 && pos < c->split ? c->split : len;
		used = mllp_framer_feed(f, stream + pos, end - pos, &fr, &got);
		pos += used;
		if (got) {
			evlist_add(&l, &fr);
			/* what conn.c does after each event */
			mllp_framer_shrink(f, 64 * 1024);
			cr_assert_leq(mllp_framer_bufsize(f), 64 * 1024);
		}
	}
	cr_assert_eq(l.n, 2);
	expect_ev(&l, 0, MLLP_FRAME, big, c->size, c->size);
	expect_ev(&l, 1, MLLP_FRAME, "MSH|x", 5, 5);
	cr_assert_eq(mllp_framer_stats(f)->junk_bytes, 0, "junk %llu",
	    (unsigned long long)mllp_framer_stats(f)->junk_bytes);
	evlist_clear(&l);
	free(stream);
	free(big);
	mllp_framer_free(f);
}

Test(mllp, shrink_inside_a_frame_does_nothing)
{
	struct mllp_framer *f = mllp_framer_new(1 << 20);
	char *big = pattern(100000);
	struct mllp_frame fr;
	struct evlist l = { .n = 0 };
	size_t cap;
	int got;

	(void)mllp_framer_feed(f, SB, 1, &fr, &got);
	(void)mllp_framer_feed(f, big, 100000, &fr, &got);
	cap = mllp_framer_bufsize(f);
	mllp_framer_shrink(f, 4096);
	cr_assert_eq(mllp_framer_bufsize(f), cap);
	feed_all(f, EB "\r", 2, 0, &l);
	cr_assert_eq(l.n, 1);
	expect_ev(&l, 0, MLLP_FRAME, big, 100000, 100000);
	evlist_clear(&l);
	free(big);
	mllp_framer_free(f);
}

/* ---- the first bytes of a connection: TLS on the plain port ---- */

struct sniff_case {
	char name[40];
	char bytes[16];
	size_t len;
	enum mllp_sniff want;
};

#define SNIFF(name, b, want) \
	{ \
		name, b, sizeof(b) - 1, want \
	}
static struct sniff_case sniff_cases[] = {
	SNIFF("nothing yet", "", MLLP_SNIFF_MORE),
	SNIFF("0x16 alone", "\x16", MLLP_SNIFF_MORE),
	SNIFF("0x16 0x03", "\x16\x03", MLLP_SNIFF_MORE),
	SNIFF("ClientHello TLS 1.0 record", "\x16\x03\x01\x02\x00\x01",
	    MLLP_SNIFF_TLS),
	SNIFF("ClientHello TLS 1.2 record", "\x16\x03\x03\x00\x40",
	    MLLP_SNIFF_TLS),
	SNIFF("MLLP frame", SB "MSH|^~\\&|", MLLP_SNIFF_OTHER),
	SNIFF("junk then frame", "\0\0" SB "MSH", MLLP_SNIFF_OTHER),
	SNIFF("0x16 then text", "\x16MSH", MLLP_SNIFF_OTHER),
	SNIFF("0x16 0x03 then 0x0B", "\x16\x03" SB, MLLP_SNIFF_OTHER),
	SNIFF("HTTP", "GET / HTTP/1.1", MLLP_SNIFF_OTHER),
};

ParameterizedTestParameters(mllp, sniff_first_bytes)
{
	return cr_make_param_array(struct sniff_case, sniff_cases,
	    sizeof(sniff_cases) / sizeof(sniff_cases[0]));
}

ParameterizedTest(struct sniff_case *c, mllp, sniff_first_bytes)
{
	cr_assert_eq(mllp_sniff(c->bytes, c->len), c->want, "%s", c->name);
}
