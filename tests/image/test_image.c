/*
 * test_image.c - the image layer: JPEG/PNG round trips, EXIF orientation,
 * colour conversions, resize, affine warp, crop/pad, drawing, and bad input
 * refused with the right status and a message that names the file.
 *
 * Every file the test writes lives in a fresh mkdtemp folder under /tmp,
 * removed at the end. Test JPEGs and PNGs are made here with libjpeg-turbo
 * and libpng, so nothing depends on files outside the repo; a real photo
 * from the model home ($FACEKIT_HOME/face-api/sample1.jpg) is checked when
 * present.
 */
#include "test.h"
#include "image/image.h"

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

/* ---- helpers: files ----------------------------------------------------- */

static char tmpdir[64];

/* tmpdir/name in one of a few rotating buffers (so two can be live). */
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

/* The whole file, malloc'd; NULL if unreadable. */
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

/* How many entries the temp folder holds (to catch stray temp files). */
static int count_files(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
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

/* The error message mentions `name`. */
static int error_names(const char *name) {
    return strstr(fk_last_error(), name) != NULL;
}

/* ---- helpers: images ---------------------------------------------------- */

static uint8_t *px(const fk_image *img, int x, int y) {
    return img->data + (size_t)y * img->stride + (size_t)x * img->channels;
}

/* Busy but deterministic content, good for exact comparisons. */
static fk_image *make_pattern(int w, int h, int ch) {
    fk_image *img;
    if (fk_image_new(w, h, ch, &img) != FK_OK)
        return NULL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < ch; c++)
                px(img, x, y)[c] = (uint8_t)((x * 37 + y * 91 + c * 53 + x * y) % 251);
    return img;
}

/* Smooth RGB content that JPEG keeps well. */
static fk_image *make_gradient(int w, int h) {
    fk_image *img;
    if (fk_image_new(w, h, 3, &img) != FK_OK)
        return NULL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = px(img, x, y);
            p[0] = (uint8_t)(x * 255 / (w - 1));
            p[1] = (uint8_t)(y * 255 / (h - 1));
            p[2] = 128;
        }
    return img;
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
    double sum = 0;
    size_t n = (size_t)a->width * a->channels;
    for (int y = 0; y < a->height; y++)
        for (size_t i = 0; i < n; i++)
            sum += abs(px(a, 0, y)[i] - px(b, 0, y)[i]);
    return sum / ((double)n * a->height);
}

/* ---- helpers: making JPEGs and PNGs ------------------------------------ */

static int encode_progressive; /* encode_jpeg writes progressive JPEGs */

/* Encode w x h pixels of `comps` components (1 gray, 3 RGB, 4 CMYK) as a
 * JPEG in memory, with an optional APP1 marker. The caller frees. */
static uint8_t *encode_jpeg(const uint8_t *pixels, int w, int h, int comps,
                            int quality, const uint8_t *app1, size_t app1_len,
                            size_t *size) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    unsigned char *buf = NULL;
    unsigned long len = 0;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &buf, &len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = comps == 1 ? JCS_GRAYSCALE : comps == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    if (encode_progressive)
        jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    if (app1)
        jpeg_write_marker(&c, JPEG_APP0 + 1, app1, (unsigned)app1_len);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)c.next_scanline * w * comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *size = len;
    return buf;
}

/* Append 16/32-bit values in a chosen byte order. */
static size_t put16(uint8_t *p, unsigned v, int be) {
    p[be ? 0 : 1] = (uint8_t)(v >> 8);
    p[be ? 1 : 0] = (uint8_t)v;
    return 2;
}
static size_t put32(uint8_t *p, uint32_t v, int be) {
    put16(p + (be ? 0 : 2), v >> 16, be);
    put16(p + (be ? 2 : 0), v & 0xFFFF, be);
    return 4;
}

/* An Exif APP1 body: a Make tag, then Orientation, in either byte order. */
static size_t make_exif(uint8_t *out, int orientation, int be) {
    size_t n = 0;
    memcpy(out, "Exif\0\0", 6);
    n += 6;
    uint8_t *t = out + n;
    size_t k = 0;
    t[k++] = be ? 'M' : 'I';
    t[k++] = be ? 'M' : 'I';
    k += put16(t + k, 42, be);
    k += put32(t + k, 8, be); /* IFD0 right after the header */
    k += put16(t + k, 2, be); /* two entries */
    k += put16(t + k, 0x010F, be); /* Make, ASCII, 4 bytes inline */
    k += put16(t + k, 2, be);
    k += put32(t + k, 4, be);
    memcpy(t + k, "abc", 4);
    k += 4;
    k += put16(t + k, 0x0112, be); /* Orientation, SHORT, 1 */
    k += put16(t + k, 3, be);
    k += put32(t + k, 1, be);
    k += put16(t + k, (unsigned)orientation, be);
    k += put16(t + k, 0, be);
    k += put32(t + k, 0, be); /* no next IFD */
    return n + k;
}

/* Write a PNG of any layout with libpng; rows hold the packed samples. */
static int write_png_raw(const char *path, int w, int h, int color_type,
                         int depth, int interlace, png_bytep *rows,
                         png_colorp palette, int npal) {
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
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type,
                 interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette)
        png_set_PLTE(png, info, palette, npal);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fclose(f) == 0;
}

