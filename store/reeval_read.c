/*
 * reeval_read.c: the batch reads of `labwatch reevaluate` (see
 * reeval_read.h).
 */
#include "store/reeval_read.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "rules/rules.h"
#include "store/db.h"
#include "store/rows.h"

/*
 * The reads of a batch of patients ($2 or $1: their row ids, a binary
 * int8[]), each in patient order with the patient's row id last.
 */
static const char sel_enrolls[] = "SELECT " ROWS_ENROLL_COLS ", p.id"
				  " FROM enrollments e JOIN patients p"
				  " ON p.id = e.patient"
				  " WHERE e.protocol = $1"
				  " AND p.id = ANY($2::bigint[]) ORDER BY p.id";
static const char sel_histories[] =
    "SELECT " ROWS_HISTORY_COLS ", patient FROM observations"
    " WHERE patient = ANY($1::bigint[]) AND " ROWS_HISTORY_FILTER
    " ORDER BY patient, id";

/*
 * Three parts, each on its own index (sql/009, 012, 015); the withdrawn
 * lines of holds are not judged again. The time of the result an alert
 * rests on is looked up in the results read (reeval_read_observed_at),
 * not joined again. Columns 9 on: the hold fields (reeval_hold.c); 15:
 * a person's alert whose episode goes on (rows.h).
 */
/* clang-format off */
#define SEL_ALERT_COLS \
	"SELECT a.id, a.kind, coalesce(a.observation, 0)," \
	" coalesce(a.grade, -1), a.state, a.resolved_by IS NULL," \
	" coalesce(a.superseded_by, 0), coalesce(a.resolved_by_observation, 0)," \
	" a.patient, coalesce(a.details->>'rule', '')," \
	" coalesce(a.details->>'stops', '0')," \
	" coalesce(a.details->>'restart_dose_mg', '')," \
	" coalesce(a.message, 0), coalesce(a.resolved_by = 'labwatch', false)," \
	" coalesce(a.details->>'status', '')," \
	" (" ROWS_PERSON_GOES_ON("a") ")" \
	" FROM alerts a WHERE a.patient = ANY($1::bigint[])" \
	" AND a.protocol = $2 AND a.state <> 'retracted'"
static const char sel_alerts[] =
    SEL_ALERT_COLS " AND a.kind = 'toxicity'"
    " UNION ALL " SEL_ALERT_COLS " AND a.kind = 'recovery'"
    " UNION ALL " SEL_ALERT_COLS " AND a.kind IN ('hold', 'resume')"
    " AND coalesce(a.details->>'event', 'stop') <> 'withdrawn'"
    " UNION ALL " SEL_ALERT_COLS
    " AND a.kind IN ('eligibility', 'data_quality')"
    " ORDER BY 9, 2 DESC, 1";
/*
 * The eligibility verdict rows (013, 014's index), with the arrival of
 * their message; the latest one's criteria as reeval_elig.c compares
 * them: per criterion "analyte|criterion|verdict|observation", ';'.
 */
static const char sel_verdicts[] =
    "SELECT x.message, x.status, CASE WHEN row_number() OVER ("
    " PARTITION BY x.patient ORDER BY x.evaluated_at DESC, x.id DESC) = 1"
    " THEN coalesce((SELECT string_agg(coalesce(c->>'analyte', '') || '|'"
    " || coalesce(c->>'criterion', '') || '|' || coalesce(c->>'verdict', '')"
    " || '|' || coalesce(c->>'observation', ''), ';' ORDER BY o)"
    " FROM jsonb_array_elements(x.criteria) WITH ORDINALITY AS t(c, o)),"
    " '') END, coalesce(extract(epoch FROM m.received_at)::float8, -1),"
    " x.patient FROM eligibility x LEFT JOIN messages m ON m.id = x.message"
    " WHERE x.patient = ANY($1::bigint[]) AND x.protocol = $2"
    " ORDER BY x.patient, x.id";
/* clang-format on */

/* The column of each read that holds the patient's row id. */
#define COL_ENROLL_PATIENT 5
#define COL_HISTORY_PATIENT 15
#define COL_ALERT_PATIENT 8
#define COL_VERDICT_PATIENT 4

