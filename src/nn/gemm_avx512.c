/*
 * gemm_avx512.c - C = act(A . B + bias) with AVX-512F (see gemm.h).
 *
 * Blocking: the k dimension is cut into blocks of FK_GEMM_KC; for each
 * block, rows are taken FK_GEMM_MC at a time (that block of A, up to
 * 192 x 256 floats, stays in L2) and, for each panel of 32 output columns,
 * the panel's FK_GEMM_KC x 32 piece of B is copied into a contiguous buffer
 * (32 KB, in L1 while the rows pass over it) - unless the rows make a single
 * tile, which reads B once anyway and then reads it in place (a copy made
 * Dlib's 1-row and 16-row deep layers two to three times slower), or the
 * product is thin (fk__gemm_bias_act). The micro-kernel keeps a tile
 * of 12 rows x 32 columns of C in 24 zmm registers: per k it loads two
 * vectors of B, broadcasts one value of each of the 12 rows of A, and does
 * 24 fused multiply-adds. A is read in place (its rows lda apart): no copy of
 * the im2col matrix or of the input. Column tails use masked loads and
 * stores; row tails use the same kernel with fewer rows.
 *
 * Sums run over k in order, as the reference convolution does; only the
 * split into k blocks (partial sums stored in C and reloaded) differs.
 */
#include "core/cpu.h"
#include "nn/gemm.h"

#include <stdlib.h>
#include <string.h>

#define FK_GEMM_MR 12  /* rows of the register tile */
#define FK_GEMM_NR 32  /* columns of the register tile (two zmm) */
#define FK_GEMM_KC 256 /* k per block: the packed panel is 256 x 32 floats */
#define FK_GEMM_MC 192 /* rows per block of A */
/* Up to this many rows the product is "thin" (see below). */
#define FK_GEMM_THIN_ROWS (4 * FK_GEMM_MR)
#define FK_GEMM_KC_THIN 16

int fk__gemm_avx512_usable(void) {
#if defined(__x86_64__)
    return fk__cpu_avx512();
#else
    return 0;
#endif
}

#if defined(__x86_64__)
#include <immintrin.h>

#define FK_512_INLINE static inline __attribute__((target("avx512f"), always_inline))
#define FK_512 __attribute__((target("avx512f")))

/* What to do with a finished tile: add the bias, apply the activation. */
typedef struct epilogue {
    int final;          /* 0: partial sums of a k block, stored as they are */
    const float *bias;  /* at the panel's first column, or NULL */
    fk_act_kind kind;   /* none, relu, relu6, leaky, prelu (others after) */
    float alpha;
    const float *slope; /* prelu: at the panel's first channel */
    const float *res;   /* residual at the panel's first column, or NULL */
    long ldr;
} epilogue;

FK_512_INLINE __m512 finish(const epilogue *e, __m512 x, const float *bias,
                            const float *res, const float *slope, __mmask16 m) {
    const __m512 zero = _mm512_setzero_ps();
    if (bias) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, bias));
    if (res) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, res));
    switch (e->kind) {
    case FK_ACT_RELU:
        return _mm512_max_ps(x, zero);
    case FK_ACT_RELU6:
        return _mm512_min_ps(_mm512_max_ps(x, zero), _mm512_set1_ps(6.0f));
    case FK_ACT_LEAKY: {
        __mmask16 neg = _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ);
        return _mm512_mask_mul_ps(x, neg, x, _mm512_set1_ps(e->alpha));
    }
    case FK_ACT_PRELU: {
        __mmask16 neg = _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ);
        return _mm512_mask_mul_ps(x, neg, x, _mm512_maskz_loadu_ps(m, slope));
    }
    default:
        return x;
    }
}

/* One tile: mr rows (a constant after inlining) by 16 or 32 columns
 * (`two`: the second vector in use). first: start from zero, else from the
 * partial sums already in C. */
