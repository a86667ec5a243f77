/*
 * throttle.h: a budget of log lines per peer address and kind of line, so
 * that a hostile peer cannot flood the journal with refusals.
 *
 * Within a window, the first line of a (peer, kind) is written and the
 * rest are counted; when the window ends, one summary line says how many
 * were left out, and the next window starts while the peer keeps at it.
 * The table is bounded twice: a kind names at most peers_per_kind peers in
 * a window, and the table holds at most max_keys entries; past either,
 * lines of a new peer are counted under one "other peers" entry of their
 * kind, so an attack from many addresses still writes a bounded number of
 * lines. Pure: the caller passes the time and writes the lines.
 */
#ifndef LABWATCH_THROTTLE_H
#define LABWATCH_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Owner: the daemon; throttle_free(). */
struct throttle;

/* Receives each summary: n lines of this kind from addr (NULL: other peers) left out over secs. */
typedef void throttle_report_fn(void *arg, const char *addr, unsigned kind,
    const char *what, uint64_t n, unsigned secs);

/*
 * At most max_keys (peer, kind) entries and peers_per_kind of one kind,
 * kinds 0 to nkinds - 1, windows of window_sec.
 */
struct throttle *throttle_new(unsigned window_sec, size_t max_keys,
    size_t peers_per_kind, unsigned nkinds);
/* Free t; f may be NULL. Summaries not yet reported are lost: sweep first. */
void throttle_free(struct throttle *t);
/*
 * A line of kind about addr at time now (seconds, monotonic): true when it
 * is to be written, false when it is counted instead. what (copied) is the
 * text the summary repeats: the line written for this key. kind must be
 * under nkinds (fatal otherwise: a caller's bug).
 */
bool throttle_pass(struct throttle *t, const char *addr, unsigned kind,
    const char *what, int64_t now);
/*
 * Report (through fn) the entries whose window has ended with lines left
 * out, and forget the quiet ones; all of them when flush is true (at exit).
 */
void throttle_sweep(struct throttle *t, int64_t now, bool flush,
    throttle_report_fn *fn, void *arg);
/* Entries held (for tests). */
size_t throttle_size(const struct throttle *t);

#endif
