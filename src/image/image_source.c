/*
 * image_source.c - images given the ways a deepface user gives them, beside
 * file paths: standard input ("-"), data URIs and bare base64 strings
 * (fk_image_load_source, fk_image_decode_text), and pixels already in
 * memory (fk_image_from_pixels, for a numpy or OpenCV array).
 *
 * Which form a string is: "-" is stdin; "data:" starts a data URI; then a
 * path that exists is a file; then base64. deepface itself tries a data URI
 * first, then a file; we accept bare base64 too because HTTP clients and
 * shell pipelines send it without the "data:" prefix. A bare string must be
 * at least BASE64_MIN characters to be taken as base64: the smallest real
 * JPEG or PNG is larger (a 1x1 PNG is 67 bytes, 92 characters), while a
 * mistyped file name without a dot (base64's alphabet has none) is shorter,
 * and should be answered "cannot open", not with a base64 complaint.
 *
 * Sizes: base64 text is measured (its decoded size counted in one pass over
 * the characters) and held to fk_image_max_bytes before the decoded buffer
 * is allocated; stdin is read with the same bound.
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
#include <strings.h>
#include <sys/stat.h>

#define BASE64_MIN 64

/* ---- base64 ------------------------------------------------------------- */

/* The 6-bit value of a base64 character (both alphabets), -1 for others. */
static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

static int is_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Check that t[0..n) is base64: alphabet characters, whitespace anywhere,
 * at most two '=' only at the end, a count of data characters that can be
 * a whole number of bytes. Returns the number of data characters, or -1
 * with the offset of the first offending character in *bad (n itself when
 * the length is wrong). */
static long long b64_scan(const char *t, size_t n, size_t *bad) {
    long long data = 0;
    int pad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (is_space(c))
            continue;
        if (c == '=') {
            if (++pad > 2) {
                *bad = i;
                return -1;
            }
            continue;
        }
        if (pad || b64_value(c) < 0) {
            *bad = i;
            return -1;
        }
        data++;
    }
    if (data % 4 == 1 || (pad && (data + pad) % 4)) {
        *bad = n;
        return -1;
    }
    return data;
}

/* Decode the base64 t[0..n) (already checked by b64_scan) into out, which
 * holds data * 3 / 4 bytes; returns the number written. */
static size_t b64_decode(const char *t, size_t n, uint8_t *out) {
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)t[i]);
        if (v < 0)
            continue;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return k;
}

/* ---- text forms --------------------------------------------------------- */

/* The budget fallback, so messages can name the budget used. */
static double budget_mp(size_t max_pixels) {
    return (double)(max_pixels ? max_pixels : FK_DEFAULT_MAX_PIXELS) / 1e6;
}

/* Decode base64 t[0..n) as an image; `form` is how messages describe it
 * ("base64 string", "data URI (image/png)"). */
static fk_status decode_b64(const char *t, size_t n, const char *name,
                            const char *form, size_t max_pixels, int max_side,
                            fk_image **out) {
    size_t bad = 0;
    long long data = b64_scan(t, n, &bad);
    if (data < 0) {
        if (bad == n)
            return fk__fail(FK_EFORMAT, "%s: %s (%zu characters) is not valid "
                           "base64 (its length cannot be a whole number of "
                           "bytes: cut short?)", name, form, n);
        unsigned char c = (unsigned char)t[bad];
        if (c >= 0x21 && c < 0x7F)
            return fk__fail(FK_EFORMAT, "%s: %s (%zu characters) is not valid "
                           "base64 ('%c' at offset %zu)", name, form, n, c, bad);
        return fk__fail(FK_EFORMAT, "%s: %s (%zu characters) is not valid "
                       "base64 (byte 0x%02X at offset %zu)", name, form, n, c,
                       bad);
    }
    size_t bytes = (size_t)(data / 4 * 3 + (data % 4 ? data % 4 - 1 : 0));
    size_t bound = fk_image_max_bytes(max_pixels);
    if (bytes > bound)
        return fk__fail(FK_ETOOBIG, "%s: %s (%zu characters) decodes to %zu "
                       "bytes, over the %zu an image within the %g-megapixel "
                       "budget can need", name, form, n, bytes, bound,
                       budget_mp(max_pixels));
    if (bytes == 0)
        return fk__fail(FK_EFORMAT, "%s: %s is empty", name, form);
    uint8_t *buf = malloc(bytes);
    if (!buf)
        return fk__fail(FK_ENOMEM, "%s: out of memory for %zu decoded bytes",
                       name, bytes);
    size_t got = b64_decode(t, n, buf);
    fk_status st;
    if (!fk__image_magic(buf, got))
        st = fk__fail(FK_EFORMAT, "%s: %s (%zu characters) decodes to %zu bytes "
                     "that are not a JPEG, PNG, WebP or BMP image", name, form,
                     n, got);
    else
        st = fk_image_decode_scaled(buf, got, name, max_pixels, max_side, out);
    free(buf);
    return st;
}

