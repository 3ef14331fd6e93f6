/*
 * kernels_depthwise.c - the fast depthwise convolution (channel multiplier
 * 1, NHWC), one body per instruction set chosen at run time: SSE (4-float
 * vectors, every x86-64 CPU and NEON elsewhere), AVX2 (8 floats) and, for
 * 3x3 windows, runs of pixels with AVX2 or AVX-512 (16 floats). The three
 * sit together because they share the job, the clipping of the window at
 * the border and the tail loops, and differ only in vector width.
 *
 * Each output pixel's sums stay in registers over all taps of its window
 * and are stored once, already activated; borders are handled by clipping
 * the tap ranges once per pixel, so the inner loops carry no bounds checks.
 * FK_NO_AVX512=1 keeps it to AVX2, FK_NO_AVX2=1 to SSE (core/cpu.h).
 *
 * Nothing here allocates. A NULL act means no activation; a NULL pool runs
 * everything on the calling thread.
 */
#include "core/cpu.h"
#include "nn/kernels.h"
#include "nn/kernels_simd.h"

#include <stdlib.h>
#include <string.h>

/* ---- depthwise convolution ---------------------------------------------- */

/* One output pixel of a depthwise convolution, borders already clipped:
 * x and f point at channel 0 of the first real tap of the input and of the
 * filter; the window's real taps are nky rows of nkx pixels, rows in_row
 * (input) and f_row (filter) floats apart, pixels c floats apart. */
typedef struct dw_px {
    float *o;
    const float *x, *f;
    size_t in_row, f_row;
    int nky, nkx, c;
    const float *bias;
    const fk_act *act;  /* NULL unless act_is_simple */
} dw_px;

/* Channels [ch, c) of a pixel in blocks of 4, then one at a time. Shared by
 * both pixel functions (always inlined, so it takes on the AVX encoding in
 * the AVX2 one). */
static inline __attribute__((always_inline)) void dw_pixel_tail(
    const dw_px *p, int ch) {
    for (; ch + 4 <= p->c; ch += 4) {
        v4f a = p->bias ? v4_load(p->bias + ch) : v4_splat(0.0f);
        for (int ky = 0; ky < p->nky; ky++) {
            const float *x = p->x + ky * p->in_row + ch;
            const float *f = p->f + ky * p->f_row + ch;
            for (int kx = 0; kx < p->nkx; kx++, x += p->c, f += p->c)
                a += v4_load(x) * v4_load(f);
        }
        v4_store(p->o + ch, act_v4(p->act, a, ch));
    }
    for (; ch < p->c; ch++) {
        float a = p->bias ? p->bias[ch] : 0.0f;
        for (int ky = 0; ky < p->nky; ky++) {
            const float *x = p->x + ky * p->in_row + ch;
            const float *f = p->f + ky * p->f_row + ch;
            for (int kx = 0; kx < p->nkx; kx++, x += p->c, f += p->c)
                a += *x * *f;
        }
        p->o[ch] = act_1(p->act, a, ch);
    }
}

/* A pixel with SSE: 16 channels at a time in four independent sums, so
 * the adds of successive taps do not wait on each other (one sum per
 * block would make the loop latency-bound, at half the speed). */
static void dw_pixel_sse(const dw_px *p) {
    int ch = 0;
    for (; ch + 16 <= p->c; ch += 16) {
        v4f a0, a1, a2, a3;
        if (p->bias) {
            a0 = v4_load(p->bias + ch);
            a1 = v4_load(p->bias + ch + 4);
            a2 = v4_load(p->bias + ch + 8);
            a3 = v4_load(p->bias + ch + 12);
        } else {
            a0 = a1 = a2 = a3 = v4_splat(0.0f);
        }
        for (int ky = 0; ky < p->nky; ky++) {
            const float *x = p->x + ky * p->in_row + ch;
            const float *f = p->f + ky * p->f_row + ch;
            for (int kx = 0; kx < p->nkx; kx++, x += p->c, f += p->c) {
                a0 += v4_load(x) * v4_load(f);
                a1 += v4_load(x + 4) * v4_load(f + 4);
                a2 += v4_load(x + 8) * v4_load(f + 8);
                a3 += v4_load(x + 12) * v4_load(f + 12);
            }
        }
        v4_store(p->o + ch, act_v4(p->act, a0, ch));
        v4_store(p->o + ch + 4, act_v4(p->act, a1, ch + 4));
        v4_store(p->o + ch + 8, act_v4(p->act, a2, ch + 8));
        v4_store(p->o + ch + 12, act_v4(p->act, a3, ch + 12));
    }
    dw_pixel_tail(p, ch);
}

