/*
 * ann_faiss.cpp - the C bridge to faiss (see gallery_ann.h).
 *
 * The only C++ in facekit. Debian's libfaiss-dev 1.7.3 has the C API
 * headers but not its symbols, so this file wraps the handful of faiss
 * calls the gallery and the benchmark need. Rules kept here:
 *  - nothing throws across the extern "C" boundary: every entry point runs
 *    its body in a try block and turns faiss::FaissException,
 *    std::bad_alloc and anything else into an fk_status and a sentence;
 *  - faiss runs its loops with OpenMP; each call sets the number of OpenMP
 *    threads of the calling thread to what facekit was told to use, so two
 *    cores are never oversubscribed by a default of "all cores" in faiss and
 *    again in facekit's own pool;
 *  - HNSW's vectors live in a FastFlat, an IndexFlat whose distances are
 *    facekit's AVX2+FMA loops: Debian builds faiss for generic x86-64, where
 *    every inner product is a scalar loop of dependent adds (~0.2 us for
 *    128 floats), and an HNSW build is almost nothing but distances. The
 *    file format is faiss's own (FastFlat is written as the IndexFlat it
 *    derives from) and a loaded index gets its storage swapped back in.
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <stdexcept>
#include <vector>

#include <omp.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FK_X86 1
#endif

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/HNSW.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include "core/cpu.h"
#include "gallery/gallery_ann.h"

extern "C" float fk__gallery_dot(const float *a, const float *b, int n); /* gallery.h */

struct fk_faiss {
    faiss::Index *index; /* owned */
    int kind;
};

namespace {

void set_err(char *err, size_t cap, const char *what, const char *detail) {
    if (err && cap) std::snprintf(err, cap, "faiss: %s: %s", what, detail);
}

/* Run body, converting any exception into a status and a message. */
template <class F>
fk_status guarded(const char *what, char *err, size_t cap, F body) {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        set_err(err, cap, what, "out of memory");
        return FK_ENOMEM;
    } catch (const faiss::FaissException &e) {
        set_err(err, cap, what, e.what());
        return FK_EFORMAT;
    } catch (const std::exception &e) {
        set_err(err, cap, what, e.what());
        return FK_EIO;
    } catch (...) {
        set_err(err, cap, what, "unknown C++ exception");
        return FK_EIO;
    }
}

void use_threads(int threads) { omp_set_num_threads(threads > 0 ? threads : 1); }

faiss::MetricType metric_of(int l2) {
    return l2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
}

/* Writes to a FILE and feeds every byte to a checksum. */
struct HashingWriter : faiss::IOWriter {
    FILE *f;
    fk_hash *h;
    HashingWriter(FILE *f_, fk_hash *h_) : f(f_), h(h_) { name = "facekit ann file"; }
    size_t operator()(const void *ptr, size_t size, size_t nitems) override {
        if (size == 0 || nitems == 0) return nitems; /* faiss writes empty vectors as NULL */
        size_t got = std::fwrite(ptr, size, nitems, f);
        if (got != nitems) throw std::runtime_error("write failed (disk full?)");
        if (h) fk__hash_update(h, ptr, size * nitems);
        return got;
    }
};

/* Reads from a FILE; a short read is an error (a truncated file). */
struct StrictReader : faiss::IOReader {
    FILE *f;
    explicit StrictReader(FILE *f_) : f(f_) { name = "facekit ann file"; }
    size_t operator()(void *ptr, size_t size, size_t nitems) override {
        if (size == 0 || nitems == 0) return nitems;
        size_t got = std::fread(ptr, size, nitems, f);
        if (got != nitems) throw std::runtime_error("the index data ends early");
        return got;
    }
};

/* ---- fast distances for HNSW's storage ---- */

typedef float (*dist_fn)(const float *, const float *, size_t);

/* Inner products are facekit's own (gallery_search.c; AVX2+FMA when the
 * CPU has it), the same loop the exact search uses. */
float ip_facekit(const float *a, const float *b, size_t n) {
    return fk__gallery_dot(a, b, (int)n);
}

