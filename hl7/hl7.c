/*
 * hl7.c: one-pass HL7 v2 (ER7) indexer and its on-demand accessors
 * (fields, repetitions, components). Escapes and charsets are in text.c,
 * DTM and numbers in dtm.c.
 */
#include "hl7/hl7.h"

#include <iconv.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "hl7/text.h"
#include "lib/xmalloc.h"

void
hl7_msg_init(struct hl7_msg *m)
{
	memset(m, 0, sizeof(*m));
}

void
hl7_msg_free(struct hl7_msg *m)
{
	free(m->segs);
	free(m->fields);
	arena_free(&m->arena);
	if (m->iconv_cd != NULL)
		iconv_close((iconv_t)m->iconv_cd);
	memset(m, 0, sizeof(*m));
}

static int
fail(struct hl7_msg *m, enum hl7_errcode code, const char *reason,
    size_t offset)
{
	m->err.code = code;
	m->err.reason = reason;
	m->err.offset = offset;
	return -1;
}

static void
grow_fields(struct hl7_msg *m)
{
	m->fields_cap = m->fields_cap ? m->fields_cap * 2 : 256;
	m->fields = xreallocarray(m->fields, m->fields_cap, sizeof(*m->fields));
}

static inline void
push_field(struct hl7_msg *m, uint32_t off, uint32_t len)
{
	if (__builtin_expect(m->nfields == m->fields_cap, 0))
		grow_fields(m);
	m->fields[m->nfields].off = off;
	m->fields[m->nfields].len = len;
	m->nfields++;
}

static struct hl7_seg *
push_seg(struct hl7_msg *m)
{
	if (m->nsegs == m->segs_cap) {
		m->segs_cap = m->segs_cap ? m->segs_cap * 2 : 32;
		m->segs = xreallocarray(m->segs, m->segs_cap, sizeof(*m->segs));
	}
	return &m->segs[m->nsegs++];
}

/* A segment id's byte: A-Z or 0-9 (two unsigned compares, no loop). */
static inline bool
seg_id_char(unsigned char c)
{
	return (unsigned)(c - 'A') < 26u || (unsigned)(c - '0') < 10u;
}

static bool
is_seg_id(const char *p, size_t len)
{
	return len == 3 && seg_id_char((unsigned char)p[0]) &&
	    seg_id_char((unsigned char)p[1]) &&
	    seg_id_char((unsigned char)p[2]);
}

/* Read MSH-1 and MSH-2 into m->d; returns the offset after MSH-2. */
static int
parse_delims(struct hl7_msg *m, size_t *after)
{
	const char *b = m->buf;
	size_t i, n;
	char enc[5] = { 0 };

	if (m->len < 3 || memcmp(b, "MSH", 3) != 0)
		return fail(m, HL7_ERR_SEGMENT_SEQUENCE,
		    "message does not start with MSH", 0);
	if (m->len < 4 || !hl7_is_delim(b[3]))
		return fail(m, HL7_ERR_REQUIRED_FIELD,
		    "MSH-1 field separator missing or invalid", 3);
	m->d.field = b[3];
	for (n = 0, i = 4;
	     i < m->len && b[i] != m->d.field && b[i] != '\r' && b[i] != '\n';
	     i++, n++) {
		if (n == 5)
			return fail(m, HL7_ERR_DATA_TYPE,
			    "MSH-2 encoding characters too long", i);
		if (!hl7_is_delim(b[i]))
			return fail(m, HL7_ERR_DATA_TYPE,
			    "MSH-2 encoding character invalid", i);
		enc[n] = b[i];
	}
	if (n < 2)
		return fail(m, HL7_ERR_REQUIRED_FIELD,
		    "MSH-2 encoding characters missing", 4);
	m->d.comp = enc[0];
	m->d.rep = enc[1];
	m->d.esc = enc[2];
	m->d.sub = enc[3];
	m->d.trunc = enc[4];
	/* Every delimiter must differ from the others. */
	for (i = 0; i < n; i++) {
		size_t j;

		if (enc[i] == m->d.field)
			return fail(m, HL7_ERR_DATA_TYPE,
			    "MSH-2 repeats the field separator", 4 + i);
		for (j = i + 1; j < n; j++)
			if (enc[i] == enc[j])
				return fail(m, HL7_ERR_DATA_TYPE,
				    "MSH-2 encoding characters not distinct",
				    4 + j);
	}
	*after = 4 + n;
	return 0;
}

