/*
 * kernels_fast.c - the fast kernels: matrix-product convolution and fully
 * connected layers (facekit's own AVX-512 product where the CPU has it,
 * gemm.h; OpenBLAS sgemm elsewhere), SIMD depthwise convolution and
 * pooling, all split over the thread pool.
 *
 * Convolution is a matrix product: each output pixel is one row of the
 * "im2col" matrix (the kh * kw * in_c input values under its window, in the
 * filter's HWIO order) times the [kh * kw * in_c][out_c] filter. A 1x1,
 * stride 1, unpadded convolution needs no gathering at all: the NHWC input
 * already is that matrix. Output rows are cut into one slice per thread and
 * each slice is processed in tiles small enough for the tile's im2col rows
 * to stay in L2 while sgemm reads them; the bias and activation are applied
 * to each tile's output right after its sgemm, while it is still in cache.
 *
 * BLAS and threads: Debian's serial OpenBLAS 0.3.21 (built without
 * USE_LOCKING) returns wrong products when two threads call sgemm at once:
 * in a loop of two fresh threads each multiplying its own matrices, up to 8%
 * of 8x8x8 products came out wrong; never with one thread. Debian's pthread
 * flavour of OpenBLAS passed the same loop once limited to one internal
 * thread (our pool does the threading). So at first use we ask OpenBLAS
 * what it is: the threaded build is set to one thread and called freely;
 * a sequential build is called under a process-wide mutex (correct, but
 * convolutions then gain nothing from a second thread). scripts/
 * install-deps.sh installs the pthread flavour.
 *
 * The channel loops use GCC's vector extensions (4 floats, plain SSE on
 * x86-64, NEON elsewhere) rather than relying on auto-vectorisation, which
 * the project's -O2 leaves to gcc's "very cheap" cost model: that model
 * skips any loop whose trip count is not a known multiple of the vector
 * width, i.e. every channel loop here.
 *
 * Nothing here allocates. A NULL act means no activation; a NULL pool runs
 * everything on the calling thread.
 */
#include "core/cpu.h"
#include "nn/kernels.h"

#include "nn/gemm.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Below this many floating-point operations a piece of work is not worth
 * handing to another thread. The pool's workers poll for work between jobs
 * (threadpool.c), so a hand-over costs a few microseconds, in which these
 * kernels do some 100 000 operations; this is a few times that. (It was
 * 2 000 000 when workers slept between jobs and took tens of microseconds
 * to wake: then the small depthwise layers of landmarks68 or MobileFaceNet
 * ran on one thread. Measured with build/bench_kernels: depthwise 3x3 over
 * 28x28x256, stride 2, 0.038 ms on 1 and on 2 threads before, 0.019 ms on 2
 * after.) */
#define FK_MIN_TASK_FLOPS 250000.0

/* An im2col tile holds about this many floats (2 MB). Smaller tiles keep
 * the gathered rows in L2 until sgemm reads them, but OpenBLAS packs the
 * whole filter again for every call, so short tiles over a large filter
 * (3x3x256 -> 256 gives 32-row tiles at 64 K floats) spent much of their
 * time packing. Measured with build/bench_kernels (best of runs, 2 threads):
 * 64 K -> 512 K floats took 3x3 64->64 at 56x56 from 1.92 to 1.50 ms, 1x1
 * 512->512 at 32x32 from 3.78 to 3.03 ms, 3x3 32->32 at 35x35 from 0.221
 * to 0.179 ms. Tiles also stay tall enough (FK_TILE_MIN_ROWS) for sgemm to
 * run at full speed. */
#ifndef FK_TILE_FLOATS
#define FK_TILE_FLOATS (512 * 1024)
#endif
/* facekit's own product (gemm.h) packs only the filter, so its tiles can
 * be small enough for the gathered rows to stay in L2 (1 MB per core on
 * the EPYC here); never larger than FK_TILE_FLOATS, so the workspace sized
 * for OpenBLAS's tiles fits either. */
#ifndef FK_TILE_FLOATS_OWN
#define FK_TILE_FLOATS_OWN (64 * 1024)
#endif
#ifndef FK_TILE_MIN_ROWS
#define FK_TILE_MIN_ROWS 32
#endif

/* How to call BLAS safely from several threads (see the top of the file):
 * decided once, on first use. */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static int blas_serialise;
