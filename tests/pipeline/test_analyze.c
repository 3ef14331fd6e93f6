/*
 * test_analyze.c - fk_analyze on real photos:
 *  - fields: every asked group filled (and only those), percentages in
 *    0..100 summing to 100, dominant_* the argmax, race names GEAR's
 *    classes under deepface's names, faces in original pixels as
 *    fk_detect gives them, model names reported;
 *  - labelled faces (looked at, docs/analyze.md): the default gender model
 *    gets the women of face-api's sample1 and sample3 and four LFW people
 *    right at its measured rate (97% on 427 LFW faces) or better; age orders
 *    two teenagers below two men over 80; emotion is happy / neutral where
 *    the faces are; over the label files of tests/data (age groups and
 *    emotions of faces labelled by looking), the default models keep their
 *    measured rates with a margin;
 *  - one distinct model runs once for several actions (GEAR for age,
 *    gender and race gives the same numbers as GEAR asked per action);
 *  - bad arguments: unknown actions and models, a model that lacks the
 *    action, NULLs.
 * Skips when the analyzers' files are not installed ($FACEKIT_HOME).
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "facekit.h"
#include "test.h"

static char home[1024];

static fk_image *load(const char *path) {
    fk_image *img = NULL;
    CHECK(fk_image_load(path, 0, &img) == FK_OK, "load %s: %s", path, fk_last_error());
    return img;
}

static int installed(const char *name) {
    fk_model_info infos[64];
    int n = 0;
    if (fk_models_list(home, infos, 64, &n) != FK_OK) return 0;
    for (int i = 0; i < n && i < 64; i++)
        if (!strcmp(infos[i].name, name)) return infos[i].installed;
    return 0;
}

static int argmax(const float *v, int n) {
    int b = 0;
    for (int k = 1; k < n; k++)
        if (v[k] > v[b]) b = k;
    return b;
}

static void check_sums(const float *v, int n, const char *what) {
    double s = 0;
    for (int k = 0; k < n; k++) {
        CHECK(v[k] >= 0 && v[k] <= 100, "%s[%d] = %g", what, k, v[k]);
        s += v[k];
    }
    CHECK(fabs(s - 100) < 1e-3, "%s sums to %g", what, s);
}

static void check_fields(fk_context *ctx, fk_image *img) {
    fk_analysis a = {0};
    CHECK(fk_analyze(ctx, img, NULL, NULL, &a) == FK_OK, "analyze: %s", fk_last_error());
    fk_faces det = {0};
    CHECK(fk_detect(ctx, img, NULL, &det) == FK_OK, "detect: %s", fk_last_error());
    CHECK(a.count == 3 && det.count == 3, "sample1: %d faces (detect %d)", a.count, det.count);
    for (int i = 0; i < a.count && i < det.count; i++) {
        const fk_face_analysis *f = &a.faces[i];
        CHECK(f->actions == FK_ACTION_ALL, "face %d: actions %u", i, f->actions);
        CHECK(fabsf(f->face.x - det.faces[i].x) < 0.01f && fabsf(f->face.w - det.faces[i].w) < 0.01f,
              "face %d: box as fk_detect's", i);
        CHECK(f->face.embedding == NULL && !f->face.spoof_checked, "face %d: no embedding, not "
              "spoof-checked", i);
        CHECK(f->age > 10 && f->age < 60, "face %d: age %g", i, f->age);
        float g[2] = {f->woman, f->man};
        check_sums(g, 2, "gender");
        CHECK(!strcmp(f->dominant_gender, argmax(g, 2) ? "Man" : "Woman"), "dominant_gender");
        check_sums(f->emotion, FK_EMOTIONS, "emotion");
        CHECK(!strcmp(f->dominant_emotion, fk_emotion_name(argmax(f->emotion, FK_EMOTIONS))),
              "dominant_emotion %s", f->dominant_emotion);
        CHECK(f->race_count == 5 && !strcmp(f->race_names[0], "white") &&
                  !strcmp(f->race_names[2], "asian") && !strcmp(f->race_names[4], "other"),
              "race classes");
        check_sums(f->race, f->race_count, "race");
        CHECK(!strcmp(f->dominant_race, f->race_names[argmax(f->race, f->race_count)]),
              "dominant_race");
        CHECK(!strcmp(f->age_model, "FaceApi-AgeGender") &&
                  !strcmp(f->gender_model, "FaceApi-AgeGender") &&
                  !strcmp(f->emotion_model, "FaceApi-Expression") && !strcmp(f->race_model, "GEAR"),
              "default models");
    }
    fk_faces_free(&det);
    fk_analysis_free(&a);
    CHECK(a.faces == NULL && a.count == 0, "free zeroes");

    /* Only what is asked; GEAR once for three actions = GEAR per action. */
    fk_analyze_options ao;
    fk_analyze_options_init(&ao);
    ao.actions = FK_ACTION_AGE | FK_ACTION_GENDER | FK_ACTION_RACE;
    ao.age_model = ao.gender_model = "gear";
    fk_analysis all = {0}, one = {0};
    CHECK(fk_analyze(ctx, img, NULL, &ao, &all) == FK_OK, "gear: %s", fk_last_error());
    ao.actions = FK_ACTION_GENDER;
    CHECK(fk_analyze(ctx, img, NULL, &ao, &one) == FK_OK, "gear gender: %s", fk_last_error());
    for (int i = 0; i < all.count && i < one.count; i++) {
        CHECK(all.faces[i].actions == ao.actions + FK_ACTION_AGE + FK_ACTION_RACE &&
                  one.faces[i].actions == FK_ACTION_GENDER && one.faces[i].emotion_model == NULL &&
                  one.faces[i].race_count == 0,
              "face %d: only the asked groups", i);
        CHECK(all.faces[i].man == one.faces[i].man && !strcmp(all.faces[i].gender_model, "GEAR"),
              "face %d: one GEAR run serves every action", i);
    }
    fk_analysis_free(&all);
    fk_analysis_free(&one);
}

