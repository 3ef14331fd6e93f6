/*
 * opencv.c - detector "opencv": Viola-Jones Haar cascades from
 * Debian's opencv-data, as deepface's default backend uses them.
 *
 * Faces: haarcascade_frontalface_default.xml, pyramid step 1.1, grouped
 * with min_neighbors 10, the settings deepface passes to OpenCV's
 * detectMultiScale3 (with 5, face-api's demo photos sample5 and sample6
 * get 5 and 12 false alarms instead of 0 and 4). Eyes: haarcascade_eye.xml,
 * step 1.1, 10 neighbours as deepface, run inside the upper half of each
 * face box (eyes never sit in the lower
 * half, and searching there only finds nostrils and mouth corners); like
 * deepface we keep the two largest eye hits and call the one on the image
 * left the person's right eye. A face whose eyes are not found keeps
 * has_eyes == 0 (the detect stage then takes them from its landmarks).
 *
 * Haar cascades give no probability. The confidence reported is
 * n / (n + min_neighbors) for a face merged from n raw hits: above 0.5 for
 * every face the grouping keeps, rising towards 1 as more windows agree.
 *
 * The XML files are looked up in <home>/opencv/, then in Debian's
 * /usr/share/opencv4/haarcascades/ and /usr/share/opencv/haarcascades/.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "image/image.h"
#include "models/face_models.h"
#include "models/model.h"

#define FK_OPENCV_FACE_NEIGHBORS 10
#define FK_OPENCV_EYE_NEIGHBORS 10
#define FACE_XML "haarcascade_frontalface_default.xml"
#define EYE_XML "haarcascade_eye.xml"

/* Find `file` in the model home or Debian's opencv-data and load it. */
static fk_status load_cascade(const char *home, const char *file, fk_haar **out) {
    char path[PATH_MAX];
    const char *dirs[3] = {NULL, "/usr/share/opencv4/haarcascades",
                           "/usr/share/opencv/haarcascades"};
    char home_dir[PATH_MAX];
    snprintf(home_dir, sizeof home_dir, "%s/opencv", home ? home : ".");
    dirs[0] = home_dir;
    for (int i = 0; i < 3; i++) {
        int n = snprintf(path, sizeof path, "%s/%s", dirs[i], file);
        if (n < 0 || (size_t)n >= sizeof path) continue;
        if (access(path, R_OK) == 0) return fk__haar_load(path, out);
    }
    return fk__fail(FK_EMODEL,
                   "%s not found in %s, /usr/share/opencv4/haarcascades or "
                   "/usr/share/opencv/haarcascades; install Debian's opencv-data "
                   "(sudo apt-get install opencv-data) or copy the file into %s",
                   file, home_dir, home_dir);
}

/* Both cascades: the detector "opencv". */
typedef struct haar_pair {
    fk_haar *face, *eye;
} haar_pair;

static void pair_free(void *p) {
    haar_pair *h = p;
    if (!h) return;
    fk__haar_free(h->face);
    fk__haar_free(h->eye);
    free(h);
}

static fk_status pair_load(const char *home, void **out) {
    haar_pair *h = calloc(1, sizeof *h);
    if (!h) return fk__fail(FK_ENOMEM, "opencv: out of memory");
    fk_status st = load_cascade(home, FACE_XML, &h->face);
    if (st == FK_OK) st = load_cascade(home, EYE_XML, &h->eye);
    if (st != FK_OK) {
        pair_free(h);
        return st;
    }
    *out = h;
    return FK_OK;
}

/* The eye keypoints, in the order find_eyes stores them. */
static const char *const KEYPOINT_NAMES[2] = {"left_eye", "right_eye"};

/* The eyes of the face in box (x, y, w, h): two largest eye-cascade hits in
 * the box's upper half. Returns 1 and fills d's eyes when two are found. */
