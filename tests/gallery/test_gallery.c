/*
 * test_gallery.c - the gallery layer: the file (schema, refusing foreign and
 * corrupt files, configurations kept apart), exact search against a brute
 * force over fk_distance, list/remove/stats, kill -9 safety of committed
 * batches, and the folder indexer on real face images (added / changed /
 * touched / removed / unreadable files, a kill mid-index, incremental
 * re-index).
 *
 * The indexer checks need the models (FACEKIT_HOME or ~/.facekit, with the
 * face-api sample images) and skip cleanly without them; everything else
 * runs on synthetic embeddings.
 */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "facekit.h"
#include "gallery/gallery.h"
#include "test.h"

static char tmp[64] = "/tmp/fk_gallery_XXXXXX";

/* A deterministic pseudo-random float in [-1, 1). */
/* Gallery options that let fk_gallery_open create the gallery. */
static const fk_gallery_options *creating(void) {
    static fk_gallery_options go;
    fk_gallery_options_init(&go);
    go.create = 1;
    return &go;
}

static float frand(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*s >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

static int copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb");
    if (!in) return -1;
    FILE *out = fopen(to, "wb");
    if (!out) {
        fclose(in);
        return -1;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    return 0;
}

/* Insert `count` images of one random face each, in batches of `batch`
 * (one transaction per batch); identity i % ids. Returns the status. */
static fk_status put_random(fk_gallery *g, int first, int count, int ids, int batch,
                            uint64_t *seed, float *keep, int notify_fd) {
    float emb[128];
    fk_face f;
    memset(&f, 0, sizeof f);
    f.embedding = emb;
    f.embedding_dim = 128;
    f.w = f.h = 10;
    fk_faces faces = {&f, 1};
    fk_status st = FK_OK;
    for (int i = 0; i < count && st == FK_OK; i += batch) {
        st = fk__gallery_begin(g);
        for (int j = i; j < i + batch && j < count && st == FK_OK; j++) {
            for (int k = 0; k < 128; k++) emb[k] = frand(seed);
            if (keep) memcpy(keep + (size_t)j * 128, emb, sizeof emb);
            char path[64], name[32];
            snprintf(path, sizeof path, "img%06d.jpg", first + j);
            snprintf(name, sizeof name, "person%d", (first + j) % ids);
            f.x = (float)(first + j);
            st = fk__gallery_put_image(g, path, name, 1, 1, NULL, FK_IMG_OK, &faces, NULL);
        }
        if (st == FK_OK) st = fk__gallery_commit(g);
        else fk__gallery_rollback(g);
        if (st == FK_OK && notify_fd >= 0) {
            char c = 1;
            if (write(notify_fd, &c, 1) != 1) return FK_EIO;
        }
    }
    return st;
}

static int64_t sql_int(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    int64_t v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
            sqlite3_step(s) == SQLITE_ROW)
            v = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return v;
}

static void test_identity_names(void) {
    char buf[64];
    const char *cases[][2] = {{"Alice/1.jpg", "Alice"},        {"Alice_0001.jpg", "Alice"},
                              {"Bob12.png", "Bob"},            {"Carol-2.jpeg", "Carol"},
                              {"0001.jpg", "0001"},            {"Dave/sub/x.jpg", "Dave"},
                              {"Eve Smith 3.jpg", "Eve Smith"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fk__gallery_identity_from_path(cases[i][0], buf, sizeof buf);
        CHECK(!strcmp(buf, cases[i][1]), "%s -> '%s', want '%s'", cases[i][0], buf, cases[i][1]);
    }
}

/* Schema, validation, and refusing what is not ours. */
static void test_file_validation(void) {
    char path[128], other[128];
    snprintf(path, sizeof path, "%s/new.db", tmp);
    fk_gallery *g = NULL;
    CHECK(fk_gallery_open(path, NULL, NULL, &g) == FK_EIO && !g, "a missing file without CREATE");
    CHECK(strstr(fk_last_error(), "no such gallery") != NULL, "message: %s", fk_last_error());
    CHECK(fk_gallery_open(path, NULL, creating(), &g) == FK_OK, "create: %s",
          fk_last_error());
    fk_gallery_close(g);
    CHECK(sql_int(path, "PRAGMA application_id") == FK_GALLERY_APP_ID, "application_id");
    CHECK(sql_int(path, "PRAGMA user_version") == FK_GALLERY_SCHEMA, "schema version");
    CHECK(sql_int(path, "SELECT count(*) FROM configs WHERE model='Dlib' AND detector='ssd' "
                        "AND align=1 AND normalization='base' AND dim=128") == 1,
          "the configuration row");
    CHECK(sql_int(path, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN "
                        "('configs','identities','images','faces')") == 4,
          "the four tables");
    /* Reopening keeps the one configuration; another detector adds one. */
    fk_options o;
    fk_options_init(&o);
    o.detector = "skip";
    CHECK(fk_gallery_open(path, NULL, NULL, &g) == FK_OK, "reopen: %s", fk_last_error());
    fk_gallery_close(g);
    CHECK(fk_gallery_open(path, &o, NULL, &g) == FK_OK, "reopen, detector skip: %s",
          fk_last_error());
    fk_gallery_close(g);
    CHECK(sql_int(path, "SELECT count(*) FROM configs") == 2, "two configurations");

    /* Not SQLite at all. */
    snprintf(other, sizeof other, "%s/text.db", tmp);
    write_file(other, "hello, this is not a database\n", 30);
    CHECK(fk_gallery_open(other, NULL, creating(), &g) == FK_EFORMAT && !g, "text file");
    CHECK(strstr(fk_last_error(), "not an SQLite database") != NULL, "message: %s",
          fk_last_error());
    /* SQLite, but someone else's. */
    snprintf(other, sizeof other, "%s/foreign.db", tmp);
    sqlite3 *db = NULL;
    sqlite3_open(other, &db);
    sqlite3_exec(db, "CREATE TABLE users(name TEXT); INSERT INTO users VALUES('x')", NULL, NULL,
                 NULL);
    sqlite3_close(db);
    CHECK(fk_gallery_open(other, NULL, creating(), &g) == FK_EFORMAT && !g,
          "foreign SQLite file");
    CHECK(strstr(fk_last_error(), "another application") != NULL, "message: %s",
          fk_last_error());
    CHECK(sql_int(other, "SELECT count(*) FROM users") == 1, "the foreign file is untouched");
    CHECK(sql_int(other, "SELECT count(*) FROM sqlite_master") == 1, "no tables added to it");
    /* Ours, from a future schema. */
    snprintf(other, sizeof other, "%s/future.db", tmp);
    CHECK(fk_gallery_open(other, NULL, creating(), &g) == FK_OK, "create");
    fk_gallery_close(g);
    sqlite3_open(other, &db);
    sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL);
    sqlite3_close(db);
    CHECK(fk_gallery_open(other, NULL, NULL, &g) == FK_EFORMAT && !g, "future schema");
    CHECK(strstr(fk_last_error(), "version 99") != NULL, "message: %s", fk_last_error());
    /* Damaged: the header intact, the pages after it overwritten. */
    snprintf(other, sizeof other, "%s/damaged.db", tmp);
    CHECK(fk_gallery_open(other, NULL, creating(), &g) == FK_OK, "create");
    uint64_t seed = 7;
    CHECK(put_random(g, 0, 200, 10, 50, &seed, NULL, -1) == FK_OK, "fill: %s", fk_last_error());
    fk_gallery_close(g);
    FILE *f = fopen(other, "r+b");
    if (f) {
        char junk[8192];
        memset(junk, 0xA5, sizeof junk);
        fseek(f, 4096, SEEK_SET);
        fwrite(junk, 1, sizeof junk, f);
        fclose(f);
    }
    fk_status st = fk_gallery_open(other, NULL, NULL, &g);
    if (st == FK_OK) {
        float q[128] = {1};
        fk_gallery_result r;
        st = fk_gallery_search_embedding(g, q, 128, 5, 0, &r);
        if (st == FK_OK) fk_gallery_result_free(&r);
        fk_gallery_close(g);
    }
    CHECK(st == FK_EFORMAT, "a damaged file is reported as such (status %d: %s)", st,
          fk_last_error());
    /* Bad arguments. */
    CHECK(fk_gallery_open(NULL, NULL, NULL, &g) == FK_EINVAL, "NULL path");
    fk_options_init(&o);
    o.model = "NoSuchModel";
    CHECK(fk_gallery_open(path, &o, NULL, &g) == FK_EINVAL && !g, "unknown model");
}

