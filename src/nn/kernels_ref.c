/*
 * kernels_ref.c - the reference kernels and the small ops that need no
 * faster twin.
 *
 * The `_ref` functions are the yardstick the fast kernels are tested
 * against, so they are written to be obviously right rather than quick:
 * one output value at a time, every index spelled out, sums in double so
 * that their own rounding is far below the tolerance of the comparison.
 *
 * The rest (window geometry, activations, elementwise ops, softmax, mean)
 * is used by the graph directly; they are single loops that gcc vectorises
 * well, so they have no separate fast version.
 *
 * Throughout, a NULL `act` means no activation.
 */
#include "nn/kernels.h"

#include <math.h>
#include <string.h>

/* ---- window geometry ---------------------------------------------------- */

/* The pads TensorFlow uses for one axis. SAME: the output has
 * ceil(in / stride) positions and the total pad needed for that is split
 * with the odd one out at the end (bottom/right). VALID: no pad. */
static void pad_axis_tf(int in, int k, int stride, int same, int *before,
                        int *after) {
    if (!same) {
        *before = *after = 0;
        return;
    }
    int out = (in + stride - 1) / stride;
    int total = (out - 1) * stride + k - in;
    if (total < 0)
        total = 0;
    *before = total / 2;
    *after = total - *before;
}

/* Fill the pads of `win` for TensorFlow's SAME (same != 0) or VALID
 * padding. Assumes kh, kw and the strides are already set and positive. */
void fk__window_pad_tf(fk_window *win, int in_h, int in_w, int same) {
    pad_axis_tf(in_h, win->kh, win->stride_h, same, &win->pad_top,
                &win->pad_bottom);
    pad_axis_tf(in_w, win->kw, win->stride_w, same, &win->pad_left,
                &win->pad_right);
}

/* Output size of `win` over in_h x in_w. A window larger than the padded
 * input gives 0 rather than the 1 that C's truncating division would. */
void fk__window_out(const fk_window *win, int in_h, int in_w, int *out_h,
                   int *out_w) {
    int span_h = in_h + win->pad_top + win->pad_bottom - win->kh;
    int span_w = in_w + win->pad_left + win->pad_right - win->kw;
    *out_h = span_h < 0 ? 0 : span_h / win->stride_h + 1;
    *out_w = span_w < 0 ? 0 : span_w / win->stride_w + 1;
}

/* ---- activations -------------------------------------------------------- */

/* One activated value; `ch` picks the PReLU slope. The reference kernels
 * use this so that they do not depend on fk__act_apply, which the tests
 * check separately against hand-computed values. */
static float act_one(const fk_act *act, float x, int ch) {
    if (!act)
        return x;
    switch (act->kind) {
    case FK_ACT_NONE: return x;
    case FK_ACT_RELU: return x < 0.0f ? 0.0f : x;
    case FK_ACT_RELU6: return x < 0.0f ? 0.0f : (x > 6.0f ? 6.0f : x);
    case FK_ACT_LEAKY: return x < 0.0f ? act->alpha * x : x;
    case FK_ACT_PRELU: return x < 0.0f ? act->slope[ch] * x : x;
    case FK_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case FK_ACT_TANH: return tanhf(x);
    }
    return x;
}

/* Apply `act` in place to count values laid out as rows of c channels
 * (channel = index % c; c only matters for PReLU). The switch sits outside
 * the loops so each case is a plain loop gcc can vectorise; the ternaries
 * compile to blends rather than branches. */
void fk__act_apply(const fk_act *act, float *x, long count, int c) {
    if (!act)
        return;
    switch (act->kind) {
    case FK_ACT_NONE:
        return;
    case FK_ACT_RELU:
        for (long i = 0; i < count; i++)
            x[i] = x[i] < 0.0f ? 0.0f : x[i];
        return;
    case FK_ACT_RELU6:
        for (long i = 0; i < count; i++) {
            float v = x[i] < 0.0f ? 0.0f : x[i];
            x[i] = v > 6.0f ? 6.0f : v;
        }
        return;
    case FK_ACT_LEAKY: {
        float a = act->alpha;
        for (long i = 0; i < count; i++)
            x[i] = x[i] < 0.0f ? a * x[i] : x[i];
        return;
    }
    case FK_ACT_PRELU: {
        const float *s = act->slope;
        for (long i = 0; i < count; i += c) {
            /* count need not be a whole number of rows */
            long m = count - i < c ? count - i : c;
            float *row = x + i;
            for (long j = 0; j < m; j++)
                row[j] = row[j] < 0.0f ? s[j] * row[j] : row[j];
        }
        return;
    }
    case FK_ACT_SIGMOID:
        for (long i = 0; i < count; i++)
            x[i] = 1.0f / (1.0f + expf(-x[i]));
        return;
    case FK_ACT_TANH:
        for (long i = 0; i < count; i++)
            x[i] = tanhf(x[i]);
        return;
    }
}

