/*
 * test_kernels.c - the nn kernels and the thread pool.
 *
 * Three layers of checking:
 *  1. the reference kernels and the small ops against values worked out by
 *     hand (so the yardstick itself is right, TensorFlow's SAME padding
 *     included);
 *  2. every fast kernel against its reference on many random shapes,
 *     activations and paddings, with 1 and 2 threads (and a NULL pool);
 *  3. the thread pool: every index covered exactly once, chunk sizes
 *     respected, workers really used, no spinning while idle, and no leaks
 *     when pools come and go (LSan checks that in the sanitizer build).
 *
 * Buffers are allocated at their exact size so the sanitizer build catches
 * any kernel that reads or writes past them, and outputs of fast kernels
 * start as NaN so a value the kernel forgot to write cannot pass.
 *
 * The random seed is fixed (reproducible failures) unless FK_TEST_SEED is
 * set.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "nn/gemm.h"
#include "nn/kernels.h"
#include "test.h"

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64*: small, fast and good enough to pick shapes and values. */
static uint64_t rng_next(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* A uniform integer in [lo, hi]. */
static int rnd_int(int lo, int hi) {
    return lo + (int)(rng_next() % (uint64_t)(hi - lo + 1));
}

/* A uniform float in [lo, hi). */
static float rnd_float(float lo, float hi) {
    return lo + (hi - lo) * (float)((rng_next() >> 40) / (double)(1ull << 24));
}

/* An exactly sized buffer of n random values in [-1, 1) (at least one
 * float so that malloc(0) never makes a test depend on its result). */
static float *rnd_buf(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = rnd_float(-1.0f, 1.0f);
    return p;
}

/* An exactly sized buffer filled with NaN. */
static float *nan_buf(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = NAN;
    return p;
}

/* Compare n values of a fast kernel with the reference, within
 * 1e-4 * (1 + |ref|) each; NaN (an unwritten output) always fails. Records
 * one CHECK naming the first bad element and the configuration. */
static int same_values(const char *what, const char *cfg, const float *fast,
                       const float *ref, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float tol = 1e-4f * (1.0f + fabsf(ref[i]));
        if (!(fabsf(fast[i] - ref[i]) <= tol)) {
            CHECK(0, "%s: %s: element %zu of %zu: fast %.7g, ref %.7g", what,
                  cfg, i, n, fast[i], ref[i]);
            return 0;
        }
    }
    CHECK(1, "%s", what);
    return 1;
}

/* Values equal within a small absolute tolerance (hand-computed cases). */
static int near(float a, float b) { return fabsf(a - b) <= 1e-5f * (1 + fabsf(b)); }

static const char *act_names[] = {"none",  "relu",    "relu6", "leaky",
                                  "prelu", "sigmoid", "tanh"};

/* A random activation; PReLU gets random slopes for c channels, kept in
 * *slopes (freed by the caller). */
static fk_act rnd_act(int c, float **slopes) {
    fk_act act = {(fk_act_kind)rnd_int(0, 6), rnd_float(0.01f, 0.5f), NULL};
    *slopes = NULL;
    if (act.kind == FK_ACT_PRELU) {
        *slopes = malloc((size_t)(c ? c : 1) * sizeof **slopes);
        for (int i = 0; i < c; i++)
            (*slopes)[i] = rnd_float(-0.5f, 1.0f);
        act.slope = *slopes;
    }
    return act;
}

/* A random window: kernel 1..kmax, stride 1..3, and one of SAME, VALID or
 * explicit asymmetric pads (each side 0..3, kept below the kernel size on
 * half the draws so most windows overlap the image). */
static fk_window rnd_window(int h, int w, int kmax, const char **mode) {
    fk_window win = {rnd_int(1, kmax), rnd_int(1, kmax), rnd_int(1, 3),
                     rnd_int(1, 3), 0, 0, 0, 0};
    int pick = rnd_int(0, 2);
    if (pick == 0) {
        fk__window_pad_tf(&win, h, w, 1);
        *mode = "SAME";
    } else if (pick == 1) {
        fk__window_pad_tf(&win, h, w, 0);
        *mode = "VALID";
    } else {
        win.pad_top = rnd_int(0, 3);
        win.pad_bottom = rnd_int(0, 3);
        win.pad_left = rnd_int(0, 3);
        win.pad_right = rnd_int(0, 3);
        *mode = "explicit";
    }
    return win;
}

static void describe(char *buf, size_t cap, fk_shape4 is, int oc,
                     const fk_window *win, const char *mode,
                     const fk_act *act, int has_bias) {
    snprintf(buf, cap,
             "in %dx%dx%dx%d oc %d k %dx%d s %dx%d pad t%d l%d b%d r%d (%s) "
             "act %s bias %s",
             is.n, is.h, is.w, is.c, oc, win->kh, win->kw, win->stride_h,
             win->stride_w, win->pad_top, win->pad_left, win->pad_bottom,
             win->pad_right, mode, act_names[act->kind],
             has_bias ? "yes" : "no");
}

/* ---- 1. reference kernels by hand --------------------------------------- */

static void test_window_geometry(void) {
    fk_window win = {3, 3, 2, 2, 9, 9, 9, 9};
    int oh, ow;
    /* TensorFlow SAME, odd input: 5 -> 3, pad 1 each side */
    fk__window_pad_tf(&win, 5, 5, 1);
    fk__window_out(&win, 5, 5, &oh, &ow);
    CHECK(oh == 3 && ow == 3, "in 5 s2 k3 SAME: out %dx%d", oh, ow);
    CHECK(win.pad_top == 1 && win.pad_bottom == 1 && win.pad_left == 1 &&
              win.pad_right == 1,
          "in 5 s2 k3 SAME pads %d %d", win.pad_top, win.pad_bottom);
    /* even input: 6 -> 3, the single pad goes to the bottom/right */
    fk__window_pad_tf(&win, 6, 6, 1);
    fk__window_out(&win, 6, 6, &oh, &ow);
    CHECK(oh == 3 && ow == 3, "in 6 s2 k3 SAME: out %dx%d", oh, ow);
    CHECK(win.pad_top == 0 && win.pad_bottom == 1 && win.pad_left == 0 &&
              win.pad_right == 1,
          "in 6 s2 k3 SAME pads %d %d", win.pad_top, win.pad_bottom);
    /* VALID: no pad, floor((in - k) / s) + 1 */
    fk__window_pad_tf(&win, 6, 5, 0);
    fk__window_out(&win, 6, 5, &oh, &ow);
    CHECK(win.pad_top == 0 && win.pad_bottom == 0 && win.pad_left == 0 &&
              win.pad_right == 0,
          "VALID pads");
    CHECK(oh == 2 && ow == 2, "in 6x5 s2 k3 VALID: out %dx%d", oh, ow);
    /* SAME stride 1: output = input, pads (k-1)/2 and the rest */
    fk_window w4 = {4, 1, 1, 1, 0, 0, 0, 0};
    fk__window_pad_tf(&w4, 7, 7, 1);
    fk__window_out(&w4, 7, 7, &oh, &ow);
    CHECK(oh == 7 && ow == 7 && w4.pad_top == 1 && w4.pad_bottom == 2 &&
              w4.pad_left == 0 && w4.pad_right == 0,
          "in 7 s1 k4x1 SAME: %dx%d pads %d %d %d %d", oh, ow, w4.pad_top,
          w4.pad_bottom, w4.pad_left, w4.pad_right);
    /* SAME never pads negatively: k1 s2 over 6 */
    fk_window w1 = {1, 1, 2, 2, 0, 0, 0, 0};
    fk__window_pad_tf(&w1, 6, 6, 1);
    fk__window_out(&w1, 6, 6, &oh, &ow);
    CHECK(oh == 3 && w1.pad_top == 0 && w1.pad_bottom == 0,
          "in 6 s2 k1 SAME: %d pads %d %d", oh, w1.pad_top, w1.pad_bottom);
    /* a window wider than the input gives an empty output, not 1 */
    fk_window big = {5, 5, 2, 2, 0, 0, 0, 0};
    fk__window_out(&big, 3, 3, &oh, &ow);
    CHECK(oh == 0 && ow == 0, "k5 over 3 VALID: %dx%d", oh, ow);
}

