/*
 * image_bmp.c - Windows BMP decoding into 8-bit RGB, our own small decoder
 * (the format is a header and raw rows; no library is worth the
 * dependency).
 *
 * Accepted: a BITMAPINFOHEADER (40 bytes) or a later header (V2 52, V3 56,
 * V4 108, V5 124 bytes; their colour-space fields are ignored), rows
 * bottom-up (positive height) or top-down (negative height), and
 *  - 24-bit and 32-bit BI_RGB (BGR, BGRx; the fourth byte is dropped as
 *    alpha is for PNG),
 *  - 32-bit BI_BITFIELDS (each channel's mask from the header, scaled to
 *    8 bits),
 *  - 1-, 4- and 8-bit palettes (an index past the palette is black, as in
 *    Windows).
 * Refused with "unsupported BMP (...)": RLE4/RLE8, embedded JPEG/PNG,
 * 16-bit and every other depth, OS/2 headers. These are rare outside old
 * Windows software; converting to PNG is the fix the message names.
 *
 * Every header field is checked against the file size before use: the
 * header and palette must lie inside the file, the pixel data offset too,
 * the row size is computed in 64 bits, the pixel budget is checked before
 * any allocation, and all rows must be present (a truncated BMP is
 * FK_EFORMAT, not a picture padded with black).
 */
#include "image/image.h"
#include "image/image_codec.h"
#include "core/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { BI_RGB = 0, BI_RLE8 = 1, BI_RLE4 = 2, BI_BITFIELDS = 3, BI_JPEG = 4,
       BI_PNG = 5, BI_ALPHABITFIELDS = 6 };

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* One BI_BITFIELDS channel: where its bits are and how to scale them. */
typedef struct bmp_mask {
    uint32_t mask;
    int shift;
    uint32_t max; /* mask >> shift; 0 for an empty mask */
} bmp_mask;

static bmp_mask mask_of(uint32_t m) {
    bmp_mask r = {m, 0, 0};
    if (!m)
        return r;
    while (!(m & 1u)) {
        m >>= 1;
        r.shift++;
    }
    r.max = m;
    return r;
}

static uint8_t mask_value(const bmp_mask *m, uint32_t v) {
    if (!m->max)
        return 0;
    uint64_t x = (v & m->mask) >> m->shift;
    return (uint8_t)((x * 255 + m->max / 2) / m->max);
}

static const char *compression_name(uint32_t c) {
    switch (c) {
    case BI_RLE8: return ", RLE8";
    case BI_RLE4: return ", RLE4";
    case BI_JPEG: return ", embedded JPEG";
    case BI_PNG: return ", embedded PNG";
    case BI_ALPHABITFIELDS: return ", ALPHABITFIELDS";
    default: return "";
    }
}

/* Decode one row of `w` pixels at bits-per-pixel bpp from src into RGB. */
static void bmp_row(const uint8_t *src, int w, int bpp, const uint8_t pal[256][3],
                    const bmp_mask masks[3], int bitfields, uint8_t *dst) {
    for (int x = 0; x < w; x++, dst += 3) {
        if (bpp == 24 || (bpp == 32 && !bitfields)) {
            const uint8_t *p = src + (size_t)x * (size_t)(bpp / 8);
            dst[0] = p[2], dst[1] = p[1], dst[2] = p[0];
        } else if (bpp == 32) {
            uint32_t v = le32(src + (size_t)x * 4);
            for (int c = 0; c < 3; c++)
                dst[c] = mask_value(&masks[c], v);
        } else {
            unsigned i;
            if (bpp == 8)
                i = src[x];
            else if (bpp == 4)
                i = (src[x / 2] >> (x % 2 ? 0 : 4)) & 0x0F;
            else
                i = (src[x / 8] >> (7 - x % 8)) & 1;
            memcpy(dst, pal[i], 3);
        }
    }
}

