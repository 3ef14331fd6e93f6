/*
 * cmd_extract.c - `facekit extract-faces`: deepface's extract_faces on the
 * command line. Each face of the image is cut out by fk_extract_faces and
 * reported as deepface reports it (face, facial_area, confidence) plus
 * facekit's extras (eyes_in_face, width, height). `face` is a file path with
 * --out DIR, else the crop inline: a PNG data: URL, or with --normalize-face
 * the h x w x c list of 0..1 floats deepface's API returns.
 */
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"

int cli_extract_format(cli_args *a, const char *v) {
    if (strcasecmp(v, "jpg") && strcasecmp(v, "png") && strcasecmp(v, "webp")) return -1;
    a->format = v;
    return 0;
}

/* Standard base64 (RFC 4648, padded) of n bytes; NULL when out of memory. */
static char *base64(const uint8_t *p, size_t n) {
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *s = malloc((n + 2) / 3 * 4 + 1), *o = s;
    if (!s) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        *o++ = T[v >> 18 & 63];
        *o++ = T[v >> 12 & 63];
        *o++ = i + 1 < n ? T[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? T[v & 63] : '=';
    }
    *o = '\0';
    return s;
}

/* The crop as a data:image/png;base64 URL. */
static json_t *face_data_url(const fk_image *img) {
    uint8_t *png = NULL;
    size_t len = 0;
    if (fk_image_encode(img, ".png", 0, &png, &len) != FK_OK) return NULL;
    char *b64 = base64(png, len);
    free(png);
    if (!b64) return NULL;
    static const char PREFIX[] = "data:image/png;base64,";
    char *url = malloc(sizeof PREFIX + strlen(b64));
    json_t *j = NULL;
    if (url) {
        strcpy(url, PREFIX);
        strcat(url, b64);
        j = json_string(url);
        free(url);
    }
    free(b64);
    return j;
}

/* deepface's normalize_face: rows of pixels of channels as 0..1 floats (a
 * gray crop's pixels are single floats, as numpy's h x w array). */
static json_t *face_floats(const fk_image *img) {
    json_t *rows = json_array();
    for (int y = 0; y < img->height; y++) {
        json_t *row = json_array();
        const uint8_t *p = img->data + (size_t)y * img->stride;
        for (int x = 0; x < img->width; x++) {
            if (img->channels == 1) {
                json_array_append_new(row, json_real(p[x] / 255.0));
                continue;
            }
            json_t *px = json_array();
            for (int c = 0; c < img->channels; c++)
                json_array_append_new(px, json_real(p[x * img->channels + c] / 255.0));
            json_array_append_new(row, px);
        }
        json_array_append_new(rows, row);
    }
    return rows;
}

/* DIR/<base name of image without extension>_face<n>.<ext> */
static int face_path(char *buf, size_t cap, const char *dir, const char *image, int n,
                     const char *ext) {
    /* An image given as "-", a data URI or base64 has no file name. */
    if (access(image, F_OK) != 0) image = strcmp(image, "-") ? "image" : "stdin";
    const char *base = strrchr(image, '/');
    base = base ? base + 1 : image;
    const char *dot = strrchr(base, '.');
    int len = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
    int w = snprintf(buf, cap, "%s%s%.*s_face%d.%s", dir,
                     dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", len, base, n, ext);
    return w > 0 && (size_t)w < cap ? 0 : -1;
}

/* mkdir -p: the --out folder and its parents, as needed. */
static int make_dirs(const char *dir) {
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) {
        fprintf(stderr, "facekit: %s: path too long\n", dir);
        return -1;
    }
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s) continue;
        char c = *s;
        *s = '\0';
        struct stat sb;
        if (stat(p, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "facekit: %s: not a folder (--out needs one)\n", p);
            return -1;
        }
        if (stat(p, &sb) != 0 && mkdir(p, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "facekit: %s: cannot make the folder: %s\n", p, strerror(errno));
            return -1;
        }
        *s = c;
        if (!c) return 0;
    }
}

static json_t *eyes_json(const fk_face_crop *c) {
    if (!c->has_eyes) return json_null();
    return json_pack("{s:[f, f], s:[f, f]}", "left_eye", (double)c->left_eye.x,
                     (double)c->left_eye.y, "right_eye", (double)c->right_eye.x,
                     (double)c->right_eye.y);
}

int cmd_extract_faces(cli_args *a) {
    if (a->npositional != 1) {
        fprintf(stderr, "facekit: usage: facekit extract-faces IMG [--out DIR] [options]\n");
        return 2;
    }
    if (a->normalize_face && a->out_path) {
        fprintf(stderr, "facekit extract-faces: --normalize-face true gives floats, and files "
                        "are 8-bit: drop --out, or --normalize-face; run 'facekit "
                        "extract-faces --help'\n");
        return 2;
    }
    if (!a->normalize_face && a->opt.color_face && !strcasecmp(a->opt.color_face, "bgr")) {
        fprintf(stderr, "facekit extract-faces: --color-face bgr applies to the pixel lists of "
                        "--normalize-face true; image files and inline PNGs are RGB; run "
                        "'facekit extract-faces --help'\n");
        return 2;
    }
    const char *ext = a->format ? a->format : "jpg";
    if (a->out_path && make_dirs(a->out_path)) return 1;
    fk_context *ctx = NULL;
    fk_image *img = NULL;
    fk_face_crops crops = {0};
    a->opt.image_names[0] = cli_image_label(a->positional[0]);
    int rc = 0;
    if (cli_open_context(a, &ctx) || cli_load_image(a, a->positional[0], &img) != FK_OK ||
        fk_extract_faces(ctx, img, &a->opt, &crops) != FK_OK) {
        rc = cli_fail();
        goto done;
    }
    json_t *list = json_array();
    for (int i = 0; i < crops.count && !rc; i++) {
        const fk_face_crop *c = &crops.crops[i];
        json_t *face = NULL;
        char path[PATH_MAX];
        if (a->out_path) {
            if (face_path(path, sizeof path, a->out_path, a->positional[0], i + 1, ext)) {
                fprintf(stderr, "facekit: %s: path too long\n", a->out_path);
                rc = 1;
            } else if (fk_image_save(c->image, path, 90) != FK_OK) {
                rc = cli_fail();
            } else {
                face = json_string(path);
            }
        } else if (a->normalize_face) {
            face = face_floats(c->image);
        } else if (!(face = face_data_url(c->image))) {
            rc = cli_fail();
        }
        if (rc) break;
        json_array_append_new(list, cli_with_spoof(json_pack("{s:o, s:o, s:f, s:o, s:i, s:i, s:i}", "face", face,
                                              "facial_area", rj_facial_area(&c->face),
                                              "confidence", (double)c->face.confidence,
                                              "eyes_in_face", eyes_json(c),
                                              "width", c->image->width, "height",
                                              c->image->height, "channels",
                                              c->image->channels), a, &c->face));
    }
    if (rc)
        json_decref(list);
    else
        cli_print_json(list);
done:
    fk_face_crops_free(&crops);
    fk_image_free(img);
    fk_context_free(ctx);
    return rc;
}
