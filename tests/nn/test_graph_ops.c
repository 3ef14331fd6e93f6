/*
 * test_graph_ops.c - the general ops added for the TF.js graph executor:
 * binary (NumPy broadcasting, comparisons), unary, pad, reduce, strided
 * slice, channel concatenation, and their graph nodes (with softmax and
 * reshape).
 *
 * Each kernel is checked twice: on tiny inputs against values worked out by
 * hand, and on random tensors of many shapes the fast kernel against the
 * reference one (these ops do the same float operations in the same order,
 * so they must agree exactly).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "nn/graph.h"
#include "nn/graph_internal.h"
#include "nn/kernels.h"

static unsigned rng = 12345;
static float frand(void) {
    rng = rng * 1103515245u + 12345u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}
static float *rand_buf(long n) {
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (long i = 0; i < n; i++) p[i] = frand();
    return p;
}
static long count4(fk_shape4 s) { return (long)s.n * s.h * s.w * s.c; }

static void test_binary_by_hand(void) {
    /* a: 1x1x2x3 = [[1,2,3],[4,5,6]]; b per channel [10,20,30] */
    const float a[6] = {1, 2, 3, 4, 5, 6}, b[3] = {10, 20, 30};
    fk_shape4 sa = {1, 1, 2, 3}, sb = {1, 1, 1, 3};
    float o[6];
    fk__binary_ref(FK_BIN_SUB, a, sa, b, sb, o, sa);
    const float want_sub[6] = {-9, -18, -27, -6, -15, -24};
    CHECK(memcmp(o, want_sub, sizeof o) == 0, "sub per channel");
    /* b per pixel (1x1x2x1): [2, 4] divides each pixel's channels */
    const float bp[2] = {2, 4};
    fk__binary_ref(FK_BIN_DIV, a, sa, bp, (fk_shape4){1, 1, 2, 1}, o, sa);
    const float want_div[6] = {0.5f, 1, 1.5f, 1, 1.25f, 1.5f};
    CHECK(memcmp(o, want_div, sizeof o) == 0, "div per pixel");
    /* both broadcast: a 1x1x2x1 [1,2] max b 1x1x1x3 [0,1.5,3] -> 1x1x2x3 */
    const float a2[2] = {1, 2}, b2[3] = {0, 1.5f, 3};
    fk__binary_ref(FK_BIN_MAX, a2, (fk_shape4){1, 1, 2, 1}, b2, (fk_shape4){1, 1, 1, 3}, o,
                  sa);
    const float want_max[6] = {1, 1.5f, 3, 2, 2, 3};
    CHECK(memcmp(o, want_max, sizeof o) == 0, "max two-way broadcast");
    fk__binary_ref(FK_BIN_MIN, a2, (fk_shape4){1, 1, 2, 1}, b2, (fk_shape4){1, 1, 1, 3}, o,
                  sa);
    const float want_min[6] = {0, 1, 1, 0, 1.5f, 2};
    CHECK(memcmp(o, want_min, sizeof o) == 0, "min two-way broadcast");
}

static void test_binary_fast_vs_ref(fk_pool *pool) {
    const fk_shape4 outs[] = {{1, 7, 5, 16}, {2, 3, 4, 1}, {1, 1, 1, 33}, {1, 9, 9, 3},
                              {1, 64, 64, 5}}; /* the last splits over a pool */
    for (size_t k = 0; k < sizeof outs / sizeof outs[0]; k++) {
        fk_shape4 so = outs[k];
        for (int mask = 0; mask < 256; mask++) { /* which dims each operand broadcasts */
            fk_shape4 sa = so, sb = so;
            if (mask & 1) sa.n = 1;
            if (mask & 2) sa.h = 1;
            if (mask & 4) sa.w = 1;
            if (mask & 8) sa.c = 1;
            if (mask & 16) sb.n = 1;
            if (mask & 32) sb.h = 1;
            if (mask & 64) sb.w = 1;
            if (mask & 128) sb.c = 1;
            float *a = rand_buf(count4(sa)), *b = rand_buf(count4(sb));
            for (long i = 0; i < count4(sb); i++)
                if (b[i] == 0) b[i] = 0.5f;
            long n = count4(so);
            float *r = malloc(sizeof(float) * n), *f = malloc(sizeof(float) * n);
            for (int op = FK_BIN_ADD; op <= FK_BIN_MIN; op++) {
                fk__binary_ref((fk_binop)op, a, sa, b, sb, r, so);
                fk__binary((fk_binop)op, a, sa, b, sb, f, so, pool);
                if (memcmp(r, f, sizeof(float) * n) != 0) {
                    CHECK(0, "binary op %d shape %d mask %d: fast != reference", op, (int)k,
                          mask);
                    break;
                }
            }
            free(a);
            free(b);
            free(r);
            free(f);
        }
    }
    CHECK(1, "binary sweep done");
}

static void test_unary(fk_pool *pool) {
    const float in[6] = {-1, 0, 3, 7, 4, 0.25f};
    float o[6];
    fk__unary_ref(FK_UN_RELU6, in, 6, o);
    const float relu6[6] = {0, 0, 3, 6, 4, 0.25f};
    CHECK(memcmp(o, relu6, sizeof o) == 0, "relu6");
    fk__unary_ref(FK_UN_RSQRT, in + 4, 2, o);
    CHECK(o[0] == 0.5f && o[1] == 2.0f, "rsqrt %g %g", o[0], o[1]);
    fk__unary_ref(FK_UN_ABS, in, 1, o);
    CHECK(o[0] == 1.0f, "abs");
    fk__unary_ref(FK_UN_SIGMOID, in + 1, 1, o);
    CHECK(o[0] == 0.5f, "sigmoid(0)");
    long n = 100003;
    float *x = rand_buf(n), *r = malloc(sizeof(float) * n), *f = malloc(sizeof(float) * n);
    for (long i = 0; i < n; i++) x[i] *= 8;
    for (int op = FK_UN_RELU; op <= FK_UN_EXP; op++) {
        fk__unary_ref((fk_unop)op, x, n, r);
        fk__unary((fk_unop)op, x, n, f, pool);
        int same = 1;
        for (long i = 0; i < n && same; i++)
            same = (r[i] == f[i]) || (isnan(r[i]) && isnan(f[i]));
        CHECK(same, "unary op %d: fast != reference", op);
    }
    free(x);
    free(r);
    free(f);
}

