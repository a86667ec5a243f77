/*
 * triage.c: what a frame becomes before the database (see triage.h).
 */
#include "store/triage.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hl7/ack.h"
#include "store/ingest.h"
#include "store/text.h"

/* What of a frame cut or too long can be read, for the ACK's MSH. */
static void
parse_for_ack(struct ingest_work *w, const struct hl7_parse_opts *popts)
{
	/* Its status is not looked at: the ACK uses what MSH gave either way. */
	(void)!hl7_parse(&w->msg, w->data, w->len, popts);
}

void
triage_prepare(const struct ingest_opts *o, struct ingest_work *w)
{
	struct hl7_parse_opts popts = { o->default_charset };
	struct oru_opts oopts = { o->id_type };
	uint32_t i;

	w->parsed = w->quarantine = w->ignored = false;
	w->reason = NULL;
	w->err_code = 0;
	w->outcome = STORE_PROCESSED;
	w->message_id = 0;
	w->nalerts = 0;
	memset(w->alerts_by, 0, sizeof(w->alerts_by));
	memcpy(w->ack_code, "AA", 3);
	if (w->kind == STORE_FRAME_OVERSIZE) {
		w->quarantine = true;
		w->reason = "message larger than max_message_size";
		w->err_code = HL7_ERR_INTERNAL;
		memcpy(w->ack_code, "AR", 3);
		parse_for_ack(w, &popts);
		return;
	}
	if (w->kind == STORE_FRAME_ABANDONED) {
		w->quarantine = true;
		w->reason = "frame cut short (no end block)";
		w->err_code = HL7_ERR_SEGMENT_SEQUENCE;
		memcpy(w->ack_code, "AE", 3);
		parse_for_ack(w, &popts);
		return;
	}
	if (hl7_parse(&w->msg, w->data, w->len, &popts) != 0 ||
	    oru_extract(&w->oru, &w->msg, &oopts) != 0) {
		w->quarantine = true;
		w->reason = w->msg.err.reason;
		w->err_code = (int)w->msg.err.code;
		/* MSH-level refusals are AR (resend later); content errors AE. */
		memcpy(w->ack_code,
		    w->err_code == HL7_ERR_UNSUPPORTED_VERSION ? "AR" : "AE",
		    3);
		return;
	}
	w->parsed = true;
	/* MSH-15/16 ask for enhanced mode: the sender will see CA, CE, CR. */
	if (w->oru.accept_ack.len > 0 || w->oru.app_ack.len > 0)
		w->ack_code[0] = 'C';
	if ((w->reason = text_check_keys(&w->oru, &w->msg.err)) != NULL) {
		/* Too long for its index, or bytes a sanitiser would change. */
		w->quarantine = true;
		w->err_code = HL7_ERR_DATA_TYPE;
		w->ack_code[1] = 'E';
		return;
	}
	if (!w->oru.is_oru) {
		if (o->refuse_other_types) {
			w->quarantine = true;
			w->reason = "message type not accepted (ORU^R01 only)";
			w->err_code = HL7_ERR_UNSUPPORTED_TYPE;
			w->ack_code[1] = 'R';
		} else
			w->ignored = true;
		return;
	}
	if (w->oru.nobs == 0 || w->oru.npatients == 0 ||
	    w->oru.patients[0].seg == UINT32_MAX) {
		/* Results with no one, or no results: not an ORU^R01. */
		w->quarantine = true;
		w->reason = w->oru.nobs == 0 ?
		    "ORU^R01 without an OBX segment" :
		    "ORU^R01 with results before any PID segment";
		w->err_code = HL7_ERR_SEGMENT_SEQUENCE;
		w->ack_code[1] = 'E';
		return;
	}
	if (w->oru.nobs > o->max_observations) {
		/* Storing it would hold up every other sender's ACKs. */
		w->quarantine = true;
		w->reason = "more OBX segments than max_observations";
		w->err_code = HL7_ERR_INTERNAL;
		w->ack_code[1] = 'E';
		return;
	}
	for (i = 0; i < w->oru.npatients; i++)
		if (w->oru.patients[i].id.len == 0 &&
		    w->oru.patients[i].nobs > 0) {
			/* Results for nobody cannot be kept as results. */
			w->quarantine = true;
			w->reason = "PID-3 patient identifier missing";
			w->err_code = HL7_ERR_REQUIRED_FIELD;
			w->ack_code[1] = 'E';
			return;
		}
}

static enum hl7_ack_code
ack_code_of(const struct ingest_work *w)
{
	return w->ack_code[1] == 'A' ? HL7_ACK_ACCEPT :
	    w->ack_code[1] == 'E'    ? HL7_ACK_ERROR :
				       HL7_ACK_REJECT;
}

const char *
triage_ack_stored(const struct ingest_work *w)
{
	const char *c = NULL;

	if (w->kind != STORE_FRAME_ABANDONED)
		c = hl7_ack_sent_code(&w->msg, ack_code_of(w));
	return c != NULL ? c : "none";
}

bool
triage_ack(const struct ingest_opts *o, uint64_t seq, struct ingest_work *w,
    struct buf *out)
{
	struct hl7_ack_info info;
	char cid[40], ts[32], ref[HL7_ACK_CONTROL_ID_MAX + 1];
	time_t now = time(NULL);
	struct tm tm;

	memset(&info, 0, sizeof(info));
	if (w->kind == STORE_FRAME_ABANDONED)
		return false; /* no whole message to answer */
	info.code = ack_code_of(w);
	info.err = (enum hl7_errcode)w->err_code;
	info.text = w->reason;
	if (w->quarantine && w->msg.err.seg_id[0] != '\0') {
		info.err_seg = w->msg.err.seg_id;
		info.err_seq = w->msg.err.seg_seq;
		info.err_field = w->msg.err.field;
	}
	snprintf(cid, sizeof(cid), "LW%lld%06llu", (long long)now,
	    (unsigned long long)(seq % 1000000));
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y%m%d%H%M%S+0000", &tm);
	info.control_id = cid;
	info.timestamp = ts;
	info.app = o->app ? o->app : "LABWATCH";
	info.facility = o->facility ? o->facility : "";
	if (hl7_ack_recover_control_id(w->data, w->len, ref, sizeof(ref)) > 0)
		info.ref_control_id = ref;
	if (hl7_ack_build(out, &w->msg, &info) == 0)
		return false;
	/* Remember which code the sender saw (CA and AA alike). */
	memcpy(w->ack_code, triage_ack_stored(w), 3);
	return true;
}
