/*
 * cmd_eval.c - `facekit eval`: verification accuracy on LFW-style pairs.
 *
 *   facekit eval --pairs pairsDevTrain.txt --images DIR [pipeline options]
 *
 * Reads the pairs file (first line: a count, or "folds count"; then
 * "name n1 n2" for same-person pairs and "name1 n1 name2 n2" for different
 * ones; images are DIR/<name>/<name>_<nnnn>.jpg), embeds every distinct image
 * once (worker threads, one context each), and reports for every metric the
 * accuracy at the shipped threshold and the best threshold on this data.
 * An image where the detector finds no face is embedded as with
 * --detector skip (the whole image taken as the face, still landmarked and
 * aligned: LFW images are centred on their subject) and counted.
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

typedef struct eval_image {
    char *path;
    fk_faces faces;
    int fallback; /* no face found: whole image used */
    int failed;   /* could not be read or embedded */
    char error[256];
} eval_image;

typedef struct eval_pair {
    int a, b;
    int same;
} eval_pair;

typedef struct eval_job {
    eval_image *images;
    int count;
    atomic_int next;
    atomic_int done;
    const fk_options *opt;
} eval_job;

/* Index of `path` in images, appending it when new (linear probe on a small
 * open-addressing table keeps this O(1)). */
typedef struct path_table {
    int *slots;
    int cap;
} path_table;

static unsigned long hash_str(const char *s) {
    unsigned long h = 5381;
    while (*s) h = h * 33 + (unsigned char)*s++;
    return h;
}

static int intern(path_table *t, eval_image **images, int *n, int *cap,
                  const char *path) {
    unsigned long h = hash_str(path) % (unsigned long)t->cap;
    while (t->slots[h] >= 0) {
        if (strcmp((*images)[t->slots[h]].path, path) == 0) return t->slots[h];
        h = (h + 1) % (unsigned long)t->cap;
    }
    if (*n == *cap) {
        int ncap = *cap ? *cap * 2 : 256;
        eval_image *p = realloc(*images, sizeof *p * (size_t)ncap);
        if (!p) return -1;
        *images = p;
        *cap = ncap;
    }
    eval_image *im = &(*images)[*n];
    memset(im, 0, sizeof *im);
    im->path = strdup(path);
    if (!im->path) return -1;
    t->slots[h] = *n;
    return (*n)++;
}

static void image_path(char *buf, size_t cap, const char *dir, const char *name, int num) {
    snprintf(buf, cap, "%s/%s/%s_%04d.jpg", dir, name, name, num);
}

/* Parse the pairs file into pairs/images. Returns 0 or prints an error. */
static int read_pairs(const char *file, const char *dir, eval_pair **pairs, int *npairs,
                      eval_image **images, int *nimages) {
    FILE *f = fopen(file, "r");
    if (!f) {
        fprintf(stderr, "facekit: %s: cannot open\n", file);
        return -1;
    }
    path_table t = {.cap = 1 << 16};
    t.slots = malloc(sizeof(int) * (size_t)t.cap);
    if (!t.slots) {
        fclose(f);
        return -1;
    }
    memset(t.slots, -1, sizeof(int) * (size_t)t.cap);
    int cap_pairs = 0, cap_images = 0, lineno = 0, rc = 0;
    char line[1024];
    *pairs = NULL;
    *npairs = 0;
    *images = NULL;
    *nimages = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char n1[256], n2[256];
        int a, b, extra;
        char path1[PATH_MAX], path2[PATH_MAX];
        int same;
        if (lineno == 1) continue; /* header: count or "folds count" */
        if (sscanf(line, "%255s %d %255s %d", n1, &a, n2, &b) == 4) {
            same = 0;
        } else if (sscanf(line, "%255s %d %d %n", n1, &a, &b, &extra) == 3) {
            strcpy(n2, n1);
            same = 1;
        } else if (line[strspn(line, " \t\r\n")] == '\0') {
            continue;
        } else {
            fprintf(stderr, "facekit: %s:%d: malformed pair line\n", file, lineno);
            rc = -1;
            break;
        }
        image_path(path1, sizeof path1, dir, n1, a);
        image_path(path2, sizeof path2, dir, n2, b);
        if (*npairs == cap_pairs) {
            cap_pairs = cap_pairs ? cap_pairs * 2 : 1024;
            eval_pair *p = realloc(*pairs, sizeof *p * (size_t)cap_pairs);
            if (!p) { rc = -1; break; }
            *pairs = p;
        }
        int ia = intern(&t, images, nimages, &cap_images, path1);
        int ib = intern(&t, images, nimages, &cap_images, path2);
        if (ia < 0 || ib < 0 || *nimages >= t.cap / 2) { rc = -1; break; }
        (*pairs)[(*npairs)++] = (eval_pair){ia, ib, same};
    }
    fclose(f);
    free(t.slots);
    if (rc == 0 && *npairs == 0) {
        fprintf(stderr, "facekit: %s: no pairs found\n", file);
        rc = -1;
    }
    return rc;
}

/* Worker: one context, claims images until none are left. */
static void *eval_worker(void *arg) {
    eval_job *job = arg;
    fk_context_options co;
    fk_context_options_init(&co);
    co.threads = 1;
    fk_context *ctx = NULL;
    if (fk_context_new(&co, &ctx) != FK_OK) return NULL;
    for (;;) {
        int i = atomic_fetch_add(&job->next, 1);
        if (i >= job->count) break;
        eval_image *im = &job->images[i];
        fk_image *img = NULL;
        fk_options o = *job->opt;
        o.image_names[0] = im->path;
        fk_status st = fk_image_load(im->path, 0, &img);
        if (st == FK_OK) st = fk_represent(ctx, img, &o, &im->faces);
        if (st == FK_ENOFACE) {
            o.detector = "skip";
            im->fallback = 1;
            st = fk_represent(ctx, img, &o, &im->faces);
        }
        if (st != FK_OK) {
            im->failed = 1;
            snprintf(im->error, sizeof im->error, "%s", fk_last_error());
        }
        fk_image_free(img);
        atomic_fetch_add(&job->done, 1);
    }
    fk_context_free(ctx);
    return NULL;
}

