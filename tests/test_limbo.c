/*
 * test_limbo.c: frames whose COMMIT's answer was lost, held until the
 * database is asked (store/limbo.c), without a database: a held frame
 * holds back the later frames of its connection and no other's; nothing
 * is handed back before its turn; given up, each keeps the AR it was
 * given, and they come back in the order they would have. And the
 * lookup of a batch's frame by the id its row was offered with (batch_ids.c),
 * when a drained frame's old id breaks their ascending order.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "store/batch_ids.h"
#include "store/ingest.h"
#include "store/limbo.h"
#include "store/triage.h"

#define FRAME(cid) \
	"MSH|^~\\&|LIS|LAB|LW|HOSP|20240301083000||ORU^R01|" cid \
	"|P|2.5.1\rPID|1||MRN001^^^HOSP^MR\rOBR|1|O1||24325-3^H^LN\r" \
	"OBX|1|NM|1742-6^ALT^LN||41|U/L|7-56||||F\r"

static void
quiet(void *arg, int level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

static struct ingest *g;
static struct ingest_opts o;
static struct limbo l;

static void
setup(void)
{
	memset(&o, 0, sizeof(o));
	o.conninfo = "host=/nonexistent";
	o.app = "LABWATCH";
	o.facility = "";
	o.id_type = "MR";
	o.max_observations = 100;
	o.log = quiet;
	g = ingest_new(&o, NULL);
	limbo_init(&l);
}

static void
teardown(void)
{
	limbo_free(&l);
	ingest_free(g);
}

/* A frame of connection conn, as the writer has it after its batch. */
static struct store_item *
item(const char *frame, void *conn)
{
	struct store_item *it = store_item_new(STORE_FRAME, frame,
	    strlen(frame), strlen(frame));

	it->conn = conn;
	it->conn_gen = 1;
	it->outcome = STORE_REJECTED; /* the AR it is given meanwhile */
	return it;
}

/* Hold it as spool_batch() does: w prepared from its frame. */
static void
hold(struct store_item *it)
{
	struct ingest_work w;

	memset(&w, 0, sizeof(w));
	hl7_msg_init(&w.msg);
	oru_msg_init(&w.oru);
	w.kind = it->kind;
	w.data = it->data;
	w.len = it->len;
	w.total = it->total;
	w.peer = "127.0.0.1:1";
	w.reserved_id = 42;
	ingest_prepare(g, &w);
	limbo_hold(&l, g, it, &w);
	hl7_msg_free(&w.msg);
	oru_msg_free(&w.oru);
}

static int conn1, conn2;

TestSuite(limbo, .init = setup, .fini = teardown);

Test(limbo, a_held_frame_holds_back_its_connection_only)
{
	struct store_item *a = item(FRAME("A"), &conn1);
	struct store_item *b = item(FRAME("B"), &conn1);
	struct store_item *c = item(FRAME("C"), &conn2);
	struct store_item **out;

	hold(a);
	cr_expect(limbo_asking(&l));
	cr_expect(limbo_takes(&l, a), "the held frame itself");
	cr_expect(limbo_takes(&l, b), "a later frame of its connection");
	cr_expect(!limbo_takes(&l, c), "another connection's goes on");
	store_item_free(c);
	cr_expect_eq(limbo_release(&l, &out), 0, "nothing before it is asked");
	free(out);
	/* Not asked (no database): both come back, in order, a with its AR. */
	cr_expect_eq(limbo_give_up(&l), 1);
	cr_expect(!limbo_asking(&l));
	cr_assert_eq(limbo_release(&l, &out), 2);
	cr_expect_eq(out[0], a);
	cr_expect_eq(out[1], b);
	cr_expect_eq(a->outcome, STORE_REJECTED);
	store_item_free(a);
	store_item_free(b);
	free(out);
	cr_expect_eq(limbo_release(&l, &out), 0, "nothing left");
	free(out);
}

Test(limbo, a_later_connection_reuse_is_another_connection)
{
	struct store_item *a = item(FRAME("A"), &conn1);
	struct store_item *b = item(FRAME("B"), &conn1);
	struct store_item **out;
	size_t n;

	hold(a);
	b->conn_gen = 2; /* the same struct, a new connection */
	cr_expect(!limbo_takes(&l, b));
	store_item_free(b);
	cr_expect_eq(limbo_give_up(&l), 1);
	n = limbo_release(&l, &out);
	cr_expect_eq(n, 1);
	store_item_free(a);
	free(out);
}

Test(limbo, two_connections_held_each_keeps_its_order)
{
	struct store_item *a = item(FRAME("A"), &conn1);
	struct store_item *b = item(FRAME("B"), &conn2);
	struct store_item *a2 = item(FRAME("A2"), &conn1);
	struct store_item *b2 = item(FRAME("B2"), &conn2);
	struct store_item **out;
	size_t i, n;

	hold(a);
	hold(b);
	cr_expect(limbo_takes(&l, a));
	cr_expect(limbo_takes(&l, b));
	cr_expect(limbo_takes(&l, a2));
	cr_expect(limbo_takes(&l, b2));
	cr_expect_eq(limbo_give_up(&l), 2);
	n = limbo_release(&l, &out);
	cr_assert_eq(n, 4);
	cr_expect_eq(out[0], a);
	cr_expect_eq(out[1], b);
	cr_expect_eq(out[2], a2);
	cr_expect_eq(out[3], b2);
	for (i = 0; i < n; i++)
		store_item_free(out[i]);
	free(out);
}

/*
 * A drain batch offers a frame of a lost COMMIT again with its old id
 * (ingest_work.spooled_id), older than the fresh ids before it: the ids
 * of a batch then do not ascend, and the RETURNING ids must still find
 * their frames (a binary search would miss one, taken for a duplicate:
 * its observations never written).
 */
static const struct {
	const char *name;
	int64_t ids[4];
	size_t n;
	bool ascending;
} id_batches[] = {
	{ "fresh ids, ascending", { 100, 101, 102, 103 }, 4, true },
	{ "an old id after fresh ones", { 5000, 5001, 42, 5002 }, 4, false },
	{ "old ids only, in spool order", { 77, 42, 90 }, 3, false },
	{ "one frame", { 42 }, 1, true },
	{ "an old id between fresh ones", { 100, 102, 101 }, 3, false },
	{ "no id left to reserve (0)", { 0 }, 1, false },
};

Test(batch_ids, found_whether_or_not_they_ascend)
{
	struct ingest_work w[4], *ws[4];
	size_t i, k;
	int64_t id;
	bool ascending;

	for (i = 0; i < sizeof(id_batches) / sizeof(id_batches[0]); i++) {
		for (k = 0; k < id_batches[i].n; k++) {
			memset(&w[k], 0, sizeof(w[k]));
			w[k].reserved_id = id_batches[i].ids[k];
			ws[k] = &w[k];
		}
		ascending = batch_ids_ascend(ws, id_batches[i].n);
		cr_expect_eq(ascending, id_batches[i].ascending,
		    "%s: ascending %d", id_batches[i].name, ascending);
		for (k = 0; k < id_batches[i].n; k++) {
			id = id_batches[i].ids[k];
			cr_expect_eq(batch_ids_find(ws, id_batches[i].n,
					 ascending, id),
			    &w[k], "%s: id %lld", id_batches[i].name,
			    (long long)id);
		}
		cr_expect_null(batch_ids_find(ws, id_batches[i].n, ascending,
				   43),
		    "%s: an id not offered", id_batches[i].name);
	}
}
