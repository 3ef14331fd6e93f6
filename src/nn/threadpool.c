/*
 * threadpool.c - persistent worker threads for data-parallel loops.
 *
 * The pool starts threads - 1 workers once; the thread calling fk_pool_run is
 * the remaining one. A job is a range [0, n) cut into `chunks` contiguous
 * pieces. Workers and the caller claim pieces one at a time under the pool's
 * mutex, so a worker that wakes late simply finds nothing left to claim and
 * goes back to sleep: it can never run a piece of a job that has already
 * finished. Claiming under a mutex costs one lock per piece, and there are at
 * most `threads` pieces per job, which is negligible next to the work a
 * kernel does per piece.
 *
 * Idle workers block on a condition variable (no spinning), and nothing is
 * allocated after fk_pool_new.
 */
#include "nn/threadpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

/* More threads than this is surely a mistake (a negative number cast, a
 * typo); refuse rather than try to start thousands of threads. */
#define FK_POOL_MAX_THREADS 1024

struct fk_pool {
    int threads;          /* workers + the calling thread */
    int started;          /* workers actually running */
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t work;  /* signalled when a job is posted or on shutdown */
    pthread_cond_t done;  /* signalled when the last piece of a job ends */
    int stop;
    /* The current job; all fields below are guarded by `lock`. */
    fk_pool_fn fn;
    void *arg;
    long n;
    int chunks;           /* pieces in the job */
    int next;             /* next piece to claim; == chunks when none left */
    int pending;          /* pieces claimed or unclaimed but not yet ended */
};

/* The bounds of piece i of n split into `chunks` near-equal contiguous
 * pieces: the first n % chunks pieces get one extra index. Written without
 * n * i so that it cannot overflow for any n. */
static void piece_bounds(long n, int chunks, int i, long *begin, long *end) {
    long base = n / chunks, extra = n % chunks;
    *begin = (long)i * base + (i < extra ? i : extra);
    *end = *begin + base + (i < extra ? 1 : 0);
}

/* Claim and run pieces of the current job until none are left. Called with
 * the lock held; returns with it held. The lock is dropped while fn runs. */
static void run_pieces(fk_pool *p) {
    while (p->next < p->chunks) {
        int i = p->next++;
        fk_pool_fn fn = p->fn;
        void *arg = p->arg;
        long begin, end;
        piece_bounds(p->n, p->chunks, i, &begin, &end);
        pthread_mutex_unlock(&p->lock);
        fn(arg, begin, end);
        pthread_mutex_lock(&p->lock);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
}

/* A worker's life: sleep until there is a piece to claim or the pool is
 * shutting down, run pieces, repeat. */
static void *worker_main(void *arg) {
    fk_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->next >= p->chunks)
            pthread_cond_wait(&p->work, &p->lock);
        if (p->stop)
            break;
        run_pieces(p);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Ask every started worker to exit and wait for it. Used by fk_pool_free and
 * by fk_pool_new when starting a worker fails half way. */
static void stop_workers(fk_pool *p) {
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->started; i++)
        pthread_join(p->workers[i], NULL);
    p->started = 0;
}

/* Create a pool of `threads` threads (the caller of fk_pool_run counts as
 * one, so threads - 1 workers are started). threads <= 0 means one per
 * online CPU. On failure *out is NULL and nothing is leaked. */
fk_status fk_pool_new(int threads, fk_pool **out) {
    *out = NULL;
    if (threads <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus > 0 ? (int)(cpus < FK_POOL_MAX_THREADS
                                       ? cpus : FK_POOL_MAX_THREADS)
                           : 1;
    }
    if (threads > FK_POOL_MAX_THREADS)
        return fk_fail(FK_EINVAL,
                       "thread pool: %d threads requested, at most %d allowed",
                       threads, FK_POOL_MAX_THREADS);

    fk_pool *p = calloc(1, sizeof *p);
    if (!p)
        return fk_fail(FK_ENOMEM, "thread pool: out of memory");
    p->threads = threads;
    if (threads > 1) {
        p->workers = calloc((size_t)threads - 1, sizeof *p->workers);
        if (!p->workers) {
            free(p);
            return fk_fail(FK_ENOMEM, "thread pool: out of memory");
        }
    }
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p->workers);
        free(p);
        return fk_fail(FK_ENOMEM, "thread pool: cannot create a mutex");
    }
    if (pthread_cond_init(&p->work, NULL) != 0) {
        pthread_mutex_destroy(&p->lock);
        free(p->workers);
        free(p);
        return fk_fail(FK_ENOMEM, "thread pool: cannot create a condition");
    }
    if (pthread_cond_init(&p->done, NULL) != 0) {
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->lock);
        free(p->workers);
        free(p);
        return fk_fail(FK_ENOMEM, "thread pool: cannot create a condition");
    }
    for (int i = 0; i < threads - 1; i++) {
        int rc = pthread_create(&p->workers[i], NULL, worker_main, p);
        if (rc != 0) {
            int started = p->started;
            fk_pool_free(p);
            return fk_fail(FK_ENOMEM,
                           "thread pool: could only start %d of %d threads "
                           "(%s); ask for fewer threads",
                           started + 1, threads, strerror(rc));
        }
        p->started++;
    }
    *out = p;
    return FK_OK;
}

/* Stop and join the workers, then release the pool. NULL is a no-op. Must
 * not be called while fk_pool_run is in progress. */
void fk_pool_free(fk_pool *pool) {
    if (!pool)
        return;
    stop_workers(pool);
    pthread_cond_destroy(&pool->done);
    pthread_cond_destroy(&pool->work);
    pthread_mutex_destroy(&pool->lock);
    free(pool->workers);
    free(pool);
}

/* Threads a job can use, counting the caller; a NULL pool is one thread. */
int fk_pool_threads(const fk_pool *pool) {
    return pool ? pool->threads : 1;
}

/* Run fn over [0, n) in at most `threads` contiguous pieces of at least
 * `grain` indices each (grain < 1 is treated as 1), the caller taking part.
 * Returns when every piece has finished. With one piece fn is called
 * directly, without touching the lock. fn must not call fk_pool_run on the
 * same pool. */
void fk_pool_run(fk_pool *pool, long n, long grain, fk_pool_fn fn,
                 void *arg) {
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    long chunks = pool ? n / grain : 1;
    if (pool && chunks > pool->threads)
        chunks = pool->threads;
    if (chunks <= 1) {
        fn(arg, 0, n);
        return;
    }

    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->arg = arg;
    pool->n = n;
    pool->chunks = (int)chunks;
    pool->next = 0;
    pool->pending = (int)chunks;
    pthread_cond_broadcast(&pool->work);
    run_pieces(pool);
    while (pool->pending > 0)
        pthread_cond_wait(&pool->done, &pool->lock);
    /* Leave the job looking finished so that late-waking workers sleep. */
    pool->fn = NULL;
    pool->arg = NULL;
    pthread_mutex_unlock(&pool->lock);
}
