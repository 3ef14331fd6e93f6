/*
 * test_image_inputs.c - every image input a deepface user passes: WebP
 * (libwebp, both ways, and cwebp's files when cwebp is installed), BMP
 * (our decoder, on files written here byte by byte), PNG with tRNS, base64
 * and data URIs (fk_image_decode_text, fk_image_load_source), standard
 * input, caller pixels (fk_image_from_pixels), and the byte bound.
 *
 * Bad input must be refused with the right status and a message saying
 * what was seen, never a crash. Files live in a fresh mkdtemp folder,
 * removed at the end. The real photo is $FACEKIT_HOME/face-api/sample1.jpg
 * (skipped cleanly when absent).
 */
#include "test.h"
#include "facekit.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <png.h>

/* ---- helpers ------------------------------------------------------------ */

static char tmpdir[64];

static const char *tpath(const char *name) {
    static char bufs[4][512];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
    return b;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot create %s", path);
    if (!f)
        return;
    CHECK(fwrite(data, 1, n, f) == n, "short write to %s", path);
    fclose(f);
}

static uint8_t *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(len > 0 ? (size_t)len : 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

static void remove_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlink(tpath(e->d_name));
    if (d)
        closedir(d);
    rmdir(tmpdir);
}

static int says(const char *needle) { return strstr(fk_last_error(), needle) != NULL; }

static uint8_t *px(const fk_image *img, int x, int y) {
    return img->data + (size_t)y * img->stride + (size_t)x * img->channels;
}

static int images_equal(const fk_image *a, const fk_image *b) {
    if (!a || !b || a->width != b->width || a->height != b->height ||
        a->channels != b->channels)
        return 0;
    for (int y = 0; y < a->height; y++)
        if (memcmp(px(a, 0, y), px(b, 0, y), (size_t)a->width * a->channels))
            return 0;
    return 1;
}

static double mean_abs_diff(const fk_image *a, const fk_image *b) {
    double s = 0;
    for (int y = 0; y < a->height; y++)
        for (int x = 0; x < a->width * a->channels; x++)
            s += abs(px(a, 0, y)[x] - px(b, 0, y)[x]);
    return s / ((double)a->width * a->height * a->channels);
}

/* The pixel at (x, y) is exactly r, g, b. */
static int rgb_is(const fk_image *img, int x, int y, int r, int g, int b) {
    const uint8_t *p = px(img, x, y);
    return p[0] == r && p[1] == g && p[2] == b;
}

/* Base64 of n bytes (standard alphabet, padded; line breaks every `wrap`
 * characters when wrap > 0); malloc'd, NUL-terminated. */
static char *b64(const uint8_t *d, size_t n, int wrap, int urlsafe) {
    const char *al = urlsafe ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                             : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t cap = (n + 2) / 3 * 4 * 2 + 16;
    char *o = malloc(cap), *q = o;
    int col = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        char c4[4] = {al[v >> 18 & 63], al[v >> 12 & 63], i + 1 < n ? al[v >> 6 & 63] : '=',
                      i + 2 < n ? al[v & 63] : '='};
        for (int k = 0; k < 4; k++) {
            *q++ = c4[k];
            if (wrap && ++col == wrap) {
                *q++ = '\n';
                col = 0;
            }
        }
    }
    *q = '\0';
    return o;
}

/* The real photo, or NULL (path in `path`). */
static int photo_path(char *path, size_t cap) {
    const char *env = getenv("FACEKIT_HOME");
    char home[PATH_MAX];
    if (env && *env)
        snprintf(home, sizeof home, "%s", env);
    else
        snprintf(home, sizeof home, "%s/.facekit", test_env("HOME", "/"));
    snprintf(path, cap, "%s/face-api/sample1.jpg", home);
    return access(path, R_OK) == 0;
}

/* A small busy RGB image. */
static fk_image *make_pattern(int w, int h) {
    fk_image *img = NULL;
    if (fk_image_new(w, h, 3, &img) != FK_OK)
        return NULL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                px(img, x, y)[c] = (uint8_t)((x * 37 + y * 91 + c * 53 + x * y) % 251);
    return img;
}

/* Run fk_image_load_source("-") with stdin reading `path`. */
static fk_status load_stdin_from(const char *path, size_t max_pixels, fk_image **out) {
    int saved = dup(0);
    int fd = open(path, O_RDONLY);
    if (fd < 0 || saved < 0)
        return FK_EIO;
    dup2(fd, 0);
    close(fd);
    clearerr(stdin);
    fk_status st = fk_image_load_source("-", max_pixels, 0, out);
    dup2(saved, 0);
    close(saved);
    clearerr(stdin);
    return st;
}

/* ---- WebP --------------------------------------------------------------- */

