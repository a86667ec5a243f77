/*
 * spool.h: the local spool, where frames wait while PostgreSQL cannot be
 * reached. A frame is appended (length, CRC, bytes) and fdatasync'ed
 * before its ACK; the writer drains the spool in order when the database
 * returns. Each record's reference "SPOOLID:OFFSET" is stored with the
 * message, so a drain that a crash interrupts can start again from the top
 * and add nothing twice. Used by the writer thread only.
 */
#ifndef LABWATCH_SPOOL_H
#define LABWATCH_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "lib/attr.h"

/* One spooled frame, as read back. */
struct spool_rec {
	uint8_t kind;	     /* enum store_frame_kind */
	int64_t received_at; /* microseconds since the epoch */
	uint32_t total;	     /* bytes received */
	char peer[64];
	const char *data; /* valid until the next spool call */
	size_t len;
	char ref[64];	/* "SPOOLID:OFFSET" */
	int64_t row_id; /* spool_write_row()'s, 0: none */
};

struct spool;

/* What a spool call came to. */
enum spool_rc {
	SPOOL_OK = 0, /* done (spool_next: *rec holds a record) */
	SPOOL_FULL,   /* max_bytes reached: nothing written */
	SPOOL_IO,     /* an I/O error (errno), or a damaged record */
	SPOOL_END,    /* spool_next: no record left */
};

/*
 * Open (or create) the spool file at path. A torn last record (a crash
 * mid-append) is cut off; a CRC error elsewhere is an error. Returns NULL
 * and *cause (malloc'ed) on error.
 */
struct spool *spool_open(const char *path, uint64_t max_bytes, char **cause);
void spool_close(struct spool *sp);
/* Append a record and fdatasync it: SPOOL_OK, SPOOL_FULL or SPOOL_IO. */
LW_MUSTCHECK enum spool_rc spool_append(struct spool *sp, uint8_t kind,
    int64_t received_at, uint64_t total, const char *peer, const char *data,
    size_t len);
/*
 * The same without the fdatasync, for a batch of frames made durable
 * together by spool_sync(): no ACK before it returned SPOOL_OK.
 */
LW_MUSTCHECK enum spool_rc spool_write(struct spool *sp, uint8_t kind,
    int64_t received_at, uint64_t total, const char *peer, const char *data,
    size_t len);
/*
 * spool_write() of a frame whose row a batch offered with id row_id (> 0)
 * before its COMMIT's answer was lost: the drain offers it with the same
 * id, so that a row the COMMIT did store is found, not added again.
 */
LW_MUSTCHECK enum spool_rc spool_write_row(struct spool *sp, uint8_t kind,
    int64_t received_at, uint64_t total, const char *peer, const char *data,
    size_t len, int64_t row_id);
/*
 * Make what spool_write() wrote durable. SPOOL_IO (errno): those records
 * are forgotten (the next write overwrites them), none may be ACKed.
 */
LW_MUSTCHECK enum spool_rc spool_sync(struct spool *sp);
/* Records appended and not yet drained. */
uint64_t spool_pending(const struct spool *sp);
/* Bytes of those records (headers included). */
uint64_t spool_pending_bytes(const struct spool *sp);
/* Rewind the drain cursor to the first undrained record. */
void spool_rewind(struct spool *sp);
/* Next record from the drain cursor: SPOOL_OK and *rec, SPOOL_END, SPOOL_IO. */
LW_MUSTCHECK enum spool_rc spool_next(struct spool *sp, struct spool_rec *rec);
/*
 * Everything read so far is safely in the database: when that is all of
 * the spool, empty it (with a new spool id); else remember the position.
 * SPOOL_OK, or SPOOL_IO (errno): still what it was, drained again later.
 */
LW_MUSTCHECK enum spool_rc spool_mark_drained(struct spool *sp);

#endif
