/*
 * gallery.h - the gallery layer's internals: the handle, the storage
 * backend seam, the helpers the indexer and the search share, and the exact
 * top-k kernel.
 *
 * The public side (fk_gallery_*) is documented in facekit.h. The files:
 *   gallery_db.c      the handle: open (picks the backend from the path),
 *                     close, argument checks of the public calls, dispatch
 *   gallery_sqlite.c  backend: one SQLite file (the default)
 *   gallery_pg.c      backend: a PostgreSQL database (postgresql:// URI)
 *   gallery_index.c   the folder indexer (worker threads + one writer;
 *                     SQLite galleries only)
 *   gallery_search.c  the embedding matrix and exact top-k search
 *   gallery_within.c  every row within the threshold (top_k 0)
 *   gallery_ann.c     the ANN index (faiss, through ann_faiss.cpp)
 *
 * A backend stores; it never searches. Every process keeps its own search
 * matrix in memory and asks the backend for a cheap "generation" number
 * before each search, reloading the rows only when it changed.
 */
#ifndef FK_GALLERY_H
#define FK_GALLERY_H

#include <limits.h>
#include <sqlite3.h>

#include "facekit.h"
#include "core/threadpool.h"

/* The file's identity: PRAGMA application_id ("FKGL") and the schema
 * version in PRAGMA user_version. */
#define FK_GALLERY_APP_ID 0x464B474C
#define FK_GALLERY_SCHEMA 1

/* Image rows record why an image has no faces. */
enum { FK_IMG_OK = 0, FK_IMG_NOFACE = 1, FK_IMG_UNREADABLE = 2 };

struct pg_conn; /* libpq's PGconn */

/* A row of the embedding matrix with its sort key (a distance, or a
 * negated similarity), and the qsort order of the searches: smallest key
 * first, ties by row, so results are deterministic (gallery_search.c). */
typedef struct fk__gallery_ranked {
    float key;
    int idx;
} fk__gallery_ranked;
int fk__gallery_cmp_ranked(const void *a, const void *b);

/* A configuration of the file and its face count (other_configs). */
typedef struct fk__gallery_config_faces {
    char model[64], detector[64], normalization[32];
    int align;
    int faces;
} fk__gallery_config_faces;

/* One storage implementation. Every call gets an open handle; writes run
 * between begin and commit (or rollback), which the callers pair. */
typedef struct fk_gallery_backend {
    const char *name; /* "sqlite", "postgresql" */
    int can_index;    /* fk_gallery_index_folder works on it */
    int local_file;   /* a file here: the ANN index is saved beside it; else
                         each process keeps its ANN index in memory only */
    /* Connect or open `location`, check (or with g->gopt.create create)
     * the schema and bind g->config_id to g's configuration. g->path is
     * already set to a printable name (no password). On failure the
     * caller calls close. */
    fk_status (*open)(fk_gallery *g, const char *location);
    void (*close)(fk_gallery *g);
    fk_status (*begin)(fk_gallery *g);
    fk_status (*commit)(fk_gallery *g);
    void (*rollback)(fk_gallery *g);
    /* See fk__gallery_put_image etc. below. */
    fk_status (*put_image)(fk_gallery *g, const char *path, const char *identity,
                           int64_t size, int64_t mtime_ns, const unsigned char *hash,
                           int status, const fk_faces *faces, int64_t *face_ids);
    fk_status (*touch_image)(fk_gallery *g, int64_t image_id, int64_t size,
                             int64_t mtime_ns);
    fk_status (*delete_image)(fk_gallery *g, int64_t image_id);
    fk_status (*count_faces)(fk_gallery *g, int *count);
    /* See fk__gallery_find_hash and fk__gallery_path_taken below. */
    fk_status (*find_hash)(fk_gallery *g, const unsigned char *hash, int64_t *image_id,
                           char **identity, char **path);
    fk_status (*path_taken)(fk_gallery *g, const char *path, int *taken);
    /* The other configurations holding faces, most faces first: up to cap
     * into out, *count how many there are. */
    fk_status (*other_configs)(fk_gallery *g, struct fk__gallery_config_faces *out, int cap,
                               int *count);
    /* Into an empty *out; on failure *out stays empty. */
    fk_status (*list)(fk_gallery *g, fk_gallery_identities *out);
    /* In a transaction of its own. */
    fk_status (*remove)(fk_gallery *g, const char *identity, int *faces_removed);
    /* The counts and sizes of out (names and dim are filled by the caller). */
    fk_status (*stats)(fk_gallery *g, fk_gallery_stats *out);
    /* A number that changes whenever another handle or process changed
     * the gallery: cheap, asked before every search. */
    fk_status (*generation)(fk_gallery *g, int64_t *gen);
    /* This configuration's faces, raw embeddings as stored, into a
     * matrix from fk__gallery_alloc_rows (g->n set), read consistently
     * with *gen (the generation they belong to). */
    fk_status (*load_rows)(fk_gallery *g, int64_t *gen);
    /* Fill m[i]'s face_id, image_id, path, identity, hash, area and
     * has_eyes from the face rows face_ids[i], i < count, in one go (one
     * round trip to a server); the caller frees the strings, also on
     * failure. */
    fk_status (*fetch_matches)(fk_gallery *g, const int64_t *face_ids, int count,
                               fk_gallery_match *m);
} fk_gallery_backend;

