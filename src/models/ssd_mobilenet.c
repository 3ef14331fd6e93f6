/*
 * ssd_mobilenet.c - detector "ssd": SSD with a MobileNetV1 backbone, trained
 * on WIDER FACE (face-api's ssd_mobilenetv1_model).
 *
 * Facts used (from the model's weights and face-api's description of it):
 *  - input 512x512 RGB; the image is padded to a square at the bottom/right
 *    with black, resized, then scaled as x * (2/255) - 1;
 *  - backbone: a 3x3/2 conv, then 13 depthwise-separable blocks (depthwise
 *    conv + batch-norm + ReLU6, pointwise conv + folded-BN offset + ReLU6);
 *    blocks 2, 4, 6 and 12 have stride 2; block 11's output feeds the first
 *    box predictor;
 *  - extra layers: 8 convs (1x1, then 3x3/2, alternating) with ReLU6;
 *  - six box predictors (on block 11, block 13, extras 1, 3, 5, 7) with 3 or
 *    6 anchors per cell give 5118 anchors; box encodings (ty, tx, th, tw)
 *    decode against the stored anchors with scale factors 10 and 5; the face
 *    score is the sigmoid of class logit 1;
 *  - greedy non-maximum suppression at IoU 0.5.
 * Batch-norm of the depthwise layers is folded into their filters at load.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "image/image.h"
#include "models/face_models.h"
#include "models/model.h"
#include "models/net.h"

#define SSD_MANIFEST "ssd_mobilenetv1_model-weights_manifest.json"

/* Raw scores are checked for NaN/Inf before thresholding: a NaN compares
 * false with the threshold and would silently drop the face. */
extern const fk_model_desc fk__model_ssd;

#define SSD_INPUT 512
#define SSD_ANCHORS 5118
#define SSD_BN_EPSILON 0.0010000000474974513f
#define SSD_IOU 0.5f
#define SSD_MAX_RESULTS 100

struct fk_ssd {
    fk_net net;
    int box_out[6], class_out[6];
    const float *anchors; /* [5118][4]: ymin, xmin, ymax, xmax */
};

/* A "pointwise" layer in the checkpoint's naming: conv + offset + ReLU6. */
static int ssd_conv(fk_net *m, int in, const char *prefix, int idx, int k,
                    int in_c, int out_c, int stride, fk_status *st) {
    char name[128];
    int wshape[4] = {k, k, in_c, out_c};
    int bshape[1] = {out_c};
    snprintf(name, sizeof name, "%s/Conv2d_%d_pointwise/weights", prefix, idx);
    const fk_weight *w = fk__net_weight(m, name, 4, wshape, st);
    snprintf(name, sizeof name, "%s/Conv2d_%d_pointwise/convolution_bn_offset",
             prefix, idx);
    const fk_weight *b = fk__net_weight(m, name, 1, bshape, st);
    if (*st != FK_OK) return -1;
    fk_act relu6 = {.kind = FK_ACT_RELU6};
    return fk__graph_conv(m->graph, in, w->data, b->data, k, k, in_c, out_c,
                         stride, FK_PAD_SAME, relu6);
}

/* Depthwise 3x3 + batch-norm (folded here) + ReLU6. */
static int ssd_depthwise(fk_net *m, int in, int idx, int c, int stride,
                         fk_status *st) {
    char name[128];
    const fk_weight *bn[4];
    int wshape[4] = {3, 3, c, 1};
    int vshape[1] = {c};
    static const char *parts[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
    snprintf(name, sizeof name, "MobilenetV1/Conv2d_%d_depthwise/depthwise_weights", idx);
    const fk_weight *w = fk__net_weight(m, name, 4, wshape, st);
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "MobilenetV1/Conv2d_%d_depthwise/BatchNorm/%s",
                 idx, parts[i]);
        bn[i] = fk__net_weight(m, name, 1, vshape, st);
    }
    float *folded = fk__net_scratch(m, (size_t)(9 * c + c), st);
    if (*st != FK_OK) return -1;
    const fk_weight *gamma = bn[0], *beta = bn[1], *mean = bn[2], *var = bn[3];
    float *bias = folded + 9 * c;
    for (int ch = 0; ch < c; ch++) {
        float s = gamma->data[ch] / sqrtf(var->data[ch] + SSD_BN_EPSILON);
        for (int k = 0; k < 9; k++) folded[k * c + ch] = w->data[k * c + ch] * s;
        bias[ch] = beta->data[ch] - mean->data[ch] * s;
    }
    fk_act relu6 = {.kind = FK_ACT_RELU6};
    return fk__graph_depthwise(m->graph, in, folded, bias, 3, 3, c, stride,
                              FK_PAD_SAME, relu6);
}