#if defined(__x86_64__) || defined(__i386__)
/* 8-float vectors, only ever used inside functions compiled for AVX2 (the
 * helpers carry the target too, so no 32-byte vector crosses a function
 * boundary without AVX, which would change the ABI). */
#include <immintrin.h>

typedef float v8f __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));

#define FK_AVX2 __attribute__((target("avx2"), always_inline))

static inline FK_AVX2 v8f v8_load(const float *p) {
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline FK_AVX2 void v8_store(float *p, v8f v) {
    memcpy(p, &v, sizeof v);
}

static inline FK_AVX2 v8f v8_splat(float x) {
    return (v8f){x, x, x, x, x, x, x, x};
}

static inline FK_AVX2 v8f v8_select(v8i mask, v8f a, v8f b) {
    return (v8f)(((v8i)a & mask) | ((v8i)b & ~mask));
}

/* act_v4 on 8 lanes. */
static inline FK_AVX2 v8f act_v8(const fk_act *act, v8f x, int ch) {
    if (!act)
        return x;
    v8f zero = v8_splat(0.0f);
    switch (act->kind) {
    case FK_ACT_RELU: return v8_select(x > zero, x, zero);
    case FK_ACT_RELU6: {
        v8f six = v8_splat(6.0f), y = v8_select(x > zero, x, zero);
        return v8_select(y < six, y, six);
    }
    case FK_ACT_LEAKY: return v8_select(x < zero, x * act->alpha, x);
    case FK_ACT_PRELU:
        return v8_select(x < zero, x * v8_load(act->slope + ch), x);
    default: return x;
    }
}

/* A pixel with AVX2: the same as dw_pixel_sse with 8-float vectors (two
 * independent sums of 8 per 16 channels), about twice as fast. Plain
 * multiply and add rather than FMA: the sums are a dependency chain, and
 * an add has a shorter latency than an FMA. */
__attribute__((target("avx2"))) static void dw_pixel_avx2(const dw_px *p) {
    int ch = 0;
    for (; ch + 16 <= p->c; ch += 16) {
        v8f a0 = p->bias ? v8_load(p->bias + ch) : v8_splat(0.0f);
        v8f a1 = p->bias ? v8_load(p->bias + ch + 8) : v8_splat(0.0f);
        for (int ky = 0; ky < p->nky; ky++) {
            const float *x = p->x + ky * p->in_row + ch;
            const float *f = p->f + ky * p->f_row + ch;
            for (int kx = 0; kx < p->nkx; kx++, x += p->c, f += p->c) {
                a0 += v8_load(x) * v8_load(f);
                a1 += v8_load(x + 8) * v8_load(f + 8);
            }
        }
        v8_store(p->o + ch, act_v8(p->act, a0, ch));
        v8_store(p->o + ch + 8, act_v8(p->act, a1, ch + 8));
    }
    dw_pixel_tail(p, ch);
}

/* A run of `npix` adjacent output pixels of a 3x3 depthwise convolution
 * whose windows lie wholly inside the image (most pixels of a layer). x is
 * channel 0 of the first pixel's top-left tap, input rows in_row floats
 * apart, successive pixels' windows stride_w pixels apart. */
typedef struct dw_run {
    float *o;
    const float *x, *f;
    size_t in_row;
    int npix, stride_w, c;
    const float *bias;
    const fk_act *act;  /* NULL unless act_is_simple */
    int ch_from;        /* channels before this one are done already */
} dw_run;

/* The run with AVX2, 8 channels at a time: the block's nine filter taps
 * stay in registers for the whole run, and four pixels are summed at once
 * (four independent chains). Per pixel and tap that is one load, where the
 * pixel function loads input and filter (twice the loads, the limit for
 * small channel counts). Channels beyond the last multiple of 8 go through
 * dw_pixel_tail. */
__attribute__((target("avx2"))) static void dw_run3x3_avx2(const dw_run *r) {
    const int c = r->c;
    const size_t sx = (size_t)r->stride_w * c, ir = r->in_row;
    int ch = r->ch_from;
    for (; ch + 8 <= c; ch += 8) {
        const float *f = r->f + ch;
        v8f f0 = v8_load(f), f1 = v8_load(f + c), f2 = v8_load(f + 2 * c);
        v8f f3 = v8_load(f + 3 * c), f4 = v8_load(f + 4 * c), f5 = v8_load(f + 5 * c);
        v8f f6 = v8_load(f + 6 * c), f7 = v8_load(f + 7 * c), f8 = v8_load(f + 8 * c);
        v8f b = r->bias ? v8_load(r->bias + ch) : v8_splat(0.0f);
        const float *x = r->x + ch;
        float *o = r->o + ch;
#define FK_DW_TAPS(acc, p)                                                        \
    do {                                                                           \
        const float *t0 = (p), *t1 = t0 + ir, *t2 = t1 + ir;                       \
        acc += v8_load(t0) * f0 + v8_load(t0 + c) * f1 + v8_load(t0 + 2 * c) * f2; \
        acc += v8_load(t1) * f3 + v8_load(t1 + c) * f4 + v8_load(t1 + 2 * c) * f5; \
        acc += v8_load(t2) * f6 + v8_load(t2 + c) * f7 + v8_load(t2 + 2 * c) * f8; \
    } while (0)
        int p = 0;
        for (; p + 4 <= r->npix; p += 4) {
            v8f a0 = b, a1 = b, a2 = b, a3 = b;
            const float *xp = x + (size_t)p * sx;
            FK_DW_TAPS(a0, xp);
            FK_DW_TAPS(a1, xp + sx);
            FK_DW_TAPS(a2, xp + 2 * sx);
            FK_DW_TAPS(a3, xp + 3 * sx);
            float *op = o + (size_t)p * c;
            v8_store(op, act_v8(r->act, a0, ch));
            v8_store(op + c, act_v8(r->act, a1, ch));
            v8_store(op + 2 * c, act_v8(r->act, a2, ch));
            v8_store(op + 3 * c, act_v8(r->act, a3, ch));
        }
        for (; p < r->npix; p++) {
            v8f a = b;
            FK_DW_TAPS(a, x + (size_t)p * sx);
            v8_store(o + (size_t)p * c, act_v8(r->act, a, ch));
        }
#undef FK_DW_TAPS
    }
    if (ch < c) {
        dw_px px = {NULL, NULL, r->f, ir, (size_t)3 * c, 3, 3, c, r->bias, r->act};
        for (int p = 0; p < r->npix; p++) {
            px.o = r->o + (size_t)p * c;
            px.x = r->x + (size_t)p * sx;
            dw_pixel_tail(&px, ch);
        }
    }
}

/* act on 16 lanes (AVX-512), as act_v8. */
static inline __attribute__((target("avx512f"), always_inline)) __m512
act_v16(const fk_act *act, __m512 x, int ch) {
    if (!act) return x;
    const __m512 zero = _mm512_setzero_ps();
    switch (act->kind) {
    case FK_ACT_RELU: return _mm512_max_ps(x, zero);
    case FK_ACT_RELU6: return _mm512_min_ps(_mm512_max_ps(x, zero), _mm512_set1_ps(6.0f));
    case FK_ACT_LEAKY:
        return _mm512_mask_mul_ps(x, _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ), x,
                                  _mm512_set1_ps(act->alpha));
    case FK_ACT_PRELU:
        return _mm512_mask_mul_ps(x, _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ), x,
                                  _mm512_loadu_ps(act->slope + ch));
    default: return x;
    }
}