/* CRC-32 as PNG chunks use it (bitwise: speed does not matter here). */
static uint32_t crc32_png(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Offset of the first PNG chunk of `type` (at its length field), or 0. */
static size_t png_find_chunk(const uint8_t *p, size_t n, const char *type) {
    for (size_t pos = 8; pos + 12 <= n; pos += 12 + be32(p + pos))
        if (!memcmp(p + pos + 4, type, 4))
            return pos;
    return 0;
}

/* Offset of the SOF0/SOF2 marker in a JPEG, or 0. */
static size_t jpeg_find_sof(const uint8_t *p, size_t n) {
    for (size_t pos = 2; pos + 4 <= n && p[pos] == 0xFF;
         pos += 2 + ((size_t)p[pos + 2] << 8 | p[pos + 3]))
        if (p[pos + 1] == 0xC0 || p[pos + 1] == 0xC2)
            return pos;
    return 0;
}

/* ---- tests: buffers and codecs ----------------------------------------- */

static void test_new(void) {
    fk_image *img = NULL;
    CHECK(fk_image_new(0, 5, 3, &img) == FK_EINVAL && !img, "zero width");
    CHECK(fk_image_new(5, -1, 3, &img) == FK_EINVAL, "negative height");
    CHECK(fk_image_new(5, 5, 2, &img) == FK_EINVAL, "two channels");
    CHECK(fk_image_new(5, 4, 3, &img) == FK_OK, "new 5x4x3");
    if (!img)
        return;
    CHECK(img->width == 5 && img->height == 4 && img->channels == 3 &&
          img->stride == 15 && img->scale == 1.0f, "fields");
    int zero = 1;
    for (size_t i = 0; i < 60; i++)
        zero &= img->data[i] == 0;
    CHECK(zero, "zero-filled");
    fk_image_free(img);
    fk_image_free(NULL);
}

static void test_png_roundtrip(void) {
    for (int ch = 1; ch <= 3; ch += 2) {
        fk_image *src = make_pattern(37, 23, ch), *back = NULL;
        const char *path = tpath(ch == 3 ? "rgb.png" : "gray.PNG");
        CHECK(fk_image_save(src, path, 0) == FK_OK, "save %s: %s", path,
              fk_last_error());
        CHECK(fk_image_load(path, 0, &back) == FK_OK, "load %s: %s", path,
              fk_last_error());
        if (back && ch == 3) {
            CHECK(images_equal(src, back), "PNG round trip is lossless");
        } else if (back) {
            /* gray comes back as RGB with three equal channels */
            int same = back->channels == 3 && back->width == 37 && back->height == 23;
            for (int y = 0; same && y < 23; y++)
                for (int x = 0; x < 37; x++)
                    for (int c = 0; c < 3; c++)
                        same &= px(back, x, y)[c] == px(src, x, y)[0];
            CHECK(same, "gray PNG decodes to equal RGB channels");
        }
        fk_image_free(src);
        fk_image_free(back);
    }
}

static void test_jpeg_roundtrip(void) {
    fk_image *src = make_gradient(64, 48), *back = NULL;
    const char *path = tpath("grad.jpg");
    CHECK(fk_image_save(src, path, 95) == FK_OK, "save: %s", fk_last_error());
    CHECK(fk_image_load(path, 0, &back) == FK_OK, "load: %s", fk_last_error());
    if (back) {
        CHECK(back->width == 64 && back->height == 48 && back->channels == 3,
              "size %dx%d", back->width, back->height);
        double d = mean_abs_diff(src, back);
        CHECK(d < 2.0, "JPEG q95 mean abs diff %.2f", d);
    }
    fk_image_free(back);
    back = NULL;
    /* default quality, upper-case .JPEG extension */
    CHECK(fk_image_save(src, tpath("grad2.JPEG"), 0) == FK_OK, "save q0: %s",
          fk_last_error());
    CHECK(fk_image_load(tpath("grad2.JPEG"), 0, &back) == FK_OK, "load q0");
    if (back)
        CHECK(mean_abs_diff(src, back) < 4.0, "JPEG q90 close");
    fk_image_free(back);
    fk_image_free(src);

    /* a gray image saves as a gray JPEG and loads as RGB */
    fk_image *gray = make_pattern(16, 16, 1);
    for (int i = 0; i < 256; i++)
        gray->data[i] = 100;
    CHECK(fk_image_save(gray, tpath("gray.jpg"), 90) == FK_OK, "save gray jpg");
    back = NULL;
    CHECK(fk_image_load(tpath("gray.jpg"), 0, &back) == FK_OK, "load gray jpg");
    if (back)
        CHECK(back->channels == 3 && abs(px(back, 8, 8)[0] - 100) <= 1 &&
              px(back, 8, 8)[0] == px(back, 8, 8)[2], "gray jpg to RGB");
    fk_image_free(back);
    fk_image_free(gray);
}

static void test_save_errors(void) {
    fk_image *img = make_pattern(8, 8, 3);
    int before = count_files();
    CHECK(fk_image_save(img, tpath("x.bmp"), 0) == FK_EINVAL &&
          error_names("x.bmp"), "unknown extension: %s", fk_last_error());
    CHECK(fk_image_save(img, tpath("q.jpg"), 101) == FK_EINVAL &&
          error_names("q.jpg"), "quality 101: %s", fk_last_error());
    CHECK(fk_image_save(img, "/nonexistent-dir/x.png", 0) == FK_EIO &&
          error_names("/nonexistent-dir/x.png"), "missing folder: %s",
          fk_last_error());
    /* a directory where the file should go: rename fails, temp is removed */
    mkdir(tpath("adir.png"), 0700);
    CHECK(fk_image_save(img, tpath("adir.png"), 0) == FK_EIO &&
          error_names("adir.png"), "target is a directory: %s", fk_last_error());
    rmdir(tpath("adir.png"));
    CHECK(count_files() == before, "no files left behind (%d vs %d)",
          count_files(), before);
    fk_image bad = {4, 4, 2, 8, img->data, 1};
    CHECK(fk_image_save(&bad, tpath("bad.png"), 0) == FK_EINVAL, "2 channels");
    /* overwriting an existing file works and leaves no temp file */
    CHECK(fk_image_save(img, tpath("over.png"), 0) == FK_OK, "first save");
    CHECK(fk_image_save(img, tpath("over.png"), 0) == FK_OK, "overwrite");
    CHECK(count_files() == before + 1, "exactly one new file");
    fk_image_free(img);
}

/* Which of the four quadrant colours a pixel is closest to. */
enum { RED, GREEN, BLUE, WHITE };
static int nearest_colour(const uint8_t *p) {
    static const int ref[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};
    int best = 0, best_d = INT_MAX;
    for (int i = 0; i < 4; i++) {
        int d = 0;
        for (int c = 0; c < 3; c++)
            d += (p[c] - ref[i][c]) * (p[c] - ref[i][c]);
        if (d < best_d) {
            best_d = d;
            best = i;
        }
    }
    return best;
}

/* A 64x32 image: red top-left, green top-right, blue bottom-left, white
 * bottom-right. */
static uint8_t *quadrant_pixels(int w, int h) {
    uint8_t *p = malloc((size_t)w * h * 3);
    static const uint8_t col[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            memcpy(p + ((size_t)y * w + x) * 3, col[(y >= h / 2) * 2 + (x >= w / 2)], 3);
    return p;
}

/* Expected colour at output top-left, top-right, bottom-left, per EXIF
 * orientation, for the quadrant image (red TL, green TR, blue BL). */
static const int exif_want[9][3] = {
    {0},
    {RED, GREEN, BLUE},   {GREEN, RED, WHITE}, {WHITE, BLUE, GREEN},
    {BLUE, WHITE, RED},   {RED, BLUE, GREEN},  {BLUE, RED, WHITE},
    {WHITE, GREEN, BLUE}, {GREEN, WHITE, RED},
};

static void test_exif_orientation(void) {
    const int (*want)[3] = exif_want;
    const int w = 64, h = 32;
    uint8_t *pixels = quadrant_pixels(w, h);
    for (int o = 1; o <= 8; o++) {
        for (int be = 0; be <= 1; be++) {
            uint8_t exif[64];
            size_t elen = make_exif(exif, o, be), size;
            uint8_t *jpg = encode_jpeg(pixels, w, h, 3, 95, exif, elen, &size);
            fk_image *img = NULL;
            CHECK(fk_image_decode(jpg, size, "exif.jpg", 0, &img) == FK_OK,
                  "decode o=%d: %s", o, fk_last_error());
            free(jpg);
            if (!img)
                continue;
            int swapped = o >= 5;
            CHECK(img->width == (swapped ? h : w) && img->height == (swapped ? w : h),
                  "o=%d be=%d: size %dx%d", o, be, img->width, img->height);
            int tl = nearest_colour(px(img, 1, 1));
            int tr = nearest_colour(px(img, img->width - 2, 1));
            int bl = nearest_colour(px(img, 1, img->height - 2));
            CHECK(tl == want[o][0] && tr == want[o][1] && bl == want[o][2],
                  "o=%d be=%d: corners %d %d %d, want %d %d %d", o, be, tl, tr,
                  bl, want[o][0], want[o][1], want[o][2]);
            fk_image_free(img);
        }
    }
    free(pixels);
}

/* Broken EXIF never breaks decoding: the image just stays as stored. */
static void test_exif_malformed(void) {
    const int w = 16, h = 8;
    uint8_t *pixels = quadrant_pixels(w, h);
    uint8_t exif[64];
    for (int variant = 0; variant < 5; variant++) {
        size_t elen = make_exif(exif, 6, variant & 1);
        if (variant < 2)
            put32(exif + 6 + 4, 0xFFFFFFF0u, variant & 1); /* IFD far away */
        if (variant == 2)
            put16(exif + 6 + 24, 7, 0); /* orientation typed UNDEFINED */
        if (variant == 3) {
            put16(exif + 6 + 8, 0xFFFF, 1); /* 65535 entries... */
            elen = 6 + 12;                  /* ...cut inside the first */
        }
        if (variant == 4)
            put16(exif + 6 + 30, 9, 0); /* orientation 9 does not exist */
        size_t size;
        uint8_t *jpg = encode_jpeg(pixels, w, h, 3, 90, exif, elen, &size);
        fk_image *img = NULL;
        CHECK(fk_image_decode(jpg, size, "bad-exif.jpg", 0, &img) == FK_OK,
              "variant %d: %s", variant, fk_last_error());
        if (img)
            CHECK(img->width == w && img->height == h, "variant %d upright as stored",
                  variant);
        fk_image_free(img);
        free(jpg);
    }
    free(pixels);
}

static void test_cmyk_jpeg(void) {
    /* libjpeg writes an Adobe marker for CMYK, so values are stored the
     * Adobe way: inverted (255 - ink). Red = no cyan ink, full M and Y. */
    const int w = 16, h = 16;
    uint8_t *cmyk = malloc((size_t)w * h * 4);
    for (int i = 0; i < w * h; i++) {
        uint8_t *p = cmyk + (size_t)i * 4;
        p[0] = 255; /* no cyan */
        p[1] = 0;   /* full magenta */
        p[2] = 0;   /* full yellow */
        p[3] = 255; /* no black */
    }
    size_t size;
    uint8_t *jpg = encode_jpeg(cmyk, w, h, 4, 95, NULL, 0, &size);
    fk_image *img = NULL;
    CHECK(fk_image_decode(jpg, size, "cmyk.jpg", 0, &img) == FK_OK, "cmyk: %s",
          fk_last_error());
    if (img) {
        const uint8_t *p = px(img, 8, 8);
        CHECK(img->channels == 3 && p[0] > 240 && p[1] < 15 && p[2] < 15,
              "CMYK red decodes to RGB red, got %d %d %d", p[0], p[1], p[2]);
    }
    fk_image_free(img);
    free(jpg);
    free(cmyk);
}

/* PNG layouts other than 8-bit RGB all come out as 8-bit RGB. */
static void test_png_variants(void) {
    enum { W = 9, H = 5 };
    uint8_t buf[H][W * 8];
    png_bytep rows[H];
    for (int y = 0; y < H; y++)
        rows[y] = buf[y];
    fk_image *img;

    /* RGBA: alpha is dropped, colour kept as stored */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = buf[y] + x * 4;
            p[0] = (uint8_t)(x * 20), p[1] = (uint8_t)(y * 40), p[2] = 7, p[3] = (uint8_t)(x * 30);
        }
    CHECK(write_png_raw(tpath("rgba.png"), W, H, PNG_COLOR_TYPE_RGB_ALPHA, 8,
                        PNG_INTERLACE_NONE, rows, NULL, 0), "write rgba");
    img = NULL;
    CHECK(fk_image_load(tpath("rgba.png"), 0, &img) == FK_OK, "rgba: %s", fk_last_error());
    if (img)
        CHECK(px(img, 3, 2)[0] == 60 && px(img, 3, 2)[1] == 80 && px(img, 3, 2)[2] == 7 &&
              px(img, 0, 0)[0] == 0, "RGBA alpha dropped");
    fk_image_free(img);

    /* 16-bit RGB, interlaced: scaled to 8 bits */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) {
                unsigned v = (unsigned)(x * 7000 + c * 100 + y);
                buf[y][(x * 3 + c) * 2] = (uint8_t)(v >> 8);
                buf[y][(x * 3 + c) * 2 + 1] = (uint8_t)v;
            }
    CHECK(write_png_raw(tpath("rgb16.png"), W, H, PNG_COLOR_TYPE_RGB, 16,
                        PNG_INTERLACE_ADAM7, rows, NULL, 0), "write rgb16");
    img = NULL;
    CHECK(fk_image_load(tpath("rgb16.png"), 0, &img) == FK_OK, "rgb16: %s", fk_last_error());
    if (img) {
        int ok = 1;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < 3; c++) {
                    int want = (x * 7000 + c * 100 + y) * 255 / 65535;
                    ok &= abs(px(img, x, y)[c] - want) <= 1;
                }
        CHECK(ok, "16-bit interlaced RGB scaled to 8 bits");
    }
    fk_image_free(img);

    /* 1-bit gray: 0 -> 0, 1 -> 255 */
    memset(buf, 0, sizeof buf);
    for (int y = 0; y < H; y++)
        buf[y][0] = 0xAA; /* pixels 0,2,4,6 on */
    CHECK(write_png_raw(tpath("bits.png"), W, H, PNG_COLOR_TYPE_GRAY, 1,
                        PNG_INTERLACE_NONE, rows, NULL, 0), "write 1-bit");
    img = NULL;
    CHECK(fk_image_load(tpath("bits.png"), 0, &img) == FK_OK, "1-bit: %s", fk_last_error());
    if (img)
        CHECK(px(img, 0, 1)[0] == 255 && px(img, 1, 1)[2] == 0 && px(img, 6, 4)[1] == 255,
              "1-bit gray expanded");
    fk_image_free(img);

    /* 4-bit palette */
    png_color pal[3] = {{10, 20, 30}, {200, 100, 50}, {0, 255, 0}};
    memset(buf, 0, sizeof buf);
    for (int y = 0; y < H; y++)
        buf[y][0] = 0x12; /* pixel 0 -> entry 1, pixel 1 -> entry 2 */
    CHECK(write_png_raw(tpath("pal.png"), W, H, PNG_COLOR_TYPE_PALETTE, 4,
                        PNG_INTERLACE_NONE, rows, pal, 3), "write palette");
    img = NULL;
    CHECK(fk_image_load(tpath("pal.png"), 0, &img) == FK_OK, "palette: %s", fk_last_error());
    if (img)
        CHECK(px(img, 0, 0)[0] == 200 && px(img, 1, 0)[1] == 255 && px(img, 2, 0)[2] == 30,
              "palette expanded");
    fk_image_free(img);
}