/* A data URI: data:[<mime>][;<param>]...[;base64],<data> (RFC 2397). */
static fk_status decode_data_uri(const char *t, size_t n, const char *name,
                                 size_t max_pixels, int max_side,
                                 fk_image **out) {
    const char *end = t + n, *p = t + 5; /* after "data:" */
    const char *comma = memchr(p, ',', (size_t)(end - p));
    if (!comma)
        return fk__fail(FK_EFORMAT, "%s: data URI without the ',' that starts "
                       "its data", name);
    size_t mlen = 0; /* the text need not end in a NUL: stop at the comma */
    while (p + mlen < comma && p[mlen] != ';')
        mlen++;
    char mime[64];
    snprintf(mime, sizeof mime, "%.*s", (int)(mlen < 63 ? mlen : 63), p);
    for (char *m = mime; *m; m++)
        if (*m < 0x20 || *m >= 0x7F)
            *m = '?';
    if (mlen == 0)
        return fk__fail(FK_EFORMAT, "%s: data URI has no MIME type (so it is "
                       "text/plain); an image needs data:image/<type>;base64,",
                       name);
    if (mlen < 6 || strncasecmp(p, "image/", 6) != 0)
        return fk__fail(FK_EFORMAT, "%s: data URI has MIME type %s, not an "
                       "image/* type", name, mime);
    /* the last parameter before the comma must be ";base64" */
    if ((size_t)(comma - p) < mlen + 7 || strncasecmp(comma - 7, ";base64", 7) != 0)
        return fk__fail(FK_EFORMAT, "%s: data URI (%s) is not base64 (only "
                       ";base64, data is accepted, not percent-encoding)",
                       name, mime);
    char form[96];
    snprintf(form, sizeof form, "data URI (%s)", mime);
    return decode_b64(comma + 1, (size_t)(end - comma - 1), name, form,
                      max_pixels, max_side, out);
}

/* True if t[0..n) starts with "data:" (case-insensitive, as RFC 3986 says
 * schemes are). */
static int is_data_uri(const char *t, size_t n) {
    return n >= 5 && strncasecmp(t, "data:", 5) == 0;
}

fk_status fk_image_decode_text(const char *text, size_t len, const char *name,
                               size_t max_pixels, int max_side,
                               fk_image **out) {
    fk__clear_error();
    if (!name)
        name = "image";
    if (!out)
        return fk__fail(FK_EINVAL, "%s: fk_image_decode_text: out is NULL", name);
    *out = NULL;
    if (!text && len)
        return fk__fail(FK_EINVAL, "%s: fk_image_decode_text: text is NULL", name);
    if (max_side < 0)
        return fk__fail(FK_EINVAL, "%s: decode max_side %d is negative (0 "
                       "decodes in full)", name, max_side);
    while (len && is_space((unsigned char)*text))
        text++, len--;
    while (len && is_space((unsigned char)text[len - 1]))
        len--;
    if (len == 0)
        return fk__fail(FK_EFORMAT, "%s: empty string (expected a data URI or "
                       "base64)", name);
    if (is_data_uri(text, len))
        return decode_data_uri(text, len, name, max_pixels, max_side, out);
    size_t bad = 0;
    if (b64_scan(text, len, &bad) < 0 && bad < len)
        return fk__fail(FK_EFORMAT, "%s: not a data URI and not base64 (%zu "
                       "characters; the first that is not base64 is at offset "
                       "%zu)", name, len, bad);
    return decode_b64(text, len, name, "base64 string", max_pixels, max_side,
                      out);
}

/* ---- sources ------------------------------------------------------------ */

/* Standard input: image bytes, or else a text form. */
static fk_status load_stdin(size_t max_pixels, int max_side, fk_image **out) {
    const char *name = "standard input";
    size_t bound = fk_image_max_bytes(max_pixels);
    uint8_t *buf = NULL;
    size_t len = 0;
    errno = 0;
    int err = fk__read_bounded(stdin, bound, &buf, &len);
    if (err == ENOMEM)
        return fk__fail(FK_ENOMEM, "%s: out of memory reading it", name);
    if (err == EFBIG)
        return fk__fail(FK_ETOOBIG, "%s: more than %zu bytes, over what an "
                       "image within the %g-megapixel budget can need", name,
                       bound, budget_mp(max_pixels));
    if (err)
        return fk__fail(FK_EIO, "%s: cannot read: %s", name, strerror(err));
    fk_status st;
    if (len == 0)
        st = fk__fail(FK_EFORMAT, "%s: empty (nothing was piped in)", name);
    else if (fk__image_magic(buf, len))
        st = fk_image_decode_scaled(buf, len, name, max_pixels, max_side, out);
    else
        st = fk_image_decode_text((const char *)buf, len, name, max_pixels,
                                  max_side, out);
    free(buf);
    return st;
}