/* The run with AVX-512, 16 channels at a time, as dw_run3x3_avx2 (which
 * then does the channels left over): the loads of input were its limit,
 * and a 16-wide load feeds twice the work. */
__attribute__((target("avx512f"))) static void dw_run3x3_avx512(const dw_run *r) {
    const int c = r->c;
    const size_t sx = (size_t)r->stride_w * c, ir = r->in_row;
    int ch = 0;
    for (; ch + 16 <= c; ch += 16) {
        const float *f = r->f + ch;
        __m512 f0 = _mm512_loadu_ps(f), f1 = _mm512_loadu_ps(f + c);
        __m512 f2 = _mm512_loadu_ps(f + 2 * c), f3 = _mm512_loadu_ps(f + 3 * c);
        __m512 f4 = _mm512_loadu_ps(f + 4 * c), f5 = _mm512_loadu_ps(f + 5 * c);
        __m512 f6 = _mm512_loadu_ps(f + 6 * c), f7 = _mm512_loadu_ps(f + 7 * c);
        __m512 f8 = _mm512_loadu_ps(f + 8 * c);
        __m512 b = r->bias ? _mm512_loadu_ps(r->bias + ch) : _mm512_setzero_ps();
        const float *x = r->x + ch;
        float *o = r->o + ch;
#define FK_DW_TAPS16(acc, p)                                                    \
    do {                                                                        \
        const float *t0 = (p), *t1 = t0 + ir, *t2 = t1 + ir;                    \
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(t0), f0, acc);                    \
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(t0 + c), f1, acc);                \
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(t0 + 2 * c), f2, acc);            \
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(t1), f3, acc);                    \
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(t1 + c), f4, acc);                \
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(t1 + 2 * c), f5, acc);            \
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(t2), f6, acc);                    \
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(t2 + c), f7, acc);                \
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(t2 + 2 * c), f8, acc);            \
    } while (0)
        int p = 0;
        for (; p + 4 <= r->npix; p += 4) {
            __m512 a0 = b, a1 = b, a2 = b, a3 = b;
            const float *xp = x + (size_t)p * sx;
            FK_DW_TAPS16(a0, xp);
            FK_DW_TAPS16(a1, xp + sx);
            FK_DW_TAPS16(a2, xp + 2 * sx);
            FK_DW_TAPS16(a3, xp + 3 * sx);
            float *op = o + (size_t)p * c;
            _mm512_storeu_ps(op, act_v16(r->act, a0, ch));
            _mm512_storeu_ps(op + c, act_v16(r->act, a1, ch));
            _mm512_storeu_ps(op + 2 * c, act_v16(r->act, a2, ch));
            _mm512_storeu_ps(op + 3 * c, act_v16(r->act, a3, ch));
        }
        for (; p < r->npix; p++) {
            __m512 a = b;
            FK_DW_TAPS16(a, x + (size_t)p * sx);
            _mm512_storeu_ps(o + (size_t)p * c, act_v16(r->act, a, ch));
        }
