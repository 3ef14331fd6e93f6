/*
 * align_arcface.h - the 5-point alignment of InsightFace/ArcFace-style
 * recognizers (MobileFaceNet, MobileFace): eyes, nose tip and mouth corners
 * mapped by a similarity transform onto the canonical 112x112 template.
 */
#ifndef FK_ALIGN_ARCFACE_H
#define FK_ALIGN_ARCFACE_H

#include "facekit.h"

/* The 5 template points for a size x size chip (the 112x112 template
 * scaled): image-left eye, image-right eye, nose tip, image-left and
 * image-right mouth corner. */
void fk__align_template5(int size, fk_point out[5]);

/* The 5 points from 68 landmarks (eye centres = mean of each eye's six
 * points, nose tip 30, mouth corners 48 and 54), in template order. */
void fk__align_points5_from68(const fk_point landmarks[68], fk_point out[5]);

/* The map (align.h) of fk__align_chip_arcface. */
fk_status fk__align_map_arcface(const fk_point landmarks[68], int size, double m[6]);

/* ArcFace-style chip: the 5 points of `landmarks` (68-point) mapped onto
 * the template; *out is a new size x size RGB image. */
fk_status fk__align_chip_arcface(const fk_image *img,
                                const fk_point landmarks[68], int size,
                                fk_image **out);

#endif
