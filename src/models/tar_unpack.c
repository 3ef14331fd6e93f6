/*
 * tar_unpack.c - installing listed files from an npm tarball (libarchive).
 *
 * npm tarballs put everything under one top folder ("package/"); like npm,
 * we strip the first path component whatever its name. Every file is
 * written to a temp name beside its target, hashed (SHA-256, for the stamp)
 * as it is written, synced, and renamed into place only when every listed
 * file was found and written, so a failure leaves the previous install (if
 * any) untouched. Write errors (ENOSPC, EFBIG, EIO) name the final path,
 * which is what the user recognises.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "models/model_store.h"

#define PATH_CAP FK_STORE_PATH_CAP

/* Write all of buf to fd, retrying short writes; 0 or an errno. */
static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copy the current archive entry's data into a new temp file beside `final`
 * ("<dir>/.<name>.XXXXXX"), synced and closed; its name goes to tmp and the
 * data's SHA-256 (hex) to sha. Any failure removes the temp file. */
static fk_status extract_to_temp(struct archive *a, const char *final,
                                 const char *tarball, char *tmp, size_t cap,
                                 char sha[65]) {
    char dir[PATH_CAP];
    const char *name = fk__base_name(final);
    char buf[1 << 16];
    int fd, e = 0;
    la_ssize_t n;
    fk_status st = FK_OK;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_MD_CTX *ctx;

    snprintf(dir, sizeof dir, "%.*s", (int)(name - final - 1), final);
    if (snprintf(tmp, cap, "%s/.%s.XXXXXX", dir, name) >= (int)cap)
        return fk__fail(FK_EINVAL, "path too long: %s", final);
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return fk__fail(FK_EEXTERNAL, "sha256 failed in libcrypto");
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        EVP_MD_CTX_free(ctx);
        return fk__fail(FK_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) {
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        if ((e = write_all(fd, buf, (size_t)n)) != 0)
            break;
    }
    if (e)
        st = fk__fail(FK_EIO, "%s: write failed: %s", final, strerror(e));
    else if (n < 0)
        st = fk__fail(FK_EFORMAT, "%s: damaged tarball while reading %s: %s",
                     tarball, name, archive_error_string(a));
    else if (fchmod(fd, 0644) != 0 || fsync(fd) != 0)
        st = fk__fail(FK_EIO, "%s: write failed: %s", final, strerror(errno));
    if (close(fd) != 0 && !st)
        st = fk__fail(FK_EIO, "%s: write failed: %s", final, strerror(errno));
    if (!st && (EVP_DigestFinal_ex(ctx, digest, &dlen) != 1 || dlen != 32))
        st = fk__fail(FK_EEXTERNAL, "%s: sha256 failed in libcrypto", final);
    EVP_MD_CTX_free(ctx);
    if (st) {
        unlink(tmp);
        return st;
    }
    for (unsigned int i = 0; i < dlen; i++)
        snprintf(sha + 2 * i, 3, "%02x", digest[i]);
    return FK_OK;
}

fk_status fk__unpack_files(const char *tarball, const char *spec,
                          const char *const *files, int nfiles,
                          const char *dest, fk_stamp_file *rec) {
    char (*tmps)[PATH_CAP];
    int i, r = ARCHIVE_EOF;
    struct archive *a;
    struct archive_entry *entry;
    fk_status st = FK_OK;

    /* One temp-name slot per listed file; "" means not extracted (yet). */
    tmps = calloc((size_t)nfiles + 1, sizeof *tmps);
    a = archive_read_new();
    if (!tmps || !a) {
        free(tmps);
        if (a)
            archive_read_free(a);
        return fk__fail(FK_ENOMEM, "out of memory unpacking %s", tarball);
    }
    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, tarball, 1 << 16) != ARCHIVE_OK) {
        st = fk__fail(FK_EFORMAT, "%s: cannot open tarball: %s", tarball,
                     archive_error_string(a));
        archive_read_free(a);
        free(tmps);
        return st;
    }
    while (!st && (r = archive_read_next_header(a, &entry)) == ARCHIVE_OK) {
        const char *p = archive_entry_pathname(entry);
        const char *rel = p ? strchr(p, '/') : NULL;
        char final[PATH_CAP];
        if (!rel)
            continue;
        rel++;
        for (i = 0; i < nfiles; i++)
            if (!tmps[i][0] && strcmp(rel, files[i]) == 0)
                break;
        if (i == nfiles)
            continue;
        if (archive_entry_filetype(entry) != AE_IFREG) {
            st = fk__fail(FK_EFORMAT, "%s: %s is not a regular file", tarball,
                         p);
            break;
        }
        if (snprintf(final, sizeof final, "%s/%s", dest, fk__base_name(files[i])) >=
            (int)sizeof final)
            st = fk__fail(FK_EINVAL, "path too long: %s/%s", dest, fk__base_name(files[i]));
        if (!st)
            st = extract_to_temp(a, final, tarball, tmps[i], sizeof tmps[i], rec[i].sha256);
        if (st)
            tmps[i][0] = '\0';
    }
    if (!st && r != ARCHIVE_EOF)
        st = fk__fail(FK_EFORMAT, "%s: damaged tarball: %s", tarball,
                     archive_error_string(a));
    archive_read_free(a);
    for (i = 0; i < nfiles && !st; i++)
        if (!tmps[i][0])
            st = fk__fail(FK_EFORMAT,
                         "%s: package/%s is missing from the tarball of %s",
                         tarball, files[i], spec);
    for (i = 0; i < nfiles && !st; i++) {
        char final[PATH_CAP];
        snprintf(final, sizeof final, "%s/%s", dest, fk__base_name(files[i]));
        if (rename(tmps[i], final) != 0)
            st = fk__fail(FK_EIO, "%s: cannot install: %s", final,
                         strerror(errno));
        else {
            tmps[i][0] = '\0';
            snprintf(rec[i].name, sizeof rec[i].name, "%s", fk__base_name(files[i]));
            st = fk__file_stat(final, &rec[i].size, &rec[i].mtime_ns);
        }
    }
    for (i = 0; i < nfiles; i++)
        if (tmps[i][0])
            unlink(tmps[i]);
    free(tmps);
    return st;
}