/* fk_gallery_options: the documented defaults, NULL meaning them, and
 * names checked before anything is created. */
static void test_gallery_options(void) {
    fk_gallery_options go;
    memset(&go, 0x5a, sizeof go);
    fk_gallery_options_init(&go);
    CHECK(go.create == 0, "default: create 0, got %d", go.create);
    CHECK(go.search_method && !strcmp(go.search_method, "exact"), "default search_method: %s",
          go.search_method ? go.search_method : "NULL");
    CHECK(go.ann_index && !strcmp(go.ann_index, "hnsw"), "default ann_index: %s",
          go.ann_index ? go.ann_index : "NULL");
    fk_gallery_options_init(NULL); /* harmless */

    char path[128];
    snprintf(path, sizeof path, "%s/options.db", tmp);
    fk_gallery *g = NULL;
    /* The defaults do not create: a missing file is FK_EIO, and stays missing. */
    CHECK(fk_gallery_open(path, NULL, &go, &g) == FK_EIO && !g && access(path, F_OK) != 0,
          "defaults do not create: %s", fk_last_error());

    /* Unknown names: FK_EINVAL naming the valid values, nothing created. */
    go.create = 1;
    go.search_method = "fast";
    CHECK(fk_gallery_open(path, NULL, &go, &g) == FK_EINVAL && !g, "unknown search method");
    CHECK(strstr(fk_last_error(), "'fast'") && strstr(fk_last_error(), "exact") &&
              strstr(fk_last_error(), "ann"),
          "message names the value and the valid ones: %s", fk_last_error());
    CHECK(access(path, F_OK) != 0, "a bad search method creates nothing");
    go.search_method = "ann";
    go.ann_index = "lsh";
    CHECK(fk_gallery_open(path, NULL, &go, &g) == FK_EINVAL && !g, "unknown ANN index");
    CHECK(strstr(fk_last_error(), "'lsh'") && strstr(fk_last_error(), "hnsw") &&
              strstr(fk_last_error(), "ivfpq"),
          "message names the value and the valid ones: %s", fk_last_error());
    CHECK(access(path, F_OK) != 0, "a bad ANN index creates nothing");
    /* Case does not matter, as for every name in fk_options. */
    go.search_method = "ANN";
    go.ann_index = "HNSW";
    CHECK(fk_gallery_open(path, NULL, &go, &g) == FK_OK && g, "names ignore case: %s",
          fk_last_error());
    fk_gallery_close(g);
    g = NULL;
    CHECK(unlink(path) == 0, "remove the gallery just created");

    /* NULL fields are the defaults; create makes the file. */
    go.search_method = NULL;
    go.ann_index = NULL;
    CHECK(fk_gallery_open(path, NULL, &go, &g) == FK_OK && g && access(path, F_OK) == 0,
          "NULL names are the defaults, create creates: %s", fk_last_error());
    if (g) {
        float q[128] = {1};
        fk_gallery_result r;
        CHECK(fk_gallery_search_embedding(g, q, 128, 3, 0, &r) == FK_OK && r.count == 0,
              "an empty gallery answers with no match: %s", fk_last_error());
        fk_gallery_result_free(&r);
        fk_gallery_close(g);
        g = NULL;
    }
    /* NULL options: the same defaults (no create needed now it exists). */
    CHECK(fk_gallery_open(path, NULL, NULL, &g) == FK_OK && g, "reopen with NULL options: %s",
          fk_last_error());
    fk_gallery_close(g);
}

/* Brute force: the k closest rows under metric with fk_distance. */
static void brute_force(const float *rows, int n, const float *q, const char *metric, int k,
                        int skip_row, int *idx, float *dist) {
    for (int i = 0; i < k; i++) {
        idx[i] = -1;
        dist[i] = INFINITY;
    }
    for (int r = 0; r < n; r++) {
        if (r == skip_row) continue;
        float d;
        fk_distance(q, rows + (size_t)r * 128, 128, metric, &d);
        int pos = k;
        while (pos > 0 && d < dist[pos - 1]) pos--;
        if (pos == k) continue;
        memmove(dist + pos + 1, dist + pos, (size_t)(k - pos - 1) * sizeof *dist);
        memmove(idx + pos + 1, idx + pos, (size_t)(k - pos - 1) * sizeof *idx);
        dist[pos] = d;
        idx[pos] = r;
    }
}

/* Exact search equals brute force, for every metric, single-threaded
 * (small) and threaded (>= 8192 rows); configurations never mix. */