static void test_conv_ref_by_hand(void) {
    /* 3x3 input 1..9, one channel; 2x2 filter [[1,2],[3,4]] */
    float in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    float filt[4] = {1, 2, 3, 4};
    fk_shape4 is = {1, 3, 3, 1};
    fk_window win = {2, 2, 1, 1, 0, 0, 0, 0};
    float out[9];
    fk__conv2d_ref(in, is, filt, NULL, 1, &win, NULL, out);
    /* e.g. top-left: 1*1 + 2*2 + 4*3 + 5*4 = 37 */
    CHECK(near(out[0], 37) && near(out[1], 47) && near(out[2], 67) &&
              near(out[3], 77),
          "VALID 2x2: %g %g %g %g", out[0], out[1], out[2], out[3]);

    /* SAME, stride 1: pad 0 top/left, 1 bottom/right; 3x3 output */
    fk__window_pad_tf(&win, 3, 3, 1);
    float bias = -40.0f;
    fk_act relu = {FK_ACT_RELU, 0, NULL};
    fk__conv2d_ref(in, is, filt, &bias, 1, &win, &relu, out);
    /* without bias/relu: 37 47 21 / 67 77 33 / 23 26 9 */
    float want[9] = {0, 7, 0, 27, 37, 0, 0, 0, 0};
    int ok = 1;
    for (int i = 0; i < 9; i++)
        ok &= near(out[i], want[i]);
    CHECK(ok, "SAME 2x2 + bias -40 + relu: %g %g %g / %g %g %g / %g %g %g",
          out[0], out[1], out[2], out[3], out[4], out[5], out[6], out[7],
          out[8]);

    /* stride 2 over the padded input, explicit pads 1 all round: the 2x2
     * output windows start at (-1,-1), (-1,1), (1,-1), (1,1) */
    fk_window s2 = {2, 2, 2, 2, 1, 1, 1, 1};
    fk__conv2d_ref(in, is, filt, NULL, 1, &s2, NULL, out);
    /* (-1,-1): only (0,0)=1 under weight 4 -> 4; (-1,1): (0,1)=2*3 +
     * (0,2)=3*4 = 18; (1,-1): (1,0)=4*2 + (2,0)=7*4 = 36;
     * (1,1): 5*1 + 6*2 + 8*3 + 9*4 = 77 */
    CHECK(near(out[0], 4) && near(out[1], 18) && near(out[2], 36) &&
              near(out[3], 77),
          "stride 2 pad 1: %g %g %g %g", out[0], out[1], out[2], out[3]);

    /* channels: a 1x1 pixel of 2 channels, 1x1 filter to 3 outputs is a
     * vector-matrix product; the filter is [ic][oc] */
    float px[2] = {2, -1};
    float f2[6] = {1, 2, 3, 4, 5, 6};
    float b3[3] = {0.5f, 0, 0};
    fk_shape4 ps = {1, 1, 1, 2};
    fk_window one = {1, 1, 1, 1, 0, 0, 0, 0};
    fk_act leaky = {FK_ACT_LEAKY, 0.1f, NULL};
    fk__conv2d_ref(px, ps, f2, b3, 3, &one, &leaky, out);
    /* 2*1 - 4 + .5 = -1.5 -> -.15; 2*2 - 5 = -1 -> -.1; 2*3 - 6 = 0 */
    CHECK(near(out[0], -0.15f) && near(out[1], -0.1f) && near(out[2], 0),
          "1x1 2->3: %g %g %g", out[0], out[1], out[2]);
}

static void test_depthwise_ref_by_hand(void) {
    /* 2x2 input, 2 channels: channel 0 = 1 2 / 3 4, channel 1 = 10 20 / 30
     * 40; 2x2 filter, channel 0 all ones, channel 1 = 1 0 / 0 -1 */
    float in[8] = {1, 10, 2, 20, 3, 30, 4, 40};
    float filt[8] = {1, 1, 1, 0, 1, 0, 1, -1};
    float bias[2] = {100, 0};
    fk_shape4 is = {1, 2, 2, 2};
    fk_window win = {2, 2, 1, 1, 0, 0, 0, 0};
    float out[8];
    fk__depthwise_ref(in, is, filt, bias, &win, NULL, out);
    CHECK(near(out[0], 110) && near(out[1], -30), "VALID: %g %g", out[0],
          out[1]);
    /* SAME: 2x2 output, zero pad bottom/right */
    fk__window_pad_tf(&win, 2, 2, 1);
    fk__depthwise_ref(in, is, filt, NULL, &win, NULL, out);
    float want[8] = {10, -30, 6, 20, 7, 30, 4, 40};
    int ok = 1;
    for (int i = 0; i < 8; i++)
        ok &= near(out[i], want[i]);
    CHECK(ok, "SAME: %g %g %g %g %g %g %g %g", out[0], out[1], out[2],
          out[3], out[4], out[5], out[6], out[7]);
}

static void test_fc_ref_by_hand(void) {
    float in[4] = {1, 2, -1, 0};          /* 2 rows of 2 */
    float w[6] = {1, 2, 3, 4, 5, 6};      /* [2][3] */
    float bias[3] = {0, 0, -20};
    float slope[3] = {0.5f, 0.5f, 0.25f};
    fk_act prelu = {FK_ACT_PRELU, 0, slope};
    float out[6];
    fk__fc_ref(in, 2, 2, w, bias, 3, &prelu, out);
    /* row 0: 9 12 15-20=-5 -> -1.25; row 1: -1 -2 -3-20=-23 -> -.5 -1
     * -5.75 */
    float want[6] = {9, 12, -1.25f, -0.5f, -1, -5.75f};
    int ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= near(out[i], want[i]);
    CHECK(ok, "fc: %g %g %g / %g %g %g", out[0], out[1], out[2], out[3],
          out[4], out[5]);
}

