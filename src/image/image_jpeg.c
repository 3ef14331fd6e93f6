/*
 * image_jpeg.c - JPEG both ways through libjpeg-turbo: decoding into 8-bit
 * RGB (grayscale, YCbCr, RGB, CMYK and YCCK converted; Adobe's inverted
 * CMYK followed; the EXIF orientation applied; 1/2, 1/4 or 1/8 scaled
 * decoding for fk_image_decode_scaled) and encoding for fk_image_save. The
 * error manager below serves both directions, which is why they share a
 * file. A file that ends before its pixel data does is an error, not a
 * grey-padded picture (see jpeg_fail_emit).
 *
 * libjpeg reports errors through longjmp. Each setjmp sits in a function
 * whose own locals are not modified after the setjmp; everything that changes
 * lives in a heap-allocated state struct reached through an unmodified
 * pointer, so nothing is indeterminate after the jump.
 */
#include "image/image.h"
#include "image/image_codec.h"
#include "core/error.h"

#include <limits.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

/* ---- JPEG errors -------------------------------------------------------- */

/* libjpeg's error manager plus where to jump and what it said. `pub` must be
 * first: libjpeg only sees a struct jpeg_error_mgr pointer. */
typedef struct jpeg_fail {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int eof_fatal; /* a premature end is an error at once (see below) */
    int eof_seen;  /* the data ran out; libjpeg now feeds a fake EOI */
    int truncated; /* the jump was for a premature end of data */
    char message[JMSG_LENGTH_MAX];
} jpeg_fail;

/* libjpeg calls this for fatal errors; it must not return. */
static void jpeg_fail_exit(j_common_ptr cinfo) {
    jpeg_fail *f = (jpeg_fail *)cinfo->err;
    f->pub.format_message(cinfo, f->message);
    longjmp(f->jump, 1);
}

/* Warnings (level -1) and trace messages. When the data runs out libjpeg
 * warns "Premature end of JPEG file" and pads with grey; we refuse that
 * picture. But the Huffman decoder reads ahead, so a file missing only its
 * final EOI marker warns too, with every pixel present. So in a single-scan
 * Huffman file the end of data is fatal only once the decoder really lacks
 * bits, which it reports with a further warning ("premature end of data
 * segment" or a restart resync). Before the header is read, and in
 * progressive, multi-scan or arithmetic-coded files (where missing scans
 * leave no trace), it is fatal at once. */
static void jpeg_fail_emit(j_common_ptr cinfo, int level) {
    jpeg_fail *f = (jpeg_fail *)cinfo->err;
    if (level >= 0)
        return;
    f->pub.num_warnings++;
    int eof = f->pub.msg_code == JWRN_JPEG_EOF;
    if (eof && !f->eof_seen)
        f->pub.format_message(cinfo, f->message);
    if (f->eof_seen || (eof && f->eof_fatal)) {
        f->truncated = 1;
        longjmp(f->jump, 1);
    }
    f->eof_seen |= eof;
}

/* The library never prints. */
static void jpeg_fail_output(j_common_ptr cinfo) { (void)cinfo; }

/* Install our handlers into f and return the manager for cinfo->err. */
static struct jpeg_error_mgr *jpeg_fail_init(jpeg_fail *f) {
    jpeg_std_error(&f->pub);
    f->eof_fatal = 1;
    f->pub.error_exit = jpeg_fail_exit;
    f->pub.emit_message = jpeg_fail_emit;
    f->pub.output_message = jpeg_fail_output;
    return &f->pub;
}

/* The status for a libjpeg failure: memory, writing, or bad data. */
static fk_status jpeg_fail_status(const jpeg_fail *f) {
    if (f->pub.msg_code == JERR_OUT_OF_MEMORY)
        return FK_ENOMEM;
    if (f->pub.msg_code == JERR_FILE_WRITE)
        return FK_EIO;
    return FK_EFORMAT;
}

/* The EXIF orientation (1..8) from the first Exif APP1 marker libjpeg saved
 * for us, or 1. */
static int jpeg_exif_orientation(j_decompress_ptr cinfo) {
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
        if (m->marker != JPEG_APP0 + 1 || m->data_length < 6 ||
            memcmp(m->data, "Exif\0\0", 6) != 0)
            continue;
        return fk__tiff_orientation(m->data + 6, m->data_length - 6);
    }
    return 1;
}

