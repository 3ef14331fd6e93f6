/*
 * align.h - the align stage: from a face (box + landmarks) to the chip a
 * recognizer expects.
 */
#ifndef FK_ALIGN_H
#define FK_ALIGN_H

#include "facekit.h"

/* Least-squares similarity transform (rotation, uniform scale, translation)
 * taking points `from` onto points `to`: to ~= [a -b; b a] from + [tx ty].
 * Writes m = {a, -b, tx, b, a, ty} (row-major 2x3). FK_EINVAL when n < 2 or
 * the `from` points coincide. */
fk_status fk__similarity_fit(const fk_point *from, const fk_point *to, int n,
                            double m[6]);

/* Where dlib's mean face puts landmarks 17..67 in a size x size chip with
 * `padding` (out[i] is landmark 17 + i). */
void fk__align_template68(int size, double padding, fk_point out[51]);

/* dlib-style face chip: the 51 inner landmarks (17..67) mapped by a
 * similarity transform onto dlib's mean face shape, padded by `padding` of
 * the face size on each side (dlib's recognizer uses size 150, padding 0.25).
 * *out is a new size x size RGB image. */
fk_status fk__align_chip68(const fk_image *img, const fk_point landmarks[68],
                          int size, double padding, fk_image **out);

/* ---- chip maps ----------------------------------------------------------
 * Every chip is one affine map m (row-major 2x3) from chip pixels to image
 * pixels: chip pixel (u, v) samples the image at (m[0] u + m[1] v + m[2],
 * m[3] u + m[4] v + m[5]). The chip functions compute a map, then warp; the
 * map is what tells where an image point (an eye) lands in the chip. */

/* The map of fk__align_chip68. */
fk_status fk__align_map68(const fk_point landmarks[68], int size, double padding,
                         double m[6]);
/* The map of fk__align_box_chip. */
void fk__align_map_box(float x, float y, float w, float h, int size, double m[6]);
/* Widen a size x size chip's field of view k times about the chip centre
 * (k > 1: more around the face, the face smaller); k == 1 leaves m as is. */
void fk__align_map_zoom(double m[6], int size, double k);
/* Where image point p lands in the chip of map m (chip pixels). */
fk_point fk__align_map_to_chip(const double m[6], fk_point p);
/* The size x size chip of map m; black outside the image. antialias:
 * area-shrink the covered region first when the map samples the image more
 * sparsely than every 1.5 pixels (the dlib68 chips do). */
fk_status fk__align_warp(const fk_image *img, const double m[6], int size,
                         int antialias, fk_image **out);

/* Unaligned chip: the face box padded to a square (centred, black) and
 * resized to size x size; what a recognizer sees with align off. */
fk_status fk__align_box_chip(const fk_image *img, float x, float y, float w,
                            float h, int size, fk_image **out);

/* ---- eye-level alignment (deepface style) ------------------------------ */

/* The angle (radians) by which the line from the right eye (image left) to
 * the left eye (image right) is tilted from horizontal, positive when the
 * left eye is lower (image y grows downwards). */
double fk__align_eye_angle(fk_point left_eye, fk_point right_eye);

/* Eye-level chip, for detectors that give eyes but no landmarks: the face
 * box (x, y, w, h) padded to a centred square, rotated about its centre by
 * the eye angle so the eyes come out level, resized to size x size. Pixels
 * outside the image are black. With the eyes already level this is the
 * same chip as fk__align_box_chip but for the area outside the box. */
fk_status fk__align_eyes_chip(const fk_image *img, float x, float y, float w,
                             float h, fk_point left_eye, fk_point right_eye,
                             int size, fk_image **out);

#endif