static void test_webp_photo(void) {
    char path[PATH_MAX + 64];
    if (!photo_path(path, sizeof path)) {
        printf("note: %s not found; WebP photo round trip skipped\n", path);
        return;
    }
    fk_image *jpg = NULL, *lossless = NULL, *lossy = NULL;
    CHECK(fk_image_load(path, 0, &jpg) == FK_OK, "sample1.jpg: %s", fk_last_error());
    if (!jpg)
        return;
    /* quality 100 is lossless: the exact pixels of the JPEG decode */
    CHECK(fk_image_save(jpg, tpath("photo100.webp"), 100) == FK_OK, "save q100: %s",
          fk_last_error());
    CHECK(fk_image_load(tpath("photo100.webp"), 0, &lossless) == FK_OK, "load q100: %s",
          fk_last_error());
    CHECK(images_equal(jpg, lossless), "lossless WebP round trip is exact");
    /* lossy: same size, close pixels */
    CHECK(fk_image_save(jpg, tpath("photo80.webp"), 80) == FK_OK, "save q80: %s",
          fk_last_error());
    CHECK(fk_image_load(tpath("photo80.webp"), 0, &lossy) == FK_OK, "load q80: %s",
          fk_last_error());
    if (lossy) {
        CHECK(lossy->width == jpg->width && lossy->height == jpg->height &&
              lossy->channels == 3, "lossy WebP size %dx%d", lossy->width, lossy->height);
        double d = mean_abs_diff(jpg, lossy);
        CHECK(d > 0 && d < 6, "lossy WebP close but not exact (mean diff %.2f)", d);
        size_t n100 = 0, n80 = 0;
        free(read_file(tpath("photo100.webp"), &n100));
        free(read_file(tpath("photo80.webp"), &n80));
        CHECK(n80 < n100, "lossy is smaller (%zu vs %zu bytes)", n80, n100);
    }
    /* Google's encoder: cwebp -lossless of our PNG of the JPEG decode */
    if (system("command -v cwebp >/dev/null 2>&1") != 0) {
        printf("note: cwebp not installed; cwebp check skipped\n");
    } else {
        CHECK(fk_image_save(jpg, tpath("photo.png"), 0) == FK_OK, "save png");
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "cwebp -quiet -lossless '%s' -o '%s'", tpath("photo.png"),
                 tpath("cwebp.webp"));
        CHECK(system(cmd) == 0, "cwebp ran");
        fk_image *cw = NULL;
        CHECK(fk_image_load(tpath("cwebp.webp"), 0, &cw) == FK_OK, "cwebp file: %s",
              fk_last_error());
        CHECK(images_equal(jpg, cw), "cwebp -lossless decodes to the JPEG's exact pixels");
        fk_image_free(cw);
        /* and its lossy output at least decodes to the right size */
        snprintf(cmd, sizeof cmd, "cwebp -quiet -q 75 '%s' -o '%s'", tpath("photo.png"),
                 tpath("cwebp75.webp"));
        CHECK(system(cmd) == 0, "cwebp -q 75 ran");
        cw = NULL;
        CHECK(fk_image_load(tpath("cwebp75.webp"), 0, &cw) == FK_OK &&
              cw->width == jpg->width && cw->height == jpg->height,
              "cwebp lossy: %s", fk_last_error());
        fk_image_free(cw);
    }
    fk_image_free(jpg);
    fk_image_free(lossless);
    fk_image_free(lossy);
}

static void test_webp_small(void) {
    /* gray images save (as RGB with R = G = B), losslessly at 100 */
    fk_image *gray = NULL, *back = NULL;
    CHECK(fk_image_new(7, 5, 1, &gray) == FK_OK, "gray");
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 7; x++)
            px(gray, x, y)[0] = (uint8_t)(x * 30 + y * 7);
    CHECK(fk_image_save(gray, tpath("gray.webp"), 100) == FK_OK, "save gray webp: %s",
          fk_last_error());
    CHECK(fk_image_load(tpath("gray.webp"), 0, &back) == FK_OK, "load gray webp: %s",
          fk_last_error());
    if (back) {
        int ok = back->channels == 3 && back->width == 7 && back->height == 5;
        for (int y = 0; ok && y < 5; y++)
            for (int x = 0; x < 7; x++) {
                int v = x * 30 + y * 7;
                ok &= rgb_is(back, x, y, v, v, v);
            }
        CHECK(ok, "gray WebP: exact gray replicated");
    }
    fk_image_free(back);
    back = NULL;
    CHECK(fk_image_save(gray, tpath("grayq.webp"), 50) == FK_OK, "lossy gray: %s",
          fk_last_error());
    CHECK(fk_image_save(gray, tpath("q101.webp"), 101) == FK_EINVAL && says("WebP quality"),
          "quality 101: %s", fk_last_error());
    CHECK(fk_image_save(gray, tpath("x.WEBP"), 0) == FK_OK, "upper-case .WEBP");
    /* fk_image_encode's WebP is the same lossless encoding, in memory */
    uint8_t *mem = NULL;
    size_t mlen = 0;
    CHECK(fk_image_encode(gray, ".webp", 100, &mem, &mlen) == FK_OK && mlen > 12 &&
          !memcmp(mem + 8, "WEBP", 4), "fk_image_encode .webp: %s", fk_last_error());
    back = NULL;
    CHECK(mem && fk_image_decode(mem, mlen, "mem.webp", 0, &back) == FK_OK &&
          rgb_is(back, 6, 4, 6 * 30 + 4 * 7, 6 * 30 + 4 * 7, 6 * 30 + 4 * 7),
          "encoded WebP decodes exactly: %s", fk_last_error());
    fk_image_free(back);
    free(mem);
    CHECK(fk_image_encode(gray, ".webp", 101, &mem, &mlen) == FK_EINVAL, "encode q101");
    fk_image_free(gray);

    /* a lossless file of a pattern, then damaged */
    fk_image *pat = make_pattern(64, 48);
    CHECK(fk_image_save(pat, tpath("pat.webp"), 100) == FK_OK, "save pattern");
    size_t n = 0;
    uint8_t *w = read_file(tpath("pat.webp"), &n);
    CHECK(w && n > 30 && !memcmp(w, "RIFF", 4) && !memcmp(w + 8, "WEBPVP8L", 8),
          "a RIFF/WEBP/VP8L file");
    if (!w || n <= 30) {
        fk_image_free(pat);
        free(w);
        return;
    }
    fk_image *img = NULL;
    CHECK(fk_image_decode(w, n, "pat.webp", 0, &img) == FK_OK && images_equal(img, pat),
          "lossless pattern exact");
    fk_image_free(img);
    img = (fk_image *)1;
    CHECK(fk_image_decode(w, n / 2, "half.webp", 0, &img) == FK_EFORMAT && !img &&
          says("half.webp") && says("truncated"), "truncated WebP: %s", fk_last_error());
    img = (fk_image *)1;
    CHECK(fk_image_decode(w, 16, "stub.webp", 0, &img) == FK_EFORMAT && !img &&
          says("stub.webp"), "WebP cut in its header: %s", fk_last_error());
    /* the VP8L header claims 16384x16384 (its largest): over the budget,
     * refused from the header */
    uint8_t *big = malloc(n);
    memcpy(big, w, n);
    big[21] = 0xFF, big[22] = 0xFF, big[23] = 0xFF;
    big[24] = (uint8_t)((big[24] & 0xF0) | 0x0F);
    img = (fk_image *)1;
    CHECK(fk_image_decode(big, n, "huge.webp", 0, &img) == FK_ETOOBIG && !img &&
          says("16384x16384") && says("huge.webp"), "huge WebP header: %s", fk_last_error());
    /* garbage in the bitstream: refused or decoded, never a crash */
    memcpy(big, w, n);
    for (size_t i = 30; i < n; i += 5)
        big[i] ^= 0x5A;
    img = NULL;
    fk_status st = fk_image_decode(big, n, "garbled.webp", 0, &img);
    CHECK(st == FK_OK || (st == FK_EFORMAT && says("garbled.webp")), "garbled WebP: %s",
          fk_last_error());
    fk_image_free(img);
    free(big);
    free(w);
    fk_image_free(pat);

    /* an animated WebP (VP8X with the animation flag, then ANIM): refused */
    uint8_t anim[] = {'R', 'I', 'F', 'F', 36, 0, 0, 0, 'W', 'E', 'B', 'P',
                      'V', 'P', '8', 'X', 10, 0, 0, 0, 0x02, 0, 0, 0, 9, 0, 0, 9, 0, 0,
                      'A', 'N', 'I', 'M', 6, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    img = (fk_image *)1;
    CHECK(fk_image_decode(anim, sizeof anim, "anim.webp", 0, &img) == FK_EFORMAT && !img &&
          says("animated"), "animated WebP: %s", fk_last_error());
}

