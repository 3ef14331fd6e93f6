/*
 * gallery_ann.c - the gallery's approximate nearest-neighbour index.
 *
 * What it holds: a faiss index (HNSW over the full vectors by default, or
 * IVF-PQ) of the rows of the handle's search matrix, plus, per faiss
 * position, the gallery face id and a fingerprint of the embedding it was
 * built from. Positions are added in ascending face id order, so the ids
 * are sorted and the last one is the high-water mark.
 *
 * Where it lives: beside the gallery, one file per configuration, index
 * kind and metric family ("gallery.db.c1-hnsw-ip.ann"), so two
 * configurations or kinds never overwrite each other's index. Written to a
 * temporary file in the same folder and renamed into place, so a reader
 * sees the old file or the new one, never half of one.
 *
 * File layout (native byte order, checked by the magic):
 *   header (64 bytes): magic "FKANNIX1", version, kind, dim, l2, config id,
 *       positions, payload bytes, payload checksum, build recipe
 *   payload: face ids (int64 x positions), fingerprints (uint32 x
 *       positions), then faiss's own serialization of the index.
 * The checksum covers the whole payload and is verified before faiss reads
 * a byte, so a truncated or damaged file is never parsed; one built for
 * another configuration / kind / dimension, or with other build
 * parameters (the recipe stamp: HNSW's links and build beam, IVF-PQ's
 * sizing rules), is recognised by its header.
 * Either way the index is rebuilt from the gallery and the reason recorded
 * (fk_gallery_get_ann_info's note; the CLI prints it as a warning).
 *
 * Keeping it current: every time the search matrix is (re)loaded the index
 * is reconciled with it by a merge walk over the two sorted id lists:
 *   - faces above the high-water mark are new: added to the index;
 *   - positions whose face is gone (or whose fingerprint changed: SQLite
 *     may reuse the largest rowid after a delete) are dead: left out of
 *     every search through a faiss ID selector;
 *   - a face at or below the high-water mark that the index lacks can only
 *     be a reused id: the index is rebuilt;
 *   - once a quarter of the positions are dead the index is rebuilt.
 * Candidates from faiss are then re-ranked by their exact distance from
 * the matrix, so the distances reported are exact and a stale position can
 * at worst cost recall, never give a wrong distance or a removed face.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/error.h"
#include "gallery/gallery.h"
#include "gallery/gallery_ann.h"

#define ANN_MAGIC "FKANNIX1"
#define ANN_VERSION 2 /* 2: the recipe stamp in the header */
#define ANN_HEADER 64

/* HNSW: 32 links per node (64 at the bottom layer), build beam 80. Chosen
 * at 1M x 128 rows of the bench's data (bench/bench_search.c, 2 threads,
 * quiet machine, search beam 64): 24 / 40 builds in 453 s but reaches only
 * recall@10 0.855 (0.953 needs beam 256, at 3.8 ms a query, 5.9x faster
 * than exact); 32 / 80 builds in 960 s and reaches 0.992 at 0.74-0.90 ms,
 * 22-27x faster than exact. At 200k rows 24 / 40 had looked enough (0.997):
 * recall falls as the graph grows, so the choice is made at the size the
 * index is for. The build is paid once; later registrations are added
 * incrementally. */
#ifndef ANN_HNSW_M
#define ANN_HNSW_M 32
#endif
#ifndef ANN_HNSW_EFC
#define ANN_HNSW_EFC 80
#endif
/* Search beam: max(this, 4 x candidates). 64 on 32 / 80 at 1M rows:
 * recall@10 0.992; 128 costs 1.8x the time for 0.999. */
#define ANN_HNSW_EF_SEARCH 64
/* IVF-PQ's sizing rules (nlist, training sample, sub-quantizers, nprobe):
 * bump when they change, so that files built by the old rules rebuild. */
#define ANN_IVFPQ_RECIPE 2

