/*
 * image_png.c - PNG both ways through libpng: decoding into 8-bit RGB
 * (palette, gray, 1/2/4/16-bit and interlaced files converted, with or
 * without transparency chunks (tRNS); samples
 * taken as stored, no gamma correction; an alpha channel dropped, not
 * composited, as OpenCV's imread(IMREAD_COLOR) does, so our pixels match
 * what deepface sees; chunks after the image data not read) and encoding
 * 8-bit RGB or gray for fk_image_save. The warning hook serves both
 * directions, which is why they share a file.
 *
 * libpng reports errors through longjmp. Each setjmp sits in a function
 * whose own locals are not modified after the setjmp; everything that changes
 * lives in a heap-allocated state struct reached through an unmodified
 * pointer, so nothing is indeterminate after the jump.
 */
#include "image/image.h"
#include "image/image_codec.h"
#include "core/error.h"

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

/* ---- PNG decoding ------------------------------------------------------- */

/* Everything a PNG decode touches after its setjmp. */
typedef struct png_decode {
    jmp_buf jump;
    char message[256];
    const char *name;
    size_t max_pixels;
    const uint8_t *data;
    size_t size, pos;
    png_structp png;
    png_infop info;
    fk_image *img;
    png_bytep *rows;
} png_decode;

/* libpng's error callback: keep the message and jump; it must not return. */
static void png_fail_error(png_structp png, png_const_charp msg) {
    png_decode *d = png_get_error_ptr(png);
    snprintf(d->message, sizeof d->message, "%s", msg);
    longjmp(d->jump, 1);
}

/* Warnings are recoverable by definition; the library never prints. */
static void png_fail_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

/* libpng's read callback over our memory buffer. */
static void png_read_memory(png_structp png, png_bytep out, size_t n) {
    png_decode *d = png_get_io_ptr(png);
    if (d->size - d->pos < n)
        png_error(png, "file ends early");
    memcpy(out, d->data + d->pos, n);
    d->pos += n;
}

/* Ask libpng for 8-bit RGB whatever the file holds: expand palettes and
 * low bit depths, scale 16-bit, drop alpha, widen gray, de-interlace.
 * Expanding a palette also turns a tRNS chunk (transparent palette
 * entries) into an alpha channel, and gray/RGB + tRNS may gain one, so
 * alpha is stripped whenever tRNS is present too, not only for the colour
 * types that carry it. */
static void png_request_rgb8(png_structp png, png_infop info) {
    int type = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    if (type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16)
        png_set_scale_16(png);
    if ((type & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    if (!(type & PNG_COLOR_MASK_COLOR))
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
}

/* Decode the PNG in d->data into d->img. The caller destroys d->png/info
 * and frees d->rows whatever happens. */
static fk_status png_decode_run(png_decode *d) {
    if (setjmp(d->jump))
        return fk__fail(FK_EFORMAT, "%s: truncated or corrupt PNG (%s)", d->name,
                       d->message);
    d->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, d, png_fail_error,
                                    png_fail_warning);
    if (!d->png || !(d->info = png_create_info_struct(d->png)))
        return fk__fail(FK_ENOMEM, "%s: out of memory", d->name);
    png_set_read_fn(d->png, d, png_read_memory);
    png_read_info(d->png, d->info);
    uint32_t w = png_get_image_width(d->png, d->info);
    uint32_t h = png_get_image_height(d->png, d->info);
    fk_status st = fk__check_budget(d->name, w, h, d->max_pixels);
    if (st != FK_OK)
        return st;
    png_request_rgb8(d->png, d->info);
    if (png_get_rowbytes(d->png, d->info) != (size_t)w * 3)
        return fk__fail(FK_EFORMAT, "%s: unsupported PNG pixel layout", d->name);
    if ((st = fk__image_alloc(d->name, (int)w, (int)h, &d->img)) != FK_OK)
        return st;
    if (!(d->rows = malloc(h * sizeof *d->rows)))
        return fk__fail(FK_ENOMEM, "%s: out of memory", d->name);
    for (uint32_t y = 0; y < h; y++)
        d->rows[y] = d->img->data + (size_t)y * d->img->stride;
    png_read_image(d->png, d->rows);
    return FK_OK;
}

/* Decode a PNG from memory into RGB. */
fk_status fk__decode_png(const uint8_t *data, size_t size, const char *name,
                         size_t max_pixels, fk_image **out) {
    png_decode *d = calloc(1, sizeof *d);
    if (!d)
        return fk__fail(FK_ENOMEM, "%s: out of memory", name);
    *d = (png_decode){.name = name, .max_pixels = max_pixels, .data = data,
                      .size = size};
    fk_status st = png_decode_run(d);
    png_destroy_read_struct(&d->png, &d->info, NULL);
    free(d->rows);
    if (st == FK_OK)
        *out = d->img;
    else
        fk_image_free(d->img);
    free(d);
    return st;
}

/* ---- PNG encoding ------------------------------------------------------- */

/* Everything a PNG encode touches after its setjmp. */
typedef struct png_encode {
    jmp_buf jump;
    char message[256];
    png_structp png;
    png_infop info;
} png_encode;

/* libpng's error callback for writing: keep the message and jump. */
static void png_encode_error(png_structp png, png_const_charp msg) {
    png_encode *e = png_get_error_ptr(png);
    snprintf(e->message, sizeof e->message, "%s", msg);
    longjmp(e->jump, 1);
}

/* Write img to f as an 8-bit RGB or gray PNG. The caller destroys
 * e->png/info. libpng's stdio writer fails on a short fwrite. */
static fk_status png_encode_run(png_encode *e, const fk_image *img, FILE *f,
                                const char *path) {
    if (setjmp(e->jump))
        return fk__fail(FK_EIO, "%s: cannot write PNG (%s)", path, e->message);
    e->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, e, png_encode_error,
                                     png_fail_warning);
    if (!e->png || !(e->info = png_create_info_struct(e->png)))
        return fk__fail(FK_ENOMEM, "%s: out of memory", path);
    png_init_io(e->png, f);
    png_set_IHDR(e->png, e->info, (png_uint_32)img->width,
                 (png_uint_32)img->height, 8,
                 img->channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(e->png, e->info);
    for (int y = 0; y < img->height; y++)
        png_write_row(e->png, img->data + (size_t)y * img->stride);
    png_write_end(e->png, NULL);
    return FK_OK;
}

/* Write img to f as a PNG. */
fk_status fk__write_png(const fk_image *img, FILE *f, const char *path) {
    png_encode *e = calloc(1, sizeof *e);
    if (!e)
        return fk__fail(FK_ENOMEM, "%s: out of memory", path);
    fk_status st = png_encode_run(e, img, f, path);
    png_destroy_write_struct(&e->png, &e->info);
    free(e);
    return st;
}
