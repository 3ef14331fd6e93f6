/*
 * cmd_verify_embeddings.c - `facekit verify --embeddings A.json B.json`:
 * the verdict on embeddings saved earlier, with no image decoded and no
 * network run (fk_verify_embeddings).
 *
 * A file may hold what `facekit represent` prints (a list of faces with
 * "embedding" and "facial_area"), deepface's API answer ({"results":
 * [...]}), one face object, or a bare list of numbers. With several faces
 * in a file the closest pair across the two files decides, as verify does
 * for images. "-" reads one of the two from standard input.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

/* Bounds checked before anything is parsed: a represent file of 1000 faces
 * of 512 values is ~10 MB. */
#define MAX_JSON_BYTES ((size_t)64 << 20)
#define MAX_DIM 65536

typedef struct saved_face {
    float *v;
    int dim;
    json_t *area; /* borrowed from the file's JSON, or NULL */
} saved_face;

typedef struct saved_faces {
    saved_face *items;
    int count;
    json_t *root;
} saved_faces;

static void saved_free(saved_faces *s) {
    for (int i = 0; i < s->count; i++) free(s->items[i].v);
    free(s->items);
    json_decref(s->root);
    memset(s, 0, sizeof *s);
}

static int fail(const char *name, const char *what) {
    fprintf(stderr, "facekit: %s: %s\n", name, what);
    return -1;
}

/* One list of numbers into a new face of s. */
static int add_vector(saved_faces *s, const char *name, json_t *arr, json_t *area) {
    size_t n = json_array_size(arr);
    if (n == 0 || n > MAX_DIM) return fail(name, "an embedding must hold 1..65536 numbers");
    float *v = malloc(sizeof *v * n);
    saved_face *grown = realloc(s->items, sizeof *s->items * (size_t)(s->count + 1));
    if (!v || !grown) {
        free(v);
        if (grown) s->items = grown;
        return fail(name, "out of memory");
    }
    s->items = grown;
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(arr, i);
        if (!json_is_number(x) || !isfinite(json_number_value(x))) {
            free(v);
            return fail(name, "an embedding holds something that is not a finite number");
        }
        v[i] = (float)json_number_value(x);
    }
    s->items[s->count++] = (saved_face){v, (int)n, json_is_object(area) ? area : NULL};
    return 0;
}

/* A face object: {"embedding": [...], "facial_area": {...}, ...}. */
static int add_face(saved_faces *s, const char *name, json_t *face) {
    json_t *e = json_object_get(face, "embedding");
    if (!json_is_array(e)) return fail(name, "a face without an \"embedding\" list");
    return add_vector(s, name, e, json_object_get(face, "facial_area"));
}

static int read_saved(const char *path, saved_faces *s) {
    memset(s, 0, sizeof *s);
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "facekit: %s: cannot open: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat sb = {0};
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && (size_t)sb.st_size > MAX_JSON_BYTES) {
        if (f != stdin) fclose(f);
        return fail(path, "larger than 64 MB: not an embeddings file");
    }
    /* Read at most the bound (+1 to see a larger stream), then parse; a
     * regular file is read at its own size. */
    size_t cap = MAX_JSON_BYTES + 1;
    if (f != stdin && S_ISREG(sb.st_mode)) cap = (size_t)sb.st_size + 1;
    char *buf = malloc(cap);
    size_t len = buf ? fread(buf, 1, cap, f) : 0;
    int read_error = f && ferror(f);
    if (f != stdin) fclose(f);
    if (!buf) return fail(path, "out of memory");
    if (read_error || len > MAX_JSON_BYTES) {
        free(buf);
        return fail(path, read_error ? "read error" : "larger than 64 MB: not an embeddings file");
    }
    json_error_t err;
    s->root = json_loadb(buf, len, 0, &err);
    free(buf);
    if (!s->root) {
        fprintf(stderr, "facekit: %s: not JSON (line %d: %s)\n", path, err.line, err.text);
        return -1;
    }
    json_t *r = s->root, *results = json_object_get(r, "results");
    int rc = 0;
    if (json_is_array(results)) r = results;
    if (json_is_object(r)) {
        rc = add_face(s, path, r);
    } else if (json_is_array(r) && json_array_size(r) > 0 && json_is_number(json_array_get(r, 0))) {
        rc = add_vector(s, path, r, NULL);
    } else if (json_is_array(r)) {
        size_t i;
        json_t *face;
        json_array_foreach(r, i, face) {
            if (rc == 0) rc = json_is_object(face) ? add_face(s, path, face)
                                                   : fail(path, "a list entry is not a face object");
        }
    } else {
        rc = fail(path, "expected a list of faces (facekit represent's output) or of numbers");
    }
    if (rc == 0 && s->count == 0) rc = fail(path, "holds no embedding");
    if (rc) saved_free(s);
    return rc;
}

int cli_verify_embeddings(cli_args *a) {
    if (a->npositional != 2) {
        fprintf(stderr, "facekit: usage: facekit verify --embeddings A.json B.json [options]\n");
        return 2;
    }
    if (!strcmp(a->positional[0], "-") && !strcmp(a->positional[1], "-")) {
        fprintf(stderr, "facekit verify: only one of the two files can be standard input\n");
        return 2;
    }
    double t0 = cli_now_s();
    saved_faces x, y;
    if (read_saved(a->positional[0], &x)) return 1;
    if (read_saved(a->positional[1], &y)) {
        saved_free(&x);
        return 1;
    }
    fk_verify_result best = {0}, r;
    int bi = -1, bj = -1, rc = 0;
    for (int i = 0; i < x.count && !rc; i++)
        for (int j = 0; j < y.count && !rc; j++) {
            const saved_face *p = &x.items[i], *q = &y.items[j];
            if (p->dim != q->dim) {
                fprintf(stderr, "facekit: %s has embeddings of %d values, %s of %d: they come "
                        "from different models\n", a->positional[0], p->dim, a->positional[1],
                        q->dim);
                rc = 1;
            } else if (fk_verify_embeddings(p->v, q->v, p->dim, &a->opt, &r) != FK_OK) {
                rc = cli_fail();
            } else if (bi < 0 || r.distance < best.distance) {
                best = r;
                bi = i;
                bj = j;
            }
        }
    if (!rc) {
        json_t *a1 = x.items[bi].area, *a2 = y.items[bj].area;
        json_t *out = json_pack(
            "{s:b, s:f, s:f, s:f, s:s, s:n, s:s, s:{s:O?, s:O?}, s:f}", "verified", best.verified,
            "distance", (double)best.distance, "threshold", (double)best.threshold, "confidence",
            (double)best.confidence, "model", best.model, "detector_backend",
            "similarity_metric", best.metric, "facial_areas", "img1", a1, "img2", a2, "time",
            cli_now_s() - t0);
        cli_print_json(out);
    }
    saved_free(&x);
    saved_free(&y);
    return rc;
}