struct fk_gallery_ann {
    fk_faiss *index;
    int kind, l2, dim;
    int64_t n;            /* positions */
    int64_t *ids;         /* face id per position, ascending */
    uint32_t *fp;         /* embedding fingerprint per position */
    int *row;             /* matrix row per position; -1: dead */
    unsigned char *allow; /* bitmap over positions: 1 = live */
    int64_t ndead;
    int64_t gen;          /* g->cache_gen this was reconciled with */
};

typedef struct ann_header {
    char magic[8];
    uint32_t version, kind, dim, l2;
    int64_t config_id, n;
    uint64_t payload_bytes, checksum;
    uint32_t recipe; /* ann_recipe(kind): the build parameters */
    uint32_t reserved;
} ann_header;

_Static_assert(sizeof(ann_header) == ANN_HEADER, "ann header is 64 bytes");

/* ---- checksum ------------------------------------------------------------ */

static uint64_t mix(uint64_t h, uint64_t w) {
    h ^= w;
    h *= 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 29);
}

void fk__hash_init(fk_hash *h) {
    memset(h, 0, sizeof *h);
    h->h = 0x6A09E667F3BCC908ULL;
}

void fk__hash_update(fk_hash *h, const void *data, size_t n) {
    const unsigned char *p = data;
    h->total += n;
    while (n > 0 && h->ntail > 0) {
        h->tail[h->ntail++] = *p++;
        n--;
        if (h->ntail == 8) {
            uint64_t w;
            memcpy(&w, h->tail, 8);
            h->h = mix(h->h, w);
            h->ntail = 0;
        }
    }
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h->h = mix(h->h, w);
    }
    while (n-- > 0) h->tail[h->ntail++] = *p++;
}

uint64_t fk__hash_final(const fk_hash *h) {
    uint64_t w = 0;
    memcpy(&w, h->tail, (size_t)h->ntail);
    return mix(mix(h->h, w), h->total);
}

/* A fingerprint of a matrix row: 16 evenly spaced floats, hashed. */
static uint32_t row_fingerprint(const float *row, int dim) {
    fk_hash h;
    fk__hash_init(&h);
    for (int i = 0; i < 16; i++) {
        float v = row[(size_t)i * (size_t)dim / 16];
        fk__hash_update(&h, &v, sizeof v);
    }
    uint64_t x = fk__hash_final(&h);
    return (uint32_t)(x ^ (x >> 32));
}

/* ---- small helpers -------------------------------------------------------- */

const char *fk__gallery_ann_kind_name(int kind) {
    return kind == FK_FAISS_IVFPQ ? "ivfpq" : "hnsw";
}

/* The stamp of the parameters an index of `kind` is built with. */
static uint32_t ann_recipe(int kind) {
    if (kind == FK_FAISS_IVFPQ) return 0x49560000u | ANN_IVFPQ_RECIPE; /* "IV" */
    return (uint32_t)ANN_HNSW_M << 16 | (uint32_t)ANN_HNSW_EFC;
}

static int is_l2(const fk_gallery *g) { return strcmp(g->opt.metric, "euclidean") == 0; }

fk_status fk__gallery_ann_path(const fk_gallery *g, char *buf, size_t cap) {
    int w = snprintf(buf, cap, "%s.c%lld-%s-%s.ann", g->path, (long long)g->config_id,
                     fk__gallery_ann_kind_name(g->ann_kind), is_l2(g) ? "l2" : "ip");
    if (w < 0 || (size_t)w >= cap) return fk__fail(FK_EINVAL, "%s: path too long", g->path);
    return FK_OK;
}

static long min_rows(void) {
    const char *env = getenv("FACEKIT_ANN_MIN_ROWS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (!*end && v >= 0) return v;
    }
    return FK_ANN_MIN_ROWS;
}

static void note(fk_gallery *g, const char *fmt, const char *detail) {
    snprintf(g->ann_info.note, sizeof g->ann_info.note, fmt, detail);
}

