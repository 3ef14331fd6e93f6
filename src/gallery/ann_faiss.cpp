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
 *    again in facekit's own pool.
 */
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <stdexcept>
#include <vector>

#include <omp.h>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/HNSW.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include "gallery/gallery_ann.h"

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
        if (h) fk_hash_update(h, ptr, size * nitems);
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

int kind_of_index(const faiss::Index *ix) {
    if (dynamic_cast<const faiss::IndexHNSWFlat *>(ix)) return FK_FAISS_HNSW;
    if (dynamic_cast<const faiss::IndexIVFPQ *>(ix)) return FK_FAISS_IVFPQ;
    if (dynamic_cast<const faiss::IndexFlat *>(ix)) return FK_FAISS_FLAT;
    return -1;
}

} // namespace

extern "C" {

fk_status fk_faiss_new(const fk_faiss_params *p, fk_faiss **out, char *err, size_t cap) {
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
            ivf->pq.cp.min_points_per_centroid = 1;
            f->index = ivf;
        }
        *out = f.release();
        return FK_OK;
    });
}

void fk_faiss_free(fk_faiss *f) {
    if (!f) return;
    delete f->index;
    delete f;
}

int fk_faiss_kind_of(const fk_faiss *f) { return f ? f->kind : -1; }
int fk_faiss_dim(const fk_faiss *f) { return f ? (int)f->index->d : 0; }
int fk_faiss_is_l2(const fk_faiss *f) {
    return f && f->index->metric_type == faiss::METRIC_L2;
}
int64_t fk_faiss_count(const fk_faiss *f) { return f ? (int64_t)f->index->ntotal : 0; }
int fk_faiss_is_trained(const fk_faiss *f) { return f && f->index->is_trained; }

fk_status fk_faiss_train(fk_faiss *f, int64_t n, const float *x, int threads, char *err,
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

fk_status fk_faiss_add(fk_faiss *f, int64_t n, const float *x, int threads, char *err,
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

fk_status fk_faiss_search(fk_faiss *f, int64_t nq, const float *q, int k, int effort,
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
            sp.sel = sel.get();
            f->index->search(nq, q, k, dist, lab, &sp);
        } else if (f->kind == FK_FAISS_IVFPQ) {
            faiss::SearchParametersIVF sp;
            auto *ivf = static_cast<faiss::IndexIVFPQ *>(f->index);
            /* Default: an eighth of the lists, 8 .. 256. */
            size_t dflt = ivf->nlist / 8 < 8 ? 8 : ivf->nlist / 8 > 256 ? 256 : ivf->nlist / 8;
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

fk_status fk_faiss_write(const fk_faiss *f, FILE *file, fk_hash *h, char *err, size_t cap) {
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

fk_status fk_faiss_read(FILE *file, fk_faiss **out, char *err, size_t cap) {
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
        *out = new fk_faiss{ix.release(), kind};
        return FK_OK;
    });
}

} // extern "C"
