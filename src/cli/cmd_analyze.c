/*
 * cmd_analyze.c - `facekit analyze`: deepface's analyze on the command
 * line. Every face of the image through fk_analyze, printed as deepface
 * prints each face: age, gender {Woman, Man} and dominant_gender, emotion
 * {angry ... neutral} and dominant_emotion, race {...} and dominant_race,
 * region and face_confidence; is_real and antispoof_score when the face was
 * checked (--anti-spoofing true).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

/* One face as deepface's analyze prints it. */
static json_t *face_json(const fk_face_analysis *f) {
    json_t *o = json_object();
    /* deepface prints int(apparent_age); fk_face_analysis.age keeps the
     * fraction for library users */
    if (f->actions & FK_ACTION_AGE)
        json_object_set_new(o, "age", json_integer((json_int_t)f->age));
    if (f->actions & FK_ACTION_GENDER) {
        json_object_set_new(o, "gender", json_pack("{s:f, s:f}", "Woman", (double)f->woman,
                                                   "Man", (double)f->man));
        json_object_set_new(o, "dominant_gender", json_string(f->dominant_gender));
    }
    if (f->actions & FK_ACTION_EMOTION) {
        json_t *e = json_object();
        for (int k = 0; k < FK_EMOTIONS; k++)
            json_object_set_new(e, fk_emotion_name(k), json_real(f->emotion[k]));
        json_object_set_new(o, "emotion", e);
        json_object_set_new(o, "dominant_emotion", json_string(f->dominant_emotion));
    }
    if (f->actions & FK_ACTION_RACE) {
        json_t *r = json_object();
        for (int k = 0; k < f->race_count; k++)
            json_object_set_new(r, f->race_names[k], json_real(f->race[k]));
        json_object_set_new(o, "race", r);
        json_object_set_new(o, "dominant_race", json_string(f->dominant_race));
    }
    json_object_set_new(o, "region", cli_facial_area(&f->face));
    json_object_set_new(o, "face_confidence", json_real(f->face.confidence));
    if (f->face.spoof_checked) {
        json_object_set_new(o, "is_real", json_boolean(f->face.is_real));
        json_object_set_new(o, "antispoof_score", json_real(f->face.antispoof_score));
    }
    return o;
}

int cmd_analyze(cli_args *a) {
    if (a->npositional != 1) {
        fprintf(stderr, "facekit: usage: facekit analyze IMG [--actions age,gender,emotion,race] "
                        "[options]\n");
        return 2;
    }
    fk_analyze_options ao;
    fk_analyze_options_init(&ao);
    if (a->actions && fk_analyze_actions_parse(a->actions, &ao.actions) != FK_OK) {
        fprintf(stderr, "facekit analyze: --actions: %s; run 'facekit analyze --help'\n",
                fk_last_error());
        return 2;
    }
    ao.age_model = a->age_model;
    ao.gender_model = a->gender_model;
    ao.emotion_model = a->emotion_model;
    ao.race_model = a->race_model;
    if (fk_analyze_options_check(&ao) != FK_OK) {
        fprintf(stderr, "facekit analyze: %s; run 'facekit analyze --help'\n", fk_last_error());
        return 2;
    }
    fk_context *ctx = NULL;
    fk_image *img = NULL;
    fk_analysis res = {0};
    a->opt.image_names[0] = cli_image_label(a->positional[0]);
    int rc = 0;
    if (cli_open_context(a, &ctx) || cli_load_image(a, a->positional[0], &img) != FK_OK ||
        fk_analyze(ctx, img, &a->opt, &ao, &res) != FK_OK) {
        rc = cli_fail();
        goto done;
    }
    json_t *list = json_array();
    for (int i = 0; i < res.count; i++) json_array_append_new(list, face_json(&res.faces[i]));
    cli_print_json(list);
done:
    fk_analysis_free(&res);
    fk_image_free(img);
    fk_context_free(ctx);
    return rc;
}
