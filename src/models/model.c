/*
 * model.c - helpers every model's run hook shares (see model.h): names for
 * roles and chip kinds, the finite-output check, and the padded second
 * pass of box-only detectors.
 */
#include "models/model.h"

#include <math.h>
#include <stdlib.h>
#include <strings.h>

#include "core/error.h"
#include "image/image.h"

const char *fk__model_role_name(fk_model_role role) {
    switch (role) {
    case FK_ROLE_DETECTOR: return "detector";
    case FK_ROLE_LANDMARKS: return "landmarks";
    case FK_ROLE_RECOGNIZER: return "recognizer";
    case FK_ROLE_ANALYZER: return "analyzer";
    case FK_ROLE_ANTISPOOF: return "anti-spoofing";
    }
    return "?";
}

const char *fk__align_kind_name(fk_align_kind kind) {
    switch (kind) {
    case FK_ALIGN_DLIB68: return "dlib68";
    case FK_ALIGN_ARCFACE5: return "arcface5";
    case FK_ALIGN_EYES_BOX: return "eyes-box";
    case FK_ALIGN_DEEPFACE: return "deepface";
    case FK_ALIGN_NONE: break;
    }
    return "";
}

/* ---- input normalization --------------------------------------------------
 * deepface's names and formulas (deepface/modules/preprocessing.py,
 * normalize_input), written for 0..255 RGB chips. deepface applies its
 * VGGFace means to BGR arrays (B 93.5940, G 104.7624, R 129.1863); here they
 * sit on the same colours in RGB order. */
static const fk_input_norm NORMS[] = {
    {"raw", {0, 0, 0}, 1.0f, 0},
    {"Facenet", {0, 0, 0}, 1.0f, 1},
    {"Facenet2018", {127.5f, 127.5f, 127.5f}, 1.0f / 127.5f, 0},
    {"VGGFace", {129.1863f, 104.7624f, 93.5940f}, 1.0f, 0},
    {"VGGFace2", {131.0912f, 103.8827f, 91.4953f}, 1.0f, 0},
    {"ArcFace", {127.5f, 127.5f, 127.5f}, 1.0f / 128, 0},
};
#define NNORMS ((int)(sizeof NORMS / sizeof NORMS[0]))

const char *fk__input_norm_names(void) {
    return "base, raw, Facenet, Facenet2018, VGGFace, VGGFace2, ArcFace";
}

fk_status fk__input_norm_find(const char *name, const fk_input_norm **out) {
    *out = NULL;
    if (!name || !strcasecmp(name, "base")) return FK_OK;
    for (int i = 0; i < NNORMS; i++)
        if (!strcasecmp(name, NORMS[i].name)) {
            *out = &NORMS[i];
            return FK_OK;
        }
    return fk__fail(FK_EINVAL, "unknown normalization '%s'; valid: %s", name,
                   fk__input_norm_names());
}

void fk__input_norm_fill(const fk_input_norm *n, const fk_image *chip, float *dst) {
    const int w = chip->width, h = chip->height;
    float mean[3] = {n->mean[0], n->mean[1], n->mean[2]}, scale = n->scale;
    if (n->per_image) { /* numpy's mean and (population) std of the chip */
        double sum = 0, sq = 0;
        for (int y = 0; y < h; y++) {
            const uint8_t *row = chip->data + (size_t)y * chip->stride;
            for (int k = 0; k < w * 3; k++) {
                sum += row[k];
                sq += (double)row[k] * row[k];
            }
        }
        double cnt = (double)w * h * 3, m = sum / cnt, var = sq / cnt - m * m;
        double sd = var > 1e-12 ? sqrt(var) : 1.0; /* a flat chip: no NaN */
        mean[0] = mean[1] = mean[2] = (float)m;
        scale = (float)(1.0 / sd);
    }
    for (int y = 0; y < h; y++) {
        const uint8_t *row = chip->data + (size_t)y * chip->stride;
        for (int k = 0; k < w * 3; k++) *dst++ = (row[k] - mean[k % 3]) * scale;
    }
}

/* One axis of cv2.resize's INTER_LINEAR: source index and weight of each
 * destination index (src_x = (x + 0.5) * src / dst - 0.5, clamped). */
static void linear_axis(int dst, int src, int *i0, int *i1, float *t) {
    const double scale = (double)src / dst;
    for (int x = 0; x < dst; x++) {
        double f = (x + 0.5) * scale - 0.5;
        int i = (int)floor(f);
        float w = (float)(f - i);
        if (i < 0) i = 0, w = 0;
        if (i >= src - 1) i = src - 1, w = 0;
        i0[x] = i;
        i1[x] = i + 1 < src ? i + 1 : src - 1;
        t[x] = w;
    }
}

