/*
 * detect.c - the detect stage (see detect.h).
 *
 * The SSD detector scores faces that fill the whole frame low (it was
 * trained on scenes, and users pass pre-cropped faces: LFW is such a set).
 * When the first pass finds nothing, we run it again on the image centred in
 * a black canvas twice its size, where such faces look like the ones it
 * knows, and map the boxes back.
 */
#include "detect/detect.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "image/image.h"

double fk_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Run SSD, retrying on a padded canvas when nothing is found. */
static fk_status ssd_boxes(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                           float min_score, fk_box **boxes, int *n) {
    fk_ssd *ssd;
    fk_status st = fk_zoo_ssd(zoo, &ssd);
    if (st != FK_OK) return st;
    st = fk_ssd_detect(ssd, img, min_score, pool, boxes, n);
    if (st != FK_OK || *n > 0) return st;
    free(*boxes);
    *boxes = NULL;
    int px = img->width / 2, py = img->height / 2;
    fk_image *canvas = NULL;
    st = fk_image_pad(img, px, py, px, py, 0, &canvas);
    if (st != FK_OK) return st;
    st = fk_ssd_detect(ssd, canvas, min_score, pool, boxes, n);
    fk_image_free(canvas);
    if (st != FK_OK) return st;
    for (int i = 0; i < *n; i++) {
        fk_box *b = &(*boxes)[i];
        b->x0 -= px; b->x1 -= px; b->y0 -= py; b->y1 -= py;
        if (b->x0 < 0) b->x0 = 0;
        if (b->y0 < 0) b->y0 = 0;
        if (b->x1 > img->width) b->x1 = (float)img->width;
        if (b->y1 > img->height) b->y1 = (float)img->height;
    }
    return FK_OK;
}

/* Grow a box by `pct` percent of its size, keeping its centre, clipped. */
static void expand_box(fk_face *f, float pct, int iw, int ih) {
    if (pct <= 0) return;
    float dw = f->w * pct / 100.0f, dh = f->h * pct / 100.0f;
    float x0 = f->x - dw / 2, y0 = f->y - dh / 2;
    float x1 = f->x + f->w + dw / 2, y1 = f->y + f->h + dh / 2;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > iw) x1 = (float)iw;
    if (y1 > ih) y1 = (float)ih;
    f->x = x0; f->y = y0; f->w = x1 - x0; f->h = y1 - y0;
}

fk_status fk_detect_faces(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                          const char *name, const fk_options *opt,
                          fk_faces *out, double *detect_ms,
                          double *landmarks_ms) {
    const char *detector;
    fk_status st = fk_zoo_detector_name(opt->detector, &detector);
    if (st != FK_OK) return st;
    memset(out, 0, sizeof *out);
    double t0 = fk_now_ms();
    fk_box *boxes = NULL;
    int n = 0, whole = 0;
    if (strcmp(detector, "ssd") == 0) {
        st = ssd_boxes(zoo, pool, img, opt->min_confidence, &boxes, &n);
        if (st != FK_OK) return st == FK_EMODEL ? st : fk_fail_prefix(st, "%s", name);
    }
    if (n == 0) {
        if (strcmp(detector, "skip") != 0 && opt->enforce_detection) {
            free(boxes);
            return fk_fail(FK_ENOFACE,
                           "%s: no face detected (detector=%s, confidence>=%.2f); "
                           "pass --enforce-detection false to use the whole image",
                           name, detector, opt->min_confidence);
        }
        whole = 1;
        n = 1;
    }
    out->faces = calloc((size_t)n, sizeof *out->faces);
    if (!out->faces) {
        free(boxes);
        return fk_fail(FK_ENOMEM, "out of memory");
    }
    out->count = n;
    for (int i = 0; i < n; i++) {
        fk_face *f = &out->faces[i];
        if (whole) {
            f->x = 0; f->y = 0;
            f->w = (float)img->width; f->h = (float)img->height;
        } else {
            f->x = boxes[i].x0; f->y = boxes[i].y0;
            f->w = boxes[i].x1 - boxes[i].x0; f->h = boxes[i].y1 - boxes[i].y0;
            f->confidence = boxes[i].score;
        }
    }
    free(boxes);
    double t1 = fk_now_ms();
    if (detect_ms) *detect_ms += t1 - t0;

    /* Landmarks on the detector's box; a whole image that is not known to be
     * a face (no detection, enforce off) gets none, so it is not aligned. */
    int want_landmarks = !whole || strcmp(detector, "skip") == 0;
    if (want_landmarks) {
        fk_landmarks68 *lm;
        st = fk_zoo_landmarks68(zoo, &lm);
        for (int i = 0; st == FK_OK && i < n; i++) {
            fk_face *f = &out->faces[i];
            st = fk_landmarks68_run(lm, img, f->x, f->y, f->w, f->h, pool, f->landmarks);
            if (st == FK_OK) {
                f->landmark_count = 68;
                fk_landmarks68_eyes(f->landmarks, &f->left_eye, &f->right_eye);
            }
        }
        if (st != FK_OK) {
            fk_faces_free(out);
            return st == FK_EMODEL ? st : fk_fail_prefix(st, "%s", name);
        }
    }
    for (int i = 0; i < n; i++) expand_box(&out->faces[i], opt->expand_percentage,
                                           img->width, img->height);
    if (landmarks_ms) *landmarks_ms += fk_now_ms() - t1;
    return FK_OK;
}