/* Faces labelled by looking at them (docs/analyze.md). */
static void check_labelled(fk_context *ctx, const char *lfw) {
    int right = 0, total = 0;
    for (int s = 1; s <= 3; s += 2) { /* sample1 and sample3: three women each */
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/face-api/sample%d.jpg", home, s);
        fk_image *img = load(path);
        fk_analysis a = {0};
        if (img && fk_analyze(ctx, img, NULL, NULL, &a) == FK_OK) {
            for (int i = 0; i < a.count; i++) {
                right += !strcmp(a.faces[i].dominant_gender, "Woman");
                total++;
                /* The clear cases: sample1's right and sample3's middle and
                 * right faces laugh, sample3's left has her lips closed, no
                 * smile. Left out as ambiguous: sample1's left (a
                 * closed-lip smile) and middle (eyes downcast, a painted
                 * tear under a faint smile; FaceApi-Expression says sad). */
                float x = a.faces[i].face.x;
                const char *want = s == 3 ? (x < 700 ? "neutral" : "happy")
                                          : (x > 1400 ? "happy" : NULL);
                if (want)
                    CHECK(!strcmp(a.faces[i].dominant_emotion, want), "sample%d face at x=%.0f: %s",
                          s, x, a.faces[i].dominant_emotion);
            }
        }
        fk_analysis_free(&a);
        fk_image_free(img);
    }
    static const struct {
        const char *file, *gender, *emotion;
        int old;
    } LFW[] = {
        {"Mary-Kate_Olsen/Mary-Kate_Olsen_0001.jpg", "Woman", "happy", 0},
        {"Shia_LaBeouf/Shia_LaBeouf_0001.jpg", "Man", "neutral", 0},
        {"John_Paul_II/John_Paul_II_0003.jpg", "Man", NULL, 1},
        {"Strom_Thurmond/Strom_Thurmond_0001.jpg", "Man", "happy", 1},
    };
    float young_max = 0, old_min = 1000;
    fk_options o;
    fk_options_init(&o);
    o.max_faces = 1;
    for (size_t k = 0; k < sizeof LFW / sizeof LFW[0]; k++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/%s", lfw, LFW[k].file);
        if (access(path, R_OK) != 0) continue;
        fk_image *img = load(path);
        fk_analysis a = {0};
        CHECK(img && fk_analyze(ctx, img, &o, NULL, &a) == FK_OK && a.count == 1, "%s: %s",
              LFW[k].file, fk_last_error());
        if (a.count == 1) {
            right += !strcmp(a.faces[0].dominant_gender, LFW[k].gender);
            total++;
            if (LFW[k].emotion)
                CHECK(!strcmp(a.faces[0].dominant_emotion, LFW[k].emotion), "%s: %s",
                      LFW[k].file, a.faces[0].dominant_emotion);
            if (LFW[k].old && a.faces[0].age < old_min) old_min = a.faces[0].age;
            if (!LFW[k].old && a.faces[0].age > young_max) young_max = a.faces[0].age;
        }
        fk_analysis_free(&a);
        fk_image_free(img);
    }
    printf("gender right on %d/%d labelled faces; teenagers <= %.1f, over-80s >= %.1f\n", right,
           total, young_max, old_min);
    CHECK(total >= 6 && right >= total - (total + 9) / 10, "gender %d/%d", right, total);
    CHECK(old_min == 1000 || young_max < old_min, "age order %.1f < %.1f", young_max, old_min);
}

