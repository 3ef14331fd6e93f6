/*
 * pool.c - the workers of `facekit serve` and the bounded queue in front of
 * them.
 *
 * A context may not be shared between threads (facekit.h), and loading
 * models costs far more than a request, so each worker owns one context for
 * its whole life and the default detector and recognizer are loaded into it
 * before the server listens: the first request is as fast as the
 * thousandth. libmicrohttpd runs one thread per connection; that thread
 * parses the request, queues it here and waits. The queue is bounded: when
 * it is full the request is answered 503 with Retry-After at once instead
 * of waiting without end, so a saturated server sheds load at a known cost
 * and its memory stays flat.
 *
 * Deadlines: a job carries the time by which its connection stops waiting.
 * A job still queued then is dropped unrun (503: the server was too busy);
 * one already running cannot be interrupted (the library has no
 * cancellation point inside a model), so its connection answers 504 and
 * the worker frees the result when it finishes. Ownership of a job passes
 * with its state under the pool's one mutex: whoever sees ABANDONED last
 * frees it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/srv.h"

enum { J_QUEUED, J_RUNNING, J_DONE, J_ABANDONED };

typedef struct srv_job {
    srv_request q;
    srv_reply r;
    double deadline;
    int state;
    pthread_cond_t done;
} srv_job;

struct srv_pool {
    const srv_config *cfg;
    pthread_mutex_t mu;
    pthread_cond_t work;       /* a job was queued, or stop */
    srv_job **ring;
    int cap, head, count;
    int running;
    int stop;
    int nworkers;
    srv_worker *workers;
    pthread_t *threads;
    /* start-up: each worker reports its context ready (or failed) */
    int started, failed;
    pthread_cond_t ready;
};

double srv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void job_free(srv_job *j) {
    srv_request_clear(&j->q);
    json_decref(j->r.body);
    pthread_cond_destroy(&j->done);
    free(j);
}

/* Load the default detector and recognizer: one represent of a plain gray
 * image with detection not enforced runs both (and finds no face). */
static fk_status warm_up(fk_context *ctx) {
    fk_image *img = NULL;
    fk_status s = fk_image_new(160, 160, 3, &img);
    if (s != FK_OK) return s;
    memset(img->data, 128, img->stride * (size_t)img->height);
    fk_options opt;
    fk_options_init(&opt);
    opt.enforce_detection = 0;
    fk_faces faces = {0};
    s = fk_represent(ctx, img, &opt, &faces);
    fk_faces_free(&faces);
    fk_image_free(img);
    return s;
}

static void *worker_main(void *arg) {
    srv_worker *w = arg;
    srv_pool *p = w->pool;
    fk_context_options co;
    fk_context_options_init(&co);
    co.model_home = p->cfg->model_home;
    co.threads = p->cfg->threads;
    co.max_pixels = p->cfg->max_pixels;
    fk_status s = fk_context_new(&co, &w->ctx);
    if (s == FK_OK) s = warm_up(w->ctx);
    pthread_mutex_lock(&p->mu);
    if (s != FK_OK) {
        if (!p->failed)
            fprintf(stderr, "facekit serve: worker %d: %s\n", w->index, fk_last_error());
        p->failed = 1;
    }
    p->started++;
    pthread_cond_broadcast(&p->ready);
    for (;;) {
        while (!p->count && !p->stop) pthread_cond_wait(&p->work, &p->mu);
        if (!p->count) break; /* stop, and nothing left */
        srv_job *j = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        if (j->state == J_ABANDONED) {
            job_free(j);
            continue;
        }
        if (srv_now() >= j->deadline) { /* its connection is about to give up */
            srv_error(&j->r, 503, "the request waited in the queue past its deadline (%d ms); "
                      "the server is saturated: retry later", p->cfg->timeout_ms);
            j->r.retry_after = 1;
            j->state = J_DONE;
            pthread_cond_signal(&j->done);
            continue;
        }
        j->state = J_RUNNING;
        p->running++;
        pthread_mutex_unlock(&p->mu);
        srv_route_run(w, &j->q, &j->r);
        pthread_mutex_lock(&p->mu);
        p->running--;
        if (j->state == J_ABANDONED) {
            job_free(j);
        } else {
            j->state = J_DONE;
            pthread_cond_signal(&j->done);
        }
    }
    pthread_mutex_unlock(&p->mu);
    srv_routes_worker_free(w);
    fk_context_free(w->ctx);
    w->ctx = NULL;
    return NULL;
}

