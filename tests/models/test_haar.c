/*
 * test_haar.c - the Haar cascade reader and evaluator (haar_xml.c, haar_cascade.c).
 *
 *  - a hand-written one-feature cascade on a synthetic step image, where the
 *    variance-normalised feature value is derived by hand (2.25), so the
 *    window passes at threshold 2.2 and fails at 2.3;
 *  - grouping of hand-made raw hits (averages and neighbour counts known);
 *  - malformed files fail with FK_EFORMAT / FK_EMODEL and a useful message;
 *  - Debian's real cascades load with the sizes their XML declares, and on
 *    face-api's six demo photos find the faces OpenCV 4.6's own
 *    detectMultiScale(gray, 1.1, 10) reports, to within 3 pixels (when
 *    opencv-data and the model home are present; else that part is
 *    skipped).
 */
#include <math.h>

#include "test.h"
#include "facekit.h"
#include "models/face_models.h"
#include "core/threadpool.h"

/* A 6x6 window, one stump on feature "right half minus left half":
 * rect (0,0,6,6) weight -1 plus rect (3,0,3,6) weight 2. */
static const char *TINY_CASCADE =
    "<?xml version=\"1.0\"?>\n<!-- a test cascade -->\n"
    "<opencv_storage>\n<cascade type_id=\"opencv-cascade-classifier\">"
    "<stageType>BOOST</stageType><featureType>HAAR</featureType>\n"
    "<height>6</height><width>6</width>\n<stageNum>1</stageNum>\n"
    "<stages><_><maxWeakCount>1</maxWeakCount><stageThreshold>0.</stageThreshold>\n"
    "<weakClassifiers><_><internalNodes>0 -1 0 %s</internalNodes>\n"
    "<leafValues>-1. 1.</leafValues></_></weakClassifiers></_></stages>\n"
    "<features><_><rects><_>0 0 6 6 -1.</_><_>3 0 3 6 2.</_></rects></_></features>\n"
    "</cascade>\n</opencv_storage>\n";

static fk_haar *tiny_cascade(const char *threshold) {
    char xml[2048];
    snprintf(xml, sizeof xml, TINY_CASCADE, threshold);
    fk_haar *c = NULL;
    fk_status st = fk__haar_parse(xml, "tiny", &c);
    CHECK(st == FK_OK, "parse: %s", fk_last_error());
    return c;
}

/* Left half black, right half 255: in the normalisation rect (1,1,4,4)
 * sum = 8 * 255 = 2040, sqsum = 8 * 255^2, nf = sqrt(16 * sqsum - sum^2)
 * = 2040; feature = -4590 + 2 * 4590 = 4590; value = 4590 / 2040 = 2.25.
 * The image is 7x7 because, as in OpenCV, the scan tries window positions
 * 0 .. W - win - 1 only: here exactly the one at (0, 0). */
static void test_evaluation(void) {
    fk_haar *pass = tiny_cascade("2.2"), *fail = tiny_cascade("2.3");
    if (!pass || !fail) return;
    int w, h, stages, weak, feats;
    fk__haar_info(pass, &w, &h, &stages, &weak, &feats);
    CHECK(w == 6 && h == 6 && stages == 1 && weak == 1 && feats == 1, "info %d %d %d %d %d", w, h, stages, weak, feats);
    for (int k = 0; k < 2; k++) {
        fk_haar *c = k ? fail : pass;
        fk_image *img;
        fk_image_new(7, 7, 1, &img);
        for (int y = 0; y < 7; y++)
            for (int x = 0; x < 7; x++)
                img->data[y * img->stride + x] = x >= 3 && x < 6 ? 255 : 0;
        fk_haar_params p;
        fk__haar_params_init(&p);
        p.min_neighbors = 0;
        fk_haar_hit *hits = NULL;
        int n = -1;
        CHECK(fk__haar_detect(c, img, &p, NULL, &hits, &n) == FK_OK, "%s", fk_last_error());
        /* Only the window at (0,0) is scanned (step 2, one position). */
        CHECK(n == (k ? 0 : 1), "threshold %s: %d hits", k ? "2.3" : "2.2", n);
        if (n == 1) CHECK(hits[0].x == 0 && hits[0].y == 0 && hits[0].w == 6, "hit %d,%d,%d", hits[0].x, hits[0].y, hits[0].w);
        free(hits);
        /* Mirrored: the feature is -2.25, below either threshold. */
        for (int y = 0; y < 7; y++)
            for (int x = 0; x < 7; x++)
                img->data[y * img->stride + x] = x < 3 ? 255 : 0;
        hits = NULL;
        CHECK(fk__haar_detect(c, img, &p, NULL, &hits, &n) == FK_OK && n == 0, "mirrored: %d hits", n);
        free(hits);
        /* Flat image: no variance at all, rejected unseen. */
        memset(img->data, 128, img->stride * 7);
        hits = NULL;
        CHECK(fk__haar_detect(c, img, &p, NULL, &hits, &n) == FK_OK && n == 0, "flat: %d hits", n);
        free(hits);
        fk_image_free(img);
    }
    /* Contrast invariance: the same step at 10 vs 60 gives the same 2.25. */
    fk_image *img;
    fk_image_new(7, 7, 1, &img);
    for (int y = 0; y < 7; y++)
        for (int x = 0; x < 7; x++)
            img->data[y * img->stride + x] = x >= 3 && x < 6 ? 60 : 10;
    fk_haar_params p;
    fk__haar_params_init(&p);
    p.min_neighbors = 0;
    fk_haar_hit *hits = NULL;
    int n = -1;
    CHECK(fk__haar_detect(pass, img, &p, NULL, &hits, &n) == FK_OK && n == 1, "low contrast: %d hits", n);
    free(hits);
    /* Steps of 10 -> 25: the value is still 2.25 but the deviation in the
     * normalisation rect is 7.5 grey levels (<= 10): too flat, rejected. */
    for (int y = 0; y < 7; y++)
        for (int x = 0; x < 7; x++)
            img->data[y * img->stride + x] = x >= 3 && x < 6 ? 25 : 10;
    hits = NULL;
    CHECK(fk__haar_detect(pass, img, &p, NULL, &hits, &n) == FK_OK && n == 0, "flat step: %d hits", n);
    free(hits);
    fk_image_free(img);
    fk__haar_free(pass);
    fk__haar_free(fail);
}