FK_512_INLINE void tile(const int mr, const int two, int kc, const float *a, long lda,
                        const float *bp, long ldbp, float *c, long ldc, __mmask16 m0, __mmask16 m1,
                        int first, const epilogue *e, const float *res) {
    __m512 s0[FK_GEMM_MR], s1[FK_GEMM_MR];
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
        if (first) {
            s0[r] = _mm512_setzero_ps();
            s1[r] = _mm512_setzero_ps();
        } else {
            s0[r] = _mm512_maskz_loadu_ps(m0, c + r * ldc);
            s1[r] = two ? _mm512_maskz_loadu_ps(m1, c + r * ldc + 16) : _mm512_setzero_ps();
        }
    }
    for (int k = 0; k < kc; k++) {
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, bp + (long)k * ldbp);
        const __m512 b1 = two ? _mm512_maskz_loadu_ps(m1, bp + (long)k * ldbp + 16) : b0;
#pragma GCC unroll 12
        for (int r = 0; r < mr; r++) {
            const __m512 av = _mm512_set1_ps(a[r * lda + k]);
            s0[r] = _mm512_fmadd_ps(av, b0, s0[r]);
            if (two) s1[r] = _mm512_fmadd_ps(av, b1, s1[r]);
        }
    }
    const float *bias1 = e->bias ? e->bias + 16 : NULL;
    const float *slope1 = e->slope ? e->slope + 16 : NULL;
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
        __m512 v0 = s0[r], v1 = s1[r];
        if (e->final) {
            const float *r0 = res ? res + r * e->ldr : NULL;
            v0 = finish(e, v0, e->bias, r0, e->slope, m0);
            if (two) v1 = finish(e, v1, bias1, r0 ? r0 + 16 : NULL, slope1, m1);
        }
        _mm512_mask_storeu_ps(c + r * ldc, m0, v0);
        if (two) _mm512_mask_storeu_ps(c + r * ldc + 16, m1, v1);
    }
}

#define FK_TILE_CASE(R)                                                                 \
    case R:                                                                             \
        if (two)                                                                        \
            tile(R, 1, kc, a, lda, bp, ldbp, c, ldc, m0, m1, first, e, res);                  \
        else                                                                            \
            tile(R, 0, kc, a, lda, bp, ldbp, c, ldc, m0, m1, first, e, res);                  \
        break;

/* A tile of mr (1..12) rows, dispatched to a kernel with mr fixed. */
static FK_512 void tile_any(int mr, int two, int kc, const float *a, long lda, const float *bp,
                            long ldbp, float *c, long ldc, __mmask16 m0, __mmask16 m1, int first,
                            const epilogue *e, const float *res) {
    switch (mr) {
        FK_TILE_CASE(12)
        FK_TILE_CASE(11)
        FK_TILE_CASE(10)
        FK_TILE_CASE(9)
        FK_TILE_CASE(8)
        FK_TILE_CASE(7)
        FK_TILE_CASE(6)
        FK_TILE_CASE(5)
        FK_TILE_CASE(4)
        FK_TILE_CASE(3)
        FK_TILE_CASE(2)
        FK_TILE_CASE(1)
    default:
        break;
    }
}

/* Copy kc rows of the panel's columns of B (masks m0, m1: which of its 32
 * exist) into bp, rows 32 floats apart. */
static FK_512 void pack_panel(float *bp, const float *b, long ldb, int kc, __mmask16 m0,
                              __mmask16 m1) {
    for (int k = 0; k < kc; k++) {
        const float *src = b + (long)k * ldb;
        float *dst = bp + (long)k * FK_GEMM_NR;
        _mm512_store_ps(dst, _mm512_maskz_loadu_ps(m0, src));
        _mm512_store_ps(dst + 16, _mm512_maskz_loadu_ps(m1, src + 16));
    }
}

static inline __mmask16 lane_mask(int lanes) {
    if (lanes >= 16) return (__mmask16)0xFFFF;
    if (lanes <= 0) return 0;
    return (__mmask16)((1u << lanes) - 1u);
}

