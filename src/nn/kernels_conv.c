/*
 * kernels_conv.c - the fast matrix-product kernels: convolution through
 * im2col and a product, and fully connected layers (facekit's own AVX-512
 * product where the CPU has it, gemm.h; OpenBLAS sgemm elsewhere), split
 * over the thread pool.
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
 * Nothing here allocates. A NULL act means no activation; a NULL pool runs
 * everything on the calling thread.
 */
#include "nn/kernels.h"

#include "nn/gemm.h"
#include "nn/kernels_simd.h"

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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
