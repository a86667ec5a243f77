/*
 * fuzz_parse.c: libFuzzer harness for file splitting, the parser, ORU
 * extraction and the ACK builder: everything a hostile sender's bytes reach
 * before the rules see them. Every observation field is read and decoded so
 * that escapes, charsets and numbers are exercised too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hl7/ack.h"
#include "lib/buf.h"
#include "hl7/dtm.h"
#include "hl7/hl7.h"
#include "hl7/oru.h"
#include "hl7/split.h"

static size_t sink;

static void
touch(struct hl7_str s)
{
	size_t i;

	for (i = 0; i < s.len; i++)
		sink += (unsigned char)s.p[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct hl7_msg m;
	static struct oru_msg o;
	static bool init;
	struct hl7_parse_opts popts = { "8859/1" };
	struct hl7_ack_info info;
	struct hl7_split *sp;
	struct hl7_split_item it;
	struct buf ack;
	char iso[40];
	uint32_t i;

	if (!init) {
		hl7_msg_init(&m);
		oru_msg_init(&o);
		init = true;
	}
	buf_init(&ack);
	sp = hl7_split_new((const char *)data, len, 1 << 16);
	while (hl7_split_next(sp, &it) == 1) {
		if (it.is_error)
			continue;
		memset(&info, 0, sizeof(info));
		info.control_id = "1";
		info.timestamp = "20260101000000";
		info.app = "LABWATCH";
		info.facility = "HOSP";
		if (hl7_parse(&m, it.data, it.len, &popts) != 0 ||
		    oru_extract(&o, &m, NULL) != 0) {
			if (m.err.reason == NULL)
				abort(); /* every failure has a reason */
			info.code = HL7_ACK_ERROR;
			info.err = m.err.code;
			info.text = m.err.reason;
		} else {
			for (i = 0; i < o.nobs; i++) {
				touch(o.obs[i].code);
				touch(o.obs[i].value_text);
				touch(o.obs[i].units);
				touch(o.obs[i].comment);
				touch(o.obs[i].flags);
				sink += hl7_dtm_iso(&o.obs[i].observed_at, iso);
			}
			for (i = 0; i < o.npatients; i++)
				touch(o.patients[i].id);
		}
		buf_reset(&ack);
		sink += (size_t)hl7_ack_build(&ack, &m, &info);
	}
	hl7_split_free(sp);
	buf_free(&ack);
	return 0;
}