static fk_status find_eyes(const fk_haar *eyes, const fk_image *gray, int x, int y,
                           int w, int h, fk_detection *d) {
    int top_h = h / 2;
    if (w < 20 || top_h < 10) return FK_OK;
    fk_image *crop = NULL;
    fk_status st = fk__image_crop(gray, x, y, w, top_h, 0, &crop);
    if (st != FK_OK) return st;
    fk_haar_params p;
    fk__haar_params_init(&p);
    p.min_neighbors = FK_OPENCV_EYE_NEIGHBORS;
    fk_haar_hit *hits = NULL;
    int n = 0;
    st = fk__haar_detect(eyes, crop, &p, NULL, &hits, &n);
    fk_image_free(crop);
    if (st != FK_OK) return st;
    if (n >= 2) {
        /* The two largest (stable order: area, then neighbours). */
        int a = -1, b = -1;
        for (int i = 0; i < n; i++) {
            long area = (long)hits[i].w * hits[i].h;
            if (a < 0 || area > (long)hits[a].w * hits[a].h) {
                b = a;
                a = i;
            } else if (b < 0 || area > (long)hits[b].w * hits[b].h) {
                b = i;
            }
        }
        const fk_haar_hit *l = &hits[a], *r = &hits[b];
        if (l->x > r->x) {
            const fk_haar_hit *t = l;
            l = r;
            r = t;
        }
        /* Image-left eye is the person's right eye. */
        d->right_eye.x = x + l->x + l->w / 2.0f;
        d->right_eye.y = y + l->y + l->h / 2.0f;
        d->left_eye.x = x + r->x + r->w / 2.0f;
        d->left_eye.y = y + r->y + r->h / 2.0f;
        d->has_eyes = 1;
        d->keypoint_count = 2;
        d->keypoint_names = KEYPOINT_NAMES;
        d->keypoints[0] = d->left_eye;
        d->keypoints[1] = d->right_eye;
    }
    free(hits);
    return FK_OK;
}

static fk_status pair_detect(void *model, const fk_image *img, float min_score,
                             fk_pool *pool, fk_detection **out, int *count) {
    const fk_haar *face = ((haar_pair *)model)->face, *eyes = ((haar_pair *)model)->eye;
    fk_image *gray = NULL;
    fk_status st = fk__haar_luma(img, &gray);
    if (st != FK_OK) return st;
    fk_haar_params p;
    fk__haar_params_init(&p);
    p.min_neighbors = FK_OPENCV_FACE_NEIGHBORS;
    fk_haar_hit *hits = NULL;
    int n = 0;
    st = fk__haar_detect(face, gray, &p, pool, &hits, &n);
    fk_detection *d = NULL;
    if (st == FK_OK) {
        d = calloc(n > 0 ? (size_t)n : 1, sizeof *d);
        if (!d) st = fk__fail(FK_ENOMEM, "out of memory");
    }
    int kept = 0;
    for (int i = 0; st == FK_OK && i < n; i++) {
        float score = (float)hits[i].neighbors / (float)(hits[i].neighbors + p.min_neighbors);
        if (score < min_score) continue;
        fk_detection *f = &d[kept++];
        f->x0 = (float)hits[i].x;
        f->y0 = (float)hits[i].y;
        f->x1 = (float)(hits[i].x + hits[i].w);
        f->y1 = (float)(hits[i].y + hits[i].h);
        if (f->x1 > img->width) f->x1 = (float)img->width;
        if (f->y1 > img->height) f->y1 = (float)img->height;
        f->score = score;
        st = find_eyes(eyes, gray, hits[i].x, hits[i].y, hits[i].w, hits[i].h, f);
    }
    free(hits);
    fk_image_free(gray);
    if (st != FK_OK) {
        free(d);
        return st;
    }
    *out = d;
    *count = kept;
    return FK_OK;
}

/* ---- the description ---------------------------------------------------- */

#define DEBIAN_DIR "/usr/share/opencv4/haarcascades/"

const fk_model_desc fk__model_opencv = {
    .name = "opencv",
    .role = FK_ROLE_DETECTOR,
    .files = {{NULL, DEBIAN_DIR FACE_XML}, {NULL, DEBIAN_DIR EYE_XML}},
    .input = "gray, 24x24 (eyes 20x20) window",
    .input_w = 24,
    .input_h = 24,
    .layout = "8-bit gray (BT.601 luma), sliding windows over a pyramid (step 1.1)",
    .normalization = "window variance normalisation (as OpenCV)",
    .output = "boxes + neighbour-count confidence + 2 eyes",
    .summary = "Viola-Jones Haar cascades (Debian opencv-data), faces + eyes",
    .origin = "Debian opencv-data; Haar cascades by Rainer Lienhart (faces) and "
              "Shameem Hameed (eyes), Intel / OpenCV",
    .license = "Intel License Agreement For Open Source Computer Vision Library "
               "(3-clause BSD style)",
    .load = pair_load,
    .free = pair_free,
    .detect = pair_detect,
};
