/*
 * gallery_db.c - the gallery handle: open picks the storage backend from
 * the path (a postgresql:// or postgres:// URI -> gallery_pg.c, anything
 * else a file -> gallery_sqlite.c), resolves the configuration, and the
 * public calls check their arguments here and dispatch to the backend.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

#include "core/error.h"
#include "detect/detectors.h"
#include "gallery/gallery.h"
#include "gallery/gallery_ann.h"
#include "represent/recognizers.h"
#include "verify/verify.h"

int fk__gallery_is_pg_uri(const char *path) {
    return path && (!strncasecmp(path, "postgresql://", 13) || !strncasecmp(path, "postgres://", 11));
}

/* ---- transactions and writes: dispatch ---------------------------------- */

fk_status fk__gallery_begin(fk_gallery *g) { return g->be->begin(g); }

fk_status fk__gallery_commit(fk_gallery *g) {
    g->cache_valid = 0; /* this handle's own write: reload on the next search */
    return g->be->commit(g);
}

void fk__gallery_rollback(fk_gallery *g) { g->be->rollback(g); }

fk_status fk__gallery_put_image(fk_gallery *g, const char *path, const char *identity,
                               int64_t size, int64_t mtime_ns, const unsigned char *hash,
                               int status, const fk_faces *faces, int64_t *face_id) {
    return g->be->put_image(g, path, identity, size, mtime_ns, hash, status, faces, face_id);
}

fk_status fk__gallery_touch_image(fk_gallery *g, int64_t image_id, int64_t size,
                                 int64_t mtime_ns) {
    return g->be->touch_image(g, image_id, size, mtime_ns);
}

fk_status fk__gallery_delete_image(fk_gallery *g, int64_t image_id) {
    return g->be->delete_image(g, image_id);
}

fk_status fk__gallery_count_faces(fk_gallery *g, int *count) {
    return g->be->count_faces(g, count);
}

/* The search method and ANN index kind (names checked, canonical static
 * strings kept), and the search threads. */
static fk_status resolve_search(fk_gallery *g) {
    const char *m = g->opt.search_method ? g->opt.search_method : "exact";
    const char *k = g->opt.ann_index ? g->opt.ann_index : "hnsw";
    if (!strcmp(m, "exact")) g->opt.search_method = "exact";
    else if (!strcmp(m, "ann")) g->opt.search_method = "ann";
    else
        return fk__fail(FK_EINVAL, "unknown search method '%s' (valid: exact, ann)", m);
    if (!strcmp(k, "hnsw")) {
        g->opt.ann_index = "hnsw";
        g->ann_kind = FK_FAISS_HNSW;
    } else if (!strcmp(k, "ivfpq")) {
        g->opt.ann_index = "ivfpq";
        g->ann_kind = FK_FAISS_IVFPQ;
    } else {
        return fk__fail(FK_EINVAL, "unknown ANN index '%s' (valid: hnsw, ivfpq)", k);
    }
    g->use_ann = !strcmp(g->opt.search_method, "ann");
    const char *env = getenv("FACEKIT_THREADS");
    long t = env && *env ? strtol(env, NULL, 10) : 0;
    if (t <= 0) t = sysconf(_SC_NPROCESSORS_ONLN);
    g->threads = t < 1 ? 1 : t > 256 ? 256 : (int)t;
    return FK_OK;
}

/* ---- open / close ------------------------------------------------------- */

/* Canonical option names, the embedding size and the threshold. */
static fk_status resolve(fk_gallery *g, const fk_options *in) {
    fk_options_init(&g->opt);
    if (in) g->opt = *in;
    const fk_model_desc *det;
    const fk_model_desc *rec;
    fk_status st = fk__detector_find(g->opt.detector ? g->opt.detector : "ssd", &det);
    if (st == FK_OK) st = fk__recognizer_find(g->opt.model ? g->opt.model : "Dlib", &rec);
    if (st == FK_OK) st = fk__metric_name(g->opt.metric ? g->opt.metric : "cosine", &g->opt.metric);
    if (st != FK_OK) return st;
    g->opt.detector = det->name;
    g->opt.model = rec->name;
    g->opt.align = g->opt.align ? 1 : 0;
    g->opt.image_names[0] = g->opt.image_names[1] = NULL;
    g->dim = rec->dim;
    st = resolve_search(g);
    if (st != FK_OK) return st;
    /* Each recognizer has one fixed input normalization today; the column
     * is there so a second one never mixes with the first. */
    g->normalization = "base";
    if (g->opt.threshold > 0) g->threshold = g->opt.threshold;
    else return fk_threshold(g->opt.model, g->opt.metric, &g->threshold);
    return FK_OK;
}

fk_status fk_gallery_open(const char *path, const fk_options *opt, int flags,
                          fk_gallery **out) {
    fk__clear_error();
    if (!path || !*path || !out) return fk__fail(FK_EINVAL, "fk_gallery_open: path and out are required");
    *out = NULL;
    fk_gallery *g = calloc(1, sizeof *g);
    if (!g) return fk__fail(FK_ENOMEM, "out of memory");
    g->be = fk__gallery_is_pg_uri(path) ? &fk__gallery_pg_backend : &fk__gallery_sqlite_backend;
    /* The PostgreSQL backend replaces this with the URI less its password
     * once it has parsed it. */
    if (snprintf(g->path, sizeof g->path, "%s", g->be == &fk__gallery_sqlite_backend ? path
                 : "postgresql://") >= (int)sizeof g->path) {
        free(g);
        return fk__fail(FK_EINVAL, "%s: path too long", path);
    }
    fk_status st = resolve(g, opt);
    if (st == FK_OK) st = g->be->open(g, path, flags);
    if (st != FK_OK) {
        fk_gallery_close(g);
        return st;
    }
    *out = g;
    return FK_OK;
}