void fk__gallery_ann_free(fk_gallery_ann *a) {
    if (!a) return;
    fk__faiss_free(a->index);
    free(a->ids);
    free(a->fp);
    free(a->row);
    free(a->allow);
    free(a);
}

/* Grow the per-position arrays to hold `n` positions (row/allow sized too). */
static fk_status ann_reserve(fk_gallery_ann *a, int64_t n) {
    size_t cnt = n > 0 ? (size_t)n : 1;
    int64_t *ids = realloc(a->ids, cnt * sizeof *ids);
    if (ids) a->ids = ids;
    uint32_t *fp = realloc(a->fp, cnt * sizeof *fp);
    if (fp) a->fp = fp;
    int *row = realloc(a->row, cnt * sizeof *row);
    if (row) a->row = row;
    unsigned char *allow = realloc(a->allow, (cnt + 7) / 8);
    if (allow) a->allow = allow;
    if (!ids || !fp || !row || !allow)
        return fk__fail(FK_ENOMEM, "out of memory for the ANN index (%lld faces)", (long long)n);
    return FK_OK;
}

static void set_allow(fk_gallery_ann *a, int64_t pos, int live) {
    if (live) a->allow[pos / 8] |= (unsigned char)(1u << (pos % 8));
    else a->allow[pos / 8] &= (unsigned char)~(1u << (pos % 8));
}

static double now_s(void) { return fk__now_ms() / 1e3; }

static int threads_of(const fk_gallery *g) { return g->threads > 0 ? g->threads : 1; }

/* ---- build ------------------------------------------------------------------ */

/* The largest divisor of dim that is at most `target` (>= 1). */
static int divisor_at_most(int dim, int target) {
    for (int m = target < dim ? target : dim; m > 1; m--)
        if (dim % m == 0) return m;
    return 1;
}

/* A new, trained, empty faiss index of the handle's kind for n rows. */
static fk_status new_index(fk_gallery *g, fk_faiss **out) {
    char err[256] = "";
    fk_faiss_params p = {0};
    p.kind = g->ann_kind;
    p.dim = g->dim;
    p.l2 = is_l2(g);
    p.hnsw_m = ANN_HNSW_M;
    p.ef_construction = ANN_HNSW_EFC;
    if (p.kind == FK_FAISS_IVFPQ) {
        /* ~4 sqrt(n) lists (4000 for 1M rows), each trained with >= 39
         * points; sub-quantizers of 4 dimensions up to 64 of them (8 bits
         * each). */
        int nlist = (int)(4 * sqrt((double)g->n));
        if (nlist > g->n / 39) nlist = g->n / 39;
        if (nlist < 1) nlist = 1;
        p.nlist = nlist;
        p.pq_m = divisor_at_most(g->dim, g->dim / 4 < 64 ? (g->dim / 4 > 0 ? g->dim / 4 : 1) : 64);
    }
    fk_status st = fk__faiss_new(&p, out, err, sizeof err);
    if (st != FK_OK) return fk__fail(st, "%s: %s", g->path, err);
    if (p.kind != FK_FAISS_IVFPQ) return FK_OK;
    /* Train on a sample of 64 points per list (at least 10k), evenly
     * spaced: k-means over all of a 1M gallery would cost minutes and gain
     * little (faiss itself caps it at 256 per list). */
    int64_t want = (int64_t)p.nlist * 64;
    if (want < 10000) want = 10000;
    if (want > g->n) want = g->n;
    float *sample = malloc((size_t)want * (size_t)g->dim * sizeof *sample);
    if (!sample) {
        fk__faiss_free(*out);
        *out = NULL;
        return fk__fail(FK_ENOMEM, "out of memory training the IVF-PQ index");
    }
    for (int64_t i = 0; i < want; i++)
        memcpy(sample + (size_t)i * g->dim, g->matrix + (size_t)(i * g->n / want) * g->dim,
               (size_t)g->dim * sizeof *sample);
    st = fk__faiss_train(*out, want, sample, threads_of(g), err, sizeof err);
    free(sample);
    if (st != FK_OK) {
        fk__faiss_free(*out);
        *out = NULL;
        return fk__fail(st, "%s: training the IVF-PQ index: %s", g->path, err);
    }
    return FK_OK;
}