/* A label for messages about a long text argument: its first characters. */
static void short_label(const char *s, size_t n, char *buf, size_t cap) {
    if (n <= 40)
        snprintf(buf, cap, "%s", s);
    else
        snprintf(buf, cap, "%.24s...", s);
}

fk_status fk_image_load_source(const char *source, size_t max_pixels,
                               int max_side, fk_image **out) {
    fk__clear_error();
    if (out)
        *out = NULL;
    if (!source || !out)
        return fk__fail(FK_EINVAL, "fk_image_load_source: source and out must "
                       "not be NULL");
    if (max_side < 0)
        return fk__fail(FK_EINVAL, "decode max_side %d is negative (0 decodes "
                       "in full)", max_side);
    if (!strcmp(source, "-"))
        return load_stdin(max_pixels, max_side, out);
    size_t n = strlen(source);
    char label[48];
    if (is_data_uri(source, n)) {
        short_label(source, n, label, sizeof label);
        return fk_image_decode_text(source, n, label, max_pixels, max_side, out);
    }
    struct stat sb;
    if (stat(source, &sb) == 0)
        return fk_image_load_scaled(source, max_pixels, max_side, out);
    int err = errno;
    if (err != ENOENT && err != ENOTDIR && err != ENAMETOOLONG)
        return fk__fail(FK_EIO, "%s: cannot open: %s", source, strerror(err));
    size_t bad = 0;
    if (n >= BASE64_MIN && b64_scan(source, n, &bad) >= 0) {
        short_label(source, n, label, sizeof label);
        return decode_b64(source, n, label, "base64 string", max_pixels,
                          max_side, out);
    }
    if (n > 200) {
        short_label(source, n, label, sizeof label);
        return fk__fail(FK_EIO, "%s (%zu characters): not a file and not "
                       "base64 (cannot open: %s)", label, n, strerror(err));
    }
    return fk__fail(FK_EIO, "%s: not a file and not base64 (cannot open: %s)",
                   source, strerror(err));
}

/* ---- caller pixels ------------------------------------------------------ */

fk_status fk_image_from_pixels(const void *pixels, int width, int height,
                               size_t stride, fk_pixel_format format,
                               fk_image **out) {
    fk__clear_error();
    if (!out)
        return fk__fail(FK_EINVAL, "fk_image_from_pixels: out is NULL");
    *out = NULL;
    if (!pixels)
        return fk__fail(FK_EINVAL, "fk_image_from_pixels: pixels is NULL");
    if (width <= 0 || height <= 0)
        return fk__fail(FK_EINVAL, "fk_image_from_pixels: size %dx%d is not "
                       "positive", width, height);
    int bpp;
    switch (format) {
    case FK_PIXELS_RGB: case FK_PIXELS_BGR: bpp = 3; break;
    case FK_PIXELS_RGBA: case FK_PIXELS_BGRA: bpp = 4; break;
    case FK_PIXELS_GRAY: bpp = 1; break;
    default:
        return fk__fail(FK_EINVAL, "fk_image_from_pixels: unknown pixel format "
                       "%d", (int)format);
    }
    fk_status st = fk__check_budget("fk_image_from_pixels", (uint32_t)width,
                                    (uint32_t)height, FK_DEFAULT_MAX_PIXELS);
    if (st != FK_OK)
        return st;
    size_t row = (size_t)width * (size_t)bpp;
    if (stride == 0)
        stride = row;
    if (stride < row)
        return fk__fail(FK_EINVAL, "fk_image_from_pixels: stride %zu is shorter "
                       "than a row of %d pixels (%zu bytes)", stride, width, row);
    if ((size_t)(height - 1) > (SIZE_MAX - row) / stride)
        return fk__fail(FK_EINVAL, "fk_image_from_pixels: %d rows of stride %zu "
                       "do not fit in memory", height, stride);
    fk_image *img = NULL;
    if ((st = fk__image_alloc("fk_image_from_pixels", width, height, &img)) != FK_OK)
        return st;
    int r = format == FK_PIXELS_BGR || format == FK_PIXELS_BGRA ? 2 : 0;
    for (int y = 0; y < height; y++) {
        const uint8_t *s = (const uint8_t *)pixels + (size_t)y * stride;
        uint8_t *d = img->data + (size_t)y * img->stride;
        if (format == FK_PIXELS_RGB) {
            memcpy(d, s, row);
            continue;
        }
        for (int x = 0; x < width; x++, s += bpp, d += 3) {
            if (bpp == 1) {
                d[0] = d[1] = d[2] = s[0];
            } else {
                d[0] = s[r], d[1] = s[1], d[2] = s[2 - r];
            }
        }
    }
    *out = img;
    return FK_OK;
}
