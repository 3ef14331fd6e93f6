/*
 * analyze.c - fk_analyze (facekit.h): deepface's analyze, age, gender,
 * emotion and race of every face.
 *
 * The faces come from the detect stage exactly as fk_detect finds them
 * (so anti-spoofing, max_faces and expand_percentage behave the same), and
 * each analyzer cuts its own input from the image and the face box (the
 * crops its model was trained on differ: gear takes a sub-box, the
 * oarriaga models gray). Each model asked for runs once over all the faces
 * of the image, however many actions it serves: GEAR gives age, gender
 * and race from one batch.
 *
 * Models give probabilities (0..1); deepface reports percentages, so they
 * are scaled here, once, and renormalized so that each group sums to 100
 * exactly up to float rounding.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "core/error.h"
#include "detect/detect.h"
#include "models/model.h"

static const char *const EMOTIONS[FK_EMOTIONS] = {"angry", "disgust", "fear",    "happy",
                                                  "sad",   "surprise", "neutral"};

static const struct {
    const char *name;
    unsigned bit;
    unsigned attr;
} ACTIONS[] = {
    {"age", FK_ACTION_AGE, FK_ATTR_AGE},
    {"gender", FK_ACTION_GENDER, FK_ATTR_GENDER},
    {"emotion", FK_ACTION_EMOTION, FK_ATTR_EMOTION},
    {"race", FK_ACTION_RACE, FK_ATTR_RACE},
};
#define NACTIONS 4

/* The defaults, chosen by the measurements in docs/analyze.md, on faces
 * labelled by looking (tests/data): FaceApi-AgeGender gets gender right on
 * 97.2% (balanced) of 427 LFW faces, as FaceRes-Attr (97.0%) and above
 * Oarriaga-Gender (90.0%) and GEAR (75.3%); its ages follow the labelled
 * groups (children median 8, elderly 74, where FaceRes-Attr says 17 and 62
 * and GEAR cannot tell children from young adults) with 97.7% of
 * cross-group pairs in order (FaceRes-Attr 98.9%), at a sixth of
 * FaceRes-Attr's time. FaceApi-Expression agrees on 57 of 60 labelled
 * emotions (Oarriaga-Emotion 46), surprise 7/7 (2/7). GEAR is the only race
 * model. */
static const char *const DEFAULTS[NACTIONS] = {"FaceApi-AgeGender", "FaceApi-AgeGender",
                                               "FaceApi-Expression", "GEAR"};

/* A model's race class under deepface's name where it is the same class
 * (deepface: asian, indian, black, white, middle eastern, latino hispanic);
 * any other class keeps the model's own name. */
static const char *race_public_name(const char *own) {
    static const char *const SAME[][2] = {
        {"asian", "asian"}, {"indian", "indian"}, {"black", "black"}, {"white", "white"},
        {"middle eastern", "middle eastern"}, {"latino", "latino hispanic"},
        {"latino hispanic", "latino hispanic"},
    };
    for (size_t i = 0; i < sizeof SAME / sizeof SAME[0]; i++)
        if (!strcasecmp(own, SAME[i][0])) return SAME[i][1];
    return own;
}

void fk_analyze_options_init(fk_analyze_options *ao) {
    if (!ao) return;
    memset(ao, 0, sizeof *ao);
    ao->actions = FK_ACTION_ALL;
}

const char *fk_emotion_name(int i) { return i >= 0 && i < FK_EMOTIONS ? EMOTIONS[i] : NULL; }

const char *fk_analyze_default_model(unsigned action) {
    for (int i = 0; i < NACTIONS; i++)
        if (ACTIONS[i].bit == action) return DEFAULTS[i];
    return NULL;
}

fk_status fk_analyze_actions_parse(const char *list, unsigned *out) {
    if (!list || !out) return fk__fail(FK_EINVAL, "fk_analyze_actions_parse: bad arguments");
    unsigned bits = 0;
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        size_t len = strcspn(p, ", ");
        int found = 0;
        for (int i = 0; i < NACTIONS; i++)
            if (strlen(ACTIONS[i].name) == len && !strncasecmp(p, ACTIONS[i].name, len)) {
                bits |= ACTIONS[i].bit;
                found = 1;
            }
        if (!found)
            return fk__fail(FK_EINVAL, "unknown action '%.*s'; valid: age, gender, emotion, race",
                           (int)(len > 64 ? 64 : len), p);
        p += len;
    }
    if (!bits) return fk__fail(FK_EINVAL, "no action given; valid: age, gender, emotion, race");
    *out = bits;
    return FK_OK;
}

void fk_analysis_free(fk_analysis *a) {
    if (!a) return;
    free(a->faces);
    a->faces = NULL;
    a->count = 0;
}

/* The analyzer `name` (NULL: the action's default) that gives action i. */
static fk_status action_model(int i, const char *name, const fk_model_desc **out) {
    char kind[32];
    snprintf(kind, sizeof kind, "%s model", ACTIONS[i].name);
    fk_status st = fk__model_find(FK_ROLE_ANALYZER, kind, name ? name : DEFAULTS[i], NULL, out);
    if (st != FK_OK) return st;
    if ((*out)->attributes & ACTIONS[i].attr) return FK_OK;
    char list[256] = "";
    int count;
    const fk_model_desc *const *all = fk__models(&count);
    for (int k = 0; k < count; k++) {
        if (all[k]->role != FK_ROLE_ANALYZER || !(all[k]->attributes & ACTIONS[i].attr)) continue;
        if (list[0]) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, all[k]->name, sizeof list - strlen(list) - 1);
    }
    return fk__fail(FK_EINVAL, "%s gives no %s; %s models: %s", (*out)->name, ACTIONS[i].name,
                   ACTIONS[i].name, list);
}

