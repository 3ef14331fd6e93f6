/*
 * test_eval_metrics.c - the evaluation statistics (accuracy, best threshold,
 * ROC, AUC, EER, TAR@FAR, k-fold) on small examples worked out by hand, on
 * random data against brute-force definitions, and argument checking.
 */
#include <math.h>
#include <string.h>

#include "facekit.h"
#include "test.h"

#define NEAR(a, b) (fabs((double)(a) - (double)(b)) < 1e-6)

/* Example A, worked by hand (S = same, D = different), given out of order:
 *   sorted: 0.1 S, 0.2 S, 0.3 D, 0.4 S, 0.5 D, 0.6 D
 *   correct decisions as the threshold passes each distance:
 *     none 3, 0.1 4, 0.2 5, 0.3 4, 0.4 5, 0.5 4, 0.6 3
 *   best: 5/6, first reached accepting up to 0.2 -> threshold (0.2+0.3)/2
 *   ROC (far, tar): (0,0) (0,1/3) (0,2/3) (1/3,2/3) (1/3,1) (2/3,1) (1,1)
 *   AUC: S 0.1 and 0.2 are closer than all 3 D, S 0.4 than 2: 8/9
 *   EER: at 0.3 FAR = 1/3 = FRR exactly
 *   TAR@FAR<=1e-2: 2/3 (threshold 0.2); TAR@FAR<=0.34: 1 (threshold 0.4) */
static void test_example_a(void) {
    const float d[6] = {0.4f, 0.1f, 0.6f, 0.3f, 0.2f, 0.5f};
    const int l[6] = {1, 1, 0, 0, 1, 0};
    double acc = 0, tar = 0;
    float t = 0;

    CHECK(fk_eval_accuracy(d, l, 6, 0.35f, &acc) == FK_OK && NEAR(acc, 4.0 / 6), "acc@0.35 %f", acc);
    CHECK(fk_eval_accuracy(d, l, 6, 0.2f, &acc) == FK_OK && NEAR(acc, 5.0 / 6),
          "acc@0.2 (distance == threshold is accepted) %f", acc);
    CHECK(fk_eval_best_threshold(d, l, 6, &t, &acc) == FK_OK && NEAR(acc, 5.0 / 6) && NEAR(t, 0.25),
          "best %f at %f", acc, t);

    fk_roc_point pts[8];
    int count = -1;
    CHECK(fk_eval_roc(d, l, 6, NULL, 0, &count) == FK_OK && count == 7, "roc size %d", count);
    CHECK(fk_eval_roc(d, l, 6, pts, 8, &count) == FK_OK && count == 7, "roc %d", count);
    static const double want[7][3] = {{0.1, 0, 0},         {0.1, 0, 1.0 / 3},   {0.2, 0, 2.0 / 3},
                                      {0.3, 1.0 / 3, 2.0 / 3}, {0.4, 1.0 / 3, 1}, {0.5, 2.0 / 3, 1},
                                      {0.6, 1, 1}};
    CHECK(pts[0].threshold < 0.1f && pts[0].threshold > 0.0999f, "first point accepts nothing: %g",
          (double)pts[0].threshold);
    for (int i = 0; i < 7; i++) {
        CHECK(i == 0 || NEAR(pts[i].threshold, want[i][0]), "roc[%d].threshold %f", i,
              (double)pts[i].threshold);
        CHECK(NEAR(pts[i].far, want[i][1]) && NEAR(pts[i].tar, want[i][2]), "roc[%d] = (%f, %f)", i,
              pts[i].far, pts[i].tar);
    }
    /* A short array gets the first points; count still says how many. */
    fk_roc_point few[2];
    CHECK(fk_eval_roc(d, l, 6, few, 2, &count) == FK_OK && count == 7 && NEAR(few[1].tar, 1.0 / 3),
          "roc cap 2");

    CHECK(fk_eval_tar_at_far(d, l, 6, 1e-2, &tar, &t) == FK_OK && NEAR(tar, 2.0 / 3) && NEAR(t, 0.2),
          "tar@1e-2 %f at %f", tar, (double)t);
    CHECK(fk_eval_tar_at_far(d, l, 6, 0.34, &tar, &t) == FK_OK && NEAR(tar, 1) && NEAR(t, 0.4),
          "tar@0.34 %f at %f", tar, (double)t);
    CHECK(fk_eval_tar_at_far(d, l, 6, 1, &tar, &t) == FK_OK && NEAR(tar, 1), "tar@1");

    fk_eval_summary s;
    CHECK(fk_eval_summarize(d, l, NULL, 6, &s) == FK_OK, "summarize: %s", fk_last_error());
    CHECK(s.pairs == 6 && s.same == 3 && s.different == 3, "counts");
    CHECK(NEAR(s.best_accuracy, 5.0 / 6) && NEAR(s.best_threshold, 0.25), "summary best");
    CHECK(NEAR(s.auc, 8.0 / 9), "auc %f", s.auc);
    CHECK(NEAR(s.eer, 1.0 / 3) && NEAR(s.eer_threshold, 0.3), "eer %f at %f", s.eer,
          (double)s.eer_threshold);
    CHECK(NEAR(s.tar_at_far_1e2, 2.0 / 3) && NEAR(s.tar_at_far_1e3, 2.0 / 3) &&
              NEAR(s.threshold_at_far_1e3, 0.2),
          "summary tar %f %f", s.tar_at_far_1e2, s.tar_at_far_1e3);
    CHECK(s.folds == 0 && s.fold_accuracy_mean == 0, "no folds");
}

