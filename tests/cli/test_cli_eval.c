/*
 * test_cli_eval.c - `facekit eval` end to end, run as a user runs it.
 *
 * Bad pairs files and folders must fail with a non-zero exit, one line on
 * stderr naming the file (and line) and the cause, nothing on stdout; these
 * need neither models nor data. The good paths run the real pipeline on a
 * handful of LFW pairs from $FK_SHARED/data/lfw-devtrain in the formats
 * eval reads (LFW single set, LFW with folds, CSV) and check the report,
 * the JSON, the per-pair CSV, the ROC image and the sweep's table. They
 * skip when the models or the data are absent. FK_CLI names the binary.
 */
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
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
static char tmp[64] = "/tmp/fk_cli_eval_XXXXXX";
static char out_buf[1 << 20], err_buf[1 << 16];

/* Read fd to its end into buf (NUL-terminated, cut at cap). */
static void read_all(int fd, char *buf, size_t cap) {
    size_t n = 0;
    ssize_t r;
    char sink[4096];
    while ((r = read(fd, n + 1 < cap ? buf + n : sink, n + 1 < cap ? cap - 1 - n : sizeof sink)) > 0)
        if (n + 1 < cap) n += (size_t)r;
    buf[n] = '\0';
}

/* Run `facekit eval ARGS...` (NULL-terminated) and return its exit code;
 * stdout and stderr land in out_buf and err_buf. Two worker threads, like
 * the other CLI tests. */
static int eval(const char *first, ...) {
    const char *argv[40];
    int n = 0;
    argv[n++] = cli;
    argv[n++] = "eval";
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s && n < 39; s = va_arg(ap, const char *)) argv[n++] = s;
    va_end(ap);
    argv[n] = NULL;
    test_cli_io io = {tmp, NULL, NULL, out_buf, sizeof out_buf, err_buf, sizeof err_buf};
    return test_cli_run(cli, argv, &io);
}