/* Add matrix rows [r0, g->n) as new positions. */
static fk_status add_rows(fk_gallery *g, fk_gallery_ann *a, int r0) {
    int64_t m = g->n - r0;
    if (m <= 0) return FK_OK;
    fk_status st = ann_reserve(a, a->n + m);
    if (st != FK_OK) return st;
    char err[256] = "";
    st = fk__faiss_add(a->index, m, g->matrix + (size_t)r0 * g->dim, threads_of(g), err,
                      sizeof err);
    if (st != FK_OK) return fk__fail(st, "%s: adding to the ANN index: %s", g->path, err);
    for (int64_t i = 0; i < m; i++) {
        int64_t pos = a->n + i;
        int r = (int)(r0 + i);
        a->ids[pos] = g->face_ids[r];
        a->fp[pos] = row_fingerprint(g->matrix + (size_t)r * g->dim, g->dim);
        a->row[pos] = r;
        set_allow(a, pos, 1);
    }
    a->n += m;
    g->ann_info.added += (int)m;
    return FK_OK;
}

/* A fresh index of every matrix row. */
static fk_status build(fk_gallery *g, fk_gallery_ann **out) {
    *out = NULL;
    fk_gallery_ann *a = calloc(1, sizeof *a);
    if (!a) return fk__fail(FK_ENOMEM, "out of memory");
    a->kind = g->ann_kind;
    a->l2 = is_l2(g);
    a->dim = g->dim;
    int added_before = g->ann_info.added;
    double t0 = now_s();
    fk_status st = new_index(g, &a->index);
    if (st == FK_OK) st = add_rows(g, a, 0);
    g->ann_info.added = added_before; /* a build is not an incremental add */
    if (st != FK_OK) {
        fk__gallery_ann_free(a);
        return st;
    }
    g->ann_info.built++;
    g->ann_info.build_seconds = now_s() - t0;
    *out = a;
    return FK_OK;
}

/* ---- file ------------------------------------------------------------------- */

/* Write the index atomically beside the gallery. */
static fk_status save(fk_gallery *g, fk_gallery_ann *a) {
    if (!g->be->local_file) return FK_OK; /* a server's gallery: memory only */
    char path[PATH_MAX + 64], tmp[PATH_MAX + 80];
    fk_status st = fk__gallery_ann_path(g, path, sizeof path);
    if (st != FK_OK) return st;
    double t0 = now_s();
    snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) return fk__fail(FK_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        return fk__fail(FK_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    }
    ann_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, ANN_MAGIC, 8);
    h.version = ANN_VERSION;
    h.kind = (uint32_t)a->kind;
    h.dim = (uint32_t)a->dim;
    h.l2 = (uint32_t)a->l2;
    h.config_id = g->config_id;
    h.n = a->n;
    h.recipe = ann_recipe(a->kind);
    fk_hash hs;
    fk__hash_init(&hs);
    char err[256] = "";
    int ok = fwrite(&h, sizeof h, 1, f) == 1;
    size_t n = (size_t)a->n;
    if (ok) ok = fwrite(a->ids, sizeof *a->ids, n, f) == n;
    if (ok) ok = fwrite(a->fp, sizeof *a->fp, n, f) == n;
    fk__hash_update(&hs, a->ids, n * sizeof *a->ids);
    fk__hash_update(&hs, a->fp, n * sizeof *a->fp);
    if (ok) {
        st = fk__faiss_write(a->index, f, &hs, err, sizeof err);
        ok = st == FK_OK;
    }
    long end = ok ? ftell(f) : -1;
    if (ok && end > ANN_HEADER) {
        h.payload_bytes = (uint64_t)(end - ANN_HEADER);
        h.checksum = fk__hash_final(&hs);
        ok = fseek(f, 0, SEEK_SET) == 0 && fwrite(&h, sizeof h, 1, f) == 1;
    } else {
        ok = 0;
    }
    if (ok) ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    int saved_errno = errno;
    if (fclose(f) != 0) ok = 0;
    if (ok && rename(tmp, path) != 0) {
        saved_errno = errno;
        ok = 0;
    }
    if (!ok) {
        unlink(tmp);
        if (err[0]) return fk__fail(FK_EIO, "%s: %s", path, err);
        return fk__fail(FK_EIO, "%s: cannot write: %s", path, strerror(saved_errno));
    }
    g->ann_info.save_seconds = now_s() - t0;
    return FK_OK;
}

