/*
 * deepid.c - recognizer "DeepID": the DeepID network of Sun, Wang and Tang,
 * "Deep Learning Face Representation from Predicting 10,000 Classes" (CVPR
 * 2014), from deepface's Keras weights deepid_keras_weights.h5, which the
 * user brings (keras_model.h says where it is looked for).
 *
 * Facts used (deepface models/facial_recognition/DeepID.py):
 *  - input 55 rows x 47 columns x 3 (deepface's input_shape (47, 55) is
 *    width, height); deepface's letterboxed face, BGR, pixel / 255;
 *  - Conv1 4x4 -> 20, Conv2 3x3 -> 40, Conv3 3x3 -> 60, all VALID + ReLU,
 *    each followed by a 2x2/2 max pool (and a dropout, inactive at
 *    inference): 55x47 -> 26x22 -> 12x10 -> 5x4;
 *  - two heads on the third pool's 5x4x60: fc11 = Dense(160) of its
 *    flattening (1200), and Conv4 2x2 -> 80 VALID + ReLU (4x3x80), whose
 *    flattening (960) feeds fc12 = Dense(160); the output is ReLU(fc11 +
 *    fc12), 160-d, not normalised;
 *  - layer order in the file: Keras orders a functional model's layers by
 *    depth from the output, so Conv4 (depth 4) comes before fc11 and fc12
 *    (depth 2), which keep their build order;
 *  - thresholds: deepface's verification.find_threshold.
 */
#include <limits.h>

#include "core/error.h"
#include "models/keras_model.h"

static fk_status deepid_build(fk_keras_h5 *k, fk_graph *g, int *out) {
    fk_status st = FK_OK;
    int v = fk__keras_conv(k, g, 0, "Conv1", 4, 4, 3, 20, 1, FK_PAD_VALID, FK_ACT_RELU, &st);
    if (st == FK_OK) v = fk__graph_pool(g, FK_OP_MAXPOOL, v, 2, 2, FK_PAD_VALID);
    v = fk__keras_conv(k, g, v, "Conv2", 3, 3, 20, 40, 1, FK_PAD_VALID, FK_ACT_RELU, &st);
    if (st == FK_OK) v = fk__graph_pool(g, FK_OP_MAXPOOL, v, 2, 2, FK_PAD_VALID);
    v = fk__keras_conv(k, g, v, "Conv3", 3, 3, 40, 60, 1, FK_PAD_VALID, FK_ACT_RELU, &st);
    int p3 = st == FK_OK ? fk__graph_pool(g, FK_OP_MAXPOOL, v, 2, 2, FK_PAD_VALID) : -1;
    int c4 = fk__keras_conv(k, g, p3, "Conv4", 2, 2, 60, 80, 1, FK_PAD_VALID, FK_ACT_RELU, &st);
    int fc11 = fk__keras_dense(k, g, p3, "fc11", 5 * 4 * 60, 160, FK_ACT_NONE, &st);
    int fc12 = fk__keras_dense(k, g, c4, "fc12", 4 * 3 * 80, 160, FK_ACT_NONE, &st);
    if (st != FK_OK) return st;
    fk_act relu = {.kind = FK_ACT_RELU};
    *out = fk__graph_add(g, fc11, fc12, relu);
    return fk__graph_build_status(g);
}

extern const fk_model_desc fk__model_deepid;
static const fk_keras_arch DEEPID = {&fk__model_deepid, deepid_build, 0};

static fk_status load_file(const char *path, void **out) {
    return fk__keras_net_load(&DEEPID, path, (fk_keras_net **)out);
}
static fk_status load(const char *home, void **out) {
    char path[PATH_MAX];
    fk_status st = fk__user_weights_find(home, &fk__model_deepid, NULL, path, sizeof path);
    return st == FK_OK ? load_file(path, out) : st;
}

static const fk_input_norm DEEPID_NORM = {"base", {0, 0, 0}, 1.0f / 255, 0};

const fk_model_desc fk__model_deepid = {
    .name = "DeepID",
    .role = FK_ROLE_RECOGNIZER,
    .input = "47x55 BGR (deepface's letterboxed face)",
    .input_w = 47,
    .input_h = 55,
    .layout = "NHWC float32",
    .normalization = "pixel / 255 (deepface base)",
    .input_norm = &DEEPID_NORM,
    .chip = FK_ALIGN_DEEPFACE,
    .user_file = "deepid_keras_weights.h5",
    .output = "160-d embedding (ReLU(fc11 + fc12))",
    .dim = 160,
    /* deepface verification.find_threshold */
    .thresholds = {[FK_COSINE] = 0.015f, [FK_EUCLIDEAN] = 45.0f, [FK_EUCLIDEAN_L2] = 0.17f,
                   [FK_ANGULAR] = 0.04f},
    .summary = "DeepID (Sun et al. 2014) from deepface's .h5, 47x55 -> 160",
    .origin = "deepface's Keras weights (serengil/deepface_models, deepid_keras_weights.h5); "
              "DeepID architecture by Sun, Wang and Tang (CUHK, 2014)",
    .license = "the user's own file (deepface_models: MIT)",
    .load = load,
    .free = fk__keras_free_hook,
    .embed = fk__keras_embed_hook,
    .load_file = load_file,
};
