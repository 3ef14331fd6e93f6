/*
 * image_codec.h - what the image codec files share (internal to the image
 * layer): the buffer helpers of image_decode.c, the EXIF orientation of
 * image_exif.c, and the decoders and encoders of image_jpeg.c,
 * image_png.c, image_webp.c and image_bmp.c that fk_image_decode and
 * fk_image_save dispatch to, and the reader of image_decode.c that
 * image_source.c shares.
 */
#ifndef FK_IMAGE_CODEC_H
#define FK_IMAGE_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "facekit.h"

/* image_decode.c: true if img is something we can read pixels from; an
 * RGB fk_image_new whose failure message names the file; the pixel budget,
 * checked from header fields before any pixel memory exists. */
int fk__image_valid(const fk_image *img);
fk_status fk__image_alloc(const char *name, int w, int h, fk_image **out);
fk_status fk__check_budget(const char *name, uint32_t w, uint32_t h, size_t max_pixels);
/* image_decode.c: read the rest of f, at most `bound` bytes, into a new
 * malloc'd buffer. Returns 0, ENOMEM, EFBIG (more than bound bytes; nothing
 * is returned) or another errno value. */
int fk__read_bounded(FILE *f, size_t bound, uint8_t **buf, size_t *len);
/* image_decode.c: true if the first bytes are those of a format we decode. */
int fk__image_magic(const uint8_t *p, size_t n);

/* image_exif.c: the orientation tag (1..8) of a TIFF block (the body of an
 * Exif APP1 marker), 1 when absent or malformed; a new RGB image holding
 * src turned upright per orientation o (2..8; 5..8 swap width and height). */
int fk__tiff_orientation(const uint8_t *p, size_t n);
fk_status fk__orient_image(const fk_image *src, int o, const char *name, fk_image **out);

/* image_jpeg.c / image_png.c / image_webp.c / image_bmp.c: decode a whole
 * file held in memory (the magic bytes already checked) into 8-bit RGB;
 * name labels the messages. */
fk_status fk__decode_jpeg(const uint8_t *data, size_t size, const char *name,
                          size_t max_pixels, int max_side, fk_image **out);
fk_status fk__decode_png(const uint8_t *data, size_t size, const char *name,
                         size_t max_pixels, fk_image **out);
fk_status fk__decode_webp(const uint8_t *data, size_t size, const char *name,
                          size_t max_pixels, fk_image **out);
fk_status fk__decode_bmp(const uint8_t *data, size_t size, const char *name,
                         size_t max_pixels, fk_image **out);

/* image_jpeg.c / image_png.c / image_webp.c: encode img (1 or 3 channels,
 * checked by the caller) into f; path labels the messages. WebP quality
 * 1..99 is lossy, 100 lossless. */
fk_status fk__write_jpeg(const fk_image *img, FILE *f, int quality, const char *path);
fk_status fk__write_png(const fk_image *img, FILE *f, const char *path);
fk_status fk__write_webp(const fk_image *img, FILE *f, int quality, const char *path);

#endif