fk_status fk__gallery_alloc_rows(fk_gallery *g, int count) {
    fk__gallery_drop_cache(g);
    size_t rows = count > 0 ? (size_t)count : 1;
    g->matrix = malloc(rows * (size_t)g->dim * sizeof(float));
    g->sqnorm = malloc(rows * sizeof(float));
    g->face_ids = malloc(rows * sizeof(int64_t));
    g->image_ids = malloc(rows * sizeof(int64_t));
    if (!g->matrix || !g->sqnorm || !g->face_ids || !g->image_ids) {
        fk__gallery_drop_cache(g);
        return fk__fail(FK_ENOMEM, "%s: out of memory loading %d embeddings", g->path, count);
    }
    return FK_OK;
}

void fk__gallery_drop_cache(fk_gallery *g) {
    free(g->matrix);
    free(g->sqnorm);
    free(g->face_ids);
    free(g->image_ids);
    g->matrix = g->sqnorm = NULL;
    g->face_ids = g->image_ids = NULL;
    g->n = 0;
    g->cache_valid = 0;
}

void fk_gallery_close(fk_gallery *g) {
    if (!g) return;
    fk__gallery_drop_cache(g);
    fk__gallery_ann_free(g->ann);
    fk__pool_free(g->pool);
    if (g->be) g->be->close(g);
    free(g);
}

/* ---- list / remove / stats / register ----------------------------------- */

void fk__gallery_identity_from_path(const char *rel, char *buf, size_t cap) {
    const char *slash = strchr(rel, '/');
    size_t len;
    if (slash) {
        len = (size_t)(slash - rel);
    } else {
        const char *dot = strrchr(rel, '.');
        len = dot && dot != rel ? (size_t)(dot - rel) : strlen(rel);
        size_t full = len;
        while (len > 0 && strchr("0123456789_-. ", rel[len - 1])) len--;
        if (len == 0) len = full; /* "0001.jpg": keep the name as it is */
    }
    if (len >= cap) len = cap - 1;
    memcpy(buf, rel, len);
    buf[len] = '\0';
}

fk_status fk_gallery_list(fk_gallery *g, fk_gallery_identity **items, int *count) {
    fk__clear_error();
    if (!g || !items || !count) return fk__fail(FK_EINVAL, "fk_gallery_list: bad arguments");
    *items = NULL;
    *count = 0;
    return g->be->list(g, items, count);
}

void fk_gallery_identities_free(fk_gallery_identity *items, int count) {
    for (int i = 0; items && i < count; i++) free(items[i].name);
    free(items);
}

fk_status fk_gallery_remove(fk_gallery *g, const char *identity, int *faces_removed) {
    fk__clear_error();
    if (!g || !identity) return fk__fail(FK_EINVAL, "fk_gallery_remove: bad arguments");
    int faces = 0;
    fk_status st = g->be->remove(g, identity, &faces);
    if (st != FK_OK) return st;
    g->cache_valid = 0;
    if (faces_removed) *faces_removed = faces;
    return FK_OK;
}

fk_status fk_gallery_stats_get(fk_gallery *g, fk_gallery_stats *out) {
    fk__clear_error();
    if (!g || !out) return fk__fail(FK_EINVAL, "fk_gallery_stats_get: bad arguments");
    memset(out, 0, sizeof *out);
    out->model = g->opt.model;
    out->detector = g->opt.detector;
    out->normalization = g->normalization;
    out->align = g->opt.align;
    out->dim = g->dim;
    out->backend = g->be->name;
    out->location = g->path;
    return g->be->stats(g, out);
}

fk_status fk_gallery_register(fk_gallery *g, fk_context *ctx, const fk_image *img,
                              const char *identity, const char *source, int64_t *face_id) {
    fk__clear_error();
    if (!g || !ctx || !img || !identity || !*identity)
        return fk__fail(FK_EINVAL, "fk_gallery_register: gallery, context, image and a "
                       "non-empty identity are required");
    if (!source) source = "image";
    fk_faces faces = {0};
    fk_options o = g->opt;
    o.image_names[0] = source;
    fk_status st = fk_represent(ctx, img, &o, &faces);
    if (st == FK_OK && faces.count == 0)
        st = fk__fail(FK_ENOFACE, "%s: no face detected", source);
    if (st != FK_OK) return st;
    /* The most confident face (fk_represent sorts by confidence). */
    fk_faces first = {faces.faces, 1};
    int64_t id = 0;
    st = fk__gallery_begin(g);
    if (st == FK_OK)
        st = fk__gallery_put_image(g, source, identity, 0, 0, NULL, FK_IMG_OK, &first, &id);
    if (st == FK_OK) st = fk__gallery_commit(g);
    else fk__gallery_rollback(g);
    fk_faces_free(&faces);
    if (st == FK_OK && face_id) *face_id = id;
    return st;
}
