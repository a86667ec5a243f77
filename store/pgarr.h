/*
 * pgarr.h: one-dimensional PostgreSQL arrays in the binary wire format
 * (array_send/array_recv), built a column at a time for one
 * INSERT per batch (insert_sql() in ingest.c).
 *
 * Binary parameters spare both sides the text round trip: no quoting and
 * hex for us, no array_in, hex_decode or strtod for the server.
 */
#ifndef LABWATCH_PGARR_H
#define LABWATCH_PGARR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* Element type OIDs (PostgreSQL's pg_type.dat; stable since 7.x). */
#define PGARR_BOOL 16
#define PGARR_BYTEA 17
#define PGARR_INT8 20
#define PGARR_INT4 23
#define PGARR_TEXT 25
#define PGARR_FLOAT8 701

struct pgarr {
	struct buf b; /* header (filled by pgarr_finish), elements */
	uint32_t oid; /* element type */
	uint32_t n;   /* elements so far */
	int hasnull;
};

/* An empty array of elements of type oid (no allocation yet). */
void pgarr_init(struct pgarr *a, uint32_t oid);
void pgarr_free(struct pgarr *a);
/* Forget the elements, keeping the memory and the type. */
void pgarr_reset(struct pgarr *a);

void pgarr_null(struct pgarr *a);
/* bytea, or text already valid in the server's encoding. */
void pgarr_bytes(struct pgarr *a, const void *p, size_t len);
/*
 * Room for an element of at most max bytes: write it there and commit
 * its real length with pgarr_commit().
 */
char *pgarr_reserve(struct pgarr *a, size_t max);
void pgarr_commit(struct pgarr *a, size_t len);
void pgarr_bool(struct pgarr *a, bool v);
void pgarr_int8(struct pgarr *a, int64_t v);
void pgarr_int4(struct pgarr *a, int32_t v);
/* NULL when v is not finite (NaN means "no value" in librules). */
void pgarr_float8(struct pgarr *a, double v);

/*
 * Fill in the header; *len gets the parameter's length. The bytes stay
 * valid until the next change to a.
 */
const char *pgarr_finish(struct pgarr *a, int *len);

#endif