/* The label files of tests/data (faces labelled by looking, no model
 * involved; their headers say how): the default age model orders the four
 * age groups (child < young adult < middle-aged < elderly) in at least 90%
 * of the cross-group pairs with rising group medians (measured: 98.9%,
 * medians 17 / 26 / 44 / 62, docs/analyze.md), and the default emotion
 * model calls at least 70% of the happy faces happy and agrees with 60% of
 * all labels (measured 93% and 76.7%). Under the sanitizers every third row
 * only (the checks are rates, so they hold on the subset too). */
#define LABELS_MAX 128
typedef struct {
    char path[PATH_MAX];
    char label[32];
    int has_box;
    float box[4];
} label_row;

static int read_labels(const char *file, const char *lfw, label_row *rows, int max) {
    FILE *f = fopen(file, "r");
    CHECK(f != NULL, "open %s", file);
    if (!f) return 0;
    int n = 0, line = 0;
#ifdef __SANITIZE_ADDRESS__
    int stride = 3;
#else
    int stride = 1;
#endif
    char buf[1024];
    while (n < max && fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\n")] = 0;
        if (!buf[0] || buf[0] == '#') continue;
        if (line++ % stride) continue;
        char *rel = strtok(buf, "\t"), *label = strtok(NULL, "\t"), *box = strtok(NULL, "\t");
        if (!rel || !label) continue;
        label_row *r = &rows[n];
        if (!strncmp(rel, "face-api/", 9))
            snprintf(r->path, sizeof r->path, "%s/%s", home, rel);
        else
            snprintf(r->path, sizeof r->path, "%s/%s", lfw, rel);
        snprintf(r->label, sizeof r->label, "%s", label);
        r->has_box = box && sscanf(box, "%f,%f,%f,%f", &r->box[0], &r->box[1], &r->box[2],
                                   &r->box[3]) == 4;
        if (access(r->path, R_OK) == 0) n++;
    }
    fclose(f);
    return n;
}

static float overlap(const fk_face *f, const float *b) {
    float ix = fminf(f->x + f->w, b[0] + b[2]) - fmaxf(f->x, b[0]);
    float iy = fminf(f->y + f->h, b[1] + b[3]) - fmaxf(f->y, b[1]);
    if (ix <= 0 || iy <= 0) return 0;
    return ix * iy / (f->w * f->h + b[2] * b[3] - ix * iy);
}

/* The labelled face: the one overlapping the row's box most (IoU >= 0.3),
 * or for LFW rows the one nearest the centre (the deep-funneled crops are
 * centred on the named person). -1 when none fits. */
