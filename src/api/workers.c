/*
 * workers.c - fk_run_workers: many items over worker threads, one context
 * each (facekit.h, "batch").
 *
 * A context is not thread-safe, and its own thread pool helps little on
 * small images (one 150 px chip cannot keep many cores busy), so a batch of
 * images goes fastest with one single-threaded context per worker thread,
 * each working on whole items. Workers claim the next item with an atomic
 * counter and push its index onto a queue; the calling thread sleeps on a
 * condition variable and hands each finished item to `done`, so whatever
 * the caller does with results (commit them in batches, draw a bar) happens
 * on one thread with no locking of its own. `facekit eval` and the folder
 * indexer are built on this.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

typedef struct finished {
    int item;
    fk_status status;
} finished;

typedef struct run {
    fk_context_options co;
    int count;
    fk_task_fn task;
    void *user;
    atomic_int next;           /* next item to claim */
    atomic_int stop;           /* done asked to stop, or a fatal error */
    pthread_mutex_t lock;      /* guards everything below */
    pthread_cond_t cond;
    finished *queue;           /* finished, not yet reported; count slots */
    int nqueue;
    int alive;                 /* workers not yet gone */
    fk_status fatal;           /* first fatal status */
    char fatal_msg[512];
} run;

/* Record the first fatal error and stop every worker. */
static void set_fatal(run *r, fk_status st, const char *msg) {
    pthread_mutex_lock(&r->lock);
    if (r->fatal == FK_OK) {
        r->fatal = st;
        snprintf(r->fatal_msg, sizeof r->fatal_msg, "%s", msg);
    }
    pthread_mutex_unlock(&r->lock);
    atomic_store(&r->stop, 1);
}

static void *worker(void *arg) {
    run *r = arg;
    fk_context *ctx = NULL;
    fk_status st = fk_context_new(&r->co, &ctx);
    if (st != FK_OK) set_fatal(r, st, fk_last_error());
    while (ctx && !atomic_load(&r->stop)) {
        int i = atomic_fetch_add(&r->next, 1);
        if (i >= r->count) break;
        st = r->task(ctx, i, r->user);
        if (st != FK_OK) set_fatal(r, st, fk_last_error());
        pthread_mutex_lock(&r->lock);
        r->queue[r->nqueue++] = (finished){i, st};
        pthread_cond_signal(&r->cond);
        pthread_mutex_unlock(&r->lock);
        if (st != FK_OK) break;
    }
    fk_context_free(ctx);
    pthread_mutex_lock(&r->lock);
    r->alive--;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* Worker threads when the caller leaves it to us: $FACEKIT_THREADS, else
 * every online core. */
static int default_threads(void) {
    const char *env = getenv("FACEKIT_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v > 0 && v <= 1024) return (int)v;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

fk_status fk_run_workers(const fk_context_options *co, int threads, int count,
                         fk_task_fn task, fk_task_done_fn done, void *user) {
    fk__clear_error();
    if (!task || count < 0 || threads < 0)
        return fk__fail(FK_EINVAL, "fk_run_workers: bad arguments (task %s, count %d, threads %d)",
                        task ? "set" : "NULL", count, threads);
    if (count == 0) return FK_OK;
    if (threads == 0) threads = default_threads();
    if (threads > count) threads = count;

    run r;
    memset(&r, 0, sizeof r);
    fk_context_options_init(&r.co);
    if (co) r.co = *co;
    r.co.threads = 1;
    r.count = count;
    r.task = task;
    r.user = user;
    atomic_init(&r.next, 0);
    atomic_init(&r.stop, 0);
    r.queue = malloc(sizeof *r.queue * (size_t)count);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    finished *batch = malloc(sizeof *batch * (size_t)count);
    if (!r.queue || !tids || !batch) {
        free(r.queue);
        free(tids);
        free(batch);
        return fk__fail(FK_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&r.lock, NULL);
    pthread_cond_init(&r.cond, NULL);
    int started = 0;
    r.alive = threads;
    for (int i = 0; i < threads; i++)
        if (pthread_create(&tids[started], NULL, worker, &r) == 0) started++;
    /* Workers that never started never count themselves out. */
    pthread_mutex_lock(&r.lock);
    r.alive -= threads - started;
    pthread_mutex_unlock(&r.lock);

    int stopped = 0;
    for (;;) {
        pthread_mutex_lock(&r.lock);
        while (r.nqueue == 0 && r.alive > 0) pthread_cond_wait(&r.cond, &r.lock);
        int n = r.nqueue, last = r.alive == 0;
        memcpy(batch, r.queue, sizeof *batch * (size_t)n);
        r.nqueue = 0;
        pthread_mutex_unlock(&r.lock);
        for (int i = 0; i < n; i++) {
            int want_stop = done ? done(user, batch[i].item, batch[i].status) : 0;
            if (want_stop && !stopped) {
                stopped = 1;
                atomic_store(&r.stop, 1);
            }
        }
        if (last) break;
    }
    for (int i = 0; i < started; i++) pthread_join(tids[i], NULL);
    pthread_cond_destroy(&r.cond);
    pthread_mutex_destroy(&r.lock);
    fk_status st = FK_OK;
    if (r.fatal != FK_OK) st = fk__fail(r.fatal, "%s", r.fatal_msg);
    else if (!started) st = fk__fail(FK_EIO, "could not start the worker threads");
    else if (!stopped && atomic_load(&r.next) < count)
        st = fk__fail(FK_EIO, "the worker threads stopped before the last item");
    free(r.queue);
    free(tids);
    free(batch);
    return st;
}
