/*
 * analyte.c: which analyte a code names, and what a unit spelling is worth
 * in the analyte's canonical unit. Lookups hash the code once; units are a
 * short per-analyte list compared by length first.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/hash.h"
#include "lib/str.h"
#include "lib/xmalloc.h"
#include "rules/rules_int.h"

static const char *const analyte_names[RULES_NANALYTES] = {
	"ast",
	"alt",
	"tbil",
	"crea",
	"anc",
	"plt",
	"hgb",
};

const char *
rules_analyte_name(enum rules_analyte a)
{
	if (a < 0 || a >= RULES_NANALYTES)
		return NULL;
	return analyte_names[a];
}

enum rules_analyte
rules_analyte_by_name(const char *name)
{
	int i;

	for (i = 0; i < RULES_NANALYTES; i++)
		if (strcmp(name, analyte_names[i]) == 0)
			return (enum rules_analyte)i;
	return RULES_NONE;
}

const char *
rules_canonical_unit(const struct rules *r, enum rules_analyte a)
{
	if (a < 0 || a >= RULES_NANALYTES)
		return NULL;
	return r->analytes[a].canonical;
}

void
rules_codes_index(struct rules *r)
{
	uint32_t n = 16, i, mask;
	size_t k;

	while (n < r->ncodes * 4)
		n *= 2;
	free(r->slots);
	r->slots = xcalloc(n, sizeof *r->slots);
	r->nslots = n;
	mask = n - 1;
	for (k = 0; k < r->ncodes; k++) {
		i = r->codes[k].hash & mask;
		while (r->slots[i] != 0)
			i = (i + 1) & mask;
		r->slots[i] = (uint32_t)k + 1;
	}
}

/*
 * strncasecmp's answer in the C locale for two spans of len bytes, without
 * its call: a system name ("LN") is a few bytes, compared on every lookup.
 */
