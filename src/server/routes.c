/*
 * routes.c - the endpoints of `facekit serve`, run on a worker with its own
 * context: deepface's request keys mapped onto fk_options, one call of the
 * public API, and the result as the CLI prints it (json/results_json.h),
 * wrapped as deepface's API wraps it ({"results": [...]} for represent and
 * analyze, the verify object as is).
 *
 * Defaults are facekit's (Dlib, ssd), not deepface's (VGG-Face, opencv):
 * the README's differences table says why; a client that sends model_name
 * and detector_backend gets what it names. Keys are listed once, in KEYS,
 * which also writes the OpenAPI document.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json/results_json.h"
#include "server/srv.h"

#define B(r) (1u << (r))
#define PIPE (B(R_REPRESENT) | B(R_VERIFY) | B(R_ANALYZE) | B(R_REGISTER) | B(R_SEARCH))
#define GAL (B(R_REGISTER) | B(R_SEARCH) | B(R_BUILD_INDEX))

const srv_key srv_keys[] = {
    {"img", "image", B(R_REPRESENT) | B(R_ANALYZE) | B(R_REGISTER) | B(R_SEARCH), 1,
     "the image: an uploaded file, a base64 string, a data URI, or a path under the "
     "server's --image-root"},
    {"img1", "image", B(R_VERIFY), 1, "the first image (as img)"},
    {"img2", "image", B(R_VERIFY), 1, "the second image (as img)"},
    {"model_name", "string", PIPE | B(R_BUILD_INDEX), 0,
     "recognizer (default Dlib; GET /models lists them)"},
    {"detector_backend", "string", PIPE | B(R_BUILD_INDEX), 0,
     "face detector (default ssd); skip: the whole image is the face"},
    {"distance_metric", "string", B(R_VERIFY) | B(R_SEARCH), 0,
     "cosine (default), euclidean, euclidean_l2, angular"},
    {"enforce_detection", "boolean", PIPE, 0, "no face is an error, 422 (default true)"},
    {"align", "boolean", PIPE | B(R_BUILD_INDEX), 0, "align faces before embedding (default true)"},
    {"expand_percentage", "number", PIPE, 0, "grow face boxes by this percent (default 0)"},
    {"min_confidence", "number", PIPE, 0, "detector score threshold, 0..1 (default 0.5)"},
    {"anti_spoofing", "boolean", PIPE, 0,
     "check every face is real; a spoof is refused with 422 by verify, register and search "
     "(default false)"},
    {"antispoof_model", "string", PIPE, 0, "antispoof (default) or liveness"},
    {"max_faces", "integer", B(R_REPRESENT) | B(R_ANALYZE) | B(R_REGISTER) | B(R_SEARCH), 0,
     "keep the largest N faces (default: every face)"},
    {"normalization", "string", B(R_REPRESENT) | B(R_VERIFY) | B(R_REGISTER) | B(R_SEARCH), 0,
     "the recognizer's input normalization: base (default), raw, Facenet, Facenet2018, "
     "VGGFace, VGGFace2, ArcFace"},
    {"l2_normalize", "boolean", B(R_REPRESENT) | GAL, 0,
     "unit-length embeddings (represent; galleries refuse it)"},
    {"threshold", "number", B(R_VERIFY) | B(R_SEARCH), 0,
     "distance at or below which faces match (default: the calibrated one)"},
    {"actions", "array", B(R_ANALYZE), 0,
     "what to tell: a list or a comma-separated string of age, gender, emotion, race "
     "(default all)"},
    {"age_model", "string", B(R_ANALYZE), 0, "age analyzer (default FaceApi-AgeGender)"},
    {"gender_model", "string", B(R_ANALYZE), 0, "gender analyzer (default FaceApi-AgeGender)"},
    {"emotion_model", "string", B(R_ANALYZE), 0, "emotion analyzer (default FaceApi-Expression)"},
    {"race_model", "string", B(R_ANALYZE), 0, "race analyzer (default GEAR)"},
    {"img_name", "string", B(R_REGISTER), 0,
     "the identity to register the faces as (default: the file name of an uploaded file or "
     "server path, without its extension)"},
    {"allow_duplicates", "boolean", B(R_REGISTER), 0,
     "store an image already registered (same pixels) again (default false)"},
    {"k", "integer", B(R_SEARCH), 0,
     "at most k matches per face (default: every match within the threshold)"},
    {"search_method", "string", B(R_SEARCH) | B(R_BUILD_INDEX), 0,
     "exact (default) or ann (faiss; galleries under 4096 faces are answered exactly)"},
    {"ann_index", "string", B(R_SEARCH) | B(R_BUILD_INDEX), 0, "hnsw (default) or ivfpq"},
};
const int srv_nkeys = (int)(sizeof srv_keys / sizeof srv_keys[0]);

/* ---- options ---------------------------------------------------------------- */