srv_pool *srv_pool_start(const srv_config *cfg) {
    srv_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->cfg = cfg;
    p->cap = cfg->queue > 0 ? cfg->queue : 1;
    p->nworkers = cfg->workers;
    p->ring = calloc((size_t)p->cap, sizeof *p->ring);
    p->workers = calloc((size_t)p->nworkers, sizeof *p->workers);
    p->threads = calloc((size_t)p->nworkers, sizeof *p->threads);
    if (!p->ring || !p->workers || !p->threads) {
        free(p->ring);
        free(p->workers);
        free(p->threads);
        free(p);
        fprintf(stderr, "facekit serve: out of memory\n");
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->ready, NULL);
    int made = 0;
    for (; made < p->nworkers; made++) {
        p->workers[made].index = made;
        p->workers[made].cfg = cfg;
        p->workers[made].pool = p;
        if (pthread_create(&p->threads[made], NULL, worker_main, &p->workers[made]) != 0) {
            fprintf(stderr, "facekit serve: cannot start worker %d: %s\n", made, strerror(errno));
            break;
        }
    }
    pthread_mutex_lock(&p->mu);
    while (p->started < made) pthread_cond_wait(&p->ready, &p->mu);
    int ok = made == p->nworkers && !p->failed;
    pthread_mutex_unlock(&p->mu);
    if (!ok) {
        p->nworkers = made;
        srv_pool_stop(p);
        return NULL;
    }
    return p;
}

void srv_pool_run(srv_pool *p, srv_request *q, double deadline, srv_reply *r) {
    srv_job *j = calloc(1, sizeof *j);
    if (!j) {
        srv_error(r, 503, "out of memory");
        r->retry_after = 1;
        return;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->done, &ca);
    pthread_condattr_destroy(&ca);
    j->q = *q;
    memset(q, 0, sizeof *q);
    j->deadline = deadline;
    j->state = J_QUEUED;
    pthread_mutex_lock(&p->mu);
    if (p->count == p->cap || p->stop) {
        pthread_mutex_unlock(&p->mu);
        job_free(j);
        srv_error(r, 503, "server busy: %d requests are already waiting for %d workers; "
                  "retry later", p->cap, p->nworkers);
        r->retry_after = 1;
        return;
    }
    p->ring[(p->head + p->count) % p->cap] = j;
    p->count++;
    pthread_cond_signal(&p->work);
    struct timespec ts;
    double whole = (double)(time_t)deadline;
    ts.tv_sec = (time_t)deadline;
    ts.tv_nsec = (long)((deadline - whole) * 1e9);
    while (j->state != J_DONE) {
        int e = pthread_cond_timedwait(&j->done, &p->mu, &ts);
        if (e == ETIMEDOUT && j->state != J_DONE) break;
    }
    if (j->state == J_DONE) {
        *r = j->r;
        j->r.body = NULL;
        pthread_mutex_unlock(&p->mu);
        job_free(j);
        return;
    }
    int ran = j->state == J_RUNNING;
    j->state = J_ABANDONED; /* the worker frees it */
    pthread_mutex_unlock(&p->mu);
    if (ran) {
        srv_error(r, 504, "the request ran past its deadline (%d ms, --timeout-ms)",
                  p->cfg->timeout_ms);
    } else {
        srv_error(r, 503, "the request waited in the queue past its deadline (%d ms); the "
                  "server is saturated: retry later", p->cfg->timeout_ms);
        r->retry_after = 1;
    }
}

void srv_pool_load(srv_pool *p, int *queued, int *running, int *capacity) {
    pthread_mutex_lock(&p->mu);
    *queued = p->count;
    *running = p->running;
    *capacity = p->cap;
    pthread_mutex_unlock(&p->mu);
}

void srv_pool_stop(srv_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nworkers; i++) pthread_join(p->threads[i], NULL);
    /* jobs left queued were all abandoned or answered by now; none remain
     * because workers empty the queue before they stop */
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->ready);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p->threads);
    free(p->ring);
    free(p);
}
