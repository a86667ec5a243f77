/*
 * oru.c: header and ORU^R01 extraction from a parsed HL7 v2 message.
 */
#include "hl7/oru.h"

#include <stdlib.h>
#include <string.h>

#include "hl7/dtm.h"
#include "hl7/text.h"
#include "lib/str.h"
#include "lib/xmalloc.h"

void
oru_msg_init(struct oru_msg *o)
{
	memset(o, 0, sizeof(*o));
}

void
oru_msg_free(struct oru_msg *o)
{
	free(o->patients);
	free(o->orders);
	free(o->obs);
	memset(o, 0, sizeof(*o));
}

/* Grow an array of *cap elements of size sz so that one more fits. */
static void *
grow(void *p, uint32_t n, uint32_t *cap, size_t sz)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 16;
	return xreallocarray(p, *cap, sz);
}

static int
missing(struct hl7_msg *m, enum hl7_errcode code, const char *reason,
    unsigned field)
{
	m->err.code = code;
	m->err.reason = reason;
	m->err.offset = 0;
	memcpy(m->err.seg_id, "MSH", 4);
	m->err.seg_seq = 1;
	m->err.field = field;
	return -1;
}

static bool
version_supported(struct hl7_str v)
{
	static const char *const known[] = { "2.2", "2.3", "2.3.1", "2.4",
		"2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1",
		"2.8.2" };
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strlen(known[i]) == v.len &&
		    memcmp(known[i], v.p, v.len) == 0)
			return true;
	return false;
}

/* Text of SEG-field.comp (first repetition). */
static struct hl7_str
text_at(struct hl7_msg *m, uint32_t seg, unsigned field, unsigned comp)
{
	return hl7_text(m, hl7_get(m, seg, field, 1, comp, 0));
}

/* A DTM from the first component of a TS/DTM field; false if unusable. */
static bool
dtm_at(const struct hl7_msg *m, uint32_t seg, unsigned field, struct hl7_dtm *t)
{
	struct hl7_span s = hl7_get(m, seg, field, 1, 1, 0);

	if (s.len == 0 || hl7_dtm_parse(m->buf + s.off, s.len, t) != 0) {
		memset(t, 0, sizeof(*t));
		return false;
	}
	return true;
}

static bool
str_is(struct hl7_str s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len == n && memcmp(s.p, lit, n) == 0;
}

/* Split a leading comparator off s; returns its length (0 for none). */
static size_t
comparator_prefix(const char *s, size_t len, char cmp[3])
{
	size_t n = 0;

	if (len >= 2 && (s[0] == '<' || s[0] == '>') &&
	    (s[1] == '=' || (s[0] == '<' && s[1] == '>')))
		n = 2;
	else if (len >= 1 && (s[0] == '<' || s[0] == '>' || s[0] == '='))
		n = 1;
	memcpy(cmp, s, n);
	cmp[n] = '\0';
	return n;
}

/* oru_read_number(), and the number's bytes as written into *text. */
static int
read_number(const struct hl7_msg *m, struct hl7_span value, const char *vt,
    size_t vt_len, double *num, char cmp[3], struct hl7_str *text)
{
	const char *p;
	size_t len, n;
	struct hl7_span c1, c2, c3, c4;

	cmp[0] = '\0';
	if (value.len == 0)
		return -1;
	/*
	 * SN proper has components; the plain number some senders put in an
	 * SN field is read below, as NM and ST are.
	 */
	if (vt_len == 2 && memcmp(vt, "SN", 2) == 0 &&
	    memchr(m->buf + value.off, m->d.comp, value.len) != NULL) {
		/* SN: comparator ^ num1 ^ separator/suffix ^ num2 */
		c1 = hl7_comp(m, value, 1);
		c2 = hl7_comp(m, value, 2);
		c3 = hl7_comp(m, value, 3);
		c4 = hl7_comp(m, value, 4);
		if (c3.len > 0 || c4.len > 0 || c2.len == 0)
			return -1; /* a range or a ratio, not one number */
		p = m->buf + c1.off;
		len = str_trim_span(&p, c1.len);
		if (len > 2 || comparator_prefix(p, len, cmp) != len) {
			cmp[0] = '\0';
			return -1;
		}
		p = m->buf + c2.off;
		len = str_trim_span(&p, c2.len);
		if (hl7_number(p, len, num) != 0) {
			cmp[0] = '\0';
			return -1;
		}
		text->p = p;
		text->len = len;
		return 0;
	}
	/* NM, ST, TX and the like: an optional comparator, then a number. */
	if (m->d.comp != '\0' &&
	    memchr(m->buf + value.off, m->d.comp, value.len) != NULL)
		return -1;
	p = m->buf + value.off;
	len = str_trim_span(&p, value.len);
	n = comparator_prefix(p, len, cmp);
	p += n;
	len -= n;
	len = str_trim_span(&p, len);
	if (hl7_number(p, len, num) != 0) {
		cmp[0] = '\0';
		return -1;
	}
	text->p = p;
	text->len = len;
	return 0;
}