#undef FK_DW_TAPS16
    }
    if (ch < c) {
        dw_run rest = *r;
        rest.ch_from = ch;
        dw_run3x3_avx2(&rest);
    }
}
#endif

/* The 3x3 run function for this CPU, or NULL (pixel by pixel then).
 * FK_NO_AVX512=1 keeps it to AVX2, FK_NO_AVX2=1 to pixel by pixel. */
static void (*dw_run3x3_fn(void))(const dw_run *) {
#if defined(__x86_64__) || defined(__i386__)
    if (!fk__cpu_avx2()) return NULL;
    if (fk__cpu_avx512()) return dw_run3x3_avx512;
    return dw_run3x3_avx2;
#endif
    return NULL;
}

/* The pixel function for this CPU, chosen at run time so the build does
 * not assume AVX2. FK_NO_AVX2=1 in the environment forces the SSE path
 * (the tests use it to cover both; it also helps to rule AVX2 out when
 * chasing a numerical difference). */
static void (*dw_pixel_fn(void))(const dw_px *) {
#if defined(__x86_64__) || defined(__i386__)
    if (fk__cpu_avx2()) return dw_pixel_avx2;
#endif
    return dw_pixel_sse;
}

typedef struct dw_job {
    const float *in;
    fk_shape4 is;
    const float *filt;
    const float *bias;
    const fk_window *win;
    const fk_act *act;
    float *out;
    int oh, ow;
    void (*pixel)(const dw_px *);
    void (*run3x3)(const dw_run *);  /* NULL: not 3x3 or no fast run */
} dw_job;