/* ---- JPEG decoding ------------------------------------------------------ */

/* Everything a JPEG decode touches after its setjmp. */
typedef struct jpeg_decode {
    struct jpeg_decompress_struct cinfo;
    jpeg_fail fail;
    const char *name;
    size_t max_pixels;
    int max_side;     /* reduce while the long side stays >= this; 0: never */
    int denom;        /* the reduction chosen: 1, 2, 4 or 8 */
    int orientation;
    fk_image *img;    /* decoded, stored orientation */
    uint8_t *cmyk;    /* one CMYK row when converting */
} jpeg_decode;

/* CMYK row to RGB. Adobe software stores CMYK inverted (the byte is 255 -
 * ink); others store ink. In "paper" terms (255 - ink) the red channel is
 * simply paper_c * paper_k / 255. */
static void cmyk_to_rgb(const uint8_t *src, uint8_t *dst, int width,
                        int inverted) {
    for (int x = 0; x < width; x++, src += 4, dst += 3) {
        unsigned c = src[0], m = src[1], y = src[2], k = src[3];
        if (!inverted) {
            c = 255 - c;
            m = 255 - m;
            y = 255 - y;
            k = 255 - k;
        }
        dst[0] = (uint8_t)((c * k + 127) / 255);
        dst[1] = (uint8_t)((m * k + 127) / 255);
        dst[2] = (uint8_t)((y * k + 127) / 255);
    }
}

/* Read every scanline into d->img (allocated here, after the budget check).
 * Assumes jpeg_start_decompress has run. */
static fk_status jpeg_read_pixels(jpeg_decode *d, int cmyk) {
    j_decompress_ptr cinfo = &d->cinfo;
    fk_status st = fk__image_alloc(d->name, (int)cinfo->output_width,
                               (int)cinfo->output_height, &d->img);
    if (st != FK_OK)
        return st;
    if (cmyk && !(d->cmyk = malloc((size_t)cinfo->output_width * 4)))
        return fk__fail(FK_ENOMEM, "%s: out of memory", d->name);
    while (cinfo->output_scanline < cinfo->output_height) {
        uint8_t *dst = d->img->data + (size_t)cinfo->output_scanline * d->img->stride;
        JSAMPROW row = cmyk ? d->cmyk : dst;
        if (jpeg_read_scanlines(cinfo, &row, 1) != 1)
            return fk__fail(FK_EFORMAT, "%s: JPEG decoder stopped early", d->name);
        if (cmyk)
            cmyk_to_rgb(d->cmyk, dst, d->img->width, cinfo->saw_Adobe_marker);
    }
    return FK_OK;
}

/* The strongest DCT reduction 1/denom (denom 8, 4 or 2; else 1) that leaves
 * the long side of a w x h image at least max_side. libjpeg rounds scaled
 * sizes up, so we do too. */
static int jpeg_scale_denom(uint32_t w, uint32_t h, int max_side) {
    if (max_side <= 0)
        return 1;
    uint64_t long_side = w > h ? w : h;
    for (int denom = 8; denom >= 2; denom /= 2)
        if ((long_side + (uint64_t)denom - 1) / (uint64_t)denom >=
            (uint64_t)max_side)
            return denom;
    return 1;
}

/* Decode the JPEG in data into d->img (stored orientation) and note its EXIF
 * orientation. d is zeroed by the caller, which destroys cinfo afterwards
 * whatever happens. */
