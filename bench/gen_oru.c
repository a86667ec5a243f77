/*
 * gen_oru: write a deterministic corpus of realistic HL7 v2.5.1 ORU^R01
 * laboratory result messages for labwatch's parse and ingest benchmarks.
 *
 *	gen_oru [-n COUNT] [-s SEED] [-f raw|mllp] [-p PATIENTS] [-i SECONDS]
 *	    > corpus
 *
 * -p: the patients drawn from (default 5000); -i: about one message every
 * SECONDS (default 40). Fewer patients with a longer interval give long
 * histories spaced as the default's (-p 100 -i 2000: 200 messages a
 * patient over 20,000, a patient's messages about 55 hours apart).
 *
 * raw:  messages back to back, every segment ended by CR, no framing.
 * mllp: each message framed as 0x0B payload 0x1C 0x0D.
 *
 * Each message carries a chemistry order and a CBC order with about 20 OBX
 * in all, from one of a few sending laboratories whose habits differ (units,
 * reference range spelling, flags, OBX-3 coding, time zones, character set).
 * Message i depends only on the seed and i, so a longer corpus starts with
 * the shorter one; the bytes do not depend on the compiler (random draws are
 * never two to an expression). The average message size and OBX count go to stderr.
 *
 * Standalone: C11 and libc only.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gen_oru_data.h"
#include "lib/buf.h"

#define PATIENT_POOL 5000
#define MESSAGE_STEP 40	      /* seconds */
#define BASE_EPOCH 1704067200 /* 2024-01-01T00:00:00Z */

