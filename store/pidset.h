/*
 * pidset.h: the patients that have frames waiting in the spool, so that
 * while the spool drains a live frame for anyone else is written at once
 * and only a patient's own later frames queue behind the spooled ones
 * (each patient's results keep their order of arrival; DESIGN.md 4).
 * A multiset of 64-bit hashes of PID-3.1: a collision only sends a frame
 * through the spool that did not need to go. Writer thread only.
 */
#ifndef LABWATCH_PIDSET_H
#define LABWATCH_PIDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pidset {
	uint64_t *keys; /* 0: free slot */
	uint32_t *counts;
	size_t cap, used; /* slots, slots ever taken */
};

/* An empty set (no allocation until the first add). */
void pidset_init(struct pidset *ps);
void pidset_free(struct pidset *ps);
/* Forget everything (the spool is empty). */
void pidset_clear(struct pidset *ps);
/* Count one more frame of this patient. */
void pidset_add(struct pidset *ps, const char *pid, size_t len);
/* One frame of this patient left the spool (no-op when not counted). */
void pidset_remove(struct pidset *ps, const char *pid, size_t len);
/* Whether this patient has frames counted. */
bool pidset_has(const struct pidset *ps, const char *pid, size_t len);

#endif
