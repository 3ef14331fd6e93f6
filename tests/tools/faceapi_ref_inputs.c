/*
 * faceapi_ref_inputs.c - the inputs of tests/tools/faceapi_attr_reference.js:
 * each image decoded by facekit (written as a binary PPM, so face-api sees
 * exactly the pixels facekit sees: no second JPEG decoder) and the faces
 * fk_detect finds in it with the default options. A tool, not a test: built
 * by hand against the static library (command in the .js file's header).
 *
 *   faceapi_ref_inputs OUT_DIR NAME=IMAGE...
 *
 * Writes OUT_DIR/<i>.ppm and prints one line per image:
 *   <NAME> <OUT_DIR/i.ppm> <faces> then x y w h of each face (%.9g)
 */
#include <stdio.h>
#include <string.h>

#include "facekit.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s OUT_DIR NAME=IMAGE...\n", argv[0]);
        return 2;
    }
    fk_context *ctx = NULL;
    if (fk_context_new(NULL, &ctx) != FK_OK) return 1;
    for (int i = 2; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) return 2;
        *eq = '\0';
        fk_image *img = NULL;
        fk_faces faces = {0};
        if (fk_image_load(eq + 1, 0, &img) != FK_OK || fk_detect(ctx, img, NULL, &faces) != FK_OK) {
            fprintf(stderr, "%s: %s\n", eq + 1, fk_last_error());
            return 1;
        }
        char ppm[4096];
        snprintf(ppm, sizeof ppm, "%s/%d.ppm", argv[1], i - 1);
        FILE *f = fopen(ppm, "wb");
        if (!f) return 1;
        fprintf(f, "P6\n%d %d\n255\n", img->width, img->height);
        for (int y = 0; y < img->height; y++)
            fwrite(img->data + (size_t)y * img->stride, 3, (size_t)img->width, f);
        fclose(f);
        printf("%s %s %d", argv[i], ppm, faces.count);
        for (int k = 0; k < faces.count; k++)
            printf(" %.9g %.9g %.9g %.9g", faces.faces[k].x, faces.faces[k].y, faces.faces[k].w,
                   faces.faces[k].h);
        printf("\n");
        fk_faces_free(&faces);
        fk_image_free(img);
    }
    fk_context_free(ctx);
    return 0;
}
