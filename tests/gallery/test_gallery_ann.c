/*
 * test_gallery_ann.c - approximate search through faiss, and the batched
 * exact search: recall of HNSW and IVF-PQ against exact search on
 * synthetic clustered embeddings; the index file (persisted and reused, not
 * rebuilt; brought up to date when a face is added; removed faces never
 * returned; a reused face id detected; truncated, damaged and foreign files
 * rebuilt, never trusted; a file stamped with other build parameters or
 * of an older format version rebuilt); small galleries answered exactly;
 * bad arguments refused; the batched exact search agreeing with the single
 * one.
 */
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facekit.h"
#include "gallery/gallery.h"
#include "gallery/gallery_ann.h"
#include "test.h"

#define DIM 128
#define IDS 700
#define PER 9
#define ROWS (IDS * PER)
#define NOISE 0.06f

static char tmp[64] = "/tmp/fk_gallery_ann_XXXXXX";
static char db[128];
static float *centers;

/* A deterministic pseudo-random float in [-1, 1). */
static float frand(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*s >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

static void normalize(float *v) {
    double s = 0;
    for (int i = 0; i < DIM; i++) s += (double)v[i] * v[i];
    for (int i = 0; i < DIM; i++) v[i] = (float)(v[i] / sqrt(s));
}

/* A face of identity id: its center plus noise (like several photos of one
 * person: same-identity cosine ~0.7, other identities ~0). */
static void sample(int id, uint64_t *seed, float *out) {
    for (int i = 0; i < DIM; i++) out[i] = centers[(size_t)id * DIM + i] + NOISE * frand(seed);
    normalize(out);
}

static fk_status put(fk_gallery *g, const char *path, const char *who, const float *emb) {
    fk_face f;
    memset(&f, 0, sizeof f);
    f.embedding = (float *)emb;
    f.embedding_dim = DIM;
    f.w = f.h = 10;
    fk_faces faces = {&f, 1};
    return fk__gallery_put_image(g, path, who, 1, 1, NULL, FK_IMG_OK, &faces, NULL);
}

static fk_gallery *open_g(const char *method, const char *kind, const char *metric) {
    fk_options o;
    fk_options_init(&o);
    o.detector = "skip";
    if (metric) o.metric = metric;
    fk_gallery_options go;
    fk_gallery_options_init(&go);
    go.create = 1;
    go.search_method = method;
    go.ann_index = kind;
    fk_gallery *g = NULL;
    fk_status st = fk_gallery_open(db, &o, &go, &g);
    CHECK(st == FK_OK, "open %s/%s: %s", method, kind, fk_last_error());
    return g;
}

static void fill(void) {
    uint64_t seed = 7;
    centers = malloc((size_t)IDS * DIM * sizeof *centers);
    for (int i = 0; i < IDS * DIM; i++) centers[i] = frand(&seed);
    fk_gallery *g = open_g("exact", "hnsw", NULL);
    if (!g) return;
    float emb[DIM];
    fk_status st = fk__gallery_begin(g);
    for (int r = 0; r < ROWS && st == FK_OK; r++) {
        char path[64], who[32];
        snprintf(path, sizeof path, "img%06d.jpg", r);
        snprintf(who, sizeof who, "person%d", r % IDS);
        sample(r % IDS, &seed, emb);
        st = put(g, path, who, emb);
    }
    if (st == FK_OK) st = fk__gallery_commit(g);
    CHECK(st == FK_OK, "fill: %s", fk_last_error());
    fk_gallery_close(g);
}

static int count_in(const fk_gallery_result *r, int64_t face_id, int k) {
    for (int i = 0; i < r->count && i < k; i++)
        if (r->matches[i].face_id == face_id) return 1;
    return 0;
}

/* recall@1 and @10 of `ann` against `exact` over nq fresh queries. */
static void recall(fk_gallery *ann, fk_gallery *exact, int nq, double *r1, double *r10,
                   const char *want_method) {
    uint64_t seed = 99;
    float q[DIM];
    int hit1 = 0, hit10 = 0, total10 = 0, method_ok = 1, dist_ok = 1;
    for (int i = 0; i < nq; i++) {
        sample((i * 37) % IDS, &seed, q);
        fk_gallery_result a = {0}, e = {0};
        fk_status sa = fk_gallery_search_embedding(ann, q, DIM, 10, 0, &a);
        fk_status se = fk_gallery_search_embedding(exact, q, DIM, 10, 0, &e);
        if (sa != FK_OK || se != FK_OK || e.count != 10) {
            CHECK(0, "search failed: %s", fk_last_error());
            break;
        }
        method_ok &= !strcmp(a.method, want_method) && !strcmp(e.method, "exact");
        hit1 += a.count > 0 && a.matches[0].face_id == e.matches[0].face_id;
        for (int k = 0; k < 10; k++) hit10 += count_in(&a, e.matches[k].face_id, 10);
        total10 += 10;
        /* ANN distances are exact (re-ranked): equal where the face is. */
        if (a.count > 0 && a.matches[0].face_id == e.matches[0].face_id &&
            fabsf(a.matches[0].distance - e.matches[0].distance) > 1e-5f)
            dist_ok = 0;
        fk_gallery_result_free(&a);
        fk_gallery_result_free(&e);
    }
    CHECK(method_ok, "result.method says %s answered", want_method);
    CHECK(dist_ok, "ANN distances equal the exact ones");
    *r1 = (double)hit1 / nq;
    *r10 = (double)hit10 / (total10 ? total10 : 1);
}

static void ann_file(const char *kind, char *buf, size_t cap) {
    snprintf(buf, cap, "%s.c1-%s-ip.ann", db, kind);
}

static fk_gallery_ann_info info_of(fk_gallery *g) {
    fk_gallery_ann_info in;
    memset(&in, 0, sizeof in);
    CHECK(fk_gallery_get_ann_info(g, &in) == FK_OK, "ann info");
    return in;
}

/* One search to make the handle load / sync its index. */
static fk_gallery_result probe(fk_gallery *g, const float *q, int k) {
    fk_gallery_result r = {0};
    fk_status st = fk_gallery_search_embedding(g, q, DIM, k, 0, &r);
    CHECK(st == FK_OK, "search: %s", fk_last_error());
    return r;
}

static void test_recall_and_file(void) {
    fk_gallery *exact = open_g("exact", "hnsw", NULL);
    fk_gallery *ann = open_g("ann", "hnsw", NULL);
    if (!exact || !ann) return;
    double r1 = 0, r10 = 0;
    recall(ann, exact, 300, &r1, &r10, "hnsw");
    printf("hnsw: recall@1 %.3f recall@10 %.3f over %d rows\n", r1, r10, ROWS);
    CHECK(r1 >= 0.97 && r10 >= 0.95, "HNSW recall@1 %.3f, recall@10 %.3f", r1, r10);
    fk_gallery_ann_info in = info_of(ann);
    CHECK(!strcmp(in.index, "hnsw") && in.built == 1 && in.loaded == 0 && in.saved == 1 &&
              in.rows == ROWS && in.note[0] == '\0',
          "first search builds and saves (index %s built %d loaded %d saved %d rows %d note '%s')",
          in.index, in.built, in.loaded, in.saved, in.rows, in.note);
    char path[256];
    ann_file("hnsw", path, sizeof path);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && sb.st_size > ROWS * DIM * 4, "index file %s written", path);
    fk_gallery_close(ann);

    /* Reopened: the saved index is used, not rebuilt, and answers alike. */
    ann = open_g("ann", "hnsw", NULL);
    double s1 = 0, s10 = 0;
    recall(ann, exact, 300, &s1, &s10, "hnsw");
    in = info_of(ann);
    CHECK(in.loaded == 1 && in.built == 0 && in.saved == 0,
          "reopened: loaded %d built %d saved %d", in.loaded, in.built, in.saved);
    CHECK(fabs(s1 - r1) < 1e-9 && fabs(s10 - r10) < 1e-9, "same recall after reload");

    /* A new face: added incrementally, found first, index saved again. */
    uint64_t seed = 12345;
    float fresh[DIM];
    for (int i = 0; i < DIM; i++) fresh[i] = frand(&seed);
    normalize(fresh);
    fk_status st = fk__gallery_begin(ann);
    if (st == FK_OK) st = put(ann, "new.jpg", "Newcomer", fresh);
    if (st == FK_OK) st = fk__gallery_commit(ann);
    CHECK(st == FK_OK, "add: %s", fk_last_error());
    fk_gallery_result r = probe(ann, fresh, 3);
    CHECK(r.count == 3 && !strcmp(r.matches[0].identity, "Newcomer") &&
              r.matches[0].distance < 1e-5f,
          "the new face is found first (%s)", r.count ? r.matches[0].identity : "-");
    fk_gallery_result_free(&r);
    in = info_of(ann);
    CHECK(in.added == 1 && in.built == 0 && in.saved == 1 && in.rows == ROWS + 1,
          "added incrementally (added %d built %d saved %d rows %d)", in.added, in.built,
          in.saved, in.rows);

    /* A removed identity is never returned, by this handle or a new one. */
    float q[DIM];
    seed = 5;
    sample(7, &seed, q);
    r = probe(ann, q, 10);
    CHECK(r.count == 10 && !strcmp(r.matches[0].identity, "person7"), "person7 found first");
    fk_gallery_result_free(&r);
    int removed = 0;
    CHECK(fk_gallery_remove(ann, "person7", &removed) == FK_OK && removed == PER, "remove");
    for (int pass = 0; pass < 2; pass++) {
        r = probe(ann, q, 10);
        int seen = 0;
        for (int i = 0; i < r.count; i++) seen |= !strcmp(r.matches[i].identity, "person7");
        CHECK(r.count == 10 && !seen, "removed identity not returned (pass %d)", pass);
        fk_gallery_result_free(&r);
        in = info_of(ann);
        CHECK(in.removed == PER && in.built == 0, "filtered, not rebuilt (removed %d built %d)",
              in.removed, in.built);
        fk_gallery_close(ann);
        ann = open_g("ann", "hnsw", NULL);
    }

    /* The largest face id reused: SQLite gives a replaced last row the same
     * id. The index must notice (fingerprint) and rebuild. */
    float other[DIM];
    for (int i = 0; i < DIM; i++) other[i] = frand(&seed);
    normalize(other);
    st = fk__gallery_begin(ann);
    if (st == FK_OK) st = put(ann, "new.jpg", "Replaced", other);
    if (st == FK_OK) st = fk__gallery_commit(ann);
    r = probe(ann, other, 1);
    CHECK(st == FK_OK && r.count == 1 && !strcmp(r.matches[0].identity, "Replaced") &&
              r.matches[0].distance < 1e-5f,
          "a reused face id is searched with its new embedding");
    fk_gallery_result_free(&r);
    in = info_of(ann);
    CHECK(in.built == 1, "reused id: rebuilt (built %d)", in.built);
    fk_gallery_close(ann);
    fk_gallery_close(exact);
}