static void test_group(void) {
    /* Four hits within eps of (100,100,40,40), two near (300,50,30,30),
     * one alone. */
    fk_haar_hit h[7] = {
        {100, 100, 40, 40, 1}, {102, 100, 40, 40, 1}, {100, 103, 40, 40, 1},
        {98, 101, 44, 44, 1},  {300, 50, 30, 30, 1},  {301, 51, 30, 30, 1},
        {500, 500, 24, 24, 1},
    };
    int n = -1;
    CHECK(fk__haar_group(h, 7, 1, &n) == FK_OK && n == 2, "groups kept %d", n);
    if (n == 2) {
        /* mean x = 400/4 = 100, y = 404/4 = 101, w = h = 164/4 = 41 */
        CHECK(h[0].neighbors == 4 && h[0].x == 100 && h[0].y == 101 && h[0].w == 41 && h[0].h == 41,
              "big group %d: %d,%d,%d,%d", h[0].neighbors, h[0].x, h[0].y, h[0].w, h[0].h);
        CHECK(h[1].neighbors == 2 && h[1].x == 300 && h[1].y == 50 && h[1].w == 30, "small group %d at %d,%d",
              h[1].neighbors, h[1].x, h[1].y);
    }
    fk_haar_hit g[7] = {
        {100, 100, 40, 40, 1}, {102, 100, 40, 40, 1}, {100, 103, 40, 40, 1},
        {98, 101, 44, 44, 1},  {300, 50, 30, 30, 1},  {301, 51, 30, 30, 1},
        {500, 500, 24, 24, 1},
    };
    CHECK(fk__haar_group(g, 7, 3, &n) == FK_OK && n == 1 && g[0].neighbors == 4, "min_neighbors 3 kept %d", n);
    /* A weaker class inside a stronger one is dropped. */
    fk_haar_hit in[8];
    for (int i = 0; i < 5; i++) in[i] = (fk_haar_hit){100, 100, 100, 100, 1};
    for (int i = 5; i < 8; i++) in[i] = (fk_haar_hit){130, 130, 30, 30, 1};
    CHECK(fk__haar_group(in, 8, 1, &n) == FK_OK && n == 1 && in[0].w == 100, "nested kept %d", n);
    CHECK(fk__haar_group(NULL, 0, 3, &n) == FK_OK && n == 0, "empty");
}

static void test_errors(void) {
    fk_haar *c = NULL;
    CHECK(fk__haar_parse("<opencv_storage><cascade></opencv_storage>", "bad", &c) == FK_EFORMAT &&
              strstr(fk_last_error(), "does not match"), "mismatch: %s", fk_last_error());
    CHECK(fk__haar_parse("<opencv_storage><cascade><stageType>BOOST</stageType><featureType>LBP"
                        "</featureType></cascade></opencv_storage>", "lbp", &c) == FK_EFORMAT &&
              strstr(fk_last_error(), "LBP"), "lbp: %s", fk_last_error());
    char xml[2048];
    snprintf(xml, sizeof xml, TINY_CASCADE, "0.5");
    char *tilt = strstr(xml, "</rects>");
    char buf[2300];
    snprintf(buf, sizeof buf, "%.*s</rects><tilted>1</tilted>%s", (int)(tilt - xml), xml, tilt + 8);
    CHECK(fk__haar_parse(buf, "tilted", &c) == FK_EFORMAT && strstr(fk_last_error(), "tilted"), "tilted: %s",
          fk_last_error());
    snprintf(xml, sizeof xml, TINY_CASCADE, "0.5");
    char *r = strstr(xml, "3 0 3 6");
    r[0] = '5'; /* rect 5..8 sticks out of the 6-wide window */
    CHECK(fk__haar_parse(xml, "outside", &c) == FK_EFORMAT && strstr(fk_last_error(), "outside"), "outside: %s",
          fk_last_error());
    CHECK(fk__haar_load("/nonexistent/cascade.xml", &c) == FK_EMODEL && strstr(fk_last_error(), "/nonexistent"),
          "missing: %s", fk_last_error());
    CHECK(c == NULL, "no cascade on failure");
}

