/*
 * facenet.c - recognizers "Facenet" (128-d) and "Facenet512" (512-d): the
 * Inception-ResNet-v1 FaceNet of David Sandberg's facenet (after Schroff,
 * Kalenichenko and Philbin, "FaceNet", CVPR 2015, and Szegedy et al.,
 * "Inception-v4, Inception-ResNet", 2016), from deepface's Keras weights
 * facenet_weights.h5 / facenet512_weights.h5, which the user brings
 * (keras_model.h says where they are looked for).
 *
 * Facts used (deepface models/facial_recognition/Facenet.py):
 *  - input 160x160x3, deepface's letterboxed face, BGR, pixel / 255:
 *    represent's default normalization is "base" for every model; the
 *    per-image "Facenet" standardization is an option (--normalization);
 *  - every conv but the residual ones is Conv2D(use_bias=False) then
 *    BatchNormalization(momentum 0.995, epsilon 0.001, scale=False: three
 *    weights, beta, moving mean and variance) then ReLU;
 *  - stem: 3x3/2 32 VALID, 3x3 32 VALID, 3x3 64 SAME, max pool 3/2, 1x1 80,
 *    3x3 192 VALID, 3x3/2 256 VALID (160 -> 79 -> 77 -> 77 -> 38 -> 38 ->
 *    36 -> 17);
 *  - 5 x Block35 (branches 1x1 32 | 1x1 32, 3x3 32 | 1x1 32, 3x3 32, 3x3
 *    32; concatenated 96 -> 1x1 256 with bias, x 0.17, added, ReLU);
 *  - Mixed_6a: 3x3/2 384 VALID | 1x1 192, 3x3 192, 3x3/2 256 VALID | max
 *    pool 3/2 -> 896 x 8x8;
 *  - 10 x Block17 (1x1 128 | 1x1 128, 1x7 128, 7x1 128; -> 1x1 896, x 0.1);
 *  - Mixed_7a: 1x1 256, 3x3/2 384 | 1x1 256, 3x3/2 256 | 1x1 256, 3x3 256,
 *    3x3/2 256 | max pool 3/2 -> 1792 x 3x3;
 *  - 5 x Block8 (1x1 192 | 1x1 192, 1x3 192, 3x1 192; -> 1x1 1792, x 0.2,
 *    ReLU) and a sixth with scale 1 and no ReLU;
 *  - global average pool, dropout, Dense(128 or 512, use_bias=False)
 *    "Bottleneck", BatchNormalization (scale=False, epsilon 0.001); the
 *    output is not L2-normalised (deepface's forward returns it as is);
 *  - the model is functional: the file's layer order is Keras', which
 *    fk__kf_build reproduces;
 *  - thresholds: deepface's verification.find_threshold.
 */
#include <limits.h>
#include <stdio.h>

#include "core/error.h"
#include "models/keras_model.h"

#define BN_EPS 0.001f

/* conv (no bias) + BN (scale=False) + ReLU, deepface's names */
static int cbr(fk_keras_fn *f, int in, const char *name, int out_c, int kh, int kw,
               int stride, fk_padding pad) {
    char bn[128];
    snprintf(bn, sizeof bn, "%s_BatchNorm", name);
    int v = fk__kf_conv(f, in, name, out_c, kh, kw, stride, pad, 0);
    v = fk__kf_bn(f, v, bn, FK_KERAS_BN_CENTER, BN_EPS);
    return fk__kf_relu(f, v);
}

/* the residual tail: concat -> 1x1 with bias -> x scale -> + x [-> ReLU] */
static int residual(fk_keras_fn *f, int x, const char *blk, int n, const int *br, int c,
                    float scale, int relu) {
    char name[72];
    snprintf(name, sizeof name, "%s_Conv2d_1x1", blk);
    int up = fk__kf_conv(f, fk__kf_concat(f, n, br), name, c, 1, 1, 1, FK_PAD_SAME, 1);
    x = fk__kf_add(f, x, fk__kf_scale(f, up, scale));
    return relu ? fk__kf_relu(f, x) : x;
}

static int block35(fk_keras_fn *f, int x, int i) {
    char b[32], n[72];
    snprintf(b, sizeof b, "Block35_%d", i);
    int br[3];
    snprintf(n, sizeof n, "%s_Branch_0_Conv2d_1x1", b);
    br[0] = cbr(f, x, n, 32, 1, 1, 1, FK_PAD_SAME);
    snprintf(n, sizeof n, "%s_Branch_1_Conv2d_0a_1x1", b);
    br[1] = cbr(f, x, n, 32, 1, 1, 1, FK_PAD_SAME);
    snprintf(n, sizeof n, "%s_Branch_1_Conv2d_0b_3x3", b);
    br[1] = cbr(f, br[1], n, 32, 3, 3, 1, FK_PAD_SAME);
    snprintf(n, sizeof n, "%s_Branch_2_Conv2d_0a_1x1", b);
    br[2] = cbr(f, x, n, 32, 1, 1, 1, FK_PAD_SAME);
    snprintf(n, sizeof n, "%s_Branch_2_Conv2d_0b_3x3", b);
    br[2] = cbr(f, br[2], n, 32, 3, 3, 1, FK_PAD_SAME);
    snprintf(n, sizeof n, "%s_Branch_2_Conv2d_0c_3x3", b);
    br[2] = cbr(f, br[2], n, 32, 3, 3, 1, FK_PAD_SAME);
    return residual(f, x, b, 3, br, 256, 0.17f, 1);
}

