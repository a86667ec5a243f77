/*
 * mllp.c: incremental MLLP framer.
 *
 * Inside a frame only three bytes matter: 0x0B (the frame was cut short),
 * 0x1C (the frame ends) and LF (a terminator to normalise). Each is found
 * with memchr, so plain payload moves by memchr and memcpy only. A CR is
 * never rewritten; it only matters as the byte before an LF, which we learn
 * from the byte itself or, at the start of a read, from prev_cr.
 */
#include <stdlib.h>
#include <string.h>

#include "hl7/mllp.h"
#include "lib/xmalloc.h"

/* First allocation; frames larger than this grow the buffer once, then reuse it. */
#define MLLP_INITIAL_BUF 16384

enum framer_state {
	ST_OUTSIDE,	/* between frames: everything up to 0x0B is junk */
	ST_AFTER_EB,	/* just after 0x1C: CR, LF or CRLF is the trailer */
	ST_AFTER_EB_CR, /* after 0x1C 0x0D: an LF is still trailer */
	ST_IN,		/* inside a frame, buffering or (oversize) discarding */
};

struct mllp_framer {
	char *buf;	 /* payload so far, normalised */
	size_t cap;	 /* allocated bytes of buf */
	size_t len;	 /* bytes kept in buf */
	size_t total;	 /* payload bytes of this frame, kept or not */
	size_t max_size; /* largest payload accepted as MLLP_FRAME */
	size_t limit;	 /* buf never grows past this: max(max_size, KEEP) */
	enum framer_state st;
	bool prev_cr;  /* last payload byte taken was a CR */
	bool oversize; /* this frame passed max_size: keep only the prefix */
	struct mllp_stats stats;
};

static size_t
min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

static void
framer_grow(struct mllp_framer *f, size_t need)
{
	size_t cap = f->cap;

	/* Doubling keeps growth amortised; need never exceeds f->limit. */
	while (cap < need)
		cap = cap > f->limit / 2 ? f->limit : cap * 2;
	f->buf = xreallocarray(f->buf, cap, 1);
	f->cap = cap;
}

/* Account n payload bytes and keep those the frame's limit allows. */
static void
framer_append(struct mllp_framer *f, const char *p, size_t n)
{
	size_t keep, lim;

	if (!f->oversize && n > f->max_size - f->total)
		f->oversize = true;
	f->total += n;
	/* An oversize frame keeps only what an AR ACK may quote. */
	lim = f->oversize ? MLLP_PREFIX_KEEP : f->max_size;
	if (f->len >= lim)
		return;
	keep = min_size(n, lim - f->len);
	if (f->len + keep > f->cap)
		framer_grow(f, f->len + keep);
	memcpy(f->buf + f->len, p, keep);
	f->len += keep;
}

/* Take n payload bytes, turning LF into CR and dropping the LF of CRLF. */
static void
framer_take(struct mllp_framer *f, const char *p, size_t n)
{
	const char *lf;
	size_t run;

	while (n > 0) {
		lf = memchr(p, '\n', n);
		run = lf != NULL ? (size_t)(lf - p) : n;
		if (run > 0) {
			framer_append(f, p, run);
			f->prev_cr = p[run - 1] == '\r';
		}
		if (lf == NULL)
			return;
		if (!f->prev_cr)
			framer_append(f, "\r", 1);
		/* CR LF LF is two terminators: this LF must not swallow the next. */
		f->prev_cr = false;
		p += run + 1;
		n -= run + 1;
	}
}

static void
framer_start(struct mllp_framer *f)
{
	/* buf keeps its bytes: an event just emitted may still point at them. */
	f->st = ST_IN;
	f->len = 0;
	f->total = 0;
	f->prev_cr = false;
	f->oversize = false;
}

static void
framer_emit(struct mllp_framer *f, enum mllp_kind kind, struct mllp_frame *out)
{
	out->kind = kind;
	out->data = f->buf;
	out->len = kind == MLLP_FRAME ? f->len :
					min_size(f->len, MLLP_PREFIX_KEEP);
	out->total = f->total;
	switch (kind) {
	case MLLP_FRAME:
		f->stats.frames++;
		break;
	case MLLP_OVERSIZE:
		f->stats.oversize++;
		break;
	case MLLP_ABANDONED:
		f->stats.abandoned++;
		break;
	}
}

