/*
 * test_model_trust.c - one description per model, and model files trusted
 * only after a check.
 *
 * (a) the catalogue is consistent: unique names, every model file belongs
 *     to a package, every recognizer has its four thresholds (and
 *     fk_threshold returns them), every role has its run hook;
 * (b) with the face-api models installed (~/.facekit, `facekit models
 *     fetch`), on a COPY of the home (the real one is never written):
 *     an old-format stamp still loads; fetch records the hashes from the
 *     cached tarball without npm; 1 MB overwritten inside
 *     face_recognition_model.bin (size kept) makes fk_verify fail with
 *     FK_EMODEL naming the file - before this check it answered distance
 *     0, verified - and fk_models_verify report it; fetch repairs it and
 *     the answer is the original one again;
 * (c) a damaged Dlib weights manifest that makes its weights overflow to
 *     infinity is refused with FK_EMODEL naming the model, not turned into
 *     a distance;
 * (d) the zoo loads every installed model by its name.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facekit.h"
#include "detect/detectors.h"
#include "models/model.h"
#include "models/model_store.h"
#include "models/zoo.h"
#include "represent/recognizers.h"
#include "test.h"

static char scratch[256];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static char log_text[8192];
static void collect(void *user, const char *msg) {
    (void)user;
    strncat(log_text, msg, sizeof log_text - strlen(log_text) - 2);
    strcat(log_text, "\n");
}

/* Overwrite n bytes at `offset` of `path` with `byte` patterns (4-byte
 * `word` repeated), keeping the size. */
static void overwrite(const char *path, long offset, size_t n, uint32_t word) {
    int fd = open(path, O_WRONLY);
    if (fd < 0) {
        fprintf(stderr, "open %s: %s\n", path, strerror(errno));
        exit(2);
    }
    uint32_t buf[1024];
    for (int i = 0; i < 1024; i++) buf[i] = word;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < sizeof buf ? n - done : sizeof buf;
        if (pwrite(fd, buf, k, offset + (long)done) != (ssize_t)k) {
            fprintf(stderr, "pwrite %s: %s\n", path, strerror(errno));
            exit(2);
        }
        done += k;
    }
    close(fd);
}

/* Replace the first `key` in the file at `path` with `value`; 1 if found. */
static int patch_file(const char *path, const char *key, const char *value) {
    static char text[1 << 17], out[(1 << 17) + 256];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[n] = '\0';
    char *at = strstr(text, key);
    if (!at) return 0;
    snprintf(out, sizeof out, "%.*s%s%s", (int)(at - text), text, value, at + strlen(key));
    f = fopen(path, "wb");
    if (!f) return 0;
    fputs(out, f);
    fclose(f);
    return 1;
}

/* ---- (a) ---------------------------------------------------------------- */

static int in_package(const fk_model_file *f) {
    for (const fk_package *p = fk__packages; p->dir; p++) {
        if (strcmp(p->dir, f->package) != 0) continue;
        const char *files[64];
        int n = fk__package_files(p, files, 64);
        for (int i = 0; i < n && i < 64; i++)
            if (!strcmp(files[i], f->path)) return 1;
    }
    return 0;
}

