/*
 * vggface2_resnet.c - recognizers "VGGFace2-ResNet50" and
 * "VGGFace2-SENet50": the ResNet-50 and SE-ResNet-50 of Cao, Shen, Xie,
 * Parkhi and Zisserman ("VGGFace2: A dataset for recognising faces across
 * pose and age", FG 2018), as keras-vggface (rcmalli) ports them, from its
 * "notop" Keras weights rcmalli_vggface_tf_notop_resnet50.h5 and
 * rcmalli_vggface_tf_notop_senet50.h5, which the user brings (keras-vggface
 * keeps them in ~/.keras/models/vggface/; keras_model.h says where facekit
 * looks: copy or pass --weights).
 *
 * Facts used (keras-vggface models.py RESNET50 / SENET50, utils.py):
 *  - input 224 x 224 x 3, BGR, 0..255 minus the VGGFace2 channel means
 *    (preprocess_input version 2: B 91.4953, G 103.8827, R 131.0912;
 *    deepface's "VGGFace2" normalization); the face letterboxed as
 *    deepface's represent does for its own models;
 *  - conv1/7x7_s2 (SAME, no bias) + BN + ReLU, MaxPooling2D 3x3 stride 2
 *    (VALID): 224 -> 112 -> 55;
 *  - stages of bottleneck blocks (64/256 x 3, 128/512 x 4, 256/1024 x 6,
 *    512/2048 x 3): 1x1 reduce (the stage's stride, 2 from stage 3 on), 3x3
 *    SAME, 1x1 increase, each convolution without bias and followed by BN
 *    (ReLU after the first two); the first block of a stage adds a 1x1
 *    projection + BN of its input, the others the input itself; ReLU after
 *    the add. 55 -> 28 -> 14 -> 7;
 *  - SENet-50 only: after the increase BN, a squeeze-excitation gate:
 *    GlobalAveragePooling2D, Reshape to 1x1, 1x1 conv to c / 16 with bias,
 *    ReLU, 1x1 conv back to c with bias, sigmoid, multiplied with the
 *    block's features (per channel, broadcast over H and W); BN epsilon
 *    1e-4 (ResNet-50: Keras' default 1e-3);
 *  - AveragePooling2D 7x7 "avg_pool": the notop model's output, 2048-d,
 *    not normalised (include_top=False, pooling=None);
 *  - the file's layer order is Keras' functional order (fk__kf_build).
 * Thresholds: neither deepface nor keras-vggface publishes any; these are
 * deepface's fallback for a model it has no measurement for
 * (verification.find_threshold's base_threshold, 0.4 for a metric it does
 * not list), NOT measured for these networks: facekit has no copy of the
 * weights to measure them with. Replace them by an LFW measurement.
 */
#include <limits.h>
#include <stdio.h>

#include "core/error.h"
#include "models/keras_model.h"

static int cbr(fk_keras_fn *f, int x, const char *block, const char *conv, int out_c, int k,
               int stride, int relu, float eps) {
    char n[96];
    snprintf(n, sizeof n, "%s%s", block, conv);
    x = fk__kf_conv(f, x, n, out_c, k, k, stride, k > 1 ? FK_PAD_SAME : FK_PAD_VALID, 0);
    snprintf(n, sizeof n, "%s%s/bn", block, conv);
    x = fk__kf_bn(f, x, n, FK_KERAS_BN_DEFAULT, eps);
    return relu ? fk__kf_relu(f, x) : x;
}

/* The squeeze-excitation gate of x (c channels), multiplied into x. */
static int se_gate(fk_keras_fn *f, int x, const char *block, int c) {
    char n[96];
    int g = fk__kf_pass(f, fk__kf_gap(f, x)); /* GlobalAveragePooling2D, Reshape */
    snprintf(n, sizeof n, "%s_1x1_down", block);
    g = fk__kf_relu(f, fk__kf_conv(f, g, n, c / 16, 1, 1, 1, FK_PAD_VALID, 1));
    snprintf(n, sizeof n, "%s_1x1_up", block);
    g = fk__kf_sigmoid(f, fk__kf_conv(f, g, n, c, 1, 1, 1, FK_PAD_VALID, 1));
    return fk__kf_mul(f, x, g);
}