static void
set_cause(char **cause, char *c)
{
	free(*cause);
	*cause = c;
}

/* The rows a batch's read kept (keep_read). */
struct reads {
	struct pgpipe *p;
	PGresult **res;
	int n;
};

int
reeval_read_prepare(PGconn *c, char **cause)
{
	static const struct {
		const char *name, *sql;
	} q[] = {
		{ "reeval_enrolls", sel_enrolls },
		{ "reeval_histories", sel_histories },
		{ "reeval_alerts", sel_alerts },
		{ "reeval_verdicts", sel_verdicts },
	};
	PGresult *res;
	size_t i;

	/*
	 * The histories come in (patient, id) order from sql/017's index,
	 * unsorted. At the default random_page_cost (4: a disk's seek) the
	 * planner prices that scan's heap pages above a bitmap scan and a
	 * sort of the batch's rows (~180,000, spilled to disk), which cost a
	 * third more CPU with the table in memory (BENCHMARKS.md,
	 * "Re-evaluation"). This session only.
	 */
	res = PQexec(c, "SET random_page_cost = 1.1");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		set_cause(cause, db_error(c, res));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	for (i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		res = PQprepare(c, q[i].name, q[i].sql, 0, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			set_cause(cause, db_error(c, res));
			PQclear(res);
			return -1;
		}
		PQclear(res);
	}
	return 0;
}

/* Send the reads (tags 1..REEVAL_NREADS: res[tag - 1]). */
static enum db_rc
send_reads(struct pgpipe *p, const char *proto, struct pgarr *ids)
{
	const char *v[2];
	int len[2] = { 0, 0 }, fmt[2] = { 0, 1 }, alen;
	const char *arr = pgarr_finish(ids, &alen);

	v[0] = proto;
	v[1] = arr;
	len[1] = alen;
	if (pgpipe_send_prepared(p, "reeval_enrolls", 2, v, len, fmt, 1,
		NULL) != DB_OK)
		return DB_DOWN;
	v[0] = arr;
	v[1] = proto;
	len[0] = alen;
	len[1] = 0;
	fmt[0] = 1;
	fmt[1] = 0;
	if (pgpipe_send_prepared(p, "reeval_histories", 1, v, len, fmt, 2,
		NULL) != DB_OK ||
	    pgpipe_send_prepared(p, "reeval_alerts", 2, v, len, fmt, 3, NULL) !=
		DB_OK ||
	    pgpipe_send_prepared(p, "reeval_verdicts", 2, v, len, fmt, 4,
		NULL) != DB_OK)
		return DB_DOWN;
	return DB_OK;
}

/* The session's last failure as *cause (replaced). */
static void
pipe_cause(struct pgpipe *p, char **cause)
{
	set_cause(cause, xstrdup(p->err->msg[0] ? p->err->msg : "failed"));
}

int
reeval_read_send(struct pgpipe *p, const char *protocol, struct pgarr *ids,
    char **cause)
{
	memset(p->err, 0, sizeof(*p->err));
	if (PQenterPipelineMode(p->conn) == 1 &&
	    send_reads(p, protocol, ids) == DB_OK && pgpipe_sync(p) == DB_OK)
		return 0;
	if (p->err->msg[0] == '\0')
		set_cause(cause, db_error(p->conn, NULL));
	else
		pipe_cause(p, cause);
	p->nq = 0;
	(void)PQexitPipelineMode(p->conn);
	return -1;
}

