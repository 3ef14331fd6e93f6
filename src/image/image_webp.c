/*
 * image_webp.c - WebP both ways through Debian's libwebp: decoding into
 * 8-bit RGB for fk_image_decode, encoding for fk_image_save (.webp).
 *
 * Decoding reads the header first (WebPGetFeatures): the pixel budget is
 * checked against the size it declares before any pixel memory exists, and
 * an animation is refused (a face photo is one frame; libwebp's simple
 * decoder cannot pick one). The pixels are then decoded straight into the
 * fk_image's buffer as RGB: an alpha channel is dropped, not composited,
 * as for PNG and as OpenCV's imread(IMREAD_COLOR) does. libwebp's simple
 * decoder needs the whole bitstream, so a truncated file is an error, never
 * a partial picture.
 *
 * Encoding: quality 1..99 is lossy (libwebp's quality factor, as cwebp -q);
 * 100 is lossless (as cwebp -lossless), because someone asking for the top
 * quality of a format that has an exact mode wants the exact pixels back,
 * and lossy -q 100 still changes them. Gray images are widened to RGB (WebP
 * has no gray mode). libwebp returns errors as codes, no longjmp.
 */
#include "image/image.h"
#include "image/image_codec.h"
#include "core/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/encode.h>

/* ---- WebP decoding ------------------------------------------------------ */

/* The RIFF container's own length (file size - 8), 0 when unreadable. */
static uint64_t riff_size(const uint8_t *p, size_t n) {
    if (n < 8)
        return 0;
    return (uint64_t)p[4] | (uint64_t)p[5] << 8 | (uint64_t)p[6] << 16 |
           (uint64_t)p[7] << 24;
}

/* Decode a WebP from memory (magic "RIFF....WEBP" already checked) into RGB. */
fk_status fk__decode_webp(const uint8_t *data, size_t size, const char *name,
                          size_t max_pixels, fk_image **out) {
    WebPBitstreamFeatures ft;
    VP8StatusCode vs = WebPGetFeatures(data, size, &ft);
    if (vs == VP8_STATUS_NOT_ENOUGH_DATA)
        return fk__fail(FK_EFORMAT, "%s: truncated WebP (the file ends inside "
                       "its header, after %zu bytes)", name, size);
    if (vs != VP8_STATUS_OK)
        return fk__fail(FK_EFORMAT, "%s: corrupt WebP header (libwebp status %d)",
                       name, (int)vs);
    if (ft.has_animation)
        return fk__fail(FK_EFORMAT, "%s: animated WebP is not supported; "
                       "extract one frame first (e.g. webpmux -get frame 1)",
                       name);
    fk_status st = fk__check_budget(name, (uint32_t)ft.width,
                                    (uint32_t)ft.height, max_pixels);
    if (st != FK_OK)
        return st;
    fk_image *img = NULL;
    if ((st = fk__image_alloc(name, ft.width, ft.height, &img)) != FK_OK)
        return st;
    size_t bytes = (size_t)img->height * img->stride;
    if (!WebPDecodeRGBInto(data, size, img->data, bytes, (int)img->stride)) {
        fk_image_free(img);
        uint64_t riff = riff_size(data, size);
        if (riff + 8 > size)
            return fk__fail(FK_EFORMAT, "%s: truncated WebP (%zu of the %llu "
                           "bytes its header announces)", name, size,
                           (unsigned long long)(riff + 8));
        return fk__fail(FK_EFORMAT, "%s: corrupt WebP (libwebp could not "
                       "decode the %dx%d pixels)", name, ft.width, ft.height);
    }
    *out = img;
    return FK_OK;
}

/* ---- WebP encoding ------------------------------------------------------ */

/* Write img (RGB or gray) to f as WebP: lossy at quality 1..99, lossless at
 * 100. */
fk_status fk__write_webp(const fk_image *img, FILE *f, int quality,
                         const char *path) {
    if (img->width > WEBP_MAX_DIMENSION || img->height > WEBP_MAX_DIMENSION)
        return fk__fail(FK_EINVAL, "%s: %dx%d is larger than WebP allows "
                       "(%d pixels a side); save as PNG", path, img->width,
                       img->height, WEBP_MAX_DIMENSION);
    const uint8_t *rgb = img->data;
    size_t stride = img->stride;
    uint8_t *wide = NULL;
    if (img->channels == 1) {
        stride = (size_t)img->width * 3;
        if (!(wide = malloc((size_t)img->height * stride)))
            return fk__fail(FK_ENOMEM, "%s: out of memory", path);
        for (int y = 0; y < img->height; y++) {
            const uint8_t *s = img->data + (size_t)y * img->stride;
            uint8_t *d = wide + (size_t)y * stride;
            for (int x = 0; x < img->width; x++)
                d[3 * x] = d[3 * x + 1] = d[3 * x + 2] = s[x];
        }
        rgb = wide;
    }
    uint8_t *enc = NULL;
    size_t n = quality >= 100
                   ? WebPEncodeLosslessRGB(rgb, img->width, img->height,
                                           (int)stride, &enc)
                   : WebPEncodeRGB(rgb, img->width, img->height, (int)stride,
                                   (float)quality, &enc);
    free(wide);
    if (n == 0) {
        WebPFree(enc);
        return fk__fail(FK_ENOMEM, "%s: WebP encoding failed (out of memory)",
                       path);
    }
    fk_status st = FK_OK;
    if (fwrite(enc, 1, n, f) != n)
        st = fk__fail(FK_EIO, "%s: cannot write WebP", path);
    WebPFree(enc);
    return st;
}