int
oru_read_number(const struct hl7_msg *m, struct hl7_span value, const char *vt,
    size_t vt_len, double *num, char cmp[3])
{
	struct hl7_str text;

	return read_number(m, value, vt, vt_len, num, cmp, &text);
}

/*
 * Append the repetitions of f, decoded, to out[*o], each after sep once
 * something was written. Decoded text is at most 4 bytes per raw byte
 * (3 for Latin, 4 through iconv), which sizes out.
 */
static void
append_reps(struct hl7_msg *m, struct hl7_span f, char sep, char *out,
    size_t *o)
{
	const char *b = m->buf;
	uint32_t i, end = f.off + f.len, start = f.off;
	struct hl7_span r;
	struct hl7_str t;

	for (i = f.off;; i++) {
		if (i < end && b[i] != m->d.rep)
			continue;
		r.off = start;
		r.len = i - start;
		t = hl7_text(m, r);
		if (*o > 0)
			out[(*o)++] = sep;
		memcpy(out + *o, t.p, t.len);
		*o += t.len;
		if (i >= end)
			break;
		start = i + 1;
	}
}

/* All repetitions of SEG-field as text, joined by sep: linear in the field. */
static struct hl7_str
text_reps(struct hl7_msg *m, uint32_t seg, unsigned field, char sep)
{
	struct hl7_span f = hl7_field(m, seg, field);
	struct hl7_str r;
	char *out;
	size_t o = 0;

	if (!m->segs[seg].has_rep)
		return hl7_text(m, f);
	out = arena_alloc(&m->arena, (size_t)f.len * 4 + 1);
	append_reps(m, f, sep, out, &o);
	r.p = out;
	r.len = o;
	return r;
}

/* NTE-3 of segments first..last-1 (all NTE), joined by '\n', in one pass. */
static struct hl7_str
nte_text(struct hl7_msg *m, uint32_t first, uint32_t last)
{
	struct hl7_str r;
	size_t bound = 1, o = 0;
	uint32_t i;
	char *out;

	for (i = first; i < last; i++)
		bound += (size_t)hl7_field(m, i, 3).len * 4 + 1;
	out = arena_alloc(&m->arena, bound);
	for (i = first; i < last; i++)
		append_reps(m, hl7_field(m, i, 3), '\n', out, &o);
	r.p = out;
	r.len = o;
	return r;
}

static void
pick_patient_id(struct hl7_msg *m, uint32_t seg, struct oru_patient *p,
    const char *want)
{
	struct hl7_span f = hl7_field(m, seg, 3), rep, pick;
	const char *b = m->buf;
	uint32_t i, end = f.off + f.len, start = f.off;

	/* One walk over PID-3: the first repetition unless one has type want. */
	pick = hl7_rep(m, f, 1);
	if (m->segs[seg].has_rep)
		for (i = f.off;; i++) {
			if (i < end && b[i] != m->d.rep)
				continue;
			rep.off = start;
			rep.len = i - start;
			if (hl7_span_eq(m, hl7_comp(m, rep, 5), want)) {
				pick = rep;
				break;
			}
			if (i >= end)
				break;
			start = i + 1;
		}
	p->id = hl7_text(m, hl7_comp(m, pick, 1));
	p->id_type = hl7_text(m, hl7_comp(m, pick, 5));
	p->authority = hl7_text(m, hl7_sub(m, hl7_comp(m, pick, 4), 1));
}

static struct oru_patient *
new_patient(struct oru_msg *o, uint32_t seg)
{
	struct oru_patient *p;

	o->patients = grow(o->patients, o->npatients, &o->patients_cap,
	    sizeof(*o->patients));
	p = &o->patients[o->npatients++];
	memset(p, 0, sizeof(*p));
	p->seg = seg;
	p->first_obs = o->nobs;
	return p;
}

/* Field n (first repetition) of an OBX whose fields f[] were fetched. */
#define OBX_FIELDS 15

