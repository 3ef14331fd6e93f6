/*
 * image_decode.c - fk_image buffers, and decoding: fk_image_decode /
 * fk_image_load look at the first bytes and hand the file to the JPEG
 * (image_jpeg.c), PNG (image_png.c), WebP (image_webp.c) or BMP
 * (image_bmp.c) decoder; the EXIF orientation is in image_exif.c, saving in
 * image_save.c, inputs given as text, stdin or caller pixels in
 * image_source.c.
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
 *    converted, transparency (tRNS) included. Samples are taken as stored
 *    (no gamma correction) and an alpha channel is dropped, not composited,
 *    as OpenCV's imread(IMREAD_COLOR) does, so our pixels match what
 *    deepface sees. Chunks after the image data are not read: a damaged
 *    trailer does not reject a complete image.
 *  - WebP (libwebp) and BMP (our own decoder): see their files; alpha is
 *    dropped in the same way.
 *  - Every file is held to the byte bound fk_image_max_bytes before it is
 *    read: a regular file by its stat size, anything else (a pipe, a
 *    device) by stopping after the bound.
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

/* 4 bytes a pixel plus 1 MiB of metadata (facekit.h says why), saturating
 * rather than wrapping for absurd budgets. */
size_t fk_image_max_bytes(size_t max_pixels) {
    if (max_pixels == 0)
        max_pixels = FK_DEFAULT_MAX_PIXELS;
    const size_t slack = (size_t)1 << 20;
    if (max_pixels > (SIZE_MAX - slack) / 4)
        return SIZE_MAX;
    return 4 * max_pixels + slack;
}

enum { MAGIC_NONE, MAGIC_JPEG, MAGIC_PNG, MAGIC_WEBP, MAGIC_BMP };

/* Which decoder the first bytes ask for. */
static int magic_of(const uint8_t *p, size_t size) {
    if (size >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        return MAGIC_JPEG;
    if (size >= 4 && memcmp(p, "\x89PNG", 4) == 0)
        return MAGIC_PNG;
    if (size >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return MAGIC_WEBP;
    if (size >= 2 && p[0] == 'B' && p[1] == 'M')
        return MAGIC_BMP;
    return MAGIC_NONE;
}

int fk__image_magic(const uint8_t *p, size_t n) { return magic_of(p, n) != MAGIC_NONE; }

/* Decode JPEG, PNG, WebP or BMP bytes, chosen by their magic numbers; a large JPEG
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
    switch (magic_of(p, size)) {
    case MAGIC_JPEG: return fk__decode_jpeg(p, size, name, max_pixels, max_side, out);
    case MAGIC_PNG: return fk__decode_png(p, size, name, max_pixels, out);
    case MAGIC_WEBP: return fk__decode_webp(p, size, name, max_pixels, out);
    case MAGIC_BMP: return fk__decode_bmp(p, size, name, max_pixels, out);
    default: break;
    }
    return fk__fail(FK_EFORMAT, "%s: not a JPEG, PNG, WebP or BMP image", name);
}

/* Decode at full size. */
fk_status fk_image_decode(const void *data, size_t size, const char *name,
                          size_t max_pixels, fk_image **out) {
    return fk_image_decode_scaled(data, size, name, max_pixels, 0, out);
}

/* Read the rest of f, at most `bound` bytes, into a malloc'd buffer.
 * Returns 0, or an errno value (EFBIG: there was more than bound). The file
 * size (when known) sizes the buffer; growth covers pipes and files that
 * change while we read, and stops one byte past the bound, so a stream
 * never costs more than bound + 1 bytes of memory. */
int fk__read_bounded(FILE *f, size_t bound, uint8_t **buf, size_t *len) {
    struct stat sb;
    size_t cap = 65536, n = 0;
    if (bound == SIZE_MAX)
        bound = SIZE_MAX - 1;
    if (fstat(fileno(f), &sb) == 0 && sb.st_size > 0 &&
        (uintmax_t)sb.st_size < bound)
        cap = (size_t)sb.st_size + 1; /* +1: EOF is seen without a regrow */
    if (cap > bound + 1)
        cap = bound + 1;
    uint8_t *b = malloc(cap);
    if (!b)
        return ENOMEM;
    for (;;) {
        if (n == cap) {
            if (n > bound) {
                free(b);
                return EFBIG;
            }
            size_t ncap = cap <= (bound + 1) / 2 ? cap * 2 : bound + 1;
            uint8_t *nb = realloc(b, ncap);
            if (!nb) {
                free(b);
                return ENOMEM;
            }
            b = nb;
            cap = ncap;
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
    if (n > bound) {
        free(b);
        return EFBIG;
    }
    *buf = b;
    *len = n;
    return 0;
}

/* Read a whole file, then decode it, reduced per max_side (0: full size).
 * A regular file is measured before it is read. */
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
    size_t bound = fk_image_max_bytes(max_pixels);
    struct stat sb;
    int known = fstat(fileno(f), &sb) == 0;
    if (known && S_ISDIR(sb.st_mode)) {
        fclose(f);
        return fk__fail(FK_EIO, "%s: cannot read: it is a directory", path);
    }
    if (known && S_ISREG(sb.st_mode) && (uintmax_t)sb.st_size > bound) {
        fclose(f);
        return fk__fail(FK_ETOOBIG, "%s: file is %.1f MB, over the %.1f MB an "
                       "image within the %g-megapixel budget can need",
                       path, (double)sb.st_size / 1e6, (double)bound / 1e6,
                       (double)(max_pixels ? max_pixels : FK_DEFAULT_MAX_PIXELS) / 1e6);
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    errno = 0;
    int err = fk__read_bounded(f, bound, &buf, &len);
    fclose(f);
    if (err == ENOMEM)
        return fk__fail(FK_ENOMEM, "%s: out of memory reading the file", path);
    if (err == EFBIG)
        return fk__fail(FK_ETOOBIG, "%s: more than %.1f MB, over what an image "
                       "within the %g-megapixel budget can need", path,
                       (double)bound / 1e6,
                       (double)(max_pixels ? max_pixels : FK_DEFAULT_MAX_PIXELS) / 1e6);
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