static inline bool
ascii_caseeq(const char *a, const char *b, size_t len)
{
	size_t i;
	unsigned char x, y;

	for (i = 0; i < len; i++) {
		x = (unsigned char)a[i];
		y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

static bool
is_loinc_system(const struct rules *r, const char *sys, size_t len)
{
	size_t i;

	if (len == 0)
		return true; /* no system named: a LOINC code may still match */
	for (i = 0; i < r->nloinc_systems; i++)
		if (r->loinc_system_len[i] == len &&
		    ascii_caseeq(r->loinc_systems[i], sys, len))
			return true;
	return false;
}

/*
 * Look up one (code, system) pair. Returns the analyte, RULES_NONE; sets
 * *excluded for a do-not-map code.
 */
static enum rules_analyte
lookup(const struct rules *r, const char *code, size_t len, const char *sys,
    size_t sys_len, bool *excluded)
{
	uint32_t h, i, mask = r->nslots - 1;
	const struct rules_code *e;
	enum rules_analyte found = RULES_NONE;
	bool loinc;

	len = str_trim_span(&code, len);
	if (len == 0 || r->nslots == 0)
		return RULES_NONE;
	sys_len = str_trim_span(&sys, sys_len);
	loinc = is_loinc_system(r, sys, sys_len);
	h = (uint32_t)hash_bytes(code, len);
	for (i = h & mask; r->slots[i] != 0; i = (i + 1) & mask) {
		e = &r->codes[r->slots[i] - 1];
		if (e->hash != h || e->len != len ||
		    memcmp(e->code, code, len) != 0)
			continue;
		if (e->kind == CODE_EXCLUDED) {
			*excluded = true;
			return RULES_NONE;
		}
		if (e->kind == CODE_LOINC && loinc)
			found = e->analyte;
		else if (e->kind == CODE_LOCAL && (!loinc || sys_len == 0) &&
		    found == RULES_NONE)
			found = e->analyte;
	}
	return found;
}

void
rules_map_result(const struct rules *r, const struct rules_result *in,
    struct rules_mapping *m)
{
	enum rules_analyte a, b;

	m->excluded = false;
	m->named[0] = m->named[1] = RULES_NONE;
	m->analyte = RULES_NONE;
	a = lookup(r, in->code, in->code_len, in->system, in->system_len,
	    &m->excluded);
	b = lookup(r, in->alt_code, in->alt_code_len, in->alt_system,
	    in->alt_system_len, &m->excluded);
	/* A percentage or hematocrit in either triplet is never a count. */
	if (m->excluded)
		return;
	if (a != RULES_NONE && b != RULES_NONE && a != b) {
		m->named[0] = a;
		m->named[1] = b;
		return;
	}
	m->analyte = a != RULES_NONE ? a : b;
}

/* Byte i of a span of n bytes (i < n), 0 when n is 0. */
static inline uint64_t
byte_at(const char *p, size_t n, size_t i)
{
	return n > 0 ? (unsigned char)p[i] : 0;
}

/*
 * A slot for the codes: their first, middle and last bytes and the lengths,
 * read a byte at a time (assembling a word through memory stalled on the
 * store). Codes that share a slot only miss: the slot holds the bytes.
 */
static size_t
memo_index(const struct rules_result *in)
{
	size_t n = in->code_len, an = in->alt_code_len;
	uint64_t w;

	w = byte_at(in->code, n, 0) | byte_at(in->code, n, n / 2) << 8 |
	    byte_at(in->code, n, n ? n - 1 : 0) << 16 |
	    byte_at(in->alt_code, an, an / 2) << 24 |
	    byte_at(in->alt_code, an, an ? an - 1 : 0) << 32;
	w ^= (uint64_t)n << 56 ^ (uint64_t)an << 48 ^
	    (uint64_t)in->system_len << 40;
	w *= 0x9e3779b97f4a7c15ull;
	return (size_t)(w >> 56) % RULES_MAP_MEMO_SLOTS;
}

/* memcmp's equality for the few bytes of a code, without its call. */
static inline bool
same_bytes(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

void
rules_map_result_memo(const struct rules *r, struct rules_map_memo *memo,
    const struct rules_result *in, struct rules_mapping *m)
{
	const char *span[4] = { in->code, in->system, in->alt_code,
		in->alt_system };
	size_t len[4] = { in->code_len, in->system_len, in->alt_code_len,
		in->alt_system_len };
	struct rules_map_memo_slot *s;
	size_t i, off = 0;
	bool hit;

	if (len[0] + len[1] + len[2] + len[3] > RULES_MAP_MEMO_BYTES) {
		rules_map_result(r, in, m);
		return;
	}
	if (memo->r != r) {
		memset(memo, 0, sizeof *memo);
		memo->r = r;
	}
	s = &memo->slot[memo_index(in)];
	hit = s->used;
	for (i = 0; i < 4 && hit; off += len[i], i++)
		hit = s->len[i] == len[i] &&
		    same_bytes(s->bytes + off, span[i], len[i]);
	if (hit) {
		*m = s->m;
		return;
	}
	rules_map_result(r, in, m);
	s->used = true;
	s->m = *m;
	for (i = 0, off = 0; i < 4; off += len[i], i++) {
		s->len[i] = (uint8_t)len[i];
		if (len[i] > 0)
			memcpy(s->bytes + off, span[i], len[i]);
	}
}

enum rules_analyte
rules_map(const struct rules *r, const struct rules_result *in, bool *excluded,
    bool *conflict)
{
	struct rules_mapping m;

	rules_map_result(r, in, &m);
	*excluded = m.excluded;
	*conflict = m.named[0] != RULES_NONE;
	return m.analyte;
}

int
rules_unit_index(const struct rules *r, enum rules_analyte a, const char *unit,
    size_t len)
{
	const struct rules_analyte_def *d;
	size_t i;

	if (a < 0 || a >= RULES_NANALYTES)
		return -1;
	d = &r->analytes[a];
	len = str_trim_span(&unit, len);
	if (len == 0)
		return -1;
	for (i = 0; i < d->nunits; i++)
		if (d->units[i].len == len &&
		    memcmp(d->units[i].name, unit, len) == 0)
			return (int)i;
	return -1;
}

double
rules_unit_factor(const struct rules *r, enum rules_analyte a, const char *unit,
    size_t len)
{
	int i = rules_unit_index(r, a, unit, len);

	return i < 0 ? 0 : r->analytes[a].units[i].factor;
}
