/*
 * test_triage.c: what a frame becomes before the database (triage.c):
 * kept or quarantined, with which reason, error code and ACK; and the
 * order the batch state machine (ingest.c) insists on, with no database.
 * Each case is a frame a real sender sent, or the limit it ran into.
 */
#include <signal.h>
#include <string.h>

#include <criterion/criterion.h>

#include "hl7/hl7.h"
#include "hl7/oru.h"
#include "store/ingest.h"
#include "store/triage.h"

#define MSH "MSH|^~\\&|LIS|LAB|LW|HOSP|20240301083000||"
#define PID "PID|1||MRN001^^^HOSP^MR||DOE^JANE\r"
#define OBR "OBR|1|ORD1||24325-3^Hepatic panel^LN\r"
#define OBX "OBX|1|NM|1742-6^ALT^LN||41|U/L|7-56||||F|||20240301080000\r"

static const struct {
	const char *name;
	enum store_frame_kind kind;
	const char *frame;
	bool refuse_other_types;
	uint32_t max_observations;
	bool quarantine, ignored;
	int err_code;
	const char *ack;    /* ack_code before the ACK is built */
	const char *reason; /* a substring, NULL for none */
} cases[] = {
	{ "an ORU^R01 with one result", STORE_FRAME,
	    MSH "ORU^R01|C1|P|2.5.1\r" PID OBR OBX, false, 100, false, false, 0,
	    "AA", NULL },
	{ "enhanced mode (MSH-15/16): CA", STORE_FRAME,
	    MSH "ORU^R01|C2|P|2.5.1|||AL|NE\r" PID OBR OBX, false, 100, false,
	    false, 0, "CA", NULL },
	{ "longer than max_message_size: AR", STORE_FRAME_OVERSIZE,
	    MSH "ORU^R01|C3|P|2.5.1\r" PID, false, 100, true, false,
	    HL7_ERR_INTERNAL, "AR", "max_message_size" },
	{ "cut short by the peer: AE, no ACK", STORE_FRAME_ABANDONED,
	    MSH "ORU^R01|C4|P|2.5", false, 100, true, false,
	    HL7_ERR_SEGMENT_SEQUENCE, "AE", "cut short" },
	{ "not HL7 at all: AE", STORE_FRAME, "GET / HTTP/1.1\r\n\r\n", false,
	    100, true, false, -1, "AE", NULL },
	{ "version 2.1 is not taken: AR (resend later)", STORE_FRAME,
	    MSH "ORU^R01|C5|P|2.1\r" PID OBR OBX, false, 100, true, false,
	    HL7_ERR_UNSUPPORTED_VERSION, "AR", NULL },
	{ "an ADT^A01 when other types are ignored", STORE_FRAME,
	    MSH "ADT^A01|C6|P|2.5.1\r" PID, false, 100, false, true, 0, "AA",
	    NULL },
	{ "an ADT^A01 when other types are refused: AR", STORE_FRAME,
	    MSH "ADT^A01|C7|P|2.5.1\r" PID, true, 100, true, false,
	    HL7_ERR_UNSUPPORTED_TYPE, "AR", "ORU^R01 only" },
	{ "an ORU^R01 without OBX: AE 100", STORE_FRAME,
	    MSH "ORU^R01|C8|P|2.5.1\r" PID OBR, false, 100, true, false,
	    HL7_ERR_SEGMENT_SEQUENCE, "AE", "without an OBX" },
	{ "results before any PID: AE 100", STORE_FRAME,
	    MSH "ORU^R01|C9|P|2.5.1\r" OBR OBX, false, 100, true, false,
	    HL7_ERR_SEGMENT_SEQUENCE, "AE", "before any PID" },
	{ "more OBX than max_observations: AE", STORE_FRAME,
	    MSH "ORU^R01|C10|P|2.5.1\r" PID OBR OBX OBX, false, 1, true, false,
	    HL7_ERR_INTERNAL, "AE", "max_observations" },
	{ "exactly max_observations: kept", STORE_FRAME,
	    MSH "ORU^R01|C11|P|2.5.1\r" PID OBR OBX OBX, false, 2, false, false,
	    0, "AA", NULL },
	{ "results for nobody (PID-3 empty): AE 101", STORE_FRAME,
	    MSH "ORU^R01|C12|P|2.5.1\rPID|1||||DOE^JANE\r" OBR OBX, false, 100,
	    true, false, HL7_ERR_REQUIRED_FIELD, "AE", "PID-3" },
	{ "an enhanced-mode refusal is CE, not AE", STORE_FRAME,
	    MSH "ORU^R01|C13|P|2.5.1|||AL|NE\r" PID OBR, false, 100, true,
	    false, HL7_ERR_SEGMENT_SEQUENCE, "CE", "without an OBX" },
};

