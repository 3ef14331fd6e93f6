/*
 * align_arcface.c - 5-point ArcFace alignment (see align_arcface.h).
 *
 * The template is the one InsightFace publishes for its 112x112 training
 * chips (arcface_dst): eyes at (38.29, 51.70) and (73.53, 51.50), nose tip
 * (56.03, 71.74), mouth corners (41.55, 92.37) and (70.73, 92.20).
 * MobileFaceNet and MobileFace were trained on InsightFace's MS1M chips,
 * which are cut this way.
 */
#include "align/align_arcface.h"

#include "align/align.h"
#include "core/error.h"
#include "image/image.h"

static const double TEMPLATE112[5][2] = {
    {38.2946, 51.6963}, {73.5318, 51.5014}, {56.0252, 71.7366},
    {41.5493, 92.3655}, {70.7299, 92.2041},
};

void fk__align_template5(int size, fk_point out[5]) {
    double s = size / 112.0;
    for (int i = 0; i < 5; i++) {
        out[i].x = (float)(TEMPLATE112[i][0] * s);
        out[i].y = (float)(TEMPLATE112[i][1] * s);
    }
}

/* Mean of landmarks [from, from + n). */
static fk_point mean_point(const fk_point *p, int from, int n) {
    double x = 0, y = 0;
    for (int i = from; i < from + n; i++) {
        x += p[i].x;
        y += p[i].y;
    }
    return (fk_point){(float)(x / n), (float)(y / n)};
}

void fk__align_points5_from68(const fk_point lm[68], fk_point out[5]) {
    out[0] = mean_point(lm, 36, 6); /* person's right eye, image left */
    out[1] = mean_point(lm, 42, 6); /* person's left eye, image right */
    out[2] = lm[30];                /* nose tip */
    out[3] = lm[48];                /* mouth corner, image left */
    out[4] = lm[54];                /* mouth corner, image right */
}

fk_status fk__align_map_arcface(const fk_point landmarks[68], int size, double m[6]) {
    if (!landmarks || !m || size <= 0) return fk__fail(FK_EINVAL, "align: bad arguments");
    fk_point from[5], to[5];
    fk__align_template5(size, from);
    fk__align_points5_from68(landmarks, to);
    fk_status st = fk__similarity_fit(from, to, 5, m);
    return st == FK_OK ? FK_OK : fk__fail_prefix(st, "align");
}

fk_status fk__align_chip_arcface(const fk_image *img,
                                const fk_point landmarks[68], int size,
                                fk_image **out) {
    if (!img || !landmarks || !out || size <= 0)
        return fk__fail(FK_EINVAL, "align: bad arguments");
    double m[6];
    fk_status st = fk__align_map_arcface(landmarks, size, m);
    if (st != FK_OK) return st;
    return fk__image_warp_affine(img, m, size, size, FK_BORDER_CONSTANT, 0, out);
}
