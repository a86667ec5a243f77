/*
 * num.h: numbers every part reads or writes the same way.
 */
#ifndef LABWATCH_NUM_H
#define LABWATCH_NUM_H

/* The powers of ten a double holds exactly: 10^0 to 10^22. */
extern const double num_pow10[23];

#endif