/* Read the index file. Returns FK_OK with *out NULL when there is none or
 * it cannot be used (the reason in the note); other statuses are real
 * errors (out of memory). */
static fk_status load(fk_gallery *g, fk_gallery_ann **out) {
    *out = NULL;
    if (!g->be->local_file) return FK_OK; /* a server's gallery: memory only */
    char path[PATH_MAX + 64];
    fk_status st = fk__gallery_ann_path(g, path, sizeof path);
    if (st != FK_OK) return st;
    double t0 = now_s();
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno != ENOENT) note(g, "the ANN index file could not be read (%s); rebuilt",
                                  strerror(errno));
        return FK_OK;
    }
    ann_header h;
    struct stat sb;
    const char *why = NULL;
    fk_gallery_ann *a = NULL;
    if (fstat(fileno(f), &sb) != 0 || fread(&h, sizeof h, 1, f) != 1)
        why = "it is shorter than its header";
    else if (memcmp(h.magic, ANN_MAGIC, 8) != 0)
        why = "it is not a facekit ANN index";
    else if (h.version != ANN_VERSION)
        why = "it is of another format version";
    else if (h.kind != (uint32_t)g->ann_kind || h.dim != (uint32_t)g->dim ||
             h.l2 != (uint32_t)is_l2(g) || h.config_id != g->config_id)
        why = "it was built for another configuration";
    else if (h.recipe != ann_recipe(g->ann_kind))
        why = "it was built with other index parameters";
    else if ((uint64_t)sb.st_size != ANN_HEADER + h.payload_bytes)
        why = "its size does not match its header (truncated?)";
    else if (h.n < 0 || (uint64_t)h.n > h.payload_bytes / 12)
        why = "its face count is impossible";
    if (!why) { /* the checksum, before anything parses the payload */
        fk_hash hs;
        fk__hash_init(&hs);
        size_t bufsz = 1 << 20;
        unsigned char *buf = malloc(bufsz);
        if (!buf) {
            fclose(f);
            return fk__fail(FK_ENOMEM, "out of memory");
        }
        size_t got;
        while ((got = fread(buf, 1, bufsz, f)) > 0) fk__hash_update(&hs, buf, got);
        free(buf);
        if (hs.total != h.payload_bytes || fk__hash_final(&hs) != h.checksum)
            why = "its checksum does not match (damaged)";
    }
    if (!why) {
        a = calloc(1, sizeof *a);
        if (!a || ann_reserve(a, h.n) != FK_OK) {
            fk__gallery_ann_free(a);
            fclose(f);
            return fk__fail(FK_ENOMEM, "out of memory loading the ANN index");
        }
        a->n = h.n;
        a->kind = (int)h.kind;
        a->l2 = (int)h.l2;
        a->dim = (int)h.dim;
        size_t n = (size_t)h.n;
        char err[256] = "";
        if (fseek(f, ANN_HEADER, SEEK_SET) != 0 || fread(a->ids, sizeof *a->ids, n, f) != n ||
            fread(a->fp, sizeof *a->fp, n, f) != n)
            why = "it ends early";
        for (size_t i = 1; !why && i < n; i++)
            if (a->ids[i] <= a->ids[i - 1]) why = "its face ids are out of order (damaged)";
        if (!why && fk__faiss_read(f, &a->index, err, sizeof err) != FK_OK)
            why = "faiss could not read it";
        if (!why && (fk__faiss_kind_of(a->index) != a->kind || fk__faiss_dim(a->index) != a->dim ||
                     fk__faiss_is_l2(a->index) != a->l2 || fk__faiss_count(a->index) != h.n ||
                     !fk__faiss_is_trained(a->index)))
            why = "its index does not match its header";
        if (!why && ftell(f) != (long)sb.st_size) why = "it has trailing bytes";
    }
    fclose(f);
    if (why) {
        fk__gallery_ann_free(a);
        note(g, "the ANN index file was rebuilt: %s", why);
        return FK_OK;
    }
    g->ann_info.loaded++;
    g->ann_info.load_seconds = now_s() - t0;
    *out = a;
    return FK_OK;
}

