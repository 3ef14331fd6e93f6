/*
 * threadpool.c - persistent worker threads for data-parallel loops.
 *
 * The pool starts threads - 1 workers once; the thread calling fk__pool_run is
 * the remaining one. A job is a range [0, n) cut into `chunks` contiguous
 * pieces, and workers and the caller claim pieces one at a time.
 *
 * Why workers spin before they sleep. A network runs one pool job per layer,
 * and a small network's layers take tens of microseconds each. On the
 * virtual machines facekit is benchmarked on, waking a worker that sleeps on
 * a condition variable (futex wake, then an inter-processor interrupt to an
 * idle virtual CPU) took longer than that: the caller had finished its own
 * piece and claimed the worker's before the worker woke, so a second thread
 * bought small networks nothing (measured: landmarks68 2.70 ms on 1 thread,
 * 4.24 ms on 2). So an idle worker first polls for new work for a short
 * while (FK_POOL_SPIN_US, re-armed after every job) and only then sleeps;
 * while a network runs, its workers never sleep between layers.
 *
 * The whole claim state is one 64-bit atomic word: the job's generation
 * (32 bits), its piece count (16) and the next unclaimed piece (16). A
 * worker claims with compare-and-swap against the generation it saw, so a
 * worker that notices a job late can never claim a piece of a later job,
 * and it reads the job's function and range only after a successful claim,
 * when the job cannot end (and so cannot be replaced) before its piece does.
 * The caller publishes a job with a release store of that word, and waits
 * for `pending` (pieces not yet ended) to reach zero, spinning briefly and
 * then yielding the CPU.
 *
 * Sleeping and waking: a worker about to sleep counts itself in `sleepers`,
 * then re-checks the word under the mutex before waiting on the condition
 * variable; the caller stores the word and then, only if `sleepers` is
 * non-zero, broadcasts under the mutex. Both sides use sequentially
 * consistent operations, so either the worker sees the new job or the
 * caller sees the sleeper: no wake-up is lost.
 *
 * Nothing is allocated after fk__pool_new.
 */
#include "core/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/error.h"

/* More threads than this is surely a mistake (a negative number cast, a
 * typo); refuse rather than try to start thousands of threads. It also
 * keeps the piece count within the claim word's 16 bits. */
#define FK_POOL_MAX_THREADS 1024

/* How long an idle worker polls for the next job before it sleeps. Long
 * enough to cover the serial work between two layers of a network, short
 * enough that an idle process stops using the CPU at once. */
#ifndef FK_POOL_SPIN_US
#define FK_POOL_SPIN_US 300
#endif

struct fk_pool {
    int threads;          /* workers + the calling thread */
    int started;          /* workers actually running */
    pthread_t *workers;
    pthread_mutex_t lock; /* only for sleeping and waking */
    pthread_cond_t work;  /* broadcast when a job is posted or on shutdown */
    atomic_int stop;
    atomic_int sleepers;  /* workers blocked (or about to block) on `work` */
    /* The current job. fn, arg and n are written by the caller before the
     * claim word is published and read by a thread only after it claimed a
     * piece; `gen` is the caller's own counter. */
    fk_pool_fn fn;
    void *arg;
    long n;
    uint32_t gen;
    _Atomic uint64_t claim;  /* gen << 32 | chunks << 16 | next */
    atomic_int pending;      /* pieces of the job not yet ended */
};

static inline uint64_t claim_word(uint32_t gen, int chunks, int next) {
    return (uint64_t)gen << 32 | (uint64_t)(unsigned)chunks << 16 | (unsigned)next;
}

static inline uint32_t word_gen(uint64_t w) { return (uint32_t)(w >> 32); }
static inline int word_chunks(uint64_t w) { return (int)((w >> 16) & 0xffff); }
static inline int word_next(uint64_t w) { return (int)(w & 0xffff); }

/* A hint to the CPU that this is a polling loop. */
static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static double now_us(void) { return fk__now_ms() * 1e3; }

/* The bounds of piece i of n split into `chunks` near-equal contiguous
 * pieces: the first n % chunks pieces get one extra index. Written without
 * n * i so that it cannot overflow for any n. */
static void piece_bounds(long n, int chunks, int i, long *begin, long *end) {
    long base = n / chunks, extra = n % chunks;
    *begin = (long)i * base + (i < extra ? i : extra);
    *end = *begin + base + (i < extra ? 1 : 0);
}

/* Claim and run pieces of job `gen` until none are left (or the pool has
 * moved on to a later job, which means this one has no pieces left). */
static void run_pieces(fk_pool *p, uint32_t gen) {
    uint64_t w = atomic_load(&p->claim);
    for (;;) {
        if (word_gen(w) != gen || word_next(w) >= word_chunks(w))
            return;
        uint64_t next = claim_word(gen, word_chunks(w), word_next(w) + 1);
        if (!atomic_compare_exchange_weak(&p->claim, &w, next))
            continue; /* w now holds the current word: look again */
        long begin, end;
        piece_bounds(p->n, word_chunks(w), word_next(w), &begin, &end);
        p->fn(p->arg, begin, end);
        atomic_fetch_sub(&p->pending, 1);
        w = atomic_load(&p->claim);
    }
}

