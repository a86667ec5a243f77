/*
 * hl7.c: one-pass HL7 v2 (ER7) indexer, on-demand accessors, escape and
 * charset decoding, DTM and number parsing.
 */
#include "hl7/hl7.h"

#include <errno.h>
#include <iconv.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static bool
is_seg_id(const char *p, size_t len)
{
	size_t i;

	if (len != 3)
		return false;
	for (i = 0; i < 3; i++) {
		unsigned char c = (unsigned char)p[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return false;
	}
	return true;
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

int
hl7_charset_lookup(const char *v, size_t len, enum hl7_charset *cs,
    char iconv_name[32])
{
	static const struct {
		const char *hl7, *iconv;
		enum hl7_charset cs;
	} map[] = {
		{ "ASCII", NULL, HL7_CS_UTF8 },
		{ "ISO IR6", NULL, HL7_CS_UTF8 },
		{ "UNICODE UTF-8", NULL, HL7_CS_UTF8 },
		{ "UTF-8", NULL, HL7_CS_UTF8 },
		{ "ISO IR192", NULL, HL7_CS_UTF8 },
		{ "8859/1", NULL, HL7_CS_LATIN1 },
		{ "ISO IR100", NULL, HL7_CS_LATIN1 },
		{ "8859/15", NULL, HL7_CS_LATIN9 },
		{ "8859/2", "ISO-8859-2", HL7_CS_ICONV },
		{ "8859/3", "ISO-8859-3", HL7_CS_ICONV },
		{ "8859/4", "ISO-8859-4", HL7_CS_ICONV },
		{ "8859/5", "ISO-8859-5", HL7_CS_ICONV },
		{ "8859/6", "ISO-8859-6", HL7_CS_ICONV },
		{ "8859/7", "ISO-8859-7", HL7_CS_ICONV },
		{ "8859/8", "ISO-8859-8", HL7_CS_ICONV },
		{ "8859/9", "ISO-8859-9", HL7_CS_ICONV },
		{ "ISO IR101", "ISO-8859-2", HL7_CS_ICONV },
		{ "ISO IR144", "ISO-8859-5", HL7_CS_ICONV },
		{ "ISO IR148", "ISO-8859-9", HL7_CS_ICONV },
		{ "GB 18030-2000", "GB18030", HL7_CS_ICONV },
		{ "BIG-5", "BIG5", HL7_CS_ICONV },
		{ "KS X 1001", "EUC-KR", HL7_CS_ICONV },
		{ "CNS 11643-1992", "EUC-TW", HL7_CS_ICONV },
		{ "ISO IR87", "ISO-2022-JP", HL7_CS_ICONV },
		{ "ISO IR159", "ISO-2022-JP-2", HL7_CS_ICONV },
		{ "WINDOWS-1252", "WINDOWS-1252", HL7_CS_ICONV },
	};
	size_t i;
	char name[32];
	iconv_t cd;

	while (len > 0 && v[len - 1] == ' ')
		len--;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strlen(map[i].hl7) == len &&
		    strncasecmp(map[i].hl7, v, len) == 0) {
			*cs = map[i].cs;
			iconv_name[0] = '\0';
			if (map[i].iconv != NULL)
				snprintf(iconv_name, 32, "%s", map[i].iconv);
			return 0;
		}
	}
	/* Not an HL7 table 0211 name we know: let iconv judge the raw name. */
	if (len == 0 || len >= sizeof(name))
		return -1;
	memcpy(name, v, len);
	name[len] = '\0';
	cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1)
		return -1;
	iconv_close(cd);
	*cs = HL7_CS_ICONV;
	snprintf(iconv_name, 32, "%s", name);
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
 * Bit i of the result is set when p[i] (i < 64) is the field separator, CR,
 * LF or NUL: the only bytes the indexer stops at. SSE2 compares 16 bytes at
 * a time; the scalar loop gives the same mask elsewhere.
 */
static inline uint64_t
special_mask(const char *p, char fs)
{
#ifdef __SSE2__
	const __m128i vfs = _mm_set1_epi8(fs), vcr = _mm_set1_epi8('\r');
	const __m128i vlf = _mm_set1_epi8('\n'), vnul = _mm_setzero_si128();
	uint64_t mask = 0;
	__m128i v, hit;
	int k;

	for (k = 0; k < 4; k++) {
		v = _mm_loadu_si128(
		    (const __m128i *)(const void *)(p + 16 * k));
		hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, vfs),
				       _mm_cmpeq_epi8(v, vcr)),
		    _mm_or_si128(_mm_cmpeq_epi8(v, vlf),
			_mm_cmpeq_epi8(v, vnul)));
		mask |= (uint64_t)(uint16_t)_mm_movemask_epi8(hit) << (16 * k);
	}
	return mask;
