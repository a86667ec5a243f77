/*
 * pcache.c: what the writer remembers of each patient (see pcache.h).
 */
#include "store/pcache.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "store/rows.h"

/* Free what p loaded (not p, not its id). */
static void
free_loaded(struct pcache *p)
{
	rules_history_free(p->h);
	free(p->open);
	free(p->open_obs);
	free(p->ended);
	free(p->ended_obs);
	free(p->ended_by);
	free(p->past);
	free(p->past_obs);
}

void
pcache_flush(struct hash_table *t)
{
	struct pcache *p;
	size_t i = 0;

	while ((p = hash_next(t, &i)) != NULL) {
		free(p->pid);
		free_loaded(p);
		free(p);
	}
	hash_free(t);
}

void
pcache_forget(struct pcache *p)
{
	struct pcache keep = *p;

	free_loaded(p);
	memset(p, 0, sizeof(*p));
	p->pid = keep.pid;
	p->db_id = keep.db_id;
	p->seq = keep.seq;
	p->version = keep.version;
	p->touched = keep.touched;
}

struct pcache *
pcache_get(struct hash_table *t, const char *pid, size_t len, bool create)
{
	struct pcache *p = hash_get(t, pid, len);

	if (p != NULL || !create)
		return p;
	p = xcalloc(1, sizeof(*p));
	p->pid = xstrndup(pid, len);
	(void)hash_put(t, p->pid, len, p);
	return p;
}

/* One rule's "since/obs/stops/dose" or "since" into *out, unless malformed. */
static bool
parse_hold(const char *s, struct pcache_hold *out)
{
	struct pcache_hold hd = { .stops = 1, .dose_mg = NAN };
	char *end;

	if (*s != '/') {
		hd.since = strtoll(s, &end, 10);
		if (end == s || (*end != '/' && *end != '\0'))
			return false;
		hd.held = true;
		s = end;
	}
	if (*s == '/') {
		hd.obs = strtoll(s + 1, &end, 10);
		if (end == s + 1 || *end != '/' || hd.obs < 0)
			return false;
		s = end;
		hd.stops = (unsigned)strtoul(s + 1, &end, 10);
		if (end == s + 1 || (*end != '/' && *end != '\0'))
			return false;
		s = end;
		if (*s == '/' && s[1] != '\0') {
			hd.dose_mg = strtod(s + 1, &end);
			if (*end != '\0' || !isfinite(hd.dose_mg))
				hd.dose_mg = NAN;
		}
	}
	*out = hd;
	return true;
}

void
pcache_load_enrollment(struct pcache *p, const struct rules *r,
    const PGresult *res)
{
	pcache_load_enrollment_row(p, r, res, PQntuples(res) > 0 ? 0 : -1);
}

