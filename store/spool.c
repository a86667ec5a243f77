/*
 * spool.c: append-only spool file with CRC'ed records.
 *
 * Layout: a 32-byte header ("LWSPOOL1", a 16-hex-digit spool id, the
 * drained offset), then records:
 *   u32 magic "LWR1", u32 CRC-32C of the rest, u32 data length, u8 kind,
 *   u8 peer length, u16 zero, i64 received_at, u32 total, peer, data;
 * or, for a frame whose row a batch offered with an id before its
 * COMMIT's answer was lost (spool_write_row), magic "LWR2" and an i64
 * row id after total. Integers are little-endian (the machine's; a spool
 * never moves hosts). A spool that may hold LWR2 records has the header
 * magic "LWSPOOL2" (back to "LWSPOOL1" once drained empty): a labwatchd
 * older than LWR2, which would take a last LWR2 record for a torn write
 * and cut it off, refuses such a spool instead. Let the spool drain
 * before going back to one (README).
 */
#include "spool.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/xmalloc.h"

#define HDR_SIZE 32
#define REC_MAGIC 0x3152574cu  /* "LWR1" */
#define REC_MAGIC2 0x3252574cu /* "LWR2": a row id follows total */
#define REC_FIXED 28	       /* bytes before peer and data (LWR1) */
#define REC_FIXED2 36	       /* the same with the row id (LWR2) */

struct spool {
	int fd;
	char id[17];
	uint64_t max_bytes;
	uint64_t end;	  /* file size: where the next record goes */
	uint64_t drained; /* records before this are in the database */
	uint64_t pos;	  /* drain cursor */
	uint64_t pending; /* records in [drained, end) */
	uint64_t synced_end, synced_pending; /* as of the last sync */
	bool stale; /* bytes past end to cut before a write */
	bool v2;    /* may hold LWR2 records: header "LWSPOOL2" */
	char *buf;  /* record read back */
	size_t cap;
};

static uint32_t crc_table[256];

static void
crc_init(void)
{
	uint32_t c;
	int i, k;

	if (crc_table[1] != 0)
		return;
	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u :
				    c >> 1; /* Castagnoli */
		crc_table[i] = c;
	}
}

