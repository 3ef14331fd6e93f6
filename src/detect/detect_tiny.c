/*
 * detect_tiny.c - detector "tiny": face-api's Tiny Face Detector, a small
 * YOLO-style network (see tiny_face_detector.c), at input size 416.
 * It gives boxes and scores only; the detect stage takes the eyes from the
 * 68-point landmarks.
 *
 * Like SSD it misses faces that fill the whole frame (on LFW's 250x250
 * crops, 506 of 3443 images had no face at 0.5). When the first pass finds
 * nothing we run it again on the image centred in a black canvas twice its
 * size and map the boxes back.
 */
#include "detect/detectors.h"

static fk_status load_tiny(const char *home, void **out) {
    return fk__tiny_face_load(home, (fk_tiny_face **)out);
}
static void free_tiny(void *m) { fk__tiny_face_free(m); }

static fk_status tiny_pass(void *model, const fk_image *img, float min_score,
                           fk_pool *pool, fk_box **boxes, int *count) {
    return fk__tiny_face_detect(model, img, FK_TINY_INPUT, min_score, pool, boxes, count);
}

fk_status fk__detect_tiny(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                         float min_score, fk_detection **out, int *count) {
    fk_tiny_face *m;
    fk_status st = fk__zoo_get(zoo, "tiny", load_tiny, free_tiny, (void **)&m);
    if (st != FK_OK) return st;
    return fk__detect_boxes_padded_retry(m, tiny_pass, img, min_score, pool, out, count);
}