struct mllp_framer *
mllp_framer_new(size_t max_size)
{
	struct mllp_framer *f;

	f = xmalloc(sizeof(*f));
	memset(f, 0, sizeof(*f));
	f->max_size = max_size;
	f->limit = max_size > MLLP_PREFIX_KEEP ? max_size : MLLP_PREFIX_KEEP;
	/* Allocated up front so out->data is never NULL, even for an empty frame. */
	f->cap = min_size(f->limit, MLLP_INITIAL_BUF);
	f->buf = xmalloc(f->cap);
	f->st = ST_OUTSIDE;
	return f;
}

void
mllp_framer_free(struct mllp_framer *f)
{
	if (f == NULL)
		return;
	free(f->buf);
	free(f);
}

size_t
mllp_framer_feed(struct mllp_framer *f, const void *buf, size_t len,
    struct mllp_frame *out, int *got)
{
	const char *start = buf, *p = buf, *end = p + len;
	const char *sb, *eb;
	size_t n;

	*got = 0;
	while (p < end) {
		switch (f->st) {
		case ST_AFTER_EB:
			f->st = ST_OUTSIDE;
			if (*p == '\r') {
				f->st = ST_AFTER_EB_CR;
				p++;
			} else if (*p == '\n')
				p++;
			break;
		case ST_AFTER_EB_CR:
			f->st = ST_OUTSIDE;
			if (*p == '\n')
				p++;
			break;
		case ST_OUTSIDE:
			sb = memchr(p, MLLP_SB, (size_t)(end - p));
			if (sb == NULL) {
				f->stats.junk_bytes += (size_t)(end - p);
				p = end;
				break;
			}
			f->stats.junk_bytes += (size_t)(sb - p);
			p = sb + 1;
			framer_start(f);
			break;
		case ST_IN:
			/*
			 * Bound the 0x1C search by the next 0x0B rather than
			 * the reverse: a run of 0x0B bytes then cannot make
			 * each call rescan the rest of the read.
			 */
			n = (size_t)(end - p);
			sb = memchr(p, MLLP_SB, n);
			if (sb != NULL)
				n = (size_t)(sb - p);
			eb = memchr(p, MLLP_EB, n);
			if (eb != NULL) {
				framer_take(f, p, (size_t)(eb - p));
				p = eb + 1;
				/* Emit now: a sender that omits the final CR costs no latency. */
				f->st = ST_AFTER_EB;
				framer_emit(f,
				    f->oversize ? MLLP_OVERSIZE : MLLP_FRAME,
				    out);
				*got = 1;
				return (size_t)(p - start);
			}
			framer_take(f, p, n);
			p += n;
			if (sb != NULL) {
				p++;
				framer_emit(f, MLLP_ABANDONED, out);
				*got = 1;
				framer_start(f);
				return (size_t)(p - start);
			}
			break;
		}
	}
	return (size_t)(p - start);
}

int
mllp_framer_finish(struct mllp_framer *f, struct mllp_frame *out)
{
	bool pending = f->st == ST_IN;

	if (pending)
		framer_emit(f, MLLP_ABANDONED, out);
	/* Whatever follows (a reused framer) is a new stream. */
	f->st = ST_OUTSIDE;
	return pending ? 1 : 0;
}

bool
mllp_framer_in_frame(const struct mllp_framer *f)
{
	return f->st == ST_IN;
}

const struct mllp_stats *
mllp_framer_stats(const struct mllp_framer *f)
{
	return &f->stats;
}

size_t
mllp_framer_bufsize(const struct mllp_framer *f)
{
	return f->cap;
}

void
mllp_framer_shrink(struct mllp_framer *f, size_t keep)
{
	if (f->st == ST_IN || f->cap <= keep)
		return;
	keep = min_size(f->limit, keep > 0 ? keep : 1);
	f->buf = xreallocarray(f->buf, keep, 1);
	f->cap = keep;
	f->len = 0;
}

enum mllp_sniff
mllp_sniff(const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if ((len >= 1 && p[0] != 0x16) || (len >= 2 && p[1] != 0x03))
		return MLLP_SNIFF_OTHER;
	if (len < 3)
		return MLLP_SNIFF_MORE;
	return p[2] <= 0x04 ? MLLP_SNIFF_TLS : MLLP_SNIFF_OTHER;
}

size_t
mllp_wrap(const void *payload, size_t len, void *out)
{
	unsigned char *o = out;

	o[0] = MLLP_SB;
	if (len > 0)
		memcpy(o + 1, payload, len);
	o[len + 1] = MLLP_EB;
	o[len + 2] = MLLP_CR;
	return len + 3;
}