static int
set_charset(struct hl7_msg *m, const struct hl7_parse_opts *opts)
{
	struct hl7_span f = { 0, 0 };
	const char *v;
	size_t len;

	if (m->nsegs > 0)
		f = hl7_rep(m, hl7_field(m, 0, 18), 1);
	if (f.len > 0) {
		v = m->buf + f.off;
		len = f.len;
	} else if (opts != NULL && opts->default_charset != NULL) {
		v = opts->default_charset;
		len = strlen(v);
	} else {
		m->charset = HL7_CS_UTF8;
		return 0;
	}
	if (hl7_charset_lookup(v, len, &m->charset, m->charset_name) != 0) {
		fail(m, HL7_ERR_DATA_TYPE, "MSH-18 character set not supported",
		    f.off);
		m->err.field = 18;
		memcpy(m->err.seg_id, "MSH", 4);
		m->err.seg_seq = 1;
		return -1;
	}
	return 0;
}

/*
 * Note which segments hold a repetition separator, so that reading the
 * first repetition of a field elsewhere needs no scan. Both the separators
 * and the segments are in buffer order: one merge walk.
 */
static void
mark_reps(struct hl7_msg *m, size_t from)
{
	const char *q, *b = m->buf;
	uint32_t si = 0, i;
	size_t off;

	m->any_rep = false;
	for (i = 0; i < m->nsegs; i++)
		m->segs[i].has_rep = false;
	while (from < m->len &&
	    (q = memchr(b + from, m->d.rep, m->len - from)) != NULL) {
		off = (size_t)(q - b);
		while (si < m->nsegs && m->segs[si].off + m->segs[si].len < off)
			si++;
		if (si == m->nsegs)
			break;
		m->segs[si].has_rep = true;
		m->any_rep = true;
		from = off + 1;
	}
}

/*
 * Bit i of *fsm is set when p[i] (i < 64) is the field separator, of
 * *term when it is CR, LF or NUL: the only bytes the indexer stops at.
 * SSE2 compares 16 bytes at a time; the scalar loop gives the same masks
 * elsewhere.
 */
static inline void
special_masks(const char *p, char fs, uint64_t *fsm, uint64_t *term)
{
#ifdef __SSE2__
	const __m128i vfs = _mm_set1_epi8(fs), vcr = _mm_set1_epi8('\r');
	const __m128i vlf = _mm_set1_epi8('\n'), vnul = _mm_setzero_si128();
	uint64_t f = 0, t = 0;
	__m128i v, hit;
	int k;

	for (k = 0; k < 4; k++) {
		v = _mm_loadu_si128(
		    (const __m128i *)(const void *)(p + 16 * k));
		hit = _mm_or_si128(_mm_cmpeq_epi8(v, vcr),
		    _mm_or_si128(_mm_cmpeq_epi8(v, vlf),
			_mm_cmpeq_epi8(v, vnul)));
		t |= (uint64_t)(uint16_t)_mm_movemask_epi8(hit) << (16 * k);
		f |= (uint64_t)(uint16_t)_mm_movemask_epi8(
			 _mm_cmpeq_epi8(v, vfs))
		    << (16 * k);
	}
	*fsm = f;
	*term = t;
#else
	uint64_t f = 0, t = 0;
	int i;

	for (i = 0; i < 64; i++) {
		if (p[i] == fs)
			f |= (uint64_t)1 << i;
		else if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
			t |= (uint64_t)1 << i;
	}
	*fsm = f;
	*term = t;
#endif
}