float l2_plain(const float *a, const float *b, size_t n) {
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) {
            float d = a[i + k] - b[i + k];
            s[k] += d * d;
        }
    float t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (; i < n; i++) t += (a[i] - b[i]) * (a[i] - b[i]);
    return t;
}

#ifdef FK_X86
__attribute__((target("avx2,fma"))) float hsum8(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
}

__attribute__((target("avx2,fma"))) float l2_avx2(const float *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
    }
    float t = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++) t += (a[i] - b[i]) * (a[i] - b[i]);
    return t;
}
#endif

/* AVX2+FMA when the CPU has it and FK_NO_AVX2 is not 1. */
bool use_avx2() {
#ifdef FK_X86
    return fk__cpu_avx2() != 0;
#else
    return false;
#endif
}

dist_fn pick_dist(bool l2) {
#ifdef FK_X86
    if (l2 && use_avx2()) return l2_avx2;
#endif
    return l2 ? l2_plain : ip_facekit;
}

/* Distances from a query (or between two stored rows) to the rows of a
 * FastFlat: inner product or squared L2, like faiss's own flat computer
 * (HNSW negates similarities itself). */
struct FastDis : faiss::FlatCodesDistanceComputer {
    const float *base;
    size_t d;
    const float *q = nullptr;
    dist_fn fn;
    FastDis(const faiss::IndexFlat &ix)
            : faiss::FlatCodesDistanceComputer(ix.codes.data(), ix.code_size),
              base(reinterpret_cast<const float *>(ix.codes.data())), d((size_t)ix.d),
              fn(pick_dist(ix.metric_type == faiss::METRIC_L2)) {}
    void set_query(const float *x) override { q = x; }
    float distance_to_code(const uint8_t *code) override {
        return fn(q, reinterpret_cast<const float *>(code), d);
    }
    float symmetric_dis(idx_t i, idx_t j) override { return fn(base + i * d, base + j * d, d); }
};

struct FastFlat : faiss::IndexFlat {
    FastFlat(int d, faiss::MetricType m) : faiss::IndexFlat(d, m) {}
    faiss::FlatCodesDistanceComputer *get_FlatCodesDistanceComputer() const override {
        return new FastDis(*this);
    }
};

/* Give an HNSW index a FastFlat storage holding what its storage held. */
void speed_up_hnsw(faiss::IndexHNSW *h) {
    auto *old = dynamic_cast<faiss::IndexFlat *>(h->storage);
    if (!old || dynamic_cast<FastFlat *>(old) || !h->own_fields) return;
    std::unique_ptr<FastFlat> ff(new FastFlat((int)old->d, old->metric_type));
    ff->codes.swap(old->codes);
    ff->ntotal = old->ntotal;
    delete old;
    h->storage = ff.release();
}

int kind_of_index(const faiss::Index *ix) {
    if (dynamic_cast<const faiss::IndexHNSWFlat *>(ix)) return FK_FAISS_HNSW;
    if (dynamic_cast<const faiss::IndexIVFPQ *>(ix)) return FK_FAISS_IVFPQ;
    if (dynamic_cast<const faiss::IndexFlat *>(ix)) return FK_FAISS_FLAT;
    return -1;
}

} // namespace

