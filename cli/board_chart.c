/*
 * board_chart.c: a trend chart of one analyte as inline SVG, drawn here
 * (no script, no external asset): time on x, the value on y from 0, the
 * 1x, 3x, 5x and 20x ULN lines where a ULN is known and within the range
 * shown (1x always), the LLN where known, and one circle per result
 * coloured by its CTCAE grade (a <title> says value, date and grade).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cli/board.h"
#include "cli/html.h"

#define W 600.0
#define H 220.0
#define LEFT 56.0
#define RIGHT 12.0
#define TOP 22.0
#define BOTTOM 26.0

/* The fill of a grade ("" not graded). */
static const char *
grade_colour(const char *g)
{
	static const char *const colours[] = { "#2a7", "#bb0", "#f80", "#d22",
		"#808", "#404" };
	int n;

	if (*g == '\0')
		return "#678";
	n = atoi(g);
	return colours[n < 0 ? 0 : n > 5 ? 5 : n];
}

struct scale {
	double x0, x1, y1;
};

static double
sx(const struct scale *s, double t)
{
	return LEFT + (t - s->x0) / (s->x1 - s->x0) * (W - LEFT - RIGHT);
}

static double
sy(const struct scale *s, double v)
{
	return H - BOTTOM - v / s->y1 * (H - TOP - BOTTOM);
}

/* A horizontal reference line at v, labelled. */
static void
hline(struct buf *b, const struct scale *s, double v, const char *cls,
    const char *label, const char *colour)
{
	buf_printf(b,
	    "<line class=\"%s\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" "
	    "y2=\"%.1f\" stroke=\"%s\" stroke-dasharray=\"4 3\"/>"
	    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"%s\" "
	    "text-anchor=\"end\">%s</text>\n",
	    cls, LEFT, W - RIGHT, sy(s, v), sy(s, v), colour, W - RIGHT - 2,
	    sy(s, v) - 2, colour, label);
}

/* The range shown: times and values of rows [from, to); *uln, *lln. */
static int
scale_of(const PGresult *r, int from, int to, struct scale *s, double *uln,
    double *lln)
{
	double t, v;
	int i, n = 0;

	*uln = *lln = 0;
	s->y1 = 0;
	for (i = from; i < to; i++) {
		if (!PQgetisnull(r, i, 6))
			*uln = atof(PQgetvalue(r, i, 6));
		if (!PQgetisnull(r, i, 5))
			*lln = atof(PQgetvalue(r, i, 5));
		if (PQgetisnull(r, i, 2) || PQgetisnull(r, i, 3))
			continue;
		t = atof(PQgetvalue(r, i, 2));
		v = atof(PQgetvalue(r, i, 3));
		if (n == 0 || t < s->x0)
			s->x0 = t;
		if (n == 0 || t > s->x1)
			s->x1 = t;
		if (v > s->y1)
			s->y1 = v;
		n++;
	}
	if (n == 0)
		return 0;
	if (s->x1 - s->x0 < 3600) {
		s->x0 -= 43200;
		s->x1 += 43200;
	}
	if (*uln * 1.15 > s->y1)
		s->y1 = *uln * 1.15;
	s->y1 = s->y1 > 0 ? s->y1 * 1.1 : 1;
	return n;
}

void
board_chart(struct buf *b, const PGresult *r, int from, int to)
{
	static const int multiples[] = { 1, 3, 5, 20 };
	const char *analyte = PQgetvalue(r, from, 0);
	struct scale s;
	double uln, lln;
	char label[32];
	size_t k;
	int i, n;

	if ((n = scale_of(r, from, to, &s, &uln, &lln)) == 0)
		return;
	buf_adds(b, "<figure><svg class=\"chart\" data-analyte=\"");
	html_esc(b, analyte);
	buf_printf(b,
	    "\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" "
	    "width=\"%.0f\" height=\"%.0f\" role=\"img\"><text x=\"%.1f\" "
	    "y=\"14\" font-size=\"12\" font-weight=\"bold\">",
	    W, H, W, H, LEFT);
	html_esc(b, analyte);
	buf_adds(b, " (");
	html_esc(b, PQgetvalue(r, from, 4));
	buf_printf(b,
	    ")</text><line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" "
	    "stroke=\"#333\"/><line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" "
	    "y2=\"%.1f\" stroke=\"#333\"/>"
	    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" "
	    "text-anchor=\"end\">%.4g</text>\n",
	    LEFT, W - RIGHT, H - BOTTOM, H - BOTTOM, LEFT, LEFT, TOP,
	    H - BOTTOM, LEFT - 4, TOP + 4, s.y1);
	for (k = 0; uln > 0 && k < sizeof(multiples) / sizeof(*multiples); k++)
		if (k == 0 || multiples[k] * uln <= s.y1) {
			snprintf(label, sizeof(label), "%dx ULN", multiples[k]);
			hline(b, &s, multiples[k] * uln, "uln", label,
			    k < 2 ? "#a60" : "#c00");
		}
	if (lln > 0)
		hline(b, &s, lln, "lln", "LLN", "#06a");
	for (i = from; i < to; i++) {
		if (PQgetisnull(r, i, 2) || PQgetisnull(r, i, 3))
			continue;
		buf_printf(b,
		    "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\" "
		    "fill=\"%s\"><title>",
		    sx(&s, atof(PQgetvalue(r, i, 2))),
		    sy(&s, atof(PQgetvalue(r, i, 3))),
		    grade_colour(PQgetvalue(r, i, 7)));
		html_esc(b, PQgetvalue(r, i, 3));
		buf_adds(b, " ");
		html_esc(b, PQgetvalue(r, i, 4));
		buf_adds(b, ", ");
		html_esc(b, PQgetvalue(r, i, 1));
		buf_adds(b, ", grade ");
		html_esc(b, *PQgetvalue(r, i, 7) ? PQgetvalue(r, i, 7) : "-");
		buf_adds(b, "</title></circle>\n");
	}
	buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\">", LEFT,
	    H - 8);
	html_esc(b, PQgetvalue(r, from, 1));
	buf_printf(b,
	    "</text><text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" "
	    "text-anchor=\"end\">",
	    W - RIGHT, H - 8);
	html_esc(b, PQgetvalue(r, to - 1, 1));
	buf_printf(b,
	    "</text></svg><figcaption>%d result%s</figcaption>"
	    "</figure>\n",
	    n, n == 1 ? "" : "s");
}
