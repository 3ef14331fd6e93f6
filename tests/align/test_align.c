/*
 * test_align.c - the similarity fit recovers known transforms, and the chip
 * it cuts puts the landmarks where dlib's mean face has them.
 */
#include <math.h>

#include "align/align.h"
#include "image/image.h"
#include "test.h"

int main(void) {
    /* A known similarity: scale 1.7, rotation 20 degrees, shift (12, -5). */
    double s = 1.7, th = 20 * M_PI / 180, tx = 12, ty = -5;
    fk_point from[10], to[10];
    for (int i = 0; i < 10; i++) {
        from[i].x = (float)(i * 7 % 13);
        from[i].y = (float)(i * 5 % 11);
        to[i].x = (float)(s * cos(th) * from[i].x - s * sin(th) * from[i].y + tx);
        to[i].y = (float)(s * sin(th) * from[i].x + s * cos(th) * from[i].y + ty);
    }
    double m[6];
    CHECK(fk__similarity_fit(from, to, 10, m) == FK_OK, "fit");
    CHECK(fabs(m[0] - s * cos(th)) < 1e-5 && fabs(m[3] - s * sin(th)) < 1e-5 &&
              fabs(m[1] + m[3]) < 1e-9 && fabs(m[4] - m[0]) < 1e-9,
          "rotation/scale %f %f", m[0], m[3]);
    CHECK(fabs(m[2] - tx) < 1e-4 && fabs(m[5] - ty) < 1e-4, "shift %f %f", m[2], m[5]);

    /* Noise in `to` averages out: the fit is least squares. */
    to[0].x += 0.5f;
    to[1].x -= 0.5f;
    CHECK(fk__similarity_fit(from, to, 10, m) == FK_OK && fabs(m[2] - tx) < 0.2, "robust");

    /* Degenerate input is refused. */
    fk_point same[3] = {{1, 1}, {1, 1}, {1, 1}};
    CHECK(fk__similarity_fit(same, to, 3, m) == FK_EINVAL, "coincident points");
    CHECK(fk__similarity_fit(from, to, 1, m) == FK_EINVAL, "one point");

    /* A chip from landmarks that are an exact similarity image of the
     * template: the chip pixel at a template point samples the image at the
     * matching landmark. Mark the nose tip (landmark 30) with a white square
     * and find it in the chip where the template puts the nose tip. */
    fk_point tpl[51];
    fk__align_template68(150, 0.25, tpl);
    CHECK(fabsf(tpl[13].x - (float)((0.25 + 0.490127) / 1.5 * 150)) < 1e-3f, "template nose x");
    fk_image *img = NULL;
    fk_image_new(400, 400, 3, &img);
    fk_point lm[68] = {{0, 0}};
    double a = 1.3 * cos(0.3), b = 1.3 * sin(0.3);
    for (int i = 0; i < 51; i++) {
        lm[17 + i].x = (float)(a * tpl[i].x - b * tpl[i].y + 120);
        lm[17 + i].y = (float)(b * tpl[i].x + a * tpl[i].y + 60);
    }
    int nx = (int)lroundf(lm[30].x), ny = (int)lroundf(lm[30].y);
    for (int y = ny - 3; y <= ny + 3; y++)
        for (int x = nx - 3; x <= nx + 3; x++)
            for (int c = 0; c < 3; c++) img->data[y * img->stride + x * 3 + c] = 255;
    fk_image *chip = NULL;
    CHECK(fk__align_chip68(img, lm, 150, 0.25, &chip) == FK_OK, "chip");
    CHECK(chip && chip->width == 150 && chip->height == 150 && chip->channels == 3, "chip size");
    if (chip) {
        int cx = (int)lroundf(tpl[13].x), cy = (int)lroundf(tpl[13].y);
        CHECK(chip->data[cy * chip->stride + cx * 3] > 200, "nose tip bright in chip");
        CHECK(chip->data[(cy + 12) * chip->stride + cx * 3] < 50, "below it dark");
        CHECK(chip->data[10 * chip->stride + 10 * 3] < 50, "corner dark");
    }
    fk_image_free(chip);
    CHECK(fk__align_chip68(NULL, lm, 150, 0.25, &chip) == FK_EINVAL, "NULL image");
    fk_image_free(img);
    return test_summary();
}