static int lines_in(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* A failure as users must see it: exit code 1 (2 for usage), one stderr line
 * holding both needles (usage errors may add the --help hint), nothing on
 * stdout. */
static void expect_fail(const char *what, int rc, int want_rc, const char *n1, const char *n2) {
    CHECK(rc == want_rc, "%s: exit code %d, want %d (stderr: %s)", what, rc, want_rc, err_buf);
    /* Usage errors add a second line pointing at --help. */
    CHECK(lines_in(err_buf) == 1 || (want_rc == 2 && lines_in(err_buf) == 2), "%s: stderr has %d lines: %s", what, lines_in(err_buf), err_buf);
    CHECK(out_buf[0] == '\0', "%s: stdout not empty: %.300s", what, out_buf);
    CHECK(!n1 || strstr(err_buf, n1), "%s: '%s' not in: %s", what, n1, err_buf);
    CHECK(!n2 || strstr(err_buf, n2), "%s: '%s' not in: %s", what, n2, err_buf);
}

/* tmp/name into buf. */
static const char *in_tmp(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", tmp, name);
    return buf;
}

/* Write text to the file at path (created or replaced). */
static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* Errors in the command line or the pairs file: found before any model is
 * loaded, so these run everywhere. */
static void test_bad_input(void) {
    char pairs[128], dir[128], emptydir[128], path[128];
    in_tmp(dir, sizeof dir, "imgs");
    in_tmp(emptydir, sizeof emptydir, "noimages");
    mkdir(dir, 0755);
    mkdir(emptydir, 0755);
    /* Two images that exist (content irrelevant: parsing fails first). */
    mkdir(in_tmp(path, sizeof path, "imgs/Ann"), 0755);
    write_text(in_tmp(path, sizeof path, "imgs/Ann/Ann_0001.jpg"), "x");
    write_text(in_tmp(path, sizeof path, "imgs/Ann/Ann_0002.jpg"), "x");

    expect_fail("no --pairs", eval("--images", dir, NULL), 2, "usage", NULL);
    expect_fail("stray argument", eval("--pairs", "p", "--images", dir, "extra", NULL), 2, "usage", NULL);
    expect_fail("--markdown without --sweep", eval("--pairs", "p", "--images", dir, "--markdown", "x.md", NULL),
                2, "--sweep", NULL);
    expect_fail("--roc with --sweep", eval("--pairs", "p", "--images", dir, "--sweep", "--roc", "x.svg", NULL),
                2, "--roc", NULL);
    expect_fail("flag with value", eval("--pairs", "p", "--images", dir, "--json=yes", NULL), 2, "--json", NULL);

    in_tmp(pairs, sizeof pairs, "pairs.txt");
    expect_fail("pairs file missing", eval("--pairs", pairs, "--images", dir, NULL), 1, pairs, "cannot open");
    write_text(pairs, "1\nAnn 1 2\nAnn 1 Bob 1\n");
    expect_fail("images not a folder", eval("--pairs", pairs, "--images", "/nonexistent/images", NULL), 1,
                "/nonexistent/images", "not a directory");

    static const struct {
        const char *what, *text, *n1, *n2;
    } cases[] = {
        {"empty file", "", "pairs.txt: empty file", NULL},
        {"blank lines only", "\n  \n\n", "pairs.txt: empty file", NULL},
        {"header only", "0\n", "pairs.txt:1:", "header"},
        {"bad header", "ten\nAnn 1 2\n", "pairs.txt:1:", "header"},
        {"malformed line", "2\nAnn 1 2\nAnn 1 x\nAnn 1 Bob 1\nAnn 2 Bob 2\n", "pairs.txt:3:", "malformed pair line"},
        {"too many fields", "1\nAnn 1 2\nAnn 1 Bob 1 7\n", "pairs.txt:3:", "malformed"},
        {"negative number", "1\nAnn 1 -2\nAnn 1 Bob 1\n", "pairs.txt:2:", "malformed"},
        {"too few pairs", "2\nAnn 1 2\nAnn 1 2\nAnn 1 Bob 1\n", "pairs.txt:", "4 in all"},
        {"too many pairs", "1\nAnn 1 2\nAnn 1 Bob 1\nAnn 1 Bob 2\n", "pairs.txt:4:", "more pairs"},
        {"same where different due", "1\nAnn 1 2\nAnn 1 2\n", "pairs.txt:3:", "different-people"},
        {"folds out of order", "2 1\nAnn 1 2\nAnn 1 Bob 1\nAnn 1 Bob 2\nAnn 1 2\n", "pairs.txt:4:",
         "same-person pair ('name n1 n2') as pair 1 of fold 2"},
        {"csv label", "file_x,file_y,label\nAnn/Ann_0001.jpg,Ann/Ann_0002.jpg,maybe\n", "pairs.txt:2:",
         "label 'maybe'"},
        {"csv fields", "Ann/Ann_0001.jpg,Ann/Ann_0002.jpg,1\nAnn/Ann_0001.jpg,1\n", "pairs.txt:2:",
         "3 comma-separated fields"},
        {"csv quote", "a,b,1\n\"Ann/Ann_0001.jpg,Ann/Ann_0002.jpg,1\n", "pairs.txt:2:", "double quote"},
        {"csv header only", "file_x,file_y,label\n", "pairs.txt: no pairs", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text(pairs, cases[i].text);
        expect_fail(cases[i].what, eval("--pairs", pairs, "--images", dir, NULL), 1, cases[i].n1, cases[i].n2);
    }

    /* A folder with no images: every image missing is one error, not a
     * warning per image. */
    write_text(pairs, "1\nAnn 1 2\nAnn 1 Bob 1\n");
    expect_fail("folder without images", eval("--pairs", pairs, "--images", emptydir, NULL), 1, "noimages",
                "none of the 3 images");
    /* One missing image under --strict: fatal, with the line naming it. */
    expect_fail("--strict missing", eval("--pairs", pairs, "--images", dir, "--strict", NULL), 1,
                "pairs.txt:3: ", "Bob/Bob_0001.jpg: No such file or directory (--strict");
    /* Every pair names a missing image though some images exist. */
    write_text(pairs, "a.jpg,Ann/Ann_0001.jpg,1\nAnn/Ann_0002.jpg,b.jpg,0\n");
    expect_fail("no usable pairs", eval("--pairs", pairs, "--images", dir, NULL), 1, "no usable pairs", "a.jpg");
    /* A bad grid for the sweep. */
    write_text(pairs, "Ann/Ann_0001.jpg,Ann/Ann_0002.jpg,1\n");
    expect_fail("sweep unknown metric",
                eval("--pairs", pairs, "--images", dir, "--sweep", "--metric", "cosine,bogus", NULL), 2,
                "unknown metric 'bogus'", "euclidean_l2");
    expect_fail("sweep empty name", eval("--pairs", pairs, "--images", dir, "--sweep", "--detector", "ssd,", NULL),
                2, "--detector", NULL);
    /* An output that cannot be written fails before the work starts. */
    write_text(pairs, "Ann/Ann_0001.jpg,Ann/Ann_0002.jpg,1\n");
    expect_fail("unwritable --roc",
                eval("--pairs", pairs, "--images", dir, "--roc", "/nonexistent/dir/roc.svg", NULL), 1,
                "/nonexistent/dir/roc.svg", "cannot write");
}

/* Parse out_buf as JSON; NULL (and a failed check) when it is not. */
static json_t *out_json(const char *what) {
    json_error_t err;
    json_t *v = json_loads(out_buf, 0, &err);
    CHECK(v != NULL, "%s: stdout is not JSON (%s): %.300s", what, err.text, out_buf);
    return v;
}

/* A number at o.key (or o.key.sub), NaN when absent or not a number. */
static double jnum(json_t *o, const char *key, const char *sub) {
    json_t *v = json_object_get(o, key);
    if (sub) v = json_object_get(v, sub);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Lines of the LFW devtrain file: the first `n` same pairs and the first
 * `n` different ones (as text lines), for building small pairs files. */
static int take_pairs(const char *lfw, char same[][128], char diff[][128], int n) {
    char file[PATH_MAX], line[256];
    snprintf(file, sizeof file, "%s/pairsDevTrain.txt", lfw);
    FILE *f = fopen(file, "r");
    if (!f) return -1;
    int ns = 0, nd = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        if (lineno++ == 0) continue;
        char a[64], b[64];
        int x, y;
        if (sscanf(line, "%63s %d %63s %d", a, &x, b, &y) == 4) {
            if (nd < n) snprintf(diff[nd++], 128, "%.120s", line);
        } else if (ns < n) {
            snprintf(same[ns++], 128, "%.120s", line);
        }
    }
    fclose(f);
    return ns == n && nd == n ? 0 : -1;
}

/* The real pipeline on a few real pairs. */
static void test_real_pairs(const char *lfw) {
    char images[PATH_MAX], pairs[128], folds[128], csv[128], outcsv[128], roc[128], md[128];
    char same[6][128], diff[6][128], text[1 << 16];
    snprintf(images, sizeof images, "%s/images", lfw);
    CHECK(take_pairs(lfw, same, diff, 6) == 0, "6 + 6 pairs from pairsDevTrain.txt");

    /* LFW single set: 3 same + 3 different, human summary. */
    in_tmp(pairs, sizeof pairs, "lfw6.txt");
    snprintf(text, sizeof text, "3\n%s%s%s%s%s%s", same[0], same[1], same[2], diff[0], diff[1], diff[2]);
    write_text(pairs, text);
    int rc = eval("--pairs", pairs, "--images", images, NULL);
    CHECK(rc == 0, "lfw6: exit %d: %s", rc, err_buf);
    CHECK(err_buf[0] == '\0', "lfw6: quiet stderr when not a terminal: %s", err_buf);
    static const char *summary[] = {"6 used of 6 (3 same, 3 different)", "model Dlib, detector ssd, align true",
                                    "cosine", "euclidean_l2", "angular", "AUC", "TAR@1e-3", "EER",
                                    "without a face found"};
    for (size_t i = 0; i < sizeof summary / sizeof summary[0]; i++)
        CHECK(strstr(out_buf, summary[i]), "lfw6 summary lacks '%s': %s", summary[i], out_buf);

    /* The same as JSON, with a per-pair CSV and an ROC image. */
    in_tmp(outcsv, sizeof outcsv, "distances.csv");
    in_tmp(roc, sizeof roc, "roc.svg");
    rc = eval("--pairs", pairs, "--images", images, "--json", "--pairs-csv", outcsv, "--roc", roc, NULL);
    CHECK(rc == 0, "lfw6 --json: exit %d: %s", rc, err_buf);
    json_t *j = out_json("lfw6");
    double cos_dist0 = NAN;
    if (j) {
        CHECK(jnum(j, "pairs", NULL) == 6 && jnum(j, "pairs_used", NULL) == 6 && jnum(j, "images", NULL) == 11,
              "lfw6 counts: %s", out_buf);
        CHECK(jnum(j, "images_without_face", NULL) >= 0 && jnum(j, "folds", NULL) == 0, "lfw6 fields");
        json_t *m = json_object_get(j, "metrics");
        CHECK(json_object_size(m) == 4, "four metrics");
        static const char *fields[] = {"threshold", "accuracy", "best_threshold", "best_accuracy", "auc",
                                       "eer", "tar_at_far_1e-2", "tar_at_far_1e-3", "eer_threshold"};
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
            double v = jnum(m, "cosine", fields[i]);
            CHECK(v >= 0 && v <= 2, "cosine.%s = %f", fields[i], v);
        }
        CHECK(json_is_null(json_object_get(json_object_get(m, "cosine"), "kfold_accuracy")),
              "no folds: kfold_accuracy null");
        /* Same-person LFW pairs are easy for Dlib: well above chance. */
        CHECK(jnum(m, "cosine", "auc") >= 0.8 && jnum(m, "euclidean", "best_accuracy") >= 0.8,
              "lfw6 accuracy: %s", out_buf);
        float shipped;
        CHECK(fk_threshold("Dlib", "cosine", &shipped) == FK_OK &&
                  fabs(jnum(m, "cosine", "threshold") - shipped) < 1e-6,
              "threshold is the shipped one");
        json_decref(j);
    }
    FILE *f = fopen(outcsv, "r");
    CHECK(f != NULL, "per-pair CSV written");
    if (f) {
        char line[1024];
        int n = 0;
        while (fgets(line, sizeof line, f)) {
            if (n == 0)
                CHECK(!strncmp(line, "line,file_x,file_y,label,fold,cosine,euclidean,euclidean_l2,angular,note", 72),
                      "CSV header: %s", line);
            if (n == 1) {
                char *c = line;
                for (int k = 0; k < 5 && c; k++) c = strchr(c, ',') ? strchr(c, ',') + 1 : NULL;
                cos_dist0 = c ? strtod(c, NULL) : NAN;
                CHECK(!strncmp(line, "2,", 2) && strstr(line, ",1,,"), "CSV row 1: %s", line);
            }
            n++;
        }
        fclose(f);
        CHECK(n == 7, "CSV has header + 6 rows, not %d", n);
    }
    f = fopen(roc, "r");
    CHECK(f != NULL, "ROC image written");
    if (f) {
        char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        CHECK(!strncmp(buf, "<svg", 4) && strstr(buf, "</svg>") && strstr(buf, "<polyline") &&
                  strstr(buf, "cosine: AUC"),
              "ROC is an SVG with curves");
    }

    /* The distance eval reports is the one verify computes. */
    char x[PATH_MAX], y[PATH_MAX], name[64];
    int a, b;
    if (sscanf(same[0], "%63s %d %d", name, &a, &b) == 3 && !isnan(cos_dist0)) {
        snprintf(x, sizeof x, "%.3000s/%s/%s_%04d.jpg", images, name, name, a);
        snprintf(y, sizeof y, "%.3000s/%s/%s_%04d.jpg", images, name, name, b);
        const char *argv[] = {cli, "verify", x, y, NULL};
        int pfd[2];
        if (pipe(pfd) == 0) {
            pid_t pid = fork();
            if (pid == 0) {
                dup2(pfd[1], 1);
                close(pfd[0]);
                setenv("FACEKIT_THREADS", "2", 1);
                execv(cli, (char *const *)argv);
                _exit(127);
            }
            close(pfd[1]);
            char vout[8192];
            read_all(pfd[0], vout, sizeof vout);
            close(pfd[0]);
            waitpid(pid, NULL, 0);
            const char *d = strstr(vout, "\"distance\":");
            CHECK(d && fabs(strtod(d + 11, NULL) - cos_dist0) < 1e-5, "verify distance %s vs eval %f",
                  d ? d : vout, cos_dist0);
        }
    }

    /* --metric keeps one metric. */
    rc = eval("--pairs", pairs, "--images", images, "--json", "--metric", "Euclidean", NULL);
    j = rc == 0 ? out_json("--metric") : NULL;
    CHECK(rc == 0 && j && json_object_size(json_object_get(j, "metrics")) == 1 &&
              json_object_get(json_object_get(j, "metrics"), "euclidean"),
          "--metric euclidean: %s %s", out_buf, err_buf);
    json_decref(j);

    /* Folds: a "2 3" header is 2 folds of 3 same + 3 different. */
    in_tmp(folds, sizeof folds, "folds.txt");
    snprintf(text, sizeof text, "2 3\n%s%s%s%s%s%s%s%s%s%s%s%s", same[0], same[1], same[2], diff[0], diff[1],
             diff[2], same[3], same[4], same[5], diff[3], diff[4], diff[5]);
    write_text(folds, text);
    rc = eval("--pairs", folds, "--images", images, "--json", NULL);
    j = rc == 0 ? out_json("folds") : NULL;
    CHECK(rc == 0 && j, "folds: exit %d: %s", rc, err_buf);
    if (j) {
        json_t *m = json_object_get(j, "metrics");
        double k = jnum(m, "cosine", "kfold_accuracy"), sd = jnum(m, "cosine", "kfold_std");
        CHECK(jnum(j, "folds", NULL) == 2 && jnum(j, "pairs", NULL) == 12, "folds: %s", out_buf);
        CHECK(k >= 0 && k <= 1 && sd >= 0 && sd <= 0.5, "kfold %f +- %f", k, sd);
        CHECK(k <= jnum(m, "cosine", "best_accuracy") + 1e-9, "k-fold never beats the tuned accuracy");
        json_decref(j);
    }
    rc = eval("--pairs", folds, "--images", images, NULL);
    CHECK(rc == 0 && strstr(out_buf, "12 pairs in 2 folds") && strstr(out_buf, "±"), "folds summary: %s", out_buf);

    /* CSV: header, Yes/No and 1/0 labels, absolute paths, a quoted field, a
     * missing image (warned, pair skipped), an image with no face (embedded
     * whole, counted) and one that is not an image (warned, skipped). */
    char grey[128], notimg[128];
    in_tmp(grey, sizeof grey, "imgs/grey.png");
    in_tmp(notimg, sizeof notimg, "imgs/notes.jpg");
    mkdir(in_tmp(csv, sizeof csv, "imgs"), 0755);
    fk_image *img = NULL;
    if (fk_image_new(160, 160, 3, &img) == FK_OK) {
        for (int yy = 0; yy < 160; yy++)
            for (int xx = 0; xx < 480; xx++) img->data[yy * img->stride + xx] = (uint8_t)(90 + yy / 4);
        CHECK(fk_image_save(img, grey, 90) == FK_OK, "grey image saved");
        fk_image_free(img);
    }
    write_text(notimg, "this is not an image\n");
    char p[4][2][PATH_MAX];
    for (int i = 0; i < 4; i++) {
        const char *line = i < 2 ? same[i] : diff[i - 2];
        char n1[64], n2[64];
        int i1, i2;
        if (sscanf(line, "%63s %d %63s %d", n1, &i1, n2, &i2) != 4) {
            sscanf(line, "%63s %d %d", n1, &i1, &i2);
            strcpy(n2, n1);
        }
        snprintf(p[i][0], PATH_MAX, "%.3000s/%s/%s_%04d.jpg", images, n1, n1, i1);
        snprintf(p[i][1], PATH_MAX, "%.3000s/%s/%s_%04d.jpg", images, n2, n2, i2);
    }
    in_tmp(csv, sizeof csv, "pairs.csv");
    snprintf(text, sizeof text,
             "file_x,file_y,label\n%s,%s,Yes\n\"%s\",%s,1\n%s,%s,No\n%s,%s,0\n"
             "grey.png,%s,no\nmissing.jpg,%s,yes\nnotes.jpg,%s,0\n",
             p[0][0], p[0][1], p[1][0], p[1][1], p[2][0], p[2][1], p[3][0], p[3][1], p[0][0], p[1][0], p[2][0]);
    write_text(csv, text);
    char imgs[128];
    in_tmp(imgs, sizeof imgs, "imgs");
    rc = eval("--pairs", csv, "--images", imgs, "--json", NULL);
    j = rc == 0 ? out_json("csv") : NULL;
    CHECK(rc == 0 && j, "csv: exit %d: %s", rc, err_buf);
    if (j) {
        CHECK(jnum(j, "pairs", NULL) == 7 && jnum(j, "pairs_used", NULL) == 5 &&
                  jnum(j, "pairs_skipped", NULL) == 2 && jnum(j, "images_missing", NULL) == 1 &&
                  jnum(j, "images_failed", NULL) == 1 && jnum(j, "images_without_face", NULL) == 1,
              "csv counts: %s", out_buf);
        CHECK(json_is_string(json_object_get(j, "format")) &&
                  !strcmp(json_string_value(json_object_get(j, "format")), "csv"),
              "format csv");
        json_decref(j);
    }
    CHECK(strstr(err_buf, "pairs.csv:7:") && strstr(err_buf, "missing.jpg") && strstr(err_buf, "notes.jpg") &&
              strstr(err_buf, "skipped") && lines_in(err_buf) == 2,
          "csv warnings: %s", err_buf);
    expect_fail("--strict unreadable", eval("--pairs", csv, "--images", imgs, "--strict", NULL), 1,
                "missing.jpg", "--strict");

    /* The sweep on the 6 pairs, narrowed to the grid the README reports:
     * 1 model x 2 detectors x 2 align x 4 metrics. */
    in_tmp(md, sizeof md, "sweep.md");
    rc = eval("--sweep", "--pairs", pairs, "--images", images, "--markdown", md, "--model", "Dlib", "--detector",
              "ssd,skip", NULL);
    CHECK(rc == 0 && out_buf[0] == '\0', "sweep: exit %d: %s %s", rc, out_buf, err_buf);
    f = fopen(md, "r");
    CHECK(f != NULL, "sweep markdown written");
    if (f) {
        char line[2048];
        int rows = 0, grid = 0;
        static const char *configs[] = {"| Dlib | ssd | true |", "| Dlib | ssd | false |",
                                        "| Dlib | skip | true |", "| Dlib | skip | false |"};
        while (fgets(line, sizeof line, f))
            for (int i = 0; i < 4; i++)
                if (!strncmp(line, configs[i], strlen(configs[i]))) {
                    const char *rest = line + strlen(configs[i]);
                    if (!strncmp(rest, " cosine |", 9) || !strncmp(rest, " euclidean |", 12) ||
                        !strncmp(rest, " euclidean_l2 |", 15) || !strncmp(rest, " angular |", 10))
                        rows++;
                    else grid++;
                }
        fclose(f);
        CHECK(rows == 16 && grid == 4, "sweep table: %d figure rows, %d accuracy rows", rows, grid);
    }
    /* Narrower still, as JSON: one embedding set, two metrics. */
    rc = eval("--sweep", "--pairs", pairs, "--images", images, "--json", "--model", "Dlib", "--detector", "skip",
              "--align", "true", "--metric", "angular,COSINE", NULL);
    j = rc == 0 ? out_json("sweep --json") : NULL;
    CHECK(rc == 0 && json_is_array(j) && json_array_size(j) == 1, "sweep json: %s %s", out_buf, err_buf);
    if (j && json_array_size(j) == 1) {
        json_t *m = json_object_get(json_array_get(j, 0), "metrics");
        CHECK(json_object_size(m) == 2 && json_object_get(m, "angular") && json_object_get(m, "cosine"),
              "sweep metrics: %s", out_buf);
    }
    json_decref(j);
}

int main(void) {
    cli = getenv("FK_CLI");
    if (!cli || access(cli, X_OK) != 0) test_skip("FK_CLI does not name the facekit binary");
    if (!mkdtemp(tmp)) return 1;
    test_bad_input();

    char home[1024], probe[PATH_MAX + 64], lfw[PATH_MAX];
    snprintf(lfw, sizeof lfw, "%s/data/lfw-devtrain", test_env("FK_SHARED", "../shared"));
    snprintf(probe, sizeof probe, "%s/pairsDevTrain.txt", lfw);
    int have_data = access(probe, R_OK) == 0;
    int have_models = fk_models_default_home(home, sizeof home) == FK_OK &&
                      (snprintf(probe, sizeof probe, "%s/face-api/face_recognition_model.bin", home),
                       access(probe, R_OK) == 0);
    if (have_data && have_models) test_real_pairs(lfw);
    else
        printf("note: %s; skipped the end-to-end checks\n",
               have_models ? "no LFW data under $FK_SHARED/data/lfw-devtrain" : "models not installed");

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return test_summary();
}
