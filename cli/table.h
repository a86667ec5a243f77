/*
 * table.h: output for people: how a command prints (JSON lines or an
 * aligned table, colour or not, how wide) and the one table writer the
 * commands share.
 *
 * Like gh: a table when standard output is a terminal, JSON lines when it
 * is not or with --json; --format table|json forces either. Colour only
 * on a terminal, never with --no-color or a non-empty NO_COLOR
 * (https://no-color.org); --color always|never|auto overrides both.
 */
#ifndef LABWATCH_TABLE_H
#define LABWATCH_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

enum table_format {
	TABLE_FORMAT_AUTO = 0, /* table on a terminal, else JSON */
	TABLE_FORMAT_JSON,
	TABLE_FORMAT_TABLE,
};

enum table_color {
	TABLE_COLOR_AUTO = 0, /* on a terminal, unless NO_COLOR */
	TABLE_COLOR_ALWAYS,
	TABLE_COLOR_NEVER,
};

/* How a command prints; zeroed, then options, then table_out_resolve(). */
struct table_out {
	enum table_format format; /* JSON or TABLE once resolved */
	enum table_color color_opt;
	bool color;   /* write SGR colour sequences */
	size_t width; /* columns: COLUMNS, else the terminal's (TIOCGWINSZ,
			 80 when unknown); 0, no terminal: unlimited */
	bool utf8;    /* the locale is UTF-8: "…", else "..." */
};

/* getopt_long codes of the output options (TABLE_LONGOPTS). */
enum {
	TABLE_OPT_JSON = 0x1000,
	TABLE_OPT_FORMAT,
	TABLE_OPT_COLOR,
	TABLE_OPT_NO_COLOR,
};

/* The output options, for a command's struct option table. */
#define TABLE_LONGOPTS \
	{ "json", no_argument, NULL, TABLE_OPT_JSON }, \
	    { "format", required_argument, NULL, TABLE_OPT_FORMAT }, \
	    { "color", required_argument, NULL, TABLE_OPT_COLOR }, \
	    { "colour", required_argument, NULL, TABLE_OPT_COLOR }, \
	{ \
		"no-color", no_argument, NULL, TABLE_OPT_NO_COLOR \
	}

/* What the output options do, for a usage text. */
extern const char table_usage[];

/*
 * Take output option ch (TABLE_OPT_*) with its argument: 0, or -1 after
 * printing on stderr why the argument is wrong for command cmd.
 */
int table_out_option(struct table_out *o, const char *cmd, int ch,
    const char *arg);
/* Settle what is automatic against stdout, NO_COLOR, TERM, COLUMNS. */
void table_out_resolve(struct table_out *o);

/* SGR styles of a row. */
#define TABLE_STYLE_CRITICAL "\033[1;31m" /* bold red */
#define TABLE_STYLE_HEADER "\033[1m"	  /* bold */

#define TABLE_MAX_COLS 10

/* A column: its title and how it is laid out. */
struct table_col {
	const char *title;
	unsigned flags;
};
#define TABLE_RIGHT 0x1 /* right-aligned (numbers) */
#define TABLE_FILL 0x2	/* the last column: what the width leaves, cut */

/*
 * A table: rows of cells (copied, control characters made blanks),
 * measured and written by table_write(). Owned by its caller, released
 * with table_free().
 */
struct table {
	const struct table_col *cols;
	size_t ncols;
	const struct table_out *out;
	size_t w[TABLE_MAX_COLS]; /* widths, kept from one write to the next */
	char **cells;		  /* nrows * ncols */
	const char **style;	  /* per row, NULL: none */
	size_t nrows, cap;
};

void table_init(struct table *t, const struct table_col *cols, size_t ncols,
    const struct table_out *out);
/* Add a row of ncols cells (NULL: empty) in style (NULL: plain). */
void table_add(struct table *t, const char *const *cells, const char *style);
/*
 * Append the rows to b, with the titles first when header, aligned on
 * the widest cell of each column so far (a later write, as --follow
 * makes, keeps the widths and widens them), and forget the rows.
 */
void table_write(struct table *t, struct buf *b, bool header);
void table_free(struct table *t);

/* Columns s takes on a terminal (UTF-8; wide characters count two). */
size_t table_width(const char *s);
/* Append s cut to max columns, "…" (or "...") ending what was cut. */
void table_add_cut(struct buf *b, const char *s, size_t max, bool utf8);

/* "42s", "3m", "2h", "4d": how long ago an ISO 8601 UTC time was. */
void table_age(char *out, size_t cap, const char *iso, long long now);

#endif