static void test_pool_ref_by_hand(void) {
    float in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    fk_shape4 is = {1, 3, 3, 1};
    fk_window win = {3, 3, 1, 1, 0, 0, 0, 0};
    fk__window_pad_tf(&win, 3, 3, 1);
    float out[9];
    /* average at a corner divides by the 4 real values, not by 9 */
    fk__avgpool_ref(in, is, &win, out);
    CHECK(near(out[0], 3.0f), "avg corner (1+2+4+5)/4: %g", out[0]);
    CHECK(near(out[1], 3.5f), "avg top edge 21/6: %g", out[1]);
    CHECK(near(out[4], 5.0f), "avg centre 45/9: %g", out[4]);
    CHECK(near(out[8], 7.0f), "avg bottom-right (5+6+8+9)/4: %g", out[8]);
    /* max ignores the padding even when all values are negative */
    float neg[9];
    for (int i = 0; i < 9; i++)
        neg[i] = -in[i];
    fk__maxpool_ref(neg, is, &win, out);
    CHECK(near(out[0], -1.0f) && near(out[8], -5.0f),
          "max of negatives at corners: %g %g", out[0], out[8]);
    /* 2x2 stride 2 VALID max over 4x4 */
    float in4[16];
    for (int i = 0; i < 16; i++)
        in4[i] = (float)((i * 7) % 16);
    fk_shape4 is4 = {1, 4, 4, 1};
    fk_window w2 = {2, 2, 2, 2, 0, 0, 0, 0};
    fk__maxpool_ref(in4, is4, &w2, out);
    /* values: 0 7 14 5 / 12 3 10 1 / 8 15 6 13 / 4 11 2 9 */
    CHECK(near(out[0], 12) && near(out[1], 14) && near(out[2], 15) &&
              near(out[3], 13),
          "max 2x2 s2: %g %g %g %g", out[0], out[1], out[2], out[3]);
}

