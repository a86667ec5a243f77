/*
 * ack.c: ACK builder and control id recovery.
 *
 * Everything the ACK needs from the received message comes from its MSH
 * line, gathered into a struct msh_view either from the parser's index or,
 * for a failed parse, by reading the MSH line again here: a message that
 * failed further down still deserves an ACK its sender can match.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "hl7/ack.h"

#include <stdbool.h>
#include <string.h>

/* MSH fields we read: 1..16. */
#define MSH_NF 17

struct msh_view {
	struct hl7_delims d;
	struct hl7_str
	    f[MSH_NF]; /* f[n] = raw MSH-n; f[2] the encoding characters */
};

static const char default_enc[] = "^~\\&";

const char *
hl7_ack_errtext(enum hl7_errcode code)
{
	switch ((int)code) {
	case 0:
		return "Message accepted";
	case 100:
		return "Segment sequence error";
	case 101:
		return "Required field missing";
	case 102:
		return "Data type error";
	case 103:
		return "Table value not found";
	case 200:
		return "Unsupported message type";
	case 201:
		return "Unsupported event code";
	case 202:
		return "Unsupported processing id";
	case 203:
		return "Unsupported version id";
	case 204:
		return "Unknown key identifier";
	case 205:
		return "Duplicate key identifier";
	case 206:
		return "Application record locked";
	case 207:
		return "Application internal error";
	default:
		return "";
	}
}

static bool
is_ctl(char c)
{
	unsigned char u = (unsigned char)c;

	return u < 0x20 || u == 0x7f;
}

static void
view_fallback(struct msh_view *v)
{
	memset(v, 0, sizeof(*v));
	v->d.field = '|';
	v->d.comp = '^';
	v->d.rep = '~';
	v->d.esc = '\\';
	v->d.sub = '&';
	v->f[2].p = default_enc;
	v->f[2].len = sizeof(default_enc) - 1;
}

/*
 * Read the MSH line of a buffer the parser refused. Returns 0, or -1 when
 * it does not start (after blank lines) with MSH and valid delimiters.
 */
static int
view_scan(struct msh_view *v, const char *b, size_t len)
{
	const char *p, *end, *q;
	size_t i, j, n;
	char enc[5] = { 0 };
	unsigned k;

	while (len > 0 && (*b == '\r' || *b == '\n')) {
		b++;
		len--;
	}
	if (len < 4 || memcmp(b, "MSH", 3) != 0 || !hl7_is_delim(b[3]))
		return -1;
	for (n = 0; 4 + n < len && b[4 + n] != b[3] && hl7_is_delim(b[4 + n]);
	     n++) {
		if (n == 5)
			return -1;
		enc[n] = b[4 + n];
	}
	/* MSH-2 must end at a field separator, a terminator or the end. */
	if (n < 2 ||
	    (4 + n < len && b[4 + n] != b[3] && b[4 + n] != '\r' &&
		b[4 + n] != '\n'))
		return -1;
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (enc[i] == enc[j])
				return -1;
	memset(v, 0, sizeof(*v));
	v->d.field = b[3];
	v->d.comp = enc[0];
	v->d.rep = enc[1];
	v->d.esc = enc[2];
	v->d.sub = enc[3];
	v->d.trunc = enc[4];
	v->f[1].p = b + 3;
	v->f[1].len = 1;
	v->f[2].p = b + 4;
	v->f[2].len = n;
	/* The line ends at CR, LF or NUL; fields are split at MSH-1. */
	end = b + len;
	for (p = b + 4 + n, k = 3; p < end && *p == v->d.field && k < MSH_NF;
	     k++) {
		p++;
		for (q = p; q < end && *q != v->d.field && *q != '\r' &&
		     *q != '\n' && *q != '\0';
		     q++)
			;
		v->f[k].p = p;
		v->f[k].len = (size_t)(q - p);
		p = q;
	}
	return 0;
}

static void
view_get(struct msh_view *v, const struct hl7_msg *m)
{
	unsigned k;

	if (m != NULL && m->err.code == HL7_ERR_NONE && m->nsegs > 0 &&
	    memcmp(m->segs[0].id, "MSH", 4) == 0) {
		memset(v, 0, sizeof(*v));
		v->d = m->d;
		for (k = 1; k < MSH_NF; k++)
			v->f[k] = hl7_raw(m, hl7_field(m, 0, k));
		return;
	}
	if (m != NULL && m->buf != NULL && view_scan(v, m->buf, m->len) == 0)
		return;
	view_fallback(v);
}

