/*
 * image_geometry.c - new images from old: bilinear resize, affine warp, crop
 * and pad.
 *
 * Interpolation runs in fixed point: weights are integers out of FRAC_ONE,
 * so a pair of weights always sums to exactly FRAC_ONE. That makes a
 * constant image stay exactly constant and an integer-aligned sample return
 * the source pixel bit for bit, with no float rounding at all.
 */
#include "image/image.h"
#include "core/error.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FRAC_BITS 11
#define FRAC_ONE (1 << FRAC_BITS)
/* Two stacked weights scale by FRAC_ONE^2; add half of that to round. */
#define FRAC2_SHIFT (2 * FRAC_BITS)
#define FRAC2_HALF (1u << (FRAC2_SHIFT - 1))

/* True if img is something we can read pixels from. */
static int image_valid(const fk_image *img) {
    return img && img->data && img->width > 0 && img->height > 0 &&
           (img->channels == 1 || img->channels == 3) &&
           img->stride >= (size_t)img->width * (size_t)img->channels;
}

/* Common argument checks: a readable source, a result pointer, and a
 * positive output size. */
static fk_status check_args(const char *fn, const fk_image *src, int w, int h,
                            fk_image **out) {
    if (out)
        *out = NULL;
    if (!out || !image_valid(src))
        return fk__fail(FK_EINVAL, "%s: needs a valid source image and out", fn);
    if (w <= 0 || h <= 0)
        return fk__fail(FK_EINVAL, "%s: output size %dx%d is not positive", fn,
                       w, h);
    return FK_OK;
}

/* ---- resize ------------------------------------------------------------- */

/* One output position's two source taps along an axis and the weight of
 * the second (the first weighs FRAC_ONE - w1). */
typedef struct axis_tap {
    int i0, i1;
    uint32_t w1;
} axis_tap;

/* Fill taps for dn output positions over sn source positions. Pixel centres
 * align: output d samples source (d + 0.5) * sn / dn - 0.5, clamped to the
 * edge. `scale` multiplies indices (the channel count for x, 1 for y) so the
 * inner loops use them directly as offsets. */
static void axis_taps(int sn, int dn, int scale, axis_tap *t) {
    double ratio = (double)sn / dn;
    for (int d = 0; d < dn; d++) {
        double s = (d + 0.5) * ratio - 0.5;
        if (s < 0)
            s = 0;
        if (s > sn - 1)
            s = sn - 1;
        int i = (int)s;
        t[d].i0 = i * scale;
        t[d].i1 = (i + 1 < sn ? i + 1 : i) * scale;
        t[d].w1 = (uint32_t)lround((s - i) * FRAC_ONE);
    }
}

/* Horizontal pass: one source row to dw*ch values scaled by FRAC_ONE. */
static void resample_row(const uint8_t *src, int ch, const axis_tap *xt,
                         int dw, uint32_t *out) {
    for (int x = 0; x < dw; x++) {
        const uint8_t *a = src + xt[x].i0, *b = src + xt[x].i1;
        uint32_t w1 = xt[x].w1, w0 = FRAC_ONE - w1;
        for (int c = 0; c < ch; c++)
            *out++ = a[c] * w0 + b[c] * w1;
    }
}

/* Vertical pass: blend two horizontally resampled rows into n bytes. */
static void blend_rows(const uint32_t *top, const uint32_t *bot, uint32_t w1,
                       size_t n, uint8_t *dst) {
    uint32_t w0 = FRAC_ONE - w1;
    for (size_t i = 0; i < n; i++)
        dst[i] = (uint8_t)((top[i] * w0 + bot[i] * w1 + FRAC2_HALF) >> FRAC2_SHIFT);
}

/* Separable bilinear resize into dst. Source rows are resampled once each
 * and kept in two buffers: consecutive output rows mostly share them. */
