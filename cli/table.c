/*
 * table.c: JSON or a table, colour or not, and the table writer (see
 * table.h).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/table.h"
#include "lib/xmalloc.h"

const char table_usage[] =
    "  --json              JSON lines (the default when stdout is not a "
    "terminal)\n"
    "  --format table|json force the table for people, or JSON lines\n"
    "  --color WHEN        always, never or auto (default: on a terminal, "
    "unless\n"
    "                      NO_COLOR is set); --no-color is --color never\n";

int
table_out_option(struct table_out *o, const char *cmd, int ch, const char *arg)
{
	switch (ch) {
	case TABLE_OPT_JSON:
		o->format = TABLE_FORMAT_JSON;
		return 0;
	case TABLE_OPT_FORMAT:
		if (strcmp(arg, "json") == 0)
			o->format = TABLE_FORMAT_JSON;
		else if (strcmp(arg, "table") == 0)
			o->format = TABLE_FORMAT_TABLE;
		else {
			fprintf(stderr,
			    "labwatch %s: --format is table or json\n", cmd);
			return -1;
		}
		return 0;
	case TABLE_OPT_COLOR:
		if (strcmp(arg, "always") == 0)
			o->color_opt = TABLE_COLOR_ALWAYS;
		else if (strcmp(arg, "never") == 0)
			o->color_opt = TABLE_COLOR_NEVER;
		else if (strcmp(arg, "auto") == 0)
			o->color_opt = TABLE_COLOR_AUTO;
		else {
			fprintf(stderr,
			    "labwatch %s: --color is always, never or auto\n",
			    cmd);
			return -1;
		}
		return 0;
	case TABLE_OPT_NO_COLOR:
		o->color_opt = TABLE_COLOR_NEVER;
		return 0;
	default:
		return -1;
	}
}

static bool
locale_utf8(void)
{
	static const char *const vars[] = { "LC_ALL", "LC_CTYPE", "LANG" };
	const char *v;
	size_t i;

	/* The first one set decides, as setlocale() would. */
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if ((v = getenv(vars[i])) != NULL && *v != '\0')
			return strstr(v, "UTF-8") != NULL ||
			    strstr(v, "utf8") != NULL ||
			    strstr(v, "utf-8") != NULL ||
			    strstr(v, "UTF8") != NULL;
	return false;
}

void
table_out_resolve(struct table_out *o)
{
	const char *env, *term;
	struct winsize ws;
	bool tty = isatty(STDOUT_FILENO) == 1;
	char *end;
	long n;

	if (o->format == TABLE_FORMAT_AUTO)
		o->format = tty ? TABLE_FORMAT_TABLE : TABLE_FORMAT_JSON;
	env = getenv("NO_COLOR");
	term = getenv("TERM");
	switch (o->color_opt) {
	case TABLE_COLOR_ALWAYS:
		o->color = true;
		break;
	case TABLE_COLOR_NEVER:
		o->color = false;
		break;
	default:
		o->color = tty && (env == NULL || *env == '\0') &&
		    (term == NULL || strcmp(term, "dumb") != 0);
		break;
	}
	if (o->format != TABLE_FORMAT_TABLE)
		o->color = false;
	/* Not a terminal and no COLUMNS: nothing to fit, nothing cut. */
	o->width = tty ? 80 : 0;
	env = getenv("COLUMNS");
	if (env != NULL && (n = strtol(env, &end, 10)) > 0 && *end == '\0' &&
	    n < 10000)
		o->width = (size_t)n;
	else if (tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
	    ws.ws_col > 0)
		o->width = ws.ws_col;
	o->utf8 = locale_utf8();
}

/*
 * Decode one UTF-8 character of s: its code point, or -1 for a byte that
 * does not start a valid sequence; *len its bytes.
 */
static int32_t
utf8_next(const unsigned char *s, size_t *len)
{
	int32_t cp;
	size_t n, i;

	if (s[0] < 0x80) {
		*len = 1;
		return s[0];
	}
	if ((s[0] & 0xe0) == 0xc0 && s[0] >= 0xc2) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		*len = 1;
		return -1;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*len = 1;
			return -1;
		}
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
		*len = 1;
		return -1;
	}
	*len = n;
	return cp;
}

/* Columns of one code point: combining marks 0, East Asian wide 2. */
static size_t
cp_width(int32_t cp)
{
	if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) ||
	    (cp >= 0xfe00 && cp <= 0xfe0f))
		return 0;
	if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) ||
	    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
	    (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
	    (cp >= 0xffe0 && cp <= 0xffe6) ||
	    (cp >= 0x1f300 && cp <= 0x1f64f) ||
	    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
	    (cp >= 0x20000 && cp <= 0x3fffd))
		return 2;
	return 1;
}

size_t
table_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t w = 0, len;
	int32_t cp;

	while (*p != '\0') {
		cp = utf8_next(p, &len);
		w += cp < 0 ? 1 : cp_width(cp);
		p += len;
	}
	return w;
}

