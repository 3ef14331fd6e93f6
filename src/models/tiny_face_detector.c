/*
 * tiny_face_detector.c - detector "tiny": face-api's Tiny Face Detector
 * (tiny_face_detector_model), a Tiny-YOLOv2-style network with
 * depthwise-separable convolutions, trained by Vincent Mühler.
 *
 * Facts used (face-api.js build/commonjs/tinyFaceDetector/ and tinyYolov2/,
 * and the weights manifest):
 *  - input: the image padded to a square at the bottom/right with black,
 *    resized to the input size (416 by default, a multiple of 32), then
 *    (x - mean_rgb) / 256 with mean_rgb = (117.001, 114.697, 97.404);
 *  - conv0: 3x3 conv, 3 -> 16, VALID padding, bias, leaky ReLU (slope 0.1);
 *  - conv1..conv5: separable blocks (3x3 depthwise, SAME, no bias; then 1x1
 *    pointwise + bias; leaky 0.1), widths 32, 64, 128, 256, 512;
 *  - a 2x2 max pool (SAME) after conv0..conv4 with stride 2 and after conv5
 *    with stride 1, so 416 -> 414 -> 207 -> 104 -> 52 -> 26 -> 13 -> 13;
 *  - conv8: 1x1 conv, 512 -> 25 (5 anchors x [tx, ty, tw, th, score]);
 *  - decoding per cell (row, col) and anchor a, relative to the square:
 *    cx = (col + sigmoid(tx)) / cells, cy = (row + sigmoid(ty)) / cells,
 *    w = exp(tw) * anchor_w[a] / cells, h = exp(th) * anchor_h[a] / cells,
 *    score = sigmoid(t_score); anchors (1.603231, 2.094468),
 *    (6.041143, 7.080126), (2.882459, 3.518061), (4.266906, 5.178857),
 *    (9.041765, 10.66308);
 *  - greedy non-maximum suppression at IoU 0.4.
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

#define TINY_MANIFEST "tiny_face_detector_model-weights_manifest.json"

/* Raw scores are checked for NaN/Inf before thresholding: a NaN compares
 * false with the threshold and would silently drop the face. */
extern const fk_model_desc fk__model_tiny;

#define TINY_ANCHORS 5
#define TINY_IOU 0.4f
#define TINY_MAX_RESULTS 100

static const float TINY_ANCHOR_W[TINY_ANCHORS] = {1.603231f, 6.041143f, 2.882459f, 4.266906f, 9.041765f};
static const float TINY_ANCHOR_H[TINY_ANCHORS] = {2.094468f, 7.080126f, 3.518061f, 5.178857f, 10.66308f};
static const float TINY_MEAN[3] = {117.001f, 114.697f, 97.404f};

struct fk_tiny_face {
    fk_net net;
    int out;      /* value id of conv8 */
};

/* A separable block: depthwise 3x3 (no bias), pointwise 1x1 + bias, leaky. */
static int tiny_separable(fk_net *m, int in, int idx, int in_c, int out_c, fk_status *st) {
    char name[64];
    int dshape[4] = {3, 3, in_c, 1}, pshape[4] = {1, 1, in_c, out_c}, bshape[1] = {out_c};
    snprintf(name, sizeof name, "conv%d/depthwise_filter", idx);
    const fk_weight *dw = fk__net_weight(m, name, 4, dshape, st);
    snprintf(name, sizeof name, "conv%d/pointwise_filter", idx);
    const fk_weight *pw = fk__net_weight(m, name, 4, pshape, st);
    snprintf(name, sizeof name, "conv%d/bias", idx);
    const fk_weight *b = fk__net_weight(m, name, 1, bshape, st);
    if (*st != FK_OK) return -1;
    fk_act none = {.kind = FK_ACT_NONE}, leaky = {.kind = FK_ACT_LEAKY, .alpha = 0.1f};
    int v = fk__graph_depthwise(m->graph, in, dw->data, NULL, 3, 3, in_c, 1, FK_PAD_SAME, none);
    return fk__graph_conv(m->graph, v, pw->data, b->data, 1, 1, in_c, out_c, 1, FK_PAD_SAME, leaky);
}