static void test_catalogue(void) {
    static const char *const metrics[4] = {"cosine", "euclidean", "euclidean_l2", "angular"};
    int n = 0, recognizers = 0, detectors = 0;
    const fk_model_desc *const *all = fk__models(&n);
    CHECK(n >= 11, "models: %d", n);
    for (int i = 0; i < n; i++) {
        const fk_model_desc *m = all[i];
        for (int j = 0; j < i; j++)
            CHECK(strcasecmp(m->name, all[j]->name) != 0, "two models named %s", m->name);
        CHECK(fk__model_get(m->name) == m, "%s: lookup", m->name);
        CHECK(m->load && m->free && m->input && m->layout && m->normalization && m->output &&
                  m->summary && m->origin && m->license,
              "%s: incomplete description", m->name);
        CHECK(m->files[0].path != NULL || (m->user_file && m->load_file), "%s: no files",
              m->name);
        for (int f = 0; f < FK_MODEL_MAX_FILES && m->files[f].path; f++) {
            if (m->files[f].package)
                CHECK(in_package(&m->files[f]), "%s: %s/%s is in no package", m->name,
                      m->files[f].package, m->files[f].path);
            else
                CHECK(m->files[f].path[0] == '/', "%s: system file %s not absolute", m->name,
                      m->files[f].path);
        }
        const fk_model_desc *found = NULL;
        switch (m->role) {
        case FK_ROLE_RECOGNIZER:
            recognizers++;
            CHECK(m->embed && m->dim > 0 && m->input_w > 0 && m->chip != FK_ALIGN_NONE,
                  "%s: recognizer facts", m->name);
            for (int k = 0; k < 4; k++) {
                float t = -1;
                CHECK(m->thresholds[k] > 0, "%s: no %s threshold", m->name, metrics[k]);
                CHECK(fk_threshold(m->name, metrics[k], &t) == FK_OK && t == m->thresholds[k],
                      "%s %s: fk_threshold %g", m->name, metrics[k], t);
            }
            CHECK(fk__recognizer_find(m->name, &found) == FK_OK && found == m, "%s: --model",
                  m->name);
            break;
        case FK_ROLE_DETECTOR:
            detectors++;
            CHECK(m->detect != NULL, "%s: no detect hook", m->name);
            CHECK(fk__detector_find(m->name, &found) == FK_OK && found == m, "%s: --detector",
                  m->name);
            CHECK(fk__recognizer_find(m->name, &found) == FK_EINVAL, "%s: a detector as --model",
                  m->name);
            break;
        case FK_ROLE_LANDMARKS:
            CHECK(m->landmarks && m->dim > 0, "%s: landmarks hook", m->name);
            break;
        case FK_ROLE_ANALYZER:
            CHECK(m->analyze && m->attributes &&
                      !(m->attributes & ~(unsigned)(FK_ATTR_AGE | FK_ATTR_GENDER |
                                                    FK_ATTR_EMOTION | FK_ATTR_RACE)),
                  "%s: analyzer facts", m->name);
            if (m->attributes & FK_ATTR_RACE)
                CHECK(m->race_names && m->race_count > 0 && m->race_count <= FK_RACE_MAX,
                      "%s: race classes", m->name);
            CHECK(m->input_w > 0, "%s: analyzer input size", m->name);
            CHECK(fk__recognizer_find(m->name, &found) == FK_EINVAL, "%s: an analyzer as --model",
                  m->name);
            break;
        case FK_ROLE_ANTISPOOF:
            CHECK(m->analyze && m->attributes == FK_ATTR_SPOOF && m->spoof_threshold > 0 &&
                      m->spoof_threshold < 1,
                  "%s: anti-spoofing facts", m->name);
            break;
        default:
            CHECK(0, "%s: role without a run path yet", m->name);
        }
    }
    CHECK(recognizers == 14 && detectors == 5, "%d recognizers, %d detectors", recognizers,
          detectors);
    /* The pinned thresholds, exactly. */
    float t = 0;
    CHECK(fk_threshold("Dlib", "cosine", &t) == FK_OK && t == 0.092f, "Dlib cosine %g", t);
    CHECK(fk_threshold("dlib", "EUCLIDEAN", &t) == FK_OK && t == 0.619f, "any case %g", t);
    CHECK(fk_threshold("MobileFaceNet", "angular", &t) == FK_OK && t == 0.3586f, "mfn %g", t);
    CHECK(fk_threshold("ssd", "cosine", &t) == FK_EINVAL, "a detector has no threshold");
    const fk_model_desc *d = NULL;
    CHECK(fk__detector_find("skip", &d) == FK_OK && d->detect == NULL, "skip");
    CHECK(fk__detector_find("nope", &d) == FK_EINVAL &&
              strstr(fk_last_error(), "valid: mtcnn, tiny, ssd, opencv, mediapipe, skip"),
          "detector list: %s", fk_last_error());
    CHECK(fk__recognizer_find("nope", &d) == FK_EINVAL &&
              strstr(fk_last_error(),
                     "valid: Dlib, FaceRes, FaceRes-Deep, MobileFaceNet, MobileFace"),
          "model list: %s", fk_last_error());
}