/* ---- tests: geometry and drawing --------------------------------------- */

/* Every pixel of img equals p. */
static int all_pixels(const fk_image *img, const uint8_t *p) {
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++)
            if (memcmp(px(img, x, y), p, (size_t)img->channels))
                return 0;
    return 1;
}

static void test_resize(void) {
    const uint8_t colour[3] = {10, 200, 77};
    fk_image *c = NULL, *r = NULL;
    fk_image_new(13, 7, 3, &c);
    for (int y = 0; y < 7; y++)
        for (int x = 0; x < 13; x++)
            memcpy(px(c, x, y), colour, 3);
    static const int sizes[][2] = {{29, 3}, {5, 17}, {1, 1}, {13, 7}, {200, 150}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        CHECK(fk__image_resize(c, sizes[i][0], sizes[i][1], &r) == FK_OK, "resize");
        if (r)
            CHECK(r->width == sizes[i][0] && r->height == sizes[i][1] &&
                  all_pixels(r, colour), "constant stays constant at %dx%d",
                  sizes[i][0], sizes[i][1]);
        fk_image_free(r);
        r = NULL;
    }
    fk_image_free(c);

    /* a horizontal + vertical gradient stays monotone both ways */
    fk_image *g = make_gradient(50, 40);
    static const int gs[][2] = {{17, 11}, {123, 97}, {50, 40}, {7, 80}};
    for (size_t i = 0; i < sizeof gs / sizeof gs[0]; i++) {
        fk__image_resize(g, gs[i][0], gs[i][1], &r);
        if (!r)
            continue;
        int mono = 1;
        for (int y = 0; y < r->height; y++)
            for (int x = 0; x < r->width; x++) {
                if (x > 0) mono &= px(r, x, y)[0] >= px(r, x - 1, y)[0];
                if (y > 0) mono &= px(r, x, y)[1] >= px(r, x, y - 1)[1];
            }
        CHECK(mono, "gradient monotone at %dx%d", gs[i][0], gs[i][1]);
        /* heavy downscales sample inside the first/last source pixels */
        CHECK(px(r, 0, 0)[0] < 30 && px(r, r->width - 1, 0)[0] > 225,
              "gradient spans the range at %dx%d", gs[i][0], gs[i][1]);
        if (gs[i][0] == 50)
            CHECK(images_equal(g, r), "same-size resize is exact");
        fk_image_free(r);
        r = NULL;
    }
    fk_image_free(g);

    /* exact 2x upscale of [0, 100]: centre-aligned samples land at quarters */
    fk_image *two = NULL;
    fk_image_new(2, 1, 1, &two);
    two->data[1] = 100;
    fk__image_resize(two, 4, 1, &r);
    if (r)
        CHECK(r->data[0] == 0 && r->data[1] == 25 && r->data[2] == 75 &&
              r->data[3] == 100, "2x upscale %d %d %d %d", r->data[0],
              r->data[1], r->data[2], r->data[3]);
    fk_image_free(r);
    r = NULL;
    CHECK(fk__image_resize(two, 0, 5, &r) == FK_EINVAL && !r, "zero size");
    CHECK(fk__image_resize(NULL, 5, 5, &r) == FK_EINVAL, "NULL source");
    fk_image_free(two);
}