static fk_status tiny_build(fk_net *m, void *model) {
    fk_tiny_face *t = model;
    fk_status st = FK_OK;
    int w0shape[4] = {3, 3, 3, 16}, b0shape[1] = {16};
    int w8shape[4] = {1, 1, 512, 25}, b8shape[1] = {25};
    const fk_weight *w0 = fk__net_weight(m, "conv0/filters", 4, w0shape, &st);
    const fk_weight *b0 = fk__net_weight(m, "conv0/bias", 1, b0shape, &st);
    const fk_weight *w8 = fk__net_weight(m, "conv8/filters", 4, w8shape, &st);
    const fk_weight *b8 = fk__net_weight(m, "conv8/bias", 1, b8shape, &st);
    if (st != FK_OK) return st;
    fk_act none = {.kind = FK_ACT_NONE}, leaky = {.kind = FK_ACT_LEAKY, .alpha = 0.1f};
    int v = fk__graph_conv(m->graph, 0, w0->data, b0->data, 3, 3, 3, 16, 1, FK_PAD_VALID, leaky);
    v = fk__graph_pool(m->graph, FK_OP_MAXPOOL, v, 2, 2, FK_PAD_SAME);
    static const int widths[6] = {16, 32, 64, 128, 256, 512};
    for (int i = 1; i <= 5; i++) {
        v = tiny_separable(m, v, i, widths[i - 1], widths[i], &st);
        if (st != FK_OK) return st;
        v = fk__graph_pool(m->graph, FK_OP_MAXPOOL, v, 2, i < 5 ? 2 : 1, FK_PAD_SAME);
    }
    v = fk__graph_conv(m->graph, v, w8->data, b8->data, 1, 1, 512, 25, 1, FK_PAD_VALID, none);
    fk__graph_mark_output(m->graph, v);
    t->out = v;
    return fk__graph_plan(m->graph, 1, FK_TINY_INPUT, FK_TINY_INPUT);
}

fk_status fk__tiny_face_load(const char *home, fk_tiny_face **out) {
    if (!out) return fk__fail(FK_EINVAL, "fk__tiny_face_load: out is NULL");
    *out = NULL;
    fk_tiny_face *m = calloc(1, sizeof *m);
    if (!m) return fk__fail(FK_ENOMEM, "tiny: out of memory");
    fk_status st = fk__net_open(&m->net, "tiny_face_detector_model", home, "face-api",
                               TINY_MANIFEST, 3,
                               tiny_build, m);
    if (st != FK_OK) {
        free(m);
        return st;
    }
    *out = m;
    return FK_OK;
}

void fk__tiny_face_free(fk_tiny_face *m) {
    if (!m) return;
    fk__net_close(&m->net);
    free(m);
}

/* Pad to a square (bottom/right, black), resize to size x size and
 * normalise into the net input. *side = the square's side in pixels. */
static fk_status tiny_prepare(fk_tiny_face *m, const fk_image *img, int size, int *side) {
    int s = img->width > img->height ? img->width : img->height;
    fk_image *sq = NULL, *rs = NULL;
    fk_status st = fk__image_pad(img, 0, 0, s - img->width, s - img->height, 0, &sq);
    if (st == FK_OK)
        st = s > size ? fk__image_resize_area(sq, size, size, &rs)
                      : fk__image_resize(sq, size, size, &rs);
    fk_image_free(sq);
    if (st != FK_OK) return st;
    float *input = fk__net_input(&m->net, (size_t)size * size * 3);
    if (!input) {
        fk_image_free(rs);
        return FK_ENOMEM;
    }
    for (int y = 0; y < size; y++) {
        const uint8_t *row = rs->data + (size_t)y * rs->stride;
        float *dst = input + (size_t)y * size * 3;
        for (int x = 0; x < size * 3; x++) dst[x] = (row[x] - TINY_MEAN[x % 3]) / 256.0f;
    }
    fk_image_free(rs);
    *side = s;
    return FK_OK;
}

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

static float iou(const fk_box *a, const fk_box *b) {
    float ix = fminf(a->x1, b->x1) - fmaxf(a->x0, b->x0);
    float iy = fminf(a->y1, b->y1) - fmaxf(a->y0, b->y0);
    if (ix <= 0 || iy <= 0) return 0;
    float inter = ix * iy;
    float area = (a->x1 - a->x0) * (a->y1 - a->y0) + (b->x1 - b->x0) * (b->y1 - b->y0) - inter;
    return area > 0 ? inter / area : 0;
}

static int by_score(const void *x, const void *y) {
    const fk_box *a = x, *b = y;
    return a->score < b->score ? 1 : a->score > b->score ? -1 : 0;
}