static void test_pad(fk_pool *pool) {
    /* one value 5 in 1x1x1x1, pads h 1/1, w 0/1, c 1/0 -> 1x3x2x2 */
    const float in[1] = {5};
    const int pads[8] = {0, 0, 1, 1, 0, 1, 1, 0};
    float o[12];
    fk__pad_ref(in, (fk_shape4){1, 1, 1, 1}, pads, -1.0f, o);
    for (int i = 0; i < 12; i++) {
        /* the value sits at y=1, x=0, c=1: index (1*2+0)*2+1 = 5 */
        CHECK(o[i] == (i == 5 ? 5.0f : -1.0f), "pad[%d] = %g", i, o[i]);
    }
    fk_shape4 is = {1, 13, 11, 7};
    const int p2[8] = {0, 0, 2, 1, 0, 3, 4, 1};
    fk_shape4 os = {1, 16, 14, 12};
    float *x = rand_buf(count4(is)), *r = malloc(sizeof(float) * count4(os)),
          *f = malloc(sizeof(float) * count4(os));
    fk__pad_ref(x, is, p2, 0.0f, r);
    fk__pad(x, is, p2, 0.0f, f, pool);
    CHECK(memcmp(r, f, sizeof(float) * count4(os)) == 0, "pad: fast != reference");
    free(x);
    free(r);
    free(f);
    /* more shapes: channels padded or not (one copy per row), batch
     * padding, no padding at all, big enough to split over the pool */
    const int cases[][8] = {{0, 0, 1, 1, 1, 1, 0, 0}, {1, 1, 0, 2, 3, 0, 0, 0},
                            {0, 0, 0, 0, 0, 0, 0, 0}, {0, 1, 2, 0, 0, 1, 2, 2},
                            {0, 0, 5, 0, 0, 7, 0, 0}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int *pk = cases[k];
        fk_shape4 si = {2, 40, 37, 3};
        fk_shape4 so = {si.n + pk[0] + pk[1], si.h + pk[2] + pk[3], si.w + pk[4] + pk[5],
                        si.c + pk[6] + pk[7]};
        float *xi = rand_buf(count4(si)), *ri = malloc(sizeof(float) * count4(so)),
              *fi = malloc(sizeof(float) * count4(so));
        fk__pad_ref(xi, si, pk, 0.25f, ri);
        fk__pad(xi, si, pk, 0.25f, fi, pool);
        CHECK(memcmp(ri, fi, sizeof(float) * count4(so)) == 0, "pad case %d: fast != reference",
              (int)k);
        free(xi);
        free(ri);
        free(fi);
    }
}

static void test_reduce(void) {
    const float in[6] = {1, 2, 3, 4, 5, 6}; /* 1x1x2x3 */
    fk_shape4 s = {1, 1, 2, 3};
    float o[3];
    const int over_c[4] = {0, 0, 0, 1}, over_w[4] = {0, 0, 1, 0};
    fk__reduce_ref(FK_RED_SUM, in, s, over_c, o);
    CHECK(o[0] == 6 && o[1] == 15, "sum over c: %g %g", o[0], o[1]);
    fk__reduce_ref(FK_RED_MAX, in, s, over_w, o);
    CHECK(o[0] == 4 && o[1] == 5 && o[2] == 6, "max over w");
    fk__reduce_ref(FK_RED_MEAN, in, s, over_w, o);
    CHECK(o[0] == 2.5f && o[1] == 3.5f && o[2] == 4.5f, "mean over w");
    /* the fast path (mean over h, w) against the reference */
    fk_shape4 big = {2, 9, 7, 5};
    const int hw[4] = {0, 1, 1, 0};
    float *x = rand_buf(count4(big)), r[10], f[10];
    fk__reduce_ref(FK_RED_MEAN, x, big, hw, r);
    fk__reduce(FK_RED_MEAN, x, big, hw, f);
    int close = 1;
    for (int i = 0; i < 10; i++) close &= fabsf(r[i] - f[i]) < 1e-6f;
    CHECK(close, "mean over hw: fast != reference");
    free(x);
}

/* A graph using every new node: fast and reference runs agree, shapes are
 * as inferred, softmax rows sum to 1. */