/* ---- reference kernels -------------------------------------------------- */

/* Index of element (b, y, x, ch) in an NHWC tensor of shape s. */
static size_t nhwc(fk_shape4 s, int b, int y, int x, int ch) {
    return (((size_t)b * s.h + y) * s.w + x) * s.c + ch;
}

/* Convolution, one output value at a time: the sum over the window of
 * input times filter, skipping positions that fall in the padding (they
 * read as zero), plus bias, then the activation. */
void fk__conv2d_ref(const float *in, fk_shape4 is, const float *filt,
                   const float *bias, int oc, const fk_window *win,
                   const fk_act *act, float *out) {
    int oh, ow;
    fk__window_out(win, is.h, is.w, &oh, &ow);
    fk_shape4 os = {is.n, oh, ow, oc};
    for (int b = 0; b < is.n; b++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int o = 0; o < oc; o++) {
                    double sum = bias ? bias[o] : 0.0;
                    for (int ky = 0; ky < win->kh; ky++) {
                        int iy = oy * win->stride_h - win->pad_top + ky;
                        if (iy < 0 || iy >= is.h)
                            continue;
                        for (int kx = 0; kx < win->kw; kx++) {
                            int ix = ox * win->stride_w - win->pad_left + kx;
                            if (ix < 0 || ix >= is.w)
                                continue;
                            for (int i = 0; i < is.c; i++) {
                                size_t f = (((size_t)ky * win->kw + kx) *
                                                is.c + i) * oc + o;
                                sum += (double)in[nhwc(is, b, iy, ix, i)] *
                                       filt[f];
                            }
                        }
                    }
                    out[nhwc(os, b, oy, ox, o)] = act_one(act, (float)sum, o);
                }
}

/* Depthwise convolution: like fk__conv2d_ref but channel ch of the output
 * sees only channel ch of the input, with filter filt[ky][kx][ch]. */
void fk__depthwise_ref(const float *in, fk_shape4 is, const float *filt,
                      const float *bias, const fk_window *win,
                      const fk_act *act, float *out) {
    int oh, ow;
    fk__window_out(win, is.h, is.w, &oh, &ow);
    fk_shape4 os = {is.n, oh, ow, is.c};
    for (int b = 0; b < is.n; b++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int ch = 0; ch < is.c; ch++) {
                    double sum = bias ? bias[ch] : 0.0;
                    for (int ky = 0; ky < win->kh; ky++) {
                        int iy = oy * win->stride_h - win->pad_top + ky;
                        if (iy < 0 || iy >= is.h)
                            continue;
                        for (int kx = 0; kx < win->kw; kx++) {
                            int ix = ox * win->stride_w - win->pad_left + kx;
                            if (ix < 0 || ix >= is.w)
                                continue;
                            size_t f = ((size_t)ky * win->kw + kx) * is.c + ch;
                            sum += (double)in[nhwc(is, b, iy, ix, ch)] *
                                   filt[f];
                        }
                    }
                    out[nhwc(os, b, oy, ox, ch)] =
                        act_one(act, (float)sum, ch);
                }
}

/* Fully connected: out[i][j] = act(bias[j] + sum_k in[i][k] * w[k][j]). */
void fk__fc_ref(const float *in, int m, int k, const float *w,
               const float *bias, int n, const fk_act *act, float *out) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double sum = bias ? bias[j] : 0.0;
            for (int t = 0; t < k; t++)
                sum += (double)in[(size_t)i * k + t] * w[(size_t)t * n + j];
            out[(size_t)i * n + j] = act_one(act, (float)sum, j);
        }
}

/* Shared body of the reference pools: for each output value, visit the
 * real (unpadded) input positions of its window and either take their
 * maximum or their mean. A window lying wholly in the padding (possible
 * only with explicit pads at least as large as the window) gives 0. */