fk_status fk__tiny_face_detect(fk_tiny_face *m, const fk_image *img, int input_size,
                              float min_score, fk_pool *pool, fk_box **boxes, int *count) {
    if (!m || !img || !boxes || !count || img->channels != 3)
        return fk__fail(FK_EINVAL, "fk__tiny_face_detect: bad arguments");
    if (input_size == 0) input_size = FK_TINY_INPUT;
    if (input_size < 64 || input_size > 2048 || input_size % 32 != 0)
        return fk__fail(FK_EINVAL, "tiny: input size %d must be a multiple of 32 in 64..2048", input_size);
    *boxes = NULL;
    *count = 0;
    int side;
    fk_status st = tiny_prepare(m, img, input_size, &side);
    if (st == FK_OK) st = fk__net_run(&m->net, 1, input_size, input_size, pool);
    if (st != FK_OK) return st;
    fk_shape4 os;
    const float *out = fk__graph_output(m->net.graph, m->out, &os);
    if (os.c != TINY_ANCHORS * 5 || os.h != os.w)
        return fk__fail(FK_EMODEL, "%s: unexpected output %dx%dx%d", m->net.what, os.h, os.w, os.c);
    int cells = os.h;
    st = fk__check_finite(&fk__model_tiny, "output", out, (size_t)os.h * os.w * os.c);
    if (st != FK_OK) return st;
    fk_box *cand = malloc(sizeof *cand * (size_t)cells * cells * TINY_ANCHORS);
    if (!cand) return fk__fail(FK_ENOMEM, "tiny: out of memory");
    int n = 0;
    for (int row = 0; row < cells; row++)
        for (int col = 0; col < cells; col++)
            for (int a = 0; a < TINY_ANCHORS; a++) {
                const float *e = out + ((size_t)row * cells + col) * os.c + a * 5;
                float score = sigmoidf(e[4]);
                if (score < min_score) continue;
                float cx = (col + sigmoidf(e[0])) / cells, cy = (row + sigmoidf(e[1])) / cells;
                float w = expf(e[2]) * TINY_ANCHOR_W[a] / cells;
                float h = expf(e[3]) * TINY_ANCHOR_H[a] / cells;
                fk_box b;
                b.x0 = fmaxf(0.0f, (cx - w / 2) * side);
                b.y0 = fmaxf(0.0f, (cy - h / 2) * side);
                b.x1 = fminf((float)img->width, (cx + w / 2) * side);
                b.y1 = fminf((float)img->height, (cy + h / 2) * side);
                b.score = score;
                if (b.x1 > b.x0 && b.y1 > b.y0) cand[n++] = b;
            }
    qsort(cand, (size_t)n, sizeof *cand, by_score);
    int kept = 0;
    for (int i = 0; i < n && kept < TINY_MAX_RESULTS; i++) {
        int keep = 1;
        for (int j = 0; j < kept && keep; j++)
            if (iou(&cand[i], &cand[j]) > TINY_IOU) keep = 0;
        if (keep) cand[kept++] = cand[i];
    }
    *boxes = cand;
    *count = kept;
    return FK_OK;
}

fk_graph *fk__tiny_face_graph(fk_tiny_face *m, int *h, int *w) {
    if (h) *h = FK_TINY_INPUT;
    if (w) *w = FK_TINY_INPUT;
    return m ? m->net.graph : NULL;
}

/* ---- the description ----------------------------------------------------
 * Like SSD it misses faces that fill the whole frame (on LFW's 250x250
 * crops, 506 of 3443 images had no face at 0.5). When the first pass finds
 * nothing we run it again on the image centred in a black canvas twice its
 * size and map the boxes back. It gives boxes and scores only; the detect
 * stage takes the eyes from the 68-point landmarks. */

static fk_status tiny_pass(void *model, const fk_image *img, float min_score,
                           fk_pool *pool, fk_box **boxes, int *count) {
    return fk__tiny_face_detect(model, img, FK_TINY_INPUT, min_score, pool, boxes, count);
}
static fk_status tiny_detect_hook(void *model, const fk_image *img, float min_score,
                                  fk_pool *pool, fk_detection **out, int *count) {
    return fk__detect_boxes_padded_retry(model, tiny_pass, img, min_score, pool, out, count);
}
static fk_status tiny_load_hook(const char *home, void **out) {
    return fk__tiny_face_load(home, (fk_tiny_face **)out);
}
static void tiny_free_hook(void *m) { fk__tiny_face_free(m); }

const fk_model_desc fk__model_tiny = {
    .name = "tiny",
    .role = FK_ROLE_DETECTOR,
    .files = {{"face-api", "model/" TINY_MANIFEST},
              {"face-api", "model/tiny_face_detector_model.bin"}},
    .input = "416x416 RGB",
    .input_w = FK_TINY_INPUT,
    .input_h = FK_TINY_INPUT,
    .layout = "NHWC float32, image padded to a square (bottom/right)",
    .normalization = "(pixel - [117.001, 114.697, 97.404]) / 256",
    .output = "boxes + scores (13x13 cells x 5 anchors, NMS at IoU 0.4)",
    .summary = "Tiny Face Detector (face-api), YOLO-style, 416x416",
    .origin = "@vladmandic/face-api 1.7.15; Tiny Face Detector (Tiny-YOLOv2 style, "
              "separable convs) trained by Vincent Mühler (face-api.js)",
    .license = "MIT (face-api.js, @vladmandic/face-api)",
    .load = tiny_load_hook,
    .free = tiny_free_hook,
    .detect = tiny_detect_hook,
};