static uint32_t
crc32c(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *b = p;

	crc = ~crc;
	while (n-- > 0)
		crc = crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static int
write_all(int fd, const void *p, size_t n, uint64_t off)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		w = pwrite(fd, c, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static int
read_all(int fd, void *p, size_t n, uint64_t off)
{
	char *c = p;
	ssize_t r;

	while (n > 0) {
		r = pread(fd, c, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static void
new_id(char id[17])
{
	unsigned char r[8];
	size_t i;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		memset(r, 0x5a,
		    sizeof(r)); /* uniqueness also rests on the offset */
	for (i = 0; i < 8; i++)
		snprintf(id + 2 * i, 3, "%02x", r[i]);
}

static int
write_header(struct spool *sp)
{
	char h[HDR_SIZE];

	memcpy(h, sp->v2 ? "LWSPOOL2" : "LWSPOOL1", 8);
	memcpy(h + 8, sp->id, 16);
	memcpy(h + 24, &sp->drained, 8);
	if (write_all(sp->fd, h, sizeof(h), 0) != 0)
		return -1;
	return fdatasync(sp->fd);
}

/* Read the record at off; its total size in *size. 0, or -1 if torn/bad. */
static int
read_rec(struct spool *sp, uint64_t off, struct spool_rec *rec, uint64_t *size)
{
	unsigned char f[REC_FIXED2];
	uint32_t magic, crc, len;
	uint8_t plen;
	size_t body, fixed = REC_FIXED;

	if (off + REC_FIXED > sp->end || read_all(sp->fd, f, REC_FIXED, off))
		return -1;
	memcpy(&magic, f, 4);
	memcpy(&crc, f + 4, 4);
	memcpy(&len, f + 8, 4);
	plen = f[13];
	if (magic == REC_MAGIC2)
		fixed = REC_FIXED2;
	else if (magic != REC_MAGIC)
		return -1;
	if (plen >= sizeof(rec->peer))
		return -1;
	if (fixed > REC_FIXED &&
	    (off + fixed > sp->end ||
		read_all(sp->fd, f + REC_FIXED, fixed - REC_FIXED,
		    off + REC_FIXED)))
		return -1;
	body = (size_t)plen + len;
	if (off + fixed + body > sp->end)
		return -1;
	if (body > sp->cap) {
		sp->cap = body;
		sp->buf = xreallocarray(sp->buf, sp->cap, 1);
	}
	if (body > 0 && read_all(sp->fd, sp->buf, body, off + fixed))
		return -1;
	if (crc32c(crc32c(0, f + 8, fixed - 8), sp->buf, body) != crc)
		return -1;
	rec->kind = f[12];
	memcpy(&rec->received_at, f + 16, 8);
	memcpy(&rec->total, f + 24, 4);
	rec->row_id = 0;
	if (fixed == REC_FIXED2)
		memcpy(&rec->row_id, f + REC_FIXED, 8);
	memcpy(rec->peer, sp->buf, plen);
	rec->peer[plen] = '\0';
	rec->data = sp->buf + plen;
	rec->len = len;
	snprintf(rec->ref, sizeof(rec->ref), "%s:%llu", sp->id,
	    (unsigned long long)off);
	*size = fixed + body;
	return 0;
}

/* Is there a whole, CRC-valid record starting anywhere at or after from? */
static bool
valid_record_after(struct spool *sp, uint64_t from)
{
	/* "LWR": the magics but their last byte ('1' or '2') */
	static const unsigned char magic[3] = { 0x4c, 0x57, 0x52 };
	struct spool_rec rec;
	uint64_t off = from, size;
	char buf[1 << 16];
	size_t n, i;

	while (off + REC_FIXED <= sp->end) {
		n = sp->end - off < sizeof(buf) ? (size_t)(sp->end - off) :
						  sizeof(buf);
		if (read_all(sp->fd, buf, n, off) != 0)
			return false;
		for (i = 0; i + 4 <= n; i++)
			if (memcmp(buf + i, magic, 3) == 0 &&
			    (buf[i + 3] == '1' || buf[i + 3] == '2') &&
			    read_rec(sp, off + i, &rec, &size) == 0)
				return true;
		off += n > 3 ? n - 3 : n;
	}
	return false;
}

struct spool *
spool_open(const char *path, uint64_t max_bytes, char **cause)
{
	struct spool *sp = xcalloc(1, sizeof(*sp));
	struct spool_rec rec;
	struct stat st;
	char h[HDR_SIZE];
	uint64_t off, size;
	char msg[512];

	crc_init();
	sp->max_bytes = max_bytes;
	sp->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (sp->fd < 0 || fstat(sp->fd, &st) != 0) {
		snprintf(msg, sizeof(msg), "spool %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (st.st_size < HDR_SIZE) {
		/* New (or torn before its header was whole): start afresh. */
		new_id(sp->id);
		/*
		 * synced_end too: left 0, a failed first spool_sync() set end
		 * to 0 and the next record overwrote the header
		 * (tests/test_spool.c, sync_fails_on_a_new_spool).
		 */
		sp->drained = sp->end = sp->pos = sp->synced_end = HDR_SIZE;
		if (ftruncate(sp->fd, HDR_SIZE) != 0 || write_header(sp) != 0) {
			snprintf(msg, sizeof(msg), "spool %s: %s", path,
			    strerror(errno));
			goto fail;
		}
		return sp;
	}
	sp->end = (uint64_t)st.st_size;
	if (read_all(sp->fd, h, HDR_SIZE, 0) != 0 ||
	    (memcmp(h, "LWSPOOL1", 8) != 0 && memcmp(h, "LWSPOOL2", 8) != 0)) {
		snprintf(msg, sizeof(msg), "spool %s: not a labwatch spool",
		    path);
		goto fail;
	}
	sp->v2 = h[7] == '2';
	memcpy(sp->id, h + 8, 16);
	sp->id[16] = '\0';
	memcpy(&sp->drained, h + 24, 8);
	if (sp->drained < HDR_SIZE) {
		snprintf(msg, sizeof(msg), "spool %s: bad drained offset",
		    path);
		goto fail;
	}
	/* drained past the end: emptied, the crash came before the header. */
	/* Walk the records; a bad one can only be the torn tail. */
	for (off = HDR_SIZE; off < sp->end; off += size) {
		if (read_rec(sp, off, &rec, &size) != 0) {
			/* A bad record with good ones after it is damage, not a tear. */
			if (valid_record_after(sp, off + 1)) {
				snprintf(msg, sizeof(msg),
				    "spool %s: damaged at "
				    "offset %llu (records follow): move it aside "
				    "and look",
				    path, (unsigned long long)off);
				goto fail;
			}
			if (ftruncate(sp->fd, (off_t)off) != 0) {
				snprintf(msg, sizeof(msg), "spool %s: %s", path,
				    strerror(errno));
				goto fail;
			}
			sp->end = off;
			break;
		}
		if (off >= sp->drained)
			sp->pending++;
	}
	if (sp->drained > sp->end)
		sp->drained = sp->end;
	sp->pos = sp->drained;
	sp->synced_end = sp->end;
	sp->synced_pending = sp->pending;
	return sp;
fail:
	*cause = xstrdup(msg);
	spool_close(sp);
	return NULL;
}

void
spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->fd >= 0)
		close(sp->fd);
	free(sp->buf);
	free(sp);
}

enum spool_rc
spool_write_row(struct spool *sp, uint8_t kind, int64_t received_at,
    uint64_t total, const char *peer, const char *data, size_t len,
    int64_t row_id)
{
	unsigned char f[REC_FIXED2];
	size_t plen = strlen(peer), fixed = row_id > 0 ? REC_FIXED2 : REC_FIXED;
	uint32_t magic = row_id > 0 ? REC_MAGIC2 : REC_MAGIC, crc;
	uint32_t l32 = (uint32_t)len, t32;
	char *rec;
	size_t n;
	int rc;

	/* A frame's total is informative: saturate, never wrap. */
	t32 = total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
	if (plen >= 64)
		plen = 63;
	n = fixed + plen + len;
	if (sp->end + n > sp->max_bytes)
		return SPOOL_FULL;
	/*
	 * Records forgotten by a failed sync (or a partial write) are still
	 * in the file past end. Overwritten by a shorter record, whole ones
	 * would be left behind it, and the next spool_open() refused the
	 * spool as damaged (tests/test_spool.c,
	 * sync_fails_then_a_shorter_record): cut them off first.
	 */
	if (sp->stale) {
		if (ftruncate(sp->fd, (off_t)sp->end) != 0)
			return SPOOL_IO;
		sp->stale = false;
	}
	/*
	 * The first LWR2 record: the header says so first, so that a
	 * labwatchd older than LWR2 refuses the spool ("not a labwatch
	 * spool") rather than cut such a record off as a torn write (its
	 * frame ACKed, then lost). Back to "LWSPOOL1" once drained empty.
	 */
	if (row_id > 0 && !sp->v2) {
		sp->v2 = true;
		if (write_header(sp) != 0) {
			sp->v2 = false;
			return SPOOL_IO;
		}
	}
	memset(f, 0, sizeof(f));
	memcpy(f, &magic, 4);
	memcpy(f + 8, &l32, 4);
	f[12] = kind;
	f[13] = (uint8_t)plen;
	memcpy(f + 16, &received_at, 8);
	memcpy(f + 24, &t32, 4);
	if (row_id > 0)
		memcpy(f + REC_FIXED, &row_id, 8);
	crc = crc32c(crc32c(crc32c(0, f + 8, fixed - 8), peer, plen), data,
	    len);
	memcpy(f + 4, &crc, 4);
	rec = xmalloc(n);
	memcpy(rec, f, fixed);
	memcpy(rec + fixed, peer, plen);
	memcpy(rec + fixed + plen, data, len);
	rc = write_all(sp->fd, rec, n, sp->end);
	free(rec);
	if (rc != 0) {
		sp->stale = true; /* a partial write: cut, then overwritten */
		return SPOOL_IO;
	}
	sp->end += n;
	sp->pending++;
	return SPOOL_OK;
}

enum spool_rc
spool_write(struct spool *sp, uint8_t kind, int64_t received_at, uint64_t total,
    const char *peer, const char *data, size_t len)
{
	return spool_write_row(sp, kind, received_at, total, peer, data, len,
	    0);
}

enum spool_rc
spool_sync(struct spool *sp)
{
	/* Durable before the ACK: DESIGN.md contract 1. */
	if (fdatasync(sp->fd) != 0) {
		/* Forget what was not made durable: cut, overwritten next. */
		int saved = errno;

		sp->end = sp->synced_end;
		sp->pending = sp->synced_pending;
		sp->stale = ftruncate(sp->fd, (off_t)sp->end) != 0;
		errno = saved;
		return SPOOL_IO;
	}
	sp->synced_end = sp->end;
	sp->synced_pending = sp->pending;
	return SPOOL_OK;
}

enum spool_rc
spool_append(struct spool *sp, uint8_t kind, int64_t received_at,
    uint64_t total, const char *peer, const char *data, size_t len)
{
	enum spool_rc rc = spool_write(sp, kind, received_at, total, peer, data,
	    len);

	if (rc != SPOOL_OK)
		return rc;
	return spool_sync(sp);
}

uint64_t
spool_pending(const struct spool *sp)
{
	return sp->pending;
}

uint64_t
spool_pending_bytes(const struct spool *sp)
{
	return sp->end - sp->drained;
}

void
spool_rewind(struct spool *sp)
{
	sp->pos = sp->drained;
}

enum spool_rc
spool_next(struct spool *sp, struct spool_rec *rec)
{
	uint64_t size;

	if (sp->pos >= sp->end)
		return SPOOL_END;
	if (read_rec(sp, sp->pos, rec, &size) != 0)
		return SPOOL_IO;
	sp->pos += size;
	return SPOOL_OK;
}

enum spool_rc
spool_mark_drained(struct spool *sp)
{
	uint64_t n = 0, off, size;
	struct spool_rec rec;

	if (sp->pos >= sp->end) {
		/*
		 * All of it is in the database: empty the spool under a new
		 * id. The new id is durable before the file shrinks, so a
		 * crash in between leaves a valid (empty) spool whose refs
		 * cannot collide with the old ones.
		 */
		char old_id[sizeof(sp->id)];
		uint64_t old_drained = sp->drained;
		bool old_v2 = sp->v2;

		memcpy(old_id, sp->id, sizeof(old_id));
		new_id(sp->id);
		sp->drained = sp->end;
		sp->v2 = false; /* no LWR2 record left */
		if (write_header(sp) != 0 || ftruncate(sp->fd, HDR_SIZE) != 0) {
			/*
			 * Still what it was: drained again later, nothing lost.
			 * On disk too: with the new id left in the header, a
			 * record appended next had one ref now and another
			 * after a reopen, and was added twice
			 * (tests/test_spool.c,
			 * mark_drained_fully_fails_then_append).
			 */
			int saved = errno;

			memcpy(sp->id, old_id, sizeof(old_id));
			sp->drained = old_drained;
			sp->v2 = old_v2;
			(void)write_header(sp);
			errno = saved;
			return SPOOL_IO;
		}
		sp->end = sp->drained = sp->pos = sp->synced_end = HDR_SIZE;
		sp->pending = sp->synced_pending = 0;
		return write_header(sp) == 0 ? SPOOL_OK : SPOOL_IO;
	}
	for (off = sp->drained; off < sp->pos; off += size, n++)
		if (read_rec(sp, off, &rec, &size) != 0)
			break;
	sp->drained = sp->pos;
	sp->pending -= n < sp->pending ? n : sp->pending;
	sp->synced_pending -= n < sp->synced_pending ? n : sp->synced_pending;
	return write_header(sp) == 0 ? SPOOL_OK : SPOOL_IO;
}