static void pool_ref(const float *in, fk_shape4 is, const fk_window *win,
                     int is_max, float *out) {
    int oh, ow;
    fk__window_out(win, is.h, is.w, &oh, &ow);
    fk_shape4 os = {is.n, oh, ow, is.c};
    for (int b = 0; b < is.n; b++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int ch = 0; ch < is.c; ch++) {
                    double sum = 0.0;
                    float best = -INFINITY;
                    int count = 0;
                    for (int ky = 0; ky < win->kh; ky++) {
                        int iy = oy * win->stride_h - win->pad_top + ky;
                        if (iy < 0 || iy >= is.h)
                            continue;
                        for (int kx = 0; kx < win->kw; kx++) {
                            int ix = ox * win->stride_w - win->pad_left + kx;
                            if (ix < 0 || ix >= is.w)
                                continue;
                            float v = in[nhwc(is, b, iy, ix, ch)];
                            sum += v;
                            if (v > best)
                                best = v;
                            count++;
                        }
                    }
                    float r = 0.0f;
                    if (count > 0)
                        r = is_max ? best : (float)(sum / count);
                    out[nhwc(os, b, oy, ox, ch)] = r;
                }
}

/* Max pool over the real positions of each window. */
void fk__maxpool_ref(const float *in, fk_shape4 is, const fk_window *win,
                    float *out) {
    pool_ref(in, is, win, 1, out);
}

/* Average pool dividing by the number of real positions in each window. */
void fk__avgpool_ref(const float *in, fk_shape4 is, const fk_window *win,
                    float *out) {
    pool_ref(in, is, win, 0, out);
}

/* ---- elementwise -------------------------------------------------------- */

/* out = a + b with b repeated every b_count values, then act (PReLU
 * channels = b_count). Assumes b_count >= 1 divides count. Walking in
 * blocks of b_count keeps the inner loop free of a modulo. out may be a. */
void fk__add(const float *a, long count, const float *b, long b_count,
            const fk_act *act, float *out) {
    if (b_count == 1) {
        /* a scalar: one long loop rather than count blocks of one */
        float s = b[0];
        for (long i = 0; i < count; i++)
            out[i] = a[i] + s;
    } else {
        for (long i = 0; i < count; i += b_count) {
            const float *ai = a + i;
            float *oi = out + i;
            for (long j = 0; j < b_count; j++)
                oi[j] = ai[j] + b[j];
        }
    }
    fk__act_apply(act, out, count, (int)b_count);
}

/* out = a * b with the same broadcasting and aliasing rules as fk__add. */
void fk__mul(const float *a, long count, const float *b, long b_count,
            const fk_act *act, float *out) {
    if (b_count == 1) {
        /* a scalar: one long loop rather than count blocks of one */
        float s = b[0];
        for (long i = 0; i < count; i++)
            out[i] = a[i] * s;
    } else {
        for (long i = 0; i < count; i += b_count) {
            const float *ai = a + i;
            float *oi = out + i;
            for (long j = 0; j < b_count; j++)
                oi[j] = ai[j] * b[j];
        }
    }
    fk__act_apply(act, out, count, (int)b_count);
}

/* out = a * scale[ch] + shift[ch] per channel (a folded batch norm), then
 * act. Assumes c divides count. A NULL scale means 1, a NULL shift 0. out
 * may be a. */
void fk__scale_shift(const float *a, long count, int c, const float *scale,
                    const float *shift, const fk_act *act, float *out) {
    for (long i = 0; i < count; i += c) {
        const float *ai = a + i;
        float *oi = out + i;
        if (scale && shift)
            for (int j = 0; j < c; j++)
                oi[j] = ai[j] * scale[j] + shift[j];
        else if (scale)
            for (int j = 0; j < c; j++)
                oi[j] = ai[j] * scale[j];
        else if (shift)
            for (int j = 0; j < c; j++)
                oi[j] = ai[j] + shift[j];
        else if (oi != ai)
            for (int j = 0; j < c; j++)
                oi[j] = ai[j];
    }
    fk__act_apply(act, out, count, c);
}

/* ---- reductions --------------------------------------------------------- */

/* Softmax of each row of c values. Subtracting the row maximum first keeps
 * every exponent <= 0, so expf cannot overflow and the largest term is 1
 * (the sum is never 0). Each out[j] is written only after in[j] is read, so
 * out may be in. */
