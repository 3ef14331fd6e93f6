/*
 * serve_main.c - `facekit serve`: options, start-up, and the clean stop.
 *
 * Start-up order: options checked, the API key read, the image root
 * resolved, then the workers (each loads its models; a missing model stops
 * the start here, not at the first request), then the socket. The
 * listening address is printed on stderr once everything is ready
 * ("facekit serve: listening on http://127.0.0.1:5005"), so a script may
 * wait for that line; --port 0 takes any free port and prints which.
 *
 * Stopping: SIGTERM and SIGINT are blocked in every thread and taken by
 * the main thread with sigwait, so no handler runs in the middle of a
 * request. It stops accepting connections, answers 503 to new requests on
 * open ones, waits for the requests in flight (at most --timeout-ms more,
 * their own deadline), then stops the workers and exits 0.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server.h"
#include "server/srv.h"

static const char USAGE[] =
    "usage: facekit serve [--host 127.0.0.1] [--port 5005] [--db GALLERY] [--workers N]\n"
    "                     [--image-root DIR] [--api-key-file F] [options]\n"
    "\n"
    "Serves deepface's REST API: POST /represent, /verify, /analyze, /register,\n"
    "/search, /build/index with deepface's request keys (img, img1, img2,\n"
    "model_name, detector_backend, distance_metric, enforce_detection, align,\n"
    "anti_spoofing, max_faces, img_name, k, search_method, ...) and response\n"
    "shapes; GET / (web page), /health, /models, /openapi.json. Images arrive as\n"
    "an uploaded file (multipart/form-data), a base64 string or data URI (JSON or\n"
    "form), or a path under --image-root; URLs are not fetched.\n"
    "\n"
    "options:\n"
    "  --host ADDR              numeric address to listen on (default 127.0.0.1;\n"
    "                           0.0.0.0 for every interface)\n"
    "  --port N                 TCP port (default 5005; 0: any free port)\n"
    "  --db F                   gallery for register, search and build/index: a file\n"
    "                           (created if missing) or postgresql://user@host/db\n"
    "  --workers N              worker threads, each with its own models (default 2)\n"
    "  --threads N              threads of each worker's model context (default 1)\n"
    "  --queue N                requests waiting for a worker at most; more get 503\n"
    "                           with Retry-After (default 4 per worker)\n"
    "  --image-root DIR         serve paths inside DIR only (default: paths refused)\n"
    "  --api-key-file F         require 'Authorization: Bearer <key>', the key being\n"
    "                           F's first line (deepface's auth token)\n"
    "  --max-body-mb N          request body limit, 413 beyond (default 32)\n"
    "  --max-megapixels N       refuse larger images before decoding (default 25)\n"
    "  --decode-max-side N      decode large JPEGs at reduced scale while the long\n"
    "                           side stays >= N (default 2048; 0: full decode)\n"
    "  --timeout-ms N           per-request deadline (default 30000)\n"
    "  --max-connections N      open connections at most (default 256)\n"
    "  -h, --help               this help\n"
    "\n"
    "environment: FACEKIT_HOME model home (default ~/.facekit)\n"
    "example:\n"
    "  facekit serve --port 5005 --db gallery.db --workers 2\n"
    "  curl -s localhost:5005/verify -F img1=@alice1.jpg -F img2=@alice2.jpg\n";

enum {
    O_HOST = 256, O_PORT, O_DB, O_WORKERS, O_THREADS, O_QUEUE, O_IMAGE_ROOT, O_API_KEY_FILE,
    O_MAX_BODY, O_MAX_MP, O_DECODE, O_TIMEOUT, O_MAX_CONN
};

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* The key: the file's first line without surrounding whitespace. */
static int read_key(const char *path, srv_config *cfg) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "facekit serve: --api-key-file %s: %s\n", path, strerror(errno));
        return -1;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *s = buf;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
    size_t len = strcspn(s, "\r\n");
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
    if (!len) {
        fprintf(stderr, "facekit serve: --api-key-file %s: the file holds no key\n", path);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if (s[i] == ' ' || s[i] == '\t') {
            fprintf(stderr, "facekit serve: --api-key-file %s: the key may not contain "
                    "spaces\n", path);
            return -1;
        }
    cfg->api_key = malloc(len + 1);
    if (!cfg->api_key) return -1;
    memcpy(cfg->api_key, s, len);
    cfg->api_key[len] = '\0';
    cfg->api_key_len = len;
    memset(buf, 0, sizeof buf);
    return 0;
}

