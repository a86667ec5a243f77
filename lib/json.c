#include "json.h"

#include <math.h> /* isfinite, fabs, signbit: builtins, no libm */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/num.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* 1: byte can be copied as is; 0: needs a look (escape or UTF-8 check). */
static const uint8_t plain[256] = {
	['\x20'] = 1,
	['!'] = 1,
	['#'] = 1,
	['$'] = 1,
	['%'] = 1,
	['&'] = 1,
	['\''] = 1,
	['('] = 1,
	[')'] = 1,
	['*'] = 1,
	['+'] = 1,
	[','] = 1,
	['-'] = 1,
	['.'] = 1,
	['/'] = 1,
	['0'] = 1,
	['1'] = 1,
	['2'] = 1,
	['3'] = 1,
	['4'] = 1,
	['5'] = 1,
	['6'] = 1,
	['7'] = 1,
	['8'] = 1,
	['9'] = 1,
	[':'] = 1,
	[';'] = 1,
	['<'] = 1,
	['='] = 1,
	['>'] = 1,
	['?'] = 1,
	['@'] = 1,
	['A'] = 1,
	['B'] = 1,
	['C'] = 1,
	['D'] = 1,
	['E'] = 1,
	['F'] = 1,
	['G'] = 1,
	['H'] = 1,
	['I'] = 1,
	['J'] = 1,
	['K'] = 1,
	['L'] = 1,
	['M'] = 1,
	['N'] = 1,
	['O'] = 1,
	['P'] = 1,
	['Q'] = 1,
	['R'] = 1,
	['S'] = 1,
	['T'] = 1,
	['U'] = 1,
	['V'] = 1,
	['W'] = 1,
	['X'] = 1,
	['Y'] = 1,
	['Z'] = 1,
	['['] = 1,
	[']'] = 1,
	['^'] = 1,
	['_'] = 1,
	['`'] = 1,
	['a'] = 1,
	['b'] = 1,
	['c'] = 1,
	['d'] = 1,
	['e'] = 1,
	['f'] = 1,
	['g'] = 1,
	['h'] = 1,
	['i'] = 1,
	['j'] = 1,
	['k'] = 1,
	['l'] = 1,
	['m'] = 1,
	['n'] = 1,
	['o'] = 1,
	['p'] = 1,
	['q'] = 1,
	['r'] = 1,
	['s'] = 1,
	['t'] = 1,
	['u'] = 1,
	['v'] = 1,
	['w'] = 1,
	['x'] = 1,
	['y'] = 1,
	['z'] = 1,
	['{'] = 1,
	['|'] = 1,
	['}'] = 1,
	['~'] = 1,
};

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if invalid. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len, i;
	uint32_t cp;

	if (c < 0xc2 || c > 0xf4)
		return 0;
	len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (n < len)
		return 0;
	cp = c & (0x3f >> (len - 1));
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Reject overlong forms, surrogates and values past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/*
 * Nonzero when one of the 8 bytes in x needs a look: a control byte, '"',
 * '\\', DEL or a non-ASCII byte (the classic has-zero-byte tests: exact
 * about whether there is one, not about where).
 */
static inline uint64_t
span_special(uint64_t x)
{
	uint64_t q = x ^ (ONES * '"'), s = x ^ (ONES * '\\');

	/* below 0x20 | above 0x7e | a quote | a backslash */
	return (((x - ONES * 0x20) & ~x) | ((x + ONES) | x) |
		   ((q - ONES) & ~q) | ((s - ONES) & ~s)) &
	    HIGHS;
}

static const char hexdig[] = "0123456789abcdef";

/*
 * Escape p[..lim) to o, which has room for 6 bytes per input byte; a UTF-8
 * sequence starting before lim may run on to end. Returns the end of the
 * output and leaves *pp after the last byte consumed.
 */
