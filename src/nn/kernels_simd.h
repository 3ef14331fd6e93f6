/*
 * kernels_simd.h - what the fast kernels (kernels_conv.c, kernels_depthwise.c,
 * kernels_pool.c, kernels_elementwise.c) share: 4-float vectors, activations
 * on them, the bias-and-activation pass over a row, how work is cut into
 * pieces for the pool, and the clipping of a window at the image border.
 * Internal to nn; everything here is static inline, so each kernel file
 * compiles its own copy exactly as when they were one file.
 *
 * The channel loops use GCC's vector extensions (4 floats, plain SSE on
 * x86-64, NEON elsewhere) rather than relying on auto-vectorisation, which
 * the project's -O2 leaves to gcc's "very cheap" cost model: that model
 * skips any loop whose trip count is not a known multiple of the vector
 * width, i.e. every channel loop here.
 *
 * Nothing here allocates. A NULL act means no activation.
 */
#ifndef FK_NN_KERNELS_SIMD_H
#define FK_NN_KERNELS_SIMD_H

#include <math.h>
#include <string.h>

#include "nn/kernels.h"

/* Below this many floating-point operations a piece of work is not worth
 * handing to another thread. The pool's workers poll for work between jobs
 * (core/threadpool.c), so a hand-over costs a few microseconds, in which these
 * kernels do some 100 000 operations; this is a few times that. (It was
 * 2 000 000 when workers slept between jobs and took tens of microseconds
 * to wake: then the small depthwise layers of landmarks68 or MobileFaceNet
 * ran on one thread. Measured with build/bench_kernels: depthwise 3x3 over
 * 28x28x256, stride 2, 0.038 ms on 1 and on 2 threads before, 0.019 ms on 2
 * after.) */
#define FK_MIN_TASK_FLOPS 250000.0

/* ---- 4-float vectors ---------------------------------------------------- */

typedef float v4f __attribute__((vector_size(16)));
typedef int v4i __attribute__((vector_size(16)));

/* Unaligned load and store; gcc turns the memcpy into one movups. */
static inline v4f v4_load(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void v4_store(float *p, v4f v) { memcpy(p, &v, sizeof v); }

static inline v4f v4_splat(float x) { return (v4f){x, x, x, x}; }

/* Lane-wise mask ? a : b. C (unlike C++) has no ?: on vectors, so blend
 * with bit operations on the comparison mask (all ones or all zeros). */
static inline v4f v4_select(v4i mask, v4f a, v4f b) {
    return (v4f)(((v4i)a & mask) | ((v4i)b & ~mask));
}

static inline v4f v4_max(v4f a, v4f b) { return v4_select(a > b, a, b); }
static inline v4f v4_min(v4f a, v4f b) { return v4_select(a < b, a, b); }

/* ---- activations on vectors --------------------------------------------- */

/* True for the activations act_v4 handles (everything but the
 * transcendental ones, which go through fk__act_apply). */
static inline int act_is_simple(const fk_act *act) {
    return !act || (act->kind != FK_ACT_SIGMOID && act->kind != FK_ACT_TANH);
}

/* One activated vector whose lane 0 is channel ch (PReLU reads slope[ch]
 * onwards). Assumes act_is_simple(act). The switch is on a value that does
 * not change within a kernel, so the branch predicts perfectly. */
static inline v4f act_v4(const fk_act *act, v4f x, int ch) {
    if (!act)
        return x;
    v4f zero = v4_splat(0.0f);
    switch (act->kind) {
    case FK_ACT_RELU: return v4_max(x, zero);
    case FK_ACT_RELU6: return v4_min(v4_max(x, zero), v4_splat(6.0f));
    case FK_ACT_LEAKY: return v4_select(x < zero, x * act->alpha, x);
    case FK_ACT_PRELU:
        return v4_select(x < zero, x * v4_load(act->slope + ch), x);
    default: return x;
    }
}

/* The scalar twin of act_v4, for the channels left over after the vectors. */
static inline float act_1(const fk_act *act, float x, int ch) {
    if (!act)
        return x;
    switch (act->kind) {
    case FK_ACT_RELU: return x < 0.0f ? 0.0f : x;
    case FK_ACT_RELU6: return x < 0.0f ? 0.0f : (x > 6.0f ? 6.0f : x);
    case FK_ACT_LEAKY: return x < 0.0f ? act->alpha * x : x;
    case FK_ACT_PRELU: return x < 0.0f ? act->slope[ch] * x : x;
    default: return x;
    }
}

/* row[j] = act(row[j] + bias[j]) for j < c, where row[j] is channel ch0 + j
 * (ch0 > 0 when a kernel works on a block of columns). bias may be NULL and
 * points at the block's first column. */
static inline void bias_act_row(float *row, int c, const float *bias,
                                const fk_act *act, int ch0) {
    if (!act_is_simple(act)) {
        if (bias)
            for (int j = 0; j < c; j++)
                row[j] += bias[j];
        /* sigmoid and tanh ignore the channel, so ch0 does not matter */
        fk__act_apply(act, row, c, c);
        return;
    }
    if (!bias && (!act || act->kind == FK_ACT_NONE))
        return;
    int j = 0;
    for (; j + 4 <= c; j += 4) {
        v4f v = v4_load(row + j);
        if (bias)
            v += v4_load(bias + j);
        v4_store(row + j, act_v4(act, v, ch0 + j));
    }
    for (; j < c; j++)
        row[j] = act_1(act, bias ? row[j] + bias[j] : row[j], ch0 + j);
}

/* The same over `rows` rows that are `ld` floats apart. */
static inline void bias_act_rows(float *out, long rows, int c, long ld,
                                 const float *bias, const fk_act *act, int ch0) {
    for (long r = 0; r < rows; r++)
        bias_act_row(out + r * ld, c, bias, act, ch0);
}

/* Piece i of [0, n) cut into `parts` near-equal contiguous pieces. */
static inline void split_range(long n, long parts, long i, long *begin, long *end) {
    long base = n / parts, extra = n % parts;
    *begin = i * base + (i < extra ? i : extra);
    *end = *begin + base + (i < extra ? 1 : 0);
}

/* The smallest number of indices worth a task of its own when each index
 * costs `flops_per_index`. */
static inline long grain_for(double flops_per_index) {
    if (flops_per_index <= 0.0)
        return 1;
    double g = ceil(FK_MIN_TASK_FLOPS / flops_per_index);
    return g < 1.0 ? 1 : (g > 1e15 ? (long)1e15 : (long)g);
}

/* ---- window clipping (depthwise, pooling) ------------------------------ */

/* The range [k0, k1) of window offsets whose input position
 * start + k lies inside [0, size); empty when the window is all padding. */
static inline void valid_taps(int start, int k, int size, int *k0, int *k1) {
    *k0 = start < 0 ? -start : 0;
    *k1 = size - start < k ? size - start : k;
    if (*k1 < *k0)
        *k1 = *k0;
}

#endif
