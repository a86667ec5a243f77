/*
 * text.c: HL7 v2 text values: escape sequences decoded and MSH-18
 * character sets converted to UTF-8, only when a value is read.
 */
#include "hl7/text.h"

#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <string.h>

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
			has_high = hl7_needs_conv(m->charset, p[i]);
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
