/*
 * image_decode.c - fk_image buffers, decoding JPEG and PNG into RGB, and
 * saving as JPEG or PNG.
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
 * Both codecs report errors through longjmp. Each setjmp sits in a function
 * whose own locals are not modified after the setjmp; everything that changes
 * lives in a heap-allocated state struct reached through an unmodified
 * pointer, so nothing is indeterminate after the jump.
 */
#include "image/image.h"
#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

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
static int image_valid(const fk_image *img) {
    return img && img->data && img->width > 0 && img->height > 0 &&
           (img->channels == 1 || img->channels == 3) &&
           img->stride >= (size_t)img->width * (size_t)img->channels;
}

/* fk_image_new for a decoder: the message names the file on failure. */
static fk_status image_alloc(const char *name, int w, int h, fk_image **out) {
    fk_status st = fk_image_new(w, h, 3, out);
    if (st != FK_OK)
        return fk__fail(st, "%s: out of memory for a %dx%d image", name, w, h);
    return FK_OK;
}

/* The pixel budget, checked from header fields before any pixel memory
 * exists. Zero sizes are corrupt; sizes beyond int cannot be an fk_image. */
static fk_status check_budget(const char *name, uint32_t w, uint32_t h,
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

/* ---- EXIF orientation --------------------------------------------------- */

/* A TIFF block (the body of an Exif APP1 marker) and its byte order. */
typedef struct tiff_view {
    const uint8_t *p;
    size_t n;
    int big_endian;
} tiff_view;

/* Read a 16-bit value at off; 0 if it would run past the end. */
static int tiff_u16(const tiff_view *t, size_t off, uint32_t *v) {
    if (off > t->n || t->n - off < 2)
        return 0;
    const uint8_t *b = t->p + off;
    *v = t->big_endian ? (uint32_t)b[0] << 8 | b[1] : (uint32_t)b[1] << 8 | b[0];
    return 1;
}

/* Read a 32-bit value at off; 0 if it would run past the end. */
static int tiff_u32(const tiff_view *t, size_t off, uint32_t *v) {
    uint32_t a, b;
    if (off > SIZE_MAX - 2 || !tiff_u16(t, off, &a) || !tiff_u16(t, off + 2, &b))
        return 0;
    *v = t->big_endian ? a << 16 | b : b << 16 | a;
    return 1;
}

/* The orientation tag (0x0112) of IFD0 in a TIFF block, 1 when absent or
 * malformed. Every read is bounds-checked: this is untrusted input. */
static int tiff_orientation(const uint8_t *p, size_t n) {
    tiff_view t = {p, n, 0};
    if (n < 8)
        return 1;
    if (p[0] == 'M' && p[1] == 'M')
        t.big_endian = 1;
    else if (p[0] != 'I' || p[1] != 'I')
        return 1;
    uint32_t magic, ifd, count;
    if (!tiff_u16(&t, 2, &magic) || magic != 42 || !tiff_u32(&t, 4, &ifd) ||
        !tiff_u16(&t, ifd, &count))
        return 1;
    for (uint32_t i = 0; i < count; i++) {
        size_t entry = (size_t)ifd + 2 + (size_t)i * 12;
        uint32_t tag, type, value;
        if (!tiff_u16(&t, entry, &tag) || !tiff_u16(&t, entry + 2, &type))
            return 1;
        if (tag != 0x0112)
            continue;
        /* SHORT per the spec; a few writers use LONG. The value sits at the
         * start of the entry's 4-byte value field either way. */
        int ok = type == 3 ? tiff_u16(&t, entry + 8, &value)
                 : type == 4 ? tiff_u32(&t, entry + 8, &value) : 0;
        return ok && value >= 1 && value <= 8 ? (int)value : 1;
    }
    return 1;
}

/* The EXIF orientation (1..8) from the first Exif APP1 marker libjpeg saved
 * for us, or 1. */
static int jpeg_exif_orientation(j_decompress_ptr cinfo) {
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
        if (m->marker != JPEG_APP0 + 1 || m->data_length < 6 ||
            memcmp(m->data, "Exif\0\0", 6) != 0)
            continue;
        return tiff_orientation(m->data + 6, m->data_length - 6);
    }
    return 1;
}