/* ---- BMP ---------------------------------------------------------------- */

static size_t put16(uint8_t *p, unsigned v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
    return 2;
}
static size_t put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return 4;
}

/* A BMP: file header, an info header of hsize bytes (40 or 108), `extra`
 * bytes after it (masks or a palette), then `rows` bytes of pixel data.
 * Returns the size. */
static size_t make_bmp(uint8_t *out, int w, int h, int bpp, uint32_t comp, uint32_t hsize,
                       const uint8_t *extra, size_t nextra, uint32_t colours,
                       const uint8_t *rows, size_t nrows) {
    size_t off = 14 + hsize + nextra;
    memset(out, 0, off);
    out[0] = 'B', out[1] = 'M';
    put32(out + 2, (uint32_t)(off + nrows));
    put32(out + 10, (uint32_t)off);
    uint8_t *p = out + 14;
    put32(p, hsize);
    put32(p + 4, (uint32_t)w);
    put32(p + 8, (uint32_t)h);
    put16(p + 12, 1);
    put16(p + 14, (unsigned)bpp);
    put32(p + 16, comp);
    put32(p + 20, (uint32_t)nrows);
    put32(p + 32, colours);
    if (nextra)
        memcpy(out + 14 + hsize, extra, nextra);
    memcpy(out + off, rows, nrows);
    return off + nrows;
}

static fk_status bmp_decode(const uint8_t *d, size_t n, const char *name, fk_image **img) {
    *img = NULL;
    return fk_image_decode(d, n, name, 0, img);
}

