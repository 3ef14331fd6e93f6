/*
 * bench_kernels.c - speed of the nn kernels, in GFLOP/s.
 *
 * Times fk__conv2d on two typical layers (a 3x3 64->64 convolution at 56x56
 * and a 1x1 512->512 one at 32x32) with 1 and 2 threads, the reference
 * kernel for comparison, and fk__depthwise on a 3x3 layer. A multiply-add
 * counts as two operations. Each figure is the best of several timed runs
 * (the least disturbed by the rest of the machine).
 *
 * Usage: bench_kernels [seconds per figure, default 1]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"
#include "nn/kernels.h"

static double now(void) { return fk__now_ms() / 1e3; }

/* n random floats, 64-byte aligned so that figures do not depend on where
 * malloc happens to place a buffer (which moved the 3x3 result by 12%). */
static float *random_buf(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return p;
}

/* What one timed call needs. */
typedef struct layer {
    fk_shape4 is;
    int oc;  /* 0 for depthwise */
    fk_window win;
    float *in, *filt, *bias, *out, *ws;
    fk_pool *pool;
    int ref;
} layer;

static void run_once(layer *l) {
    fk_act relu = {FK_ACT_RELU, 0, NULL};
    if (l->oc == 0) {
        if (l->ref)
            fk__depthwise_ref(l->in, l->is, l->filt, l->bias, &l->win, &relu,
                             l->out);
        else
            fk__depthwise(l->in, l->is, l->filt, l->bias, &l->win, &relu,
                         l->out, l->pool);
    } else if (l->ref) {
        fk__conv2d_ref(l->in, l->is, l->filt, l->bias, l->oc, &l->win, &relu,
                      l->out);
    } else {
        fk__conv2d(l->in, l->is, l->filt, l->bias, l->oc, &l->win, &relu,
                  l->out, l->ws, l->pool);
    }
}

/* Best time of one call, running for about `budget` seconds (at least
 * twice, the first run warming caches and OpenBLAS). */
static double best_time(layer *l, double budget) {
    double best = 1e30, start = now();
    int runs = 0;
    while (runs < 2 || now() - start < budget) {
        double t0 = now();
        run_once(l);
        double t = now() - t0;
        if (runs > 0 && t < best)
            best = t;
        runs++;
    }
    return best;
}

/* Set up a layer (SAME padding), time it as the reference and with each
 * pool, and print one line per figure. */
static void bench(const char *name, fk_shape4 is, int oc, int k, int stride,
                  fk_pool **pools, int n_pools, double budget) {
    layer l = {is, oc, {k, k, stride, stride, 0, 0, 0, 0}, 0, 0, 0, 0, 0, 0,
               0};
    fk__window_pad_tf(&l.win, is.h, is.w, 1);
    int oh, ow;
    fk__window_out(&l.win, is.h, is.w, &oh, &ow);
    int out_c = oc ? oc : is.c;
    size_t n_filt = (size_t)k * k * is.c * (oc ? oc : 1);
    l.in = random_buf((size_t)is.n * is.h * is.w * is.c);
    l.filt = random_buf(n_filt);
    l.bias = random_buf((size_t)out_c);
    l.out = random_buf((size_t)is.n * oh * ow * out_c);
    double flops = 2.0 * is.n * oh * ow * out_c * k * k * (oc ? is.c : 1);

    l.ref = 1;
    double t = best_time(&l, budget / 4);
    printf("%-28s ref        %8.2f GFLOP/s  %9.3f ms\n", name,
           flops / t * 1e-9, t * 1e3);
    l.ref = 0;
    for (int p = 0; p < n_pools; p++) {
        l.pool = pools[p];
        int threads = fk__pool_threads(pools[p]);
        size_t ws_n = oc ? fk__conv2d_workspace(is, oc, &l.win, threads) : 0;
        l.ws = ws_n ? random_buf(ws_n) : NULL;
        t = best_time(&l, budget);
        printf("%-28s %d thread%s  %8.2f GFLOP/s  %9.3f ms\n", name, threads,
               threads == 1 ? " " : "s", flops / t * 1e-9, t * 1e3);
        free(l.ws);
    }
    free(l.in), free(l.filt), free(l.bias), free(l.out);
}

int main(int argc, char **argv) {
    double budget = argc > 1 ? atof(argv[1]) : 1.0;
    if (budget <= 0)
        budget = 1.0;
    fk_pool *pools[2];
    if (fk__pool_new(1, &pools[0]) != FK_OK ||
        fk__pool_new(2, &pools[1]) != FK_OK) {
        fprintf(stderr, "%s\n", fk_last_error());
        return 1;
    }
    bench("conv 3x3 64->64 56x56", (fk_shape4){1, 56, 56, 64}, 64, 3, 1,
          pools, 2, budget);
    bench("conv 3x3 32->32 35x35", (fk_shape4){1, 35, 35, 32}, 32, 3, 1,
          pools, 2, budget);
    bench("conv 3x3 128->128 9x9", (fk_shape4){1, 9, 9, 128}, 128, 3, 1,
          pools, 2, budget);
    bench("conv 3x3 256->256 5x5", (fk_shape4){1, 5, 5, 256}, 256, 3, 1,
          pools, 2, budget);
    bench("conv 1x1 512->512 32x32", (fk_shape4){1, 32, 32, 512}, 512, 1, 1,
          pools, 2, budget);
    bench("conv 3x3 s2 3->32 224x224", (fk_shape4){1, 224, 224, 3}, 32, 3, 2,
          pools, 2, budget);
    bench("conv 5x5 s2 3->24 256x256", (fk_shape4){1, 256, 256, 3}, 24, 5, 2,
          pools, 2, budget);
    bench("conv 3x3 s2 3->32 512x512", (fk_shape4){1, 512, 512, 3}, 32, 3, 2,
          pools, 2, budget);
    bench("conv 1x1 24->24 128x128", (fk_shape4){1, 128, 128, 24}, 24, 1, 1,
          pools, 2, budget);
    bench("depthwise 3x3 128 56x56", (fk_shape4){1, 56, 56, 128}, 0, 3, 1,
          pools, 2, budget);
    bench("depthwise 3x3 s2 256 28x28", (fk_shape4){1, 28, 28, 256}, 0, 3, 2,
          pools, 2, budget);
    bench("depthwise 3x3 32 56x56", (fk_shape4){1, 56, 56, 32}, 0, 3, 1,
          pools, 2, budget);
    bench("depthwise 3x3 24 128x128", (fk_shape4){1, 128, 128, 24}, 0, 3, 1,
          pools, 2, budget);
    bench("depthwise 3x3 512 14x14", (fk_shape4){1, 14, 14, 512}, 0, 3, 1,
          pools, 2, budget);
    bench("conv 1x1 256->256 7x7", (fk_shape4){1, 7, 7, 256}, 256, 1, 1,
          pools, 2, budget);
    fk__pool_free(pools[0]);
    fk__pool_free(pools[1]);
    return 0;
}