static pthread_mutex_t blas_lock = PTHREAD_MUTEX_INITIALIZER;

static void blas_setup(void) {
    /* 0: sequential build (not re-entrant here); 1: pthreads; 2: OpenMP. */
    if (openblas_get_parallel() == 0) {
        blas_serialise = 1;
    } else {
        openblas_set_num_threads(1);
        blas_serialise = 0;
    }
}

/* Row-major C[m][n] = A[m][k] . B[k][n] with leading dimensions lda, ldb,
 * ldc, through cblas_sgemm. Assumes m, n, k >= 1 and valid leading
 * dimensions (OpenBLAS would print an error otherwise, and the library must
 * not print). */
static void blas_sgemm(int m, int n, int k, const float *a, int lda,
                       const float *b, int ldb, float *c, int ldc) {
    pthread_once(&blas_once, blas_setup);
    if (blas_serialise) pthread_mutex_lock(&blas_lock);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a,
                lda, b, ldb, 0.0f, c, ldc);
    if (blas_serialise) pthread_mutex_unlock(&blas_lock);
}

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
static int act_is_simple(const fk_act *act) {
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
static void bias_act_row(float *row, int c, const float *bias,
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
static void bias_act_rows(float *out, long rows, int c, long ld,
                          const float *bias, const fk_act *act, int ch0) {
    for (long r = 0; r < rows; r++)
        bias_act_row(out + r * ld, c, bias, act, ch0);
}

/* Piece i of [0, n) cut into `parts` near-equal contiguous pieces. */
static void split_range(long n, long parts, long i, long *begin, long *end) {
    long base = n / parts, extra = n % parts;
    *begin = i * base + (i < extra ? i : extra);
    *end = *begin + base + (i < extra ? 1 : 0);
}

/* The smallest number of indices worth a task of its own when each index
 * costs `flops_per_index`. */
static long grain_for(double flops_per_index) {
    if (flops_per_index <= 0.0)
        return 1;
    double g = ceil(FK_MIN_TASK_FLOPS / flops_per_index);
    return g < 1.0 ? 1 : (g > 1e15 ? (long)1e15 : (long)g);
}

/* ---- convolution -------------------------------------------------------- */

/* How a convolution is cut up. fk__conv2d_workspace and fk__conv2d both
 * derive it from the same arguments, so the workspace always fits. */
typedef struct conv_plan {
    int oh, ow;
    long rows;    /* output pixels: n * oh * ow (rows of the product) */
    long k;       /* kh * kw * in_c (columns of im2col) */
    int direct;   /* 1x1, stride 1, no pad: the input is the im2col matrix */
    long slices;  /* one per thread that gets work, each its own workspace */
    long tile;    /* rows per sgemm call (and per im2col tile) */
    int by_cols;  /* few rows: split output channels, not rows (see below) */
} conv_plan;

/* Below this many output pixels a layer is split over threads by output
 * channels instead: the deep layers of a ResNet at batch 1 (Dlib's 4x4 and
 * 2x2 layers over 3x3x256 -> 256 filters, 2.4 MB each) spend their time
 * reading the filter, and splitting rows has every thread read all of it
 * (measured on Dlib: 1.35x from a second thread at best, none at 2x2). Each
 * thread multiplies all rows by its own columns of the filter. */
#define FK_COL_SPLIT_ROWS 64
/* Output channels per column piece are a multiple of this (sgemm's
 * micro-kernels work on blocks of 8 or 16 columns). */
#define FK_COL_BLOCK 16

static void conv_plan_make(fk_shape4 is, int oc, const fk_window *win,
                           int threads, int own_gemm, conv_plan *p) {
    fk__window_out(win, is.h, is.w, &p->oh, &p->ow);
    p->rows = (long)is.n * p->oh * p->ow;
    p->k = (long)win->kh * win->kw * is.c;
    p->direct = win->kh == 1 && win->kw == 1 && win->stride_h == 1 &&
                win->stride_w == 1 && win->pad_top == 0 &&
                win->pad_bottom == 0 && win->pad_left == 0 &&
                win->pad_right == 0;

    /* As many slices as threads, unless the job is too small to share.
     * Behind the BLAS lock (sequential OpenBLAS) slices only overlap their
     * im2col with each other's sgemm, which measured neither faster nor
     * slower than one slice; the split is kept so that this code stays
     * tested and a re-entrant BLAS needs no other change. */
    double flops = 2.0 * (double)p->rows * (double)p->k * (oc > 0 ? oc : 0);
    long slices = threads > 1 ? threads : 1;
    long worth = (long)(flops / FK_MIN_TASK_FLOPS);
    if (slices > worth)
        slices = worth > 1 ? worth : 1;
    if (slices > p->rows)
        slices = p->rows > 1 ? p->rows : 1;
    p->slices = slices;
    p->by_cols = 0;
    if (slices > 1 && p->rows < FK_COL_SPLIT_ROWS && oc >= 2 * FK_COL_BLOCK) {
        /* one im2col of every row, shared; the pool splits the columns */
        p->by_cols = 1;
        p->slices = 1;
        p->tile = p->rows;
        return;
    }

    long per_slice = (p->rows + slices - 1) / slices;
    long tile = (own_gemm ? FK_TILE_FLOATS_OWN : FK_TILE_FLOATS) / (p->k > 0 ? p->k : 1);
    if (tile < FK_TILE_MIN_ROWS)
        tile = FK_TILE_MIN_ROWS;
    /* A 1x1 layer gathers nothing: the own product takes a slice's rows in
     * one call and packs each filter panel once per 192 rows, where 64-row
     * tiles over a 1024x1024 filter packed all 4 MB of it per tile. */
    if (tile > per_slice || (own_gemm && p->direct))
        tile = per_slice;
    p->tile = tile > 0 ? tile : 1;
}

/* Floats of scratch one plan needs: an im2col tile per slice, or nothing
 * for the direct 1x1 case. */
static size_t plan_workspace(const conv_plan *p, int oc) {
    if (p->direct || p->rows == 0 || p->k == 0 || oc <= 0)
        return 0;
    return (size_t)p->slices * (size_t)p->tile * (size_t)p->k;
}

/* Floats of scratch fk__conv2d needs with a pool of up to `threads` threads.
 * The need is not monotonic in the thread count (7 rows take 3 slices of 3
 * rows but 4 slices of 2), so this is the largest need over 1..threads:
 * a workspace sized for a big pool then serves every smaller one. */
size_t fk__conv2d_workspace(fk_shape4 is, int oc, const fk_window *win,
                           int threads) {
    size_t most = 0;
    for (int t = 1; t <= (threads > 1 ? threads : 1); t++) {
        conv_plan p;
        conv_plan_make(is, oc, win, t, 0, &p); /* the larger tiles */
        size_t need = plan_workspace(&p, oc);
        if (need > most)
            most = need;
    }
    return most;
}

typedef struct conv_job {
    const float *in;
    fk_shape4 is;
    const float *filt;
    const float *bias;
    int oc;
    const fk_window *win;
    const fk_act *act;
    float *out;
    float *workspace;
    conv_plan plan;
    int own_gemm; /* fk__gemm_bias_act (AVX-512) instead of OpenBLAS */
    const float *res; /* residual added before the activation, or NULL */
} conv_job;

/* c[i][j] = act(a[i] . b[., j] + bias[j] + res[i][j]) for rows x cols, the
 * columns being channels ch0.. of a layer with n channels (c, b and res
 * have rows n apart, a has rows of k): facekit's own product where the CPU
 * has AVX-512 (gemm.h says why), else OpenBLAS followed by the residual,
 * bias and activation. bias and res (may be NULL) start at the block's
 * first column. */
static void product(int own, long rows, int cols, int k, int n, int ch0, const float *a,
                    const float *b, const float *bias, const float *res, const fk_act *act,
                    float *c) {
    if (own) {
        fk__gemm_bias_act((int)rows, cols, k, a, k, b, n, c, n, bias, res, n, act, ch0);
        return;
    }
    blas_sgemm((int)rows, cols, k, a, k, b, n, c, n);
    if (res)
        for (long r = 0; r < rows; r++) {
            float *row = c + r * n;
            const float *add = res + r * n;
            int q = 0;
            for (; q + 4 <= cols; q += 4) v4_store(row + q, v4_load(row + q) + v4_load(add + q));
            for (; q < cols; q++) row[q] += add[q];
        }
    bias_act_rows(c, rows, cols, n, bias, act, ch0);
}

/* The rows x cols block of a convolution's output from channel ch0. */
static void conv_gemm(const conv_job *j, long rows, int ch0, int cols, const float *a,
                      float *c, const float *res) {
    product(j->own_gemm, rows, cols, (int)j->plan.k, j->oc, ch0, a, j->filt + ch0,
            j->bias ? j->bias + ch0 : NULL, res, j->act, c);
}

/* Gather rows [r0, r0 + nr) of the im2col matrix into col (nr x k). A row
 * is the window of one output pixel in [ky][kx][in_c] order; positions in
 * the padding become zeros. When a window row lies wholly inside the image
 * its kw pixels are adjacent in NHWC, so it is one memcpy. */
static void im2col(const conv_job *j, long r0, long nr, float *col) {
    const fk_window *win = j->win;
    fk_shape4 is = j->is;
    long plane = (long)j->plan.oh * j->plan.ow;
    size_t px = (size_t)is.c * sizeof(float);
    size_t span = (size_t)win->kw * px;
    for (long r = r0; r < r0 + nr; r++) {
        long b = r / plane, pix = r % plane;
        int oy = (int)(pix / j->plan.ow), ox = (int)(pix % j->plan.ow);
        int iy0 = oy * win->stride_h - win->pad_top;
        int ix0 = ox * win->stride_w - win->pad_left;
        const float *img = j->in + (size_t)b * is.h * is.w * is.c;
        float *dst = col;
        for (int ky = 0; ky < win->kh; ky++) {
            int iy = iy0 + ky;
            if (iy < 0 || iy >= is.h) {
                memset(dst, 0, span);
                dst += (size_t)win->kw * is.c;
                continue;
            }
            const float *src = img + (size_t)iy * is.w * is.c;
            if (ix0 >= 0 && ix0 + win->kw <= is.w) {
                memcpy(dst, src + (size_t)ix0 * is.c, span);
                dst += (size_t)win->kw * is.c;
                continue;
            }
            for (int kx = 0; kx < win->kw; kx++, dst += is.c) {
                int ix = ix0 + kx;
                if (ix < 0 || ix >= is.w)
                    memset(dst, 0, px);
                else
                    memcpy(dst, src + (size_t)ix * is.c, px);
            }
        }
        col += j->plan.k;
    }
}

/* Pool task: slices [s0, s1), each with its own rows of the output and its
 * own tile of the workspace, so slices never share memory they write. */
static void conv_slices(void *arg, long s0, long s1) {
    const conv_job *j = arg;
    const conv_plan *p = &j->plan;
    int oc = j->oc;
    for (long s = s0; s < s1; s++) {
        long begin, end;
        split_range(p->rows, p->slices, s, &begin, &end);
        float *col = j->workspace + (p->direct ? 0 : s * p->tile * p->k);
        for (long r = begin; r < end; r += p->tile) {
            long nr = end - r < p->tile ? end - r : p->tile;
            const float *a;
            if (p->direct) {
                a = j->in + (size_t)r * p->k;
            } else {
                im2col(j, r, nr, col);
                a = col;
            }
            conv_gemm(j, nr, 0, oc, a, j->out + (size_t)r * oc,
                      j->res ? j->res + (size_t)r * oc : NULL);
        }
    }
}

/* Pool task for a plan split by columns: blocks [b0, b1) of FK_COL_BLOCK
 * output channels (the last block may be short). */
static void conv_cols(void *arg, long b0, long b1) {
    const conv_job *j = arg;
    const conv_plan *p = &j->plan;
    int c0 = (int)(b0 * FK_COL_BLOCK);
    int c1 = (int)(b1 * FK_COL_BLOCK) < j->oc ? (int)(b1 * FK_COL_BLOCK) : j->oc;
    const float *a = p->direct ? j->in : j->workspace;
    conv_gemm(j, p->rows, c0, c1 - c0, a, j->out + c0, j->res ? j->res + c0 : NULL);
}

/* Convolution through sgemm (see the top of the file). Assumes workspace
 * holds fk__conv2d_workspace(is, oc, win, T) floats for some
 * T >= fk__pool_threads(pool) (it may be NULL when that is 0). */
void fk__conv2d(const float *in, fk_shape4 is, const float *filt,
               const float *bias, int oc, const fk_window *win,
               const fk_act *act, float *out, float *workspace,
               fk_pool *pool) {
    fk__conv2d_res(in, is, filt, bias, NULL, oc, win, act, out, workspace, pool);
}

void fk__conv2d_res(const float *in, fk_shape4 is, const float *filt,
                   const float *bias, const float *res, int oc,
                   const fk_window *win, const fk_act *act, float *out,
                   float *workspace, fk_pool *pool) {
    conv_job j = {in,        is,      filt, bias, oc, win, act, out, workspace, {0},
                  fk__gemm_avx512_usable(), res};
    conv_plan_make(is, oc, win, fk__pool_threads(pool), j.own_gemm, &j.plan);
    if (j.plan.rows == 0 || oc <= 0)
        return;
    if (j.plan.k == 0) {
        /* no input channels: sgemm would reject lda = 0; the sum is empty */
        for (long r = 0; r < j.plan.rows; r++) {
            float *row = out + (size_t)r * oc;
            for (int o = 0; o < oc; o++)
                row[o] = (bias ? bias[o] : 0.0f) + (res ? res[(size_t)r * oc + o] : 0.0f);
            bias_act_row(row, oc, NULL, act, 0);
        }
        return;
    }
    if (j.plan.by_cols) {
        if (!j.plan.direct)
            im2col(&j, 0, j.plan.rows, workspace);
        long blocks = (oc + FK_COL_BLOCK - 1) / FK_COL_BLOCK;
        double block_flops = 2.0 * (double)j.plan.rows * (double)j.plan.k * FK_COL_BLOCK;
        fk__pool_run(pool, blocks, grain_for(block_flops), conv_cols, &j);
        return;
    }
    fk__pool_run(pool, j.plan.slices, 1, conv_slices, &j);
}

/* ---- depthwise convolution ---------------------------------------------- */

/* The range [k0, k1) of window offsets whose input position
 * start + k lies inside [0, size); empty when the window is all padding. */
static inline void valid_taps(int start, int k, int size, int *k0, int *k1) {
    *k0 = start < 0 ? -start : 0;
    *k1 = size - start < k ? size - start : k;
    if (*k1 < *k0)
        *k1 = *k0;
}

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

/* ---- fully connected ---------------------------------------------------- */

typedef struct fc_job {
    const float *in;
    int m, k;
    const float *w;
    const float *bias;
    int n;
    const fk_act *act;
    float *out;
    int by_rows;
    int own_gemm; /* fk__gemm_bias_act (AVX-512) instead of OpenBLAS */
} fc_job;

/* Pool task: rows [b, e) of the output when splitting by rows, else
 * columns [b, e), i.e. the matching columns of w and of out. */
static void fc_part(void *arg, long b, long e) {
    const fc_job *j = arg;
    if (j->by_rows)
        product(j->own_gemm, e - b, j->n, j->k, j->n, 0, j->in + (size_t)b * j->k, j->w,
                j->bias, NULL, j->act, j->out + (size_t)b * j->n);
    else
        product(j->own_gemm, j->m, (int)(e - b), j->k, j->n, (int)b, j->in, j->w + b,
                j->bias ? j->bias + b : NULL, NULL, j->act, j->out + b);
}

/* Fully connected layer through sgemm. Many rows (a batch) are split by
 * rows; a few rows (the usual single embedding) are split by columns, so
 * each thread reads only its share of the weights, which then dominate. */
void fk__fc(const float *in, int m, int k, const float *w, const float *bias,
           int n, const fk_act *act, float *out, fk_pool *pool) {
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) {
        for (int i = 0; i < m; i++) {
            float *row = out + (size_t)i * n;
            for (int o = 0; o < n; o++)
                row[o] = bias ? bias[o] : 0.0f;
            bias_act_row(row, n, NULL, act, 0);
        }
        return;
    }
    fc_job j = {in, m, k, w, bias, n, act, out, m >= 64, fk__gemm_avx512_usable()};
    if (j.by_rows)
        fk__pool_run(pool, m, grain_for(2.0 * k * n), fc_part, &j);
    else
        fk__pool_run(pool, n, grain_for(2.0 * m * k), fc_part, &j);
}

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
