/*
 * zoo.c - lazy model loading by name (see zoo.h).
 */
#include "models/zoo.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "models/keras_model.h"
#include "models/model_store.h"

#define ZOO_SLOTS 32

typedef struct zoo_slot {
    char key[PATH_MAX + 64]; /* a model's name, + "\t" + its file for the
                                models whose weights users bring */
    void *model;
    fk_model_free_fn free_fn;
} zoo_slot;

struct fk_zoo {
    char home[PATH_MAX];
    zoo_slot slots[ZOO_SLOTS];
    int used;
};

fk_status fk__zoo_new(const char *home, fk_zoo **out) {
    if (!home || !out) return fk__fail(FK_EINVAL, "fk__zoo_new: bad arguments");
    if (strlen(home) >= PATH_MAX) return fk__fail(FK_EINVAL, "model home path is too long");
    fk_zoo *z = calloc(1, sizeof *z);
    if (!z) return fk__fail(FK_ENOMEM, "out of memory");
    strcpy(z->home, home);
    *out = z;
    return FK_OK;
}

void fk__zoo_free(fk_zoo *z) {
    if (!z) return;
    for (int i = 0; i < z->used; i++) z->slots[i].free_fn(z->slots[i].model);
    free(z);
}

const char *fk__zoo_home(const fk_zoo *z) { return z->home; }

fk_status fk__zoo_get(fk_zoo *z, const char *key, fk_model_load_fn load,
                     fk_model_free_fn free_fn, void **out) {
    if (!z || !key || !load || !free_fn || !out)
        return fk__fail(FK_EINVAL, "fk__zoo_get: bad arguments");
    for (int i = 0; i < z->used; i++)
        if (strcmp(z->slots[i].key, key) == 0) {
            *out = z->slots[i].model;
            return FK_OK;
        }
    if (z->used == ZOO_SLOTS || strlen(key) >= sizeof z->slots[0].key)
        return fk__fail(FK_EINVAL, "model zoo: no room for '%s'", key);
    void *m = NULL;
    fk_status st = load(z->home, &m);
    if (st != FK_OK) return st;
    zoo_slot *s = &z->slots[z->used++];
    strcpy(s->key, key);
    s->model = m;
    s->free_fn = free_fn;
    *out = m;
    return FK_OK;
}

/* A model whose weights the user brings: cached under its name and file, so
 * another --weights loads the other file. */
static fk_status zoo_user_model(fk_zoo *z, const fk_model_desc *m, const char *weights,
                                void **out) {
    char path[PATH_MAX], key[PATH_MAX + 64];
    fk_status st = fk__user_weights_find(z->home, m, weights, path, sizeof path);
    if (st != FK_OK) return st;
    if (snprintf(key, sizeof key, "%s\t%s", m->name, path) >= (int)sizeof key)
        return fk__fail(FK_EINVAL, "%s: weights path too long", m->name);
    for (int i = 0; i < z->used; i++)
        if (strcmp(z->slots[i].key, key) == 0) {
            *out = z->slots[i].model;
            return FK_OK;
        }
    if (z->used == ZOO_SLOTS) return fk__fail(FK_EINVAL, "model zoo: no room for '%s'", key);
    void *model = NULL;
    st = m->load_file(path, &model);
    if (st != FK_OK) return st;
    zoo_slot *s = &z->slots[z->used++];
    strcpy(s->key, key);
    s->model = model;
    s->free_fn = m->free;
    *out = model;
    return FK_OK;
}

fk_status fk__zoo_model_weights(fk_zoo *z, const fk_model_desc *m, const char *weights,
                               void **out) {
    if (z && m && m->user_file && m->load_file && m->free && out)
        return zoo_user_model(z, m, weights, out);
    if (weights && *weights && m)
        return fk__fail(FK_EINVAL, "--weights is for the models whose weights you bring "
                        "(VGG-Face, DeepID, ...); %s's are installed by facekit", m->name);
    return fk__zoo_model(z, m, out);
}

fk_status fk__zoo_model(fk_zoo *z, const fk_model_desc *m, void **out) {
    if (z && m && m->user_file && m->load_file && m->free && out)
        return zoo_user_model(z, m, NULL, out);
    if (!z || !m || !m->load || !m->free || !out)
        return fk__fail(FK_EINVAL, "fk__zoo_model: bad arguments");
    for (int i = 0; i < z->used; i++)
        if (strcmp(z->slots[i].key, m->name) == 0) {
            *out = z->slots[i].model;
            return FK_OK;
        }
    /* Once per model and context: a stat per file, a hash only when a file
     * changed since it was installed. */
    fk_status st = fk__model_check_files(z->home, m);
    if (st != FK_OK) return st;
    return fk__zoo_get(z, m->name, m->load, m->free, out);
}

fk_status fk__zoo_embed(fk_zoo *z, const fk_model_desc *m, fk_pool *pool,
                       const fk_image *const *chips, int n,
                       const fk_input_norm *norm, const char *weights, float *out) {
    if (!m || !m->embed) return fk__fail(FK_EINVAL, "fk__zoo_embed: not a recognizer");
    void *model;
    fk_status st = fk__zoo_model_weights(z, m, weights, &model);
    if (st == FK_OK) st = m->embed(model, chips, n, norm, pool, out);
    if (st == FK_OK) st = fk__check_finite(m, "embedding", out, (size_t)n * (size_t)m->dim);
    return st;
}

fk_status fk__zoo_detect(fk_zoo *z, const fk_model_desc *m, fk_pool *pool,
                        const fk_image *img, float min_score, fk_detection **out,
                        int *count) {
    if (!m || !m->detect) return fk__fail(FK_EINVAL, "fk__zoo_detect: not a detector");
    void *model;
    *out = NULL;
    *count = 0;
    fk_status st = fk__zoo_model(z, m, &model);
    if (st == FK_OK) st = m->detect(model, img, min_score, pool, out, count);
    if (st == FK_OK) st = fk__check_detections(m, *out, *count);
    if (st != FK_OK) {
        free(*out);
        *out = NULL;
        *count = 0;
    }
    return st;
}

fk_status fk__zoo_landmarks(fk_zoo *z, const fk_model_desc *m, fk_pool *pool,
                           const fk_image *img, float x, float y, float w, float h,
                           fk_point *pts) {
    if (!m || !m->landmarks) return fk__fail(FK_EINVAL, "fk__zoo_landmarks: not a landmarker");
    void *model;
    fk_status st = fk__zoo_model(z, m, &model);
    if (st == FK_OK) st = m->landmarks(model, img, x, y, w, h, pool, pts);
    if (st == FK_OK) st = fk__check_finite(m, "landmark", (const float *)pts, (size_t)m->dim * 2);
    return st;
}

fk_status fk__zoo_analyze(fk_zoo *z, const fk_model_desc *m, fk_pool *pool,
                         const fk_image *img, const fk_face *faces, int n,
                         fk_attr_result *out) {
    if (!m || !m->analyze) return fk__fail(FK_EINVAL, "fk__zoo_analyze: not an analysis model");
    if (n <= 0) return FK_OK;
    void *model;
    fk_status st = fk__zoo_model(z, m, &model);
    if (st == FK_OK) {
        memset(out, 0, sizeof *out * (size_t)n);
        st = m->analyze(model, img, faces, n, pool, out);
    }
    if (st == FK_OK)
        st = fk__check_finite(m, "analysis", (const float *)out,
                              sizeof *out / sizeof(float) * (size_t)n);
    return st;
}
