/*
 * dtm.c: HL7 DTM timestamps (parse, ISO 8601, epoch) and decimal numbers.
 */
#include "hl7/dtm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* True when the 8 bytes at s are all ASCII digits. */
static inline bool
digits8(const char *s)
{
	const uint64_t hi = 0xf0f0f0f0f0f0f0f0ULL, z = 0x3030303030303030ULL;
	uint64_t x;

	memcpy(&x, s, 8);
	/* 0x30-0x3f, and still 0x3_ with 6 added: 0x30-0x39 */
	return (x & hi) == z && ((x + 0x0606060606060606ULL) & hi) == z;
}

/* The two digits at s as a number (known to be digits). */
static inline int
two(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/*
 * The usual DTM, YYYYMMDDHHMMSS with or without +/-ZZZZ, read at once:
 * true when it is that form and valid (*t filled as the general parser
 * fills it), false to leave s to the general parser, which then decides.
 */
static bool
dtm_parse_usual(const char *s, size_t len, struct hl7_dtm *t)
{
	int oh = 0, om = 0;

	if ((len != 14 && len != 19) || !digits8(s) || !digits8(s + 6))
		return false;
	if (len == 19) {
		if ((s[14] != '+' && s[14] != '-') || s[15] < '0' ||
		    s[15] > '9' || s[16] < '0' || s[16] > '9' || s[17] < '0' ||
		    s[17] > '9' || s[18] < '0' || s[18] > '9')
			return false;
		oh = two(s + 15);
		om = two(s + 17);
		if (oh > 14 || om > 59)
			return false;
	}
	memset(t, 0, sizeof(*t));
	t->year = (int16_t)(two(s) * 100 + two(s + 2));
	t->month = (int8_t)two(s + 4);
	t->day = (int8_t)two(s + 6);
	t->hour = (int8_t)two(s + 8);
	t->minute = (int8_t)two(s + 10);
	t->second = (int8_t)two(s + 12);
	t->precision = 6;
	if (t->month < 1 || t->month > 12 || t->day < 1 ||
	    t->day > month_days(t->year, t->month) || t->hour > 23 ||
	    t->minute > 59 || t->second > 59)
		return false;
	if (len == 19) {
		t->has_offset = true;
		t->offset_min = (int16_t)((s[14] == '-' ? -1 : 1) *
		    (oh * 60 + om));
	}
	return true;
}

int
hl7_dtm_parse(const char *s, size_t len, struct hl7_dtm *t)
{
	size_t i = 0, body;
	int v, sign, oh, om;
	int8_t *parts[5];
	int k;

	if (dtm_parse_usual(s, len, t))
		return 0;
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

/*
 * The inverse: y-m-d of day z after 1970-01-01 (H. Hinnant's era
 * algorithm, "chrono-Compatible Low-Level Date Algorithms": 400-year
 * eras of 146,097 days, years starting in March).
 */
static void
civil_from_days(int32_t z, int *y, int *m, int *d)
{
	int32_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

int
hl7_dtm_from_epoch(int64_t t, struct hl7_dtm *out)
{
	int64_t days, secs;
	int y, m, d;

	/* 0000-01-01T00:00:00Z to 9999-12-31T23:59:59Z */
	if (t < -62167219200LL || t > 253402300799LL)
		return -1;
	days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	secs = t - days * 86400;
	/* within +-3.7 million days: 32-bit arithmetic is exact */
	civil_from_days((int32_t)days, &y, &m, &d);
	memset(out, 0, sizeof(*out));
	out->year = (int16_t)y;
	out->month = (int8_t)m;
	out->day = (int8_t)d;
	out->hour = (int8_t)(secs / 3600);
	out->minute = (int8_t)(secs / 60 % 60);
	out->second = (int8_t)(secs % 60);
	out->precision = 6;
	out->has_offset = true;
	return 0;
}

int64_t
hl7_dtm_epoch(const struct hl7_dtm *t, int tz_offset_min)
{
	/* Days before each month of a common year. */
	static const int16_t before[13] = { 0, 0, 31, 59, 90, 120, 151, 181,
		212, 243, 273, 304, 334 };
	int64_t days, secs;
	int off = t->has_offset ? t->offset_min : tz_offset_min;
	int y = t->year, m = t->precision >= 2 ? t->month : 1;
	int d = t->precision >= 3 ? t->day : 1;

	if (t->precision == 0)
		return -1;
	/*
	 * 1901-2099, every result's year: each fourth year is leap, so the
	 * days are a few sums (hl7_dtm_epoch runs once per result).
	 */
	if (y >= 1901 && y <= 2099 && m >= 1 && m <= 12)
		days = 365 * (y - 1970) + (y - 1901) / 4 - 17 + before[m] +
		    (m > 2 && y % 4 == 0) + d - 1;
	else
		days = days_from_civil(y, m, d);
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