static __attribute__((noinline)) char *
escape_span(char *o, const unsigned char **pp, const unsigned char *lim,
    const unsigned char *end)
{
	const unsigned char *p = *pp;
	uint64_t x;
	size_t u;

	while (p < lim) {
		/* Runs of plain bytes: eight at a time, stored as they come. */
		while (lim - p >= 8) {
			memcpy(&x, p, 8);
			if (span_special(x))
				break;
			memcpy(o, &x, 8);
			o += 8;
			p += 8;
		}
		while (p < lim && plain[*p])
			*o++ = (char)*p++;
		if (p == lim)
			break;
		switch (*p) {
		case '"':
			o[0] = '\\';
			o[1] = '"';
			o += 2;
			p++;
			continue;
		case '\\':
			o[0] = '\\';
			o[1] = '\\';
			o += 2;
			p++;
			continue;
		case '\n':
			o[0] = '\\';
			o[1] = 'n';
			o += 2;
			p++;
			continue;
		case '\r':
			o[0] = '\\';
			o[1] = 'r';
			o += 2;
			p++;
			continue;
		case '\t':
			o[0] = '\\';
			o[1] = 't';
			o += 2;
			p++;
			continue;
		default:
			break;
		}
		if (*p < 0x20 || *p == 0x7f) {
			memcpy(o, "\\u00", 4);
			o[4] = hexdig[*p >> 4];
			o[5] = hexdig[*p & 0xf];
			o += 6;
			p++;
		} else if ((u = utf8_len(p, (size_t)(end - p))) > 0) {
			memcpy(o, p, u);
			o += u;
			p += u;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			p++;
		}
	}
	*pp = p;
	return o;
}

#ifdef __SSE2__
/*
 * Nonzero when one of the 16 bytes of x needs a look (what span_special
 * finds in 8): as signed bytes, the control and non-ASCII bytes are all
 * below 0x20.
 */
static inline int
vec_special(__m128i x)
{
	__m128i low = _mm_cmplt_epi8(x, _mm_set1_epi8(0x20));
	__m128i q = _mm_cmpeq_epi8(x, _mm_set1_epi8('"'));
	__m128i bs = _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'));
	__m128i del = _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f));

	return _mm_movemask_epi8(
	    _mm_or_si128(_mm_or_si128(low, q), _mm_or_si128(bs, del)));
}

static inline int
span16_special(const unsigned char *p)
{
	return vec_special(_mm_loadu_si128((const __m128i *)(const void *)p));
}

/*
 * copy_plain for n >= 8: 16-byte words, the last one ending at n; 8 to 16
 * bytes as two 8-byte words checked together.
 */
static inline int
copy_plain_vec(char *o, const unsigned char *p, size_t n)
{
	uint64_t a, b;
	size_t i;

	if (n <= 16) {
		memcpy(&a, p, 8);
		memcpy(&b, p + n - 8, 8);
		if (vec_special(_mm_set_epi64x((long long)b, (long long)a)))
			return 0;
		memcpy(o, &a, 8);
		memcpy(o + n - 8, &b, 8);
		return 1;
	}
	for (i = 0; i + 16 < n; i += 16) {
		if (span16_special(p + i))
			return 0;
		memcpy(o + i, p + i, 16);
	}
	if (span16_special(p + n - 16))
		return 0;
	memcpy(o + n - 16, p + n - 16, 16);
	return 1;
}
#endif

/*
 * Copy p[0..n) to o and return 1 when none of it needs escaping (most
 * fields), else return 0 having written garbage to o[0..n). Loads overlap
 * instead of looping over a tail: 16-byte words (SSE2; 8 to 16 bytes as
 * two 8-byte words) or 8-byte words with the last one ending at n, two 4-byte words for 4 to 7 bytes, three
 * single bytes below that.
 */
static inline int
copy_plain(char *o, const unsigned char *p, size_t n)
{
	uint64_t x;
	uint32_t w1, w2;
	size_t i;

#ifdef __SSE2__
	if (n >= 8)
		return copy_plain_vec(o, p, n);
#endif
	if (n >= 8) {
		for (i = 0; i + 8 < n; i += 8) {
			memcpy(&x, p + i, 8);
			if (span_special(x))
				return 0;
			memcpy(o + i, &x, 8);
		}
		memcpy(&x, p + n - 8, 8);
		if (span_special(x))
			return 0;
		memcpy(o + n - 8, &x, 8);
		return 1;
	}
	if (n >= 4) {
		memcpy(&w1, p, 4);
		memcpy(&w2, p + n - 4, 4);
		if (span_special(w1 | (uint64_t)w2 << 32))
			return 0;
		memcpy(o, &w1, 4);
		memcpy(o + n - 4, &w2, 4);
		return 1;
	}
	if (n == 0)
		return 1;
	/* 1 to 3 bytes: the first, middle and last, each by the table. */
	if (!(plain[p[0]] & plain[p[n >> 1]] & plain[p[n - 1]]))
		return 0;
	o[0] = (char)p[0];
	o[n >> 1] = (char)p[n >> 1];
	o[n - 1] = (char)p[n - 1];
	return 1;
}

/* Commit what was written at o..e (reserved with buf_reserve). */
static void
commit(struct buf *b, char *o, char *e)
{
	*e = '\0';
	b->len += (size_t)(e - o);
}