/* ---- (b) and (c) ---------------------------------------------------------- */

static fk_status verify_pair(const char *home, const char *a, const char *b,
                             fk_verify_result *r) {
    fk_context_options co;
    fk_context_options_init(&co);
    co.model_home = home;
    co.threads = 1;
    fk_context *ctx = NULL;
    fk_image *ia = NULL, *ib = NULL;
    fk_status st = fk_context_new(&co, &ctx);
    if (st == FK_OK) st = fk_image_load(a, 0, &ia);
    if (st == FK_OK) st = fk_image_load(b, 0, &ib);
    if (st == FK_OK) st = fk_verify(ctx, ia, ib, NULL, r);
    fk_image_free(ia);
    fk_image_free(ib);
    fk_context_free(ctx);
    return st;
}

static void test_trust(const char *real) {
    char home[512], cmd[8192], bin[1100], img1[1100], img3[1100], tgz[1100];
    fk_verify_result r0, r;
    fk_status st;

    snprintf(img1, sizeof img1, "%s/face-api/sample1.jpg", real);
    snprintf(img3, sizeof img3, "%s/face-api/sample3.jpg", real);
    snprintf(tgz, sizeof tgz, "%s/cache/vladmandic-face-api-1.7.15.tgz", real);
    if (!exists(img1) || !exists(tgz)) {
        printf("note: face-api or its cached tarball not in %s; skipping (b), (c)\n", real);
        return;
    }
    {   /* a home fetched before a face-api model was added lacks its files */
        const char *files[64];
        int nf = fk__package_files(&fk__packages[0], files, 64);
        for (int i = 0; i < nf && i < 64; i++) {
            const char *base = strrchr(files[i], '/');
            snprintf(cmd, sizeof cmd, "%s/face-api/%s", real, base ? base + 1 : files[i]);
            if (!exists(cmd)) {
                printf("note: %s is missing (run `facekit models fetch`); skipping (b), (c)\n",
                       cmd);
                return;
            }
        }
    }
    snprintf(home, sizeof home, "%s/home", scratch);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/cache' && cp -a '%s/face-api' '%s/' && cp -a '%s' '%s/cache/'",
             home, real, home, tgz, home);
    CHECK(system(cmd) == 0, "copy the home");
    snprintf(bin, sizeof bin, "%s/face-api/face_recognition_model.bin", home);
    /* An old-format stamp (integrity only) still loads. */
    snprintf(cmd, sizeof cmd, "%s/face-api", home);
    {
        fk_stamp s;
        int rr = fk__stamp_read(cmd, &s);
        int old = rr == 1 && s.count == 0;
        fk__stamp_free(&s);
        if (!old) { /* the real home was fetched by this version: make it old */
            FILE *f;
            char p[8300];
            snprintf(p, sizeof p, "%s/.installed", cmd);
            f = fopen(p, "w");
            fprintf(f, "%s\n", fk__packages[0].integrity);
            fclose(f);
        }
    }
    st = verify_pair(home, img1, img3, &r0);
    CHECK(st == FK_OK, "old stamp loads: %s", fk_last_error());

    /* fetch records the hashes from the cached tarball; npm is not run. */
    fk_package face_api[2] = {fk__packages[0], {NULL, NULL, NULL, NULL}};
    setenv("FACEKIT_NPM", "/nonexistent/npm", 1);
    log_text[0] = '\0';
    st = fk__models_fetch_packages(home, face_api, collect, NULL);
    CHECK(st == FK_OK && strstr(log_text, "records no file hashes") &&
              strstr(log_text, "using verified cached tarball"),
          "stamp upgrade: %s / %s", fk_last_error(), log_text);
    CHECK(fk__models_verify_packages(home, face_api, NULL, NULL) == FK_OK, "verify: %s",
          fk_last_error());

    /* 1 MB overwritten inside the recognizer, size kept. */
    struct stat sb0, sb1;
    stat(bin, &sb0);
    overwrite(bin, 1 << 20, 1 << 20, 0x41414141u);
    stat(bin, &sb1);
    CHECK(sb0.st_size == sb1.st_size, "size kept");
    st = verify_pair(home, img1, img3, &r);
    CHECK(st == FK_EMODEL && strstr(fk_last_error(), "face-api/face_recognition_model.bin") &&
              strstr(fk_last_error(), "facekit models fetch"),
          "damaged file refused at load: %d %s (distance %g)", st, fk_last_error(),
          st == FK_OK ? r.distance : -1.0);
    st = fk_models_verify(home, NULL, NULL);
    CHECK(st == FK_EMODEL && strstr(fk_last_error(), "face_recognition_model.bin: damaged"),
          "fk_models_verify: %d %s", st, fk_last_error());
    log_text[0] = '\0';
    st = fk__models_fetch_packages(home, face_api, collect, NULL);
    CHECK(st == FK_OK && strstr(log_text, "face-api: reinstalling: "), "repair: %s / %s",
          fk_last_error(), log_text);
    CHECK(fk__models_verify_packages(home, face_api, NULL, NULL) == FK_OK,
          "verify after repair: %s", fk_last_error());
    st = verify_pair(home, img1, img3, &r);
    CHECK(st == FK_OK && r.distance == r0.distance && r.verified == r0.verified,
          "repaired answer: %s %g vs %g", fk_last_error(), r.distance, r0.distance);
    unsetenv("FACEKIT_NPM");

    /* (c) Damaged weights that give non-finite values. face-api's weights
     * are uint8-quantized (bytes alone cannot make a NaN: the damaged
     * bytes above gave finite embeddings, all alike), so damage the final
     * layer's dequantization scale in the manifest instead: fc weights
     * overflow to infinity. The stamp would refuse the changed manifest
     * first, so remove it (a home without stamps, as one filled by hand). */
    snprintf(cmd, sizeof cmd, "%s/face-api/.installed", home);
    unlink(cmd);
    snprintf(cmd, sizeof cmd, "%s/face-api/face_recognition_model-weights_manifest.json", home);
    CHECK(patch_file(cmd, "\"scale\":0.000357687911566566", "\"scale\":1e38"),
          "fc scale in the manifest");
    st = verify_pair(home, img1, img3, &r);
    CHECK(st == FK_EMODEL && strstr(fk_last_error(), "model Dlib produced a non-finite embedding"),
          "non-finite refused: %d %s (distance %g)", st, fk_last_error(),
          st == FK_OK ? r.distance : -1.0);

    /* The same for a detector: SSD's first class predictor overflows, and
     * the raw scores are refused before thresholding could hide them. */
    snprintf(cmd, sizeof cmd, "%s/face-api/ssd_mobilenetv1_model-weights_manifest.json", home);
    CHECK(patch_file(cmd, "\"scale\":0.0026856216729856004", "\"scale\":1e38"),
          "class predictor scale in the manifest");
    st = verify_pair(home, img1, img3, &r);
    CHECK(st == FK_EMODEL && strstr(fk_last_error(), "model ssd produced a non-finite class score"),
          "non-finite score refused: %d %s", st, fk_last_error());
}

/* ---- (d) ----------------------------------------------------------------- */

static void test_zoo_loads_all(const char *real) {
    fk_model_info infos[64];
    int n = 0, loaded = 0;
    fk_zoo *z = NULL;
    CHECK(fk_models_list(real, infos, 64, &n) == FK_OK, "list");
    CHECK(fk__zoo_new(real, &z) == FK_OK, "zoo");
    for (int i = 0; z && i < n && i < 64; i++) {
        if (!infos[i].installed) continue;
        void *m = NULL;
        fk_status st = fk__zoo_model(z, fk__model_get(infos[i].name), &m);
        CHECK(st == FK_OK && m, "%s loads by name: %s", infos[i].name, fk_last_error());
        loaded++;
    }
    fk__zoo_free(z);
    printf("zoo loaded %d installed models by name\n", loaded);
}

int main(void) {
    char real[900];
    snprintf(scratch, sizeof scratch, "/tmp/fk_trust_XXXXXX");
    if (!mkdtemp(scratch)) return 2;
    test_catalogue();
    if (fk_models_default_home(real, sizeof real) == FK_OK) {
        test_trust(real);
        test_zoo_loads_all(real);
    }
    nftw(scratch, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return test_summary();
}