/* The n-th (1-based) piece of s split at c; c == 0 means no splitting. */
static struct hl7_str
piece(struct hl7_str s, char c, unsigned n)
{
	struct hl7_str none = { "", 0 };
	const char *p, *end, *q;

	if (c == '\0' || s.len == 0)
		return n == 1 ? s : none;
	p = s.p;
	end = s.p + s.len;
	for (; n > 1; n--) {
		q = memchr(p, c, (size_t)(end - p));
		if (q == NULL)
			return none;
		p = q + 1;
	}
	q = memchr(p, c, (size_t)(end - p));
	s.p = p;
	s.len = (size_t)((q != NULL ? q : end) - p);
	return s;
}

/* HL7 writes an explicit null as "": for MSH-15/16 it means not valued. */
static bool
is_empty(struct hl7_str s)
{
	return s.len == 0 || (s.len == 2 && s.p[0] == '"' && s.p[1] == '"');
}

static bool
eq2(struct hl7_str s, const char *code)
{
	return s.len == 2 && (s.p[0] & ~0x20) == code[0] &&
	    (s.p[1] & ~0x20) == code[1];
}

/* Enhanced mode: does MSH-15 ask for this accept acknowledgment? */
static bool
ack_wanted(struct hl7_str msh15, enum hl7_ack_code code)
{
	if (eq2(msh15, "NE"))
		return false;
	if (eq2(msh15, "ER"))
		return code != HL7_ACK_ACCEPT;
	if (eq2(msh15, "SU"))
		return code == HL7_ACK_ACCEPT;
	/* AL, empty or a value we do not know: an ACK too many beats none. */
	return true;
}

/* Versions before 2.5 carry the text in MSA-3 and the error in ERR-1. */
static bool
version_before_25(struct hl7_str ver)
{
	size_t i = 0;
	unsigned major = 0, minor = 0;

	if (ver.len == 0 || ver.p[0] < '0' || ver.p[0] > '9')
		return false;
	for (;
	     i < ver.len && ver.p[i] >= '0' && ver.p[i] <= '9' && major < 1000;
	     i++)
		major = major * 10 + (unsigned)(ver.p[i] - '0');
	if (i < ver.len && ver.p[i] == '.')
		for (i++; i < ver.len && ver.p[i] >= '0' && ver.p[i] <= '9' &&
		     minor < 1000;
		     i++)
			minor = minor * 10 + (unsigned)(ver.p[i] - '0');
	return major < 2 || (major == 2 && minor < 5);
}

static void
put_hex(struct buf *out, const struct hl7_delims *d, unsigned char c)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[5] = { d->esc, 'X', hex[c >> 4], hex[c & 15], d->esc };

	buf_add(out, e, sizeof(e));
}

/*
 * Copy a field of the received message as it is (it is already in its
 * delimiters), except control bytes: a CR or 0x1C would end the segment or
 * the MLLP frame, so they become \Xhh\ (dropped without an escape char).
 */
static void
put_raw(struct buf *out, const struct hl7_delims *d, struct hl7_str s)
{
	size_t i, from = 0;

	if (s.len == 0)
		return; /* s.p may be NULL for an absent field */
	for (i = 0; i < s.len; i++) {
		if (!is_ctl(s.p[i]))
			continue;
		buf_add(out, s.p + from, i - from);
		if (d->esc != '\0')
			put_hex(out, d, (unsigned char)s.p[i]);
		from = i + 1;
	}
	buf_add(out, s.p + from, s.len - from);
}