static void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
fatalx(const char *fmt, ...)
{
	va_list ap;

	fputs("gen_oru: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Random numbers: splitmix64, seeded per message so messages are independent. */

struct rng {
	uint64_t s;
};

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void
rng_seed(struct rng *r, uint64_t a, uint64_t b)
{
	r->s = mix64(a * UINT64_C(0x9e3779b97f4a7c15) ^ mix64(b + 0x632be5ab));
}

static uint64_t
rng_next(struct rng *r)
{
	r->s += UINT64_C(0x9e3779b97f4a7c15);
	return mix64(r->s);
}

/* Uniform in [0, 1). */
static double
rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static unsigned
rng_below(struct rng *r, unsigned n)
{
	return (unsigned)(rng_unit(r) * n);
}

static int
rng_chance(struct rng *r, double p)
{
	return rng_unit(r) < p;
}

static double
rng_range(struct rng *r, double lo, double hi)
{
	return lo + (hi - lo) * rng_unit(r);
}

/* Skewed towards 0 in [0, 1): most excursions small, a few large. */
static double
rng_skewed(struct rng *r)
{
	double u = rng_unit(r);

	return u * rng_unit(r);
}

/* Approximately standard normal (Irwin-Hall of 12): no libm needed. */
static double
rng_gauss(struct rng *r)
{
	double s = 0;
	int i;

	for (i = 0; i < 12; i++)
		s += rng_unit(r);
	return s - 6.0;
}

#define PICK(r, arr) ((arr)[rng_below((r), sizeof(arr) / sizeof((arr)[0]))])

/*
 * Segment writer: seg_field(s, n, ...) pads with '|' up to field n, so the
 * code names HL7 field numbers instead of counting separators.
 */

struct seg {
	struct buf *b;
	int field;
};

static void
seg_begin(struct seg *s, struct buf *b, const char *name)
{
	s->b = b;
	s->field = 0;
	buf_printf(b, "%s", name);
}

static void seg_field(struct seg *s, int n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seg_field(struct seg *s, int n, const char *fmt, ...)
{
	va_list ap;

	if (n <= s->field)
		fatalx("field %d written out of order", n);
	while (s->field < n) {
		buf_addc(s->b, '|');
		s->field++;
	}
	va_start(ap, fmt);
	buf_vprintf(s->b, fmt, ap);
	va_end(ap);
}

static void
seg_end(struct seg *s)
{
	buf_addc(s->b, '\r');
}

/* Chemistry and CBC panels: always reported, then optional extras. */
static const int chem_always[] = { A_NA, A_K, A_GLU, A_CREA, A_ALB, A_TBIL,
	A_ALP, A_AST, A_ALT };
static const int chem_extra[] = { A_CL, A_CO2, A_BUN, A_CA, A_TP, A_CRP,
	A_EGFR };
static const int cbc_always[] = { A_WBC, A_RBC, A_HGB, A_HCT, A_MCV, A_PLT,
	A_NEUTP, A_ANC };
static const int cbc_extra[] = { A_MCH, A_MCHC, A_RDW, A_LYMPP, A_LYMA };

/* Patients: a fixed pool per seed, so results recur for the same people. */

struct name {
	const char *latin, *native;
};

static const struct name cn_family[] = {
	{ "WANG", "王" },
	{ "LI", "李" },
	{ "ZHANG", "张" },
	{ "LIU", "刘" },
	{ "CHEN", "陈" },
	{ "YANG", "杨" },
	{ "HUANG", "黄" },
	{ "ZHAO", "赵" },
	{ "WU", "吴" },
	{ "ZHOU", "周" },
	{ "XU", "徐" },
	{ "SUN", "孙" },
	{ "MA", "马" },
	{ "ZHU", "朱" },
	{ "HU", "胡" },
	{ "GUO", "郭" },
	{ "HE", "何" },
	{ "LIN", "林" },
	{ "GAO", "高" },
	{ "LUO", "罗" },
};
static const struct name cn_given_m[] = {
	{ "WEI", "伟" },
	{ "QIANG", "强" },
	{ "LEI", "磊" },
	{ "JUN", "军" },
	{ "YONG", "勇" },
	{ "JIE", "杰" },
	{ "TAO", "涛" },
	{ "MING", "明" },
	{ "CHAO", "超" },
	{ "HAO", "浩" },
	{ "JIANHUA", "建华" },
	{ "ZHIQIANG", "志强" },
};
static const struct name cn_given_f[] = {
	{ "FANG", "芳" },
	{ "NA", "娜" },
	{ "MIN", "敏" },
	{ "JING", "静" },
	{ "LI", "丽" },
	{ "YAN", "艳" },
	{ "JUAN", "娟" },
	{ "XIA", "霞" },
	{ "XIUYING", "秀英" },
	{ "GUILAN", "桂兰" },
	{ "YUMEI", "玉梅" },
	{ "LING", "玲" },
};
static const char *const us_family[] = {
	"SMITH",
	"JOHNSON",
	"WILLIAMS",
	"BROWN",
	"JONES",
	"GARCIA",
	"MILLER",
	"DAVIS",
	"RODRIGUEZ",
	"MARTINEZ",
	"HERNANDEZ",
	"LOPEZ",
	"WILSON",
	"ANDERSON",
	"THOMAS",
	"TAYLOR",
	"MOORE",
	"JACKSON",
	"NGUYEN",
	"O'BRIEN",
};
static const char *const us_given_m[] = {
	"JAMES",
	"ROBERT",
	"JOHN",
	"MICHAEL",
	"DAVID",
	"WILLIAM",
	"RICHARD",
	"JOSEPH",
	"CARLOS",
	"ANTHONY",
};
static const char *const us_given_f[] = {
	"MARY",
	"PATRICIA",
	"JENNIFER",
	"LINDA",
	"ELIZABETH",
	"BARBARA",
	"SUSAN",
	"JESSICA",
	"MARIA",
	"KAREN",
};
static const char *const se_family[] = {
	"Andersson",
	"Johansson",
	"Karlsson",
	"Nilsson",
	"Eriksson",
	"Larsson",
	"Olsson",
	"Persson",
	"Svensson",
	"Gustafsson",
	"Jönsson",
	"Åberg",
	"Lindström",
	"Öberg",
	"Bergström",
	"Sjöqvist",
};
static const char *const se_given_m[] = {
	"Lars",
	"Anders",
	"Johan",
	"Erik",
	"Per",
	"Karl",
	"Nils",
	"Björn",
	"Håkan",
	"Göran",
};
static const char *const se_given_f[] = {
	"Anna",
	"Eva",
	"Maria",
	"Karin",
	"Kristina",
	"Lena",
	"Åsa",
	"Ingrid",
	"Märta",
	"Sofia",
};
static const char *const streets[] = {
	"MAIN ST",
	"OAK AVE",
	"ELM ST",
	"PARK RD",
	"MAPLE DR",
	"CEDAR LN",
	"LAKE VIEW BLVD",
	"HILL ST",
};
static const char *const physicians[] = {
	"1043^CHEN^MING^^^DR",
	"2210^MILLER^SARAH^J^^DR",
	"3177^LINDQVIST^ERIK^^^DR",
	"4402^PATEL^ANIL^^^DR",
	"5120^WANG^LI^^^DR",
};

struct patient {
	unsigned idx;
	const struct lab *lab;
	unsigned mrn;
	int female;
	int dob_y, dob_m, dob_d;
	struct rng r; /* draws names and address, always in the same order */
};

static void
patient_get(struct patient *pt, uint64_t seed, unsigned idx)
{
	unsigned total = 0, w, i;

	for (i = 0; i < sizeof(senders) / sizeof(senders[0]); i++)
		total += senders[i].weight;
	pt->idx = idx;
	rng_seed(&pt->r, seed ^ UINT64_C(0x50a7e17), idx);
	w = rng_below(&pt->r, total);
	for (i = 0; w >= senders[i].weight; i++)
		w -= senders[i].weight;
	pt->lab = &senders[i];
	pt->mrn = 100000 + (unsigned)(mix64(seed * 7919 + idx) % 8900000);
	pt->female = rng_chance(&pt->r, 0.45);
	pt->dob_y = 1938 + (int)rng_below(&pt->r, 62);
	pt->dob_m = 1 + (int)rng_below(&pt->r, 12);
	pt->dob_d = 1 + (int)rng_below(&pt->r, 28);
}

/* Timestamps in the lab's local time, with its offset when it sends one. */
static void
fmt_ts(char *out, size_t len, int64_t utc, const struct lab *lab, struct rng *r,
    int seconds)
{
	time_t t = (time_t)(utc + (int64_t)lab->tz_min * 60);
	struct tm tm;
	size_t n;

	if (gmtime_r(&t, &tm) == NULL)
		fatalx("gmtime_r failed");
	n = strftime(out, len, seconds ? "%Y%m%d%H%M%S" : "%Y%m%d%H%M", &tm);
	if (seconds && lab->millis)
		n += (size_t)snprintf(out + n, len - n, ".%03u",
		    rng_below(r, 1000));
	if (lab->send_tz) {
		int off = lab->tz_min < 0 ? -lab->tz_min : lab->tz_min;
		snprintf(out + n, len - n, "%c%02d%02d",
		    lab->tz_min < 0 ? '-' : '+', off / 60, off % 60);
	}
}

/* Base-unit values for one specimen, with correlated abnormalities. */
static void
draw_values(struct rng *r, const struct patient *pt, double *val)
{
	const struct analyte *a;
	double f, lo, hi;
	int hepato, myelo, renal, i;

	for (i = 0; i < NANALYTES; i++) {
		a = &analytes[i];
		f = 1.0;
		if (pt->female && a->lo_f > 0)
			f = (a->lo_f + a->hi_f) / (a->lo + a->hi);
		val[i] = a->mean * f + a->sd * f * rng_gauss(r);
		if (val[i] < a->mean * 0.1)
			val[i] = a->mean * 0.1;
	}

	/* Imatinib's usual trouble: liver, marrow, kidney. */
	hepato = rng_chance(r, 0.07);
	myelo = rng_chance(r, 0.08);
	renal = rng_chance(r, 0.04);
	if (hepato) {
		f = rng_chance(r, 0.1) ? rng_range(r, 6, 25) :
					 1.1 + 5 * rng_skewed(r);
		val[A_AST] = analytes[A_AST].hi * f * rng_range(r, 0.7, 1.1);
		val[A_ALT] = analytes[A_ALT].hi * f * rng_range(r, 0.8, 1.3);
		if (rng_chance(r, 0.5))
			val[A_TBIL] = analytes[A_TBIL].hi *
			    (1.0 + 4 * rng_skewed(r));
		val[A_ALP] *= rng_range(r, 1.0, 2.5);
	}
	if (myelo) {
		val[A_WBC] *= rng_range(r, 0.2, 0.7);
		val[A_NEUTP] = rng_range(r, 22, 50);
		val[A_PLT] *= rng_range(r, 0.08, 0.6);
		val[A_HGB] *= rng_range(r, 0.55, 0.9);
		val[A_HCT] = val[A_HGB] * 2.95;
		val[A_RBC] = val[A_HGB] / 3.05;
	}
	if (renal) {
		f = rng_range(r, 1.3, 4.5);
		val[A_CREA] *= f;
		val[A_EGFR] /= f;
		val[A_BUN] *= f * 0.8;
		val[A_K] += rng_range(r, 0.2, 1.2);
	}
	/* Isolated out-of-range values anywhere else. */
	for (i = 0; i < NANALYTES; i++) {
		if (!rng_chance(r, 0.03))
			continue;
		a = &analytes[i];
		lo = a->lo;
		hi = a->hi;
		if (pt->female && a->lo_f > 0) {
			lo = a->lo_f;
			hi = a->hi_f;
		}
		if (hi > 0 && (lo <= 0 || rng_chance(r, 0.6)))
			val[i] = hi * rng_range(r, 1.03, 1.25);
		else if (lo > 0)
			val[i] = lo * rng_range(r, 0.75, 0.97);
	}

	/* Derived counts: ANC and lymphocytes follow from WBC and the diff. */
	if (val[A_NEUTP] > 88)
		val[A_NEUTP] = 88;
	if (val[A_LYMPP] > 96 - val[A_NEUTP])
		val[A_LYMPP] = 96 - val[A_NEUTP];
	if (val[A_LYMPP] < 2)
		val[A_LYMPP] = 2;
	val[A_ANC] = val[A_WBC] * val[A_NEUTP] / 100;
	val[A_LYMA] = val[A_WBC] * val[A_LYMPP] / 100;
}

struct order {
	int id[16];
	int n;
};

static void
pick_panel(struct rng *r, struct order *o, const int *always, size_t nalways,
    const int *extra, size_t nextra, double p)
{
	size_t i;

	o->n = 0;
	for (i = 0; i < nalways; i++)
		o->id[o->n++] = always[i];
	for (i = 0; i < nextra; i++)
		if (rng_chance(r, p))
			o->id[o->n++] = extra[i];
}

static void
fmt_num(char *out, size_t len, double v, int dec)
{
	snprintf(out, len, "%.*f", dec, v);
}

static const char *
flag_for(const struct analyte *a, double v, double lo, double hi,
    const struct lab *lab)
{
	if (a->crit_lo > 0 && v < a->crit_lo)
		return "LL";
	if (a->crit_hi > 0 && v > a->crit_hi)
		return "HH";
	if (hi > 0 && v > hi)
		return "H";
	if (lo > 0 && v < lo)
		return "L";
	return lab->flag_n ? "N" : "";
}

struct msgctx {
	struct buf *b;
	struct rng *r;
	const struct patient *pt;
	const struct lab *lab;
	const double *val;
	char coll_ts[40]; /* OBR-7 and OBX-14 of the current order */
	int64_t coll, result;
	unsigned nobx;
};

/* One OBX (and sometimes an NTE after it). */
static void
put_obx(struct msgctx *m, int setid, int id, const char *status,
    const char *equip)
{
	const struct analyte *a = &analytes[id];
	const struct lab *lab = m->lab;
	const struct variant *v;
	struct seg s;
	char value[40], lim[32], rlo[32], rhi[32], range[80];
	const char *loinc, *text, *vt = "NM", *flag;
	double x = m->val[id], lo = a->lo, hi = a->hi;
	int vi, nv, cmp = 0;

	for (nv = 0; nv < 3 && a->v[nv].unit != NULL; nv++)
		;
	vi = lab->units == U_MIXED ? (int)rng_below(m->r, (unsigned)nv) :
				     a->sys[lab->units];
	v = &a->v[vi];
	loinc = v->loinc ? v->loinc : a->loinc;
	if (lab->loinc_names)
		text = v->lname ? v->lname : a->lname;
	else
		text = v->disp ? v->disp : a->disp;
	if (m->pt->female && a->lo_f > 0) {
		lo = a->lo_f;
		hi = a->hi_f;
	}

	/* Value: numeric, or a detection limit with a comparator. */
	if (a->lod > 0 && x < a->lod) {
		cmp = '<';
		fmt_num(lim, sizeof(lim), a->lod * v->factor, v->dec);
	} else if (a->cap > 0 && x > a->cap) {
		cmp = '>';
		fmt_num(lim, sizeof(lim), a->cap * v->factor, v->dec);
	}
	if (cmp && lab->sn_comparator) {
		vt = "SN";
		snprintf(value, sizeof(value), "%c^%s", cmp, lim);
	} else if (cmp) {
		vt = "ST";
		snprintf(value, sizeof(value), "%c%s", cmp, lim);
	} else
		fmt_num(value, sizeof(value), x * v->factor, v->dec);

	/* Reference range, in the reported unit. */
	fmt_num(rlo, sizeof(rlo), lo * v->factor, v->dec);
	fmt_num(rhi, sizeof(rhi), hi * v->factor, v->dec);
	if (rng_chance(m->r, 0.02))
		range[0] = '\0';
	else if (a->range == R_LT || (a->range == R_AB_LT && lab->lt_range))
		snprintf(range, sizeof(range), "<%s", rhi);
	else if (a->range == R_GT)
		snprintf(range, sizeof(range), ">%s", rlo);
	else
		snprintf(range, sizeof(range),
		    lab->spaced_range ? "%s - %s" : "%s-%s", rlo, rhi);
	flag = flag_for(a, x, a->range == R_LT ? 0 : lo,
	    a->range == R_GT ? 0 : hi, lab);

	seg_begin(&s, m->b, "OBX");
	seg_field(&s, 1, "%d", setid);
	seg_field(&s, 2, "%s", vt);
	if (lab->local_codes)
		seg_field(&s, 3, "%s^%s^L^%s^%s^LN", a->local, a->localname,
		    loinc, text);
	else
		seg_field(&s, 3, "%s^%s^LN", loinc, text);
	seg_field(&s, 5, "%s", value);
	seg_field(&s, 6, "%s", v->unit);
	seg_field(&s, 7, "%s", range);
	seg_field(&s, 8, "%s", flag);
	seg_field(&s, 11, "%s", status);
	seg_field(&s, 14, "%s", m->coll_ts);
	if (lab->instrument)
		seg_field(&s, 18, "%s", equip);
	seg_end(&s);
	m->nobx++;

	/* Comments a lab would attach. */
	if ((flag[0] == 'L' && flag[1] == 'L') ||
	    (flag[0] == 'H' && flag[1] == 'H')) {
		if (rng_chance(m->r, 0.7)) {
			char ts[40];

			fmt_ts(ts, sizeof(ts), m->result - 60 * 4, lab, m->r,
			    0);
			buf_printf(m->b,
			    "NTE|1|L|Critical value called to %s at "
			    "%s, read back verified.\r",
			    PICK(m->r, physicians), ts);
		}
	} else if (status[0] == 'C') {
		fmt_num(lim, sizeof(lim),
		    x * v->factor * rng_range(m->r, 0.6, 1.5), v->dec);
		buf_printf(m->b,
		    "NTE|1|L|Corrected result. Previously reported as "
		    "%s %s.\r",
		    lim, v->unit);
	} else if (id == A_K && rng_chance(m->r, 0.04)) {
		buf_printf(m->b,
		    "NTE|1|L|Specimen slightly hemolyzed; K \\T\\ "
		    "AST may be falsely elevated.\r");
	} else if (id == A_PLT && rng_chance(m->r, 0.03)) {
		buf_printf(m->b,
		    "NTE|1|L|Platelet clumps seen on smear; count "
		    "may be underestimated.\r");
	}
}

static void
put_order(struct msgctx *m, uint64_t idx, int which, const struct order *o,
    const char *status_mode)
{
	const struct lab *lab = m->lab;
	struct seg s;
	char ts_res[40];
	const char *panel, *equip, *sect, *obr25 = "F";
	int i, corr = -1;

	if (which == 0) {
		panel = "24323-8^Comprehensive metabolic panel^LN";
		if (lab->local_codes)
			panel = "CMP^Comprehensive metabolic panel^L^24323-8^"
				"Comprehensive metabolic panel^LN";
		equip = lab->chem_equip;
		sect = "CH";
	} else {
		panel = "58410-2^CBC panel^LN";
		if (lab->local_codes)
			panel = "CBCD^CBC with differential^L^58410-2^CBC "
				"panel^LN";
		equip = lab->heme_equip;
		sect = "HM";
	}
	if (status_mode[0] == 'P' && which == 1)
		obr25 = "P";
	if (status_mode[0] == 'C' && which == 0) {
		obr25 = "C";
		corr = (int)rng_below(m->r, (unsigned)o->n);
	}

	fmt_ts(m->coll_ts, sizeof(m->coll_ts), m->coll, lab, m->r, 1);
	fmt_ts(ts_res, sizeof(ts_res), m->result, lab, m->r, 1);

	seg_begin(&s, m->b, "ORC");
	seg_field(&s, 1, "RE");
	seg_field(&s, 2, "%s%09" PRIu64 "^EPIC", lab->idprefix,
	    idx * 2 + which);
	seg_field(&s, 3, "%s%09" PRIu64 "^LAB", lab->idprefix,
	    idx * 2 + which + 500000000);
	seg_field(&s, 5, "CM");
	seg_field(&s, 9, "%s", ts_res);
	seg_end(&s);

	seg_begin(&s, m->b, "OBR");
	seg_field(&s, 1, "%d", which + 1);
	seg_field(&s, 2, "%s%09" PRIu64 "^EPIC", lab->idprefix,
	    idx * 2 + which);
	seg_field(&s, 3, "%s%09" PRIu64 "^LAB", lab->idprefix,
	    idx * 2 + which + 500000000);
	seg_field(&s, 4, "%s", panel);
	seg_field(&s, 7, "%s", m->coll_ts);
	seg_field(&s, 16, "%s", physicians[m->pt->idx % 5]);
	seg_field(&s, 22, "%s", ts_res);
	seg_field(&s, 24, "%s", sect);
	seg_field(&s, 25, "%s", obr25);
	seg_end(&s);
	if (which == 1 && rng_chance(m->r, 0.03))
		buf_printf(m->b,
		    "NTE|1|L|Sample received %s; analysed "
		    "within stability limits.\r",
		    rng_chance(m->r, 0.5) ? "at room temperature" :
					    "after 6 h");

	for (i = 0; i < o->n; i++)
		put_obx(m, i + 1, o->id[i],
		    obr25[0] == 'P' ? "P" : (i == corr ? "C" : "F"), equip);
}

static void
put_pid(struct msgctx *m)
{
	const struct patient *pt = m->pt;
	const struct lab *lab = m->lab;
	struct rng r = pt->r; /* same names for the same patient every time */
	struct seg s;
	unsigned long long ni;

	seg_begin(&s, m->b, "PID");
	seg_field(&s, 1, "1");
	ni = 100000000ULL + mix64(pt->mrn) % 899999999ULL;
	if (lab->names == N_CN)
		/* Resident identity number: region, birth date, serial. */
		seg_field(&s, 3, "%u^^^%s^MR~330106%04d%02d%02d%04u^^^%s",
		    pt->mrn, lab->mr_auth, pt->dob_y, pt->dob_m, pt->dob_d,
		    (unsigned)(ni % 10000), lab->ni);
	else
		seg_field(&s, 3, "%u^^^%s^MR~%llu^^^%s", pt->mrn, lab->mr_auth,
		    ni, lab->ni);

	if (lab->names == N_CN) {
		const struct name *fam = &PICK(&r, cn_family);
		const struct name *giv = pt->female ? &PICK(&r, cn_given_f) :
						      &PICK(&r, cn_given_m);
		seg_field(&s, 5, "%s^%s^^^^^L^A~%s^%s^^^^^L^I", fam->latin,
		    giv->latin, fam->native, giv->native);
	} else if (lab->names == N_SE) {
		const char *fam = PICK(&r, se_family);
		const char *giv = pt->female ? PICK(&r, se_given_f) :
					       PICK(&r, se_given_m);
		seg_field(&s, 5, "%s^%s^^^^^L", fam, giv);
	} else {
		const char *fam = PICK(&r, us_family);
		const char *giv = pt->female ? PICK(&r, us_given_f) :
					       PICK(&r, us_given_m);
		seg_field(&s, 5, "%s^%s^%c^^^^L", fam, giv,
		    'A' + (int)rng_below(&r, 26));
	}
	seg_field(&s, 7, "%04d%02d%02d", pt->dob_y, pt->dob_m, pt->dob_d);
	seg_field(&s, 8, "%s", pt->female ? "F" : "M");
	if (lab->names == N_US) {
		/* One draw per statement: argument order is unspecified. */
		unsigned house = 10 + rng_below(&r, 9000);
		const char *street = PICK(&r, streets);
		unsigned zip = rng_below(&r, 100);

		seg_field(&s, 11, "%u %s^^SPRINGFIELD^IL^627%02u^USA", house,
		    street, zip);
	}
	seg_end(&s);
}

/* Append message idx of the corpus to b; returns its OBX count. */
static unsigned
put_message(struct buf *b, uint64_t seed, uint64_t idx, unsigned pool,
    unsigned step)
{
	struct rng r;
	struct patient pt;
	struct msgctx m;
	struct seg s;
	struct order chem, cbc;
	double val[NANALYTES];
	char ts[40];
	const char *status_mode = "F";
	const struct lab *lab;
	int cbc_first;

	rng_seed(&r, seed, idx);
	patient_get(&pt, seed, rng_below(&r, pool));
	lab = pt.lab;

	memset(&m, 0, sizeof(m));
	m.b = b;
	m.r = &r;
	m.pt = &pt;
	m.lab = lab;
	m.val = val;
	/* About one message every step s, collected 1-4 h before the result. */
	m.result = (int64_t)BASE_EPOCH + (int64_t)(seed % 97) * 86400 +
	    (int64_t)idx * step + (int64_t)rng_below(&r, step);
	m.coll = m.result - 3600 - (int64_t)rng_below(&r, 3 * 3600);

	draw_values(&r, &pt, val);
	pick_panel(&r, &chem, chem_always, sizeof(chem_always) / sizeof(int),
	    chem_extra, sizeof(chem_extra) / sizeof(int), 0.3);
	pick_panel(&r, &cbc, cbc_always, sizeof(cbc_always) / sizeof(int),
	    cbc_extra, sizeof(cbc_extra) / sizeof(int), 0.2);
	if (rng_chance(&r, 0.05))
		status_mode = "P";
	else if (rng_chance(&r, 0.05))
		status_mode = "C";

	seg_begin(&s, b, "MSH");
	buf_printf(b, "|^~\\&");
	s.field = 2;
	seg_field(&s, 3, "%s", lab->app);
	seg_field(&s, 4, "%s", lab->fac);
	seg_field(&s, 5, "LABWATCH");
	seg_field(&s, 6, "GIST-TRIAL");
	fmt_ts(ts, sizeof(ts), m.result + 2, lab, &r, 1);
	seg_field(&s, 7, "%s", ts);
	seg_field(&s, 9, "ORU^R01^ORU_R01");
	seg_field(&s, 10, "%s%08" PRIX64 "%010" PRIu64, lab->idprefix,
	    seed & 0xffffffffu, idx);
	seg_field(&s, 11, "P");
	seg_field(&s, 12, "2.5.1");
	if (lab->utf8) {
		seg_field(&s, 15, "AL");
		seg_field(&s, 16, "NE");
		seg_field(&s, 18, "UNICODE UTF-8");
	}
	seg_end(&s);

	put_pid(&m);

	seg_begin(&s, b, "PV1");
	seg_field(&s, 1, "1");
	seg_field(&s, 2, "O");
	seg_field(&s, 3, "%s", lab->location);
	seg_field(&s, 19, "V%08" PRIu64, (idx * 7 + pt.idx) % 100000000);
	seg_end(&s);

	cbc_first = rng_chance(&r, 0.2);
	if (cbc_first) {
		put_order(&m, idx, 1, &cbc, status_mode);
		put_order(&m, idx, 0, &chem, status_mode);
	} else {
		put_order(&m, idx, 0, &chem, status_mode);
		put_order(&m, idx, 1, &cbc, status_mode);
	}
	return m.nobx;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: gen_oru [-n COUNT] [-s SEED] [-f raw|mllp] [-p PATIENTS] "
	    "[-i SECONDS]\n");
	exit(2);
}

static uint64_t
parse_u64(const char *s, const char *what)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || *s == '\0' || *end != '\0' || *s == '-')
		fatalx("bad %s: %s", what, s);
	return v;
}