/* Block17 and Block8: 1x1 | 1x1, 1 x k, k x 1 */
static int block_1k(fk_keras_fn *f, int x, const char *kind, int i, int w, int k, int c,
                    float scale, int relu) {
    char b[32], n[72];
    snprintf(b, sizeof b, "%s_%d", kind, i);
    int br[2];
    snprintf(n, sizeof n, "%s_Branch_0_Conv2d_1x1", b);
    br[0] = cbr(f, x, n, w, 1, 1, 1, FK_PAD_SAME);
    snprintf(n, sizeof n, "%s_Branch_1_Conv2d_0a_1x1", b);
    br[1] = cbr(f, x, n, w, 1, 1, 1, FK_PAD_SAME);
    snprintf(n, sizeof n, "%s_Branch_1_Conv2d_0b_1x%d", b, k);
    br[1] = cbr(f, br[1], n, w, 1, k, 1, FK_PAD_SAME);
    snprintf(n, sizeof n, "%s_Branch_1_Conv2d_0c_%dx1", b, k);
    br[1] = cbr(f, br[1], n, w, k, 1, 1, FK_PAD_SAME);
    return residual(f, x, b, 2, br, c, scale, relu);
}

static fk_status facenet_build(fk_keras_h5 *k, fk_graph *g, int *out, int dim) {
    fk_keras_fn *f = fk__kf_new(3);
    int x = cbr(f, 0, "Conv2d_1a_3x3", 32, 3, 3, 2, FK_PAD_VALID);
    x = cbr(f, x, "Conv2d_2a_3x3", 32, 3, 3, 1, FK_PAD_VALID);
    x = cbr(f, x, "Conv2d_2b_3x3", 64, 3, 3, 1, FK_PAD_SAME);
    x = fk__kf_pool(f, x, FK_OP_MAXPOOL, 3, 2, FK_PAD_VALID);
    x = cbr(f, x, "Conv2d_3b_1x1", 80, 1, 1, 1, FK_PAD_VALID);
    x = cbr(f, x, "Conv2d_4a_3x3", 192, 3, 3, 1, FK_PAD_VALID);
    x = cbr(f, x, "Conv2d_4b_3x3", 256, 3, 3, 2, FK_PAD_VALID);
    for (int i = 1; i <= 5; i++) x = block35(f, x, i);
    int br[4];
    br[0] = cbr(f, x, "Mixed_6a_Branch_0_Conv2d_1a_3x3", 384, 3, 3, 2, FK_PAD_VALID);
    br[1] = cbr(f, x, "Mixed_6a_Branch_1_Conv2d_0a_1x1", 192, 1, 1, 1, FK_PAD_SAME);
    br[1] = cbr(f, br[1], "Mixed_6a_Branch_1_Conv2d_0b_3x3", 192, 3, 3, 1, FK_PAD_SAME);
    br[1] = cbr(f, br[1], "Mixed_6a_Branch_1_Conv2d_1a_3x3", 256, 3, 3, 2, FK_PAD_VALID);
    br[2] = fk__kf_pool(f, x, FK_OP_MAXPOOL, 3, 2, FK_PAD_VALID);
    x = fk__kf_concat(f, 3, br);
    for (int i = 1; i <= 10; i++) x = block_1k(f, x, "Block17", i, 128, 7, 896, 0.1f, 1);
    br[0] = cbr(f, x, "Mixed_7a_Branch_0_Conv2d_0a_1x1", 256, 1, 1, 1, FK_PAD_SAME);
    br[0] = cbr(f, br[0], "Mixed_7a_Branch_0_Conv2d_1a_3x3", 384, 3, 3, 2, FK_PAD_VALID);
    br[1] = cbr(f, x, "Mixed_7a_Branch_1_Conv2d_0a_1x1", 256, 1, 1, 1, FK_PAD_SAME);
    br[1] = cbr(f, br[1], "Mixed_7a_Branch_1_Conv2d_1a_3x3", 256, 3, 3, 2, FK_PAD_VALID);
    br[2] = cbr(f, x, "Mixed_7a_Branch_2_Conv2d_0a_1x1", 256, 1, 1, 1, FK_PAD_SAME);
    br[2] = cbr(f, br[2], "Mixed_7a_Branch_2_Conv2d_0b_3x3", 256, 3, 3, 1, FK_PAD_SAME);
    br[2] = cbr(f, br[2], "Mixed_7a_Branch_2_Conv2d_1a_3x3", 256, 3, 3, 2, FK_PAD_VALID);
    br[3] = fk__kf_pool(f, x, FK_OP_MAXPOOL, 3, 2, FK_PAD_VALID);
    x = fk__kf_concat(f, 4, br);
    for (int i = 1; i <= 6; i++)
        x = block_1k(f, x, "Block8", i, 192, 3, 1792, i < 6 ? 0.2f : 1.0f, i < 6);
    x = fk__kf_pass(f, fk__kf_gap(f, x)); /* AvgPool, Dropout */
    x = fk__kf_dense(f, x, "Bottleneck", dim, 0);
    x = fk__kf_bn(f, x, "Bottleneck_BatchNorm", FK_KERAS_BN_CENTER, BN_EPS);
    fk_status st = fk__kf_build(f, k, g, x, out);
    fk__kf_free(f);
    return st;
}