/* Write plain text, escaping delimiters and control bytes. */
static void
put_text(struct buf *out, const struct hl7_delims *d, const char *s)
{
	const char *from;
	char c, e;

	if (s == NULL)
		return;
	for (from = s; (c = *s) != '\0'; s++) {
		if (c == d->field)
			e = 'F';
		else if (c == d->comp)
			e = 'S';
		else if (c == d->rep)
			e = 'R';
		else if (c == d->esc)
			e = 'E';
		else if (d->sub != '\0' && c == d->sub)
			e = 'T';
		else if (d->trunc != '\0' && c == d->trunc)
			e = 'P';
		else if (is_ctl(c))
			e = 'X';
		else
			continue;
		buf_add(out, from, (size_t)(s - from));
		from = s + 1;
		if (d->esc == '\0')
			buf_addc(out, ' '); /* no escape char */
		else if (e == 'X')
			put_hex(out, d, (unsigned char)c);
		else {
			char seq[3] = { d->esc, e, d->esc };

			buf_add(out, seq, sizeof(seq));
		}
	}
	buf_add(out, from, (size_t)(s - from));
}

static const char *
msa_code(enum hl7_ack_code code, bool enhanced)
{
	switch (code) {
	case HL7_ACK_ACCEPT:
		return enhanced ? "CA" : "AA";
	case HL7_ACK_ERROR:
		return enhanced ? "CE" : "AE";
	case HL7_ACK_REJECT:
		break;
	}
	return enhanced ? "CR" : "AR";
}

/* Segment id, sequence and field of the error, as components. */
static void
put_location(struct buf *out, const struct msh_view *v,
    const struct hl7_ack_info *info, bool all)
{
	bool seg = info->err_seg != NULL && info->err_seg[0] != '\0';

	put_text(out, &v->d, seg ? info->err_seg : NULL);
	if (!seg && !all)
		return;
	if (all || info->err_seq > 0 || info->err_field > 0) {
		buf_addc(out, v->d.comp);
		if (info->err_seq > 0)
			buf_printf(out, "%u", info->err_seq);
	}
	if (all || info->err_field > 0) {
		buf_addc(out, v->d.comp);
		if (info->err_field > 0)
			buf_printf(out, "%u", info->err_field);
	}
}

static void
put_err(struct buf *out, const struct msh_view *v,
    const struct hl7_ack_info *info, bool old)
{
	const char *text = hl7_ack_errtext(info->err);
	char fs = v->d.field;

	buf_adds(out, "ERR");
	buf_addc(out, fs);
	if (old) {
		/* ERR-1 (ELD): segment^sequence^field^code&text&table. */
		put_location(out, v, info, true);
		buf_addc(out, v->d.comp);
		buf_printf(out, "%d", (int)info->err);
		if (v->d.sub != '\0') {
			buf_addc(out, v->d.sub);
			put_text(out, &v->d, text);
			buf_addc(out, v->d.sub);
			buf_adds(out, "HL70357");
		}
	} else {
		/* ERR-2 location, ERR-3 code, ERR-4 severity, ERR-8 text. */
		buf_addc(out, fs);
		put_location(out, v, info, false);
		buf_addc(out, fs);
		buf_printf(out, "%d", (int)info->err);
		buf_addc(out, v->d.comp);
		put_text(out, &v->d, text);
		buf_addc(out, v->d.comp);
		buf_adds(out, "HL70357");
		buf_addc(out, fs);
		buf_addc(out, 'E');
		if (info->text != NULL && info->text[0] != '\0') {
			buf_addc(out, fs);
			buf_addc(out, fs);
			buf_addc(out, fs);
			buf_addc(out, fs);
			put_text(out, &v->d, info->text);
		}
	}
	buf_addc(out, '\r');
}

/* Enhanced mode for v? false when an ACK with this code is not wanted. */
static bool
ack_mode(const struct msh_view *v, enum hl7_ack_code code, bool *enhanced)
{
	*enhanced = !is_empty(v->f[15]) || !is_empty(v->f[16]);
	return !*enhanced || ack_wanted(v->f[15], code);
}

const char *
hl7_ack_sent_code(const struct hl7_msg *m, enum hl7_ack_code code)
{
	struct msh_view v;
	bool enhanced;

	view_get(&v, m);
	if (!ack_mode(&v, code, &enhanced))
		return NULL;
	return msa_code(code, enhanced);
}

