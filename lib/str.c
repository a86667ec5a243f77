/*
 * str.c: string helpers.
 */
#include "lib/str.h"

#include <string.h>

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

char *
str_trim(char *s)
{
	char *e;

	while (is_blank(*s))
		s++;
	e = s + strlen(s);
	while (e > s && (is_blank(e[-1]) || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	*e = '\0';
	return s;
}