static fk_status build128(fk_keras_h5 *k, fk_graph *g, int *out) {
    return facenet_build(k, g, out, 128);
}
static fk_status build512(fk_keras_h5 *k, fk_graph *g, int *out) {
    return facenet_build(k, g, out, 512);
}

extern const fk_model_desc fk__model_facenet, fk__model_facenet512;
static const fk_keras_arch FACENET = {&fk__model_facenet, build128, 0};
static const fk_keras_arch FACENET512 = {&fk__model_facenet512, build512, 0};

static fk_status load_file_128(const char *path, void **out) {
    return fk__keras_net_load(&FACENET, path, (fk_keras_net **)out);
}
static fk_status load_file_512(const char *path, void **out) {
    return fk__keras_net_load(&FACENET512, path, (fk_keras_net **)out);
}
static fk_status load_128(const char *home, void **out) {
    char path[PATH_MAX];
    fk_status st = fk__user_weights_find(home, &fk__model_facenet, NULL, path, sizeof path);
    return st == FK_OK ? load_file_128(path, out) : st;
}
static fk_status load_512(const char *home, void **out) {
    char path[PATH_MAX];
    fk_status st = fk__user_weights_find(home, &fk__model_facenet512, NULL, path, sizeof path);
    return st == FK_OK ? load_file_512(path, out) : st;
}

static const fk_input_norm FACENET_NORM = {"base", {0, 0, 0}, 1.0f / 255, 0};

#define FACENET_COMMON                                                                \
    .role = FK_ROLE_RECOGNIZER, .input = "160x160 BGR (deepface's letterboxed face)",   \
    .input_w = 160, .input_h = 160, .layout = "NHWC float32",                         \
    .normalization = "pixel / 255 (deepface base)", .input_norm = &FACENET_NORM,      \
    .chip = FK_ALIGN_DEEPFACE, .license = "the user's own file; Sandberg's facenet: MIT", \
    .free = fk__keras_free_hook, .embed = fk__keras_embed_hook

const fk_model_desc fk__model_facenet = {
    .name = "Facenet",
    FACENET_COMMON,
    .user_file = "facenet_weights.h5",
    .output = "128-d embedding (Bottleneck + batch norm, not normalised)",
    .dim = 128,
    /* deepface verification.find_threshold */
    .thresholds = {[FK_COSINE] = 0.40f, [FK_EUCLIDEAN] = 10.0f, [FK_EUCLIDEAN_L2] = 0.80f,
                   [FK_ANGULAR] = 0.33f},
    .summary = "FaceNet (Inception-ResNet-v1) from deepface's .h5, 160x160 -> 128",
    .origin = "deepface's Keras weights (serengil/deepface_models, facenet_weights.h5), "
              "converted from David Sandberg's facenet (2017)",
    .load = load_128,
    .load_file = load_file_128,
};

const fk_model_desc fk__model_facenet512 = {
    .name = "Facenet512",
    FACENET_COMMON,
    .user_file = "facenet512_weights.h5",
    .output = "512-d embedding (Bottleneck + batch norm, not normalised)",
    .dim = 512,
    /* deepface verification.find_threshold */
    .thresholds = {[FK_COSINE] = 0.30f, [FK_EUCLIDEAN] = 23.56f, [FK_EUCLIDEAN_L2] = 1.04f,
                   [FK_ANGULAR] = 0.35f},
    .summary = "FaceNet-512 (Inception-ResNet-v1) from deepface's .h5, 160x160 -> 512",
    .origin = "deepface's Keras weights (serengil/deepface_models, facenet512_weights.h5), "
              "converted from David Sandberg's facenet (2018)",
    .load = load_512,
    .load_file = load_file_512,
};
