/*
 * image_exif.c - the EXIF orientation: reading the orientation tag from the
 * TIFF block of a JPEG's Exif APP1 marker (image_jpeg.c finds the marker),
 * and turning decoded pixels upright by it, so a photo stands as a viewer
 * shows it.
 *
 * The TIFF block is untrusted input: every read is bounds-checked, and a
 * missing or malformed tag means orientation 1 (as stored), never an error.
 */
#include "image/image.h"
#include "image/image_codec.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
int fk__tiff_orientation(const uint8_t *p, size_t n) {
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
fk_status fk__orient_image(const fk_image *src, int o, const char *name,
                           fk_image **out) {
    const orient_map *m = &orient_maps[o];
    int swap = o >= 5;
    fk_image *dst;
    fk_status st = fk__image_alloc(name, swap ? src->height : src->width,
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