void
table_add_cut(struct buf *b, const char *s, size_t max, bool utf8)
{
	const unsigned char *p = (const unsigned char *)s;
	const char *dots = utf8 ? "…" : "...";
	size_t w = 0, dw = utf8 ? 1 : 3, len, cw;
	int32_t cp;

	if (table_width(s) <= max) {
		buf_adds(b, s);
		return;
	}
	if (max < dw) {
		buf_add(b, dots, max); /* "." or ".." */
		return;
	}
	while (*p != '\0') {
		cp = utf8_next(p, &len);
		cw = cp < 0 ? 1 : cp_width(cp);
		if (w + cw > max - dw)
			break;
		buf_add(b, p, len);
		w += cw;
		p += len;
	}
	buf_adds(b, dots);
}

/* Bidirectional controls: they reorder what a terminal shows after them. */
static bool
is_bidi(int32_t cp)
{
	return cp == 0x61c || cp == 0x200e || cp == 0x200f ||
	    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/*
 * A copy of s fit for a terminal: C0 and C1 controls (ESC, CSI: what
 * a sender put in a field must not move the cursor or recolour), bidi
 * controls (nor reorder the line) and bytes that are not UTF-8 become
 * blanks and '?'.
 */
static char *
clean(const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	struct buf b;
	size_t len;
	int32_t cp;

	buf_init(&b);
	while (*p != '\0') {
		cp = utf8_next(p, &len);
		if (cp < 0)
			buf_addc(&b, '?');
		else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) ||
		    is_bidi(cp))
			buf_addc(&b, ' ');
		else
			buf_add(&b, p, len);
		p += len;
	}
	if (b.p == NULL)
		return xstrdup("");
	return b.p;
}

void
table_init(struct table *t, const struct table_col *cols, size_t ncols,
    const struct table_out *out)
{
	size_t i;

	if (ncols > TABLE_MAX_COLS)
		ncols = TABLE_MAX_COLS;
	memset(t, 0, sizeof(*t));
	t->cols = cols;
	t->ncols = ncols;
	t->out = out;
	for (i = 0; i < ncols; i++)
		t->w[i] = table_width(cols[i].title);
}

void
table_add(struct table *t, const char *const *cells, const char *style)
{
	size_t i;

	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 32;
		t->cells = xreallocarray(t->cells, t->cap * t->ncols,
		    sizeof(*t->cells));
		t->style = xreallocarray(t->style, t->cap, sizeof(*t->style));
	}
	for (i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = clean(cells[i]);
	t->style[t->nrows] = style;
	t->nrows++;
}

/* Append one row of cells in style; the FILL column gets what is left. */
static void
write_row(struct table *t, struct buf *b, char *const *cells, const char *style)
{
	size_t i, used = 0, w, pad;

	if (style != NULL && t->out->color)
		buf_adds(b, style);
	for (i = 0; i < t->ncols; i++) {
		if (i > 0) {
			buf_adds(b, "  ");
			used += 2;
		}
		w = table_width(cells[i]);
		if (t->cols[i].flags & TABLE_FILL) {
			/* At least 10 columns, even past the edge. */
			pad = t->out->width > used + 10 ? t->out->width - used :
							  10;
			if (t->out->width == 0)
				buf_adds(b, cells[i]);
			else
				table_add_cut(b, cells[i], pad, t->out->utf8);
			break;
		}
		pad = t->w[i] > w ? t->w[i] - w : 0;
		if (t->cols[i].flags & TABLE_RIGHT)
			for (; pad > 0; pad--)
				buf_addc(b, ' ');
		buf_adds(b, cells[i]);
		if (i + 1 < t->ncols)
			for (; pad > 0; pad--)
				buf_addc(b, ' ');
		used += t->w[i];
	}
	/* No blanks at the end of a line. */
	while (b->len > 0 && b->p[b->len - 1] == ' ')
		b->p[--b->len] = '\0';
	if (style != NULL && t->out->color)
		buf_adds(b, "\033[0m");
	buf_addc(b, '\n');
}

void
table_write(struct table *t, struct buf *b, bool header)
{
	char *titles[TABLE_MAX_COLS];
	size_t r, i, w;

	for (r = 0; r < t->nrows; r++)
		for (i = 0; i < t->ncols; i++)
			if ((w = table_width(t->cells[r * t->ncols + i])) >
			    t->w[i])
				t->w[i] = w;
	if (header) {
		for (i = 0; i < t->ncols; i++)
			titles[i] = (char *)t->cols[i].title;
		write_row(t, b, titles, TABLE_STYLE_HEADER);
	}
	for (r = 0; r < t->nrows; r++) {
		write_row(t, b, &t->cells[r * t->ncols], t->style[r]);
		for (i = 0; i < t->ncols; i++)
			free(t->cells[r * t->ncols + i]);
	}
	t->nrows = 0;
}

void
table_free(struct table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->style);
	memset(t, 0, sizeof(*t));
}

void
table_age(char *out, size_t cap, const char *iso, long long now)
{
	struct tm tm;
	long long s;

	memset(&tm, 0, sizeof(tm));
	if (iso == NULL || strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL) {
		snprintf(out, cap, "?");
		return;
	}
	s = now - (long long)timegm(&tm);
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(out, cap, "%llds", s);
	else if (s < 3600)
		snprintf(out, cap, "%lldm", s / 60);
	else if (s < 86400)
		snprintf(out, cap, "%lldh", s / 3600);
	else
		snprintf(out, cap, "%lldd", s / 86400);
}