/* Damage the file in `how`; the next handle must rebuild, say why, and
 * answer exactly like exact search for the top-1. */
static void test_damaged(void) {
    char path[256];
    ann_file("hnsw", path, sizeof path);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        CHECK(0, "no index file to damage");
        return;
    }
    fk_gallery *exact = open_g("exact", "hnsw", NULL);
    const char *kinds[] = {"truncated", "flipped", "garbage", "empty"};
    for (int t = 0; t < 4; t++) {
        if (t == 0) CHECK(truncate(path, sb.st_size / 2) == 0, "truncate");
        if (t == 1) { /* same size, one byte changed deep in faiss's data */
            FILE *f = fopen(path, "r+b");
            if (f) {
                fseek(f, sb.st_size - 1000, SEEK_SET);
                int c = fgetc(f);
                fseek(f, sb.st_size - 1000, SEEK_SET);
                fputc(c ^ 0x5a, f);
                fclose(f);
            }
        }
        if (t == 2) {
            FILE *f = fopen(path, "wb");
            if (f) {
                fputs("this is not an index at all, but it is long enough to have a header "
                      "of sixty-four bytes and then some more",
                      f);
                fclose(f);
            }
        }
        if (t == 3) {
            FILE *f = fopen(path, "wb");
            if (f) fclose(f);
        }
        fk_gallery *g = open_g("ann", "hnsw", NULL);
        uint64_t seed = 77;
        float q[DIM];
        sample(11, &seed, q);
        fk_gallery_result a = probe(g, q, 1), e = probe(exact, q, 1);
        fk_gallery_ann_info in = info_of(g);
        CHECK(in.built == 1 && in.loaded == 0 && strstr(in.note, "rebuilt"),
              "%s file: rebuilt with a note (built %d, note '%s')", kinds[t], in.built, in.note);
        CHECK(a.count == 1 && e.count == 1 && a.matches[0].face_id == e.matches[0].face_id,
              "%s file: right answer", kinds[t]);
        fk_gallery_result_free(&a);
        fk_gallery_result_free(&e);
        fk_gallery_close(g);
        stat(path, &sb); /* the rebuilt file, for the next kind of damage */
    }
    /* After the rebuild the file is good again. */
    fk_gallery *g = open_g("ann", "hnsw", NULL);
    float q[DIM];
    uint64_t seed = 1;
    sample(3, &seed, q);
    fk_gallery_result r = probe(g, q, 1);
    fk_gallery_result_free(&r);
    fk_gallery_ann_info in = info_of(g);
    CHECK(in.loaded == 1 && in.built == 0 && in.note[0] == '\0', "rebuilt file loads cleanly");
    fk_gallery_close(g);
    fk_gallery_close(exact);
}

