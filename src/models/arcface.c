/*
 * arcface.c - recognizer "ArcFace": deepface's ArcFace, a ResNet-34 trained
 * with the additive angular margin loss of Deng, Guo, Xue and Zafeiriou
 * ("ArcFace: Additive Angular Margin Loss for Deep Face Recognition", CVPR
 * 2019; insightface), from deepface's Keras weights arcface_weights.h5,
 * which the user brings (keras_model.h says where it is looked for).
 *
 * Facts used (deepface models/facial_recognition/ArcFace.py):
 *  - input 112 x 112 x 3: deepface's letterboxed face, BGR, pixel / 255
 *    (deepface's represent defaults to "base"; --normalization ArcFace
 *    gives insightface's (x - 127.5) / 128);
 *  - conv1_pad ZeroPadding2D(1), conv1_conv 3x3 -> 64 (no bias), conv1_bn,
 *    conv1_prelu (PReLU, one slope a channel: shared_axes [1, 2]);
 *  - four stacks of block1 (64 x 3, 128 x 4, 256 x 6, 512 x 3), the first
 *    block of each with a 1x1 stride-2 conv + BN shortcut (conv2 too:
 *    deepface's stack1 defaults to stride 2), the others the identity;
 *    a block is BN, pad 1, 3x3 conv, BN, PReLU, pad 1, 3x3 conv (the
 *    block's stride), BN, added to the shortcut; no activation after the
 *    add. 112 -> 56 -> 28 -> 14 -> 7;
 *  - BatchNormalization, Dropout, Flatten (7 x 7 x 512 = 25088), Dense 512
 *    with bias, BatchNormalization "embedding": 512-d, not normalised;
 *    every BN has epsilon 2e-5;
 *  - the file's layer order is Keras' functional order (fk__kf_build);
 *  - thresholds: deepface's verification.find_threshold.
 * After fk__graph_fuse every BN after a conv and every PReLU is in that
 * conv's epilogue, and the residual add in the second conv of each block.
 */
#include <limits.h>
#include <stdio.h>

#include "core/error.h"
#include "models/keras_model.h"

#define BN_EPS 2e-5f

static int block(fk_keras_fn *f, int x, int filters, int stride, int conv_shortcut,
                 const char *name) {
    char n[64];
    int sc = x;
#define NAME(s) (snprintf(n, sizeof n, "%s%s", name, s), n)
    if (conv_shortcut) {
        sc = fk__kf_conv(f, x, NAME("_0_conv"), filters, 1, 1, stride, FK_PAD_VALID, 0);
        sc = fk__kf_bn(f, sc, NAME("_0_bn"), FK_KERAS_BN_DEFAULT, BN_EPS);
    }
    int y = fk__kf_bn(f, x, NAME("_1_bn"), FK_KERAS_BN_DEFAULT, BN_EPS);
    y = fk__kf_zeropad(f, y, NAME("_1_pad"), 1);
    y = fk__kf_conv(f, y, NAME("_1_conv"), filters, 3, 3, 1, FK_PAD_VALID, 0);
    y = fk__kf_bn(f, y, NAME("_2_bn"), FK_KERAS_BN_DEFAULT, BN_EPS);
    y = fk__kf_prelu(f, y, NAME("_1_prelu"));
    y = fk__kf_zeropad(f, y, NAME("_2_pad"), 1);
    y = fk__kf_conv(f, y, NAME("_2_conv"), filters, 3, 3, stride, FK_PAD_VALID, 0);
    y = fk__kf_bn(f, y, NAME("_3_bn"), FK_KERAS_BN_DEFAULT, BN_EPS);
#undef NAME
    return fk__kf_add(f, sc, y); /* Add([shortcut, x]) */
}

static fk_status arcface_build(fk_keras_h5 *k, fk_graph *g, int *out) {
    static const int filters[4] = {64, 128, 256, 512}, blocks[4] = {3, 4, 6, 3};
    fk_keras_fn *f = fk__kf_new(3);
    int x = fk__kf_zeropad(f, 0, "conv1_pad", 1);
    x = fk__kf_conv(f, x, "conv1_conv", 64, 3, 3, 1, FK_PAD_VALID, 0);
    x = fk__kf_bn(f, x, "conv1_bn", FK_KERAS_BN_DEFAULT, BN_EPS);
    x = fk__kf_prelu(f, x, "conv1_prelu");
    for (int s = 0; s < 4; s++)
        for (int b = 1; b <= blocks[s]; b++) {
            char name[32];
            snprintf(name, sizeof name, "conv%d_block%d", s + 2, b);
            x = block(f, x, filters[s], b == 1 ? 2 : 1, b == 1, name);
        }
    x = fk__kf_bn(f, x, "batch_normalization", FK_KERAS_BN_DEFAULT, BN_EPS);
    x = fk__kf_flatten(f, fk__kf_pass(f, x), 7, 7); /* Dropout(0.4), Flatten */
    x = fk__kf_dense(f, x, "dense", 512, 1);
    x = fk__kf_bn(f, x, "embedding", FK_KERAS_BN_DEFAULT, BN_EPS);
    fk_status st = fk__kf_build(f, k, g, x, out);
    fk__kf_free(f);
    return st;
}

extern const fk_model_desc fk__model_arcface;
static const fk_keras_arch ARCFACE = {&fk__model_arcface, arcface_build, 0};

static fk_status load_file(const char *path, void **out) {
    return fk__keras_net_load(&ARCFACE, path, (fk_keras_net **)out);
}
static fk_status load(const char *home, void **out) {
    char path[PATH_MAX];
    fk_status st = fk__user_weights_find(home, &fk__model_arcface, NULL, path, sizeof path);
    return st == FK_OK ? load_file(path, out) : st;
}

static const fk_input_norm ARCFACE_NORM = {"base", {0, 0, 0}, 1.0f / 255, 0};

const fk_model_desc fk__model_arcface = {
    .name = "ArcFace",
    .role = FK_ROLE_RECOGNIZER,
    .input = "112x112 BGR (deepface's letterboxed face)",
    .input_w = 112,
    .input_h = 112,
    .layout = "NHWC float32",
    .normalization = "pixel / 255 (deepface base)",
    .input_norm = &ARCFACE_NORM,
    .chip = FK_ALIGN_DEEPFACE,
    .user_file = "arcface_weights.h5",
    .output = "512-d embedding (the 'embedding' batch norm)",
    .dim = 512,
    /* deepface verification.find_threshold */
    .thresholds = {[FK_COSINE] = 0.68f, [FK_EUCLIDEAN] = 4.15f, [FK_EUCLIDEAN_L2] = 1.13f,
                   [FK_ANGULAR] = 0.39f},
    .summary = "ArcFace ResNet-34 (Deng et al. 2019) from deepface's .h5, 112x112 -> 512",
    .origin = "deepface's Keras weights (serengil/deepface_models, arcface_weights.h5); "
              "ArcFace by Deng, Guo, Xue and Zafeiriou (insightface, 2019)",
    .license = "the user's own file (deepface_models: MIT)",
    .load = load,
    .free = fk__keras_free_hook,
    .embed = fk__keras_embed_hook,
    .load_file = load_file,
};