static void test_activations_by_hand(void) {
    const float x[6] = {-2, -0.5f, 0, 0.5f, 3, 7};
    float y[6];
    struct {
        fk_act act;
        float want[6];
    } cases[] = {
        {{FK_ACT_NONE, 0, NULL}, {-2, -0.5f, 0, 0.5f, 3, 7}},
        {{FK_ACT_RELU, 0, NULL}, {0, 0, 0, 0.5f, 3, 7}},
        {{FK_ACT_RELU6, 0, NULL}, {0, 0, 0, 0.5f, 3, 6}},
        {{FK_ACT_LEAKY, 0.2f, NULL}, {-0.4f, -0.1f, 0, 0.5f, 3, 7}},
        {{FK_ACT_SIGMOID, 0, NULL},
         {0.11920292f, 0.37754067f, 0.5f, 0.62245933f, 0.95257413f,
          0.99908895f}},
        {{FK_ACT_TANH, 0, NULL},
         {-0.96402758f, -0.46211716f, 0, 0.46211716f, 0.99505475f,
          0.99999834f}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        memcpy(y, x, sizeof y);
        fk__act_apply(&cases[k].act, y, 6, 6);
        int ok = 1;
        for (int i = 0; i < 6; i++)
            ok &= near(y[i], cases[k].want[i]);
        CHECK(ok, "%s: %g %g %g %g %g %g", act_names[cases[k].act.kind],
              y[0], y[1], y[2], y[3], y[4], y[5]);
    }
    /* PReLU: the slope follows the channel (index % c), count not a whole
     * number of rows */
    float slope[2] = {0.5f, -1.0f};
    fk_act prelu = {FK_ACT_PRELU, 0, slope};
    float z[5] = {-2, -2, -4, 4, -6};
    fk__act_apply(&prelu, z, 5, 2);
    CHECK(near(z[0], -1) && near(z[1], 2) && near(z[2], -2) && near(z[3], 4) &&
              near(z[4], -3),
          "prelu: %g %g %g %g %g", z[0], z[1], z[2], z[3], z[4]);
    /* a NULL act changes nothing */
    memcpy(y, x, sizeof y);
    fk__act_apply(NULL, y, 6, 6);
    CHECK(memcmp(x, y, sizeof y) == 0, "NULL act");
}

static void test_elementwise_by_hand(void) {
    float a[6] = {1, 2, 3, 4, 5, 6}, out[6];
    float full[6] = {6, 5, 4, 3, 2, 1}, per_c[3] = {10, 20, 30},
          scalar[1] = {-3.5f};
    fk__add(a, 6, full, 6, NULL, out);
    CHECK(near(out[0], 7) && near(out[5], 7), "add full");
    fk__add(a, 6, per_c, 3, NULL, out);
    CHECK(near(out[0], 11) && near(out[2], 33) && near(out[3], 14) &&
              near(out[5], 36),
          "add per channel: %g %g %g %g", out[0], out[2], out[3], out[5]);
    fk_act relu = {FK_ACT_RELU, 0, NULL};
    fk__add(a, 6, scalar, 1, &relu, out);
    CHECK(near(out[0], 0) && near(out[2], 0) && near(out[3], 0.5f),
          "add scalar + relu: %g %g %g", out[0], out[2], out[3]);
    fk__mul(a, 6, per_c, 3, NULL, out);
    CHECK(near(out[1], 40) && near(out[4], 100), "mul per channel");
    fk__mul(a, 6, scalar, 1, NULL, out);
    CHECK(near(out[5], -21), "mul scalar");
    /* PReLU after an add uses c = b_count */
    float slope[3] = {1, 2, 3};
    fk_act prelu = {FK_ACT_PRELU, 0, slope};
    float negs[3] = {-10, -10, -10};
    fk__add(a, 6, negs, 3, &prelu, out);
    CHECK(near(out[0], -9) && near(out[1], -16) && near(out[2], -21) &&
              near(out[3], -6) && near(out[5], -12),
          "add + prelu: %g %g %g %g %g", out[0], out[1], out[2], out[3],
          out[5]);
    /* in place, and scale/shift as a folded batch norm */
    float b[6] = {1, 2, 3, 4, 5, 6};
    float scale[2] = {2, -1}, shift[2] = {0.5f, 1};
    fk__scale_shift(b, 6, 2, scale, shift, NULL, b);
    CHECK(near(b[0], 2.5f) && near(b[1], -1) && near(b[4], 10.5f) &&
              near(b[5], -5),
          "scale_shift in place: %g %g %g %g", b[0], b[1], b[4], b[5]);
    fk__scale_shift(a, 6, 2, NULL, shift, NULL, out);
    CHECK(near(out[0], 1.5f) && near(out[1], 3), "shift only");
    fk__scale_shift(a, 6, 2, scale, NULL, NULL, out);
    CHECK(near(out[0], 2) && near(out[1], -2), "scale only");
    fk__mul(a, 6, a, 6, NULL, a);
    CHECK(near(a[5], 36), "mul in place");
}

static void test_softmax_and_mean_by_hand(void) {
    float x[6] = {logf(1), logf(2), logf(3), 1000, 1001, 1002};
    float y[6];
    fk__softmax(x, 2, 3, y);
    CHECK(near(y[0], 1.0f / 6) && near(y[1], 2.0f / 6) && near(y[2], 0.5f),
          "softmax of log 1,2,3: %g %g %g", y[0], y[1], y[2]);
    /* huge logits: no overflow, same as 0 1 2 */
    float e = expf(1), e2 = expf(2), s = 1 + e + e2;
    CHECK(near(y[3], 1 / s) && near(y[4], e / s) && near(y[5], e2 / s),
          "softmax of 1000..1002: %g %g %g", y[3], y[4], y[5]);
    /* rows sum to 1, in place, random values */
    float r[5 * 17];
    for (int i = 0; i < 5 * 17; i++)
        r[i] = rnd_float(-30, 30);
    fk__softmax(r, 5, 17, r);
    int ok = 1;
    for (int row = 0; row < 5; row++) {
        double sum = 0;
        for (int j = 0; j < 17; j++) {
            sum += r[row * 17 + j];
            ok &= r[row * 17 + j] >= 0;
        }
        ok &= fabs(sum - 1) < 1e-5;
    }
    CHECK(ok, "softmax rows sum to 1 (in place)");

    /* mean over 2x2 of 2 channels, 2 images */
    float in[16] = {1, 10, 2, 20, 3, 30, 4, 40,  /* image 0 */
                    -1, 0, -1, 0, -1, 0, 5, 8};  /* image 1 */
    fk_shape4 is = {2, 2, 2, 2};
    float m[4];
    fk__mean_hw(in, is, m);
    CHECK(near(m[0], 2.5f) && near(m[1], 25) && near(m[2], 0.5f) &&
              near(m[3], 2),
          "mean_hw: %g %g %g %g", m[0], m[1], m[2], m[3]);
}

/* ---- 2. fast against reference ------------------------------------------ */

static fk_pool *pool1, *pool2;

/* One random convolution, checked with a NULL pool, 1 and 2 threads.
 * `big` picks shapes large enough that the work is split over threads and
 * into several im2col tiles. */
static void conv_case(int big, int force_1x1) {
    fk_shape4 is;
    int oc;
    if (big == 2) {
        /* a deep layer: few output pixels, many channels (the kernels
         * split these by output channels over the pool) */
        is = (fk_shape4){1, rnd_int(1, 8), rnd_int(1, 8), rnd_int(16, 96)};
        oc = rnd_int(32, 200);
    } else if (big) {
        is = (fk_shape4){rnd_int(1, 2), rnd_int(16, 40), rnd_int(16, 40),
                         rnd_int(8, 40)};
        oc = rnd_int(8, 48);
    } else {
        is = (fk_shape4){rnd_int(1, 2), rnd_int(1, 20), rnd_int(1, 20),
                         rnd_int(1, 12)};
        oc = rnd_int(1, 20);
    }
    const char *mode;
    fk_window win = rnd_window(is.h, is.w, big ? 5 : 7, &mode);
    if (force_1x1) {
        win = (fk_window){1, 1, 1, 1, 0, 0, 0, 0};
        mode = "1x1";
    }
    float *slopes;
    fk_act act = rnd_act(oc, &slopes);
    int oh, ow;
    fk__window_out(&win, is.h, is.w, &oh, &ow);
    size_t n_in = (size_t)is.n * is.h * is.w * is.c;
    size_t n_f = (size_t)win.kh * win.kw * is.c * oc;
    size_t n_out = (size_t)is.n * oh * ow * oc;
    float *in = rnd_buf(n_in), *filt = rnd_buf(n_f);
    float *bias = rnd_int(0, 1) ? rnd_buf((size_t)oc) : NULL;
    float *ref = nan_buf(n_out);
    char cfg[256];
    describe(cfg, sizeof cfg, is, oc, &win, mode, &act, bias != NULL);

    /* a third of the cases add a residual before the activation */
    float *res = rnd_int(0, 2) == 0 ? rnd_buf(n_out) : NULL;
    if (res) {
        fk__conv2d_ref(in, is, filt, bias, oc, &win, NULL, ref);
        for (size_t i = 0; i < n_out; i++) ref[i] += res[i];
        fk__act_apply(&act, ref, (long)n_out, oc);
        strncat(cfg, " +residual", sizeof cfg - strlen(cfg) - 1);
    } else {
        fk__conv2d_ref(in, is, filt, bias, oc, &win, &act, ref);
    }
    fk_pool *pools[3] = {NULL, pool1, pool2};
    for (int p = 0; p < 3; p++) {
        int threads = fk__pool_threads(pools[p]);
        size_t ws_n = fk__conv2d_workspace(is, oc, &win, threads);
        float *ws = ws_n ? malloc(ws_n * sizeof *ws) : NULL;
        float *out = nan_buf(n_out);
        fk__conv2d_res(in, is, filt, bias, res, oc, &win, &act, out, ws, pools[p]);
        char what[64];
        snprintf(what, sizeof what, "conv2d %d thread(s)%s", threads,
                 pools[p] ? "" : " (NULL pool)");
        same_values(what, cfg, out, ref, n_out);
        free(out);
        free(ws);
    }
    free(in), free(filt), free(bias), free(ref), free(slopes), free(res);
}

/* Convolutions run their products through facekit's AVX-512 kernel where
 * the CPU has it, else through OpenBLAS; FK_NO_AVX512=1 forces OpenBLAS, so
 * the random cases check both paths on an AVX-512 machine. */
static void conv_random_cases(void) {
    for (int i = 0; i < 60; i++)
        conv_case(0, 0);
    for (int i = 0; i < 10; i++)
        conv_case(0, 1);
    for (int i = 0; i < 8; i++)
        conv_case(1, i % 3 == 0);
    for (int i = 0; i < 30; i++)
        conv_case(2, i % 4 == 0);
}

static void test_conv_random(void) {
    conv_random_cases();
    setenv("FK_NO_AVX512", "1", 1);
    conv_random_cases();
    unsetenv("FK_NO_AVX512");
    /* The 1x1 direct path needs no workspace at all. */
    fk_shape4 is = {1, 8, 8, 16};
    fk_window one = {1, 1, 1, 1, 0, 0, 0, 0};
    CHECK(fk__conv2d_workspace(is, 16, &one, 2) == 0, "1x1 workspace");
    fk_window s2 = {1, 1, 2, 2, 0, 0, 0, 0};
    CHECK(fk__conv2d_workspace(is, 16, &s2, 2) > 0, "1x1 stride 2 workspace");

    /* A workspace sized for T threads serves any pool of up to T threads.
     * When convolutions are split over threads, 7 output rows make 3
     * slices of 3 rows with 3 threads (9 rows of workspace) but 4 slices
     * of 2 with 4 threads (8 rows), so the size must be the largest over
     * 1..T. Checked with exact allocations (the sanitizer build catches an
     * overrun) and against the reference. */
    {
        fk_shape4 row7 = {1, 1, 7, 256};
        int oc7 = 256;
        fk_window k3s = {3, 3, 1, 1, 0, 0, 0, 0};
        fk__window_pad_tf(&k3s, 1, 7, 1);
        int mono = 1;
        for (int t = 2; t <= 8; t++)
            mono &= fk__conv2d_workspace(row7, oc7, &k3s, t) >=
                    fk__conv2d_workspace(row7, oc7, &k3s, t - 1);
        CHECK(mono, "workspace grows with the thread count");
        fk_pool *pool3;
        CHECK(fk__pool_new(3, &pool3) == FK_OK, "pool of 3");
        float *in = rnd_buf(7 * 256), *filt = rnd_buf((size_t)9 * 256 * oc7);
        float *ref = nan_buf(7 * 256), *got = nan_buf(7 * 256);
        float *ws = malloc(fk__conv2d_workspace(row7, oc7, &k3s, 4) *
                           sizeof *ws);
        fk__conv2d_ref(in, row7, filt, NULL, oc7, &k3s, NULL, ref);
        fk__conv2d(in, row7, filt, NULL, oc7, &k3s, NULL, got, ws, pool3);
        same_values("conv2d 3 threads, workspace for 4", "1x1x7x256 -> 256",
                    got, ref, 7 * 256);
        free(in), free(filt), free(ref), free(got), free(ws);
        fk__pool_free(pool3);
    }

    /* No input channels: every sum is empty, the output is act(bias). */
    fk_shape4 empty = {1, 3, 3, 0};
    fk_window k3 = {3, 3, 1, 1, 0, 0, 0, 0};
    fk__window_pad_tf(&k3, 3, 3, 1);
    float bias[2] = {-1, 2}, out[18], dummy[1] = {0};
    fk_act relu = {FK_ACT_RELU, 0, NULL};
    fk__conv2d(dummy, empty, dummy, bias, 2, &k3, &relu, out, NULL, pool2);
    CHECK(out[0] == 0 && out[1] == 2 && out[16] == 0 && out[17] == 2,
          "conv with 0 input channels: %g %g %g %g", out[0], out[1], out[16],
          out[17]);
}

/* fk__gemm_bias_act against a plain triple loop, on shapes that reach every
 * edge of its blocking: k over one block of 256 (partial sums reloaded),
 * rows over one block of 192 and not a multiple of the 12-row tile,
 * columns not a multiple of 16 or 32, leading dimensions wider than the
 * matrices (the untouched gaps of C must stay as they were), a column
 * block starting at ch0 > 0 (PReLU slopes from there), every activation. */
static void gemm_case(int m, int n, int k, fk_act_kind kind, int with_bias, int ch0,
                      int with_res) {
    long lda = k + rnd_int(0, 5), ldb = n + ch0 + rnd_int(0, 5), ldc = n + rnd_int(0, 5);
    float *a = rnd_buf((size_t)m * lda), *b = rnd_buf((size_t)k * ldb);
    float *bias = with_bias ? rnd_buf((size_t)(n + ch0)) : NULL;
    float *slopes = rnd_buf((size_t)(n + ch0));
    fk_act act = {kind, 0.2f, slopes};
    float *c = nan_buf((size_t)m * ldc), *ref = nan_buf((size_t)m * ldc);
    long ldr = n + rnd_int(0, 3);
    float *res = with_res ? rnd_buf((size_t)m * ldr) : NULL;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double sum = (bias ? bias[ch0 + j] : 0.0) + (res ? res[i * ldr + j] : 0.0);
            for (int q = 0; q < k; q++) sum += (double)a[i * lda + q] * b[q * ldb + ch0 + j];
            ref[i * ldc + j] = (float)sum;
        }
    for (int i = 0; i < m; i++) {
        /* the activation of channel ch0 + j: apply on a row shifted so
         * that index % c is the channel */
        float row[600];
        for (int j = 0; j < ch0 + n; j++) row[j] = j < ch0 ? 0.0f : ref[i * ldc + j - ch0];
        fk__act_apply(&act, row, ch0 + n, ch0 + n);
        for (int j = 0; j < n; j++) ref[i * ldc + j] = row[ch0 + j];
    }
    fk__gemm_bias_act(m, n, k, a, lda, b + ch0, ldb, c, ldc, bias ? bias + ch0 : NULL,
                     res, ldr, &act, ch0);
    char cfg[128];
    snprintf(cfg, sizeof cfg, "m %d n %d k %d act %s bias %d ch0 %d residual %d", m, n, k,
             act_names[kind], with_bias, ch0, with_res);
    int ok = 1;
    for (int i = 0; i < m && ok; i++) {
        ok = same_values("gemm_avx512", cfg, c + (size_t)i * ldc, ref + (size_t)i * ldc,
                         (size_t)n);
        for (long j = n; j < ldc && ok; j++)
            if (!isnan(c[i * ldc + j])) {
                CHECK(0, "gemm_avx512: %s: wrote into the gap of row %d at %ld", cfg, i, j);
                ok = 0;
            }
    }
    free(a), free(b), free(bias), free(slopes), free(c), free(ref), free(res);
}

