/*
 * zoo.c - lazy model loading by name (see zoo.h).
 */
#include "models/zoo.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/names.h"

#define ZOO_SLOTS 32

typedef struct zoo_slot {
    char key[64];
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

/* Adapters from the typed load/free functions to the zoo's generic ones. */
static fk_status load_ssd(const char *home, void **out) {
    return fk__ssd_load(home, (fk_ssd **)out);
}
static void free_ssd(void *m) { fk__ssd_free(m); }
static fk_status load_lm68(const char *home, void **out) {
    return fk__landmarks68_load(home, (fk_landmarks68 **)out);
}
static void free_lm68(void *m) { fk__landmarks68_free(m); }
static fk_status load_dlib(const char *home, void **out) {
    return fk__dlib_resnet_load(home, (fk_dlib_resnet **)out);
}
static void free_dlib(void *m) { fk__dlib_resnet_free(m); }

fk_status fk__zoo_ssd(fk_zoo *z, fk_ssd **out) {
    return fk__zoo_get(z, "ssd", load_ssd, free_ssd, (void **)out);
}

fk_status fk__zoo_landmarks68(fk_zoo *z, fk_landmarks68 **out) {
    return fk__zoo_get(z, "landmarks68", load_lm68, free_lm68, (void **)out);
}

fk_status fk__zoo_dlib(fk_zoo *z, fk_dlib_resnet **out) {
    return fk__zoo_get(z, "Dlib", load_dlib, free_dlib, (void **)out);
}

fk_status fk__lookup_name(const char *kind, const void *table, int count,
                         size_t stride, const char *name, int *index) {
    const char *base = table;
    for (int i = 0; name && i < count; i++) {
        const char *entry = *(const char *const *)(base + (size_t)i * stride);
        if (strcasecmp(entry, name) == 0) {
            *index = i;
            return FK_OK;
        }
    }
    char list[512] = "";
    for (int i = 0; i < count; i++) {
        const char *entry = *(const char *const *)(base + (size_t)i * stride);
        if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, entry, sizeof list - strlen(list) - 1);
    }
    const char *near = fk__closest_name(name, table, count, stride);
    return fk__fail(FK_EINVAL, "unknown %s '%s'%s%s%s; valid: %s", kind, name ? name : "(null)",
                    near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "", list);
}