/* json_str for a field larger than one chunk (an encapsulated PDF, say). */
static __attribute__((noinline)) void
json_str_long(struct buf *b, const unsigned char *p, size_t len)
{
	const unsigned char *end = p + len;
	size_t n;
	char *o, *e;

	buf_addc(b, '"');
	while (p < end) {
		/* a huge field never asks for 6x its size at once */
		n = (size_t)(end - p) < JSON_STR_CHUNK ? (size_t)(end - p) :
							 JSON_STR_CHUNK;
		o = buf_reserve(b, 6 * n + 1);
		e = escape_span(o, &p, p + n, end);
		b->len += (size_t)(e - o);
	}
	buf_addc(b, '"');
}

/* json_put_str for a field with something to escape. */
static __attribute__((noinline)) char *
put_str_escaped(char *o, const unsigned char *p, size_t len)
{
	char *e = escape_span(o + 1, &p, p + len, p + len);

	e[0] = '"';
	return e + 1;
}

char *
json_put_str(char *o, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	/* The usual field: copied as it is, checked on the way. */
	o[0] = '"';
	if (!copy_plain(o + 1, p, len))
		return put_str_escaped(o, p, len);
	o[len + 1] = '"';
	return o + len + 2;
}

void
json_str(struct buf *b, const char *s, size_t len)
{
	char *o;

	if (len > JSON_STR_CHUNK) {
		json_str_long(b, (const unsigned char *)s, len);
		return;
	}
	o = buf_reserve(b, JSON_STR_ROOM(len));
	commit(b, o, json_put_str(o, s, len));
}

void
json_strz(struct buf *b, const char *s)
{
	if (s == NULL)
		buf_add(b, "null", 4);
	else
		json_str(b, s, strlen(s));
}

extern inline void json_str_or_null(struct buf *b, const char *p, size_t len);

static const uint64_t p10u[20] = {
	1ULL,
	10ULL,
	100ULL,
	1000ULL,
	10000ULL,
	100000ULL,
	1000000ULL,
	10000000ULL,
	100000000ULL,
	1000000000ULL,
	10000000000ULL,
	100000000000ULL,
	1000000000000ULL,
	10000000000000ULL,
	100000000000000ULL,
	1000000000000000ULL,
	10000000000000000ULL,
	100000000000000000ULL,
	1000000000000000000ULL,
	10000000000000000000ULL,
};

static const char digit_pairs[] = "0001020304050607080910111213141516171819"
				  "2021222324252627282930313233343536373839"
				  "4041424344454647484950515253545556575859"
				  "6061626364656667686970717273747576777879"
				  "8081828384858687888990919293949596979899";

/* The n (>= 1) last decimal digits of v, ending at end. */
static void
put_digits(char *end, uint64_t v, int n)
{
	for (; n >= 2; n -= 2, v /= 100) {
		end -= 2;
		memcpy(end, digit_pairs + 2 * (v % 100), 2);
	}
	if (n == 1)
		end[-1] = (char)('0' + v % 10);
}

/* Number of decimal digits of v. */
static int
ndigits(uint64_t v)
{
	int n = 1;

	while (n < 20 && v >= p10u[n])
		n++;
	return n;
}

/* Decimal digits of v at o; returns the end. */
static char *
put_u64(char *o, uint64_t v)
{
	int n = ndigits(v);

	put_digits(o + n, v, n);
	return o + n;
}

/*
 * a * b exactly, as hi + lo (Dekker's product: each half-width partial
 * product is exact). No fma(), so libhl7 needs no libm.
 */
static void
exact_product(double a, double b, double *hi, double *lo)
{
	const double split = 134217729.0; /* 2^27 + 1 */
	double as = a * split, bs = b * split;
	double ah = as - (as - a), al = a - ah;
	double bh = bs - (bs - b), bl = b - bh;

	*hi = a * b;
	*lo = ((ah * bh - *hi) + ah * bl + al * bh) + al * bl;
}

/*
 * a (finite, > 0) correctly rounded to prec <= 15 significant digits, as
 * printf rounds it (to nearest, ties to even): *digits (prec digits) times
 * 10^(*exp10 - prec + 1). a * 10^s is held exactly as hi + lo, and the
 * digits are only taken when hi < 10^15 < 2^52, where hi's fraction is
 * exact, so the rounding decision is exact. Returns -1 when 10^s would
 * not be an exact double: the caller then asks printf.
 */
