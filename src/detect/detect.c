/*
 * detect.c - the detect stage (see detect.h): run the chosen detector, then
 * the 68-point landmark model on every detected face (the default
 * recognizer aligns on them, and they give the eye centres when the
 * detector does not), then, with anti_spoofing, the anti-spoofing model on
 * all of them in one call (it cuts each face as it was trained: a tight
 * crop or the face with context around it). The check sees the detector's
 * box, before expand_percentage: the verdict on a face should not depend on
 * how much margin the caller wants in its crops.
 */
#include "detect/detect.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/error.h"
#include "detect/detectors.h"
#include "models/face_models.h"

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

/* Keep the `max` faces of largest box area (deepface's max_faces), still in
 * order of confidence; max <= 0 keeps all. Area ties keep the more confident
 * face. */
static void keep_largest(fk_faces *faces, int max) {
    if (max <= 0 || faces->count <= max) return;
    while (faces->count > max) {
        int drop = 0; /* the smallest box; among equals the least confident */
        for (int i = 1; i < faces->count; i++) {
            const fk_face *f = &faces->faces[i], *d = &faces->faces[drop];
            if (f->w * f->h <= d->w * d->h) drop = i;
        }
        memmove(&faces->faces[drop], &faces->faces[drop + 1],
                sizeof *faces->faces * (size_t)(faces->count - drop - 1));
        faces->count--;
    }
}

/* Model errors keep their own message (it names the model file); others
 * get the image's name in front. */
static fk_status with_name(fk_status st, const char *name) {
    return st == FK_EMODEL ? st : fk__fail_prefix(st, "%s", name);
}

fk_status fk__antispoof_find(const char *name, const fk_model_desc **out) {
    return fk__model_find(FK_ROLE_ANTISPOOF, "anti-spoofing model",
                          name ? name : FK__DEFAULT_ANTISPOOF, NULL, out);
}

/* Fill spoof_checked, is_real and antispoof_score of every face. */
static fk_status check_spoof(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                             const fk_options *opt, fk_faces *faces) {
    const fk_model_desc *m;
    fk_status st = fk__antispoof_find(opt->antispoof_model, &m);
    if (st != FK_OK || faces->count == 0) return st;
    fk_attr_result *r = calloc((size_t)faces->count, sizeof *r);
    if (!r) return fk__fail(FK_ENOMEM, "out of memory");
    st = fk__zoo_analyze(zoo, m, pool, img, faces->faces, faces->count, r);
    for (int i = 0; st == FK_OK && i < faces->count; i++) {
        fk_face *f = &faces->faces[i];
        f->spoof_checked = 1;
        f->is_real = r[i].real >= m->spoof_threshold;
        f->antispoof_score = f->is_real ? r[i].real : 1 - r[i].real;
    }
    free(r);
    return st;
}

fk_status fk__detect_faces(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                          const char *name, const fk_options *opt,
                          fk_faces *out, double *detect_ms,
                          double *landmarks_ms) {
    const fk_model_desc *det;
    fk_status st = fk__detector_find(opt->detector, &det);
    if (st != FK_OK) return st;
    memset(out, 0, sizeof *out);
    double t0 = fk__now_ms();
    fk_detection *found = NULL;
    int n = 0, whole = 0;
    if (det->detect) {
        st = fk__zoo_detect(zoo, det, pool, img, opt->min_confidence, &found, &n);
        if (st != FK_OK) return with_name(st, name);
    }
    if (n == 0) {
        if (det->detect && opt->enforce_detection) {
            free(found);
            return fk__fail(FK_ENOFACE,
                           "%s: no face detected (detector=%s, confidence>=%.2f); "
                           "pass --enforce-detection false to use the whole image",
                           name, det->name, opt->min_confidence);
        }
        whole = 1;
        n = 1;
    }
    out->faces = calloc((size_t)n, sizeof *out->faces);
    if (!out->faces) {
        free(found);
        return fk__fail(FK_ENOMEM, "out of memory");
    }
    out->count = n;
    for (int i = 0; i < n; i++) {
        fk_face *f = &out->faces[i];
        if (whole) {
            f->w = (float)img->width;
            f->h = (float)img->height;
            continue;
        }
        f->x = found[i].x0;
        f->y = found[i].y0;
        f->w = found[i].x1 - found[i].x0;
        f->h = found[i].y1 - found[i].y0;
        f->confidence = found[i].score;
        if (found[i].has_eyes) {
            f->left_eye = found[i].left_eye;
            f->right_eye = found[i].right_eye;
        }
        f->keypoint_count = found[i].keypoint_count;
        f->keypoint_names = found[i].keypoint_names;
        for (int k = 0; k < found[i].keypoint_count && k < FK_MAX_KEYPOINTS; k++)
            f->keypoints[k] = found[i].keypoints[k];
    }
    double t1 = fk__now_ms();
    if (detect_ms) *detect_ms += t1 - t0;

    /* Landmarks on each box. A whole image that is not known to be a face
     * (nothing detected, enforce off) gets none, so it is not aligned; with
     * detector skip the caller asserts the image is a face. */
    if (!whole || !det->detect) {
        const fk_model_desc *lm = fk__model_get("landmarks68");
        st = FK_OK;
        for (int i = 0; st == FK_OK && i < n; i++) {
            fk_face *f = &out->faces[i];
            st = fk__zoo_landmarks(zoo, lm, pool, img, f->x, f->y, f->w, f->h, f->landmarks);
            if (st != FK_OK) break;
            f->landmark_count = 68;
            if (whole || !found[i].has_eyes)
                fk__landmarks68_eyes(f->landmarks, &f->left_eye, &f->right_eye);
        }
        if (st != FK_OK) {
            free(found);
            fk_faces_free(out);
            return with_name(st, name);
        }
    }
    free(found);
    keep_largest(out, opt->max_faces);
    n = out->count;
    if (opt->anti_spoofing) {
        st = check_spoof(zoo, pool, img, opt, out);
        if (st != FK_OK) {
            fk_faces_free(out);
            return with_name(st, name);
        }
    }
    for (int i = 0; i < n; i++)
        expand_box(&out->faces[i], opt->expand_percentage, img->width, img->height);
    if (landmarks_ms) *landmarks_ms += fk__now_ms() - t1;
    return FK_OK;
}
