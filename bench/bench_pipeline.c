/*
 * bench_pipeline.c - milliseconds per pipeline stage on a real photo.
 *
 *   build/bench_pipeline [IMAGE] [RUNS] [--json] [--max-side N]
 *                        [--analyze IMG]... [--pixels DIR]
 *
 * Default image: face-api's demo photo sample1.jpg (1920x1280, 3 faces) in
 * the model home. For 1 thread and for all cores, prints the median over
 * RUNS (default 10) of: decode, detect (SSD incl. resize to 512), landmarks
 * (all faces), align (all faces), embed (all faces, one batch), and the whole
 * represent call. The first run (model loading, planning) is not counted.
 * --max-side N decodes with fk_image_load_scaled (DCT-scaled JPEG decode
 * while the long side stays >= N, as the CLI does with 2048); the default
 * decodes every pixel.
 *
 * --analyze IMG (up to 4 times): fk_analyze with every action and the
 * default models on IMG (decoded once, in full, before the clock starts),
 * on the same two thread counts, median of RUNS after a warm-up: the
 * analysis stage given the detected faces (each model's crop, input fill
 * and graph runs over all the faces; the primary figure), each model's
 * share of it, the detect stage, and the whole call. The JSON also gives
 * the faces' boxes and the models' outputs (probabilities, not percent), so
 * that bench/peers/human.js can run the same graphs on the same crops and
 * compare.js can check that both computed the same thing. --pixels DIR
 * writes each --analyze image's decoded pixels to DIR/analyze-K.rgb (raw
 * RGB, rows packed), named in the JSON, so the peer can start from the
 * same pixels (JPEG decoders differ by a few levels per pixel, which the
 * emotion model notices).
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

#define MAX_ANALYZE 4
#define NTHREADS 2

/* One --analyze image: its pixels, the 1-thread run's analysis (boxes and
 * outputs, printed), and the medians per thread count. */
typedef struct analyze_bench {
    const char *path;
    char pixels[PATH_MAX]; /* the raw copy written for --pixels, or "" */
    fk_image *img;
    fk_analysis result;
    int model_count;
    const char *model[FK__ANALYZE_MODELS_MAX];
    double stage_ms[NTHREADS], call_ms[NTHREADS], detect_ms[NTHREADS];
    double model_ms[NTHREADS][FK__ANALYZE_MODELS_MAX];
} analyze_bench;

/* Time fk_analyze on b->img with ctx; slot t of the medians. 0 on success. */
static int time_analyze(fk_context *ctx, analyze_bench *b, int t, int runs) {
    double *v = calloc((size_t)runs * (3 + FK__ANALYZE_MODELS_MAX), sizeof *v);
    if (!v) return -1;
    double *stage = v, *call = v + runs, *det = v + 2 * runs, *per = v + 3 * runs;
    for (int r = -1; r < runs; r++) {
        fk_analysis a;
        fk__analyze_times at;
        double t0 = now_ms();
        if (fk__analyze_timed(ctx, b->img, NULL, NULL, &a, &at) != FK_OK) {
            fprintf(stderr, "bench_pipeline: analyze %s: %s\n", b->path, fk_last_error());
            free(v);
            return -1;
        }
        double t1 = now_ms();
        if (r < 0) { /* warm-up: loads the models, plans the graphs */
            if (t == 0) {
                b->result = a;
                b->model_count = at.model_count;
                for (int m = 0; m < at.model_count; m++) b->model[m] = at.model[m];
            } else {
                fk_analysis_free(&a);
            }
            continue;
        }
        fk_analysis_free(&a);
        stage[r] = at.analyze_ms;
        call[r] = t1 - t0;
        det[r] = at.detect_ms;
        for (int m = 0; m < at.model_count && m < b->model_count; m++)
            per[m * runs + r] = at.model_ms[m];
    }
    b->stage_ms[t] = median(stage, runs);
    b->call_ms[t] = median(call, runs);
    b->detect_ms[t] = median(det, runs);
    for (int m = 0; m < b->model_count; m++) b->model_ms[t][m] = median(per + m * runs, runs);
    free(v);
    return 0;
}

/* b->img's pixels as packed RGB rows to dir/analyze-k.rgb. 0 on success. */
static int write_pixels(analyze_bench *b, const char *dir, int k) {
    snprintf(b->pixels, sizeof b->pixels, "%s/analyze-%d.rgb", dir, k);
    FILE *f = fopen(b->pixels, "wb");
    int ok = f != NULL;
    for (int y = 0; ok && y < b->img->height; y++)
        ok = fwrite(b->img->data + (size_t)y * b->img->stride, 3, (size_t)b->img->width, f) ==
             (size_t)b->img->width;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) fprintf(stderr, "bench_pipeline: cannot write %s\n", b->pixels);
    return ok ? 0 : -1;
}