/* Output rows [r0, r1) (a row is one (image, oy) pair). Borders are handled
 * by clipping the tap ranges once per pixel, so the inner loops have no
 * bounds checks; the pixel function keeps its sums in registers over all
 * taps and stores them once, already activated (sigmoid and tanh, which
 * have no vector form here, are applied to the finished row instead). */
static void dw_rows(void *arg, long r0, long r1) {
    const dw_job *j = arg;
    const fk_window *win = j->win;
    fk_shape4 is = j->is;
    int c = is.c;
    int simple = act_is_simple(j->act);
    dw_px px = {NULL, NULL, j->filt, (size_t)is.w * c,
                (size_t)win->kw * c, 0, 0, c, j->bias,
                simple ? j->act : NULL};
    for (long r = r0; r < r1; r++) {
        long b = r / j->oh;
        int oy = (int)(r % j->oh);
        int iy0 = oy * win->stride_h - win->pad_top, ky0, ky1;
        valid_taps(iy0, win->kh, is.h, &ky0, &ky1);
        const float *img = j->in + (size_t)b * is.h * is.w * c;
        float *orow = j->out + (size_t)r * j->ow * c;
        /* Output columns [in0, in1) have their whole window inside the
         * image; with all three window rows inside too, a 3x3 layer does
         * them as one run. */
        int in0 = j->ow, in1 = j->ow;
        if (j->run3x3 && ky1 - ky0 == 3) {
            int sw = win->stride_w;
            in0 = (win->pad_left + sw - 1) / sw;
            in1 = is.w - 3 + win->pad_left >= 0 ? (is.w - 3 + win->pad_left) / sw + 1 : 0;
            if (in1 > j->ow) in1 = j->ow;
            if (in0 > in1) in0 = in1 = j->ow;
            if (in1 > in0) {
                dw_run run = {orow + (size_t)in0 * c,
                              img + ((size_t)iy0 * is.w + (size_t)(in0 * sw - win->pad_left)) * c,
                              j->filt, (size_t)is.w * c, in1 - in0, sw, c, j->bias,
                              simple ? j->act : NULL, 0};
                j->run3x3(&run);
            }
        }
        for (int ox = 0; ox < j->ow; ox++) {
            if (ox == in0 && in1 > in0) {
                ox = in1 - 1; /* done by the run */
                continue;
            }
            int ix0 = ox * win->stride_w - win->pad_left, kx0, kx1;
            valid_taps(ix0, win->kw, is.w, &kx0, &kx1);
            px.o = orow + (size_t)ox * c;
            px.nky = ky1 - ky0;
            px.nkx = kx1 - kx0;
            if (px.nky == 0 || px.nkx == 0) {
                /* all padding: the output is the bias; point nowhere new */
                px.nky = px.nkx = 0;
                px.x = img;
                px.f = j->filt;
            } else {
                px.x = img + ((size_t)(iy0 + ky0) * is.w +
                              (size_t)(ix0 + kx0)) * c;
                px.f = j->filt + ((size_t)ky0 * win->kw + kx0) * c;
            }
            j->pixel(&px);
        }
        if (!simple)
            fk__act_apply(j->act, orow, (long)j->ow * c, c);
    }
}

/* Depthwise convolution (channel multiplier 1), rows split over the pool. */
void fk__depthwise(const float *in, fk_shape4 is, const float *filt,
                  const float *bias, const fk_window *win, const fk_act *act,
                  float *out, fk_pool *pool) {
    dw_job j = {in, is, filt, bias, win, act, out, 0, 0, dw_pixel_fn(),
                win->kh == 3 && win->kw == 3 ? dw_run3x3_fn() : NULL};
    fk__window_out(win, is.h, is.w, &j.oh, &j.ow);
    long rows = (long)is.n * j.oh;
    if (rows == 0 || j.ow == 0 || is.c == 0)
        return;
    double row_flops = 2.0 * j.ow * win->kh * win->kw * is.c;
    fk__pool_run(pool, rows, grain_for(row_flops), dw_rows, &j);
}
