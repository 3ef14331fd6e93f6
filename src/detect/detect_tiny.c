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
#include <stdlib.h>

#include "core/error.h"
#include "detect/detectors.h"
#include "image/image.h"

static fk_status load_tiny(const char *home, void **out) {
    return fk_tiny_face_load(home, (fk_tiny_face **)out);
}
static void free_tiny(void *m) { fk_tiny_face_free(m); }

fk_status fk_detect_tiny(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                         float min_score, fk_detection **out, int *count) {
    fk_tiny_face *m;
    fk_status st = fk_zoo_get(zoo, "tiny", load_tiny, free_tiny, (void **)&m);
    if (st != FK_OK) return st;
    fk_box *boxes = NULL;
    int n = 0, px = 0, py = 0;
    st = fk_tiny_face_detect(m, img, FK_TINY_INPUT, min_score, pool, &boxes, &n);
    if (st == FK_OK && n == 0) {
        free(boxes);
        boxes = NULL;
        px = img->width / 2;
        py = img->height / 2;
        fk_image *canvas = NULL;
        st = fk_image_pad(img, px, py, px, py, 0, &canvas);
        if (st == FK_OK) st = fk_tiny_face_detect(m, canvas, FK_TINY_INPUT, min_score, pool, &boxes, &n);
        fk_image_free(canvas);
    }
    if (st != FK_OK) {
        free(boxes);
        return st;
    }
    fk_detection *d = calloc(n > 0 ? (size_t)n : 1, sizeof *d);
    if (!d) {
        free(boxes);
        return fk_fail(FK_ENOMEM, "out of memory");
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
        if (f->x1 - f->x0 >= 1 && f->y1 - f->y0 >= 1) kept++; /* not all in the border */
    }
    free(boxes);
    *out = d;
    *count = kept;
    return FK_OK;
}