void
pcache_load_enrollment_row(struct pcache *p, const struct rules *r,
    const PGresult *res, int row)
{
	size_t i;
	char *save, *item, *eq, *slash;
	enum rules_analyte a;

	p->enrolled = false;
	memset(p->hold, 0, sizeof(p->hold));
	for (i = 0; i < RULES_MAX_HOLD_RULES; i++)
		p->hold[i].dose_mg = NAN;
	if (row < 0)
		return;
	if (strcmp(PQgetvalue(res, row, 0), "screening") == 0) {
		p->enrolled = true;
		p->phase = RULES_PHASE_SCREENING;
	} else if (strcmp(PQgetvalue(res, row, 0), "off_study") != 0) {
		p->enrolled = true;
		p->phase = RULES_PHASE_TREATMENT;
	}
	p->since = (int64_t)strtod(PQgetvalue(res, row, 1), NULL);
	snprintf(p->elig, sizeof(p->elig), "%s", PQgetvalue(res, row, 2));
	/*
	 * hold_state (sel_enroll): name=since/obs/stops/dose,... (since
	 * empty: not held, the count and dose kept) or name=since as first
	 * written. A since that is not a whole number is an administrator's
	 * edit (labwatchd writes only numbers): the entry is skipped, never
	 * read as epoch 0.
	 */
	save = NULL;
	for (item = strtok_r(PQgetvalue(res, row, 3), ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		eq = strchr(item, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		for (i = 0; i < rules_hold_count(r); i++)
			if (strcmp(rules_hold_name(r, i), item) == 0)
				(void)parse_hold(eq + 1, &p->hold[i]);
	}
	/* baseline: analyte=value/uln,... */
	save = NULL;
	for (item = strtok_r(PQgetvalue(res, row, 4), ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		eq = strchr(item, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		slash = strchr(eq + 1, '/');
		a = rules_analyte_by_name(item);
		if (a == RULES_NONE || slash == NULL || eq[1] == '/')
			continue;
		p->have_baseline[a] = true;
		p->baseline[a] = strtod(eq + 1, NULL);
		p->baseline_uln[a] = slash[1] ? strtod(slash + 1, NULL) : NAN;
	}
}

void
pcache_add_open(struct pcache *p, enum rules_analyte a, int grade, int64_t id,
    int64_t obs, int64_t observed_at, bool minimum)
{
	if (p->nopen == p->capopen) {
		p->capopen = p->capopen ? p->capopen * 2 : 4;
		p->open = xreallocarray(p->open, p->capopen, sizeof(*p->open));
		p->open_obs = xreallocarray(p->open_obs, p->capopen,
		    sizeof(*p->open_obs));
	}
	p->open[p->nopen].analyte = a;
	p->open[p->nopen].grade = grade;
	p->open[p->nopen].id = (uint64_t)id;
	p->open[p->nopen].observed_at = observed_at;
	p->open[p->nopen].minimum = minimum;
	p->open_obs[p->nopen] = obs;
	p->nopen++;
}

void
pcache_drop_open(struct pcache *p, size_t i)
{
	p->open[i] = p->open[p->nopen - 1];
	p->open_obs[i] = p->open_obs[p->nopen - 1];
	p->nopen--;
}

static void
add_ended(struct pcache *p, const struct rules_open_alert *a, int64_t obs,
    int64_t by)
{
	if (p->nended == p->capended) {
		p->capended = p->capended ? p->capended * 2 : 4;
		p->ended = xreallocarray(p->ended, p->capended,
		    sizeof(*p->ended));
		p->ended_obs = xreallocarray(p->ended_obs, p->capended,
		    sizeof(*p->ended_obs));
		p->ended_by = xreallocarray(p->ended_by, p->capended,
		    sizeof(*p->ended_by));
	}
	p->ended[p->nended] = *a;
	p->ended_obs[p->nended] = obs;
	p->ended_by[p->nended] = by;
	p->nended++;
}

static void
add_past(struct pcache *p, const struct rules_open_alert *a, int64_t obs)
{
	if (p->npast == p->cappast) {
		p->cappast = p->cappast ? p->cappast * 2 : 4;
		p->past = xreallocarray(p->past, p->cappast, sizeof(*p->past));
		p->past_obs = xreallocarray(p->past_obs, p->cappast,
		    sizeof(*p->past_obs));
	}
	p->past[p->npast] = *a;
	p->past_obs[p->npast] = obs;
	p->npast++;
}

void
pcache_add_past(struct pcache *p, size_t i)
{
	add_past(p, &p->open[i], p->open_obs[i]);
}

void
pcache_drop_past(struct pcache *p, size_t i)
{
	p->past[i] = p->past[p->npast - 1];
	p->past_obs[i] = p->past_obs[p->npast - 1];
	p->npast--;
}

void
pcache_end_open(struct pcache *p, size_t i, int64_t by)
{
	pcache_add_past(p, i);
	add_ended(p, &p->open[i], p->open_obs[i], by);
	pcache_drop_open(p, i);
}

void
pcache_reopen(struct pcache *p, size_t i)
{
	size_t k;

	for (k = 0; k < p->npast; k++)
		if (p->past[k].id == p->ended[i].id) {
			pcache_drop_past(p, k);
			break;
		}
	pcache_add_open(p, p->ended[i].analyte, p->ended[i].grade,
	    (int64_t)p->ended[i].id, p->ended_obs[i], p->ended[i].observed_at,
	    p->ended[i].minimum);
	pcache_drop_ended(p, i);
}

void
pcache_drop_ended(struct pcache *p, size_t i)
{
	p->ended[i] = p->ended[p->nended - 1];
	p->ended_obs[i] = p->ended_obs[p->nended - 1];
	p->ended_by[i] = p->ended_by[p->nended - 1];
	p->nended--;
}

void
pcache_forget_ended(struct pcache *p, enum rules_analyte a)
{
	size_t i;

	for (i = 0; i < p->nended;)
		if (p->ended[i].analyte == a)
			pcache_drop_ended(p, i);
		else
			i++;
}

void
pcache_load_open(struct pcache *p, const PGresult *res)
{
	struct rules_open_alert a;
	int i, n = PQntuples(res), top = PQfnumber(res, ROWS_OPEN_TOP);
	int64_t obs, by;

	if (n > 0)
		p->last_id[IDPOOL_ALERTS] = strtoll(PQgetvalue(res, 0, top),
		    NULL, 10);
	for (i = 0; i < n; i++) {
		if (PQgetisnull(res, i, 0))
			continue;
		a.analyte = rules_analyte_by_name(PQgetvalue(res, i, 1));
		a.grade = atoi(PQgetvalue(res, i, 2));
		a.id = (uint64_t)strtoll(PQgetvalue(res, i, 0), NULL, 10);
		a.observed_at = (int64_t)strtod(PQgetvalue(res, i, 4), NULL);
		a.minimum = PQgetvalue(res, i, 6)[0] == 't';
		obs = strtoll(PQgetvalue(res, i, 3), NULL, 10);
		by = strtoll(PQgetvalue(res, i, 5), NULL, 10);
		if (PQgetvalue(res, i, 7)[0] == 't') {
			add_past(p, &a, obs);
			if (by != 0 && PQgetvalue(res, i, 8)[0] == 't')
				add_ended(p, &a, obs, by);
		} else
			pcache_add_open(p, a.analyte, a.grade, (int64_t)a.id,
			    obs, a.observed_at, a.minimum);
	}
}

/*
 * Epoch seconds as sel_history reads them (date_part, float8 as text):
 * the whole part, as (int64_t)strtod() gives it; a plain integer, the
 * usual form, without strtod's cost.
 */
static int64_t
epoch_of(const char *v)
{
	char *end;
	long long n = strtoll(v, &end, 10);

	if (end != v && *end == '\0' && n > -1000000000000000LL &&
	    n < 1000000000000000LL)
		return (int64_t)n;
	return (int64_t)strtod(v, NULL);
}

void
pcache_history_row(const PGresult *res, int i, struct rules_result *in)
{
	const char *status;
	size_t len;

	memset(in, 0, sizeof(*in));
	in->id = (uint64_t)strtoll(PQgetvalue(res, i, 0), NULL, 10);
	in->code = PQgetvalue(res, i, 2);
	in->code_len = (size_t)PQgetlength(res, i, 2);
	in->system = PQgetvalue(res, i, 3);
	in->system_len = (size_t)PQgetlength(res, i, 3);
	in->alt_code = PQgetvalue(res, i, 4);
	in->alt_code_len = (size_t)PQgetlength(res, i, 4);
	in->alt_system = PQgetvalue(res, i, 5);
	in->alt_system_len = (size_t)PQgetlength(res, i, 5);
	if (!PQgetisnull(res, i, 6)) {
		in->kind = RULES_VALUE_NUMBER;
		in->value = strtod(PQgetvalue(res, i, 6), NULL);
	} else
		in->kind = PQgetlength(res, i, 12) > 0 ? RULES_VALUE_TEXT :
							 RULES_VALUE_NONE;
	/* As snprintf "%s" did, cut to the room (a comparator is 2 bytes). */
	len = (size_t)PQgetlength(res, i, 7);
	if (len > sizeof(in->comparator) - 1)
		len = sizeof(in->comparator) - 1;
	memcpy(in->comparator, PQgetvalue(res, i, 7), len);
	in->comparator[len] = '\0';
	in->unit = PQgetvalue(res, i, 8);
	in->unit_len = (size_t)PQgetlength(res, i, 8);
	in->range = PQgetvalue(res, i, 9);
	in->range_len = (size_t)PQgetlength(res, i, 9);
	status = PQgetvalue(res, i, 10);
	in->status = status[0];
	in->observed_at = epoch_of(PQgetvalue(res, i, 11));
	/* PID-8 as read at ingest: a sex-specific OBX-7 reads the same. */
	in->sex = PQgetvalue(res, i, 13)[0];
}

void
pcache_load_history(struct pcache *p, const PGresult *res)
{
	struct rules_result in;
	struct rules_update up;
	int i, n = PQntuples(res);
	int64_t top;

	for (i = 0; i < n; i++) {
		pcache_history_row(res, i, &in);
		rules_history_add(p->h, &in, PQgetvalue(res, i, 1),
		    (size_t)PQgetlength(res, i, 1), &up);
	}
	/* sel_history's rows are in id order: the last one's is the highest. */
	top = n > 0 ? strtoll(PQgetvalue(res, n - 1, 0), NULL, 10) : 0;
	if (top > p->last_id[IDPOOL_OBS])
		p->last_id[IDPOOL_OBS] = top;
}

void
pcache_history_begin(struct pcache *p, const struct rules *r)
{
	int a;

	p->h = rules_history_new(r, p->phase);
	p->fresh = true;
	for (a = 0; a < RULES_NANALYTES; a++)
		if (p->have_baseline[a])
			rules_history_set_baseline(p->h, (enum rules_analyte)a,
			    p->baseline[a], p->baseline_uln[a]);
}

void
pcache_history_end(struct pcache *p)
{
	int a;
	bool any = false;

	for (a = 0; a < RULES_NANALYTES; a++)
		any = any || p->have_baseline[a];
	/* No baseline given at enrollment: the last results before it. */
	if (!any && p->phase == RULES_PHASE_TREATMENT)
		rules_history_baseline_from(p->h, p->since);
}