static void test_search_exact(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/search.db", tmp);
    const int n = 10000, k = 7;
    float *rows = malloc((size_t)n * 128 * sizeof *rows);
    fk_gallery *g = NULL;
    uint64_t seed = 42;
    CHECK(fk_gallery_open(path, NULL, creating(), &g) == FK_OK, "create");
    if (!g || !rows) return;
    CHECK(put_random(g, 0, n, 100, 1000, &seed, rows, -1) == FK_OK, "fill: %s", fk_last_error());
    fk_gallery_close(g);
    const char *metrics[] = {"cosine", "euclidean", "euclidean_l2", "angular"};
    for (int m = 0; m < 4; m++) {
        fk_options o;
        fk_options_init(&o);
        o.metric = metrics[m];
        CHECK(fk_gallery_open(path, &o, NULL, &g) == FK_OK, "open");
        if (!g) continue;
        int mismatches = 0;
        float worst = 0;
        for (int t = 0; t < 20; t++) {
            float q[128];
            int self = -1;
            if (t % 2) { /* a stored row itself, excluded: leave-one-out */
                self = (t * 977) % n;
                memcpy(q, rows + (size_t)self * 128, sizeof q);
            } else {
                for (int i = 0; i < 128; i++) q[i] = frand(&seed);
            }
            int bi[7];
            float bd[7];
            brute_force(rows, n, q, metrics[m], k, self, bi, bd);
            fk_gallery_result r;
            fk_status st = fk_gallery_search_embedding(g, q, 128, k, self >= 0 ? self + 1 : 0, &r);
            CHECK(st == FK_OK && r.count == k, "search: %s", fk_last_error());
            for (int i = 0; st == FK_OK && i < r.count; i++) {
                /* Image ids are rows + 1 (inserted in order into a fresh file). */
                float diff = fabsf(r.matches[i].distance - bd[i]);
                if (diff > worst) worst = diff;
                if (r.matches[i].image_id != bi[i] + 1 && diff > 1e-5f) mismatches++;
                char want[64];
                snprintf(want, sizeof want, "img%06d.jpg", (int)r.matches[i].image_id - 1);
                if (strcmp(r.matches[i].path, want)) mismatches++;
            }
            if (st == FK_OK) fk_gallery_result_free(&r);
        }
        CHECK(mismatches == 0, "%s: %d rank mismatches against brute force", metrics[m],
              mismatches);
        CHECK(worst < 1e-4f, "%s: distances differ from fk_distance by up to %g", metrics[m],
              (double)worst);
        fk_gallery_close(g);
    }
    /* The top-k kernel alone, pool vs none, on an odd dimension. */
    fk_pool *pool = NULL;
    fk__pool_new(2, &pool);
    int idx1[5], idx2[5];
    float key1[5], key2[5];
    float q[37];
    for (int i = 0; i < 37; i++) q[i] = frand(&seed);
    float *m37 = malloc(9000 * 37 * sizeof *m37);
    for (int i = 0; m37 && i < 9000 * 37; i++) m37[i] = frand(&seed);
    int a = m37 ? fk__gallery_topk(NULL, m37, NULL, NULL, 9000, 37, q, 5, idx1, key1) : 0;
    int b = m37 ? fk__gallery_topk(pool, m37, NULL, NULL, 9000, 37, q, 5, idx2, key2) : 0;
    CHECK(a == 5 && b == 5 && !memcmp(idx1, idx2, sizeof idx1), "pool and serial top-k agree");
    float best = -INFINITY;
    int best_i = -1;
    for (int r = 0; m37 && r < 9000; r++) {
        double d = 0;
        for (int i = 0; i < 37; i++) d += (double)q[i] * m37[r * 37 + i];
        if (d > best) {
            best = (float)d;
            best_i = r;
        }
    }
    CHECK(idx1[0] == best_i && fabsf(-key1[0] - best) < 1e-4f, "top-1 is the largest dot");
    float dd = fk__gallery_dot(q, m37, 37), ref = 0;
    for (int i = 0; i < 37; i++) ref += q[i] * m37[i];
    CHECK(fabsf(dd - ref) < 1e-4f, "dot %g vs %g", (double)dd, (double)ref);
    free(m37);
    fk__pool_free(pool);

    /* Another configuration of the same file sees none of these faces, and
     * says so: the search names what the gallery holds and how to reach it. */
    fk_options o;
    fk_options_init(&o);
    o.align = 0;
    CHECK(fk_gallery_open(path, &o, NULL, &g) == FK_OK, "open align=0");
    if (g) {
        fk_gallery_result r;
        CHECK(fk_gallery_search_embedding(g, rows, 128, 3, 0, &r) == FK_EINVAL && r.count == 0,
              "no faces of this configuration but faces of another: an error");
        CHECK(strstr(fk_last_error(), "holds no faces for model Dlib, detector ssd, align off; "
                     "it holds 10000 faces of model Dlib, detector ssd, align on: pass --align "
                     "true"), "message: %s", fk_last_error());
        fk_gallery_result_free(&r);
        CHECK(fk_gallery_search_embedding(g, rows, 64, 3, 0, &r) == FK_EINVAL, "wrong dim");
        fk_gallery_close(g);
    }
    free(rows);
}

/* fk__gallery_topk_batch against fk__gallery_topk, query by query: odd
 * dimensions, row counts that are not a multiple of the kernel's tile,
 * query counts around its 16-query groups, with and without a bias
 * (euclidean), with and without the pool, on the AVX2 tiled kernel and on
 * the sgemm path (FK_NO_AVX2=1). Rows must agree except where two keys
 * are equal to rounding (the two paths sum in different orders); exact
 * duplicates must come out earlier row first. */