static int
decimal_round(double a, int prec, uint64_t *digits, int *exp10)
{
	uint64_t bits, n;
	double hi, lo, d;
	int e2, x, s, tries;

	memcpy(&bits, &a, sizeof(bits));
	e2 = (int)((bits >> 52) & 0x7ff) - 1023;
	/* floor(e2 * log10(2)): floor(log10(a)) or one less. */
	x = (e2 * 78913 - (e2 < 0 ? 262143 : 0)) / 262144;
	for (tries = 0; tries < 4; tries++) {
		s = prec - 1 - x;
		if (s < 0 || s > 22)
			return -1;
		exact_product(a, num_pow10[s], &hi, &lo);
		if (!(hi < 1e17))
			return -1;
		n = (uint64_t)hi; /* floor: hi >= 0 */
		d = hi - (double)n;
		if (d > 0.5 || (d == 0.5 && (lo > 0 || (lo == 0 && (n & 1)))))
			n++;
		if (n >= p10u[prec])
			x++;
		else if (n < p10u[prec - 1])
			x--;
		else {
			*digits = n;
			*exp10 = x;
			return 0;
		}
	}
	return -1;
}

/* v (< 10^8) as 8 decimal digits, zero-padded, at d. */
static inline void
put8(char *d, uint32_t v)
{
	uint32_t a = v / 10000, b = v % 10000;

	memcpy(d, digit_pairs + 2 * (a / 100), 2);
	memcpy(d + 2, digit_pairs + 2 * (a % 100), 2);
	memcpy(d + 4, digit_pairs + 2 * (b / 100), 2);
	memcpy(d + 6, digit_pairs + 2 * (b % 100), 2);
}

/*
 * The number of '0' digits ending s[0..16), decimal digits of which one at
 * least is not '0'.
 */
static inline int
trailing_zero_digits(const char *s)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t w;

	/* The last digit is a word's highest byte: leading zero bytes. */
	memcpy(&w, s + 8, 8);
	w ^= ONES * '0';
	if (w != 0)
		return __builtin_clzll(w) >> 3;
	memcpy(&w, s, 8);
	w ^= ONES * '0';
	return 8 + (__builtin_clzll(w) >> 3);
#else
	int k;

	for (k = 0; k < 15 && s[15 - k] == '0'; k++)
		;
	return k;
#endif
}

/* digits (< 10^16) as 16 decimal digits at s[0..16), then 16 '0's. */
static inline void
digits16(char s[32], uint64_t digits)
{
	put8(s, (uint32_t)(digits / 100000000));
	put8(s + 8, (uint32_t)(digits % 100000000));
	memset(s + 16, '0', 16);
}

/*
 * What printf's %.{prec}g writes for digits * 10^(exp10 - prec + 1) (as
 * decimal_round gives them, prec <= 15), the digits at s (digits16):
 * trailing zeros dropped, exponent form when exp10 < -4 or exp10 >= prec.
 * At most 25 bytes, but the fixed forms store whole 16-byte words: o needs
 * JSON_NUM_ROOM bytes.
 */
static char *
put_g(char *o, const char *s, int exp10, int prec)
{
	const char *d = s + 16 - prec;
	int len;

	len = prec - trailing_zero_digits(s);
	if (exp10 >= 0 && exp10 < prec) {
		/* d[0..exp10] '.' d[exp10 + 1..len), moved as words */
		memcpy(o, d, 16);
		if (len <= exp10 + 1)
			return o + exp10 + 1;
		o[exp10 + 1] = '.';
		memcpy(o + exp10 + 2, d + exp10 + 1, 16);
		return o + len + 1;
	}
	if (exp10 < 0 && exp10 >= -4) {
		memcpy(o, "0.000000", 8);
		o += 1 - exp10;
		memcpy(o, d, 16);
		return o + len;
	}
	*o++ = d[0];
	if (len > 1) {
		*o++ = '.';
		memcpy(o, d + 1, (size_t)len - 1);
		o += len - 1;
	}
	*o++ = 'e';
	*o++ = exp10 < 0 ? '-' : '+';
	if (abs(exp10) < 10)
		*o++ = '0';
	return put_u64(o, (uint64_t)abs(exp10));
}

char *
json_put_int(char *o, int64_t v)
{
	if (v < 0)
		*o++ = '-';
	return put_u64(o, v < 0 ? -(uint64_t)v : (uint64_t)v);
}

void
json_int(struct buf *b, int64_t v)
{
	char *o = buf_reserve(b, JSON_NUM_ROOM);

	commit(b, o, json_put_int(o, v));
}

