/*
 * bench_util.h - the timing helpers every benchmark program shares: a
 * monotonic clock in milliseconds and the median of a set of runs.
 */
#ifndef FK_BENCH_UTIL_H
#define FK_BENCH_UTIL_H

#include <stdlib.h>

#include "core/clock.h"

static inline double now_ms(void) { return fk__now_ms(); }

static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of v[0..n) (sorts v in place). */
static inline double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
