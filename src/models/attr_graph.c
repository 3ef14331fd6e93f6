/*
 * attr_graph.c - the analyzers' shared graph runner and face crop (see
 * attr_graph.h).
 *
 * The crop is sampled straight from the image into the input tensor
 * (bilinear, pixel centres aligned) rather than cut, resized and then
 * converted: one pass, no intermediate images, and black outside the
 * image as in human's tf.image.cropAndResize.
 */
#include "models/attr_graph.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/model_store.h"

/* Faces per graph run: all the faces of a photo in one run, in batches
 * that keep the activations modest. */
#define ATTR_BATCH 16

fk_status fk__attr_graph_load(const char *home, const char *name, const char *file,
                             const char *const *outputs, int n, int size, int channels,
                             fk_attr_graph **out) {
    *out = NULL;
    char path[PATH_MAX];
    fk_status st = fk__model_file(home, "human-models", file, path, sizeof path);
    if (st != FK_OK) return st;
    fk_attr_graph *g = calloc(1, sizeof *g);
    if (!g) return fk__fail(FK_ENOMEM, "%s: out of memory", name);
    g->name = name;
    st = fk__tfjs_model_load(path, name, outputs, n, &g->model);
    if (st == FK_OK) {
        int h, w, c;
        fk__tfjs_model_input_shape(g->model, &h, &w, &c);
        if (h != size || w != size || c != channels)
            st = fk__fail(FK_EMODEL,
                         "%s: %s takes %dx%dx%d, expected %dx%dx%d (run `facekit models "
                         "fetch` to reinstall)",
                         name, path, h, w, c, size, size, channels);
        g->size = size;
        g->channels = channels;
    }
    if (st != FK_OK) {
        fk__attr_graph_free(g);
        return st;
    }
    *out = g;
    return FK_OK;
}

void fk__attr_graph_free(fk_attr_graph *g) {
    if (!g) return;
    fk__tfjs_model_free(g->model);
    free(g->input);
    free(g);
}

/* Channel c of pixel (x, y), 0 outside the image. */
static inline float px(const fk_image *img, int x, int y, int c) {
    if (x < 0 || y < 0 || x >= img->width || y >= img->height) return 0.0f;
    return img->data[(size_t)y * img->stride + (size_t)x * 3 + (size_t)c];
}

/* The sample positions along x repeat on every row, so they are computed
 * once per crop; a sample whose four neighbours are inside the image reads
 * them from two row pointers, the others (the crop's border, when the box
 * leaves the image) through px. The arithmetic is the same on both paths,
 * so the values do not depend on which one ran (bit for bit the same as
 * computing every sample through px). Measured on one face of sample1.jpg,
 * one thread: 0.29 ms for FaceRes-Attr's 224x224 crop, 0.23 ms for GEAR's
 * 198x198, 0.03 ms for the 64x64 gray, against 1.2, 0.94 and 0.10 ms when
 * every sample went through px; with one face all of analyze's crops were
 * ~4% of its 1-thread time (docs/speed.md, 2026-12-03). */
void fk__attr_crop_fill(const fk_image *img, const fk_face *f, float scale, const float sub[4],
                       int size, int channels, fk_attr_fill fill, float *dst) {
    /* human's square face box */
    float side = (f->w > f->h ? f->w : f->h) * scale;
    float cx = f->x + f->w / 2, cy = f->y + f->h / 2;
    float x0 = cx - side / 2, y0 = cy - side / 2, bw = side, bh = side;
    if (sub) {
        x0 += sub[1] * side;
        y0 += sub[0] * side;
        bw = (sub[3] - sub[1]) * side;
        bh = (sub[2] - sub[0]) * side;
    }
    int xs[FK_ATTR_MAX_SIZE];
    float fxs[FK_ATTR_MAX_SIZE];
    if (size > FK_ATTR_MAX_SIZE) size = FK_ATTR_MAX_SIZE; /* fk__attr_graph_run refuses it */
    for (int j = 0; j < size; j++) {
        float sx = x0 + (j + 0.5f) * bw / size - 0.5f;
        xs[j] = (int)floorf(sx);
        fxs[j] = sx - xs[j];
    }
    const float k = fill == FK_FILL_RGB_01 ? 1.0f / 255.0f : 1.0f;
    for (int i = 0; i < size; i++) {
        float sy = y0 + (i + 0.5f) * bh / size - 0.5f;
        int y = (int)floorf(sy);
        float fy = sy - y;
        const int rows_in = y >= 0 && y + 1 < img->height;
        const uint8_t *r0 = rows_in ? img->data + (size_t)y * img->stride : NULL;
        const uint8_t *r1 = rows_in ? r0 + img->stride : NULL;
        float *o = dst + (size_t)i * size * channels;
        for (int j = 0; j < size; j++, o += channels) {
            int x = xs[j];
            float fx = fxs[j];
            float v[3];
            if (rows_in && x >= 0 && x + 1 < img->width) {
                const uint8_t *a = r0 + (size_t)x * 3, *b = r1 + (size_t)x * 3;
                for (int c = 0; c < 3; c++)
                    v[c] = (1 - fy) * ((1 - fx) * (float)a[c] + fx * (float)a[c + 3]) +
                           fy * ((1 - fx) * (float)b[c] + fx * (float)b[c + 3]);
            } else {
                for (int c = 0; c < 3; c++)
                    v[c] = (1 - fy) * ((1 - fx) * px(img, x, y, c) + fx * px(img, x + 1, y, c)) +
                           fy * ((1 - fx) * px(img, x, y + 1, c) + fx * px(img, x + 1, y + 1, c));
            }
            if (fill == FK_FILL_GRAY_PM1) {
                float g = (0.2989f * v[0] + 0.5870f * v[1] + 0.1140f * v[2]) / 255.0f;
                o[0] = (g - 0.5f) * 2.0f;
            } else {
                for (int c = 0; c < 3; c++) o[c] = v[c] * k;
            }
        }
    }
}

fk_status fk__attr_graph_run(fk_attr_graph *g, const fk_image *img, const fk_face *faces,
                            int n, float scale, const float sub[4], fk_attr_fill fill,
                            fk_pool *pool,
                            fk_attr_take_fn take, void *ctx) {
    if (!g || !img || img->channels != 3 || !faces || n <= 0 || !take)
        return fk__fail(FK_EINVAL, "%s: bad arguments (an RGB image and faces are needed)",
                       g ? g->name : "analyzer");
    if (g->size > FK_ATTR_MAX_SIZE)
        return fk__fail(FK_EMODEL, "%s: input side %d is larger than the analyzers' crop "
                                   "takes (%d)", g->name, g->size, FK_ATTR_MAX_SIZE);
    const size_t per = (size_t)g->size * g->size * g->channels;
    int cap = n < ATTR_BATCH ? n : ATTR_BATCH;
    if (cap > g->cap) {
        float *p = realloc(g->input, sizeof(float) * per * (size_t)cap);
        if (!p) return fk__fail(FK_ENOMEM, "%s: out of memory", g->name);
        g->input = p;
        g->cap = cap;
    }
    for (int first = 0; first < n; first += cap) {
        int count = n - first < cap ? n - first : cap;
        for (int i = 0; i < count; i++)
            fk__attr_crop_fill(img, &faces[first + i], scale, sub, g->size, g->channels, fill,
                               g->input + per * (size_t)i);
        fk_status st = fk__tfjs_model_run_batch(g->model, count, g->input, pool);
        if (st != FK_OK) return st;
        take(ctx, g, first, count);
    }
    return FK_OK;
}
