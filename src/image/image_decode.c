/*
 * image_decode.c - fk_image buffers, and decoding: fk_image_decode /
 * fk_image_load look at the first bytes and hand the file to the JPEG
 * (image_jpeg.c) or PNG (image_png.c) decoder; the EXIF orientation is in
 * image_exif.c, saving in image_save.c.
 *
 * What a caller gets from fk_image_load / fk_image_decode, for every input:
 *  - 8-bit RGB, channels == 3, stride == width * 3.
 *  - JPEG (libjpeg-turbo): grayscale, YCbCr, RGB, CMYK and YCCK are converted
 *    to RGB (CMYK written by Adobe software is stored inverted; we follow the
 *    Adobe marker). The EXIF orientation tag is applied, so the pixels stand
 *    upright as a photo viewer shows them. A file that ends before its pixel
 *    data does is an error, not a grey-padded picture; other libjpeg warnings
 *    (extraneous bytes before a marker and the like, common in camera files)
 *    are tolerated because the picture is still whole.
 *  - PNG (libpng): palette, gray, 1/2/4/16-bit and interlaced files are
 *    converted. Samples are taken as stored (no gamma correction) and an alpha
 *    channel is dropped, not composited, as OpenCV's imread(IMREAD_COLOR)
 *    does, so our pixels match what deepface sees. Chunks after the image
 *    data are not read: a damaged trailer does not reject a complete image.
 *  - The pixel budget is checked against the header, before any pixel memory
 *    is allocated, so a 20-byte file claiming 60000x60000 costs nothing.
 *  - With a max_side bound (fk_image_decode_scaled), a JPEG at least twice
 *    that size on its long side is decoded at 1/2, 1/4 or 1/8 by libjpeg's
 *    scaled inverse DCT: each 8x8 block of coefficients becomes a 4x4, 2x2
 *    or 1x1 block of pixels, so the IDCT, colour conversion and upsampling
 *    work shrink with the output and the block grid keeps the mapping to the
 *    original exact (decoded x = original x * scale). img->scale says which.
 *
 * Both codecs report errors through longjmp; image_jpeg.c and image_png.c
 * say why their setjmp discipline is safe.
 */
#include "image/image.h"
#include "image/image_codec.h"
#include "core/error.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- buffers ------------------------------------------------------------ */

/* Allocate a zero-filled width x height image of 1 (gray) or 3 (RGB)
 * channels, stride width * channels. Refuses sizes whose byte count would
 * overflow size_t. */
fk_status fk_image_new(int width, int height, int channels, fk_image **out) {
    if (!out)
        return fk__fail(FK_EINVAL, "fk_image_new: out is NULL");
    *out = NULL;
    if (width <= 0 || height <= 0)
        return fk__fail(FK_EINVAL, "fk_image_new: size %dx%d is not positive",
                       width, height);
    if (channels != 1 && channels != 3)
        return fk__fail(FK_EINVAL, "fk_image_new: %d channels (must be 1 or 3)",
                       channels);
    size_t stride = (size_t)width * (size_t)channels;
    if ((size_t)height > SIZE_MAX / stride)
        return fk__fail(FK_ENOMEM, "fk_image_new: %dx%d is too large to address",
                       width, height);
    fk_image *img = malloc(sizeof *img);
    uint8_t *data = calloc((size_t)height, stride);
    if (!img || !data) {
        free(img);
        free(data);
        return fk__fail(FK_ENOMEM, "out of memory for a %dx%d image", width,
                       height);
    }
    *img = (fk_image){width, height, channels, stride, data, 1.0f};
    *out = img;
    return FK_OK;
}

/* Free an image and its pixels; NULL is fine. */
void fk_image_free(fk_image *img) {
    if (!img)
        return;
    free(img->data);
    free(img);
}

/* True if img is something we can read pixels from. */
int fk__image_valid(const fk_image *img) {
    return img && img->data && img->width > 0 && img->height > 0 &&
           (img->channels == 1 || img->channels == 3) &&
           img->stride >= (size_t)img->width * (size_t)img->channels;
}

/* fk_image_new for a decoder: the message names the file on failure. */
fk_status fk__image_alloc(const char *name, int w, int h, fk_image **out) {
    fk_status st = fk_image_new(w, h, 3, out);
    if (st != FK_OK)
        return fk__fail(st, "%s: out of memory for a %dx%d image", name, w, h);
    return FK_OK;
}

/* The pixel budget, checked from header fields before any pixel memory
 * exists. Zero sizes are corrupt; sizes beyond int cannot be an fk_image. */
