/*
 * image_save.c - fk_image_save: the format from the path's extension (JPEG,
 * PNG or WebP, encoded by image_jpeg.c / image_png.c / image_webp.c), written to a temporary
 * file beside the target and renamed over it only when every write, flush
 * and close succeeded, so a failure never leaves a partial file.
 */
#include "image/image.h"
#include "image/image_codec.h"
#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- saving ------------------------------------------------------------- */

enum { SAVE_JPEG, SAVE_PNG, SAVE_WEBP, SAVE_UNKNOWN };

/* The format a path's extension asks for (case-insensitive). */
static int save_format(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (!dot)
        return SAVE_UNKNOWN;
    if (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"))
        return SAVE_JPEG;
    if (!strcasecmp(dot, ".png"))
        return SAVE_PNG;
    if (!strcasecmp(dot, ".webp"))
        return SAVE_WEBP;
    return SAVE_UNKNOWN;
}

/* Create a fresh temporary file beside `path` (same folder, so rename is
 * atomic). O_EXCL makes the name ours; mode 0666 lets the umask decide the
 * final permissions as for any new file. */
static fk_status open_temp(const char *path, char **tmp_out, FILE **f_out) {
    static atomic_uint counter;
    size_t cap = strlen(path) + 48;
    char *tmp = malloc(cap);
    if (!tmp)
        return fk__fail(FK_ENOMEM, "%s: out of memory", path);
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 100; tries++) {
        snprintf(tmp, cap, "%s.tmp-%ld-%u", path, (long)getpid(),
                 atomic_fetch_add(&counter, 1));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        int err = errno;
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        free(tmp);
        return fk__fail(FK_EIO, "%s: cannot create a file there: %s", path,
                       strerror(err));
    }
    *tmp_out = tmp;
    *f_out = f;
    return FK_OK;
}

/* Encode into f, then flush and close it, checking every step. */
static fk_status encode_and_close(const fk_image *img, FILE *f, int format,
                                  int quality, const char *path) {
    fk_status st = format == SAVE_JPEG   ? fk__write_jpeg(img, f, quality, path)
                   : format == SAVE_WEBP ? fk__write_webp(img, f, quality, path)
                                         : fk__write_png(img, f, path);
    if (st == FK_OK && (fflush(f) != 0 || ferror(f)))
        st = fk__fail(FK_EIO, "%s: write failed: %s", path, strerror(errno));
    if (fclose(f) != 0 && st == FK_OK)
        st = fk__fail(FK_EIO, "%s: write failed: %s", path, strerror(errno));
    return st;
}

/* Encode as JPEG (quality 1..100, 0 means 90), PNG, or WebP (quality
 * 1..99 lossy, 100 lossless, 0 means 90) by the extension of path. Writes a temporary file in the same folder and renames it over path
 * only when everything succeeded, so a failure leaves no partial file. */
fk_status fk_image_save(const fk_image *img, const char *path, int quality) {
    fk__clear_error();
    if (!path)
        return fk__fail(FK_EINVAL, "fk_image_save: path is NULL");
    if (!fk__image_valid(img))
        return fk__fail(FK_EINVAL, "%s: cannot save: not a valid image", path);
    int format = save_format(path);
    if (format == SAVE_UNKNOWN)
        return fk__fail(FK_EINVAL, "%s: unknown image type; use a .jpg, .jpeg, "
                       ".png or .webp extension", path);
    if (quality == 0)
        quality = 90;
    if (format != SAVE_PNG && (quality < 1 || quality > 100))
        return fk__fail(FK_EINVAL, "%s: %s quality %d is outside 1..100", path,
                       format == SAVE_JPEG ? "JPEG" : "WebP", quality);
    char *tmp = NULL;
    FILE *f = NULL;
    fk_status st = open_temp(path, &tmp, &f);
    if (st != FK_OK)
        return st;
    st = encode_and_close(img, f, format, quality, path);
    if (st == FK_OK && rename(tmp, path) != 0)
        st = fk__fail(FK_EIO, "%s: cannot replace the file: %s", path,
                     strerror(errno));
    if (st != FK_OK)
        unlink(tmp);
    free(tmp);
    return st;
}