/* Example B: the EER falls between two ROC points.
 *   sorted: 0.1 S, 0.2 S, 0.3 D, 0.4 D, 0.5 S  (3 S, 2 D)
 *   (far, frr) at 0.2: (0, 1/3); at 0.3: (1/2, 1/3)
 *   far - frr goes -1/3 -> +1/6: meets at 2/3 of the way, where
 *   far = frr = 1/3 and the threshold is 0.2 + 2/3 * 0.1
 *   AUC: S 0.1 and 0.2 beat both D, S 0.5 neither: 4/6 */
static void test_example_b(void) {
    const float d[5] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f};
    const int l[5] = {1, 1, 0, 0, 1};
    fk_eval_summary s;
    CHECK(fk_eval_summarize(d, l, NULL, 5, &s) == FK_OK, "summarize: %s", fk_last_error());
    CHECK(NEAR(s.eer, 1.0 / 3), "interpolated eer %f", s.eer);
    CHECK(fabs(s.eer_threshold - (0.2 + 0.2 / 3)) < 1e-5, "eer threshold %f", (double)s.eer_threshold);
    CHECK(NEAR(s.auc, 4.0 / 6), "auc %f", s.auc);
    /* Best: accept up to 0.2 -> 4/5 (accepting all gives 3/5). */
    CHECK(NEAR(s.best_accuracy, 0.8) && NEAR(s.best_threshold, 0.25), "best %f", s.best_accuracy);
}

