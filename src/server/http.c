/*
 * http.c - the HTTP side of `facekit serve` (libmicrohttpd, one thread per
 * connection).
 *
 * A request goes through, in order: the drain check (503 once SIGTERM
 * came), the route (404, 405 with Allow), the API key (401), the declared
 * Content-Length against --max-body-mb (413 before a byte of the body is
 * read), the body itself (413 as soon as it passes the limit, for chunked
 * uploads that declare nothing), its parse (JSON with jansson, whose depth
 * is bounded at 2048 and whose input is bounded by the body limit; or
 * multipart / urlencoded through MHD's post processor), and then the
 * worker queue (pool.c). Every reply is JSON except GET /, and every
 * request writes one access-log line on stderr: client, method, path,
 * status, milliseconds. Never the body, never a header: images and keys
 * stay out of logs.
 *
 * The API key is compared in constant time (for its length): the loop runs
 * over the expected key whatever the client sent, and differences are
 * OR-ed, so the time taken tells nothing about how many leading bytes were
 * right.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "server/srv.h"

#define MAX_FIELDS 64

struct srv_http {
    const srv_config *cfg;
    srv_pool *pool;
    struct MHD_Daemon *d;
    int port;
    int draining;             /* atomic */
    int inflight;             /* atomic: requests begun, not completed */
};

typedef enum { BODY_NONE, BODY_JSON, BODY_FORM } body_kind;

/* One request's state while its body arrives (MHD's con_cls). */
typedef struct conn_state {
    srv_http *h;
    double t0;
    char method[8];
    char path[128];
    srv_route route;
    body_kind kind;
    char *body;               /* JSON: the raw bytes */
    size_t len, cap;
    size_t received;          /* every body byte seen */
    struct MHD_PostProcessor *pp;
    srv_request q;            /* form fields land here */
    char *texts[MAX_FIELDS];  /* form text fields, by index in q.args order */
    size_t text_len[MAX_FIELDS];
    char *text_key[MAX_FIELDS];
    int ntexts;
    int form_error;           /* too many fields, or out of memory */
    int overflow;             /* the body passed --max-body-mb */
    int replied;
} conn_state;

/* ---- replies ------------------------------------------------------------------ */

static void access_log(const conn_state *st, struct MHD_Connection *c, int status) {
    char addr[INET6_ADDRSTRLEN] = "-";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr, sizeof addr);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, addr, sizeof addr);
    }
    time_t now = time(NULL);
    struct tm tm;
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", localtime_r(&now, &tm));
    fprintf(stderr, "%s %s %s %s %d %.1f ms\n", when, addr, st->method, st->path, status,
            (srv_now() - st->t0) * 1000.0);
}

static enum MHD_Result send_bytes(conn_state *st, struct MHD_Connection *c, int status,
                                  const char *type, void *bytes, size_t len,
                                  enum MHD_ResponseMemoryMode mode, int retry_after,
                                  const char *allow) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, bytes, mode);
    if (!resp) {
        if (mode == MHD_RESPMEM_MUST_FREE) free(bytes);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    if (allow) MHD_add_response_header(resp, "Allow", allow);
    if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    if (__atomic_load_n(&st->h->draining, __ATOMIC_SEQ_CST))
        MHD_add_response_header(resp, "Connection", "close");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    st->replied = 1;
    access_log(st, c, status);
    return ok;
}

/* Reply with body (owned, freed here). */
static enum MHD_Result send_json(conn_state *st, struct MHD_Connection *c, int status,
                                 json_t *body, int retry_after, const char *allow) {
    char *s = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                          JSON_REAL_PRECISION(7))
                   : NULL;
    json_decref(body);
    if (!s) {
        static char oom[] = "{\"exception\":\"internal error: out of memory writing the reply\"}";
        return send_bytes(st, c, 500, "application/json", oom, sizeof oom - 1,
                          MHD_RESPMEM_PERSISTENT, 0, NULL);
    }
    return send_bytes(st, c, status, "application/json", s, strlen(s), MHD_RESPMEM_MUST_FREE,
                      retry_after, allow);
}