Test(triage, table)
{
	struct ingest_opts o;
	struct ingest_work w;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&o, 0, sizeof(o));
		o.id_type = "MR";
		o.refuse_other_types = cases[i].refuse_other_types;
		o.max_observations = cases[i].max_observations;
		memset(&w, 0, sizeof(w));
		hl7_msg_init(&w.msg);
		oru_msg_init(&w.oru);
		w.kind = cases[i].kind;
		w.data = cases[i].frame;
		w.len = strlen(cases[i].frame);
		w.total = w.len;
		w.peer = "192.0.2.1:2575";
		triage_prepare(&o, &w);
		cr_expect_eq(w.quarantine, cases[i].quarantine,
		    "%s: quarantine", cases[i].name);
		cr_expect_eq(w.ignored, cases[i].ignored, "%s: ignored",
		    cases[i].name);
		if (cases[i].err_code >= 0)
			cr_expect_eq(w.err_code, cases[i].err_code,
			    "%s: error %d", cases[i].name, w.err_code);
		cr_expect_str_eq(w.ack_code, cases[i].ack, "%s: %s",
		    cases[i].name, w.ack_code);
		if (cases[i].reason != NULL)
			cr_expect(w.reason != NULL &&
				strstr(w.reason, cases[i].reason) != NULL,
			    "%s: reason %s", cases[i].name,
			    w.reason ? w.reason : "(none)");
		oru_msg_free(&w.oru);
		hl7_msg_free(&w.msg);
	}
}

/* The ACK a sender sees, and what is stored of it ("none" when none). */
Test(triage, ack_stored)
{
	struct ingest_opts o;
	struct ingest_work w;
	struct buf out;

	memset(&o, 0, sizeof(o));
	o.id_type = "MR";
	o.max_observations = 100;
	memset(&w, 0, sizeof(w));
	hl7_msg_init(&w.msg);
	oru_msg_init(&w.oru);
	buf_init(&out);
	w.kind = STORE_FRAME;
	w.data = MSH "ORU^R01|C20|P|2.5.1\r" PID OBR OBX;
	w.len = strlen(w.data);
	w.total = w.len;
	w.peer = "192.0.2.1:2575";
	triage_prepare(&o, &w);
	cr_assert(triage_ack(&o, 7, &w, &out));
	cr_expect_str_eq(w.ack_code, "AA");
	cr_expect(strstr(out.p, "MSA|AA|C20") != NULL, "%s", out.p);
	cr_expect_str_eq(triage_ack_stored(&w), "AA");

	/* A frame cut short has no message to answer. */
	w.kind = STORE_FRAME_ABANDONED;
	triage_prepare(&o, &w);
	buf_reset(&out);
	cr_expect(!triage_ack(&o, 8, &w, &out));
	cr_expect_str_eq(triage_ack_stored(&w), "none");
	buf_free(&out);
	oru_msg_free(&w.oru);
	hl7_msg_free(&w.msg);
}

static void
quiet(void *arg, int level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

static struct ingest *
new_ingest(void)
{
	struct ingest_opts o;

	memset(&o, 0, sizeof(o));
	o.conninfo = "host=/nonexistent";
	o.log = quiet;
	return ingest_new(&o, NULL);
}

/* Nothing in flight: finishing and aborting are no-ops. */
Test(ingest_order, idle)
{
	struct ingest *g = new_ingest();
	char *cause = NULL;

	cr_expect_eq(ingest_finish(g, &cause), INGEST_OK);
	ingest_abort(g);
	cr_expect(!ingest_connected(g));
	ingest_free(g);
}

/* Not connected: a batch is refused as DOWN (spooled), not half sent. */
Test(ingest_order, start_not_connected)
{
	struct ingest *g = new_ingest();
	struct ingest_work w, *ws[1] = { &w };
	char *cause = NULL;

	memset(&w, 0, sizeof(w));
	cr_expect_eq(ingest_start(g, ws, 1, &cause), INGEST_DOWN);
	cr_expect_str_eq(cause, "not connected");
	free(cause);
	cause = NULL;
	cr_expect_eq(ingest_send(g, ws, 1, &cause), INGEST_BUSY);
	cr_expect_null(cause);
	/* And no state was left behind: an idle finish. */
	cr_expect_eq(ingest_finish(g, &cause), INGEST_OK);
	ingest_free(g);
}

/* Committing what was never started is a bug of the caller's: fatalx. */
Test(ingest_order, commit_without_start, .signal = SIGABRT)
{
	struct ingest *g = new_ingest();
	char *cause = NULL;

	cr_expect_eq(ingest_commit(g, &cause), INGEST_OK, "not reached");
}