static void test_graph(fk_pool *pool) {
    fk_graph *g;
    CHECK(fk__graph_new(3, &g) == FK_OK, "new");
    static const float k[3] = {0.5f, -1.0f, 2.0f};
    int v = fk__graph_binary_const(g, FK_BIN_MUL, 0, k, (fk_shape4){1, 1, 1, 3}, 0);
    v = fk__graph_unary(g, FK_UN_ABS, v);
    int v2 = fk__graph_binary_const(g, FK_BIN_SUB, v, k, (fk_shape4){1, 1, 1, 3}, 1);
    v = fk__graph_binary(g, FK_BIN_MAX, v, v2);
    const int pads[8] = {0, 0, 1, 0, 0, 1, 0, 2};
    v = fk__graph_pad(g, v, pads, 0.25f);     /* 1x5x6x5 from 1x4x5x3 */
    const int axes[4] = {0, 1, 0, 0};
    int red = fk__graph_reduce(g, FK_RED_SUM, v, axes); /* 1x1x6x5 */
    int sm = fk__graph_softmax(g, red);
    int rs = fk__graph_reshape(g, sm, 1, 1, 30);
    fk__graph_mark_output(g, rs);
    CHECK(fk__graph_plan(g, 1, 4, 5) == FK_OK, "plan: %s", fk_last_error());
    float *in = rand_buf(4 * 5 * 3);
    float ref[30], fast[30];
    fk_shape4 s;
    fk__graph_use_reference(g, 1);
    CHECK(fk__graph_run(g, in, pool) == FK_OK, "run ref");
    memcpy(ref, fk__graph_output(g, rs, &s), sizeof ref);
    CHECK(s.n == 1 && s.h == 1 && s.w == 1 && s.c == 30, "reshape shape %dx%dx%dx%d", s.n,
          s.h, s.w, s.c);
    fk__graph_use_reference(g, 0);
    CHECK(fk__graph_run(g, in, pool) == FK_OK, "run fast");
    memcpy(fast, fk__graph_output(g, rs, NULL), sizeof fast);
    int close = 1;
    for (int i = 0; i < 30; i++) close &= fabsf(ref[i] - fast[i]) < 1e-6f;
    CHECK(close, "graph: fast != reference");
    for (int row = 0; row < 6; row++) {
        double sum = 0;
        for (int c = 0; c < 5; c++) sum += fast[row * 5 + c];
        CHECK(fabs(sum - 1) < 1e-5, "softmax row %d sums to %g", row, sum);
    }
    /* The padded channels of every pixel sum (over h) to 5 * 0.25; the
     * softmax keeps the order: padded channels 3 and 4 are equal. */
    CHECK(fast[3] == fast[4], "padded channels equal");
    /* a bad broadcast is reported at build time */
    static const float k4[4] = {1, 2, 3, 4};
    CHECK(fk__graph_binary_const(g, FK_BIN_ADD, 0, k4, (fk_shape4){1, 1, 1, 4}, 0) < 0,
          "3 vs 4 channels must not broadcast");
    CHECK(fk__graph_plan(g, 1, 4, 5) == FK_EMODEL, "plan reports the build error");
    free(in);
    fk__graph_free(g);
}

/* Run two graphs built alike, one fused and one not, on `in` with the fast
 * and with the reference kernels; their outputs p[k] / f[k] must have the
 * same shape and agree within 1e-5 (relative). */
static void same_outputs(const char *what, fk_graph *plain, const int *p, fk_graph *fused,
                         const int *f, int n_out, const float *in, fk_pool *pool) {
    for (int ref = 0; ref < 2; ref++) {
        fk__graph_use_reference(plain, ref);
        fk__graph_use_reference(fused, ref);
        CHECK(fk__graph_run(plain, in, pool) == FK_OK && fk__graph_run(fused, in, pool) == FK_OK,
              "%s: run", what);
        for (int o = 0; o < n_out; o++) {
            fk_shape4 sp, sf;
            const float *a = fk__graph_output(plain, p[o], &sp), *b = fk__graph_output(fused, f[o], &sf);
            CHECK(count4(sp) == count4(sf) && count4(sp) > 0, "%s: output %d shape", what, o);
            float worst = 0;
            for (long i = 0; i < count4(sp); i++) {
                float e = fabsf(a[i] - b[i]) / (1 + fabsf(a[i]));
                if (e > worst) worst = e;
            }
            CHECK(worst < 1e-5f, "%s: fused output %d (%s kernels) differs by %g", what, o,
                  ref ? "reference" : "fast", worst);
        }
    }
}

/* The chain TensorFlow graphs use for batch-norm + Keras ReLU6 after a
 * convolution, and a depthwise one, built twice: fk__graph_fuse on one copy
 * must fold it into the convolutions (fewer nodes) and give the same
 * outputs as the unfused copy. A convolution whose output has a second
 * reader, and one whose output is a graph output, must stay as they are. */
static int build_chain(fk_graph **out, int *o1, int *o2, int *o3, int *o4) {
    static float filt[3 * 3 * 5 * 7], bias[7], dw[3 * 3 * 7], scale[7], shift[7];
    static const float six = 6.0f, zero = 0.0f, half = 0.5f;
    static int init;
    if (!init) {
        for (size_t i = 0; i < sizeof filt / sizeof *filt; i++) filt[i] = frand();
        for (size_t i = 0; i < sizeof dw / sizeof *dw; i++) dw[i] = frand();
        for (int i = 0; i < 7; i++) bias[i] = frand(), scale[i] = 2 * frand(), shift[i] = frand();
        init = 1;
    }
    fk_graph *g;
    if (fk__graph_new(5, &g) != FK_OK) return 0;
    const fk_shape4 pc = {1, 1, 1, 7}, one = {1, 1, 1, 1};
    fk_act none = {FK_ACT_NONE, 0, NULL};
    int v = fk__graph_conv(g, 0, filt, bias, 3, 3, 5, 7, 1, FK_PAD_SAME, none);
    v = fk__graph_binary_const(g, FK_BIN_MUL, v, scale, pc, 0);
    v = fk__graph_binary_const(g, FK_BIN_ADD, v, shift, pc, 1);
    v = fk__graph_unary(g, FK_UN_RELU, v);
    v = fk__graph_binary_const(g, FK_BIN_MIN, v, &six, one, 0);
    v = fk__graph_binary_const(g, FK_BIN_MAX, v, &zero, one, 0); /* 5 nodes fold */
    int d = fk__graph_depthwise(g, v, dw, NULL, 3, 3, 7, 2, FK_PAD_SAME, none);
    d = fk__graph_binary_const(g, FK_BIN_MUL, d, &half, one, 1);
    d = fk__graph_binary_const(g, FK_BIN_SUB, d, shift, pc, 0);
    d = fk__graph_unary(g, FK_UN_RELU6, d); /* 3 nodes fold */
    /* read twice: the mul must stay */
    int u = fk__graph_conv(g, d, filt, NULL, 1, 1, 7, 5, 1, FK_PAD_VALID, none);
    int u2 = fk__graph_binary_const(g, FK_BIN_MUL, u, scale, (fk_shape4){1, 1, 1, 5}, 0);
    int u3 = fk__graph_binary(g, FK_BIN_ADD, u, u2);
    /* an output: the relu after it must stay */
    int w = fk__graph_conv(g, u3, filt, bias, 1, 1, 5, 7, 1, FK_PAD_VALID, none);
    int w2 = fk__graph_unary(g, FK_UN_RELU, w);
    fk__graph_mark_output(g, d);
    fk__graph_mark_output(g, u3);
    fk__graph_mark_output(g, w);
    fk__graph_mark_output(g, w2);
    *out = g, *o1 = d, *o2 = u3, *o3 = w, *o4 = w2;
    return fk__graph_build_status(g) == FK_OK;
}