/* The header's recipe stamp (the build parameters) and format version: a
 * file built with other parameters, or of the previous version, is rebuilt
 * with a note saying why, never reused. */
static void test_recipe_stamp(void) {
    char path[256];
    ann_file("hnsw", path, sizeof path);
    const struct {
        long off;      /* byte offset in the 64-byte header */
        uint32_t flip; /* xor applied to the uint32 there */
        const char *why;
    } cases[] = {{56, 1u << 16, "other index parameters"}, /* HNSW links 16 -> 17 */
                 {8, 3u, "another format version"}};        /* version 2 -> 1 */
    for (int t = 0; t < 2; t++) {
        FILE *f = fopen(path, "r+b");
        uint32_t v = 0;
        int ok = f && fseek(f, cases[t].off, SEEK_SET) == 0 && fread(&v, sizeof v, 1, f) == 1;
        CHECK(ok && v != 0, "%s: header field present (%u)", cases[t].why, v);
        if (ok) {
            v ^= cases[t].flip;
            ok = fseek(f, cases[t].off, SEEK_SET) == 0 && fwrite(&v, sizeof v, 1, f) == 1;
        }
        if (f) fclose(f);
        if (!ok) return;
        fk_gallery *g = open_g("ann", "hnsw", NULL);
        if (!g) return;
        uint64_t seed = 5;
        float q[DIM];
        sample(21, &seed, q);
        fk_gallery_result r = probe(g, q, 1);
        fk_gallery_result_free(&r);
        fk_gallery_ann_info in = info_of(g);
        CHECK(in.built == 1 && in.loaded == 0 && strstr(in.note, cases[t].why),
              "stamp %d: rebuilt (built %d, loaded %d, note '%s')", t, in.built, in.loaded,
              in.note);
        fk_gallery_close(g);
    }
    /* The rebuilt file carries the current stamp and loads cleanly. */
    fk_gallery *g = open_g("ann", "hnsw", NULL);
    if (!g) return;
    uint64_t seed = 6;
    float q[DIM];
    sample(22, &seed, q);
    fk_gallery_result r = probe(g, q, 1);
    fk_gallery_result_free(&r);
    fk_gallery_ann_info in = info_of(g);
    CHECK(in.loaded == 1 && in.built == 0 && in.note[0] == '\0', "restamped file loads");
    fk_gallery_close(g);
}

