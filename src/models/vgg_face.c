/*
 * vgg_face.c - recognizers "VGG-Face" (4096-d, deepface's default) and
 * "VGG-Face-2622" (the article's descriptor): the VGG-16 face network of
 * Parkhi, Vedaldi and Zisserman, "Deep Face Recognition" (BMVC 2015), from
 * deepface's Keras weights vgg_face_weights.h5, which the user brings
 * (keras_model.h says where it is looked for).
 *
 * Facts used (deepface models/facial_recognition/VGGFace.py, the paper):
 *  - input 224x224x3, deepface's represent input: the face letterboxed,
 *    BGR, pixel / 255 ("base": deepface feeds these 0..1 values; the
 *    paper's own mean subtraction is the "VGGFace" normalization);
 *  - five blocks of 3x3 convolutions, each after a ZeroPadding2D((1, 1))
 *    (so SAME at stride 1), ReLU: 64 x2, 128 x2, 256 x3, 512 x3, 512 x3,
 *    each block closed by a 2x2/2 max pool; then the fully-connected layers
 *    as convolutions: fc6 7x7 -> 4096 ReLU, fc7 1x1 -> 4096 ReLU, fc8 1x1
 *    -> 2622 (the training identities; a softmax followed, unused here);
 *  - deepface's embedding is fc7's output after its ReLU (model.layers[-5]),
 *    L2-normalised in its forward(); the article's is fc8's 2622 values
 *    before the softmax (model.layers[-2]), as they are;
 *  - the file holds all 16 weighted layers (fc8 too, also for the 4096-d
 *    model: deepface loads the weights into the full network);
 *  - thresholds: deepface's verification.find_threshold, tuned by deepface
 *    on LFW for the 4096-d vectors; for 2622-d its commented-out entry.
 */
#include <limits.h>
#include <stdio.h>

#include "core/error.h"
#include "models/keras_model.h"

static fk_status vgg_build(fk_keras_h5 *k, fk_graph *g, int *out, int fc8) {
    static const int widths[5] = {64, 128, 256, 512, 512}, convs[5] = {2, 2, 3, 3, 3};
    fk_status st = FK_OK;
    int v = 0, in_c = 3;
    char name[32];
    for (int b = 0; b < 5; b++) {
        for (int i = 0; i < convs[b]; i++) {
            snprintf(name, sizeof name, "conv%d_%d", b + 1, i + 1);
            v = fk__keras_conv(k, g, v, name, 3, 3, in_c, widths[b], 1, FK_PAD_SAME,
                               FK_ACT_RELU, &st);
            in_c = widths[b];
        }
        if (st == FK_OK) v = fk__graph_pool(g, FK_OP_MAXPOOL, v, 2, 2, FK_PAD_VALID);
    }
    v = fk__keras_conv(k, g, v, "fc6", 7, 7, 512, 4096, 1, FK_PAD_VALID, FK_ACT_RELU, &st);
    v = fk__keras_conv(k, g, v, "fc7", 1, 1, 4096, 4096, 1, FK_PAD_VALID, FK_ACT_RELU, &st);
    /* fc8 is read either way: the file holds it */
    int v8 = fk__keras_conv(k, g, v, "fc8", 1, 1, 4096, 2622, 1, FK_PAD_VALID, FK_ACT_NONE, &st);
    *out = fc8 ? v8 : v;
    return st;
}

static fk_status vgg4096_build(fk_keras_h5 *k, fk_graph *g, int *out) {
    return vgg_build(k, g, out, 0);
}
static fk_status vgg2622_build(fk_keras_h5 *k, fk_graph *g, int *out) {
    return vgg_build(k, g, out, 1);
}

extern const fk_model_desc fk__model_vgg_face, fk__model_vgg_face_2622;
static const fk_keras_arch VGG4096 = {&fk__model_vgg_face, vgg4096_build, 1};
static const fk_keras_arch VGG2622 = {&fk__model_vgg_face_2622, vgg2622_build, 0};

static fk_status load_file_4096(const char *path, void **out) {
    return fk__keras_net_load(&VGG4096, path, (fk_keras_net **)out);
}
static fk_status load_file_2622(const char *path, void **out) {
    return fk__keras_net_load(&VGG2622, path, (fk_keras_net **)out);
}
static fk_status load_4096(const char *home, void **out) {
    char path[PATH_MAX];
    fk_status st = fk__user_weights_find(home, &fk__model_vgg_face, NULL, path, sizeof path);
    return st == FK_OK ? load_file_4096(path, out) : st;
}
static fk_status load_2622(const char *home, void **out) {
    char path[PATH_MAX];
    fk_status st = fk__user_weights_find(home, &fk__model_vgg_face_2622, NULL, path, sizeof path);
    return st == FK_OK ? load_file_2622(path, out) : st;
}

/* deepface's "base": its 0..1 values (BGR order is the fill's) */
static const fk_input_norm VGG_NORM = {"base", {0, 0, 0}, 1.0f / 255, 0};

#define VGG_COMMON                                                                  \
    .role = FK_ROLE_RECOGNIZER, .input = "224x224 BGR (deepface's letterboxed face)", \
    .input_w = 224, .input_h = 224, .layout = "NHWC float32",                       \
    .normalization = "pixel / 255 (deepface base)", .input_norm = &VGG_NORM,        \
    .chip = FK_ALIGN_DEEPFACE, .user_file = "vgg_face_weights.h5",                  \
    .origin = "deepface's Keras weights (serengil/deepface_models, vgg_face_weights.h5), " \
              "converted from the VGG-Face network of Parkhi, Vedaldi and Zisserman " \
              "(Oxford VGG, 2015)",                                                 \
    .license = "the user's own file; VGG-Face weights: non-commercial research use " \
               "(Oxford VGG)",                                                      \
    .free = fk__keras_free_hook, .embed = fk__keras_embed_hook

const fk_model_desc fk__model_vgg_face = {
    .name = "VGG-Face",
    VGG_COMMON,
    .output = "4096-d embedding (fc7 after ReLU, L2-normalised)",
    .dim = 4096,
    /* deepface verification.find_threshold, "4096d - tuned with LFW" */
    .thresholds = {[FK_COSINE] = 0.68f, [FK_EUCLIDEAN] = 1.17f, [FK_EUCLIDEAN_L2] = 1.17f,
                   [FK_ANGULAR] = 0.39f},
    .summary = "VGG-Face (VGG-16, Parkhi et al. 2015) from deepface's .h5, 224x224 -> 4096",
    .load = load_4096,
    .load_file = load_file_4096,
};

const fk_model_desc fk__model_vgg_face_2622 = {
    .name = "VGG-Face-2622",
    VGG_COMMON,
    .output = "2622-d descriptor (fc8 before the softmax, as the article takes it)",
    .dim = 2622,
    /* deepface's earlier thresholds for the 2622-d descriptor (kept
     * commented out in verification.find_threshold) */
    .thresholds = {[FK_COSINE] = 0.40f, [FK_EUCLIDEAN] = 0.60f, [FK_EUCLIDEAN_L2] = 0.86f,
                   [FK_ANGULAR] = 0.37f},
    .summary = "VGG-Face's 2622-d descriptor of the article, from the same .h5",
    .load = load_2622,
    .load_file = load_file_2622,
};
