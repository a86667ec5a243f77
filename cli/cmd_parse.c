/*
 * cmd_parse.c: labwatch parse [options] [FILE...|-]
 *
 * Reads MLLP captures, raw message files and FHS/BHS batches, and prints one
 * JSON object per message (the interface documented in the README). A
 * message that cannot be read prints an error object instead; the others
 * are still printed, and the exit status is 1.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json.h"
#include "cmd.h"
#include "hl7/ack.h"
#include "hl7/dtm.h"
#include "hl7/split.h"

#define DEFAULT_MAX_SIZE (8u * 1024 * 1024)

/* ,"key": then the string or null (key a literal: its length is known). */
#define STR_FIELD(c, key, s) \
	do { \
		json_cur_lit(c, ",\"" key "\":"); \
		json_cur_str_or_null(c, (s).p, (s).len); \
	} while (0)

/* STR_FIELD in room reserved by json_cur_reserve(). */
#define STR_FIELD_RESERVED(c, key, s) \
	do { \
		json_cur_lit_unchecked(c, ",\"" key "\":"); \
		json_cur_str_or_null_unchecked(c, (s).p, (s).len); \
	} while (0)

/*
 * True when p[0..len) is 1 to 9 digits without a leading zero: what the
 * number writer gives back for it, so OBX-1 ("1" ... "20") can be copied
 * as it is instead of read and written as a number.
 */