static void test_bmp_good(void) {
    static uint8_t f[4096];
    fk_image *img;
    size_t n;

    /* 24-bit bottom-up, 5x3: rows of 15 bytes padded to 16; the first row
     * in the file is the bottom one. Pixel (x, y) = (x*40, y*80, 7+x+y). */
    uint8_t rows24[3 * 16];
    memset(rows24, 0xEE, sizeof rows24); /* padding bytes must be ignored */
    for (int fy = 0; fy < 3; fy++)
        for (int x = 0; x < 5; x++) {
            int y = 2 - fy;
            uint8_t *q = rows24 + fy * 16 + x * 3;
            q[0] = (uint8_t)(7 + x + y), q[1] = (uint8_t)(y * 80), q[2] = (uint8_t)(x * 40);
        }
    n = make_bmp(f, 5, 3, 24, 0, 40, NULL, 0, 0, rows24, sizeof rows24);
    write_file(tpath("b24.bmp"), f, n);
    img = NULL;
    CHECK(fk_image_load(tpath("b24.bmp"), 0, &img) == FK_OK, "24-bit: %s", fk_last_error());
    if (img) {
        int ok = img->width == 5 && img->height == 3 && img->channels == 3;
        for (int y = 0; ok && y < 3; y++)
            for (int x = 0; x < 5; x++)
                ok &= rgb_is(img, x, y, x * 40, y * 80, 7 + x + y);
        CHECK(ok, "24-bit bottom-up BMP pixels exact");
    }
    fk_image_free(img);

    /* 32-bit BI_RGB top-down (negative height), 4x3, the 4th byte is noise */
    uint8_t rows32[3 * 16];
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 4; x++) {
            uint8_t *q = rows32 + y * 16 + x * 4;
            q[0] = (uint8_t)(200 + x), q[1] = (uint8_t)(100 + y), q[2] = (uint8_t)(x * y * 9),
            q[3] = (uint8_t)(x * 77 + 3);
        }
    n = make_bmp(f, 4, -3, 32, 0, 40, NULL, 0, 0, rows32, sizeof rows32);
    CHECK(bmp_decode(f, n, "b32.bmp", &img) == FK_OK, "32-bit: %s", fk_last_error());
    if (img) {
        int ok = img->width == 4 && img->height == 3;
        for (int y = 0; ok && y < 3; y++)
            for (int x = 0; x < 4; x++)
                ok &= rgb_is(img, x, y, x * y * 9, 100 + y, 200 + x);
        CHECK(ok, "32-bit top-down BMP pixels exact, alpha byte dropped");
    }
    fk_image_free(img);

    /* 32-bit BI_BITFIELDS: R in the low byte, G next, B next (RGBx order),
     * masks after a 40-byte header and, the same, inside a V4 header */
    uint8_t masks[12];
    put32(masks, 0x000000FF), put32(masks + 4, 0x0000FF00), put32(masks + 8, 0x00FF0000);
    uint8_t rowsbf[2 * 8];
    for (int i = 0; i < 4; i++) {
        uint8_t *q = rowsbf + i * 4;
        q[0] = (uint8_t)(10 * i + 1), q[1] = (uint8_t)(10 * i + 2), q[2] = (uint8_t)(10 * i + 3),
        q[3] = 0x99;
    }
    n = make_bmp(f, 2, -2, 32, 3, 40, masks, 12, 0, rowsbf, sizeof rowsbf);
    CHECK(bmp_decode(f, n, "bf.bmp", &img) == FK_OK, "bitfields: %s", fk_last_error());
    if (img)
        CHECK(rgb_is(img, 0, 0, 1, 2, 3) && rgb_is(img, 1, 0, 11, 12, 13) &&
              rgb_is(img, 0, 1, 21, 22, 23) && rgb_is(img, 1, 1, 31, 32, 33),
              "32-bit BI_BITFIELDS masks applied");
    fk_image_free(img);
    uint8_t v4[108 - 40];
    memset(v4, 0, sizeof v4);
    memcpy(v4, masks, 12);
    /* a V4 header is 108 bytes: the 68 past the first 40 go in as "extra"
     * at the header's end, so build a 40-byte one and patch the size */
    n = make_bmp(f, 2, -2, 32, 3, 40, v4, sizeof v4, 0, rowsbf, sizeof rowsbf);
    put32(f + 14, 108);
    CHECK(bmp_decode(f, n, "v4.bmp", &img) == FK_OK, "V4 bitfields: %s", fk_last_error());
    if (img)
        CHECK(rgb_is(img, 1, 1, 31, 32, 33), "V4 header's masks");
    fk_image_free(img);
    /* 5-bit masks scale to 8 bits: 31 -> 255 */
    put32(masks, 0x7C00), put32(masks + 4, 0x03E0), put32(masks + 8, 0x001F);
    uint8_t rows5[4];
    put32(rows5, 0x7C00 | (16 << 5) | 0);
    n = make_bmp(f, 1, 1, 32, 3, 40, masks, 12, 0, rows5, 4);
    CHECK(bmp_decode(f, n, "bf5.bmp", &img) == FK_OK && rgb_is(img, 0, 0, 255, 132, 0),
          "5-bit masks scaled: %s", fk_last_error());
    fk_image_free(img);

    /* 8-bit palette, 3x2 bottom-up; index 200 is past the 4-entry palette */
    uint8_t pal[4 * 4] = {0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0, 0, 9, 8, 7, 0};
    uint8_t rows8[2 * 4] = {0, 1, 2, 0, 3, 200, 1, 0}; /* bottom row first */
    n = make_bmp(f, 3, 2, 8, 0, 40, pal, sizeof pal, 4, rows8, sizeof rows8);
    CHECK(bmp_decode(f, n, "p8.bmp", &img) == FK_OK, "8-bit: %s", fk_last_error());
    if (img)
        CHECK(rgb_is(img, 0, 1, 255, 0, 0) && rgb_is(img, 1, 1, 0, 255, 0) &&
              rgb_is(img, 2, 1, 0, 0, 255) && rgb_is(img, 0, 0, 7, 8, 9) &&
              rgb_is(img, 1, 0, 0, 0, 0) && rgb_is(img, 2, 0, 0, 255, 0),
              "8-bit palette BMP pixels exact");
    fk_image_free(img);

    /* 4-bit palette, 5x1: high nibble first */
    uint8_t rows4[4] = {0x12, 0x30, 0x10, 0};
    n = make_bmp(f, 5, 1, 4, 0, 40, pal, sizeof pal, 4, rows4, sizeof rows4);
    CHECK(bmp_decode(f, n, "p4.bmp", &img) == FK_OK, "4-bit: %s", fk_last_error());
    if (img)
        CHECK(rgb_is(img, 0, 0, 0, 255, 0) && rgb_is(img, 1, 0, 0, 0, 255) &&
              rgb_is(img, 2, 0, 7, 8, 9) && rgb_is(img, 3, 0, 255, 0, 0) &&
              rgb_is(img, 4, 0, 0, 255, 0), "4-bit palette BMP pixels exact");
    fk_image_free(img);

    /* 1-bit, 9x2 (two bytes of bits per row, padded to 4), colours 0 -> black
     * and 1 -> white; MSB is the leftmost pixel */
    uint8_t pal1[8] = {0, 0, 0, 0, 255, 255, 255, 0};
    uint8_t rows1[2 * 4] = {0xA5, 0x80, 0, 0, 0x01, 0x00, 0, 0};
    n = make_bmp(f, 9, 2, 1, 0, 40, pal1, sizeof pal1, 0, rows1, sizeof rows1);
    CHECK(bmp_decode(f, n, "p1.bmp", &img) == FK_OK, "1-bit: %s", fk_last_error());
    if (img) {
        /* bottom row (file row 0) is y = 1: bits 1010 0101 1 */
        static const int want[9] = {1, 0, 1, 0, 0, 1, 0, 1, 1};
        int ok = 1;
        for (int x = 0; x < 9; x++) {
            int v = want[x] * 255, top = x == 7 ? 255 : 0;
            ok &= rgb_is(img, x, 1, v, v, v) && rgb_is(img, x, 0, top, top, top);
        }
        CHECK(ok, "1-bit BMP pixels exact");
    }
    fk_image_free(img);
}

static void expect_bmp_fails(const uint8_t *d, size_t n, fk_status want, const char *needle,
                             const char *what) {
    fk_image *img = (fk_image *)1;
    fk_status st = fk_image_decode(d, n, "bad.bmp", 0, &img);
    CHECK(st == want && !img && says("bad.bmp") && (!needle || says(needle)),
          "%s: status %s, message: %s", what, fk_status_name(st), fk_last_error());
}

