/*
 * oru.h: what a message says, in the terms labwatch works with: the header
 * (MSH), and for ORU^R01 its patient groups, order groups and observations.
 *
 * oru_extract() reads a parsed hl7_msg; strings point into the message
 * buffer or its text arena, so the hl7_msg and its buffer must outlive the
 * result. The arrays are reused across messages: initialise an oru_msg once,
 * extract many, free once.
 */
#ifndef LABWATCH_ORU_H
#define LABWATCH_ORU_H

#include "hl7/dtm.h"
#include "hl7/hl7.h"
#include "lib/attr.h"

/* How OBX-5 was read. */
enum oru_value_kind {
	ORU_VALUE_NONE = 0, /* empty */
	ORU_VALUE_NUMBER,   /* number (with comparator when there was one) */
	ORU_VALUE_TEXT,	    /* anything else, as decoded text */
};

enum oru_time_source {
	ORU_TIME_NONE = 0,
	ORU_TIME_OBX14,
	ORU_TIME_OBR7,
	ORU_TIME_MSH7,
};

struct oru_obs {
	uint32_t seg;	/* index of the OBX segment */
	uint32_t order; /* index in oru_msg.orders, UINT32_MAX when none */
	struct hl7_str set_id;			       /* OBX-1 */
	struct hl7_str value_type;		       /* OBX-2 */
	struct hl7_str code, text, coding_system;      /* OBX-3.1-3 */
	struct hl7_str alt_code, alt_text, alt_system; /* OBX-3.4-6 */
	struct hl7_str sub_id;			       /* OBX-4 */
	enum oru_value_kind kind;
	double number;		    /* when kind is ORU_VALUE_NUMBER */
	struct hl7_str number_text; /* its bytes as written (raw, trimmed) */
	char comparator[3];	    /* "", "<", ">", "<=", ">=", "=", "<>" */
	struct hl7_str value_text;  /* OBX-5 decoded (first repetition) */
	struct hl7_str units;	    /* OBX-6.1, else OBX-6.2 */
	struct hl7_str ref_range;   /* OBX-7 */
	struct hl7_str flags;	    /* OBX-8, repetitions joined by '~' */
	struct hl7_str status;	    /* OBX-11 */
	struct hl7_dtm observed_at;
	enum oru_time_source time_source;
	struct hl7_str comment; /* NTE-3 after this OBX, joined by '\n' */
};

struct oru_order {
	uint32_t seg;		       /* index of the OBR segment */
	uint32_t patient;	       /* index in oru_msg.patients */
	struct hl7_str placer, filler; /* OBR-2.1, OBR-3.1 */
	struct hl7_str code, text, coding_system; /* OBR-4 */
	struct hl7_dtm obr7;
};

struct oru_patient {
	uint32_t seg;	   /* index of the PID segment, UINT32_MAX when none */
	struct hl7_str id; /* chosen PID-3 repetition, component 1 */
	struct hl7_str id_type;	  /* its CX-5 */
	struct hl7_str authority; /* its CX-4.1 */
	struct hl7_str sex;	  /* PID-8 (table 0001: F, M, O, U, A, N) */
	uint32_t first_obs, nobs; /* range in oru_msg.obs */
};

/* Options from the configuration. */
struct oru_opts {
	const char *id_type; /* PID-3 CX-5 to prefer; NULL = "MR" */
};

struct oru_msg {
	/* MSH */
	struct hl7_str sending_app, sending_facility;	  /* MSH-3.1, MSH-4.1 */
	struct hl7_str receiving_app, receiving_facility; /* MSH-5.1, MSH-6.1 */
	struct hl7_dtm msh7;
	char type[24];		      /* MSH-9.1^MSH-9.2, e.g. "ORU^R01" */
	struct hl7_str control_id;    /* MSH-10 */
	struct hl7_str processing_id; /* MSH-11.1 */
	struct hl7_str version;	      /* MSH-12.1 */
	struct hl7_str accept_ack, app_ack; /* MSH-15, MSH-16 */
	struct hl7_str charset; /* MSH-18 first repetition, as written */
	bool is_oru;		/* ORU^R01 (or ORU^R30-R32): patients filled */

	struct oru_patient *patients;
	uint32_t npatients, patients_cap;
	struct oru_order *orders;
	uint32_t norders, orders_cap;
	struct oru_obs *obs;
	uint32_t nobs, obs_cap;

	/* The last OBX-14 read: a LIS repeats one time over a panel. */
	const char *last_time;
	size_t last_time_len;
	struct hl7_dtm last_dtm;
};

/*
 * The correction key of x: "ORDER|CODE|SUB" (OBR-3.1, else OBR-2.1;
 * OBX-3.1; OBX-4): a corrected (C) or deleted (D, W) result replaces the
 * earlier one of its patient with the same key. labwatchd and labwatch
 * check both use it, whole (never cut short), so they agree on what a
 * correction replaces. oru_result_key_size() bytes (the NUL included)
 * hold it; oru_result_key() writes it and returns its length.
 */
size_t oru_result_key_size(const struct oru_msg *o, const struct oru_obs *x);
size_t oru_result_key(const struct oru_msg *o, const struct oru_obs *x,
    char *out);

/* Prepare o; never fails. */
void oru_msg_init(struct oru_msg *o);
/* Release the arrays o holds. */
void oru_msg_free(struct oru_msg *o);

/*
 * Read the header and, for ORU, every patient, order and observation of m.
 * Returns 0, or -1 with m->err set (HL7 code, reason, location) when a
 * field the ACK or the store depends on is missing or malformed: MSH-9,
 * MSH-10, MSH-12, or a version outside 2.2-2.8.2.
 */
LW_MUSTCHECK int oru_extract(struct oru_msg *o, struct hl7_msg *m,
    const struct oru_opts *opts);

/*
 * Read a value as a number with an optional comparator: NM "12.5", SN
 * "<^0.5" or "^1000", ST/TX "<0.1" or "> 1000"; value is one repetition
 * (OBX-5's first). Returns 0 and fills *num
 * and cmp (NUL-terminated, empty for none), -1 when it is not one number.
 */
LW_MUSTCHECK int oru_read_number(const struct hl7_msg *m, struct hl7_span value,
    const char *value_type, size_t vt_len, double *num, char cmp[3]);

/* The name of a time source for output ("obx14", "obr7", "msh7", NULL). */
const char *oru_time_source_name(enum oru_time_source s);

#endif