/* ---- reconcile ------------------------------------------------------------ */

/* Match positions to matrix rows. *first_new: the first row above the
 * high-water mark (g->n if none); *rebuild set when the index cannot be
 * brought up to date incrementally. */
static void reconcile(fk_gallery *g, fk_gallery_ann *a, int *first_new, int *rebuild) {
    int64_t hw = a->n > 0 ? a->ids[a->n - 1] : 0;
    int64_t i = 0;
    int j = 0;
    int missing = 0;
    a->ndead = 0;
    *first_new = g->n;
    while (i < a->n || j < g->n) {
        if (j >= g->n || (i < a->n && a->ids[i] < g->face_ids[j])) {
            a->row[i] = -1; /* face gone */
            set_allow(a, i, 0);
            a->ndead++;
            i++;
        } else if (i >= a->n || g->face_ids[j] < a->ids[i]) {
            if (g->face_ids[j] > hw) {
                *first_new = j; /* every later row is above too */
                break;
            }
            missing++;
            j++;
        } else {
            int same = a->fp[i] == row_fingerprint(g->matrix + (size_t)j * g->dim, g->dim);
            a->row[i] = same ? j : -1;
            set_allow(a, i, same);
            if (!same) {
                a->ndead++;
                missing++;
            }
            i++;
            j++;
        }
    }
    *rebuild = missing > 0 || (a->n > 0 && a->ndead * 4 > a->n);
}

fk_status fk__gallery_ann_sync(fk_gallery *g, int *use) {
    *use = 0;
    if (g->n == 0 || g->n < min_rows()) return FK_OK;
    *use = 1;
    fk_gallery_ann *a = g->ann;
    if (a && a->gen == g->cache_gen && a->kind == g->ann_kind) return FK_OK;
    if (a && a->kind != g->ann_kind) {
        fk__gallery_ann_free(a);
        a = g->ann = NULL;
    }
    fk_status st = FK_OK;
    int changed = 0;
    if (!a) {
        st = load(g, &a);
        if (st != FK_OK) return st;
    }
    if (a) {
        int first_new = g->n, rebuild = 0;
        reconcile(g, a, &first_new, &rebuild);
        if (rebuild) {
            fk__gallery_ann_free(a);
            a = NULL;
        } else if (first_new < g->n) {
            st = add_rows(g, a, first_new);
            if (st != FK_OK) {
                fk__gallery_ann_free(a);
                g->ann = NULL;
                return st;
            }
            changed = 1;
        }
    }
    if (!a) {
        g->ann = NULL;
        st = build(g, &a);
        if (st != FK_OK) return st;
        changed = 1;
    }
    a->gen = g->cache_gen;
    g->ann = a;
    if (changed) {
        /* An index that cannot be written still answers this handle. */
        if (save(g, a) != FK_OK) note(g, "the ANN index could not be saved: %s", fk_last_error());
        else g->ann_info.saved++;
    }
    return FK_OK;
}

/* ---- search ----------------------------------------------------------------- */

typedef struct cand {
    float key;
    int row;
} cand;

