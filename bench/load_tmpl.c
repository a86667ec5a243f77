/*
 * load_tmpl.c: mllp_load's templates (see load_tmpl.h).
 */
#include "load_tmpl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mllp_load.h"

struct tmpl *tmpls;
size_t ntmpl;
uint64_t tmpl_bytes;

static void
tmpl_add(const char *msg, size_t len)
{
	char *m;
	size_t i, n = 0, start = 0, end;
	int seps = 0;
	char sep;
	struct tmpl *t;

	/* Segments end with CR alone, as MLLP senders send them. */
	m = load_xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		if (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n')
			continue;
		m[n++] = msg[i] == '\n' ? '\r' : msg[i];
	}
	while (
	    n > 0 && (m[n - 1] == '\r' || m[n - 1] == ' ' || m[n - 1] == '\t'))
		n--;
	if (n < 8 || memcmp(m, "MSH", 3) != 0) {
		free(m);
		return;
	}
	m[n++] = '\r';
	sep = m[3];
	/* MSH-1 is the separator itself: MSH-10 follows the ninth one. */
	for (i = 3; i < n && m[i] != '\r'; i++) {
		if (m[i] == sep && ++seps == 9) {
			start = i + 1;
			break;
		}
	}
	if (start == 0)
		load_fatalx("template message %zu has no MSH-10", ntmpl + 1);
	for (end = start; end < n && m[end] != sep && m[end] != '\r'; end++)
		;

	tmpls = load_xrealloc(tmpls, (ntmpl + 1) * sizeof(*tmpls));
	t = &tmpls[ntmpl++];
	t->prelen = start + 1;
	t->pre = load_xmalloc(t->prelen);
	t->pre[0] = MLLP_SB;
	memcpy(t->pre + 1, m, start);
	t->postlen = n - end + 2;
	t->post = load_xmalloc(t->postlen);
	memcpy(t->post, m + end, n - end);
	t->post[n - end] = MLLP_EB;
	t->post[n - end + 1] = MLLP_CR;
	tmpl_bytes += start + (n - end);
	free(m);
}

/* A message starts at "MSH" plus a separator at the start of a segment. */
static bool
msh_at(const char *p, size_t i, size_t len)
{
	return i + 4 <= len && memcmp(p + i, "MSH", 3) == 0 &&
	    (i == 0 || p[i - 1] == '\r' || p[i - 1] == '\n');
}

void
tmpl_load(const char *path)
{
	FILE *f;
	char *p = NULL;
	size_t len = 0, cap = 0, n, i, s;

	if ((f = fopen(path, "rb")) == NULL)
		load_fatalx("%s: %s", path, strerror(errno));
	for (;;) {
		if (cap - len < 65536)
			p = load_xrealloc(p, cap = cap ? cap * 2 : 1 << 20);
		if ((n = fread(p + len, 1, cap - len, f)) == 0)
			break;
		len += n;
	}
	if (ferror(f))
		load_fatalx("%s: read error", path);
	fclose(f);

	if (memchr(p, MLLP_SB, len) != NULL) {
		/* MLLP-framed: the payload between each 0x0B and 0x1C. */
		for (i = 0; i < len; i++) {
			if (p[i] != MLLP_SB)
				continue;
			for (s = ++i; i < len && p[i] != MLLP_EB; i++)
				;
			tmpl_add(p + s, i - s);
		}
	} else {
		for (s = 0, i = 1; i <= len; i++) {
			if (i == len || msh_at(p, i, len)) {
				tmpl_add(p + s, i - s);
				s = i;
			}
		}
	}
	free(p);
	if (ntmpl == 0)
		load_fatalx("%s: no HL7 message found", path);
}
