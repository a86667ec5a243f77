/*
 * test_metrics.c: the Prometheus text writer: HELP and TYPE lines,
 * label values escaped, histogram buckets cumulative up to +Inf with
 * _sum and _count, and counters that add up across slots.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "lib/metrics.h"

static struct buf out;

static void
setup(void)
{
	buf_init(&out);
}

static void
teardown(void)
{
	buf_free(&out);
}

TestSuite(metrics, .init = setup, .fini = teardown);

Test(metrics, family_and_plain_sample)
{
	metrics_family(&out, "labwatch_frames_received_total", "counter",
	    "MLLP frames received.");
	metrics_sample(&out, "labwatch_frames_received_total", NULL, 0,
	    18446744073709551615ULL);
	cr_assert_str_eq(out.p,
	    "# HELP labwatch_frames_received_total MLLP frames received.\n"
	    "# TYPE labwatch_frames_received_total counter\n"
	    "labwatch_frames_received_total 18446744073709551615\n");
}

Test(metrics, help_escapes_backslash_and_newline_not_quotes)
{
	metrics_family(&out, "x", "gauge", "a \"b\" c\\d\ne");
	cr_assert_str_eq(out.p,
	    "# HELP x a \"b\" c\\\\d\\ne\n"
	    "# TYPE x gauge\n");
}

struct esc_case {
	char value[32];
	char want[64];
};

static struct esc_case esc_cases[] = {
	{ "AA", "m{code=\"AA\"} 1\n" }, { "", "m{code=\"\"} 1\n" },
	{ "a\"b", "m{code=\"a\\\"b\"} 1\n" },
	{ "c:\\dir", "m{code=\"c:\\\\dir\"} 1\n" },
	{ "two\nlines", "m{code=\"two\\nlines\"} 1\n" },
	{ "\\\"\n", "m{code=\"\\\\\\\"\\n\"} 1\n" },
	{ "Zürich", "m{code=\"Zürich\"} 1\n" }, /* UTF-8 kept as is */
};

ParameterizedTestParameters(metrics, label_escaping)
{
	return cr_make_param_array(struct esc_case, esc_cases,
	    sizeof(esc_cases) / sizeof(esc_cases[0]));
}

ParameterizedTest(struct esc_case *c, metrics, label_escaping)
{
	struct metric_label l = { "code", c->value };

	buf_init(&out);
	metrics_sample(&out, "m", &l, 1, 1);
	cr_assert_str_eq(out.p, c->want, "value \"%s\"", c->value);
	buf_free(&out);
}

Test(metrics, two_labels)
{
	struct metric_label l[2] = { { "kind", "toxicity" },
		{ "severity", "critical" } };

	metrics_sample(&out, "labwatch_alerts_total", l, 2, 3);
	cr_assert_str_eq(out.p,
	    "labwatch_alerts_total{kind=\"toxicity\",severity=\"critical\"} "
	    "3\n");
}

Test(metrics, doubles)
{
	metrics_sample_double(&out, "a", NULL, 0, 0.25);
	metrics_sample_double(&out, "b", NULL, 0, 1.0 / 0.0);
	metrics_sample_double(&out, "c", NULL, 0, -1.0 / 0.0);
	metrics_sample_double(&out, "d", NULL, 0, 0.0 / 0.0);
	cr_assert_str_eq(out.p, "a 0.25\nb +Inf\nc -Inf\nd NaN\n");
}

static const uint64_t usec_bounds[] = { 1000, 10000, 100000 };
static const struct metric_hist_def usec_def = { usec_bounds, 3, 1e6 };

Test(metrics, histogram_cumulative_with_inf_sum_count)
{
	struct metric_hist h;
	struct metric_hist_snap snap;

	memset(&h, 0, sizeof(h));
	memset(&snap, 0, sizeof(snap));
	/* On a bound goes into that bucket (le is "less or equal"). */
	metric_observe(&h, &usec_def, 500);
	metric_observe(&h, &usec_def, 1000);
	metric_observe(&h, &usec_def, 1001);
	metric_observe(&h, &usec_def, 100000);
	metric_observe(&h, &usec_def, 2500000);
	metric_hist_add(&snap, &h, &usec_def);
	metrics_family(&out, "lat_seconds", "histogram", "Latency.");
	metrics_histogram(&out, "lat_seconds", NULL, 0, &usec_def, &snap);
	cr_assert_str_eq(out.p,
	    "# HELP lat_seconds Latency.\n"
	    "# TYPE lat_seconds histogram\n"
	    "lat_seconds_bucket{le=\"0.001\"} 2\n"
	    "lat_seconds_bucket{le=\"0.01\"} 3\n"
	    "lat_seconds_bucket{le=\"0.1\"} 4\n"
	    "lat_seconds_bucket{le=\"+Inf\"} 5\n"
	    "lat_seconds_sum 2.602501\n"
	    "lat_seconds_count 5\n");
}

Test(metrics, histogram_with_labels_and_empty)
{
	static const uint64_t b[] = { 1, 8 };
	static const struct metric_hist_def def = { b, 2, 1 };
	struct metric_hist_snap snap;
	struct metric_label l = { "target", "pager \"1\"" };

	memset(&snap, 0, sizeof(snap));
	metrics_histogram(&out, "n", &l, 1, &def, &snap);
	cr_assert_str_eq(out.p,
	    "n_bucket{target=\"pager \\\"1\\\"\",le=\"1\"} 0\n"
	    "n_bucket{target=\"pager \\\"1\\\"\",le=\"8\"} 0\n"
	    "n_bucket{target=\"pager \\\"1\\\"\",le=\"+Inf\"} 0\n"
	    "n_sum{target=\"pager \\\"1\\\"\"} 0\n"
	    "n_count{target=\"pager \\\"1\\\"\"} 0\n");
}

Test(metrics, slots_add_up)
{
	struct metric_hist a, b;
	struct metric_hist_snap snap;
	struct metric c;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&snap, 0, sizeof(snap));
	memset(&c, 0, sizeof(c));
	metric_observe(&a, &usec_def, 5);
	metric_observe(&b, &usec_def, 5000);
	metric_observe(&b, &usec_def, 7);
	metric_hist_add(&snap, &a, &usec_def);
	metric_hist_add(&snap, &b, &usec_def);
	cr_assert_eq(snap.bucket[0], 2);
	cr_assert_eq(snap.bucket[1], 1);
	cr_assert_eq(snap.bucket[3], 0);
	cr_assert_eq(snap.sum, 5012);
	metric_add(&c, 3);
	metric_add(&c, 4);
	cr_assert_eq(metric_get(&c), 7);
	metric_set(&c, 2);
	cr_assert_eq(metric_get(&c), 2);
}