extern "C" {

fk_status fk__faiss_new(const fk_faiss_params *p, fk_faiss **out, char *err, size_t cap) {
    if (!p || !out || p->dim < 1 || p->kind < FK_FAISS_FLAT || p->kind > FK_FAISS_IVFPQ) {
        set_err(err, cap, "new index", "bad arguments");
        return FK_EINVAL;
    }
    *out = nullptr;
    if (p->kind == FK_FAISS_IVFPQ &&
        (p->nlist < 1 || p->pq_m < 1 || p->dim % p->pq_m != 0)) {
        set_err(err, cap, "new index", "IVF-PQ needs nlist >= 1 and pq_m dividing dim");
        return FK_EINVAL;
    }
    return guarded("new index", err, cap, [&]() -> fk_status {
        std::unique_ptr<fk_faiss> f(new fk_faiss{nullptr, p->kind});
        faiss::MetricType m = metric_of(p->l2);
        if (p->kind == FK_FAISS_FLAT) {
            f->index = new faiss::IndexFlat(p->dim, m);
        } else if (p->kind == FK_FAISS_HNSW) {
            auto *h = new faiss::IndexHNSWFlat(p->dim, p->hnsw_m > 0 ? p->hnsw_m : 32, m);
            h->hnsw.efConstruction = p->ef_construction > 0 ? p->ef_construction : 80;
            speed_up_hnsw(h);
            f->index = h;
        } else {
            std::unique_ptr<faiss::Index> quantizer(new faiss::IndexFlat(p->dim, m));
            auto *ivf = new faiss::IndexIVFPQ(quantizer.get(), p->dim, (size_t)p->nlist,
                                              (size_t)p->pq_m, 8, m);
            quantizer.release();
            ivf->own_fields = true;
            /* faiss's k-means prints a warning to stderr when it has fewer
             * than 39 points per centroid; a library must not print, and
             * facekit already sizes nlist from the rows it has, so only the
             * 256-entry PQ codebooks of small galleries would trigger it. */
            ivf->cp.min_points_per_centroid = 1;
            /* 10 k-means iterations for the coarse lists (faiss: 25): the
             * lists only route the search, and training 4000 lists on a
             * 1M gallery is the bulk of the build. */
            ivf->cp.niter = 10;
            ivf->pq.cp.min_points_per_centroid = 1;
            /* The sub-quantizers' k-means (4-dimensional, 256 centroids
             * each, up to 64 of them) ran on 65536 points for 25
             * iterations each (faiss's defaults): 70 s of a 20k-row build.
             * 64 points per centroid and 10 iterations are plenty for codes
             * whose candidates are re-ranked exactly. */
            ivf->pq.cp.niter = 10;
            ivf->pq.cp.max_points_per_centroid = 64;
            f->index = ivf;
        }
        *out = f.release();
        return FK_OK;
    });
}

void fk__faiss_free(fk_faiss *f) {
    if (!f) return;
    delete f->index;
    delete f;
}

int fk__faiss_kind_of(const fk_faiss *f) { return f ? f->kind : -1; }
int fk__faiss_dim(const fk_faiss *f) { return f ? (int)f->index->d : 0; }
int fk__faiss_is_l2(const fk_faiss *f) {
    return f && f->index->metric_type == faiss::METRIC_L2;
}
int64_t fk__faiss_count(const fk_faiss *f) { return f ? (int64_t)f->index->ntotal : 0; }
int fk__faiss_is_trained(const fk_faiss *f) { return f && f->index->is_trained; }

fk_status fk__faiss_train(fk_faiss *f, int64_t n, const float *x, int threads, char *err,
                         size_t cap) {
    if (!f || n < 1 || !x) {
        set_err(err, cap, "train", "bad arguments");
        return FK_EINVAL;
    }
    return guarded("train", err, cap, [&]() -> fk_status {
        use_threads(threads);
        f->index->train((faiss::Index::idx_t)n, x);
        return FK_OK;
    });
}

fk_status fk__faiss_add(fk_faiss *f, int64_t n, const float *x, int threads, char *err,
                       size_t cap) {
    if (!f || n < 0 || (n > 0 && !x)) {
        set_err(err, cap, "add", "bad arguments");
        return FK_EINVAL;
    }
    if (!f->index->is_trained) {
        set_err(err, cap, "add", "the index is not trained");
        return FK_EINVAL;
    }
    if (n == 0) return FK_OK;
    return guarded("add", err, cap, [&]() -> fk_status {
        use_threads(threads);
        f->index->add((faiss::Index::idx_t)n, x);
        return FK_OK;
    });
}

fk_status fk__faiss_search(fk_faiss *f, int64_t nq, const float *q, int k, int effort,
                          const unsigned char *allow, int threads, float *dist,
                          int64_t *labels, char *err, size_t cap) {
    if (!f || nq < 0 || k < 1 || (nq > 0 && (!q || !dist || !labels))) {
        set_err(err, cap, "search", "bad arguments");
        return FK_EINVAL;
    }
    if (nq == 0) return FK_OK;
    return guarded("search", err, cap, [&]() -> fk_status {
        use_threads(threads);
        size_t bytes = ((size_t)f->index->ntotal + 7) / 8;
        std::unique_ptr<faiss::IDSelectorBitmap> sel;
        if (allow) sel.reset(new faiss::IDSelectorBitmap(bytes, allow));
        static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t), "faiss idx_t is 64-bit");
        auto *lab = reinterpret_cast<faiss::Index::idx_t *>(labels);
        if (f->kind == FK_FAISS_HNSW) {
            faiss::SearchParametersHNSW sp;
            auto *h = static_cast<faiss::IndexHNSWFlat *>(f->index);
            sp.efSearch = effort > 0 ? effort : h->hnsw.efSearch;
            if (sp.efSearch < k) sp.efSearch = k;
            /* faiss 1.7.3 (Debian 12) sizes the search beam from the
             * index's own efSearch (default 16) and reads the parameter's
             * only in part (fixed upstream in faiss PR #3233), so a beam
             * asked for here was silently capped at 16: set both. A faiss
             * index is used by one thread at a time (one gallery handle). */
            h->hnsw.efSearch = sp.efSearch;
            sp.sel = sel.get();
            f->index->search(nq, q, k, dist, lab, &sp);
        } else if (f->kind == FK_FAISS_IVFPQ) {
            faiss::SearchParametersIVF sp;
            auto *ivf = static_cast<faiss::IndexIVFPQ *>(f->index);
            /* Default: a 32nd of the lists, 16 .. 256 (nlist ~ 4 sqrt(n):
             * 40 of 1265 lists at 100k rows, 125 of 4000 at 1M). An eighth
             * scanned 3x more codes at 100k for recall@10 0.998 instead of
             * ~0.98 (bench_search --effort), and grows to 256 lists at 1M. */
            size_t dflt = ivf->nlist / 32 < 16 ? 16 : ivf->nlist / 32 > 256 ? 256 : ivf->nlist / 32;
            sp.nprobe = effort > 0 ? (size_t)effort : dflt;
            if (sp.nprobe > ivf->nlist) sp.nprobe = ivf->nlist;
            sp.sel = sel.get();
            f->index->search(nq, q, k, dist, lab, &sp);
        } else if (sel) {
            faiss::SearchParameters sp;
            sp.sel = sel.get();
            f->index->search(nq, q, k, dist, lab, &sp);
        } else {
            f->index->search(nq, q, k, dist, lab);
        }
        return FK_OK;
    });
}

fk_status fk__faiss_write(const fk_faiss *f, FILE *file, fk_hash *h, char *err, size_t cap) {
    if (!f || !file) {
        set_err(err, cap, "write", "bad arguments");
        return FK_EINVAL;
    }
    return guarded("write", err, cap, [&]() -> fk_status {
        HashingWriter w(file, h);
        faiss::write_index(f->index, &w);
        return FK_OK;
    });
}

fk_status fk__faiss_read(FILE *file, fk_faiss **out, char *err, size_t cap) {
    if (!file || !out) {
        set_err(err, cap, "read", "bad arguments");
        return FK_EINVAL;
    }
    *out = nullptr;
    return guarded("read", err, cap, [&]() -> fk_status {
        StrictReader r(file);
        std::unique_ptr<faiss::Index> ix(faiss::read_index(&r));
        int kind = kind_of_index(ix.get());
        if (kind < 0) {
            set_err(err, cap, "read", "not an index kind facekit writes");
            return FK_EFORMAT;
        }
        if (kind == FK_FAISS_HNSW) speed_up_hnsw(static_cast<faiss::IndexHNSW *>(ix.get()));
        *out = new fk_faiss{ix.release(), kind};
        return FK_OK;
    });
}

} // extern "C"
