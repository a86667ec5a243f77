/*
 * gen_oru_data.h: the facts gen_oru draws its corpus from: the sending
 * laboratories and their habits, and the analytes with their units,
 * codes and reference intervals (the tables are in gen_oru_data.c).
 */
#ifndef LABWATCH_BENCH_GEN_ORU_DATA_H
#define LABWATCH_BENCH_GEN_ORU_DATA_H

/* Sending laboratories and their habits. */

enum unitsys { U_US, U_SI, U_NORDIC, U_USUL, U_MIXED, NUNITSYS = U_MIXED };
enum names { N_CN, N_US, N_SE };

struct lab {
	const char *app;	/* MSH-3 */
	const char *fac;	/* MSH-4 */
	const char *idprefix;	/* MSH-10, order numbers */
	const char *mr_auth;	/* PID-3 MR assigning authority */
	const char *ni;		/* PID-3 second repetition: authority^type */
	const char *location;	/* PV1-3 */
	const char *chem_equip; /* OBX-18, when instrument */
	const char *heme_equip;
	int tz_min;	   /* the lab clock's UTC offset */
	int send_tz;	   /* timestamps carry the offset */
	int millis;	   /* timestamps carry milliseconds */
	int utf8;	   /* MSH-18 UNICODE UTF-8; names beyond ASCII */
	int local_codes;   /* OBX-3: local code first, LOINC in 4-6 */
	int loinc_names;   /* OBX-3 text is the LOINC short name */
	int flag_n;	   /* flag N on normal results, else empty */
	int spaced_range;  /* "3.5 - 5.0" rather than "3.5-5.0" */
	int lt_range;	   /* "<40" where only the ULN matters */
	int sn_comparator; /* SN "<^0.5" rather than ST "<0.5" */
	int instrument;	   /* OBX-18 equipment */
	enum unitsys units;
	enum names names;
	unsigned weight; /* share of patients */
};

/* Analytes: values in a base unit, reported through a unit variant. */

struct variant {
	const char *unit;
	double factor; /* reported = base * factor */
	int dec;
	const char *loinc, *lname, *disp; /* NULL: the analyte's own */
};

enum rangekind {
	R_AB,	 /* "lo-hi" */
	R_AB_LT, /* "lo-hi", or "<hi" at senders that write it so */
	R_LT,	 /* "<hi" */
	R_GT,	 /* ">lo" */
};

struct analyte {
	const char *local, *localname; /* the sender's own code and name */
	const char *loinc, *lname;     /* LOINC code and short name */
	const char *disp;	       /* display name beside the LOINC code */
	double mean, sd;
	double lo, hi;	   /* reference range, male or both */
	double lo_f, hi_f; /* female, 0 when the same */
	double crit_lo, crit_hi;
	double lod; /* reported as "<lod" below it */
	double cap; /* reported as ">cap" above it */
	enum rangekind range;
	struct variant v[3];
	signed char
	    sys[NUNITSYS]; /* variant for U_US, U_SI, U_NORDIC, U_USUL */
};

enum {
	A_NA,
	A_K,
	A_CL,
	A_CO2,
	A_GLU,
	A_BUN,
	A_CREA,
	A_CA,
	A_TP,
	A_ALB,
	A_TBIL,
	A_ALP,
	A_AST,
	A_ALT,
	A_CRP,
	A_EGFR,
	A_WBC,
	A_RBC,
	A_HGB,
	A_HCT,
	A_MCV,
	A_MCH,
	A_MCHC,
	A_RDW,
	A_NEUTP,
	A_ANC,
	A_LYMPP,
	A_LYMA,
	A_PLT,
	NANALYTES
};

#define NSENDERS 5

/* The sending laboratories; weight is each one's share of patients. */
extern const struct lab senders[NSENDERS];
/* The analytes, by their A_* index; values in a base unit. */
extern const struct analyte analytes[NANALYTES];

#endif
