/*
 * dtm.h: HL7 DTM timestamps (parse, ISO 8601 text, seconds since the
 * epoch) and decimal numbers, from raw bytes of a value.
 * Pure: no I/O, no logging, no allocation.
 */
#ifndef LABWATCH_HL7_DTM_H
#define LABWATCH_HL7_DTM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/attr.h"

/* An HL7 DTM value: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]. */
struct hl7_dtm {
	int16_t year;
	int8_t month, day, hour, minute, second;
	int8_t
	    precision; /* 0 = absent, 1 year, 2 month, 3 day, 4 hour, 5 minute, 6 second */
	int8_t frac_digits; /* digits after the decimal point, 0-4 */
	uint16_t frac;	    /* the fraction as written, e.g. 123 for .123 */
	bool has_offset;
	int16_t offset_min; /* UTC offset in minutes when has_offset */
};

/* True when a and b are the same value, part for part. */
static inline bool
hl7_dtm_same(const struct hl7_dtm *a, const struct hl7_dtm *b)
{
	return a->year == b->year && a->month == b->month && a->day == b->day &&
	    a->hour == b->hour && a->minute == b->minute &&
	    a->second == b->second && a->precision == b->precision &&
	    a->frac_digits == b->frac_digits && a->frac == b->frac &&
	    a->has_offset == b->has_offset && a->offset_min == b->offset_min;
}

/* Parse a DTM; returns 0, or -1 when s is not a valid DTM. */
LW_MUSTCHECK int hl7_dtm_parse(const char *s, size_t len, struct hl7_dtm *out);
/*
 * Write t as ISO 8601 (2026-11-20T07:30:00+08:00; no offset when the DTM had
 * none; date only when it had no time) into out[40]; returns its length.
 */
size_t hl7_dtm_iso(const struct hl7_dtm *t, char out[40]);
/* Seconds since the epoch, taking offset_min as UTC offset when has_offset,
 * else tz_offset_min; -1 if absent. */
int64_t hl7_dtm_epoch(const struct hl7_dtm *t, int tz_offset_min);
/*
 * The inverse: t (seconds since the epoch) as a DTM in UTC, to the second
 * (has_offset, offset 0). Returns 0, or -1 when t is outside the years
 * 0000-9999.
 */
LW_MUSTCHECK int hl7_dtm_from_epoch(int64_t t, struct hl7_dtm *out);

/*
 * Parse a decimal number (optional sign, digits, optional fraction, optional
 * exponent) that is all of s[0..len). Returns 0 and *out, or -1.
 */
LW_MUSTCHECK int hl7_number(const char *s, size_t len, double *out);

#endif