/* Canonical spellings kept as static strings, since gallery handles outlive
 * the request whose strings named them. */
static const char *static_name(const char *s, const char *const *names) {
    for (int i = 0; s && names[i]; i++)
        if (!strcasecmp(s, names[i])) return names[i];
    return s;
}

/* fk_options from the request's keys; 0, or -1 with r filled. */
static int pipeline_options(const srv_request *q, fk_options *o, srv_reply *r) {
    fk_options_init(o);
    static const char *const spoofers[] = {"antispoof", "liveness", NULL};
    if (srv_get_string(q, "model_name", &o->model, r) ||
        srv_get_string(q, "detector_backend", &o->detector, r) ||
        srv_get_string(q, "distance_metric", &o->metric, r) ||
        srv_get_bool(q, "enforce_detection", &o->enforce_detection, r) ||
        srv_get_bool(q, "align", &o->align, r) ||
        srv_get_float(q, "expand_percentage", 0, 1000, &o->expand_percentage, r) ||
        srv_get_float(q, "min_confidence", 0, 1, &o->min_confidence, r) ||
        srv_get_bool(q, "anti_spoofing", &o->anti_spoofing, r) ||
        srv_get_string(q, "antispoof_model", &o->antispoof_model, r) ||
        srv_get_int(q, "max_faces", 1, 1000000, &o->max_faces, r) ||
        srv_get_string(q, "normalization", &o->normalization, r) ||
        srv_get_bool(q, "l2_normalize", &o->l2_normalize, r) ||
        srv_get_float(q, "threshold", 0, 1e6, &o->threshold, r))
        return -1;
    o->antispoof_model = static_name(o->antispoof_model, spoofers);
    if (fk_options_check(o) != FK_OK) {
        srv_fail(r, FK_EINVAL);
        return -1;
    }
    return 0;
}

static int load(srv_worker *w, const srv_request *q, const char *key, fk_image **img,
                char *label, size_t cap, srv_reply *r) {
    return srv_get_image(w->cfg, q, key, img, label, cap, r);
}

/* ---- represent, verify, analyze ------------------------------------------------ */

static void do_represent(srv_worker *w, const srv_request *q, srv_reply *r) {
    fk_options o;
    fk_image *img = NULL;
    fk_faces faces = {0};
    if (pipeline_options(q, &o, r) || load(w, q, "img", &img, NULL, 0, r)) goto done;
    o.image_names[0] = "img";
    fk_status s = fk_represent(w->ctx, img, &o, &faces);
    if (s != FK_OK) {
        srv_fail(r, s);
        goto done;
    }
    r->status = 200;
    r->body = json_pack("{s:o}", "results", rj_represent(&faces, &o));
done:
    fk_faces_free(&faces);
    fk_image_free(img);
}

static void do_verify(srv_worker *w, const srv_request *q, srv_reply *r) {
    double t0 = srv_now();
    fk_options o;
    fk_image *a = NULL, *b = NULL;
    fk_verify_result v;
    if (pipeline_options(q, &o, r) || load(w, q, "img1", &a, NULL, 0, r) ||
        load(w, q, "img2", &b, NULL, 0, r))
        goto done;
    o.image_names[0] = "img1";
    o.image_names[1] = "img2";
    fk_status s = fk_verify(w->ctx, a, b, &o, &v);
    if (s != FK_OK) {
        srv_fail(r, s);
        goto done;
    }
    r->status = 200;
    r->body = rj_verify(&v, o.anti_spoofing, srv_now() - t0);
done:
    fk_image_free(a);
    fk_image_free(b);
}

