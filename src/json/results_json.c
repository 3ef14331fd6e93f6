/*
 * results_json.c - the deepface-shaped JSON of facekit's results, shared by
 * the CLI and the server (see results_json.h). Field names and order are
 * deepface's where it has the concept; the README's fields table, checked
 * by tests/tools/readme_fields.py, lists every difference.
 */
#include <stdio.h>
#include <string.h>

#include "json/results_json.h"

json_t *rj_point(fk_point p) {
    return json_pack("[f, f]", (double)p.x, (double)p.y);
}

json_t *rj_facial_area(const fk_face *f) {
    json_t *o = json_pack("{s:i, s:i, s:i, s:i}", "x", (int)(f->x + 0.5f),
                          "y", (int)(f->y + 0.5f), "w", (int)(f->w + 0.5f),
                          "h", (int)(f->h + 0.5f));
    if (f->landmark_count) {
        json_object_set_new(o, "left_eye", rj_point(f->left_eye));
        json_object_set_new(o, "right_eye", rj_point(f->right_eye));
    } else {
        json_object_set_new(o, "left_eye", json_null());
        json_object_set_new(o, "right_eye", json_null());
    }
    /* The detector's own other points (nose, mouth, ears), as deepface adds
     * them to the facial area; its eyes are already left_eye/right_eye. */
    for (int k = 0; f->keypoint_names && k < f->keypoint_count && k < FK_MAX_KEYPOINTS; k++)
        if (strcmp(f->keypoint_names[k], "left_eye") != 0 && strcmp(f->keypoint_names[k], "right_eye") != 0)
            json_object_set_new(o, f->keypoint_names[k], rj_point(f->keypoints[k]));
    return o;
}

void rj_spoof_fields(json_t *o, int anti_spoofing, const fk_face *f) {
    if (!o || !anti_spoofing || !f->spoof_checked) return;
    json_object_set_new(o, "is_real", json_boolean(f->is_real));
    json_object_set_new(o, "antispoof_score", json_real(f->antispoof_score));
}

static json_t *with_spoof(json_t *o, int anti_spoofing, const fk_face *f) {
    rj_spoof_fields(o, anti_spoofing, f);
    return o;
}

/* ---- verify, represent, analyze ------------------------------------------ */

json_t *rj_verify(const fk_verify_result *r, int anti_spoofing, double seconds) {
    json_t *areas = json_pack("{s:o, s:o}", "img1",
                              with_spoof(rj_facial_area(&r->face1), anti_spoofing, &r->face1),
                              "img2",
                              with_spoof(rj_facial_area(&r->face2), anti_spoofing, &r->face2));
    return json_pack("{s:b, s:f, s:f, s:f, s:s, s:s, s:s, s:o, s:{s:f, s:f}, s:f}",
                     "verified", r->verified, "distance", (double)r->distance,
                     "threshold", (double)r->threshold, "confidence", (double)r->confidence,
                     "model", r->model, "detector_backend", r->detector,
                     "similarity_metric", r->metric, "facial_areas", areas,
                     "face_confidence", "img1", (double)r->face1.confidence, "img2",
                     (double)r->face2.confidence, "time", seconds);
}

json_t *rj_represent(const fk_faces *faces, const fk_options *opt) {
    json_t *list = json_array();
    for (int i = 0; i < faces->count; i++) {
        const fk_face *f = &faces->faces[i];
        json_t *emb = json_array();
        for (int k = 0; k < f->embedding_dim; k++)
            json_array_append_new(emb, json_real(f->embedding[k]));
        json_t *o = json_pack("{s:o, s:o, s:f}", "embedding", emb, "facial_area",
                              rj_facial_area(f), "face_confidence", (double)f->confidence);
        /* Only when asked for: deepface's output keeps its shape. */
        if (opt->normalization)
            json_object_set_new(o, "normalization", json_string(f->normalization));
        rj_spoof_fields(o, opt->anti_spoofing, f);
        json_array_append_new(list, o);
    }
    return list;
}

/* One face as deepface's analyze prints it. */
static json_t *analysis_face(const fk_face_analysis *f) {
    json_t *o = json_object();
    /* deepface prints int(apparent_age); fk_face_analysis.age keeps the
     * fraction for library users */
    if (f->actions & FK_ACTION_AGE)
        json_object_set_new(o, "age", json_integer((json_int_t)f->age));
    if (f->actions & FK_ACTION_GENDER) {
        json_object_set_new(o, "gender", json_pack("{s:f, s:f}", "Woman", (double)f->woman,
                                                   "Man", (double)f->man));
        json_object_set_new(o, "dominant_gender", json_string(f->dominant_gender));
    }
    if (f->actions & FK_ACTION_EMOTION) {
        json_t *e = json_object();
        for (int k = 0; k < FK_EMOTIONS; k++)
            json_object_set_new(e, fk_emotion_name(k), json_real(f->emotion[k]));
        json_object_set_new(o, "emotion", e);
        json_object_set_new(o, "dominant_emotion", json_string(f->dominant_emotion));
    }
    if (f->actions & FK_ACTION_RACE) {
        json_t *r = json_object();
        for (int k = 0; k < f->race_count; k++)
            json_object_set_new(r, f->race_names[k], json_real(f->race[k]));
        json_object_set_new(o, "race", r);
        json_object_set_new(o, "dominant_race", json_string(f->dominant_race));
    }
    json_object_set_new(o, "region", rj_facial_area(&f->face));
    json_object_set_new(o, "face_confidence", json_real(f->face.confidence));
    rj_spoof_fields(o, 1, &f->face);
    return o;
}

