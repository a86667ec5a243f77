#include "json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1: byte can be copied as is; 0: needs a look (escape or UTF-8 check). */
static const uint8_t plain[256] = {
	['\x20'] = 1, ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1,
	['\''] = 1, ['('] = 1, [')'] = 1, ['*'] = 1, ['+'] = 1, [','] = 1,
	['-'] = 1, ['.'] = 1, ['/'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1,
	['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1,
	['9'] = 1, [':'] = 1, [';'] = 1, ['<'] = 1, ['='] = 1, ['>'] = 1,
	['?'] = 1, ['@'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1,
	['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1,
	['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
	['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1,
	['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['['] = 1, [']'] = 1,
	['^'] = 1, ['_'] = 1, ['`'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,
	['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
	['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1,
	['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
	['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['{'] = 1,
	['|'] = 1, ['}'] = 1, ['~'] = 1,
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

void
json_str(struct hl7_buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	const unsigned char *run;
	size_t u;

	hl7_buf_addc(b, '"');
	while (p < end) {
		for (run = p; p < end && plain[*p]; p++)
			;
		if (p > run)
			hl7_buf_add(b, run, (size_t)(p - run));
		if (p == end)
			break;
		switch (*p) {
		case '"': hl7_buf_add(b, "\\\"", 2); p++; continue;
		case '\\': hl7_buf_add(b, "\\\\", 2); p++; continue;
		case '\n': hl7_buf_add(b, "\\n", 2); p++; continue;
		case '\r': hl7_buf_add(b, "\\r", 2); p++; continue;
		case '\t': hl7_buf_add(b, "\\t", 2); p++; continue;
		default: break;
		}
		if (*p < 0x20 || *p == 0x7f) {
			hl7_buf_printf(b, "\\u%04x", *p);
			p++;
		} else if ((u = utf8_len(p, (size_t)(end - p))) > 0) {
			hl7_buf_add(b, p, u);
			p += u;
		} else {
			hl7_buf_add(b, "\xef\xbf\xbd", 3);
			p++;
		}
	}
	hl7_buf_addc(b, '"');
}

void
json_strz(struct hl7_buf *b, const char *s)
{
	if (s == NULL)
		hl7_buf_add(b, "null", 4);
	else
		json_str(b, s, strlen(s));
}

void
json_str_or_null(struct hl7_buf *b, const char *p, size_t len)
{
	if (len == 0)
		hl7_buf_add(b, "null", 4);
	else
		json_str(b, p, len);
}

void
json_num(struct hl7_buf *b, double v)
{
	char tmp[32];
	int prec;

	if (!isfinite(v)) {
		hl7_buf_add(b, "null", 4);
		return;
	}
	if (fabs(v) < 1e15 && v == (double)(int64_t)v) {
		hl7_buf_printf(b, "%lld", (long long)v);
		return;
	}
	/* The shortest %g form that reads back as the same double. */
	for (prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	hl7_buf_adds(b, tmp);
}

void
json_num_rounded(struct hl7_buf *b, double v)
{
	if (!isfinite(v))
		hl7_buf_add(b, "null", 4);
	else
		hl7_buf_printf(b, "%.12g", v);
}

void
json_key(struct hl7_buf *b, const char *key, bool first)
{
	if (!first)
		hl7_buf_addc(b, ',');
	hl7_buf_addc(b, '"');
	hl7_buf_adds(b, key);
	hl7_buf_add(b, "\":", 2);
}