static void test_gemm_avx512(void) {
    if (!fk__gemm_avx512_usable()) {
        printf("SKIP: gemm_avx512 (this CPU has no AVX-512F)\n");
        return;
    }
    const int shapes[][3] = {{1, 1, 1},   {12, 32, 256}, {13, 33, 257}, {193, 17, 40},
                             {7, 16, 3},  {25, 256, 600}, {200, 31, 513}, {11, 47, 9},
                             {384, 64, 64}, {5, 200, 1}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int kind = 0; kind <= FK_ACT_TANH; kind++)
            gemm_case(shapes[i][0], shapes[i][1], shapes[i][2], (fk_act_kind)kind, (int)(i + kind) % 2,
                      kind == FK_ACT_PRELU ? 16 * (int)(i % 3) + (int)(i % 2) : 0, kind % 2);
    for (int i = 0; i < 40; i++)
        gemm_case(rnd_int(1, 300), rnd_int(1, 100), rnd_int(1, 700), (fk_act_kind)rnd_int(0, 6),
                  rnd_int(0, 1), rnd_int(0, 40), rnd_int(0, 1));
}

/* Repeated runs of a convolution on the 2-thread pool (two slices, each
 * making many small sgemm calls: one at a time behind the kernels' BLAS
 * lock, at once when built for a re-entrant BLAS) must all match a
 * 1-thread run. */
static void test_conv_repeatable(void) {
    fk_shape4 is = {1, 64, 64, 64};
    int oc = 8;
    fk_window win = {3, 3, 1, 1, 0, 0, 0, 0};
    fk__window_pad_tf(&win, is.h, is.w, 1);
    size_t n_in = (size_t)64 * 64 * 64, n_out = (size_t)64 * 64 * oc;
    float *in = rnd_buf(n_in), *filt = rnd_buf((size_t)9 * 64 * oc);
    float *one = nan_buf(n_out), *two = nan_buf(n_out);
    float *ws1 = malloc(fk__conv2d_workspace(is, oc, &win, 1) * sizeof(float));
    float *ws2 = malloc(fk__conv2d_workspace(is, oc, &win, 2) * sizeof(float));
    fk__conv2d(in, is, filt, NULL, oc, &win, NULL, one, ws1, pool1);
    int bad = 0;
    for (int rep = 0; rep < 30 && !bad; rep++) {
        fk__conv2d(in, is, filt, NULL, oc, &win, NULL, two, ws2, pool2);
        for (size_t i = 0; i < n_out; i++)
            if (!(fabsf(two[i] - one[i]) <= 1e-5f * (1 + fabsf(one[i])))) {
                bad = 1;
                break;
            }
    }
    CHECK(!bad, "2-thread conv differs from 1-thread conv on some run");
    free(in), free(filt), free(one), free(two), free(ws1), free(ws2);
}

