/*
 * html.h: the one HTML escaping of the board (cli/board*.c): every string
 * that comes from the database or a request goes through html_esc before
 * it reaches a page.
 */
#ifndef LABWATCH_CLI_HTML_H
#define LABWATCH_CLI_HTML_H

#include "lib/buf.h"

/*
 * Append s to b with & < > " ' as character references, so that it is
 * text in an element or a quoted attribute value, never markup.
 */
void html_esc(struct buf *b, const char *s);
/* Append s percent-encoded for a URL's query value (all but A-Za-z0-9-_.~). */
void html_url(struct buf *b, const char *s);

#endif