static void test_ivfpq(void) {
    fk_gallery *exact = open_g("exact", "hnsw", NULL);
    fk_gallery *ann = open_g("ann", "ivfpq", NULL);
    if (!exact || !ann) return;
    double r1 = 0, r10 = 0;
    recall(ann, exact, 200, &r1, &r10, "ivfpq");
    printf("ivfpq: recall@1 %.3f recall@10 %.3f\n", r1, r10);
    CHECK(r1 >= 0.9 && r10 >= 0.85, "IVF-PQ recall@1 %.3f, recall@10 %.3f", r1, r10);
    char path[256];
    ann_file("ivfpq", path, sizeof path);
    CHECK(access(path, F_OK) == 0, "ivfpq file beside the hnsw one");
    fk_gallery_close(ann);
    ann = open_g("ann", "ivfpq", NULL);
    recall(ann, exact, 50, &r1, &r10, "ivfpq");
    fk_gallery_ann_info in = info_of(ann);
    CHECK(in.loaded == 1 && in.built == 0, "ivfpq reloaded (loaded %d built %d)", in.loaded,
          in.built);
    fk_gallery_close(ann);
    fk_gallery_close(exact);
}

/* Euclidean: an L2 index of the raw rows; top-1 agrees with exact. */
static void test_euclidean(void) {
    fk_gallery *exact = open_g("exact", "hnsw", "euclidean");
    fk_gallery *ann = open_g("ann", "hnsw", "euclidean");
    if (!exact || !ann) return;
    double r1 = 0, r10 = 0;
    recall(ann, exact, 100, &r1, &r10, "hnsw");
    CHECK(r1 >= 0.97 && r10 >= 0.95, "L2 HNSW recall@1 %.3f, recall@10 %.3f", r1, r10);
    char path[256];
    snprintf(path, sizeof path, "%s.c1-hnsw-l2.ann", db);
    CHECK(access(path, F_OK) == 0, "l2 index file");
    fk_gallery_close(ann);
    fk_gallery_close(exact);
}

