/*
 * faceapi_age_gender.c - analyzer "FaceApi-AgeGender": age and gender from
 * face-api's age_gender_model (@vladmandic/face-api 1.7.15, trained by
 * Vincent Mühler for face-api.js).
 *
 * Facts (face-api.js 0.22.2 build/commonjs/ageGenderNet/, xception/;
 * @vladmandic/face-api 1.7.15 src/ageGenderNet/, src/xception/):
 *  - input: face-api's face cut (faceapi_net.h: the detection box clipped,
 *    floored, zero-padded to a centred square, resized bilinearly without
 *    half-pixel centres to 112x112), (pixel - [122.782, 117.001, 104.298])
 *    / 255 (face-api.js 0.22.2 divided by 256 here; the 1.7.15 package
 *    whose weights these are divides by 255);
 *  - TinyXception with 2 middle blocks: conv_in 3x3/2 + bias + ReLU (32);
 *    reduction blocks entry_flow/reduction_block_0 (64, input not
 *    activated), _1 (128) and exit_flow/reduction_block (256), each
 *    sepconv0 -> ReLU -> sepconv1 -> 3x3/2 SAME max pool, plus a 1x1/2
 *    expansion conv (+ bias) of the block's input; middle_flow/main_block_0
 *    and _1: three ReLU -> sepconv in a row, plus the block's input; then
 *    exit_flow/separable_conv (512) + ReLU; every separable conv is face-api's
 *    depthwise 3x3 + pointwise + bias, SAME;
 *  - 7x7/2 VALID average pool -> 512 -> fc/age (1 value: the age in years,
 *    a plain regression) and fc/gender (2 values, softmax; face-api reads
 *    [0] as the probability of male: gender = male when it is > 0.5).
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "models/faceapi_net.h"
#include "models/model.h"

#define AG_MANIFEST "age_gender_model-weights_manifest.json"

typedef struct faceapi_age_gender {
    fk_net net;
    int age, gender; /* output values */
} faceapi_age_gender;

/* face-api's reductionBlock: the residual adds a strided 1x1 conv of the
 * block's input x, not of relu(x). */
static int reduction_block(fk_net *m, int x, const char *prefix, int in_c, int out_c,
                           int activate, fk_status *st) {
    fk_act relu = {.kind = FK_ACT_RELU}, none = {.kind = FK_ACT_NONE};
    char name[96];
    int v = activate ? fk__graph_unary(m->graph, FK_UN_RELU, x) : x;
    snprintf(name, sizeof name, "%s/separable_conv0", prefix);
    v = fk__faceapi_sepconv(m, v, name, in_c, out_c, 1, relu, st);
    snprintf(name, sizeof name, "%s/separable_conv1", prefix);
    v = fk__faceapi_sepconv(m, v, name, out_c, out_c, 1, none, st);
    if (*st != FK_OK) return -1;
    v = fk__graph_pool(m->graph, FK_OP_MAXPOOL, v, 3, 2, FK_PAD_SAME);
    snprintf(name, sizeof name, "%s/expansion_conv", prefix);
    int e = fk__faceapi_conv(m, x, name, 1, in_c, out_c, 2, none, st);
    if (*st != FK_OK) return -1;
    return fk__graph_add(m->graph, v, e, none);
}

/* face-api's mainBlock: relu -> sepconv, three times, plus x. */
static int main_block(fk_net *m, int x, int idx, int c, fk_status *st) {
    fk_act relu = {.kind = FK_ACT_RELU}, none = {.kind = FK_ACT_NONE};
    char name[96];
    int v = fk__graph_unary(m->graph, FK_UN_RELU, x);
    for (int k = 0; k < 3; k++) {
        snprintf(name, sizeof name, "middle_flow/main_block_%d/separable_conv%d", idx, k);
        v = fk__faceapi_sepconv(m, v, name, c, c, 1, k < 2 ? relu : none, st);
    }
    if (*st != FK_OK) return -1;
    return fk__graph_add(m->graph, v, x, none);
}

