/*
 * face_landmark68.c - 68-point facial landmarks (face-api's
 * face_landmark_68_model).
 *
 * Facts used:
 *  - input: the face box, padded to a square (centred, black) and resized to
 *    112x112 RGB, normalised as (x - [122.782, 117.001, 104.298]) / 255;
 *  - face-api's FaceFeatureExtractor (faceapi_net.c: four dense blocks,
 *    7x7/2 average pool -> 256 features) -> fully connected -> 136
 *    values: (x, y) of each point relative to the padded square, in 0..1.
 */
#include <stdlib.h>

#include "core/error.h"
#include "image/image.h"
#include "models/face_models.h"
#include "models/faceapi_net.h"
#include "models/model.h"
#include "models/net.h"

#define LM_MANIFEST "face_landmark_68_model-weights_manifest.json"

#define LM_INPUT 112

struct fk_landmarks68 {
    fk_net net;
    int out;
};

static fk_status lm_build(fk_net *m, void *model) {
    fk_landmarks68 *lm = model;
    fk_status st = FK_OK;
    int v = fk__faceapi_feature_extractor(m, &st);
    if (st != FK_OK) return st;
    int wshape[2] = {256, 136}, bshape[1] = {136};
    const fk_weight *w = fk__net_weight(m, "fc/weights", 2, wshape, &st);
    const fk_weight *b = fk__net_weight(m, "fc/bias", 1, bshape, &st);
    if (st != FK_OK) return st;
    fk_act none = {.kind = FK_ACT_NONE};
    lm->out = fk__graph_fc(m->graph, v, w->data, b->data, 256, 136, none);
    fk__graph_mark_output(m->graph, lm->out);
    return fk__graph_plan(m->graph, 1, LM_INPUT, LM_INPUT);
}

fk_status fk__landmarks68_load(const char *home, fk_landmarks68 **out) {
    if (!out) return fk__fail(FK_EINVAL, "fk__landmarks68_load: out is NULL");
    *out = NULL;
    fk_landmarks68 *m = calloc(1, sizeof *m);
    if (!m) return fk__fail(FK_ENOMEM, "landmarks: out of memory");
    fk_status st = fk__net_open(&m->net, "face_landmark_68_model", home, "face-api",
                               LM_MANIFEST, 3,
                               lm_build, m);
    if (st != FK_OK) {
        free(m);
        return st;
    }
    *out = m;
    return FK_OK;
}

void fk__landmarks68_free(fk_landmarks68 *m) {
    if (!m) return;
    fk__net_close(&m->net);
    free(m);
}

fk_status fk__landmarks68_run(fk_landmarks68 *m, const fk_image *img, float x,
                             float y, float w, float h, fk_pool *pool,
                             fk_point pts[68]) {
    if (!m || !img || !pts || img->channels != 3 || !(w >= 1) || !(h >= 1))
        return fk__fail(FK_EINVAL, "fk__landmarks68_run: bad arguments");
    /* The box as face-api crops it: clipped to the image, whole pixels. */
    int x0 = (int)(x < 0 ? 0 : x), y0 = (int)(y < 0 ? 0 : y);
    int x1 = (int)(x + w + 0.5f), y1 = (int)(y + h + 0.5f);
    if (x1 > img->width) x1 = img->width;
    if (y1 > img->height) y1 = img->height;
    if (x1 - x0 < 1 || y1 - y0 < 1)
        return fk__fail(FK_EINVAL, "landmarks: face box lies outside the image");
    int bw = x1 - x0, bh = y1 - y0;
    int side = bw > bh ? bw : bh;
    int px = (side - bw) / 2, py = (side - bh) / 2;
    /* Crop the padded square directly: outside the box reads black. */
    fk_image *crop = NULL, *sq = NULL, *rs = NULL;
    fk_status st = fk__image_crop(img, x0, y0, bw, bh, 0, &crop);
    if (st == FK_OK) st = fk__image_pad(crop, px, py, side - bw - px, side - bh - py, 0, &sq);
    if (st == FK_OK) st = fk__image_resize(sq, LM_INPUT, LM_INPUT, &rs);
    fk_image_free(crop);
    fk_image_free(sq);
    if (st != FK_OK) return st;
    float *input = fk__net_input(&m->net, (size_t)LM_INPUT * LM_INPUT * 3);
    if (!input) {
        fk_image_free(rs);
        return FK_ENOMEM;
    }
    static const float mean[3] = {122.782f, 117.001f, 104.298f};
    for (int yy = 0; yy < LM_INPUT; yy++) {
        const uint8_t *row = rs->data + (size_t)yy * rs->stride;
        float *dst = input + (size_t)yy * LM_INPUT * 3;
        for (int i = 0; i < LM_INPUT * 3; i++) dst[i] = (row[i] - mean[i % 3]) / 255.0f;
    }
    fk_image_free(rs);
    st = fk__net_run(&m->net, 1, LM_INPUT, LM_INPUT, pool);
    if (st != FK_OK) return st;
    const float *o = fk__graph_output(m->net.graph, m->out, NULL);
    for (int i = 0; i < 68; i++) {
        pts[i].x = x0 - px + o[2 * i] * side;
        pts[i].y = y0 - py + o[2 * i + 1] * side;
    }
    return FK_OK;
}

void fk__landmarks68_eyes(const fk_point pts[68], fk_point *left_eye,
                         fk_point *right_eye) {
    fk_point l = {0, 0}, r = {0, 0};
    for (int i = 0; i < 6; i++) {
        r.x += pts[36 + i].x / 6; r.y += pts[36 + i].y / 6;
        l.x += pts[42 + i].x / 6; l.y += pts[42 + i].y / 6;
    }
    *left_eye = l;
    *right_eye = r;
}

fk_graph *fk__landmarks68_graph(fk_landmarks68 *m, int *h, int *w) {
    if (h) *h = LM_INPUT;
    if (w) *w = LM_INPUT;
    return m ? m->net.graph : NULL;
}

/* ---- the description ---------------------------------------------------- */

static fk_status lm_load_hook(const char *home, void **out) {
    return fk__landmarks68_load(home, (fk_landmarks68 **)out);
}
static void lm_free_hook(void *m) { fk__landmarks68_free(m); }
static fk_status lm_run_hook(void *model, const fk_image *img, float x, float y,
                             float w, float h, fk_pool *pool, fk_point *pts) {
    return fk__landmarks68_run(model, img, x, y, w, h, pool, pts);
}

const fk_model_desc fk__model_landmarks68 = {
    .name = "landmarks68",
    .role = FK_ROLE_LANDMARKS,
    .files = {{"face-api", "model/" LM_MANIFEST},
              {"face-api", "model/face_landmark_68_model.bin"}},
    .input = "112x112 RGB",
    .input_w = LM_INPUT,
    .input_h = LM_INPUT,
    .layout = "NHWC float32, face box padded to a centred square",
    .normalization = "(pixel - [122.782, 117.001, 104.298]) / 255",
    .output = "68 points",
    .dim = 68,
    .summary = "68-point landmarks (face-api), 112x112",
    .origin = "@vladmandic/face-api 1.7.15; 68-point landmark net trained by "
              "Vincent Mühler (face-api.js) on ~35k labelled faces",
    .license = "MIT (face-api.js, @vladmandic/face-api)",
    .load = lm_load_hook,
    .free = lm_free_hook,
    .landmarks = lm_run_hook,
};
