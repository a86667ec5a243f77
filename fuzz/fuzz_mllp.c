/*
 * fuzz_mllp.c: libFuzzer harness for the MLLP framer.
 *
 * The same bytes are framed twice, once in one feed and once in chunks whose
 * sizes come from the input itself; both must give the same events with the
 * same bytes (a framer that depends on how reads fall is a framer that loses
 * messages), and no frame may exceed the cap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "hl7/mllp.h"

#define MAX_SIZE 512

/* Run the framer over data in chunks of the given sizes; record events. */
static void
run(const uint8_t *data, size_t len, const uint8_t *sizes, size_t nsizes,
    struct buf *rec)
{
	struct mllp_framer *f = mllp_framer_new(MAX_SIZE);
	struct mllp_frame fr;
	size_t pos = 0, k = 0, chunk, used;
	int got;

	while (pos < len) {
		chunk = nsizes ? (size_t)sizes[k++ % nsizes] % 17 + 1 :
				 len - pos;
		if (chunk > len - pos)
			chunk = len - pos;
		while (chunk > 0) {
			used = mllp_framer_feed(f, data + pos, chunk, &fr,
			    &got);
			if (used == 0 && !got)
				abort(); /* no progress: a hang */
			pos += used;
			chunk -= used;
			if (got) {
				if (fr.kind == MLLP_FRAME && fr.len > MAX_SIZE)
					abort();
				buf_printf(rec, "%d:%zu:%zu:", (int)fr.kind,
				    fr.len, fr.total);
				buf_add(rec, fr.data, fr.len);
			}
		}
	}
	if (mllp_framer_finish(f, &fr)) {
		buf_printf(rec, "%d:%zu:%zu:", (int)fr.kind, fr.len, fr.total);
		buf_add(rec, fr.data, fr.len);
	}
	mllp_framer_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct buf a, b;

	buf_init(&a);
	buf_init(&b);
	run(data, len, NULL, 0, &a);
	run(data, len, data, len < 64 ? len : 64, &b);
	if (a.len != b.len || (a.len > 0 && memcmp(a.p, b.p, a.len) != 0))
		abort();
	buf_free(&a);
	buf_free(&b);
	return 0;
}
