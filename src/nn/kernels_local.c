/*
 * kernels_local.c - the fast locally connected layer (Keras'
 * LocallyConnected2D, which Facebook's DeepFace uses for its last three
 * feature layers): every output position has its own filter.
 *
 * There is no weight reuse across positions, so the layer is bound by
 * reading its filters (DeepFace's L4 alone is 3025 positions x 1296 taps x
 * 16 channels, 250 MB of float32), not by arithmetic. So the work is split
 * by positions over the pool, and for each position every image of the
 * batch is done before the next position: its filter (83 KB for L4) is
 * then read from memory once per run and from cache for the other images.
 * Within a position, the sums of a block of up to 32 output channels stay
 * in vector registers over the whole patch, which is kw * c contiguous
 * floats per window row (NHWC), so the inner loop carries no index
 * arithmetic beyond two pointer bumps.
 *
 * Nothing here allocates. A NULL act means no activation.
 */
#include "nn/kernels.h"
#include "nn/kernels_simd.h"

#define LOCAL_BLOCK 8 /* vectors of 4 channels kept in registers */

typedef struct local_job {
    const float *in, *filt, *bias;
    fk_shape4 is;
    const fk_window *win;
    const fk_act *act;
    float *out;
    int oh, ow, oc;
} local_job;

/* Channels [c0, c0 + nv * 4) of one output pixel: o = patch . f + bias. */
static void local_vectors(const local_job *j, const float *x0, const float *f0,
                          const float *bias, float *o, int c0, int nv) {
    const fk_window *win = j->win;
    const long row = (long)j->is.w * j->is.c, span = (long)win->kw * j->is.c;
    v4f acc[LOCAL_BLOCK];
    for (int v = 0; v < nv; v++)
        acc[v] = bias ? v4_load(bias + c0 + 4 * v) : v4_splat(0.0f);
    const float *f = f0 + c0;
    for (int ky = 0; ky < win->kh; ky++) {
        const float *x = x0 + ky * row;
        for (long t = 0; t < span; t++, f += j->oc) {
            v4f xv = v4_splat(x[t]);
            for (int v = 0; v < nv; v++) acc[v] += xv * v4_load(f + 4 * v);
        }
    }
    for (int v = 0; v < nv; v++) v4_store(o + c0 + 4 * v, acc[v]);
}

static void local_positions(void *arg, long begin, long end) {
    const local_job *j = arg;
    const fk_window *win = j->win;
    const fk_shape4 is = j->is;
    const long taps = (long)win->kh * win->kw * is.c;
    const int simple = act_is_simple(j->act);
    for (long pos = begin; pos < end; pos++) {
        const int y = (int)(pos / j->ow), x = (int)(pos % j->ow);
        const float *f = j->filt + pos * taps * j->oc;
        const float *bias = j->bias ? j->bias + pos * j->oc : NULL;
        for (int n = 0; n < is.n; n++) {
            const float *x0 = j->in + (((long)n * is.h + (long)y * win->stride_h) * is.w +
                                       (long)x * win->stride_w) * is.c;
            float *o = j->out + (((long)n * j->oh + y) * j->ow + x) * j->oc;
            int c0 = 0;
            for (; c0 + 4 <= j->oc; c0 += 4 * LOCAL_BLOCK) {
                int nv = (j->oc - c0) / 4;
                if (nv > LOCAL_BLOCK) nv = LOCAL_BLOCK;
                local_vectors(j, x0, f, bias, o, c0, nv);
                if (nv < LOCAL_BLOCK) {
                    c0 += 4 * nv;
                    break;
                }
            }
            for (; c0 < j->oc; c0++) { /* channels left over after the vectors */
                float a = bias ? bias[c0] : 0.0f;
                const long row = (long)is.w * is.c, span = (long)win->kw * is.c;
                const float *fc = f + c0;
                for (int ky = 0; ky < win->kh; ky++)
                    for (long t = 0; t < span; t++, fc += j->oc) a += x0[ky * row + t] * *fc;
                o[c0] = a;
            }
            if (simple)
                bias_act_row(o, j->oc, NULL, j->act, 0);
            else
                fk__act_apply(j->act, o, j->oc, j->oc);
        }
    }
}

void fk__local(const float *in, fk_shape4 is, const float *filt, const float *bias, int oc,
              const fk_window *win, const fk_act *act, float *out, fk_pool *pool) {
    local_job j = {.in = in, .filt = filt, .bias = bias, .is = is, .win = win, .act = act,
                   .out = out, .oc = oc};
    fk__window_out(win, is.h, is.w, &j.oh, &j.ow);
    if (j.oh <= 0 || j.ow <= 0) return;
    double flops = 2.0 * is.n * win->kh * win->kw * is.c * oc;
    fk__pool_run(pool, (long)j.oh * j.ow, grain_for(flops), local_positions, &j);
}