/* deepface's actions: a JSON list of names, or a string such as
 * "[age, gender]" or "age,gender" (form data). */
static int actions_of(const srv_request *q, unsigned *out, srv_reply *r) {
    json_t *v = json_object_get(q->args, "actions");
    if (!v || json_is_null(v)) return 0;
    char list[256];
    size_t used = 0;
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (!json_is_string(e) || used + json_string_length(e) + 2 >= sizeof list) {
                srv_error(r, 400, "'actions' must list age, gender, emotion or race");
                return -1;
            }
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", used ? "," : "",
                                     json_string_value(e));
        }
    } else if (json_is_string(v) && json_string_length(v) < sizeof list) {
        for (const char *s = json_string_value(v); *s; s++)
            if (!strchr("[]()\"' ", *s)) list[used++] = *s;
    } else {
        srv_error(r, 400, "'actions' must list age, gender, emotion or race");
        return -1;
    }
    list[used] = '\0';
    if (fk_analyze_actions_parse(list, out) != FK_OK) {
        srv_error(r, 400, "'actions': %s", fk_last_error());
        return -1;
    }
    return 0;
}

static void do_analyze(srv_worker *w, const srv_request *q, srv_reply *r) {
    fk_options o;
    fk_analyze_options ao;
    fk_analyze_options_init(&ao);
    fk_image *img = NULL;
    fk_analysis res = {0};
    if (pipeline_options(q, &o, r) || actions_of(q, &ao.actions, r) ||
        srv_get_string(q, "age_model", &ao.age_model, r) ||
        srv_get_string(q, "gender_model", &ao.gender_model, r) ||
        srv_get_string(q, "emotion_model", &ao.emotion_model, r) ||
        srv_get_string(q, "race_model", &ao.race_model, r))
        goto done;
    if (fk_analyze_options_check(&ao) != FK_OK) {
        srv_fail(r, FK_EINVAL);
        goto done;
    }
    if (load(w, q, "img", &img, NULL, 0, r)) goto done;
    o.image_names[0] = "img";
    fk_status s = fk_analyze(w->ctx, img, &o, &ao, &res);
    if (s != FK_OK) {
        srv_fail(r, s);
        goto done;
    }
    r->status = 200;
    r->body = json_pack("{s:o}", "results", rj_analysis(&res));
done:
    fk_analysis_free(&res);
    fk_image_free(img);
}

/* ---- gallery ------------------------------------------------------------------- */

/* Each worker keeps a few gallery handles open, one per configuration a
 * request asked for (a handle is bound to its options at open, and keeps
 * its search matrix in memory between searches: reopening per request
 * would reload it every time). The least recently used is closed. */
#define GALLERY_SLOTS 4

typedef struct gallery_slot {
    char key[768];
    fk_gallery *g;
    unsigned long used;
} gallery_slot;

typedef struct gallery_cache {
    gallery_slot slot[GALLERY_SLOTS];
    unsigned long clock;
} gallery_cache;

