/*
 * clock.h - the one monotonic clock of the library.
 *
 * Stage timings, ANN build/load figures and the thread pool's spin budget
 * all read CLOCK_MONOTONIC through this, so a change of clock (or a test
 * that wants a fake one) has one place to go.
 */
#ifndef FK_CORE_CLOCK_H
#define FK_CORE_CLOCK_H

/* Milliseconds since an arbitrary fixed point; never goes backwards. */
double fk__now_ms(void);

#endif