/* Each asked action's model (NULL for the others). */
static fk_status resolve_models(const fk_analyze_options *a, const fk_model_desc **models) {
    if (!a->actions || (a->actions & ~(unsigned)FK_ACTION_ALL))
        return fk__fail(FK_EINVAL, "fk_analyze: actions must be a non-empty set of "
                                   "FK_ACTION_AGE, _GENDER, _EMOTION, _RACE bits");
    const char *names[NACTIONS] = {a->age_model, a->gender_model, a->emotion_model,
                                   a->race_model};
    fk_status st = FK_OK;
    for (int i = 0; st == FK_OK && i < NACTIONS; i++)
        if (a->actions & ACTIONS[i].bit) st = action_model(i, names[i], &models[i]);
    return st;
}

fk_status fk_analyze_options_check(const fk_analyze_options *ao) {
    fk__clear_error();
    if (!ao) return FK_OK;
    const fk_model_desc *models[NACTIONS] = {0};
    return resolve_models(ao, models);
}

/* Scale n probabilities to percentages summing to 100; the argmax. */
static int to_percent(const float *p, float *out, int n) {
    double s = 0;
    int best = 0;
    for (int k = 0; k < n; k++) {
        s += p[k] > 0 ? p[k] : 0;
        if (p[k] > p[best]) best = k;
    }
    for (int k = 0; k < n; k++)
        out[k] = s > 0 ? (float)((p[k] > 0 ? p[k] : 0) * 100.0 / s) : 100.0f / (float)n;
    return best;
}

/* Copy model m's results for action i into the faces. */
static void fill_action(int i, const fk_model_desc *m, const fk_attr_result *r, int n,
                        fk_face_analysis *faces) {
    for (int f = 0; f < n; f++) {
        fk_face_analysis *a = &faces[f];
        a->actions |= ACTIONS[i].bit;
        switch (ACTIONS[i].bit) {
        case FK_ACTION_AGE:
            a->age = r[f].age;
            a->age_model = m->name;
            break;
        case FK_ACTION_GENDER: {
            float p[2] = {r[f].woman, r[f].man}, pc[2];
            int best = to_percent(p, pc, 2);
            a->woman = pc[0];
            a->man = pc[1];
            a->dominant_gender = best ? "Man" : "Woman";
            a->gender_model = m->name;
            break;
        }
        case FK_ACTION_EMOTION:
            a->dominant_emotion = EMOTIONS[to_percent(r[f].emotion, a->emotion, FK_EMOTIONS)];
            a->emotion_model = m->name;
            break;
        case FK_ACTION_RACE: {
            int n_race = m->race_count < FK_RACES_MAX ? m->race_count : FK_RACES_MAX;
            a->race_count = n_race;
            for (int k = 0; k < n_race; k++) a->race_names[k] = race_public_name(m->race_names[k]);
            a->dominant_race = a->race_names[to_percent(r[f].race, a->race, n_race)];
            a->race_model = m->name;
            break;
        }
        }
    }
}

fk_status fk_analyze(fk_context *ctx, const fk_image *img, const fk_options *opt,
                     const fk_analyze_options *ao, fk_analysis *out) {
    fk__clear_error();
    if (!ctx || !out) return fk__fail(FK_EINVAL, "fk_analyze: ctx and out are required");
    memset(out, 0, sizeof *out);
    fk_analyze_options a;
    if (ao)
        a = *ao;
    else
        fk_analyze_options_init(&a);
    const fk_model_desc *models[NACTIONS] = {0};
    fk_options o;
    fk_status st = resolve_models(&a, models);
    if (st == FK_OK) st = fk__check_image(img, "fk_analyze");
    if (st == FK_OK) st = fk__resolve_options(opt, &o);
    if (st != FK_OK) return st;

    fk_faces faces = {0};
    st = fk__detect_faces(fk__context_zoo(ctx), fk__context_pool(ctx), img, o.image_names[0],
                         &o, &faces, NULL, NULL);
    if (st == FK_OK) st = fk__refuse_spoof(&faces, &o, o.image_names[0], img);
    if (st != FK_OK) {
        fk_faces_free(&faces);
        return st;
    }
    int n = faces.count;
    out->faces = calloc((size_t)(n ? n : 1), sizeof *out->faces);
    fk_attr_result *r = calloc((size_t)(n ? n : 1), sizeof *r);
    if (!out->faces || !r) st = fk__fail(FK_ENOMEM, "out of memory");
    /* Each distinct model once, for every action it was named for. */
    for (int i = 0; st == FK_OK && n > 0 && i < NACTIONS; i++) {
        if (!models[i]) continue;
        int first_use = 1;
        for (int k = 0; k < i; k++) first_use &= models[k] != models[i];
        if (!first_use) continue;
        st = fk__zoo_analyze(fk__context_zoo(ctx), models[i], fk__context_pool(ctx), img,
                             faces.faces, n, r);
        if (st != FK_OK) st = st == FK_EMODEL ? st : fk__fail_prefix(st, "%s", o.image_names[0]);
        for (int k = i; st == FK_OK && k < NACTIONS; k++)
            if (models[k] == models[i]) fill_action(k, models[i], r, n, out->faces);
    }
    free(r);
    float back = 1.0f / fk__image_scale(img);
    for (int i = 0; st == FK_OK && i < n; i++) {
        fk_face *f = &out->faces[i].face;
        *f = faces.faces[i];
        f->embedding = NULL;
        f->embedding_dim = 0;
        if (back != 1.0f) fk__face_rescale(f, back);
    }
    if (st == FK_OK) out->count = n;
    fk_faces_free(&faces);
    if (st != FK_OK) fk_analysis_free(out);
    return st;
}
