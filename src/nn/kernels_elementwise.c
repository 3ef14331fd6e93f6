/*
 * kernels_elementwise.c - the fast element-wise kernels: the same-shape add
 * of two tensors (residual connections), binary ops with broadcasting,
 * unary ops, padding and reductions, in 4-float vectors over the channels
 * and split over the thread pool where the tensor is large enough to share.
 *
 * Nothing here allocates. A NULL act means no activation; a NULL pool runs
 * everything on the calling thread.
 */
#include "nn/kernels.h"
#include "nn/kernels_simd.h"

#include <math.h>
#include <string.h>

/* ---- same-shape add ----------------------------------------------------- */

typedef struct add_job {
    const float *a, *b;
    float *out;
    int c;
    const fk_act *act;
} add_job;

static void add_rows(void *arg, long r0, long r1) {
    const add_job *j = arg;
    int c = j->c, simple = act_is_simple(j->act);
    const fk_act *act = simple ? j->act : NULL;
    for (long r = r0; r < r1; r++) {
        const float *a = j->a + r * c, *b = j->b + r * c;
        float *o = j->out + r * c;
        int ch = 0;
        for (; ch + 4 <= c; ch += 4)
            v4_store(o + ch, act_v4(act, v4_load(a + ch) + v4_load(b + ch), ch));
        for (; ch < c; ch++)
            o[ch] = act_1(act, a[ch] + b[ch], ch);
        if (!simple)
            fk__act_apply(j->act, o, c, c);
    }
}

void fk__add_rows(const float *a, const float *b, long rows, int c,
                 const fk_act *act, float *out, fk_pool *pool) {
    if (rows <= 0 || c <= 0)
        return;
    add_job j = {a, b, out, c, act};
    /* memory-bound: a piece of 8192 values (~100 KB moved) is worth a
     * thread */
    fk__pool_run(pool, rows, 1 + 8192 / c, add_rows, &j);
}

/* ---- general tensor ops ------------------------------------------------ *
 * The fast binary op walks the output row by row (a row = the channels of
 * one pixel). Each operand's row is found with its broadcast dimensions read
 * at 0, and inside the row an operand either advances (full channels) or
 * stays put (one channel broadcast): four tight inner loops the compiler
 * vectorises, split over the pool by rows. */

typedef struct binary_job {
    fk_binop op;
    const float *a, *b;
    fk_shape4 sa, sb, so;
    float *out;
} binary_job;

/* Offset of the first channel of pixel (n, y, x) in a broadcast operand. */
static inline long row_offset(fk_shape4 s, int n, int y, int x) {
    return (((long)(s.n == 1 ? 0 : n) * s.h + (s.h == 1 ? 0 : y)) * s.w +
            (s.w == 1 ? 0 : x)) * s.c;
}

#define BIN_LOOP(EXPR)                                                      \
    do {                                                                    \
        if (sa1 && sb1)                                                     \
            for (int c = 0; c < cn; c++) { float x = pa[c], y = pb[c]; po[c] = (EXPR); } \
        else if (sa1)                                                       \
            for (int c = 0; c < cn; c++) { float x = pa[c], y = pb[0]; po[c] = (EXPR); } \
        else if (sb1)                                                       \
            for (int c = 0; c < cn; c++) { float x = pa[0], y = pb[c]; po[c] = (EXPR); } \
        else                                                                \
            for (int c = 0; c < cn; c++) { float x = pa[0], y = pb[0]; po[c] = (EXPR); } \
    } while (0)

static void binary_rows(void *arg, long r0, long r1) {
    const binary_job *j = arg;
    const fk_shape4 so = j->so;
    const int cn = so.c;
    const int sa1 = j->sa.c != 1 || cn == 1, sb1 = j->sb.c != 1 || cn == 1;
    for (long r = r0; r < r1; r++) {
        int x = (int)(r % so.w), y = (int)((r / so.w) % so.h),
            n = (int)(r / ((long)so.w * so.h));
        const float *pa = j->a + row_offset(j->sa, n, y, x);
        const float *pb = j->b + row_offset(j->sb, n, y, x);
        float *po = j->out + r * cn;
        switch (j->op) {
        case FK_BIN_ADD: BIN_LOOP(x + y); break;
        case FK_BIN_SUB: BIN_LOOP(x - y); break;
        case FK_BIN_MUL: BIN_LOOP(x * y); break;
        case FK_BIN_DIV: BIN_LOOP(x / y); break;
        case FK_BIN_MAX: BIN_LOOP(x > y ? x : y); break;
        case FK_BIN_MIN: BIN_LOOP(x < y ? x : y); break;
        default: break; /* comparisons take the reference loop (fk__binary) */
        }
    }
}
#undef BIN_LOOP

static int same_shape(fk_shape4 x, fk_shape4 y) {
    return x.n == y.n && x.h == y.h && x.w == y.w && x.c == y.c;
}

/* x op y on 4 lanes and on one value, for the flat paths below. The
 * switch is on a value fixed for a whole call, so it predicts perfectly. */
