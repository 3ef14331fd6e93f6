/*
 * align_eyes.c - eye-level alignment (see align.h), what deepface does for
 * detectors that only give the two eye centres: rotate so the eyes are
 * level, then cut the face box.
 *
 * The warp itself (one affine map: chip pixel -> box centre + rotated
 * offset) is the eyes-box chip of align_eyes_box.c with no margin; this
 * file names the deepface-style entry point and its angle.
 */
#include <math.h>

#include "align/align.h"
#include "align/align_eyes_box.h"
#include "core/error.h"

double fk__align_eye_angle(fk_point left_eye, fk_point right_eye) {
    return atan2((double)left_eye.y - right_eye.y, (double)left_eye.x - right_eye.x);
}

fk_status fk__align_eyes_chip(const fk_image *img, float x, float y, float w,
                             float h, fk_point left_eye, fk_point right_eye,
                             int size, fk_image **out) {
    if (!isfinite(left_eye.x) || !isfinite(left_eye.y) || !isfinite(right_eye.x) ||
        !isfinite(right_eye.y))
        return fk__fail(FK_EINVAL, "align: eye coordinates are not finite");
    return fk__align_chip_eyes_box(img, x, y, w, h, left_eye, right_eye, size, 0.0, out);
}