static fk_status resnet_build(fk_keras_h5 *k, fk_graph *g, int *out, int se) {
    static const int f1s[4] = {64, 128, 256, 512}, blocks[4] = {3, 4, 6, 3};
    const float eps = se ? 1e-4f : 1e-3f;
    fk_keras_fn *f = fk__kf_new(3);
    int x = cbr(f, 0, "conv1/7x7_s2", "", 64, 7, 2, 1, eps);
    x = fk__kf_pool(f, x, FK_OP_MAXPOOL, 3, 2, FK_PAD_VALID);
    for (int s = 0; s < 4; s++)
        for (int b = 1; b <= blocks[s]; b++) {
            char name[32];
            snprintf(name, sizeof name, "conv%d_%d", s + 2, b);
            const int f1 = f1s[s], f3 = 4 * f1, stride = s > 0 && b == 1 ? 2 : 1;
            int y = cbr(f, x, name, "_1x1_reduce", f1, 1, stride, 1, eps);
            y = cbr(f, y, name, "_3x3", f1, 3, 1, 1, eps);
            y = cbr(f, y, name, "_1x1_increase", f3, 1, 1, 0, eps);
            if (se) y = se_gate(f, y, name, f3);
            int sc = b == 1 ? cbr(f, x, name, "_1x1_proj", f3, 1, stride, 0, eps) : x;
            x = fk__kf_relu(f, fk__kf_add(f, y, sc)); /* add([x, shortcut]) */
        }
    x = fk__kf_pool(f, x, FK_OP_AVGPOOL, 7, 7, FK_PAD_VALID); /* avg_pool */
    fk_status st = fk__kf_build(f, k, g, x, out);
    fk__kf_free(f);
    return st;
}

static fk_status build_resnet(fk_keras_h5 *k, fk_graph *g, int *out) {
    return resnet_build(k, g, out, 0);
}
static fk_status build_senet(fk_keras_h5 *k, fk_graph *g, int *out) {
    return resnet_build(k, g, out, 1);
}

extern const fk_model_desc fk__model_vggface2_resnet50, fk__model_vggface2_senet50;
static const fk_keras_arch RESNET = {&fk__model_vggface2_resnet50, build_resnet, 0};
static const fk_keras_arch SENET = {&fk__model_vggface2_senet50, build_senet, 0};

static fk_status load_file_resnet(const char *path, void **out) {
    return fk__keras_net_load(&RESNET, path, (fk_keras_net **)out);
}
static fk_status load_file_senet(const char *path, void **out) {
    return fk__keras_net_load(&SENET, path, (fk_keras_net **)out);
}
static fk_status load_resnet(const char *home, void **out) {
    char path[PATH_MAX];
    fk_status st =
        fk__user_weights_find(home, &fk__model_vggface2_resnet50, NULL, path, sizeof path);
    return st == FK_OK ? load_file_resnet(path, out) : st;
}
static fk_status load_senet(const char *home, void **out) {
    char path[PATH_MAX];
    fk_status st =
        fk__user_weights_find(home, &fk__model_vggface2_senet50, NULL, path, sizeof path);
    return st == FK_OK ? load_file_senet(path, out) : st;
}

/* R, G, B means in 0..255 units */
static const fk_input_norm VGGFACE2_NORM = {"VGGFace2", {131.0912f, 103.8827f, 91.4953f},
                                            1.0f, 0};

#define VGGFACE2_DESC(NAME, FILE, WHAT, LOAD, LOAD_FILE)                                  \
    {                                                                                     \
        .name = NAME, .role = FK_ROLE_RECOGNIZER,                                         \
        .input = "224x224 BGR (deepface-style letterboxed face)", .input_w = 224,         \
        .input_h = 224, .layout = "NHWC float32",                                         \
        .normalization = "BGR 0..255 minus the VGGFace2 means (keras-vggface version 2)", \
        .input_norm = &VGGFACE2_NORM, .chip = FK_ALIGN_DEEPFACE, .user_file = FILE,       \
        .output = "2048-d embedding (avg_pool of the notop model)", .dim = 2048,          \
        /* deepface's fallback, not measured (see the top of the file) */                 \
        .thresholds = {[FK_COSINE] = 0.40f, [FK_EUCLIDEAN] = 0.55f,                       \
                       [FK_EUCLIDEAN_L2] = 0.75f, [FK_ANGULAR] = 0.40f},                  \
        .summary = WHAT " (Cao et al. 2018, VGGFace2) from keras-vggface's notop .h5, "   \
                        "224x224 -> 2048; thresholds not measured",                       \
        .origin = "keras-vggface's Keras port (rcmalli/keras-vggface, " FILE "); "        \
                  "VGGFace2 networks by Cao, Shen, Xie, Parkhi and Zisserman (Oxford "    \
                  "VGG, 2018)",                                                           \
        .license = "the user's own file (keras-vggface: MIT; VGGFace2 dataset terms "     \
                   "apply)",                                                              \
        .load = LOAD, .free = fk__keras_free_hook, .embed = fk__keras_embed_hook,         \
        .load_file = LOAD_FILE,                                                           \
    }

const fk_model_desc fk__model_vggface2_resnet50 =
    VGGFACE2_DESC("VGGFace2-ResNet50", "rcmalli_vggface_tf_notop_resnet50.h5", "ResNet-50",
                  load_resnet, load_file_resnet);
const fk_model_desc fk__model_vggface2_senet50 =
    VGGFACE2_DESC("VGGFace2-SENet50", "rcmalli_vggface_tf_notop_senet50.h5", "SE-ResNet-50",
                  load_senet, load_file_senet);