static inline v4f binop_v4(fk_binop op, v4f x, v4f y) {
    switch (op) {
    case FK_BIN_ADD: return x + y;
    case FK_BIN_SUB: return x - y;
    case FK_BIN_MUL: return x * y;
    case FK_BIN_DIV: return x / y;
    case FK_BIN_MAX: return v4_max(x, y);
    default: return v4_min(x, y);
    }
}

static inline float binop_1(fk_binop op, float x, float y) {
    switch (op) {
    case FK_BIN_ADD: return x + y;
    case FK_BIN_SUB: return x - y;
    case FK_BIN_MUL: return x * y;
    case FK_BIN_DIV: return x / y;
    case FK_BIN_MAX: return x > y ? x : y;
    default: return x < y ? x : y;
    }
}

/* Operands and output of one shape: flat vectors, no broadcasting. */
static void binary_flat(void *arg, long i0, long i1) {
    const binary_job *j = arg;
    long i = i0;
    for (; i + 4 <= i1; i += 4)
        v4_store(j->out + i, binop_v4(j->op, v4_load(j->a + i), v4_load(j->b + i)));
    for (; i < i1; i++)
        j->out[i] = binop_1(j->op, j->a[i], j->b[i]);
}

/* One operand of the output's shape, the other one value per channel
 * (1x1x1xc: a normalisation's mean or scale). The channel values are laid
 * out once as a pattern of lcm(c, 4) floats, so whole vectors line up with
 * it whatever c is; pieces start on pattern boundaries. */
#define FK_PATTERN_MAX 256
static void binary_per_channel(void *arg, long p0, long p1) {
    const binary_job *j = arg;
    int c = j->so.c, len = c;
    while (len % 4) len += c;
    float pat[FK_PATTERN_MAX];
    int chan_a = !same_shape(j->sa, j->so); /* a is the per-channel operand */
    const float *vals = chan_a ? j->a : j->b, *full = chan_a ? j->b : j->a;
    int one = (chan_a ? j->sa.c : j->sb.c) == 1; /* one value for every channel */
    for (int i = 0; i < len; i++) pat[i] = vals[one ? 0 : i % c];
    long count = (long)j->so.n * j->so.h * j->so.w * c;
    for (long p = p0; p < p1; p++) {
        long i0 = p * len, i1 = i0 + len < count ? i0 + len : count;
        for (long i = i0; i < i1; i += 4) {
            int k = (int)(i - i0);
            if (i + 4 <= i1) {
                v4f f = v4_load(full + i), q = v4_load(pat + k);
                v4_store(j->out + i, chan_a ? binop_v4(j->op, q, f) : binop_v4(j->op, f, q));
            } else {
                for (long t = i; t < i1; t++) {
                    float f = full[t], q = pat[t - i0];
                    j->out[t] = chan_a ? binop_1(j->op, q, f) : binop_1(j->op, f, q);
                }
            }
        }
    }
}

void fk__binary(fk_binop op, const float *a, fk_shape4 sa, const float *b,
               fk_shape4 sb, float *out, fk_shape4 so, fk_pool *pool) {
    binary_job j = {op, a, b, sa, sb, so, out};
    if (op >= FK_BIN_GREATER) {
        /* Comparisons route a tree network's decisions: a handful of
         * values (FaceAntiSpoofing compares 7 scalars), not worth vectors. */
        fk__binary_ref(op, a, sa, b, sb, out, so);
        return;
    }
    if (same_shape(sa, so) && same_shape(sb, so)) {
        long count = (long)so.n * so.h * so.w * so.c;
        fk__pool_run(pool, count, 8192, binary_flat, &j);
        return;
    }
    /* one value per channel, or one for all (x - 127.5) */
    fk_shape4 chan = {1, 1, 1, so.c}, one = {1, 1, 1, 1};
    int len = so.c;
    while (len % 4 && len <= FK_PATTERN_MAX) len += so.c;
    if (len <= FK_PATTERN_MAX && so.c > 0 &&
        ((same_shape(sa, so) && (same_shape(sb, chan) || same_shape(sb, one))) ||
         (same_shape(sb, so) && (same_shape(sa, chan) || same_shape(sa, one))))) {
        long count = (long)so.n * so.h * so.w * so.c;
        long pieces = (count + len - 1) / len;
        fk__pool_run(pool, pieces, 1 + 8192 / len, binary_per_channel, &j);
        return;
    }
    long rows = (long)so.n * so.h * so.w;
    long grain = 1 + 65536 / (so.c > 0 ? so.c : 1);
    fk__pool_run(pool, rows, grain, binary_rows, &j);
}

typedef struct unary_job {
    fk_unop op;
    const float *in;
    float *out;
} unary_job;

