/*
 * kernels_pool.c - the fast max and average pools (NHWC): each output row
 * walks its windows with the channels innermost in 4-float vectors, the
 * window clipped at the image border once per pixel (as the depthwise
 * convolution does), rows split over the thread pool.
 *
 * Nothing here allocates. A NULL pool runs everything on the calling
 * thread.
 */
#include "nn/kernels.h"
#include "nn/kernels_simd.h"

/* ---- pooling ------------------------------------------------------------ */

typedef struct pool_job {
    const float *in;
    fk_shape4 is;
    const fk_window *win;
    float *out;
    int oh, ow;
} pool_job;

/* Max pool of output rows [r0, r1): the maximum over each window's real
 * positions (clipped ranges, as in dw_rows), 0 for a window with none. */
static void maxpool_rows(void *arg, long r0, long r1) {
    const pool_job *j = arg;
    const fk_window *win = j->win;
    fk_shape4 is = j->is;
    int c = is.c;
    for (long r = r0; r < r1; r++) {
        long b = r / j->oh;
        int oy = (int)(r % j->oh);
        int iy0 = oy * win->stride_h - win->pad_top, ky0, ky1;
        valid_taps(iy0, win->kh, is.h, &ky0, &ky1);
        const float *img = j->in + (size_t)b * is.h * is.w * c;
        float *orow = j->out + (size_t)r * j->ow * c;
        for (int ox = 0; ox < j->ow; ox++) {
            int ix0 = ox * win->stride_w - win->pad_left, kx0, kx1;
            valid_taps(ix0, win->kw, is.w, &kx0, &kx1);
            float *o = orow + (size_t)ox * c;
            if (ky1 == ky0 || kx1 == kx0) {
                memset(o, 0, (size_t)c * sizeof(float));
                continue;
            }
            const float *first =
                img + ((size_t)(iy0 + ky0) * is.w + (size_t)(ix0 + kx0)) * c;
            size_t in_row = (size_t)is.w * c;
            int nky = ky1 - ky0, nkx = kx1 - kx0;
            int ch = 0;
            for (; ch + 4 <= c; ch += 4) {
                v4f m = v4_load(first + ch);
                for (int ky = 0; ky < nky; ky++) {
                    const float *x = first + ky * in_row + ch;
                    for (int kx = 0; kx < nkx; kx++, x += c)
                        m = v4_max(m, v4_load(x));
                }
                v4_store(o + ch, m);
            }
            for (; ch < c; ch++) {
                float m = first[ch];
                for (int ky = 0; ky < nky; ky++) {
                    const float *x = first + ky * in_row + ch;
                    for (int kx = 0; kx < nkx; kx++, x += c)
                        m = *x > m ? *x : m;
                }
                o[ch] = m;
            }
        }
    }
}

/* Average pool of output rows [r0, r1), dividing by the number of real
 * positions in each window (TensorFlow's rule at padded borders). */
static void avgpool_rows(void *arg, long r0, long r1) {
    const pool_job *j = arg;
    const fk_window *win = j->win;
    fk_shape4 is = j->is;
    int c = is.c;
    for (long r = r0; r < r1; r++) {
        long b = r / j->oh;
        int oy = (int)(r % j->oh);
        int iy0 = oy * win->stride_h - win->pad_top, ky0, ky1;
        valid_taps(iy0, win->kh, is.h, &ky0, &ky1);
        const float *img = j->in + (size_t)b * is.h * is.w * c;
        float *orow = j->out + (size_t)r * j->ow * c;
        for (int ox = 0; ox < j->ow; ox++) {
            int ix0 = ox * win->stride_w - win->pad_left, kx0, kx1;
            valid_taps(ix0, win->kw, is.w, &kx0, &kx1);
            float *o = orow + (size_t)ox * c;
            int nky = ky1 - ky0, nkx = kx1 - kx0;
            if (nky == 0 || nkx == 0) {
                memset(o, 0, (size_t)c * sizeof(float));
                continue;
            }
            float inv = 1.0f / (float)(nky * nkx);
            const float *first =
                img + ((size_t)(iy0 + ky0) * is.w + (size_t)(ix0 + kx0)) * c;
            size_t in_row = (size_t)is.w * c;
            int ch = 0;
            for (; ch + 4 <= c; ch += 4) {
                v4f s = v4_splat(0.0f);
                for (int ky = 0; ky < nky; ky++) {
                    const float *x = first + ky * in_row + ch;
                    for (int kx = 0; kx < nkx; kx++, x += c)
                        s += v4_load(x);
                }
                v4_store(o + ch, s * inv);
            }
            for (; ch < c; ch++) {
                float s = 0.0f;
                for (int ky = 0; ky < nky; ky++) {
                    const float *x = first + ky * in_row + ch;
                    for (int kx = 0; kx < nkx; kx++, x += c)
                        s += *x;
                }
                o[ch] = s * inv;
            }
        }
    }
}

/* Shared driver of the two pools: rows over the pool. */
static void pool_run(const float *in, fk_shape4 is, const fk_window *win,
                     float *out, fk_pool *pool, fk_pool_fn fn) {
    pool_job j = {in, is, win, out, 0, 0};
    fk__window_out(win, is.h, is.w, &j.oh, &j.ow);
    long rows = (long)is.n * j.oh;
    if (rows == 0 || j.ow == 0 || is.c == 0)
        return;
    /* one compare or add per window element; count it as two flops so the
     * threshold is comparable with the arithmetic kernels' */
    double row_ops = 2.0 * j.ow * win->kh * win->kw * is.c;
    fk__pool_run(pool, rows, grain_for(row_ops), fn, &j);
}

void fk__maxpool(const float *in, fk_shape4 is, const fk_window *win,
                float *out, fk_pool *pool) {
    pool_run(in, is, win, out, pool, maxpool_rows);
}

void fk__avgpool(const float *in, fk_shape4 is, const fk_window *win,
                float *out, fk_pool *pool) {
    pool_run(in, is, win, out, pool, avgpool_rows);
}