static void
read_obx(struct oru_msg *o, struct hl7_msg *m, uint32_t seg, uint32_t order)
{
	struct oru_obs *x;
	struct hl7_span f[OBX_FIELDS], c[7], v;
	const struct oru_order *ord;

	o->obs = grow(o->obs, o->nobs, &o->obs_cap, sizeof(*o->obs));
	x = &o->obs[o->nobs++];
	memset(x, 0, sizeof(*x));
	x->seg = seg;
	x->order = order;
	hl7_seg_fields(m, seg, f, OBX_FIELDS);
	x->set_id = hl7_text(m, f[1]);
	x->value_type = hl7_text(m, hl7_comp1(m, f[2]));
	memset(c, 0, sizeof(c));
	hl7_split_span(m, f[3], m->d.comp, c, 7);
	x->code = hl7_text(m, c[0]);
	x->text = hl7_text(m, c[1]);
	x->coding_system = hl7_text(m, c[2]);
	x->alt_code = hl7_text(m, c[3]);
	x->alt_text = hl7_text(m, c[4]);
	x->alt_system = hl7_text(m, c[5]);
	x->sub_id = hl7_text(m, f[4]);

	v = f[5];
	if (v.len == 0)
		x->kind = ORU_VALUE_NONE;
	else if (read_number(m, v, x->value_type.p, x->value_type.len,
		     &x->number, x->comparator, &x->number_text) == 0) {
		x->kind = ORU_VALUE_NUMBER;
		x->value_text = hl7_text(m, v);
	} else {
		x->kind = ORU_VALUE_TEXT;
		if (str_is(x->value_type, "CE") ||
		    str_is(x->value_type, "CWE") ||
		    str_is(x->value_type, "CNE")) {
			/* Coded value: its text, else its code. */
			x->value_text = hl7_text(m, hl7_comp(m, v, 2));
			if (x->value_text.len == 0)
				x->value_text = hl7_text(m, hl7_comp1(m, v));
		} else
			x->value_text = text_reps(m, seg, 5, '\n');
	}
	x->units = hl7_text(m, hl7_comp1(m, f[6]));
	if (x->units.len == 0)
		x->units = hl7_text(m, hl7_comp(m, f[6], 2));
	x->ref_range = hl7_text(m, f[7]);
	x->flags = text_reps(m, seg, 8, '~');
	x->status = hl7_text(m, f[11]);

	ord = order != UINT32_MAX ? &o->orders[order] : NULL;
	v = hl7_comp1(m, f[14]);
	if (v.len > 0 && v.len == o->last_time_len &&
	    memcmp(m->buf + v.off, o->last_time, v.len) == 0) {
		x->observed_at = o->last_dtm;
		x->time_source = ORU_TIME_OBX14;
	} else if (v.len > 0 &&
	    hl7_dtm_parse(m->buf + v.off, v.len, &x->observed_at) == 0) {
		x->time_source = ORU_TIME_OBX14;
		o->last_time = m->buf + v.off;
		o->last_time_len = v.len;
		o->last_dtm = x->observed_at;
	} else if (ord != NULL && ord->obr7.precision > 0) {
		x->observed_at = ord->obr7;
		x->time_source = ORU_TIME_OBR7;
	} else if (o->msh7.precision > 0) {
		x->observed_at = o->msh7;
		x->time_source = ORU_TIME_MSH7;
	} else
		memset(&x->observed_at, 0, sizeof(x->observed_at));
}

static void
read_groups(struct oru_msg *o, struct hl7_msg *m, const struct oru_opts *opts)
{
	const char *want = opts && opts->id_type ? opts->id_type : "MR";
	struct oru_patient *pat = NULL;
	struct oru_order *ord;
	uint32_t i, j, order = UINT32_MAX;
	bool after_obx = false;
	const char *id;

	for (i = 1; i < m->nsegs; i++) {
		id = m->segs[i].id;
		if (memcmp(id, "PID", 4) == 0) {
			if (pat != NULL)
				pat->nobs = o->nobs - pat->first_obs;
			pat = new_patient(o, i);
			pick_patient_id(m, i, pat, want);
			pat->sex = text_at(m, i, 8, 1);
			order = UINT32_MAX;
			after_obx = false;
		} else if (memcmp(id, "OBR", 4) == 0) {
			if (pat == NULL)
				pat = new_patient(o, UINT32_MAX);
			o->orders = grow(o->orders, o->norders, &o->orders_cap,
			    sizeof(*o->orders));
			order = o->norders++;
			ord = &o->orders[order];
			memset(ord, 0, sizeof(*ord));
			ord->seg = i;
			ord->patient = o->npatients - 1;
			ord->placer = text_at(m, i, 2, 1);
			ord->filler = text_at(m, i, 3, 1);
			ord->code = text_at(m, i, 4, 1);
			ord->text = text_at(m, i, 4, 2);
			ord->coding_system = text_at(m, i, 4, 3);
			dtm_at(m, i, 7, &ord->obr7);
			after_obx = false;
		} else if (memcmp(id, "OBX", 4) == 0) {
			if (pat == NULL)
				pat = new_patient(o, UINT32_MAX);
			read_obx(o, m, i, order);
			after_obx = true;
		} else if (memcmp(id, "NTE", 4) == 0) {
			/* The whole run of NTEs at once: linear in their size. */
			for (j = i + 1; j < m->nsegs &&
			     memcmp(m->segs[j].id, "NTE", 4) == 0;
			     j++)
				;
			if (after_obx)
				o->obs[o->nobs - 1].comment = nte_text(m, i, j);
			i = j - 1;
		} else if (memcmp(id, "ORC", 4) == 0)
			after_obx = false;
	}
	if (pat != NULL)
		pat->nobs = o->nobs - pat->first_obs;
}