/* Ties: equal distances change state together and count half in the AUC. */
static void test_ties(void) {
    /* All five at one distance: no threshold separates anything. */
    const float d[5] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    const int l[5] = {1, 0, 1, 0, 0};
    fk_eval_summary s;
    CHECK(fk_eval_summarize(d, l, NULL, 5, &s) == FK_OK, "summarize: %s", fk_last_error());
    CHECK(NEAR(s.auc, 0.5), "all tied: auc %f", s.auc);
    CHECK(NEAR(s.eer, 0.5), "all tied: eer %f", s.eer);
    /* Rejecting all is right for the 3 D: threshold just below 0.5. */
    CHECK(NEAR(s.best_accuracy, 0.6) && s.best_threshold < 0.5f && s.best_threshold > 0.4999f,
          "all tied: best %f at %.9f", s.best_accuracy, (double)s.best_threshold);
    CHECK(s.tar_at_far_1e2 == 0, "all tied: tar@far %f", s.tar_at_far_1e2);
    int count;
    CHECK(fk_eval_roc(d, l, 5, NULL, 0, &count) == FK_OK && count == 2, "two roc points");

    /* 0.1 S, 0.2 S, 0.2 D, 0.3 D: S 0.1 beats both D (2), S 0.2 ties one
     * and beats one (1.5): 3.5 / 4. */
    const float e[4] = {0.2f, 0.3f, 0.1f, 0.2f};
    const int m[4] = {1, 0, 1, 0};
    CHECK(fk_eval_summarize(e, m, NULL, 4, &s) == FK_OK && NEAR(s.auc, 0.875), "tie auc %f", s.auc);
    /* Accepting up to 0.1 -> 3/4; up to 0.2 -> 3/4 too; smallest wins. */
    CHECK(NEAR(s.best_accuracy, 0.75) && NEAR(s.best_threshold, 0.15), "tie best %f at %f",
          s.best_accuracy, (double)s.best_threshold);

    /* Perfect separation: AUC 1, EER 0, accuracy 1, TAR 1 at FAR 0. */
    const float p[4] = {0.1f, 0.2f, 0.7f, 0.8f};
    const int q[4] = {1, 1, 0, 0};
    CHECK(fk_eval_summarize(p, q, NULL, 4, &s) == FK_OK && NEAR(s.auc, 1) && NEAR(s.eer, 0) &&
              NEAR(s.best_accuracy, 1) && NEAR(s.best_threshold, 0.45) && NEAR(s.tar_at_far_1e3, 1),
          "separable: auc %f eer %f acc %f thr %f", s.auc, s.eer, s.best_accuracy,
          (double)s.best_threshold);
    /* Perfectly wrong: AUC 0, EER 1, best is accepting nothing. */
    const int r[4] = {0, 0, 1, 1};
    CHECK(fk_eval_summarize(p, r, NULL, 4, &s) == FK_OK && NEAR(s.auc, 0) && NEAR(s.eer, 1) &&
              NEAR(s.best_accuracy, 0.5),
          "inverted: auc %f eer %f acc %f", s.auc, s.eer, s.best_accuracy);
    /* Adjacent floats: the threshold must still split them. */
    const float a[2] = {1.0f, nextafterf(1.0f, 2.0f)};
    const int b[2] = {1, 0};
    float t;
    double acc;
    CHECK(fk_eval_best_threshold(a, b, 2, &t, &acc) == FK_OK && acc == 1 && t == 1.0f,
          "adjacent floats: %.9g %f", (double)t, acc);
}

/* Two folds, worked by hand:
 *   fold 0: 0.1 S, 0.2 D, 0.25 S, 0.5 D
 *   fold 1: 0.2 S, 0.4 D, 0.45 S, 0.6 D
 * Testing fold 0: trained on fold 1 (none 2, 0.2 3, 0.4 2, 0.45 3, 0.6 2)
 *   best first at 0.2 -> threshold 0.3; fold 0 at 0.3: 0.2 D wrong -> 3/4
 * Testing fold 1: trained on fold 0 (none 2, 0.1 3, 0.2 2, 0.25 3, 0.5 2)
 *   best first at 0.1 -> threshold 0.15; fold 1 at 0.15: both S wrong -> 2/4
 * mean 0.625, population std 0.125, mean threshold 0.225 */
