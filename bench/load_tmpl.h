/*
 * load_tmpl.h: mllp_load's templates (--template, written by
 * bench/gen_oru, raw or MLLP-framed): each message split around its
 * MSH-10, the MLLP framing bytes already in place, so a frame is pre +
 * control id + post.
 */
#ifndef LABWATCH_BENCH_LOAD_TMPL_H
#define LABWATCH_BENCH_LOAD_TMPL_H

#include <stddef.h>
#include <stdint.h>

struct tmpl {
	char *pre, *post;
	size_t prelen, postlen;
};

/* The templates tmpl_load() read (ntmpl of them). */
extern struct tmpl *tmpls;
extern size_t ntmpl;
/* Payload bytes of all templates, old MSH-10s excluded. */
extern uint64_t tmpl_bytes;

/* Read the messages of path into tmpls; load_fatalx when there is none. */
void tmpl_load(const char *path);

#endif