int
hl7_ack_build(struct buf *out, const struct hl7_msg *m,
    const struct hl7_ack_info *info)
{
	struct msh_view v;
	struct hl7_str trigger, version;
	char rec[HL7_ACK_CONTROL_ID_MAX + 1];
	bool enhanced, old;
	char fs;

	view_get(&v, m);
	fs = v.d.field;
	if (!ack_mode(&v, info->code, &enhanced))
		return 0;
	trigger = piece(piece(v.f[9], v.d.rep, 1), v.d.comp, 2);
	version = piece(piece(v.f[12], v.d.rep, 1), v.d.comp, 1);
	old = version_before_25(version);

	buf_adds(out, "MSH");
	buf_addc(out, fs);
	buf_add(out, v.f[2].p, v.f[2].len);
	buf_addc(out, fs);
	if (v.f[5].len > 0)
		put_raw(out, &v.d, v.f[5]);
	else
		put_text(out, &v.d, info->app);
	buf_addc(out, fs);
	if (v.f[6].len > 0)
		put_raw(out, &v.d, v.f[6]);
	else
		put_text(out, &v.d, info->facility);
	buf_addc(out, fs);
	put_raw(out, &v.d, v.f[3]);
	buf_addc(out, fs);
	put_raw(out, &v.d, v.f[4]);
	buf_addc(out, fs);
	put_text(out, &v.d, info->timestamp);
	buf_addc(out, fs);
	buf_addc(out, fs);
	buf_adds(out, "ACK");
	if (trigger.len > 0) {
		buf_addc(out, v.d.comp);
		put_raw(out, &v.d, trigger);
		buf_addc(out, v.d.comp);
		buf_adds(out, "ACK");
	}
	buf_addc(out, fs);
	put_text(out, &v.d, info->control_id);
	buf_addc(out, fs);
	if (v.f[11].len > 0)
		put_raw(out, &v.d, v.f[11]);
	else
		buf_addc(out, 'P');
	buf_addc(out, fs);
	if (v.f[12].len > 0)
		put_raw(out, &v.d, v.f[12]);
	else
		buf_adds(out, "2.5.1");
	buf_addc(out, '\r');

	buf_adds(out, "MSA");
	buf_addc(out, fs);
	buf_adds(out, msa_code(info->code, enhanced));
	buf_addc(out, fs);
	if (v.f[10].len > 0)
		put_raw(out, &v.d, v.f[10]);
	else if (info->ref_control_id != NULL)
		put_text(out, &v.d, info->ref_control_id);
	else if (m != NULL && m->buf != NULL &&
	    hl7_ack_recover_control_id(m->buf, m->len, rec, sizeof(rec)) > 0)
		put_text(out, &v.d, rec);
	if (old && info->text != NULL && info->text[0] != '\0') {
		buf_addc(out, fs);
		put_text(out, &v.d, info->text);
	}
	buf_addc(out, '\r');

	if (info->err != HL7_ERR_NONE)
		put_err(out, &v, info, old);
	return 1;
}

size_t
hl7_ack_recover_control_id(const char *frame, size_t len, char *out, size_t cap)
{
	const char *p, *end, *q, *msh = NULL;
	unsigned k;
	size_t n, i;
	char fs;

	if (cap == 0)
		return 0;
	out[0] = '\0';
	if (frame == NULL || len < 4)
		return 0;
	end = frame + len;
	/* The first "MSH" followed by a delimiter, wherever junk left it. */
	for (p = frame; p + 4 <= end; p = q + 1) {
		q = memmem(p, (size_t)(end - p), "MSH", 3);
		if (q == NULL || q + 4 > end)
			return 0;
		if (hl7_is_delim(q[3])) {
			msh = q;
			break;
		}
	}
	if (msh == NULL)
		return 0;
	fs = msh[3];
	/* Skip MSH-2 to MSH-9: eight separators, all on the MSH line. */
	p = msh + 3;
	for (k = 0; k < 8; k++) {
		for (q = p + 1; q < end && *q != fs && *q != '\r' && *q != '\n';
		     q++)
			;
		if (q >= end || *q != fs)
			return 0;
		p = q;
	}
	p++;
	for (q = p; q < end && *q != fs && *q != '\r' && *q != '\n'; q++)
		;
	/* A value that runs into the end of the buffer may be cut short. */
	if (q >= end)
		return 0;
	n = (size_t)(q - p);
	if (n == 0 || n >= cap)
		return 0;
	for (i = 0; i < n; i++)
		if (is_ctl(p[i]))
			return 0;
	memcpy(out, p, n);
	out[n] = '\0';
	return n;
}