static void test_kfold(void) {
    const float d[8] = {0.1f, 0.2f, 0.25f, 0.5f, 0.2f, 0.4f, 0.45f, 0.6f};
    const int l[8] = {1, 0, 1, 0, 1, 0, 1, 0};
    const int f[8] = {0, 0, 0, 0, 1, 1, 1, 1};
    fk_eval_summary s;
    CHECK(fk_eval_summarize(d, l, f, 8, &s) == FK_OK, "summarize: %s", fk_last_error());
    CHECK(s.folds == 2, "folds %d", s.folds);
    CHECK(NEAR(s.fold_accuracy_mean, 0.625) && NEAR(s.fold_accuracy_std, 0.125), "kfold %f +- %f",
          s.fold_accuracy_mean, s.fold_accuracy_std);
    CHECK(NEAR(s.fold_threshold_mean, 0.225), "kfold threshold %f", (double)s.fold_threshold_mean);
    /* Fold labels may be interleaved in any order. */
    const float d2[8] = {0.1f, 0.2f, 0.2f, 0.4f, 0.25f, 0.45f, 0.5f, 0.6f};
    const int l2[8] = {1, 1, 0, 0, 1, 1, 0, 0};
    const int f2[8] = {0, 1, 0, 1, 0, 1, 0, 1};
    fk_eval_summary s2;
    CHECK(fk_eval_summarize(d2, l2, f2, 8, &s2) == FK_OK && NEAR(s2.fold_accuracy_mean, 0.625) &&
              NEAR(s2.fold_accuracy_std, 0.125),
          "interleaved kfold %f", s2.fold_accuracy_mean);
}

/* A small deterministic generator (xorshift) so failures reproduce. */
static unsigned rng_state = 12345;
static unsigned rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* Random pairs (with many ties: distances on a coarse grid) against the
 * definitions computed the slow, obvious way. */