static void test_warp(void) {
    fk_image *src = make_pattern(20, 15, 3), *w = NULL;
    const double identity[6] = {1, 0, 0, 0, 1, 0};
    CHECK(fk__image_warp_affine(src, identity, 20, 15, FK_BORDER_CONSTANT, 0, &w) == FK_OK,
          "identity warp");
    CHECK(images_equal(src, w), "identity reproduces the image");
    fk_image_free(w);

    /* translation: dst(x, y) = src(x + 3, y + 2) */
    const double shift[6] = {1, 0, 3, 0, 1, 2};
    for (int border = 0; border <= 1; border++) {
        w = NULL;
        fk__image_warp_affine(src, shift, 20, 15, (fk_border)border, 9, &w);
        if (!w)
            continue;
        int inside = 1, outside = 1;
        for (int y = 0; y < 15; y++)
            for (int x = 0; x < 20; x++) {
                int sx = x + 3, sy = y + 2;
                if (sx < 20 && sy < 15) {
                    inside &= !memcmp(px(w, x, y), px(src, sx, sy), 3);
                } else if (border == FK_BORDER_CONSTANT) {
                    outside &= px(w, x, y)[0] == 9 && px(w, x, y)[2] == 9;
                } else {
                    int cx = sx < 20 ? sx : 19, cy = sy < 15 ? sy : 14;
                    outside &= !memcmp(px(w, x, y), px(src, cx, cy), 3);
                }
            }
        CHECK(inside, "translation shifts by (3, 2), border %d", border);
        CHECK(outside, "%s border outside the source",
              border ? "replicate" : "constant");
        fk_image_free(w);
    }

    /* half-pixel shift averages neighbours; weights sum exactly */
    fk_image *row = NULL;
    fk_image_new(4, 1, 1, &row);
    row->data[0] = 0, row->data[1] = 100, row->data[2] = 200, row->data[3] = 50;
    const double half[6] = {1, 0, 0.5, 0, 1, 0};
    w = NULL;
    fk__image_warp_affine(row, half, 4, 1, FK_BORDER_REPLICATE, 0, &w);
    if (w)
        CHECK(w->data[0] == 50 && w->data[1] == 150 && w->data[2] == 125 &&
              w->data[3] == 50, "half shift %d %d %d %d", w->data[0],
              w->data[1], w->data[2], w->data[3]);
    fk_image_free(w);
    w = NULL;
    fk__image_warp_affine(row, half, 4, 1, FK_BORDER_CONSTANT, 0, &w);
    if (w)
        CHECK(w->data[3] == 25, "constant border blends with fill: %d", w->data[3]);
    fk_image_free(w);
    fk_image_free(row);

    /* absurd matrices must not crash (NaN, huge) */
    const double crazy[6] = {1e300, 0, -1e308, 0, NAN, 1e300};
    w = NULL;
    CHECK(fk__image_warp_affine(src, crazy, 5, 5, FK_BORDER_REPLICATE, 0, &w) == FK_OK,
          "huge matrix ok");
    fk_image_free(w);
    w = NULL;
    CHECK(fk__image_warp_affine(src, NULL, 5, 5, FK_BORDER_CONSTANT, 0, &w) == FK_EINVAL,
          "NULL matrix");
    CHECK(fk__image_warp_affine(src, identity, 5, 5, (fk_border)7, 0, &w) == FK_EINVAL,
          "bad border");
    fk_image_free(src);
}