static int labelled_face(const fk_analysis *a, const fk_image *img, const label_row *r) {
    int best = -1;
    float score = 0;
    for (int i = 0; i < a->count; i++) {
        const fk_face *f = &a->faces[i].face;
        float s;
        if (r->has_box) {
            s = overlap(f, r->box);
            if (s < 0.3f) continue;
        } else {
            float dx = f->x + f->w / 2 - img->width / 2.0f, dy = f->y + f->h / 2 - img->height / 2.0f;
            s = -(dx * dx + dy * dy);
        }
        if (best < 0 || s > score) best = i, score = s;
    }
    return best;
}

static int analyze_row(fk_context *ctx, const label_row *r, unsigned action, fk_analysis *a) {
    fk_image *img = load(r->path);
    fk_analyze_options ao;
    fk_analyze_options_init(&ao);
    ao.actions = action;
    fk_options o;
    fk_options_init(&o);
    o.enforce_detection = 0;
    int face = -1;
    if (img && fk_analyze(ctx, img, &o, &ao, a) == FK_OK) face = labelled_face(a, img, r);
    CHECK(face >= 0, "%s: no labelled face (%s)", r->path, fk_last_error());
    fk_image_free(img);
    return face;
}

static void check_label_files(fk_context *ctx, const char *lfw) {
    static label_row rows[LABELS_MAX];
    static const char *const GROUPS[4] = {"child", "young adult", "middle-aged", "elderly"};
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s/tests/data/age_order.tsv", test_env("FK_SOURCE_DIR", "."));
    int n = read_labels(file, lfw, rows, LABELS_MAX);
    float ages[LABELS_MAX];
    int group[LABELS_MAX], m = 0;
    for (int i = 0; i < n; i++) {
        fk_analysis a = {0};
        int face = analyze_row(ctx, &rows[i], FK_ACTION_AGE, &a);
        int g = -1;
        for (int k = 0; k < 4; k++)
            if (!strcmp(rows[i].label, GROUPS[k])) g = k;
        CHECK(g >= 0, "%s: unknown group %s", rows[i].path, rows[i].label);
        if (face >= 0 && g >= 0) ages[m] = a.faces[face].age, group[m++] = g;
        fk_analysis_free(&a);
    }
    double right = 0, pairs = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++)
            if (group[i] < group[j]) {
                pairs++;
                right += ages[i] < ages[j] ? 1 : ages[i] == ages[j] ? 0.5 : 0;
            }
    float median[4];
    for (int g = 0; g < 4; g++) {
        float v[LABELS_MAX];
        int c = 0;
        for (int i = 0; i < m; i++)
            if (group[i] == g) {
                int at = c++;
                while (at > 0 && v[at - 1] > ages[i]) v[at] = v[at - 1], at--;
                v[at] = ages[i];
            }
        median[g] = c ? (c % 2 ? v[c / 2] : (v[c / 2 - 1] + v[c / 2]) / 2) : NAN;
    }
    printf("age groups: %d faces, %.0f/%.0f pairs in order; medians %.1f %.1f %.1f %.1f\n", m,
           right, pairs, median[0], median[1], median[2], median[3]);
    CHECK(m >= 12 && pairs > 0 && right >= 0.9 * pairs, "age order %.0f/%.0f", right, pairs);
    CHECK(median[0] < median[1] && median[1] < median[2] && median[2] < median[3],
          "group medians rise: %.1f %.1f %.1f %.1f", median[0], median[1], median[2], median[3]);

    snprintf(file, sizeof file, "%s/tests/data/emotion_faces.tsv", test_env("FK_SOURCE_DIR", "."));
    n = read_labels(file, lfw, rows, LABELS_MAX);
    int agree = 0, total = 0, happy = 0, happy_right = 0;
    for (int i = 0; i < n; i++) {
        fk_analysis a = {0};
        int face = analyze_row(ctx, &rows[i], FK_ACTION_EMOTION, &a);
        if (face >= 0) {
            int same = !strcmp(a.faces[face].dominant_emotion, rows[i].label);
            agree += same;
            total++;
            if (!strcmp(rows[i].label, "happy")) happy++, happy_right += same;
        }
        fk_analysis_free(&a);
    }
    printf("emotion: %d/%d agree, happy %d/%d\n", agree, total, happy_right, happy);
    CHECK(total >= 12 && agree >= 0.6 * total, "emotion agreement %d/%d", agree, total);
    CHECK(happy >= 5 && happy_right >= 0.7 * happy, "happy %d/%d", happy_right, happy);
}

