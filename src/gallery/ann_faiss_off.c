/*
 * ann_faiss_off.c - the faiss bridge of a build without faiss
 * (cmake -DFK_WITH_FAISS=OFF; CMakeLists.txt picks this file instead of
 * ann_faiss.cpp).
 *
 * Every entry point of gallery_ann.h's bridge answers with the same
 * sentence, so nothing above it needs an #ifdef to compile and link. A
 * user never reaches it through the API: fk_gallery_open refuses
 * search_method "ann" in such a build (gallery_db.c) with the message
 * below, before a gallery file is touched.
 */
#include <stdio.h>

#include "gallery/gallery_ann.h"

static fk_status off(char *err, size_t cap) {
    if (err && cap) snprintf(err, cap, "%s", FK__NO_FAISS);
    return FK_EINVAL;
}

fk_status fk__faiss_new(const fk_faiss_params *p, fk_faiss **out, char *err, size_t cap) {
    (void)p;
    if (out) *out = NULL;
    return off(err, cap);
}

void fk__faiss_free(fk_faiss *f) { (void)f; }
int fk__faiss_kind_of(const fk_faiss *f) { (void)f; return -1; }
int fk__faiss_dim(const fk_faiss *f) { (void)f; return 0; }
int fk__faiss_is_l2(const fk_faiss *f) { (void)f; return 0; }
int64_t fk__faiss_count(const fk_faiss *f) { (void)f; return 0; }
int fk__faiss_is_trained(const fk_faiss *f) { (void)f; return 0; }

fk_status fk__faiss_train(fk_faiss *f, int64_t n, const float *x, int threads, char *err,
                          size_t cap) {
    (void)f, (void)n, (void)x, (void)threads;
    return off(err, cap);
}

fk_status fk__faiss_add(fk_faiss *f, int64_t n, const float *x, int threads, char *err,
                        size_t cap) {
    (void)f, (void)n, (void)x, (void)threads;
    return off(err, cap);
}

fk_status fk__faiss_search(fk_faiss *f, int64_t nq, const float *q, int k, int effort,
                           const unsigned char *allow, int threads, float *dist,
                           int64_t *labels, char *err, size_t cap) {
    (void)f, (void)nq, (void)q, (void)k, (void)effort, (void)allow, (void)threads;
    (void)dist, (void)labels;
    return off(err, cap);
}

fk_status fk__faiss_write(const fk_faiss *f, FILE *file, fk_hash *h, char *err, size_t cap) {
    (void)f, (void)file, (void)h;
    return off(err, cap);
}

fk_status fk__faiss_read(FILE *file, fk_faiss **out, char *err, size_t cap) {
    (void)file;
    if (out) *out = NULL;
    return off(err, cap);
}