void fk__softmax(const float *in, long rows, int c, float *out) {
    for (long r = 0; r < rows; r++) {
        const float *x = in + r * c;
        float *y = out + r * c;
        if (c <= 0)
            continue;
        float max = x[0];
        for (int j = 1; j < c; j++)
            max = x[j] > max ? x[j] : max;
        double sum = 0.0;
        for (int j = 0; j < c; j++) {
            y[j] = expf(x[j] - max);
            sum += y[j];
        }
        float inv = (float)(1.0 / sum);
        for (int j = 0; j < c; j++)
            y[j] *= inv;
    }
}

/* Global average over H and W: out[b][ch] is the mean of channel ch of
 * image b. Sums whole pixels (c contiguous values) into out so the inner
 * loop runs along memory; an empty image gives 0. */
void fk__mean_hw(const float *in, fk_shape4 is, float *out) {
    long pixels = (long)is.h * is.w;
    for (int b = 0; b < is.n; b++) {
        float *o = out + (size_t)b * is.c;
        const float *px = in + (size_t)b * pixels * is.c;
        for (int ch = 0; ch < is.c; ch++)
            o[ch] = 0.0f;
        for (long p = 0; p < pixels; p++, px += is.c)
            for (int ch = 0; ch < is.c; ch++)
                o[ch] += px[ch];
        float inv = pixels > 0 ? 1.0f / (float)pixels : 0.0f;
        for (int ch = 0; ch < is.c; ch++)
            o[ch] *= inv;
    }
}

/* ---- general tensor ops ------------------------------------------------ */

/* One binary op on two scalars. */
static inline float binop_1(fk_binop op, float x, float y) {
    switch (op) {
    case FK_BIN_ADD: return x + y;
    case FK_BIN_SUB: return x - y;
    case FK_BIN_MUL: return x * y;
    case FK_BIN_DIV: return x / y;
    case FK_BIN_MAX: return x > y ? x : y;
    case FK_BIN_MIN: return x < y ? x : y;
    case FK_BIN_GREATER: return x > y ? 1.0f : 0.0f;
    case FK_BIN_GREATER_EQUAL: return x >= y ? 1.0f : 0.0f;
    case FK_BIN_LESS: return x < y ? 1.0f : 0.0f;
    case FK_BIN_LESS_EQUAL: return x <= y ? 1.0f : 0.0f;
    }
    return 0.0f;
}

/* Index of element (n, y, x, c) of a tensor of shape s, where a dimension of
 * size 1 is broadcast (always read at 0). */
static inline long bcast_index(fk_shape4 s, int n, int y, int x, int c) {
    return (((long)(s.n == 1 ? 0 : n) * s.h + (s.h == 1 ? 0 : y)) * s.w +
            (s.w == 1 ? 0 : x)) * s.c + (s.c == 1 ? 0 : c);
}

void fk__binary_ref(fk_binop op, const float *a, fk_shape4 sa, const float *b,
                   fk_shape4 sb, float *out, fk_shape4 so) {
    long i = 0;
    for (int n = 0; n < so.n; n++)
        for (int y = 0; y < so.h; y++)
            for (int x = 0; x < so.w; x++)
                for (int c = 0; c < so.c; c++, i++)
                    out[i] = binop_1(op, a[bcast_index(sa, n, y, x, c)],
                                     b[bcast_index(sb, n, y, x, c)]);
}

void fk__unary_ref(fk_unop op, const float *in, long count, float *out) {
    for (long i = 0; i < count; i++) {
        float v = in[i];
        switch (op) {
        case FK_UN_RELU: v = v > 0 ? v : 0; break;
        case FK_UN_RELU6: v = v < 0 ? 0 : v > 6 ? 6 : v; break;
        case FK_UN_ABS: v = fabsf(v); break;
        case FK_UN_SQUARE: v = v * v; break;
        case FK_UN_SQRT: v = sqrtf(v); break;
        case FK_UN_RSQRT: v = 1.0f / sqrtf(v); break;
        case FK_UN_SIGMOID: v = 1.0f / (1.0f + expf(-v)); break;
        case FK_UN_TANH: v = tanhf(v); break;
        case FK_UN_NEG: v = -v; break;
        case FK_UN_EXP: v = expf(v); break;
        }
        out[i] = v;
    }
}

