/*
 * attr.h: the compiler attributes labwatch marks its interfaces with.
 */
#ifndef LABWATCH_ATTR_H
#define LABWATCH_ATTR_H

/*
 * A status-returning function whose result must be looked at (as
 * pgbouncer's _MUSTCHECK): ignoring it is a compile error with -Werror.
 */
#define LW_MUSTCHECK __attribute__((warn_unused_result))

#endif