static enum MHD_Result send_error(conn_state *st, struct MHD_Connection *c, int status,
                                  int retry_after, const char *allow, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static enum MHD_Result send_error(conn_state *st, struct MHD_Connection *c, int status,
                                  int retry_after, const char *allow, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* deepface's API answers an authentication failure with "message" */
    return send_json(st, c, status, json_pack("{s:s}", status == 401 ? "message" : "exception",
                                              msg),
                     retry_after, allow);
}

/* ---- routing and authentication -------------------------------------------------- */

static const struct {
    const char *path;
    srv_route route;
    int post;                 /* 1: POST, 0: GET (and HEAD) */
} ROUTES[] = {
    {"/represent", R_REPRESENT, 1}, {"/verify", R_VERIFY, 1},
    {"/analyze", R_ANALYZE, 1},     {"/register", R_REGISTER, 1},
    {"/search", R_SEARCH, 1},       {"/build/index", R_BUILD_INDEX, 1},
    {"/", R_HOME, 0},               {"/health", R_HEALTH, 0},
    {"/models", R_MODELS, 0},       {"/openapi.json", R_OPENAPI, 0},
};
#define NROUTES ((int)(sizeof ROUTES / sizeof ROUTES[0]))

/* 0 with *route, 404, or 405 with *allow. */
static int find_route(const char *url, const char *method, srv_route *route,
                      const char **allow) {
    for (int i = 0; i < NROUTES; i++) {
        if (strcmp(url, ROUTES[i].path) != 0) continue;
        int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
        if (ROUTES[i].post ? !strcmp(method, "POST") : get) {
            *route = ROUTES[i].route;
            return 0;
        }
        *allow = ROUTES[i].post ? "POST" : "GET, HEAD";
        return 405;
    }
    return 404;
}

/* Equal keys, in time that depends on the expected key's length only. */
static int key_matches(const srv_config *cfg, const char *given, size_t glen) {
    volatile unsigned char diff = (unsigned char)(glen != cfg->api_key_len);
    for (size_t i = 0; i < cfg->api_key_len; i++)
        diff |= (unsigned char)(cfg->api_key[i] ^ (i < glen ? given[i] : 0));
    return diff == 0;
}

/* deepface's AuthService: "Authorization: Bearer <token>", two words, the
 * scheme in any case. */
static int authorized(const srv_config *cfg, struct MHD_Connection *c) {
    if (!cfg->api_key) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h) return 0;
    while (*h == ' ' || *h == '\t') h++;
    if (strncasecmp(h, "bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t')) return 0;
    const char *tok = h + 6;
    while (*tok == ' ' || *tok == '\t') tok++;
    size_t n = strcspn(tok, " \t");
    const char *rest = tok + n;
    while (*rest == ' ' || *rest == '\t') rest++;
    if (!n || *rest) return 0;
    return key_matches(cfg, tok, n);
}

/* ---- the body ---------------------------------------------------------------------- */

static enum MHD_Result on_form(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *content_type,
                               const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size) {
    conn_state *st = cls;
    (void)kind, (void)content_type, (void)transfer_encoding;
    if (!key) return MHD_YES;
    if (filename) {
        srv_request *q = &st->q;
        srv_file *f = q->nfiles ? &q->files[q->nfiles - 1] : NULL;
        if (off == 0 || !f || strcmp(f->key, key) != 0) {
            if (q->nfiles + st->ntexts >= MAX_FIELDS) {
                st->form_error = 1;
                return MHD_NO;
            }
            srv_file *nf = realloc(q->files, (size_t)(q->nfiles + 1) * sizeof *nf);
            if (!nf) {
                st->form_error = 2;
                return MHD_NO;
            }
            q->files = nf;
            f = &q->files[q->nfiles++];
            memset(f, 0, sizeof *f);
            f->key = strdup(key);
            f->filename = strdup(filename);
            if (!f->key || !f->filename) {
                st->form_error = 2;
                return MHD_NO;
            }
        }
        if (size) {
            unsigned char *nd = realloc(f->data, f->len + size);
            if (!nd) {
                st->form_error = 2;
                return MHD_NO;
            }
            f->data = nd;
            memcpy(f->data + f->len, data, size);
            f->len += size;
        }
        return MHD_YES;
    }
    int i = st->ntexts - 1;
    if (off == 0 || i < 0 || strcmp(st->text_key[i], key) != 0) {
        if (st->q.nfiles + st->ntexts >= MAX_FIELDS) {
            st->form_error = 1;
            return MHD_NO;
        }
        i = st->ntexts++;
        st->text_key[i] = strdup(key);
        st->texts[i] = NULL;
        st->text_len[i] = 0;
        if (!st->text_key[i]) {
            st->form_error = 2;
            return MHD_NO;
        }
    }
    char *nt = realloc(st->texts[i], st->text_len[i] + size + 1);
    if (!nt) {
        st->form_error = 2;
        return MHD_NO;
    }
    memcpy(nt + st->text_len[i], data, size);
    st->text_len[i] += size;
    nt[st->text_len[i]] = '\0';
    st->texts[i] = nt;
    return MHD_YES;
}

static void free_state(conn_state *st) {
    if (st->pp) MHD_destroy_post_processor(st->pp);
    free(st->body);
    for (int i = 0; i < st->ntexts; i++) {
        free(st->texts[i]);
        free(st->text_key[i]);
    }
    srv_request_clear(&st->q);
    free(st);
}

/* The request's fields from its body: 0, or an HTTP status with *msg. */
static int parse_body(conn_state *st, char *msg, size_t cap) {
    srv_request *q = &st->q;
    if (st->kind == BODY_JSON) {
        json_error_t e;
        if (!st->len) { /* no body: no keys (build/index needs none) */
            q->args = json_object();
            return q->args ? 0 : 503;
        }
        q->args = json_loadb(st->body ? st->body : "", st->len, JSON_REJECT_DUPLICATES, &e);
        if (!q->args) {
            snprintf(msg, cap, "the request body is not valid JSON: %s (line %d, column %d)",
                     e.text, e.line, e.column);
            return 400;
        }
        if (!json_is_object(q->args)) {
            snprintf(msg, cap, "the request body must be a JSON object");
            return 400;
        }
        return 0;
    }
    if (st->form_error) {
        snprintf(msg, cap, st->form_error == 1 ? "too many form fields (at most %d)"
                                               : "out of memory reading the form", MAX_FIELDS);
        return st->form_error == 1 ? 400 : 503;
    }
    q->args = json_object();
    if (!q->args) return 503;
    for (int i = 0; i < st->ntexts; i++) {
        json_t *v = json_stringn(st->texts[i] ? st->texts[i] : "", st->text_len[i]);
        if (!v) {
            snprintf(msg, cap, "form field '%s' is not UTF-8 text", st->text_key[i]);
            return 400;
        }
        json_object_set_new(q->args, st->text_key[i], v);
    }
    return 0;
}

/* ---- GET routes ------------------------------------------------------------------------ */

static json_t *health_json(srv_http *h) {
    int queued, running, cap;
    srv_pool_load(h->pool, &queued, &running, &cap);
    return json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:b, s:b}", "status",
                     __atomic_load_n(&h->draining, __ATOMIC_SEQ_CST) ? "draining" : "ok",
                     "version", FK_VERSION, "workers", h->cfg->workers, "running", running,
                     "queued", queued, "queue_capacity", cap, "auth", h->cfg->api_key != NULL,
                     "gallery", h->cfg->db != NULL);
}