void fk__pad_ref(const float *in, fk_shape4 is, const int pads[8], float value,
                float *out) {
    fk_shape4 os = {is.n + pads[0] + pads[1], is.h + pads[2] + pads[3],
                    is.w + pads[4] + pads[5], is.c + pads[6] + pads[7]};
    long i = 0;
    for (int n = 0; n < os.n; n++)
        for (int y = 0; y < os.h; y++)
            for (int x = 0; x < os.w; x++)
                for (int c = 0; c < os.c; c++, i++) {
                    int sn = n - pads[0], sy = y - pads[2], sx = x - pads[4],
                        sc = c - pads[6];
                    int inside = sn >= 0 && sn < is.n && sy >= 0 && sy < is.h &&
                                 sx >= 0 && sx < is.w && sc >= 0 && sc < is.c;
                    out[i] = inside
                        ? in[(((long)sn * is.h + sy) * is.w + sx) * is.c + sc]
                        : value;
                }
}

void fk__reduce_ref(fk_reduce_op op, const float *in, fk_shape4 is,
                   const int axes[4], float *out) {
    fk_shape4 os = {axes[0] ? 1 : is.n, axes[1] ? 1 : is.h,
                    axes[2] ? 1 : is.w, axes[3] ? 1 : is.c};
    long ocount = (long)os.n * os.h * os.w * os.c;
    long per = ((long)is.n * is.h * is.w * is.c) / (ocount ? ocount : 1);
    for (long k = 0; k < ocount; k++)
        out[k] = op == FK_RED_MAX ? -INFINITY : 0.0f;
    long i = 0;
    for (int n = 0; n < is.n; n++)
        for (int y = 0; y < is.h; y++)
            for (int x = 0; x < is.w; x++)
                for (int c = 0; c < is.c; c++, i++) {
                    float *o = out + bcast_index(os, n, y, x, c);
                    if (op == FK_RED_MAX) {
                        if (in[i] > *o) *o = in[i];
                    } else {
                        *o += in[i];
                    }
                }
    if (op == FK_RED_MEAN && per > 0)
        for (long k = 0; k < ocount; k++) out[k] /= (float)per;
}

void fk__slice_ref(const float *in, fk_shape4 is, const int start[4], const int step[4],
                  float *out, fk_shape4 os) {
    long i = 0;
    for (int n = 0; n < os.n; n++)
        for (int y = 0; y < os.h; y++)
            for (int x = 0; x < os.w; x++)
                for (int c = 0; c < os.c; c++, i++) {
                    long sn = start[0] + (long)n * step[0], sy = start[1] + (long)y * step[1],
                         sx = start[2] + (long)x * step[2], sc = start[3] + (long)c * step[3];
                    out[i] = in[((sn * is.h + sy) * is.w + sx) * is.c + sc];
                }
}

void fk__concat_channels(const float *a, fk_shape4 sa, const float *b, fk_shape4 sb,
                        float *out) {
    long pixels = (long)sa.n * sa.h * sa.w;
    for (long p = 0; p < pixels; p++) {
        memcpy(out, a + p * sa.c, (size_t)sa.c * sizeof(float));
        memcpy(out + sa.c, b + p * sb.c, (size_t)sb.c * sizeof(float));
        out += sa.c + sb.c;
    }
}

void fk__local_ref(const float *in, fk_shape4 is, const float *filt, const float *bias,
                  int oc, const fk_window *win, const fk_act *act, float *out) {
    int oh, ow;
    fk__window_out(win, is.h, is.w, &oh, &ow);
    const long taps = (long)win->kh * win->kw * is.c;
    for (int n = 0; n < is.n; n++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                const long pos = (long)y * ow + x;
                const float *f = filt + pos * taps * oc;
                float *o = out + (((long)n * oh + y) * ow + x) * oc;
                for (int co = 0; co < oc; co++) {
                    float acc = bias ? bias[pos * oc + co] : 0.0f;
                    long t = 0;
                    for (int ky = 0; ky < win->kh; ky++)
                        for (int kx = 0; kx < win->kw; kx++)
                            for (int ci = 0; ci < is.c; ci++, t++) {
                                long iy = (long)y * win->stride_h + ky;
                                long ix = (long)x * win->stride_w + kx;
                                acc += in[(((long)n * is.h + iy) * is.w + ix) * is.c + ci] *
                                       f[t * oc + co];
                            }
                    o[co] = act_one(act, acc, co);
                }
            }
}
