/*
 * gallery_db.c - the gallery handle: open picks the storage backend from
 * the path (a postgresql:// or postgres:// URI -> gallery_pg.c, anything
 * else a file -> gallery_sqlite.c), resolves the configuration, and the
 * public calls check their arguments here and dispatch to the backend.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

#include "core/error.h"
#include "gallery/gallery.h"
#include "gallery/gallery_ann.h"

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
                               int status, const fk_faces *faces, int64_t *face_ids) {
    return g->be->put_image(g, path, identity, size, mtime_ns, hash, status, faces, face_ids);
}

fk_status fk__gallery_find_hash(fk_gallery *g, const unsigned char *hash, int64_t *image_id,
                               char **identity, char **path) {
    return g->be->find_hash(g, hash, image_id, identity, path);
}

fk_status fk__gallery_path_taken(fk_gallery *g, const char *path, int *taken) {
    return g->be->path_taken(g, path, taken);
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
void fk_gallery_options_init(fk_gallery_options *go) {
    if (!go) return;
    memset(go, 0, sizeof *go);
    go->search_method = "exact";
    go->ann_index = "hnsw";
}

static fk_status resolve_search(fk_gallery *g, const fk_gallery_options *in) {
    fk_gallery_options_init(&g->gopt);
    if (in) g->gopt = *in;
    g->gopt.create = g->gopt.create ? 1 : 0;
    const char *m = g->gopt.search_method ? g->gopt.search_method : "exact";
    const char *k = g->gopt.ann_index ? g->gopt.ann_index : "hnsw";
    /* Ignoring case, as every name in fk_options. */
    if (!strcasecmp(m, "exact")) g->gopt.search_method = "exact";
    else if (!strcasecmp(m, "ann")) g->gopt.search_method = "ann";
    else
        return fk__fail(FK_EINVAL, "unknown search method '%s' (valid: exact, ann)", m);
    if (!strcasecmp(k, "hnsw")) {
        g->gopt.ann_index = "hnsw";
        g->ann_kind = FK_FAISS_HNSW;
    } else if (!strcasecmp(k, "ivfpq")) {
        g->gopt.ann_index = "ivfpq";
        g->ann_kind = FK_FAISS_IVFPQ;
    } else {
        return fk__fail(FK_EINVAL, "unknown ANN index '%s' (valid: hnsw, ivfpq)", k);
    }
    g->use_ann = !strcmp(g->gopt.search_method, "ann");
#if !FK_WITH_FAISS
    if (g->use_ann) return fk__fail(FK_EINVAL, "%s", FK__NO_FAISS);
#endif
    const char *env = getenv("FACEKIT_THREADS");
    long t = env && *env ? strtol(env, NULL, 10) : 0;
    if (t <= 0) t = sysconf(_SC_NPROCESSORS_ONLN);
    g->threads = t < 1 ? 1 : t > 256 ? 256 : (int)t;
    return FK_OK;
}

/* ---- open / close ------------------------------------------------------- */

/* The catalogue's spelling of `name` among the models of `role`, and its
 * output size; through the public fk_models_list, as the gallery sits above
 * the pipeline. NULL when there is no such model (fk_options_check has
 * already refused unknown names, so only "skip" gets here for detectors). */
static const char *catalogue_name(const fk_model_info *infos, int n, const char *role,
                                  const char *name, int *dim) {
    for (int i = 0; i < n; i++)
        if (!strcmp(infos[i].role, role) && !strcasecmp(infos[i].name, name)) {
            if (dim) *dim = infos[i].output_dim;
            return infos[i].name;
        }
    return NULL;
}

