/*
 * ini.c: one line at a time through getline(), so a line of any length
 * and a NUL inside a line are seen for what they are.
 */
#include "lib/ini.h"

#include <stdlib.h>
#include <string.h>

#include "lib/str.h"

void
ini_init(struct ini_reader *r, FILE *f, unsigned flags)
{
	memset(r, 0, sizeof(*r));
	r->f = f;
	r->flags = flags;
}

void
ini_free(struct ini_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}

const char *
ini_strerror(enum ini_error e)
{
	switch (e) {
	case INI_OK:
		return "no error";
	case INI_ERR_NUL:
		return "holds a NUL byte";
	case INI_ERR_SYNTAX:
		return "expected 'key = value' or '[section]'";
	case INI_ERR_EMPTY_KEY:
		return "empty key";
	case INI_ERR_SECTION_CLOSE:
		return "section header without closing ']'";
	case INI_ERR_SECTION_NAME:
		return "empty or too long section name";
	case INI_ERR_SECTION_ARG:
		return "section argument too long";
	case INI_ERR_TOO_BIG:
		return "file too large";
	case INI_ERR_READ:
		return "read error";
	}
	return "unknown error";
}

static enum ini_item
fail(struct ini_reader *r, enum ini_error e)
{
	r->error = e;
	return INI_ERROR;
}

/* Cut a comment off s; s is not yet trimmed. */
static void
cut_comment(struct ini_reader *r, char *s)
{
	char *hash;

	if (!(r->flags & INI_INLINE_COMMENT))
		return;
	/* A comment starts a line or follows a blank. */
	for (hash = s; (hash = strchr(hash, '#')) != NULL; hash++)
		if (hash == s || hash[-1] == ' ' || hash[-1] == '\t') {
			*hash = '\0';
			return;
		}
}

/* "[name]" or "[name arg]" in s (trimmed); s itself is left as it is. */
static enum ini_item
section(struct ini_reader *r, const char *s)
{
	const char *close = strchr(s, ']'), *name = s + 1, *arg = "";
	size_t len, nlen, alen = 0;

	if (close == NULL || close[1] != '\0')
		return fail(r, INI_ERR_SECTION_CLOSE);
	len = str_trim_span(&name, (size_t)(close - name));
	for (nlen = 0; nlen < len && name[nlen] != ' ' && name[nlen] != '\t';
	     nlen++)
		;
	if (nlen < len) {
		arg = name + nlen + 1;
		alen = str_trim_span(&arg, len - nlen - 1);
		if (alen >= INI_ARG_MAX)
			return fail(r, INI_ERR_SECTION_ARG);
	}
	if (nlen == 0 || nlen >= INI_SECTION_MAX)
		return fail(r, INI_ERR_SECTION_NAME);
	memcpy(r->section, name, nlen);
	r->section[nlen] = '\0';
	memcpy(r->arg, arg, alen);
	r->arg[alen] = '\0';
	r->section_line = r->line;
	return INI_SECTION;
}

/* "key = value" in s (trimmed). */
static enum ini_item
key_value(struct ini_reader *r, char *s)
{
	char *eq = strchr(s, '=');
	size_t vl;

	if (eq == NULL)
		return fail(r, INI_ERR_SYNTAX);
	r->text = NULL; /* about to be cut in two */
	*eq = '\0';
	r->key = str_trim(s);
	r->val = str_trim(eq + 1);
	if (r->flags & INI_UNQUOTE) {
		vl = strlen(r->val);
		if (vl >= 2 && r->val[0] == '"' && r->val[vl - 1] == '"') {
			r->val[vl - 1] = '\0';
			r->val++;
		}
	}
	if (r->key[0] == '\0')
		return fail(r, INI_ERR_EMPTY_KEY);
	return INI_KEY;
}

enum ini_item
ini_next(struct ini_reader *r)
{
	ssize_t got;
	char *s;

	r->text = NULL;
	r->key = r->val = NULL;
	for (;;) {
		if (r->error == INI_ERR_READ || r->error == INI_ERR_TOO_BIG)
			return INI_END;
		r->error = INI_OK;
		if ((got = getline(&r->buf, &r->cap, r->f)) == -1) {
			if (ferror(r->f))
				r->error = INI_ERR_READ;
			return INI_END;
		}
		r->line++;
		r->bytes += (size_t)got;
		if (r->max_bytes != 0 && r->bytes > r->max_bytes) {
			r->error = INI_ERR_TOO_BIG;
			return INI_ERROR;
		}
		/* Past a NUL the string functions see nothing: the line would be cut or skipped unseen. */
		if (memchr(r->buf, '\0', (size_t)got) != NULL)
			return fail(r, INI_ERR_NUL);
		cut_comment(r, r->buf);
		s = str_trim(r->buf);
		r->text = s;
		if (*s == '\0' || *s == '#' ||
		    (*s == ';' && (r->flags & INI_SEMICOLON)))
			continue;
		if (*s == '[')
			return section(r, s);
		return key_value(r, s);
	}
}
