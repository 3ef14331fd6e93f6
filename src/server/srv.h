/*
 * srv.h - the parts of `facekit serve` and how they hand a request on:
 *
 *   http.c     libmicrohttpd's connection threads: limits (body, headers,
 *              connections), the API key, routing, the body read into a
 *              srv_request (JSON, multipart or urlencoded), the access log
 *   pool.c     a fixed pool of workers, each owning an fk_context made at
 *              start; a bounded queue between the two (full: 503 +
 *              Retry-After) and the per-request deadline
 *   routes.c   the endpoints, run on a worker: request keys -> fk_options,
 *              the public API call, the result as deepface-shaped JSON
 *              (json/results_json.h, shared with the CLI)
 *   request.c  reading a request's fields: booleans, numbers and the
 *              images (upload, base64, data URI, or a path under
 *              --image-root only)
 *   openapi.c  GET /openapi.json, from the same key table routes.c reads
 *   serve_main.c  options, start, signals, drain
 *
 * Like the CLI, the server calls only the public API (facekit.h).
 */
#ifndef FK_SRV_H
#define FK_SRV_H

#include <jansson.h>
#include <stddef.h>

#include "facekit.h"

/* ---- configuration ------------------------------------------------------- */

typedef struct srv_config {
    const char *host;         /* numeric address to bind (default 127.0.0.1) */
    int port;                 /* 0: any free port (printed at start) */
    const char *db;           /* gallery for register/search/build/index;
                                 NULL: those answer 501 */
    int workers;              /* worker threads, each with its own context */
    int threads;              /* threads of each worker's context */
    int queue;                /* requests waiting for a worker, at most */
    char *image_root;         /* realpath of --image-root, or NULL: server
                                 paths are refused */
    char *api_key;            /* NULL: no authentication */
    size_t api_key_len;
    size_t max_body;          /* bytes */
    size_t max_pixels;        /* decoded image budget */
    int decode_max_side;      /* as the CLI's --decode-max-side */
    int timeout_ms;           /* per-request deadline, from the first byte */
    int max_connections;
    const char *model_home;   /* NULL: the default */
} srv_config;

/* ---- a request ------------------------------------------------------------ */

/* One uploaded file (multipart part with a filename). */
typedef struct srv_file {
    char *key, *filename;
    unsigned char *data;
    size_t len;
} srv_file;

/* The routes the server answers. */
typedef enum {
    R_NONE = 0, R_REPRESENT, R_VERIFY, R_ANALYZE, R_REGISTER, R_SEARCH, R_BUILD_INDEX,
    R_HOME, R_HEALTH, R_MODELS, R_OPENAPI
} srv_route;

typedef struct srv_request {
    srv_route route;
    json_t *args;             /* the JSON object, or the form's text fields
                                 as strings; never NULL once parsed */
    srv_file *files;
    int nfiles;
} srv_request;

void srv_request_clear(srv_request *r);

/* A handler's answer: an HTTP status and a JSON body (owned). */
typedef struct srv_reply {
    int status;
    json_t *body;
    int retry_after;          /* seconds, 0: no Retry-After header */
} srv_reply;

/* Set r to {"exception": msg} with status (printf-style message). */
void srv_error(srv_reply *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The HTTP status that fits a library failure (FK_ENOFACE: 422, ...). */
int srv_status_of(fk_status s);
/* srv_error with the status of s and fk_last_error(). */
void srv_fail(srv_reply *r, fk_status s);

/* ---- request fields (request.c) ------------------------------------------ */

/* Each getter leaves *out alone when the key is absent (or JSON null), and
 * returns 0, or -1 after filling r with a 400 naming the key. */
int srv_get_bool(const srv_request *q, const char *key, int *out, srv_reply *r);
int srv_get_int(const srv_request *q, const char *key, long lo, long hi, int *out,
                srv_reply *r);
int srv_get_float(const srv_request *q, const char *key, double lo, double hi, float *out,
                  srv_reply *r);
int srv_get_string(const srv_request *q, const char *key, const char **out, srv_reply *r);

/* The image of field `key`: an uploaded file of that name, else the
 * field's text: a data URI, base64, or (with --image-root) a path inside
 * the root. *label gets how it arrived, for register's source ("upload:
 * name.jpg", the path, or "base64"); may be NULL. Returns 0, or -1 with r
 * filled (400 missing or undecodable, 403 outside the root, 413 over the
 * pixel budget). */
int srv_get_image(const srv_config *cfg, const srv_request *q, const char *key,
                  fk_image **out, char *label, size_t label_cap, srv_reply *r);

/* ---- workers (pool.c) ----------------------------------------------------- */

typedef struct srv_worker srv_worker;
typedef struct srv_pool srv_pool;

/* What a worker owns: its context (models loaded once) and its gallery
 * handles (routes.c keeps them, one per configuration seen). */
struct srv_worker {
    int index;
    const srv_config *cfg;
    srv_pool *pool;
    fk_context *ctx;
    void *galleries;          /* routes.c's cache */
};

/* Start cfg->workers workers, each making its context and loading the
 * default detector and recognizer before this returns. NULL on failure
 * (the message on stderr). */
srv_pool *srv_pool_start(const srv_config *cfg);
/* Run q on a worker and wait for its reply until deadline (CLOCK_MONOTONIC
 * seconds). Full queue: 503 with Retry-After at once. Past the deadline:
 * 503 if it never started, 504 if it was running (the worker finishes it
 * and drops the result). q is moved into the job (emptied). */
void srv_pool_run(srv_pool *p, srv_request *q, double deadline, srv_reply *r);
/* Requests queued and running now, and the queue's capacity. */
void srv_pool_load(srv_pool *p, int *queued, int *running, int *capacity);
/* Stop the workers after the queue is empty, and free everything. */
void srv_pool_stop(srv_pool *p);

/* ---- routes (routes.c) ---------------------------------------------------- */

/* Run a POST route on worker w. */
void srv_route_run(srv_worker *w, const srv_request *q, srv_reply *r);
/* Free w's gallery handles. */
void srv_routes_worker_free(srv_worker *w);

/* The request keys: name, kind ("image", "string", "boolean", "integer",
 * "number", "array"), the routes taking it (bit 1 << srv_route), whether it
 * is required, and a line of help. One table for the handlers' reading of
 * requests and for the OpenAPI document. */
typedef struct srv_key {
    const char *name, *type;
    unsigned routes;
    int required;
    const char *help;
} srv_key;
extern const srv_key srv_keys[];
extern const int srv_nkeys;

/* ---- openapi.c, the web page ---------------------------------------------- */

json_t *srv_openapi(void);
extern const unsigned char srv_web_index[];
extern const size_t srv_web_index_len;

/* ---- http.c ---------------------------------------------------------------- */

typedef struct srv_http srv_http;
/* Listen on cfg->host:port. NULL on failure (the message on stderr). */
srv_http *srv_http_start(const srv_config *cfg, srv_pool *pool);
int srv_http_port(const srv_http *h);
/* Stop accepting, answer 503 to new requests on open connections, wait up
 * to wait_ms for the requests in flight, then close everything. Returns the
 * requests still in flight when it gave up (0: a clean drain). */
int srv_http_drain(srv_http *h, int wait_ms);

/* Monotonic seconds. */
double srv_now(void);

#endif