static void test_topk_batch_kernel(void) {
    enum { N = 9001, MAXQ = 70, MAXK = 50 };
    const int dims[] = {37, 128};
    const int nqs[] = {1, 15, 16, 17, 64, 70};
    const int ks[] = {1, 10, 50};
    fk_pool *pool = NULL;
    fk__pool_new(2, &pool);
    uint64_t seed = 77;
    float *m = malloc((size_t)N * 128 * sizeof *m);
    float *bias = malloc((size_t)N * sizeof *bias);
    float *q = malloc((size_t)MAXQ * 128 * sizeof *q);
    int *bi = malloc((size_t)MAXQ * MAXK * sizeof *bi);
    float *bk = malloc((size_t)MAXQ * MAXK * sizeof *bk);
    int got[MAXQ], si[MAXK];
    float sk[MAXK];
    if (!m || !bias || !q || !bi || !bk || !pool) {
        CHECK(0, "out of memory");
        goto out;
    }
    for (int path = 0; path < 2; path++) {
        if (path) setenv("FK_NO_AVX2", "1", 1);
        int bad = 0, ties = 0, runs = 0;
        for (int di = 0; di < 2; di++) {
            int dim = dims[di];
            for (size_t i = 0; i < (size_t)N * dim; i++) m[i] = frand(&seed);
            /* Exact duplicates: row 4321 repeats row 17, row 8999 row 3. */
            memcpy(m + (size_t)4321 * dim, m + (size_t)17 * dim, (size_t)dim * sizeof *m);
            memcpy(m + (size_t)8999 * dim, m + (size_t)3 * dim, (size_t)dim * sizeof *m);
            for (int r = 0; r < N; r++) bias[r] = fk__gallery_dot(m + (size_t)r * dim, m + (size_t)r * dim, dim);
            for (size_t i = 0; i < (size_t)MAXQ * dim; i++) q[i] = frand(&seed);
            memcpy(q, m + (size_t)17 * dim, (size_t)dim * sizeof *q); /* query 0 = row 17 */
            memcpy(q + dim, m + (size_t)3 * dim, (size_t)dim * sizeof *q); /* query 1 = row 3 */
            for (int ni = 0; ni < 6; ni++)
                for (int ki = 0; ki < 3; ki++)
                    for (int variant = 0; variant < 4; variant++) {
                        int nq = nqs[ni], k = ks[ki];
                        const float *b = variant & 1 ? bias : NULL;
                        fk_pool *p = variant & 2 ? pool : NULL;
                        if (fk__gallery_topk_batch(p, m, b, N, dim, q, nq, k, bi, bk, got)) {
                            bad++;
                            continue;
                        }
                        runs++;
                        for (int qi = 0; qi < nq; qi++) {
                            int n1 = fk__gallery_topk(NULL, m, b, NULL, N, dim,
                                                     q + (size_t)qi * dim, k, si, sk);
                            if (got[qi] != k || n1 != k) bad++;
                            for (int i = 0; i < k && i < n1; i++) {
                                int bx = bi[(size_t)qi * k + i];
                                float kb = bk[(size_t)qi * k + i];
                                if (i > 0 && kb < bk[(size_t)qi * k + i - 1]) bad++;
                                if (fabsf(kb - sk[i]) > 1e-4f * (1 + fabsf(sk[i]))) bad++;
                                else if (bx != si[i]) ties++;
                            }
                            if (qi < 2 && k >= 2 && !b) { /* the duplicate pair, in row order */
                                int lo = qi ? 3 : 17, hi = qi ? 8999 : 4321;
                                if (bi[(size_t)qi * k] != lo || bi[(size_t)qi * k + 1] != hi)
                                    bad++;
                            }
                        }
                    }
        }
        CHECK(bad == 0 && runs == 2 * 6 * 3 * 4,
              "%s: batch top-k equals single top-k (%d disagreements, %d runs)",
              path ? "sgemm path" : "tiled path", bad, runs);
        CHECK(ties <= 4, "%s: %d rank swaps between keys equal to rounding",
              path ? "sgemm path" : "tiled path", ties);
    }
    unsetenv("FK_NO_AVX2");
    /* Fewer rows than k: every row, then -1 / +inf. */
    {
        float small[7 * 5], qq[2 * 5];
        for (int i = 0; i < 35; i++) small[i] = frand(&seed);
        for (int i = 0; i < 10; i++) qq[i] = frand(&seed);
        int ii[2 * 10], gg[2];
        float kk[2 * 10];
        int rc = fk__gallery_topk_batch(pool, small, NULL, 7, 5, qq, 2, 10, ii, kk, gg);
        CHECK(rc == 0 && gg[0] == 7 && gg[1] == 7 && ii[7] == -1 && ii[19] == -1 &&
                  isinf(kk[9]) && ii[0] >= 0 && ii[0] < 7,
              "batch with fewer rows than k");
    }
out:
    free(m);
    free(bias);
    free(q);
    free(bi);
    free(bk);
    fk__pool_free(pool);
}

static void test_list_remove_stats(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/list.db", tmp);
    fk_gallery *g = NULL;
    uint64_t seed = 3;
    CHECK(fk_gallery_open(path, NULL, creating(), &g) == FK_OK, "create");
    if (!g) return;
    CHECK(put_random(g, 0, 30, 3, 7, &seed, NULL, -1) == FK_OK, "fill");
    fk_gallery_identities ids;
    CHECK(fk_gallery_list(g, &ids) == FK_OK && ids.count == 3, "3 identities, got %d",
          ids.count);
    for (int i = 0; i < ids.count; i++) {
        const fk_gallery_identity *id = &ids.items[i];
        char want[32];
        snprintf(want, sizeof want, "person%d", i);
        CHECK(!strcmp(id->name, want) && id->images == 10 && id->faces == 10,
              "%s: %d images %d faces", id->name, id->images, id->faces);
    }
    fk_gallery_identities_free(&ids);
    CHECK(!ids.items && ids.count == 0, "identities_free empties the list");
    fk_gallery_identities_free(&ids); /* twice is harmless */
    CHECK(fk_gallery_list(g, NULL) == FK_EINVAL, "list: NULL out");
    int removed = 0;
    CHECK(fk_gallery_remove(g, "person1", &removed) == FK_OK && removed == 10, "remove: %d",
          removed);
    CHECK(fk_gallery_remove(g, "person1", &removed) == FK_EINVAL, "remove twice");
    fk_gallery_stats s;
    CHECK(fk_gallery_get_stats(g, &s) == FK_OK, "stats");
    CHECK(s.identities == 2 && s.images == 20 && s.faces == 20 && s.dim == 128 &&
              !strcmp(s.model, "Dlib") && s.configurations == 1 && s.file_bytes > 0,
          "stats: %d identities %d images %d faces", s.identities, s.images, s.faces);
    /* The search matrix follows the removal. */
    float q[128];
    for (int i = 0; i < 128; i++) q[i] = frand(&seed);
    fk_gallery_result r;
    CHECK(fk_gallery_search_embedding(g, q, 128, 100, 0, &r) == FK_OK && r.count == 20,
          "search after remove: %d", r.count);
    for (int i = 0; i < r.count; i++)
        CHECK(strcmp(r.matches[i].identity, "person1") != 0, "a removed face was found");
    fk_gallery_result_free(&r);
    fk_gallery_close(g);
    CHECK(sql_int(path, "SELECT count(*) FROM faces") == 20, "faces cascade-deleted");
}

/* A writer killed with SIGKILL between and during transactions: every
 * committed batch survives, nothing half-written, the file stays usable. */