/* Batch norm after a ReLU and before a VALID max-pool (GEAR's blocks): the
 * pool moves in front of the multiply and add (same function, a quarter of
 * the values). Not when a scale is negative, not before a SAME pool, not
 * when the affine value has another reader. */
static int build_pool_affine(fk_graph **out, int *o1, int *o2) {
    static float filt[3 * 3 * 3 * 4], bias[4], scale[4], neg[4], shift[4];
    static int init;
    if (!init) {
        for (size_t i = 0; i < sizeof filt / sizeof *filt; i++) filt[i] = frand();
        for (int i = 0; i < 4; i++)
            bias[i] = frand(), scale[i] = 0.1f + fabsf(frand()), neg[i] = scale[i],
            shift[i] = frand();
        neg[2] = -0.5f;
        init = 1;
    }
    fk_graph *g;
    if (fk__graph_new(3, &g) != FK_OK) return 0;
    fk_act relu = {FK_ACT_RELU, 0, NULL};
    const fk_shape4 pc = {1, 1, 1, 4};
    int v = fk__graph_conv(g, 0, filt, bias, 3, 3, 3, 4, 1, FK_PAD_SAME, relu);
    v = fk__graph_binary_const(g, FK_BIN_MUL, v, scale, pc, 0);
    v = fk__graph_binary_const(g, FK_BIN_ADD, v, shift, pc, 1);
    v = fk__graph_pool(g, FK_OP_MAXPOOL, v, 2, 2, FK_PAD_VALID); /* moves */
    v = fk__graph_binary_const(g, FK_BIN_SUB, v, shift, pc, 0);
    v = fk__graph_pool(g, FK_OP_MAXPOOL, v, 2, 1, FK_PAD_VALID); /* moves */
    int n = fk__graph_binary_const(g, FK_BIN_MUL, v, neg, pc, 0);
    n = fk__graph_pool(g, FK_OP_MAXPOOL, n, 2, 2, FK_PAD_VALID); /* a negative scale: stays */
    int m = fk__graph_binary_const(g, FK_BIN_MUL, v, scale, pc, 0);
    m = fk__graph_pool(g, FK_OP_MAXPOOL, m, 2, 2, FK_PAD_SAME); /* SAME: stays */
    fk__graph_mark_output(g, n);
    fk__graph_mark_output(g, m);
    *out = g, *o1 = n, *o2 = m;
    return fk__graph_build_status(g) == FK_OK;
}

static void test_fuse_pool_affine(fk_pool *pool) {
    fk_graph *plain, *fused;
    int p[2], f[2];
    CHECK(build_pool_affine(&plain, &p[0], &p[1]) && build_pool_affine(&fused, &f[0], &f[1]),
          "build");
    CHECK(fk__graph_fuse(fused) == FK_OK, "fuse: %s", fk_last_error());
    /* conv, pool, mul, then the second pool moves in front of the add and
     * the subtract too; the last two pools stay behind their multiplies */
    static const fk_op want[] = {FK_OP_CONV,   FK_OP_MAXPOOL, FK_OP_BINARY, FK_OP_MAXPOOL,
                                 FK_OP_BINARY, FK_OP_BINARY,  FK_OP_BINARY, FK_OP_MAXPOOL,
                                 FK_OP_BINARY, FK_OP_MAXPOOL};
    int ok = fused->n_nodes == (int)(sizeof want / sizeof *want);
    for (int k = 0; ok && k < fused->n_nodes; k++) ok = fused->nodes[k].op == want[k];
    CHECK(ok, "pools moved before the positive affine steps only (%d nodes)", fused->n_nodes);
    CHECK(fk__graph_plan(plain, 2, 12, 10) == FK_OK && fk__graph_plan(fused, 2, 12, 10) == FK_OK,
          "plan: %s", fk_last_error());
    float *in = rand_buf(2 * 12 * 10 * 3);
    same_outputs("pool before affine", plain, p, fused, f, 2, in, pool);
    free(in);
    fk__graph_free(plain);
    fk__graph_free(fused);
}

static void test_fuse(fk_pool *pool) {
    fk_graph *plain, *fused;
    int p[4], f[4];
    CHECK(build_chain(&plain, &p[0], &p[1], &p[2], &p[3]), "build plain");
    CHECK(build_chain(&fused, &f[0], &f[1], &f[2], &f[3]), "build fused");
    int before = fk__graph_node_count(fused);
    CHECK(fk__graph_fuse(fused) == FK_OK, "fuse: %s", fk_last_error());
    CHECK(fk__graph_node_count(fused) == before - 8, "fuse left %d of %d nodes",
          fk__graph_node_count(fused), before);
    CHECK(fk__graph_fuse(fused) == FK_OK && fk__graph_node_count(fused) == before - 8,
          "fusing again changes nothing");
    CHECK(fk__graph_plan(plain, 2, 9, 8) == FK_OK && fk__graph_plan(fused, 2, 9, 8) == FK_OK,
          "plan: %s", fk_last_error());
    float *in = rand_buf(2 * 9 * 8 * 5);
    for (int i = 0; i < 2 * 9 * 8 * 5; i++) in[i] *= 4; /* reach the clip at 6 */
    same_outputs("relu6 chain", plain, p, fused, f, 4, in, pool);
    free(in);
    fk__graph_free(plain);
    fk__graph_free(fused);
}