static void test_crop_pad(void) {
    fk_image *src = make_pattern(10, 8, 3), *c = NULL;
    CHECK(fk__image_crop(src, 2, 3, 4, 5, 0, &c) == FK_OK, "crop inside");
    if (c) {
        int ok = c->width == 4 && c->height == 5;
        for (int y = 0; ok && y < 5; y++)
            for (int x = 0; x < 4; x++)
                ok &= !memcmp(px(c, x, y), px(src, x + 2, y + 3), 3);
        CHECK(ok, "crop copies the rectangle");
    }
    fk_image_free(c);

    c = NULL;
    CHECK(fk__image_crop(src, -2, -1, 5, 5, 77, &c) == FK_OK, "crop over edge");
    if (c) {
        int ok = 1;
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 5; x++) {
                int sx = x - 2, sy = y - 1;
                if (sx < 0 || sy < 0)
                    ok &= px(c, x, y)[0] == 77 && px(c, x, y)[1] == 77;
                else
                    ok &= !memcmp(px(c, x, y), px(src, sx, sy), 3);
            }
        CHECK(ok, "crop fills outside");
    }
    fk_image_free(c);

    const uint8_t fill[3] = {5, 5, 5};
    c = NULL;
    CHECK(fk__image_crop(src, 100, INT_MIN, 3, 3, 5, &c) == FK_OK && c &&
          all_pixels(c, fill), "crop fully outside is fill");
    fk_image_free(c);
    c = NULL;
    CHECK(fk__image_crop(src, INT_MAX, INT_MAX, 2, 2, 5, &c) == FK_OK && c &&
          all_pixels(c, fill), "crop at INT_MAX");
    fk_image_free(c);
    c = NULL;
    CHECK(fk__image_crop(src, 0, 0, 0, 3, 0, &c) == FK_EINVAL, "zero-size crop");

    CHECK(fk__image_pad(src, 1, 2, 3, 4, 9, &c) == FK_OK, "pad");
    if (c) {
        CHECK(c->width == 14 && c->height == 14, "pad size %dx%d", c->width, c->height);
        CHECK(!memcmp(px(c, 1, 2), px(src, 0, 0), 3) &&
              !memcmp(px(c, 10, 9), px(src, 9, 7), 3), "pad places the image");
        CHECK(px(c, 0, 0)[0] == 9 && px(c, 13, 13)[2] == 9 && px(c, 11, 5)[1] == 9 &&
              px(c, 5, 10)[0] == 9, "pad border is fill");
    }
    fk_image_free(c);
    c = NULL;
    CHECK(fk__image_pad(src, -1, 0, 0, 0, 0, &c) == FK_EINVAL, "negative pad");
    CHECK(fk__image_pad(src, INT_MAX, 0, 0, 0, 0, &c) == FK_EINVAL, "pad overflow");
    fk_image_free(src);
}

static void test_draw(void) {
    fk_image *img = NULL;
    fk_image_new(10, 10, 3, &img);
    const uint8_t red[3] = {255, 0, 0}, black[3] = {0, 0, 0};
    fk__image_draw_rect(img, 2, 2, 5, 4, 1, 255, 0, 0);
    int ok = 1;
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 10; x++) {
            int in = x >= 2 && x < 7 && y >= 2 && y < 6;
            int edge = in && (x == 2 || x == 6 || y == 2 || y == 5);
            ok &= !memcmp(px(img, x, y), edge ? red : black, 3);
        }
    CHECK(ok, "1-pixel outline of (2,2,5,4)");

    memset(img->data, 0, 300);
    fk__image_draw_rect(img, -5, -5, 100, 100, 3, 255, 0, 0);
    CHECK(all_pixels(img, black), "outline entirely off-image draws nothing");
    fk__image_draw_rect(img, INT_MIN, INT_MIN, INT_MAX, INT_MAX, INT_MAX, 1, 2, 3);
    fk__image_draw_rect(img, INT_MAX, INT_MAX, INT_MAX, INT_MAX, 2, 1, 2, 3);
    fk__image_draw_rect(img, 0, 0, -3, 4, 1, 1, 2, 3);
    fk__image_draw_rect(NULL, 0, 0, 3, 3, 1, 1, 2, 3);
    CHECK(all_pixels(img, black), "extreme rectangles stay off-image");

    fk__image_draw_dot(img, 0, 0, 1, 255, 0, 0);
    CHECK(!memcmp(px(img, 0, 0), red, 3) && !memcmp(px(img, 1, 1), red, 3) &&
          !memcmp(px(img, 2, 2), black, 3) && !memcmp(px(img, 2, 0), black, 3),
          "dot of radius 1 at the corner");
    fk__image_draw_dot(img, INT_MAX, INT_MIN, INT_MAX, 0, 255, 0);
    fk__image_draw_dot(img, INT_MIN, INT_MAX, 5, 0, 255, 0);
    fk__image_draw_dot(img, 5, 5, -1, 0, 255, 0);
    CHECK(!memcmp(px(img, 5, 5), black, 3), "negative radius draws nothing");
    fk_image_free(img);
}

/* ---- tests: bad input --------------------------------------------------- */

/* Load path and expect `want` with the file named in the message. */
static void expect_load_fails(const char *path, fk_status want, const char *what) {
    fk_image *img = (fk_image *)1;
    fk_status st = fk_image_load(path, 0, &img);
    CHECK(st == want, "%s: status %d (%s), want %d; message: %s", what, st,
          fk_status_name(st), want, fk_last_error());
    CHECK(img == NULL, "%s: out is NULL on failure", what);
    CHECK(error_names(path), "%s: message names the file: %s", what, fk_last_error());
}