static fk_gallery *gallery_for(srv_worker *w, const fk_options *o, const char *method,
                               const char *ann, srv_reply *r) {
    if (!w->cfg->db) {
        srv_error(r, 501, "no gallery: start the server with --db FILE (or a postgresql:// "
                  "URI) to register, search and build indexes");
        return NULL;
    }
    gallery_cache *c = w->galleries;
    if (!c && !(c = w->galleries = calloc(1, sizeof *c))) {
        srv_error(r, 503, "out of memory");
        return NULL;
    }
    char key[768];
    snprintf(key, sizeof key, "%s|%s|%s|%d|%d|%g|%g|%d|%d|%s|%s|%g|%s|%s|%d", o->model ? o->model : "",
             o->detector ? o->detector : "", o->metric ? o->metric : "", o->align,
             o->enforce_detection, (double)o->expand_percentage, (double)o->min_confidence,
             o->max_faces, o->anti_spoofing, o->antispoof_model ? o->antispoof_model : "",
             o->normalization ? o->normalization : "", (double)o->threshold, method ? method : "",
             ann ? ann : "", o->l2_normalize);
    gallery_slot *oldest = &c->slot[0];
    for (int i = 0; i < GALLERY_SLOTS; i++) {
        gallery_slot *s = &c->slot[i];
        if (s->g && !strcmp(s->key, key)) {
            s->used = ++c->clock;
            return s->g;
        }
        if (!s->g || (oldest->g && s->used < oldest->used)) oldest = s;
    }
    fk_gallery_options go;
    fk_gallery_options_init(&go);
    go.create = 1;
    go.search_method = method;
    go.ann_index = ann;
    fk_gallery *g = NULL;
    fk_status st = fk_gallery_open(w->cfg->db, o, &go, &g);
    if (st != FK_OK) {
        srv_fail(r, st);
        return NULL;
    }
    fk_gallery_close(oldest->g);
    oldest->g = g;
    snprintf(oldest->key, sizeof oldest->key, "%s", key);
    oldest->used = ++c->clock;
    return g;
}

void srv_routes_worker_free(srv_worker *w) {
    gallery_cache *c = w->galleries;
    if (!c) return;
    for (int i = 0; i < GALLERY_SLOTS; i++) fk_gallery_close(c->slot[i].g);
    free(c);
    w->galleries = NULL;
}

/* register's default identity: the file name without folder and
 * extension, when the image came with one. */
static int default_identity(const char *label, char *buf, size_t cap) {
    if (!strcmp(label, "base64") || !strcmp(label, "upload")) return -1;
    const char *base = strrchr(label, '/');
    base = base ? base + 1 : label;
    const char *dot = strrchr(base, '.');
    size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    if (len == 0 || len >= cap) return -1;
    memcpy(buf, base, len);
    buf[len] = '\0';
    return 0;
}

static void do_register(srv_worker *w, const srv_request *q, srv_reply *r) {
    fk_options o;
    fk_image *img = NULL;
    fk_gallery_register_result res = {0};
    const char *name = NULL;
    char label[512] = "", idbuf[256];
    fk_gallery_register_options ro;
    fk_gallery_register_options_init(&ro);
    fk_gallery *g;
    if (pipeline_options(q, &o, r) || srv_get_string(q, "img_name", &name, r) ||
        srv_get_bool(q, "allow_duplicates", &ro.allow_duplicates, r) ||
        !(g = gallery_for(w, &o, NULL, NULL, r)) ||
        load(w, q, "img", &img, label, sizeof label, r))
        goto done;
    if (!name || !*name) {
        if (default_identity(label, idbuf, sizeof idbuf)) {
            srv_error(r, 400, "'img_name' is required: the image came without a file name to "
                      "register its faces under");
            goto done;
        }
        name = idbuf;
    }
    fk_status s = fk_gallery_register(g, w->ctx, img, name, label, &ro, &res);
    if (s != FK_OK) {
        srv_fail(r, s);
        goto done;
    }
    fk_gallery_stats gs;
    const char *where = fk_gallery_get_stats(g, &gs) == FK_OK ? gs.location : w->cfg->db;
    r->status = 200;
    r->body = rj_gallery_config(g, rj_register(&res, name, label, where, o.anti_spoofing));
done:
    fk_gallery_register_result_free(&res);
    fk_image_free(img);
}

static int search_method_of(const srv_request *q, const char **method, const char **ann,
                            srv_reply *r) {
    static const char *const methods[] = {"exact", "ann", NULL};
    static const char *const anns[] = {"hnsw", "ivfpq", NULL};
    if (srv_get_string(q, "search_method", method, r) || srv_get_string(q, "ann_index", ann, r))
        return -1;
    if (*method && static_name(*method, methods) == *method) {
        srv_error(r, 400, "'search_method' must be exact or ann");
        return -1;
    }
    if (*ann && static_name(*ann, anns) == *ann) {
        srv_error(r, 400, "'ann_index' must be hnsw or ivfpq");
        return -1;
    }
    *method = static_name(*method, methods);
    *ann = static_name(*ann, anns);
    return 0;
}