static void resize_into(const fk_image *src, fk_image *dst,
                        const axis_tap *xt, const axis_tap *yt, uint32_t *a,
                        uint32_t *b) {
    int ch = src->channels, ra = -1, rb = -1;
    size_t n = (size_t)dst->width * ch;
    for (int y = 0; y < dst->height; y++) {
        int i0 = yt[y].i0, i1 = yt[y].i1;
        if (ra != i0 && rb == i0) { /* the row we need is in b: swap */
            uint32_t *t = a; a = b; b = t;
            rb = ra;
            ra = i0;
        } else if (ra != i0) {
            resample_row(src->data + (size_t)i0 * src->stride, ch, xt,
                         dst->width, a);
            ra = i0;
        }
        if (i1 != i0 && rb != i1) {
            resample_row(src->data + (size_t)i1 * src->stride, ch, xt,
                         dst->width, b);
            rb = i1;
        }
        blend_rows(a, i1 == i0 ? a : b, yt[y].w1, n,
                   dst->data + (size_t)y * dst->stride);
    }
}

/* Bilinear resize to dw x dh, pixel centres aligned, edges clamped. The tap
 * tables and two row buffers are allocated per call. */
fk_status fk__image_resize(const fk_image *src, int dw, int dh, fk_image **out) {
    fk_status st = check_args("fk__image_resize", src, dw, dh, out);
    if (st != FK_OK)
        return st;
    fk_image *dst;
    if ((st = fk_image_new(dw, dh, src->channels, &dst)) != FK_OK)
        return st;
    axis_tap *xt = malloc((size_t)dw * sizeof *xt);
    axis_tap *yt = malloc((size_t)dh * sizeof *yt);
    uint32_t *rows = malloc(2 * (size_t)dw * src->channels * sizeof *rows);
    if (!xt || !yt || !rows) {
        st = fk__fail(FK_ENOMEM, "out of memory resizing to %dx%d", dw, dh);
    } else {
        axis_taps(src->width, dw, src->channels, xt);
        axis_taps(src->height, dh, 1, yt);
        resize_into(src, dst, xt, yt, rows,
                    rows + (size_t)dw * src->channels);
    }
    free(xt);
    free(yt);
    free(rows);
    if (st != FK_OK)
        fk_image_free(dst);
    else
        *out = dst;
    return st;
}

/* ---- affine warp -------------------------------------------------------- */

/* v clamped to [lo, hi]; NaN becomes lo. Keeps coordinates in a range where
 * converting to int is defined: anything farther out samples the same. */
static double clamp_coord(double v, double lo, double hi) {
    if (!(v >= lo))
        return lo;
    return v > hi ? hi : v;
}

/* The pixel at (x, y) for sampling, or NULL when it lies outside and the
 * border is constant. Replicate clamps to the nearest edge pixel. */
static const uint8_t *tap(const fk_image *s, int x, int y, fk_border border) {
    if (x < 0 || y < 0 || x >= s->width || y >= s->height) {
        if (border == FK_BORDER_CONSTANT)
            return NULL;
        x = x < 0 ? 0 : x >= s->width ? s->width - 1 : x;
        y = y < 0 ? 0 : y >= s->height ? s->height - 1 : y;
    }
    return s->data + (size_t)y * s->stride + (size_t)x * s->channels;
}

/* Blend four taps (NULL: the constant fill) with weights out of
 * FRAC_ONE^2 into px. */
static void blend4(const uint8_t *const p[4], const uint32_t w[4], int ch,
                   uint8_t fill, uint8_t *px) {
    for (int c = 0; c < ch; c++) {
        uint32_t v = FRAC2_HALF;
        for (int k = 0; k < 4; k++)
            v += (p[k] ? p[k][c] : fill) * w[k];
        px[c] = (uint8_t)(v >> FRAC2_SHIFT);
    }
}

/* Bilinear sample of s at (sx, sy) (pixel centres at integers) into px.
 * The common case, all four taps inside, skips the border logic. */
static void sample(const fk_image *s, double sx, double sy, fk_border border,
                   uint8_t fill, uint8_t *px) {
    sx = clamp_coord(sx, -2.0, s->width + 1.0);
    sy = clamp_coord(sy, -2.0, s->height + 1.0);
    double fx = floor(sx), fy = floor(sy);
    int x = (int)fx, y = (int)fy;
    uint32_t wx = (uint32_t)((sx - fx) * FRAC_ONE + 0.5);
    uint32_t wy = (uint32_t)((sy - fy) * FRAC_ONE + 0.5);
    uint32_t w[4] = {(FRAC_ONE - wx) * (FRAC_ONE - wy), wx * (FRAC_ONE - wy),
                     (FRAC_ONE - wx) * wy, wx * wy};
    const uint8_t *p[4];
    if (x >= 0 && y >= 0 && x + 1 < s->width && y + 1 < s->height) {
        p[0] = s->data + (size_t)y * s->stride + (size_t)x * s->channels;
        p[1] = p[0] + s->channels;
        p[2] = p[0] + s->stride;
        p[3] = p[2] + s->channels;
    } else {
        p[0] = tap(s, x, y, border);
        p[1] = tap(s, x + 1, y, border);
        p[2] = tap(s, x, y + 1, border);
        p[3] = tap(s, x + 1, y + 1, border);
    }
    blend4(p, w, s->channels, fill, px);
}

