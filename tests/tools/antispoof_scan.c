/* antispoof_scan.c - for each image path on stdin, every face's real probability under each model named on the command line (fk_detect, ssd, enforce_detection off). Test-only tool for docs/antispoof.md:
 *   cc -O2 -Iinclude tests/tools/antispoof_scan.c -Lbuild -lfacekit -Wl,-rpath,build -o /tmp/antispoof_scan
 *   find /work/shared/data/lfw-devtrain/images -name "*.jpg" | sort | /tmp/antispoof_scan antispoof liveness */
#include <stdio.h>
#include <string.h>
#include "facekit.h"
/* For each image path on stdin: per model, the real probability of every face. */
int main(int argc, char **argv) {
    fk_context *ctx; fk_context_options co; fk_context_options_init(&co); co.threads = 2;
    if (fk_context_new(&co, &ctx) != FK_OK) return 1;
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        fk_image *img;
        if (fk_image_load(line, 0, &img) != FK_OK) { printf("%s ERR\n", line); continue; }
        printf("%s", line);
        for (int m = 1; m < argc; m++) {
            fk_options o; fk_options_init(&o); o.anti_spoofing = 1; o.antispoof_model = argv[m];
            o.enforce_detection = 0;
            fk_faces f = {0};
            if (fk_detect(ctx, img, &o, &f) != FK_OK) { printf(" %s:ERR(%s)", argv[m], fk_last_error()); continue; }
            for (int i = 0; i < f.count; i++)
                printf(" %s:%.4f", argv[m], f.faces[i].is_real ? f.faces[i].antispoof_score : 1 - f.faces[i].antispoof_score);
            fk_faces_free(&f);
        }
        printf("\n"); fflush(stdout);
        fk_image_free(img);
    }
    fk_context_free(ctx);
    return 0;
}