/* The batched exact search gives what one-at-a-time search gives. */
static void test_batch(void) {
    const char *metrics[] = {"cosine", "euclidean"};
    for (int m = 0; m < 2; m++) {
        fk_gallery *g = open_g("exact", "hnsw", metrics[m]);
        if (!g) return;
        enum { NQ = 9 };
        float q[NQ * DIM];
        uint64_t seed = 31;
        for (int i = 0; i < NQ; i++) sample(i * 13 % IDS, &seed, q + i * DIM);
        fk_gallery_results b = {0};
        fk_status st = fk_gallery_search_embeddings(g, q, NQ, DIM, 12, &b);
        CHECK(st == FK_OK && b.count == NQ, "batch search: %s", fk_last_error());
        int same = 1;
        for (int i = 0; st == FK_OK && i < NQ; i++) {
            fk_gallery_result one = probe(g, q + i * DIM, 12);
            same &= one.count == 12 && b.items[i].count == 12;
            for (int k = 0; same && k < 12; k++)
                same &= one.matches[k].face_id == b.items[i].matches[k].face_id &&
                        fabsf(one.matches[k].distance - b.items[i].matches[k].distance) < 1e-4f;
            fk_gallery_result_free(&one);
        }
        CHECK(same, "%s: batch results equal single-query results", metrics[m]);
        fk_gallery_results_free(&b);
        fk_gallery_close(g);
    }
}

