/*
 * board.h: what the board's server (cli/board.c) and its pages
 * (cli/board_pages.c, cli/board_chart.c) share.
 */
#ifndef LABWATCH_CLI_BOARD_H
#define LABWATCH_CLI_BOARD_H

#include "lib/buf.h"

struct pg_conn;
struct evkeyvalq;
struct board_session;
struct board_events_counts;

/*
 * A page: reads the query q (decoded), appends the whole HTML document to
 * out and returns the HTTP status (200, 404, 400; 500 after a database
 * error, said in *cause, which holds no patient data). s: the session
 * (NULL: the board runs without users); its role decides the buttons,
 * its CSRF token goes in every form.
 */
typedef int board_page_fn(struct pg_conn *c, const struct evkeyvalq *q,
    const struct board_session *s, struct buf *out, char **cause);

board_page_fn board_alerts, board_alert, board_screening, board_patient,
    board_status;

/*
 * The board's session: cli_db_open's (schema checked, *exit_code on
 * failure), with JIT off (its compile time, tens of milliseconds, is what
 * the planner's guesses of the criteria JSON's rows would buy) and no
 * parallel workers.
 */
struct pg_conn *board_db_open(const char *conninfo, int *exit_code);

/*
 * The page number asked for in q ("page", from 1) within 1..pages (1 when
 * there is none, or no pages).
 */
int board_page_number(const struct evkeyvalq *q, int pages);

/*
 * The start of every page: title (escaped), the links, the stylesheet;
 * with a session, who is logged in and the logout button.
 */
void board_head(struct buf *b, const char *title,
    const struct board_session *s);
/* The login page: a form with the login CSRF token csrf; msg or NULL. */
void board_login_page(struct buf *b, const char *csrf, const char *msg);
/* The end of every page. */
void board_foot(struct buf *b);

/*
 * The trend chart of one analyte as inline SVG: the rows [from, to) of r
 * (board_pages.c's results query: analyte, observed, epoch, value, unit,
 * lln, uln, grade, ...). ULN lines at 1x, 3x, 5x, 20x where a ULN is
 * known; one circle per result with a value, coloured by grade.
 */
void board_chart(struct buf *b, const struct pg_result *r, int from, int to);

/*
 * The live streams' figures of the board this process serves (board.c;
 * zeros before it serves): the status page shows them.
 */
void board_live_counts(struct board_events_counts *out);

/* The stylesheet (/board.css): no inline styles under the CSP. */
extern const char board_css[];

#endif