void fk__input_norm_fill_letterbox(const fk_input_norm *n, const fk_image *face, int w,
                                   int h, float *dst) {
    const int fw = face->width, fh = face->height, fc = face->channels;
    double f = fmin((double)h / fh, (double)w / fw);
    int dw = (int)(fw * f), dh = (int)(fh * f);
    if (dw > w) dw = w; /* rounding never gets here; never write past */
    if (dh > h) dh = h;
    if (dw < 1) dw = 1;
    if (dh < 1) dh = 1;
    const int top = (h - dh) / 2, left = (w - dw) / 2;
    for (long i = 0; i < (long)w * h * 3; i++) dst[i] = 0;
    /* The tables are small (input sides), on the stack up to 1024. */
    int xi0[1024], xi1[1024], yi0[1024], yi1[1024];
    float xt[1024], yt[1024];
    if (dw > 1024 || dh > 1024) return; /* no model is that large */
    linear_axis(dw, fw, xi0, xi1, xt);
    linear_axis(dh, fh, yi0, yi1, yt);
    for (int y = 0; y < dh; y++) {
        const uint8_t *r0 = face->data + (size_t)yi0[y] * face->stride;
        const uint8_t *r1 = face->data + (size_t)yi1[y] * face->stride;
        float *o = dst + ((size_t)(top + y) * w + left) * 3;
        for (int x = 0; x < dw; x++, o += 3) {
            const int a = xi0[x] * fc, b = xi1[x] * fc;
            for (int c = 0; c < 3; c++) {
                const int k = fc == 3 ? 2 - c : 0; /* BGR */
                float v0 = r0[a + k] + (r0[b + k] - r0[a + k]) * xt[x];
                float v1 = r1[a + k] + (r1[b + k] - r1[a + k]) * xt[x];
                o[c] = v0 + (v1 - v0) * yt[y];
            }
        }
    }
    float mean[3] = {n->mean[2], n->mean[1], n->mean[0]}, scale = n->scale; /* BGR */
    const long cnt = (long)w * h * 3;
    if (n->per_image) {
        double sum = 0, sq = 0;
        for (long i = 0; i < cnt; i++) {
            sum += dst[i];
            sq += (double)dst[i] * dst[i];
        }
        double m = sum / cnt, var = sq / cnt - m * m;
        double sd = var > 1e-12 ? sqrt(var) : 1.0;
        mean[0] = mean[1] = mean[2] = (float)m;
        scale = (float)(1.0 / sd);
    }
    for (long i = 0; i < cnt; i++) dst[i] = (dst[i] - mean[i % 3]) * scale;
}

/* ---- finite outputs ------------------------------------------------------
 * A weight file damaged on disk (or a kernel bug) shows up as NaN or Inf in
 * the outputs. Left alone, a NaN embedding gives a NaN distance that
 * compares false against every threshold, and a NaN score silently drops
 * faces; so every run hook's output passes through here. The scan costs
 * one pass over values the caller is about to read anyway. */

fk_status fk__check_finite(const fk_model_desc *m, const char *what,
                          const float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return fk__fail(FK_EMODEL,
                           "model %s produced a non-finite %s (value %zu is %s): its "
                           "weight files are probably damaged; run `facekit models "
                           "verify`, then `facekit models fetch` to reinstall them",
                           m->name, what, i, isnan(v[i]) ? "NaN" : "infinite");
    return FK_OK;
}

fk_status fk__check_detections(const fk_model_desc *m, const fk_detection *d,
                              int n) {
    for (int i = 0; i < n; i++) {
        const fk_detection *f = &d[i];
        const float box[5] = {f->x0, f->y0, f->x1, f->y1, f->score};
        const float eyes[4] = {f->left_eye.x, f->left_eye.y, f->right_eye.x,
                               f->right_eye.y};
        fk_status st = fk__check_finite(m, "detection box or score", box, 5);
        if (st == FK_OK) st = fk__check_finite(m, "eye position", eyes, 4);
        for (int k = 0; st == FK_OK && k < f->keypoint_count && k < FK_MAX_KEYPOINTS; k++) {
            const float kp[2] = {f->keypoints[k].x, f->keypoints[k].y};
            st = fk__check_finite(m, "keypoint", kp, 2);
        }
        if (st != FK_OK) return st;
    }
    return FK_OK;
}

/* ---- box-only detectors ------------------------------------------------- */

fk_status fk__detect_boxes_padded_retry(void *model, fk_box_pass_fn pass,
                                       const fk_image *img, float min_score,
                                       fk_pool *pool, fk_detection **out,
                                       int *count) {
    fk_box *boxes = NULL;
    int n = 0, px = 0, py = 0;
    fk_status st = pass(model, img, min_score, pool, &boxes, &n);
    if (st == FK_OK && n == 0) {
        free(boxes);
        boxes = NULL;
        px = img->width / 2;
        py = img->height / 2;
        fk_image *canvas = NULL;
        st = fk__image_pad(img, px, py, px, py, 0, &canvas);
        if (st == FK_OK) st = pass(model, canvas, min_score, pool, &boxes, &n);
        fk_image_free(canvas);
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
    int kept = 0;
    for (int i = 0; i < n; i++) {
        float x0 = boxes[i].x0 - px, y0 = boxes[i].y0 - py;
        float x1 = boxes[i].x1 - px, y1 = boxes[i].y1 - py;
        fk_detection *f = &d[kept];
        f->x0 = x0 < 0 ? 0 : x0;
        f->y0 = y0 < 0 ? 0 : y0;
        f->x1 = x1 > img->width ? (float)img->width : x1;
        f->y1 = y1 > img->height ? (float)img->height : y1;
        f->score = boxes[i].score;
        if (f->x1 - f->x0 >= 1 && f->y1 - f->y0 >= 1) kept++;
    }
    free(boxes);
    *out = d;
    *count = kept;
    return FK_OK;
}
