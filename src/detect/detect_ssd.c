/*
 * detect_ssd.c - detector "ssd" (SSD MobileNetV1, face-api).
 *
 * The SSD detector scores faces that fill the whole frame low (it was
 * trained on scenes, and users pass pre-cropped faces: LFW is such a set).
 * When the first pass finds nothing, we run it again on the image centred in
 * a black canvas twice its size, where such faces look like the ones it
 * knows, and map the boxes back.
 */
#include <stdlib.h>

#include "core/error.h"
#include "detect/detectors.h"
#include "image/image.h"

fk_status fk_detect_ssd(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                        float min_score, fk_detection **out, int *count) {
    fk_ssd *ssd;
    fk_status st = fk_zoo_ssd(zoo, &ssd);
    if (st != FK_OK) return st;
    fk_box *boxes = NULL;
    int n = 0, px = 0, py = 0;
    st = fk_ssd_detect(ssd, img, min_score, pool, &boxes, &n);
    if (st == FK_OK && n == 0) {
        free(boxes);
        boxes = NULL;
        px = img->width / 2;
        py = img->height / 2;
        fk_image *canvas = NULL;
        st = fk_image_pad(img, px, py, px, py, 0, &canvas);
        if (st == FK_OK) st = fk_ssd_detect(ssd, canvas, min_score, pool, &boxes, &n);
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
    for (int i = 0; i < n; i++) {
        float x0 = boxes[i].x0 - px, y0 = boxes[i].y0 - py;
        float x1 = boxes[i].x1 - px, y1 = boxes[i].y1 - py;
        d[i].x0 = x0 < 0 ? 0 : x0;
        d[i].y0 = y0 < 0 ? 0 : y0;
        d[i].x1 = x1 > img->width ? (float)img->width : x1;
        d[i].y1 = y1 > img->height ? (float)img->height : y1;
        d[i].score = boxes[i].score;
    }
    free(boxes);
    *out = d;
    *count = n;
    return FK_OK;
}