/* Decode a BMP from memory (magic "BM" already checked) into RGB. */
fk_status fk__decode_bmp(const uint8_t *data, size_t size, const char *name,
                         size_t max_pixels, fk_image **out) {
    if (size < 14 + 4)
        return fk__fail(FK_EFORMAT, "%s: truncated BMP (%zu bytes, shorter "
                       "than its headers)", name, size);
    uint32_t offset = le32(data + 10), hsize = le32(data + 14);
    if (hsize == 12 || hsize == 64)
        return fk__fail(FK_EFORMAT, "%s: unsupported BMP (OS/2 header of %u "
                       "bytes); convert it to PNG", name, hsize);
    if (hsize != 40 && hsize != 52 && hsize != 56 && hsize != 108 && hsize != 124)
        return fk__fail(FK_EFORMAT, "%s: not a BMP image (info header of %u "
                       "bytes)", name, hsize);
    if ((uint64_t)14 + hsize > size)
        return fk__fail(FK_EFORMAT, "%s: truncated BMP (%zu bytes, shorter "
                       "than its %u-byte header)", name, size, 14 + hsize);
    const uint8_t *h = data + 14;
    int32_t wi = (int32_t)le32(h + 4), hi = (int32_t)le32(h + 8);
    uint32_t planes = le16(h + 12), bpp = le16(h + 14), comp = le32(h + 16);
    uint32_t colours = le32(h + 32);
    if (comp != BI_RGB && comp != BI_BITFIELDS)
        return fk__fail(FK_EFORMAT, "%s: unsupported BMP (compression %u%s); "
                       "convert it to PNG", name, comp, compression_name(comp));
    if (!(bpp == 1 || bpp == 4 || bpp == 8 || bpp == 24 || bpp == 32) ||
        (comp == BI_BITFIELDS && bpp != 32))
        return fk__fail(FK_EFORMAT, "%s: unsupported BMP (%u bits per pixel%s); "
                       "convert it to PNG", name, bpp,
                       comp == BI_BITFIELDS ? " with bit fields" : "");
    if (planes != 1)
        return fk__fail(FK_EFORMAT, "%s: corrupt BMP header (%u planes)", name,
                       planes);
    /* widths and heights as 64-bit magnitudes: -INT32_MIN overflows int32 */
    int64_t w64 = wi, h64 = hi;
    int top_down = h64 < 0;
    if (top_down)
        h64 = -h64;
    if (w64 <= 0)
        return fk__fail(FK_EFORMAT, "%s: corrupt BMP header (width %d)", name,
                       (int)wi);
    fk_status st = fk__check_budget(name, (uint32_t)w64,
                                    h64 > UINT32_MAX ? UINT32_MAX : (uint32_t)h64,
                                    max_pixels);
    if (st != FK_OK)
        return st;
    int w = (int)w64, ht = (int)h64;

    bmp_mask masks[3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
    if (comp == BI_BITFIELDS) {
        /* the masks end a V2+ header, or follow a 40-byte one */
        const uint8_t *m = h + 40;
        if ((uint64_t)14 + 40 + 12 > size)
            return fk__fail(FK_EFORMAT, "%s: truncated BMP (its bit field masks "
                           "are missing)", name);
        for (int c = 0; c < 3; c++)
            masks[c] = mask_of(le32(m + 4 * c));
    }
    uint8_t pal[256][3];
    memset(pal, 0, sizeof pal);
    if (bpp <= 8) {
        uint32_t most = 1u << bpp;
        if (colours == 0)
            colours = most;
        if (colours > most)
            return fk__fail(FK_EFORMAT, "%s: corrupt BMP header (%u palette "
                           "colours for %u bits per pixel)", name, colours, bpp);
        uint64_t at = (uint64_t)14 + hsize, end = at + (uint64_t)colours * 4;
        if (end > size || end > offset)
            return fk__fail(FK_EFORMAT, "%s: truncated BMP (its %u-colour "
                           "palette does not fit before the pixels)", name,
                           colours);
        for (uint32_t i = 0; i < colours; i++) {
            const uint8_t *q = data + at + 4 * i;
            pal[i][0] = q[2], pal[i][1] = q[1], pal[i][2] = q[0];
        }
    }
    if (offset < 14 + hsize || offset >= size)
        return fk__fail(FK_EFORMAT, "%s: corrupt BMP (pixel data offset %u is "
                       "outside the %zu-byte file)", name, offset, size);
    uint64_t row = ((uint64_t)w * bpp + 31) / 32 * 4;
    uint64_t avail = size - offset, rows = avail / row;
    if (rows < (uint64_t)ht)
        return fk__fail(FK_EFORMAT, "%s: truncated BMP (%llu of %d rows present)",
                       name, (unsigned long long)rows, ht);
    fk_image *img = NULL;
    if ((st = fk__image_alloc(name, w, ht, &img)) != FK_OK)
        return st;
    for (int y = 0; y < ht; y++) {
        const uint8_t *src = data + offset + (size_t)row * (size_t)y;
        int dy = top_down ? y : ht - 1 - y;
        bmp_row(src, w, (int)bpp, (const uint8_t(*)[3])pal, masks,
                comp == BI_BITFIELDS, img->data + (size_t)dy * img->stride);
    }
    *out = img;
    return FK_OK;
}