/* One box predictor: a 1x1 conv for encodings and one for class logits. */
static fk_status ssd_predictor(fk_net *m, fk_ssd *ssd, int in, int idx,
                               int in_c, int anchors) {
    const char *kinds[2] = {"BoxEncodingPredictor", "ClassPredictor"};
    int outs[2] = {anchors * 4, anchors * 3};
    for (int k = 0; k < 2; k++) {
        char name[128];
        int wshape[4] = {1, 1, in_c, outs[k]};
        int bshape[1] = {outs[k]};
        fk_status st = FK_OK;
        snprintf(name, sizeof name, "Prediction/BoxPredictor_%d/%s/weights", idx, kinds[k]);
        const fk_weight *w = fk__net_weight(m, name, 4, wshape, &st);
        snprintf(name, sizeof name, "Prediction/BoxPredictor_%d/%s/biases", idx, kinds[k]);
        const fk_weight *b = fk__net_weight(m, name, 1, bshape, &st);
        if (st != FK_OK) return st;
        fk_act none = {.kind = FK_ACT_NONE};
        int v = fk__graph_conv(m->graph, in, w->data, b->data, 1, 1, in_c,
                              outs[k], 1, FK_PAD_SAME, none);
        if (v < 0) return FK_OK; /* reported by plan */
        fk__graph_mark_output(m->graph, v);
        if (k == 0) ssd->box_out[idx] = v;
        else ssd->class_out[idx] = v;
    }
    return FK_OK;
}

/* Build the whole network from the loaded weights. */
static fk_status ssd_build(fk_net *m, void *model) {
    fk_ssd *ssd = model;
    fk_status st = FK_OK;
    static const int pw_out[14] = {32, 64, 128, 128, 256, 256, 512, 512,
                                   512, 512, 512, 512, 1024, 1024};
    int v = ssd_conv(m, 0, "MobilenetV1", 0, 3, 3, 32, 2, &st);
    if (st != FK_OK) return st;
    int conv11 = -1;
    for (int i = 1; i <= 13; i++) {
        int stride = (i == 2 || i == 4 || i == 6 || i == 12) ? 2 : 1;
        v = ssd_depthwise(m, v, i, pw_out[i - 1], stride, &st);
        if (st != FK_OK) return st;
        v = ssd_conv(m, v, "MobilenetV1", i, 1, pw_out[i - 1], pw_out[i], 1, &st);
        if (st != FK_OK) return st;
        if (i == 11) conv11 = v;
    }
    int features = v;
    static const int ex_in[8] = {1024, 256, 512, 128, 256, 128, 256, 64};
    static const int ex_out[8] = {256, 512, 128, 256, 128, 256, 64, 128};
    int extra[8];
    for (int i = 0; i < 8; i++) {
        int odd = i & 1;
        v = ssd_conv(m, v, "Prediction", i, odd ? 3 : 1, ex_in[i], ex_out[i],
                     odd ? 2 : 1, &st);
        if (st != FK_OK) return st;
        extra[i] = v;
    }
    const int pred_in[6] = {conv11, features, extra[1], extra[3], extra[5], extra[7]};
    const int pred_c[6] = {512, 1024, 512, 256, 256, 128};
    for (int p = 0; p < 6; p++) {
        st = ssd_predictor(m, ssd, pred_in[p], p, pred_c[p], p == 0 ? 3 : 6);
        if (st != FK_OK) return st;
    }
    int ashape[3] = {1, SSD_ANCHORS, 4};
    const fk_weight *anchors = fk__net_weight(m, "Output/extra_dim", 3, ashape, &st);
    if (st != FK_OK) return st;
    ssd->anchors = anchors->data;
    return fk__graph_plan(m->graph, 1, SSD_INPUT, SSD_INPUT);
}

