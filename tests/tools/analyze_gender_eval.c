/*
 * analyze_gender_eval.c - gender accuracy of each gender analyzer on a
 * labelled list (tests/data/lfw_gender.tsv: path<TAB>Woman|Man), for
 * docs/analyze.md. A measurement tool, not a test: built by hand against
 * the static library (the command is in docs/analyze.md).
 *
 *   analyze_gender_eval LIST IMAGES_DIR STRIDE_WOMAN STRIDE_MAN [MODEL...]
 *
 * Every STRIDE-th image of each class is used. For each model: images
 * where it is right per class, balanced accuracy; the largest face of each
 * image (max_faces 1) is the labelled one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facekit.h"

#define MAX_MODELS 4

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s LIST DIR STRIDE_W STRIDE_M MODEL...\n", argv[0]);
        return 2;
    }
    int sw = atoi(argv[3]), sm = atoi(argv[4]), nm = argc - 5;
    if (nm > MAX_MODELS) nm = MAX_MODELS;
    FILE *f = fopen(argv[1], "r");
    if (!f) return 1;
    fk_context *ctx = NULL;
    if (fk_context_new(NULL, &ctx) != FK_OK) return 1;
    fk_options o;
    fk_options_init(&o);
    o.max_faces = 1;
    o.enforce_detection = 0;
    long right[MAX_MODELS][2] = {{0}}, total[2] = {0}, seen[2] = {0};
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = '\0';
        int man = strncmp(tab + 1, "Man", 3) == 0;
        if (seen[man]++ % (man ? sm : sw)) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", argv[2], line);
        fk_image *img = NULL;
        if (fk_image_load(path, 0, &img) != FK_OK) continue;
        total[man]++;
        for (int m = 0; m < nm; m++) {
            fk_analyze_options ao;
            fk_analyze_options_init(&ao);
            ao.actions = FK_ACTION_GENDER;
            ao.gender_model = argv[5 + m];
            fk_analysis a = {0};
            if (fk_analyze(ctx, img, &o, &ao, &a) == FK_OK && a.count > 0) {
                int said_man = a.faces[0].man > a.faces[0].woman;
                if (said_man == man) right[m][man]++;
                else if (getenv("SHOW_WRONG")) printf("wrong %s %s\n", argv[5 + m], line);
            }
            fk_analysis_free(&a);
        }
        fk_image_free(img);
    }
    fclose(f);
    printf("| model | Woman right | Man right | accuracy | balanced |\n|---|---|---|---|---|\n");
    for (int m = 0; m < nm; m++) {
        double w = total[0] ? (double)right[m][0] / total[0] : 0;
        double mm = total[1] ? (double)right[m][1] / total[1] : 0;
        printf("| %s | %ld/%ld (%.1f%%) | %ld/%ld (%.1f%%) | %.1f%% | %.1f%% |\n", argv[5 + m],
               right[m][0], total[0], 100 * w, right[m][1], total[1], 100 * mm,
               100.0 * (right[m][0] + right[m][1]) / (double)(total[0] + total[1]),
               50 * (w + mm));
    }
    fk_context_free(ctx);
    return 0;
}
