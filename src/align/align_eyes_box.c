/*
 * align_eyes_box.c - eye-levelled square box chips (see align_eyes_box.h).
 *
 * The chip's x axis runs along the eye line; chip pixel (u, v) measured from
 * the chip centre maps to the source point centre + s * R(theta) (u, v),
 * where s = side / size and theta the angle of the eye line.
 */
#include "align/align_eyes_box.h"

#include <math.h>

#include "core/error.h"
#include "image/image.h"

void fk__align_map_eyes_box(float x, float y, float w, float h, fk_point left_eye,
                            fk_point right_eye, int size, double margin, double m[6]) {
    double dx = left_eye.x - right_eye.x, dy = left_eye.y - right_eye.y;
    double theta = (dx * dx + dy * dy > 1e-6) ? atan2(dy, dx) : 0.0;
    double side = (w > h ? w : h) * (1.0 + 2.0 * margin);
    double s = side / size, c = cos(theta) * s, sn = sin(theta) * s;
    double cx = x + w / 2.0, cy = y + h / 2.0, half = size / 2.0;
    m[0] = c; m[1] = -sn; m[2] = cx - c * half + sn * half;
    m[3] = sn; m[4] = c; m[5] = cy - sn * half - c * half;
}

fk_status fk__align_chip_eyes_box(const fk_image *img, float x, float y,
                                 float w, float h, fk_point left_eye,
                                 fk_point right_eye, int size, double margin,
                                 fk_image **out) {
    if (!img || !out || size <= 0 || !(w > 0) || !(h > 0) || margin < 0)
        return fk__fail(FK_EINVAL, "align: bad arguments");
    double m[6];
    fk__align_map_eyes_box(x, y, w, h, left_eye, right_eye, size, margin, m);
    return fk__image_warp_affine(img, m, size, size, FK_BORDER_CONSTANT, 0, out);
}