static void test_small_and_args(void) {
    char small[160];
    snprintf(small, sizeof small, "%s/small.db", tmp);
    fk_options o;
    fk_options_init(&o);
    o.detector = "skip";
    fk_gallery_options go;
    fk_gallery_options_init(&go);
    go.create = 1;
    go.search_method = "ann";
    fk_gallery *g = NULL;
    CHECK(fk_gallery_open(small, &o, &go, &g) == FK_OK, "open small");
    uint64_t seed = 3;
    float e[DIM];
    fk_status st = fk__gallery_begin(g);
    for (int i = 0; i < 50 && st == FK_OK; i++) {
        char path[32];
        snprintf(path, sizeof path, "s%d.jpg", i);
        sample(i, &seed, e);
        st = put(g, path, "someone", e);
    }
    if (st == FK_OK) st = fk__gallery_commit(g);
    fk_gallery_result r = probe(g, e, 3);
    CHECK(r.count == 3 && !strcmp(r.method, "exact"), "a small gallery is answered exactly (%s)",
          r.method ? r.method : "-");
    fk_gallery_result_free(&r);
    char path[256];
    snprintf(path, sizeof path, "%s.c1-hnsw-ip.ann", small);
    CHECK(access(path, F_OK) != 0, "no index file for a small gallery");
    fk_gallery_ann_info in = info_of(g);
    CHECK(!strcmp(in.index, "none"), "info: none");

    /* Bad arguments. */
    fk_gallery_results rs = {0};
    CHECK(fk_gallery_search_embeddings(g, e, 0, DIM, 3, &rs) == FK_EINVAL, "count 0");
    CHECK(fk_gallery_search_embeddings(g, e, 1, DIM, -1, &rs) == FK_EINVAL, "top_k -1");
    CHECK(fk_gallery_search_embeddings(g, e, 1, DIM - 1, 3, &rs) == FK_EINVAL, "wrong dim");
    CHECK(fk_gallery_search_embeddings(NULL, e, 1, DIM, 3, &rs) == FK_EINVAL, "NULL gallery");
    CHECK(fk_gallery_get_ann_info(g, NULL) == FK_EINVAL, "NULL info");
    fk_gallery_close(g);
    g = NULL;
    go.create = 0;
    go.search_method = "fast";
    CHECK(fk_gallery_open(small, &o, &go, &g) == FK_EINVAL && !g &&
              strstr(fk_last_error(), "exact, ann"),
          "unknown method lists the valid ones: %s", fk_last_error());
    go.search_method = "ann";
    go.ann_index = "lsh";
    CHECK(fk_gallery_open(small, &o, &go, &g) == FK_EINVAL && !g &&
              strstr(fk_last_error(), "hnsw, ivfpq"),
          "unknown index lists the valid ones: %s", fk_last_error());

    /* The bridge refuses nonsense without throwing. */
    char err[256];
    fk_faiss *f = NULL;
    fk_faiss_params p = {FK_FAISS_IVFPQ, 100, 0, 0, 0, 4, 7, };
    CHECK(fk__faiss_new(&p, &f, err, sizeof err) == FK_EINVAL && !f, "pq_m must divide dim");
    fk_faiss_params h = {FK_FAISS_HNSW, 8, 0, 0, 0, 0, 0};
    CHECK(fk__faiss_new(&h, &f, err, sizeof err) == FK_OK && f, "hnsw of dim 8");
    float x[16] = {0};
    float d[2];
    int64_t lab[2];
    CHECK(fk__faiss_search(f, 1, x, 0, 0, NULL, 1, d, lab, err, sizeof err) == FK_EINVAL,
          "k 0 refused");
    CHECK(fk__faiss_search(f, 1, x, 2, 0, NULL, 1, d, lab, err, sizeof err) == FK_OK &&
              lab[0] == -1,
          "an empty index finds nothing");
    fk__faiss_free(f);
}

/* top_k 0 through the index: every face within the threshold, the
 * candidates asked of faiss growing past the first 32 (a threshold that
 * takes ~70 faces per query), against the exact scan: a subset with the
 * same distances, sorted, within the threshold, nearly all of it. */
