/*
 * align_eyes_box.h - the alignment of box-trained recognizers (FaceRes):
 * the detector's box, rotated about its centre so the eyes are level, as a
 * square chip with a margin. This is what @vladmandic/human feeds FaceRes:
 * the detected face box, straightened by the eye angle.
 */
#ifndef FK_ALIGN_EYES_BOX_H
#define FK_ALIGN_EYES_BOX_H

#include "facekit.h"

/* Square chip of side max(w, h) * (1 + 2 * margin) centred on the box
 * (x, y, w, h), rotated so that right_eye -> left_eye (image left to image
 * right) is horizontal; *out is a new size x size RGB image. Pass equal
 * eyes (or margin only) for no rotation. */
fk_status fk__align_chip_eyes_box(const fk_image *img, float x, float y,
                                 float w, float h, fk_point left_eye,
                                 fk_point right_eye, int size, double margin,
                                 fk_image **out);

/* The map (align.h) of fk__align_chip_eyes_box. */
void fk__align_map_eyes_box(float x, float y, float w, float h, fk_point left_eye,
                            fk_point right_eye, int size, double margin, double m[6]);

#endif