/* Start a segment whose id is buf[start..end); -1 if the id is bad. */
static int
open_segment(struct hl7_msg *m, uint32_t start, uint32_t end)
{
	struct hl7_seg *s;

	if (!is_seg_id(m->buf + start, end - start)) {
		fail(m, HL7_ERR_SEGMENT_SEQUENCE, "invalid segment id", start);
		m->err.seg_seq = m->nsegs + 1;
		return -1;
	}
	if (memcmp(m->buf + start, "MSH", 3) == 0) {
		/* Two messages run together: the splitter's job. */
		fail(m, HL7_ERR_SEGMENT_SEQUENCE,
		    "second MSH segment in message", start);
		m->err.seg_seq = m->nsegs + 1;
		return -1;
	}
	s = push_seg(m);
	memcpy(s->id, m->buf + start, 3);
	s->id[3] = '\0';
	s->off = start;
	s->field0 = m->nfields;
	push_field(m, start, 3);
	return 0;
}

static void
close_segment(struct hl7_msg *m, uint32_t end)
{
	struct hl7_seg *s = &m->segs[m->nsegs - 1];

	s->len = end - s->off;
	s->nfields = m->nfields - s->field0;
}

/*
 * Index everything after MSH-2 (which ends at 'after'). The separators are
 * found 64 bytes at a time as bit masks, and each set bit ends a field:
 * no per-byte branches, whatever the field lengths. Inside a segment, the
 * field separators before its terminator are taken in one tight loop.
 */
static int
index_segments(struct hl7_msg *m, size_t after)
{
	const char *buf = m->buf;
	const uint32_t len = (uint32_t)m->len;
	const char fs = m->d.field;
	uint32_t fstart = (uint32_t)after, base, i;
	bool open = true; /* the MSH segment is open */
	struct hl7_span *f;
	uint64_t fsm, term, mask, fast, t, skip = 0;
	char tail[64];
	char c;

	/* The separator right after MSH-2 ends MSH-2, already indexed. */
	if (after < len && buf[after] == fs) {
		fstart = (uint32_t)after + 1;
		skip = 1;
	}
	for (base = (uint32_t)after; base < len; base += 64) {
		if (len - base >= 64)
			special_masks(buf + base, fs, &fsm, &term);
		else {
			/* Pad the last block with a byte that is never special. */
			memset(tail, 'A', sizeof(tail));
			memcpy(tail, buf + base, len - base);
			special_masks(tail, fs, &fsm, &term);
		}
		mask = (fsm & ~skip) | term;
		skip = 0;
		/* A bit adds one field at most: room for the block at once. */
		while (m->fields_cap - m->nfields < 64)
			grow_fields(m);
		f = m->fields + m->nfields;
		while (mask != 0) {
			if (open) {
				/* The separators before the next terminator. */
				t = mask & term;
				fast = t != 0 ? mask & ((t & -t) - 1) : mask;
				mask ^= fast;
				while (fast != 0) {
					i = base +
					    (uint32_t)__builtin_ctzll(fast);
					fast &= fast - 1;
					f->off = fstart;
					f->len = i - fstart;
					f++;
					fstart = i + 1;
				}
				if (mask == 0)
					break;
			}
			i = base + (uint32_t)__builtin_ctzll(mask);
			mask &= mask - 1;
			c = buf[i];
			m->nfields = (uint32_t)(f - m->fields);
			if (!open) {
				if (c != fs && i == fstart) {
					if (c == '\0')
						goto nul;
					fstart = i + 1; /* a blank line */
					continue;
				}
				if (open_segment(m, fstart, i) != 0)
					return -1;
				open = true;
			} else if (i != (uint32_t)after)
				push_field(m, fstart, i - fstart);
			if (c != fs) {
				if (c == '\0')
					goto nul;
				close_segment(m, i);
				open = false;
			}
			fstart = i + 1;
			f = m->fields + m->nfields;
		}
		m->nfields = (uint32_t)(f - m->fields);
	}
	if (open) {
		if (len != (uint32_t)after)
			push_field(m, fstart, len - fstart);
		close_segment(m, len);
	} else if (fstart < len) {
		/* A last segment with no separator and no terminator. */
		if (open_segment(m, fstart, len) != 0)
			return -1;
		close_segment(m, len);
	}
	return 0;
nul:
	fail(m, HL7_ERR_DATA_TYPE, "NUL byte in message", i);
	if (m->nsegs > 0 && open) {
		memcpy(m->err.seg_id, m->segs[m->nsegs - 1].id, 4);
		m->err.seg_seq = m->nsegs;
	}
	return -1;
}