json_t *rj_analysis(const fk_analysis *res) {
    json_t *list = json_array();
    for (int i = 0; i < res->count; i++) json_array_append_new(list, analysis_face(&res->faces[i]));
    return list;
}

/* ---- gallery ------------------------------------------------------------- */

static json_t *eyes_or_null(int known, fk_point p) {
    return known ? rj_point(p) : json_null();
}

/* The facial_area fields of one side of a match ("target" or "source"). */
static void area_fields(json_t *o, const char *side, const fk_face *f) {
    const char *names[4] = {"x", "y", "w", "h"};
    float v[4] = {f->x, f->y, f->w, f->h};
    char key[32];
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "%s_%s", side, names[i]);
        json_object_set_new(o, key, json_integer((int)(v[i] + 0.5f)));
    }
}

/* One match: deepface's find columns plus facekit's eyes (see the header
 * for what dir changes). */
static json_t *match_json(const fk_gallery_match *m, const fk_face *q, const char *dir) {
    json_t *o = json_object();
    if (dir) {
        char file[4096];
        snprintf(file, sizeof file, "%s/%s", dir, m->path);
        json_object_set_new(o, "identity", json_string(file));
        json_object_set_new(o, "name", json_string(m->identity));
    } else {
        json_object_set_new(o, "id", json_integer((json_int_t)m->face_id));
        json_object_set_new(o, "identity", json_string(m->identity));
        json_object_set_new(o, "img_name", json_string(m->identity)); /* deepface's search */
        json_object_set_new(o, "source", json_string(m->path));
    }
    json_object_set_new(o, "hash", json_string(m->hash));
    area_fields(o, "target", &m->area);
    json_object_set_new(o, "target_left_eye", eyes_or_null(m->has_eyes, m->area.left_eye));
    json_object_set_new(o, "target_right_eye", eyes_or_null(m->has_eyes, m->area.right_eye));
    area_fields(o, "source", q);
    json_object_set_new(o, "threshold", json_real(m->threshold));
    json_object_set_new(o, "distance", json_real(m->distance));
    float conf = 0;
    if (fk_confidence(m->distance, m->threshold, &conf) == FK_OK)
        json_object_set_new(o, "confidence", json_real(conf));
    else
        json_object_set_new(o, "confidence", json_null());
    return o;
}

/* Matches within the threshold only: the library already cut them to that
 * with top_k 0; with top_k > 0 it returns the k closest whatever their
 * distance, and they are cut here. */
json_t *rj_gallery_results(const fk_gallery_results *r, int anti_spoofing, const char *dir) {
    json_t *list = json_array();
    for (int i = 0; i < r->count; i++) {
        const fk_gallery_result *res = &r->items[i];
        json_t *matches = json_array();
        for (int k = 0; k < res->count; k++)
            if (res->matches[k].distance <= res->matches[k].threshold)
                json_array_append_new(matches, match_json(&res->matches[k], &res->face, dir));
        json_array_append_new(list, with_spoof(json_pack("{s:o, s:f, s:o}", "source_area",
                                                         rj_facial_area(&res->face),
                                                         "face_confidence",
                                                         (double)res->face.confidence,
                                                         "matches", matches),
                                               anti_spoofing, &res->face));
    }
    return list;
}

json_t *rj_gallery_config(fk_gallery *g, json_t *o) {
    fk_gallery_stats s;
    if (fk_gallery_get_stats(g, &s) != FK_OK) return o;
    json_object_set_new(o, "model", json_string(s.model));
    json_object_set_new(o, "detector_backend", json_string(s.detector));
    return o;
}

json_t *rj_register(const fk_gallery_register_result *res, const char *identity,
                    const char *source, const char *where, int anti_spoofing) {
    json_t *faces = json_array();
    for (int i = 0; i < res->faces.count; i++)
        json_array_append_new(faces, with_spoof(json_pack("{s:I, s:o, s:f}", "face_id",
                                                          (json_int_t)res->face_ids[i],
                                                          "facial_area",
                                                          rj_facial_area(&res->faces.faces[i]),
                                                          "face_confidence",
                                                          (double)res->faces.faces[i].confidence),
                                                anti_spoofing, &res->faces.faces[i]));
    json_t *out = json_pack("{s:b, s:i, s:b, s:s, s:s, s:o, s:s}", "registered",
                            !res->duplicate, "inserted", res->faces.count, "duplicate",
                            res->duplicate, "identity", identity, "source",
                            res->path ? res->path : source, "faces", faces, "db", where);
    if (res->duplicate_identity)
        json_object_set_new(out, "duplicate_of",
                            json_pack("{s:s, s:s}", "identity", res->duplicate_identity,
                                      "source", res->duplicate_path));
    return out;
}
