/*
 * results_json.h - facekit's results as deepface-shaped JSON, for every
 * interface that prints them: the CLI (stdout) and the HTTP server
 * (response bodies). One writer per result, so `facekit verify` and
 * `POST /verify` cannot drift apart: the README's "facekit vs deepface
 * fields" table holds for both.
 *
 * Like the interfaces, this folder sees the public header only (and
 * jansson). Every function returns a new reference (the caller owns it) and
 * never fails on valid input; jansson's allocation failures give NULL
 * members, which json_dumps then refuses.
 */
#ifndef FK_RESULTS_JSON_H
#define FK_RESULTS_JSON_H

#include <jansson.h>

#include "facekit.h"

/* [x, y] */
json_t *rj_point(fk_point p);
/* A face's facial_area object (deepface's field names): x, y, w, h rounded
 * to whole pixels, left_eye / right_eye (null when unknown), and the
 * detector's other keypoints (nose, mouth...) by name. */
json_t *rj_facial_area(const fk_face *f);
/* With anti_spoofing, add the face's is_real and antispoof_score to o
 * (deepface's names); without it, o keeps deepface's shape. */
void rj_spoof_fields(json_t *o, int anti_spoofing, const fk_face *f);

/* deepface's verify object: verified, distance, threshold, confidence,
 * model, detector_backend, similarity_metric, facial_areas {img1, img2},
 * face_confidence {img1, img2}, time (seconds, given by the caller). */
json_t *rj_verify(const fk_verify_result *r, int anti_spoofing, double seconds);

/* deepface's represent list: embedding, facial_area, face_confidence per
 * face; normalization when opt->normalization was given; spoof fields. */
json_t *rj_represent(const fk_faces *faces, const fk_options *opt);

/* deepface's analyze list: age, gender, dominant_gender, emotion,
 * dominant_emotion, race, dominant_race (the actions asked), region,
 * face_confidence, and the spoof fields when a face was checked. */
json_t *rj_analysis(const fk_analysis *res);

/* One entry per query face: source_area, face_confidence and its matches
 * within the threshold, closest first (deepface's find/search columns:
 * identity, hash, target_*, source_*, threshold, distance, confidence).
 * dir (find): each identity is the image's path under dir, the person's
 * name the field `name`; NULL (search): identity and img_name are the
 * registered name, id the face id, source the image it came from. */
json_t *rj_gallery_results(const fk_gallery_results *r, int anti_spoofing,
                           const char *dir);
/* o with the gallery's model and detector_backend added; returns o. */
json_t *rj_gallery_config(fk_gallery *g, json_t *o);
/* register's object: registered, inserted (deepface's), duplicate,
 * identity, source, faces [{face_id, facial_area, face_confidence}], db
 * (`where`), duplicate_of when an earlier copy exists. */
json_t *rj_register(const fk_gallery_register_result *res, const char *identity,
                    const char *source, const char *where, int anti_spoofing);

#endif
