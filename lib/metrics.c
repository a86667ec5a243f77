/*
 * metrics.c: histogram buckets and the Prometheus text writer (metrics.h).
 */
#include "lib/metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void
metric_observe(struct metric_hist *h, const struct metric_hist_def *def,
    uint64_t v)
{
	size_t i = 0;

	/* A dozen bounds: a linear scan beats a search's branches. */
	while (i < def->n && v > def->bounds[i])
		i++;
	metric_add(&h->bucket[i], 1);
	metric_add(&h->sum, v);
}

void
metric_hist_add(struct metric_hist_snap *snap, const struct metric_hist *h,
    const struct metric_hist_def *def)
{
	size_t i;

	for (i = 0; i <= def->n; i++)
		snap->bucket[i] += metric_get(&h->bucket[i]);
	snap->sum += metric_get(&h->sum);
}

/* s with \ and newline escaped, and " too when quote (label values). */
static void
put_escaped(struct buf *b, const char *s, int quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			buf_add(b, "\\\\", 2);
		else if (*s == '\n')
			buf_add(b, "\\n", 2);
		else if (*s == '"' && quote)
			buf_add(b, "\\\"", 2);
		else
			buf_addc(b, *s);
	}
}

void
metrics_family(struct buf *b, const char *name, const char *type,
    const char *help)
{
	buf_printf(b, "# HELP %s ", name);
	put_escaped(b, help, 0);
	buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

/* name{labels[,le="le"]} with a space after: everything but the value. */
static void
put_head(struct buf *b, const char *name, const char *suffix,
    const struct metric_label *labels, size_t nl, const char *le)
{
	size_t i;

	buf_adds(b, name);
	buf_adds(b, suffix);
	if (nl > 0 || le != NULL) {
		buf_addc(b, '{');
		for (i = 0; i < nl; i++) {
			buf_printf(b, "%s%s=\"", i > 0 ? "," : "",
			    labels[i].name);
			put_escaped(b, labels[i].value, 1);
			buf_addc(b, '"');
		}
		if (le != NULL)
			buf_printf(b, "%sle=\"%s\"", nl > 0 ? "," : "", le);
		buf_addc(b, '}');
	}
	buf_addc(b, ' ');
}

void
metrics_sample(struct buf *b, const char *name,
    const struct metric_label *labels, size_t nl, uint64_t value)
{
	put_head(b, name, "", labels, nl, NULL);
	buf_printf(b, "%llu\n", (unsigned long long)value);
}

/* A float as the format spells it (Go's ParseFloat reads it back). */
static void
put_double(struct buf *b, double v)
{
	if (isnan(v))
		buf_adds(b, "NaN");
	else if (isinf(v))
		buf_adds(b, v > 0 ? "+Inf" : "-Inf");
	else
		buf_printf(b, "%.15g", v);
}

void
metrics_sample_double(struct buf *b, const char *name,
    const struct metric_label *labels, size_t nl, double value)
{
	put_head(b, name, "", labels, nl, NULL);
	put_double(b, value);
	buf_addc(b, '\n');
}

void
metrics_histogram(struct buf *b, const char *name,
    const struct metric_label *labels, size_t nl,
    const struct metric_hist_def *def, const struct metric_hist_snap *snap)
{
	char le[32];
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i <= def->n; i++) {
		cum += snap->bucket[i];
		if (i < def->n)
			snprintf(le, sizeof(le), "%.15g",
			    (double)def->bounds[i] / def->scale);
		else
			snprintf(le, sizeof(le), "+Inf");
		put_head(b, name, "_bucket", labels, nl, le);
		buf_printf(b, "%llu\n", (unsigned long long)cum);
	}
	put_head(b, name, "_sum", labels, nl, NULL);
	put_double(b, (double)snap->sum / def->scale);
	buf_addc(b, '\n');
	put_head(b, name, "_count", labels, nl, NULL);
	buf_printf(b, "%llu\n", (unsigned long long)cum);
}
