/*
 * split.c: file splitter.
 *
 * The raw form is read line by line; line ends are found with memchr for
 * CR and for LF, each result cached until the scan passes it, so the file
 * is searched once for each. Only the first bytes of a line are looked at:
 * a message starts at "MSH" + delimiter and runs until the next MSH, batch
 * envelope segment or the end. An item is returned as soon as the line
 * that ends it is seen; that line stays unread for the next call, so at
 * most one item is pending at a time and nothing needs a queue.
 *
 * Streaming: the buffer is a window of the input that the caller slides
 * on (hl7_split_window). Positions inside are relative to the window,
 * offsets handed out absolute (base + position). Without eof, an item
 * is only returned once the line after it is whole in the window;
 * otherwise hl7_split_next says HL7_SPLIT_MORE and rewinds to the start
 * of the item, which the caller keeps (hl7_split_keep). An MLLP frame
 * needs no rewinding: the framer keeps the bytes it has taken.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "hl7/split.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hl7/hl7.h"
#include "hl7/mllp.h"
#include "lib/xmalloc.h"

struct hl7_split {
	const char *buf; /* the window */
	size_t len;
	size_t base;  /* input offset of buf[0] */
	bool eof;     /* nothing follows the window */
	bool decided; /* MLLP or raw form chosen */
	size_t keep;  /* after HL7_SPLIT_MORE: first offset still needed */
	size_t pos;   /* next byte to read */
	size_t max;   /* max_message_size, 0 for none */
	struct mllp_framer *framer; /* MLLP form only, owned */
	size_t frame_start; /* input offset of the current frame's 0x0B */
	size_t cr, lf;	    /* next CR / LF at or after pos (len if none) */
	bool seen_msh;
	bool in_batch;	       /* a BHS is open */
	uint64_t batch_msgs;   /* messages since the last BHS or BTS */
	uint64_t file_batches; /* batches since the last FHS */
};

enum line_kind {
	LINE_END,   /* no line: end of buffer */
	LINE_BLANK, /* empty or spaces and tabs */
	LINE_MSH,
	LINE_FHS,
	LINE_BHS,
	LINE_BTS,
	LINE_FTS,
	LINE_OTHER,
};

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
is_padding(char c)
{
	return is_space(c) || c == '\0';
}

/* MSH (or an envelope id) at p: the id then a delimiter or, for envelopes, the line end. */
static bool
starts_seg(const char *p, size_t n, const char *id, bool bare_ok)
{
	return n >= 3 && p[0] == id[0] && p[1] == id[1] && p[2] == id[2] &&
	    (n == 3 ? bare_ok : hl7_is_delim(p[3]));
}