/* Canonical option names, the embedding size and the threshold. */
static fk_status resolve(fk_gallery *g, const fk_options *in,
                         const fk_gallery_options *gin) {
    /* Names the caller left NULL take the pipeline's defaults, from the one
     * place that states them. */
    fk_options def;
    fk_options_init(&def);
    g->opt = in ? *in : def;
    if (!g->opt.detector) g->opt.detector = def.detector;
    if (!g->opt.model) g->opt.model = def.model;
    if (!g->opt.metric) g->opt.metric = def.metric;
    fk_status st = fk_options_check(&g->opt);
    if (st != FK_OK) return st;
    static const char *const METRICS[] = {"cosine", "euclidean", "euclidean_l2", "angular"};
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(g->opt.metric, METRICS[i])) g->opt.metric = METRICS[i];
    fk_model_info infos[64];
    int n = 0;
    st = fk_models_list(NULL, infos, 64, &n);
    if (st != FK_OK) return st;
    if (n > 64) n = 64;
    const char *det = !strcasecmp(g->opt.detector, "skip")
                          ? "skip"
                          : catalogue_name(infos, n, "detector", g->opt.detector, NULL);
    const char *rec = catalogue_name(infos, n, "recognizer", g->opt.model, &g->dim);
    if (!det || !rec)
        return fk__fail(FK_EINVAL, "fk_gallery_open: model '%s' or detector '%s' not in the catalogue",
                        g->opt.model, g->opt.detector);
    g->opt.detector = det;
    g->opt.model = rec;
    g->opt.align = g->opt.align ? 1 : 0;
    g->opt.image_names[0] = g->opt.image_names[1] = NULL;
    st = resolve_search(g, gin);
    if (st != FK_OK) return st;
    /* Embeddings made with another input normalization are another
     * configuration (fk_options_check above has refused unknown names and
     * overrides a model cannot take). */
    static const char *const NORMS[] = {"base", "raw", "Facenet", "Facenet2018", "VGGFace",
                                        "VGGFace2", "ArcFace"};
    g->normalization = "base";
    for (int i = 0; g->opt.normalization && i < 7; i++)
        if (!strcasecmp(g->opt.normalization, NORMS[i])) g->normalization = NORMS[i];
    g->opt.normalization = g->normalization;
    /* Stored embeddings are the model's own: the thresholds are measured on
     * them, and cosine and euclidean_l2 normalise anyway. */
    if (g->opt.l2_normalize)
        return fk__fail(FK_EINVAL, "fk_gallery_open: l2_normalize is not for galleries (they "
                        "store embeddings as the model gives them; use metric euclidean_l2)");
    if (g->opt.threshold > 0) g->threshold = g->opt.threshold;
    else return fk_threshold(g->opt.model, g->opt.metric, &g->threshold);
    return FK_OK;
}