static void check_errors(fk_context *ctx, fk_image *img) {
    unsigned bits = 0;
    CHECK(fk_analyze_actions_parse("Age, emotion", &bits) == FK_OK &&
              bits == (FK_ACTION_AGE | FK_ACTION_EMOTION),
          "parse: %u", bits);
    CHECK(fk_analyze_actions_parse("age,smile", &bits) == FK_EINVAL &&
              strstr(fk_last_error(), "'smile'") && strstr(fk_last_error(), "age, gender, emotion, race"),
          "unknown action: %s", fk_last_error());
    CHECK(fk_analyze_actions_parse(" , ", &bits) == FK_EINVAL, "empty list");
    fk_analyze_options ao;
    fk_analyze_options_init(&ao);
    CHECK(ao.actions == FK_ACTION_ALL && fk_analyze_options_check(&ao) == FK_OK, "defaults");
    ao.race_model = "Oarriaga-Gender";
    CHECK(fk_analyze_options_check(&ao) == FK_EINVAL && strstr(fk_last_error(), "gives no race") &&
              strstr(fk_last_error(), "GEAR"),
          "model without the action: %s", fk_last_error());
    ao.race_model = NULL;
    ao.emotion_model = "Dlib";
    CHECK(fk_analyze_options_check(&ao) == FK_EINVAL && strstr(fk_last_error(), "Oarriaga-Emotion"),
          "a recognizer is no analyzer: %s", fk_last_error());
    fk_analysis a = {0};
    CHECK(fk_analyze(ctx, img, NULL, &ao, &a) == FK_EINVAL && a.count == 0 && !a.faces,
          "fk_analyze refuses it too");
    ao.emotion_model = NULL;
    ao.actions = 0;
    CHECK(fk_analyze(ctx, img, NULL, &ao, &a) == FK_EINVAL, "no actions");
    ao.actions = 64;
    CHECK(fk_analyze(ctx, img, NULL, &ao, &a) == FK_EINVAL, "unknown bits");
    CHECK(fk_analyze(NULL, img, NULL, NULL, &a) == FK_EINVAL, "NULL ctx");
    CHECK(fk_analyze(ctx, NULL, NULL, NULL, &a) == FK_EINVAL, "NULL image");
    CHECK(fk_analyze(ctx, img, NULL, NULL, NULL) == FK_EINVAL, "NULL out");
    CHECK(fk_emotion_name(3) && !strcmp(fk_emotion_name(3), "happy") && !fk_emotion_name(7),
          "emotion names");
    CHECK(!strcmp(fk_analyze_default_model(FK_ACTION_RACE), "GEAR") &&
              !fk_analyze_default_model(FK_ACTION_ALL),
          "default models");
    fk_analysis_free(NULL);
}

int main(void) {
    if (fk_models_default_home(home, sizeof home) != FK_OK) test_skip("no model home");
    if (!installed("GEAR") || !installed("FaceApi-AgeGender") || !installed("FaceApi-Expression") ||
        !installed("ssd"))
        test_skip("analyzers not installed (facekit models fetch)");
    char path[PATH_MAX], lfw[PATH_MAX];
    snprintf(path, sizeof path, "%s/face-api/sample1.jpg", home);
    snprintf(lfw, sizeof lfw, "%s/data/lfw-devtrain/images", test_env("FK_SHARED", "../shared"));
    fk_context *ctx = NULL;
    CHECK(fk_context_new(NULL, &ctx) == FK_OK, "context: %s", fk_last_error());
    fk_image *img = load(path);
    if (ctx && img) {
        check_fields(ctx, img);
        check_labelled(ctx, lfw);
        if (access(lfw, R_OK) == 0) check_label_files(ctx, lfw);
        check_errors(ctx, img);
    }
    fk_image_free(img);
    fk_context_free(ctx);
    return test_summary();
}
