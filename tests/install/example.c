/*
 * example.c - a user's program against the installed libfacekit, built by
 * tests/install/test_install.sh outside the source tree with nothing but
 * facekit.h and pkg-config.
 *
 *   example SAMPLE1 SAMPLE3 GALLERY_FILE
 *
 * face-api's demo photos sample1 and sample3 share a person (the blonde
 * woman): verify must say so. Then a gallery gets her face from sample1 as
 * "alice" (a view of the pixels around the face verify picked: registering
 * the whole photo would store every face in it under that name), and a
 * search with sample3 must find alice within the threshold for one of its
 * faces. Exit 0 when all of that holds.
 */
#include <stdio.h>
#include <string.h>

#include <facekit.h>

static int fail(const char *what) {
    fprintf(stderr, "example: %s: %s\n", what, fk_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: example SAMPLE1 SAMPLE3 GALLERY_FILE\n");
        return 2;
    }
    fk_context *ctx = NULL;
    fk_image *a = NULL, *b = NULL;
    if (fk_context_new(NULL, &ctx) != FK_OK) return fail("fk_context_new");
    if (fk_image_load(argv[1], 0, &a) != FK_OK) return fail(argv[1]);
    if (fk_image_load(argv[2], 0, &b) != FK_OK) return fail(argv[2]);

    fk_verify_result r;
    if (fk_verify(ctx, a, b, NULL, &r) != FK_OK) return fail("fk_verify");
    printf("verify: verified %d distance %.4f threshold %.4f model %s\n", r.verified,
           r.distance, r.threshold, r.model);
    if (!r.verified || !(r.distance < r.threshold)) {
        fprintf(stderr, "example: sample1 and sample3 should be the same person\n");
        return 1;
    }

    /* Her face in sample1, with half its size around it: a view into a's
     * pixels (no copy; fk_image's first five fields describe it). */
    const fk_face *f = &r.face1;
    float m = (f->w > f->h ? f->w : f->h) / 2;
    int x0 = (int)(f->x - m), y0 = (int)(f->y - m);
    int x1 = (int)(f->x + f->w + m), y1 = (int)(f->y + f->h + m);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > a->width) x1 = a->width;
    if (y1 > a->height) y1 = a->height;
    fk_image her = {x1 - x0, y1 - y0, a->channels, a->stride,
                    a->data + (size_t)y0 * a->stride + (size_t)x0 * (size_t)a->channels, 1};

    fk_options opt;
    fk_options_init(&opt);
    fk_gallery_options go;
    fk_gallery_options_init(&go);
    go.create = 1; /* make the gallery file if it is not there */
    fk_gallery *g = NULL;
    if (fk_gallery_open(argv[3], &opt, &go, &g) != FK_OK)
        return fail("fk_gallery_open");
    /* Only the largest face of the view (hers); a second run finds the same
     * pixels already registered and stores nothing. */
    fk_gallery_register_options ro;
    fk_gallery_register_options_init(&ro);
    ro.max_faces = 1;
    fk_gallery_register_result reg;
    if (fk_gallery_register(g, ctx, &her, "alice", "sample1.jpg", &ro, &reg) != FK_OK)
        return fail("fk_gallery_register");
    if (reg.duplicate)
        printf("register: already there as %s\n", reg.duplicate_identity);
    else
        printf("register: %d face(s) stored as alice\n", reg.faces.count);
    fk_gallery_register_result_free(&reg);
    /* top_k 0: every gallery face within the threshold, closest first. */
    fk_gallery_results res;
    if (fk_gallery_search(g, ctx, b, "sample3.jpg", 0, &res) != FK_OK) return fail("fk_gallery_search");
    /* The closest of sample3's faces to alice must be the one verify
     * paired with her (its centre inside r.face2), within the threshold. */
    int best = -1;
    for (int i = 0; i < res.count; i++) {
        const fk_gallery_result *q = &res.items[i];
        if (q->count < 1 || strcmp(q->matches[0].identity, "alice")) continue;
        printf("search: face %d -> %s distance %.4f threshold %.4f (%s)\n", i,
               q->matches[0].identity, q->matches[0].distance, q->matches[0].threshold,
               q->method);
        if (best < 0 || q->matches[0].distance < res.items[best].matches[0].distance) best = i;
    }
    int alice = 0;
    if (best >= 0) {
        const fk_face *qf = &res.items[best].face, *v = &r.face2;
        float cx = qf->x + qf->w / 2, cy = qf->y + qf->h / 2;
        alice = res.items[best].matches[0].distance < res.items[best].matches[0].threshold &&
                cx >= v->x && cx <= v->x + v->w && cy >= v->y && cy <= v->y + v->h;
    }
    fk_gallery_results_free(&res);
    fk_gallery_close(g);
    fk_image_free(a);
    fk_image_free(b);
    fk_context_free(ctx);
    if (!alice) {
        fprintf(stderr, "example: sample3's face closest to alice is not hers, or not "
                        "within the threshold\n");
        return 1;
    }
    printf("ok\n");
    return 0;
}
