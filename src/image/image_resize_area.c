/*
 * image_resize_area.c - area-averaging downscale (see image.h).
 */
#include <stdlib.h>

#include "core/error.h"
#include "image/image.h"

/* Source span [x0, x1) in source pixels covered by destination pixel d. */
static void span_of(int d, double ratio, double *x0, double *x1) {
    *x0 = d * ratio;
    *x1 = (d + 1) * ratio;
}

fk_status fk__image_resize_area(const fk_image *src, int dw, int dh,
                               fk_image **out) {
    if (!src || !out || dw <= 0 || dh <= 0 || dw > src->width ||
        dh > src->height)
        return fk__fail(FK_EINVAL, "resize_area: bad arguments");
    fk_status st = fk_image_new(dw, dh, src->channels, out);
    if (st != FK_OK) return st;
    const int ch = src->channels;
    const double rx = (double)src->width / dw, ry = (double)src->height / dh;
    double *acc = malloc(sizeof(double) * (size_t)dw * ch);
    if (!acc) {
        fk_image_free(*out);
        *out = NULL;
        return fk__fail(FK_ENOMEM, "resize_area: out of memory");
    }
    for (int dy = 0; dy < dh; dy++) {
        double y0, y1;
        span_of(dy, ry, &y0, &y1);
        for (int i = 0; i < dw * ch; i++) acc[i] = 0;
        for (int sy = (int)y0; sy < src->height && sy < y1; sy++) {
            double wy = (sy + 1 < y1 ? sy + 1 : y1) - (sy > y0 ? sy : y0);
            const uint8_t *row = src->data + (size_t)sy * src->stride;
            for (int dx = 0; dx < dw; dx++) {
                double x0, x1;
                span_of(dx, rx, &x0, &x1);
                for (int sx = (int)x0; sx < src->width && sx < x1; sx++) {
                    double w = wy * ((sx + 1 < x1 ? sx + 1 : x1) - (sx > x0 ? sx : x0));
                    for (int c = 0; c < ch; c++) acc[dx * ch + c] += w * row[sx * ch + c];
                }
            }
        }
        uint8_t *drow = (*out)->data + (size_t)dy * (*out)->stride;
        const double norm = 1.0 / (rx * ry);
        for (int i = 0; i < dw * ch; i++) {
            double v = acc[i] * norm + 0.5;
            drow[i] = (uint8_t)(v > 255 ? 255 : v);
        }
    }
    free(acc);
    return FK_OK;
}