/* A residual add after a convolution folds into it when the other operand
 * was computed before the convolution (then a following Relu folds too),
 * not when it is computed between the convolution and the add, and a
 * per-channel multiply after a folded residual must stay (it would scale
 * the residual too). Outputs must match the unfused graph. */
static int build_residual(fk_graph **out, int *o1, int *o2) {
    static float filt[3 * 3 * 6 * 6], bias[6], scale[6];
    static int init;
    if (!init) {
        for (size_t i = 0; i < sizeof filt / sizeof *filt; i++) filt[i] = frand();
        for (int i = 0; i < 6; i++) bias[i] = frand(), scale[i] = frand();
        init = 1;
    }
    fk_graph *g;
    if (fk__graph_new(6, &g) != FK_OK) return 0;
    fk_act none = {FK_ACT_NONE, 0, NULL};
    int y = fk__graph_unary(g, FK_UN_ABS, 0);
    int c1 = fk__graph_conv(g, y, filt, bias, 3, 3, 6, 6, 1, FK_PAD_SAME, none);
    int a1 = fk__graph_binary(g, FK_BIN_ADD, y, c1); /* folds (residual first) */
    int r1 = fk__graph_unary(g, FK_UN_RELU, a1);     /* folds */
    int m1 = fk__graph_binary_const(g, FK_BIN_MUL, r1, scale, (fk_shape4){1, 1, 1, 6}, 0);
    int c2 = fk__graph_conv(g, m1, filt, NULL, 3, 3, 6, 6, 1, FK_PAD_SAME, none);
    int late = fk__graph_unary(g, FK_UN_NEG, m1);    /* computed after c2 */
    int a2 = fk__graph_binary(g, FK_BIN_ADD, c2, late); /* must stay */
    int c3 = fk__graph_conv(g, a2, filt, bias, 1, 1, 6, 6, 1, FK_PAD_SAME, none);
    int a3 = fk__graph_binary(g, FK_BIN_ADD, c3, a2);   /* folds */
    int m3 = fk__graph_binary_const(g, FK_BIN_MUL, a3, scale, (fk_shape4){1, 1, 1, 6}, 0);
    /* facekit's own add op (with its ReLU), as the Dlib ResNet uses: folds */
    int c4 = fk__graph_conv(g, m3, filt, bias, 3, 3, 6, 6, 1, FK_PAD_SAME, none);
    fk_act relu = {FK_ACT_RELU, 0, NULL};
    int a4 = fk__graph_add(g, m3, c4, relu);
    fk__graph_mark_output(g, a4);
    fk__graph_mark_output(g, a2);
    *out = g, *o1 = a4, *o2 = a2;
    return fk__graph_build_status(g) == FK_OK;
}

static void test_fuse_residual(fk_pool *pool) {
    fk_graph *plain, *fused;
    int p[2], f[2];
    CHECK(build_residual(&plain, &p[0], &p[1]) && build_residual(&fused, &f[0], &f[1]),
          "build");
    int before = fk__graph_node_count(fused);
    CHECK(fk__graph_fuse(fused) == FK_OK, "fuse: %s", fk_last_error());
    CHECK(fk__graph_node_count(fused) == before - 4, "fuse left %d of %d nodes",
          fk__graph_node_count(fused), before);
    CHECK(fk__graph_plan(plain, 1, 7, 9) == FK_OK && fk__graph_plan(fused, 1, 7, 9) == FK_OK,
          "plan: %s", fk_last_error());
    float *in = rand_buf(7 * 9 * 6);
    same_outputs("residual", plain, p, fused, f, 2, in, pool);
    free(in);
    fk__graph_free(plain);
    fk__graph_free(fused);
}

/* PReLU written as max(x, 0) + gamma * min(x, 0) after a convolution
 * folds into its activation (per-channel and scalar gamma); not when the
 * min is also read elsewhere. */
static int build_prelu(fk_graph **out, int *o1, int *o2) {
    static float filt[3 * 3 * 4 * 4], gamma[4];
    static const float zero = 0.0f, quarter = 0.25f;
    static int init;
    if (!init) {
        for (size_t i = 0; i < sizeof filt / sizeof *filt; i++) filt[i] = frand();
        for (int i = 0; i < 4; i++) gamma[i] = frand();
        init = 1;
    }
    fk_graph *g;
    if (fk__graph_new(4, &g) != FK_OK) return 0;
    fk_act none = {FK_ACT_NONE, 0, NULL};
    const fk_shape4 one = {1, 1, 1, 1}, pc = {1, 1, 1, 4};
    int v = 0;
    for (int k = 0; k < 3; k++) {
        int cv = fk__graph_conv(g, v, filt, NULL, 3, 3, 4, 4, 1, FK_PAD_SAME, none);
        int mx = fk__graph_binary_const(g, FK_BIN_MAX, cv, &zero, one, 1);
        int mn = fk__graph_binary_const(g, FK_BIN_MIN, cv, &zero, one, 0);
        int ml = fk__graph_binary_const(g, FK_BIN_MUL, mn, k == 1 ? &quarter : gamma,
                                       k == 1 ? one : pc, 1);
        v = fk__graph_binary(g, FK_BIN_ADD, mx, ml);
        if (k == 2) { /* the min is read twice: nothing folds */
            *o2 = fk__graph_unary(g, FK_UN_NEG, mn);
            fk__graph_mark_output(g, *o2);
        }
    }
    fk__graph_mark_output(g, v);
    *out = g, *o1 = v;
    return fk__graph_build_status(g) == FK_OK;
}

