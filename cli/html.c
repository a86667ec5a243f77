/*
 * html.c: HTML text and URL query escaping for the board.
 */
#include "config.h"

#include "cli/html.h"

void
html_esc(struct buf *b, const char *s)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		const char *ref;

		switch (*s) {
		case '&':
			ref = "&amp;";
			break;
		case '<':
			ref = "&lt;";
			break;
		case '>':
			ref = "&gt;";
			break;
		case '"':
			ref = "&quot;";
			break;
		case '\'':
			ref = "&#39;";
			break;
		default:
			continue;
		}
		buf_add(b, run, (size_t)(s - run));
		buf_adds(b, ref);
		run = s + 1;
	}
	buf_add(b, run, (size_t)(s - run));
}

void
html_url(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char ch;

	for (; *s != '\0'; s++) {
		ch = (unsigned char)*s;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.' || ch == '~') {
			buf_addc(b, (char)ch);
			continue;
		}
		buf_addc(b, '%');
		buf_addc(b, hex[ch >> 4]);
		buf_addc(b, hex[ch & 15]);
	}
}