static int cmp_float(const void *x, const void *y) {
    float a = *(const float *)x, b = *(const float *)y;
    return a < b ? -1 : a > b;
}

/* Accuracy of "same iff d <= thr". */
static double accuracy_at(const float *d, const eval_pair *p, int n, float thr) {
    int ok = 0;
    for (int i = 0; i < n; i++) ok += ((d[i] <= thr) == p[i].same);
    return (double)ok / n;
}

/* The threshold (midpoint between consecutive distances) maximising
 * accuracy. */
static float best_threshold(const float *d, const eval_pair *p, int n, double *acc) {
    float *sorted = malloc(sizeof(float) * (size_t)n);
    if (!sorted) return 0;
    memcpy(sorted, d, sizeof(float) * (size_t)n);
    qsort(sorted, (size_t)n, sizeof(float), cmp_float);
    float best_t = sorted[0];
    double best = -1;
    for (int i = 0; i + 1 < n; i++) {
        float t = (sorted[i] + sorted[i + 1]) / 2;
        double a = accuracy_at(d, p, n, t);
        if (a > best) {
            best = a;
            best_t = t;
        }
    }
    free(sorted);
    *acc = best;
    return best_t;
}

int cmd_eval(cli_args *a) {
    const char *pairs_file = a->pairs_path, *dir = a->images_dir;
    if (!pairs_file || !dir || a->npositional) {
        fprintf(stderr, "facekit: usage: facekit eval --pairs FILE --images DIR [options]\n");
        return 2;
    }
    eval_pair *pairs;
    eval_image *images;
    int npairs, nimages;
    if (read_pairs(pairs_file, dir, &pairs, &npairs, &images, &nimages)) return 1;

    int threads = a->threads > 0 ? a->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    eval_job job = {.images = images, .count = nimages, .opt = &a->opt};
    atomic_init(&job.next, 0);
    atomic_init(&job.done, 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    for (int i = 0; i < threads; i++) pthread_create(&tids[i], NULL, eval_worker, &job);
    int tty = isatty(2);
    while (tty && atomic_load(&job.done) < nimages) {
        fprintf(stderr, "\rembedding %d/%d images", atomic_load(&job.done), nimages);
        usleep(200000);
    }
    for (int i = 0; i < threads; i++) pthread_join(tids[i], NULL);
    free(tids);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (tty) fprintf(stderr, "\r");

    int fallback = 0, failed = 0;
    for (int i = 0; i < nimages; i++) {
        fallback += images[i].fallback;
        if (images[i].failed) {
            failed++;
            fprintf(stderr, "facekit: %s\n", images[i].error);
        }
    }
    static const char *METRICS[] = {"cosine", "euclidean", "euclidean_l2", "angular"};
    float *d = malloc(sizeof(float) * (size_t)npairs);
    eval_pair *used = malloc(sizeof *used * (size_t)npairs);
    json_t *metrics = json_object();
    int nused = 0;
    for (int m = 0; m < 4; m++) {
        nused = 0;
        for (int i = 0; i < npairs; i++) {
            const eval_image *x = &images[pairs[i].a], *y = &images[pairs[i].b];
            if (x->failed || y->failed) continue;
            float best = 1e30f;
            for (int p = 0; p < x->faces.count; p++)
                for (int q = 0; q < y->faces.count; q++) {
                    float dist;
                    if (fk_distance(x->faces.faces[p].embedding, y->faces.faces[q].embedding,
                                    x->faces.faces[p].embedding_dim, METRICS[m], &dist) == FK_OK &&
                        dist < best)
                        best = dist;
                }
            d[nused] = best;
            used[nused++] = pairs[i];
        }
        float shipped = 0;
        fk_options o = a->opt;
        fk_threshold(o.model ? o.model : "Dlib", METRICS[m], &shipped);
        double best_acc = 0;
        float best_t = nused > 1 ? best_threshold(d, used, nused, &best_acc) : 0;
        json_object_set_new(metrics, METRICS[m],
                            json_pack("{s:f, s:f, s:f, s:f}", "threshold", (double)shipped,
                                      "accuracy", nused ? accuracy_at(d, used, nused, shipped) : 0.0,
                                      "best_threshold", (double)best_t,
                                      "best_accuracy", best_acc));
    }
    json_t *out = json_pack("{s:s, s:s, s:s, s:b, s:i, s:i, s:i, s:i, s:s, s:i, s:f, s:o}",
                            "model", a->opt.model, "detector_backend", a->opt.detector,
                            "pairs_file", pairs_file, "align", a->opt.align,
                            "pairs", npairs, "pairs_used", nused, "images", nimages,
                            "images_without_face", fallback,
                            "images_without_face_handling", "embedded with --detector skip",
                            "images_failed", failed,
                            "seconds", secs, "metrics", metrics);
    cli_print_json(out);
    free(d);
    free(used);
    for (int i = 0; i < nimages; i++) {
        fk_faces_free(&images[i].faces);
        free(images[i].path);
    }
    free(images);
    free(pairs);
    return 0;
}
