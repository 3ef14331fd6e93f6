/*
 * dlib_resnet.c - recognizer "Dlib": dlib's ResNet face descriptor as ported
 * by face-api (face_recognition_model), 150x150 RGB -> 128-d.
 *
 * Facts used:
 *  - input: an aligned 150x150 chip, normalised (x - [122.782, 117.001,
 *    104.298]) / 256;
 *  - a 7x7/2 VALID conv (32), 3x3/2 VALID max pool, then residual blocks:
 *    3 x 32, a down block + 3 x 64, a down block + 2 x 128, a down block +
 *    2 x 256, and a final 256 down block; every conv is conv + bias followed
 *    by a per-channel affine "scale" layer (folded into the conv at load);
 *  - a residual block: relu(conv2(relu(conv1(x))) + x), 3x3 SAME convs;
 *  - a down block: conv1 is 3x3/2 VALID; the shortcut is a 2x2/2 average
 *    pool of x, zero-extended in channels, and the conv path is zero-extended
 *    by a row and a column where its spatial size comes out one short;
 *  - global average pool, then a 256x128 matrix (no bias).
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "models/face_models.h"
#include "models/model.h"
#include "models/net.h"

#define DLIB_MANIFEST "face_recognition_model-weights_manifest.json"

struct fk_dlib_resnet {
    fk_net net;
    int out;
};

/* conv + bias + scale layer `prefix`, folded into one conv. */
static int dr_conv(fk_net *net, int in, const char *prefix, int k, int in_c,
                   int out_c, int stride, fk_padding pad, int relu,
                   fk_status *st) {
    char name[96];
    int fshape[4] = {k, k, in_c, out_c}, vshape[1] = {out_c};
    snprintf(name, sizeof name, "%s/conv/filters", prefix);
    const fk_weight *f = fk__net_weight(net, name, 4, fshape, st);
    snprintf(name, sizeof name, "%s/conv/bias", prefix);
    const fk_weight *b = fk__net_weight(net, name, 1, vshape, st);
    snprintf(name, sizeof name, "%s/scale/weights", prefix);
    const fk_weight *sw = fk__net_weight(net, name, 1, vshape, st);
    snprintf(name, sizeof name, "%s/scale/biases", prefix);
    const fk_weight *sb = fk__net_weight(net, name, 1, vshape, st);
    long n = (long)k * k * in_c;
    float *folded = fk__net_scratch(net, (size_t)(n * out_c + out_c), st);
    if (*st != FK_OK) return -1;
    float *bias = folded + n * out_c;
    for (long i = 0; i < n; i++)
        for (int o = 0; o < out_c; o++)
            folded[i * out_c + o] = f->data[i * out_c + o] * sw->data[o];
    for (int o = 0; o < out_c; o++) bias[o] = b->data[o] * sw->data[o] + sb->data[o];
    fk_act act = {.kind = relu ? FK_ACT_RELU : FK_ACT_NONE};
    return fk__graph_conv(net->graph, in, folded, bias, k, k, in_c, out_c, stride,
                         pad, act);
}

static int dr_residual(fk_net *m, int x, const char *name, int c,
                       fk_status *st) {
    char p1[64], p2[64];
    snprintf(p1, sizeof p1, "%s/conv1", name);
    snprintf(p2, sizeof p2, "%s/conv2", name);
    int v = dr_conv(m, x, p1, 3, c, c, 1, FK_PAD_SAME, 1, st);
    v = dr_conv(m, v, p2, 3, c, c, 1, FK_PAD_SAME, 0, st);
    if (*st != FK_OK) return -1;
    fk_act relu = {.kind = FK_ACT_RELU};
    return fk__graph_add(m->graph, v, x, relu);
}