static void test_fuse_prelu(fk_pool *pool) {
    fk_graph *plain, *fused;
    int p[2], f[2];
    CHECK(build_prelu(&plain, &p[0], &p[1]) && build_prelu(&fused, &f[0], &f[1]), "build");
    int before = fk__graph_node_count(fused);
    CHECK(fk__graph_fuse(fused) == FK_OK, "fuse: %s", fk_last_error());
    CHECK(fk__graph_node_count(fused) == before - 8, "prelu fuse left %d of %d nodes",
          fk__graph_node_count(fused), before);
    CHECK(fk__graph_plan(plain, 2, 6, 5) == FK_OK && fk__graph_plan(fused, 2, 6, 5) == FK_OK,
          "plan: %s", fk_last_error());
    float *in = rand_buf(2 * 6 * 5 * 4);
    same_outputs("prelu", plain, p, fused, f, 2, in, pool);
    free(in);
    fk__graph_free(plain);
    fk__graph_free(fused);
}

/* Comparisons give 1 or 0, the fast path agreeing with the reference. */
static void test_compare(fk_pool *pool) {
    const float a[4] = {-1, 0, 0.5f, 2}, zero = 0;
    const fk_shape4 sa = {1, 1, 1, 4}, one = {1, 1, 1, 1};
    const struct { fk_binop op; float want[4]; } cases[] = {
        {FK_BIN_GREATER, {0, 0, 1, 1}},
        {FK_BIN_GREATER_EQUAL, {0, 1, 1, 1}},
        {FK_BIN_LESS, {1, 0, 0, 0}},
        {FK_BIN_LESS_EQUAL, {1, 1, 0, 0}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        float r[4], f[4];
        fk__binary_ref(cases[k].op, a, sa, &zero, one, r, sa);
        fk__binary(cases[k].op, a, sa, &zero, one, f, sa, pool);
        CHECK(memcmp(r, cases[k].want, sizeof r) == 0, "compare %d by hand", (int)cases[k].op);
        CHECK(memcmp(f, cases[k].want, sizeof f) == 0, "compare %d fast", (int)cases[k].op);
    }
    /* constant first: 0 < a */
    float r[4];
    fk__binary_ref(FK_BIN_LESS, &zero, one, a, sa, r, sa);
    const float want[4] = {0, 0, 1, 1};
    CHECK(memcmp(r, want, sizeof r) == 0, "0 < a");
}

/* Run a one-slice graph on the 1x2x3x4 tensor 0..23 (batch copies add
 * 100 per image) with both kernels; the output must be `want`. */
static void slice_case(const char *what, const fk_slice *sp, int batch, fk_shape4 want_s,
                       const float *want, fk_pool *pool) {
    fk_graph *g;
    CHECK(fk__graph_new(4, &g) == FK_OK, "new");
    int v = fk__graph_slice(g, 0, sp);
    fk__graph_mark_output(g, v);
    CHECK(fk__graph_plan(g, batch, 2, 3) == FK_OK, "%s: plan: %s", what, fk_last_error());
    float in[2 * 24];
    for (int i = 0; i < 2 * 24; i++) in[i] = (float)(i % 24 + 100 * (i / 24));
    for (int ref = 0; ref < 2; ref++) {
        fk__graph_use_reference(g, ref);
        CHECK(fk__graph_run(g, in, pool) == FK_OK, "%s: run", what);
        fk_shape4 s;
        const float *o = fk__graph_output(g, v, &s);
        CHECK(s.n == want_s.n && s.h == want_s.h && s.w == want_s.w && s.c == want_s.c,
              "%s: shape %dx%dx%dx%d", what, s.n, s.h, s.w, s.c);
        CHECK(memcmp(o, want, sizeof(float) * (size_t)count4(want_s)) == 0,
              "%s (%s kernel): wrong values", what, ref ? "reference" : "fast");
    }
    fk__graph_free(g);
}

static void test_slice(fk_pool *pool) {
    /* element (y, x, c) of the input is (y * 3 + x) * 4 + c */
    const fk_slice a = {{0, 0, 1, 1}, {0, 2, 3, 4}, {1, 1, 1, 2}, 1, 1, 0};
    const float want_a[8] = {5, 7, 9, 11, 17, 19, 21, 23}; /* x 1..2, c 1 and 3 */
    slice_case("steps", &a, 1, (fk_shape4){1, 2, 2, 2}, want_a, pool);
    /* last row (shrink at -1), x reversed by masks, c from -2 on */
    const fk_slice b = {{0, -1, 0, -2}, {0, 0, 0, 0}, {1, 1, -1, 1}, 1 | 4, 1 | 4 | 8, 2};
    const float want_b[6] = {22, 23, 18, 19, 14, 15};
    slice_case("shrink, reverse", &b, 1, (fk_shape4){1, 1, 3, 2}, want_b, pool);
    /* c from 3 down to (not including) 0 by 2: c = 3, 1; x end 100 clamps */
    const fk_slice c = {{0, 0, 0, 3}, {0, 0, 100, 0}, {1, 1, 1, -2}, 1 | 2 | 4, 1 | 2, 0};
    float want_c[12];
    for (int p = 0; p < 6; p++) want_c[2 * p] = p * 4 + 3.0f, want_c[2 * p + 1] = p * 4 + 1.0f;
    slice_case("negative channel step, clamped end", &c, 1, (fk_shape4){1, 2, 3, 2}, want_c,
               pool);
    /* masks follow the planned batch: both images, x = 2 only */
    const fk_slice d = {{0, 0, 2, 0}, {0, 0, 3, 0}, {1, 1, 1, 1}, 1 | 2 | 8, 1 | 2 | 8, 0};
    const float want_d[16] = {8, 9, 10, 11, 20, 21, 22, 23, 108, 109, 110, 111, 120, 121, 122, 123};
    slice_case("batch of 2", &d, 2, (fk_shape4){2, 2, 1, 4}, want_d, pool);
    /* the second image only (begin 1 of the batch, negative end) */
    const fk_slice e = {{-1, 1, 0, 0}, {0, 2, 1, 1}, {1, 1, 1, 1}, 0, 1, 0};
    const float want_e[1] = {112};
    slice_case("batch index", &e, 2, (fk_shape4){1, 1, 1, 1}, want_e, pool);

    /* errors: stride 0 and channels out of range at build; an empty or
     * out-of-range height at plan */
    fk_graph *g;
    CHECK(fk__graph_new(4, &g) == FK_OK, "new");
    const fk_slice zero = {{0}, {0}, {1, 0, 1, 1}, 15, 15, 0};
    CHECK(fk__graph_slice(g, 0, &zero) < 0 && fk__graph_plan(g, 1, 2, 3) == FK_EMODEL,
          "stride 0 is refused");
    fk__graph_free(g);
    CHECK(fk__graph_new(4, &g) == FK_OK, "new");
    const fk_slice cbad = {{0, 0, 0, 4}, {0}, {1, 1, 1, 1}, 7, 7, 8};
    CHECK(fk__graph_slice(g, 0, &cbad) < 0, "channel 4 of 4 is refused");
    fk__graph_free(g);
    CHECK(fk__graph_new(4, &g) == FK_OK, "new");
    const fk_slice empty = {{0, 0, 2, 0}, {0, 0, 1, 0}, {1, 1, 1, 1}, 11, 11, 0};
    fk__graph_mark_output(g, fk__graph_slice(g, 0, &empty));
    CHECK(fk__graph_plan(g, 1, 2, 3) == FK_EMODEL, "an empty slice is a plan error");
    fk__graph_free(g);
    CHECK(fk__graph_new(4, &g) == FK_OK, "new");
    const fk_slice hbad = {{0, 2, 0, 0}, {0}, {1, 1, 1, 1}, 13, 13, 2};
    fk__graph_mark_output(g, fk__graph_slice(g, 0, &hbad));
    CHECK(fk__graph_plan(g, 1, 2, 3) == FK_EMODEL, "row 2 of 2 is a plan error");
    CHECK(fk__graph_plan(g, 1, 3, 3) == FK_OK, "row 2 of 3 plans");
    fk__graph_free(g);

    /* the fast kernel against the reference on random geometry */
    for (int t = 0; t < 200; t++) {
        fk_shape4 is = {1 + (int)(rng % 3), 1 + (int)((rng >> 4) % 9), 1 + (int)((rng >> 9) % 9),
                        1 + (int)((rng >> 14) % 40)};
        frand();
        int d[4] = {is.n, is.h, is.w, is.c}, start[4], step[4], len[4];
        for (int k = 0; k < 4; k++) {
            frand();
            step[k] = (int)(rng % 3) + 1;
            if ((rng >> 5) & 1) step[k] = -step[k];
            start[k] = (int)((rng >> 7) % (unsigned)d[k]);
            int room = step[k] > 0 ? d[k] - start[k] : start[k] + 1;
            len[k] = 1 + (int)((rng >> 12) % (unsigned)((room + abs(step[k]) - 1) / abs(step[k])));
        }
        fk_shape4 os = {len[0], len[1], len[2], len[3]};
        float *in = rand_buf(count4(is));
        float *r = malloc(sizeof(float) * (size_t)count4(os));
        float *f = malloc(sizeof(float) * (size_t)count4(os));
        fk__slice_ref(in, is, start, step, r, os);
        fk__slice(in, is, start, step, f, os, pool);
        if (memcmp(r, f, sizeof(float) * (size_t)count4(os)) != 0) {
            CHECK(0, "slice %d: fast != reference", t);
            t = 200;
        }
        free(in);
        free(r);
        free(f);
    }
}

static void test_concat(fk_pool *pool) {
    fk_graph *g;
    CHECK(fk__graph_new(2, &g) == FK_OK, "new");
    static const float k = 10;
    int b = fk__graph_binary_const(g, FK_BIN_MUL, 0, &k, (fk_shape4){1, 1, 1, 1}, 0);
    const fk_slice first = {{0, 0, 0, 0}, {0, 0, 0, 1}, {1, 1, 1, 1}, 7, 7, 0};
    b = fk__graph_slice(g, b, &first); /* 10 x channel 0 */
    int v = fk__graph_concat(g, 0, b);
    CHECK(fk__graph_channels(g, v) == 3, "3 channels while building");
    v = fk__graph_concat(g, v, 0); /* 5 channels */
    fk__graph_mark_output(g, v);
    CHECK(fk__graph_plan(g, 1, 1, 2) == FK_OK, "plan: %s", fk_last_error());
    const float in[4] = {1, 2, 3, 4};
    const float want[10] = {1, 2, 10, 1, 2, 3, 4, 30, 3, 4};
    CHECK(fk__graph_run(g, in, pool) == FK_OK, "run");
    fk_shape4 s;
    const float *o = fk__graph_output(g, v, &s);
    CHECK(s.c == 5 && s.w == 2 && memcmp(o, want, sizeof want) == 0, "concat values");
    /* different widths do not concatenate */
    const fk_slice half = {{0, 0, 0, 0}, {0, 0, 1, 0}, {1, 1, 1, 1}, 11, 11, 0};
    fk__graph_mark_output(g, fk__graph_concat(g, 0, fk__graph_slice(g, 0, &half)));
    CHECK(fk__graph_plan(g, 1, 1, 2) == FK_EMODEL, "1x2 with 1x1 is a plan error");
    fk__graph_free(g);
}

/* Locally connected: a filter per output position. By hand on a 3x3 image
 * of 1..9, 2x2 windows: channel 0's filters sum the window (plus 100 x the
 * position as bias), channel 1's pick tap t = position out of it, which a
 * shared (convolution) filter could not do. Then the fast kernel against
 * the reference on random shapes, through the graph, and the plan-time
 * check of the input size the weights were made for. */
static void test_local(fk_pool *pool) {
    const float in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    float filt[4 * 4 * 2], bias[4 * 2];
    for (int p = 0; p < 4; p++) {
        for (int t = 0; t < 4; t++) {
            filt[(p * 4 + t) * 2 + 0] = 1;
            filt[(p * 4 + t) * 2 + 1] = p == t;
        }
        bias[p * 2 + 0] = 100.0f * p;
        bias[p * 2 + 1] = 0;
    }
    fk_window win = {.kh = 2, .kw = 2, .stride_h = 1, .stride_w = 1};
    const float want[8] = {12, 1, 116, 3, 224, 7, 328, 9};
    float o[8];
    fk__local_ref(in, (fk_shape4){1, 3, 3, 1}, filt, bias, 2, &win, NULL, o);
    CHECK(memcmp(o, want, sizeof o) == 0, "local by hand (reference)");
    memset(o, 0, sizeof o);
    fk__local(in, (fk_shape4){1, 3, 3, 1}, filt, bias, 2, &win, NULL, o, pool);
    CHECK(memcmp(o, want, sizeof o) == 0, "local by hand (fast)");
    /* stride 2 over the same image with 1x1 windows: corners 1, 3, 7, 9 */
    fk_window w1 = {.kh = 1, .kw = 1, .stride_h = 2, .stride_w = 2};
    const float f1[4] = {1, -1, 2, 0.5f}, want1[4] = {1, -3, 14, 4.5f};
    fk__local(in, (fk_shape4){1, 3, 3, 1}, f1, NULL, 1, &w1, NULL, o, pool);
    CHECK(memcmp(o, want1, sizeof want1) == 0, "local stride 2 (fast)");
    fk__local_ref(in, (fk_shape4){1, 3, 3, 1}, f1, NULL, 1, &w1, NULL, o);
    CHECK(memcmp(o, want1, sizeof want1) == 0, "local stride 2 (reference)");

    const int ocs[] = {1, 3, 4, 16, 34, 40};
    static float slope[40];
    for (int i = 0; i < 40; i++) slope[i] = 0.01f * i;
    for (int t = 0; t < 24; t++) {
        fk_shape4 is = {1 + t % 3, 5 + t % 4, 4 + t % 5, 1 + t % 5};
        int oc = ocs[t % 6], k = 1 + t % 3, stride = 1 + (t / 6) % 2;
        fk_window wn = {.kh = k, .kw = k == 3 ? 2 : k, .stride_h = stride, .stride_w = stride};
        int oh, ow;
        fk__window_out(&wn, is.h, is.w, &oh, &ow);
        long taps = (long)wn.kh * wn.kw * is.c, on = (long)is.n * oh * ow * oc;
        float *x = rand_buf(count4(is)), *f = rand_buf((long)oh * ow * taps * oc);
        float *b = rand_buf((long)oh * ow * oc);
        float *r = malloc(sizeof(float) * (size_t)on), *q = malloc(sizeof(float) * (size_t)on);
        fk_act acts[3] = {{.kind = FK_ACT_RELU}, {.kind = FK_ACT_PRELU, .slope = slope},
                          {.kind = FK_ACT_SIGMOID}};
        fk_act *act = t % 4 == 3 ? NULL : &acts[t % 4];
        fk__local_ref(x, is, f, t % 5 ? b : NULL, oc, &wn, act, r);
        fk__local(x, is, f, t % 5 ? b : NULL, oc, &wn, act, q, t % 2 ? pool : NULL);
        double d = 0;
        for (long i = 0; i < on; i++) d = fmax(d, fabs(r[i] - q[i]));
        CHECK(d <= 1e-5, "local fast vs reference, case %d (oc %d, %dx%d/%d): %g", t, oc,
              wn.kh, wn.kw, stride, d);
        if (t == 4) { /* through the graph, fast and reference */
            fk_graph *g;
            CHECK(fk__graph_new(is.c, &g) == FK_OK, "new");
            fk_act none = {0};
            int v = fk__graph_local(g, 0, f, NULL, wn.kh, wn.kw, is.c, oc, stride, oh, ow,
                                    none);
            CHECK(fk__graph_channels(g, v) == oc, "local channels");
            fk__graph_mark_output(g, v);
            CHECK(fk__graph_plan(g, is.n, is.h, is.w) == FK_OK, "plan: %s", fk_last_error());
            fk__local_ref(x, is, f, NULL, oc, &wn, NULL, r);
            for (int ref = 0; ref < 2; ref++) {
                fk__graph_use_reference(g, ref);
                CHECK(fk__graph_run(g, x, pool) == FK_OK, "run");
                fk_shape4 s;
                const float *go = fk__graph_output(g, v, &s);
                CHECK(s.h == oh && s.w == ow && s.c == oc && s.n == is.n, "local shape");
                d = 0;
                for (long i = 0; i < on; i++) d = fmax(d, fabs(r[i] - go[i]));
                CHECK(d <= 1e-5, "local graph (%s) off by %g", ref ? "reference" : "fast", d);
            }
            CHECK(fk__graph_plan(g, is.n, is.h + 1, is.w) == FK_EMODEL &&
                      strstr(fk_last_error(), "locally-connected"),
                  "another input size is a plan error: %s", fk_last_error());
            fk__graph_free(g);
        }
        free(x); free(f); free(b); free(r); free(q);
    }
}

int main(void) {
    fk_pool *pool;
    if (fk__pool_new(2, &pool) != FK_OK) return 1;
    test_binary_by_hand();
    test_binary_fast_vs_ref(pool);
    test_binary_fast_vs_ref(NULL);
    test_unary(pool);
    test_pad(pool);
    test_reduce();
    test_compare(pool);
    test_slice(pool);
    test_slice(NULL);
    test_concat(pool);
    test_local(pool);
    test_graph(pool);
    test_fuse(pool);
    test_fuse_residual(pool);
    test_fuse_prelu(pool);
    test_fuse_pool_affine(pool);
    fk__pool_free(pool);
    return test_summary();
}