static void print_analyze_json(const analyze_bench *b, int nb, const int *threads, int nt) {
    printf(", \"analyze\": [");
    for (int k = 0; k < nb; k++) {
        printf("%s\n  {\"image\": \"%s\", \"pixels\": \"%s\", \"width\": %d, "
               "\"height\": %d, \"models\": [",
               k ? "," : "", b[k].path, b[k].pixels, b[k].img->width, b[k].img->height);
        for (int m = 0; m < b[k].model_count; m++)
            printf("%s\"%s\"", m ? ", " : "", b[k].model[m]);
        printf("],\n   \"faces\": [");
        for (int i = 0; i < b[k].result.count; i++) {
            const fk_face_analysis *a = &b[k].result.faces[i];
            printf("%s\n    {\"x\": %.9g, \"y\": %.9g, \"w\": %.9g, \"h\": %.9g, "
                   "\"age\": %.6g, \"man\": %.6g, \"emotion\": [",
                   i ? "," : "", a->face.x, a->face.y, a->face.w, a->face.h, a->age,
                   a->man / 100);
            for (int e = 0; e < FK_EMOTIONS; e++)
                printf("%s%.6g", e ? ", " : "", a->emotion[e] / 100);
            printf("], \"race\": [");
            for (int e = 0; e < a->race_count; e++)
                printf("%s%.6g", e ? ", " : "", a->race[e] / 100);
            printf("]}");
        }
        printf("],\n   \"by_threads\": [");
        for (int t = 0; t < nt; t++) {
            printf("%s{\"threads\": %d, \"stage_ms\": %.3f, \"call_ms\": %.3f, "
                   "\"detect_ms\": %.3f, \"model_ms\": [",
                   t ? ", " : "", threads[t], b[k].stage_ms[t], b[k].call_ms[t],
                   b[k].detect_ms[t]);
            for (int m = 0; m < b[k].model_count; m++)
                printf("%s%.3f", m ? ", " : "", b[k].model_ms[t][m]);
            printf("]}");
        }
        printf("]}");
    }
    printf("]");
}

static void print_analyze_text(const analyze_bench *b, int nb, const int *threads, int nt) {
    for (int k = 0; k < nb; k++) {
        printf("\nanalyze %s  (%dx%d, %d faces, all four actions, default models)\n",
               b[k].path, b[k].img->width, b[k].img->height, b[k].result.count);
        for (int t = 0; t < nt; t++) {
            printf("  threads=%d  analysis %8.2f ms  (", threads[t], b[k].stage_ms[t]);
            for (int m = 0; m < b[k].model_count; m++)
                printf("%s%s %.2f", m ? ", " : "", b[k].model[m], b[k].model_ms[t][m]);
            printf(")\n             detect   %8.2f ms   whole fk_analyze %8.2f ms\n",
                   b[k].detect_ms[t], b[k].call_ms[t]);
        }
    }
}

int main(int argc, char **argv) {
    char home[1024], path[PATH_MAX];
    int json = 0, npos = 0, max_side = 0;
    const char *pos[2] = {NULL, NULL};
    analyze_bench ab[MAX_ANALYZE] = {0};
    int nab = 0;
    const char *pixels_dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = 1;
        else if (strcmp(argv[i], "--max-side") == 0 && i + 1 < argc) max_side = atoi(argv[++i]);
        else if (strcmp(argv[i], "--analyze") == 0 && i + 1 < argc && nab < MAX_ANALYZE)
            ab[nab++].path = argv[++i];
        else if (strcmp(argv[i], "--pixels") == 0 && i + 1 < argc) pixels_dir = argv[++i];
        else if (npos < 2) pos[npos++] = argv[i];
        else {
            fprintf(stderr, "usage: bench_pipeline [IMAGE] [RUNS] [--json] [--max-side N] "
                            "[--analyze IMG]... (at most %d) [--pixels DIR]\n", MAX_ANALYZE);
            return 2;
        }
    }
    for (int k = 0; k < nab; k++) {
        if (fk_image_load(ab[k].path, 0, &ab[k].img) != FK_OK) {
            fprintf(stderr, "%s\n", fk_last_error());
            return 1;
        }
        if (pixels_dir && write_pixels(&ab[k], pixels_dir, k) != 0) return 1;
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
    int thread_counts[NTHREADS] = {1, (int)cores}, nt = cores > 1 ? 2 : 1;
    for (int t = 0; t < nt; t++) {
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
        for (int k = 0; k < nab; k++)
            if (time_analyze(ctx, &ab[k], t, runs) != 0) return 1;
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
    if (json) {
        printf("]");
        if (nab) print_analyze_json(ab, nab, thread_counts, nt);
        printf("}\n");
    } else if (nab) {
        print_analyze_text(ab, nab, thread_counts, nt);
    }
    for (int k = 0; k < nab; k++) {
        fk_analysis_free(&ab[k].result);
        fk_image_free(ab[k].img);
    }
    return 0;
}