static void do_search(srv_worker *w, const srv_request *q, srv_reply *r) {
    double t0 = srv_now();
    fk_options o;
    fk_image *img = NULL;
    fk_gallery_results res = {0};
    const char *method = NULL, *ann = NULL;
    int k = 0;
    fk_gallery *g;
    if (pipeline_options(q, &o, r) || srv_get_int(q, "k", 1, 1000000, &k, r) ||
        search_method_of(q, &method, &ann, r) || !(g = gallery_for(w, &o, method, ann, r)) ||
        load(w, q, "img", &img, NULL, 0, r))
        goto done;
    fk_status s = fk_gallery_search(g, w->ctx, img, "img", k, &res);
    if (s != FK_OK) {
        srv_fail(r, s);
        goto done;
    }
    json_t *out = json_pack("{s:o}", "results", rj_gallery_results(&res, o.anti_spoofing, NULL));
    rj_gallery_config(g, out);
    fk_gallery_stats gs;
    const char *metric = o.metric ? o.metric : "cosine";
    (void)gs;
    json_object_set_new(out, "similarity_metric", json_string(metric));
    const char *answered = res.count > 0 ? res.items[0].method : NULL;
    json_object_set_new(out, "search_method", json_string(answered ? answered : method ? method : "exact"));
    json_object_set_new(out, "time", json_real(srv_now() - t0));
    r->status = 200;
    r->body = out;
done:
    fk_gallery_results_free(&res);
    fk_image_free(img);
}

/* deepface's build_index makes the gallery's ANN index ready. facekit
 * builds it on a handle's first ANN search, so one search of a unit
 * vector does it; what was built is reported. */
static void do_build_index(srv_worker *w, const srv_request *q, srv_reply *r) {
    double t0 = srv_now();
    fk_options o;
    const char *method = NULL, *ann = NULL;
    fk_gallery *g;
    fk_gallery_stats gs;
    if (pipeline_options(q, &o, r) || search_method_of(q, &method, &ann, r)) return;
    if (method && !strcmp(method, "exact")) {
        srv_error(r, 400, "'search_method' exact has no index to build; use ann");
        return;
    }
    if (!(g = gallery_for(w, &o, "ann", ann, r))) return;
    fk_status s = fk_gallery_get_stats(g, &gs);
    float *unit = s == FK_OK ? calloc((size_t)gs.dim, sizeof *unit) : NULL;
    if (s == FK_OK && !unit) s = FK_ENOMEM;
    if (s != FK_OK) {
        srv_fail(r, s);
        return;
    }
    unit[0] = 1;
    fk_gallery_result one = {0};
    s = fk_gallery_search_embedding(g, unit, gs.dim, 1, 0, &one);
    free(unit);
    fk_gallery_result_free(&one);
    fk_gallery_ann_info info;
    if (s == FK_OK) s = fk_gallery_get_ann_info(g, &info);
    if (s != FK_OK) {
        srv_fail(r, s);
        return;
    }
    r->status = 200;
    r->body = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s, s:f}", "message",
                        strcmp(info.index, "none") ? "Index built successfully"
                                                   : "No index needed: the gallery is small "
                                                     "enough to be searched exactly",
                        "index", info.index, "faces", gs.faces, "rows", info.rows, "model",
                        gs.model, "detector_backend", gs.detector, "time", srv_now() - t0);
    if (info.note[0]) json_object_set_new(r->body, "note", json_string(info.note));
}

void srv_route_run(srv_worker *w, const srv_request *q, srv_reply *r) {
    switch (q->route) {
    case R_REPRESENT: do_represent(w, q, r); break;
    case R_VERIFY: do_verify(w, q, r); break;
    case R_ANALYZE: do_analyze(w, q, r); break;
    case R_REGISTER: do_register(w, q, r); break;
    case R_SEARCH: do_search(w, q, r); break;
    case R_BUILD_INDEX: do_build_index(w, q, r); break;
    default: srv_error(r, 500, "internal error: route %d is not a worker's", (int)q->route);
    }
    if (!r->body) srv_error(r, 500, "internal error: out of memory building the reply");
}