fk_status fk__ssd_load(const char *home, fk_ssd **out) {
    if (!out) return fk__fail(FK_EINVAL, "fk__ssd_load: out is NULL");
    *out = NULL;
    fk_ssd *m = calloc(1, sizeof *m);
    if (!m) return fk__fail(FK_ENOMEM, "ssd: out of memory");
    fk_status st = fk__net_open(&m->net, "ssd_mobilenetv1_model", home, "face-api",
                               SSD_MANIFEST, 3,
                               ssd_build, m);
    if (st != FK_OK) {
        free(m);
        return st;
    }
    *out = m;
    return FK_OK;
}

void fk__ssd_free(fk_ssd *m) {
    if (!m) return;
    fk__net_close(&m->net);
    free(m);
}

/* Pad to a square at the bottom/right, resize to 512 and normalise into
 * the net's input buffer. Returns the side of the padded square in image pixels. */
static fk_status ssd_prepare(fk_ssd *m, const fk_image *img, int *side) {
    int s = img->width > img->height ? img->width : img->height;
    fk_image *sq = NULL, *rs = NULL;
    fk_status st = fk__image_pad(img, 0, 0, s - img->width, s - img->height, 0, &sq);
    if (st == FK_OK) st = fk__image_resize(sq, SSD_INPUT, SSD_INPUT, &rs);
    fk_image_free(sq);
    if (st != FK_OK) return st;
    float *input = fk__net_input(&m->net, (size_t)SSD_INPUT * SSD_INPUT * 3);
    if (!input) {
        fk_image_free(rs);
        return FK_ENOMEM;
    }
    const float scale = 0.007843137718737125f;
    for (int y = 0; y < SSD_INPUT; y++) {
        const uint8_t *row = rs->data + (size_t)y * rs->stride;
        float *dst = input + (size_t)y * SSD_INPUT * 3;
        for (int x = 0; x < SSD_INPUT * 3; x++) dst[x] = row[x] * scale - 1.0f;
    }
    fk_image_free(rs);
    *side = s;
    return FK_OK;
}

static float box_iou(const fk_box *a, const fk_box *b) {
    float area_a = (a->x1 - a->x0) * (a->y1 - a->y0);
    float area_b = (b->x1 - b->x0) * (b->y1 - b->y0);
    if (area_a <= 0 || area_b <= 0) return 0;
    float ix = fminf(a->x1, b->x1) - fmaxf(a->x0, b->x0);
    float iy = fminf(a->y1, b->y1) - fmaxf(a->y0, b->y0);
    if (ix <= 0 || iy <= 0) return 0;
    float inter = ix * iy;
    return inter / (area_a + area_b - inter);
}

static int box_by_score(const void *x, const void *y) {
    const fk_box *a = x, *b = y;
    return a->score < b->score ? 1 : a->score > b->score ? -1 : 0;
}

/* Greedy NMS over boxes sorted by score; compacts in place, returns count. */
static int nms(fk_box *boxes, int n, float iou, int max_out) {
    int kept = 0;
    for (int i = 0; i < n && kept < max_out; i++) {
        int keep = 1;
        for (int j = 0; j < kept && keep; j++)
            if (box_iou(&boxes[i], &boxes[j]) > iou) keep = 0;
        if (keep) boxes[kept++] = boxes[i];
    }
    return kept;
}

