/*
 * make_spoofs.c - synthetic presentation attacks made from a real photo,
 * for measuring the anti-spoofing models (docs/antispoof.md). They are
 * synthetic: no camera photographed a screen or a print; they imitate what
 * such a recapture adds.
 *
 *   screen: the photo shown on a phone held in front of a dark room - a
 *           black bezel around it, the picture sampled through an RGB
 *           sub-pixel stripe grid 3 pixels wide (moire against the image's
 *           own detail), a diagonal glare band and a blue-white cast;
 *   print:  the photo printed and re-photographed - a 45-degree halftone
 *           screen (dot period 4 pixels), warm paper tint, paper grain
 *           noise, and a keystone perspective (top edge 12% narrower) on a
 *           gray table.
 *
 * Build and run (test-only; uses the public API):
 *   cc -O2 -Iinclude tests/tools/make_spoofs.c -Lbuild -lfacekit -lm \
 *      -Wl,-rpath,build -o /tmp/make_spoofs
 *   /tmp/make_spoofs IN.jpg OUT_PREFIX      (writes OUT_PREFIX-screen.jpg,
 *                                            OUT_PREFIX-print.jpg)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facekit.h"

static unsigned rng = 12345;
static float noise(void) { /* -1..1 */
    rng = rng * 1103515245u + 12345u;
    return ((rng >> 8) & 0xffff) / 32767.5f - 1;
}

static float sample(const fk_image *im, float x, float y, int c) {
    int xi = (int)x, yi = (int)y;
    if (xi < 0) xi = 0;
    if (yi < 0) yi = 0;
    if (xi >= im->width) xi = im->width - 1;
    if (yi >= im->height) yi = im->height - 1;
    return im->data[(size_t)yi * im->stride + (size_t)xi * 3 + c];
}

static unsigned char clamp8(float v) { return v < 0 ? 0 : v > 255 ? 255 : (unsigned char)v; }

static fk_image *screen(const fk_image *src) {
    int W = src->width, H = src->height, bz = W / 10;
    fk_image *o;
    if (fk_image_new(W, H, 3, &o) != FK_OK) return NULL;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            unsigned char *p = o->data + (size_t)y * o->stride + (size_t)x * 3;
            if (x < bz || x >= W - bz || y < bz || y >= H - bz) {
                p[0] = p[1] = p[2] = clamp8(18 + 4 * noise());
                continue;
            }
            /* the picture shrunk into the screen area */
            float sx = (x - bz) * (float)W / (W - 2 * bz), sy = (y - bz) * (float)H / (H - 2 * bz);
            float glare = expf(-powf((x + y - 0.8f * (W + H) / 2) / (0.12f * W), 2)) * 70;
            for (int c = 0; c < 3; c++) {
                float v = sample(src, sx, sy, c);
                float sub = (x % 3 == c) ? 1.25f : 0.62f;  /* RGB stripe */
                float row = (y % 3 == 2) ? 0.8f : 1.0f;     /* pixel rows */
                v = v * sub * row * 0.85f + (c == 2 ? 22 : 10) + glare + 3 * noise();
                p[c] = clamp8(v);
            }
        }
    return o;
}

static fk_image *print_photo(const fk_image *src) {
    int W = src->width, H = src->height;
    fk_image *o;
    if (fk_image_new(W, H, 3, &o) != FK_OK) return NULL;
    const float paper[3] = {246, 238, 220};
    const float k = 0.7071f, period = 4;
    for (int y = 0; y < H; y++) {
        /* keystone: row y is narrowed by up to 12% at the top */
        float t = 0.06f * (H - y) / H * 2;
        float x0 = W * t / 2 + W * 0.04f, x1 = W - W * t / 2 - W * 0.04f;
        for (int x = 0; x < W; x++) {
            unsigned char *p = o->data + (size_t)y * o->stride + (size_t)x * 3;
            float y0 = H * 0.04f, y1 = H * 0.96f;
            if (x < x0 || x >= x1 || y < y0 || y >= y1) {
                p[0] = p[1] = p[2] = clamp8(120 + 6 * noise());
                continue;
            }
            float sx = (x - x0) / (x1 - x0) * W, sy = (y - y0) / (y1 - y0) * H;
            /* rotated halftone cell: a dot whose area follows the ink */
            float u = (x * k + y * k) / period, v = (x * k - y * k) / period;
            float du = u - floorf(u) - 0.5f, dv = v - floorf(v) - 0.5f;
            float r = sqrtf(du * du + dv * dv) / 0.7071f; /* 0 centre .. 1 corner */
            float grain = 8 * noise();
            for (int c = 0; c < 3; c++) {
                float ink = 1 - sample(src, sx, sy, c) / 255; /* 0..1 */
                float cover = r < sqrtf(ink) ? 1.0f : 0.0f;
                p[c] = clamp8(paper[c] * (1 - 0.85f * cover) + grain);
            }
        }
    }
    return o;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: make_spoofs IN.jpg OUT_PREFIX\n");
        return 2;
    }
    fk_image *src;
    if (fk_image_load(argv[1], 0, &src) != FK_OK) {
        fprintf(stderr, "make_spoofs: %s\n", fk_last_error());
        return 1;
    }
    char path[4096];
    fk_image *s = screen(src), *p = print_photo(src);
    int rc = !s || !p;
    snprintf(path, sizeof path, "%s-screen.jpg", argv[2]);
    if (s && fk_image_save(s, path, 92) != FK_OK) rc = 1;
    snprintf(path, sizeof path, "%s-print.jpg", argv[2]);
    if (p && fk_image_save(p, path, 92) != FK_OK) rc = 1;
    if (rc) fprintf(stderr, "make_spoofs: %s\n", fk_last_error());
    fk_image_free(s);
    fk_image_free(p);
    fk_image_free(src);
    return rc;
}
