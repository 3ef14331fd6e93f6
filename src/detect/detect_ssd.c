/*
 * detect_ssd.c - detector "ssd" (SSD MobileNetV1, face-api).
 *
 * The SSD detector scores faces that fill the whole frame low (it was
 * trained on scenes, and users pass pre-cropped faces: LFW is such a set).
 * When the first pass finds nothing, we run it again on the image centred in
 * a black canvas twice its size, where such faces look like the ones it
 * knows, and map the boxes back.
 */
#include "detect/detectors.h"

static fk_status ssd_pass(void *model, const fk_image *img, float min_score,
                          fk_pool *pool, fk_box **boxes, int *count) {
    return fk__ssd_detect(model, img, min_score, pool, boxes, count);
}

fk_status fk__detect_ssd(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                        float min_score, fk_detection **out, int *count) {
    fk_ssd *ssd;
    fk_status st = fk__zoo_ssd(zoo, &ssd);
    if (st != FK_OK) return st;
    return fk__detect_boxes_padded_retry(ssd, ssd_pass, img, min_score, pool, out, count);
}