extern const fk_gallery_backend fk__gallery_sqlite_backend;
extern const fk_gallery_backend fk__gallery_pg_backend; /* FK_WITH_POSTGRESQL only */

/* fk_gallery_open's answer to a postgresql:// URI in a build without
 * PostgreSQL (cmake -DFK_WITH_POSTGRESQL=OFF leaves gallery_pg.c out). */
#define FK__NO_POSTGRESQL "facekit was built without PostgreSQL support " \
    "(FK_WITH_POSTGRESQL=OFF): rebuild with libpq-dev installed, or use a SQLite gallery file"

struct fk_gallery {
    const fk_gallery_backend *be;
    sqlite3 *db;               /* SQLite backend */
    struct pg_conn *pg;        /* PostgreSQL backend */
    char path[PATH_MAX];       /* file path, or the URI without password */
    fk_options opt;            /* canonical names (static strings) */
    fk_gallery_options gopt;   /* canonical names (static strings) */
    const char *normalization; /* how chips are normalized before the net */
    int dim;                   /* the recognizer's embedding size */
    float threshold;           /* opt->threshold, else the calibrated one */
    int64_t config_id;         /* row of `configs` this handle is bound to */

    /* The search matrix, loaded on first search and reloaded when the
     * backend's generation changed, or after a write through this handle. */
    int cache_valid;
    int64_t cache_data_version; /* the generation the matrix holds */
    int reloads;                /* times the matrix was (re)loaded */
    int n;                     /* rows */
    float *matrix;             /* n x dim; unit rows except for euclidean */
    float *sqnorm;             /* euclidean: |row|^2 */
    int64_t *face_ids, *image_ids;
    int64_t cache_gen;         /* bumped on every (re)load of the matrix */
    fk_pool *pool;             /* search threads, created on first search */
    int threads;               /* search threads: $FACEKIT_THREADS or all cores */

    /* Search method (gopt.search_method, gopt.ann_index) and the ANN index
     * (gallery_ann.c), built or loaded on the first ANN search. */
    int use_ann;
    int ann_kind;              /* FK_FAISS_HNSW or FK_FAISS_IVFPQ */
    struct fk_gallery_ann *ann;
    fk_gallery_ann_info ann_info;
    int ann_effort;            /* > 0: HNSW search beam / IVF lists probed
                                  instead of the default (bench_search) */
};

/* Record an SQLite failure on g (what: the operation) as an fk_status:
 * corrupt/not-a-database -> FK_EFORMAT, out of memory -> FK_ENOMEM, else
 * FK_EIO. */
fk_status fk__gallery_db_fail(fk_gallery *g, const char *what);

/* Is `path` a PostgreSQL URI (postgresql:// or postgres://)? */
int fk__gallery_is_pg_uri(const char *path);

/* A write transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: BEGIN plus the
 * generation bump, which also serializes writers) / COMMIT / ROLLBACK. */
fk_status fk__gallery_begin(fk_gallery *g);
fk_status fk__gallery_commit(fk_gallery *g);
void fk__gallery_rollback(fk_gallery *g);

/* A search matrix of `count` rows (matrix, sqnorm, face_ids, image_ids),
 * g->n = 0. */