static void test_against_brute_force(void) {
    enum { N = 300, FOLDS = 10 };
    static float d[N];
    static int l[N], f[N];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < N; i++) {
            l[i] = (int)(rng() % 2);
            d[i] = (float)(rng() % 40) / 40.0f + (l[i] ? 0.0f : 0.3f);
            f[i] = i % FOLDS;
        }
        l[0] = 1;
        l[1] = 0;
        fk_eval_summary s;
        CHECK(fk_eval_summarize(d, l, f, N, &s) == FK_OK, "summarize: %s", fk_last_error());

        /* Best accuracy: try every distance as a threshold, and none. */
        int best = 0;
        for (int i = 0; i < N; i++) best += l[i] == 0;
        for (int j = 0; j < N; j++) {
            int ok = 0;
            for (int i = 0; i < N; i++) ok += (d[i] <= d[j]) == (l[i] == 1);
            if (ok > best) best = ok;
        }
        CHECK(NEAR(s.best_accuracy, (double)best / N), "round %d: best %f vs %f", round,
              s.best_accuracy, (double)best / N);
        double acc;
        CHECK(fk_eval_accuracy(d, l, N, s.best_threshold, &acc) == FK_OK && NEAR(acc, s.best_accuracy),
              "round %d: best threshold reproduces best accuracy", round);

        /* AUC: every (same, different) pairing. */
        double wins = 0, pairings = 0;
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
                if (l[i] == 1 && l[j] == 0) {
                    pairings++;
                    wins += d[i] < d[j] ? 1 : d[i] == d[j] ? 0.5 : 0;
                }
        CHECK(NEAR(s.auc, wins / pairings), "round %d: auc %f vs %f", round, s.auc, wins / pairings);

        /* TAR@FAR: every distance as a threshold, and none. */
        double want_tar = 0;
        for (int j = 0; j < N; j++) {
            int fa = 0, ta = 0;
            for (int i = 0; i < N; i++) {
                fa += l[i] == 0 && d[i] <= d[j];
                ta += l[i] == 1 && d[i] <= d[j];
            }
            if ((double)fa / s.different <= 1e-2 && (double)ta / s.same > want_tar)
                want_tar = (double)ta / s.same;
        }
        CHECK(NEAR(s.tar_at_far_1e2, want_tar), "round %d: tar %f vs %f", round, s.tar_at_far_1e2,
              want_tar);

        /* EER: walk the distinct thresholds upward to the first where FAR
         * >= FRR; the EER lies between the rates there and just before. */
        double far_a = 0, frr_a = 1, far_b = 1, frr_b = 0;
        float prev = -1;
        for (;;) {
            float next = INFINITY;
            for (int i = 0; i < N; i++)
                if (d[i] > prev && d[i] < next) next = d[i];
            int fa = 0, fr = 0;
            for (int i = 0; i < N; i++) {
                fa += l[i] == 0 && d[i] <= next;
                fr += l[i] == 1 && d[i] > next;
            }
            double far = (double)fa / s.different, frr = (double)fr / s.same;
            if (far >= frr) {
                far_b = far;
                frr_b = frr;
                break;
            }
            far_a = far;
            frr_a = frr;
            prev = next;
        }
        CHECK(s.eer >= far_a - 1e-9 && s.eer <= far_b + 1e-9 && s.eer >= frr_b - 1e-9 &&
                  s.eer <= frr_a + 1e-9,
              "round %d: eer %f not within far %f..%f, frr %f..%f", round, s.eer, far_a, far_b,
              frr_b, frr_a);

        /* k-fold: the protocol written out longhand. */
        double sum = 0, sum2 = 0;
        for (int k = 0; k < FOLDS; k++) {
            float td[N];
            int tl[N], m = 0;
            for (int i = 0; i < N; i++)
                if (f[i] != k) {
                    td[m] = d[i];
                    tl[m++] = l[i];
                }
            float t;
            double a;
            CHECK(fk_eval_best_threshold(td, tl, m, &t, &a) == FK_OK, "train");
            int ok = 0, size = 0;
            for (int i = 0; i < N; i++)
                if (f[i] == k) {
                    size++;
                    ok += (d[i] <= t) == (l[i] == 1);
                }
            sum += (double)ok / size;
            sum2 += ((double)ok / size) * ((double)ok / size);
        }
        double mean = sum / FOLDS, sd = sqrt(fmax(0, sum2 / FOLDS - mean * mean));
        CHECK(s.folds == FOLDS && NEAR(s.fold_accuracy_mean, mean) && NEAR(s.fold_accuracy_std, sd),
              "round %d: kfold %f+-%f vs %f+-%f", round, s.fold_accuracy_mean, s.fold_accuracy_std,
              mean, sd);
        CHECK(s.fold_accuracy_mean <= s.best_accuracy + 1e-9, "round %d: k-fold can't beat best",
              round);

        /* Order of pairs must not matter: reverse them. */
        static float rd[N];
        static int rl[N], rf[N];
        for (int i = 0; i < N; i++) {
            rd[i] = d[N - 1 - i];
            rl[i] = l[N - 1 - i];
            rf[i] = f[N - 1 - i];
        }
        fk_eval_summary r;
        CHECK(fk_eval_summarize(rd, rl, rf, N, &r) == FK_OK && r.auc == s.auc && r.eer == s.eer &&
                  r.best_accuracy == s.best_accuracy && r.best_threshold == s.best_threshold &&
                  r.fold_accuracy_mean == s.fold_accuracy_mean,
              "round %d: order independent", round);
    }
}

/* Every argument check answers FK_EINVAL with a message naming the
 * problem, and a later success clears it. */
