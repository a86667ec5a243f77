/*
 * ini.h: the line reader under labwatch's INI-style files (labwatchd.conf
 * and the rules data files). It splits a stream into items, one a line,
 * and counts lines; what keys and sections mean is the caller's table.
 *
 * Syntax: blank lines and lines starting with '#' are skipped;
 * "[name]" or "[name argument]" opens a section; "key = value" sets a key.
 * Blanks around names, keys and values go, and a CR before the LF too
 * (CRLF files). A key may repeat: every occurrence is returned, the
 * caller decides. Lines have no length limit.
 */
#ifndef LABWATCH_INI_H
#define LABWATCH_INI_H

#include <stdio.h>

#include "lib/attr.h"

#define INI_SECTION_MAX 32 /* a section name is shorter than this */
#define INI_ARG_MAX 64	   /* and its argument too */

/* Dialects: or'ed into the flags of ini_init(). */
enum ini_flags {
	INI_SEMICOLON = 1 << 0,	     /* ';' also starts a comment line */
	INI_INLINE_COMMENT = 1 << 1, /* '#' after a blank ends the line */
	INI_UNQUOTE = 1 << 2,	     /* "value" in double quotes loses them */
};

/* What ini_next() found. */
enum ini_item {
	INI_END = 0, /* no more lines; r->error says why when it failed */
	INI_SECTION, /* a section header: r->section, r->arg */
	INI_KEY,     /* key = value: r->key, r->val */
	INI_ERROR,   /* a line that is neither: r->error */
};

/* Why a line (or the stream) is refused. */
enum ini_error {
	INI_OK = 0,
	INI_ERR_NUL,	       /* the line holds a NUL byte */
	INI_ERR_SYNTAX,	       /* neither [section] nor key = value */
	INI_ERR_EMPTY_KEY,     /* "= value" */
	INI_ERR_SECTION_CLOSE, /* '[' without a ']' that ends the line */
	INI_ERR_SECTION_NAME,  /* "[]", or a name of INI_SECTION_MAX bytes */
	INI_ERR_SECTION_ARG,   /* an argument of INI_ARG_MAX bytes or more */
	INI_ERR_TOO_BIG,       /* more than max_bytes (the stream is left) */
	INI_ERR_READ,	       /* the stream failed */
};

/*
 * A reader over a stream the caller opened and closes. Owner: the caller,
 * who embeds it, ini_init()s it and ini_free()s it once. The strings of
 * an item stay valid until the next ini_next().
 */
struct ini_reader {
	FILE *f;
	unsigned flags;
	size_t max_bytes; /* 0: no limit; set after ini_init() */
	size_t bytes;	  /* read so far */
	char *buf;	  /* the current line (getline's buffer) */
	size_t cap;

	int line; /* 1-based number of the last line read */
	/* the line, trimmed, for INI_SECTION and a header or syntax error */
	const char *text;
	char section[INI_SECTION_MAX]; /* the open section, "" before any */
	char arg[INI_ARG_MAX];	       /* its argument, "" when none */
	int section_line;	       /* where it opened, 0 before any */
	char *key, *val;	       /* INI_KEY */
	enum ini_error error; /* INI_ERROR, or INI_END after a failure */
};

/* Start reading f with the dialect flags (enum ini_flags). */
void ini_init(struct ini_reader *r, FILE *f, unsigned flags);
/* Release what the reader holds (not the stream). */
void ini_free(struct ini_reader *r);
/*
 * The next item. After INI_ERROR reading may go on with the next line;
 * after INI_END it stays INI_END.
 */
LW_MUSTCHECK enum ini_item ini_next(struct ini_reader *r);
/* A short description of an error, for "file:line: what". */
const char *ini_strerror(enum ini_error e);

#endif