fk_status fk__gallery_alloc_rows(fk_gallery *g, int count);

/* One image's row and faces, replacing any row of the same path in this
 * configuration (inside a transaction). hash: 32 bytes or NULL. Faces must
 * carry embeddings of g->dim unless status != FK_IMG_OK. face_ids (may be
 * NULL) receives faces->count ids, one per face in order. */
fk_status fk__gallery_put_image(fk_gallery *g, const char *path,
                               const char *identity, int64_t size,
                               int64_t mtime_ns, const unsigned char *hash,
                               int status, const fk_faces *faces,
                               int64_t *face_ids);

/* The image of this configuration whose hash is `hash` (32 bytes), the
 * lowest id if several: *image_id (0 when none), its identity and path
 * (strdup'ed, the caller frees; NULL when none). */
fk_status fk__gallery_find_hash(fk_gallery *g, const unsigned char *hash, int64_t *image_id,
                               char **identity, char **path);
/* Does an image of this configuration have this path? */
fk_status fk__gallery_path_taken(fk_gallery *g, const char *path, int *taken);

/* Update an image's size and mtime only (its content hash is unchanged). */
fk_status fk__gallery_touch_image(fk_gallery *g, int64_t image_id, int64_t size,
                                 int64_t mtime_ns);
/* Drop an image row and its faces. */
fk_status fk__gallery_delete_image(fk_gallery *g, int64_t image_id);

/* Faces of this configuration in the file. */
fk_status fk__gallery_count_faces(fk_gallery *g, int *count);

/* Identity for a path relative to the indexed folder: its first folder, or
 * for a file at the top the file name without extension and without
 * trailing digits, '_', '-', '.' or spaces ("Alice_0001.jpg" -> "Alice").
 * Writes into buf (cap bytes). */
void fk__gallery_identity_from_path(const char *rel, char *buf, size_t cap);

/* Called when the handle's configuration holds no faces: FK_EINVAL naming
 * the configurations that do and the options that select the largest, or
 * FK_OK when the gallery holds no faces at all. */
fk_status fk__gallery_check_other_configs(fk_gallery *g);

/* Free the search matrix (the next search reloads it). */
void fk__gallery_drop_cache(fk_gallery *g);

/* Exact top-k over rows [0, n) of an n x dim matrix: the k rows with the
 * smallest key, where key(row) = bias[row] - 2 * dot(q, row) when bias is
 * non-NULL (euclidean: bias = |row|^2), else -dot(q, row). Rows with skip[row] != 0 are left
 * out (skip may be NULL). idx/key receive up to k entries, smallest key
 * first; returns how many. Runs on pool (may be NULL). */
int fk__gallery_topk(fk_pool *pool, const float *matrix, const float *bias,
                    const unsigned char *skip, int n, int dim, const float *q,
                    int k, int *idx, float *key);

/* Every row of [0, n) whose key (as fk__gallery_topk's) is <= bound, skip
 * rows left out: *idx and *key (malloc'ed, the caller frees both) receive
 * them smallest key first. Returns how many, or -1 when out of memory
 * (*idx and *key then NULL). Runs on pool (may be NULL). */
int fk__gallery_within(fk_pool *pool, const float *matrix, const float *bias,
                      const unsigned char *skip, int n, int dim, const float *q, float bound,
                      int **idx, float **key);

/* The same for nq queries (nq x dim, row after row) at once, without skip:
 * one pass over the matrix, the pool's threads taking blocks of rows; each
 * block is scored against every query by an AVX2+FMA register-tiled kernel
 * (else one OpenBLAS sgemm) and each query keeps its own top-k, a score
 * reaching a heap only when it beats that query's k-th best. The same rows
 * and order as fk__gallery_topk for each query, up to keys equal to
 * rounding. idx/key are nq x k; got[q] receives how many of query q's k
 * were filled. Returns 0, or -1 when out of memory. */
int fk__gallery_topk_batch(fk_pool *pool, const float *matrix, const float *bias, int n,
                          int dim, const float *q, int nq, int k, int *idx, float *key,
                          int *got);

/* dot(a, b) over n floats: AVX2+FMA when the CPU has them. */
float fk__gallery_dot(const float *a, const float *b, int n);

#endif