static int dr_down(fk_net *m, int x, const char *name, int in_c,
                   int out_c, fk_status *st) {
    char p1[64], p2[64];
    snprintf(p1, sizeof p1, "%s/conv1", name);
    snprintf(p2, sizeof p2, "%s/conv2", name);
    int v = dr_conv(m, x, p1, 3, in_c, out_c, 2, FK_PAD_VALID, 1, st);
    v = dr_conv(m, v, p2, 3, out_c, out_c, 1, FK_PAD_SAME, 0, st);
    if (*st != FK_OK) return -1;
    int pooled = fk__graph_pool(m->graph, FK_OP_AVGPOOL, x, 2, 2, FK_PAD_VALID);
    fk_act relu = {.kind = FK_ACT_RELU};
    return fk__graph_add(m->graph, pooled, v, relu);
}

static fk_status dr_build(fk_net *m, void *model) {
    fk_dlib_resnet *dr = model;
    fk_status st = FK_OK;
    int v = dr_conv(m, 0, "conv32_down", 7, 3, 32, 2, FK_PAD_VALID, 1, &st);
    if (st != FK_OK) return st;
    v = fk__graph_pool(m->graph, FK_OP_MAXPOOL, v, 3, 2, FK_PAD_VALID);
    v = dr_residual(m, v, "conv32_1", 32, &st);
    v = dr_residual(m, v, "conv32_2", 32, &st);
    v = dr_residual(m, v, "conv32_3", 32, &st);
    v = dr_down(m, v, "conv64_down", 32, 64, &st);
    v = dr_residual(m, v, "conv64_1", 64, &st);
    v = dr_residual(m, v, "conv64_2", 64, &st);
    v = dr_residual(m, v, "conv64_3", 64, &st);
    v = dr_down(m, v, "conv128_down", 64, 128, &st);
    v = dr_residual(m, v, "conv128_1", 128, &st);
    v = dr_residual(m, v, "conv128_2", 128, &st);
    v = dr_down(m, v, "conv256_down", 128, 256, &st);
    v = dr_residual(m, v, "conv256_1", 256, &st);
    v = dr_residual(m, v, "conv256_2", 256, &st);
    v = dr_down(m, v, "conv256_down_out", 256, 256, &st);
    if (st != FK_OK) return st;
    v = fk__graph_mean_hw(m->graph, v);
    int fshape[2] = {256, FK_DLIB_DIM};
    const fk_weight *fc = fk__net_weight(m, "fc", 2, fshape, &st);
    if (st != FK_OK) return st;
    fk_act none = {.kind = FK_ACT_NONE};
    dr->out = fk__graph_fc(m->graph, v, fc->data, NULL, 256, FK_DLIB_DIM, none);
    fk__graph_mark_output(m->graph, dr->out);
    return fk__graph_plan(m->graph, 1, FK_DLIB_CHIP, FK_DLIB_CHIP);
}

fk_status fk__dlib_resnet_load(const char *home, fk_dlib_resnet **out) {
    if (!out) return fk__fail(FK_EINVAL, "fk__dlib_resnet_load: out is NULL");
    *out = NULL;
    fk_dlib_resnet *m = calloc(1, sizeof *m);
    if (!m) return fk__fail(FK_ENOMEM, "Dlib: out of memory");
    fk_status st = fk__net_open(&m->net, "face_recognition_model", home, "face-api",
                               DLIB_MANIFEST, 3,
                               dr_build, m);
    if (st != FK_OK) {
        free(m);
        return st;
    }
    *out = m;
    return FK_OK;
}

void fk__dlib_resnet_free(fk_dlib_resnet *m) {
    if (!m) return;
    fk__net_close(&m->net);
    free(m);
}

static const fk_input_norm DLIB_NORM = {"base", {122.782f, 117.001f, 104.298f},
                                        1.0f / 256, 0};