void fk__gemm_bias_act(int m, int n, int k, const float *a, long lda, const float *b,
                      long ldb, float *c, long ldc, const float *bias, const float *r,
                      long ldr, const fk_act *act, int ch0) {
    float bp[FK_GEMM_KC * FK_GEMM_NR] __attribute__((aligned(64)));
    fk_act_kind kind = act ? act->kind : FK_ACT_NONE;
    int after = kind == FK_ACT_SIGMOID || kind == FK_ACT_TANH;
    /* A thin product (few rows: a ResNet's deep layers at batch 1) is bound
     * by reading B. Walking B panel by panel over long k blocks reads it in
     * narrow columns, 128 bytes per row; short k blocks instead take B a
     * few whole rows at a time, in memory order, and no copy is made. */
    int thin = m <= FK_GEMM_THIN_ROWS;
    int kcb = thin ? FK_GEMM_KC_THIN : FK_GEMM_KC;
    for (int pc = 0; pc < k; pc += kcb) {
        int kc = k - pc < kcb ? k - pc : kcb;
        int first = pc == 0, final = pc + kc >= k;
        for (int ic = 0; ic < m; ic += FK_GEMM_MC) {
            int mc = m - ic < FK_GEMM_MC ? m - ic : FK_GEMM_MC;
            for (int j0 = 0; j0 < n; j0 += FK_GEMM_NR) {
                int w = n - j0 < FK_GEMM_NR ? n - j0 : FK_GEMM_NR;
                __mmask16 m0 = lane_mask(w), m1 = lane_mask(w - 16);
                /* One tile of rows reads each value of B once: read it in
                 * place. More tiles share a packed copy of the panel. */
                const float *panel = b + (long)pc * ldb + j0;
                long ldbp = ldb;
                if (thin && pc + kc < k) {
                    /* B comes from memory (a filter is read once per run):
                     * ask for this panel's part of the next k block now */
                    int next = k - pc - kc < kcb ? k - pc - kc : kcb;
                    const float *nb = panel + (long)kc * ldb;
                    for (int q = 0; q < next; q++) {
                        _mm_prefetch((const char *)(nb + (long)q * ldb), _MM_HINT_T0);
                        if (w > 16) _mm_prefetch((const char *)(nb + (long)q * ldb + 16), _MM_HINT_T0);
                    }
                }
                if (!thin && mc > FK_GEMM_MR) {
                    pack_panel(bp, panel, ldb, kc, m0, m1);
                    panel = bp;
                    ldbp = FK_GEMM_NR;
                }
                epilogue e = {final, bias ? bias + j0 : NULL, after ? FK_ACT_NONE : kind,
                              act ? act->alpha : 0.0f,
                              kind == FK_ACT_PRELU ? act->slope + ch0 + j0 : NULL,
                              r ? r + j0 : NULL, ldr};
                for (int ir = ic; ir < ic + mc; ir += FK_GEMM_MR) {
                    int mr = ic + mc - ir < FK_GEMM_MR ? ic + mc - ir : FK_GEMM_MR;
                    tile_any(mr, w > 16, kc, a + (long)ir * lda + pc, lda, panel, ldbp,
                             c + (long)ir * ldc + j0, ldc, m0, m1, first, &e,
                             e.res ? e.res + (long)ir * ldr : NULL);
                }
            }
        }
    }
    if (after)
        for (int i = 0; i < m; i++) fk__act_apply(act, c + (long)i * ldc, n, n);
}

#else /* not x86-64: never usable, never called */

void fk__gemm_bias_act(int m, int n, int k, const float *a, long lda, const float *b,
                      long ldb, float *c, long ldc, const float *bias, const float *r,
                      long ldr, const fk_act *act, int ch0) {
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb, (void)c, (void)ldc;
    (void)bias, (void)r, (void)ldr, (void)act, (void)ch0;
}

#endif
