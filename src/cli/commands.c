/*
 * commands.c - the facekit commands: verify, represent, detect (models is in
 * cmd_models.c).
 * Each prints JSON on success and one line on stderr on failure.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

double cli_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

void cli_spoof_fields(json_t *o, const cli_args *a, const fk_face *f) {
    rj_spoof_fields(o, a->opt.anti_spoofing, f);
}

json_t *cli_with_spoof(json_t *o, const cli_args *a, const fk_face *f) {
    cli_spoof_fields(o, a, f);
    return o;
}

int cli_open_context(const cli_args *a, fk_context **ctx) {
    fk_context_options co;
    fk_context_options_init(&co);
    co.threads = a->threads;
    co.max_pixels = a->max_pixels;
    return fk_context_new(&co, ctx) == FK_OK ? 0 : -1;
}

/* Every IMG argument: a path, "-" (stdin), a data URI or base64. */
fk_status cli_load_image(const cli_args *a, const char *path, fk_image **out) {
    return fk_image_load_source(path, a->max_pixels, a->decode_max_side, out);
}

const char *cli_image_label(const char *arg) {
    if (!strcmp(arg, "-")) return "standard input";
    if (!strncmp(arg, "data:", 5)) return "data URI image";
    if (strlen(arg) >= 64 && access(arg, F_OK) != 0) return "base64 image";
    return arg;
}

static int need_args(const cli_args *a, int n, const char *usage) {
    if (a->npositional == n) return 0;
    fprintf(stderr, "facekit: usage: %s\n", usage);
    return 2;
}

int cmd_verify(cli_args *a) {
    if (a->embeddings) return cli_verify_embeddings(a);
    int rc = need_args(a, 2, "facekit verify IMG1 IMG2 [options]");
    if (rc) return rc;
    double t0 = cli_now_s();
    fk_context *ctx = NULL;
    fk_image *i1 = NULL, *i2 = NULL;
    fk_verify_result r;
    a->opt.image_names[0] = cli_image_label(a->positional[0]);
    a->opt.image_names[1] = cli_image_label(a->positional[1]);
    if (cli_open_context(a, &ctx) || cli_load_image(a, a->positional[0], &i1) != FK_OK ||
        cli_load_image(a, a->positional[1], &i2) != FK_OK ||
        fk_verify(ctx, i1, i2, &a->opt, &r) != FK_OK) {
        rc = cli_fail();
    } else {
        json_t *out = rj_verify(&r, a->opt.anti_spoofing, cli_now_s() - t0);
        cli_print_json(out);
    }
    fk_image_free(i1);
    fk_image_free(i2);
    fk_context_free(ctx);
    return rc;
}

int cmd_represent(cli_args *a) {
    int rc = need_args(a, 1, "facekit represent IMG [options]");
    if (rc) return rc;
    fk_context *ctx = NULL;
    fk_image *img = NULL;
    fk_faces faces = {0};
    a->opt.image_names[0] = cli_image_label(a->positional[0]);
    if (cli_open_context(a, &ctx) || cli_load_image(a, a->positional[0], &img) != FK_OK ||
        fk_represent(ctx, img, &a->opt, &faces) != FK_OK) {
        rc = cli_fail();
    } else {
        json_t *list = rj_represent(&faces, &a->opt);
        cli_print_json(list);
    }
    fk_faces_free(&faces);
    fk_image_free(img);
    fk_context_free(ctx);
    return rc;
}

/* Boxes, eyes and landmarks drawn on a copy of the image (at its decoded
 * size: fk_draw_faces maps the faces' original pixels by the scale). */
static int write_annotated(const fk_image *img, const fk_faces *faces, const char *path) {
    fk_image *copy = NULL;
    if (fk_image_new(img->width, img->height, 3, &copy) != FK_OK) return -1;
    for (int y = 0; y < img->height; y++)
        memcpy(copy->data + y * copy->stride, img->data + y * img->stride,
               (size_t)img->width * 3);
    copy->scale = img->scale;
    fk_status st = fk_draw_faces(copy, faces);
    if (st == FK_OK) st = fk_image_save(copy, path, 90);
    fk_image_free(copy);
    return st == FK_OK ? 0 : -1;
}

int cmd_detect(cli_args *a) {
    int rc = need_args(a, 1, "facekit detect IMG [--out annotated.jpg] [options]");
    if (rc) return rc;
    fk_context *ctx = NULL;
    fk_image *img = NULL;
    fk_faces faces = {0};
    a->opt.image_names[0] = cli_image_label(a->positional[0]);
    if (cli_open_context(a, &ctx) || cli_load_image(a, a->positional[0], &img) != FK_OK ||
        fk_detect(ctx, img, &a->opt, &faces) != FK_OK ||
        (a->out_path && write_annotated(img, &faces, a->out_path))) {
        rc = cli_fail();
    } else {
        json_t *list = json_array();
        for (int i = 0; i < faces.count; i++) {
            const fk_face *f = &faces.faces[i];
            json_t *lm = json_array();
            for (int k = 0; k < f->landmark_count; k++)
                json_array_append_new(lm, rj_point(f->landmarks[k]));
            json_array_append_new(list, cli_with_spoof(json_pack("{s:o, s:f, s:o}", "facial_area",
                                                  rj_facial_area(f), "confidence",
                                                  (double)f->confidence, "landmarks", lm), a, f));
        }
        cli_print_json(list);
    }
    fk_faces_free(&faces);
    fk_image_free(img);
    fk_context_free(ctx);
    return rc;
}