static fk_status jpeg_decode_run(jpeg_decode *d, const uint8_t *data,
                                 size_t size) {
    d->cinfo.err = jpeg_fail_init(&d->fail);
    if (setjmp(d->fail.jump)) {
        if (d->fail.truncated || d->fail.eof_seen)
            return fk__fail(FK_EFORMAT, "%s: truncated or corrupt JPEG (%s)",
                           d->name, d->fail.message);
        return fk__fail(jpeg_fail_status(&d->fail), "%s: corrupt JPEG (%s)",
                       d->name, d->fail.message);
    }
    jpeg_create_decompress(&d->cinfo);
    jpeg_mem_src(&d->cinfo, data, (unsigned long)size);
    jpeg_save_markers(&d->cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&d->cinfo, TRUE);
    fk_status st = fk__check_budget(d->name, d->cinfo.image_width,
                                d->cinfo.image_height, d->max_pixels);
    if (st != FK_OK)
        return st;
    d->orientation = jpeg_exif_orientation(&d->cinfo);
    d->denom = jpeg_scale_denom(d->cinfo.image_width, d->cinfo.image_height,
                                d->max_side);
    d->cinfo.scale_num = 1;
    d->cinfo.scale_denom = (unsigned)d->denom;
    d->fail.eof_fatal = jpeg_has_multiple_scans(&d->cinfo) ||
                        d->cinfo.arith_code;
    int cmyk = d->cinfo.jpeg_color_space == JCS_CMYK ||
               d->cinfo.jpeg_color_space == JCS_YCCK;
    /* libjpeg turns gray and YCbCr into RGB itself, and YCCK into CMYK. */
    d->cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&d->cinfo);
    if (d->cinfo.output_components != (cmyk ? 4 : 3))
        return fk__fail(FK_EFORMAT, "%s: unsupported JPEG colour layout", d->name);
    st = jpeg_read_pixels(d, cmyk);
    if (st != FK_OK)
        return st;
    jpeg_finish_decompress(&d->cinfo);
    return FK_OK;
}

/* Decode a JPEG from memory into an upright RGB image, reduced per
 * max_side (0: full size). */
fk_status fk__decode_jpeg(const uint8_t *data, size_t size, const char *name,
                          size_t max_pixels, int max_side, fk_image **out) {
    jpeg_decode *d = calloc(1, sizeof *d);
    if (!d)
        return fk__fail(FK_ENOMEM, "%s: out of memory", name);
    d->name = name;
    d->max_pixels = max_pixels;
    d->max_side = max_side;
    fk_status st = jpeg_decode_run(d, data, size);
    jpeg_destroy_decompress(&d->cinfo);
    free(d->cmyk);
    if (st == FK_OK && d->orientation > 1) {
        st = fk__orient_image(d->img, d->orientation, name, out);
        fk_image_free(d->img);
    } else if (st == FK_OK) {
        *out = d->img;
    } else {
        fk_image_free(d->img);
    }
    if (st == FK_OK)
        (*out)->scale = 1.0f / (float)d->denom;
    free(d);
    return st;
}

/* ---- JPEG encoding ------------------------------------------------------ */

/* Everything a JPEG encode touches after its setjmp. */
typedef struct jpeg_encode {
    struct jpeg_compress_struct cinfo;
    jpeg_fail fail;
} jpeg_encode;

/* Compress img into f at `quality`. The caller destroys e->cinfo. */
static fk_status jpeg_encode_run(jpeg_encode *e, const fk_image *img, FILE *f,
                                 int quality, const char *path) {
    e->cinfo.err = jpeg_fail_init(&e->fail);
    if (setjmp(e->fail.jump))
        return fk__fail(jpeg_fail_status(&e->fail), "%s: cannot write JPEG (%s)",
                       path, e->fail.message);
    jpeg_create_compress(&e->cinfo);
    jpeg_stdio_dest(&e->cinfo, f);
    e->cinfo.image_width = (JDIMENSION)img->width;
    e->cinfo.image_height = (JDIMENSION)img->height;
    e->cinfo.input_components = img->channels;
    e->cinfo.in_color_space = img->channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&e->cinfo);
    jpeg_set_quality(&e->cinfo, quality, TRUE);
    jpeg_start_compress(&e->cinfo, TRUE);
    while (e->cinfo.next_scanline < e->cinfo.image_height) {
        /* libjpeg's row type is not const, but it only reads input rows. */
        JSAMPROW row = (JSAMPROW)(img->data + (size_t)e->cinfo.next_scanline * img->stride);
        jpeg_write_scanlines(&e->cinfo, &row, 1);
    }
    jpeg_finish_compress(&e->cinfo);
    return FK_OK;
}

/* Write img to f as a JPEG. */
fk_status fk__write_jpeg(const fk_image *img, FILE *f, int quality,
                         const char *path) {
    jpeg_encode *e = calloc(1, sizeof *e);
    if (!e)
        return fk__fail(FK_ENOMEM, "%s: out of memory", path);
    fk_status st = jpeg_encode_run(e, img, f, quality, path);
    jpeg_destroy_compress(&e->cinfo);
    free(e);
    return st;
}
