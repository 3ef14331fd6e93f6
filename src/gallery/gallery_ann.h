/*
 * gallery_ann.h - approximate nearest-neighbour search for the gallery.
 *
 * Two layers live behind this header:
 *
 *  1. fk_faiss_*: a small C bridge to faiss (ann_faiss.cpp). Debian's
 *     libfaiss-dev ships only the C++ static library (no C API symbols), so
 *     the one C++ file of facekit wraps the few calls we need. Every C++
 *     exception is caught there and turned into an fk_status plus a message
 *     in the caller's buffer; nothing is thrown across the boundary. faiss
 *     positions (0..count-1, in the order rows were added) are the labels;
 *     mapping them to gallery face ids is the gallery's business.
 *
 *  2. fk_gallery_ann_*: the ANN index of a gallery handle (gallery_ann.c):
 *     built from the search matrix, kept beside the gallery file, brought up
 *     to date incrementally, and searched with exact re-ranking of the
 *     candidates.
 */
#ifndef FK_GALLERY_ANN_H
#define FK_GALLERY_ANN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "facekit.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- a streaming 64-bit checksum (corruption detection, not security) ---- */

typedef struct fk_hash {
    uint64_t h, total;
    unsigned char tail[8];
    int ntail;
} fk_hash;

void fk__hash_init(fk_hash *h);
void fk__hash_update(fk_hash *h, const void *data, size_t n);
uint64_t fk__hash_final(const fk_hash *h);

/* ---- the faiss bridge ----------------------------------------------------- */

typedef enum fk_faiss_kind {
    FK_FAISS_FLAT = 0,  /* IndexFlatIP / IndexFlatL2: exhaustive (the benchmark's yardstick) */
    FK_FAISS_HNSW = 1,  /* IndexHNSWFlat: graph over the full vectors */
    FK_FAISS_IVFPQ = 2  /* IndexIVFPQ: inverted lists of product-quantized codes */
} fk_faiss_kind;

typedef struct fk_faiss_params {
    int kind;            /* fk_faiss_kind */
    int dim;
    int l2;              /* 1: L2 distance, 0: inner product */
    int hnsw_m;          /* HNSW: links per node (0: 32) */
    int ef_construction; /* HNSW: build beam (0: 80) */
    int nlist;           /* IVF-PQ: inverted lists (must be >= 1) */
    int pq_m;            /* IVF-PQ: sub-quantizers (divides dim; 8 bits each) */
} fk_faiss_params;

typedef struct fk_faiss fk_faiss;

/* The answer of every bridge call, and of fk_gallery_open asked for ANN,
 * in a build without faiss (FK_WITH_FAISS=OFF: ann_faiss_off.c). */
#define FK__NO_FAISS "facekit was built without faiss (FK_WITH_FAISS=OFF): " \
    "--search-method ann is unavailable; use exact, or rebuild with libfaiss-dev installed"

/* Every call returns FK_OK or a status with a sentence in err (cap bytes).
 * threads: OpenMP threads faiss may use for this call (>= 1). */
fk_status fk__faiss_new(const fk_faiss_params *p, fk_faiss **out, char *err, size_t cap);
void fk__faiss_free(fk_faiss *f);
int fk__faiss_kind_of(const fk_faiss *f);
int fk__faiss_dim(const fk_faiss *f);
int fk__faiss_is_l2(const fk_faiss *f);
int64_t fk__faiss_count(const fk_faiss *f);
int fk__faiss_is_trained(const fk_faiss *f);
/* IVF-PQ: learn the coarse centroids and the codebooks from n rows. */
fk_status fk__faiss_train(fk_faiss *f, int64_t n, const float *x, int threads, char *err,
                         size_t cap);
/* Append n rows; they get labels count .. count + n - 1. */
fk_status fk__faiss_add(fk_faiss *f, int64_t n, const float *x, int threads, char *err,
                       size_t cap);
/* The k nearest of each of nq queries: labels[nq * k] (-1 where fewer were
 * found) and faiss's distances (larger is closer for inner product).
 * effort: HNSW efSearch or IVF nprobe (0: the default: HNSW its own
 * efSearch, IVF a 32nd of the lists, 16..256). allow: NULL,
 * or a bitmap of count bits; labels whose bit is 0 are never returned. */
fk_status fk__faiss_search(fk_faiss *f, int64_t nq, const float *q, int k, int effort,
                          const unsigned char *allow, int threads, float *dist,
                          int64_t *labels, char *err, size_t cap);
/* Serialize to f (at its current position), feeding every byte to h. */
fk_status fk__faiss_write(const fk_faiss *f, FILE *file, fk_hash *h, char *err, size_t cap);
/* Read one index from file (at its current position). Only flat, HNSW-flat
 * and IVF-PQ indexes are accepted. */
fk_status fk__faiss_read(FILE *file, fk_faiss **out, char *err, size_t cap);

/* ---- the gallery's ANN index -------------------------------------------- */

struct fk_gallery;
typedef struct fk_gallery_ann fk_gallery_ann;

/* Galleries with fewer faces than this are answered exactly even when ANN
 * is asked for (an exact scan of a few thousand rows takes well under a
 * millisecond). $FACEKIT_ANN_MIN_ROWS overrides it (the tests use 0). */
#define FK_ANN_MIN_ROWS 4096

/* Bring the handle's ANN index up to date with its (freshly loaded) search
 * matrix: load it from the file beside the gallery, build it, or add new
 * faces and filter removed ones; write it back when it changed. *use is set
 * to 0 when the gallery is small enough to be answered exactly. */
fk_status fk__gallery_ann_sync(struct fk_gallery *g, int *use);

/* The top-k of nq queries (already normalized like the matrix rows) through
 * the ANN index, re-ranked by exact keys (the ranking keys of
 * fk__gallery_topk). rows[nq * k] receive matrix rows (-1 past the end),
 * keys[nq * k] their keys; got[qi] how many were found. exclude_image_id
 * > 0 leaves that image's faces out. */
fk_status fk__gallery_ann_search(struct fk_gallery *g, int nq, const float *q, int k,
                                int64_t exclude_image_id, int *rows, float *keys, int *got);

/* The method name that answers ANN searches ("hnsw" or "ivfpq"). */
const char *fk__gallery_ann_kind_name(int kind);

void fk__gallery_ann_free(fk_gallery_ann *a);

/* The path of the index file for gallery g (into buf, cap bytes). */
fk_status fk__gallery_ann_path(const struct fk_gallery *g, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