static void test_kill_safety_db(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/kill.db", tmp);
    fk_gallery *g = NULL;
    CHECK(fk_gallery_open(path, NULL, creating(), &g) == FK_OK, "create");
    fk_gallery_close(g);
    int fds[2];
    if (pipe(fds)) return;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        fk_gallery *cg = NULL;
        uint64_t seed = 11;
        if (fk_gallery_open(path, NULL, NULL, &cg) != FK_OK) _exit(3);
        put_random(cg, 0, 1000000, 50, 25, &seed, NULL, fds[1]);
        _exit(0);
    }
    close(fds[1]);
    char c;
    int commits = 0;
    while (commits < 5 && read(fds[0], &c, 1) == 1) commits++;
    kill(pid, SIGKILL); /* mid-way through a later batch, most likely */
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the writer was killed");
    CHECK(fk_gallery_open(path, NULL, NULL, &g) == FK_OK, "reopen after kill: %s", fk_last_error());
    int faces = 0;
    if (g) {
        fk__gallery_count_faces(g, &faces);
        float q[128] = {0.5f};
        fk_gallery_result r;
        CHECK(fk_gallery_search_embedding(g, q, 128, 3, 0, &r) == FK_OK && r.count == 3,
              "search after kill");
        fk_gallery_result_free(&r);
        uint64_t seed = 99;
        CHECK(put_random(g, 5000000, 10, 5, 10, &seed, NULL, -1) == FK_OK,
              "write after kill: %s", fk_last_error());
        fk_gallery_close(g);
    }
    CHECK(faces >= 5 * 25 && faces % 25 == 0,
          "%d faces: whole batches only, at least the 5 acknowledged", faces);
    sqlite3 *db = NULL;
    char *ok = NULL;
    sqlite3_open(path, &db);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        ok = strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
    CHECK(ok && !strcmp(ok, "ok"), "integrity_check: %s", ok ? ok : "(none)");
    free(ok);
}

/* ---- the indexer on real images ----------------------------------------- */

typedef struct warn_log {
    int count;
    char last[512];
} warn_log;

static void on_warn(void *user, const char *msg) {
    warn_log *w = user;
    w->count++;
    snprintf(w->last, sizeof w->last, "%s", msg);
}

static int kill_after; /* committed images after which the child dies */
static int kill_progress(void *user, int done, int total, int committed) {
    (void)user, (void)done, (void)total;
    if (committed >= kill_after) raise(SIGKILL);
    return 0;
}

static fk_status index_dir(fk_gallery *g, fk_context *ctx, const char *dir, warn_log *w,
                           fk_gallery_index_stats *s) {
    fk_gallery_index_options io;
    fk_gallery_index_options_init(&io);
    io.threads = 2;
    io.batch = 2;
    io.warn = on_warn;
    io.user = w;
    return fk_gallery_index_folder(g, ctx, dir, &io, s);
}

static void set_mtime(const char *path, time_t t) {
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    utimensat(AT_FDCWD, path, ts, 0);
}

static void test_indexer(void) {
    fk_context *ctx = NULL;
    if (fk_context_new(NULL, &ctx) != FK_OK) return;
    char src[PATH_MAX], probe[PATH_MAX + 64];
    snprintf(src, sizeof src, "%s/face-api", fk_context_get_model_home(ctx));
    snprintf(probe, sizeof probe, "%s/face_recognition_model.bin", src);
    struct stat sb;
    if (stat(probe, &sb) != 0) {
        printf("indexer checks skipped: no models in %s (run 'facekit models fetch')\n",
               fk_context_get_model_home(ctx));
        fk_context_free(ctx);
        return;
    }
    char dir[128], p[PATH_MAX + 64], q[256];
    snprintf(dir, sizeof dir, "%s/faces", tmp);
    mkdir(dir, 0755);
    /* Flat layout: sample1..4 (one identity "sample"), and one folder. */
    for (int i = 1; i <= 4; i++) {
        snprintf(p, sizeof p, "%s/sample%d.jpg", src, i);
        snprintf(q, sizeof q, "%s/sample%d.jpg", dir, i);
        CHECK(copy_file(p, q) == 0, "copy %s", p);
    }
    snprintf(q, sizeof q, "%s/broken.jpg", dir);
    write_file(q, "\xff\xd8\xff garbage", 12);
    snprintf(q, sizeof q, "%s/notes.txt", dir);
    write_file(q, "not an image", 12);
    char gpath[160];
    snprintf(gpath, sizeof gpath, "%s/facekit-index.sqlite", dir);

    /* A first run killed after 2 committed images. */
    pid_t pid = fork();
    if (pid == 0) {
        fk_context *c2 = NULL;
        fk_gallery *g2 = NULL;
        if (fk_context_new(NULL, &c2) != FK_OK ||
            fk_gallery_open(gpath, NULL, creating(), &g2) != FK_OK)
            _exit(3);
        fk_gallery_index_options io;
        fk_gallery_index_options_init(&io);
        io.threads = 1;
        io.batch = 1;
        io.progress = kill_progress;
        kill_after = 2;
        fk_gallery_index_folder(g2, c2, dir, &io, NULL);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "indexer killed (status %d)",
          status);
    int64_t kept = sql_int(gpath, "SELECT count(*) FROM images");
    CHECK(kept >= 2 && kept < 5, "%lld images committed before the kill", (long long)kept);

    /* The next run finishes the job: only what was not committed. */
    fk_gallery *g = NULL;
    warn_log w = {0};
    fk_gallery_index_stats s;
    CHECK(fk_gallery_open(gpath, NULL, creating(), &g) == FK_OK, "open after kill: %s",
          fk_last_error());
    if (!g) {
        fk_context_free(ctx);
        return;
    }
    CHECK(index_dir(g, ctx, dir, &w, &s) == FK_OK, "index: %s", fk_last_error());
    CHECK(s.files == 5, "5 image files (the .txt and the index are not), got %d", s.files);
    CHECK(s.unchanged == kept && s.added == 5 - kept, "resumed: %d unchanged, %d added",
          s.unchanged, s.added);
    int broken_seen = w.count == 1 && strstr(w.last, "broken.jpg") != NULL;
    int broken_before = kept >= 1 && sql_int(gpath, "SELECT count(*) FROM images WHERE "
                                             "path='broken.jpg' AND status=2") == 1;
    CHECK(broken_seen || (w.count == 0 && broken_before), "broken.jpg warned once: %d '%s'",
          w.count, w.last);
    fk_gallery_stats gs;
    fk_gallery_get_stats(g, &gs);
    CHECK(gs.unreadable == 1 && gs.images == 5 && gs.identities >= 1, "stats: %d unreadable",
          gs.unreadable);
    int faces0 = s.faces;
    CHECK(faces0 >= 4, "at least one face per sample image: %d", faces0);

    /* Nothing changed: nothing embedded. */
    w.count = 0;
    CHECK(index_dir(g, ctx, dir, &w, &s) == FK_OK && s.unchanged == 5 && s.added == 0 &&
              s.changed == 0 && s.removed == 0 && w.count == 0 && s.faces == faces0,
          "second run: %d unchanged %d added", s.unchanged, s.added);

    /* Touched (same content, new mtime): hashed, not embedded. */
    snprintf(q, sizeof q, "%s/sample1.jpg", dir);
    set_mtime(q, 1000000000);
    CHECK(index_dir(g, ctx, dir, &w, &s) == FK_OK && s.unchanged == 5 && s.changed == 0,
          "touched: %d unchanged %d changed", s.unchanged, s.changed);
    /* Changed content: sample2 becomes sample5; added: a folder identity;
     * removed: sample4. */
    snprintf(p, sizeof p, "%s/sample5.jpg", src);
    snprintf(q, sizeof q, "%s/sample2.jpg", dir);
    copy_file(p, q);
    set_mtime(q, 1100000000);
    snprintf(q, sizeof q, "%s/Zed", dir);
    mkdir(q, 0755);
    snprintf(p, sizeof p, "%s/sample3.jpg", src);
    snprintf(q, sizeof q, "%s/Zed/zed.jpg", dir);
    copy_file(p, q);
    snprintf(q, sizeof q, "%s/sample4.jpg", dir);
    unlink(q);
    CHECK(index_dir(g, ctx, dir, &w, &s) == FK_OK, "index: %s", fk_last_error());
    CHECK(s.files == 5 && s.added == 1 && s.changed == 1 && s.removed == 1 && s.unchanged == 3,
          "after edits: %d files %d added %d changed %d removed %d unchanged", s.files,
          s.added, s.changed, s.removed, s.unchanged);
    CHECK(sql_int(gpath, "SELECT count(*) FROM images WHERE path='sample4.jpg'") == 0,
          "sample4 dropped");

    /* Search: Zed's image finds itself (distance ~0) named "Zed", and the
     * changed sample2 now holds sample5's face. */
    fk_image *img = NULL;
    snprintf(p, sizeof p, "%s/sample3.jpg", src);
    if (fk_image_load(p, 0, &img) == FK_OK) {
        fk_gallery_results r;
        CHECK(fk_gallery_search(g, ctx, img, NULL, 3, &r) == FK_OK && r.count >= 1, "search: %s",
              fk_last_error());
        int zed = 0, sample3 = 0;
        for (int i = 0; i < r.count; i++)
            for (int k = 0; k < r.items[i].count; k++) {
                const fk_gallery_match *m = &r.items[i].matches[k];
                if (m->distance < 1e-3f && !strcmp(m->identity, "Zed")) zed = 1;
                if (m->distance < 1e-3f && !strcmp(m->path, "sample3.jpg")) sample3 = 1;
                CHECK(strlen(m->hash) == 64 && m->threshold > 0, "hash and threshold");
            }
        CHECK(zed && sample3, "the same image found under both names (zed %d sample3 %d)", zed,
              sample3);
        fk_gallery_results_free(&r);
        fk_image_free(img);
    }
    fk_gallery_close(g);
    fk_context_free(ctx);
}

