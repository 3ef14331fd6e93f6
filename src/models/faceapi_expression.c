/*
 * faceapi_expression.c - analyzer "FaceApi-Expression": the 7 emotions from
 * face-api's face_expression_model (@vladmandic/face-api 1.7.15, trained
 * by Vincent Mühler for face-api.js).
 *
 * Facts (face-api.js 0.22.2 build/commonjs/faceExpressionNet/,
 * faceFeatureExtractor/, faceProcessor/; @vladmandic/face-api 1.7.15
 * src/faceExpressionNet/, src/faceFeatureExtractor/):
 *  - input: face-api's face cut (faceapi_net.h: the detection box clipped,
 *    floored, zero-padded to a centred square, resized bilinearly without
 *    half-pixel centres to 112x112), (pixel - [122.782, 117.001, 104.298])
 *    / 255;
 *  - FaceFeatureExtractor (the dense blocks of the 68-point landmark net,
 *    faceapi_net.c) -> 256 -> fc (7) -> softmax, in face-api's order
 *    neutral, happy, sad, angry, fearful, disgusted, surprised
 *    (FACE_EXPRESSION_LABELS), given here in deepface's order angry,
 *    disgust, fear, happy, sad, surprise, neutral.
 */
#include <stdlib.h>

#include "core/error.h"
#include "models/faceapi_net.h"
#include "models/model.h"

#define EX_MANIFEST "face_expression_model-weights_manifest.json"

/* deepface's emotion k is face-api's output TO_FACEAPI[k] */
static const int TO_FACEAPI[FK_EMOTION_COUNT] = {3, 5, 4, 1, 2, 6, 0};

typedef struct faceapi_expression {
    fk_net net;
    int out;
} faceapi_expression;

static fk_status ex_build(fk_net *m, void *model) {
    faceapi_expression *ex = model;
    fk_act none = {.kind = FK_ACT_NONE};
    fk_status st = FK_OK;
    int v = fk__faceapi_feature_extractor(m, &st);
    int ws[2] = {256, 7}, bs[1] = {7};
    const fk_weight *w = fk__net_weight(m, "fc/weights", 2, ws, &st);
    const fk_weight *b = fk__net_weight(m, "fc/bias", 1, bs, &st);
    if (st != FK_OK) return st;
    v = fk__graph_fc(m->graph, v, w->data, b->data, 256, 7, none);
    ex->out = fk__graph_softmax(m->graph, v);
    fk__graph_mark_output(m->graph, ex->out);
    return fk__graph_build_status(m->graph);
}

static fk_status ex_load(const char *home, void **out) {
    faceapi_expression *m = calloc(1, sizeof *m);
    if (!m) return fk__fail(FK_ENOMEM, "FaceApi-Expression: out of memory");
    fk_status st = fk__net_open(&m->net, "FaceApi-Expression", home, "face-api", EX_MANIFEST,
                               3, ex_build, m);
    if (st != FK_OK) {
        free(m);
        return st;
    }
    *out = m;
    return FK_OK;
}

static void ex_free(void *model) {
    faceapi_expression *m = model;
    if (!m) return;
    fk__net_close(&m->net);
    free(m);
}

typedef struct ex_run {
    faceapi_expression *m;
    fk_attr_result *out;
} ex_run;

static void ex_take(void *ctx, int first, int count) {
    ex_run *r = ctx;
    const float *p = fk__graph_output(r->m->net.graph, r->m->out, NULL);
    for (int i = 0; i < count; i++)
        for (int k = 0; k < FK_EMOTION_COUNT; k++)
            r->out[first + i].emotion[k] = p[i * 7 + TO_FACEAPI[k]];
}

static fk_status ex_analyze(void *model, const fk_image *img, const fk_face *faces, int n,
                            fk_pool *pool, fk_attr_result *out) {
    ex_run r = {model, out};
    return fk__faceapi_run_faces(&r.m->net, img, faces, n, pool, ex_take, &r);
}

const fk_model_desc fk__model_faceapi_expression = {
    .name = "FaceApi-Expression",
    .role = FK_ROLE_ANALYZER,
    .files = {{"face-api", "model/" EX_MANIFEST},
              {"face-api", "model/face_expression_model.bin"}},
    .input = "112x112 RGB, the face box padded to a centred square (face-api's cut)",
    .input_w = FK_FACEAPI_INPUT,
    .input_h = FK_FACEAPI_INPUT,
    .layout = "NHWC float32",
    .normalization = "(pixel - [122.782, 117.001, 104.298]) / 255",
    .output = "7 emotions (face-api: neutral, happy, sad, angry, fearful, disgusted, "
              "surprised; given in deepface's order), softmax",
    .summary = "face-api face_expression_model: 7 emotions, 112x112",
    .origin = "@vladmandic/face-api 1.7.15 face_expression_model; trained by Vincent Mühler "
              "(face-api.js), run by facekit's graph built from the weights manifest",
    .license = "MIT (face-api.js, @vladmandic/face-api)",
    .load = ex_load,
    .free = ex_free,
    .attributes = FK_ATTR_EMOTION,
    .analyze = ex_analyze,
};