#else
	uint64_t mask = 0;
	int i;

	for (i = 0; i < 64; i++)
		if (p[i] == fs || p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
			mask |= (uint64_t)1 << i;
	return mask;
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
 * found 64 bytes at a time as a bit mask, and each set bit ends a field:
 * no per-byte branches, whatever the field lengths.
 */
static int
index_segments(struct hl7_msg *m, size_t after)
{
	const char *buf = m->buf;
	const uint32_t len = (uint32_t)m->len;
	const char fs = m->d.field;
	uint32_t fstart = (uint32_t)after, base, i;
	bool open = true; /* the MSH segment is open */
	uint64_t mask;
	char tail[64];
	char c;

	for (base = (uint32_t)after; base < len; base += 64) {
		if (len - base >= 64)
			mask = special_mask(buf + base, fs);
		else {
			/* Pad the last block with a byte that is never special. */
			memset(tail, 'A', sizeof(tail));
			memcpy(tail, buf + base, len - base);
			mask = special_mask(tail, fs);
		}
		while (mask != 0) {
			i = base + (uint32_t)__builtin_ctzll(mask);
			mask &= mask - 1;
			c = buf[i];
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
		}
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

/*
 * True when byte c of a message in charset cs must go through conversion:
 * bytes >= 0x80, and for iconv charsets also the 7-bit shifts (ESC, SO,
 * SI) of stateful encodings such as ISO-2022-JP (ISO IR87).
 */
static inline bool
needs_conv(enum hl7_charset cs, char c)
{
	unsigned char u = (unsigned char)c;

	return u >= 0x80 ||
	    (cs == HL7_CS_ICONV && (u == 0x1b || u == 0x0e || u == 0x0f));
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
			m->any_high = needs_conv(m->charset, buf[p]);
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
 * The n-th (1-based) piece of span s split at delimiter c. A plain loop:
 * the pieces are a few bytes long, shorter than a memchr call costs.
 */
static struct hl7_span
split_nth(const struct hl7_msg *m, struct hl7_span s, char c, unsigned n)
{
	struct hl7_span none = { 0, 0 };
	const char *b = m->buf;
	uint32_t i = s.off, end = s.off + s.len, start;

	if (n == 0 || c == '\0')
		return n <= 1 ? s : none;
	for (; n > 1; n--) {
		while (i < end && b[i] != c)
			i++;
		if (i == end)
			return none;
		i++;
	}
	start = i;
	while (i < end && b[i] != c)
		i++;
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
	/* 16 bytes at a time (OBX-3 is some 50): each delimiter a set bit. */
	for (; i + 16 <= end && n + 1 < max; i += 16) {
		unsigned mask = (unsigned)_mm_movemask_epi8(
		    _mm_cmpeq_epi8(_mm_loadu_si128(
				       (const __m128i *)(const void *)(b + i)),
			_mm_set1_epi8(c)));

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

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Decode the escape sequence seq[0..n) (the text between two escape
 * characters) into out; returns bytes written, or -1 if it is not one we
 * decode (the caller then keeps it literally).
 */
static int
decode_escape(const struct hl7_delims *d, const char *seq, size_t n, char *out)
{
	size_t i;
	int hi, lo;

	if (n == 1) {
		switch (seq[0]) {
		case 'F':
			out[0] = d->field;
			return 1;
		case 'S':
			out[0] = d->comp;
			return 1;
		case 'T':
			out[0] = d->sub;
			return d->sub ? 1 : -1;
		case 'R':
			out[0] = d->rep;
			return 1;
		case 'E':
			out[0] = d->esc;
			return 1;
		case 'P':
			out[0] = d->trunc;
			return d->trunc ? 1 : -1;
		case 'H':
		case 'N':
			return 0; /* highlighting: dropped */
		default:
			return -1;
		}
	}
	if (seq[0] == 'X' && n >= 3 && (n - 1) % 2 == 0) {
		for (i = 1; i < n; i += 2) {
			hi = hexval(seq[i]);
			lo = hexval(seq[i + 1]);
			if (hi < 0 || lo < 0)
				return -1;
			out[(i - 1) / 2] = (char)(hi << 4 | lo);
		}
		return (int)((n - 1) / 2);
	}
	if (n == 3 && memcmp(seq, ".br", 3) == 0) {
		out[0] = '\n';
		return 1;
	}
	return -1;
}

/* Unescape s into out (at least s.len bytes); returns the length. */
static size_t
unescape(const struct hl7_msg *m, struct hl7_span s, char *out)
{
	const char *p = m->buf + s.off, *end = p + s.len, *q, *close;
	char esc = m->d.esc;
	size_t o = 0;
	int n;

	while (p < end) {
		q = memchr(p, esc, (size_t)(end - p));
		if (q == NULL) {
			memcpy(out + o, p, (size_t)(end - p));
			o += (size_t)(end - p);
			break;
		}
		memcpy(out + o, p, (size_t)(q - p));
		o += (size_t)(q - p);
		close = memchr(q + 1, esc, (size_t)(end - q - 1));
		if (close == NULL) {
			/* Unterminated escape: keep it as it came. */
			memcpy(out + o, q, (size_t)(end - q));
			o += (size_t)(end - q);
			break;
		}
		/* Decoded bytes never outnumber the sequence's own bytes. */
		n = decode_escape(&m->d, q + 1, (size_t)(close - q - 1),
		    out + o);
		if (n < 0) {
			memcpy(out + o, q, (size_t)(close - q + 1));
			o += (size_t)(close - q + 1);
		} else
			o += (size_t)n;
		p = close + 1;
	}
	return o;
}

/* ISO 8859-15 differs from 8859-1 at eight code points. */
static unsigned
latin9_cp(unsigned char c)
{
	switch (c) {
	case 0xa4:
		return 0x20ac;
	case 0xa6:
		return 0x0160;
	case 0xa8:
		return 0x0161;
	case 0xb4:
		return 0x017d;
	case 0xb8:
		return 0x017e;
	case 0xbc:
		return 0x0152;
	case 0xbd:
		return 0x0153;
	case 0xbe:
		return 0x0178;
	default:
		return c;
	}
}

static size_t
latin_to_utf8(const char *in, size_t n, char *out, bool latin9)
{
	size_t i, o = 0;
	unsigned cp;

	for (i = 0; i < n; i++) {
		cp = (unsigned char)in[i];
		if (latin9)
			cp = latin9_cp((unsigned char)cp);
		if (cp < 0x80)
			out[o++] = (char)cp;
		else if (cp < 0x800) {
			out[o++] = (char)(0xc0 | cp >> 6);
			out[o++] = (char)(0x80 | (cp & 0x3f));
		} else {
			out[o++] = (char)(0xe0 | cp >> 12);
			out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			out[o++] = (char)(0x80 | (cp & 0x3f));
		}
	}
	return o;
}

static struct hl7_str
iconv_to_utf8(struct hl7_msg *m, const char *in, size_t n)
{
	struct hl7_str r = { "", 0 };
	size_t cap = n * 4 + 16, inleft = n, outleft;
	char *out, *ip = (char *)(uintptr_t)in, *op;

	if (m->iconv_cd == NULL || strcmp(m->iconv_name, m->charset_name)) {
		if (m->iconv_cd != NULL)
			iconv_close((iconv_t)m->iconv_cd);
		m->iconv_cd = iconv_open("UTF-8", m->charset_name);
		if (m->iconv_cd == (iconv_t)-1) {
			m->iconv_cd = NULL;
			m->iconv_name[0] = '\0';
			return r;
		}
		snprintf(m->iconv_name, sizeof(m->iconv_name), "%s",
		    m->charset_name);
	}
	iconv((iconv_t)m->iconv_cd, NULL, NULL, NULL, NULL);
	out = arena_alloc(&m->arena, cap);
	op = out;
	outleft = cap;
	while (inleft > 0) {
		if (iconv((iconv_t)m->iconv_cd, &ip, &inleft, &op, &outleft) !=
		    (size_t)-1)
			break;
		if (errno == E2BIG || outleft < 3)
			break; /* 4 bytes per input byte: cannot happen */
		/* Invalid or incomplete input: U+FFFD and skip one byte. */
		memcpy(op, "\xef\xbf\xbd", 3);
		op += 3;
		outleft -= 3;
		ip++;
		inleft--;
	}
	r.p = out;
	r.len = (size_t)(op - out);
	return r;
}

struct hl7_str
hl7_text_decode(struct hl7_msg *m, struct hl7_span s)
{
	struct hl7_str r = hl7_raw(m, s);
	const char *p = r.p;
	bool has_esc, has_high = false;
	char *tmp, *out;
	size_t i, n;

	if (s.len == 0)
		return r;
	has_esc = m->d.esc != '\0' && memchr(p, m->d.esc, s.len) != NULL;
	if (m->charset != HL7_CS_UTF8)
		for (i = 0; i < s.len && !has_high; i++)
			has_high = needs_conv(m->charset, p[i]);
	if (!has_esc && !has_high)
		return r; /* the common case: zero copy */
	if (has_esc) {
		tmp = arena_alloc(&m->arena, s.len);
		n = unescape(m, s, tmp);
	} else {
		tmp = (char *)(uintptr_t)p;
		n = s.len;
	}
	switch (m->charset) {
	case HL7_CS_UTF8:
		r.p = tmp;
		r.len = n;
		break;
	case HL7_CS_LATIN1:
	case HL7_CS_LATIN9:
		out = arena_alloc(&m->arena, n * 3);
		r.len = latin_to_utf8(tmp, n, out, m->charset == HL7_CS_LATIN9);
		r.p = out;
		break;
	case HL7_CS_ICONV:
		r = iconv_to_utf8(m, tmp, n);
		break;
	}
	return r;
}

static int
digits(const char *s, size_t n)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
month_days(int y, int mo)
{
	static const int md[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
		31 };

	return mo == 2 && is_leap(y) ? 29 : md[mo - 1];
}

int
hl7_dtm_parse(const char *s, size_t len, struct hl7_dtm *t)
{
	size_t i = 0, body;
	int v, sign, oh, om;
	int8_t *parts[5];
	int k;

	memset(t, 0, sizeof(*t));
	/* The body ends where the UTC offset starts. */
	for (body = 0; body < len && s[body] != '+' && s[body] != '-'; body++)
		;
	if (body < 4 || (v = digits(s, 4)) < 0)
		return -1;
	t->year = (int16_t)v;
	t->precision = 1;
	i = 4;
	parts[0] = &t->month;
	parts[1] = &t->day;
	parts[2] = &t->hour;
	parts[3] = &t->minute;
	parts[4] = &t->second;
	for (k = 0; k < 5 && i < body && s[i] != '.'; k++) {
		if (i + 2 > body || (v = digits(s + i, 2)) < 0)
			return -1;
		*parts[k] = (int8_t)v;
		t->precision++;
		i += 2;
	}
	if (i < body && s[i] == '.') {
		if (t->precision != 6)
			return -1;
		i++;
		if (body - i < 1 || body - i > 4 ||
		    (v = digits(s + i, body - i)) < 0)
			return -1;
		t->frac = (uint16_t)v;
		t->frac_digits = (int8_t)(body - i);
		i = body;
	}
	if (i != body)
		return -1;
	if (t->precision >= 2 && (t->month < 1 || t->month > 12))
		return -1;
	if (t->precision >= 3 &&
	    (t->day < 1 || t->day > month_days(t->year, t->month)))
		return -1;
	if (t->hour > 23 || t->minute > 59 || t->second > 59)
		return -1;
	if (body < len) {
		sign = s[body] == '-' ? -1 : 1;
		if (len - body != 5 || (oh = digits(s + body + 1, 2)) < 0 ||
		    (om = digits(s + body + 3, 2)) < 0 || oh > 14 || om > 59)
			return -1;
		t->has_offset = true;
		t->offset_min = (int16_t)(sign * (oh * 60 + om));
	}
	return 0;
}

/* hl7_dtm_iso for what dtm_iso_fast does not take: the printf form. */
static size_t
dtm_iso_printf(const struct hl7_dtm *t, char out[40])
{
	int n = 0, off;

	n = snprintf(out, 40, "%04d", t->year);
	if (t->precision >= 2)
		n += snprintf(out + n, 40 - (size_t)n, "-%02d", t->month);
	if (t->precision >= 3)
		n += snprintf(out + n, 40 - (size_t)n, "-%02d", t->day);
	if (t->precision >= 4)
		n += snprintf(out + n, 40 - (size_t)n, "T%02d:%02d:%02d",
		    t->hour, t->minute, t->second);
	if (t->frac_digits > 0)
		n += snprintf(out + n, 40 - (size_t)n, ".%0*u",
		    (int)t->frac_digits, (unsigned)t->frac);
	if (t->has_offset && t->precision >= 4) {
		off = t->offset_min;
		n += snprintf(out + n, 40 - (size_t)n, "%c%02d:%02d",
		    off < 0 ? '-' : '+', abs(off) / 60, abs(off) % 60);
	}
	return (size_t)n;
}

static const char two_digits[] = "0001020304050607080910111213141516171819"
				 "2021222324252627282930313233343536373839"
				 "4041424344454647484950515253545556575859"
				 "6061626364656667686970717273747576777879"
				 "8081828384858687888990919293949596979899";

/* v (0-99) as two digits at o: a table, not two divisions. */
static char *
put2(char *o, int v)
{
	memcpy(o, two_digits + 2 * v, 2);
	return o + 2;
}

/*
 * hl7_dtm_iso without printf (it runs for every observation JSON line)
 * when every part is in the range hl7_dtm_parse gives; -1 otherwise.
 */
static int
dtm_iso_fast(const struct hl7_dtm *t, char out[40], size_t *len)
{
	static const unsigned frac_lim[5] = { 1, 10, 100, 1000, 10000 };
	char *o = out;
	int off = t->offset_min < 0 ? -t->offset_min : t->offset_min;
	unsigned f;
	int i;

	if (t->year < 0 || t->year > 9999 || t->month < 0 || t->day < 0 ||
	    t->hour < 0 || t->minute < 0 || t->second < 0 || t->month > 99 ||
	    t->day > 99 || t->hour > 99 || t->minute > 99 || t->second > 99 ||
	    t->frac_digits > 4 ||
	    (t->frac_digits > 0 && t->frac >= frac_lim[t->frac_digits]) ||
	    off / 60 > 99)
		return -1;
	o = put2(put2(o, t->year / 100), t->year % 100);
	if (t->precision >= 2) {
		*o++ = '-';
		o = put2(o, t->month);
	}
	if (t->precision >= 3) {
		*o++ = '-';
		o = put2(o, t->day);
	}
	if (t->precision >= 4) {
		*o++ = 'T';
		o = put2(o, t->hour);
		*o++ = ':';
		o = put2(o, t->minute);
		*o++ = ':';
		o = put2(o, t->second);
	}
	if (t->frac_digits > 0) {
		*o++ = '.';
		for (i = t->frac_digits - 1, f = t->frac; i >= 0; i--, f /= 10)
			o[i] = (char)('0' + f % 10);
		o += t->frac_digits;
	}
	if (t->has_offset && t->precision >= 4) {
		*o++ = t->offset_min < 0 ? '-' : '+';
		o = put2(o, off / 60);
		*o++ = ':';
		o = put2(o, off % 60);
	}
	*o = '\0';
	*len = (size_t)(o - out);
	return 0;
}

size_t
hl7_dtm_iso(const struct hl7_dtm *t, char out[40])
{
	size_t n;

	if (t->precision == 0) {
		out[0] = '\0';
		return 0;
	}
	if (dtm_iso_fast(t, out, &n) == 0)
		return n;
	return dtm_iso_printf(t, out);
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t
days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int64_t
hl7_dtm_epoch(const struct hl7_dtm *t, int tz_offset_min)
{
	int64_t days, secs;
	int off = t->has_offset ? t->offset_min : tz_offset_min;

	if (t->precision == 0)
		return -1;
	days = days_from_civil(t->year, t->precision >= 2 ? t->month : 1,
	    t->precision >= 3 ? t->day : 1);
	secs = days * 86400 + t->hour * 3600 + t->minute * 60 + t->second;
	return secs - (int64_t)off * 60;
}

int
hl7_number(const char *s, size_t len, double *out)
{
	static const double p10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
		1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
		1e19, 1e20, 1e21, 1e22 };
	size_t i = 0, nd = 0, frac = 0;
	uint64_t mant = 0;
	bool neg = false, exp_seen = false;
	char tmp[64];
	char *end;
	double d;

	if (len > 0 && (s[0] == '+' || s[0] == '-')) {
		neg = s[0] == '-';
		i++;
	}
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++)
		mant = mant * 10 + (uint64_t)(s[i] - '0');
	if (i < len && s[i] == '.') {
		for (i++; i < len && s[i] >= '0' && s[i] <= '9';
		     i++, nd++, frac++)
			mant = mant * 10 + (uint64_t)(s[i] - '0');
	}
	if (nd == 0)
		return -1;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		size_t j = i + 1;

		if (j < len && (s[j] == '+' || s[j] == '-'))
			j++;
		if (j >= len || s[j] < '0' || s[j] > '9')
			return -1;
		while (j < len && s[j] >= '0' && s[j] <= '9')
			j++;
		i = j;
		exp_seen = true;
	}
	if (i != len)
		return -1;
	/* Up to 15 digits and no exponent: one exact division, correctly rounded. */
	if (!exp_seen && nd <= 15) {
		*out = (double)mant / p10[frac];
		if (neg)
			*out = -*out;
		return 0;
	}
	if (len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	errno = 0;
	d = strtod(tmp, &end);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = d;
	return 0;
}
