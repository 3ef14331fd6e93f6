/*
 * fb_deepface.c - recognizer "DeepFace": Facebook's DeepFace network
 * (Taigman, Yang, Ranzato and Wolf, "DeepFace: Closing the Gap to Human-
 * Level Performance in Face Verification", CVPR 2014) as deepface rebuilds
 * it in Keras, with Swarup Ghosh's VGGFace2-trained weights
 * VGGFace2_DeepFace_weights_val-0.9034.h5, which the user brings
 * (keras_model.h says where it is looked for).
 *
 * Facts used (deepface models/facial_recognition/FbDeepFace.py):
 *  - input 152 x 152 x 3: deepface's letterboxed face, BGR, pixel / 255
 *    ("base" normalization);
 *  - C1 Conv2D 11x11 -> 32 VALID + ReLU (142x142), M2 MaxPooling2D 3x3
 *    stride 2 SAME (71x71), C3 Conv2D 9x9 -> 16 VALID + ReLU (63x63);
 *  - L4, L5, L6: LocallyConnected2D (a filter per output position) 9x9 ->
 *    16 (55x55), 7x7 stride 2 -> 16 (25x25), 5x5 -> 16 (21x21), all ReLU;
 *    Keras stores each kernel as [positions][kh * kw * in][16] and its bias
 *    as [oh][ow][16];
 *  - F0 Flatten (7056), F7 Dense 4096 + ReLU, D0 Dropout, F8 Dense 8631 +
 *    softmax (the VGGFace2 identities). deepface's model outputs
 *    layers[-3], F7: 4096-d, not normalised. F8 is in the file and is
 *    checked (shape, type) but not read: it is 141 MB the embedding never
 *    uses;
 *  - thresholds: deepface's verification.find_threshold.
 * The file holds 137.8 M values (about 550 MB as float32; L4 alone 62.7 M),
 * all but F8 read at load.
 */
#include <limits.h>

#include "core/error.h"
#include "models/keras_model.h"

/* The next layer as LocallyConnected2D `name`: k x k windows, stride s,
 * in_c -> out_c, over an input of ih x iw (VALID). */
static int local(fk_keras_h5 *k, fk_graph *g, int in, const char *name, int ks, int s,
                 int ih, int iw, int in_c, int out_c, fk_status *st) {
    if (*st != FK_OK) return -1;
    const int oh = (ih - ks) / s + 1, ow = (iw - ks) / s + 1;
    const fk_keras_weight spec[2] = {{"kernel", 3, {oh * ow, ks * ks * in_c, out_c}},
                                     {"bias", 3, {oh, ow, out_c}}};
    const float *w[2];
    *st = fk__keras_h5_layer(k, name, spec, 2, w);
    if (*st != FK_OK) return -1;
    fk_act relu = {.kind = FK_ACT_RELU};
    int v = fk__graph_local(g, in, w[0], w[1], ks, ks, in_c, out_c, s, oh, ow, relu);
    if (v < 0) *st = fk__graph_build_status(g);
    return v;
}

static fk_status deepface_build(fk_keras_h5 *k, fk_graph *g, int *out) {
    fk_status st = FK_OK;
    int v = fk__keras_conv(k, g, 0, "C1", 11, 11, 3, 32, 1, FK_PAD_VALID, FK_ACT_RELU, &st);
    if (st == FK_OK) v = fk__graph_pool(g, FK_OP_MAXPOOL, v, 3, 2, FK_PAD_SAME);
    v = fk__keras_conv(k, g, v, "C3", 9, 9, 32, 16, 1, FK_PAD_VALID, FK_ACT_RELU, &st);
    v = local(k, g, v, "L4", 9, 1, 63, 63, 16, 16, &st);
    v = local(k, g, v, "L5", 7, 2, 55, 55, 16, 16, &st);
    v = local(k, g, v, "L6", 5, 1, 25, 25, 16, 16, &st);
    v = fk__keras_dense(k, g, v, "F7", 21 * 21 * 16, 4096, FK_ACT_RELU, &st);
    if (st != FK_OK) return st;
    const fk_keras_weight f8[2] = {{"kernel", 2, {4096, 8631}}, {"bias", 1, {8631}}};
    st = fk__keras_h5_layer(k, "F8", f8, 2, NULL);
    if (st != FK_OK) return st;
    *out = v;
    return fk__graph_build_status(g);
}

extern const fk_model_desc fk__model_fb_deepface;
static const fk_keras_arch DEEPFACE = {&fk__model_fb_deepface, deepface_build, 0};

static fk_status load_file(const char *path, void **out) {
    return fk__keras_net_load(&DEEPFACE, path, (fk_keras_net **)out);
}
static fk_status load(const char *home, void **out) {
    char path[PATH_MAX];
    fk_status st = fk__user_weights_find(home, &fk__model_fb_deepface, NULL, path, sizeof path);
    return st == FK_OK ? load_file(path, out) : st;
}

static const fk_input_norm DEEPFACE_NORM = {"base", {0, 0, 0}, 1.0f / 255, 0};

const fk_model_desc fk__model_fb_deepface = {
    .name = "DeepFace",
    .role = FK_ROLE_RECOGNIZER,
    .input = "152x152 BGR (deepface's letterboxed face)",
    .input_w = 152,
    .input_h = 152,
    .layout = "NHWC float32",
    .normalization = "pixel / 255 (deepface base)",
    .input_norm = &DEEPFACE_NORM,
    .chip = FK_ALIGN_DEEPFACE,
    .user_file = "VGGFace2_DeepFace_weights_val-0.9034.h5",
    .output = "4096-d embedding (F7 after ReLU)",
    .dim = 4096,
    /* deepface verification.find_threshold */
    .thresholds = {[FK_COSINE] = 0.23f, [FK_EUCLIDEAN] = 64.0f, [FK_EUCLIDEAN_L2] = 0.64f,
                   [FK_ANGULAR] = 0.12f},
    .summary = "Facebook's DeepFace (Taigman et al. 2014) from deepface's .h5, 152x152 -> 4096",
    .origin = "deepface's FbDeepFace with swghosh/DeepFace's VGGFace2 weights "
              "(VGGFace2_DeepFace_weights_val-0.9034.h5); DeepFace architecture by Taigman, "
              "Yang, Ranzato and Wolf (Facebook AI Research, 2014)",
    .license = "the user's own file (swghosh/DeepFace: MIT)",
    .load = load,
    .free = fk__keras_free_hook,
    .embed = fk__keras_embed_hook,
    .load_file = load_file,
};