static void test_bmp_bad(void) {
    static uint8_t f[4096];
    uint8_t rows[3 * 16];
    memset(rows, 0x40, sizeof rows);
    size_t n = make_bmp(f, 5, 3, 24, 0, 40, NULL, 0, 0, rows, sizeof rows);
    uint8_t good[4096];
    memcpy(good, f, n);

    put32(f + 10, 100000); /* pixel data offset beyond the file */
    expect_bmp_fails(f, n, FK_EFORMAT, "offset", "offset beyond the file");
    memcpy(f, good, n);
    put32(f + 10, 3); /* inside the headers */
    expect_bmp_fails(f, n, FK_EFORMAT, "offset", "offset inside the header");

    memcpy(f, good, n);
    put32(f + 18, 100000), put32(f + 22, 100000); /* 100000x100000 */
    expect_bmp_fails(f, n, FK_ETOOBIG, "100000x100000", "huge dimensions");
    memcpy(f, good, n);
    put32(f + 18, 0x7FFFFFFF), put32(f + 22, 0x80000000u); /* INT32_MIN height */
    expect_bmp_fails(f, n, FK_ETOOBIG, NULL, "INT32_MIN height");
    memcpy(f, good, n);
    put32(f + 18, 0);
    expect_bmp_fails(f, n, FK_EFORMAT, "width", "zero width");

    memcpy(f, good, n);
    put32(f + 30, 1); /* RLE8 */
    expect_bmp_fails(f, n, FK_EFORMAT, "unsupported BMP (compression 1", "RLE8");
    put32(f + 30, 2);
    expect_bmp_fails(f, n, FK_EFORMAT, "unsupported BMP (compression 2", "RLE4");
    put32(f + 30, 4);
    expect_bmp_fails(f, n, FK_EFORMAT, "unsupported BMP (compression 4", "embedded JPEG");
    memcpy(f, good, n);
    put16(f + 28, 16);
    expect_bmp_fails(f, n, FK_EFORMAT, "unsupported BMP (16 bits", "16-bit");
    memcpy(f, good, n);
    put32(f + 14, 12); /* OS/2 core header */
    expect_bmp_fails(f, n, FK_EFORMAT, "unsupported BMP (OS/2", "OS/2 header");

    /* truncated rows: the last row cut off, then a single byte short */
    expect_bmp_fails(good, n - 16, FK_EFORMAT, "truncated BMP (2 of 3 rows", "one row missing");
    expect_bmp_fails(good, n - 1, FK_EFORMAT, "truncated", "one byte short");
    expect_bmp_fails(good, 30, FK_EFORMAT, "truncated", "cut in the header");
    expect_bmp_fails(good, 10, FK_EFORMAT, "truncated", "cut in the file header");

    /* palette: more colours than the depth allows, or past the file */
    uint8_t pal[16] = {0};
    uint8_t r8[4] = {0};
    n = make_bmp(f, 1, 1, 8, 0, 40, pal, sizeof pal, 4, r8, 4);
    put32(f + 46, 300);
    expect_bmp_fails(f, n, FK_EFORMAT, "palette", "300 colours for 8 bits");
    put32(f + 46, 256); /* 1 KiB palette in a 74-byte file */
    expect_bmp_fails(f, n, FK_EFORMAT, "palette", "palette past the file");

    /* random damage anywhere in a valid file: an answer, never a crash */
    n = make_bmp(f, 5, 3, 24, 0, 40, NULL, 0, 0, rows, sizeof rows);
    memcpy(good, f, n);
    unsigned seed = 12345, crashes = 0;
    for (int round = 0; round < 3000; round++) {
        memcpy(f, good, n);
        for (int k = 0; k < 3; k++) {
            seed = seed * 1103515245u + 12345u;
            f[(seed >> 8) % 54] = (uint8_t)(seed >> 20);
        }
        fk_image *img = NULL;
        fk_status st = fk_image_decode(f, n, "fuzz.bmp", 0, &img);
        crashes += !(st == FK_OK || st == FK_EFORMAT || st == FK_ETOOBIG);
        crashes += (st == FK_OK) != (img != NULL);
        fk_image_free(img);
    }
    CHECK(crashes == 0, "damaged BMP headers: %u unexpected results", crashes);
}

/* ---- PNG with tRNS ------------------------------------------------------ */

/* A PNG with a tRNS chunk, written with libpng. */
static int write_png_trns(const char *path, int w, int h, int type, int depth,
                          png_bytep *rows, const png_color *pal, int npal,
                          const png_byte *alpha, int nalpha, const png_color_16 *key) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return 0;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (pal)
        png_set_PLTE(png, info, pal, npal);
    png_set_tRNS(png, info, alpha, nalpha, key);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    return 1;
}

static void test_png_trns(void) {
    uint8_t buf[2][8];
    png_bytep rows[2] = {buf[0], buf[1]};
    fk_image *img;

    /* 8-bit palette, entry 1 fully transparent: its colour is kept */
    png_color pal[3] = {{10, 20, 30}, {200, 100, 50}, {0, 255, 0}};
    png_byte alpha[2] = {255, 0};
    buf[0][0] = 0, buf[0][1] = 1, buf[0][2] = 2;
    buf[1][0] = 2, buf[1][1] = 1, buf[1][2] = 0;
    CHECK(write_png_trns(tpath("pt.png"), 3, 2, PNG_COLOR_TYPE_PALETTE, 8, rows, pal, 3, alpha,
                         2, NULL), "write palette + tRNS");
    img = NULL;
    CHECK(fk_image_load(tpath("pt.png"), 0, &img) == FK_OK, "palette + tRNS: %s",
          fk_last_error());
    if (img)
        CHECK(img->channels == 3 && rgb_is(img, 0, 0, 10, 20, 30) &&
              rgb_is(img, 1, 0, 200, 100, 50) && rgb_is(img, 2, 0, 0, 255, 0) &&
              rgb_is(img, 0, 1, 0, 255, 0) && rgb_is(img, 2, 1, 10, 20, 30),
              "palette + tRNS: colours exact, alpha dropped");
    fk_image_free(img);

    /* 4-bit palette + tRNS */
    buf[0][0] = 0x12, buf[1][0] = 0x00;
    CHECK(write_png_trns(tpath("pt4.png"), 2, 2, PNG_COLOR_TYPE_PALETTE, 4, rows, pal, 3, alpha,
                         2, NULL), "write 4-bit palette + tRNS");
    img = NULL;
    CHECK(fk_image_load(tpath("pt4.png"), 0, &img) == FK_OK &&
              rgb_is(img, 0, 0, 200, 100, 50) && rgb_is(img, 1, 0, 0, 255, 0),
          "4-bit palette + tRNS: %s", fk_last_error());
    fk_image_free(img);

    /* 8-bit gray with a transparent key value */
    png_color_16 key = {0, 0, 0, 0, 77};
    buf[0][0] = 77, buf[0][1] = 5, buf[1][0] = 250, buf[1][1] = 77;
    CHECK(write_png_trns(tpath("gt.png"), 2, 2, PNG_COLOR_TYPE_GRAY, 8, rows, NULL, 0, NULL, 0,
                         &key), "write gray + tRNS");
    img = NULL;
    CHECK(fk_image_load(tpath("gt.png"), 0, &img) == FK_OK, "gray + tRNS: %s", fk_last_error());
    if (img)
        CHECK(rgb_is(img, 0, 0, 77, 77, 77) && rgb_is(img, 1, 0, 5, 5, 5) &&
              rgb_is(img, 0, 1, 250, 250, 250), "gray + tRNS: values exact");
    fk_image_free(img);

    /* 2-bit gray + tRNS (expanded to 8 bits: 0, 85, 170, 255) */
    key.gray = 1;
    buf[0][0] = 0x1B, buf[1][0] = 0xE4; /* 0 1 2 3 / 3 2 1 0 */
    CHECK(write_png_trns(tpath("gt2.png"), 4, 2, PNG_COLOR_TYPE_GRAY, 2, rows, NULL, 0, NULL, 0,
                         &key), "write 2-bit gray + tRNS");
    img = NULL;
    CHECK(fk_image_load(tpath("gt2.png"), 0, &img) == FK_OK && rgb_is(img, 1, 0, 85, 85, 85) &&
              rgb_is(img, 3, 0, 255, 255, 255) && rgb_is(img, 0, 1, 255, 255, 255),
          "2-bit gray + tRNS: %s", fk_last_error());
    fk_image_free(img);

    /* RGB with a transparent colour */
    png_color_16 rkey = {0, 1, 2, 3, 0};
    uint8_t rgb[2][6] = {{1, 2, 3, 9, 8, 7}, {4, 5, 6, 1, 2, 3}};
    png_bytep rrows[2] = {rgb[0], rgb[1]};
    CHECK(write_png_trns(tpath("rt.png"), 2, 2, PNG_COLOR_TYPE_RGB, 8, rrows, NULL, 0, NULL, 0,
                         &rkey), "write RGB + tRNS");
    img = NULL;
    CHECK(fk_image_load(tpath("rt.png"), 0, &img) == FK_OK && rgb_is(img, 0, 0, 1, 2, 3) &&
              rgb_is(img, 1, 0, 9, 8, 7) && rgb_is(img, 0, 1, 4, 5, 6),
          "RGB + tRNS: %s", fk_last_error());
    fk_image_free(img);
}

