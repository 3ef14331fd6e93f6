/*
 * bench_serve_inproc.c - the work of `POST /verify` and `POST /represent`
 * done in-process, the baseline of `make bench-serve`: the same base64
 * strings decoded (fk_image_decode_text) and the same call (fk_verify /
 * fk_represent) over the same number of workers, each with its own
 * context, as the server's pool runs them. What the server adds on top is
 * the HTTP layer: sockets, the JSON parse of the body, the queue hand-off
 * and the JSON of the reply.
 *
 * Model loading is left out of the figure: a first run of one item per
 * worker (loading included) is timed too, and subtracted.
 *
 * Usage: bench_serve_inproc verify|represent WORKERS ITEMS B64_1 [B64_2]
 * (files holding base64 text). Prints "items/s X".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "facekit.h"

typedef struct job {
    int verify;
    char *text[2];
    size_t len[2];
} job;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[n] = '\0', *len = (size_t)n;
    return b;
}

static fk_status task(fk_context *ctx, int item, void *user) {
    job *j = user;
    (void)item;
    fk_image *a = NULL, *b = NULL;
    fk_status s = fk_image_decode_text(j->text[0], j->len[0], "img1", 25000000, 2048, &a);
    if (s == FK_OK && j->verify)
        s = fk_image_decode_text(j->text[1], j->len[1], "img2", 25000000, 2048, &b);
    if (s == FK_OK) {
        if (j->verify) {
            fk_verify_result r;
            s = fk_verify(ctx, a, b, NULL, &r);
        } else {
            fk_faces faces = {0};
            s = fk_represent(ctx, a, NULL, &faces);
            fk_faces_free(&faces);
        }
    }
    fk_image_free(a);
    fk_image_free(b);
    return s;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: bench_serve_inproc verify|represent WORKERS ITEMS B64_1 [B64_2]\n");
        return 2;
    }
    job j = {.verify = !strcmp(argv[1], "verify")};
    int workers = atoi(argv[2]), items = atoi(argv[3]);
    for (int i = 0; i < 1 + j.verify; i++)
        if (argc <= 4 + i || !(j.text[i] = slurp(argv[4 + i], &j.len[i]))) {
            fprintf(stderr, "bench_serve_inproc: cannot read the base64 file\n");
            return 1;
        }
    fk_context_options co;
    fk_context_options_init(&co);
    co.max_pixels = 25000000;
    double t0 = now();
    fk_status s = fk_run_workers(&co, workers, workers, task, NULL, &j);
    double warm = now() - t0;
    t0 = now();
    if (s == FK_OK) s = fk_run_workers(&co, workers, items, task, NULL, &j);
    double all = now() - t0;
    if (s != FK_OK) {
        fprintf(stderr, "bench_serve_inproc: %s\n", fk_last_error());
        return 1;
    }
    /* every run loads the models once per worker, as the warm-up did */
    double work = all - warm > 0.05 * all ? all - warm : all;
    printf("items/s %.2f\n", (items - workers) / work);
    free(j.text[0]);
    free(j.text[1]);
    return 0;
}