static int cmp_cand(const void *x, const void *y) {
    const cand *a = x, *b = y;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return a->row - b->row;
}

fk_status fk__gallery_ann_search(fk_gallery *g, int nq, const float *q, int k,
                                int64_t exclude_image_id, int *rows, float *keys, int *got) {
    fk_gallery_ann *a = g->ann;
    if (!a) return fk__fail(FK_EINVAL, "%s: no ANN index", g->path);
    int extra = 0;
    if (exclude_image_id > 0)
        for (int r = 0; r < g->n; r++) extra += g->image_ids[r] == exclude_image_id;
    /* HNSW keeps full vectors: its k best are the exact k best of what it
     * visits. IVF-PQ ranks by quantized distances: take more candidates and
     * let the exact re-ranking sort them out. */
    int kf = a->kind == FK_FAISS_IVFPQ ? (k * 10 > 100 ? k * 10 : 100) : k;
    kf += extra;
    int64_t live = a->n - a->ndead;
    if (kf > live) kf = (int)live;
    if (kf < 1) {
        for (int i = 0; i < nq; i++) got[i] = 0;
        return FK_OK;
    }
    /* HNSW: a search beam of four times the candidates, at least
     * ANN_HNSW_EF_SEARCH; IVF-PQ: the bridge's default nprobe. */
    int effort = a->kind == FK_FAISS_IVFPQ ? 0
                 : kf * 4 > ANN_HNSW_EF_SEARCH ? kf * 4 : ANN_HNSW_EF_SEARCH;
    if (g->ann_effort > 0) effort = g->ann_effort;
    float *dist = malloc((size_t)nq * kf * sizeof *dist);
    int64_t *lab = malloc((size_t)nq * kf * sizeof *lab);
    cand *c = malloc((size_t)kf * sizeof *c);
    fk_status st = FK_OK;
    char err[256] = "";
    if (!dist || !lab || !c) st = fk__fail(FK_ENOMEM, "out of memory");
    if (st == FK_OK &&
        fk__faiss_search(a->index, nq, q, kf, effort, a->ndead ? a->allow : NULL, threads_of(g),
                        dist, lab, err, sizeof err) != FK_OK)
        st = fk__fail(FK_EIO, "%s: ANN search: %s", g->path, err);
    int euclid = is_l2(g);
    for (int qi = 0; st == FK_OK && qi < nq; qi++) {
        const float *qv = q + (size_t)qi * g->dim;
        int m = 0;
        for (int i = 0; i < kf; i++) {
            int64_t pos = lab[(size_t)qi * kf + i];
            if (pos < 0 || pos >= a->n) continue;
            int r = a->row[pos];
            if (r < 0 || (exclude_image_id > 0 && g->image_ids[r] == exclude_image_id)) continue;
            float d = fk__gallery_dot(qv, g->matrix + (size_t)r * g->dim, g->dim);
            c[m++] = (cand){euclid ? g->sqnorm[r] - 2 * d : -d, r};
        }
        qsort(c, (size_t)m, sizeof *c, cmp_cand);
        got[qi] = m < k ? m : k;
        for (int i = 0; i < k; i++) {
            rows[(size_t)qi * k + i] = i < got[qi] ? c[i].row : -1;
            keys[(size_t)qi * k + i] = i < got[qi] ? c[i].key : INFINITY;
        }
    }
    free(dist);
    free(lab);
    free(c);
    return st;
}

/* ---- public ----------------------------------------------------------------- */

fk_status fk_gallery_get_ann_info(fk_gallery *g, fk_gallery_ann_info *out) {
    fk__clear_error();
    if (!g || !out) return fk__fail(FK_EINVAL, "fk_gallery_get_ann_info: bad arguments");
    *out = g->ann_info;
    out->index = g->ann ? fk__gallery_ann_kind_name(g->ann->kind) : "none";
    out->rows = g->ann ? (int)g->ann->n : 0;
    out->removed = g->ann ? (int)g->ann->ndead : 0;
    return FK_OK;
}