static void test_real(void) {
    const char *face_xml = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";
    const char *eye_xml = "/usr/share/opencv4/haarcascades/haarcascade_eye.xml";
    fk_haar *face = NULL, *eye = NULL;
    if (fk__haar_load(face_xml, &face) != FK_OK) {
        printf("SKIP part: %s\n", fk_last_error());
        return;
    }
    int w, h, stages, weak, feats;
    fk__haar_info(face, &w, &h, &stages, &weak, &feats);
    /* As declared in the file: 24x24, <stageNum>25, 2913 <internalNodes>
     * and 2913 <rects> (counted with grep). */
    CHECK(w == 24 && h == 24 && stages == 25 && weak == 2913 && feats == 2913, "face cascade %dx%d %d %d %d", w, h,
          stages, weak, feats);
    CHECK(fk__haar_load(eye_xml, &eye) == FK_OK, "%s", fk_last_error());
    if (eye) {
        fk__haar_info(eye, &w, &h, &stages, &weak, NULL);
        CHECK(w == 20 && h == 20 && stages == 24 && weak == 1066, "eye cascade %dx%d %d %d", w, h, stages, weak);
    }
    char path[4200], home[4000];
    if (fk_models_default_home(home, sizeof home) != FK_OK) home[0] = 0;
    /* OpenCV 4.6 (Debian python3-opencv): for each photo,
     * sorted(cv2.CascadeClassifier(face_xml).detectMultiScale(gray, 1.1, 10))
     * as x, y, size. */
    static const struct { int n; int box[9][3]; } ref[6] = {
        /* sample1 */ {2, {{366, 365, 242}, {1469, 571, 127}}},
        /* sample2 */ {3, {{219, 1054, 63}, {1338, 472, 54}, {1404, 164, 246}}},
        /* sample3 */ {3, {{551, 339, 251}, {1015, 209, 315}, {1482, 313, 249}}},
        /* sample4 */ {1, {{928, 193, 241}}},
        /* sample5 */ {3, {{357, 897, 237}, {641, 457, 161}, {1087, 216, 190}}},
        /* sample6 */ {9, {{246, 511, 254}, {391, 92, 137}, {398, 141, 144}, {413, 197, 134},
                           {420, 253, 125}, {617, 347, 258}, {919, 219, 119}, {1147, 330, 256},
                           {1447, 283, 267}}},
    };
    int total = 0, matched = 0, extra = 0, photos = 0;
    for (int i = 0; i < 6 && home[0]; i++) {
        fk_image *img = NULL;
        snprintf(path, sizeof path, "%s/face-api/sample%d.jpg", home, i + 1);
        if (fk_image_load(path, 0, &img) != FK_OK) break;
        photos++;
        fk_haar_params p;
        fk__haar_params_init(&p);
        p.min_neighbors = 10;
        fk_haar_hit *hits = NULL;
        int n = -1;
        CHECK(fk__haar_detect(face, img, &p, NULL, &hits, &n) == FK_OK, "%s", fk_last_error());
        int found = 0;
        for (int k = 0; k < ref[i].n; k++)
            for (int j = 0; j < n; j++)
                if (abs(hits[j].x - ref[i].box[k][0]) <= 3 && abs(hits[j].y - ref[i].box[k][1]) <= 3 &&
                    abs(hits[j].w - ref[i].box[k][2]) <= 3) {
                    found++;
                    break;
                }
        printf("sample%d: %d faces, OpenCV %d, %d in common\n", i + 1, n, ref[i].n, found);
        if (i == 5) {
            /* Sharing rows of windows among threads changes nothing. */
            fk_pool *pool = NULL;
            fk_haar_hit *ph = NULL;
            int pn = -1;
            CHECK(fk__pool_new(3, &pool) == FK_OK && fk__haar_detect(face, img, &p, pool, &ph, &pn) == FK_OK,
                  "%s", fk_last_error());
            CHECK(pn == n && (n == 0 || memcmp(ph, hits, sizeof *ph * (size_t)n) == 0),
                  "pooled: %d faces vs %d", pn, n);
            free(ph);
            fk__pool_free(pool);
        }
        total += ref[i].n;
        matched += found;
        extra += n - found;
        free(hits);
        fk_image_free(img);
    }
    if (photos == 6) {
        /* Measured: 20 of 21 boxes in common (sample6 keeps 8 of OpenCV's
         * 9; pixel differences between JPEG decoders and resizers move a
         * few raw hits), none of ours missing from OpenCV's list. */
        CHECK(matched >= total - 1, "only %d of OpenCV's %d faces found", matched, total);
        CHECK(extra <= 1, "%d faces OpenCV does not report", extra);
    } else {
        printf("SKIP part: face-api sample photos not in the model home\n");
    }
    fk__haar_free(face);
    fk__haar_free(eye);
}

int main(void) {
    test_evaluation();
    test_group();
    test_errors();
    test_real();
    return test_summary();
}
