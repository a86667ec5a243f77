/*
 * str.h: string helpers shared by the readers of files and messages.
 * "Blank" means a space or a tab; line ends are CR and LF.
 */
#ifndef LABWATCH_STR_H
#define LABWATCH_STR_H

#include <stddef.h>

/*
 * Trim s in place: blanks go from the start; blanks and line ends (CR,
 * LF) from the end, where a NUL is written. Returns the first byte kept.
 */
char *str_trim(char *s);
/*
 * Trim the span *p[0..len) of blanks at both ends without writing:
 * *p moves past the leading ones; returns the length left. Inline: every
 * code, unit and value of a result goes through it, most with nothing
 * to trim.
 */
static inline size_t
str_trim_span(const char **p, size_t len)
{
	const char *s = *p;

	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	*p = s;
	return len;
}

#endif