static void test_ann_within(void) {
    const char *kinds[] = {"hnsw", "ivfpq"};
    /* IVF-PQ probes the lists near the query: the far end of so wide a
     * threshold (cosine 0.2, unrelated faces) is where it loses recall;
     * the query's own identity (~0.3) it must always find. */
    const double need[] = {0.95, 0.5};
    for (int k = 0; k < 2; k++) {
        fk_options o;
        fk_options_init(&o);
        o.detector = "skip";
        o.threshold = 0.8f;
        fk_gallery_options go;
        fk_gallery_options_init(&go);
        go.search_method = "exact";
        fk_gallery *exact = NULL, *ann = NULL;
        CHECK(fk_gallery_open(db, &o, &go, &exact) == FK_OK, "open exact");
        go.search_method = "ann";
        go.ann_index = kinds[k];
        CHECK(fk_gallery_open(db, &o, &go, &ann) == FK_OK, "open ann");
        if (!exact || !ann) {
            fk_gallery_close(exact);
            fk_gallery_close(ann);
            continue;
        }
        uint64_t seed = 1000 + k;
        long found = 0, total = 0, close_missed = 0;
        int subset = 1, sorted = 1, within = 1, method = 1;
        for (int t = 0; t < 8; t++) {
            float q[DIM];
            sample((t * 37) % IDS, &seed, q);
            fk_gallery_result e = {0}, a = {0};
            CHECK(fk_gallery_search_embedding(exact, q, DIM, 0, 0, &e) == FK_OK &&
                      fk_gallery_search_embedding(ann, q, DIM, 0, 0, &a) == FK_OK,
                  "search: %s", fk_last_error());
            method &= a.method && !strcmp(a.method, kinds[k]);
            for (int i = 0; i < a.count; i++) {
                within &= a.matches[i].distance <= a.matches[i].threshold;
                if (i) sorted &= a.matches[i - 1].distance <= a.matches[i].distance;
                int in = 0;
                for (int j = 0; j < e.count && !in; j++)
                    in = e.matches[j].face_id == a.matches[i].face_id &&
                         fabsf(e.matches[j].distance - a.matches[i].distance) < 1e-5f;
                subset &= in;
            }
            for (int j = 0; j < e.count; j++) {
                int in = 0;
                for (int i = 0; i < a.count && !in; i++)
                    in = a.matches[i].face_id == e.matches[j].face_id;
                close_missed += !in && e.matches[j].distance < 0.5f;
            }
            found += a.count;
            total += e.count;
            fk_gallery_result_free(&e);
            fk_gallery_result_free(&a);
        }
        CHECK(method && subset && sorted && within, "%s: method %d, subset of exact %d, sorted "
              "%d, within %d", kinds[k], method, subset, sorted, within);
        CHECK(total > 8 * 32 && found >= need[k] * total && close_missed == 0,
              "%s: %ld of %ld exact matches (more than 32 a query), %ld within 0.5 missed",
              kinds[k], found, total, close_missed);
        fk_gallery_close(exact);
        fk_gallery_close(ann);
    }
}

int main(void) {
    if (!mkdtemp(tmp)) test_skip("cannot create a temporary folder");
    snprintf(db, sizeof db, "%s/g.db", tmp);
#if !FK_WITH_FAISS
    /* Built without faiss: asking for ANN is a clear error at open, before
     * the file is created; everything else here needs faiss. */
    fk_options o;
    fk_options_init(&o);
    o.detector = "skip";
    fk_gallery_options go;
    fk_gallery_options_init(&go);
    go.create = 1;
    go.search_method = "ann";
    fk_gallery *g = NULL;
    CHECK(fk_gallery_open(db, &o, &go, &g) == FK_EINVAL && !g &&
              strstr(fk_last_error(), "FK_WITH_FAISS=OFF") && access(db, F_OK) != 0,
          "ann refused without faiss: %s", fk_last_error());
    rmdir(tmp);
    if (test_summary() != 0) return 1;
    test_skip("facekit was built without faiss (FK_WITH_FAISS=OFF)");
#endif
    unsetenv("FACEKIT_ANN_MIN_ROWS");
    fill();
    test_recall_and_file();
    test_damaged();
    test_recipe_stamp();
    test_ivfpq();
    test_euclidean();
    test_batch();
    test_small_and_args();
    test_ann_within();
    free(centers);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return test_summary();
}