static fk_status ag_build(fk_net *m, void *model) {
    faceapi_age_gender *ag = model;
    fk_act relu = {.kind = FK_ACT_RELU}, none = {.kind = FK_ACT_NONE};
    fk_status st = FK_OK;
    int v = fk__faceapi_conv(m, 0, "entry_flow/conv_in", 3, 3, 32, 2, relu, &st);
    v = reduction_block(m, v, "entry_flow/reduction_block_0", 32, 64, 0, &st);
    v = reduction_block(m, v, "entry_flow/reduction_block_1", 64, 128, 1, &st);
    for (int i = 0; i < 2; i++) v = main_block(m, v, i, 128, &st);
    v = reduction_block(m, v, "exit_flow/reduction_block", 128, 256, 1, &st);
    v = fk__faceapi_sepconv(m, v, "exit_flow/separable_conv", 256, 512, 1, relu, &st);
    if (st != FK_OK) return st;
    v = fk__graph_pool(m->graph, FK_OP_AVGPOOL, v, 7, 2, FK_PAD_VALID);
    int aw[2] = {512, 1}, ab[1] = {1}, gw[2] = {512, 2}, gb[1] = {2};
    const fk_weight *age_w = fk__net_weight(m, "fc/age/weights", 2, aw, &st);
    const fk_weight *age_b = fk__net_weight(m, "fc/age/bias", 1, ab, &st);
    const fk_weight *gen_w = fk__net_weight(m, "fc/gender/weights", 2, gw, &st);
    const fk_weight *gen_b = fk__net_weight(m, "fc/gender/bias", 1, gb, &st);
    if (st != FK_OK) return st;
    ag->age = fk__graph_fc(m->graph, v, age_w->data, age_b->data, 512, 1, none);
    int logits = fk__graph_fc(m->graph, v, gen_w->data, gen_b->data, 512, 2, none);
    ag->gender = fk__graph_softmax(m->graph, logits);
    fk__graph_mark_output(m->graph, ag->age);
    fk__graph_mark_output(m->graph, ag->gender);
    return fk__graph_build_status(m->graph);
}

static fk_status ag_load(const char *home, void **out) {
    faceapi_age_gender *m = calloc(1, sizeof *m);
    if (!m) return fk__fail(FK_ENOMEM, "FaceApi-AgeGender: out of memory");
    fk_status st = fk__net_open(&m->net, "FaceApi-AgeGender", home, "face-api", AG_MANIFEST, 3,
                               ag_build, m);
    if (st != FK_OK) {
        free(m);
        return st;
    }
    *out = m;
    return FK_OK;
}

static void ag_free(void *model) {
    faceapi_age_gender *m = model;
    if (!m) return;
    fk__net_close(&m->net);
    free(m);
}

typedef struct ag_run {
    faceapi_age_gender *m;
    fk_attr_result *out;
} ag_run;

static void ag_take(void *ctx, int first, int count) {
    ag_run *r = ctx;
    const float *age = fk__graph_output(r->m->net.graph, r->m->age, NULL);
    const float *gender = fk__graph_output(r->m->net.graph, r->m->gender, NULL);
    for (int i = 0; i < count; i++) {
        fk_attr_result *o = &r->out[first + i];
        o->age = age[i];
        o->man = gender[2 * i];
        o->woman = gender[2 * i + 1];
    }
}

static fk_status ag_analyze(void *model, const fk_image *img, const fk_face *faces, int n,
                            fk_pool *pool, fk_attr_result *out) {
    ag_run r = {model, out};
    return fk__faceapi_run_faces(&r.m->net, img, faces, n, pool, ag_take, &r);
}

const fk_model_desc fk__model_faceapi_age_gender = {
    .name = "FaceApi-AgeGender",
    .role = FK_ROLE_ANALYZER,
    .files = {{"face-api", "model/" AG_MANIFEST}, {"face-api", "model/age_gender_model.bin"}},
    .input = "112x112 RGB, the face box padded to a centred square (face-api's cut)",
    .input_w = FK_FACEAPI_INPUT,
    .input_h = FK_FACEAPI_INPUT,
    .layout = "NHWC float32",
    .normalization = "(pixel - [122.782, 117.001, 104.298]) / 255",
    .output = "age in years (regression), gender 2 (man, woman), softmax",
    .summary = "face-api age_gender_model (TinyXception): age and gender, 112x112",
    .origin = "@vladmandic/face-api 1.7.15 age_gender_model; trained by Vincent Mühler "
              "(face-api.js), run by facekit's graph built from the weights manifest",
    .license = "MIT (face-api.js, @vladmandic/face-api)",
    .load = ag_load,
    .free = ag_free,
    .attributes = FK_ATTR_AGE | FK_ATTR_GENDER,
    .analyze = ag_analyze,
};