/* Independent callers on two fresh threads (as two contexts used from two
 * threads would be): each runs its own small fully connected layer on its
 * own data thousands of times with a NULL pool, checking every result
 * bitwise against one computed beforehand. Debian's serial OpenBLAS is not
 * re-entrant: threads that start calling it together can end up sharing
 * its internal buffers, and then a few percent of all their products are
 * wrong. The kernels' BLAS lock prevents that. Without the lock one round
 * here failed about one time in six, so the test runs several rounds, each
 * with new threads (12 rounds caught the race in 7 of 8 runs). */
enum { PAIR_M = 8, PAIR_K = 8, PAIR_N = 8, PAIR_REPS = 4000, PAIR_ROUNDS = 12 };

typedef struct fc_caller {
    float in[PAIR_M * PAIR_K], w[PAIR_K * PAIR_N], want[PAIR_M * PAIR_N];
    pthread_barrier_t *start;
    int bad;
} fc_caller;

static void *fc_caller_main(void *arg) {
    fc_caller *fc = arg;
    float out[PAIR_M * PAIR_N];
    pthread_barrier_wait(fc->start);
    for (int rep = 0; rep < PAIR_REPS; rep++) {
        fk__fc(fc->in, PAIR_M, PAIR_K, fc->w, NULL, PAIR_N, NULL, out, NULL);
        fc->bad += memcmp(out, fc->want, sizeof out) != 0;
    }
    return NULL;
}

static void test_blas_concurrent_callers(void) {
    static fc_caller callers[2];
    for (int t = 0; t < 2; t++) {
        fc_caller *fc = &callers[t];
        for (int i = 0; i < PAIR_M * PAIR_K; i++)
            fc->in[i] = rnd_float(-1, 1);
        for (int i = 0; i < PAIR_K * PAIR_N; i++)
            fc->w[i] = rnd_float(-1, 1);
        fk__fc(fc->in, PAIR_M, PAIR_K, fc->w, NULL, PAIR_N, NULL, fc->want,
              NULL);
        fc->bad = 0;
    }
    for (int round = 0; round < PAIR_ROUNDS; round++) {
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, 2);
        pthread_t th[2];
        for (int t = 0; t < 2; t++) {
            callers[t].start = &start;
            pthread_create(&th[t], NULL, fc_caller_main, &callers[t]);
        }
        for (int t = 0; t < 2; t++)
            pthread_join(th[t], NULL);
        pthread_barrier_destroy(&start);
    }
    CHECK(callers[0].bad == 0 && callers[1].bad == 0,
          "concurrent fc: %d and %d of %d results wrong", callers[0].bad,
          callers[1].bad, PAIR_REPS * PAIR_ROUNDS);
}

/* One random depthwise convolution against the reference. kind 0: small,
 * 1: big, 2: a 3x3 window (the fast kernels' special case: whole-window
 * runs of pixels with the filter held in registers), any channel count. */
static void depthwise_case(int kind) {
    int big = kind == 1;
    fk_shape4 is = big ? (fk_shape4){rnd_int(1, 2), rnd_int(24, 48),
                                     rnd_int(24, 48), rnd_int(16, 64)}
                       : (fk_shape4){rnd_int(1, 2), rnd_int(1, 20),
                                     rnd_int(1, 20), rnd_int(1, 20)};
    if (kind == 2)
        is.c = rnd_int(1, 40);
    const char *mode;
    fk_window win = rnd_window(is.h, is.w, big ? 5 : 7, &mode);
    if (kind == 2) {
        win.kh = win.kw = 3;
        win.stride_h = win.stride_w = rnd_int(1, 2);
        if (strcmp(mode, "explicit") != 0)
            fk__window_pad_tf(&win, is.h, is.w, strcmp(mode, "SAME") == 0);
    }
    float *slopes;
    fk_act act = rnd_act(is.c, &slopes);
    int oh, ow;
    fk__window_out(&win, is.h, is.w, &oh, &ow);
    size_t n_in = (size_t)is.n * is.h * is.w * is.c;
    size_t n_out = (size_t)is.n * oh * ow * is.c;
    float *in = rnd_buf(n_in);
    float *filt = rnd_buf((size_t)win.kh * win.kw * is.c);
    float *bias = rnd_int(0, 1) ? rnd_buf((size_t)is.c) : NULL;
    float *ref = nan_buf(n_out);
    char cfg[256];
    describe(cfg, sizeof cfg, is, is.c, &win, mode, &act, bias != NULL);
    fk__depthwise_ref(in, is, filt, bias, &win, &act, ref);
    fk_pool *pools[3] = {NULL, pool1, pool2};
    for (int p = 0; p < 3; p++) {
        float *out = nan_buf(n_out);
        fk__depthwise(in, is, filt, bias, &win, &act, out, pools[p]);
        char what[64];
        snprintf(what, sizeof what, "depthwise %d thread(s)",
                 fk__pool_threads(pools[p]));
        same_values(what, cfg, out, ref, n_out);
        free(out);
    }
    free(in), free(filt), free(bias), free(ref), free(slopes);
}

/* fk__add_rows (the graph's same-shape add) equals fk__add on random rows,
 * channel counts that are and are not multiples of 4, every activation
 * (PReLU needs the right channel per lane), 1 and 2 threads, in place. */
static void test_add_rows_random(void) {
    for (int i = 0; i < 40; i++) {
        int c = rnd_int(1, 70);
        long rows = rnd_int(1, 3000);
        size_t n = (size_t)rows * c;
        float *slopes;
        fk_act act = rnd_act(c, &slopes);
        float *a = rnd_buf(n), *b = rnd_buf(n), *ref = nan_buf(n);
        fk__add(a, (long)n, b, (long)n, NULL, ref);
        fk__act_apply(&act, ref, (long)n, c);
        fk_pool *pools[3] = {NULL, pool1, pool2};
        for (int p = 0; p < 3; p++) {
            float *out = nan_buf(n);
            fk__add_rows(a, b, rows, c, &act, out, pools[p]);
            same_values("add_rows", "random rows", out, ref, n);
            free(out);
        }
        float *inplace = malloc(n * sizeof *inplace);
        memcpy(inplace, a, n * sizeof *inplace);
        fk__add_rows(inplace, b, rows, c, &act, inplace, pool2);
        same_values("add_rows in place", "random rows", inplace, ref, n);
        free(inplace), free(a), free(b), free(ref), free(slopes);
    }
}

