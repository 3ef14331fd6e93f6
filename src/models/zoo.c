/*
 * zoo.c - lazy model loading by name (see zoo.h).
 */
#include "models/zoo.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"

struct fk_zoo {
    char home[PATH_MAX];
    fk_ssd *ssd;
    fk_landmarks68 *landmarks68;
    fk_dlib_resnet *dlib;
};

static const char *DETECTORS[] = {"ssd", "skip", NULL};
static const char *MODELS[] = {"Dlib", NULL};

fk_status fk_zoo_new(const char *home, fk_zoo **out) {
    if (!home || !out) return fk_fail(FK_EINVAL, "fk_zoo_new: bad arguments");
    if (strlen(home) >= PATH_MAX) return fk_fail(FK_EINVAL, "model home path is too long");
    fk_zoo *z = calloc(1, sizeof *z);
    if (!z) return fk_fail(FK_ENOMEM, "out of memory");
    strcpy(z->home, home);
    *out = z;
    return FK_OK;
}

void fk_zoo_free(fk_zoo *z) {
    if (!z) return;
    fk_ssd_free(z->ssd);
    fk_landmarks68_free(z->landmarks68);
    fk_dlib_resnet_free(z->dlib);
    free(z);
}

const char *fk_zoo_home(const fk_zoo *z) { return z->home; }

fk_status fk_zoo_ssd(fk_zoo *z, fk_ssd **out) {
    if (!z->ssd) {
        fk_status st = fk_ssd_load(z->home, &z->ssd);
        if (st != FK_OK) return st;
    }
    *out = z->ssd;
    return FK_OK;
}

fk_status fk_zoo_landmarks68(fk_zoo *z, fk_landmarks68 **out) {
    if (!z->landmarks68) {
        fk_status st = fk_landmarks68_load(z->home, &z->landmarks68);
        if (st != FK_OK) return st;
    }
    *out = z->landmarks68;
    return FK_OK;
}

fk_status fk_zoo_dlib(fk_zoo *z, fk_dlib_resnet **out) {
    if (!z->dlib) {
        fk_status st = fk_dlib_resnet_load(z->home, &z->dlib);
        if (st != FK_OK) return st;
    }
    *out = z->dlib;
    return FK_OK;
}

/* Find `name` in a NULL-terminated list, ignoring case; else an error that
 * lists the valid names. */
static fk_status lookup(const char *kind, const char *const *names,
                        const char *name, const char **canonical) {
    for (int i = 0; name && names[i]; i++)
        if (strcasecmp(names[i], name) == 0) {
            *canonical = names[i];
            return FK_OK;
        }
    char list[256] = "";
    for (int i = 0; names[i]; i++) {
        if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, names[i], sizeof list - strlen(list) - 1);
    }
    return fk_fail(FK_EINVAL, "unknown %s '%s'; valid: %s", kind,
                   name ? name : "(null)", list);
}

fk_status fk_zoo_detector_name(const char *name, const char **canonical) {
    return lookup("detector", DETECTORS, name, canonical);
}

fk_status fk_zoo_model_name(const char *name, const char **canonical) {
    return lookup("model", MODELS, name, canonical);
}

void fk_zoo_model_geometry(const char *model, int *chip, int *dim) {
    (void)model; /* one recognizer so far */
    *chip = FK_DLIB_CHIP;
    *dim = FK_DLIB_DIM;
}