/* The indexer with decode_max_side: sample1 decoded at 1/2, its stored
 * face areas still in the file's pixels (a search with the full-size photo
 * finds each face at the same place). A negative bound is refused. */
static void test_indexer_scaled(void) {
    fk_context *ctx = NULL;
    if (fk_context_new(NULL, &ctx) != FK_OK) return;
    char src[PATH_MAX], dir[128], q[256], gpath[192];
    snprintf(src, sizeof src, "%s/face-api/sample1.jpg", fk_context_get_model_home(ctx));
    struct stat sb;
    if (stat(src, &sb) != 0) {
        fk_context_free(ctx);
        return;
    }
    snprintf(dir, sizeof dir, "%s/scaled", tmp);
    mkdir(dir, 0755);
    snprintf(q, sizeof q, "%s/sample1.jpg", dir);
    CHECK(copy_file(src, q) == 0, "copy sample1");
    snprintf(gpath, sizeof gpath, "%s/facekit-index.sqlite", dir);
    fk_gallery *g = NULL;
    CHECK(fk_gallery_open(gpath, NULL, creating(), &g) == FK_OK, "open: %s",
          fk_last_error());
    fk_gallery_index_options io;
    fk_gallery_index_options_init(&io);
    io.decode_max_side = -1;
    CHECK(g && fk_gallery_index_folder(g, ctx, dir, &io, NULL) == FK_EINVAL &&
              strstr(fk_last_error(), "decode_max_side"), "negative decode_max_side: %s",
          fk_last_error());
    io.decode_max_side = 960;
    fk_gallery_index_stats st;
    CHECK(g && fk_gallery_index_folder(g, ctx, dir, &io, &st) == FK_OK && st.faces == 3,
          "index at 1/2: %s (%d faces)", fk_last_error(), g ? st.faces : -1);
    fk_image *img = NULL;
    fk_gallery_results res = {0};
    CHECK(fk_image_load(src, 0, &img) == FK_OK, "load sample1");
    CHECK(g && img && fk_gallery_search(g, ctx, img, NULL, 1, &res) == FK_OK && res.count == 3,
          "search: %s", fk_last_error());
    for (int i = 0; i < res.count; i++) {
        const fk_gallery_result *r = &res.items[i];
        CHECK(r->count == 1 && fabsf(r->matches[0].area.x - r->face.x) <= 6 &&
                  fabsf(r->matches[0].area.y - r->face.y) <= 6 &&
                  fabsf(r->matches[0].area.w - r->face.w) <= 6,
              "face %d: stored area %.0f,%.0f,%.0f vs query %.0f,%.0f,%.0f", i,
              r->count ? r->matches[0].area.x : -1, r->count ? r->matches[0].area.y : -1,
              r->count ? r->matches[0].area.w : -1, r->face.x, r->face.y, r->face.w);
        /* the index embedded the 1/2 decode: close, but not the full
         * decode's embedding bit for bit */
        CHECK(r->count == 1 && r->matches[0].distance > 1e-5f && r->matches[0].distance < 0.03f,
              "face %d: distance %g to its own 1/2-decode embedding", i,
              r->count ? (double)r->matches[0].distance : -1.0);
    }
    fk_gallery_results_free(&res);
    fk_image_free(img);
    fk_gallery_close(g);
    fk_context_free(ctx);
}

/* top_k 0: every row within the threshold, exactly as a brute force over
 * fk_distance finds them, closest first, for every metric; top_k > 0
 * unchanged (the k closest, whatever their distance). */
