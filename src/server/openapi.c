/*
 * openapi.c - GET /openapi.json: an OpenAPI 3.0 description of every
 * endpoint, written from the same key table (srv_keys) the handlers read,
 * so the document cannot list a key the server ignores or miss one it
 * reads.
 */
#include <string.h>

#include "server/srv.h"

static const struct {
    const char *path;
    srv_route route;
    const char *summary;
    const char *result;  /* what 200 holds */
} POSTS[] = {
    {"/represent", R_REPRESENT, "embeddings of every face (deepface's represent)",
     "{\"results\": [{embedding, facial_area, face_confidence}]}"},
    {"/verify", R_VERIFY, "same person or not (deepface's verify)",
     "{verified, distance, threshold, confidence, model, detector_backend, "
     "similarity_metric, facial_areas, face_confidence, time}"},
    {"/analyze", R_ANALYZE, "age, gender, emotion, race of every face (deepface's analyze)",
     "{\"results\": [{age, gender, dominant_gender, emotion, dominant_emotion, race, "
     "dominant_race, region, face_confidence}]}"},
    {"/register", R_REGISTER, "store the faces of an image in the gallery (deepface's register)",
     "{registered, inserted, duplicate, identity, source, faces, db, model, detector_backend}"},
    {"/search", R_SEARCH, "closest registered faces (deepface's search)",
     "{\"results\": [{source_area, face_confidence, matches: [{id, identity, img_name, "
     "source, hash, target_x.., source_x.., threshold, distance, confidence}]}], model, "
     "detector_backend, similarity_metric, search_method, time}"},
    {"/build/index", R_BUILD_INDEX, "build the gallery's ANN index (deepface's build_index)",
     "{message, index, faces, rows, model, detector_backend, time}"},
};

static json_t *schema_of(const srv_key *k) {
    if (!strcmp(k->type, "image"))
        return json_pack("{s:s, s:s}", "type", "string", "description", k->help);
    if (!strcmp(k->type, "array"))
        return json_pack("{s:[{s:s, s:{s:s}}, {s:s}], s:s}", "oneOf", "type", "array", "items",
                         "type", "string", "type", "string", "description", k->help);
    return json_pack("{s:s, s:s}", "type", k->type, "description", k->help);
}

static json_t *error_response(const char *what) {
    return json_pack("{s:s, s:{s:{s:{s:s, s:{s:{s:s}}}}}}", "description", what, "content",
                     "application/json", "schema", "type", "object", "properties",
                     "exception", "type", "string");
}

static json_t *post_op(int i) {
    json_t *props = json_object(), *form = json_object(), *required = json_array();
    for (int k = 0; k < srv_nkeys; k++) {
        if (!(srv_keys[k].routes & (1u << POSTS[i].route))) continue;
        json_object_set_new(props, srv_keys[k].name, schema_of(&srv_keys[k]));
        json_object_set_new(form, srv_keys[k].name,
                            !strcmp(srv_keys[k].type, "image")
                                ? json_pack("{s:s, s:s, s:s}", "type", "string", "format",
                                            "binary", "description",
                                            "an uploaded file, or the text forms of the "
                                            "JSON body")
                                : schema_of(&srv_keys[k]));
        if (srv_keys[k].required) json_array_append_new(required, json_string(srv_keys[k].name));
    }
    json_t *jschema = json_pack("{s:s, s:o}", "type", "object", "properties", props);
    json_t *fschema = json_pack("{s:s, s:o}", "type", "object", "properties", form);
    if (json_array_size(required)) {
        json_object_set(jschema, "required", required);
        json_object_set(fschema, "required", required);
    }
    json_decref(required);
    json_t *urlenc = json_deep_copy(jschema);
    json_t *responses = json_pack(
        "{s:{s:s, s:{s:{s:{s:s}}}}, s:o, s:o, s:o, s:o, s:o, s:o}", "200", "description",
        POSTS[i].result, "content", "application/json", "schema", "type", "object", "400",
        error_response("bad input: a missing or undecodable image, a bad option"), "401",
        json_pack("{s:s}", "description",
                  "missing or wrong API key ({\"message\": ...}; Authorization: Bearer)"),
        "403", error_response("a server path outside --image-root"), "413",
        error_response("request body over --max-body-mb, or an image over the pixel budget"),
        "422", error_response("no face found (enforce_detection), or a spoof (anti_spoofing)"),
        "503", error_response("saturated (Retry-After) or shutting down"));
    if (POSTS[i].route == R_REGISTER || POSTS[i].route == R_SEARCH ||
        POSTS[i].route == R_BUILD_INDEX)
        json_object_set_new(responses, "501",
                            error_response("the server has no gallery (--db)"));
    json_object_set_new(responses, "504", error_response("ran past --timeout-ms"));
    return json_pack("{s:{s:s, s:s, s:[{s:[]}], s:{s:b, s:{s:{s:o}, s:{s:o}, s:{s:o}}}, s:o}}",
                     "post", "summary", POSTS[i].summary, "operationId", POSTS[i].path + 1,
                     "security", "bearer", "requestBody", "required", 1, "content",
                     "application/json", "schema", jschema, "multipart/form-data", "schema",
                     fschema, "application/x-www-form-urlencoded", "schema", urlenc,
                     "responses", responses);
}

static json_t *get_op(const char *summary, const char *type) {
    return json_pack("{s:{s:s, s:{s:{s:s, s:{s:{}}}}}}", "get", "summary", summary, "responses",
                     "200", "description", summary, "content", type);
}

json_t *srv_openapi(void) {
    json_t *paths = json_object();
    for (int i = 0; i < (int)(sizeof POSTS / sizeof POSTS[0]); i++)
        json_object_set_new(paths, POSTS[i].path, post_op(i));
    json_object_set_new(paths, "/", get_op("the web page", "text/html"));
    json_object_set_new(paths, "/health",
                        get_op("status, workers, queue (no key needed)", "application/json"));
    json_object_set_new(paths, "/models",
                        get_op("the models this server knows and whether they are installed",
                               "application/json"));
    json_object_set_new(paths, "/openapi.json", get_op("this document", "application/json"));
    return json_pack("{s:s, s:{s:s, s:s, s:s}, s:o, s:{s:{s:{s:s, s:s}}}}", "openapi", "3.0.3",
                     "info", "title", "facekit", "version", FK_VERSION, "description",
                     "deepface's REST API (same request keys and response shapes), served by "
                     "facekit in C",
                     "paths", paths, "components", "securitySchemes", "bearer", "type", "http",
                     "scheme", "bearer");
}