fk_status fk__check_budget(const char *name, uint32_t w, uint32_t h,
                           size_t max_pixels) {
    if (w == 0 || h == 0)
        return fk__fail(FK_EFORMAT, "%s: image header says %ux%u pixels", name,
                       w, h);
    uint64_t n = (uint64_t)w * h;
    if (w > INT_MAX || h > INT_MAX)
        return fk__fail(FK_ETOOBIG, "%s: image is %ux%u, larger than facekit "
                       "can address", name, w, h);
    if (n > max_pixels)
        return fk__fail(FK_ETOOBIG,
                       "%s: image is %ux%u (%.1f megapixels), over the limit "
                       "of %g megapixels",
                       name, w, h, (double)n / 1e6, (double)max_pixels / 1e6);
    return FK_OK;
}

/* ---- public decoding ---------------------------------------------------- */

/* Decode JPEG or PNG bytes, chosen by their magic numbers; a large JPEG
 * reduced per max_side (0: full size). `name` starts every error message
 * (NULL: "image"). */
fk_status fk_image_decode_scaled(const void *data, size_t size,
                                 const char *name, size_t max_pixels,
                                 int max_side, fk_image **out) {
    fk__clear_error();
    if (!name)
        name = "image";
    if (!out)
        return fk__fail(FK_EINVAL, "%s: fk_image_decode: out is NULL", name);
    *out = NULL;
    if (max_side < 0)
        return fk__fail(FK_EINVAL, "%s: decode max_side %d is negative (0 "
                       "decodes in full)", name, max_side);
    if (size == 0)
        return fk__fail(FK_EFORMAT, "%s: empty file", name);
    if (!data)
        return fk__fail(FK_EINVAL, "%s: fk_image_decode: data is NULL", name);
    if (max_pixels == 0)
        max_pixels = FK_DEFAULT_MAX_PIXELS;
    const uint8_t *p = data;
    if (size >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        return fk__decode_jpeg(p, size, name, max_pixels, max_side, out);
    if (size >= 4 && memcmp(p, "\x89PNG", 4) == 0)
        return fk__decode_png(p, size, name, max_pixels, out);
    return fk__fail(FK_EFORMAT, "%s: not a JPEG or PNG image", name);
}

/* Decode at full size. */
fk_status fk_image_decode(const void *data, size_t size, const char *name,
                          size_t max_pixels, fk_image **out) {
    return fk_image_decode_scaled(data, size, name, max_pixels, 0, out);
}

/* Read the rest of f into a malloc'd buffer. Returns 0, or an errno value.
 * The file size (when known) sizes the buffer; growth covers pipes and files
 * that change while we read. */
static int read_stream(FILE *f, uint8_t **buf, size_t *len) {
    struct stat sb;
    size_t cap = 65536, n = 0;
    if (fstat(fileno(f), &sb) == 0 && sb.st_size > 0 &&
        (uintmax_t)sb.st_size < SIZE_MAX)
        cap = (size_t)sb.st_size + 1; /* +1: EOF is seen without a regrow */
    uint8_t *b = malloc(cap);
    if (!b)
        return ENOMEM;
    for (;;) {
        if (n == cap) {
            uint8_t *nb = cap <= SIZE_MAX / 2 ? realloc(b, cap * 2) : NULL;
            if (!nb) {
                free(b);
                return ENOMEM;
            }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        int err = errno ? errno : EIO;
        free(b);
        return err;
    }
    *buf = b;
    *len = n;
    return 0;
}

/* Read a whole file, then decode it, reduced per max_side (0: full size). */
fk_status fk_image_load_scaled(const char *path, size_t max_pixels,
                               int max_side, fk_image **out) {
    fk__clear_error();
    if (out)
        *out = NULL;
    if (!path || !out)
        return fk__fail(FK_EINVAL, "fk_image_load: path and out must not be NULL");
    if (max_side < 0)
        return fk__fail(FK_EINVAL, "%s: decode max_side %d is negative (0 "
                       "decodes in full)", path, max_side);
    FILE *f = fopen(path, "rb");
    if (!f)
        return fk__fail(FK_EIO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    size_t len = 0;
    errno = 0;
    int err = read_stream(f, &buf, &len);
    fclose(f);
    if (err == ENOMEM)
        return fk__fail(FK_ENOMEM, "%s: out of memory reading the file", path);
    if (err)
        return fk__fail(FK_EIO, "%s: cannot read: %s", path, strerror(err));
    fk_status st = fk_image_decode_scaled(buf, len, path, max_pixels, max_side,
                                          out);
    free(buf);
    return st;
}

/* Read a whole file, then decode it at full size. */
fk_status fk_image_load(const char *path, size_t max_pixels, fk_image **out) {
    return fk_image_load_scaled(path, max_pixels, 0, out);
}