static void test_bad_input(void) {
    expect_load_fails(tpath("missing.jpg"), FK_EIO, "missing file");
    CHECK(strstr(fk_last_error(), "cannot open") != NULL, "says cannot open");

    write_file(tpath("empty.jpg"), "", 0);
    expect_load_fails(tpath("empty.jpg"), FK_EFORMAT, "0-byte file");
    CHECK(strstr(fk_last_error(), "empty file") != NULL, "says empty file");

    const char text[] = "this is not an image\n";
    write_file(tpath("x.jpg"), text, sizeof text - 1);
    expect_load_fails(tpath("x.jpg"), FK_EFORMAT, "text named x.jpg");
    CHECK(strstr(fk_last_error(), "not a JPEG, PNG, WebP or BMP") != NULL, "says which formats: %s", fk_last_error());

    expect_load_fails(tmpdir, FK_EIO, "a directory");

    /* truncated JPEG: a valid file cut in half */
    fk_image *pat = make_pattern(128, 96, 3);
    size_t size;
    uint8_t *jpg = encode_jpeg(pat->data, 128, 96, 3, 90, NULL, 0, &size);
    write_file(tpath("half.jpg"), jpg, size / 2);
    expect_load_fails(tpath("half.jpg"), FK_EFORMAT, "truncated JPEG");
    CHECK(strstr(fk_last_error(), "truncated") != NULL, "says truncated: %s",
          fk_last_error());
    /* missing only the final EOI marker: every pixel is there, so it
     * decodes, identical to the whole file (libjpeg warns, we accept) */
    fk_image *whole = NULL, *noeoi = NULL;
    CHECK(fk_image_decode(jpg, size, "whole.jpg", 0, &whole) == FK_OK, "whole");
    CHECK(fk_image_decode(jpg, size - 2, "noeoi.jpg", 0, &noeoi) == FK_OK,
          "JPEG without EOI: %s", fk_last_error());
    CHECK(images_equal(whole, noeoi), "JPEG without EOI decodes fully");
    fk_image_free(noeoi);
    noeoi = NULL;
    /* cut a few bytes more and pixel data is missing: refused */
    CHECK(fk_image_decode(jpg, size - 40, "cut40.jpg", 0, &noeoi) == FK_EFORMAT &&
          error_names("cut40.jpg"), "JPEG cut 40 bytes short: %s", fk_last_error());
    fk_image_free(whole);
    /* progressive: a missing scan leaves no trace, so any early end is an
     * error, even just the EOI */
    encode_progressive = 1;
    size_t psize;
    uint8_t *prog = encode_jpeg(pat->data, 128, 96, 3, 90, NULL, 0, &psize);
    encode_progressive = 0;
    whole = NULL;
    CHECK(fk_image_decode(prog, psize, "prog.jpg", 0, &whole) == FK_OK,
          "progressive: %s", fk_last_error());
    fk_image_free(whole);
    whole = NULL;
    CHECK(fk_image_decode(prog, psize * 2 / 3, "progcut.jpg", 0, &whole) == FK_EFORMAT &&
          error_names("progcut.jpg"), "truncated progressive: %s", fk_last_error());
    CHECK(fk_image_decode(prog, psize - 2, "progeoi.jpg", 0, &whole) == FK_EFORMAT,
          "progressive without EOI");
    free(prog);

    /* only the SOI and a bit: ends inside the header */
    write_file(tpath("stub.jpg"), jpg, 40);
    expect_load_fails(tpath("stub.jpg"), FK_EFORMAT, "JPEG cut in its header");

    /* garbage in the entropy-coded data never crashes */
    uint8_t *mess = malloc(size);
    memcpy(mess, jpg, size);
    for (size_t i = size / 3; i < size - 2; i += 7)
        mess[i] = (uint8_t)(i * 31);
    fk_image *img = NULL;
    fk_status st = fk_image_decode(mess, size, "garbled.jpg", 0, &img);
    CHECK(st == FK_OK || (st == FK_EFORMAT && error_names("garbled.jpg")),
          "garbled JPEG: %s", fk_last_error());
    fk_image_free(img);
    free(mess);

    /* JPEG whose SOF claims 60000x60000 (the format's fields are 16-bit and
     * libjpeg's ceiling is 65500, so this is about as big as a JPEG gets) */
    size_t sof = jpeg_find_sof(jpg, size);
    CHECK(sof > 0, "found SOF");
    if (sof) {
        uint8_t *big = malloc(size);
        memcpy(big, jpg, size);
        big[sof + 5] = 60000 >> 8, big[sof + 6] = 60000 & 255; /* height */
        big[sof + 7] = 60000 >> 8, big[sof + 8] = 60000 & 255; /* width */
        write_file(tpath("huge.jpg"), big, size);
        expect_load_fails(tpath("huge.jpg"), FK_ETOOBIG, "huge JPEG header");
        CHECK(strstr(fk_last_error(), "60000x60000") != NULL, "says the size: %s",
              fk_last_error());
        /* a 1/8 decode would be 7500x7500, still refused from the header */
        fk_image *scaled = (fk_image *)1;
        CHECK(fk_image_load_scaled(tpath("huge.jpg"), 0, 64, &scaled) == FK_ETOOBIG &&
              !scaled && strstr(fk_last_error(), "60000x60000") != NULL,
              "huge JPEG header, scaled decode: %s", fk_last_error());
        free(big);
    }

    /* pixel budget: a legit 128x96 JPEG against smaller and equal limits */
    img = NULL;
    CHECK(fk_image_decode(jpg, size, "small.jpg", 128 * 96 - 1, &img) == FK_ETOOBIG &&
          error_names("small.jpg"), "budget one pixel short: %s", fk_last_error());
    CHECK(fk_image_decode(jpg, size, "small.jpg", 128 * 96, &img) == FK_OK,
          "budget exactly enough");
    fk_image_free(img);
    free(jpg);

    /* corrupt PNG: IDAT bytes zeroed (CRC and zlib both break) */
    CHECK(fk_image_save(pat, tpath("ok.png"), 0) == FK_OK, "save png");
    size_t n;
    uint8_t *png = read_file(tpath("ok.png"), &n);
    size_t idat = png ? png_find_chunk(png, n, "IDAT") : 0;
    CHECK(idat > 0, "found IDAT");
    if (idat) {
        uint8_t *bad = malloc(n);
        memcpy(bad, png, n);
        memset(bad + idat + 8, 0, be32(png + idat) / 2);
        write_file(tpath("zeroed.png"), bad, n);
        expect_load_fails(tpath("zeroed.png"), FK_EFORMAT, "PNG with zeroed IDAT");
        write_file(tpath("halfpng.png"), png, n / 2);
        expect_load_fails(tpath("halfpng.png"), FK_EFORMAT, "truncated PNG");
        write_file(tpath("pngsig.png"), png, 8);
        expect_load_fails(tpath("pngsig.png"), FK_EFORMAT, "PNG signature only");
        free(bad);
    }

    /* huge PNG header: 100000x100000 with a correct CRC -> too big; with a
     * stale CRC -> corrupt */
    size_t ihdr = png ? png_find_chunk(png, n, "IHDR") : 0;
    CHECK(ihdr == 8, "IHDR first");
    if (ihdr == 8) {
        uint8_t *big = malloc(n);
        memcpy(big, png, n);
        put32(big + ihdr + 8, 100000, 1);
        put32(big + ihdr + 12, 100000, 1);
        write_file(tpath("stalecrc.png"), big, n);
        expect_load_fails(tpath("stalecrc.png"), FK_EFORMAT, "PNG IHDR with stale CRC");
        put32(big + ihdr + 8 + 13, crc32_png(big + ihdr + 4, 4 + 13), 1);
        write_file(tpath("huge.png"), big, n);
        expect_load_fails(tpath("huge.png"), FK_ETOOBIG, "huge PNG header");
        CHECK(strstr(fk_last_error(), "100000x100000") != NULL, "says the size");
        /* zero width with a correct CRC */
        put32(big + ihdr + 8, 0, 1);
        put32(big + ihdr + 8 + 13, crc32_png(big + ihdr + 4, 4 + 13), 1);
        write_file(tpath("zerow.png"), big, n);
        expect_load_fails(tpath("zerow.png"), FK_EFORMAT, "zero-width PNG");
        free(big);
    }
    free(png);
    fk_image_free(pat);

    /* decode's own argument checks */
    img = NULL;
    CHECK(fk_image_decode(NULL, 0, NULL, 0, &img) == FK_EFORMAT &&
          error_names("image: empty file"), "unnamed empty buffer: %s", fk_last_error());
    CHECK(fk_image_decode("x", 1, "n", 0, NULL) == FK_EINVAL, "NULL out");
    CHECK(fk_image_load(NULL, 0, &img) == FK_EINVAL, "NULL path");
}