static inline bool
plain_uint(const char *p, size_t len)
{
	size_t i;

	if (len == 0 || len > 9 || p[0] == '0')
		return false;
	for (i = 0; i < len; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* The length of a comparator ("", "<", "<=", ...; at most 2 bytes). */
static inline size_t
cmp_len(const char cmp[3])
{
	return cmp[0] == '\0' ? 0 : cmp[1] == '\0' ? 1 : 2;
}

/*
 * What obs_json writes besides its strings, over-counted: the keys (about
 * 300 bytes), two numbers, the time (cli_json_dtm: at most
 * JSON_STR_ROOM(40)), the comparator and the time source's name.
 */
#define OBS_FIXED_ROOM 1024

/* The room obs_json needs for x: reserved once, then appends unchecked. */
static inline size_t
obs_room(const struct oru_msg *o, const struct oru_obs *x)
{
	const struct oru_order *r;
	size_t n = OBS_FIXED_ROOM + json_str_resv(x->set_id.len) +
	    json_str_resv(x->code.len) + json_str_resv(x->coding_system.len) +
	    json_str_resv(x->text.len) + json_str_resv(x->alt_code.len) +
	    json_str_resv(x->alt_system.len) + json_str_resv(x->alt_text.len) +
	    json_str_resv(x->sub_id.len) + json_str_resv(x->value_type.len) +
	    json_str_resv(x->value_text.len) + json_str_resv(x->units.len) +
	    json_str_resv(x->ref_range.len) + json_str_resv(x->flags.len) +
	    json_str_resv(x->status.len) + json_str_resv(x->comment.len);

	if (x->order != UINT32_MAX) {
		r = &o->orders[x->order];
		n += json_str_resv(r->placer.len) +
		    json_str_resv(r->filler.len) + json_str_resv(r->code.len) +
		    json_str_resv(r->text.len);
	}
	return n;
}

/* One observation's members; w is the caller's cursor. */
static void
obs_json(struct json_cur *w, const struct oru_msg *o, const struct oru_obs *x)
{
	struct json_cur c = *w; /* a copy the compiler can keep in registers */
	double set_id;

	json_cur_reserve(&c, obs_room(o, x));
	json_cur_lit_unchecked(&c, "{\"set_id\":");
	if (plain_uint(x->set_id.p, x->set_id.len))
		json_cur_raw_unchecked(&c, x->set_id.p, x->set_id.len);
	else if (hl7_number(x->set_id.p, x->set_id.len, &set_id) == 0)
		json_cur_num_unchecked(&c, set_id);
	else
		json_cur_str_or_null_unchecked(&c, x->set_id.p, x->set_id.len);
	STR_FIELD_RESERVED(&c, "code", x->code);
	STR_FIELD_RESERVED(&c, "coding_system", x->coding_system);
	STR_FIELD_RESERVED(&c, "text", x->text);
	STR_FIELD_RESERVED(&c, "alt_code", x->alt_code);
	STR_FIELD_RESERVED(&c, "alt_coding_system", x->alt_system);
	STR_FIELD_RESERVED(&c, "alt_text", x->alt_text);
	STR_FIELD_RESERVED(&c, "sub_id", x->sub_id);
	STR_FIELD_RESERVED(&c, "value_type", x->value_type);
	json_cur_lit_unchecked(&c, ",\"value\":");
	if (x->kind == ORU_VALUE_NUMBER)
		json_cur_num_text_unchecked(&c, x->number, x->number_text.p,
		    x->number_text.len);
	else
		json_cur_str_or_null_unchecked(&c, x->value_text.p,
		    x->value_text.len);
	json_cur_lit_unchecked(&c, ",\"comparator\":");
	json_cur_str_or_null_unchecked(&c, x->comparator,
	    cmp_len(x->comparator));
	STR_FIELD_RESERVED(&c, "units", x->units);
	STR_FIELD_RESERVED(&c, "ref_range", x->ref_range);
	STR_FIELD_RESERVED(&c, "flags", x->flags);
	STR_FIELD_RESERVED(&c, "status", x->status);
	json_cur_lit_unchecked(&c, ",\"observed_at\":");
	cli_json_dtm(&c, &x->observed_at); /* checked, in the reservation */
	json_cur_lit_unchecked(&c, ",\"observed_at_source\":");
	json_cur_strz(&c, oru_time_source_name(x->time_source));
	json_cur_lit_unchecked(&c, ",\"order\":");
	if (x->order == UINT32_MAX)
		json_cur_lit_unchecked(&c, "null");
	else {
		const struct oru_order *r = &o->orders[x->order];

		json_cur_lit_unchecked(&c, "{\"placer\":");
		json_cur_str_or_null_unchecked(&c, r->placer.p, r->placer.len);
		STR_FIELD_RESERVED(&c, "filler", r->filler);
		STR_FIELD_RESERVED(&c, "code", r->code);
		STR_FIELD_RESERVED(&c, "text", r->text);
		json_cur_lit_unchecked(&c, "}");
	}
	STR_FIELD_RESERVED(&c, "comment", x->comment);
	json_cur_lit_unchecked(&c, "}");
	*w = c;
}

/* The message's own members, up to "patients". */
static void
msg_head_json(struct json_cur *w, const struct oru_msg *o, const char *file,
    size_t offset)
{
	struct json_cur c = *w;

	json_cur_lit(&c, "{\"control_id\":");
	json_cur_str_or_null(&c, o->control_id.p, o->control_id.len);
	json_cur_lit(&c, ",\"type\":");
	json_cur_strz(&c, o->type);
	STR_FIELD(&c, "version", o->version);
	STR_FIELD(&c, "sending_application", o->sending_app);
	STR_FIELD(&c, "sending_facility", o->sending_facility);
	STR_FIELD(&c, "receiving_application", o->receiving_app);
	STR_FIELD(&c, "receiving_facility", o->receiving_facility);
	json_cur_lit(&c, ",\"message_time\":");
	cli_json_dtm(&c, &o->msh7);
	STR_FIELD(&c, "processing_id", o->processing_id);
	STR_FIELD(&c, "accept_ack_type", o->accept_ack);
	STR_FIELD(&c, "charset", o->charset);
	json_cur_lit(&c, ",\"file\":");
	json_cur_strz(&c, file);
	json_cur_lit(&c, ",\"offset\":");
	json_cur_uint(&c, offset);
	*w = c;
}

void
cli_json_message(struct buf *b, const struct oru_msg *o, const char *file,
    size_t offset)
{
	const struct oru_patient *p;
	struct json_cur c;
	uint32_t i, j;

	json_cur_start(&c, b);
	msg_head_json(&c, o, file, offset);
	json_cur_lit(&c, ",\"patients\":[");
	for (i = 0; i < o->npatients; i++) {
		p = &o->patients[i];
		if (i > 0)
			json_cur_lit(&c, ",");
		json_cur_lit(&c, "{\"id\":");
		json_cur_str_or_null(&c, p->id.p, p->id.len);
		STR_FIELD(&c, "id_type", p->id_type);
		STR_FIELD(&c, "assigning_authority", p->authority);
		json_cur_lit(&c, ",\"observations\":[");
		for (j = 0; j < p->nobs; j++) {
			if (j > 0)
				json_cur_lit(&c, ",");
			obs_json(&c, o, &o->obs[p->first_obs + j]);
		}
		json_cur_lit(&c, "]}");
	}
	json_cur_lit(&c, "]}");
	json_cur_end(&c);
}

static void
error_json(struct buf *b, const char *file, size_t offset, const char *reason,
    int code, const struct hl7_error *err, const char *frame, size_t len)
{
	char cid[128];
	size_t n = frame ?
	    hl7_ack_recover_control_id(frame, len, cid, sizeof(cid)) :
	    0;

	buf_addc(b, '{');
	json_key(b, "error", true);
	json_strz(b, reason);
	json_key(b, "code", false);
	if (code > 0)
		json_int(b, code);
	else
		buf_add(b, "null", 4);
	json_key(b, "file", false);
	json_strz(b, file);
	json_key(b, "offset", false);
	json_uint(b, offset);
	json_key(b, "control_id", false);
	json_str_or_null(b, cid, n);
	json_key(b, "segment", false);
	json_str_or_null(b, err ? err->seg_id : NULL,
	    err ? strlen(err->seg_id) : 0);
	json_key(b, "field", false);
	if (err != NULL && err->field > 0)
		json_uint(b, err->field);
	else
		buf_add(b, "null", 4);
	buf_add(b, "}\n", 2);
}

struct parse_ctx {
	struct buf out;
	int status;
};

static void
parse_one(void *arg, const char *file, const struct hl7_split_item *it,
    struct hl7_msg *m, struct oru_msg *o, bool ok)
{
	struct parse_ctx *pc = arg;

	if (it->is_error)
		error_json(&pc->out, file, it->offset, it->reason, 0, NULL,
		    it->data, it->len);
	else if (!ok)
		error_json(&pc->out, file, it->offset + m->err.offset,
		    m->err.reason, (int)m->err.code, &m->err, it->data,
		    it->len);
	else {
		cli_json_message(&pc->out, o, file, it->offset);
		buf_addc(&pc->out, '\n');
	}
	if (!ok && pc->status == 0)
		pc->status = 1;
	cli_flush(&pc->out, stdout, CLI_FLUSH_BLOCK);
}

static void
parse_usage(FILE *f)
{
	fprintf(f,
	    "usage: labwatch parse [--id-type TYPE] [--charset NAME] "
	    "[--max-size BYTES] [FILE...|-]\n"
	    "  Reads MLLP captures, raw HL7 v2 files (CR, LF or CRLF) and "
	    "FHS/BHS batches;\n"
	    "  prints one JSON object per message. Exit status 1 if any "
	    "message could not be read.\n"
	    "  --id-type TYPE   PID-3 identifier type to report (default MR)\n"
	    "  --charset NAME   MSH-18 value assumed when a message has none "
	    "(default ASCII)\n"
	    "  --max-size N     largest message accepted (default 8 MiB)\n");
}

int
cmd_parse(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "id-type", required_argument, NULL, 'i' },
		{ "charset", required_argument, NULL, 'c' },
		{ "max-size", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct hl7_parse_opts popts = { NULL };
	struct oru_opts oopts = { NULL };
	size_t max_size = DEFAULT_MAX_SIZE;
	struct parse_ctx pc;
	char *end;
	int ch;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'i':
			oopts.id_type = optarg;
			break;
		case 'c':
			popts.default_charset = optarg;
			break;
		case 'm':
			max_size = strtoul(optarg, &end, 10);
			if (*end != '\0' || max_size == 0) {
				fprintf(stderr,
				    "labwatch parse: bad --max-size '%s'\n",
				    optarg);
				return 2;
			}
			break;
		case 'h':
			parse_usage(stdout);
			return 0;
		default:
			parse_usage(stderr);
			return 2;
		}
	}
	buf_init(&pc.out);
	pc.status = 0;
	if (cli_each_message("parse", argv + optind, argc - optind, &popts,
		&oopts, max_size, parse_one, &pc) != 0)
		pc.status = 2; /* a file could not be read */
	cli_flush(&pc.out, stdout, 0);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "labwatch parse: writing output: %s\n",
		    strerror(errno));
		pc.status = 2;
	}
	buf_free(&pc.out);
	return pc.status;
}