int
hl7_parse(struct hl7_msg *m, const char *buf, size_t len,
    const struct hl7_parse_opts *opts)
{
	size_t pos, after, p;
	struct hl7_seg *s;

	m->buf = buf;
	m->len = len;
	m->nsegs = m->nfields = 0;
	memset(&m->err, 0, sizeof(m->err));
	memset(&m->d, 0, sizeof(m->d));
	arena_reset(&m->arena);
	if (len >= UINT32_MAX)
		return fail(m, HL7_ERR_INTERNAL, "message too large", 0);
	/* Blank lines before MSH are a harmless sender quirk. */
	for (pos = 0; pos < len && (buf[pos] == '\r' || buf[pos] == '\n');
	     pos++)
		;
	m->buf = buf + pos;
	m->len = len - pos;
	buf = m->buf;
	len = m->len;
	if (len == 0)
		return fail(m, HL7_ERR_SEGMENT_SEQUENCE, "empty message", 0);
	if (parse_delims(m, &after) != 0)
		goto bad;

	/* MSH: field 0 "MSH", field 1 the separator, field 2 MSH-2. */
	s = push_seg(m);
	memcpy(s->id, "MSH", 4);
	s->off = 0;
	s->field0 = m->nfields;
	push_field(m, 0, 3);
	push_field(m, 3, 1);
	push_field(m, 4, (uint32_t)(after - 4));
	if (index_segments(m, after) != 0)
		goto bad;
	/* Repetitions before the charset: MSH-18 may repeat. */
	mark_reps(m, after);
	if (set_charset(m, opts) != 0)
		goto bad;
	/* Decide once per message whether any value can need decoding. */
	m->any_esc = m->d.esc != '\0' && len > after &&
	    memchr(buf + after, m->d.esc, len - after) != NULL;
	m->any_high = false;
	if (m->charset != HL7_CS_UTF8)
		for (p = after; p < len && !m->any_high; p++)
			m->any_high = hl7_needs_conv(m->charset, buf[p]);
	return 0;
bad:
	/* A failed parse leaves no index: nothing may read a stale one. */
	m->nsegs = m->nfields = 0;
	/* Offsets count from the caller's first byte, blank lines included. */
	m->err.offset += pos;
	return -1;
}

int
hl7_find_seg(const struct hl7_msg *m, const char *id, uint32_t from)
{
	uint32_t i;

	for (i = from; i < m->nsegs; i++)
		if (memcmp(m->segs[i].id, id, 4) == 0)
			return (int)i;
	return -1;
}

struct hl7_span
hl7_field(const struct hl7_msg *m, uint32_t seg, unsigned n)
{
	struct hl7_span none = { 0, 0 };
	const struct hl7_seg *s;

	if (seg >= m->nsegs)
		return none;
	s = &m->segs[seg];
	if (n >= s->nfields)
		return none;
	return m->fields[s->field0 + n];
}

/*
 * The n-th (1-based) piece of span s split at delimiter c. Inline finds
 * (hl7_find_byte): the pieces are a few bytes long, shorter than a memchr
 * call costs.
 */
static struct hl7_span
split_nth(const struct hl7_msg *m, struct hl7_span s, char c, unsigned n)
{
	struct hl7_span none = { 0, 0 };
	uint32_t i = s.off, end = s.off + s.len, start;

	if (n == 0 || c == '\0')
		return n <= 1 ? s : none;
	for (; n > 1; n--) {
		i = hl7_find_byte(m, i, end, c);
		if (i == end)
			return none;
		i++;
	}
	start = i;
	i = hl7_find_byte(m, i, end, c);
	s.off = start;
	s.len = i - start;
	return s;
}

