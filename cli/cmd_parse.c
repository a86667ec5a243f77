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
#include "hl7/split.h"

#define DEFAULT_MAX_SIZE (8u * 1024 * 1024)

/* Inlined, so json_key sees a literal key (no strlen per field). */
static inline __attribute__((always_inline)) void
str_field(struct buf *b, const char *key, struct hl7_str s)
{
	json_key(b, key, false);
	json_str_or_null(b, s.p, s.len);
}

static void
dtm_field(struct buf *b, const char *key, const struct hl7_dtm *t)
{
	char iso[40];
	size_t n = hl7_dtm_iso(t, iso);

	json_key(b, key, false);
	json_str_or_null(b, iso, n);
}

static void
obs_json(struct buf *b, const struct oru_msg *o, const struct oru_obs *x)
{
	double set_id;

	json_key(b, "set_id", true);
	if (hl7_number(x->set_id.p, x->set_id.len, &set_id) == 0)
		json_num(b, set_id);
	else
		json_str_or_null(b, x->set_id.p, x->set_id.len);
	str_field(b, "code", x->code);
	str_field(b, "coding_system", x->coding_system);
	str_field(b, "text", x->text);
	str_field(b, "alt_code", x->alt_code);
	str_field(b, "alt_coding_system", x->alt_system);
	str_field(b, "alt_text", x->alt_text);
	str_field(b, "sub_id", x->sub_id);
	str_field(b, "value_type", x->value_type);
	json_key(b, "value", false);
	if (x->kind == ORU_VALUE_NUMBER)
		json_num(b, x->number);
	else
		json_str_or_null(b, x->value_text.p, x->value_text.len);
	json_key(b, "comparator", false);
	json_str_or_null(b, x->comparator, strlen(x->comparator));
	str_field(b, "units", x->units);
	str_field(b, "ref_range", x->ref_range);
	str_field(b, "flags", x->flags);
	str_field(b, "status", x->status);
	dtm_field(b, "observed_at", &x->observed_at);
	json_key(b, "observed_at_source", false);
	json_strz(b, oru_time_source_name(x->time_source));
	json_key(b, "order", false);
	if (x->order == UINT32_MAX)
		buf_add(b, "null", 4);
	else {
		const struct oru_order *r = &o->orders[x->order];

		buf_addc(b, '{');
		json_key(b, "placer", true);
		json_str_or_null(b, r->placer.p, r->placer.len);
		str_field(b, "filler", r->filler);
		str_field(b, "code", r->code);
		str_field(b, "text", r->text);
		buf_addc(b, '}');
	}
	str_field(b, "comment", x->comment);
}

void
cli_json_message(struct buf *b, const struct oru_msg *o, const char *file,
    size_t offset)
{
	const struct oru_patient *p;
	uint32_t i, j;

	buf_addc(b, '{');
	json_key(b, "control_id", true);
	json_str_or_null(b, o->control_id.p, o->control_id.len);
	json_key(b, "type", false);
	json_strz(b, o->type);
	str_field(b, "version", o->version);
	str_field(b, "sending_application", o->sending_app);
	str_field(b, "sending_facility", o->sending_facility);
	str_field(b, "receiving_application", o->receiving_app);
	str_field(b, "receiving_facility", o->receiving_facility);
	dtm_field(b, "message_time", &o->msh7);
	str_field(b, "processing_id", o->processing_id);
	str_field(b, "accept_ack_type", o->accept_ack);
	str_field(b, "charset", o->charset);
	json_key(b, "file", false);
	json_strz(b, file);
	json_key(b, "offset", false);
	json_uint(b, offset);
	json_key(b, "patients", false);
	buf_addc(b, '[');
	for (i = 0; i < o->npatients; i++) {
		p = &o->patients[i];
		if (i > 0)
			buf_addc(b, ',');
		buf_addc(b, '{');
		json_key(b, "id", true);
		json_str_or_null(b, p->id.p, p->id.len);
		str_field(b, "id_type", p->id_type);
		str_field(b, "assigning_authority", p->authority);
		json_key(b, "observations", false);
		buf_addc(b, '[');
		for (j = 0; j < p->nobs; j++) {
			if (j > 0)
				buf_addc(b, ',');
			buf_addc(b, '{');
			obs_json(b, o, &o->obs[p->first_obs + j]);
			buf_addc(b, '}');
		}
		buf_add(b, "]}", 2);
	}
	buf_add(b, "]}", 2);
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