static void test_bad_arguments(void) {
    const float d[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    const int l[4] = {1, 1, 0, 0};
    fk_eval_summary s;
    double x;
    float t;
    int count;
    CHECK(fk_eval_summarize(NULL, l, NULL, 4, &s) == FK_EINVAL, "NULL distances");
    CHECK(fk_eval_summarize(d, NULL, NULL, 4, &s) == FK_EINVAL, "NULL labels");
    CHECK(fk_eval_summarize(d, l, NULL, 4, NULL) == FK_EINVAL, "NULL out");
    CHECK(fk_eval_summarize(d, l, NULL, 0, &s) == FK_EINVAL && strstr(fk_last_error(), "at least one"),
          "n = 0: %s", fk_last_error());
    CHECK(fk_eval_summarize(d, l, NULL, -3, &s) == FK_EINVAL, "n < 0");
    const int bad_label[4] = {1, 2, 0, 0};
    CHECK(fk_eval_summarize(d, bad_label, NULL, 4, &s) == FK_EINVAL &&
              strstr(fk_last_error(), "label 1 is 2"),
          "label 2: %s", fk_last_error());
    const float nan_d[4] = {0.1f, NAN, 0.3f, 0.4f};
    CHECK(fk_eval_summarize(nan_d, l, NULL, 4, &s) == FK_EINVAL && strstr(fk_last_error(), "distance 1"),
          "NaN: %s", fk_last_error());
    const float inf_d[4] = {0.1f, 0.2f, INFINITY, 0.4f};
    CHECK(fk_eval_accuracy(inf_d, l, 4, 0.5f, &x) == FK_EINVAL, "inf");
    const int all_same[4] = {1, 1, 1, 1};
    CHECK(fk_eval_summarize(d, all_same, NULL, 4, &s) == FK_EINVAL &&
              strstr(fk_last_error(), "one same and one different"),
          "one class: %s", fk_last_error());
    /* Accuracy and best threshold are defined with one class. */
    CHECK(fk_eval_accuracy(d, all_same, 4, 0.25f, &x) == FK_OK && NEAR(x, 0.5), "one class acc");
    CHECK(fk_eval_best_threshold(d, all_same, 4, &t, &x) == FK_OK && x == 1 && t == 0.4f,
          "one class best %f at %f", x, (double)t);
    CHECK(fk_eval_accuracy(d, l, 4, NAN, &x) == FK_EINVAL, "NaN threshold");
    CHECK(fk_eval_accuracy(d, l, 4, 0.2f, NULL) == FK_EINVAL, "NULL accuracy");
    CHECK(fk_eval_best_threshold(d, l, 4, NULL, &x) == FK_EINVAL, "NULL threshold");
    CHECK(fk_eval_roc(d, l, 4, NULL, 3, &count) == FK_EINVAL, "NULL points with cap");
    CHECK(fk_eval_roc(d, l, 4, NULL, 0, NULL) == FK_EINVAL, "NULL count");
    CHECK(fk_eval_roc(d, all_same, 4, NULL, 0, &count) == FK_EINVAL, "roc one class");
    CHECK(fk_eval_tar_at_far(d, l, 4, 1.5, &x, &t) == FK_EINVAL, "far > 1");
    CHECK(fk_eval_tar_at_far(d, l, 4, NAN, &x, &t) == FK_EINVAL, "far NaN");

    const int one_fold[4] = {0, 0, 0, 0};
    CHECK(fk_eval_summarize(d, l, one_fold, 4, &s) == FK_EINVAL && strstr(fk_last_error(), "2 folds"),
          "one fold: %s", fk_last_error());
    const int gap[4] = {0, 2, 0, 2};
    CHECK(fk_eval_summarize(d, l, gap, 4, &s) == FK_EINVAL && strstr(fk_last_error(), "fold 1"),
          "empty fold: %s", fk_last_error());
    const int neg[4] = {0, 1, -1, 1};
    CHECK(fk_eval_summarize(d, l, neg, 4, &s) == FK_EINVAL, "negative fold");
    const int huge[4] = {0, 1, 1000000, 1};
    CHECK(fk_eval_summarize(d, l, huge, 4, &s) == FK_EINVAL, "fold out of range");
    /* A success clears the old message. */
    CHECK(fk_eval_summarize(d, l, NULL, 4, &s) == FK_OK && strcmp(fk_last_error(), "no error") == 0,
          "cleared: %s", fk_last_error());
}

int main(void) {
    test_example_a();
    test_example_b();
    test_ties();
    test_kfold();
    test_against_brute_force();
    test_bad_arguments();
    return test_summary();
}