void
hl7_seg_fields(const struct hl7_msg *m, uint32_t seg, struct hl7_span *out,
    unsigned n)
{
	const struct hl7_seg *s;
	unsigned i, have = 0;

	if (seg < m->nsegs) {
		s = &m->segs[seg];
		have = s->nfields < n ? s->nfields : n;
		memcpy(out, m->fields + s->field0, have * sizeof(*out));
		if (s->has_rep)
			for (i = 1; i < have; i++)
				out[i] = split_nth(m, out[i], m->d.rep, 1);
	}
	for (i = have; i < n; i++)
		out[i].off = out[i].len = 0;
}

unsigned
hl7_rep_count(const struct hl7_msg *m, struct hl7_span field)
{
	const char *p = m->buf + field.off, *end = p + field.len;
	unsigned n = 1;

	if (field.len == 0)
		return 0;
	if (m->d.rep == '\0' || !m->any_rep)
		return 1;
	while ((p = memchr(p, m->d.rep, (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

struct hl7_span
hl7_rep(const struct hl7_msg *m, struct hl7_span field, unsigned r)
{
	struct hl7_span none = { 0, 0 };

	/* Most messages repeat nothing (after MSH-2): skip the scan. */
	if (!m->any_rep)
		return r <= 1 ? field : none;
	return split_nth(m, field, m->d.rep, r);
}

unsigned
hl7_split_span(const struct hl7_msg *m, struct hl7_span s, char c,
    struct hl7_span *out, unsigned max)
{
	const char *b = m->buf;
	uint32_t i = s.off, end = s.off + s.len, start = s.off;
	unsigned n = 0;

	if (max == 0)
		return 0;
	if (c == '\0') {
		out[0] = s;
		return 1;
	}
#ifdef __SSE2__
	/*
	 * 16 bytes at a time (OBX-3 is some 50): each delimiter a set bit;
	 * the last block may reach past the span (not the message): its
	 * bits there are dropped.
	 */
	for (; i < end && (size_t)i + 16 <= m->len && n + 1 < max; i += 16) {
		unsigned mask = (unsigned)_mm_movemask_epi8(
		    _mm_cmpeq_epi8(_mm_loadu_si128(
				       (const __m128i *)(const void *)(b + i)),
			_mm_set1_epi8(c)));

		if (end - i < 16)
			mask &= (1u << (end - i)) - 1;
		for (; mask != 0 && n + 1 < max; mask &= mask - 1) {
			uint32_t at = i + (uint32_t)__builtin_ctz(mask);

			out[n].off = start;
			out[n].len = at - start;
			n++;
			start = at + 1;
		}
	}
#endif
	for (; i < end && n + 1 < max; i++) {
		if (b[i] == c) {
			out[n].off = start;
			out[n].len = i - start;
			n++;
			start = i + 1;
		}
	}
	out[n].off = start;
	out[n].len = end - start;
	return n + 1;
}

struct hl7_span
hl7_comp(const struct hl7_msg *m, struct hl7_span rep, unsigned c)
{
	return split_nth(m, rep, m->d.comp, c);
}

struct hl7_span
hl7_sub(const struct hl7_msg *m, struct hl7_span comp, unsigned s)
{
	return split_nth(m, comp, m->d.sub, s);
}

struct hl7_span
hl7_get(const struct hl7_msg *m, uint32_t seg, unsigned field, unsigned rep,
    unsigned comp, unsigned sub)
{
	struct hl7_span s = hl7_field(m, seg, field);

	if (seg >= m->nsegs)
		return s;
	/* MSH-1 and MSH-2 hold the delimiters themselves: never split them. */
	if (seg < m->nsegs && field <= 2 && m->segs[seg].id[0] == 'M' &&
	    memcmp(m->segs[seg].id, "MSH", 4) == 0)
		return s;
	if (rep == 0)
		return s;
	if (!m->segs[seg].has_rep) {
		if (rep > 1)
			return (struct hl7_span){ 0, 0 };
	} else
		s = hl7_rep(m, s, rep);
	if (comp == 0)
		return s;
	s = hl7_comp(m, s, comp);
	if (sub == 0)
		return s;
	return hl7_sub(m, s, sub);
}

bool
hl7_span_eq(const struct hl7_msg *m, struct hl7_span sp, const char *s)
{
	size_t n = strlen(s);

	return sp.len == n && memcmp(m->buf + sp.off, s, n) == 0;
}