/* A worker's life: wait for a job with a generation it has not seen (polling
 * for FK_POOL_SPIN_US, then sleeping), run pieces of it, repeat. */
static void *worker_main(void *arg) {
    fk_pool *p = arg;
    /* Generation 0 is the empty job set up before the workers start; a
     * worker must not read the current generation here, or one that starts
     * late would take the first real job for an old one and sit it out. */
    uint32_t seen = 0;
    for (;;) {
        double since = now_us();
        uint64_t w;
        unsigned polls = 0;
        while (word_gen(w = atomic_load(&p->claim)) == seen &&
               !atomic_load(&p->stop)) {
            if (++polls % 256 != 0 || now_us() - since < FK_POOL_SPIN_US) {
                cpu_relax();
                continue;
            }
            atomic_fetch_add(&p->sleepers, 1);
            pthread_mutex_lock(&p->lock);
            while (word_gen(atomic_load(&p->claim)) == seen &&
                   !atomic_load(&p->stop))
                pthread_cond_wait(&p->work, &p->lock);
            pthread_mutex_unlock(&p->lock);
            atomic_fetch_sub(&p->sleepers, 1);
        }
        if (atomic_load(&p->stop))
            return NULL;
        seen = word_gen(w);
        run_pieces(p, seen);
    }
}

/* Ask every started worker to exit and wait for it. Used by fk__pool_free and
 * by fk__pool_new when starting a worker fails half way. */
static void stop_workers(fk_pool *p) {
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->started; i++)
        pthread_join(p->workers[i], NULL);
    p->started = 0;
}

/* Create a pool of `threads` threads (the caller of fk__pool_run counts as
 * one, so threads - 1 workers are started). threads <= 0 means one per
 * online CPU. On failure *out is NULL and nothing is leaked. */
fk_status fk__pool_new(int threads, fk_pool **out) {
    *out = NULL;
    if (threads <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus > 0 ? (int)(cpus < FK_POOL_MAX_THREADS
                                       ? cpus : FK_POOL_MAX_THREADS)
                           : 1;
    }
    if (threads > FK_POOL_MAX_THREADS)
        return fk__fail(FK_EINVAL,
                       "thread pool: %d threads requested, at most %d allowed",
                       threads, FK_POOL_MAX_THREADS);

    fk_pool *p = calloc(1, sizeof *p);
    if (!p)
        return fk__fail(FK_ENOMEM, "thread pool: out of memory");
    p->threads = threads;
    atomic_init(&p->stop, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->claim, claim_word(0, 0, 0));
    atomic_init(&p->pending, 0);
    if (threads > 1) {
        p->workers = calloc((size_t)threads - 1, sizeof *p->workers);
        if (!p->workers) {
            free(p);
            return fk__fail(FK_ENOMEM, "thread pool: out of memory");
        }
    }
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p->workers);
        free(p);
        return fk__fail(FK_ENOMEM, "thread pool: cannot create a mutex");
    }
    if (pthread_cond_init(&p->work, NULL) != 0) {
        pthread_mutex_destroy(&p->lock);
        free(p->workers);
        free(p);
        return fk__fail(FK_ENOMEM, "thread pool: cannot create a condition");
    }
    for (int i = 0; i < threads - 1; i++) {
        int rc = pthread_create(&p->workers[i], NULL, worker_main, p);
        if (rc != 0) {
            int started = p->started;
            fk__pool_free(p);
            return fk__fail(FK_ENOMEM,
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
 * not be called while fk__pool_run is in progress. */
void fk__pool_free(fk_pool *pool) {
    if (!pool)
        return;
    stop_workers(pool);
    pthread_cond_destroy(&pool->work);
    pthread_mutex_destroy(&pool->lock);
    free(pool->workers);
    free(pool);
}

/* Threads a job can use, counting the caller; a NULL pool is one thread. */
int fk__pool_threads(const fk_pool *pool) {
    return pool ? pool->threads : 1;
}

/* Run fn over [0, n) in at most `threads` contiguous pieces of at least
 * `grain` indices each (grain < 1 is treated as 1), the caller taking part.
 * Returns when every piece has finished. With one piece fn is called
 * directly. fn must not call fk__pool_run on the same pool. */
void fk__pool_run(fk_pool *pool, long n, long grain, fk_pool_fn fn,
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

    /* Publish: the job's fields first, then the claim word (sequentially
     * consistent, so the sleeper count read below is not reordered before
     * it; see the top of the file). */
    pool->fn = fn;
    pool->arg = arg;
    pool->n = n;
    atomic_store(&pool->pending, (int)chunks);
    uint32_t gen = ++pool->gen;
    atomic_store(&pool->claim, claim_word(gen, (int)chunks, 0));
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->work);
        pthread_mutex_unlock(&pool->lock);
    }
    run_pieces(pool, gen);
    /* The other pieces are running; they are about as long as ours. */
    for (unsigned polls = 0; atomic_load(&pool->pending) > 0; polls++) {
        if (polls < 100000)
            cpu_relax();
        else
            sched_yield();
    }
}