/* ---- text and stream inputs --------------------------------------------- */

static void test_text_inputs(void) {
    char path[PATH_MAX + 64];
    int have_photo = photo_path(path, sizeof path);
    if (!have_photo) {
        /* a JPEG of our own instead */
        fk_image *pat = make_pattern(80, 60);
        fk_image_save(pat, tpath("own.jpg"), 90);
        fk_image_free(pat);
        snprintf(path, sizeof path, "%s", tpath("own.jpg"));
    }
    size_t n = 0;
    uint8_t *jpg = read_file(path, &n);
    fk_image *ref = NULL, *img = NULL;
    CHECK(jpg && fk_image_load(path, 0, &ref) == FK_OK, "reference JPEG: %s", fk_last_error());
    if (!jpg || !ref) {
        free(jpg);
        return;
    }
    char *plain = b64(jpg, n, 0, 0), *wrapped = b64(jpg, n, 76, 0), *url = b64(jpg, n, 0, 1);
    size_t plen = strlen(plain);

    CHECK(fk_image_decode_text(plain, plen, "img1", 0, 0, &img) == FK_OK &&
          images_equal(img, ref), "base64: exact pixels of the file: %s", fk_last_error());
    fk_image_free(img);
    img = NULL;
    CHECK(fk_image_decode_text(wrapped, strlen(wrapped), "img1", 0, 0, &img) == FK_OK &&
          images_equal(img, ref), "base64 with line breaks: %s", fk_last_error());
    fk_image_free(img);
    img = NULL;
    CHECK(fk_image_decode_text(url, strlen(url), "img1", 0, 0, &img) == FK_OK &&
          images_equal(img, ref), "URL-safe base64: %s", fk_last_error());
    fk_image_free(img);
    /* without its '=' padding */
    size_t unpadded = plen;
    while (unpadded && plain[unpadded - 1] == '=')
        unpadded--;
    img = NULL;
    CHECK(fk_image_decode_text(plain, unpadded, "img1", 0, 0, &img) == FK_OK &&
          images_equal(img, ref), "base64 without padding: %s", fk_last_error());
    fk_image_free(img);

    char *uri = malloc(plen + 64);
    sprintf(uri, "data:image/jpeg;base64,%s", plain);
    img = NULL;
    CHECK(fk_image_decode_text(uri, strlen(uri), "img1", 0, 0, &img) == FK_OK &&
          images_equal(img, ref), "data URI: exact pixels: %s", fk_last_error());
    fk_image_free(img);
    /* the source forms: path, data URI, base64, stdin */
    img = NULL;
    CHECK(fk_image_load_source(uri, 0, 0, &img) == FK_OK && images_equal(img, ref),
          "load_source data URI: %s", fk_last_error());
    fk_image_free(img);
    img = NULL;
    CHECK(fk_image_load_source(plain, 0, 0, &img) == FK_OK && images_equal(img, ref),
          "load_source base64: %s", fk_last_error());
    fk_image_free(img);
    img = NULL;
    CHECK(fk_image_load_source(path, 0, 0, &img) == FK_OK && images_equal(img, ref),
          "load_source path: %s", fk_last_error());
    fk_image_free(img);
    img = NULL;
    CHECK(load_stdin_from(path, 0, &img) == FK_OK && images_equal(img, ref),
          "load_source stdin: %s", fk_last_error());
    fk_image_free(img);
    /* base64 text on stdin */
    write_file(tpath("b64.txt"), wrapped, strlen(wrapped));
    img = NULL;
    CHECK(load_stdin_from(tpath("b64.txt"), 0, &img) == FK_OK && images_equal(img, ref),
          "base64 on stdin: %s", fk_last_error());
    fk_image_free(img);
    /* max_side reaches the JPEG decoder as for fk_image_load_scaled */
    if (ref->width >= 400) {
        fk_image *a = NULL, *b = NULL;
        int side = ref->width / 4;
        CHECK(fk_image_load_scaled(path, 0, side, &a) == FK_OK &&
              fk_image_load_source(plain, 0, side, &b) == FK_OK && images_equal(a, b) &&
              b->scale < 1.0f, "base64 honours max_side (scale %g)", b ? (double)b->scale : 0.0);
        fk_image_free(a);
        fk_image_free(b);
    }

    /* refusals, each naming the form seen */
    char *bad = malloc(plen + 64);
    sprintf(bad, "data:text/plain;base64,%s", plain);
    img = (fk_image *)1;
    CHECK(fk_image_decode_text(bad, strlen(bad), "img1", 0, 0, &img) == FK_EFORMAT && !img &&
          says("img1") && says("text/plain"), "wrong MIME: %s", fk_last_error());
    CHECK(fk_image_load_source(bad, 0, 0, &img) == FK_EFORMAT && says("text/plain"),
          "load_source wrong MIME: %s", fk_last_error());
    CHECK(fk_image_decode_text("data:image/png,%89PNG", 21, "img1", 0, 0, &img) == FK_EFORMAT &&
          says("not base64"), "percent-encoded data URI: %s", fk_last_error());
    CHECK(fk_image_decode_text("data:image/png;base64", 21, "img1", 0, 0, &img) == FK_EFORMAT &&
          says("','"), "data URI without comma: %s", fk_last_error());
    CHECK(fk_image_decode_text("data:;base64,AAAA", 17, "img1", 0, 0, &img) == FK_EFORMAT &&
          says("no MIME type"), "data URI without MIME: %s", fk_last_error());
    CHECK(fk_image_decode_text("data:image/png;base64,AA*A", 26, "img1", 0, 0, &img) ==
              FK_EFORMAT && says("not valid base64") && says("'*' at offset 2"),
          "invalid base64 in a data URI: %s", fk_last_error());
    CHECK(fk_image_decode_text("abc!def", 7, "img1", 0, 0, &img) == FK_EFORMAT &&
          says("img1") && says("not a data URI and not base64"), "invalid base64: %s",
          fk_last_error());
    CHECK(fk_image_decode_text("QUJDRA=A", 8, "img1", 0, 0, &img) == FK_EFORMAT &&
          says("not base64") && says("offset 7"), "data after padding: %s", fk_last_error());
    CHECK(fk_image_decode_text("QUJDR", 5, "img1", 0, 0, &img) == FK_EFORMAT &&
          says("whole number of bytes"), "impossible length: %s", fk_last_error());
    CHECK(fk_image_decode_text("  \n", 3, "img1", 0, 0, &img) == FK_EFORMAT && says("empty"),
          "blank text: %s", fk_last_error());
    /* base64 of 900 bytes of text: not an image, and the message says so */
    uint8_t words[900];
    for (int i = 0; i < 900; i++)
        words[i] = (uint8_t)("hello world "[i % 12]);
    char *wb = b64(words, sizeof words, 0, 0);
    char want[128];
    snprintf(want, sizeof want, "base64 string (%zu characters) decodes to 900 bytes that are "
             "not a JPEG, PNG, WebP or BMP image", strlen(wb));
    CHECK(fk_image_decode_text(wb, strlen(wb), "img1", 0, 0, &img) == FK_EFORMAT &&
          says("img1: ") && says(want), "base64 of a non-image: %s", fk_last_error());
    CHECK(fk_image_load_source(wb, 0, 0, &img) == FK_EFORMAT && says(want),
          "load_source base64 of a non-image: %s", fk_last_error());
    free(wb);
    /* decode_text never opens a file, even one that exists */
    CHECK(fk_image_decode_text(path, strlen(path), "img1", 0, 0, &img) == FK_EFORMAT,
          "decode_text does not open paths: %s", fk_last_error());
    /* short typos of file names are missing files, not base64 errors */
    CHECK(fk_image_load_source("alice1", 0, 0, &img) == FK_EIO && says("alice1") &&
          says("not a file and not base64") && says("No such file"),
          "short name: %s", fk_last_error());
    CHECK(fk_image_load_source(tpath("missing.jpg"), 0, 0, &img) == FK_EIO &&
          says("missing.jpg") && says("cannot open"), "missing file: %s", fk_last_error());
    CHECK(fk_image_load_source("", 0, 0, &img) == FK_EIO, "empty source: %s", fk_last_error());
    CHECK(fk_image_load_source(NULL, 0, 0, &img) == FK_EINVAL, "NULL source");
    CHECK(fk_image_decode_text(plain, plen, "img1", 0, -1, &img) == FK_EINVAL, "max_side -1");
    /* the pixel budget applies after base64 as for files */
    CHECK(fk_image_decode_text(plain, plen, "img1", 1000, 0, &img) == FK_ETOOBIG &&
          says("img1") && says("megapixels"), "budget via base64: %s", fk_last_error());
    /* empty stdin */
    write_file(tpath("empty"), "", 0);
    CHECK(load_stdin_from(tpath("empty"), 0, &img) == FK_EFORMAT &&
          says("standard input") && says("empty"), "empty stdin: %s", fk_last_error());

    free(bad);
    free(uri);
    free(plain);
    free(wrapped);
    free(url);
    free(jpg);
    fk_image_free(ref);
}