fk_status fk__dlib_resnet_embed(fk_dlib_resnet *m, const fk_image *const *chips,
                               int n, const fk_input_norm *norm, fk_pool *pool,
                               float *out) {
    if (!m || !chips || n <= 0 || !out)
        return fk__fail(FK_EINVAL, "fk__dlib_resnet_embed: bad arguments");
    const long per = (long)FK_DLIB_CHIP * FK_DLIB_CHIP * 3;
    for (int i = 0; i < n; i++)
        if (!chips[i] || chips[i]->width != FK_DLIB_CHIP ||
            chips[i]->height != FK_DLIB_CHIP || chips[i]->channels != 3)
            return fk__fail(FK_EINVAL, "Dlib: chip %d is not a 150x150 RGB image", i);
    float *input = fk__net_input(&m->net, (size_t)(per * n));
    if (!input) return FK_ENOMEM;
    for (int i = 0; i < n; i++) fk__input_norm_fill(norm ? norm : &DLIB_NORM, chips[i], input + per * i);
    fk_status st = fk__net_run(&m->net, n, FK_DLIB_CHIP, FK_DLIB_CHIP, pool);
    if (st != FK_OK) return st;
    const float *o = fk__graph_output(m->net.graph, m->out, NULL);
    for (long i = 0; i < (long)n * FK_DLIB_DIM; i++) out[i] = o[i];
    return FK_OK;
}

fk_graph *fk__dlib_resnet_graph(fk_dlib_resnet *m, int *h, int *w) {
    if (h) *h = FK_DLIB_CHIP;
    if (w) *w = FK_DLIB_CHIP;
    return m ? m->net.graph : NULL;
}

/* ---- the description ---------------------------------------------------- */

static fk_status dlib_load_hook(const char *home, void **out) {
    return fk__dlib_resnet_load(home, (fk_dlib_resnet **)out);
}
static void dlib_free_hook(void *m) { fk__dlib_resnet_free(m); }
static fk_status dlib_embed_hook(void *model, const fk_image *const *chips, int n,
                                 const fk_input_norm *norm, fk_pool *pool, float *out) {
    return fk__dlib_resnet_embed(model, chips, n, norm, pool, out);
}

const fk_model_desc fk__model_dlib = {
    .name = "Dlib",
    .role = FK_ROLE_RECOGNIZER,
    .files = {{"face-api", "model/" DLIB_MANIFEST},
              {"face-api", "model/face_recognition_model.bin"}},
    .input = "150x150 RGB",
    .input_w = FK_DLIB_CHIP,
    .input_h = FK_DLIB_CHIP,
    .layout = "NHWC float32",
    .normalization = "(pixel - [122.782, 117.001, 104.298]) / 256",
    .input_norm = &DLIB_NORM,
    /* dlib-style 150x150 chips */
    .chip = FK_ALIGN_DLIB68,
    .padding = 0.25,
    .output = "128-d embedding",
    .dim = FK_DLIB_DIM,
    /* Verify thresholds per (model, metric): a pair is the same person when its
     * distance is <= the threshold. Each is the accuracy-maximising threshold
     * found by
     *   facekit eval --pairs ../shared/data/lfw-devtrain/pairsDevTrain.txt \
     *                --images ../shared/data/lfw-devtrain/images
     * (2200 pairs, detector ssd, align on), rounded to 3 decimals; the accuracy
     * it gave there is in the comment and in the README. */
    .thresholds = {
        [FK_COSINE] = 0.092f,       /* 98.64% */
        [FK_EUCLIDEAN] = 0.619f,    /* 98.68% */
        [FK_EUCLIDEAN_L2] = 0.429f, /* 98.64% */
        [FK_ANGULAR] = 0.138f,      /* 98.64% */
    },
    .summary = "dlib ResNet-34-like face descriptor (face-api), 150x150 -> 128",
    .origin = "@vladmandic/face-api 1.7.15; ResNet-34-like network by Davis King "
              "(dlib), ported to TF.js by Vincent Mühler (face-api.js)",
    .license = "package MIT; weights released into the public domain by Davis King "
               "(dlib-models)",
    .load = dlib_load_hook,
    .free = dlib_free_hook,
    .embed = dlib_embed_hook,
};
