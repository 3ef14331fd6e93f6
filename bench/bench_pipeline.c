/*
 * bench_pipeline.c - milliseconds per pipeline stage on a real photo.
 *
 *   build/bench_pipeline [IMAGE] [RUNS] [--json] [--max-side N]
 *
 * Default image: face-api's demo photo sample1.jpg (1920x1280, 3 faces) in
 * the model home. For 1 thread and for all cores, prints the median over
 * RUNS (default 10) of: decode, detect (SSD incl. resize to 512), landmarks
 * (all faces), align (all faces), embed (all faces, one batch), and the whole
 * represent call. The first run (model loading, planning) is not counted.
 * --max-side N decodes with fk_image_load_scaled (DCT-scaled JPEG decode
 * while the long side stays >= N, as the CLI does with 2048); the default
 * decodes every pixel.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/profile.h"
#include "facekit.h"

#include "bench_util.h"

int main(int argc, char **argv) {
    char home[1024], path[PATH_MAX];
    int json = 0, npos = 0, max_side = 0;
    const char *pos[2] = {NULL, NULL};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = 1;
        else if (strcmp(argv[i], "--max-side") == 0 && i + 1 < argc) max_side = atoi(argv[++i]);
        else if (npos < 2) pos[npos++] = argv[i];
    }
    if (fk_models_default_home(home, sizeof home) != FK_OK) return 1;
    if (pos[0]) snprintf(path, sizeof path, "%s", pos[0]);
    else snprintf(path, sizeof path, "%s/face-api/sample1.jpg", home);
    int runs = pos[1] ? atoi(pos[1]) : 10;
    if (runs < 1 || runs > 1000) runs = 10;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    if (json)
        printf("{\"image\": \"%s\", \"runs\": %d, \"decode_max_side\": %d, \"by_threads\": [",
               path, runs, max_side);
    else printf("image: %s  (decode max side: %d%s)\n", path, max_side, max_side ? "" : ", full");
    int thread_counts[2] = {1, (int)cores};
    for (int t = 0; t < (cores > 1 ? 2 : 1); t++) {
        fk_context_options co;
        fk_context_options_init(&co);
        co.threads = thread_counts[t];
        fk_context *ctx;
        if (fk_context_new(&co, &ctx) != FK_OK) {
            fprintf(stderr, "%s\n", fk_last_error());
            return 1;
        }
        double *dec = calloc((size_t)runs, sizeof *dec), *det = calloc((size_t)runs, sizeof *det),
               *lm = calloc((size_t)runs, sizeof *lm), *al = calloc((size_t)runs, sizeof *al),
               *em = calloc((size_t)runs, sizeof *em), *tot = calloc((size_t)runs, sizeof *tot);
        int faces = 0, w = 0, h = 0;
        for (int r = -1; r < runs; r++) {
            double t0 = now_ms();
            fk_image *img;
            if (fk_image_load_scaled(path, 0, max_side, &img) != FK_OK) {
                fprintf(stderr, "%s\n", fk_last_error());
                return 1;
            }
            double t1 = now_ms();
            fk_faces f;
            fk__stage_times st = {0};
            if (fk__represent_timed(ctx, img, NULL, &f, &st) != FK_OK) {
                fprintf(stderr, "%s\n", fk_last_error());
                return 1;
            }
            double t2 = now_ms();
            faces = f.count;
            w = img->width;
            h = img->height;
            fk_faces_free(&f);
            fk_image_free(img);
            if (r < 0) continue; /* warm-up: loads models, plans graphs */
            dec[r] = t1 - t0;
            det[r] = st.detect_ms;
            lm[r] = st.landmarks_ms;
            al[r] = st.align_ms;
            em[r] = st.embed_ms;
            tot[r] = t2 - t0;
        }
        if (json) {
            printf("%s{\"threads\": %d, \"width\": %d, \"height\": %d, \"faces\": %d, "
                   "\"decode_ms\": %.3f, \"detect_ms\": %.3f, \"landmarks_ms\": %.3f, "
                   "\"align_ms\": %.3f, \"embed_ms\": %.3f, \"total_ms\": %.3f}",
                   t ? ", " : "", thread_counts[t], w, h, faces, median(dec, runs),
                   median(det, runs), median(lm, runs), median(al, runs), median(em, runs),
                   median(tot, runs));
            free(dec); free(det); free(lm); free(al); free(em); free(tot);
            fk_context_free(ctx);
            continue;
        }
        printf("\nthreads=%d  (%dx%d, %d faces, median of %d runs)\n", thread_counts[t], w, h,
               faces, runs);
        printf("  decode      %8.2f ms\n", median(dec, runs));
        printf("  detect      %8.2f ms   (ssd, 512x512)\n", median(det, runs));
        printf("  landmarks   %8.2f ms   (%.2f ms/face)\n", median(lm, runs),
               median(lm, runs) / (faces ? faces : 1));
        printf("  align       %8.2f ms   (%.2f ms/face)\n", median(al, runs),
               median(al, runs) / (faces ? faces : 1));
        printf("  embed       %8.2f ms   (%.2f ms/face, Dlib)\n", median(em, runs),
               median(em, runs) / (faces ? faces : 1));
        printf("  total       %8.2f ms   (decode + represent)\n", median(tot, runs));
        free(dec); free(det); free(lm); free(al); free(em); free(tot);
        fk_context_free(ctx);
    }
    if (json) printf("]}\n");
    return 0;
}