static enum line_kind
classify(const char *p, size_t n)
{
	size_t i;

	if (n >= 3) {
		if (starts_seg(p, n, "MSH", false))
			return LINE_MSH;
		if (p[1] == 'H' && p[2] == 'S') {
			if (starts_seg(p, n, "FHS", true))
				return LINE_FHS;
			if (starts_seg(p, n, "BHS", true))
				return LINE_BHS;
		} else if (p[1] == 'T' && p[2] == 'S') {
			if (starts_seg(p, n, "BTS", true))
				return LINE_BTS;
			if (starts_seg(p, n, "FTS", true))
				return LINE_FTS;
		}
	}
	for (i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t')
			return LINE_OTHER;
	return LINE_BLANK;
}

/* Offset of the first line-start "MSH" + delimiter in buf[0..lim), or lim. */
static size_t
first_msh(const char *buf, size_t len, size_t lim)
{
	const char *p = buf, *end = buf + lim, *q;

	while (p < end) {
		q = memmem(p, (size_t)(end - p), "MSH", 3);
		if (q == NULL)
			break;
		if ((q == buf || q[-1] == '\r' || q[-1] == '\n') &&
		    starts_seg(q, (size_t)(buf + len - q), "MSH", false))
			return (size_t)(q - buf);
		p = q + 1;
	}
	return lim;
}

/* Offset of the first c in buf[0..len), or len. */
static size_t
line_end_of(const char *buf, size_t len, char c)
{
	const char *p = len > 0 ? memchr(buf, c, len) : NULL;

	return p != NULL ? (size_t)(p - buf) : len;
}

/*
 * An MLLP capture has its first 0x0B before its first MSH; decided once
 * the window shows a 0x0B or a line-start MSH, or is all. However much
 * comes before either (padding, junk): the whole-file rule, which reads
 * the whole file, is kept; the raw form's junk item before the first
 * MSH holds as many bytes anyway.
 */
static void
decide(struct hl7_split *s)
{
	const char *sb = s->len > 0 ? memchr(s->buf, MLLP_SB, s->len) : NULL;
	size_t lim = sb != NULL ? (size_t)(sb - s->buf) : s->len;

	if (sb != NULL && first_msh(s->buf, s->len, lim) == lim)
		s->framer = mllp_framer_new(s->max > 0 ? s->max : SIZE_MAX);
	else if (sb == NULL && !s->eof && first_msh(s->buf, s->len, lim) == lim)
		return; /* neither yet */
	s->decided = true;
}

struct hl7_split *
hl7_split_stream(size_t max_message_size)
{
	struct hl7_split *s = xcalloc(1, sizeof(*s));

	s->max = max_message_size;
	return s;
}

void
hl7_split_window(struct hl7_split *s, const char *buf, size_t len, size_t base,
    bool eof)
{
	size_t abs = s->base + s->pos;

	s->pos = abs > base ? abs - base : 0;
	s->buf = buf;
	s->len = len;
	s->base = base;
	s->eof = eof;
	if (!s->decided)
		decide(s);
	if (s->decided && s->framer == NULL) {
		s->cr = s->pos + line_end_of(buf + s->pos, len - s->pos, '\r');
		s->lf = s->pos + line_end_of(buf + s->pos, len - s->pos, '\n');
	}
}

size_t
hl7_split_keep(const struct hl7_split *s)
{
	return s->keep;
}

struct hl7_split *
hl7_split_new(const char *buf, size_t len, size_t max_message_size)
{
	struct hl7_split *s = hl7_split_stream(max_message_size);

	hl7_split_window(s, buf, len, 0, true);
	return s;
}

/* Ask for the bytes from window position keep on. */
static int
more(struct hl7_split *s, size_t keep)
{
	s->keep = s->base + keep;
	return HL7_SPLIT_MORE;
}

void
hl7_split_free(struct hl7_split *s)
{
	if (s == NULL)
		return;
	mllp_framer_free(s->framer);
	free(s);
}

static int
item(struct hl7_split_item *it, const char *data, size_t len, size_t offset,
    const char *reason)
{
	it->data = data;
	it->len = len;
	it->offset = offset;
	it->is_error = reason != NULL;
	it->reason = reason;
	return 1;
}

static int
frame_item(struct hl7_split *s, const struct mllp_frame *fr,
    struct hl7_split_item *it)
{
	size_t i;

	switch (fr->kind) {
	case MLLP_FRAME:
		for (i = 0; i < fr->len && is_space(fr->data[i]); i++)
			;
		return item(it, fr->data, fr->len, s->frame_start,
		    i == fr->len ? "empty MLLP frame" : NULL);
	case MLLP_OVERSIZE:
		return item(it, fr->data, fr->len, s->frame_start,
		    "MLLP frame larger than max_message_size");
	case MLLP_ABANDONED:
		break;
	}
	return item(it, fr->data, fr->len, s->frame_start,
	    "MLLP frame cut short (no end block)");
}

static int
mllp_next(struct hl7_split *s, struct hl7_split_item *it)
{
	const char *buf = s->buf, *sb;
	struct mllp_frame fr;
	size_t i, j, end, start;
	int got;

	for (;;) {
		if (!mllp_framer_in_frame(s->framer)) {
			if (s->pos >= s->len)
				return s->eof ? 0 : more(s, s->len);
			/*
			 * Between frames only whitespace and NUL padding (a
			 * common sender quirk, see DESIGN.md) pass unreported.
			 */
			sb = memchr(buf + s->pos, MLLP_SB, s->len - s->pos);
			end = sb != NULL ? (size_t)(sb - buf) : s->len;
			for (i = s->pos; i < end && is_padding(buf[i]); i++)
				;
			if (sb == NULL && !s->eof) /* junk may go on */
				return more(s, i);
			if (i < end) {
				for (j = end; is_padding(buf[j - 1]); j--)
					;
				s->pos = end;
				return item(it, buf + i, j - i, s->base + i,
				    "bytes outside MLLP frames");
			}
			s->pos = end;
			if (sb == NULL)
				return 0;
			s->frame_start = s->base + end;
		}
		start = s->pos;
		s->pos += mllp_framer_feed(s->framer, buf + s->pos,
		    s->len - s->pos, &fr, &got);
		if (got) {
			frame_item(s, &fr, it);
			/* Cut short by a new 0x0B, which starts the next frame. */
			if (fr.kind == MLLP_ABANDONED)
				s->frame_start = s->base + s->pos - 1;
			return 1;
		}
		if (s->pos >= s->len && !s->eof)
			return more(s, s->len); /* the framer holds the frame */
		if (s->pos >= s->len && mllp_framer_finish(s->framer, &fr))
			return frame_item(s, &fr, it);
		if (s->pos == start)
			return 0; /* cannot happen: feed always consumes */
	}
}

/* End of the line starting at pos (its CR or LF, or len). */
static size_t
line_end(struct hl7_split *s, size_t pos)
{
	if (s->cr < pos)
		s->cr = pos + line_end_of(s->buf + pos, s->len - pos, '\r');
	if (s->lf < pos)
		s->lf = pos + line_end_of(s->buf + pos, s->len - pos, '\n');
	return s->cr < s->lf ? s->cr : s->lf;
}

/*
 * The count in field 1 of a BTS/FTS line: 1 and *n when valued, 0 when
 * empty, -1 when not a number.
 */
static int
trailer_count(const char *p, size_t n, uint64_t *out)
{
	size_t i, e;

	*out = 0;
	if (n <= 4)
		return 0;
	for (e = 4; e < n && p[e] != p[3]; e++)
		;
	for (i = 4; i < e && p[i] == ' '; i++)
		;
	while (e > i && p[e - 1] == ' ')
		e--;
	if (i == e)
		return 0;
	if (e - i > 18)
		return -1;
	for (; i < e; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		*out = *out * 10 + (uint64_t)(p[i] - '0');
	}
	return 1;
}

/* Account an envelope line; 1 with an error item when its count is wrong. */
static int
envelope(struct hl7_split *s, enum line_kind k, size_t a, size_t e,
    struct hl7_split_item *it)
{
	const char *p = s->buf + a;
	uint64_t n, have;
	int r;

	switch (k) {
	case LINE_FHS:
		s->file_batches = 0;
		s->batch_msgs = 0;
		s->in_batch = false;
		return 0;
	case LINE_BHS:
		s->file_batches++;
		s->batch_msgs = 0;
		s->in_batch = true;
		return 0;
	case LINE_BTS:
		have = s->batch_msgs;
		/* A BTS without its BHS still closes a batch. */
		if (!s->in_batch)
			s->file_batches++;
		s->in_batch = false;
		s->batch_msgs = 0;
		r = trailer_count(p, e - a, &n);
		if (r < 0)
			return item(it, p, e - a, s->base + a,
			    "BTS-1 batch message count is not a number");
		if (r > 0 && n != have)
			return item(it, p, e - a, s->base + a,
			    "BTS-1 batch message count does not match the batch");
		return 0;
	case LINE_FTS:
		/* Messages after the last batch, outside a BHS, are one more. */
		have = s->file_batches + (!s->in_batch && s->batch_msgs > 0);
		s->file_batches = 0;
		s->batch_msgs = 0;
		s->in_batch = false;
		r = trailer_count(p, e - a, &n);
		if (r < 0)
			return item(it, p, e - a, s->base + a,
			    "FTS-1 file batch count is not a number");
		if (r > 0 && n != have)
			return item(it, p, e - a, s->base + a,
			    "FTS-1 file batch count does not match the file");
		return 0;
	default:
		return 0;
	}
}

static int
raw_next(struct hl7_split *s, struct hl7_split_item *it)
{
	enum { IDLE, IN_MSG, IN_JUNK } st = IDLE;
	const char *reason = NULL;
	enum line_kind k;
	size_t a = 0, e = 0, next = 0, start = 0, last = 0;

	for (;;) {
		k = LINE_END;
		if (s->pos >= s->len && !s->eof)
			return more(s, s->pos = st != IDLE ? start : s->pos);
		if (s->pos < s->len) {
			a = s->pos;
			e = line_end(s, a);
			if (e == s->len && !s->eof) /* the line may go on */
				return more(s, s->pos = st != IDLE ? start : a);
			next = e;
			if (e < s->len)
				next += s->buf[e] == '\r' && e + 1 < s->len &&
					s->buf[e + 1] == '\n' ?
				    2 :
				    1;
			k = classify(s->buf + a, e - a);
		}
		/* The line that ends an item stays unread for the next call. */
		if (st != IDLE && k != LINE_BLANK && k != LINE_OTHER) {
			if (st == IN_MSG && s->max > 0 && last - start > s->max)
				reason = "message larger than max_message_size";
			if (st ==
			    IN_MSG) /* counted here: a rewind reads it again */
				s->batch_msgs++;
			return item(it, s->buf + start, last - start,
			    s->base + start, reason);
		}
		if (k == LINE_END)
			return 0;
		s->pos = next;
		switch (k) {
		case LINE_BLANK:
			break;
		case LINE_OTHER:
			if (st == IDLE) {
				st = IN_JUNK;
				start = a;
				reason = s->seen_msh ?
				    "text outside any message" :
				    "text before the first MSH segment";
			}
			last = e;
			break;
		case LINE_MSH:
			st = IN_MSG;
			start = a;
			last = e;
			s->seen_msh = true;
			break;
		default:
			if (envelope(s, k, a, e, it))
				return 1;
			break;
		}
	}
}

int
hl7_split_next(struct hl7_split *s, struct hl7_split_item *it)
{
	memset(it, 0, sizeof(*it));
	if (!s->decided)
		return more(s, 0);
	return s->framer != NULL ? mllp_next(s, it) : raw_next(s, it);
}