/* pgpipe_read()'s handler: the rows of read tag kept in res[tag - 1]. */
static void
keep_read(void *arg, const struct pgpipe_query *q, PGresult *r)
{
	struct reads *rd = arg;

	if (q->tag < 1 || q->tag > REEVAL_NREADS ||
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		return; /* cleared by pgpipe_read() */
	rd->res[q->tag - 1] = pgpipe_take(rd->p);
	rd->n++;
}

int
reeval_read_recv(struct pgpipe *p, PGresult **res, char **cause)
{
	struct reads rd = { p, res, 0 };
	enum db_rc rc;
	int k;

	for (k = 0; k < REEVAL_NREADS; k++)
		res[k] = NULL;
	rc = pgpipe_read(p, keep_read, &rd);
	(void)PQexitPipelineMode(p->conn);
	if (rc == DB_OK && rd.n == REEVAL_NREADS)
		return 0;
	pipe_cause(p, cause);
	reeval_read_clear(res);
	return -1;
}

void
reeval_read_clear(PGresult **res)
{
	int k;

	for (k = 0; k < REEVAL_NREADS; k++) {
		PQclear(res[k]);
		res[k] = NULL;
	}
}

/* Row i's patient (its row id in column col). */
static int64_t
row_patient(const PGresult *r, int i, int col)
{
	return strtoll(PQgetvalue(r, i, col), NULL, 10);
}

/*
 * The rows of patient id in r (ordered by patient, its id in column
 * col), from *at on: [*lo, *at) once *at is moved past them.
 */
static void
rows_of(const PGresult *r, int col, int64_t id, int *at, int *lo)
{
	int n = PQntuples(r);

	while (*at < n && row_patient(r, *at, col) < id)
		(*at)++;
	*lo = *at;
	while (*at < n && row_patient(r, *at, col) == id)
		(*at)++;
}

void
reeval_read_slice(PGresult *const *res, int64_t patient, int at[REEVAL_NREADS],
    struct reeval_msgs *msgs, struct reeval_slice *sl)
{
	int elo;

	sl->msgs = msgs;
	msgs->built = false;
	sl->er = res[0];
	sl->hr = res[1];
	sl->ar = res[2];
	rows_of(sl->er, COL_ENROLL_PATIENT, patient, &at[0], &elo);
	sl->erow = at[0] > elo ? elo : -1;
	rows_of(sl->hr, COL_HISTORY_PATIENT, patient, &at[1], &sl->hlo);
	sl->hhi = at[1];
	rows_of(sl->ar, COL_ALERT_PATIENT, patient, &at[2], &sl->alo);
	sl->ahi = at[2];
	sl->vr = res[3];
	rows_of(sl->vr, COL_VERDICT_PATIENT, patient, &at[3], &sl->vlo);
	sl->vhi = at[3];
}

int64_t
reeval_read_observed_at(const struct reeval_slice *sl, int64_t obs)
{
	int lo = sl->hlo, hi = sl->hhi, mid;
	int64_t id;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		id = strtoll(PQgetvalue(sl->hr, mid, 0), NULL, 10);
		if (id == obs)
			return (
			    int64_t)strtod(PQgetvalue(sl->hr, mid, 11), NULL);
		if (id < obs)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int
msg_run_cmp(const void *a, const void *b)
{
	const struct reeval_msg_run *x = a, *y = b;

	return x->msg < y->msg ? -1 : x->msg > y->msg;
}

/*
 * The slice's results in runs of one message, by message: one strtoll a
 * row, and a sort only when the messages do not come in order.
 */
static void
msgs_build(const struct reeval_slice *sl, struct reeval_msgs *m)
{
	struct reeval_msg_run *r = NULL;
	bool sorted = true;
	int64_t msg;
	int i;

	m->n = 0;
	for (i = sl->hlo; i < sl->hhi; i++) {
		msg = strtoll(PQgetvalue(sl->hr, i, 14), NULL, 10);
		if (r != NULL && r->msg == msg) {
			r->hi = i + 1;
			continue;
		}
		/* Before the array may move: r points into it. */
		sorted = sorted && (r == NULL || r->msg < msg);
		if (m->n == m->cap) {
			m->cap = m->cap ? 2 * m->cap : 64;
			m->v = xreallocarray(m->v, m->cap, sizeof(*m->v));
		}
		r = &m->v[m->n++];
		r->msg = msg;
		r->lo = i;
		r->hi = i + 1;
	}
	if (!sorted)
		qsort(m->v, m->n, sizeof(*m->v), msg_run_cmp);
	m->built = true;
}

int64_t
reeval_read_message_at(const struct reeval_slice *sl, int64_t msg)
{
	struct reeval_msgs *m = sl->msgs;
	size_t lo = 0, hi, mid;
	int64_t at = -1, t;
	int i;

	if (!m->built)
		msgs_build(sl, m);
	/* The first run of msg, then every run of it. */
	for (hi = m->n; lo < hi;) {
		mid = lo + (hi - lo) / 2;
		if (m->v[mid].msg < msg)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < m->n && m->v[lo].msg == msg; lo++)
		for (i = m->v[lo].lo; i < m->v[lo].hi; i++) {
			t = (int64_t)strtod(PQgetvalue(sl->hr, i, 11), NULL);
			if (t > at)
				at = t;
		}
	return at;
}

/*
 * Column col of row (NULL: empty); marked: without the U+FFFD the
 * history read appends to a stored unit_unknown's unit or
 * range_unreadable's range (ROWS_HISTORY_COLS; the last one, when it is
 * the only one).
 */
static struct hl7_str
obs_col(const PGresult *r, int row, int col, bool marked)
{
	static const char mark[] = "\xEF\xBF\xBD";
	struct hl7_str s = { PQgetvalue(r, row, col),
		(size_t)PQgetlength(r, row, col) };
	size_t m = sizeof(mark) - 1;

	if (marked && s.len >= m && memcmp(s.p + s.len - m, mark, m) == 0 &&
	    strstr(s.p, mark) == s.p + s.len - m)
		s.len -= m;
	return s;
}

void
reeval_read_obs(const struct reeval_slice *sl, int row, struct oru_obs *x)
{
	memset(x, 0, sizeof(*x));
	x->order = UINT32_MAX;
	x->code = obs_col(sl->hr, row, 2, false);
	x->alt_code = obs_col(sl->hr, row, 4, false);
	x->units = obs_col(sl->hr, row, 8, true);
	x->ref_range = obs_col(sl->hr, row, 9, true);
	x->value_text = obs_col(sl->hr, row, 12, false);
}

/* One note: id superseded by the row at (>= 0), retracted, or replacing. */
#define WD_RETRACTED (-1)
#define WD_REPLACES (-2)

static void
ids_push(struct reeval_ids *s, int64_t id, int at)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = xreallocarray(s->v, s->cap, sizeof(*s->v));
	}
	s->v[s->n].id = id;
	s->v[s->n++].at = at;
}