static json_t *models_json(srv_http *h) {
    char home[4096];
    fk_model_info infos[128];
    int n = 0;
    if (h->cfg->model_home) snprintf(home, sizeof home, "%s", h->cfg->model_home);
    else if (fk_models_default_home(home, sizeof home) != FK_OK) return NULL;
    if (fk_models_list(home, infos, 128, &n) != FK_OK) return NULL;
    json_t *list = json_array();
    for (int i = 0; i < n && i < 128; i++) {
        json_t *o = json_pack("{s:s, s:s, s:b, s:s, s:s, s:s}", "name", infos[i].name, "role",
                              infos[i].role, "installed", infos[i].installed, "input",
                              infos[i].input ? infos[i].input : "", "summary",
                              infos[i].summary ? infos[i].summary : "", "license",
                              infos[i].license ? infos[i].license : "");
        if (infos[i].output_dim) json_object_set_new(o, "output_dim", json_integer(infos[i].output_dim));
        json_array_append_new(list, o);
    }
    return json_pack("{s:o}", "models", list);
}

static enum MHD_Result run_get(conn_state *st, struct MHD_Connection *c) {
    switch (st->route) {
    case R_HOME:
        return send_bytes(st, c, 200, "text/html; charset=utf-8", (void *)srv_web_index,
                          srv_web_index_len, MHD_RESPMEM_PERSISTENT, 0, NULL);
    case R_HEALTH: return send_json(st, c, 200, health_json(st->h), 0, NULL);
    case R_OPENAPI: return send_json(st, c, 200, srv_openapi(), 0, NULL);
    case R_MODELS: {
        json_t *m = models_json(st->h);
        if (!m) return send_error(st, c, 500, 0, NULL, "%s", fk_last_error());
        return send_json(st, c, 200, m, 0, NULL);
    }
    default: return send_error(st, c, 404, 0, NULL, "no such route: %s", st->path);
    }
}