static void test_search_within(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/within.db", tmp);
    const int n = 9000; /* above 8192: the threaded scan */
    float *rows = malloc((size_t)n * 128 * sizeof *rows);
    fk_gallery *g = NULL;
    uint64_t seed = 99;
    CHECK(fk_gallery_open(path, NULL, creating(), &g) == FK_OK, "create");
    if (!g || !rows) return;
    CHECK(put_random(g, 0, n, 50, 1000, &seed, rows, -1) == FK_OK, "fill: %s", fk_last_error());
    fk_gallery_close(g);
    /* Thresholds that take a few dozen of the random rows around a query
     * made of a stored row plus noise. */
    const char *metrics[] = {"cosine", "euclidean", "euclidean_l2", "angular"};
    for (int m = 0; m < 4; m++) {
        float q[128];
        int base = 1234 + m;
        for (int i = 0; i < 128; i++) q[i] = rows[(size_t)base * 128 + i] + 0.8f * frand(&seed);
        /* The brute force's 40th distance is the threshold: 40 matches
         * (more with ties). */
        int bi[40];
        float bd[40];
        brute_force(rows, n, q, metrics[m], 40, -1, bi, bd);
        fk_options o;
        fk_options_init(&o);
        o.metric = metrics[m];
        o.threshold = bd[39];
        int want = 0;
        for (int r = 0; r < n; r++) {
            float d;
            fk_distance(q, rows + (size_t)r * 128, 128, metrics[m], &d);
            want += d <= o.threshold;
        }
        CHECK(fk_gallery_open(path, &o, NULL, &g) == FK_OK, "open");
        if (!g) continue;
        fk_gallery_result r;
        CHECK(fk_gallery_search_embedding(g, q, 128, 0, 0, &r) == FK_OK, "search: %s",
              fk_last_error());
        /* rounding between the two distance computations may move the
         * last row across the threshold */
        CHECK(abs(r.count - want) <= 1 && r.count >= 39, "%s: %d within the threshold, brute "
              "force %d", metrics[m], r.count, want);
        int sorted = 1, within = 1, same = 1;
        for (int i = 0; i < r.count; i++) {
            within &= r.matches[i].distance <= r.matches[i].threshold &&
                      r.matches[i].threshold == o.threshold;
            if (i) sorted &= r.matches[i - 1].distance <= r.matches[i].distance;
            if (i < 39) same &= fabsf(r.matches[i].distance - bd[i]) < 1e-3f * (1 + bd[i]);
        }
        CHECK(sorted && within && same, "%s: sorted %d, within %d, same distances as brute "
              "force %d", metrics[m], sorted, within, same);
        fk_gallery_result_free(&r);
        /* A stored row left out (leave-one-out) is not among them. */
        CHECK(fk_gallery_search_embedding(g, rows + (size_t)base * 128, 128, 0, base + 1, &r) ==
                  FK_OK, "exclude: %s", fk_last_error());
        int self = 0;
        for (int i = 0; i < r.count; i++) self |= r.matches[i].image_id == base + 1;
        CHECK(!self, "%s: the excluded image is not returned", metrics[m]);
        fk_gallery_result_free(&r);
        /* Several queries at once: each the same as alone. */
        fk_gallery_results rs;
        float two[256];
        memcpy(two, q, sizeof q);
        memcpy(two + 128, q, sizeof q);
        CHECK(fk_gallery_search_embeddings(g, two, 2, 128, 0, &rs) == FK_OK && rs.count == 2 &&
                  abs(rs.items[0].count - want) <= 1 && rs.items[1].count == rs.items[0].count,
              "%s: batch of two: %s", metrics[m], fk_last_error());
        fk_gallery_results_free(&rs);
        /* top_k still caps, whatever the distance. */
        CHECK(fk_gallery_search_embedding(g, q, 128, 3, 0, &r) == FK_OK && r.count == 3,
              "top_k 3");
        fk_gallery_result_free(&r);
        CHECK(fk_gallery_search_embedding(g, q, 128, -1, 0, &r) == FK_EINVAL, "top_k -1");
        fk_gallery_close(g);
    }
    free(rows);
}

/* register: every face of a group photo in one go, max_faces, duplicates
 * by pixels (whatever the stride), allow_duplicates, paths kept apart,
 * and a search with another model naming what the gallery holds. */
