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
    cli_print_json(rj_analysis(&res));
done:
    fk_analysis_free(&res);
    fk_image_free(img);
    fk_context_free(ctx);
    return rc;
}