int
main(int argc, char **argv)
{
	struct buf b;
	uint64_t count = 1000, seed = 1, i, bytes = 0, obx_total = 0;
	uint64_t pool = PATIENT_POOL, step = MESSAGE_STEP;
	int ch, mllp = 0;

	while ((ch = getopt(argc, argv, "n:s:f:p:i:")) != -1) {
		switch (ch) {
		case 'n':
			count = parse_u64(optarg, "count");
			break;
		case 's':
			seed = parse_u64(optarg, "seed");
			break;
		case 'p':
			pool = parse_u64(optarg, "patients");
			if (pool == 0 || pool > 1000000)
				fatalx("patients must be 1 to 1000000: %s",
				    optarg);
			break;
		case 'i':
			step = parse_u64(optarg, "interval");
			if (step == 0 || step > 86400)
				fatalx("interval must be 1 to 86400 s: %s",
				    optarg);
			break;
		case 'f':
			if (strcmp(optarg, "raw") == 0)
				mllp = 0;
			else if (strcmp(optarg, "mllp") == 0)
				mllp = 1;
			else
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	buf_init(&b);
	for (i = 0; i < count; i++) {
		buf_reset(&b);
		obx_total += put_message(&b, seed, i, (unsigned)pool,
		    (unsigned)step);
		bytes += b.len;
		if ((mllp && putchar(0x0b) == EOF) ||
		    fwrite(b.p, 1, b.len, stdout) != b.len ||
		    (mllp && (putchar(0x1c) == EOF || putchar(0x0d) == EOF)))
			fatalx("write: %s", strerror(errno));
	}
	if (fflush(stdout) == EOF)
		fatalx("write: %s", strerror(errno));
	buf_free(&b);
	if (count > 0)
		fprintf(stderr,
		    "gen_oru: %" PRIu64 " messages, %" PRIu64
		    " bytes, average %.0f bytes and %.1f OBX per message\n",
		    count, bytes, (double)bytes / (double)count,
		    (double)obx_total / (double)count);
	return 0;
}