/* The byte bound: files, stdin and base64 over it are FK_ETOOBIG before
 * they are read or decoded. */
static void test_byte_bound(void) {
    CHECK(fk_image_max_bytes(0) == (size_t)4 * FK_DEFAULT_MAX_PIXELS + (1u << 20),
          "default bound %zu", fk_image_max_bytes(0));
    CHECK(fk_image_max_bytes(1000) == 4000 + (1u << 20), "bound for 1000 pixels");
    CHECK(fk_image_max_bytes(SIZE_MAX) == SIZE_MAX, "saturates");
    size_t bound = fk_image_max_bytes(1000);
    size_t n = bound + 1;
    uint8_t *big = malloc(n);
    memset(big, 0, n);
    big[0] = 0xFF, big[1] = 0xD8, big[2] = 0xFF; /* looks like a JPEG */
    write_file(tpath("big.jpg"), big, n);
    fk_image *img = (fk_image *)1;
    CHECK(fk_image_load(tpath("big.jpg"), 1000, &img) == FK_ETOOBIG && !img &&
          says("big.jpg") && says("MB"), "file over the bound: %s", fk_last_error());
    CHECK(fk_image_load_source(tpath("big.jpg"), 1000, 0, &img) == FK_ETOOBIG,
          "load_source file over the bound: %s", fk_last_error());
    CHECK(load_stdin_from(tpath("big.jpg"), 1000, &img) == FK_ETOOBIG &&
          says("standard input") && says("bytes"), "stdin over the bound: %s",
          fk_last_error());
    /* exactly at the bound is read (and then refused as a bad JPEG) */
    write_file(tpath("edge.jpg"), big, bound);
    CHECK(fk_image_load(tpath("edge.jpg"), 1000, &img) == FK_EFORMAT, "file at the bound: %s",
          fk_last_error());
    /* a FIFO-like stream (not a regular file) is stopped at the bound:
     * /dev/zero never ends */
    CHECK(fk_image_load("/dev/zero", 1000, &img) == FK_ETOOBIG && says("/dev/zero"),
          "endless stream: %s", fk_last_error());
    char *text = b64(big, n, 0, 0);
    CHECK(fk_image_decode_text(text, strlen(text), "img1", 1000, 0, &img) == FK_ETOOBIG &&
          says("img1") && says("over the"), "base64 over the bound: %s", fk_last_error());
    free(text);
    free(big);
}