/* Depthwise has AVX-512, AVX2 and SSE bodies chosen at run time;
 * FK_NO_AVX512 forces AVX2 and FK_NO_AVX2 the SSE one, so each is checked
 * the CPU has. Kind 2 (3x3, 1..40 channels) covers the AVX-512 run with
 * its AVX2 and scalar leftovers. */
static void test_depthwise_random(void) {
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 1)
            setenv("FK_NO_AVX512", "1", 1);
        if (pass == 2)
            setenv("FK_NO_AVX2", "1", 1);
        for (int i = 0; i < 50; i++)
            depthwise_case(0);
        for (int i = 0; i < 5; i++)
            depthwise_case(1);
        for (int i = 0; i < 60; i++)
            depthwise_case(2);
    }
    unsetenv("FK_NO_AVX512");
    unsetenv("FK_NO_AVX2");
}

/* One random fully connected layer; m >= 64 takes the split-by-rows path,
 * smaller m the split-by-columns one. */
static void fc_case(int m, int k, int n) {
    float *slopes;
    fk_act act = rnd_act(n, &slopes);
    float *in = rnd_buf((size_t)m * k), *w = rnd_buf((size_t)k * n);
    float *bias = rnd_int(0, 1) ? rnd_buf((size_t)n) : NULL;
    float *ref = nan_buf((size_t)m * n);
    char cfg[128];
    snprintf(cfg, sizeof cfg, "m %d k %d n %d act %s bias %s", m, k, n,
             act_names[act.kind], bias ? "yes" : "no");
    fk__fc_ref(in, m, k, w, bias, n, &act, ref);
    fk_pool *pools[3] = {NULL, pool1, pool2};
    for (int p = 0; p < 3; p++) {
        float *out = nan_buf((size_t)m * n);
        fk__fc(in, m, k, w, bias, n, &act, out, pools[p]);
        char what[64];
        snprintf(what, sizeof what, "fc %d thread(s)",
                 fk__pool_threads(pools[p]));
        same_values(what, cfg, out, ref, (size_t)m * n);
        free(out);
    }
    free(in), free(w), free(bias), free(ref), free(slopes);
}

/* Twice: with facekit's AVX-512 product where the CPU has it, then with
 * OpenBLAS (FK_NO_AVX512=1). */
static void test_fc_random(void) {
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) setenv("FK_NO_AVX512", "1", 1);
        for (int i = 0; i < 30; i++)
            fc_case(rnd_int(1, 100), rnd_int(1, 300), rnd_int(1, 300));
        fc_case(3, 0, 5);        /* empty sum: bias (or 0) then act */
        fc_case(2, 1024, 1024);  /* two embeddings: split by columns */
        fc_case(4, 1024, 1030);  /* columns, uneven split, PReLU offsets */
        fc_case(128, 300, 200);  /* a batch: split by rows */
    }
    unsetenv("FK_NO_AVX512");
}

/* One random pool (max and average) against the reference. */
static void pool_case(int big) {
    fk_shape4 is = big ? (fk_shape4){rnd_int(1, 2), rnd_int(30, 64),
                                     rnd_int(30, 64), rnd_int(16, 64)}
                       : (fk_shape4){rnd_int(1, 2), rnd_int(1, 20),
                                     rnd_int(1, 20), rnd_int(1, 20)};
    const char *mode;
    fk_window win = rnd_window(is.h, is.w, big ? 3 : 7, &mode);
    int oh, ow;
    fk__window_out(&win, is.h, is.w, &oh, &ow);
    size_t n_in = (size_t)is.n * is.h * is.w * is.c;
    size_t n_out = (size_t)is.n * oh * ow * is.c;
    float *in = rnd_buf(n_in);
    float *ref_max = nan_buf(n_out), *ref_avg = nan_buf(n_out);
    fk_act none = {FK_ACT_NONE, 0, NULL};
    char cfg[256];
    describe(cfg, sizeof cfg, is, is.c, &win, mode, &none, 0);
    fk__maxpool_ref(in, is, &win, ref_max);
    fk__avgpool_ref(in, is, &win, ref_avg);
    fk_pool *pools[3] = {NULL, pool1, pool2};
    for (int p = 0; p < 3; p++) {
        float *out = nan_buf(n_out);
        fk__maxpool(in, is, &win, out, pools[p]);
        same_values("maxpool", cfg, out, ref_max, n_out);
        for (size_t i = 0; i < n_out; i++)
            out[i] = NAN;
        fk__avgpool(in, is, &win, out, pools[p]);
        same_values("avgpool", cfg, out, ref_avg, n_out);
        free(out);
    }
    free(in), free(ref_max), free(ref_avg);
}

static void test_pool_random(void) {
    for (int i = 0; i < 40; i++)
        pool_case(0);
    for (int i = 0; i < 4; i++)
        pool_case(1);
    /* a window wholly inside explicit padding gives 0 in both versions */
    float in[4] = {1, 2, 3, 4};
    fk_shape4 is = {1, 2, 2, 1};
    fk_window win = {1, 1, 1, 1, 2, 2, 0, 0};
    float out[16];
    fk__maxpool(in, is, &win, out, pool2);
    CHECK(out[0] == 0 && out[15] == 4, "maxpool all-padding window: %g %g",
          out[0], out[15]);
}

/* ---- 3. the thread pool ------------------------------------------------- */

#define MAX_N 20000

typedef struct cover {
    atomic_int hits[MAX_N];
    atomic_int pieces;
    atomic_long min_piece;
    pthread_mutex_t lock;
    pthread_t ids[8];
    int n_ids;
    int sleep_us;
} cover;

/* Pool task for the coverage tests: count each index, note the piece size
 * and which thread ran it. */
static void cover_fn(void *arg, long begin, long end) {
    cover *cv = arg;
    for (long i = begin; i < end; i++)
        atomic_fetch_add(&cv->hits[i], 1);
    atomic_fetch_add(&cv->pieces, 1);
    long len = end - begin, cur = atomic_load(&cv->min_piece);
    while (len < cur && !atomic_compare_exchange_weak(&cv->min_piece, &cur, len))
        ;
    pthread_mutex_lock(&cv->lock);
    int seen = 0;
    for (int i = 0; i < cv->n_ids; i++)
        seen |= pthread_equal(cv->ids[i], pthread_self());
    if (!seen && cv->n_ids < 8)
        cv->ids[cv->n_ids++] = pthread_self();
    pthread_mutex_unlock(&cv->lock);
    if (cv->sleep_us)
        usleep((useconds_t)cv->sleep_us);
}

static void cover_reset(cover *cv, long n) {
    for (long i = 0; i < n; i++)
        atomic_store(&cv->hits[i], 0);
    atomic_store(&cv->pieces, 0);
    atomic_store(&cv->min_piece, (long)MAX_N + 1);
    cv->n_ids = 0;
}