/* Affine warp: destination pixel (dx, dy) samples the source at
 * m * (dx, dy, 1), bilinearly, with the given border rule. */
fk_status fk__image_warp_affine(const fk_image *src, const double m[6], int dw,
                               int dh, fk_border border, uint8_t fill,
                               fk_image **out) {
    fk_status st = check_args("fk__image_warp_affine", src, dw, dh, out);
    if (st != FK_OK)
        return st;
    if (!m || (border != FK_BORDER_CONSTANT && border != FK_BORDER_REPLICATE))
        return fk__fail(FK_EINVAL, "fk__image_warp_affine: needs a matrix and a "
                       "known border mode");
    fk_image *dst;
    if ((st = fk_image_new(dw, dh, src->channels, &dst)) != FK_OK)
        return st;
    for (int y = 0; y < dh; y++) {
        double bx = m[1] * y + m[2], by = m[4] * y + m[5];
        uint8_t *px = dst->data + (size_t)y * dst->stride;
        for (int x = 0; x < dw; x++, px += dst->channels)
            sample(src, m[0] * x + bx, m[3] * x + by, border, fill, px);
    }
    *out = dst;
    return FK_OK;
}

/* ---- crop and pad ------------------------------------------------------- */

/* Crop: a w x h copy of the source starting at (x, y), which may lie partly
 * or wholly outside; uncovered pixels are `fill`. Coordinates are widened to
 * 64 bits so no sum can overflow. */
fk_status fk__image_crop(const fk_image *src, int x, int y, int w, int h,
                        uint8_t fill, fk_image **out) {
    fk_status st = check_args("fk__image_crop", src, w, h, out);
    if (st != FK_OK)
        return st;
    fk_image *dst;
    if ((st = fk_image_new(w, h, src->channels, &dst)) != FK_OK)
        return st;
    memset(dst->data, fill, (size_t)h * dst->stride);
    int64_t x0 = x > 0 ? x : 0, y0 = y > 0 ? y : 0;
    int64_t x1 = (int64_t)x + w < src->width ? (int64_t)x + w : src->width;
    int64_t y1 = (int64_t)y + h < src->height ? (int64_t)y + h : src->height;
    size_t ch = (size_t)src->channels;
    for (int64_t sy = y0; sy < y1 && x0 < x1; sy++)
        memcpy(dst->data + (size_t)(sy - y) * dst->stride + (size_t)(x0 - x) * ch,
               src->data + (size_t)sy * src->stride + (size_t)x0 * ch,
               (size_t)(x1 - x0) * ch);
    *out = dst;
    return FK_OK;
}

/* Pad: the source on a bigger canvas of `fill`, which is a crop starting
 * above and left of the image. */
fk_status fk__image_pad(const fk_image *src, int left, int top, int right,
                       int bottom, uint8_t fill, fk_image **out) {
    if (out)
        *out = NULL;
    if (!image_valid(src) || !out)
        return fk__fail(FK_EINVAL, "fk__image_pad: needs a valid source image "
                       "and out");
    if (left < 0 || top < 0 || right < 0 || bottom < 0)
        return fk__fail(FK_EINVAL, "fk__image_pad: negative padding (%d, %d, "
                       "%d, %d)", left, top, right, bottom);
    int64_t w = (int64_t)src->width + left + right;
    int64_t h = (int64_t)src->height + top + bottom;
    if (w > INT_MAX || h > INT_MAX)
        return fk__fail(FK_EINVAL, "fk__image_pad: padded size is too large");
    return fk__image_crop(src, -left, -top, (int)w, (int)h, fill, out);
}