fk_status fk_gallery_open(const char *path, const fk_options *opt,
                          const fk_gallery_options *go, fk_gallery **out) {
    fk__clear_error();
    if (!path || !*path || !out) return fk__fail(FK_EINVAL, "fk_gallery_open: path and out are required");
    *out = NULL;
    fk_gallery *g = calloc(1, sizeof *g);
    if (!g) return fk__fail(FK_ENOMEM, "out of memory");
#if FK_WITH_POSTGRESQL
    g->be = fk__gallery_is_pg_uri(path) ? &fk__gallery_pg_backend : &fk__gallery_sqlite_backend;
#else
    if (fk__gallery_is_pg_uri(path)) {
        free(g);
        return fk__fail(FK_EINVAL, "%s", FK__NO_POSTGRESQL);
    }
    g->be = &fk__gallery_sqlite_backend;
#endif
    /* The PostgreSQL backend replaces this with the URI less its password
     * once it has parsed it. */
    if (snprintf(g->path, sizeof g->path, "%s", g->be == &fk__gallery_sqlite_backend ? path
                 : "postgresql://") >= (int)sizeof g->path) {
        free(g);
        return fk__fail(FK_EINVAL, "%s: path too long", path);
    }
    fk_status st = resolve(g, opt, go);
    if (st == FK_OK) st = g->be->open(g, path);
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

/* The handle's configuration holds no faces: when other configurations of
 * the gallery do, say which and how to select them, instead of answering
 * "no match" to a search that could never match. */
fk_status fk__gallery_check_other_configs(fk_gallery *g) {
    fk__gallery_config_faces c[3];
    int n = 0;
    fk_status st = g->be->other_configs(g, c, 3, &n);
    if (st != FK_OK || n == 0) return st;
    char held[640] = "";
    size_t at = 0;
    for (int i = 0; i < n && i < 3 && at < sizeof held; i++)
        at += (size_t)snprintf(held + at, sizeof held - at, "%s%d face%s of model %s, detector "
                               "%s, align %s%s%s", i == 0 ? "" : i + 1 == n ? " and " : ", ",
                               c[i].faces, c[i].faces == 1 ? "" : "s", c[i].model,
                               c[i].detector, c[i].align ? "on" : "off",
                               strcmp(c[i].normalization, "base") ? ", normalization " : "",
                               strcmp(c[i].normalization, "base") ? c[i].normalization : "");
    if (n > 3 && at < sizeof held)
        snprintf(held + at, sizeof held - at, " and %d more configurations", n - 3);
    char hint[256] = "";
    at = 0;
    if (strcmp(c[0].model, g->opt.model))
        at += (size_t)snprintf(hint + at, sizeof hint - at, "--model %s", c[0].model);
    if (strcmp(c[0].detector, g->opt.detector) && at < sizeof hint)
        at += (size_t)snprintf(hint + at, sizeof hint - at, "%s--detector %s", at ? " " : "",
                               c[0].detector);
    if (c[0].align != g->opt.align && at < sizeof hint)
        at += (size_t)snprintf(hint + at, sizeof hint - at, "%s--align %s", at ? " " : "",
                               c[0].align ? "true" : "false");
    if (strcmp(c[0].normalization, g->normalization) && at < sizeof hint)
        snprintf(hint + at, sizeof hint - at, "%s--normalization %s", at ? " " : "",
                 c[0].normalization);
    int base = !strcmp(g->normalization, "base");
    return fk__fail(FK_EINVAL, "%s holds no faces for model %s, detector %s, align %s%s%s; it "
                    "holds %s: pass %s", g->path, g->opt.model, g->opt.detector,
                    g->opt.align ? "on" : "off", base ? "" : ", normalization ",
                    base ? "" : g->normalization, held, hint);
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

fk_status fk_gallery_list(fk_gallery *g, fk_gallery_identities *out) {
    fk__clear_error();
    if (!g || !out) return fk__fail(FK_EINVAL, "fk_gallery_list: gallery and out are required");
    memset(out, 0, sizeof *out);
    return g->be->list(g, out);
}

void fk_gallery_identities_free(fk_gallery_identities *list) {
    if (!list) return;
    for (int i = 0; list->items && i < list->count; i++) free(list->items[i].name);
    free(list->items);
    list->items = NULL;
    list->count = 0;
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

fk_status fk_gallery_get_stats(fk_gallery *g, fk_gallery_stats *out) {
    fk__clear_error();
    if (!g || !out) return fk__fail(FK_EINVAL, "fk_gallery_get_stats: bad arguments");
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

/* ---- register ----------------------------------------------------------- */

void fk_gallery_register_options_init(fk_gallery_register_options *ro) {
    if (ro) memset(ro, 0, sizeof *ro);
}

void fk_gallery_register_result_free(fk_gallery_register_result *r) {
    if (!r) return;
    free(r->path);
    fk_faces_free(&r->faces);
    free(r->face_ids);
    free(r->duplicate_identity);
    free(r->duplicate_path);
    memset(r, 0, sizeof *r);
}

/* SHA-256 of the decoded pixels, after their width, height and channels
 * (little-endian int32 each): the same picture is the same image whether it
 * came from a file, stdin or base64, and whatever its stride. */
static fk_status pixel_hash(const fk_image *img, unsigned char out[32]) {
    unsigned char head[12];
    int dims[3] = {img->width, img->height, img->channels};
    for (int i = 0; i < 3; i++)
        for (int b = 0; b < 4; b++) head[4 * i + b] = (unsigned char)((uint32_t)dims[i] >> (8 * b));
    size_t row = (size_t)img->width * (size_t)img->channels;
    size_t stride = img->stride ? img->stride : row;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) && EVP_DigestUpdate(c, head, sizeof head);
    for (int y = 0; ok && y < img->height; y++)
        ok = EVP_DigestUpdate(c, img->data + (size_t)y * stride, row);
    unsigned int len = 0;
    ok = ok && EVP_DigestFinal_ex(c, out, &len) && len == 32;
    EVP_MD_CTX_free(c);
    return ok ? FK_OK : fk__fail(FK_ENOMEM, "hashing the image: out of memory");
}

/* A path for the new image: `source`, or source#2, #3.. when another image
 * of this configuration has that name (two photos piped on stdin are two
 * images; the indexer's rows are replaced by path, register's never are). */
static fk_status free_path(fk_gallery *g, const char *source, char **out) {
    size_t cap = strlen(source) + 16;
    char *p = malloc(cap);
    if (!p) return fk__fail(FK_ENOMEM, "out of memory");
    snprintf(p, cap, "%s", source);
    fk_status st = FK_OK;
    for (int n = 2;; n++) {
        int taken = 0;
        st = fk__gallery_path_taken(g, p, &taken);
        if (st != FK_OK || !taken) break;
        snprintf(p, cap, "%s#%d", source, n);
    }
    if (st != FK_OK) {
        free(p);
        return st;
    }
    *out = p;
    return FK_OK;
}

fk_status fk_gallery_register(fk_gallery *g, fk_context *ctx, const fk_image *img,
                              const char *identity, const char *source,
                              const fk_gallery_register_options *ro,
                              fk_gallery_register_result *out) {
    fk__clear_error();
    if (out) memset(out, 0, sizeof *out);
    if (!g || !ctx || !img || !img->data || !identity || !*identity || !out)
        return fk__fail(FK_EINVAL, "fk_gallery_register: gallery, context, image, a "
                       "non-empty identity and out are required");
    fk_gallery_register_options def;
    fk_gallery_register_options_init(&def);
    if (!ro) ro = &def;
    if (ro->max_faces < 0)
        return fk__fail(FK_EINVAL, "fk_gallery_register: max_faces %d (0: every face)",
                        ro->max_faces);
    if (!source || !*source) source = "image";
    unsigned char hash[32];
    fk_status st = pixel_hash(img, hash);
    if (st != FK_OK) return st;
    /* A duplicate is found before the image is embedded (cheap), and
     * again inside the write transaction below (another process may have
     * registered it meanwhile). */
    int64_t dup_id = 0;
    if (!ro->allow_duplicates) {
        st = fk__gallery_find_hash(g, hash, &dup_id, &out->duplicate_identity,
                                   &out->duplicate_path);
        if (st != FK_OK || dup_id > 0) {
            out->duplicate = st == FK_OK;
            if (st != FK_OK) fk_gallery_register_result_free(out);
            return st;
        }
    }
    fk_options o = g->opt;
    o.image_names[0] = source;
    if (ro->max_faces > 0) o.max_faces = ro->max_faces;
    /* With anti_spoofing, fk_represent refuses a spoofed photo (FK_ESPOOF),
     * as deepface's register does: nothing is stored. */
    st = fk_represent(ctx, img, &o, &out->faces);
    if (st == FK_OK && out->faces.count == 0)
        st = fk__fail(FK_ENOFACE, "%s: no face detected", source);
    if (st == FK_OK) {
        out->face_ids = calloc((size_t)out->faces.count, sizeof *out->face_ids);
        if (!out->face_ids) st = fk__fail(FK_ENOMEM, "out of memory");
    }
    if (st != FK_OK) {
        fk_gallery_register_result_free(out);
        return st;
    }
    /* The duplicate check, the free path and the write in one
     * transaction: two processes registering the same photo at once store
     * it once. */
    st = fk__gallery_begin(g);
    if (st == FK_OK) {
        st = fk__gallery_find_hash(g, hash, &dup_id, &out->duplicate_identity,
                                   &out->duplicate_path);
        if (st == FK_OK && dup_id > 0 && !ro->allow_duplicates) {
            out->duplicate = 1;
            fk__gallery_rollback(g);
            fk_faces_free(&out->faces);
            free(out->face_ids);
            out->face_ids = NULL;
            return FK_OK;
        }
        if (st == FK_OK && !dup_id) {
            free(out->duplicate_identity);
            free(out->duplicate_path);
            out->duplicate_identity = out->duplicate_path = NULL;
        }
        if (st == FK_OK) st = free_path(g, source, &out->path);
        if (st == FK_OK)
            st = fk__gallery_put_image(g, out->path, identity, 0, 0, hash, FK_IMG_OK,
                                       &out->faces, out->face_ids);
        if (st == FK_OK) st = fk__gallery_commit(g);
        else fk__gallery_rollback(g);
    }
    if (st != FK_OK) fk_gallery_register_result_free(out);
    return st;
}