fk_status fk__ssd_detect(fk_ssd *m, const fk_image *img, float min_score,
                        fk_pool *pool, fk_box **boxes, int *count) {
    if (!m || !img || !boxes || !count || img->channels != 3)
        return fk__fail(FK_EINVAL, "fk__ssd_detect: bad arguments");
    *boxes = NULL;
    *count = 0;
    int side;
    fk_status st = ssd_prepare(m, img, &side);
    if (st != FK_OK) return st;
    st = fk__net_run(&m->net, 1, SSD_INPUT, SSD_INPUT, pool);
    if (st != FK_OK) return st;

    fk_box *cand = malloc(sizeof *cand * SSD_ANCHORS);
    if (!cand) return fk__fail(FK_ENOMEM, "ssd: out of memory");
    int n = 0, anchor = 0;
    /* The logit above which sigmoid(logit) >= min_score. */
    float min_logit = min_score <= 0 ? -INFINITY
                    : min_score >= 1 ? INFINITY
                    : logf(min_score / (1 - min_score));
    for (int p = 0; p < 6; p++) {
        fk_shape4 bs, cs;
        const float *enc = fk__graph_output(m->net.graph, m->box_out[p], &bs);
        const float *cls = fk__graph_output(m->net.graph, m->class_out[p], &cs);
        st = fk__check_finite(&fk__model_ssd, "class score", cls, (size_t)cs.h * cs.w * cs.c);
        if (st != FK_OK) {
            free(cand);
            return st;
        }
        int per_cell = bs.c / 4;
        long cells = (long)bs.h * bs.w;
        for (long cell = 0; cell < cells; cell++)
            for (int a = 0; a < per_cell; a++, anchor++) {
                float logit = cls[cell * per_cell * 3 + a * 3 + 1];
                if (logit < min_logit || anchor >= SSD_ANCHORS) continue;
                const float *e = enc + cell * per_cell * 4 + a * 4;
                const float *an = m->anchors + (long)anchor * 4;
                float ah = an[2] - an[0], aw = an[3] - an[1];
                float cy = an[0] + ah / 2 + e[0] / 10 * ah;
                float cx = an[1] + aw / 2 + e[1] / 10 * aw;
                float hh = expf(e[2] / 5) * ah / 2, hw = expf(e[3] / 5) * aw / 2;
                fk_box b;
                b.y0 = fmaxf(0.0f, cy - hh) * side;
                b.x0 = fmaxf(0.0f, cx - hw) * side;
                b.y1 = fminf(1.0f, cy + hh) * side;
                b.x1 = fminf(1.0f, cx + hw) * side;
                b.x1 = fminf(b.x1, (float)img->width);
                b.y1 = fminf(b.y1, (float)img->height);
                b.score = 1.0f / (1.0f + expf(-logit));
                if (b.x1 > b.x0 && b.y1 > b.y0) cand[n++] = b;
            }
    }
    if (anchor != SSD_ANCHORS) {
        free(cand);
        return fk__fail(FK_EMODEL, "%s: network produced %d anchors, expected %d",
                       m->net.what, anchor, SSD_ANCHORS);
    }
    qsort(cand, (size_t)n, sizeof *cand, box_by_score);
    n = nms(cand, n, SSD_IOU, SSD_MAX_RESULTS);
    *boxes = cand;
    *count = n;
    return FK_OK;
}

fk_graph *fk__ssd_graph(fk_ssd *m, int *h, int *w) {
    if (h) *h = SSD_INPUT;
    if (w) *w = SSD_INPUT;
    return m ? m->net.graph : NULL;
}

/* ---- the description ----------------------------------------------------
 * The SSD detector scores faces that fill the whole frame low (it was
 * trained on scenes, and users pass pre-cropped faces: LFW is such a set).
 * When the first pass finds nothing, we run it again on the image centred in
 * a black canvas twice its size, where such faces look like the ones it
 * knows, and map the boxes back. */

static fk_status ssd_pass(void *model, const fk_image *img, float min_score,
                          fk_pool *pool, fk_box **boxes, int *count) {
    return fk__ssd_detect(model, img, min_score, pool, boxes, count);
}
static fk_status ssd_detect_hook(void *model, const fk_image *img, float min_score,
                                 fk_pool *pool, fk_detection **out, int *count) {
    return fk__detect_boxes_padded_retry(model, ssd_pass, img, min_score, pool, out, count);
}
static fk_status ssd_load_hook(const char *home, void **out) {
    return fk__ssd_load(home, (fk_ssd **)out);
}
static void ssd_free_hook(void *m) { fk__ssd_free(m); }

const fk_model_desc fk__model_ssd = {
    .name = "ssd",
    .role = FK_ROLE_DETECTOR,
    .files = {{"face-api", "model/" SSD_MANIFEST},
              {"face-api", "model/ssd_mobilenetv1_model.bin"}},
    .input = "512x512 RGB",
    .input_w = SSD_INPUT,
    .input_h = SSD_INPUT,
    .layout = "NHWC float32, image padded to a square (bottom/right)",
    .normalization = "pixel * 2/255 - 1",
    .output = "boxes + scores (5118 anchors, NMS at IoU 0.5)",
    .summary = "SSD MobileNetV1 trained on WIDER FACE (face-api), 512x512",
    .origin = "@vladmandic/face-api 1.7.15 (from face-api.js by Vincent Mühler); "
              "SSD MobileNetV1 trained on WIDER FACE, weights by yeephycho "
              "(tensorflow-face-detection)",
    .license = "package MIT; weights Apache-2.0 (yeephycho); WIDER FACE dataset terms "
               "apply to the training data",
    .load = ssd_load_hook,
    .free = ssd_free_hook,
    .detect = ssd_detect_hook,
};