static int parse_args(int argc, char **argv, srv_config *cfg) {
    static const struct option longopts[] = {
        {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, O_PORT},
        {"db", required_argument, NULL, O_DB},
        {"workers", required_argument, NULL, O_WORKERS},
        {"threads", required_argument, NULL, O_THREADS},
        {"queue", required_argument, NULL, O_QUEUE},
        {"image-root", required_argument, NULL, O_IMAGE_ROOT},
        {"api-key-file", required_argument, NULL, O_API_KEY_FILE},
        {"max-body-mb", required_argument, NULL, O_MAX_BODY},
        {"max-megapixels", required_argument, NULL, O_MAX_MP},
        {"decode-max-side", required_argument, NULL, O_DECODE},
        {"timeout-ms", required_argument, NULL, O_TIMEOUT},
        {"max-connections", required_argument, NULL, O_MAX_CONN},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *root = NULL, *keyfile = NULL;
    int queue_given = 0;
    opterr = 0;
    optind = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        long v = 0;
        int bad = 0;
        switch (ch) {
        case 'h': fputs(USAGE, stdout); return -1;
        case O_HOST: cfg->host = optarg; break;
        case O_PORT: bad = parse_long(optarg, 0, 65535, &v); cfg->port = (int)v; break;
        case O_DB: cfg->db = optarg; break;
        case O_WORKERS: bad = parse_long(optarg, 1, 256, &v); cfg->workers = (int)v; break;
        case O_THREADS: bad = parse_long(optarg, 1, 256, &v); cfg->threads = (int)v; break;
        case O_QUEUE:
            bad = parse_long(optarg, 1, 100000, &v);
            cfg->queue = (int)v;
            queue_given = 1;
            break;
        case O_IMAGE_ROOT: root = optarg; break;
        case O_API_KEY_FILE: keyfile = optarg; break;
        case O_MAX_BODY:
            bad = parse_long(optarg, 1, 4096, &v);
            cfg->max_body = (size_t)v << 20;
            break;
        case O_MAX_MP:
            bad = parse_long(optarg, 1, 1000, &v);
            cfg->max_pixels = (size_t)v * 1000000;
            break;
        case O_DECODE: bad = parse_long(optarg, 0, 1000000, &v); cfg->decode_max_side = (int)v; break;
        case O_TIMEOUT: bad = parse_long(optarg, 100, 3600000, &v); cfg->timeout_ms = (int)v; break;
        case O_MAX_CONN: bad = parse_long(optarg, 1, 100000, &v); cfg->max_connections = (int)v; break;
        case ':':
            fprintf(stderr, "facekit serve: option '%s' needs a value; run 'facekit serve "
                    "--help'\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "facekit serve: unrecognized option '%s'; run 'facekit serve "
                    "--help'\n", argv[optind - 1]);
            return 2;
        }
        if (bad) {
            const char *name = "?";
            for (int i = 0; longopts[i].name; i++)
                if (longopts[i].val == ch) name = longopts[i].name;
            fprintf(stderr, "facekit serve: bad value '%s' for --%s; run 'facekit serve "
                    "--help'\n", optarg, name);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "facekit serve: unexpected argument '%s'; run 'facekit serve --help'\n",
                argv[optind]);
        return 2;
    }
    if (!queue_given) cfg->queue = 4 * cfg->workers;
    if (root) {
        char real[PATH_MAX];
        if (!realpath(root, real)) {
            fprintf(stderr, "facekit serve: --image-root %s: %s\n", root, strerror(errno));
            return 1;
        }
        if (!strcmp(real, "/")) {
            fprintf(stderr, "facekit serve: --image-root /: refusing to serve the whole file "
                    "system\n");
            return 1;
        }
        cfg->image_root = strdup(real);
    }
    if (keyfile && read_key(keyfile, cfg)) return 1;
    return 0;
}

int serve_main(int argc, char **argv) {
    srv_config cfg = {
        .host = "127.0.0.1", .port = 5005, .workers = 2, .threads = 1,
        .max_body = (size_t)32 << 20, .max_pixels = 25000000, .decode_max_side = 2048,
        .timeout_ms = 30000, .max_connections = 256,
    };
    int rc = parse_args(argc, argv, &cfg);
    if (rc) {
        free(cfg.image_root);
        free(cfg.api_key);
        return rc < 0 ? 0 : rc;
    }
    /* Every thread made from here on inherits this mask: the signals reach
     * sigwait below and nothing else. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    double t0 = srv_now();
    srv_pool *pool = srv_pool_start(&cfg);
    srv_http *http = pool ? srv_http_start(&cfg, pool) : NULL;
    if (!http) {
        srv_pool_stop(pool);
        free(cfg.image_root);
        free(cfg.api_key);
        return 1;
    }
    fprintf(stderr, "facekit serve: listening on http://%s%s%s:%d (%d workers, queue %d, "
            "models loaded in %.1f s%s%s%s%s)\n", strchr(cfg.host, ':') ? "[" : "", cfg.host,
            strchr(cfg.host, ':') ? "]" : "", srv_http_port(http), cfg.workers, cfg.queue,
            srv_now() - t0, cfg.api_key ? ", API key required" : "",
            cfg.db ? ", gallery " : "", cfg.db ? cfg.db : "",
            cfg.image_root ? ", image root set" : "");
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "facekit serve: %s: draining the requests in flight\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    int left = srv_http_drain(http, cfg.timeout_ms + 1000);
    srv_pool_stop(pool);
    if (left)
        fprintf(stderr, "facekit serve: stopped with %d requests unanswered\n", left);
    else
        fprintf(stderr, "facekit serve: stopped\n");
    free(cfg.image_root);
    free(cfg.api_key);
    return left ? 1 : 0;
}