/* ---- the handler ----------------------------------------------------------------------- */

static const char *content_type(struct MHD_Connection *c) {
    const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    return t ? t : "";
}

/* First call for a request: everything decided from the headers. */
static enum MHD_Result begin(srv_http *h, struct MHD_Connection *c, const char *url,
                             const char *method, conn_state *st) {
    const srv_config *cfg = h->cfg;
    if (__atomic_load_n(&h->draining, __ATOMIC_SEQ_CST))
        return send_error(st, c, 503, 1, NULL, "the server is shutting down");
    const char *allow = NULL;
    int e = find_route(url, method, &st->route, &allow);
    if (e == 404) return send_error(st, c, 404, 0, NULL, "no such route: %s %s", method, st->path);
    if (e == 405)
        return send_error(st, c, 405, 0, allow, "%s does not take %s (only %s)", st->path,
                          method, allow);
    if (st->route < R_HOME && !authorized(cfg, c))
        return send_error(st, c, 401, 0, NULL, "Invalid or missing authentication token");
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno == ERANGE || n > cfg->max_body)
            return send_error(st, c, 413, 0, NULL,
                              "request body of %s bytes is over the limit of %zu bytes "
                              "(--max-body-mb)", cl, cfg->max_body);
    }
    if (st->route >= R_HOME) return MHD_YES;
    /* A full queue is answered before the body is read: a saturated server
     * must not spend its cores receiving and parsing requests it will
     * refuse (measured: under wrk at 256 connections the workers were
     * starved by the parse of bodies answered 503 anyway). */
    int queued, running, cap;
    srv_pool_load(h->pool, &queued, &running, &cap);
    if (queued >= cap)
        return send_error(st, c, 503, 1, NULL, "server busy: %d requests are already waiting "
                          "for %d workers; retry later", cap, cfg->workers);
    const char *ct = content_type(c);
    if (!strncasecmp(ct, "multipart/form-data", 19) ||
        !strncasecmp(ct, "application/x-www-form-urlencoded", 33)) {
        st->kind = BODY_FORM;
        st->pp = MHD_create_post_processor(c, 16384, on_form, st);
        if (!st->pp)
            return send_error(st, c, 400, 0, NULL, "cannot read this form (Content-Type %s)", ct);
    } else if (!*ct || !strncasecmp(ct, "application/json", 16) || strstr(ct, "+json")) {
        st->kind = BODY_JSON;
    } else {
        return send_error(st, c, 415, 0, NULL,
                          "unsupported Content-Type '%s': send application/json, "
                          "multipart/form-data or application/x-www-form-urlencoded", ct);
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    srv_http *h = cls;
    (void)version;
    conn_state *st = *con_cls;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st) return MHD_NO;
        st->h = h;
        st->t0 = srv_now();
        snprintf(st->method, sizeof st->method, "%s", method);
        /* the path as logged: bounded, and without control characters */
        snprintf(st->path, sizeof st->path, "%s", url);
        for (char *p = st->path; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
        *con_cls = st;
        __atomic_add_fetch(&h->inflight, 1, __ATOMIC_SEQ_CST);
        return begin(h, c, url, method, st);
    }
    if (st->replied) { /* an early reply: drop the rest of the body */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        st->received += n;
        if (st->received > h->cfg->max_body) {
            /* libmicrohttpd takes no reply while a body is still arriving:
             * drop the rest and answer at its end, or close the connection
             * once the request's deadline has passed. */
            free(st->body);
            st->body = NULL;
            st->len = st->cap = 0;
            st->overflow = 1;
            if (srv_now() > st->t0 + h->cfg->timeout_ms / 1000.0) {
                st->replied = 1;
                access_log(st, c, 413);
                return MHD_NO;
            }
            return MHD_YES;
        }
        if (st->kind == BODY_JSON) {
            if (st->len + n > st->cap) {
                size_t cap = st->cap ? st->cap : 65536;
                while (cap < st->len + n) cap *= 2;
                if (cap > h->cfg->max_body) cap = h->cfg->max_body;
                char *nb = realloc(st->body, cap);
                if (!nb) return send_error(st, c, 503, 1, NULL, "out of memory");
                st->body = nb;
                st->cap = cap;
            }
            memcpy(st->body + st->len, upload_data, n);
            st->len += n;
        } else if (st->kind == BODY_FORM) {
            if (MHD_post_process(st->pp, upload_data, n) != MHD_YES && !st->form_error)
                return send_error(st, c, 400, 0, NULL, "malformed form data");
        }
        return MHD_YES;
    }
    /* the whole request is in */
    if (st->overflow)
        return send_error(st, c, 413, 0, NULL,
                          "request body over the limit of %zu bytes (--max-body-mb)",
                          h->cfg->max_body);
    if (st->route >= R_HOME) return run_get(st, c);
    char msg[512];
    int e = parse_body(st, msg, sizeof msg);
    if (e) return send_error(st, c, e, e == 503, NULL, "%s", msg);
    free(st->body);
    st->body = NULL;
    st->q.route = st->route;
    srv_reply r = {0};
    srv_pool_run(h->pool, &st->q, st->t0 + h->cfg->timeout_ms / 1000.0, &r);
    return send_json(st, c, r.status ? r.status : 500, r.body, r.retry_after, NULL);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    srv_http *h = cls;
    (void)c, (void)toe;
    conn_state *st = *con_cls;
    if (!st) return;
    free_state(st);
    *con_cls = NULL;
    __atomic_sub_fetch(&h->inflight, 1, __ATOMIC_SEQ_CST);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    fputs("facekit serve: libmicrohttpd: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* ---- start and drain --------------------------------------------------------------------- */

srv_http *srv_http_start(const srv_config *cfg, srv_pool *pool) {
    srv_http *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->cfg = cfg;
    h->pool = pool;
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    struct sockaddr *sa;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (inet_pton(AF_INET, cfg->host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)cfg->port);
        sa = (struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, cfg->host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)cfg->port);
        sa = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        fprintf(stderr, "facekit serve: --host %s: not a numeric IPv4 or IPv6 address "
                "(e.g. 127.0.0.1, 0.0.0.0, ::1)\n", cfg->host);
        free(h);
        return NULL;
    }
    h->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, h,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                            MHD_OPTION_SOCK_ADDR, sa,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_END);
    if (!h->d) {
        fprintf(stderr, "facekit serve: cannot listen on %s:%d: %s\n", cfg->host, cfg->port,
                strerror(errno));
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : cfg->port;
    return h;
}

int srv_http_port(const srv_http *h) {
    return h->port;
}

int srv_http_drain(srv_http *h, int wait_ms) {
    __atomic_store_n(&h->draining, 1, __ATOMIC_SEQ_CST);
    MHD_socket s = MHD_quiesce_daemon(h->d);
    double until = srv_now() + wait_ms / 1000.0;
    while (__atomic_load_n(&h->inflight, __ATOMIC_SEQ_CST) > 0 && srv_now() < until)
        usleep(10000);
    int left = __atomic_load_n(&h->inflight, __ATOMIC_SEQ_CST);
    MHD_stop_daemon(h->d);
    if (s != MHD_INVALID_SOCKET) close(s);
    free(h);
    return left;
}
