/*
 * image_encode.c - fk_image_encode: an image as JPEG, PNG or WebP bytes in
 * memory, for callers that send it on rather than save it (the CLI's
 * data: URLs). The encoders are the ones fk_image_save uses (image_jpeg.c,
 * image_png.c, image_webp.c), writing to a glibc memory stream (open_memstream) so no
 * second encoder path exists.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "image/image.h"
#include "image/image_codec.h"

fk_status fk_image_encode(const fk_image *img, const char *ext, int quality,
                          uint8_t **bytes, size_t *len) {
    fk__clear_error();
    if (!bytes || !len || !ext)
        return fk__fail(FK_EINVAL, "fk_image_encode: ext, bytes and len are required");
    *bytes = NULL;
    *len = 0;
    if (!fk__image_valid(img))
        return fk__fail(FK_EINVAL, "fk_image_encode: not a valid image");
    int jpeg = !strcasecmp(ext, ".jpg") || !strcasecmp(ext, ".jpeg");
    int webp = !strcasecmp(ext, ".webp");
    if (!jpeg && !webp && strcasecmp(ext, ".png"))
        return fk__fail(FK_EINVAL, "fk_image_encode: unknown image type '%s'; use .jpg, "
                       ".jpeg, .png or .webp", ext);
    if (quality == 0) quality = 90;
    if ((jpeg || webp) && (quality < 1 || quality > 100))
        return fk__fail(FK_EINVAL, "fk_image_encode: %s quality %d is outside 1..100",
                       jpeg ? "JPEG" : "WebP", quality);
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) return fk__fail(FK_ENOMEM, "fk_image_encode: out of memory");
    fk_status st = jpeg   ? fk__write_jpeg(img, f, quality, "(memory)")
                   : webp ? fk__write_webp(img, f, quality, "(memory)")
                          : fk__write_png(img, f, "(memory)");
    if (fclose(f) != 0 && st == FK_OK)
        st = fk__fail(FK_ENOMEM, "fk_image_encode: %s", strerror(errno));
    if (st != FK_OK) {
        free(buf);
        return st;
    }
    *bytes = (uint8_t *)buf;
    *len = size;
    return FK_OK;
}