static void unary_range(void *arg, long i0, long i1) {
    const unary_job *j = arg;
    const float *in = j->in;
    float *out = j->out;
    switch (j->op) {
    case FK_UN_RELU:
        for (long i = i0; i < i1; i++) out[i] = in[i] > 0 ? in[i] : 0.0f;
        break;
    case FK_UN_RELU6:
        for (long i = i0; i < i1; i++) {
            float v = in[i] > 0 ? in[i] : 0.0f;
            out[i] = v < 6.0f ? v : 6.0f;
        }
        break;
    case FK_UN_ABS:
        for (long i = i0; i < i1; i++) out[i] = fabsf(in[i]);
        break;
    case FK_UN_SQUARE:
        for (long i = i0; i < i1; i++) out[i] = in[i] * in[i];
        break;
    case FK_UN_NEG:
        for (long i = i0; i < i1; i++) out[i] = -in[i];
        break;
    default: /* transcendental: the reference loop is as good as any */
        fk__unary_ref(j->op, in + i0, i1 - i0, out + i0);
        break;
    }
}

void fk__unary(fk_unop op, const float *in, long count, float *out,
              fk_pool *pool) {
    unary_job j = {op, in, out};
    fk__pool_run(pool, count, 65536, unary_range, &j);
}

typedef struct pad_job {
    const float *in;
    fk_shape4 is, os;
    const int *pads;
    float value;
    float *out;
} pad_job;

static void fill(float *o, long n, float v) {
    for (long i = 0; i < n; i++) o[i] = v;
}

/* Output image rows (one (n, y) pair each) r0..r1: rows outside the input
 * are filled; inside, the pads left and right of the input pixels are
 * filled and the pixels copied, one memcpy per row when the channels are
 * not padded. */
static void pad_rows(void *arg, long r0, long r1) {
    const pad_job *j = arg;
    const fk_shape4 is = j->is, os = j->os;
    const long orow = (long)os.w * os.c;
    for (long r = r0; r < r1; r++) {
        float *o = j->out + r * orow;
        int y = (int)(r % os.h), n = (int)(r / os.h);
        int sn = n - j->pads[0], sy = y - j->pads[2];
        if (sn < 0 || sn >= is.n || sy < 0 || sy >= is.h || is.w == 0) {
            fill(o, orow, j->value);
            continue;
        }
        const float *src = j->in + ((long)sn * is.h + sy) * is.w * is.c;
        long left = (long)j->pads[4] * os.c, mid = (long)is.w * os.c;
        fill(o, left, j->value);
        if (is.c == os.c) {
            memcpy(o + left, src, (size_t)mid * sizeof(float));
        } else {
            fill(o + left, mid, j->value);
            for (int x = 0; x < is.w; x++)
                memcpy(o + left + (long)x * os.c + j->pads[6], src + (long)x * is.c,
                       (size_t)is.c * sizeof(float));
        }
        fill(o + left + mid, orow - left - mid, j->value);
    }
}

void fk__pad(const float *in, fk_shape4 is, const int pads[8], float value,
            float *out, fk_pool *pool) {
    pad_job j = {in, is,
                 {is.n + pads[0] + pads[1], is.h + pads[2] + pads[3],
                  is.w + pads[4] + pads[5], is.c + pads[6] + pads[7]},
                 pads, value, out};
    long rows = (long)j.os.n * j.os.h;
    fk__pool_run(pool, rows, 1 + 16384 / (1 + (long)j.os.w * j.os.c), pad_rows, &j);
}

/* Reductions: the common case (over H and W, keeping channels) walks pixels
 * with the channels innermost; anything else takes the reference loop. */
void fk__reduce(fk_reduce_op op, const float *in, fk_shape4 is,
               const int axes[4], float *out) {
    if (op == FK_RED_MEAN && !axes[0] && axes[1] && axes[2] && !axes[3]) {
        fk__mean_hw(in, is, out);
        return;
    }
    fk__reduce_ref(op, in, is, axes, out);
}

/* ---- strided slice ------------------------------------------------------ */

typedef struct slice_job {
    const float *in;
    fk_shape4 is, os;
    const int *start, *step;
    float *out;
} slice_job;

/* Output rows (one (n, y, x) pixel each) r0..r1; a pixel's channels are a
 * contiguous run of the input when the channel step is 1. */
static void slice_rows(void *arg, long r0, long r1) {
    const slice_job *j = arg;
    const fk_shape4 is = j->is, os = j->os;
    for (long r = r0; r < r1; r++) {
        int x = (int)(r % os.w), y = (int)((r / os.w) % os.h),
            n = (int)(r / ((long)os.w * os.h));
        const float *src = j->in +
            ((((long)j->start[0] + (long)n * j->step[0]) * is.h + j->start[1] +
              (long)y * j->step[1]) * is.w + j->start[2] + (long)x * j->step[2]) * is.c +
            j->start[3];
        float *o = j->out + r * os.c;
        if (j->step[3] == 1) {
            memcpy(o, src, (size_t)os.c * sizeof(float));
        } else {
            for (int c = 0; c < os.c; c++) o[c] = src[(long)c * j->step[3]];
        }
    }
}

void fk__slice(const float *in, fk_shape4 is, const int start[4], const int step[4],
              float *out, fk_shape4 os, fk_pool *pool) {
    slice_job j = {in, is, os, start, step, out};
    long rows = (long)os.n * os.h * os.w;
    fk__pool_run(pool, rows, 1 + 16384 / (1 + (long)os.c), slice_rows, &j);
}