char *
json_put_uint(char *o, uint64_t v)
{
	return put_u64(o, v);
}

void
json_uint(struct buf *b, uint64_t v)
{
	char *o = buf_reserve(b, JSON_NUM_ROOM);

	commit(b, o, put_u64(o, v));
}

/*
 * The 15-digit form of v at o when it reads back as v (what the printf
 * loop below stops at first), proven without strtod: m / 10^k with
 * m < 2^53 and k <= 22 is one correctly rounded division, as strtod's
 * result is. NULL when not proven.
 */
static char *
put_shortest15(char *o, double v)
{
	double a = fabs(v);
	char s[32];
	uint64_t n, m;
	int x, k, tz;

	if (decimal_round(a, 15, &n, &x) != 0)
		return NULL;
	digits16(s, n);
	/* m / 10^k: the digits without their trailing zeros */
	tz = trailing_zero_digits(s);
	k = 14 - x;
	if (k <= 0 || tz >= k)
		return NULL;
	k -= tz;
	m = n / p10u[tz];
	if (k > 22 || (double)m / num_pow10[k] != a)
		return NULL;
	if (v < 0)
		*o++ = '-';
	return put_g(o, s, x, 15);
}

char *
json_put_num(char *o, double v)
{
	char *e;
	int prec;

	if (!isfinite(v)) {
		memcpy(o, "null", 4);
		return o + 4;
	}
	if (fabs(v) < 1e15 && v == (double)(int64_t)v)
		return json_put_int(o, (int64_t)v);
	if ((e = put_shortest15(o, v)) != NULL)
		return e;
	/* The shortest %g form that reads back as the same double (<= 24). */
	for (prec = 15; prec <= 17; prec++) {
		snprintf(o, JSON_NUM_ROOM, "%.*g", prec, v);
		if (strtod(o, NULL) == v)
			break;
	}
	return o + strlen(o);
}

bool
json_num_text_is_shortest(const char *p, size_t len)
{
	const char *e, *dot = NULL, *first = NULL;
	size_t sig;

	if (len == 0 || len > 24) /* (p may be NULL then) */
		return false;
	e = p + len;
	if (*p == '-')
		p++;
	if (p == e || *p < '0' || *p > '9')
		return false;
	/* 0, or no leading zero */
	if (*p == '0' && p + 1 < e && p[1] != '.')
		return false;
	for (; p < e; p++) {
		if (*p == '.' && dot == NULL)
			dot = p;
		else if (*p < '0' || *p > '9')
			return false;
		else if (*p != '0' && first == NULL)
			first = p;
	}
	if (dot != NULL && (dot == e - 1 || e[-1] == '0'))
		return false; /* "5." or a trailing zero */
	if (first == NULL)
		return len == 1; /* "0" alone: never "-0" (json_num writes 0) */
	/* digits from the first nonzero one, the point not counted */
	sig = (size_t)(e - first) - (dot != NULL && dot > first);
	if (sig > 15)
		return false;
	/* %.15g's exponent form below 1e-4: "0.0000d" and smaller */
	if (dot != NULL && first > dot && first - dot > 4)
		return false;
	return true;
}

void
json_num(struct buf *b, double v)
{
	char *o = buf_reserve(b, JSON_NUM_ROOM);

	commit(b, o, json_put_num(o, v));
}

char *
json_put_num_rounded(char *o, double v)
{
	char s[32];
	uint64_t n;
	int x;

	if (!isfinite(v)) {
		memcpy(o, "null", 4);
		return o + 4;
	}
	if (v == 0) {
		if (signbit(v))
			*o++ = '-';
		*o = '0';
		return o + 1;
	}
	/* An integer of up to 12 digits: what %.12g writes, digit for digit. */
	if (fabs(v) < 1e12 && v == (double)(int64_t)v)
		return json_put_int(o, (int64_t)v);
	if (decimal_round(fabs(v), 12, &n, &x) != 0)
		return o + snprintf(o, JSON_NUM_ROOM, "%.12g", v);
	if (v < 0)
		*o++ = '-';
	digits16(s, n);
	return put_g(o, s, x, 12);
}

void
json_num_rounded(struct buf *b, double v)
{
	char *o = buf_reserve(b, JSON_NUM_ROOM);

	commit(b, o, json_put_num_rounded(o, v));
}

extern inline void json_key(struct buf *b, const char *key, bool first);

void
json_room_overrun(size_t n)
{
	fprintf(stderr,
	    "json: an unchecked append of %zu bytes passes its "
	    "reservation\n",
	    n);
	abort();
}
