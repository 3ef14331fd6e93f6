/*
 * detect_blazeface.c - detector "mediapipe" (MediaPipe BlazeFace from
 * human-models), with its 6 keypoints (eyes, nose tip, mouth centre, ear
 * tragions).
 *
 * The back-camera model (256x256) finds faces of any size in a scene; faces
 * that fill the frame (pre-cropped photos, LFW) it can miss, and those are
 * what the front-camera model (128x128, selfie distance) was trained on. So
 * we run the back model and, when it finds nothing, the front one.
 */
#include <stdlib.h>

#include "core/error.h"
#include "detect/detectors.h"

static fk_status load_back(const char *home, void **out) {
    return fk__blazeface_back_load(home, (fk_blazeface **)out);
}
static fk_status load_front(const char *home, void **out) {
    return fk__blazeface_front_load(home, (fk_blazeface **)out);
}
static void free_blaze(void *m) { fk__blazeface_free(m); }

/* BlazeFace's keypoint order, named from the person's side. */
static const char *const KEYPOINT_NAMES[FK_BLAZE_KEYPOINTS] = {
    "right_eye", "left_eye", "nose", "mouth", "right_ear", "left_ear"};

fk_status fk__detect_blazeface(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                              float min_score, fk_detection **out, int *count) {
    void *m;
    fk_blaze_box *boxes = NULL;
    int n = 0;
    fk_status st = fk__zoo_get(zoo, "mediapipe-back", load_back, free_blaze, &m);
    if (st == FK_OK) st = fk__blazeface_detect(m, img, min_score, pool, &boxes, &n);
    if (st == FK_OK && n == 0) {
        free(boxes);
        boxes = NULL;
        st = fk__zoo_get(zoo, "mediapipe-front", load_front, free_blaze, &m);
        if (st == FK_OK) st = fk__blazeface_detect(m, img, min_score, pool, &boxes, &n);
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