/* ---- tests: DCT-scaled JPEG decode --------------------------------------- */

/* Smooth but textured RGB content (a photo's kind of spectrum): what a
 * reduced decode and a full decode shrunk afterwards must agree on. */
static uint8_t *texture_pixels(int w, int h) {
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + ((size_t)y * w + x) * 3;
            q[0] = (uint8_t)(128 + 90 * sin(x / 23.0) * cos(y / 31.0));
            q[1] = (uint8_t)(x * 255 / (w - 1));
            q[2] = (uint8_t)(128 + 100 * sin((x + y) / 47.0));
        }
    return p;
}

/* Decode `jpg` with max_side; check size, scale, and that the pixels are
 * those of the full decode shrunk by area averaging to the same size (mean
 * absolute difference per channel sample at most `bound`). */
static void check_scaled(const uint8_t *jpg, size_t size, const fk_image *full,
                         int max_side, int want_w, int want_h, float want_scale,
                         double bound, const char *what) {
    fk_image *img = NULL;
    fk_status st = fk_image_decode_scaled(jpg, size, what, 0, max_side, &img);
    CHECK(st == FK_OK, "%s max_side %d: %s", what, max_side, fk_last_error());
    if (!img)
        return;
    CHECK(img->width == want_w && img->height == want_h && img->channels == 3 &&
          img->stride == (size_t)want_w * 3,
          "%s max_side %d: %dx%d, want %dx%d", what, max_side, img->width,
          img->height, want_w, want_h);
    CHECK(img->scale == want_scale, "%s max_side %d: scale %g, want %g", what,
          max_side, (double)img->scale, (double)want_scale);
    int long_side = img->width > img->height ? img->width : img->height;
    CHECK(max_side == 0 || want_scale == 1.0f || long_side >= max_side,
          "%s: decoded long side %d under the bound %d", what, long_side, max_side);
    if (full && img->width == want_w && img->height == want_h) {
        fk_image *ref = NULL;
        double d = -1;
        if (want_scale == 1.0f)
            d = mean_abs_diff(img, full);
        else if (fk__image_resize_area(full, want_w, want_h, &ref) == FK_OK)
            d = mean_abs_diff(img, ref);
        CHECK(d >= 0 && d <= bound, "%s max_side %d: mean abs diff %.3f vs full "
              "decode resized (bound %.2f)", what, max_side, d, bound);
        printf("scaled decode %s 1/%d: mean abs diff %.3f\n", what,
               (int)(1 / want_scale + 0.5f), d);
        fk_image_free(ref);
    }
    fk_image_free(img);
}

