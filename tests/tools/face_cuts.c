/*
 * face_cuts.c - the square face cuts an anti-spoofing model sees, written
 * as binary PPM files for a reference generator (tfl_antispoof_reference.js)
 * to feed to another runtime. Test-only tool, built against the static
 * library because the cut is internal (spoof_models.h):
 *   cc -O2 -Iinclude -Isrc tests/tools/face_cuts.c build/libfacekit.a \
 *      <the library's link flags> -o /tmp/face_cuts
 *   /tmp/face_cuts FACTOR SIZE MAXFACES OUTDIR < image-paths
 * For each image on stdin, up to MAXFACES faces (fk_detect, default
 * detector, enforce_detection off) are cut (a square of FACTOR x the
 * longer side of the box, SIZE x SIZE) and written to OUTDIR/cut<k>.ppm;
 * stdout gets one line per cut: "<k> <image path> <x> <y> <w> <h>" with the
 * box in %.9g, which the C test reads back to cut the same pixels.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facekit.h"
#include "image/image.h"
#include "models/spoof_models.h"

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: face_cuts FACTOR SIZE MAXFACES OUTDIR < image-paths\n");
        return 2;
    }
    float factor = strtof(argv[1], NULL);
    int size = atoi(argv[2]), max_faces = atoi(argv[3]), k = 0;
    fk_context *ctx;
    fk_context_options co;
    fk_context_options_init(&co);
    if (fk_context_new(&co, &ctx) != FK_OK) return 1;
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        fk_image *img;
        if (fk_image_load(line, 0, &img) != FK_OK) {
            fprintf(stderr, "%s: %s\n", line, fk_last_error());
            continue;
        }
        fk_options o;
        fk_options_init(&o);
        o.enforce_detection = 0;
        fk_faces f = {0};
        if (fk_detect(ctx, img, &o, &f) == FK_OK) {
            for (int i = 0; i < f.count && i < max_faces; i++) {
                fk_image *cut;
                if (fk__face_crop_square(img, &f.faces[i], factor, size, &cut) != FK_OK) continue;
                char path[4200];
                snprintf(path, sizeof path, "%s/cut%d.ppm", argv[4], k);
                FILE *out = fopen(path, "wb");
                if (out) {
                    fprintf(out, "P6\n%d %d\n255\n", cut->width, cut->height);
                    for (int y = 0; y < cut->height; y++)
                        fwrite(cut->data + (size_t)y * cut->stride, 3, (size_t)cut->width, out);
                    fclose(out);
                    printf("%d %s %.9g %.9g %.9g %.9g\n", k++, line, f.faces[i].x, f.faces[i].y,
                           f.faces[i].w, f.faces[i].h);
                }
                fk_image_free(cut);
            }
            fk_faces_free(&f);
        }
        fk_image_free(img);
    }
    fk_context_free(ctx);
    return 0;
}