/* ---- caller pixels ------------------------------------------------------ */

static void test_from_pixels(void) {
    enum { W = 3, H = 2 };
    /* stride with 2 bytes of row padding, as numpy slices and OpenCV ROIs have */
    uint8_t rgba[H][W * 4 + 2], rgb[H][W * 3 + 2], gray[H][W + 2];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t r = (uint8_t)(10 + x), g = (uint8_t)(50 + y), b = (uint8_t)(90 + x + y);
            uint8_t *q = rgba[y] + 4 * x;
            q[0] = r, q[1] = g, q[2] = b, q[3] = (uint8_t)(x * 100);
            q = rgb[y] + 3 * x;
            q[0] = r, q[1] = g, q[2] = b;
            gray[y][x] = (uint8_t)(x * 40 + y);
        }
    uint8_t bgr[H][W * 3 + 2], bgra[H][W * 4 + 2];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            bgr[y][3 * x] = rgb[y][3 * x + 2], bgr[y][3 * x + 1] = rgb[y][3 * x + 1],
            bgr[y][3 * x + 2] = rgb[y][3 * x];
            bgra[y][4 * x] = rgba[y][4 * x + 2], bgra[y][4 * x + 1] = rgba[y][4 * x + 1],
            bgra[y][4 * x + 2] = rgba[y][4 * x], bgra[y][4 * x + 3] = rgba[y][4 * x + 3];
        }
    struct {
        const void *p;
        size_t stride;
        fk_pixel_format f;
        const char *name;
    } cases[] = {{rgb, sizeof rgb[0], FK_PIXELS_RGB, "RGB"},
                 {bgr, sizeof bgr[0], FK_PIXELS_BGR, "BGR"},
                 {rgba, sizeof rgba[0], FK_PIXELS_RGBA, "RGBA"},
                 {bgra, sizeof bgra[0], FK_PIXELS_BGRA, "BGRA"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fk_image *img = NULL;
        CHECK(fk_image_from_pixels(cases[i].p, W, H, cases[i].stride, cases[i].f, &img) ==
              FK_OK, "%s: %s", cases[i].name, fk_last_error());
        int ok = img && img->channels == 3 && img->width == W && img->height == H;
        for (int y = 0; ok && y < H; y++)
            for (int x = 0; x < W; x++)
                ok &= rgb_is(img, x, y, 10 + x, 50 + y, 90 + x + y);
        CHECK(ok, "%s: RGB pixels exact (BGR swapped, alpha dropped)", cases[i].name);
        fk_image_free(img);
    }
    fk_image *img = NULL;
    CHECK(fk_image_from_pixels(gray, W, H, sizeof gray[0], FK_PIXELS_GRAY, &img) == FK_OK,
          "gray: %s", fk_last_error());
    int ok = img != NULL;
    for (int y = 0; ok && y < H; y++)
        for (int x = 0; x < W; x++)
            ok &= rgb_is(img, x, y, x * 40 + y, x * 40 + y, x * 40 + y);
    CHECK(ok, "gray replicated into R, G, B");
    fk_image_free(img);
    /* stride 0: packed rows */
    uint8_t packed[2 * 3] = {1, 2, 3, 4, 5, 6};
    img = NULL;
    CHECK(fk_image_from_pixels(packed, 1, 2, 0, FK_PIXELS_BGR, &img) == FK_OK &&
          rgb_is(img, 0, 0, 3, 2, 1) && rgb_is(img, 0, 1, 6, 5, 4), "packed BGR");
    fk_image_free(img);

    img = (fk_image *)1;
    CHECK(fk_image_from_pixels(rgb, W, H, W * 3 - 1, FK_PIXELS_RGB, &img) == FK_EINVAL && !img &&
          says("stride"), "short stride: %s", fk_last_error());
    CHECK(fk_image_from_pixels(rgb, 0, H, 0, FK_PIXELS_RGB, &img) == FK_EINVAL, "zero width");
    CHECK(fk_image_from_pixels(rgb, W, -1, 0, FK_PIXELS_RGB, &img) == FK_EINVAL, "negative h");
    CHECK(fk_image_from_pixels(NULL, W, H, 0, FK_PIXELS_RGB, &img) == FK_EINVAL, "NULL pixels");
    CHECK(fk_image_from_pixels(rgb, W, H, 0, (fk_pixel_format)42, &img) == FK_EINVAL &&
          says("format"), "unknown format");
    CHECK(fk_image_from_pixels(rgb, W, H, 0, FK_PIXELS_RGB, NULL) == FK_EINVAL, "NULL out");
    /* over the default budget: refused before the (fake) pixels are read */
    CHECK(fk_image_from_pixels(rgb, 100000, 100000, 0, FK_PIXELS_RGB, &img) == FK_ETOOBIG &&
          says("megapixels"), "over the budget: %s", fk_last_error());
    CHECK(fk_image_from_pixels(rgb, 1, 3, SIZE_MAX / 2, FK_PIXELS_RGB, &img) == FK_EINVAL &&
          says("stride"), "stride overflow: %s", fk_last_error());
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fk_test_inputs_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "mkdtemp failed\n");
        return 1;
    }
    test_webp_photo();
    test_webp_small();
    test_bmp_good();
    test_bmp_bad();
    test_png_trns();
    test_text_inputs();
    test_byte_bound();
    test_from_pixels();
    remove_tmpdir();
    return test_summary();
}
