/*
 * test_distance.c - distance metrics on hand-computed examples, thresholds,
 * and argument checking.
 */
#include <math.h>
#include <string.h>

#include "facekit.h"
#include "test.h"

static float dist(const float *a, const float *b, int n, const char *m) {
    float d = -1;
    fk_status st = fk_distance(a, b, n, m, &d);
    CHECK(st == FK_OK, "%s: %s", m, fk_last_error());
    return d;
}

int main(void) {
    const float a[2] = {3, 4}, b[2] = {4, 3}, c[2] = {-3, -4}, e[2] = {6, 8};
    /* a.b = 24, |a| = |b| = 5: cos = 0.96 */
    CHECK(fabsf(dist(a, b, 2, "cosine") - 0.04f) < 1e-6f, "cosine");
    CHECK(fabsf(dist(a, b, 2, "euclidean") - sqrtf(2)) < 1e-6f, "euclidean");
    /* unit vectors (0.6,0.8) and (0.8,0.6): |diff| = sqrt(0.08) */
    CHECK(fabsf(dist(a, b, 2, "euclidean_l2") - sqrtf(0.08f)) < 1e-6f, "euclidean_l2");
    CHECK(fabsf(dist(a, b, 2, "angular") - (float)(acos(0.96) / M_PI)) < 1e-6f, "angular");
    /* Scale does not matter to the normalised metrics, does to euclidean. */
    CHECK(dist(a, e, 2, "cosine") < 1e-6f && dist(a, e, 2, "euclidean_l2") < 1e-3f &&
          dist(a, e, 2, "angular") < 1e-3f, "scale invariance");
    CHECK(fabsf(dist(a, e, 2, "euclidean") - 5) < 1e-6f, "euclidean scale");
    /* Opposite vectors: the largest distances. */
    CHECK(fabsf(dist(a, c, 2, "cosine") - 2) < 1e-6f, "opposite cosine");
    CHECK(fabsf(dist(a, c, 2, "euclidean_l2") - 2) < 1e-6f, "opposite l2");
    CHECK(fabsf(dist(a, c, 2, "angular") - 1) < 1e-6f, "opposite angular");
    CHECK(fabsf(dist(a, a, 2, "COSINE")) < 1e-6f, "names are case-insensitive");

    float d;
    const float z[2] = {0, 0};
    CHECK(fk_distance(a, z, 2, "cosine", &d) == FK_EINVAL, "zero vector");
    CHECK(fk_distance(a, b, 2, "manhattan", &d) == FK_EINVAL &&
          strstr(fk_last_error(), "euclidean_l2"), "unknown metric lists valid ones");
    CHECK(fk_distance(a, b, 0, "cosine", &d) == FK_EINVAL, "n = 0");
    CHECK(fk_distance(NULL, b, 2, "cosine", &d) == FK_EINVAL, "NULL");

    static const char *metrics[] = {"cosine", "euclidean", "euclidean_l2", "angular"};
    for (int i = 0; i < 4; i++) {
        float t = 0;
        CHECK(fk_threshold("Dlib", metrics[i], &t) == FK_OK && t > 0 && t < 2, "%s", metrics[i]);
    }
    float t;
    CHECK(fk_threshold("Nope", "cosine", &t) == FK_EINVAL, "unknown model");

    /* Confidence: deepface's ranges, 100 at 0, the verdict's side never
     * contradicted, decreasing with the distance. */
    float cf = -1, prev = 101;
    CHECK(fk_confidence(0, 0.4f, &cf) == FK_OK && cf == 100, "distance 0: %g", cf);
    for (int i = 0; i <= 100; i++) {
        float dd = 0.4f * 2.5f * i / 100;
        CHECK(fk_confidence(dd, 0.4f, &cf) == FK_OK, "%g", dd);
        CHECK(cf <= prev, "decreasing at %g: %g after %g", dd, cf, prev);
        CHECK(dd <= 0.4f ? cf >= 51 && cf <= 100 : cf >= 0 && cf <= 49, "range at %g: %g", dd, cf);
        CHECK(fabsf(cf * 100 - roundf(cf * 100)) < 1e-3f, "2 decimals: %g", cf);
        prev = cf;
    }
    CHECK(fk_confidence(0.4f, 0.4f, &cf) == FK_OK && cf == 51, "at the threshold: %g", cf);
    CHECK(fk_confidence(0.8f, 0.4f, &cf) == FK_OK && cf < 0.1f, "twice the threshold: %g", cf);
    /* The curve scales with the threshold: the same ratio, the same number. */
    float c2 = 0;
    fk_confidence(0.03f, 0.1f, &cf);
    fk_confidence(0.3f, 1.0f, &c2);
    CHECK(cf == c2, "scale-free: %g vs %g", cf, c2);
    CHECK(fk_confidence(-0.1f, 0.4f, &cf) == FK_EINVAL, "negative distance");
    CHECK(fk_confidence(NAN, 0.4f, &cf) == FK_EINVAL, "NaN distance");
    CHECK(fk_confidence(0.1f, 0, &cf) == FK_EINVAL, "threshold 0");
    CHECK(fk_confidence(0.1f, 0.4f, NULL) == FK_EINVAL, "NULL out");
    return test_summary();
}