void
reeval_ids_note(struct reeval_ids *s, const struct rules_update *up, int row)
{
	size_t k;

	for (k = 0; k < up->nsuperseded; k++)
		ids_push(s, (int64_t)up->superseded[k], row);
	for (k = 0; k < up->nretracted; k++)
		ids_push(s, (int64_t)up->retracted[k], WD_RETRACTED);
	ids_push(s, (int64_t)up->entry->id,
	    up->entry->retracted ? WD_RETRACTED : WD_REPLACES);
}

static int
cmp_id(const void *a, const void *b)
{
	const struct reeval_wd *x = a, *y = b;

	if (x->id != y->id)
		return (x->id > y->id) - (x->id < y->id);
	return (x->at > y->at) - (x->at < y->at);
}

void
reeval_ids_sort(struct reeval_ids *s)
{
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), cmp_id);
}

/*
 * What the notes say of id: *retracted, *replaces, and the row that
 * supersedes it (-1: none).
 */
static int
ids_find(const struct reeval_ids *s, int64_t id, bool *retracted,
    bool *replaces)
{
	size_t lo = 0, hi = s->n, mid;
	int by = -1;

	*retracted = *replaces = false;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < s->n && s->v[lo].id == id; lo++) {
		if (s->v[lo].at == WD_RETRACTED)
			*retracted = true;
		else if (s->v[lo].at == WD_REPLACES)
			*replaces = true;
		else
			by = s->v[lo].at;
	}
	return by;
}

bool
reeval_ids_has(const struct reeval_ids *s, int64_t id)
{
	bool ret, rep;

	return s->n > 0 && (ids_find(s, id, &ret, &rep) >= 0 || ret);
}

int
reeval_read_standing(const struct reeval_ids *s, const struct reeval_slice *sl,
    int i)
{
	bool ret, rep;
	int by, r = i, n;

	(void)ids_find(s, row_patient(sl->hr, i, 0), &ret, &rep);
	if (rep)
		return -1; /* replayed where what it corrects was */
	for (n = 0; n < sl->hhi - sl->hlo; n++) {
		by = ids_find(s, row_patient(sl->hr, r, 0), &ret, &rep);
		if (ret)
			return -1;
		if (by < 0)
			return r;
		r = by;
	}
	return -1;
}