static void test_scaled_decode(void) {
    /* 800x600: each bound picks the strongest reduction still >= it */
    const int w = 800, h = 600;
    uint8_t *pixels = texture_pixels(w, h);
    size_t size;
    uint8_t *jpg = encode_jpeg(pixels, w, h, 3, 95, NULL, 0, &size);
    fk_image *full = NULL;
    CHECK(fk_image_decode(jpg, size, "tex.jpg", 0, &full) == FK_OK &&
          full->scale == 1.0f, "full decode: %s", fk_last_error());
    static const struct { int max_side, w, h; float scale; } cases[] = {
        {0, 800, 600, 1},       {1, 100, 75, 0.125f},   {100, 100, 75, 0.125f},
        {101, 200, 150, 0.25f}, {200, 200, 150, 0.25f}, {201, 400, 300, 0.5f},
        {400, 400, 300, 0.5f},  {401, 800, 600, 1},     {800, 800, 600, 1},
        {5000, 800, 600, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_scaled(jpg, size, full, cases[i].max_side, cases[i].w, cases[i].h,
                     cases[i].scale, 1.0, "tex.jpg");
    /* the same through a file */
    write_file(tpath("tex.jpg"), jpg, size);
    fk_image *img = NULL;
    CHECK(fk_image_load_scaled(tpath("tex.jpg"), 0, 150, &img) == FK_OK &&
          img->width == 200 && img->height == 150 && img->scale == 0.25f,
          "load_scaled: %s", fk_last_error());
    fk_image_free(img);
    img = NULL;
    /* the pixel budget is the file's, not the reduced image's: a 1/8
     * decode would be 100x75, but the header's 800x600 is over the limit */
    CHECK(fk_image_decode_scaled(jpg, size, "tex.jpg", (size_t)w * h - 1, 100,
                                 &img) == FK_ETOOBIG && !img &&
          error_names("tex.jpg"), "budget on the header: %s", fk_last_error());
    free(jpg);

    /* sizes that are no multiple of 8 round up, as libjpeg does */
    jpg = encode_jpeg(pixels, 803, 597, 3, 90, NULL, 0, &size);
    check_scaled(jpg, size, NULL, 101, 101, 75, 0.125f, 0, "odd.jpg");
    check_scaled(jpg, size, NULL, 102, 201, 150, 0.25f, 0, "odd.jpg");
    free(jpg);
    /* progressive and grayscale JPEGs scale too */
    encode_progressive = 1;
    jpg = encode_jpeg(pixels, w, h, 3, 90, NULL, 0, &size);
    encode_progressive = 0;
    check_scaled(jpg, size, NULL, 300, 400, 300, 0.5f, 0, "prog.jpg");
    free(jpg);
    uint8_t *gray = malloc((size_t)w * h);
    for (size_t i = 0; i < (size_t)w * h; i++)
        gray[i] = pixels[i * 3];
    jpg = encode_jpeg(gray, w, h, 1, 90, NULL, 0, &size);
    check_scaled(jpg, size, NULL, 100, 100, 75, 0.125f, 0, "gray.jpg");
    free(jpg);
    free(gray);
    fk_image_free(full);
    free(pixels);

    /* EXIF orientation still applied after a 1/8 decode: the quadrant
     * image at 640x320 comes out 80x40 (or 40x80) the right way up */
    const int qw = 640, qh = 320;
    uint8_t *quad = quadrant_pixels(qw, qh);
    for (int o = 1; o <= 8; o++) {
        uint8_t exif[64];
        size_t elen = make_exif(exif, o, o & 1);
        jpg = encode_jpeg(quad, qw, qh, 3, 95, exif, elen, &size);
        img = NULL;
        CHECK(fk_image_decode_scaled(jpg, size, "exif.jpg", 0, 80, &img) == FK_OK,
              "o=%d: %s", o, fk_last_error());
        free(jpg);
        if (!img)
            continue;
        int swapped = o >= 5;
        CHECK(img->width == (swapped ? 40 : 80) && img->height == (swapped ? 80 : 40) &&
              img->scale == 0.125f, "o=%d: %dx%d scale %g", o, img->width,
              img->height, (double)img->scale);
        int tl = nearest_colour(px(img, 1, 1));
        int tr = nearest_colour(px(img, img->width - 2, 1));
        int bl = nearest_colour(px(img, 1, img->height - 2));
        CHECK(tl == exif_want[o][0] && tr == exif_want[o][1] && bl == exif_want[o][2],
              "o=%d scaled: corners %d %d %d, want %d %d %d", o, tl, tr, bl,
              exif_want[o][0], exif_want[o][1], exif_want[o][2]);
        fk_image_free(img);
    }
    free(quad);

    /* a PNG is never reduced: same pixels as fk_image_load, scale 1 */
    fk_image *pat = make_pattern(800, 600, 3), *png = NULL;
    CHECK(fk_image_save(pat, tpath("big.png"), 0) == FK_OK, "save big.png");
    CHECK(fk_image_load_scaled(tpath("big.png"), 0, 100, &png) == FK_OK,
          "load_scaled png: %s", fk_last_error());
    CHECK(png && png->scale == 1.0f && images_equal(png, pat),
          "PNG decoded in full, unchanged");
    fk_image_free(png);
    fk_image_free(pat);

    /* bad arguments */
    img = (fk_image *)1;
    CHECK(fk_image_load_scaled(tpath("tex.jpg"), 0, -1, &img) == FK_EINVAL && !img &&
          strstr(fk_last_error(), "-1") != NULL, "negative max_side (load): %s",
          fk_last_error());
    img = (fk_image *)1;
    CHECK(fk_image_decode_scaled("\xFF\xD8\xFF", 3, "neg.jpg", 0, -5, &img) == FK_EINVAL &&
          !img && error_names("neg.jpg"), "negative max_side (decode): %s", fk_last_error());
    CHECK(fk_image_load_scaled(NULL, 0, 100, &img) == FK_EINVAL, "NULL path");
    CHECK(fk_image_load_scaled(tpath("tex.jpg"), 0, 100, NULL) == FK_EINVAL, "NULL out");
    img = (fk_image *)1;
    CHECK(fk_image_load_scaled(tpath("nothere.jpg"), 0, 100, &img) == FK_EIO && !img,
          "missing file");
}

/* The real photo decoded at 1/2, 1/4 and 1/8 against its full decode
 * shrunk by area averaging: libjpeg's reduced IDCT is a good low-pass. */
static void test_scaled_real_photo(const char *path) {
    size_t size;
    uint8_t *jpg = read_file(path, &size);
    fk_image *full = NULL;
    if (!jpg || fk_image_decode(jpg, size, path, 0, &full) != FK_OK) {
        CHECK(0, "%s: %s", path, fk_last_error());
        free(jpg);
        return;
    }
    int w = full->width, h = full->height, l = w > h ? w : h;
    for (int d = 2; d <= 8; d *= 2)
        check_scaled(jpg, size, full, (l + d - 1) / d, (w + d - 1) / d,
                     (h + d - 1) / d, 1.0f / (float)d, 1.5, "sample1.jpg");
    fk_image_free(full);
    free(jpg);
}

/* ---- tests: a real photo ------------------------------------------------ */

static void test_real_photo(void) {
    char home[PATH_MAX], path[PATH_MAX + 32];
    const char *env = getenv("FACEKIT_HOME");
    if (env && *env)
        snprintf(home, sizeof home, "%s", env);
    else
        snprintf(home, sizeof home, "%s/.facekit", test_env("HOME", "/"));
    snprintf(path, sizeof path, "%s/face-api/sample1.jpg", home);
    if (access(path, R_OK) != 0) {
        printf("note: %s not found; real-photo check skipped\n", path);
        return;
    }
    fk_image *img = NULL;
    CHECK(fk_image_load(path, 0, &img) == FK_OK, "real photo: %s", fk_last_error());
    if (!img)
        return;
    CHECK(img->channels == 3 && img->width >= 100 && img->height >= 100 &&
          img->width <= 20000 && img->height <= 20000, "plausible size %dx%d",
          img->width, img->height);
    /* a photo has real contrast: not one flat value */
    int lo = 255, hi = 0;
    for (size_t i = 0; i < (size_t)img->height * img->stride; i += 97) {
        lo = img->data[i] < lo ? img->data[i] : lo;
        hi = img->data[i] > hi ? img->data[i] : hi;
    }
    CHECK(hi - lo > 100, "photo has contrast (%d..%d)", lo, hi);
    printf("real photo %s: %dx%d\n", path, img->width, img->height);
    fk_image_free(img);
    test_scaled_real_photo(path);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fk_test_image_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "mkdtemp failed\n");
        return 1;
    }
    test_new();
    test_png_roundtrip();
    test_jpeg_roundtrip();
    test_save_errors();
    test_exif_orientation();
    test_exif_malformed();
    test_cmyk_jpeg();
    test_png_variants();
    test_resize();
    test_warp();
    test_crop_pad();
    test_draw();
    test_bad_input();
    test_scaled_decode();
    test_real_photo();
    remove_tmpdir();
    return test_summary();
}
