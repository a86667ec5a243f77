/*
 * text.c: the sanitiser and the keyed fields' checks (text.h).
 *
 * Lengths: MSH-3, MSH-4 and CX-4 are HD, 227 characters (HL7 v2.5.1,
 * chapter 2A, HD); MSH-10 and CX-1 are ST with a conformance length of
 * 199 (HL7 v2.7, chapter 2, MSH-10; 2.5.1 said 20, which real senders
 * exceed with GUIDs). The limits are counted in bytes of the decoded
 * value, which can only make them stricter for non-ASCII text.
 */
#include "text.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

/* Length of the valid UTF-8 sequence at p, 0 if invalid. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len, i;

	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0;
	len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ||
	    (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
		return 0;
	return len;
}

static size_t
sanitize(char *out, const char *p, size_t len, bool mark)
{
	char *o = out;
	const unsigned char *s = (const unsigned char *)p, *end;
	size_t u;

	if (len == 0)
		return 0; /* p may be NULL (an empty hl7_str) */
	end = s + len;
	while (s < end) {
		if (*s < 0x20 && *s != '\t' && *s != '\n' && !mark) {
			s++;
			continue;
		}
		u = *s < 0x20 && *s != '\t' && *s != '\n' ?
		    0 :
		    utf8_len(s, (size_t)(end - s));
		if (u == 0) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			s++;
			continue;
		}
		memcpy(o, s, u);
		o += u;
		s += u;
	}
	return (size_t)(o - out);
}

size_t
text_sanitize(char *out, const char *p, size_t len)
{
	return sanitize(out, p, len, false);
}

size_t
text_sanitize_marked(char *out, const char *p, size_t len)
{
	return sanitize(out, p, len, true);
}

bool
text_key_ok(const char *p, size_t len)
{
	const unsigned char *s = (const unsigned char *)p, *end;
	size_t u;

	if (len == 0)
		return true; /* p may be NULL (an empty hl7_str) */
	end = s + len;
	while (s < end) {
		if (*s < 0x20 || *s == 0x7f)
			return false;
		if ((u = utf8_len(s, (size_t)(end - s))) == 0)
			return false;
		s += u;
	}
	return true;
}

/* One keyed field: where it is and how long it may be. */
struct key_field {
	const char *seg;
	unsigned field;
	size_t max;
	const char *too_long, *bad_bytes;
};

static const struct key_field msh3 = { "MSH", 3, TEXT_MAX_HD,
	"MSH-3 sending application longer than 227 characters",
	"MSH-3 sending application holds bytes not valid in the message's "
	"character set" };
static const struct key_field msh4 = { "MSH", 4, TEXT_MAX_HD,
	"MSH-4 sending facility longer than 227 characters",
	"MSH-4 sending facility holds bytes not valid in the message's "
	"character set" };
static const struct key_field msh10 = { "MSH", 10, TEXT_MAX_ID,
	"MSH-10 message control id longer than 199 characters",
	"MSH-10 message control id holds bytes not valid in the message's "
	"character set" };
static const struct key_field pid3 = { "PID", 3, TEXT_MAX_ID,
	"PID-3 patient identifier longer than 199 characters",
	"PID-3 patient identifier holds bytes not valid in the message's "
	"character set (MSH-18)" };
static const struct key_field pid3_4 = { "PID", 3, TEXT_MAX_HD,
	"PID-3 assigning authority longer than 227 characters",
	"PID-3 assigning authority holds bytes not valid in the message's "
	"character set (MSH-18)" };

static const char *
check(const struct key_field *k, struct hl7_str v, unsigned seg_seq,
    struct hl7_error *err)
{
	const char *why = NULL;

	if (v.len > k->max)
		why = k->too_long;
	else if (!text_key_ok(v.p, v.len))
		why = k->bad_bytes;
	if (why == NULL)
		return NULL;
	memset(err, 0, sizeof(*err));
	err->code = HL7_ERR_DATA_TYPE;
	err->reason = why;
	snprintf(err->seg_id, sizeof(err->seg_id), "%s", k->seg);
	err->seg_seq = seg_seq;
	err->field = k->field;
	return why;
}

const char *
text_check_keys(const struct oru_msg *o, struct hl7_error *err)
{
	const char *why;
	uint32_t i;

	if ((why = check(&msh3, o->sending_app, 1, err)) != NULL ||
	    (why = check(&msh4, o->sending_facility, 1, err)) != NULL ||
	    (why = check(&msh10, o->control_id, 1, err)) != NULL)
		return why;
	for (i = 0; i < o->npatients; i++) {
		const struct oru_patient *p = &o->patients[i];
		unsigned seq = p->seg == UINT32_MAX ? 0 : p->seg + 1;

		if ((why = check(&pid3, p->id, seq, err)) != NULL ||
		    (why = check(&pid3_4, p->authority, seq, err)) != NULL)
			return why;
	}
	return NULL;
}

size_t
text_key_form(char *out, const char *p, size_t len, size_t max)
{
	unsigned char d[32];
	unsigned int n = sizeof(d);
	size_t i, o;

	if (len <= max)
		return text_sanitize(out, p, len);
	EVP_Digest(p, len, d, &n, EVP_sha256(), NULL);
	o = (size_t)snprintf(out, 8, "sha256:");
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, 3, "%02x", d[i]);
	return o;
}