static void test_pool_coverage(void) {
    static cover cv;
    pthread_mutex_init(&cv.lock, NULL);
    const long ns[] = {0, 1, 2, 3, 5, 17, 100, 1000, 12345, MAX_N};
    const long grains[] = {1, 2, 3, 7, 50, 1000, 100000};
    const int threads[] = {1, 2, 3, 4, 7};
    int failures = 0;
    for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
        fk_pool *pool;
        CHECK(fk__pool_new(threads[t], &pool) == FK_OK, "pool of %d: %s",
              threads[t], fk_last_error());
        CHECK(fk__pool_threads(pool) == threads[t], "threads %d", threads[t]);
        for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
            for (size_t g = 0; g < sizeof grains / sizeof *grains; g++) {
                long n = ns[a], grain = grains[g];
                cover_reset(&cv, n);
                fk__pool_run(pool, n, grain, cover_fn, &cv);
                int ok = 1;
                for (long i = 0; i < n; i++)
                    ok &= atomic_load(&cv.hits[i]) == 1;
                int pieces = atomic_load(&cv.pieces);
                long min_piece = atomic_load(&cv.min_piece);
                /* at most `threads` pieces; each at least `grain` unless the
                 * whole range is smaller than one grain */
                ok &= pieces <= threads[t];
                ok &= n == 0 ? pieces == 0 : pieces >= 1;
                if (pieces > 1)
                    ok &= min_piece >= grain;
                /* and as many pieces as the grain allows */
                long want = n / grain < threads[t] ? n / grain : threads[t];
                if (n > 0)
                    ok &= pieces == (want > 1 ? want : 1);
                if (!ok && failures++ < 10)
                    CHECK(0, "threads %d n %ld grain %ld: pieces %d min %ld",
                          threads[t], n, grain, pieces, min_piece);
            }
        /* workers really take part: slow pieces cannot all run on the
         * caller */
        if (threads[t] > 1) {
            cover_reset(&cv, 100);
            cv.sleep_us = 20000;
            fk__pool_run(pool, 100, 1, cover_fn, &cv);
            cv.sleep_us = 0;
            CHECK(cv.n_ids > 1, "threads %d: only %d thread(s) did work",
                  threads[t], cv.n_ids);
            /* the same after the workers have gone to sleep (they poll for
             * a fraction of a millisecond after a job, then block): a
             * posted job must wake them */
            usleep(20000);
            cover_reset(&cv, 100);
            cv.sleep_us = 20000;
            fk__pool_run(pool, 100, 1, cover_fn, &cv);
            cv.sleep_us = 0;
            CHECK(cv.n_ids > 1, "threads %d after idling: only %d thread(s) did work",
                  threads[t], cv.n_ids);
        }
        fk__pool_free(pool);
    }
    CHECK(failures == 0, "%d coverage failures", failures);

    /* a NULL pool runs everything at once on the caller */
    cover_reset(&cv, 50);
    fk__pool_run(NULL, 50, 1, cover_fn, &cv);
    CHECK(atomic_load(&cv.pieces) == 1 && atomic_load(&cv.hits[49]) == 1,
          "NULL pool");
    CHECK(fk__pool_threads(NULL) == 1, "NULL pool has one thread");
    pthread_mutex_destroy(&cv.lock);
}

/* Many back-to-back small jobs: late-waking workers must never run a piece
 * of a job that is already over (that would double-count an index). */
static void add_one(void *arg, long begin, long end) {
    atomic_long *sum = arg;
    atomic_fetch_add(sum, end - begin);
}

static void test_pool_back_to_back(void) {
    atomic_long sum = 0;
    for (int rep = 0; rep < 20000; rep++)
        fk__pool_run(pool2, 2 + rep % 5, 1, add_one, &sum);
    long want = 0;
    for (int rep = 0; rep < 20000; rep++)
        want += 2 + rep % 5;
    CHECK(atomic_load(&sum) == want, "back to back: %ld of %ld",
          atomic_load(&sum), want);
}

/* Idle workers sleep: with a 2-thread pool doing nothing for 200 ms, the
 * process uses almost no CPU time. */
static void test_pool_idle(void) {
    fk_pool *pool;
    CHECK(fk__pool_new(2, &pool) == FK_OK, "pool");
    atomic_long sum = 0;
    fk__pool_run(pool, 10, 1, add_one, &sum);
    struct timespec c0, c1, pause = {0, 200 * 1000 * 1000};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    nanosleep(&pause, NULL);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    double used = (double)(c1.tv_sec - c0.tv_sec) +
                  (double)(c1.tv_nsec - c0.tv_nsec) * 1e-9;
    CHECK(used < 0.05, "idle pool used %.3f s of CPU in 0.2 s", used);
    fk__pool_free(pool);
}

/* Pools created and freed over and over (LSan reports any leak at exit);
 * threads <= 0 means one per CPU; absurd counts are refused. */
static void test_pool_lifecycle(void) {
    int ok = 1;
    for (int rep = 0; rep < 200; rep++) {
        fk_pool *pool = NULL;
        ok &= fk__pool_new(1 + rep % 4, &pool) == FK_OK;
        atomic_long sum = 0;
        if (rep % 2)
            fk__pool_run(pool, 1000, 1, add_one, &sum);
        ok &= atomic_load(&sum) == (rep % 2 ? 1000 : 0);
        fk__pool_free(pool);
    }
    CHECK(ok, "create / run / free 200 times");

    fk_pool *pool = NULL;
    CHECK(fk__pool_new(0, &pool) == FK_OK, "pool of CPUs");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK(fk__pool_threads(pool) == (cpus > 0 ? cpus : 1), "threads %d cpus %ld",
          fk__pool_threads(pool), cpus);
    fk__pool_free(pool);
    fk__pool_free(NULL);

    pool = (fk_pool *)&ok;
    CHECK(fk__pool_new(1 << 20, &pool) == FK_EINVAL && pool == NULL,
          "a million threads refused");
    CHECK(strstr(fk_last_error(), "threads") != NULL, "message: %s",
          fk_last_error());
}

int main(void) {
    const char *seed = getenv("FK_TEST_SEED");
    if (seed && *seed)
        rng_state = strtoull(seed, NULL, 0) | 1;
    printf("seed 0x%llx\n", (unsigned long long)rng_state);

    if (fk__pool_new(1, &pool1) != FK_OK || fk__pool_new(2, &pool2) != FK_OK) {
        fprintf(stderr, "cannot create pools: %s\n", fk_last_error());
        return 1;
    }

    test_window_geometry();
    test_conv_ref_by_hand();
    test_depthwise_ref_by_hand();
    test_fc_ref_by_hand();
    test_pool_ref_by_hand();
    test_activations_by_hand();
    test_elementwise_by_hand();
    test_softmax_and_mean_by_hand();

    test_gemm_avx512();
    test_conv_random();
    test_conv_repeatable();
    test_blas_concurrent_callers();
    test_depthwise_random();
    test_add_rows_random();
    test_fc_random();
    test_pool_random();

    test_pool_coverage();
    test_pool_back_to_back();
    test_pool_idle();
    test_pool_lifecycle();

    fk__pool_free(pool1);
    fk__pool_free(pool2);
    return test_summary();
}