/* Where output pixel (0,0) comes from in the stored image, and how the
 * source position moves per output step in x and in y. Orientation o says
 * how the stored pixels must be turned to stand upright:
 * 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise,
 * 7 transverse, 8 rotate 90 counter-clockwise. */
typedef struct orient_map {
    int x0_from_right, y0_from_bottom; /* start at the far edge? */
    int sx_dx, sy_dx, sx_dy, sy_dy;   /* source step per output dx, dy */
} orient_map;

static const orient_map orient_maps[9] = {
    [1] = {0, 0, 1, 0, 0, 1},   [2] = {1, 0, -1, 0, 0, 1},
    [3] = {1, 1, -1, 0, 0, -1}, [4] = {0, 1, 1, 0, 0, -1},
    [5] = {0, 0, 0, 1, 1, 0},   [6] = {0, 1, 0, -1, 1, 0},
    [7] = {1, 1, 0, -1, -1, 0}, [8] = {1, 0, 0, 1, -1, 0},
};

/* A new RGB image holding `src` turned upright per orientation o (2..8).
 * Orientations 5..8 swap width and height. */
static fk_status orient_image(const fk_image *src, int o, const char *name,
                              fk_image **out) {
    const orient_map *m = &orient_maps[o];
    int swap = o >= 5;
    fk_image *dst;
    fk_status st = image_alloc(name, swap ? src->height : src->width,
                               swap ? src->width : src->height, &dst);
    if (st != FK_OK)
        return st;
    ptrdiff_t stride = (ptrdiff_t)src->stride;
    ptrdiff_t start = (m->y0_from_bottom ? src->height - 1 : 0) * stride +
                      (m->x0_from_right ? src->width - 1 : 0) * 3;
    ptrdiff_t step_x = m->sy_dx * stride + m->sx_dx * 3;
    ptrdiff_t step_y = m->sy_dy * stride + m->sx_dy * 3;
    for (int y = 0; y < dst->height; y++) {
        ptrdiff_t s = start + y * step_y;
        uint8_t *d = dst->data + (size_t)y * dst->stride;
        for (int x = 0; x < dst->width; x++, s += step_x, d += 3)
            memcpy(d, src->data + s, 3);
    }
    *out = dst;
    return FK_OK;
}

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
    fk_status st = image_alloc(d->name, (int)cinfo->output_width,
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
    fk_status st = check_budget(d->name, d->cinfo.image_width,
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
static fk_status decode_jpeg(const uint8_t *data, size_t size, const char *name,
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
        st = orient_image(d->img, d->orientation, name, out);
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
 * low bit depths, scale 16-bit, drop alpha, widen gray, de-interlace. */
static void png_request_rgb8(png_structp png, png_infop info) {
    int type = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    if (type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16)
        png_set_scale_16(png);
    if (type & PNG_COLOR_MASK_ALPHA)
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
    fk_status st = check_budget(d->name, w, h, d->max_pixels);
    if (st != FK_OK)
        return st;
    png_request_rgb8(d->png, d->info);
    if (png_get_rowbytes(d->png, d->info) != (size_t)w * 3)
        return fk__fail(FK_EFORMAT, "%s: unsupported PNG pixel layout", d->name);
    if ((st = image_alloc(d->name, (int)w, (int)h, &d->img)) != FK_OK)
        return st;
    if (!(d->rows = malloc(h * sizeof *d->rows)))
        return fk__fail(FK_ENOMEM, "%s: out of memory", d->name);
    for (uint32_t y = 0; y < h; y++)
        d->rows[y] = d->img->data + (size_t)y * d->img->stride;
    png_read_image(d->png, d->rows);
    return FK_OK;
}

/* Decode a PNG from memory into RGB. */
static fk_status decode_png(const uint8_t *data, size_t size, const char *name,
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
        return decode_jpeg(p, size, name, max_pixels, max_side, out);
    if (size >= 4 && memcmp(p, "\x89PNG", 4) == 0)
        return decode_png(p, size, name, max_pixels, out);
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
static fk_status write_jpeg(const fk_image *img, FILE *f, int quality,
                            const char *path) {
    jpeg_encode *e = calloc(1, sizeof *e);
    if (!e)
        return fk__fail(FK_ENOMEM, "%s: out of memory", path);
    fk_status st = jpeg_encode_run(e, img, f, quality, path);
    jpeg_destroy_compress(&e->cinfo);
    free(e);
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
static fk_status write_png(const fk_image *img, FILE *f, const char *path) {
    png_encode *e = calloc(1, sizeof *e);
    if (!e)
        return fk__fail(FK_ENOMEM, "%s: out of memory", path);
    fk_status st = png_encode_run(e, img, f, path);
    png_destroy_write_struct(&e->png, &e->info);
    free(e);
    return st;
}

/* ---- saving ------------------------------------------------------------- */

enum { SAVE_JPEG, SAVE_PNG, SAVE_UNKNOWN };

/* The format a path's extension asks for (case-insensitive). */
static int save_format(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (!dot)
        return SAVE_UNKNOWN;
    if (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"))
        return SAVE_JPEG;
    if (!strcasecmp(dot, ".png"))
        return SAVE_PNG;
    return SAVE_UNKNOWN;
}

/* Create a fresh temporary file beside `path` (same folder, so rename is
 * atomic). O_EXCL makes the name ours; mode 0666 lets the umask decide the
 * final permissions as for any new file. */
static fk_status open_temp(const char *path, char **tmp_out, FILE **f_out) {
    static atomic_uint counter;
    size_t cap = strlen(path) + 48;
    char *tmp = malloc(cap);
    if (!tmp)
        return fk__fail(FK_ENOMEM, "%s: out of memory", path);
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 100; tries++) {
        snprintf(tmp, cap, "%s.tmp-%ld-%u", path, (long)getpid(),
                 atomic_fetch_add(&counter, 1));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        int err = errno;
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        free(tmp);
        return fk__fail(FK_EIO, "%s: cannot create a file there: %s", path,
                       strerror(err));
    }
    *tmp_out = tmp;
    *f_out = f;
    return FK_OK;
}

/* Encode into f, then flush and close it, checking every step. */
static fk_status encode_and_close(const fk_image *img, FILE *f, int format,
                                  int quality, const char *path) {
    fk_status st = format == SAVE_JPEG ? write_jpeg(img, f, quality, path)
                                       : write_png(img, f, path);
    if (st == FK_OK && (fflush(f) != 0 || ferror(f)))
        st = fk__fail(FK_EIO, "%s: write failed: %s", path, strerror(errno));
    if (fclose(f) != 0 && st == FK_OK)
        st = fk__fail(FK_EIO, "%s: write failed: %s", path, strerror(errno));
    return st;
}

/* Encode as JPEG (quality 1..100, 0 means 90) or PNG by the extension of
 * path. Writes a temporary file in the same folder and renames it over path
 * only when everything succeeded, so a failure leaves no partial file. */
fk_status fk_image_save(const fk_image *img, const char *path, int quality) {
    fk__clear_error();
    if (!path)
        return fk__fail(FK_EINVAL, "fk_image_save: path is NULL");
    if (!image_valid(img))
        return fk__fail(FK_EINVAL, "%s: cannot save: not a valid image", path);
    int format = save_format(path);
    if (format == SAVE_UNKNOWN)
        return fk__fail(FK_EINVAL, "%s: unknown image type; use a .jpg, .jpeg "
                       "or .png extension", path);
    if (quality == 0)
        quality = 90;
    if (format == SAVE_JPEG && (quality < 1 || quality > 100))
        return fk__fail(FK_EINVAL, "%s: JPEG quality %d is outside 1..100", path,
                       quality);
    char *tmp = NULL;
    FILE *f = NULL;
    fk_status st = open_temp(path, &tmp, &f);
    if (st != FK_OK)
        return st;
    st = encode_and_close(img, f, format, quality, path);
    if (st == FK_OK && rename(tmp, path) != 0)
        st = fk__fail(FK_EIO, "%s: cannot replace the file: %s", path,
                     strerror(errno));
    if (st != FK_OK)
        unlink(tmp);
    free(tmp);
    return st;
}
