/*
 * text.h: the text of an HL7 v2 value: escape sequences (\F\ \S\ \T\ \R\
 * \E\ \Xhh\ \.br\) decoded and the message's MSH-18 character set
 * converted to UTF-8, on demand, for the spans hl7.h's parser indexed.
 * Pure: no I/O, no logging; decoded text goes in the message's arena.
 */
#ifndef LABWATCH_HL7_TEXT_H
#define LABWATCH_HL7_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "hl7/hl7.h"
#include "lib/attr.h"

/* Map an MSH-18 value to a charset; -1 when unknown to us and to iconv. */
LW_MUSTCHECK int hl7_charset_lookup(const char *msh18, size_t len,
    enum hl7_charset *cs, char iconv_name[32]);

/*
 * True when byte c of a message in charset cs must go through conversion:
 * bytes >= 0x80, and for iconv charsets also the 7-bit shifts (ESC, SO,
 * SI) of stateful encodings such as ISO-2022-JP (ISO IR87).
 */
static inline bool
hl7_needs_conv(enum hl7_charset cs, char c)
{
	unsigned char u = (unsigned char)c;

	return u >= 0x80 ||
	    (cs == HL7_CS_ICONV && (u == 0x1b || u == 0x0e || u == 0x0f));
}

/*
 * The span's text with escapes decoded (\F\ \S\ \T\ \R\ \E\ \Xhh\ \.br\;
 * highlighting dropped; unknown escapes kept as they are) and converted to
 * UTF-8 from the message charset. Points into the buffer when nothing
 * needed decoding, else into m->arena (valid until the next hl7_parse).
 */
struct hl7_str hl7_text_decode(struct hl7_msg *m, struct hl7_span s);

/* hl7_text_decode(), with the common case (nothing to decode) inline. */
static inline struct hl7_str
hl7_text(struct hl7_msg *m, struct hl7_span s)
{
	if (!m->any_esc && !m->any_high)
		return hl7_raw(m, s);
	return hl7_text_decode(m, s);
}

#endif
