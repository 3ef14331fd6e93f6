/*
 * model_store.h - where model files live and how they get there.
 *
 * The model home ($FACEKIT_HOME, default ~/.facekit) holds one folder per npm
 * package (`face-api/`, ...) with just the files facekit uses, plus
 * `cache/` with the verified tarballs. `facekit models fetch` fills it
 * (fk_models_fetch in facekit.h); this header is the lookup side used by
 * model loaders.
 */
#ifndef FK_MODELS_MODEL_STORE_H
#define FK_MODELS_MODEL_STORE_H

#include <stddef.h>

#include "facekit.h"

/* One pinned npm package and the files taken from it. */
typedef struct fk_package {
    const char *dir;        /* folder in the home: "face-api" */
    const char *spec;       /* npm spec: "@vladmandic/face-api@1.7.15" */
    const char *integrity;  /* npm dist.integrity: "sha512-<base64>" */
    const char **files;     /* paths inside the tarball, below "package/";
                               installed as <home>/<dir>/<basename> */
} fk_package;

/* The table of packages (NULL-terminated by a zero entry). */
extern const fk_package fk__packages[];

/* Path of an installed file: <home>/<dir>/<basename>. If it does not exist,
 * FK_EMODEL with a message saying which command installs it. */
fk_status fk__model_file(const char *home, const char *dir, const char *file,
                        char *buf, size_t cap);

/* fk_models_fetch over an explicit package table (zero-terminated), so tests
 * can install small packages of their own through a fake npm (FACEKIT_NPM)
 * without touching the network. home NULL means the default home. */
fk_status fk__models_fetch_packages(const char *home, const fk_package *pkgs,
                                   fk_log_fn log, void *user);

#endif