int
oru_extract(struct oru_msg *o, struct hl7_msg *m, const struct oru_opts *opts)
{
	struct hl7_span t1, t2;
	size_t n1, n2;

	o->npatients = o->norders = o->nobs = 0;
	o->last_time = NULL;
	o->last_time_len = 0;
	o->is_oru = false;
	o->type[0] = '\0';
	o->sending_app = text_at(m, 0, 3, 1);
	o->sending_facility = text_at(m, 0, 4, 1);
	o->receiving_app = text_at(m, 0, 5, 1);
	o->receiving_facility = text_at(m, 0, 6, 1);
	dtm_at(m, 0, 7, &o->msh7);
	o->control_id = text_at(m, 0, 10, 0);
	o->processing_id = text_at(m, 0, 11, 1);
	o->version = text_at(m, 0, 12, 1);
	o->accept_ack = text_at(m, 0, 15, 0);
	o->app_ack = text_at(m, 0, 16, 0);
	o->charset = text_at(m, 0, 18, 0);

	t1 = hl7_get(m, 0, 9, 1, 1, 0);
	t2 = hl7_get(m, 0, 9, 1, 2, 0);
	if (t1.len == 0)
		return missing(m, HL7_ERR_REQUIRED_FIELD,
		    "MSH-9 message type missing", 9);
	n1 = t1.len < 8 ? t1.len : 8;
	n2 = t2.len < 8 ? t2.len : 8;
	memcpy(o->type, m->buf + t1.off, n1);
	o->type[n1] = '\0';
	if (n2 > 0) {
		o->type[n1] = '^';
		memcpy(o->type + n1 + 1, m->buf + t2.off, n2);
		o->type[n1 + 1 + n2] = '\0';
	}
	if (o->control_id.len == 0)
		return missing(m, HL7_ERR_REQUIRED_FIELD,
		    "MSH-10 message control id missing", 10);
	if (o->version.len == 0)
		return missing(m, HL7_ERR_REQUIRED_FIELD,
		    "MSH-12 version id missing", 12);
	if (!version_supported(o->version))
		return missing(m, HL7_ERR_UNSUPPORTED_VERSION,
		    "MSH-12 version not supported (2.2 to 2.8.2)", 12);
	/*
	 * ORU^R01 only (and a bare ORU from senders older than trigger
	 * events); the point-of-care R30-R32 are other messages: ignored.
	 */
	o->is_oru = strcmp(o->type, "ORU^R01") == 0 ||
	    strcmp(o->type, "ORU") == 0;
	if (o->is_oru)
		read_groups(o, m, opts);
	return 0;
}

/* The order part of x's correction key. */
static struct hl7_str
key_order(const struct oru_msg *o, const struct oru_obs *x)
{
	struct hl7_str none = { "", 0 };

	if (x->order == UINT32_MAX)
		return none;
	return o->orders[x->order].filler.len > 0 ? o->orders[x->order].filler :
						    o->orders[x->order].placer;
}

size_t
oru_result_key_size(const struct oru_msg *o, const struct oru_obs *x)
{
	return key_order(o, x).len + x->code.len + x->sub_id.len + 3;
}

size_t
oru_result_key(const struct oru_msg *o, const struct oru_obs *x, char *out)
{
	struct hl7_str ord = key_order(o, x);
	size_t n = 0;

	memcpy(out + n, ord.p, ord.len);
	n += ord.len;
	out[n++] = '|';
	memcpy(out + n, x->code.p, x->code.len);
	n += x->code.len;
	out[n++] = '|';
	memcpy(out + n, x->sub_id.p, x->sub_id.len);
	n += x->sub_id.len;
	out[n] = '\0';
	return n;
}

const char *
oru_time_source_name(enum oru_time_source s)
{
	switch (s) {
	case ORU_TIME_OBX14:
		return "obx14";
	case ORU_TIME_OBR7:
		return "obr7";
	case ORU_TIME_MSH7:
		return "msh7";
	default:
		return NULL;
	}
}
