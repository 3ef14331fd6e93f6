/*
 * image.h - the image layer: decoding, pixel buffers and geometry.
 *
 * fk_image itself and load/decode/save/new/free are public (facekit.h). This
 * header adds what the pipeline needs internally. All functions return a new
 * image the caller frees with fk_image_free(); none of them modifies its
 * source.
 */
#ifndef FK_IMAGE_H
#define FK_IMAGE_H

#include "facekit.h"

/* Bilinear resize to dw x dh (same channel count). Pixel centres are aligned
 * (sample position ((x + 0.5) * sw / dw - 0.5)), edges clamped. */
fk_status fk__image_resize(const fk_image *src, int dw, int dh, fk_image **out);

/* Area-averaging downscale to dw x dh (dw <= width, dh <= height): each
 * destination pixel is the mean of the source pixels it covers (fractional
 * coverage weighted). Used before large shrinks, where bilinear aliases. */
fk_status fk__image_resize_area(const fk_image *src, int dw, int dh,
                               fk_image **out);

/* Affine warp. `m` maps destination pixel coordinates to source coordinates:
 *   sx = m[0]*dx + m[1]*dy + m[2];   sy = m[3]*dx + m[4]*dy + m[5]
 * sampled bilinearly at pixel centres. Source pixels outside the image are
 * taken from the nearest edge pixel when border == FK_BORDER_REPLICATE, or
 * are the constant `fill` (same value in every channel) when
 * border == FK_BORDER_CONSTANT. */
typedef enum { FK_BORDER_CONSTANT = 0, FK_BORDER_REPLICATE = 1 } fk_border;
fk_status fk__image_warp_affine(const fk_image *src, const double m[6], int dw,
                               int dh, fk_border border, uint8_t fill,
                               fk_image **out);

/* Copy of the rectangle (x, y, w, h); parts outside the image are filled with
 * `fill`. w, h must be > 0. */
fk_status fk__image_crop(const fk_image *src, int x, int y, int w, int h,
                        uint8_t fill, fk_image **out);

/* The image placed at (left, top) on a larger canvas of constant `fill`. */
fk_status fk__image_pad(const fk_image *src, int left, int top, int right,
                       int bottom, uint8_t fill, fk_image **out);

/* Draw (in place) a rectangle outline `thickness` pixels wide, clipped to the
 * image, and a filled square dot of radius r at a point. RGB images only. */
void fk__image_draw_rect(fk_image *img, int x, int y, int w, int h,
                        int thickness, uint8_t r, uint8_t g, uint8_t b);
void fk__image_draw_dot(fk_image *img, int cx, int cy, int radius, uint8_t r,
                       uint8_t g, uint8_t b);

#endif
