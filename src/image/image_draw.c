/*
 * image_draw.c - drawing boxes and dots (in place) for annotated output.
 *
 * Every shape is reduced to filled rectangles clipped to the image in 64-bit
 * arithmetic, so any int coordinates, negative or huge, are safe. Meant for
 * RGB images; on a gray image the colour's luma is drawn instead, and an
 * invalid image is left alone (drawing has no error path).
 */
#include "image/image.h"

#include <stdint.h>
#include <string.h>

/* True if img is something we can write pixels into. */
static int image_valid(const fk_image *img) {
    return img && img->data && img->width > 0 && img->height > 0 &&
           (img->channels == 1 || img->channels == 3) &&
           img->stride >= (size_t)img->width * (size_t)img->channels;
}

/* Fill the half-open rectangle [x0, x1) x [y0, y1), clipped to the image,
 * with the pixel value px (channels bytes). */
static void fill_rect(fk_image *img, int64_t x0, int64_t y0, int64_t x1,
                      int64_t y1, const uint8_t *px) {
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > img->width) x1 = img->width;
    if (y1 > img->height) y1 = img->height;
    size_t ch = (size_t)img->channels;
    for (int64_t y = y0; y < y1; y++) {
        uint8_t *p = img->data + (size_t)y * img->stride + (size_t)x0 * ch;
        for (int64_t x = x0; x < x1; x++, p += ch)
            memcpy(p, px, ch);
    }
}

/* The pixel value for (r, g, b) in img's layout: as is for RGB, Rec. 601
 * luma for gray. */
static void pixel_value(const fk_image *img, uint8_t r, uint8_t g, uint8_t b,
                        uint8_t px[3]) {
    if (img->channels == 1) {
        px[0] = (uint8_t)((299u * r + 587u * g + 114u * b + 500u) / 1000u);
    } else {
        px[0] = r;
        px[1] = g;
        px[2] = b;
    }
}

/* Outline of the rectangle (x, y, w, h): four bands `thickness` pixels
 * wide (at least 1) lying inside it. Nothing for w or h <= 0. */
void fk__image_draw_rect(fk_image *img, int x, int y, int w, int h,
                        int thickness, uint8_t r, uint8_t g, uint8_t b) {
    if (!image_valid(img) || w <= 0 || h <= 0)
        return;
    uint8_t px[3];
    pixel_value(img, r, g, b, px);
    int64_t t = thickness < 1 ? 1 : thickness;
    int64_t x0 = x, y0 = y, x1 = x0 + w, y1 = y0 + h;
    int64_t inner_top = y0 + t < y1 ? y0 + t : y1;
    int64_t inner_bottom = y1 - t > y0 ? y1 - t : y0;
    int64_t inner_left = x0 + t < x1 ? x0 + t : x1;
    int64_t inner_right = x1 - t > x0 ? x1 - t : x0;
    fill_rect(img, x0, y0, x1, inner_top, px);
    fill_rect(img, x0, inner_bottom, x1, y1, px);
    fill_rect(img, x0, y0, inner_left, y1, px);
    fill_rect(img, inner_right, y0, x1, y1, px);
}

/* A filled square centred on (cx, cy) reaching `radius` pixels each way
 * (radius 0: one pixel). Nothing for a negative radius. */
void fk__image_draw_dot(fk_image *img, int cx, int cy, int radius, uint8_t r,
                       uint8_t g, uint8_t b) {
    if (!image_valid(img) || radius < 0)
        return;
    uint8_t px[3];
    pixel_value(img, r, g, b, px);
    int64_t x = cx, y = cy, rr = radius;
    fill_rect(img, x - rr, y - rr, x + rr + 1, y + rr + 1, px);
}
