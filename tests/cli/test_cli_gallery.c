/*
 * test_cli_gallery.c - find, register, search and gallery list|remove|stats
 * run as a user runs them: exit codes, one-line errors, and the JSON fields
 * (deepface's find columns: identity, hash, target_x.., source_x..,
 * threshold, distance).
 *
 * The images are the face-api sample images in the model home, so
 * everything but the argument checks skips when the models are absent.
 */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "facekit.h"
#include "test.h"
#include "test_cli_run.h"

static const char *cli;
static char tmp[64] = "/tmp/fk_cli_gallery_XXXXXX";
static char out_buf[1 << 20], err_buf[1 << 16];

static void slurp(const char *path, char *buf, size_t cap) {
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Run the CLI (argv NULL-terminated) in tmp; stdout and stderr land in
 * out_buf and err_buf; returns the exit code. */
static int run(const char *const *argv) {
    test_cli_io io = {tmp, NULL, tmp, out_buf, sizeof out_buf, err_buf, sizeof err_buf};
    return test_cli_run(cli, argv, &io);
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void expect_error(const char *what, int rc, const char *needle) {
    CHECK(rc != 0 && rc < 128, "%s: exit code %d (stderr: %s)", what, rc, err_buf);
    CHECK(count_lines(err_buf) == 1, "%s: stderr has %d lines: %s", what, count_lines(err_buf),
          err_buf);
    CHECK(out_buf[0] == '\0', "%s: stdout not empty: %.200s", what, out_buf);
    CHECK(!needle || strstr(err_buf, needle), "%s: '%s' not in: %s", what, needle, err_buf);
}

static json_t *parse_out(const char *what) {
    json_error_t e;
    json_t *j = json_loads(out_buf, 0, &e);
    CHECK(j != NULL, "%s: stdout is not JSON (%s): %.300s", what, e.text, out_buf);
    return j;
}

static int copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    if (!in || !out) {
        if (in) fclose(in);
        return -1;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    return 0;
}

/* Checks that need no model. */
static void test_usage_and_refusals(void) {
    const char *a1[] = {cli, "find", "x.jpg", NULL};
    expect_error("find without --db", run(a1), "usage");
    const char *a2[] = {cli, "register", "-", NULL};
    CHECK(run(a2) == 2 && strstr(err_buf, "pass --id NAME") && out_buf[0] == '\0',
          "register from stdin without --id: %s", err_buf);
    const char *a2b[] = {cli, "register", NULL};
    expect_error("register without an image", run(a2b), "usage");
    const char *a3[] = {cli, "gallery", "frobnicate", NULL};
    expect_error("gallery bad subcommand", run(a3), "usage");
    const char *a4[] = {cli, "search", "x.jpg", "--top-k", "0", NULL};
    CHECK(run(a4) == 2, "--top-k 0 is a usage error");
    const char *a5[] = {cli, "gallery", "list", "--db", "missing.db", NULL};
    expect_error("missing gallery", run(a5), "no such gallery");
    char p[128];
    snprintf(p, sizeof p, "%s/text.db", tmp);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs("just some text, long enough to be a header\n", f);
        fclose(f);
    }
    const char *a6[] = {cli, "gallery", "stats", "--db", "text.db", NULL};
    expect_error("non-SQLite file", run(a6), "not an SQLite database");
    const char *a7[] = {cli, "find", "x.jpg", "--db", "text.db", NULL};
    expect_error("find on a file", run(a7), "not a folder");
}

static void test_find(const char *samples) {
    char dir[128], p[PATH_MAX + 64], q[256];
    snprintf(dir, sizeof dir, "%s/people", tmp);
    mkdir(dir, 0755);
    /* One folder per identity: Ann holds sample1+2, Ben sample3, and a
     * broken file that must be skipped with a warning. */
    const char *layout[][2] = {{"Ann", "sample1.jpg"}, {"Ann", "sample2.jpg"},
                               {"Ben", "sample3.jpg"}};
    for (int i = 0; i < 3; i++) {
        snprintf(q, sizeof q, "%s/%s", dir, layout[i][0]);
        mkdir(q, 0755);
        snprintf(p, sizeof p, "%s/%s", samples, layout[i][1]);
        snprintf(q, sizeof q, "%s/%s/%s", dir, layout[i][0], layout[i][1]);
        CHECK(copy_file(p, q) == 0, "copy %s", p);
    }
    snprintf(q, sizeof q, "%s/Ben/broken.png", dir);
    FILE *f = fopen(q, "wb");
    if (f) {
        fputs("\x89PNG\r\n\x1a\n truncated", f);
        fclose(f);
    }
    snprintf(p, sizeof p, "%s/sample3.jpg", samples);
    const char *a[] = {cli, "find", p, "--db", "people", NULL};
    int rc = run(a);
    CHECK(rc == 0, "find: exit %d: %s", rc, err_buf);
    CHECK(strstr(err_buf, "warning") && strstr(err_buf, "broken.png"),
          "the broken file is reported: %s", err_buf);
    json_t *j = parse_out("find");
    if (j) {
        json_t *idx = json_object_get(j, "index");
        CHECK(json_integer_value(json_object_get(idx, "images")) == 4 &&
                  json_integer_value(json_object_get(idx, "added")) == 4 &&
                  json_integer_value(json_object_get(idx, "unreadable")) == 1,
              "index counts: %s", out_buf);
        CHECK(!strcmp(json_string_value(json_object_get(j, "model")), "Dlib") &&
                  !strcmp(json_string_value(json_object_get(j, "detector_backend")), "ssd") &&
                  !strcmp(json_string_value(json_object_get(j, "similarity_metric")), "cosine"),
              "model, detector_backend, similarity_metric");
        json_t *res = json_object_get(j, "results");
        CHECK(json_array_size(res) >= 1, "one result per query face");
        json_t *first = json_array_get(res, 0);
        json_t *matches = json_object_get(first, "matches");
        CHECK(json_object_get(json_object_get(first, "source_area"), "left_eye") != NULL,
              "source_area with eyes");
        CHECK(json_array_size(matches) >= 1, "a match: %s", out_buf);
        json_t *m = json_array_get(matches, 0);
        const char *keys[] = {"identity", "name", "hash", "target_x", "target_y", "target_w",
                              "target_h", "source_x", "source_y", "source_w", "source_h",
                              "threshold", "distance", "confidence", "target_left_eye",
                              "target_right_eye"};
        for (size_t k = 0; m && k < sizeof keys / sizeof keys[0]; k++)
            CHECK(json_object_get(m, keys[k]) != NULL, "match field %s", keys[k]);
        CHECK(m && !json_object_get(m, "file"), "no 'file' field (identity holds the path)");
        /* deepface's identity: the matched image's path (the folder joined
         * with the file); the person's name beside it. */
        CHECK(m && !strcmp(json_string_value(json_object_get(m, "identity")),
                           "people/Ben/sample3.jpg") &&
                  !strcmp(json_string_value(json_object_get(m, "name")), "Ben") &&
                  json_real_value(json_object_get(m, "distance")) < 1e-3 &&
                  json_real_value(json_object_get(m, "confidence")) > 99.9,
              "top-1 is the same image as Ben: %s", out_buf);
        CHECK(m && strlen(json_string_value(json_object_get(m, "hash"))) == 64, "sha256 hex");
        /* Matches are within the threshold and sorted, their identity a
         * file that exists (relative to where find ran), their confidence
         * fk_confidence's. */
        double prev = -1;
        for (size_t k = 0; k < json_array_size(matches); k++) {
            json_t *mk = json_array_get(matches, k);
            double d = json_real_value(json_object_get(mk, "distance"));
            double t = json_real_value(json_object_get(mk, "threshold"));
            CHECK(d >= prev && d <= t, "match %zu distance %g", k, d);
            prev = d;
            char f[PATH_MAX + 200];
            snprintf(f, sizeof f, "%s/%s", tmp, json_string_value(json_object_get(mk, "identity")));
            CHECK(access(f, R_OK) == 0, "identity %s is a file", f);
            float want = 0;
            double conf = json_real_value(json_object_get(mk, "confidence"));
            CHECK(fk_confidence((float)d, (float)t, &want) == FK_OK && fabs(conf - want) < 0.011 &&
                      conf >= 51 && conf <= 100,
                  "match %zu confidence %g (fk_confidence %g)", k, conf, (double)want);
        }
        json_decref(j);
    }
    /* Second run: nothing re-embedded, no warning again. */
    rc = run(a);
    j = parse_out("find again");
    if (j) {
        json_t *idx = json_object_get(j, "index");
        CHECK(rc == 0 && json_integer_value(json_object_get(idx, "unchanged")) == 4 &&
                  json_integer_value(json_object_get(idx, "added")) == 0,
              "incremental: %s", out_buf);
        json_decref(j);
    }
    CHECK(!strstr(err_buf, "warning"), "no warning on the second run: %s", err_buf);
    /* gallery list/stats accept the folder. */
    const char *l[] = {cli, "gallery", "list", "--db", "people", NULL};
    rc = run(l);
    j = parse_out("gallery list on the folder");
    CHECK(rc == 0 && json_array_size(j) == 2, "Ann and Ben: %s", out_buf);
    if (j) {
        json_t *ann = json_array_get(j, 0);
        CHECK(!strcmp(json_string_value(json_object_get(ann, "identity")), "Ann") &&
                  json_integer_value(json_object_get(ann, "images")) == 2,
              "Ann has 2 images: %s", out_buf);
    }
    json_decref(j);
}

/* find --search-method ann on the folder indexed by test_find answers
 * like exact search (ANN forced even on this tiny gallery through
 * FACEKIT_ANN_MIN_ROWS=0); an unknown method lists the valid ones. */
static void test_find_ann(const char *samples) {
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/sample1.jpg", samples);
    const char *ex[] = {cli, "find", p, "--db", "people", "--quiet", NULL};
    const char *an[] = {cli, "find", p, "--db", "people", "--quiet", "--search-method", "ann",
                        NULL};
#if !FK_WITH_FAISS
    /* A build without faiss (cmake -DFK_WITH_FAISS=OFF) refuses it, saying why. */
    (void)ex;
    expect_error("ann without faiss", run(an), "FK_WITH_FAISS=OFF");
    return;
#endif
    int rc = run(ex);
    json_t *je = parse_out("find exact");
    setenv("FACEKIT_ANN_MIN_ROWS", "0", 1);
    int rc2 = run(an);
    unsetenv("FACEKIT_ANN_MIN_ROWS");
    json_t *ja = parse_out("find ann");
    CHECK(rc == 0 && rc2 == 0, "find exact/ann: exit %d/%d: %s", rc, rc2, err_buf);
    if (je && ja) {
        CHECK(!strcmp(json_string_value(json_object_get(je, "search_method")), "exact") &&
                  !strcmp(json_string_value(json_object_get(ja, "search_method")), "hnsw"),
              "search_method says who answered: %s", out_buf);
        json_t *re = json_object_get(je, "results"), *ra = json_object_get(ja, "results");
        CHECK(json_array_size(re) >= 2 && json_array_size(re) == json_array_size(ra),
              "same faces: %zu vs %zu", json_array_size(re), json_array_size(ra));
        for (size_t i = 0; i < json_array_size(re) && i < json_array_size(ra); i++) {
            json_t *me = json_object_get(json_array_get(re, i), "matches");
            json_t *ma = json_object_get(json_array_get(ra, i), "matches");
            CHECK(json_array_size(me) == json_array_size(ma), "face %zu: same match count", i);
            if (json_array_size(me) == 0 || json_array_size(ma) == 0) continue;
            json_t *e0 = json_array_get(me, 0), *a0 = json_array_get(ma, 0);
            CHECK(!strcmp(json_string_value(json_object_get(e0, "identity")),
                          json_string_value(json_object_get(a0, "identity"))) &&
                      fabs(json_real_value(json_object_get(e0, "distance")) -
                           json_real_value(json_object_get(a0, "distance"))) < 1e-5,
                  "face %zu: same top-1 (file and distance): %s %g vs %s %g", i,
                  json_string_value(json_object_get(e0, "identity")),
                  json_real_value(json_object_get(e0, "distance")),
                  json_string_value(json_object_get(a0, "identity")),
                  json_real_value(json_object_get(a0, "distance")));
        }
    }
    json_decref(je);
    json_decref(ja);
    char ann_path[256];
    snprintf(ann_path, sizeof ann_path, "%s/people/facekit-index.sqlite.c1-hnsw-ip.ann", tmp);
    CHECK(access(ann_path, F_OK) == 0, "the ANN index is kept beside the gallery");
    const char *bad[] = {cli, "find", p, "--db", "people", "--search-method", "fast", NULL};
    expect_error("unknown search method", run(bad), "valid: exact, ann");
    const char *badk[] = {cli, "search", p, "--db", "x.db", "--search-method", "ann", "--ann",
                          "lsh", NULL};
    expect_error("unknown ANN index", run(badk), "valid: hnsw, ivfpq");
}

/* Faces `detect` finds in an image (the count register must store). */
static int detect_count(const char *img) {
    const char *d[] = {cli, "detect", img, NULL};
    int rc = run(d);
    json_t *j = parse_out("detect");
    int n = rc == 0 && j ? (int)json_array_size(json_is_array(j) ? j
                                                : json_object_get(j, "faces")) : -1;
    json_decref(j);
    return n;
}

static json_int_t stats_faces(void) {
    const char *st[] = {cli, "gallery", "stats", "--db", "g.db", NULL};
    int rc = run(st);
    json_t *j = parse_out("stats");
    json_int_t n = rc == 0 && j ? json_integer_value(json_object_get(j, "faces")) : -1;
    json_decref(j);
    return n;
}

static void test_register_search(const char *samples) {
    char p1[PATH_MAX + 64], p2[PATH_MAX + 64], p4[PATH_MAX + 64], p5[PATH_MAX + 64];
    snprintf(p1, sizeof p1, "%s/sample1.jpg", samples);
    snprintf(p2, sizeof p2, "%s/sample3.jpg", samples);
    snprintf(p4, sizeof p4, "%s/sample2.jpg", samples);
    snprintf(p5, sizeof p5, "%s/sample4.jpg", samples);
    int n1 = detect_count(p1), n2 = detect_count(p2);
    CHECK(n1 >= 2 && n2 >= 1, "detect: %d and %d faces", n1, n2);
    const char *r1[] = {cli, "register", p1, "--id", "Alice", "--db", "g.db", NULL};
    int rc = run(r1);
    json_t *j = parse_out("register");
    json_t *faces = json_object_get(j, "faces");
    CHECK(rc == 0 && j && json_is_true(json_object_get(j, "registered")) &&
              json_is_false(json_object_get(j, "duplicate")) &&
              (int)json_array_size(faces) == n1 &&
              json_integer_value(json_object_get(json_array_get(faces, 0), "face_id")) > 0 &&
              json_object_get(json_object_get(json_array_get(faces, 0), "facial_area"), "w"),
          "register stores every face of the group photo (%d): %s %s", n1, out_buf, err_buf);
    json_decref(j);
    /* The same image again: reported, skipped, the count unchanged. */
    const char *r1b[] = {cli, "register", p1, "--id", "Someone", "--db", "g.db", NULL};
    rc = run(r1b);
    j = parse_out("register twice");
    CHECK(rc == 0 && j && json_is_true(json_object_get(j, "duplicate")) &&
              json_is_false(json_object_get(j, "registered")) &&
              json_array_size(json_object_get(j, "faces")) == 0 &&
              !strcmp(json_string_value(json_object_get(json_object_get(j, "duplicate_of"),
                                                        "identity")), "Alice") &&
              strstr(err_buf, "already registered as Alice"),
          "a duplicate: %s %s", out_buf, err_buf);
    json_decref(j);
    CHECK(stats_faces() == n1, "the face count did not change");
    /* --allow-duplicates stores it. */
    const char *r1c[] = {cli, "register", p1, "--id", "Alice", "--db", "g.db",
                         "--allow-duplicates", NULL};
    rc = run(r1c);
    j = parse_out("register --allow-duplicates");
    CHECK(rc == 0 && j && json_is_true(json_object_get(j, "registered")) &&
              (int)json_array_size(json_object_get(j, "faces")) == n1,
          "--allow-duplicates: %s %s", out_buf, err_buf);
    json_decref(j);
    CHECK(stats_faces() == 2 * n1, "twice the faces");
    /* --max-faces 1: one face. */
    const char *r3[] = {cli, "register", p4, "--id", "Group2", "--db", "g.db", "--max-faces", "1",
                        NULL};
    rc = run(r3);
    j = parse_out("register --max-faces 1");
    CHECK(rc == 0 && j && json_array_size(json_object_get(j, "faces")) == 1,
          "--max-faces 1 stores one face: %s %s", out_buf, err_buf);
    json_decref(j);
    /* --id defaults to the file's base name. */
    char carol[256];
    snprintf(carol, sizeof carol, "%s/carol.jpg", tmp);
    CHECK(copy_file(p5, carol) == 0, "copy");
    const char *r4[] = {cli, "register", "carol.jpg", "--db", "g.db", NULL};
    rc = run(r4);
    j = parse_out("register without --id");
    CHECK(rc == 0 && j && !strcmp(json_string_value(json_object_get(j, "identity")), "carol") &&
              !strcmp(json_string_value(json_object_get(j, "source")), "carol.jpg"),
          "--id defaults to the base name: %s %s", out_buf, err_buf);
    json_decref(j);
    const char *r2[] = {cli, "register", p2, "--id", "Bob", "--db", "g.db", NULL};
    CHECK(run(r2) == 0, "register Bob: %s", err_buf);
    int carol_faces = detect_count(carol);
    json_int_t total = 2 * n1 + 1 + carol_faces + n2;
    CHECK(stats_faces() == total, "faces: %lld", (long long)total);

    /* search: every match within the threshold by default; identity the
     * registered name, source the image. */
    const char *s[] = {cli, "search", p1, "--db", "g.db", NULL};
    rc = run(s);
    j = parse_out("search");
    if (j) {
        json_t *ms = json_object_get(json_array_get(json_object_get(j, "results"), 0), "matches");
        json_t *m = json_array_get(ms, 0);
        CHECK(rc == 0 && m && !strcmp(json_string_value(json_object_get(m, "identity")), "Alice") &&
                  !strcmp(json_string_value(json_object_get(m, "source")), p1) &&
                  json_real_value(json_object_get(m, "distance")) < 1e-3 &&
                  json_real_value(json_object_get(m, "confidence")) > 99.9 &&
                  json_array_size(ms) >= 2, /* itself and its allowed duplicate */
              "search finds Alice twice: %s", out_buf);
        json_decref(j);
    }
    const char *s1[] = {cli, "search", p1, "--db", "g.db", "--top-k", "1", NULL};
    rc = run(s1);
    j = parse_out("search --top-k 1");
    CHECK(rc == 0 && j && json_array_size(json_object_get(
                              json_array_get(json_object_get(j, "results"), 0), "matches")) == 1,
          "--top-k 1 caps: %s", out_buf);
    json_decref(j);
    /* Another model: exit 1 naming what the gallery holds. */
    const char *sm[] = {cli, "search", p1, "--db", "g.db", "--model", "MobileFaceNet", NULL};
    rc = run(sm);
    char want[256];
    snprintf(want, sizeof want, "it holds %lld faces of model Dlib, detector ssd, align on: pass "
             "--model Dlib", (long long)total);
    expect_error("search with another model", rc, want);
    CHECK(rc == 1, "exit 1: %d", rc);

    const char *rm[] = {cli, "gallery", "remove", "Alice", "--db", "g.db", NULL};
    rc = run(rm);
    j = parse_out("remove");
    CHECK(rc == 0 && j && json_integer_value(json_object_get(j, "faces")) == 2 * n1,
          "remove: %s", out_buf);
    json_decref(j);
    expect_error("remove twice", run(rm), "no identity 'Alice'");
    const char *ls[] = {cli, "gallery", "list", "--db", "g.db", NULL};
    rc = run(ls);
    j = parse_out("list");
    CHECK(rc == 0 && json_array_size(j) == 3 &&
              !strcmp(json_string_value(json_object_get(json_array_get(j, 0), "identity")), "Bob"),
          "Bob, Group2, carol left: %s", out_buf);
    json_decref(j);
    /* Alice's image now matches no one within the threshold. */
    rc = run(s);
    j = parse_out("search after remove");
    if (j) {
        json_t *res0 = json_array_get(json_object_get(j, "results"), 0);
        json_t *ms = json_object_get(res0, "matches");
        for (size_t k = 0; k < json_array_size(ms); k++)
            CHECK(strcmp(json_string_value(json_object_get(json_array_get(ms, k), "identity")),
                         "Alice") != 0,
                  "removed identity still found");
        json_decref(j);
    }
}

/* Up to max image names of LFW's folder for `who`, sorted. */
static int lfw_files(const char *lfw, const char *who, char names[][128], int max) {
    char d[PATH_MAX + 200];
    snprintf(d, sizeof d, "%s/%s", lfw, who);
    DIR *dh = opendir(d);
    int n = 0;
    struct dirent *e;
    while (dh && (e = readdir(dh)) != NULL)
        if (n < max && strstr(e->d_name, ".jpg") && strlen(e->d_name) < 128) {
            memcpy(names[n], e->d_name, strlen(e->d_name) + 1);
            n++;
        }
    if (dh) closedir(dh);
    qsort(names, (size_t)n, 128, (int (*)(const void *, const void *))strcmp);
    return n;
}

/* find on a folder where one person has more than 10 photos (LFW's 8 of
 * the person plus their mirror images, and two other people): by default
 * every match within the threshold (more than 10), sorted; --top-k 3
 * caps at 3. */
static void test_find_many(const char *lfw) {
    const char *who = "Jennifer_Lopez", *others[] = {"Aaron_Peirsol", "Al_Gore"};
    char dir[128], p[PATH_MAX + 600], q[PATH_MAX + 600];
    snprintf(dir, sizeof dir, "%s/many", tmp);
    mkdir(dir, 0755);
    snprintf(q, sizeof q, "%s/%s", dir, who);
    mkdir(q, 0755);
    int made = 0;
    char names[8][128];
    int have = lfw_files(lfw, who, names, 8);
    for (int i = 0; i < have; i++) {
        snprintf(p, sizeof p, "%s/%s/%s", lfw, who, names[i]);
        fk_image *img = NULL;
        if (fk_image_load(p, 0, &img) != FK_OK) continue;
        snprintf(q, sizeof q, "%s/%s/%s", dir, who, names[i]);
        made += copy_file(p, q) == 0;
        for (int y = 0; y < img->height; y++) { /* mirror */
            uint8_t *row = img->data + (size_t)y * img->stride;
            for (int x = 0; x < img->width / 2; x++)
                for (int c = 0; c < img->channels; c++) {
                    uint8_t t = row[x * img->channels + c];
                    row[x * img->channels + c] = row[(img->width - 1 - x) * img->channels + c];
                    row[(img->width - 1 - x) * img->channels + c] = t;
                }
        }
        snprintf(q, sizeof q, "%s/%s/mirror_%.100s.png", dir, who, names[i]);
        made += fk_image_save(img, q, 90) == FK_OK;
        fk_image_free(img);
    }
    for (int o = 0; o < 2; o++) {
        char other[2][128];
        int no = lfw_files(lfw, others[o], other, 2);
        snprintf(q, sizeof q, "%s/%s", dir, others[o]);
        mkdir(q, 0755);
        for (int i = 0; i < no; i++) {
            snprintf(p, sizeof p, "%s/%s/%s", lfw, others[o], other[i]);
            snprintf(q, sizeof q, "%s/%s/%s", dir, others[o], other[i]);
            CHECK(copy_file(p, q) == 0, "copy %s", p);
        }
    }
    CHECK(made == 16, "16 photos of %s: %d", who, made);
    snprintf(p, sizeof p, "%s/%s/%s", lfw, who, names[0]);
    const char *a[] = {cli, "find", p, "--db", "many", "--quiet", "--max-megapixels", "50", NULL};
    int rc = run(a);
    json_t *j = parse_out("find many");
    json_t *ms = json_object_get(json_array_get(json_object_get(j, "results"), 0), "matches");
    size_t n = json_array_size(ms);
    CHECK(rc == 0 && n > 10, "more than 10 matches by default: %zu (%s)", n, err_buf);
    double prev = -1;
    int ok = 1, right = 1;
    for (size_t k = 0; k < n; k++) {
        json_t *m = json_array_get(ms, k);
        double d = json_real_value(json_object_get(m, "distance"));
        ok &= d >= prev && d <= json_real_value(json_object_get(m, "threshold"));
        prev = d;
        const char *id = json_string_value(json_object_get(m, "identity"));
        snprintf(q, sizeof q, "%s/%s", tmp, id);
        right &= !strncmp(id, "many/Jennifer_Lopez/", 20) && access(q, R_OK) == 0 &&
                 !strcmp(json_string_value(json_object_get(m, "name")), who);
    }
    CHECK(ok && right, "sorted and within the threshold %d, all existing files of %s %d", ok,
          who, right);
    json_decref(j);
    const char *a3[] = {cli, "find", p, "--db", "many", "--quiet", "--top-k", "3", NULL};
    rc = run(a3);
    j = parse_out("find --top-k 3");
    CHECK(rc == 0 && json_array_size(json_object_get(
                         json_array_get(json_object_get(j, "results"), 0), "matches")) == 3,
          "--top-k 3: %s", out_buf);
    json_decref(j);
}

/* Start the CLI in tmp with output discarded; returns the pid. */
static pid_t spawn_quiet(const char *const *argv, const char *err_name) {
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        char err_path[128];
        snprintf(err_path, sizeof err_path, "%s/%s", tmp, err_name);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(null, 1);
        dup2(e, 2);
        if (chdir(tmp)) _exit(126);
        setenv("FACEKIT_THREADS", "1", 1);
        execv(cli, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Two `find` runs on the same new folder at once: both succeed and the
 * index holds each image exactly once, intact. */
static void test_concurrent_find(const char *samples) {
    char dir[128], p[PATH_MAX + 64], q[256];
    snprintf(dir, sizeof dir, "%s/crowd", tmp);
    mkdir(dir, 0755);
    for (int i = 1; i <= 5; i++) {
        snprintf(p, sizeof p, "%s/sample%d.jpg", samples, i);
        snprintf(q, sizeof q, "%s/%c.jpg", dir, 'a' + i); /* 5 identities */
        CHECK(copy_file(p, q) == 0, "copy %s", p);
    }
    snprintf(p, sizeof p, "%s/sample2.jpg", samples);
    const char *a[] = {cli, "find", p, "--db", "crowd", "--threads", "1", NULL};
    pid_t p1 = spawn_quiet(a, "err1"), p2 = spawn_quiet(a, "err2");
    int s1 = 0, s2 = 0;
    waitpid(p1, &s1, 0);
    waitpid(p2, &s2, 0);
    char e1[2048], e2[2048], path[128];
    snprintf(path, sizeof path, "%s/err1", tmp);
    slurp(path, e1, sizeof e1);
    snprintf(path, sizeof path, "%s/err2", tmp);
    slurp(path, e2, sizeof e2);
    CHECK(WIFEXITED(s1) && WEXITSTATUS(s1) == 0 && WIFEXITED(s2) && WEXITSTATUS(s2) == 0,
          "both concurrent finds succeed (%d, %d): %s / %s", s1, s2, e1, e2);
    const char *st[] = {cli, "gallery", "stats", "--db", "crowd", NULL};
    int rc = run(st);
    json_t *j = parse_out("stats after concurrent finds");
    CHECK(rc == 0 && j && json_integer_value(json_object_get(j, "images")) == 5 &&
              json_integer_value(json_object_get(j, "identities")) == 5 &&
              json_integer_value(json_object_get(j, "faces")) >= 5,
          "each image once: %s %s", out_buf, err_buf);
    json_decref(j);
    /* And a third run sees everything as unchanged. */
    const char *a3[] = {cli, "find", p, "--db", "crowd", NULL};
    rc = run(a3);
    j = parse_out("find after concurrent finds");
    CHECK(rc == 0 && j &&
              json_integer_value(json_object_get(json_object_get(j, "index"), "unchanged")) == 5,
          "all unchanged: %s", out_buf);
    json_decref(j);
}

int main(void) {
    cli = getenv("FK_CLI");
    if (!cli || access(cli, X_OK) != 0) test_skip("FK_CLI not set (run through ctest)");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    test_usage_and_refusals();
    char home[PATH_MAX], samples[PATH_MAX + 16], probe[PATH_MAX + 64];
    struct stat sb;
    if (fk_models_default_home(home, sizeof home) == FK_OK) {
        snprintf(samples, sizeof samples, "%s/face-api", home);
        snprintf(probe, sizeof probe, "%s/face_recognition_model.bin", samples);
        if (stat(probe, &sb) == 0) {
            test_find(samples);
            test_find_ann(samples);
            test_register_search(samples);
            test_concurrent_find(samples);
            char lfw[PATH_MAX + 64];
            snprintf(lfw, sizeof lfw, "%s/data/lfw-devtrain/images",
                     test_env("FK_SHARED", "../shared"));
            if (access(lfw, R_OK) == 0) test_find_many(lfw);
            else printf("LFW checks skipped: no images in %s\n", lfw);
        } else {
            printf("model checks skipped: no models in %s\n", home);
        }
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmp);
    return test_summary();
}
