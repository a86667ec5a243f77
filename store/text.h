/*
 * text.h: what text from a message may become in PostgreSQL. One
 * sanitiser for every text column, and the checks of the values the
 * schema indexes or keys on (sender, facility, control id, patient id),
 * made before the database is asked, so that no message can be refused
 * by an index (a btree entry is at most 2,704 bytes) or silently merged
 * with another through bytes a sanitiser would replace.
 */
#ifndef LABWATCH_TEXT_H
#define LABWATCH_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "hl7/hl7.h"
#include "hl7/oru.h"

/* HL7's lengths for the keyed fields (see text.c for their sources). */
#define TEXT_MAX_HD 227 /* MSH-3, MSH-4, PID-3.4: HD */
#define TEXT_MAX_ID 199 /* MSH-10, PID-3.1: ST */

/*
 * Copy p[0..len) to out as PostgreSQL text: valid UTF-8 (an invalid byte
 * becomes U+FFFD), control bytes but tab and newline dropped. out holds
 * at least 3 * len bytes; returns the bytes written (no NUL added).
 */
size_t text_sanitize(char *out, const char *p, size_t len);
/*
 * As text_sanitize(), but a control byte (but tab and newline) becomes
 * U+FFFD instead of nothing: for what the rules read again from the rows
 * (OBX-3, -6, -7, -11), which must read as the rules read it live ("10-40"
 * with a control byte inside is unreadable, and so must its row be).
 */
size_t text_sanitize_marked(char *out, const char *p, size_t len);

/* True when p[0..len) is valid UTF-8 without control bytes (a key as is). */
bool text_key_ok(const char *p, size_t len);

/*
 * Check the keyed fields of an extracted message: each no longer than
 * HL7 allows and made of valid characters. NULL when they are; else a
 * static reason (no patient data) and *err filled for the ERR segment
 * (code 102, segment, position, field).
 */
const char *text_check_keys(const struct oru_msg *o, struct hl7_error *err);

/*
 * The form a key is stored in: p itself (sanitised) when it is at most
 * max bytes, else "sha256:" and the hex digest of its bytes, so that a
 * quarantined message's row always fits its index. out holds at least
 * 3 * max + 72 bytes; returns the bytes written.
 */
size_t text_key_form(char *out, const char *p, size_t len, size_t max);

#endif