static void test_register(void) {
    fk_context *ctx = NULL;
    if (fk_context_new(NULL, &ctx) != FK_OK) return;
    char src[PATH_MAX], probe[PATH_MAX + 64];
    snprintf(src, sizeof src, "%s/face-api", fk_context_get_model_home(ctx));
    snprintf(probe, sizeof probe, "%s/face_recognition_model.bin", src);
    struct stat sb;
    if (stat(probe, &sb) != 0) {
        printf("register checks skipped: no models in %s\n", fk_context_get_model_home(ctx));
        fk_context_free(ctx);
        return;
    }
    char path[128], img1[PATH_MAX + 64], img2[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/register.db", tmp);
    snprintf(img1, sizeof img1, "%s/sample1.jpg", src);
    snprintf(img2, sizeof img2, "%s/sample2.jpg", src);
    fk_image *a = NULL, *b = NULL;
    fk_gallery *g = NULL;
    CHECK(fk_image_load(img1, 0, &a) == FK_OK && fk_image_load(img2, 0, &b) == FK_OK, "load");
    CHECK(fk_gallery_open(path, NULL, creating(), &g) == FK_OK, "open: %s", fk_last_error());
    if (!a || !b || !g) goto done;
    fk_faces det = {0};
    CHECK(fk_detect(ctx, a, NULL, &det) == FK_OK && det.count >= 2, "sample1 is a group photo");

    fk_gallery_register_result r;
    CHECK(fk_gallery_register(g, ctx, a, "group", "sample1.jpg", NULL, &r) == FK_OK,
          "register: %s", fk_last_error());
    CHECK(!r.duplicate && r.faces.count == det.count && r.path && !strcmp(r.path, "sample1.jpg") &&
              !r.duplicate_identity, "every face stored: %d of %d detected", r.faces.count,
          det.count);
    int distinct = 1;
    for (int i = 0; i < r.faces.count; i++)
        for (int k = 0; k < i; k++) distinct &= r.face_ids[i] > 0 && r.face_ids[i] != r.face_ids[k];
    CHECK(distinct && r.faces.faces[0].embedding_dim == 128, "face ids and embeddings");
    fk_gallery_register_result_free(&r);
    fk_gallery_stats st;
    CHECK(fk_gallery_get_stats(g, &st) == FK_OK && st.faces == det.count && st.images == 1,
          "stats: %d faces", st.faces);

    /* The same pixels again, in a buffer of another stride: a duplicate,
     * nothing stored. */
    fk_image *wide = NULL;
    CHECK(fk_image_new(a->width + 7, a->height, a->channels, &wide) == FK_OK, "image");
    if (wide) {
        fk_image view = *a;
        view.data = wide->data;
        view.stride = wide->stride;
        for (int y = 0; y < a->height; y++)
            memcpy(wide->data + (size_t)y * wide->stride, a->data + (size_t)y * a->stride,
                   (size_t)a->width * a->channels);
        CHECK(fk_gallery_register(g, ctx, &view, "someone", "-", NULL, &r) == FK_OK &&
                  r.duplicate && r.faces.count == 0 && r.duplicate_identity &&
                  !strcmp(r.duplicate_identity, "group") &&
                  !strcmp(r.duplicate_path, "sample1.jpg"),
              "a duplicate, registered as group: %s", fk_last_error());
        fk_gallery_register_result_free(&r);
        fk_image_free(wide);
    }
    CHECK(fk_gallery_get_stats(g, &st) == FK_OK && st.faces == det.count, "count unchanged");
    /* allow_duplicates: stored again, under a path of its own. */
    fk_gallery_register_options ro;
    fk_gallery_register_options_init(&ro);
    ro.allow_duplicates = 1;
    CHECK(fk_gallery_register(g, ctx, a, "group", "sample1.jpg", &ro, &r) == FK_OK &&
              !r.duplicate && r.faces.count == det.count && !strcmp(r.path, "sample1.jpg#2") &&
              r.duplicate_identity && !strcmp(r.duplicate_identity, "group"),
          "allow_duplicates stores it: %s (path %s)", fk_last_error(), r.path ? r.path : "-");
    fk_gallery_register_result_free(&r);
    CHECK(fk_gallery_get_stats(g, &st) == FK_OK && st.faces == 2 * det.count && st.images == 2,
          "stats after allow_duplicates: %d faces", st.faces);
    /* max_faces 1: the largest face only. */
    fk_faces det2 = {0};
    CHECK(fk_detect(ctx, b, NULL, &det2) == FK_OK && det2.count >= 2, "sample2 group");
    float largest = 0;
    for (int i = 0; i < det2.count; i++)
        if (det2.faces[i].w * det2.faces[i].h > largest) largest = det2.faces[i].w * det2.faces[i].h;
    fk_gallery_register_options_init(&ro);
    ro.max_faces = 1;
    CHECK(fk_gallery_register(g, ctx, b, "two", "sample2.jpg", &ro, &r) == FK_OK &&
              r.faces.count == 1 && r.faces.faces[0].w * r.faces.faces[0].h >= largest * 0.999f,
          "max_faces 1: the largest face: %s", fk_last_error());
    fk_gallery_register_result_free(&r);
    ro.max_faces = -1;
    CHECK(fk_gallery_register(g, ctx, b, "two", "x", &ro, &r) == FK_EINVAL, "max_faces -1");
    CHECK(fk_gallery_register(g, ctx, b, "", "x", NULL, &r) == FK_EINVAL, "empty identity");
    CHECK(fk_gallery_register(g, ctx, b, "two", "x", NULL, NULL) == FK_EINVAL, "NULL out");
    int ndet = det.count;
    fk_faces_free(&det);
    fk_faces_free(&det2);

    /* Searching with another model: an error naming what is stored. */
    fk_options o;
    fk_options_init(&o);
    o.model = "MobileFaceNet";
    fk_gallery *other = NULL;
    fk_gallery_results res = {0};
    if (fk_gallery_open(path, &o, NULL, &other) == FK_OK) {
        fk_status s = fk_gallery_search(other, ctx, a, NULL, 0, &res);
        CHECK(s == FK_EINVAL && res.count == 0, "another model: %s", fk_last_error());
        char want[256];
        snprintf(want, sizeof want, "holds no faces for model MobileFaceNet, detector ssd, "
                 "align on; it holds %d faces of model Dlib, detector ssd, align on: pass "
                 "--model Dlib", 2 * ndet + 1);
        CHECK(strstr(fk_last_error(), want) != NULL, "message: %s", fk_last_error());
        fk_gallery_results_free(&res);
        fk_gallery_close(other);
    }
    /* Another input normalization is another configuration: its faces
     * are kept apart and the stats name it; l2_normalize is refused. */
    fk_options_init(&o);
    o.normalization = "facenet2018";
    fk_gallery *norm = NULL;
    CHECK(fk_gallery_open(path, &o, NULL, &norm) == FK_OK, "open Facenet2018: %s",
          fk_last_error());
    if (norm) {
        CHECK(fk_gallery_search(norm, ctx, a, NULL, 0, &res) == FK_EINVAL &&
                  strstr(fk_last_error(), "align on, normalization Facenet2018; it holds") &&
                  strstr(fk_last_error(), "pass --normalization base"),
              "no Facenet2018 faces yet: %s", fk_last_error());
        fk_gallery_results_free(&res);
        CHECK(fk_gallery_register(norm, ctx, b, "two-f", "sample2.jpg", NULL, &r) == FK_OK &&
                  r.faces.count >= 2 && !strcmp(r.faces.faces[0].normalization, "Facenet2018"),
              "register with Facenet2018: %s", fk_last_error());
        fk_gallery_register_result_free(&r);
        CHECK(fk_gallery_get_stats(norm, &st) == FK_OK && !strcmp(st.normalization, "Facenet2018") &&
                  st.identities == 1 && st.configurations >= 2,
              "stats: %s, %d identities, %d configurations", st.normalization, st.identities,
              st.configurations);
        fk_gallery_close(norm);
    }
    CHECK(fk_gallery_get_stats(g, &st) == FK_OK && !strcmp(st.normalization, "base") &&
              st.faces == 2 * ndet + 1,
          "the base configuration is untouched: %d faces", st.faces);
    fk_options_init(&o);
    o.l2_normalize = 1;
    CHECK(fk_gallery_open(path, &o, NULL, &norm) == FK_EINVAL &&
              strstr(fk_last_error(), "l2_normalize"),
          "l2_normalize refused: %s", fk_last_error());
    /* top_k 0 through the image search: the group's own faces at distance
     * ~0, every match within the threshold. */
    CHECK(fk_gallery_search(g, ctx, a, NULL, 0, &res) == FK_OK && res.count == ndet,
          "search: %s", fk_last_error());
    for (int i = 0; i < res.count; i++) {
        int ok = res.items[i].count >= 2; /* itself, and its allowed duplicate */
        for (int k = 0; k < res.items[i].count; k++)
            ok &= res.items[i].matches[k].distance <= res.items[i].matches[k].threshold;
        CHECK(ok && res.items[i].matches[0].distance < 1e-4f &&
                  !strcmp(res.items[i].matches[0].identity, "group") &&
                  res.items[i].matches[0].hash[0],
              "face %d: %d matches", i, res.items[i].count);
    }
    fk_gallery_results_free(&res);
done:
    fk_gallery_close(g);
    fk_image_free(a);
    fk_image_free(b);
    fk_context_free(ctx);
}

int main(void) {
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    test_identity_names();
    test_file_validation();
    test_gallery_options();
    test_search_exact();
    test_topk_batch_kernel();
    test_list_remove_stats();
    test_kill_safety_db();
    test_indexer();
    test_indexer_scaled();
    test_search_within();
    test_register();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmp);
    return test_summary();
}
