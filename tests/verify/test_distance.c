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
    return test_summary();
}
